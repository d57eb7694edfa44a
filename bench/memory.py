"""Peak memory growth of the client: a 100 000-request generator, and 8 concurrent 20 MB uploads.

Each measurement runs in a fresh child process (so one does not inherit the
other's heap) against an emulator in another process with no rate limit. The
child imports everything, opens its session and sends a few warm-up requests,
then records its RSS; the figure is the peak RSS afterwards (``ru_maxrss``, the
kernel's high-water mark, sampled by nothing that could miss a spike) minus that.

    python bench/memory.py                      # 100 000 requests, 64 in flight; 8 x 20 MB
    python bench/memory.py --n 20000 --in-flight 16
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import API_KEY, emulator_process, upload_sample, voice_id

import voiceclone

UPLOAD_LIMIT = 20 * 1024 * 1024


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux


def rss_mb() -> float:
    import psutil

    return float(psutil.Process().memory_info().rss) / (1024.0 * 1024.0)


def write_big_wav(path: Path) -> None:
    """A valid WAV just under 20 MB: 44.1 kHz stereo 16-bit, about 119 s (under 5 min)."""
    rate, channels = 44100, 2
    frames = (UPLOAD_LIMIT - 4096 - 44) // (2 * channels)
    data_size = frames * 2 * channels
    header = struct.pack(
        "<4sI4s4sIHHIIHH4sI",
        b"RIFF", 36 + data_size, b"WAVE", b"fmt ", 16, 1, channels, rate,
        rate * 2 * channels, 2 * channels, 16, b"data", data_size,
    )  # fmt: skip
    block = bytes(range(256)) * 256  # 64 KiB of a sawtooth, repeated
    with path.open("wb") as out:
        out.write(header)
        left = data_size
        while left:
            chunk = block[: min(len(block), left)]
            out.write(chunk)
            left -= len(chunk)


async def child_generator(base_url: str, n: int, in_flight: int) -> dict[str, float]:
    file_id = await upload_sample(base_url)
    async with voiceclone.Client(
        API_KEY, base_url, max_in_flight=in_flight, requests_per_minute=None
    ) as client:
        warm = (voiceclone.CloneRequest(file_id, voice_id("warm", i)) for i in range(200))
        await client.clone_all(warm)
        before = rss_mb()
        started = time.perf_counter()
        ok = 0
        requests = (voiceclone.CloneRequest(file_id, voice_id("mem", i)) for i in range(n))
        async for outcome in client.clone_many(requests):
            ok += outcome.ok
        wall = time.perf_counter() - started
    return {"before": before, "peak": peak_rss_mb(), "ok": ok, "wall": wall}


async def child_uploads(base_url: str, files: list[str]) -> dict[str, float]:
    async with voiceclone.Client(API_KEY, base_url, max_in_flight=len(files)) as client:
        await client.upload_file(voiceclone.testing.sample_wav())  # warm-up
        before = rss_mb()
        started = time.perf_counter()
        results = await asyncio.gather(*(client.upload_file(f) for f in files))
        wall = time.perf_counter() - started
    return {"before": before, "peak": peak_rss_mb(), "ok": len(results), "wall": wall}


def child(argv: list[str]) -> None:
    import voiceclone.testing  # noqa: F401  (sample_wav, imported before measuring)

    kind, base_url = argv[0], argv[1]
    if kind == "generator":
        result = asyncio.run(child_generator(base_url, int(argv[2]), int(argv[3])))
    else:
        result = asyncio.run(child_uploads(base_url, argv[2:]))
    print(json.dumps(result))


def measure(*args: str) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, __file__, "--child", *args], check=True, capture_output=True, text=True
    )
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=100_000, help="requests in the generator")
    parser.add_argument("--in-flight", type=int, default=64)
    parser.add_argument("--uploads", type=int, default=8, help="concurrent 20 MB uploads")
    args = parser.parse_args()
    with emulator_process("--no-rate-limit") as base_url:
        r = measure("generator", base_url, str(args.n), str(args.in_flight))
        growth = r["peak"] - r["before"]
        print(
            f"generator of {args.n} requests, {args.in_flight} in flight: {r['ok']:.0f} ok in "
            f"{r['wall']:.1f} s; RSS {r['before']:.1f} MB before, peak {r['peak']:.1f} MB: "
            f"growth {growth:.1f} MB (target < 60 MB)"
        )
        with tempfile.TemporaryDirectory() as tmp:
            files = []
            for i in range(args.uploads):
                path = Path(tmp) / f"big{i}.wav"
                write_big_wav(path)
                files.append(str(path))
            size = Path(files[0]).stat().st_size / 1e6
            r = measure("uploads", base_url, *files)
        growth = r["peak"] - r["before"]
        print(
            f"{args.uploads} concurrent uploads of {size:.1f} MB WAV (44.1 kHz stereo, ~119 s): "
            f"{r['ok']:.0f} ok in {r['wall']:.1f} s; RSS {r['before']:.1f} MB before, peak "
            f"{r['peak']:.1f} MB: growth {growth:.1f} MB (target < 80 MB)"
        )


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        child(sys.argv[2:])
    else:
        main()

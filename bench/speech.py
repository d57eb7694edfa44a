"""What the SDK adds to speech: first-chunk latency of a stream, and CPU per audio second.

Both sides speak to the emulator in a separate process (``python -m
voiceclone.emulator``, no rate limit), one request at a time, in rounds of one raw
run and one SDK run whose order alternates, so drift falls on both sides:

1. Stream, first chunk: from the call to the first audio chunk in hand. Raw is
   what a careful hand-written client does: ``session.post(json=...)`` with
   ``stream: true``, read lines until the first ``data:`` event, decode its JSON
   and its hex. The SDK: ``anext(client.synthesize_stream(...))``. The figure is
   the median over rounds of each round's median SDK minus raw, in ms.
2. Whole speech, CPU per second of audio: ``client.synthesize(...)`` against
   ``session.post`` + ``resp.json()`` + ``bytes.fromhex``, client CPU
   (``time.process_time``) over the audio seconds received. The figure is the
   median over rounds of raw / SDK.

    python bench/speech.py                 # 11 rounds of 30 streams and 30 syntheses
    python bench/speech.py --rounds 5 --n 10
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import API_KEY, emulator_process, print_row

import voiceclone

VOICE = "English_Graceful_Lady"
#: About 12 s of speech in the emulator (15 characters a second): a paragraph.
TEXT = "The quick brown fox jumps over the lazy dog, twice. " * 3 + "Done."
SETTINGS: dict[str, Any] = {"format": "mp3", "sample_rate": 32000}


def body(stream: bool) -> dict[str, Any]:
    return {
        "model": "speech-2.8-hd",
        "text": TEXT,
        "stream": stream,
        "voice_setting": {"voice_id": VOICE},
        "audio_setting": SETTINGS,
        **({"stream_options": {"exclude_aggregated_audio": True}} if stream else {}),
    }


async def raw_first_chunk(session: aiohttp.ClientSession, url: str) -> float:
    headers = {"Authorization": f"Bearer {API_KEY}"}
    started = time.perf_counter()
    async with session.post(url, json=body(True), headers=headers) as resp:
        while True:
            line = await resp.content.readline()
            if line.startswith(b"data:"):
                event = json.loads(line[5:])
                if bytes.fromhex(event["data"]["audio"]):
                    return time.perf_counter() - started


async def sdk_first_chunk(client: voiceclone.Client) -> float:
    started = time.perf_counter()
    async with client.synthesize_stream(voice_id=VOICE, text=TEXT, **SETTINGS) as stream:
        await anext(stream)
        return time.perf_counter() - started


async def raw_whole(session: aiohttp.ClientSession, url: str) -> float:
    headers = {"Authorization": f"Bearer {API_KEY}"}
    async with session.post(url, json=body(False), headers=headers) as resp:
        answer = await resp.json()
    assert bytes.fromhex(answer["data"]["audio"])
    return float(answer["extra_info"]["audio_length"]) / 1000.0


async def sdk_whole(client: voiceclone.Client) -> float:
    speech = await client.synthesize(voice_id=VOICE, text=TEXT, **SETTINGS)
    assert speech.audio
    assert speech.audio_length
    return speech.audio_length / 1000.0


async def cpu_per_second(run: Any, n: int) -> float:
    cpu = time.process_time()
    seconds = 0.0
    for _ in range(n):
        seconds += await run()
    return (time.process_time() - cpu) / seconds


async def main(base_url: str, args: argparse.Namespace) -> None:
    url = base_url + "/t2a_v2"
    added: list[float] = []
    ratios: list[float] = []
    async with (
        aiohttp.ClientSession() as session,
        voiceclone.Client(API_KEY, base_url, speech_requests_per_minute=None) as client,
    ):
        for _ in range(3):  # warm up: connections, imports
            await raw_first_chunk(session, url)
            await sdk_first_chunk(client)
        print_row("round", "raw ms", "SDK ms", "added ms", "CPU raw/SDK")
        for round_ in range(args.rounds):
            order = [("raw", 0), ("sdk", 1)] if round_ % 2 == 0 else [("sdk", 1), ("raw", 0)]
            firsts: dict[str, list[float]] = {"raw": [], "sdk": []}
            cpus: dict[str, float] = {}
            for side, _ in order:
                for _ in range(args.n):
                    first = (
                        await raw_first_chunk(session, url)
                        if side == "raw"
                        else await sdk_first_chunk(client)
                    )
                    firsts[side].append(first)
                run = (
                    (lambda: raw_whole(session, url))
                    if side == "raw"
                    else (lambda: sdk_whole(client))
                )
                cpus[side] = await cpu_per_second(run, args.n)
            raw_ms = statistics.median(firsts["raw"]) * 1000
            sdk_ms = statistics.median(firsts["sdk"]) * 1000
            added.append(sdk_ms - raw_ms)
            ratios.append(cpus["raw"] / cpus["sdk"])
            print_row(str(round_ + 1), f"{raw_ms:.2f}", f"{sdk_ms:.2f}", f"{sdk_ms - raw_ms:+.2f}",
                      f"{ratios[-1]:.3f}")  # fmt: skip
    print()
    print(f"stream: latency the SDK adds to the first chunk, median of rounds = "
          f"{statistics.median(added):+.2f} ms")  # fmt: skip
    print(f"whole speech: client CPU per audio second, raw / SDK, median of rounds = "
          f"{statistics.median(ratios):.3f}")  # fmt: skip


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=11)
    parser.add_argument("--n", type=int, default=30, help="requests per side per round")
    arguments = parser.parse_args()
    with emulator_process("--no-rate-limit") as url:
        asyncio.run(main(url, arguments))

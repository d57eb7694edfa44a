"""What the SDK costs per request: clone_all against raw aiohttp at the same concurrency.

Both sides post the same ``voice_clone`` requests to an emulator in a separate
process with no rate limit and no added latency, so the client's own CPU time
per request is what differs. The SDK runs with ``requests_per_minute=None``
(it still passes every request through its rate gate, which starts slow and
has to find out that there is no limit) and its default retry policy; the raw
side is a session, a semaphore, ``session.post`` and ``resp.json()``.

Rounds alternate raw and SDK so drift (CPU frequency, the emulator's growing
state) falls on both; the ratio printed is of the summed times.

    python bench/overhead.py                 # 10000 requests per round, 8 in flight, 3 rounds
    python bench/overhead.py --n 10000 --in-flight 32
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import API_KEY, emulator_process, print_row, upload_sample, voice_id

import voiceclone


async def run_raw(base_url: str, file_id: int, ids: list[str], in_flight: int) -> float:
    headers = {"Authorization": f"Bearer {API_KEY}"}
    semaphore = asyncio.Semaphore(in_flight)
    async with aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=max(100, in_flight))
    ) as session:

        async def one(vid: str) -> bool:
            async with (
                semaphore,
                session.post(
                    base_url + "/voice_clone",
                    json={"file_id": file_id, "voice_id": vid},
                    headers=headers,
                ) as resp,
            ):
                body = await resp.json()
            return bool(body["base_resp"]["status_code"] == 0)

        # One task per in-flight slot pulling from a shared iterator: the same lazy
        # fan-out the SDK does, without its per-request bookkeeping.
        queue = iter(ids)
        ok = 0

        async def worker() -> None:
            nonlocal ok
            for vid in queue:
                succeeded = await one(vid)  # not `ok += await`: that reads ok before awaiting
                ok += succeeded

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(in_flight)))
        wall = time.perf_counter() - started
    assert ok == len(ids), f"raw: only {ok} of {len(ids)} succeeded"
    return wall


async def run_sdk(base_url: str, file_id: int, ids: list[str], in_flight: int) -> float:
    async with voiceclone.Client(
        API_KEY, base_url, max_in_flight=in_flight, requests_per_minute=None
    ) as client:
        started = time.perf_counter()
        outcomes = await client.clone_all(voiceclone.CloneRequest(file_id, v) for v in ids)
        wall = time.perf_counter() - started
    ok = sum(o.ok for o in outcomes)
    assert ok == len(ids), f"sdk: only {ok} of {len(ids)} succeeded"
    return wall


async def main(args: argparse.Namespace) -> None:
    with emulator_process("--no-rate-limit") as base_url:
        file_id = await upload_sample(base_url)
        # Warm up both paths (imports, connection pool) outside the measurement.
        await run_raw(base_url, file_id, [voice_id("warmraw", i) for i in range(200)], 8)
        await run_sdk(base_url, file_id, [voice_id("warmsdk", i) for i in range(200)], 8)
        print(f"{args.n} requests per round, {args.in_flight} in flight, {args.rounds} rounds")
        print_row("round", "raw s", "sdk s", "raw req/s", "sdk req/s", "sdk/raw")
        raw_total = sdk_total = 0.0
        for r in range(args.rounds):
            raw = await run_raw(
                base_url, file_id, [voice_id(f"raw{r}", i) for i in range(args.n)], args.in_flight
            )
            sdk = await run_sdk(
                base_url, file_id, [voice_id(f"sdk{r}", i) for i in range(args.n)], args.in_flight
            )
            raw_total += raw
            sdk_total += sdk
            print_row(
                str(r + 1),
                f"{raw:.2f}",
                f"{sdk:.2f}",
                f"{args.n / raw:.0f}",
                f"{args.n / sdk:.0f}",
                f"{raw / sdk:.3f}",
            )
        print_row(
            "total", f"{raw_total:.2f}", f"{sdk_total:.2f}", "", "", f"{raw_total / sdk_total:.3f}"
        )
        print(f"SDK throughput = {raw_total / sdk_total:.3f} x raw aiohttp (target >= 0.85)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=10000, help="requests per round and side")
    parser.add_argument("--in-flight", type=int, default=8, help="concurrency of both sides")
    parser.add_argument("--rounds", type=int, default=3)
    asyncio.run(main(parser.parse_args()))

"""Batch cloning against a rate-limited account: how close to the limit, at what cost in 1002s.

N voices are cloned against an emulator (a separate process) that allows R clone
requests per minute through a token bucket of capacity B. Three clients, each
against a fresh emulator:

(a) the SDK told the limit: ``Client(requests_per_minute=R)``;
(b) the SDK not told it: ``Client(requests_per_minute=None)``, which has to find R
    from rate-limit answers alone;
(c) what users write today: aiohttp, an ``asyncio.Semaphore`` of the same size, and
    tenacity's ``wait_random_exponential`` around each request, retrying on 1002.

Figures: wall time over the ideal, and rate-limit answers per successful clone.
The ideal is ``N / R``: the time a client that never bursts needs, which is what
MiniMax asks for (it answers 2045 to sudden growth). The emulator's bucket starts
full, so a client that spends the burst first could finish in ``(N - B) / R``;
that stricter ideal is printed too, and B is kept small (one second of R by
default) so the two differ by little.

    python bench/ratelimit.py            # N=300, R=1200, B=20, latency 0.1 s
    python bench/ratelimit.py --n 600 --rpm 600 --burst 10
    python bench/ratelimit.py --plot docs/figures/ratelimit.svg   # also draw the runs

``--plot`` draws each client's requests sent and accepted per second over time,
its rate-limit answers, and the limit (needs matplotlib: the ``bench`` extra).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

import aiohttp
from tenacity import (
    AsyncRetrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_random_exponential,
)

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import API_KEY, emulator_process, print_row, upload_sample, voice_id
from _plot import Timeline

import voiceclone
from voiceclone._errors import RATE_LIMIT_CODES

PLOT_LABELS = {
    "told": "SDK told the limit",
    "auto": "SDK discovering it (None)",
    "peer": "aiohttp + semaphore + tenacity",
}


class _RateLimited(Exception):
    pass


async def run_sdk(base_url: str, file_id: int, n: int, rpm: float | None, in_flight: int) -> dict:
    timeline = Timeline(sent=[], accepted=[], refused=[])
    started = time.perf_counter()

    def on_response(event: voiceclone.ResponseEvent) -> None:
        if event.path != "/voice_clone":
            return
        now = time.perf_counter() - started
        timeline.sent.append(now - event.elapsed)
        if event.status_code in RATE_LIMIT_CODES:
            timeline.refused.append(now)
        elif event.status_code == 0:
            timeline.accepted.append(now)

    requests = (
        voiceclone.CloneRequest(file_id, voice_id("sdk" if rpm else "auto", i)) for i in range(n)
    )
    async with voiceclone.Client(
        API_KEY,
        base_url,
        max_in_flight=in_flight,
        requests_per_minute=rpm,
        on_response=on_response,
    ) as client:
        started = time.perf_counter()
        outcomes = await client.clone_all(requests)
        wall = time.perf_counter() - started
        stats = client.rate_stats
    ok = sum(o.ok for o in outcomes)
    limited = len(timeline.refused)
    return {
        "wall": wall,
        "ok": ok,
        "limited": limited,
        "cooldowns": stats.cooldowns,
        "timeline": timeline,
    }


async def run_peer(base_url: str, file_id: int, n: int, in_flight: int) -> dict:
    """The usual hand-written batch: semaphore + tenacity per request."""
    timeline = Timeline(sent=[], accepted=[], refused=[])
    semaphore = asyncio.Semaphore(in_flight)
    headers = {"Authorization": f"Bearer {API_KEY}"}
    started = time.perf_counter()

    async with aiohttp.ClientSession() as session:

        async def clone_one(i: int) -> bool:
            async with semaphore:
                try:
                    async for attempt in AsyncRetrying(
                        wait=wait_random_exponential(multiplier=1, max=60),
                        stop=stop_after_attempt(20),
                        retry=retry_if_exception_type(_RateLimited),
                        reraise=True,
                    ):
                        with attempt:
                            body = {"file_id": file_id, "voice_id": voice_id("peer", i)}
                            timeline.sent.append(time.perf_counter() - started)
                            async with session.post(
                                base_url + "/voice_clone", json=body, headers=headers
                            ) as resp:
                                answer = await resp.json()
                            now = time.perf_counter() - started
                            if answer["base_resp"]["status_code"] == 1002:
                                timeline.refused.append(now)
                                raise _RateLimited
                            if answer["base_resp"]["status_code"] == 0:
                                timeline.accepted.append(now)
                            return bool(answer["base_resp"]["status_code"] == 0)
                except _RateLimited:
                    return False
            return False

        started = time.perf_counter()
        results = await asyncio.gather(*(clone_one(i) for i in range(n)))
        wall = time.perf_counter() - started
    limited = len(timeline.refused)
    ok = sum(results)
    return {"wall": wall, "ok": ok, "limited": limited, "cooldowns": 0, "timeline": timeline}


async def scenario(name: str, args: argparse.Namespace) -> dict:
    emulator_args = ["--rpm", str(args.rpm), "--burst", str(args.burst)]
    emulator_args += ["--latency", str(args.latency)]
    with emulator_process(*emulator_args) as base_url:
        file_id = await upload_sample(base_url)
        if name == "peer":
            return await run_peer(base_url, file_id, args.n, args.in_flight)
        rpm = args.rpm if name == "told" else None
        return await run_sdk(base_url, file_id, args.n, rpm, args.in_flight)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=300, help="voices to clone")
    parser.add_argument("--rpm", type=float, default=1200.0, help="the emulator's limit R")
    parser.add_argument("--burst", type=int, default=None, help="bucket size B (default R/60)")
    parser.add_argument("--latency", type=float, default=0.1, help="emulator answer delay, s")
    parser.add_argument("--in-flight", type=int, default=8, help="concurrency of every client")
    parser.add_argument(
        "--only", choices=("told", "auto", "peer"), action="append", help="run only these"
    )
    parser.add_argument("--plot", type=Path, help="write requests per second over time (SVG)")
    args = parser.parse_args()
    if args.burst is None:
        args.burst = max(1, int(args.rpm // 60))
    ideal = args.n / args.rpm * 60.0
    strict = max(args.n - args.burst, 1) / args.rpm * 60.0
    print(
        f"N={args.n} voices, R={args.rpm:g}/min, burst B={args.burst}, "
        f"latency {args.latency:g} s, {args.in_flight} in flight; "
        f"ideal N/R = {ideal:.2f} s, (N-B)/R = {strict:.2f} s"
    )
    print_row("client", "wall s", "wall/ideal", "wall/(N-B)/R", "1002/success", "ok", "cooldowns")
    labels = {
        "told": "(a) SDK, told the limit",
        "auto": "(b) SDK, not told (None)",
        "peer": "(c) aiohttp+semaphore+tenacity",
    }
    timelines = {}
    for name in args.only or ("told", "auto", "peer"):
        r = asyncio.run(scenario(name, args))
        timelines[PLOT_LABELS[name]] = r["timeline"]
        print_row(
            labels[name],
            f"{r['wall']:.2f}",
            f"{r['wall'] / ideal:.3f}",
            f"{r['wall'] / strict:.3f}",
            f"{r['limited'] / max(r['ok'], 1):.3f}",
            f"{r['ok']}/{args.n}",
            str(r["cooldowns"]),
        )
    if args.plot:
        from _plot import plot_timelines

        plot_timelines(
            args.plot,
            timelines,
            limit_per_s=args.rpm / 60.0,
            title=(
                f"{args.n} clones against a limit of {args.rpm:g}/min (bucket {args.burst}), "
                f"{args.in_flight} in flight, answers after {args.latency:g} s"
            ),
        )
        print(f"wrote {args.plot}")


if __name__ == "__main__":
    main()

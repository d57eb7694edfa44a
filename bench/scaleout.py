"""Many processes on one key: per-process gates against the shared gate (Redis).

W worker processes clone N voices each on one API key, against an emulator (its
own process) allowing R clone requests a minute through a bucket of B. Ideal wall
time: W * N / R. Three set-ups, each on a fresh emulator and a fresh redis-server:

(a) per-process gates told the limit: ``Client(requests_per_minute=R)`` (today);
(b) the shared gate told the limit: ``Client(requests_per_minute=R, redis=URL)``;
(c) the shared gate discovering it: ``Client(requests_per_minute=None, redis=URL)``.

Figures: wall time over the ideal, and rate-limit answers per successful clone.
Then the shared gate's added latency per request: ``acquire`` + ``Ticket.accepted`` of
the shared gate minus the local gate's, both unpaced, on loopback (p50, p99).

    python bench/scaleout.py                       # W=4, N=60, R=600, B=5: ideal 24 s
    python bench/scaleout.py --workers 2 --n 30
    python bench/scaleout.py --plot docs/figures/scaleout.svg   # and draw the set-ups
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from _common import API_KEY, emulator_process, print_row, upload_sample, voice_id
from redis_server import RedisCluster, RedisServer

import voiceclone
from voiceclone._client import make_gate
from voiceclone._errors import RATE_LIMIT_CODES
from voiceclone._pacing import RateGate

#: Gate decisions timed per gate for the latency figure.
LATENCY_SAMPLES = 3000
LABELS = {
    "local": "(a) per-process gates, told R",
    "shared": "(b) shared gate, told R",
    "auto": "(c) shared gate, None",
}


@contextlib.contextmanager
def redis_process(cluster: bool = False) -> Iterator[str]:
    """A throwaway redis-server (the tests' own) on a free loopback port; yields its URL.

    With ``cluster``, a 3-node Redis Cluster, and the URL of one of its nodes (the
    clients find out it is a cluster).
    """
    with contextlib.closing(RedisCluster() if cluster else RedisServer()) as server:
        server.start()
        yield server.url


async def worker(
    base_url: str, redis: str, rpm: float | None, prefix: str, n: int, file_id: int
) -> None:
    """One worker process: wait for "go" on stdin, clone, print a JSON summary.

    The summary holds the wall-clock time of every clone request sent, accepted
    and refused: the processes share no other clock.
    """
    limited = 0
    sent: list[float] = []
    accepted: list[float] = []
    refused: list[float] = []

    def on_response(event: voiceclone.ResponseEvent) -> None:
        nonlocal limited
        if event.path != "/voice_clone":
            return
        now = time.time()
        sent.append(now - event.elapsed)
        if event.status_code in RATE_LIMIT_CODES:
            limited += 1
            refused.append(now)
        elif event.status_code == 0:
            accepted.append(now)

    async with voiceclone.Client(
        API_KEY, base_url, requests_per_minute=rpm, redis=None if redis == "-" else redis,
        on_response=on_response, max_in_flight=8,
    ) as client:  # fmt: skip
        requests = [voiceclone.CloneRequest(file_id, voice_id(prefix, i)) for i in range(n)]
        print("ready", flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
        outcomes = await client.clone_all(requests)
        summary = {"ok": sum(o.ok for o in outcomes), "limited": limited}
        summary.update(sent=sent, accepted=accepted, refused=refused)
        print(json.dumps(summary), flush=True)


async def run_setup(name: str, args: argparse.Namespace) -> dict[str, Any]:
    """One set-up on a fresh emulator and Redis: wall time, successes, rate-limit answers."""
    rpm = None if name == "auto" else args.rpm
    with (
        emulator_process("--rpm", str(args.rpm), "--burst", str(args.burst)) as base_url,
        redis_process(cluster=getattr(args, "cluster", False)) as redis,
    ):
        file_id = await upload_sample(base_url)
        procs = [
            await asyncio.create_subprocess_exec(
                sys.executable, __file__, "--worker", base_url,
                "-" if name == "local" else redis, "none" if rpm is None else str(rpm),
                f"{name}{w}", str(args.n), str(file_id),
                stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            )
            for w in range(args.workers)
        ]  # fmt: skip
        for proc in procs:
            assert proc.stdout is not None
            assert (await proc.stdout.readline()).strip() == b"ready"
        started = time.perf_counter()
        started_wall = time.time()
        for proc in procs:
            assert proc.stdin is not None
            proc.stdin.write(b"go\n")
            await proc.stdin.drain()
        results = []
        for proc in procs:
            assert proc.stdout is not None
            results.append(json.loads(await proc.stdout.readline()))
        wall = time.perf_counter() - started
        for proc in procs:
            await proc.wait()
    ok = sum(r["ok"] for r in results)
    limited = sum(r["limited"] for r in results)
    timeline = {
        kind: sorted(t - started_wall for r in results for t in r[kind])
        for kind in ("sent", "accepted", "refused")
    }
    return {"wall": wall, "ok": ok, "limited": limited, "timeline": timeline}


async def gate_latency(samples: int = LATENCY_SAMPLES) -> dict[str, float]:
    """Per-request time in ``acquire`` + ``Ticket.accepted``, local and shared, unpaced (ms)."""
    with redis_process() as redis:
        local = RateGate(1e12)
        shared = make_gate(1e12, redis=redis, fallback="local", api_key=API_KEY, base_url="b")
        times: dict[str, list[float]] = {"local": [], "shared": []}
        try:
            for name, gate in (("local", local), ("shared", shared)):
                for _ in range(samples // 10):  # warm-up: connection, script cache
                    ticket = await gate.acquire()
                    await ticket.accepted()
                for _ in range(samples):
                    started = time.perf_counter()
                    ticket = await gate.acquire()
                    await ticket.accepted()
                    times[name].append((time.perf_counter() - started) * 1000.0)
        finally:
            await shared.aclose()
    figures = {}
    for name, values in times.items():
        cuts = statistics.quantiles(values, n=100)
        figures[f"{name}_p50"], figures[f"{name}_p99"] = cuts[49], cuts[98]
    figures["added_p50"] = figures["shared_p50"] - figures["local_p50"]
    figures["added_p99"] = figures["shared_p99"] - figures["local_p99"]
    return figures


def measure(args: argparse.Namespace) -> dict[str, Any]:
    """Every figure of the benchmark, as data (for tables or plots)."""
    setups = {name: asyncio.run(run_setup(name, args)) for name in args.only or LABELS}
    return {"setups": setups, "latency": asyncio.run(gate_latency())}


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        base_url, redis, rpm, prefix, n, file_id = sys.argv[2:8]
        rate = None if rpm == "none" else float(rpm)
        asyncio.run(worker(base_url, redis, rate, prefix, int(n), int(file_id)))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workers", type=int, default=4, help="worker processes W")
    parser.add_argument("--n", type=int, default=60, help="voices per worker N")
    parser.add_argument("--rpm", type=float, default=600.0, help="the emulator's limit R")
    parser.add_argument("--burst", type=int, default=5, help="the emulator's bucket B")
    parser.add_argument("--only", choices=tuple(LABELS), action="append", help="run only these")
    parser.add_argument(
        "--cluster", action="store_true", help="share through a 3-node Redis Cluster (a node's URL)"
    )
    parser.add_argument("--plot", help="draw each set-up's requests per second here (SVG)")
    args = parser.parse_args()
    ideal = args.workers * args.n / args.rpm * 60.0
    print(
        f"W={args.workers} processes x N={args.n} voices, R={args.rpm:g}/min, "
        f"burst B={args.burst}; ideal W*N/R = {ideal:.1f} s"
    )
    figures = measure(args)
    print_row("set-up", "wall s", "wall/ideal", "limited/ok", "ok")
    for name, r in figures["setups"].items():
        print_row(
            LABELS[name],
            f"{r['wall']:.1f}",
            f"{r['wall'] / ideal:.3f}",
            f"{r['limited'] / max(r['ok'], 1):.3f}",
            f"{r['ok']}/{args.workers * args.n}",
        )
    if args.plot:
        from _plot import Timeline, plot_timelines

        plot_timelines(
            args.plot,
            {LABELS[name]: Timeline(**r["timeline"]) for name, r in figures["setups"].items()},
            limit_per_s=args.rpm / 60.0,
            title=(
                f"{args.workers} processes on one key, {args.n} voices each, "
                f"limit {args.rpm:g}/min (burst {args.burst})"
            ),
        )
        print(f"wrote {args.plot}")
    lat = figures["latency"]
    print(
        f"gate latency per request, ms (p50 / p99): local {lat['local_p50']:.3f} / "
        f"{lat['local_p99']:.3f}, shared {lat['shared_p50']:.3f} / {lat['shared_p99']:.3f}; "
        f"added {lat['added_p50']:.3f} / {lat['added_p99']:.3f}"
    )


if __name__ == "__main__":
    main()

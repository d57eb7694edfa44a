"""What the SDK costs per clone: client CPU of clone_all against raw aiohttp.

Both sides post the same ``voice_clone`` requests to a fixed-answer server in a
separate process (``_fixed_server.py``: one precomputed success, no checks, a
bare asyncio protocol; its own CPU per request is printed), so the clients,
not the server, are what is measured. The SDK runs with ``requests_per_minute=None`` and its default
retry policy; the raw side is what a careful hand-written batch does: one
session, a semaphore, ``session.post(json=...)``, the answer decoded with
``resp.json()`` and kept, as the SDK keeps its outcomes.

Three measurements, each in rounds of one raw run and one SDK run, the side
that goes first alternating (raw, SDK; SDK, raw; ...) so that drift (a busy
neighbour, CPU frequency, a warming cache) falls on both sides:

1. Throughput at ``--in-flight``: client CPU per clone (``time.process_time``,
   which a busy machine inflates far less than wall time) and clones per
   second. The figure is the median over rounds of each round's raw / SDK
   CPU ratio, so one disturbed round cannot move it. Target: >= 0.90.
2. Latency at one request in flight: what the SDK adds to each clone's wall
   time. Each side's clone time is a low quantile (the 10th percentile) of the
   intervals between consecutive answers (the SDK through ``clone_many``,
   which ``clone_all`` collects), so clones that waited for a busy core do
   not count; the figure is the median over rounds of SDK minus raw.
   Target: <= 20 us.
3. Where the SDK's extra microseconds go: three more runs of each side under
   cProfile, own time (``tottime``) grouped by the module that spent it (C
   functions charged to the module that called them, the event loop's wait
   for the network left out), the median run per layer, scaled so that raw's
   total is its median CPU per clone and the SDK's that over the median
   ratio (the two bars then show the ratio). cProfile's own cost is
   per call, so layers made of many small calls are somewhat overstated.

    python bench/overhead.py                   # 1500 clones a round, 8 in flight, 11 rounds
    python bench/overhead.py --in-flight 32 --plot overhead.svg
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import itertools
import os
import pstats
import statistics
import sys
import sysconfig
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, NamedTuple

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import API_KEY, fixed_server_process, print_row, voice_id

import voiceclone

#: The fixed-answer server checks nothing; any file id will do.
FILE_ID = 311103389282466
#: What the SDK aims for: within about a tenth of a careful hand-written client's
#: CPU per clone, and an added latency too small to see beside a network round trip.
CPU_TARGET = 0.90
LATENCY_TARGET_US = 20.0
#: The quantile of the intervals between answers taken as one clone's time at one in
#: flight. Measured on a 2-core machine at load average 7, the 10th percentile of the
#: SDK's added latency varied half as much between rounds as the median did.
LATENCY_QUANTILE = 0.10
#: Clones per side before measuring: imports, connection pools and caches warm up.
WARM_UP = 300
#: Profiled runs per side; each layer's figure is its median over them, so one run
#: that a busy neighbour slowed does not decide the table.
PROFILE_ROUNDS = 3
#: Functions whose time is mostly waiting, not work: cProfile's clock is wall time,
#: so the event loop's wait for the network would otherwise count as CPU.
IDLE = frozenset(
    {
        "<method 'poll' of 'select.epoll' objects>",  # Linux
        "<method 'control' of 'select.kqueue' objects>",  # macOS, BSD
    }
)
#: Layers below this (us per clone, on both sides) are summed as "other": the
#: table is for finding where microseconds go, and sub-microsecond rows are noise.
MINOR_LAYER_US = 1.0


class Run(NamedTuple):
    cpu: float  # client CPU seconds (process_time) for the run
    wall: float  # seconds


async def run_raw(
    base_url: str, ids: list[str], in_flight: int, stamps: list[float] | None = None
) -> Run:
    """Clone ``ids`` by hand; append each answer's arrival time to ``stamps`` if given."""
    headers = {"Authorization": f"Bearer {API_KEY}"}
    semaphore = asyncio.Semaphore(in_flight)
    answers: list[dict[str, Any]] = []
    async with aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=max(100, in_flight))
    ) as session:

        async def one(vid: str) -> None:
            async with (
                semaphore,
                session.post(
                    base_url + "/voice_clone",
                    json={"file_id": FILE_ID, "voice_id": vid},
                    headers=headers,
                ) as resp,
            ):
                answer = await resp.json()
            if answer["base_resp"]["status_code"] != 0:
                raise RuntimeError(f"raw: clone {vid} failed: {answer['base_resp']}")
            answers.append(answer)
            if stamps is not None:
                stamps.append(time.perf_counter())

        # One task per in-flight slot pulling from a shared iterator: the same lazy
        # fan-out the SDK does, without its per-request bookkeeping.
        queue = iter(ids)

        async def worker() -> None:
            for vid in queue:
                await one(vid)

        run = await _timed(lambda: asyncio.gather(*(worker() for _ in range(in_flight))))
    assert len(answers) == len(ids), f"raw: {len(answers)} answers for {len(ids)} clones"
    return run


async def run_sdk(
    base_url: str, ids: list[str], in_flight: int, stamps: list[float] | None = None
) -> Run:
    """Clone ``ids`` with ``clone_all``, or with ``clone_many`` stamping each outcome."""
    async with voiceclone.Client(
        API_KEY, base_url, max_in_flight=in_flight, requests_per_minute=None
    ) as client:
        outcomes: list[voiceclone.CloneOutcome] = []

        async def batch() -> None:
            requests = (voiceclone.CloneRequest(FILE_ID, v) for v in ids)
            if stamps is None:
                outcomes.extend(await client.clone_all(requests))
                return
            async for outcome in client.clone_many(requests):
                outcomes.append(outcome)
                stamps.append(time.perf_counter())

        run = await _timed(batch)
    failed = [o for o in outcomes if not o.ok]
    assert not failed, f"sdk: {len(failed)} of {len(ids)} failed, first: {failed[0].error!r}"
    return run


async def _timed(start: Callable[[], Awaitable[Any]]) -> Run:
    # Collect the previous run's garbage now, so that it is not charged to this one.
    gc.collect()
    cpu, wall = time.process_time(), time.perf_counter()
    await start()
    return Run(time.process_time() - cpu, time.perf_counter() - wall)


async def server_cpu(base_url: str) -> float:
    async with aiohttp.ClientSession() as session, session.get(base_url + "/__cpu") as resp:
        return float(await resp.text())


async def pair(
    base_url: str, round_: int, n: int, in_flight: int, stamps: bool = False
) -> tuple[Run, Run, list[float], list[float]]:
    """One raw run and one SDK run; which goes first alternates with the round.

    Returns both runs and, with ``stamps``, the arrival time of each answer on each side.
    """
    raw_stamps: list[float] | None = [] if stamps else None
    sdk_stamps: list[float] | None = [] if stamps else None

    async def raw() -> Run:
        ids = [voice_id(f"r{in_flight}x{round_}", i) for i in range(n)]
        return await run_raw(base_url, ids, in_flight, raw_stamps)

    async def sdk() -> Run:
        ids = [voice_id(f"s{in_flight}x{round_}", i) for i in range(n)]
        return await run_sdk(base_url, ids, in_flight, sdk_stamps)

    if round_ % 2 == 0:
        raw_run = await raw()
        sdk_run = await sdk()
    else:
        sdk_run = await sdk()
        raw_run = await raw()
    return raw_run, sdk_run, raw_stamps or [], sdk_stamps or []


async def throughput(base_url: str, args: argparse.Namespace) -> tuple[float, float, float]:
    """Print the rounds; return (median ratio, median raw us, median SDK us) of CPU per clone."""
    n = args.n
    print(f"\n1. throughput: {n} clones a round, {args.in_flight} in flight, {args.rounds} rounds")
    print_row("round", "raw us CPU", "SDK us CPU", "raw/SDK CPU", "raw clone/s", "SDK clone/s")
    ratios, raw_us, sdk_us = [], [], []
    server_before = await server_cpu(base_url)
    for r in range(args.rounds):
        raw, sdk, _, _ = await pair(base_url, r, n, args.in_flight)
        ratios.append(raw.cpu / sdk.cpu)
        raw_us.append(raw.cpu / n * 1e6)
        sdk_us.append(sdk.cpu / n * 1e6)
        print_row(
            str(r + 1),
            f"{raw_us[-1]:.1f}",
            f"{sdk_us[-1]:.1f}",
            f"{ratios[-1]:.3f}",
            f"{n / raw.wall:.0f}",
            f"{n / sdk.wall:.0f}",
        )
    server_us = (await server_cpu(base_url) - server_before) / (2 * n * args.rounds) * 1e6
    ratio = statistics.median(ratios)
    print_row(
        "median",
        f"{statistics.median(raw_us):.1f}",
        f"{statistics.median(sdk_us):.1f}",
        f"{ratio:.3f}",
    )
    print(f"(the fixed-answer server spent {server_us:.1f} us of its own CPU per request)")
    print(
        f"client CPU ratio raw / SDK, median of rounds = {ratio:.3f} "
        f"(target >= {CPU_TARGET:.2f}: {'met' if ratio >= CPU_TARGET else 'NOT met'})"
    )
    return ratio, statistics.median(raw_us), statistics.median(sdk_us)


def clone_time_us(stamps: list[float]) -> float:
    """One clone's time when one is in flight: a low quantile of the answers' intervals.

    On a quiet machine the intervals are all alike and any quantile gives the same;
    on a busy one most of them include a wait for a core (the machine's load, not
    the client's cost), and ``LATENCY_QUANTILE`` keeps the clones nothing delayed.
    """
    intervals = sorted(b - a for a, b in itertools.pairwise(stamps))
    return intervals[int(len(intervals) * LATENCY_QUANTILE)] * 1e6


async def latency(base_url: str, args: argparse.Namespace) -> float:
    """Print the rounds at one request in flight; return the median added us per clone."""
    n = args.n_latency
    print(f"\n2. latency: {n} clones a round, 1 in flight, {args.rounds} rounds")
    print_row("round", "raw us/clone", "SDK us/clone", "added us", "added us CPU")
    # us/clone: the LATENCY_QUANTILE of the intervals; CPU: the whole run's mean.
    added, added_cpu = [], []
    for r in range(args.rounds):
        raw, sdk, raw_stamps, sdk_stamps = await pair(base_url, r, n, 1, stamps=True)
        raw_us, sdk_us = clone_time_us(raw_stamps), clone_time_us(sdk_stamps)
        added.append(sdk_us - raw_us)
        added_cpu.append((sdk.cpu - raw.cpu) / n * 1e6)
        print_row(
            str(r + 1), f"{raw_us:.1f}", f"{sdk_us:.1f}", f"{added[-1]:.1f}", f"{added_cpu[-1]:.1f}"
        )
    result = statistics.median(added)
    print(
        f"added latency per clone (clone_many), median of rounds = {result:.1f} us "
        f"(CPU {statistics.median(added_cpu):.1f} us; target <= {LATENCY_TARGET_US:g} us: "
        f"{'met' if result <= LATENCY_TARGET_US else 'NOT met'})"
    )
    return result


def layer_of(filename: str) -> str:
    """The layer a profiled function belongs to, from the file that defines it."""
    if filename.startswith("<attrs generated"):
        # "<attrs generated init voiceclone._models.CloneRequest>": the class's module.
        module = filename.rstrip(">").split()[-1].rsplit(".", 1)[0]
        return module if module.startswith("voiceclone.") else module.split(".")[0]
    if filename.startswith("<frozen "):
        # "<frozen abc>": a stdlib module compiled into the interpreter.
        return filename.removeprefix("<frozen ").rstrip(">")
    path = Path(filename)
    if path.parent == Path(__file__).resolve().parent:
        return "benchmark's own code"
    parts = path.parts
    if "voiceclone" in parts:
        package = len(parts) - 1 - parts[::-1].index("voiceclone")
        return "voiceclone." + parts[package + 1].removesuffix(".py")
    for marker in ("site-packages", "dist-packages"):
        if marker in parts:
            package = parts[parts.index(marker) + 1]
            return package.split(".")[0].removesuffix("-stubs").replace("_", "") or "other"
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    if path.is_relative_to(stdlib):
        relative = path.relative_to(stdlib).parts
        return relative[0].removesuffix(".py")
    return "other"


def layers(profile: cProfile.Profile, clones: int) -> dict[str, float]:
    """Own time per layer in us per clone; C functions count for the layer that called them."""
    totals: dict[str, float] = defaultdict(float)
    stats: dict[Any, Any] = pstats.Stats(profile).stats  # type: ignore[attr-defined]
    for (filename, _line, name), (_cc, _nc, tottime, _ct, callers) in stats.items():
        if name in IDLE:
            continue
        if filename != "~":
            totals[layer_of(filename)] += tottime
            continue
        # A C function (json's scanner, a socket send): its time belongs to the layer
        # that chose to call it, split by caller as cProfile recorded it.
        for (caller_file, _l, _n), caller_times in callers.items():
            owner = "C, called from C" if caller_file == "~" else layer_of(caller_file)
            totals[owner] += caller_times[2]
    return {layer: seconds / clones * 1e6 for layer, seconds in totals.items()}


#: The figure's layers that raw aiohttp has too, drawn in greys so that the SDK's
#: own layers stand out; everything else outside voiceclone is summed as "other".
SHARED_COLOURS = {
    "aiohttp": "#6f6f6f",
    "asyncio": "#9a9a9a",
    "json": "#c4c4c4",
    "benchmark's own code": "#e0e0e0",
    "other": "#f0f0f0",
}


def coarse_layers(side: dict[str, float]) -> dict[str, float]:
    """The breakdown for the figure: shared layers (``SHARED_COLOURS``) and voiceclone's."""
    coarse: dict[str, float] = dict.fromkeys(SHARED_COLOURS, 0.0)
    for name, us in side.items():
        if name.startswith("voiceclone") or name in coarse:
            coarse[name] = coarse.get(name, 0.0) + us
        elif name == "selectors":  # the event loop's own machinery
            coarse["asyncio"] += us
        else:
            coarse["other"] += us
    other = coarse.pop("other")
    return {**coarse, "other": other}


async def breakdown(
    base_url: str, args: argparse.Namespace, raw_us: float, sdk_us: float
) -> dict[str, dict[str, float]]:
    """Profile one run of each side; print and return us per clone per layer."""
    n, in_flight = args.n, args.in_flight
    sides: dict[str, dict[str, float]] = {}
    side_runs = {
        "raw aiohttp": (run_raw, raw_us),
        "SDK clone_all": (run_sdk, sdk_us),
    }
    rounds: dict[str, list[dict[str, float]]] = {label: [] for label in side_runs}
    for r in range(PROFILE_ROUNDS):
        # Alternate which side goes first, as the measured rounds do.
        for label in list(side_runs)[:: 1 if r % 2 == 0 else -1]:
            run = side_runs[label][0]
            ids = [voice_id(f"p{label[0]}x{r}", i) for i in range(n)]
            profile = cProfile.Profile()
            profile.enable()
            await run(base_url, ids, in_flight)
            profile.disable()
            rounds[label].append(layers(profile, n))
    for label, (_run, measured_us) in side_runs.items():
        names = {name for profiled in rounds[label] for name in profiled}
        typical = {
            name: statistics.median(profiled.get(name, 0.0) for profiled in rounds[label])
            for name in names
        }
        scale = measured_us / sum(typical.values())
        sides[label] = {layer: us * scale for layer, us in typical.items()}
    raw, sdk = sides.values()
    names = sorted(set(raw) | set(sdk), key=lambda k: sdk.get(k, 0) - raw.get(k, 0), reverse=True)
    table: dict[str, dict[str, float]] = {label: defaultdict(float) for label in sides}
    for name in names:
        minor = max(raw.get(name, 0), sdk.get(name, 0)) < MINOR_LAYER_US
        for label, side in sides.items():
            table[label]["other" if minor else name] += side.get(name, 0)
    print(
        f"\n3. where the CPU goes: us per clone by layer, {n} clones, {in_flight} in flight "
        "(cProfile own time, scaled: raw to its median CPU per clone, the SDK to that "
        "over the median ratio)"
    )
    print_row("layer", "raw us", "SDK us", "SDK - raw us")
    raw_t, sdk_t = table.values()
    for name in sorted(set(raw_t) | set(sdk_t), key=lambda k: sdk_t[k] - raw_t[k], reverse=True):
        extra = sdk_t[name] - raw_t[name]
        print_row(name, f"{raw_t[name]:.1f}", f"{sdk_t[name]:.1f}", f"{extra:+.1f}")
    print_row("total", f"{sum(raw_t.values()):.1f}", f"{sum(sdk_t.values()):.1f}", "")

    # For the figure: what both sides share first (largest first), then the SDK's own
    # layers, "other" last, so that the two bars line up on the shared part.
    def stacking(name: str) -> tuple[int, float]:
        own = name.startswith("voiceclone")
        return (2 if name == "other" else int(own), -(sdk_t[name] if own else raw_t[name]))

    order = sorted(raw_t.keys() | sdk_t.keys(), key=stacking)
    return {label: {name: side[name] for name in order} for label, side in table.items()}


async def main(args: argparse.Namespace) -> None:
    with fixed_server_process() as base_url:
        # Warm up both paths (imports, connection pool, caches) outside the measurement.
        await pair(base_url, -1, min(WARM_UP, args.n), args.in_flight, stamps=True)
        print(
            f"voiceclone {voiceclone.__version__}, Python {sys.version.split()[0]}, "
            f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at start; "
            "a fixed-answer server in a separate process"
        )
        ratio, raw_us, _sdk_us = await throughput(base_url, args)
        await latency(base_url, args)
        # Scaled so that the SDK's bar is raw's over the ratio: the medians of each
        # side come from different rounds, the ratio (the robust figure) from one.
        table = await breakdown(base_url, args, raw_us, raw_us / ratio)
    if args.plot:
        from _plot import plot_layers

        figure = {label: coarse_layers(side) for label, side in table.items()}
        plot_layers(
            args.plot,
            figure,
            title=f"Client CPU per clone by layer ({args.in_flight} in flight)",
            colours=SHARED_COLOURS,
        )
        print(f"\nwrote {args.plot}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=1500, help="clones per round and side")
    parser.add_argument("--n-latency", type=int, default=500, help="clones per latency round")
    parser.add_argument("--in-flight", type=int, default=8, help="concurrency of both sides")
    parser.add_argument("--rounds", type=int, default=11, help="rounds of each measurement")
    parser.add_argument("--plot", type=Path, help="write CPU per clone by layer here (SVG)")
    asyncio.run(main(parser.parse_args()))

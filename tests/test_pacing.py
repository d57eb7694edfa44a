"""The rate gate on a virtual clock: pacing, shared cooldowns, AIMD, slow start.

These run on an event loop whose clock jumps to the next timer whenever every
task is waiting, so minutes of pacing take milliseconds and timings are exact.
"""

from __future__ import annotations

import asyncio
import itertools
import selectors
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import pytest

from voiceclone import TimeoutError
from voiceclone._pacing import RateGate
from voiceclone.emulator._state import TokenBucket

T = TypeVar("T")


class _Clock:
    now = 1000.0


class _JumpingSelector(selectors.SelectSelector):
    """Instead of blocking until the next timer, moves the clock to it."""

    def __init__(self, clock: _Clock) -> None:
        super().__init__()
        self._clock = clock

    def select(self, timeout: float | None = None) -> list[Any]:
        if timeout is None:
            raise RuntimeError("deadlock: every task waits and no timer is due")
        self._clock.now += max(timeout, 0.0)
        return []


class VirtualLoop(asyncio.SelectorEventLoop):
    def __init__(self) -> None:
        self._virtual = _Clock()
        super().__init__(_JumpingSelector(self._virtual))

    def time(self) -> float:
        return self._virtual.now


def run(main: Callable[[], Awaitable[T]]) -> T:
    loop = VirtualLoop()
    try:
        return loop.run_until_complete(main())
    finally:
        loop.close()


def now() -> float:
    return asyncio.get_running_loop().time()


async def passes(gate: RateGate, count: int) -> list[float]:
    """Times at which ``count`` tasks, all arriving at once, get through the gate."""
    times: list[float] = []

    async def one() -> None:
        await gate.acquire()
        times.append(now())

    await asyncio.gather(*(one() for _ in range(count)))
    return times


def gaps(times: list[float]) -> list[float]:
    return [b - a for a, b in itertools.pairwise(times)]


def test_requests_leave_one_interval_apart_from_the_first() -> None:
    async def main() -> tuple[float, list[float]]:
        start = now()
        return start, await passes(RateGate(600), 10)

    start, times = run(main)
    assert times[0] == pytest.approx(start)
    assert gaps(times) == pytest.approx([0.1] * 9)


def test_an_idle_gate_saves_up_no_burst() -> None:
    async def main() -> list[float]:
        gate = RateGate(60)
        await gate.acquire()
        await asyncio.sleep(30.0)  # thirty intervals of silence
        return await passes(gate, 3)

    times = run(main)
    assert gaps(times) == pytest.approx([1.0, 1.0])


def test_a_rate_limit_storm_closes_the_gate_once_for_everyone() -> None:
    async def main() -> tuple[RateGate, list[float], float]:
        gate = RateGate(600)
        tickets = [await gate.acquire() for _ in range(5)]  # five requests in flight
        answered = now()
        for ticket in tickets:  # all five come back 1002
            await ticket.refused()
        return gate, await passes(gate, 5), answered

    gate, retries, answered = run(main)
    stats = gate.stats
    assert stats.rate_limited == 5
    assert stats.cooldowns == 1  # one shared cooldown, not five backoffs
    assert stats.requests_per_minute == pytest.approx(300)  # halved once, not five times
    assert min(retries) > answered  # nobody retries during the cooldown
    assert gaps(retries) == pytest.approx([0.2] * 4)  # and they return paced, not as a herd


def test_answers_to_requests_sent_before_a_cooldown_change_nothing() -> None:
    async def main() -> tuple[RateGate, float]:
        gate = RateGate(600)
        old = await gate.acquire()
        await old.refused()
        rate = gate.stats.requests_per_minute
        await old.refused()  # a slow answer from the same generation
        return gate, rate

    gate, rate = run(main)
    assert gate.stats.requests_per_minute == rate
    assert gate.stats.cooldowns == 1


def test_cooldowns_without_a_success_between_them_double() -> None:
    async def main() -> list[float]:
        gate = RateGate(600)
        ticket = await gate.acquire()
        waits = []
        for _ in range(4):
            await ticket.refused()  # refused again, no success in between
            before = now()
            ticket = await gate.acquire()
            waits.append(now() - before)
        return waits

    waits = run(main)
    assert [b / a for a, b in itertools.pairwise(waits)] == pytest.approx([2.0, 2.0, 2.0], rel=0.05)


def test_a_cooldown_delays_requests_already_waiting() -> None:
    async def main() -> tuple[list[float], float]:
        gate = RateGate(60)
        ticket = await gate.acquire()
        waiting = asyncio.ensure_future(passes(gate, 3))
        await asyncio.sleep(0.5)  # the three queue; the first would leave at +1 s
        await ticket.refused()
        return await waiting, gate._closed_until

    times, reopened = run(main)
    assert min(times) >= reopened


def test_a_rate_increase_speeds_up_requests_already_waiting() -> None:
    async def main() -> list[float]:
        gate = RateGate(None)  # slow start at 60 per minute
        first = asyncio.ensure_future(passes(gate, 40))
        for _ in range(30):
            await asyncio.sleep(0.05)
            await gate.on_accepted()
        return await first

    times = run(main)
    # The queue was formed at one per second; it drains far faster once the rate grows.
    assert times[-1] - times[0] < 10.0


def test_the_gate_never_paces_above_the_configured_limit() -> None:
    async def main() -> float:
        gate = RateGate(120)

        async def client() -> None:
            for _ in range(50):
                await gate.acquire()
                await gate.on_accepted()

        await asyncio.gather(*(client() for _ in range(4)))
        return gate.stats.requests_per_minute

    assert run(main) == pytest.approx(120)


def test_an_unknown_limit_is_not_paced_until_refused() -> None:
    async def main() -> list[float]:
        gate = RateGate(None)
        times = await passes(gate, 50)
        for _ in times:
            await gate.on_accepted()
        assert gate.stats.requests_per_minute == float("inf")
        return times

    assert gaps(run(main)) == [0.0] * 49


def test_a_first_refusal_paces_at_what_was_accepted() -> None:
    async def main() -> tuple[float, list[float]]:
        gate = RateGate(None)
        for _ in range(10):  # ten requests a second, unpaced and accepted
            ticket = await gate.acquire()
            await gate.on_accepted()
            await asyncio.sleep(0.1)
        await ticket.refused()
        return gate.stats.requests_per_minute, gaps(await passes(gate, 5))

    rpm, spacing = run(main)
    # 10 per second were sent, so the pace halves to about 5 per second (300 per minute).
    assert rpm == pytest.approx(300, rel=0.15)
    assert spacing == pytest.approx([60 / rpm] * 4)


def test_a_first_refusal_of_requests_sent_together_uses_the_acceptance_rate() -> None:
    async def main() -> float:
        gate = RateGate(None)
        for _ in range(4):  # bursts of 8 that leave together, one burst a second
            for _ in await passes(gate, 8):
                await gate.on_accepted()
            ticket = await gate.acquire()
            await asyncio.sleep(1.0)
        await ticket.refused()
        return gate.stats.requests_per_minute

    rpm = run(main)
    assert 60 <= rpm < float("inf")  # finite, and never below the documented default


def test_the_pace_does_not_grow_where_nobody_is_held_back() -> None:
    async def main() -> float:
        gate = RateGate(None)
        ticket = await gate.acquire()
        await ticket.refused()  # refused at once: the documented default pace
        for _ in range(40):  # one request every two seconds: the gate never holds it back
            await gate.acquire()
            await gate.on_accepted()
            await asyncio.sleep(2.0)
        return gate.stats.requests_per_minute

    assert run(main) <= 2 * 60.0


def test_a_turn_past_the_deadline_fails_at_once() -> None:
    async def main() -> float:
        gate = RateGate(6)  # one per ten seconds
        await gate.acquire()
        before = now()
        with pytest.raises(TimeoutError, match="time budget"):
            await gate.acquire(deadline=before + 5.0)
        return now() - before

    assert run(main) == 0.0


def test_a_cancelled_waiter_leaves_the_queue_without_holding_it_up() -> None:
    async def main() -> tuple[list[float], float]:
        gate = RateGate(60)
        await gate.acquire()
        start = now()
        head = asyncio.ensure_future(gate.acquire())
        rest = asyncio.ensure_future(passes(gate, 2))
        await asyncio.sleep(0.5)
        head.cancel()
        times = await rest
        assert head.cancelled()
        return times, start

    times, start = run(main)
    assert times[0] == pytest.approx(start + 1.0)  # took the cancelled task's turn
    assert gaps(times) == pytest.approx([1.0])
    assert not run(lambda: _queue_empty_after_cancel())


async def _queue_empty_after_cancel() -> int:
    gate = RateGate(60)
    await gate.acquire()
    tasks = [asyncio.ensure_future(gate.acquire()) for _ in range(3)]
    await asyncio.sleep(0.1)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return len(gate._queue)


async def _simulate(
    gate: RateGate, server_rpm: float, burst: int, seconds: float, latency: float = 0.05
) -> tuple[list[float], int]:
    """Eight workers cloning through ``gate`` against a token-bucket server."""
    loop = asyncio.get_running_loop()
    bucket = TokenBucket(server_rpm / 60.0, burst, clock=loop.time)
    accepted: list[float] = []
    refused = 0
    end = now() + seconds

    async def worker() -> None:
        nonlocal refused
        while now() < end:
            ticket = await gate.acquire()
            ok = bucket.take()
            await asyncio.sleep(latency)
            if ok:
                accepted.append(now())
                await gate.on_accepted()
            else:
                refused += 1
                await ticket.refused()

    await asyncio.gather(*(worker() for _ in range(8)))
    return accepted, refused


@pytest.mark.parametrize(("server_rpm", "burst"), [(60, 15), (1200, 1), (1200, 20), (6000, 5)])
def test_told_nothing_the_gate_settles_just_under_the_servers_limit(
    server_rpm: float, burst: int
) -> None:
    async def main() -> tuple[RateGate, list[float], int, float]:
        start = now()
        gate = RateGate(None)
        accepted, refused = await _simulate(gate, server_rpm, burst, 240)
        return gate, accepted, refused, start

    gate, accepted, refused, start = run(main)
    limit = server_rpm / 60.0
    late = [t for t in accepted if t >= start + 120]  # the second half
    assert len(late) / 120.0 >= 0.9 * limit  # uses at least 90 % of the allowance
    # The pace ends somewhere on its sawtooth, above the limit while saved-up tokens last.
    assert 0.8 * limit <= gate.stats.requests_per_minute / 60.0 <= 1.4 * limit
    assert refused / len(accepted) <= 0.25


def test_told_the_limit_the_gate_meets_no_rate_limit_answer() -> None:
    async def main() -> tuple[list[float], int]:
        return await _simulate(RateGate(1200), 1200, 2, 60)

    accepted, refused = run(main)
    assert refused == 0
    assert len(accepted) >= 0.98 * 60 * 20


def test_retry_after_is_a_floor_of_the_cooldown_not_added_to_it() -> None:
    async def main() -> float:
        gate = RateGate(600)
        ticket = await gate.acquire()
        refused_at = now()
        await ticket.refused(retry_after=0.3)
        await gate.acquire()
        return now() - refused_at

    # Halved to 300/min: a 0.2 s interval and a 0.1 s cooldown, both inside the 0.3 s hint.
    assert run(main) == pytest.approx(0.3)

"""The two gates proven equal: `RateGate` and the shared gate's Lua, event for event.

The same sequences of events (requests leaving, successes, rate-limit answers new
and old, Retry-After hints, time passing) drive the local gate on a virtual clock
and the shared gate's scripts on a real redis-server, given the same time (the
scripts take a time instead of ``TIME`` for this). After every departure and
every refusal, pace, cooldown, generation and wait must agree. Fixed sequences
and random ones (Hypothesis); and the comparison is shown to fail when either
side's arithmetic changes alone.
"""

from __future__ import annotations

import asyncio
import itertools
import math
from collections.abc import Iterator
from typing import Any

import pytest
import redis as syncredis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from redis_server import RedisServer, redis_server
from test_pacing import VirtualLoop

from voiceclone import _pacing
from voiceclone._pacing import RateGate, Ticket
from voiceclone._redis import _gate_lua as _redis_gate_lua
from voiceclone._redis._gate import HEARTBEAT, STATE_TTL

__all__ = ["redis_server"]  # the fixture, imported for pytest

_tags = itertools.count()

Event = tuple[Any, ...]


class LuaGate:
    """The shared gate's scripts called by hand, one worker, on a given clock."""

    def __init__(self, client: syncredis.Redis, ceiling: float | None, scripts: dict[str, str]):
        tag = f"{{differential{next(_tags)}}}"
        self.keys = [f"voiceclone:{tag}:{p}" for p in ("gate", "sent", "spent", "workers", "told")]
        self.client = client
        self.ceiling = "" if ceiling is None else repr(ceiling / 60.0)
        self.acquire_script = client.register_script(scripts["acquire"])
        self.limited_script = client.register_script(scripts["limited"])
        self.pending = 0

    def _call(self, script: Any, now: float, arg: str, hint: float) -> list[Any]:
        args = [
            "process:client", self.pending, self.ceiling, int(STATE_TTL * 1000), HEARTBEAT,
            arg, hint, repr(now),
        ]  # fmt: skip
        self.pending = 0
        return list(script(keys=self.keys, args=args))

    def acquire(self, now: float) -> tuple[float, int]:
        reply = self._call(self.acquire_script, now, "", 0.0)
        return float(reply[1]), int(reply[2])

    def refused(self, now: float, generation: int, hint: float | None) -> None:
        self._call(self.limited_script, now, str(generation), hint or 0.0)

    def state(self) -> dict[str, float]:
        names = ("rate", "closed_until", "generation", "cooldown", "step", "accepted")
        values = self.client.hmget(self.keys[0], names)
        return {n: float(v) if v is not None else 0.0 for n, v in zip(names, values, strict=True)}


def local_state(gate: RateGate) -> dict[str, float]:
    return {
        "rate": 0.0 if math.isinf(gate._rate) else gate._rate,
        "closed_until": max(gate._closed_until, 0.0),
        "generation": float(gate._generation),
        "cooldown": gate._cooldown,
        "step": gate._step,
        "accepted": float(gate._accepted),
    }


def replay(
    events: list[Event], ceiling: float | None, client: syncredis.Redis, scripts: dict[str, str]
) -> None:
    """Drive both gates through ``events``; assert they agree after each step."""
    loop = VirtualLoop()
    try:
        local = RateGate(ceiling)
        shared = LuaGate(client, ceiling, scripts)
        generations: list[int] = []
        tickets: list[Ticket] = []
        for step, event in enumerate(events):
            now = loop.time()
            kind = event[0]
            if kind == "pause":
                loop.run_until_complete(asyncio.sleep(event[1]))
                continue
            if kind == "success":
                loop.run_until_complete(local.on_accepted())
                shared.pending += 1
                continue
            if kind == "acquire":
                wait, generation = shared.acquire(now)
                got = loop.run_until_complete(local.acquire())
                waited = loop.time() - now
                assert got._token == generation, (step, event)
                # A slot barely missed comes back as a negative wait: leave now.
                assert waited == pytest.approx(max(wait, 0.0), rel=1e-9, abs=1e-9), (step, event)
                generations.append(generation)
                tickets.append(got)
            elif kind == "refused":
                if not generations:
                    continue
                which = -1 - min(event[1], len(generations) - 1)
                shared.refused(now, generations[which], event[2])
                loop.run_until_complete(tickets[which].refused(event[2]))
            expected, found = local_state(local), shared.state()
            assert found == pytest.approx(expected, rel=1e-9, abs=1e-9), (step, event)
    finally:
        loop.close()


SCRIPTS = {"acquire": _redis_gate_lua.ACQUIRE, "limited": _redis_gate_lua.LIMITED}


@pytest.fixture
def client(redis_server: RedisServer) -> Iterator[syncredis.Redis]:
    direct = syncredis.Redis(port=redis_server.port)
    try:
        yield direct
    finally:
        direct.close()


def burst_then_limit() -> list[Event]:
    """An unpaced start, refusals new and old, a hint, a recovery: every rule once."""
    events: list[Event] = [("acquire",)] * 6 + [("success",)] * 4
    events += [("refused", 0, None), ("refused", 3, None), ("pause", 0.05)]
    for _ in range(12):
        events += [("acquire",), ("success",)]
    events += [("refused", 0, 2.5), ("acquire",), ("refused", 0, None), ("acquire",)]
    for _ in range(10):
        events += [("acquire",), ("success",), ("pause", 0.3)]
    events += [("refused", 0, None), ("acquire",), ("acquire",)]
    return events


@pytest.mark.parametrize("ceiling", [None, 60.0, 1200.0])
def test_the_gates_agree_on_a_burst_refusals_and_recovery(
    client: syncredis.Redis, ceiling: float | None
) -> None:
    replay(burst_then_limit(), ceiling, client, SCRIPTS)


events_strategy = st.lists(
    st.one_of(
        st.tuples(st.just("pause"), st.floats(0.0, 5.0)),
        st.just(("acquire",)),
        st.just(("success",)),
        st.tuples(st.just("refused"), st.integers(0, 4), st.sampled_from([None, 0.5, 3.0, 120.0])),
    ),
    min_size=1,
    max_size=60,
)


@settings(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(events=events_strategy, ceiling=st.sampled_from([None, 30.0, 600.0, 6000.0]))
def test_the_gates_agree_on_any_sequence(
    client: syncredis.Redis, events: list[Event], ceiling: float | None
) -> None:
    replay(events, ceiling, client, SCRIPTS)


@pytest.mark.parametrize("side", ["lua", "python"])
def test_the_comparison_fails_when_one_side_changes_alone(
    client: syncredis.Redis, monkeypatch: pytest.MonkeyPatch, side: str
) -> None:
    scripts = SCRIPTS
    if side == "lua":  # the scripts rendered with another increase, Python untouched
        monkeypatch.setattr(_pacing, "INCREASE", _pacing.INCREASE * 1.1)
        scripts = {
            "acquire": _redis_gate_lua._render(
                _redis_gate_lua._PREAMBLE + _redis_gate_lua._ACQUIRE + _redis_gate_lua._EPILOGUE
            ),
            "limited": _redis_gate_lua._render(
                _redis_gate_lua._PREAMBLE + _redis_gate_lua._LIMITED + _redis_gate_lua._EPILOGUE
            ),
        }
        monkeypatch.undo()
    else:  # the local gate with another decrease, the scripts untouched
        monkeypatch.setattr(_pacing, "BELOW", _pacing.BELOW * 0.99)
    with pytest.raises(AssertionError):
        replay(burst_then_limit(), 1200.0, client, scripts)

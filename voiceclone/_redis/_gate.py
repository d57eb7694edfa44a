"""The Redis gate: every client of one account on one Redis passes one rate gate.

MiniMax limits cloning per account, so processes that pace themselves each at the
full limit together send several times it. `RedisGate` keeps the local gate's
rules (`_pacing`) with their state in Redis: one Lua script per decision, one
round trip per departure, no polling. Inside a process requests still queue first
come first served; only the head of the queue holds a reservation, so a cooldown
started by this process re-schedules it.

Successes are not reported one by one: they are counted here and carried by the
next script call, which keeps each departure to a single round trip.

When Redis cannot be reached (down at start, lost mid-run, stalled), no call
waits on it: the gate falls back (``fallback="local"``: a local `RateGate` at the
limit divided by the workers last seen in Redis; ``"open"``: no pacing; ``"fail"``:
`RateGateUnavailableError`), logs one WARNING, and probes Redis again after a
growing pause (a circuit breaker, so each call does not pay a connect timeout).
The first answer brings the shared gate back, with one INFO line.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import uuid
from collections.abc import Callable
from typing import Final

from voiceclone._aio import call_within
from voiceclone._breaker import refusal_from_record, refusal_record
from voiceclone._errors import APIError, RateGateUnavailableError
from voiceclone._pacing import Alarm, GateStats, RateGate, Ticket, _out_of_time

from ._conn import (
    RedisHandle,
    UnreadableReply,
    redis_errors,
)
from ._gate_lua import ACCOUNT, ACQUIRE, LEAVE, LIMITED, REPLY_LENGTH, REPORT

__all__ = ["RedisGate"]

logger = logging.getLogger("voiceclone")

#: Seconds an account's keys outlive its last request: long enough to keep a learned
#: pace across a pause between batches, short enough that nothing lingers.
STATE_TTL: Final = 900.0
#: A worker counts as live (its limit holds the account's pace down; it takes a
#: share of the fallback) if it asked the gate this recently: longer than the
#: longest cooldown, so a waiting worker still counts. A client that closes leaves
#: at once; one that was killed, within this.
HEARTBEAT: Final = 90.0
#: Seconds one script call may take before Redis counts as stalled.
CALL_TIMEOUT: Final = 1.0
#: The circuit breaker's pauses before probing Redis again, doubling between.
PROBE_FIRST: Final = 0.5
#: What ACQUIRE's first field says besides 1 (go, after ``wait``) and 0 (no slot
#: before the deadline): the account refused (the breaker is open), or its probe
#: is out (wait ``wait``, then ask again).
_REFUSED: Final = 2
_PROBE_OUT: Final = 3
PROBE_MAX: Final = 15.0


def _new_process_id() -> str:
    return uuid.uuid4().hex[:16]


#: This process among the account's workers (a forked child gets its own): the
#: fallback's fair share divides by processes, however many clients each makes.
_process_id = _new_process_id()


def _forked() -> None:
    global _process_id
    _process_id = _new_process_id()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forked)


class RedisGate:
    """Paces every client of one account on one Redis as one.

    Args:
        requests_per_minute: the account's limit, or ``None`` to discover it together.
        handle: the Redis client (owned or borrowed).
        tag: the account's hash tag (a digest of key and base URL).
        fallback: what to do while Redis is unreachable: ``"local"``, ``"open"``, ``"fail"``.
        family: the endpoints it paces: ``"clone"`` or ``"speech"`` (one pace each).
    """

    def __init__(
        self,
        requests_per_minute: float | None,
        handle: RedisHandle,
        tag: str,
        fallback: str,
        family: str = "clone",
    ) -> None:
        self._limit = requests_per_minute
        self._ceiling = "" if requests_per_minute is None else repr(requests_per_minute / 60.0)
        self._handle = handle
        # One pace per endpoint family: speech keys beside the clone gate's (whose
        # names predate families), in the account's hash slot all the same.
        prefix = f"voiceclone:{tag}" if family == "clone" else f"voiceclone:{tag}:{family}"
        self._keys = [f"{prefix}:{part}" for part in ("gate", "sent", "spent", "workers", "told")]
        self._fallback_kind = fallback
        self._worker = f"{_process_id}:{uuid.uuid4().hex[:16]}"
        self._said_cap: float | None = None  # the lower limit this client warned about
        self._errors = redis_errors()
        self._turn = asyncio.Lock()  # first come, first served; the head holds a reservation
        self._pending = 0  # successes not yet reported to Redis
        self._rate = math.inf if requests_per_minute is None else requests_per_minute / 60.0
        self._workers = 1  # live workers last seen in Redis
        self._rate_limited = 0
        self._cooldowns = 0
        self._fallback: RateGate | None = None  # set while Redis is unreachable
        self._down = False
        self._probe_at = -math.inf
        self._probe_pause = PROBE_FIRST
        self._alarm = Alarm()
        self._refused: APIError | None = None  # the account's refusal, while shared
        # Times the calls waiting here were released (the account breaker opened).
        self._released = 0
        self._release_error: Callable[[], BaseException] | None = None

    def __repr__(self) -> str:
        return f"<RedisGate {'fallback' if self._down else 'shared'}>"

    @property
    def stats(self) -> GateStats:
        """The pace for the whole account (or the fallback's), and this client's counts."""
        if self._down:
            pace = self._fallback.stats.requests_per_minute if self._fallback else math.inf
            return GateStats(pace, self._rate_limited, self._cooldowns, gate="fallback")
        return GateStats(self._rate * 60.0, self._rate_limited, self._cooldowns, gate="shared")

    async def _run(self, script: str, arg: str, hint: float = 0.0) -> tuple[int, float, int]:
        """One script call, reporting the successes counted since the last one."""
        successes, self._pending = self._pending, 0
        args: list[str | int | float] = [
            self._worker,
            successes,
            self._ceiling,
            int(STATE_TTL * 1000),
            HEARTBEAT,
            arg,
            hint,
            "",  # Redis's own clock
        ]
        try:
            await self._handle.ready()
            # redis-py loads the script again by itself when Redis answers NOSCRIPT.
            reply = await call_within(
                self._handle.script(script)(keys=self._keys, args=args), CALL_TIMEOUT
            )
        except BaseException:
            self._pending += successes  # not delivered: report them next time
            raise
        try:
            if len(reply) != REPLY_LENGTH:
                raise ValueError
            ok, wait, generation = int(reply[0]), float(reply[1]), int(reply[2])
            workers, rate_value = int(reply[3]), float(reply[4])
            cap = float(reply[5]) if reply[5] not in (b"", "") else None
            refused = reply[6].decode() if isinstance(reply[6], bytes) else str(reply[6])
            # Read now: a refusal that cannot be read is a server to distrust.
            self._refused = refusal_from_record(refused) if refused else None
            if ok == _REFUSED and self._refused is None:
                raise ValueError("refused without a refusal")
        except (TypeError, ValueError, KeyError, OverflowError, UnicodeDecodeError):
            # +OK, nil, a wrong-length array: something that is not our script's Redis
            # (a proxy, a stub). Treated as Redis being down: the fallback paces.
            raise UnreadableReply from None
        if not (math.isfinite(wait) and math.isfinite(rate_value)):
            raise UnreadableReply
        self._workers = max(1, workers)
        self._rate = rate_value if rate_value > 0 else math.inf
        self._say_disagreement(cap)
        return ok, wait, generation

    def _say_disagreement(self, cap: float | None) -> None:
        """One WARNING when a live worker of the account was told a lower limit."""
        if cap is None or self._limit is None or cap * 60.0 >= self._limit * (1 - 1e-9):
            return
        if self._said_cap is not None and math.isclose(self._said_cap, cap):
            return
        self._said_cap = cap
        logger.warning(
            "shared rate gate: this client was told %.6g requests/min and another live "
            "worker of the account %.6g/min: the account is paced at %.6g/min until that "
            "worker leaves",
            self._limit, cap * 60.0, cap * 60.0,
        )  # fmt: skip

    async def acquire(self, deadline: float | None = None) -> Ticket:
        """Wait for this request's turn; report on the returned ticket how it went.

        The ticket carries the account's cooldown generation in Redis, or the
        fallback gate's own ticket when that gate let the request go, so each
        answer reaches the gate that issued it.
        """
        loop = asyncio.get_running_loop()
        released = self._released
        try:
            if deadline is None:
                await self._turn.acquire()
            else:
                await asyncio.wait_for(self._turn.acquire(), max(0.0, deadline - loop.time()))
        except asyncio.TimeoutError:
            raise _out_of_time() from None
        try:
            while True:
                if self._released != released and self._release_error is not None:
                    raise self._release_error()
                if self._down and loop.time() < self._probe_at:
                    return await self._acquire_fallback(deadline)
                max_wait = "" if deadline is None else repr(deadline - loop.time())
                try:
                    ok, wait, generation = await self._run(ACQUIRE, max_wait)
                except self._errors as exc:
                    self._fall_back(exc)
                    return await self._acquire_fallback(deadline)
                self._back()
                if ok == _REFUSED and self._refused is not None:
                    # A worker of the account was refused: this call is not sent.
                    raise self._refused
                if ok == _PROBE_OUT:  # wait for the probe's answer, then ask again
                    if deadline is not None and loop.time() + wait > deadline:
                        raise _out_of_time()
                    await asyncio.sleep(wait)
                    continue
                if not ok:
                    raise _out_of_time()
                if wait > 0 and not await self._alarm.sleep_until(loop.time() + wait):
                    continue  # this process started a cooldown meanwhile: reserve again
                return Ticket(self, generation)
        finally:
            self._turn.release()

    async def _acquire_fallback(self, deadline: float | None) -> Ticket:
        if self._fallback_kind == "fail":
            raise RateGateUnavailableError(
                "the shared rate gate (Redis) is unreachable and fallback='fail'"
            )
        if self._fallback is None:  # "open": nothing paces, nothing to tell
            return Ticket(self, None)
        return Ticket(self, await self._fallback.acquire(deadline))

    def _fall_back(self, exc: BaseException) -> None:
        """Redis did not answer: pace without it until the next probe."""
        loop = asyncio.get_running_loop()
        if not self._down:
            self._down = True
            self._probe_pause = PROBE_FIRST
            share = self._share()
            if self._fallback_kind == "local":
                self._fallback = RateGate(share)
                how = "a local gate at " + (
                    "no pace until refused" if share is None else f"{share:.1f}/min"
                )
                how += f" (1/{self._workers} of the account's pace)"
            else:
                how = "no pacing" if self._fallback_kind == "open" else "failing every call"
            # The exception's text may name the server's address; its type is enough.
            logger.warning(
                "shared rate gate unreachable (%s): %s until Redis answers again",
                type(exc).__name__, how,
            )  # fmt: skip
        else:
            self._probe_pause = min(self._probe_pause * 2.0, PROBE_MAX)
        self._probe_at = loop.time() + self._probe_pause

    def _share(self) -> float | None:
        """A fair share of the limit (or of the pace reached) for this worker."""
        pace = self._limit if self._limit is not None else self._rate * 60.0
        if math.isinf(pace):
            return None
        return pace / self._workers

    def _back(self) -> None:
        if self._down:
            self._down = False
            self._fallback = None
            logger.info("shared rate gate reachable again: pacing through Redis")

    async def on_accepted(self, token: object = None) -> None:
        """Count a success; it reaches Redis with the next script call.

        A probe's success (the account's breaker was open) is reported at once: it
        closes the breaker for every worker of the account. A request the fallback
        let go (``token`` is its ticket) is reported to the fallback.
        """
        if isinstance(token, Ticket):
            await token.accepted()
            return
        if token is None:
            return  # let go unpaced ("open"): nothing to learn
        self._pending += 1
        if self._refused is not None:
            await self._report()

    async def _report(self) -> None:
        try:
            await self._run(REPORT, "")
        except self._errors as exc:
            self._fall_back(exc)

    async def on_refused(self, token: object, retry_after: float | None = None) -> None:
        """A request sent in generation ``token`` was refused for its rate: one round trip.

        ``retry_after`` keeps the shared gate closed at least that long, for everyone.
        A request the fallback let go (``token`` is its ticket) is the fallback's news.
        """
        self._rate_limited += 1
        if isinstance(token, Ticket):
            await token.refused(retry_after)
            return
        if token is None:
            return  # let go unpaced ("open")
        try:
            started, _, _ = await self._run(LIMITED, str(token), retry_after or 0.0)
        except self._errors as exc:
            self._fall_back(exc)
            return
        if started:
            self._cooldowns += 1
            self._alarm.poke()  # wake the head: its slot predates the cooldown

    async def on_account_refused(self, error: APIError, voice_id: str | None) -> None:
        """Open the account's breaker for every worker (or keep it open): one round trip."""
        if self._down:
            return  # the client's own breaker holds it meanwhile
        try:
            await self._run(ACCOUNT, refusal_record(error, voice_id))
        except self._errors as exc:
            self._fall_back(exc)

    def release_waiting(self, error: Callable[[], BaseException]) -> None:
        """Make every call waiting in this process raise ``error()`` instead of leaving."""
        self._released += 1
        self._release_error = error
        self._alarm.poke()
        if self._fallback is not None:
            self._fallback.release_waiting(error)

    async def aclose(self) -> None:
        """Leave the account's live workers, then close a Redis client this gate made.

        Leaving lets the account's pace follow the limits of the workers still
        there at once (and their fallback share grow); one bounded try, since a
        worker that does not leave stops counting within `HEARTBEAT` anyway.
        """
        try:
            if not self._down and self._handle.made:
                if self._pending:  # successes not yet counted: they teach the pace
                    await call_within(self._report(), CALL_TIMEOUT)
                script = self._handle.script(LEAVE)
                await call_within(script(keys=self._keys, args=[self._worker]), CALL_TIMEOUT)
        except self._errors:
            pass
        finally:
            await self._handle.aclose()

"""The rate gate: one per endpoint family of a client, passed by every paced attempt.

Why a gate and not per-task backoff: MiniMax limits cloning per account, so a
rate-limit answer to one task is news for all of them. Tasks that back off on
their own come back as a herd and burn the next window too. Here a rate-limit
answer closes the gate for one cooldown that every task waits out together,
and lowers the pace for all of them.

How it paces:

* **No burst.** Requests leave one interval apart, first come first served,
  and an idle gate saves up no credit (MiniMax answers 2045 to sudden growth).
  Only the task at the head of the queue sleeps; it re-reads the pace when it
  wakes, so a rate change or a cooldown applies to requests already waiting.
* **Decrease to what the server accepted.** A rate-limit answer means the
  server's allowance is spent. Successes counted between two such moments are
  what the server granted in that time, so the gate sets its rate just under
  that measured rate (``BELOW``), cutting by at most half per answer; with no
  measurement yet it halves. Answers to requests sent before the last cooldown
  are old news and change nothing. Consecutive cooldowns with no success in
  between double, up to a minute (MiniMax's window), for servers that count
  per whole minute.
* **Additive increase.** While the gate is what holds requests back, every
  success adds a little, so the rate creeps up by ``INCREASE`` of the last cut
  rate per second, never above the configured ``requests_per_minute``, probing
  for a limit that was raised or under-measured.
* **Unknown limit.** Told no limit (``requests_per_minute=None``), the gate
  does not pace at all until the first rate-limit answer, then takes its pace
  from what was sent and accepted, and behaves as above with no ceiling. It
  grows only while it held a request back since the last success or paces
  under twice what is really sent, so a client held back by its in-flight
  limit never builds up a pace it has not tried.
"""

from __future__ import annotations

import asyncio
import collections
import math
from collections.abc import Awaitable, Callable
from typing import Protocol

import attrs

from ._errors import APIError, OutOfTime

__all__ = ["Alarm", "Gate", "GateStats", "RateGate", "Ticket"]

#: Fraction of the measured server rate the gate settles at after a rate-limit answer.
BELOW = 0.95
#: The cut when nothing has been measured yet (a fraction of the current rate).
MIN_DECREASE = 0.5
#: The cut near the limit, where the measured rate underestimates the server's.
DECREASE = 0.85
#: Sending this many times the measured rate means overshoot rather than a limit nearby.
OVERSHOOT = 1.6
#: Growth per second after a cut, as a fraction of the rate before it.
INCREASE = 0.05
#: The pace after a first request refused before anything was measured: MiniMax's
#: documented default per account.
START_PER_SECOND = 1.0
#: How many cooldowns are remembered to measure the server's rate from.
SPENT_KEPT = 16
#: Successes needed between two rate-limit answers to trust the rate measured from them.
MIN_SAMPLES = 8
#: How many intervals (at the lowered rate) the first cooldown of a run lasts.
COOLDOWN_INTERVALS = 0.5
#: The shortest and longest cooldowns, in seconds.
MIN_COOLDOWN = 0.02
MAX_COOLDOWN = 60.0
#: A head task woken this late (in intervals) keeps its schedule; later than that, the gate
#: was idle and the schedule restarts from now, so no credit is saved up.
LATE_WAKE = 0.25


@attrs.frozen
class GateStats:
    """What the gate has seen: for progress displays and benchmarks."""

    requests_per_minute: float  #: the current pace
    rate_limited: int  #: rate-limit answers received
    cooldowns: int  #: times the gate closed
    #: which gate paces: ``"local"`` (this client alone), ``"shared"`` (through Redis) or
    #: ``"fallback"`` (Redis unreachable: a local gate at a fair share, or none)
    gate: str = "local"


class _Issuer(Protocol):
    """A gate that issues tickets: told how each request it let go was answered."""

    def on_accepted(self, token: object = None) -> Awaitable[None]: ...

    def on_refused(self, token: object, retry_after: float | None = None) -> Awaitable[None]: ...


class Ticket:
    """One request's pass through a gate; how the server answered is reported on it.

    The report goes to the gate that let the request go, whichever that is now (a
    Redis gate may have fallen back to a local one since), with what that gate
    needs to place it (``token``: the cooldown generation it was sent in, say), so
    an answer to a request sent before a cooldown is not taken for news. Only the
    rate is reported: other failures say nothing about it.
    """

    __slots__ = ("_gate", "_token")

    def __init__(self, gate: _Issuer, token: object) -> None:
        self._gate = gate
        self._token = token

    def __repr__(self) -> str:
        return f"<Ticket of {type(self._gate).__name__}>"

    # Plain functions returning the gate's coroutine: one frame less per request.
    def accepted(self) -> Awaitable[None]:
        """The server accepted the request."""
        return self._gate.on_accepted(self._token)

    def refused(self, retry_after: float | None = None) -> Awaitable[None]:
        """Refused for its rate; ``retry_after`` is the server's hint, in seconds, if any."""
        return self._gate.on_refused(self._token, retry_after)


class Gate(Protocol):
    """What the client needs of a rate gate: the local `RateGate`, or `RedisGate`.

    A paced attempt calls `acquire` before it is sent and reports on the `Ticket` it
    gets back how the server answered.
    """

    @property
    def stats(self) -> GateStats: ...

    async def acquire(self, deadline: float | None = None) -> Ticket:
        """Wait for this request's turn; raise `OutOfTime` if it would come after ``deadline``."""
        ...

    def release_waiting(self, error: Callable[[], BaseException]) -> None:
        """Make every call waiting in this process raise ``error()`` instead of leaving."""
        ...

    async def on_account_refused(self, error: APIError, voice_id: str | None) -> None:
        """The account answered that it cannot clone: tell every worker that shares it."""
        ...

    async def aclose(self) -> None: ...


def _wake(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


class Alarm:
    """The sleep of a gate's head: it ends at its time, or earlier when poked.

    A gate pokes it when the pace changes or a cooldown starts, so the head re-reads
    its turn instead of sleeping through the change.
    """

    def __init__(self) -> None:
        self._future: asyncio.Future[None] | None = None
        self._poked = False

    async def sleep_until(self, when: float) -> bool:
        """Sleep until loop time ``when``; ``False`` if poked before it."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        self._future, self._poked = future, False
        timer = loop.call_at(when, _wake, future)
        try:
            await future
        finally:
            timer.cancel()
            self._future = None
        return not self._poked

    def poke(self) -> None:
        if self._future is not None:
            self._poked = True
            _wake(self._future)


class RateGate:
    """Paces requests and shares rate-limit cooldowns between tasks.

    Args:
        requests_per_minute: the account's limit, or ``None`` to discover it from
            rate-limit answers alone.
    """

    def __init__(self, requests_per_minute: float | None) -> None:
        self._ceiling = None if requests_per_minute is None else requests_per_minute / 60.0
        self._rate = self._ceiling or math.inf  # no ceiling: unpaced until refused
        self._step = 0.0  # additive increase, per second, set at each decrease
        self._last = -math.inf  # loop time the last request left
        self._first_sent = math.inf  # loop time the first request left
        self._closed_until = -math.inf
        self._cooldown = 0.0  # length of the last cooldown, 0 after a success
        self._generation = 0  # cooldowns so far: a request sent in an older one is old news
        self._rate_limited = 0
        self._accepted = 0  # successes so far
        # (loop time, successes) at each cooldown: the server's allowance was spent then.
        self._spent: collections.deque[tuple[float, int]] = collections.deque(maxlen=SPENT_KEPT)
        # When the latest requests left: the rate actually sent, which may be below the pace.
        self._sent: collections.deque[float] = collections.deque(maxlen=MIN_SAMPLES)
        self._queue: collections.deque[asyncio.Future[None]] = collections.deque()
        self._held = False  # a request had to wait at the gate since the last success
        self._alarm = Alarm()
        # Times the waiting calls were released (the account breaker opened), and what
        # the released raise.
        self._released = 0
        self._release_error: Callable[[], BaseException] | None = None

    @property
    def stats(self) -> GateStats:
        return GateStats(self._rate * 60.0, self._rate_limited, self._generation)

    def _start(self) -> float:
        return max(self._last + 1.0 / self._rate, self._closed_until)

    async def acquire(self, deadline: float | None = None) -> Ticket:
        """Wait for this request's turn; report on the returned ticket how it went.

        Raises `TimeoutError` at once if the turn would come after ``deadline`` (a
        loop time), so a call never sleeps past its budget.
        """
        loop = asyncio.get_running_loop()
        now = loop.time()
        start = self._start()
        if not self._queue and start <= now:  # the common case: the gate is not the bottleneck
            # A slot barely missed anchors the next interval, as a late wake-up does
            # below (and as the shared gate's script does for every departure).
            return self._depart(start if now - start <= LATE_WAKE / self._rate else now, now)
        # Everyone queued ahead leaves one interval apart.
        if deadline is not None and self._start() + len(self._queue) / self._rate > deadline:
            raise _out_of_time()
        self._held = True
        turn: asyncio.Future[None] = loop.create_future()
        self._queue.append(turn)
        released = self._released
        try:
            if self._queue[0] is not turn:
                await turn  # woken when this task reaches the head of the queue
            while True:
                if self._released != released and self._release_error is not None:
                    raise self._release_error()
                now = loop.time()
                start = self._start()
                if start <= now:
                    on_time = now - start <= LATE_WAKE / self._rate
                    return self._depart(start if on_time else now, now)
                if deadline is not None and start > deadline:
                    raise _out_of_time()
                # Sleep until the turn, or until the pace changes (see _poke).
                await self._alarm.sleep_until(start)
        finally:
            head = self._queue[0] is turn
            if head:
                self._queue.popleft()
            else:
                self._queue.remove(turn)
            if head and self._queue:
                _wake(self._queue[0])

    def _depart(self, scheduled: float, now: float) -> Ticket:
        """Let one request leave: ``scheduled`` anchors the next interval."""
        self._last = scheduled
        self._first_sent = min(self._first_sent, now)
        self._sent.append(now)
        return Ticket(self, self._generation)

    def _poke(self) -> None:
        """Make the sleeping head re-read the pace."""
        self._alarm.poke()

    async def on_accepted(self, token: object = None) -> None:
        """A paced request was accepted: creep the rate back up."""
        self._cooldown = 0.0
        self._accepted += 1
        held, self._held = self._held, False
        if math.isinf(self._rate):
            return  # unpaced: nothing to grow
        if not held and self._rate > 2.0 * self._send_rate():
            # The gate held nobody back since the last success, and paces well above what
            # is sent: the in-flight limit or the caller is the bottleneck, and a pace
            # never tried teaches nothing about the server.
            return
        self._rate += self._step / self._rate
        if self._ceiling is not None:
            self._rate = min(self._rate, self._ceiling)
        self._poke()

    async def on_refused(self, token: object, retry_after: float | None = None) -> None:
        """A paced request sent in generation ``token`` was refused for its rate.

        A ``Retry-After`` hint keeps the gate closed at least that long: the gate's
        own cooldown and the hint overlap, they do not add up.
        """
        self._rate_limited += 1
        now = asyncio.get_running_loop().time()
        if retry_after is not None:
            self._closed_until = max(self._closed_until, now + min(retry_after, MAX_COOLDOWN))
            self._poke()
        if token != self._generation:
            return  # sent before the current cooldown began: already acted on
        self._generation += 1
        sending = min(self._rate, self._send_rate())
        if math.isinf(sending):
            # Unpaced, and the latest requests left together: judge by what was accepted.
            elapsed = now - self._first_sent
            sending = self._accepted / elapsed if self._accepted and elapsed > 0 else 0.0
            sending = max(sending, START_PER_SECOND)
        self._step = INCREASE * sending
        measured = self._measured(now)
        if measured is None:
            target = sending * MIN_DECREASE
        elif sending > OVERSHOOT * measured:
            # Far above what the server granted (an unpaced start overshot, or the limit
            # dropped): the server was refusing all along, so what it granted is its rate.
            target = max(measured * BELOW, sending * MIN_DECREASE**2)
        else:
            # Near the limit. What the server granted is a lower bound on its rate (it
            # lost the refills of a full bucket while the gate ran below it): cut gently.
            target = min(max(measured * BELOW, sending * DECREASE), sending * BELOW)
        self._rate = max(target, 1.0 / MAX_COOLDOWN)
        self._spent.append((now, self._accepted))
        if self._cooldown:
            self._cooldown = min(self._cooldown * 2.0, MAX_COOLDOWN)
        else:
            self._cooldown = min(max(COOLDOWN_INTERVALS / self._rate, MIN_COOLDOWN), MAX_COOLDOWN)
        self._closed_until = max(self._closed_until, now + self._cooldown)
        self._poke()

    async def on_account_refused(self, error: APIError, voice_id: str | None) -> None:
        """Nothing to share: the client's breaker holds the refusal."""

    def release_waiting(self, error: Callable[[], BaseException]) -> None:
        """Make every call waiting now raise ``error()`` instead of leaving."""
        if not self._queue:
            return
        self._released += 1
        self._release_error = error
        for turn in self._queue:
            _wake(turn)
        self._poke()

    async def aclose(self) -> None:
        """Nothing to release: the local gate holds no connection."""

    def _send_rate(self) -> float:
        """Requests per second over the latest few that left (infinite if unknown)."""
        if len(self._sent) < 2 or self._sent[-1] <= self._sent[0]:
            return math.inf
        return (len(self._sent) - 1) / (self._sent[-1] - self._sent[0])

    def _measured(self, now: float) -> float | None:
        """Successes per second since the latest cooldown with enough successes after it."""
        for when, accepted in reversed(self._spent):
            if self._accepted - accepted >= MIN_SAMPLES and now > when:
                return (self._accepted - accepted) / (now - when)
        return None


def _out_of_time() -> OutOfTime:
    return OutOfTime("the retry time budget ran out waiting for the rate gate")

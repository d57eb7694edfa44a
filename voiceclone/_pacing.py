"""The shared rate gate: one per client, passed by every ``voice_clone`` attempt.

Why a gate and not per-task backoff: MiniMax limits cloning per account, so a
rate-limit answer to one task is news for all of them. Tasks that back off on
their own come back as a herd and burn the next window too. Here a rate-limit
answer closes the gate for one cooldown that every task waits out together,
and lowers the pace for all of them.

How it paces:

* **No burst.** Requests leave one interval apart from the first one on
  (MiniMax answers 2045 to sudden growth), reserved in order of arrival.
* **Multiplicative decrease.** A rate-limit answer to a request sent since the
  last cooldown multiplies the rate by ``DECREASE`` and closes the gate for a few
  intervals; answers to requests sent before that cooldown are old news and
  change nothing. Consecutive cooldowns with no success between them double, up
  to a minute (MiniMax's window), for servers that count per whole minute.
* **Additive increase.** Every success adds a little, so the rate creeps back up
  by ``INCREASE`` of the last-known-good rate per second, never above the
  configured ``requests_per_minute``.
* **Slow start.** Told no limit, the gate starts at MiniMax's documented 60 per
  minute and doubles every second until the first rate-limit answer, then
  settles into the sawtooth just under the server's limit.
"""

from __future__ import annotations

import asyncio
import math

import attrs

from ._errors import TimeoutError

__all__ = ["GateStats", "RateGate"]

#: Rate kept after a rate-limit answer.
DECREASE = 0.7
#: Growth per second after a decrease, as a fraction of the rate before it.
INCREASE = 0.05
#: The pace when the limit is unknown: MiniMax's documented default per account.
START_PER_SECOND = 1.0
#: The shortest and longest cooldowns, in seconds.
MIN_COOLDOWN = 0.05
MAX_COOLDOWN = 60.0
#: How many intervals (at the lowered rate) the first cooldown of a run lasts.
COOLDOWN_INTERVALS = 2.0


@attrs.frozen
class GateStats:
    """What the gate has seen: for progress displays and benchmarks."""

    requests_per_minute: float  #: the current pace
    rate_limited: int  #: rate-limit answers received
    cooldowns: int  #: times the gate closed


class RateGate:
    """Paces requests and shares rate-limit cooldowns between tasks.

    Args:
        requests_per_minute: the account's limit, or ``None`` to discover it from
            rate-limit answers alone.
    """

    def __init__(self, requests_per_minute: float | None) -> None:
        self._ceiling = None if requests_per_minute is None else requests_per_minute / 60.0
        self._rate = self._ceiling or START_PER_SECOND
        self._slow_start = self._ceiling is None
        self._step = INCREASE * self._rate  # additive increase, per second
        self._next = -math.inf  # loop time at which the next request may leave
        self._closed_until = -math.inf
        self._cooldown = 0.0  # length of the last cooldown, 0 after a success
        self._generation = 0
        self._rate_limited = 0
        self._cooldowns = 0

    @property
    def stats(self) -> GateStats:
        return GateStats(self._rate * 60.0, self._rate_limited, self._cooldowns)

    async def acquire(self, deadline: float | None = None) -> int:
        """Wait for this request's turn; returns the generation to report back with.

        Raises `TimeoutError` at once if the turn would come after ``deadline`` (a
        loop time), so a call never sleeps past its budget.
        """
        loop = asyncio.get_running_loop()
        while True:
            now = loop.time()
            start = max(now, self._next, self._closed_until)
            if deadline is not None and start > deadline:
                raise TimeoutError("the retry time budget ran out waiting for the rate gate")
            interval = 1.0 / self._rate
            self._next = start + interval
            generation = self._generation
            if start > now:
                try:
                    await asyncio.sleep(start - now)
                except asyncio.CancelledError:
                    if self._next == start + interval:  # nobody queued behind: give it back
                        self._next = start
                    raise
            if generation == self._generation:
                return generation
            # A cooldown began while this task slept: its turn is void, queue again.

    def on_success(self) -> None:
        """A paced request was accepted: creep the rate back up."""
        self._cooldown = 0.0
        interval = 1.0 / self._rate
        if self._slow_start:
            self._rate *= 2.0**interval  # doubles per second of successes
        else:
            self._rate += self._step * interval
        if self._ceiling is not None:
            self._rate = min(self._rate, self._ceiling)

    def on_rate_limited(self, generation: int) -> None:
        """A paced request sent in ``generation`` was refused for its rate."""
        self._rate_limited += 1
        if generation != self._generation:
            return  # sent before the current cooldown began: already acted on
        loop = asyncio.get_running_loop()
        self._generation += 1
        self._cooldowns += 1
        self._slow_start = False
        self._step = INCREASE * self._rate
        self._rate = max(self._rate * DECREASE, 1.0 / MAX_COOLDOWN)
        if self._cooldown:
            self._cooldown = min(self._cooldown * 2.0, MAX_COOLDOWN)
        else:
            self._cooldown = min(max(COOLDOWN_INTERVALS / self._rate, MIN_COOLDOWN), MAX_COOLDOWN)
        self._closed_until = loop.time() + self._cooldown
        self._next = self._closed_until

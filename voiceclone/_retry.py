"""Which failures are retried, how long to wait between attempts, and when to give up.

Every call gets a fresh tenacity ``AsyncRetrying`` (a shared one would mix the
state of concurrent calls), raising our own error once it gives up
(``reraise=True``: callers never see ``tenacity.RetryError``).

Why these waits: MiniMax limits cloning per minute, and its gateways fail in
bursts. Exponential backoff spreads retries out so a struggling server gets
room; *full* jitter (a uniform draw between zero and the backoff) keeps a batch
of tasks that failed together from coming back together. Rate-limit answers are
the exception: for paced calls the shared rate gate already decides when the
next request may go, so waiting here as well would only add idle time.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import attrs
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt
from tenacity.stop import stop_base

from ._errors import OutOfTime, RateLimitError, ServerError, TransportError, ValidationError

__all__ = ["RetryBudget", "RetryPolicy", "is_retryable", "new_retrying"]


def _number(
    *, positive: bool = False, integer: bool = False, optional: bool = False
) -> Callable[[object, attrs.Attribute[Any], Any], None]:
    """An attrs validator: a number (an int if ``integer``), > 0 or >= 0; never a bool.

    With ``optional``, ``None`` passes too.
    """
    kinds = (int,) if integer else (int, float)
    bound = "> 0" if positive else ">= 0"

    def validate(_instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
        if value is None and optional:
            return
        ok = isinstance(value, kinds) and not isinstance(value, bool)
        if not ok or not (value > 0 if positive else value >= 0):  # NaN fails both
            kind = "an int" if integer else "a number"
            raise ValidationError(
                f"RetryPolicy.{attribute.name}", f"must be {kind} {bound}, got {value!r}"
            )

    return validate


@attrs.frozen
class RetryPolicy:
    """How a call retries rate limits and transient failures.

    Attributes:
        attempts: attempts in all, the first included; ``1`` switches retries off.
        timeout: total budget in seconds for a call: attempts, waits for the rate
            gate, and backoff sleeps together.
        wait_initial: the backoff cap of the first retry, in seconds; it doubles on
            every retry.
        wait_max: the largest backoff cap, in seconds.
        wait_jitter: at most this many random seconds added to every wait.
        budget: retries allowed per request sent, client-wide, for server errors and
            transport failures (rate limits are paced, not budgeted). During an
            outage this stops retries from multiplying the traffic; ``None`` turns
            the budget off.
    """

    attempts: int = attrs.field(default=6, validator=_number(positive=True, integer=True))
    timeout: float = attrs.field(default=600.0, validator=_number(positive=True))
    wait_initial: float = attrs.field(default=1.0, validator=_number())
    wait_max: float = attrs.field(default=60.0, validator=_number())
    wait_jitter: float = attrs.field(default=1.0, validator=_number())
    budget: float | None = attrs.field(default=0.5, validator=_number(optional=True))

    def backoff(self, retry_number: int, rng: random.Random | None = None) -> float:
        """Seconds to wait before retry number ``retry_number`` (1 for the first retry)."""
        draw = (rng or random).uniform
        cap = min(self.wait_max, self.wait_initial * 2 ** (retry_number - 1))
        return min(self.wait_max, draw(0, cap) + draw(0, self.wait_jitter))


class RetryBudget:
    """A client-wide allowance of retries, earned by requests sent.

    Every first attempt earns ``ratio`` of a retry; every retry of a transient
    failure spends one. A small reserve lets an idle client retry its first
    failures. When the allowance is spent, failures are raised instead of retried.
    """

    def __init__(self, ratio: float | None, reserve: float = 20.0) -> None:
        self._ratio = ratio
        self._reserve = reserve
        self._balance = reserve

    def earn(self) -> None:
        if self._ratio is not None:
            self._balance = min(self._balance + self._ratio, self._reserve * 10)

    def spend(self) -> bool:
        if self._ratio is None:
            return True
        if self._balance < 1.0:
            return False
        self._balance -= 1.0
        return True


def is_retryable(exc: BaseException) -> bool:
    """Rate limits, server errors and transport failures retry; nothing else does.

    Running out of the call's time budget (`OutOfTime`) is final.
    """
    return isinstance(exc, (RateLimitError, ServerError, TransportError)) and not isinstance(
        exc, OutOfTime
    )


class _stop_when_budget_spent(stop_base):
    def __init__(self, budget: RetryBudget) -> None:
        self._budget = budget

    def __call__(self, retry_state: RetryCallState) -> bool:
        assert retry_state.outcome is not None
        if isinstance(retry_state.outcome.exception(), RateLimitError):
            return False
        return not self._budget.spend()


class _stop_past_deadline(stop_base):
    """Stop when the next attempt would start after the call's deadline (a loop time).

    Measured from the call's start, not the controller's: the controller may be built
    after a first attempt has already used part of the budget.
    """

    def __init__(self, deadline: float, clock: Callable[[], float]) -> None:
        self._deadline = deadline
        self._clock = clock

    def __call__(self, retry_state: RetryCallState) -> bool:
        return self._clock() + retry_state.upcoming_sleep >= self._deadline


def new_retrying(
    policy: RetryPolicy,
    budget: RetryBudget,
    *,
    paced: bool,
    deadline: float,
    clock: Callable[[], float],
    before_sleep: Callable[[RetryCallState], None] | None = None,
) -> AsyncRetrying:
    """A fresh retry controller for one call that must end by ``deadline`` on ``clock``."""

    def wait(retry_state: RetryCallState) -> float:
        assert retry_state.outcome is not None
        exc = retry_state.outcome.exception()
        retry_after = getattr(exc, "retry_after", None)
        if retry_after is not None:
            return min(float(retry_after), policy.timeout)
        if paced and isinstance(exc, RateLimitError):
            return 0.0
        return policy.backoff(retry_state.attempt_number)

    return AsyncRetrying(
        # Budget last: stop_any short-circuits, so it is only spent on a real retry.
        stop=stop_after_attempt(policy.attempts)
        | _stop_past_deadline(deadline, clock)
        | _stop_when_budget_spent(budget),
        wait=wait,
        retry=retry_if_exception(is_retryable),
        reraise=True,
        before_sleep=before_sleep,
    )

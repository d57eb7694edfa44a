"""Which failures are retried, how long to wait between attempts, and when to give up.

Every call gets a fresh tenacity ``AsyncRetrying`` (a shared one would mix the
state of concurrent calls), raising our own error once it gives up
(``reraise=True``: callers never see ``tenacity.RetryError``).

Why these waits: MiniMax limits cloning per minute, and its gateways fail in
bursts. Exponential backoff spreads retries out so a struggling server gets
room; *full* jitter (a uniform draw between zero and the backoff) keeps a batch
of tasks that failed together from coming back together. Rate-limit answers are
the exception: for paced calls the shared rate gate already decides when the
next request may go (honouring ``Retry-After``), so waiting here as well would
only add idle time.

The policy is made of tenacity's own parts, composed once per call by
`new_retrying`: what to retry (`is_retryable`), how long to wait (`wait_for`),
when to stop: after ``attempts``, when the next attempt would start past the
call's deadline, or when the client's `RetryBudget` has no retry left for it.
The budget is the last stop condition, so a retry is paid for only once nothing
else stopped it. One ``AsyncRetrying`` then runs every attempt of the call.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from typing import Any

import attrs
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt
from tenacity.stop import stop_base

from ._errors import RateLimitError, ServerError, TransportError
from ._validate import check_number

__all__ = [
    "RetryBudget",
    "RetryPolicy",
    "is_retryable",
    "new_retrying",
    "spends_budget",
    "wait_for",
]


def _number(
    *, positive: bool = False, integer: bool = False, optional: bool = False
) -> Callable[[object, attrs.Attribute[Any], Any], None]:
    """An attrs validator running `check_number` on the field, named ``RetryPolicy.<name>``."""

    def validate(_instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
        if value is not None or not optional:
            check_number(value, f"RetryPolicy.{attribute.name}", positive=positive, integer=integer)

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
        # The exponent is capped: 2.0 ** 1100 overflows, and the cap is wait_max anyway.
        cap = min(self.wait_max, self.wait_initial * 2.0 ** min(retry_number - 1, 64))
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

    A transport failure that cannot pass by itself (`TransportError.retryable` is
    false: a certificate that does not verify, the call's time budget spent) is final.
    """
    if isinstance(exc, TransportError):
        return exc.retryable
    return isinstance(exc, (RateLimitError, ServerError))


def spends_budget(exc: BaseException) -> bool:
    """Whether retrying ``exc`` spends the client's retry budget (rate limits are paced)."""
    return not isinstance(exc, RateLimitError)


class _stop_past_deadline(stop_base):
    """Stop when the next attempt would start after the call's deadline (a loop time).

    The loop's clock, not tenacity's: a test's virtual clock and the rate gate's
    deadlines are the loop's.
    """

    def __init__(self, deadline: float, clock: Callable[[], float]) -> None:
        self._deadline = deadline
        self._clock = clock

    def __call__(self, retry_state: RetryCallState) -> bool:
        assert retry_state.outcome is not None
        # A paced call waits out Retry-After at the rate gate rather than in its sleep.
        hint = getattr(retry_state.outcome.exception(), "retry_after", None) or 0.0
        return self._clock() + max(retry_state.upcoming_sleep, hint) >= self._deadline


class _stop_when_budget_spent(stop_base):
    """Stop when the client's retry budget cannot pay for this retry; else pay for it.

    Consulted last (see `new_retrying`): only a retry that will happen is paid for.
    Rate limits are paced by the gate, not budgeted.
    """

    def __init__(self, budget: RetryBudget) -> None:
        self._budget = budget

    def __call__(self, retry_state: RetryCallState) -> bool:
        assert retry_state.outcome is not None
        error = retry_state.outcome.exception()
        return error is not None and spends_budget(error) and not self._budget.spend()


def wait_for(policy: RetryPolicy, exc: BaseException, retry_number: int, *, paced: bool) -> float:
    """Seconds to wait before retry number ``retry_number`` after ``exc``.

    A paced call refused for its rate waits at the rate gate instead (which also
    honours the answer's ``Retry-After``): waiting here as well would add the two.
    """
    if paced and isinstance(exc, RateLimitError):
        return 0.0
    retry_after = getattr(exc, "retry_after", None)
    if retry_after is not None:
        return min(float(retry_after), policy.timeout)
    return policy.backoff(retry_number)


def new_retrying(
    policy: RetryPolicy,
    *,
    paced: bool,
    deadline: float,
    clock: Callable[[], float],
    budget: RetryBudget,
    before_sleep: Callable[[RetryCallState], Awaitable[None]] | None = None,
) -> AsyncRetrying:
    """A fresh retry controller for one call that must end by ``deadline`` on ``clock``.

    What to retry (`is_retryable`), how long to wait (`wait_for`), when to stop
    (attempts, deadline, then ``budget``, which is spent by the retries it allows).
    ``before_sleep`` runs once a retry is certain.
    """

    def wait(state: RetryCallState) -> float:
        assert state.outcome is not None
        error = state.outcome.exception()
        assert error is not None
        return wait_for(policy, error, state.attempt_number, paced=paced)

    return AsyncRetrying(
        stop=(
            stop_after_attempt(policy.attempts)
            | _stop_past_deadline(deadline, clock)
            | _stop_when_budget_spent(budget)  # last: pays only for a retry that happens
        ),
        wait=wait,
        retry=retry_if_exception(is_retryable),
        reraise=True,
        before_sleep=before_sleep,
    )

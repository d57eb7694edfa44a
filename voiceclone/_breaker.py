"""The account breaker: when the account itself cannot clone, stop sending.

Some answers are about the account, not the voice: a dead or wrong key, no
balance, a plan or a quota that does not allow the call. Every further request
gets the same answer, so sending the rest of a batch into it only burns time
(hours of refusals at a paced rate). The breaker is a circuit breaker per client:

    closed --(an account answer)--> open --(one probe per PROBE_INTERVAL)--> closed

While it is open, calls fail fast **without sending**, with the same error type,
status code and server message as the answer that opened it (``request_sent``
false, and a message saying when and to which voice the account answered).
Calls already waiting at the rate gate are released at once. Once per
`PROBE_INTERVAL` one paced call is let through as a probe: a success closes the
breaker (a user who fixed the key or topped up just re-runs), an account answer
keeps it open. A dead key (1004, 2049) stops every call of the client; the
others stop paced calls (clones) only: listing or deleting voices still works
without balance.

Which answers open it, and why (MiniMax's status codes):

- 1004, 2049: authentication failed, invalid key: nothing will pass.
- 1008: insufficient balance: clones are billed.
- 1028, 1030: quota exhausted (named by MiniMax's CLI): the same for every call.
- 2056: the usage limit of this 5-hour window: every clone until it resets.
- 2038: no cloning permission (account verification needed): about the account.

Rate-limit answers (1002, 1039, 2045) are not among them: they have the gate's
cooldown. Nor are 2042 (no access to *this* voice_id: one voice) and 2061 (the
model is not on the account's plan: clones with another model still pass, so a
batch mixing models must not be stopped by it).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
from collections.abc import Callable
from typing import Final

import attrs

from ._errors import APIError, AuthenticationError, error_for_status

__all__ = [
    "ACCOUNT_CODES",
    "PROBE_INTERVAL",
    "AccountBreaker",
    "AccountStatus",
    "is_account_refusal",
    "refusal_from_record",
    "refusal_record",
]

logger = logging.getLogger("voiceclone")

#: MiniMax status codes that say the account cannot make the call (see above).
ACCOUNT_CODES: Final = frozenset({1004, 2049, 1008, 1028, 1030, 2056, 2038})
#: Seconds between probes while the breaker is open: a re-run after a fix waits at
#: most this, and an account that stays refused costs one request per interval.
PROBE_INTERVAL: Final = 5.0


def is_account_refusal(error: BaseException) -> bool:
    """Whether ``error`` is an answer about the account (see `ACCOUNT_CODES`)."""
    return isinstance(error, APIError) and error.status_code in ACCOUNT_CODES


@attrs.frozen
class AccountStatus:
    """Whether the account can be sent requests, as this client last learned.

    Attributes:
        open: the breaker is open: calls fail fast without being sent.
        status_code: the account answer that opened it.
        status_msg: the server's message with it.
        since: when (UTC) the account answered it.
        not_sent: calls failed fast since it opened.
    """

    open: bool = False
    status_code: int | None = None
    status_msg: str | None = None
    since: dt.datetime | None = None
    not_sent: int = 0


@attrs.frozen
class _Refusal:
    error: APIError
    voice_id: str | None
    at: dt.datetime

    def not_sent(self) -> APIError:
        """The error a call gets without being sent: same type, code and message."""
        error = self.error
        whose = f" to {self.voice_id}'s request" if self.voice_id else ""
        message = (
            f"not sent: the account answered {error.status_code} {error.status_msg or ''}".rstrip()
            + f" at {self.at:%H:%M:%S} UTC{whose}"
        )
        made = type(error)(
            message,
            status_code=error.status_code,
            status_msg=error.status_msg,
            http_status=error.http_status,
        )
        made.request_sent = False
        return made


def refusal_record(error: APIError, voice_id: str | None) -> str:
    """The refusal as the shared gate keeps it in Redis for every worker of the account."""
    return json.dumps(
        {
            "code": error.status_code,
            "msg": error.status_msg,
            "voice_id": voice_id,
            "at": time.time(),
        }
    )


def refusal_from_record(record: str) -> APIError:
    """The error a call gets, unsent, from a refusal another worker recorded.

    Raises:
        ValueError: the record is not one (a damaged or foreign value).
    """
    fields = json.loads(record)
    code, msg, voice_id, at = fields["code"], fields["msg"], fields["voice_id"], fields["at"]
    if not isinstance(code, int) or code not in ACCOUNT_CODES:
        raise ValueError("not an account refusal")
    if not (msg is None or isinstance(msg, str)) or not (
        voice_id is None or isinstance(voice_id, str)
    ):
        raise ValueError("not an account refusal")
    when = dt.datetime.fromtimestamp(float(at), dt.timezone.utc)
    return _Refusal(error_for_status(code, msg), voice_id, when).not_sent()


class AccountBreaker:
    """One client's account breaker (see the module docstring)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._refusal: _Refusal | None = None
        self._probe_at = 0.0
        self._not_sent = 0

    @property
    def status(self) -> AccountStatus:
        refusal = self._refusal
        if refusal is None:
            return AccountStatus()
        return AccountStatus(
            True, refusal.error.status_code, refusal.error.status_msg, refusal.at, self._not_sent
        )

    def admit(self, *, paced: bool) -> None:
        """Let the call go, or raise the account's answer without sending.

        While open, one paced call per `PROBE_INTERVAL` goes through as the probe.
        """
        refusal = self._refusal
        if refusal is None:
            return
        if not paced:
            if isinstance(refusal.error, AuthenticationError):
                self._refuse(refusal)
            return
        now = self._clock()
        if now >= self._probe_at:
            self._probe_at = now + PROBE_INTERVAL  # this call is the probe
            return
        self._refuse(refusal)

    def _refuse(self, refusal: _Refusal) -> None:
        self._not_sent += 1
        raise refusal.not_sent()

    def _released(self) -> APIError:
        """What a call released from the gate's queue raises, counted as not sent."""
        assert self._refusal is not None
        self._not_sent += 1
        return self._refusal.not_sent()

    def refused(self, error: APIError, voice_id: str | None) -> Callable[[], APIError] | None:
        """The account refused (`is_account_refusal`): open the breaker, or keep it open.

        Returns, when it has just opened, what a waiting call should raise instead
        of being sent (for the rate gate to release its queue).
        """
        opening = self._refusal is None
        self._refusal = _Refusal(error, voice_id, dt.datetime.now(dt.timezone.utc))
        self._probe_at = self._clock() + PROBE_INTERVAL
        if not opening:
            return None
        self._not_sent = 0
        logger.warning(
            "the account answered %s %s: calls fail without being sent; one probe every "
            "%.0f s until it is accepted",
            error.status_code, error.status_msg, PROBE_INTERVAL,
        )  # fmt: skip
        return self._released

    def accepted(self, *, paced: bool) -> None:
        """A request was accepted: the account works (again).

        Only a clone proves balance and quota; any call proves a key.
        """
        refusal = self._refusal
        if refusal is not None and (paced or isinstance(refusal.error, AuthenticationError)):
            logger.info(
                "the account is accepted again (it answered %s before): calls are sent",
                refusal.error.status_code,
            )
            self._refusal = None

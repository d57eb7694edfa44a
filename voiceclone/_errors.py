"""The exception tree and the table that maps MiniMax status codes onto it.

```
VoiceCloneError                        base; .status_code .status_msg .trace_id where known
├── ConfigurationError                 no API key, bad base URL
├── JournalError                       a batch journal cannot be read or written
├── RateGateUnavailableError           the shared rate gate is unreachable (fallback="fail")
├── ValidationError (also ValueError)  bad input caught before any request is sent
├── APIError                           the server answered with a non-zero base_resp.status_code
│   ├── RateLimitError                 1002, 1039, 2045 (retried automatically first)
│   ├── AuthenticationError            1004, 2049
│   ├── InsufficientBalanceError       1008
│   ├── SensitiveContentError          1026, 1027
│   ├── InvalidParameterError          2013, 20132, 1042, 1043, 1044
│   │   └── VoiceNotFoundError         20132 from speech: no such voice (or deleted)
│   ├── AudioError                     2037, 2048
│   ├── PermissionDeniedError          2038, 2042, 2061
│   ├── VoiceIdConflictError           2039
│   ├── QuotaExceededError             2056, 1028, 1030
│   └── ServerError                    1000, 1001, 1013, 1024, 1033, 1041, HTTP 5xx
│                                      (1041, a connection limit: retried; lower max_in_flight)
└── TransportError                     connection failures, timeouts, unreadable responses
    ├── ResponseFormatError            an answer without the documented shape
    └── TimeoutError
        └── OutOfTime                  the call's total time budget ran out (final)
```

Messages are built from status codes, server messages and field names only: no
error ever carries request headers, so the API key cannot leak through ``str()``
or ``repr()``; and no error is chained to an aiohttp exception (whose
``request_info`` holds the headers). Server strings are cut and neutralised
(`safe_text`) before they become part of a message. Every attribute is set by
the constructor, so an error pickles and compares the same wherever it was made,
and ``type(e)(*e.args)`` (how Celery rebuilds an error from its result backend)
makes an error of the same class and message.
"""

from __future__ import annotations

import builtins

from ._text import MAX_SERVER_TEXT, safe_text

__all__ = [
    "APIError",
    "AudioError",
    "AuthenticationError",
    "ConfigurationError",
    "InsecureTransportWarning",
    "InsufficientBalanceError",
    "InvalidParameterError",
    "JournalError",
    "OutOfTime",
    "PermissionDeniedError",
    "QuotaExceededError",
    "RateGateUnavailableError",
    "RateLimitError",
    "ResponseFormatError",
    "SensitiveContentError",
    "ServerError",
    "TimeoutError",
    "TransportError",
    "ValidationError",
    "VoiceCloneError",
    "VoiceIdConflictError",
    "VoiceNotFoundError",
    "detach",
    "error_for_status",
]


class VoiceCloneError(Exception):
    """Base class of every error `voiceclone` raises.

    Attributes:
        status_code: MiniMax's ``base_resp.status_code``, when the answer had one.
        http_status: the HTTP status of the answer, when one arrived (a gateway's
            502 is here, with ``status_code`` ``None``).
        status_msg: MiniMax's ``base_resp.status_msg``, when the server answered.
        trace_id: the ``Trace-Id`` header of the answer, for MiniMax support.
        retry_after: seconds the server asked to wait (a ``Retry-After`` header).
    """

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        status_msg: str | None = None,
        trace_id: str | None = None,
        retry_after: float | None = None,
        http_status: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code
        self.status_msg = status_msg
        self.trace_id = trace_id
        self.retry_after = retry_after
        self.http_status = http_status

    def __str__(self) -> str:
        if self.trace_id:
            return f"{self.message} (trace id {self.trace_id})"
        return self.message

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self.message!r}, status_code={self.status_code!r}, "
            f"http_status={self.http_status!r}, trace_id={self.trace_id!r})"
        )

    def __reduce__(self) -> tuple[object, ...]:
        # Keyword-only fields would be lost by the default pickling of exceptions,
        # and errors cross process boundaries in multiprocessing pipelines.
        # The instance dict restores every attribute, subclasses' included.
        return (_rebuild, (type(self), self.message, self.args), dict(self.__dict__))


def _rebuild(
    cls: type[VoiceCloneError], message: str, args: tuple[object, ...] | None = None
) -> VoiceCloneError:
    error = cls.__new__(cls)
    Exception.__init__(error, message)
    if args is not None:  # what `type(e)(*e.args)` rebuilds it from (ValidationError's differ)
        error.args = args
    return error


class ConfigurationError(VoiceCloneError):
    """The client cannot be used as configured: no API key, a bad base URL, or closed."""


class JournalError(VoiceCloneError):
    """A batch journal cannot be read or written (a full disk, a damaged file, a lock).

    What was recorded before stays valid: re-run the batch to resume it.

    Attributes:
        path: the journal's file name or name, when known.
    """

    def __init__(self, message: str, *, path: str | None = None) -> None:
        super().__init__(message)
        self.path = path


class RateGateUnavailableError(VoiceCloneError):
    """The shared rate gate (Redis) is unreachable and the client was told not to go on.

    Raised only with ``Client(fallback="fail")``, before the request is sent; never
    retried.
    """


class ValidationError(VoiceCloneError, ValueError):
    """Input rejected before any request was sent.

    Attributes:
        field: the name of the offending field (``"voice_id"``, ``"file"``, ...).
        problem: what is wrong with it.
        problems: for a batch, every problem found (this error stands for the first).
    """

    def __init__(
        self, field: str, problem: str, *, problems: list[ValidationError] | None = None
    ) -> None:
        super().__init__(f"{field}: {problem}")
        # The arguments it is built from, so that `type(e)(*e.args)` (how Celery and
        # others rebuild an error from a result backend) makes the same error.
        self.args = (field, problem)
        self.field = field
        self.problem = problem
        self.problems: list[ValidationError] = problems or [self]


class APIError(VoiceCloneError):
    """MiniMax answered with a non-zero ``base_resp.status_code``, or a gateway with an error.

    Unknown codes are raised as a plain `APIError` with their code and message kept.
    A gateway's HTTP error (5xx, 429, 401/403, 404) has ``http_status`` set and no
    ``status_code``.

    Attributes:
        request_sent: ``False`` when the client did not send the request because
            the account had already answered this (the account breaker: a dead
            key, no balance, a spent quota); the message says when.
    """

    request_sent: bool = True


class RateLimitError(APIError):
    """Rate limited (1002 requests per minute, 1039 tokens per minute, 2045 growth too fast).

    Retried automatically, paced through the client's shared rate gate, before it
    is ever raised.
    """


class AuthenticationError(APIError):
    """The API key was refused (1004, 2049). 2049 often means the other region's host."""


class InsufficientBalanceError(APIError):
    """The account's balance is too low (1008)."""


class SensitiveContentError(APIError):
    """Input or output flagged as sensitive (1026, 1027)."""


class InvalidParameterError(APIError):
    """The server rejected a parameter (2013, 20132, 1042, 1043, 1044)."""


class VoiceNotFoundError(InvalidParameterError):
    """Speech was asked of a voice the account does not have (20132 from ``t2a_v2``).

    Never created, deleted, or, for a clone, deleted by MiniMax because no speech
    used it within 7 days of cloning (see `Client.activate`).
    """


class AudioError(APIError):
    """The audio sample's length was refused (2037) or the prompt audio was too long (2048)."""


class PermissionDeniedError(APIError):
    """No permission for the request.

    2038: cloning needs account verification; 2042: no access to this voice id;
    2061: the model is not available on the account's plan (pick another ``model``).
    """


class VoiceIdConflictError(APIError):
    """The ``voice_id`` already exists in the account (2039)."""


class QuotaExceededError(APIError):
    """A usage quota is spent: the current 5-hour window's (2056), or the plan's (1028, 1030).

    Not retried: waiting seconds does not refill a quota.
    """


class ServerError(APIError):
    """A transient server failure (1000, 1001, 1013, 1024, 1033, 1041, or HTTP 5xx).

    Retried automatically before it is ever raised. 1041 is MiniMax's connection
    limit: if it keeps coming back, lower the client's ``max_in_flight``.
    """


class TransportError(VoiceCloneError):
    """The request failed on the way: connection refused or reset, or an unreadable answer.

    Retried automatically before it is ever raised, unless it cannot pass by itself
    (a certificate that does not verify, a redirect to an invalid URL).

    Attributes:
        request_sent: whether the request may have reached the server (``False``
            when the connection could not even be made).
        retryable: whether trying again may help.
    """

    def __init__(
        self,
        message: str,
        *,
        request_sent: bool = True,
        retryable: bool = True,
        trace_id: str | None = None,
    ) -> None:
        super().__init__(message, trace_id=trace_id)
        self.request_sent = request_sent
        self.retryable = retryable


class ResponseFormatError(TransportError):
    """An answer whose body does not have the documented shape (or is too large)."""


class TimeoutError(TransportError, builtins.TimeoutError):
    """An attempt, or the whole retry budget, ran out of time.

    Also a subclass of the built-in `TimeoutError`, so ``except TimeoutError`` in
    code that does not import this one still catches it.
    """


class OutOfTime(TimeoutError):
    """The call's total retry time budget ran out before another attempt could start.

    Final: never retried. Catch it as `TimeoutError`.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message, request_sent=False, retryable=False)


class InsecureTransportWarning(UserWarning):
    """The API key would travel unencrypted: a plain ``http`` base URL to a remote host.

    Loopback (``localhost``, ``127.0.0.1``, ``::1``) stays quiet. To silence it for a
    trusted network, filter it: ``warnings.simplefilter("ignore",
    voiceclone.InsecureTransportWarning)``.
    """


#: MiniMax status codes and the class each maps to (minimax-api.md, section 4).
STATUS_ERRORS: dict[int, type[APIError]] = {
    1000: ServerError,
    1001: ServerError,
    1002: RateLimitError,
    1004: AuthenticationError,
    1008: InsufficientBalanceError,
    1013: ServerError,
    1024: ServerError,
    1026: SensitiveContentError,
    1027: SensitiveContentError,
    # 1028 and 1030 are named by MiniMax's own CLI, not on the public error page.
    1028: QuotaExceededError,
    1030: QuotaExceededError,
    1033: ServerError,
    1039: RateLimitError,
    1041: ServerError,
    1042: InvalidParameterError,
    1043: InvalidParameterError,
    1044: InvalidParameterError,
    2013: InvalidParameterError,
    20132: InvalidParameterError,
    2037: AudioError,
    2038: PermissionDeniedError,
    2039: VoiceIdConflictError,
    2042: PermissionDeniedError,
    2045: RateLimitError,
    2048: AudioError,
    2049: AuthenticationError,
    2056: QuotaExceededError,
    # Named by MiniMax's own CLI: the model is not on the account's plan.
    2061: PermissionDeniedError,
}

#: (endpoint path, status code) -> a narrower class than `STATUS_ERRORS` gives. From
#: speech, 20132 ("invalid samples or voice_id") can only be about the voice: MiniMax's
#: error page names ``voice_id`` in T2A v2 for it.
ENDPOINT_ERRORS: dict[tuple[str | None, int], type[APIError]] = {
    ("/t2a_v2", 20132): VoiceNotFoundError,
}


#: The codes that mean "too fast": the rate gate slows everyone down for them.
RATE_LIMIT_CODES: frozenset[int] = frozenset(
    code for code, cls in STATUS_ERRORS.items() if cls is RateLimitError
)


def detach(error: VoiceCloneError) -> VoiceCloneError:
    """``error`` cut from any exception not ours it was chained to; returned for ``raise``.

    Errors are built outside the ``except`` clause that caught aiohttp's, so Python
    chains nothing. But on Python 3.10 an exception aiohttp handled inside a
    coroutine can stay "being handled" in the awaiting frames, and a ``raise`` there
    chains it as ``__context__`` (an ``HttpProcessingError``, whose message quotes
    the answer's bytes). Cut at the one place an error leaves a call, walking the
    chain of our own errors.
    """
    seen: list[BaseException] = []
    pending: list[BaseException] = [error]
    while pending:
        link = pending.pop()
        if any(link is s for s in seen):
            continue
        seen.append(link)
        for name in ("__cause__", "__context__"):
            chained = getattr(link, name)
            if chained is None:
                continue
            if isinstance(chained, VoiceCloneError):
                pending.append(chained)  # ours: walked too, both branches
            else:
                setattr(link, name, None)
    return error


def error_for_status(
    status_code: int,
    status_msg: str | None,
    *,
    trace_id: str | None = None,
    retry_after: float | None = None,
    http_status: int | None = None,
    endpoint: str | None = None,
) -> APIError:
    """Build the error for a non-zero ``base_resp.status_code`` from ``endpoint``.

    A few codes mean something narrower from one endpoint (`ENDPOINT_ERRORS`). The
    server's message is kept cut to `MAX_SERVER_TEXT` characters, and shown in the
    error's text only once neutralised: it is the server's, not ours.
    """
    cls = ENDPOINT_ERRORS.get((endpoint, status_code)) or STATUS_ERRORS.get(status_code, APIError)
    kept = status_msg[:MAX_SERVER_TEXT] if status_msg is not None else None
    return cls(
        f"MiniMax status {status_code}: {safe_text(kept) if kept else 'no status message'}",
        status_code=status_code,
        status_msg=kept,
        trace_id=trace_id,
        retry_after=retry_after,
        http_status=http_status,
    )

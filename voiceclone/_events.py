"""What the client reports to observability hooks: metadata only, never bodies or keys."""

from __future__ import annotations

from collections.abc import Callable

import attrs

from ._errors import VoiceCloneError

__all__ = ["OnResponse", "OnRetry", "ResponseEvent", "RetryEvent"]


@attrs.frozen
class ResponseEvent:
    """One answer received (or one attempt that got none).

    Attributes:
        method: HTTP method.
        path: the endpoint path, e.g. ``"/voice_clone"``.
        http_status: the HTTP status, or ``None`` when no answer arrived.
        status_code: ``base_resp.status_code``, when the body had one.
        trace_id: the ``Trace-Id`` header, when present.
        attempt: 1 for the first attempt of a call.
        elapsed: seconds from sending to the end of the body.
        voice_id: the voice being cloned, for ``voice_clone`` calls.
    """

    method: str
    path: str
    http_status: int | None
    status_code: int | None
    trace_id: str | None
    attempt: int
    elapsed: float
    voice_id: str | None = None


@attrs.frozen
class RetryEvent:
    """A failed attempt about to be retried.

    Attributes:
        path: the endpoint path.
        attempt: the attempt that failed (1 for the first).
        wait: seconds of backoff before the next attempt (a paced call may also
            wait for the rate gate).
        error: the failure that caused the retry.
        voice_id: the voice being cloned, for ``voice_clone`` calls.
    """

    path: str
    attempt: int
    wait: float
    error: VoiceCloneError
    voice_id: str | None = None


OnRetry = Callable[[RetryEvent], None]
OnResponse = Callable[[ResponseEvent], None]

"""One HTTP exchange over aiohttp, and the one place its exceptions become ours.

`exchange` sends a request and reads its answer whole (bounded after decoding);
`transport_error` is the one translation of an aiohttp or timeout exception into
a `TransportError` / `TimeoutError` that says whether the request may have
reached the server. Nothing above this module sees an aiohttp exception, and
nothing raised here is chained to one: aiohttp's exceptions keep the request's
headers (the API key) in ``request_info``, and a traceback printer or error
tracker that walks ``__context__`` would show them. So the translation is raised
after the ``except`` clause has ended, never inside it (a context manager could
not do that: its ``__aexit__`` runs while aiohttp's exception is being handled).
"""

from __future__ import annotations

import asyncio
import email.utils
import functools
import math
import time
from collections.abc import Mapping
from typing import Final

import aiohttp
import attrs

from ._errors import ResponseFormatError, TimeoutError, TransportError
from ._text import safe_text

__all__ = ["MAX_BODY_BYTES", "Answer", "attempt_timeout", "exchange", "transport_error"]

#: Answers larger than this, once decoded, are not MiniMax JSON or a preview clip:
#: stop reading instead of buffering them (a 1 MB gzip body can inflate to 1 GiB).
MAX_BODY_BYTES: Final = 16 * 1024 * 1024
#: Read bodies in pieces of at most this many decoded bytes, so the cap is checked
#: before more than this is held beyond it.
READ_CHUNK: Final = 256 * 1024
#: The share of an attempt's timeout (at most a second) left between the end of the
#: connect phase and the end of the attempt.
CONNECT_MARGIN: Final = 0.1
#: A trace id is a short hex string; anything longer is cut.
MAX_TRACE_ID: Final = 128


@attrs.frozen(slots=True)
class Answer:
    """An HTTP answer, read whole."""

    http_status: int
    body: bytes
    trace_id: str | None
    retry_after: float | None


@functools.lru_cache(maxsize=32)  # one value per client, as a rule: built once, not per attempt
def attempt_timeout(seconds: float) -> aiohttp.ClientTimeout:
    # The connect phase (waiting for a pooled connection, then connecting) ends before
    # the total, so an attempt that never got a connection fails as "not sent"
    # (ConnectionTimeoutError) and cannot make a later 2039 look like a lost success.
    # The margin is wide enough that a busy event loop, waking late, still runs the
    # connect timer's expiry before the total's. No ceiling: aiohttp rounds long
    # timeouts up to whole seconds otherwise, which could let the total fire first.
    connect = seconds - min(seconds * CONNECT_MARGIN, 1.0)
    return aiohttp.ClientTimeout(total=seconds, connect=connect, ceil_threshold=math.inf)


def parse_retry_after(value: str | None) -> float | None:
    if not value:
        return None
    value = value.strip()
    # isdigit() alone admits "²" and other digits float() refuses.
    if value.isascii() and value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value) if "," in value else None
        return max(0.0, when.timestamp() - time.time()) if when else None
    except (TypeError, ValueError, OverflowError, IndexError):
        return None  # a malformed hint (from a proxy, say) is no hint


async def read_body(resp: aiohttp.ClientResponse, what: str) -> bytes:
    """The whole decoded body, refusing one that decodes to more than `MAX_BODY_BYTES`.

    Counted after decoding, whatever ``Content-Length`` says: the length of a
    compressed body says nothing about what it inflates to. Only an unencoded
    body of a stated length within the cap is read in one go (the usual answer).
    """
    length = resp.content_length
    encoding = resp.headers.get("Content-Encoding", "").strip().lower()
    if length is not None and length <= MAX_BODY_BYTES and encoding in ("", "identity"):
        return await resp.read()
    chunks = []
    size = 0
    async for chunk in resp.content.iter_chunked(READ_CHUNK):
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise ResponseFormatError(f"unreadable response from {what}: body over 16 MiB")
        chunks.append(chunk)
    return b"".join(chunks)


def transport_error(what: str, timeout: float, exc: BaseException) -> TransportError:
    """Our error for an exception from aiohttp or a timeout, built from class names only."""
    if isinstance(exc, (asyncio.TimeoutError, aiohttp.ServerTimeoutError)):
        return TimeoutError(
            f"{what}: no answer within {timeout:.1f} s",
            request_sent=not isinstance(exc, aiohttp.ConnectionTimeoutError),
        )
    reason = getattr(exc, "strerror", None) or type(exc).__name__
    if isinstance(exc, ValueError) and not isinstance(exc, aiohttp.ClientError):
        # Refused before anything was sent; trying again would be refused again.
        return TransportError(f"{what}: {reason}", request_sent=False, retryable=False)
    if isinstance(exc, (aiohttp.ClientSSLError, aiohttp.InvalidURL, aiohttp.TooManyRedirects)):
        # A certificate that does not verify or a redirect to nowhere stays so: final.
        return TransportError(f"{what}: {reason}", request_sent=False, retryable=False)
    return TransportError(
        f"{what}: {reason}",
        request_sent=not isinstance(exc, aiohttp.ClientConnectorError),
    )


async def exchange(
    session: aiohttp.ClientSession,
    method: str,
    url: str,
    *,
    what: str,
    timeout: float,
    headers: Mapping[str, str] | None = None,
    json: object = None,
    data: aiohttp.FormData | None = None,
    proxy: str | None = None,
    allow_redirects: bool = False,
) -> Answer:
    """Send one request and read its answer whole; ``what`` names it in errors."""
    try:
        async with session.request(
            method,
            url,
            json=json,
            data=data,
            headers=headers,
            proxy=proxy,
            timeout=attempt_timeout(timeout),
            allow_redirects=allow_redirects,
        ) as resp:
            trace_id = resp.headers.get("Trace-Id")
            return Answer(
                http_status=resp.status,
                body=await read_body(resp, what),
                trace_id=safe_text(trace_id, MAX_TRACE_ID) if trace_id else None,
                retry_after=parse_retry_after(resp.headers.get("Retry-After")),
            )
    except (asyncio.TimeoutError, aiohttp.ClientError, OSError, ValueError) as exc:
        # OSError: older aiohttp lets a reset pooled connection through as itself;
        # ValueError: a header or URL aiohttp refuses. Both are ours to report, typed.
        failure = transport_error(what, timeout, exc)
    raise failure  # outside the except clause: no __context__ (see the module docstring)

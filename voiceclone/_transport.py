"""The client's HTTP over aiohttp, and the one place its exceptions become ours.

`Transport` owns what a client and its views share for talking HTTP: the aiohttp
session (opened lazily, inside the running loop; closed if it made it, never if it
was lent), the loop it belongs to, the API's headers and the proxy. It turns a
`Request` into one exchange: the URL, the headers (the API key only for the API,
never for a preview host), the JSON or multipart body (an upload's file opened for
this attempt and closed after it).

`Transport.send` sends a request and reads its answer whole (bounded after decoding);
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
import contextlib
import email.utils
import functools
import math
import time
from collections.abc import Mapping
from typing import IO, Final

import aiohttp

from ._config import USER_AGENT
from ._errors import ConfigurationError, ResponseFormatError, TimeoutError, TransportError
from ._request import Answer, Request, UploadPart
from ._text import safe_text

__all__ = [
    "EventStream",
    "Transport",
    "attempt_timeout",
    "transport_error",
]

#: Read bodies in pieces of at most this many decoded bytes, so the cap is checked
#: before more than this is held beyond it.
READ_CHUNK: Final = 256 * 1024
#: The share of an attempt's timeout (at most a second) left between the end of the
#: connect phase and the end of the attempt.
CONNECT_MARGIN: Final = 0.1
#: The longest server-sent event read (speech chunks are a few kilobytes; the last
#: event, whose aggregated audio the SDK asks MiniMax to leave out, is small too).
MAX_EVENT_BYTES: Final = 4 * 1024 * 1024
#: A trace id is a short hex string; anything longer is cut.
MAX_TRACE_ID: Final = 128
#: A preview host is not the API: it gets neither the key nor a gateway's headers.
PREVIEW_HEADERS: Final = {"User-Agent": USER_AGENT}
#: Connections the client's own session keeps at most (or its in-flight cap, if higher).
MIN_POOL: Final = 100
_NO_FILES: Final = contextlib.nullcontext(contextlib.ExitStack())


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


@functools.lru_cache(maxsize=32)
def stream_timeout(seconds: float) -> aiohttp.ClientTimeout:
    """A stream's timeout: connecting as `attempt_timeout`, then ``seconds`` per read."""
    connect = seconds - min(seconds * CONNECT_MARGIN, 1.0)
    return aiohttp.ClientTimeout(
        total=None, connect=connect, sock_read=seconds, ceil_threshold=math.inf
    )


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


async def read_body(resp: aiohttp.ClientResponse, what: str, limit: int) -> bytes:
    """The whole decoded body, refusing one that decodes to more than ``limit`` bytes.

    Counted after decoding, whatever ``Content-Length`` says: the length of a
    compressed body says nothing about what it inflates to. Only an unencoded
    body of a stated length within the cap is read in one go (the usual answer).
    """
    length = resp.content_length
    encoding = resp.headers.get("Content-Encoding", "").strip().lower()
    if length is not None and length <= limit and encoding in ("", "identity"):
        return await resp.read()
    chunks = []
    size = 0
    async for chunk in resp.content.iter_chunked(READ_CHUNK):
        size += len(chunk)
        if size > limit:
            # Final: the same request would get the same answer (and, for speech,
            # be billed again).
            raise ResponseFormatError(
                f"unreadable response from {what}: body over {limit // 2**20} MiB",
                retryable=False,
            )
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


class Transport:
    """The client's HTTP: its aiohttp session, the API's headers, the proxy, the loop.

    Args:
        base_url: the API's base URL; a request's path is appended to it.
        headers: the API's headers (the key among them): only API requests get them.
        proxy: a proxy URL for every request, or ``None``.
        session: an ``aiohttp.ClientSession`` to borrow (never closed here), or ``None``
            to make one at the first request.
        trust_env: honour proxy settings from the environment (own session only).
        pool: connections the own session may keep open.
    """

    def __init__(
        self,
        base_url: str,
        headers: Mapping[str, str],
        *,
        proxy: str | None,
        session: aiohttp.ClientSession | None,
        trust_env: bool,
        pool: int,
    ) -> None:
        self._base_url = base_url
        self._headers = headers
        self._proxy = proxy
        self._session = session
        self._owns_session = session is None
        self._trust_env = trust_env
        self._pool = pool
        self._closed = False
        self._loop: asyncio.AbstractEventLoop | None = None

    def __repr__(self) -> str:
        return f"<Transport {self._base_url} {'closed' if self._closed else 'open'}>"

    @property
    def session(self) -> aiohttp.ClientSession | None:
        """The session in use, once opened (or lent)."""
        return self._session

    def bind_loop(self) -> asyncio.AbstractEventLoop:
        """The running loop, which must be the loop of the first call."""
        loop = asyncio.get_running_loop()
        if self._loop is None:
            self._loop = loop
        elif loop is not self._loop:
            # The session, the client's semaphore and gate are tied to the first loop:
            # using them here would fail untyped, or hang when that loop runs in a thread.
            raise ConfigurationError(
                "this Client belongs to another event loop; make one Client per loop"
            )
        return loop

    def open(self) -> aiohttp.ClientSession:
        """The session, made now if need be; `ConfigurationError` once closed."""
        if self._closed:
            # A VoiceCloneError, so a call caught in backoff (or queued for a slot) by
            # aclose() ends as an outcome of its batch, not an exception that ends it.
            raise ConfigurationError("the client is closed")
        if self._session is None:
            # Made here, inside the running loop, never in __init__. No cookie jar:
            # the API needs none, and a jar would replay the API host's cookies to a
            # preview host of the same name.
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._pool),
                cookie_jar=aiohttp.DummyCookieJar(),
                trust_env=self._trust_env,
            )
        return self._session

    async def send(self, request: Request[object], timeout: float) -> Answer:
        """One exchange for ``request``: its answer read whole, or our `TransportError`.

        Errors are raised outside the ``except`` clause that caught aiohttp's (see
        the module docstring).
        """
        session = self.open()
        if request.url is None:
            url, headers, redirects = self._base_url + request.path, self._headers, False
        else:  # a preview host: no key, and it may redirect
            url, headers, redirects = request.url, PREVIEW_HEADERS, True
        if request.stream:
            return await self._open_stream(session, request, url, headers, timeout)
        # An upload's file is open only for its attempt; nothing else opens any.
        with contextlib.ExitStack() if request.upload else _NO_FILES as files:
            # Built outside the try: a file that is no longer fit raises ValidationError.
            form = await _form(request.upload, files) if request.upload else None
            try:
                async with session.request(
                    request.method,
                    url,
                    json=request.json,
                    data=form,
                    headers=headers,
                    proxy=self._proxy,
                    timeout=attempt_timeout(timeout),
                    allow_redirects=redirects,
                ) as resp:
                    return _answer(resp, await read_body(resp, request.what, request.limit))
            except (asyncio.TimeoutError, aiohttp.ClientError, OSError, ValueError) as exc:
                # OSError: older aiohttp lets a reset pooled connection through as
                # itself; ValueError: a header or URL aiohttp refuses. Both ours, typed.
                failure = transport_error(request.what, timeout, exc)
        raise failure  # outside the except clause: no __context__

    async def _open_stream(
        self,
        session: aiohttp.ClientSession,
        request: Request[object],
        url: str,
        headers: Mapping[str, str],
        timeout: float,
    ) -> Answer:
        """Send ``request``; an event stream's answer is its first event and the rest.

        The attempt (and its retries) covers the wait for the first event: a stream
        that fails before it is sent again whole. Each event, the first included,
        must arrive within ``timeout``: a long stream has no total.
        """
        resp: aiohttp.ClientResponse | None = None
        try:
            resp = await session.request(
                request.method,
                url,
                json=request.json,
                headers=headers,
                proxy=self._proxy,
                timeout=stream_timeout(timeout),
                allow_redirects=False,
            )
            if resp.status != 200 or resp.content_type != "text/event-stream":
                body = await read_body(resp, request.what, request.limit)  # an error, as JSON
                resp.release()
                return _answer(resp, body)
            events = EventStream(resp, request.what, request.limit, timeout)
            return _answer(resp, await events.first() or b"", events)
        except (asyncio.TimeoutError, aiohttp.ClientError, OSError, ValueError) as exc:
            failure = transport_error(request.what, timeout, exc)
        except BaseException:
            if resp is not None:
                resp.close()
            raise
        if resp is not None:
            resp.close()
        raise failure  # outside the except clause: no __context__

    async def aclose(self) -> None:
        """Refuse further requests; close the session if this transport made it."""
        self._closed = True
        if self._owns_session and self._session is not None:
            session, self._session = self._session, None
            await session.close()


def _answer(resp: aiohttp.ClientResponse, body: bytes, events: EventStream | None = None) -> Answer:
    """``resp``'s status and the headers the SDK reads, with its ``body`` (and ``events``)."""
    trace_id = resp.headers.get("Trace-Id")
    return Answer(
        resp.status,
        body,
        safe_text(trace_id, MAX_TRACE_ID) if trace_id else None,
        parse_retry_after(resp.headers.get("Retry-After")),
        events,
    )


async def _form(part: UploadPart, files: contextlib.ExitStack) -> aiohttp.FormData:
    """The multipart body of an upload for one attempt; an opened file is closed by ``files``."""
    data = aiohttp.FormData()
    data.add_field("purpose", part.purpose)
    payload: IO[bytes] | bytes
    if isinstance(part.source, bytes):
        payload = part.source
    else:
        # aiohttp closes a file object once sent: each attempt opens its own.
        payload = files.enter_context(await part.open())
    data.add_field("file", payload, filename=part.filename, content_type=part.content_type)
    return data


class EventStream:
    """Server-sent events being read: each event's ``data``, bounded in size.

    An event is at most `MAX_EVENT_BYTES`, and all of them together at most the
    request's ``limit``: a server that streams without end is cut off, not
    buffered. A failure while reading is our `TransportError` (the request was
    sent; what was read stays read), raised unchained.
    """

    def __init__(self, resp: aiohttp.ClientResponse, what: str, limit: int, timeout: float) -> None:
        self._resp = resp
        self._what = what
        self._limit = limit
        self._timeout = timeout
        self._buffer = bytearray()
        self._total = 0
        self._ended = False

    async def read_event(self) -> bytes | None:
        """The next event's data (its ``data:`` lines joined), or ``None`` at the end."""
        while True:
            end = self._buffer.find(b"\n\n")
            if end >= 0:
                event = bytes(self._buffer[:end])
                del self._buffer[: end + 2]
                data = _event_data(event)
                if data:
                    return data
                continue  # a comment or a keep-alive: no data
            if len(self._buffer) > MAX_EVENT_BYTES:
                raise ResponseFormatError(
                    f"unreadable response from {self._what}: event too long", retryable=False
                )
            if self._ended:
                rest, self._buffer = bytes(self._buffer), bytearray()
                return _event_data(rest) or None  # a last event without its blank line
            chunk = await self._resp.content.readany()
            if not chunk:
                self._ended = True
                continue
            self._total += len(chunk)
            if self._total > self._limit:
                raise ResponseFormatError(
                    f"unreadable response from {self._what}: stream over "
                    f"{self._limit // 2**20} MiB",
                    retryable=False,
                )
            self._buffer += chunk
            if b"\r" in chunk:
                self._buffer = bytearray(self._buffer.replace(b"\r\n", b"\n"))

    async def first(self) -> bytes | None:
        """The first event, within ``timeout`` (keep-alive comments do not extend it)."""
        return await asyncio.wait_for(self.read_event(), self._timeout)

    async def next(self) -> bytes | None:
        """The next event within ``timeout``; any failure closes the stream.

        A broken connection is our `TransportError`, final: audio before it was
        handed over, and sending the request again would give it twice.
        """
        try:
            return await asyncio.wait_for(self.read_event(), self._timeout)
        except (asyncio.TimeoutError, aiohttp.ClientError, OSError, ValueError) as exc:
            failure = transport_error(self._what, self._timeout, exc)
        except BaseException:
            self._resp.close()
            raise
        self._resp.close()
        # Outside the except clause: no __context__.
        raise type(failure)(failure.message, request_sent=True, retryable=False)

    async def aclose(self) -> None:
        """Stop reading: the connection is closed (an unfinished stream cannot be reused)."""
        self.close()

    def close(self) -> None:
        """`aclose`, from code that cannot await."""
        self._resp.close()


def _event_data(event: bytes) -> bytes:
    return b"\n".join(
        line[5:].removeprefix(b" ") for line in event.split(b"\n") if line.startswith(b"data:")
    )

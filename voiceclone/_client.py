"""The client: session lifecycle and the one request path every call goes through.

``_send`` is the only code that talks to aiohttp; ``_call`` wraps it in the retry
loop and the rate gate. A newcomer looking for where a request is sent, retried
and paced should read those two methods (and `_answers.interpret` for how an
answer becomes a result or an error).
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable, Mapping
from pathlib import Path
from types import TracebackType
from typing import IO, TYPE_CHECKING, Any, Final
from urllib.parse import urlsplit

import aiohttp
import attrs
from tenacity import RetryCallState

from . import _batch
from ._answers import PREVIEW_PATH, interpret, parse_retry_after, read_body
from ._audio import AudioInfo
from ._errors import (
    APIError,
    ConfigurationError,
    OutOfTime,
    RateLimitError,
    ServerError,
    TimeoutError,
    TransportError,
    ValidationError,
    VoiceCloneError,
    VoiceIdConflictError,
)
from ._events import OnResponse, OnRetry, ResponseEvent, RetryEvent
from ._models import CloneJob, CloneOutcome, CloneRequest, CloneResult, UploadedFile, Voice
from ._pacing import Gate, GateStats
from ._parse import (
    ResponseFormatError,
    parse_clone_result,
    parse_uploaded_file,
    parse_voices,
)
from ._redis_gate import make_gate
from ._redis_journal import RedisJournal
from ._retry import RetryBudget, RetryPolicy, is_retryable, new_retrying
from ._validate import (
    DELETABLE_VOICE_TYPES,
    check_audio,
    check_purpose,
    check_voice_id,
    check_voice_type,
)

if TYPE_CHECKING:
    from redis.asyncio import Redis

__all__ = ["DEFAULT_BASE_URL", "Client"]

DEFAULT_BASE_URL: Final = "https://api.minimax.io/v1"
_MIME = {"wav": "audio/wav", "mp3": "audio/mpeg", "m4a": "audio/mp4"}
_CLONE_FIELDS: Final = frozenset(a.name for a in attrs.fields(CloneRequest))

logger = logging.getLogger("voiceclone")


@attrs.define
class _CallState:
    """What one call learned across its attempts."""

    attempts: int = 0
    # An attempt reached the server but its answer was lost: it may have acted.
    ambiguous: bool = False


def _resolve_base_url(value: str) -> str:
    parts = urlsplit(value.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        # Never echo the URL itself: a mistyped one may still carry user:password@.
        raise ConfigurationError(
            f"base_url must be an http(s) URL with a host (scheme {parts.scheme!r}, "
            f"host {'present' if parts.hostname else 'missing'})"
        )
    if parts.query or parts.fragment or parts.username or parts.password:
        raise ConfigurationError("base_url must not carry a query, fragment or credentials")
    try:
        parts.port  # noqa: B018  (raises for a port that is not a number in range)
    except ValueError:
        raise ConfigurationError(f"base_url has an invalid port: {value!r}") from None
    return value.strip().rstrip("/")


def _positive_number(name: str, value: object, *, integer: bool = False) -> None:
    kinds = (int,) if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kinds) or not value > 0:
        raise ConfigurationError(f"{name} must be a positive {'int' if integer else 'number'}")


def _attempt_timeout(seconds: float) -> aiohttp.ClientTimeout:
    # The connect phase (waiting for a pooled connection, then connecting) ends just
    # before the total, so an attempt that never got a connection fails as "not sent"
    # (ConnectionTimeoutError) and cannot make a later 2039 look like a lost success.
    # No ceiling: aiohttp rounds long timeouts up to whole seconds otherwise, which
    # could let the total fire first.
    return aiohttp.ClientTimeout(total=seconds, connect=seconds * 0.99, ceil_threshold=math.inf)


class Client:
    """An async client for MiniMax voice cloning.

    Args:
        api_key: default: env ``MINIMAX_API_KEY``; missing raises `ConfigurationError`.
        base_url: everything up to and including ``/v1``; default: env
            ``MINIMAX_BASE_URL``, else ``https://api.minimax.io/v1``.
        max_in_flight: requests on the wire at once.
        requests_per_minute: pace of ``voice_clone`` calls; ``None`` sends unpaced
            until the first rate-limit answer, then discovers the limit from them.
        retry: a `RetryPolicy`; ``None`` for the default.
        timeout: seconds per attempt, including waiting for a pooled connection.
        session: an ``aiohttp.ClientSession`` to borrow; the client never closes it.
        on_retry: called with a `RetryEvent` before each retry.
        on_response: called with a `ResponseEvent` after each attempt.
        redis: share the rate gate with every client of this account on one Redis:
            a URL (``redis://host:6379/0``) or a ``redis.asyncio.Redis`` to borrow
            (never closed); default: env ``VOICECLONE_REDIS_URL``, else a local gate.
        fallback: while that Redis is unreachable: ``"local"`` paces at a fair
            share of the limit, ``"open"`` does not pace, ``"fail"`` raises
            `RateGateUnavailableError`.
    """

    def __init__(
        self,
        api_key: str | None = None,
        base_url: str | None = None,
        *,
        max_in_flight: int = 8,
        requests_per_minute: float | None = 60,
        retry: RetryPolicy | None = None,
        timeout: float = 120.0,
        session: aiohttp.ClientSession | None = None,
        on_retry: OnRetry | None = None,
        on_response: OnResponse | None = None,
        redis: str | Redis | None = None,
        fallback: str = "local",
    ) -> None:
        key = api_key if api_key is not None else os.environ.get("MINIMAX_API_KEY", "")
        key = key.strip()
        if not key:
            raise ConfigurationError("no API key: pass api_key= or set MINIMAX_API_KEY")
        if any(c in key for c in "\r\n\0"):
            raise ConfigurationError("the API key contains a line break or NUL")
        self._key = key
        self._base_url = _resolve_base_url(
            base_url or os.environ.get("MINIMAX_BASE_URL") or DEFAULT_BASE_URL
        )
        _positive_number("max_in_flight", max_in_flight, integer=True)
        if requests_per_minute is not None:
            _positive_number("requests_per_minute", requests_per_minute)
        _positive_number("timeout", timeout)
        if retry is not None and not isinstance(retry, RetryPolicy):
            raise ConfigurationError("retry must be a voiceclone.RetryPolicy or None")
        self._max_in_flight = max_in_flight
        self._requests_per_minute = requests_per_minute
        self._retry = retry or RetryPolicy()
        self._timeout = float(timeout)
        self._slots = asyncio.Semaphore(max_in_flight)
        self._gate: Gate = make_gate(
            requests_per_minute,
            redis=redis,
            fallback=fallback,
            api_key=key,
            base_url=self._base_url,
        )
        self._budget = RetryBudget(self._retry.budget)
        self._session = session
        self._owns_session = session is None
        self._closed = False
        self._on_retry = on_retry
        self._on_response = on_response

    def __repr__(self) -> str:
        return (
            f"Client(base_url={self._base_url!r}, max_in_flight={self._max_in_flight}, "
            f"requests_per_minute={self._requests_per_minute!r})"
        )

    @property
    def base_url(self) -> str:
        """The base URL in use, up to and including ``/v1``, without a trailing slash."""
        return self._base_url

    @property
    def max_in_flight(self) -> int:
        """The cap on requests on the wire at once, for the whole client."""
        return self._max_in_flight

    @property
    def rate_stats(self) -> GateStats:
        """The rate gate's current pace and the rate-limit answers it has seen."""
        return self._gate.stats

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the session the client created (never a borrowed one). Idempotent."""
        self._closed = True
        await self._gate.aclose()
        if self._owns_session and self._session is not None:
            session, self._session = self._session, None
            await session.close()

    def _get_session(self) -> aiohttp.ClientSession:
        if self._closed:
            # A VoiceCloneError, so a call caught in backoff by aclose() ends as an
            # outcome of its batch rather than an exception that ends the batch.
            raise ConfigurationError("the client is closed")
        if self._session is None:
            # Created here, inside the running loop, never in __init__.
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=max(100, self._max_in_flight)),
                timeout=aiohttp.ClientTimeout(total=self._timeout),
            )
        return self._session

    # -- the one request path -------------------------------------------------------

    async def _send(
        self,
        method: str,
        path: str,
        *,
        attempt: int,
        timeout: float,
        json_body: Mapping[str, Any] | None = None,
        form: Callable[[list[IO[bytes]]], aiohttp.FormData] | None = None,
        params: Mapping[str, str] | None = None,
        url: str | None = None,
        voice_id: str | None = None,
    ) -> tuple[Any, str | None]:
        """Send one attempt; return the decoded body and its trace id, or raise."""
        session = self._get_session()
        headers = {} if url else {"Authorization": f"Bearer {self._key}"}
        loop = asyncio.get_running_loop()
        http_status: int | None = None
        status_code: int | None = None
        trace_id: str | None = None
        started = loop.time()
        opened: list[IO[bytes]] = []
        try:
            async with self._slots:
                started = loop.time()
                try:
                    async with session.request(
                        method,
                        url or self._base_url + path,
                        json=json_body,
                        data=form(opened) if form else None,
                        params=params,
                        headers=headers,
                        timeout=_attempt_timeout(timeout),
                        allow_redirects=url is not None,
                    ) as resp:
                        http_status = resp.status
                        trace_id = resp.headers.get("Trace-Id")
                        retry_after = parse_retry_after(resp.headers)
                        body = await read_body(resp, path)
                except (asyncio.TimeoutError, aiohttp.ServerTimeoutError) as exc:
                    timed_out = TimeoutError(f"{method} {path}: no answer within {timeout:.1f} s")
                    timed_out.request_sent = not isinstance(exc, aiohttp.ConnectionTimeoutError)
                    raise timed_out from None
                except aiohttp.ClientError as exc:
                    reason = getattr(exc, "strerror", None) or type(exc).__name__
                    failed = TransportError(f"{method} {path}: {reason}")
                    failed.request_sent = not isinstance(exc, aiohttp.ClientConnectorError)
                    raise failed from None
            if url is not None and http_status == 200:
                return body, trace_id
            decoded, status_code = interpret(path, http_status, body, trace_id, retry_after)
            return decoded, trace_id
        except APIError as exc:
            # A gateway error carries the HTTP status as its code; report only base_resp codes.
            status_code = exc.status_code if exc.status_code != http_status else None
            raise
        finally:
            for handle in opened:
                handle.close()
            elapsed = loop.time() - started
            logger.debug(
                "%s %s -> HTTP %s, status %s, trace %s, attempt %d, %.3f s",
                method, path, http_status, status_code, trace_id, attempt, elapsed,
            )  # fmt: skip
            if self._on_response is not None:
                self._on_response(
                    ResponseEvent(
                        method, path, http_status, status_code, trace_id, attempt, elapsed, voice_id
                    )
                )

    async def _call(
        self,
        method: str,
        path: str,
        *,
        paced: bool = False,
        state: _CallState | None = None,
        voice_id: str | None = None,
        **send: Any,
    ) -> tuple[Any, str | None]:
        """`_send` inside the retry loop, passing the rate gate first when ``paced``."""
        state = state if state is not None else _CallState()
        deadline = asyncio.get_running_loop().time() + self._retry.timeout
        self._budget.earn()
        state.attempts = 1
        try:
            return await self._attempt(method, path, state, paced, deadline, voice_id, send)
        except Exception as exc:
            if self._retry.attempts == 1 or not is_retryable(exc):
                raise
            failure: Exception | None = exc

        def before_sleep(retry_state: RetryCallState) -> None:
            assert retry_state.outcome is not None
            assert retry_state.next_action is not None
            error = retry_state.outcome.exception()
            assert isinstance(error, VoiceCloneError)
            wait = retry_state.next_action.sleep
            logger.info(
                "retrying %s %s after %s (status %s, trace %s): attempt %d failed, waiting %.2f s",
                method, path, type(error).__name__, error.status_code, error.trace_id,
                retry_state.attempt_number, wait,
            )  # fmt: skip
            if self._on_retry is not None:
                self._on_retry(RetryEvent(path, retry_state.attempt_number, wait, error, voice_id))

        # Most calls succeed at once, so the retry controller is built only now, and the
        # first failure is replayed into it as its attempt 1: from here on tenacity
        # decides whether, when and how often to try again.
        retrying = new_retrying(
            self._retry,
            self._budget,
            paced=paced,
            deadline=deadline,
            clock=asyncio.get_running_loop().time,
            before_sleep=before_sleep,
        )
        async for attempt in retrying:
            with attempt:
                if failure is not None:
                    replay, failure = failure, None
                    raise replay
                state.attempts = attempt.retry_state.attempt_number
                return await self._attempt(method, path, state, paced, deadline, voice_id, send)
        raise AssertionError("unreachable: tenacity either returns or raises")  # pragma: no cover

    async def _attempt(
        self,
        method: str,
        path: str,
        state: _CallState,
        paced: bool,
        deadline: float,
        voice_id: str | None,
        send: dict[str, Any],
    ) -> tuple[Any, str | None]:
        """One attempt: wait for the rate gate (when paced), then send and classify."""
        generation = await self._gate.acquire(deadline) if paced else 0
        remaining = deadline - asyncio.get_running_loop().time()
        if remaining <= 0:
            raise OutOfTime(f"{method} {path}: the retry time budget ran out")
        try:
            answer = await self._send(
                method,
                path,
                attempt=state.attempts,
                timeout=min(self._timeout, remaining),
                voice_id=voice_id,
                **send,
            )
        except RateLimitError:
            if paced:
                await self._gate.on_rate_limited(generation)
            raise
        except ServerError:
            state.ambiguous = True
            raise
        except TransportError as exc:
            state.ambiguous = state.ambiguous or exc.request_sent
            raise
        if paced:
            await self._gate.on_success()
        return answer

    # -- endpoints --------------------------------------------------------------------

    async def upload_file(
        self,
        file: str | os.PathLike[str] | bytes,
        *,
        purpose: str = "voice_clone",
        filename: str | None = None,
    ) -> UploadedFile:
        """Upload audio (a path, streamed from disk, or bytes) and return its file id.

        The file is checked first (format by content, size, and for cloning
        purposes its duration) and re-opened on every attempt.
        """
        check_purpose(purpose)
        return await self._upload(file, purpose, check_audio(file, purpose), filename)

    async def _upload(
        self,
        file: str | os.PathLike[str] | bytes,
        purpose: str,
        info: AudioInfo,
        filename: str | None = None,
    ) -> UploadedFile:
        """Upload ``file``, already checked for ``purpose`` (``info`` is what was found)."""
        content: bytes | None = None
        path: str | os.PathLike[str] | None = None
        if isinstance(file, (bytes, bytearray, memoryview)):
            content = bytes(file)
            name = filename or f"audio.{info.format or 'bin'}"
        else:
            path = file
            name = filename or Path(file).name
        content_type = _MIME.get(info.format or "", "application/octet-stream")

        def form(opened: list[IO[bytes]]) -> aiohttp.FormData:
            data = aiohttp.FormData()
            data.add_field("purpose", purpose)
            payload: IO[bytes] | bytes
            if path is None:
                assert content is not None
                payload = content
            else:
                try:
                    payload = open(path, "rb")  # noqa: SIM115  (closed by _send, per attempt)
                except OSError as exc:  # moved or deleted while a retry waited
                    raise ValidationError("file", f"cannot be opened: {exc.strerror}") from None
                opened.append(payload)
            data.add_field("file", payload, filename=name, content_type=content_type)
            return data

        body, trace_id = await self._call("POST", "/files/upload", form=form)
        return parse_uploaded_file(body, trace_id=trace_id)

    async def clone(self, request: CloneRequest | None = None, /, **fields: Any) -> CloneResult:
        """Clone a voice from an uploaded sample.

        Pass a `CloneRequest`, or its fields as keywords. A voice created by an
        attempt whose answer was lost comes back with ``recovered=True``.
        """
        if request is None:
            unknown = sorted(set(fields) - _CLONE_FIELDS)
            if unknown:
                raise ValidationError(unknown[0], "is not a voice_clone field")
            for required in ("file_id", "voice_id"):
                if required not in fields:
                    raise ValidationError(required, "is required")
            request = CloneRequest(**fields)
        elif fields:
            raise TypeError("pass a CloneRequest or keyword fields, not both")
        elif not isinstance(request, CloneRequest):
            raise TypeError(f"request must be a CloneRequest, got {type(request).__name__}")
        return await self._clone(request)

    async def _clone(self, request: CloneRequest, *, maybe_sent: bool = False) -> CloneResult:
        """Clone; ``maybe_sent`` says an earlier run may already have sent this request."""
        state = _CallState(ambiguous=maybe_sent)
        try:
            body, trace_id = await self._call(
                "POST",
                "/voice_clone",
                json_body=request.to_json(),
                paced=True,
                state=state,
                voice_id=request.voice_id,
            )
        except VoiceIdConflictError as exc:
            if not state.ambiguous:
                raise
            logger.info("voice %s recovered: an earlier attempt created it", request.voice_id)
            return CloneResult(
                request.voice_id, trace_id=exc.trace_id, attempts=state.attempts, recovered=True
            )
        try:
            return parse_clone_result(
                body, voice_id=request.voice_id, trace_id=trace_id, attempts=state.attempts
            )
        except ResponseFormatError as exc:
            # base_resp said 0: the voice exists. Reporting a failure would send the
            # caller into a retry that can only answer 2039.
            logger.warning(
                "voice %s created, but %s; returned without preview details (trace %s)",
                request.voice_id, exc.message, trace_id,
            )  # fmt: skip
            return CloneResult(request.voice_id, trace_id=trace_id, attempts=state.attempts)

    async def list_voices(self, voice_type: str = "voice_cloning") -> list[Voice]:
        """Voices of the account. Cloned voices appear only after their first real use."""
        check_voice_type(voice_type)
        body, trace_id = await self._call(
            "POST", "/get_voice", json_body={"voice_type": voice_type}
        )
        return parse_voices(body, trace_id=trace_id)

    async def delete_voice(self, voice_id: str, *, voice_type: str = "voice_cloning") -> None:
        """Delete a cloned (or generated) voice; its id can then be used again."""
        check_voice_id(voice_id)
        check_voice_type(voice_type, DELETABLE_VOICE_TYPES)
        await self._call(
            "POST", "/delete_voice", json_body={"voice_type": voice_type, "voice_id": voice_id}
        )

    async def download_demo(self, result: CloneResult | str, path: str | os.PathLike[str]) -> Path:
        """Save a clone's preview audio to ``path`` (written whole or not at all)."""
        url = result if isinstance(result, str) else result.demo_audio
        if not url:
            raise ValidationError("demo_audio", "there is no preview: clone with text and model")
        if urlsplit(url).scheme not in ("http", "https"):
            raise ValidationError("demo_audio", "must be an http(s) URL")
        body, _ = await self._call("GET", PREVIEW_PATH, url=url)
        target = Path(path)
        partial = target.with_name(target.name + ".part")
        partial.write_bytes(body)
        partial.replace(target)
        return target

    # -- batches (see _batch) -----------------------------------------------------------

    def clone_many(
        self,
        requests: Iterable[CloneRequest] | AsyncIterable[CloneRequest],
        *,
        max_in_flight: int | None = None,
    ) -> AsyncIterator[CloneOutcome]:
        """Clone every request, yielding a `CloneOutcome` as each finishes."""
        return _batch.clone_many(self, requests, max_in_flight=max_in_flight)

    async def clone_all(
        self,
        requests: Iterable[CloneRequest] | AsyncIterable[CloneRequest],
        *,
        max_in_flight: int | None = None,
    ) -> list[CloneOutcome]:
        """Clone every request; outcomes in input order."""
        return await _batch.clone_all(self, requests, max_in_flight=max_in_flight)

    def clone_jobs(
        self,
        jobs: Iterable[CloneJob] | AsyncIterable[CloneJob],
        *,
        journal: str | os.PathLike[str] | RedisJournal | None = None,
        max_in_flight: int | None = None,
    ) -> AsyncIterator[CloneOutcome]:
        """Upload and clone each job; with ``journal``, re-runs skip finished jobs.

        ``journal`` is a JSONL file (one process) or a `RedisJournal` (shared by
        every process using its name).
        """
        return _batch.clone_jobs(self, jobs, journal=journal, max_in_flight=max_in_flight)

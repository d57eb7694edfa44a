"""The client: session lifecycle and the one request path every call goes through.

A call goes down four layers, one concern each, with one `Request` value passed
down from the endpoint that built it:

``upload_file`` / ``clone`` / ``list_voices`` / ``delete_voice`` / ``synthesize`` ...
    check the input (nothing is sent for bad input) and build the `Request`.
``_call``
    the retry loop: whether, when and how often to try again (`_retry`'s policy,
    tenacity's parts, the client's retry budget among its stop conditions).
``_attempt``
    one attempt: wait at the request's rate gate (paced calls only), send, report
    on the gate's ticket, and note whether a lost answer leaves the outcome
    ambiguous.
``_send``
    one exchange on the wire: an in-flight slot, the HTTP exchange (the client's
    `Transport`, the only code that talks to aiohttp, where its errors become
    ours), what the answer means (the request's reader, `_answers`), then a log
    line and the ``on_response`` hook.

A newcomer looking for where a request is sent, retried and paced reads
``_call``, ``_attempt`` and ``_send``. The preview download (`download_demo`)
takes the same path: its `Request` names an absolute URL, which the transport
sends without the API key, and a reader of its own.
"""

from __future__ import annotations

import asyncio
import copy
import functools
import logging
import os
import sys
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable, Mapping
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Final, Literal, TypeVar, overload

import aiohttp
import attrs
from tenacity import RetryCallState

from . import _batch, _jobs
from ._answers import api_reply, preview_body
from ._audio import AudioInfo
from ._breaker import AccountBreaker, AccountStatus, is_account_refusal
from ._config import (
    DEFAULT_BASE_URL,
    Redacted,
    account_id,
    check_fallback,
    check_key,
    check_option,
    check_proxy,
    check_retry,
    env_url,
    request_headers,
    resolve_base_url,
)
from ._errors import (
    APIError,
    OutOfTime,
    RateLimitError,
    ResponseFormatError,
    ServerError,
    TransportError,
    ValidationError,
    VoiceCloneError,
    VoiceIdConflictError,
    detach,
)
from ._events import Hooks, OnResponse, OnRetry, ResponseEvent, RetryEvent
from ._files import check_target, write_file
from ._models import CloneJob, CloneOutcome, CloneRequest, CloneResult, UploadedFile, Voice
from ._otel import SILENT, Silent, Telemetry, telemetry
from ._pacing import Gate, GateStats, RateGate, Ticket
from ._parse import (
    parse_clone_result,
    parse_sensitivity,
    parse_speech,
    parse_uploaded_file,
    parse_voices,
)
from ._redis._journal import RedisJournal
from ._request import PREVIEW_PATH, SPEECH_LINK, Answer, Request, UploadPart
from ._retry import RetryBudget, RetryPolicy, is_retryable, new_retrying
from ._speech import (
    ACTIVATION_SETTINGS,
    ACTIVATION_TEXT,
    MAX_SPEECH_BODY_BYTES,
    Speech,
    SpeechRequest,
)
from ._speech_stream import Opened, SpeechStream, StreamReply, stream_reply
from ._transport import MIN_POOL, Transport
from ._validate import (
    DEFAULT_MODEL,
    DELETABLE_VOICE_TYPES,
    FilePurpose,
    check_audio,
    check_purpose,
    check_voice_id,
    check_voice_type,
    is_http_url,
)

if TYPE_CHECKING:
    from ._models import CloneFields
    from ._redis._conn import RedisClient
    from ._speech import SpeechFields
    from ._validate import SpeechModel

    if sys.version_info >= (3, 11):
        from typing import Unpack
    else:
        from typing_extensions import Unpack

__all__ = ["DEFAULT_BASE_URL", "Client", "make_gate"]

_MIME: Final = {"wav": "audio/wav", "mp3": "audio/mpeg", "m4a": "audio/mp4"}
_CLONE_FIELDS: Final = frozenset(a.name for a in attrs.fields(CloneRequest))

logger = logging.getLogger("voiceclone")

_T = TypeVar("_T")


def make_gate(
    requests_per_minute: float | None,
    *,
    redis: object,
    fallback: str,
    api_key: str,
    base_url: str,
    family: str = "clone",
) -> Gate:
    """A gate of the client (one per endpoint ``family``): shared through Redis when
    one is given (or in the env), else local.

    The Redis gate is imported only here, when asked for: a client without Redis
    runs no Redis code.
    """
    check_fallback(fallback)
    if redis is False or (redis is None and env_url() is None):
        return RateGate(requests_per_minute)
    from ._redis._conn import account_tag, resolve
    from ._redis._gate import RedisGate

    handle = resolve(redis)
    if handle is None:  # an empty URL: no Redis
        return RateGate(requests_per_minute)
    return RedisGate(requests_per_minute, handle, account_tag(api_key, base_url), fallback, family)


def _speech_request(speech: SpeechRequest, read: Callable[[Answer, str], _T]) -> Request[_T]:
    """The `Request` of a synthesis: paced by the speech gate, its audio in the answer."""
    return Request(
        "POST",
        "/t2a_v2",
        read,
        json=speech.to_json(),
        paced=True,
        gate="speech",
        voice_id=speech.voice_id,
        limit=MAX_SPEECH_BODY_BYTES,
        stream=speech.stream,
    )


class _ViewSlots:
    """A view's cap of its own, taken before its client's: never above either.

    Only views with ``max_in_flight`` have one, so a plain client's attempts take
    one semaphore. ``client`` is always the client's own (a view of a view keeps
    only the newer cap).
    """

    __slots__ = ("_client", "_view")

    def __init__(self, view: asyncio.Semaphore, client: asyncio.Semaphore) -> None:
        self._view = view
        self._client = client

    async def __aenter__(self) -> None:
        await self._view.acquire()
        try:
            await self._client.acquire()
        except BaseException:
            self._view.release()
            raise

    async def __aexit__(self, *exc: object) -> None:
        self._client.release()
        self._view.release()


@attrs.define
class _Call:
    """What one call learned across its attempts."""

    deadline: float  #: loop time by which the call must be over
    #: Where its spans and metrics go: decided once, so a call's spans hang together.
    observed: Telemetry | Silent
    attempts: int = 0
    #: An attempt reached the server but its answer was lost: it may have acted.
    ambiguous: bool = False


class Client:
    """An async client for MiniMax voice cloning.

    One client belongs to one event loop (the loop of its first call): make one per
    loop, or per thread that runs its own loop.

    Args:
        api_key: default: env ``MINIMAX_API_KEY``; missing raises `ConfigurationError`.
        base_url: everything up to and including ``/v1``; default: env
            ``MINIMAX_BASE_URL``, else ``https://api.minimax.io/v1``. Plain ``http``
            to a host other than loopback warns (`InsecureTransportWarning`).
        max_in_flight: requests on the wire at once.
        requests_per_minute: pace of ``voice_clone`` calls; ``None`` sends unpaced
            until the first rate-limit answer, then discovers the limit from them.
        speech_requests_per_minute: pace of speech (``t2a_v2``) calls, a gate of
            their own; by default discovered from rate-limit answers, as above.
        retry: a `RetryPolicy`; ``None`` for the default.
        timeout: seconds per attempt, including waiting for a pooled connection.
        session: an ``aiohttp.ClientSession`` to borrow; the client never closes it.
        default_headers: headers sent with every API request (a gateway's own, say);
            ``Authorization`` is the client's and cannot be set here.
        proxy: an explicit proxy URL for every request.
        trust_env: honour ``HTTP(S)_PROXY`` / ``NO_PROXY`` and ``.netrc`` from the
            environment for the client's own session. Off by default: an
            inherited proxy setting would otherwise see every request.
        on_retry: called with a `RetryEvent` before each retry (a plain or an async
            function; what it raises is logged and ignored).
        on_response: called with a `ResponseEvent` after each attempt (likewise).
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
        speech_requests_per_minute: float | None = None,
        retry: RetryPolicy | None = None,
        timeout: float = 120.0,
        session: aiohttp.ClientSession | None = None,
        default_headers: Mapping[str, str] | None = None,
        proxy: str | None = None,
        trust_env: bool = False,
        on_retry: OnRetry | None = None,
        on_response: OnResponse | None = None,
        redis: str | RedisClient | Literal[False] | None = None,
        fallback: str = "local",
    ) -> None:
        # Redacted at once: if anything below raises, its traceback's locals show no key
        # (nor a Redis or proxy URL's password).
        api_key = Redacted(
            api_key if api_key is not None else os.environ.get("MINIMAX_API_KEY", "")
        )
        if isinstance(redis, str):
            redis = Redacted(redis)
        if isinstance(proxy, str):
            proxy = Redacted(proxy)
        self._key = check_key(api_key)
        headers = request_headers(default_headers, self._key)
        checked_proxy = check_proxy(proxy)
        self._base_url = resolve_base_url(
            base_url or os.environ.get("MINIMAX_BASE_URL") or DEFAULT_BASE_URL
        )
        check_option("max_in_flight", max_in_flight, integer=True)
        if requests_per_minute is not None:
            check_option("requests_per_minute", requests_per_minute)
        if speech_requests_per_minute is not None:
            check_option("speech_requests_per_minute", speech_requests_per_minute)
        check_option("timeout", timeout)
        self._max_in_flight = max_in_flight
        self._requests_per_minute = requests_per_minute
        self._retry = check_retry(retry) or RetryPolicy()
        self._timeout = float(timeout)
        self._slots = asyncio.Semaphore(max_in_flight)
        #: What an attempt holds while on the wire: the client's slots, or a view's.
        self._send_slots: asyncio.Semaphore | _ViewSlots = self._slots
        # One gate per endpoint family: MiniMax limits cloning and speech apart.
        self._gates: dict[str, Gate] = {
            family: make_gate(
                rpm,
                redis=redis,
                fallback=fallback,
                api_key=self._key,
                base_url=self._base_url,
                family=family,
            )
            for family, rpm in (
                ("clone", requests_per_minute),
                ("speech", speech_requests_per_minute),
            )
        }
        self._account_id = account_id(self._key, self._base_url)
        self._breaker = AccountBreaker()
        self._budget = RetryBudget(self._retry.budget)
        self._hooks = Hooks(on_retry, on_response)
        self._telemetry = telemetry()
        self._transport = Transport(
            self._base_url,
            headers,
            proxy=checked_proxy,
            session=session,
            trust_env=trust_env,
            pool=max(MIN_POOL, max_in_flight),
        )
        self._is_view = False

    def __repr__(self) -> str:
        # getattr: a traceback printed with its locals reprs a client __init__ refused.
        return (
            f"Client(base_url={getattr(self, '_base_url', None)!r}, "
            f"max_in_flight={getattr(self, '_max_in_flight', None)}, "
            f"requests_per_minute={getattr(self, '_requests_per_minute', None)!r})"
        )

    @property
    def account_id(self) -> str:
        """A name for the client's account: a digest of API key and base URL, never the key.

        Clients with the same key and base URL share it, so their rate gate and
        their `RedisJournal` batches are the same; it is safe to log.
        """
        return self._account_id

    @property
    def base_url(self) -> str:
        """The base URL in use, up to and including ``/v1``, without a trailing slash."""
        return self._base_url

    @property
    def max_in_flight(self) -> int:
        """The cap on requests on the wire at once, for the whole client."""
        return self._max_in_flight

    @property
    def account_status(self) -> AccountStatus:
        """Whether calls are being sent: the account breaker's state (see `AccountStatus`)."""
        return self._breaker.status

    @property
    def rate_stats(self) -> GateStats:
        """The clone gate's current pace and the rate-limit answers it has seen."""
        return self._gates["clone"].stats

    @property
    def speech_rate_stats(self) -> GateStats:
        """The speech gate's current pace and the rate-limit answers it has seen."""
        return self._gates["speech"].stats

    def with_options(
        self,
        *,
        timeout: float | None = None,
        retry: RetryPolicy | None = None,
        max_in_flight: int | None = None,
    ) -> Client:
        """A view of this client with other options for the calls made through it.

        The view shares the session, the rate gate, the retry budget and the hooks:
        its calls are paced and counted with everyone else's. Only what is given
        changes: ``timeout`` per attempt (a long upload), ``retry`` (an urgent clone
        with ``RetryPolicy(attempts=1)``), ``max_in_flight`` (a cap of the view's
        own on its requests on the wire, within the client's, and its batches'
        default). Closing the
        view does nothing; closing the client closes the session for every view.
        """
        view = copy.copy(self)
        view._is_view = True
        if timeout is not None:
            check_option("timeout", timeout)
            view._timeout = float(timeout)
        view._retry = check_retry(retry) or self._retry
        if max_in_flight is not None:
            check_option("max_in_flight", max_in_flight, integer=True)
            view._max_in_flight = max_in_flight
            view._send_slots = _ViewSlots(asyncio.Semaphore(max_in_flight), self._slots)
        return view

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
        """Close the session the client created (never a borrowed one). Idempotent.

        On a view made by `with_options`, does nothing: the client owns the session.
        """
        if self._is_view:
            return
        await self._transport.aclose()  # first: no request leaves after this
        try:
            await self._gates["clone"].aclose()
        finally:  # the other gate's Redis connection too, whatever the first did
            await self._gates["speech"].aclose()

    # -- the one request path -------------------------------------------------------

    def _new_call(self, *, ambiguous: bool = False) -> _Call:
        """The record of a call starting now, on the client's loop, with its time budget."""
        deadline = self._transport.bind_loop().time() + self._retry.timeout
        return _Call(deadline, self._observed(), ambiguous=ambiguous)

    async def _call(self, request: Request[_T], call: _Call | None = None) -> _T:
        """Send ``request`` until it succeeds, fails for good, or the call's budget ends.

        ``call`` collects what its attempts learned. Every error leaves here, cut from
        anything not ours it was raised while handling (see `detach`).
        """
        call = call or self._new_call()
        try:
            with call.observed.call(request.method, request.path, request.voice_id):
                self._budget.earn()
                # The first attempt is made before tenacity is involved: a tenacity loop
                # costs more CPU than the request itself on a fast server (a clone on
                # bench/overhead.py: 156 us of CPU as here, 244 us with every first
                # attempt inside tenacity's loop), and most calls succeed at once.
                try:
                    return await self._attempt(request, call)
                except VoiceCloneError as exc:
                    if self._retry.attempts == 1 or not is_retryable(exc):
                        raise
                    failure = exc
                # A retry is due: tenacity decides every step from here, starting
                # from that failure as the outcome of attempt 1.
                retrying = new_retrying(
                    self._retry,
                    paced=request.paced,
                    deadline=call.deadline,
                    clock=asyncio.get_running_loop().time,
                    budget=self._budget,
                    before_sleep=functools.partial(self._before_retry, request, call),
                )
                async for attempt in retrying:
                    with attempt:
                        if attempt.retry_state.attempt_number == 1:
                            raise failure
                        return await self._attempt(request, call)
                raise AssertionError("tenacity returns or raises")  # pragma: no cover
        except VoiceCloneError as exc:
            detach(exc)
            raise

    async def _before_retry(
        self, request: Request[object], call: _Call, state: RetryCallState
    ) -> None:
        """Between a failed attempt and its retry: log, tell the hooks."""
        assert state.outcome is not None
        error = state.outcome.exception()
        assert isinstance(error, VoiceCloneError)
        logger.info(
            "retrying %s after %s (HTTP %s, status %s, trace %s): attempt %d failed, "
            "waiting %.2f s",
            request.what, type(error).__name__, error.http_status,
            error.status_code, error.trace_id, state.attempt_number, state.upcoming_sleep,
        )  # fmt: skip
        call.observed.retried(request.path, error)
        if self._hooks.on_retry is not None:
            event = RetryEvent(
                request.path, state.attempt_number, state.upcoming_sleep, error, request.voice_id
            )
            await self._hooks.retry(event, self._timeout)

    def _remaining(self, call: _Call, what: str) -> float:
        """This attempt's timeout: the client's, clipped to what is left of the call's budget."""
        remaining = call.deadline - asyncio.get_running_loop().time()
        if remaining <= 0:
            raise OutOfTime(f"{what}: the retry time budget ran out")
        return min(self._timeout, remaining)

    async def _attempt(self, request: Request[_T], call: _Call) -> _T:
        """One attempt: wait for the rate gate (when paced), then send and classify."""
        call.attempts += 1
        telemetry = call.observed
        with telemetry.attempt(request.method, request.path, call.attempts, request.voice_id):
            ticket: Ticket | None = None
            # An account that answered "no" (a dead key, no balance) is not sent to again,
            # but for one probe now and then. A preview host is not the account's.
            to_api = request.url is None
            if to_api:
                self._breaker.admit(paced=request.paced)
            if request.paced:
                loop = asyncio.get_running_loop()
                started = loop.time()
                ticket = await self._gates[request.gate].acquire(call.deadline)
                telemetry.gate_waited(loop.time() - started)
            timeout = self._remaining(call, request.what)
            try:
                value = await self._send(request, call, timeout)
            except RateLimitError as exc:
                if ticket is not None:
                    await ticket.refused(exc.retry_after)
                raise
            except ServerError:
                call.ambiguous = True
                raise
            except TransportError as exc:
                call.ambiguous = call.ambiguous or exc.request_sent
                raise
            except APIError as exc:
                if to_api and is_account_refusal(exc):
                    release = self._breaker.refused(exc, request.voice_id)
                    if release is not None:  # it has just opened
                        telemetry.account_refused(exc.status_code)
                        for gate in self._gates.values():  # queued calls end now, unsent
                            gate.release_waiting(release)
                    # Every worker sharing the account stops too.
                    await self._gates[request.gate].on_account_refused(exc, request.voice_id)
                raise
            if to_api:
                self._breaker.accepted(paced=request.paced)
            if ticket is not None:
                await ticket.accepted()
            return value

    def _observed(self) -> Telemetry | Silent:
        """The client's telemetry while an OpenTelemetry SDK receives it, else `SILENT`."""
        telemetry = self._telemetry
        return telemetry if telemetry is not None and telemetry.active else SILENT

    async def _send(self, request: Request[_T], call: _Call, timeout: float) -> _T:
        """One exchange; return what the request's reader makes of the answer, or raise."""
        loop = asyncio.get_running_loop()
        answer: Answer | None = None
        status_code: int | None = None
        started = loop.time()
        try:
            async with self._send_slots:
                # Opened only now: aclose() may have run while this attempt queued.
                self._transport.open()
                if request.announce is not None:  # last, so nothing waits between it and the send
                    await request.announce()
                started = loop.time()
                answer = await self._transport.send(request, timeout)
            value = request.read(answer, request.what)
            if request.url is None:
                status_code = 0  # an API answer the reader took: MiniMax said 0
            return value
        except APIError as exc:
            status_code = exc.status_code
            raise
        finally:
            event = self._report(call, request, answer, status_code, loop.time() - started)
            if event is not None:
                await self._hooks.response(event, timeout)

    def _report(
        self,
        call: _Call,
        request: Request[object],
        answer: Answer | None,
        status_code: int | None,
        elapsed: float,
    ) -> ResponseEvent | None:
        """Log the call's latest attempt (metadata only); the ``on_response`` event, if set."""
        http_status = answer.http_status if answer is not None else None
        trace_id = answer.trace_id if answer is not None else None
        call.observed.answered(request.path, http_status, status_code, trace_id)
        logger.debug(
            "%s -> HTTP %s, status %s, trace %s, attempt %d, %.3f s",
            request.what, http_status, status_code, trace_id, call.attempts, elapsed,
        )  # fmt: skip
        if self._hooks.on_response is None:
            return None
        return ResponseEvent(
            request.method, request.path, http_status, status_code, trace_id, call.attempts,
            elapsed, request.voice_id,
        )  # fmt: skip

    # -- endpoints --------------------------------------------------------------------

    async def upload_file(
        self,
        file: str | os.PathLike[str] | bytes,
        *,
        purpose: FilePurpose | str = "voice_clone",
        filename: str | None = None,
    ) -> UploadedFile:
        """Upload audio (a path, streamed from disk, or bytes) and return its file id.

        The file is checked first (format by content, size, and for cloning
        purposes its duration) and re-opened, and checked again, on every attempt.
        """
        check_purpose(purpose)
        if isinstance(file, (bytearray, memoryview)):
            file = bytes(file)  # one copy: what is checked is what is sent
        return await self._upload(file, purpose, check_audio(file, purpose), filename)

    async def _upload(
        self,
        file: str | os.PathLike[str] | bytes,
        purpose: str,
        info: AudioInfo,
        filename: str | None = None,
    ) -> UploadedFile:
        """Upload ``file``, already checked for ``purpose`` (``info`` is what was found)."""
        source: bytes | Path
        if isinstance(file, (bytes, bytearray, memoryview)):
            source = bytes(file)
            name = filename or f"audio.{info.format or 'bin'}"
        else:
            source = Path(file)
            name = filename or source.name
        part = UploadPart(
            purpose, source, name, _MIME.get(info.format or "", "application/octet-stream")
        )
        body, trace_id = await self._call(Request("POST", "/files/upload", api_reply, upload=part))
        return parse_uploaded_file(body, trace_id=trace_id)

    @overload
    async def clone(self, request: CloneRequest, /) -> CloneResult: ...

    @overload
    async def clone(
        self, request: None = None, /, **fields: Unpack[CloneFields]
    ) -> CloneResult: ...

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

    async def _clone(
        self,
        request: CloneRequest,
        *,
        maybe_sent: bool = False,
        announce: _batch.Announce | None = None,
    ) -> CloneResult:
        """Clone; ``maybe_sent`` says an earlier run may already have sent this request.

        ``announce`` is awaited right before each attempt leaves (a journal's "sent").
        """
        call = self._new_call(ambiguous=maybe_sent)
        sent = Request(
            "POST",
            "/voice_clone",
            api_reply,
            json=request.to_json(),
            paced=True,
            voice_id=request.voice_id,
            announce=announce,
        )
        try:
            body, trace_id = await self._call(sent, call)
        except VoiceIdConflictError as exc:
            if not call.ambiguous:
                raise
            logger.info("voice %s recovered: an earlier attempt created it", request.voice_id)
            return CloneResult(
                request.voice_id, trace_id=exc.trace_id, attempts=call.attempts, recovered=True
            )
        try:
            return parse_clone_result(
                body, voice_id=request.voice_id, trace_id=trace_id, attempts=call.attempts
            )
        except ResponseFormatError as exc:
            # base_resp said 0: the voice exists. Reporting a failure would send the
            # caller into a retry that can only answer 2039.
            logger.warning(
                "voice %s created, but %s; returned without preview details (trace %s)",
                request.voice_id, exc.message, trace_id,
            )  # fmt: skip
            # The sensitivity flag is read on its own, failing closed: an answer that
            # cannot be read in full must not come back unflagged.
            flagged, kind = parse_sensitivity(body)
            return CloneResult(
                request.voice_id,
                input_sensitive=flagged,
                input_sensitive_type=kind,
                trace_id=trace_id,
                attempts=call.attempts,
            )

    async def list_voices(self, voice_type: str = "voice_cloning") -> list[Voice]:
        """Voices of the account. Cloned voices appear only after their first real use."""
        check_voice_type(voice_type)
        body, trace_id = await self._call(
            Request("POST", "/get_voice", api_reply, json={"voice_type": voice_type})
        )
        return parse_voices(body, trace_id=trace_id)

    async def delete_voice(self, voice_id: str, *, voice_type: str = "voice_cloning") -> None:
        """Delete a cloned (or generated) voice; its id can then be used again."""
        check_voice_id(voice_id)
        check_voice_type(voice_type, DELETABLE_VOICE_TYPES)
        body = {"voice_type": voice_type, "voice_id": voice_id}
        await self._call(Request("POST", "/delete_voice", api_reply, json=body, voice_id=voice_id))

    # -- speech ---------------------------------------------------------------------

    async def synthesize(
        self,
        *,
        text: str,
        voice_id: str | None = None,
        model: SpeechModel | str = DEFAULT_MODEL,
        download: bool = True,
        **settings: Unpack[SpeechFields],
    ) -> Speech:
        """Speak ``text`` with ``voice_id`` (``POST /t2a_v2``); return the `Speech`.

        ``settings`` are MiniMax's names, flattened from ``voice_setting`` (``speed``,
        ``vol``, ``pitch``, ``emotion``, ``text_normalization``) and ``audio_setting``
        (``sample_rate``, ``bitrate``, ``format``, ``channel``), and its top-level
        options (see `SpeechFields`); what is not given is MiniMax's default. Each
        is checked before anything is sent. With ``output_format="url"`` the audio
        is downloaded from MiniMax's link unless ``download=False``.

        The first synthesis with a clone makes it permanent and bills its clone fee
        (see `activate`). Paced by the speech gate, apart from cloning.
        """
        request = SpeechRequest(voice_id, text, model, settings)
        return await self._synthesize(request, download=download)

    def synthesize_stream(
        self,
        *,
        text: str,
        voice_id: str | None = None,
        model: SpeechModel | str = DEFAULT_MODEL,
        **settings: Unpack[SpeechFields],
    ) -> SpeechStream:
        """Speak ``text`` as a stream: ``async for chunk in client.synthesize_stream(...)``.

        The same settings as `synthesize` (but ``wav`` and ``output_format="url"``,
        which MiniMax does not stream), checked now. Each chunk is audio bytes as
        MiniMax sends them; the stream's `SpeechStream.extra_info` is set once it
        ends. Failures before the first chunk are retried as any call's; after it,
        nothing is sent again (no audio is ever yielded twice): a cut stream raises
        `TransportError`.
        """
        request = _speech_request(SpeechRequest(voice_id, text, model, settings, stream=True),
                                  stream_reply)  # fmt: skip
        return SpeechStream(functools.partial(self._open_stream, request), request.what)

    async def _open_stream(self, request: Request[StreamReply]) -> Opened:
        call = self._new_call()
        (first, events), trace_id = await self._call(request, call)
        return first, events, trace_id, call.attempts

    async def activate(self, voice_id: str, *, model: SpeechModel | str = DEFAULT_MODEL) -> Speech:
        """Keep a clone: the smallest real synthesis with it, before MiniMax's 7 days run out.

        A clone that no speech used within 7 days of cloning is deleted by MiniMax;
        one synthesis makes it permanent. This one says a two-letter word at the
        lowest settings: MiniMax bills the clone fee at this first use, and the
        characters like any speech. Raises `VoiceNotFoundError` for a voice that is
        gone.
        """
        speech = SpeechRequest(voice_id, ACTIVATION_TEXT, model, ACTIVATION_SETTINGS)
        return await self._synthesize(speech)

    async def _synthesize(self, speech: SpeechRequest, *, download: bool = True) -> Speech:
        call = self._new_call()
        body, trace_id = await self._call(_speech_request(speech, api_reply), call)
        result = parse_speech(body, trace_id=trace_id, attempts=call.attempts)
        if result.url is not None and download:
            link = Request("GET", SPEECH_LINK, preview_body, url=result.url,
                           limit=MAX_SPEECH_BODY_BYTES)  # fmt: skip
            result = attrs.evolve(result, audio=await self._call(link))
        return result

    async def download_demo(self, result: CloneResult | str, path: str | os.PathLike[str]) -> Path:
        """Save a clone's preview audio to ``path`` (written whole or not at all).

        The file is created with mode 0600 and never through a symbolic link (see
        the Security page of the docs).

        Raises:
            ValidationError: no preview link; ``path`` names a folder, or its folder
                does not exist (both raised before the download), or the file cannot
                be written (nothing is left behind).
        """
        url = result if isinstance(result, str) else result.demo_audio
        if not url:
            raise ValidationError("demo_audio", "there is no preview: clone with text and model")
        if not is_http_url(url):  # the server's string, perhaps not even a URL
            raise ValidationError("demo_audio", "must be an http(s) URL")
        target = check_target(path)
        body = await self._call(Request("GET", PREVIEW_PATH, preview_body, url=url))
        # The write waits for the disk (fsync): off the event loop.
        return await asyncio.to_thread(write_file, target, body)

    # -- batches (see _batch) -----------------------------------------------------------

    def _batch_port(self) -> _batch.Port:
        # The narrow interface _batch works through: no reach into this class.
        return _batch.Port(
            max_in_flight=self._max_in_flight,
            upload=self._upload,
            clone_maybe_sent=self._clone,
            activate=self.activate,
        )

    def clone_many(
        self,
        requests: Iterable[CloneRequest] | AsyncIterable[CloneRequest],
        *,
        max_in_flight: int | None = None,
    ) -> AsyncIterator[CloneOutcome]:
        """Clone every request, yielding a `CloneOutcome` as each finishes."""
        return _batch.clone_many(self._batch_port(), requests, max_in_flight=max_in_flight)

    async def clone_all(
        self,
        requests: Iterable[CloneRequest] | AsyncIterable[CloneRequest],
        *,
        max_in_flight: int | None = None,
    ) -> list[CloneOutcome]:
        """Clone every request; outcomes in input order."""
        return await _batch.clone_all(self._batch_port(), requests, max_in_flight=max_in_flight)

    def clone_jobs(
        self,
        jobs: Iterable[CloneJob] | AsyncIterable[CloneJob],
        *,
        journal: str | os.PathLike[str] | RedisJournal | None = None,
        max_in_flight: int | None = None,
        retry_failed: bool = False,
        activate: bool = False,
    ) -> AsyncIterator[CloneOutcome]:
        """Upload and clone each job; with ``journal``, re-runs skip finished jobs.

        ``journal`` is a JSONL file (one process) or a `RedisJournal` (shared by
        every process of this account using its name). A job that failed for good
        (sensitive content, invalid parameters, an audio problem, a voice_id taken)
        is reported from the journal, not sent again, unless ``retry_failed``: then
        failures recorded before this run started are tried again.

        With ``activate``, each voice cloned by this run is kept at once with the
        smallest real synthesis (`activate`; its result's ``activated_at`` says
        when, and the journal records it): MiniMax deletes clones no speech used
        within 7 days. A voice that could not be activated is still a success,
        with a WARNING; ``voiceclone activate --journal`` catches up later.
        """
        return _jobs.clone_jobs(
            self._batch_port(),
            jobs,
            account_id=self._account_id,
            journal=journal,
            max_in_flight=max_in_flight,
            retry_failed=retry_failed,
            activate=activate,
        )

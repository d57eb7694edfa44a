"""The emulator server: lifecycle, routing, and the path every API request takes."""

from __future__ import annotations

import asyncio
import collections
import functools
import logging
import time
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import Any

from aiohttp import web

from voiceclone._samples import make_wav
from voiceclone.emulator._body import Body, read_body
from voiceclone.emulator._faults import FAULT_HEADER, Fault, FaultPicker, Faults, check_delay
from voiceclone.emulator._files import delete_file, list_files, retrieve_file, upload_file
from voiceclone.emulator._inspect import STATE_PATH, emulator_state, summary_line
from voiceclone.emulator._rules import ApiError
from voiceclone.emulator._speech import expire_voices, stream_events, synthesize
from voiceclone.emulator._state import (
    Account,
    Call,
    Clock,
    EmulatorStats,
    Preview,
    RecordedRequest,
    TokenBucket,
    World,
    new_trace_id,
)
from voiceclone.emulator._voices import (
    PREVIEW_SAMPLE_RATE,
    clone_voice,
    delete_voice,
    get_voice,
    parse_clone_voice_id,
)

__all__ = ["Emulator", "http_origin"]

logger = logging.getLogger("voiceclone.emulator")

Handler = Callable[[World, Call], dict[str, Any]]

# (method, path under /v1) -> (endpoint name, handler)
_ROUTES: dict[tuple[str, str], tuple[str, Handler]] = {
    ("POST", "/files/upload"): ("files/upload", upload_file),
    ("GET", "/files/list"): ("files/list", list_files),
    ("GET", "/files/retrieve"): ("files/retrieve", retrieve_file),
    ("POST", "/files/delete"): ("files/delete", delete_file),
    ("POST", "/voice_clone"): ("voice_clone", clone_voice),
    ("POST", "/get_voice"): ("get_voice", get_voice),
    ("POST", "/delete_voice"): ("delete_voice", delete_voice),
    ("POST", "/t2a_v2"): ("t2a_v2", synthesize),
}
#: Where `Emulator.advance` is reached over HTTP, beside the state.
ADVANCE_PATH = "/__emulator/advance"

_SHUTDOWN_TIMEOUT = 0.25


def http_origin(host: str, port: int) -> str:
    """``http://host:port``, an IPv6 address in brackets."""
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}"


#: Requests `Emulator.requests` keeps by default: far more than a test looks back
#: on, few enough that a long-lived emulator's memory stays flat.
DEFAULT_HISTORY = 1000


class Emulator:
    """A MiniMax-compatible voice-cloning API server on a local port.

    Use it as ``async with Emulator() as emu:`` and point a client at ``emu.base_url``.
    Each API key is its own account with its own files and voices. See the module
    documentation of :mod:`voiceclone.emulator` for the behaviour and the faults.

    Args:
        api_key: One key or several; each is a separate account.
        rpm: Clone requests per minute per account (token bucket); ``None``: unlimited.
        burst: Bucket capacity; default ``max(1, int(rpm) // 4)``.
        speech_rpm: Synthesis requests per minute per account, a bucket of its own
            (MiniMax limits each endpoint family apart); ``None``: unlimited.
        speech_cpm: Characters synthesized per minute per account (over it: 1039);
            ``None``: unlimited.
        faults: Random fault rates.
        latency: Seconds added before every API answer.
        host: Address to listen on.
        port: Port to listen on; ``0`` picks a free one.
        file_ids_as_strings: Send file ids as numeric strings, as some endpoints do.
        clock: Monotonic clock for the rate limiter (tests may substitute one).
        history: How many of the latest requests `requests` keeps (a ring: an
            emulator serving a long test suite or a demo stays small); the counts
            in `stats` and the accounts' state cover every request.
    """

    def __init__(
        self,
        api_key: str | Sequence[str] = "test-key",
        *,
        rpm: float | None = 60,
        burst: int | None = None,
        speech_rpm: float | None = None,
        speech_cpm: float | None = None,
        faults: Faults | None = None,
        latency: float = 0.0,
        host: str = "127.0.0.1",
        port: int = 0,
        file_ids_as_strings: bool = False,
        clock: Clock = time.monotonic,
        history: int = DEFAULT_HISTORY,
    ) -> None:
        keys = [api_key] if isinstance(api_key, str) else list(api_key)
        if not keys or len(set(keys)) != len(keys) or not all(keys):
            raise ValueError("api_key must be one or more distinct, non-empty keys")
        if rpm is not None and rpm <= 0:
            raise ValueError("rpm must be positive or None")
        if burst is not None and burst < 1:
            raise ValueError("burst must be at least 1")
        if history < 0:
            raise ValueError("history must be >= 0")
        for name, value in (("speech_rpm", speech_rpm), ("speech_cpm", speech_cpm)):
            if value is not None and not value > 0:
                raise ValueError(f"{name} must be positive or None")
        self.rpm = rpm
        self.burst: int | None = None
        self._buckets: dict[str, TokenBucket] = {}
        if rpm is not None:
            self.burst = burst if burst is not None else max(1, int(rpm) // 4)
            self._buckets = {key: TokenBucket(rpm / 60.0, self.burst, clock) for key in keys}
        self.speech_rpm = speech_rpm
        self.speech_cpm = speech_cpm
        # Speech buckets start full, a minute's worth: MiniMax counts per minute.
        self._speech_buckets: dict[str, TokenBucket] = {}
        self._character_buckets: dict[str, TokenBucket] = {}
        for key in keys:
            if speech_rpm is not None:
                self._speech_buckets[key] = TokenBucket(
                    speech_rpm / 60, int(speech_rpm) or 1, clock
                )
            if speech_cpm is not None:
                self._character_buckets[key] = TokenBucket(
                    speech_cpm / 60, int(speech_cpm) or 1, clock
                )
        self.latency = latency  # checked by the property
        self.host = host
        self.port = port
        self._default_key = keys[0]
        self._world = World(keys, file_ids_as_strings=file_ids_as_strings)
        self._picker = FaultPicker(faults)
        self.stats = EmulatorStats()
        self._history: collections.deque[RecordedRequest] = collections.deque(maxlen=history)
        self._runner: web.AppRunner | None = None
        self._closed = False
        self._started: float | None = None
        self._stopped: float | None = None

    def __repr__(self) -> str:
        where = self.base_url if self._runner else "not started"
        return f"<Emulator {where} rpm={self.rpm} burst={self.burst} faults={self.faults!r}>"

    @property
    def latency(self) -> float:
        """Seconds added before every API answer (at most `MAX_DELAY`); settable."""
        return self._latency

    @latency.setter
    def latency(self, seconds: float) -> None:
        self._latency = check_delay("latency", seconds)

    @property
    def requests(self) -> list[RecordedRequest]:
        """The latest requests received, oldest first: at most ``history`` of them (a copy)."""
        return list(self._history)

    @property
    def faults(self) -> Faults | None:
        """The random fault rates in force."""
        return self._picker.faults

    @property
    def base_url(self) -> str:
        """``http://host:port/v1``: what a client takes as its base URL."""
        return f"{self.origin}/v1"

    @property
    def origin(self) -> str:
        """``http://host:port``."""
        if self._runner is None:
            raise RuntimeError("the emulator is not running; call start() first")
        return http_origin(self.host, self.port)

    # -- lifecycle -------------------------------------------------------------------

    async def start(self) -> None:
        """Start listening. The actual port is in :attr:`port` afterwards."""
        if self._runner is not None:
            return
        if self._closed:
            raise RuntimeError("a closed emulator cannot be restarted")
        app = web.Application()
        for (method, path), (endpoint, handler) in _ROUTES.items():
            app.router.add_route(method, "/v1" + path, self._api_handler(endpoint, handler))
        app.router.add_get("/previews/{token}.wav", self._preview)
        app.router.add_get("/downloads/{file_id}", self._download)
        app.router.add_get("/speech/{name}", self._speech_download)
        app.router.add_get(STATE_PATH, self._state)
        app.router.add_post(ADVANCE_PATH, self._advance)
        app.on_response_prepare.append(_add_trace_id)
        runner = web.AppRunner(
            app, handle_signals=False, access_log=None, shutdown_timeout=_SHUTDOWN_TIMEOUT
        )
        await runner.setup()
        try:
            site = web.TCPSite(runner, self.host, self.port)
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self.port = int(runner.addresses[0][1])
        self._runner = runner
        self._started = time.monotonic()
        logger.info("emulator listening on %s", self.base_url)

    async def close(self) -> None:
        """Stop the server; requests still being handled are cancelled. Idempotent."""
        self._closed = True
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()
            self._stopped = time.monotonic()
            if logger.isEnabledFor(logging.INFO):  # the summary reads the whole state
                logger.info("%s", self.summary())

    async def __aenter__(self) -> Emulator:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    # -- test controls ---------------------------------------------------------------

    def inject(
        self,
        fault: Fault,
        *,
        endpoint: str = "voice_clone",
        times: int = 1,
        voice_id: str | None = None,
    ) -> None:
        """Apply ``fault`` to the next ``times`` requests to ``endpoint`` (``"*"``: any).

        With ``voice_id``, only to requests whose JSON body names that voice, so a
        test or a demo decides which voice meets the fault whatever the arrival order.
        Queued faults win over random ones; a fault header on a request wins over both.
        """
        self._picker.inject(fault, endpoint, times, voice_id)

    def clear_faults(self) -> None:
        """Drop every injected fault still queued (random faults are `faults`)."""
        self._picker.clear()

    def pending_faults(self, endpoint: str = "voice_clone") -> int:
        """How many injected faults still wait for ``endpoint``."""
        return self._picker.pending(endpoint)

    def account(self, api_key: str | None = None) -> Account:
        """The account of ``api_key`` (default: the first key)."""
        return self._world.accounts[api_key if api_key is not None else self._default_key]

    def activate(self, voice_id: str, api_key: str | None = None) -> None:
        """Mark a cloned voice as used for speech, so that ``get_voice`` lists it.

        Raises:
            KeyError: no such voice in that account.
        """
        voice = self.account(api_key).voices[voice_id]
        if not voice.activated:
            voice.activated, voice.activated_at = True, self._world.now()

    def advance(self, seconds: float) -> None:
        """Move the emulator's calendar ``seconds`` ahead (at most a year at a time).

        Clones created more than 7 days before the new date and never used for
        speech are deleted at once, as MiniMax deletes them; `Account.expired`
        names them.
        """
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)):
            raise ValueError("seconds must be a number")
        if not 0 <= seconds <= 366 * 24 * 3600:
            raise ValueError("seconds must be from 0 to a year")
        self._world.offset += seconds
        expire_voices(self._world, self._world.now())

    def state(self) -> dict[str, Any]:
        """Everything the emulator holds and counted, as ``GET /__emulator/state`` answers it.

        A JSON-ready dict: ``settings`` (rpm, burst, latency, fault rates),
        ``uptime_seconds``, ``requests`` by endpoint, ``answers`` by
        ``base_resp.status_code`` and by HTTP status, ``rate_limit_answers``,
        ``rate_limited_by_bucket``, ``dropped_connections``, ``faults`` applied by
        kind, and ``accounts``: per key (named by the start of its SHA-256, never
        the key), each voice id with ``created`` (how many clone requests created
        it), ``clone_requests``, ``exists`` and ``activated``, and the files.
        """
        return emulator_state(
            accounts=list(self._world.accounts.values()),
            stats=self.stats,
            rpm=self.rpm,
            burst=self.burst,
            latency=self.latency,
            faults=self.faults,
            uptime=self.uptime,
        )

    @property
    def uptime(self) -> float:
        """Seconds from `start` to now, or to `close` once closed."""
        if self._started is None:
            return 0.0
        return (self._stopped or time.monotonic()) - self._started

    def summary(self) -> str:
        """`state` in one line: what the emulator prints on stderr when it stops."""
        return summary_line(self.state())

    # -- request path ----------------------------------------------------------------

    def _api_handler(self, endpoint: str, handler: Handler) -> Callable[[web.Request], Any]:
        async def handle(request: web.Request) -> web.StreamResponse:
            trace_id = new_trace_id()
            self.stats.requests[endpoint] += 1
            try:
                body = await read_body(request)
            except ConnectionError:
                # The client went away mid-body; nobody is left to answer.
                logger.info("%s trace=%s client disconnected while sending", endpoint, trace_id)
                return web.Response(status=400)
            try:
                response = await self._serve(request, endpoint, handler, body, trace_id)
            finally:
                body.close()
            response.headers.setdefault("Trace-Id", trace_id)
            return response

        return handle

    async def _serve(
        self, request: web.Request, endpoint: str, handler: Handler, body: Body, trace_id: str
    ) -> web.StreamResponse:
        voice_id = parse_clone_voice_id(body.json)  # read once: faults and counters use it
        try:
            fault = self._picker.pick(endpoint, request.headers.get(FAULT_HEADER), voice_id)
        except ValueError as exc:
            self._record(request, endpoint, body, trace_id, None)
            return self._count(web.Response(status=400, text=f"{FAULT_HEADER}: {exc}\n"))
        self._record(request, endpoint, body, trace_id, fault)
        if fault is not None:
            self.stats.faults[fault.kind] += 1
            logger.info("%s trace=%s fault=%s", endpoint, trace_id, fault.kind)
        delay = self.latency + (fault.seconds if fault and fault.kind == "latency" else 0.0)
        if delay > 0:
            await asyncio.sleep(delay)
        if fault is not None and not fault.processes:
            return self._fault_answer(request, endpoint, fault)
        payload = self._process(request, endpoint, handler, body, voice_id)
        if fault is not None and fault.kind == "slow":
            await asyncio.sleep(fault.seconds)
        speech = body.json if isinstance(body.json, dict) else {}
        streamed = (
            endpoint == "t2a_v2"
            and speech.get("stream") is True
            and payload["base_resp"]["status_code"] == 0
        )
        cut = fault.events if fault is not None and fault.kind == "cut_stream" else None
        if (fault is not None and fault.kind == "drop_after") or (cut is not None and not streamed):
            return self._drop(request, endpoint)  # a cut of an answer not streamed drops it
        if "trace_id" in payload:  # speech answers name it in the body too
            payload["trace_id"] = trace_id
        if streamed:
            return await self._stream(request, payload, speech, cut)
        return self._json(endpoint, payload)

    async def _stream(
        self,
        request: web.Request,
        payload: dict[str, Any],
        speech: dict[str, Any],
        cut: int | None = None,
    ) -> web.StreamResponse:
        """A synthesis answered as server-sent events, one audio chunk per event.

        With ``cut``, the connection is closed after that many events.
        """
        options = speech.get("stream_options")
        excluded = isinstance(options, dict) and options.get("exclude_aggregated_audio") is True
        headers = {"Content-Type": "text/event-stream", "Trace-Id": payload["trace_id"]}
        response = web.StreamResponse(headers=headers)  # sent now: the trace id too
        await response.prepare(request)
        for sent, event in enumerate(stream_events(payload, aggregated=not excluded)):
            if sent == cut:
                self._drop(request, "t2a_v2")
                return response
            await response.write(event)
        await response.write_eof()
        self.stats.status_codes[0] += 1
        self.stats.http_statuses[200] += 1
        return response

    def _process(
        self,
        request: web.Request,
        endpoint: str,
        handler: Handler,
        body: Body,
        voice_id: str | None,
    ) -> dict[str, Any]:
        try:
            account = self._authenticate(request)
            expire_voices(self._world, self._world.now())
            if endpoint == "voice_clone":
                if voice_id is not None:
                    account.clone_requests[voice_id] += 1
                bucket = self._buckets.get(account.api_key)
                if bucket is not None and not bucket.take():
                    self.stats.rate_limited += 1
                    raise ApiError(1002)
            elif endpoint == "t2a_v2":
                self._take_speech(account, body)
            call = Call(
                account=account,
                body=body,
                query=request.query,
                origin=f"{request.scheme}://{request.host}",
                now=self._world.now(),
            )
            payload = handler(self._world, call)
        except ApiError as err:
            return _base_resp(err)
        payload.update(_base_resp(None))
        return payload

    def _take_speech(self, account: Account, body: Body) -> None:
        """The speech limits: requests per minute (1002), then characters (1039)."""
        bucket = self._speech_buckets.get(account.api_key)
        if bucket is not None and not bucket.take():
            self.stats.rate_limited += 1
            raise ApiError(1002)
        characters = self._character_buckets.get(account.api_key)
        text = body.json.get("text") if isinstance(body.json, dict) else None
        if characters is not None and isinstance(text, str) and not characters.take(len(text)):
            self.stats.rate_limited += 1
            raise ApiError(1039)

    def _authenticate(self, request: web.Request) -> Account:
        scheme, _, key = request.headers.get("Authorization", "").strip().partition(" ")
        key = key.strip()
        if scheme.lower() != "bearer" or not key:
            raise ApiError(1004)
        account = self._world.accounts.get(key)
        if account is None:
            raise ApiError(2049)
        return account

    def _record(
        self,
        request: web.Request,
        endpoint: str,
        body: Body,
        trace_id: str,
        fault: Fault | None,
    ) -> None:
        headers = {k: v for k, v in request.headers.items() if k.lower() != "authorization"}
        self._history.append(
            RecordedRequest(
                endpoint=endpoint,
                method=request.method,
                path=request.path,
                query=dict(request.query),
                headers=headers,
                json=body.json,
                form=body.summary(),
                trace_id=trace_id,
                fault=fault.kind if fault else None,
            )
        )

    # -- answers ---------------------------------------------------------------------

    def _count(self, response: web.Response) -> web.Response:
        self.stats.http_statuses[response.status] += 1
        return response

    def _json(self, endpoint: str, payload: dict[str, Any]) -> web.Response:
        code = payload["base_resp"]["status_code"]
        self.stats.status_codes[code] += 1
        logger.info("%s -> %s", endpoint, code)
        return self._count(web.json_response(payload))

    def _fault_answer(self, request: web.Request, endpoint: str, fault: Fault) -> web.Response:
        if fault.kind in ("status", "rate_limit"):
            return self._json(endpoint, _base_resp(ApiError(fault.code, fault.msg)))
        if fault.kind == "drop_before":
            return self._drop(request, endpoint)
        response = web.Response(status=fault.http_status, body=fault.body)
        # Set verbatim: fuzzing may want content types aiohttp would refuse to build.
        response.headers["Content-Type"] = fault.content_type
        for name, value in fault.headers:
            response.headers[name] = value
        return self._count(response)

    def _drop(self, request: web.Request, endpoint: str) -> web.Response:
        transport = request.transport
        if transport is not None:
            transport.close()
        self.stats.dropped += 1
        logger.info("%s -> connection dropped", endpoint)
        # Nothing reaches the client: aiohttp discards writes to a closed transport.
        return web.Response(status=500)

    async def _preview(self, request: web.Request) -> web.StreamResponse:
        self.stats.requests["previews"] += 1
        preview = self._world.previews.get(request.match_info["token"])
        if preview is None:
            return self._count(web.Response(status=404, text="preview not found\n"))
        return self._count(web.Response(body=_render(preview), content_type="audio/wav"))

    async def _speech_download(self, request: web.Request) -> web.StreamResponse:
        self.stats.requests["speech downloads"] += 1
        token = request.match_info["name"].rpartition(".")[0]
        found = self._world.speech_downloads.get(token)
        if found is None:
            return self._count(web.Response(status=404, text="speech not found\n"))
        data, content_type = found
        return self._count(web.Response(body=data, content_type=content_type))

    async def _advance(self, request: web.Request) -> web.StreamResponse:
        # A test control, like the state: not an API request, not counted.
        try:
            body = await request.json()
            self.advance(body["seconds"])
        except (ValueError, KeyError, TypeError) as exc:
            text = str(exc) if isinstance(exc, ValueError) else 'send {"seconds": N}'
            return web.json_response({"error": text}, status=400)
        return web.json_response({"now": self._world.now()})

    async def _state(self, request: web.Request) -> web.StreamResponse:
        # Not an API request: not counted, so reading the state never changes it.
        return web.json_response(self.state())

    async def _download(self, request: web.Request) -> web.StreamResponse:
        # File contents are never kept, only their size and digest.
        return self._count(
            web.Response(status=410, text="the emulator does not keep uploaded file contents\n")
        )


@functools.lru_cache(maxsize=64)
def _render(preview: Preview) -> bytes:
    """A preview's audio, rendered once however often it is downloaded."""
    return make_wav(
        preview.seconds,
        pitch_hz=preview.pitch_hz,
        sample_rate=PREVIEW_SAMPLE_RATE,
        seed=preview.seed,
    )


async def _add_trace_id(request: web.Request, response: web.StreamResponse) -> None:
    # API answers carry the id they were logged and recorded under; the rest get a fresh one.
    response.headers.setdefault("Trace-Id", new_trace_id())


def _base_resp(error: ApiError | None) -> dict[str, Any]:
    """The ``base_resp`` part of an answer: success, or ``error``."""
    if error is None:
        return {"base_resp": {"status_code": 0, "status_msg": "success"}}
    return {"base_resp": {"status_code": error.code, "status_msg": error.msg}}

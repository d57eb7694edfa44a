"""OpenTelemetry traces and metrics, when ``opentelemetry-api`` is installed.

Each call (upload, clone, list, delete, download) is a span; each attempt a child
span carrying the HTTP status, MiniMax's status code, the trace id, the attempt
number and the voice id, with the time spent waiting at the rate gate as an
event. Four instruments count what a dashboard wants: requests by status code,
rate-limit answers, retries, and gate wait time.

Metadata only, as in the logs: never the key, a header, a body, a file name or
the text of a server message. Without ``opentelemetry-api`` (the ``otel`` extra)
`telemetry` returns ``None`` and the client does nothing at all; with it but
neither a tracer provider nor a meter provider set up, `Telemetry.active` is
false and the client records nothing. Either provider alone is enough for its
half: a meter provider alone (a Prometheus exporter, say) gets the metrics.

Metric labels take bounded values, so that no server can make a time series per
value it sends: MiniMax's documented codes (else ``"other"``), the usual HTTP
statuses (else their class, ``"4xx"``), the SDK's own error class names. Span
attributes, one per attempt, keep the exact codes.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Final

from ._errors import RATE_LIMIT_CODES, STATUS_ERRORS
from ._request import PREVIEW_PATH
from ._version import __version__

if TYPE_CHECKING:
    from opentelemetry.trace import Span

__all__ = ["SILENT", "Silent", "Telemetry", "telemetry"]

#: The instrumentation scope, as OpenTelemetry names a library's tracer and meter.
SCOPE: Final = "voiceclone"
#: What each endpoint's call span is called.
OPERATIONS: Final = {
    "/files/upload": "upload_file",
    "/voice_clone": "clone",
    "/get_voice": "list_voices",
    "/delete_voice": "delete_voice",
    PREVIEW_PATH: "download_demo",
}


_UNKNOWN: Final = object()

#: HTTP statuses a metric counts as themselves: what MiniMax and gateways answer.
#: Any other is counted by its class ("4xx"), or as "other" outside 100-599.
COUNTED_HTTP_STATUSES: Final = frozenset(
    {200, 400, 401, 403, 404, 408, 413, 429, 500, 502, 503, 504}
)


def code_label(code: int) -> int | str:
    """A MiniMax status code as a metric label: 0 and the documented codes, else "other"."""
    return code if code == 0 or code in STATUS_ERRORS else "other"


def http_label(status: int) -> int | str:
    """An HTTP status as a metric label (see `COUNTED_HTTP_STATUSES`)."""
    if status in COUNTED_HTTP_STATUSES:
        return status
    return f"{status // 100}xx" if 100 <= status <= 599 else "other"


class Telemetry:
    """The tracer and instruments of one client."""

    def __init__(self) -> None:
        from opentelemetry import metrics, trace

        self._trace = trace
        self._unset = (trace.ProxyTracerProvider, trace.NoOpTracerProvider)
        self._metrics = metrics
        try:  # where set_meter_provider keeps it (no public way to ask cheaply)
            self._metrics_state: Any = importlib.import_module("opentelemetry.metrics._internal")
        except ImportError:  # pragma: no cover - an API laid out otherwise
            self._metrics_state = None
        self._tracer = trace.get_tracer(SCOPE, __version__)
        meter = metrics.get_meter(SCOPE, __version__)
        self._requests = meter.create_counter(
            "voiceclone.requests", unit="{request}", description="Attempts sent, by answer"
        )
        self._rate_limited = meter.create_counter(
            "voiceclone.rate_limited", unit="{answer}", description="Rate-limit answers"
        )
        self._retries = meter.create_counter(
            "voiceclone.retries", unit="{retry}", description="Retries, by cause"
        )
        self._gate_wait = meter.create_histogram(
            "voiceclone.gate.wait", unit="s", description="Time spent waiting at the rate gate"
        )
        self._account_refused = meter.create_counter(
            "voiceclone.account.refused",
            unit="{opening}",
            description="Times the account breaker opened, by status code",
        )

    @property
    def active(self) -> bool:
        """Whether an OpenTelemetry SDK is set up to receive spans or metrics.

        Until one is, even OpenTelemetry's no-op spans and instruments cost tens of
        microseconds a request: an SDK that installs the API for another library's
        sake must not slow every clone down.
        """
        return self._tracing() or self._metering()

    def _tracing(self) -> bool:
        # The module global, not get_tracer_provider(): that reads os.environ on every
        # call until a provider is set, which costs more than the rest of this check.
        provider = getattr(self._trace, "_TRACER_PROVIDER", _UNKNOWN)
        if provider is _UNKNOWN:  # an API without that global: ask it the slow way
            provider = self._trace.get_tracer_provider()
        return provider is not None and not isinstance(provider, self._unset)

    def _metering(self) -> bool:
        # As for traces: the global set_meter_provider sets, else the slow way (a
        # proxy provider until one is set).
        provider = getattr(self._metrics_state, "_METER_PROVIDER", _UNKNOWN)
        if provider is _UNKNOWN:
            provider = self._metrics.get_meter_provider()
            if type(provider).__name__ == "_ProxyMeterProvider":
                return False
        return provider is not None and not isinstance(provider, self._metrics.NoOpMeterProvider)

    def call(
        self, method: str, path: str, voice_id: str | None
    ) -> contextlib.AbstractContextManager[None]:
        """The span of one call, around all its attempts."""
        attributes: dict[str, Any] = {"http.request.method": method, "url.path": path}
        return self._span(f"voiceclone.{OPERATIONS.get(path, path)}", attributes, voice_id)

    def attempt(
        self, method: str, path: str, attempt: int, voice_id: str | None
    ) -> contextlib.AbstractContextManager[None]:
        """The span of one attempt, a child of its call's."""
        attributes: dict[str, Any] = {
            "http.request.method": method,
            "url.path": path,
            "voiceclone.attempt": attempt,
        }
        return self._span(f"{method} {path}", attributes, voice_id)

    @contextlib.contextmanager
    def _span(self, name: str, attributes: dict[str, Any], voice_id: str | None) -> Iterator[None]:
        if voice_id is not None:
            attributes["voiceclone.voice_id"] = voice_id
        with self._tracer.start_as_current_span(
            name, kind=self._trace.SpanKind.CLIENT, attributes=attributes,
            record_exception=False, set_status_on_exception=False,
        ) as span:  # fmt: skip
            try:
                yield
            except BaseException as exc:
                _fail(span, exc)
                raise

    def gate_waited(self, seconds: float) -> None:
        self._trace.get_current_span().add_event(
            "voiceclone.gate.wait", {"voiceclone.gate.wait_seconds": seconds}
        )
        self._gate_wait.record(seconds)

    def answered(
        self, path: str, http_status: int | None, status_code: int | None, trace_id: str | None
    ) -> None:
        # The answer's codes: attributes of the attempt's span (exact), and labels of
        # its count (bounded).
        codes: dict[str, Any] = {}
        labels: dict[str, Any] = {"url.path": path}
        if http_status is not None:
            codes["http.response.status_code"] = http_status
            labels["http.response.status_code"] = http_label(http_status)
        if status_code is not None:
            codes["minimax.status_code"] = status_code
            labels["minimax.status_code"] = code_label(status_code)
        span = self._trace.get_current_span()
        span.set_attributes(codes)
        if trace_id is not None:
            span.set_attribute("minimax.trace_id", trace_id)
        self._requests.add(1, labels)
        if status_code in RATE_LIMIT_CODES or http_status == 429:
            self._rate_limited.add(1, {"url.path": path})

    def retried(self, path: str, error: BaseException) -> None:
        self._retries.add(1, {"url.path": path, "error.type": type(error).__name__})

    def account_refused(self, status_code: int | None) -> None:
        """The account breaker opened on this attempt's answer."""
        code: dict[str, Any] = {"minimax.status_code": code_label(status_code or 0)}
        self._trace.get_current_span().add_event("voiceclone.account.refused", code)
        self._account_refused.add(1, code)


class Silent:
    """`Telemetry` while nothing receives it: the same calls, recording nothing.

    The client calls one or the other without asking which, so the request path
    carries no telemetry branches of its own.
    """

    active: Final = False

    def call(
        self, method: str, path: str, voice_id: str | None
    ) -> contextlib.AbstractContextManager[None]:
        return _NO_SPAN

    def attempt(
        self, method: str, path: str, attempt: int, voice_id: str | None
    ) -> contextlib.AbstractContextManager[None]:
        return _NO_SPAN

    def gate_waited(self, seconds: float) -> None:
        pass

    def answered(
        self, path: str, http_status: int | None, status_code: int | None, trace_id: str | None
    ) -> None:
        pass

    def retried(self, path: str, error: BaseException) -> None:
        pass

    def account_refused(self, status_code: int | None) -> None:
        pass


_NO_SPAN: Final = contextlib.nullcontext()
SILENT: Final = Silent()


def _fail(span: Span, exc: BaseException) -> None:
    # The class name only: a message may quote the server, and a traceback is not metadata.
    from opentelemetry.trace import Status, StatusCode

    span.set_attribute("error.type", type(exc).__name__)
    span.set_status(Status(StatusCode.ERROR, type(exc).__name__))


def telemetry() -> Telemetry | None:
    """The client's telemetry, or ``None`` when ``opentelemetry-api`` is not installed."""
    try:
        if importlib.util.find_spec("opentelemetry") is None:
            return None
        return Telemetry()
    except (ImportError, ValueError):  # blocked, or a namespace package without the API
        return None

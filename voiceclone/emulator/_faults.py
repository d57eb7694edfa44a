"""Faults the emulator can inject: what each one does, and how one is picked per request."""

from __future__ import annotations

import math
import random
from collections import deque
from collections.abc import Iterable, Mapping
from typing import Final

import attrs

__all__ = [
    "ENDPOINTS",
    "FAULT_HEADER",
    "MAX_DELAY",
    "Fault",
    "FaultPicker",
    "Faults",
    "check_delay",
]

#: Names of the API endpoints, as used by :meth:`Emulator.inject` and :class:`Faults`.
ENDPOINTS: tuple[str, ...] = (
    "voice_clone",
    "files/upload",
    "get_voice",
    "delete_voice",
    "t2a_v2",
    "files/list",
    "files/retrieve",
    "files/delete",
)

#: Request header that asks for a fault on that one request, e.g. ``status:1002``.
FAULT_HEADER = "X-Emulator-Fault"

#: The longest delay an answer can be given (a fault's, or the emulator's latency):
#: longer than any timeout a client is tested with. A request held longer (say
#: ``latency:inf`` in a header) would hang a test, and hold a connection, forever.
MAX_DELAY: Final = 600.0


def check_delay(name: str, seconds: float) -> float:
    """``seconds`` as a delay, or `ValueError` naming ``name``."""
    if not (isinstance(seconds, (int, float)) and math.isfinite(seconds)):
        raise ValueError(f"{name} must be a finite number of seconds, got {seconds!r}")
    if not 0 <= seconds <= MAX_DELAY:
        raise ValueError(f"{name} must be between 0 and {MAX_DELAY:.0f} seconds, got {seconds}")
    return float(seconds)


# Fault kinds after which the request is still carried out as usual.
_PROCESSING_KINDS = frozenset({"latency", "slow", "drop_after", "cut_stream"})


@attrs.frozen
class Fault:
    """One misbehaviour applied to one request. Build it with the classmethods.

    Attributes:
        kind: ``latency``, ``slow``, ``http``, ``drop_before``, ``drop_after``,
            ``garbage``, ``status``, ``respond``, ``rate_limit`` or ``cut_stream``.
        seconds: Delay for ``latency`` and ``slow``.
        http_status: HTTP status for ``http`` and ``respond``.
        code: ``base_resp.status_code`` for ``status``.
        msg: ``base_resp.status_msg`` for ``status`` (``None``: the usual message).
        body: Raw answer body for ``http`` and ``respond``.
        content_type: Content type of ``body``.
        headers: Extra answer headers for ``respond``.
        events: Server-sent events sent before the cut, for ``cut_stream``.
    """

    kind: str
    seconds: float = attrs.field(default=0.0, validator=lambda _, a, v: check_delay(a.name, v))
    http_status: int = 200
    code: int = 0
    msg: str | None = None
    body: bytes = b""
    content_type: str = "application/json"
    headers: tuple[tuple[str, str], ...] = ()
    events: int = 0

    @property
    def processes(self) -> bool:
        """Whether the request is carried out (voice created, file stored) under this fault."""
        return self.kind in _PROCESSING_KINDS

    @classmethod
    def latency(cls, seconds: float) -> Fault:
        """Wait ``seconds`` (up to `MAX_DELAY`), then handle the request normally."""
        return cls("latency", seconds=check_delay("latency", seconds))

    @classmethod
    def slow(cls, seconds: float) -> Fault:
        """Handle the request (the voice is created), then wait ``seconds`` before answering.

        A client that times out meanwhile never learns that its request succeeded.
        ``seconds`` is at most `MAX_DELAY`.
        """
        return cls("slow", seconds=check_delay("slow", seconds))

    @classmethod
    def http(
        cls,
        status: int = 502,
        body: bytes | str = "<html>502 Bad Gateway</html>",
        content_type: str = "text/html",
    ) -> Fault:
        """Answer with a gateway-style HTTP error; the request is not handled."""
        return cls("http", http_status=status, body=_as_bytes(body), content_type=content_type)

    @classmethod
    def drop_before(cls) -> Fault:
        """Close the connection without answering; the request is not handled."""
        return cls("drop_before")

    @classmethod
    def drop_after(cls) -> Fault:
        """Handle the request fully (voice created, file stored), then close without answering."""
        return cls("drop_after")

    @classmethod
    def cut_stream(cls, events: int) -> Fault:
        """Handle a streamed request, send ``events`` of its events, then close the connection.

        An answer that is not streamed is dropped whole, as by `drop_after`.
        """
        if isinstance(events, bool) or not isinstance(events, int) or events < 0:
            raise ValueError("events must be an int >= 0")
        return cls("cut_stream", events=events)

    @classmethod
    def garbage(cls) -> Fault:
        """Answer HTTP 200 ``application/json`` with a body that is not JSON; not handled."""
        return cls("garbage", body=b'{"base_resp":{"status_code":0,"status_msg":"succ')

    @classmethod
    def status(cls, code: int, msg: str | None = None) -> Fault:
        """Answer HTTP 200 with ``base_resp.status_code = code``; the request is not handled."""
        return cls("status", code=code, msg=msg)

    @classmethod
    def rate_limit(cls) -> Fault:
        """Answer ``1002 rate limit exceeded(RPM)`` as the real limiter would; not handled."""
        return cls("rate_limit", code=1002, msg="rate limit exceeded(RPM)")

    @classmethod
    def respond(
        cls,
        body: bytes | str,
        *,
        status: int = 200,
        content_type: str = "application/json",
        headers: Mapping[str, str] | None = None,
    ) -> Fault:
        """Answer with exactly this body, status and headers (for fuzzing); not handled."""
        return cls(
            "respond",
            http_status=status,
            body=_as_bytes(body),
            content_type=content_type,
            headers=tuple((headers or {}).items()),
        )

    @classmethod
    def parse(cls, spec: str) -> Fault:
        """Parse the ``X-Emulator-Fault`` header syntax, ``<kind>[:<arg>]``.

        ``latency:0.2``, ``slow:5``, ``http:503``, ``drop_before``, ``drop_after``,
        ``garbage``, ``rate_limit``, ``status:1002``, ``status:1002:custom message`` or
        ``cut_stream:3``.

        Raises:
            ValueError: unknown kind or bad argument.
        """
        kind, _, arg = spec.strip().partition(":")
        kind = kind.strip()
        try:
            if kind in ("latency", "slow"):
                return cls.latency(float(arg)) if kind == "latency" else cls.slow(float(arg))
            if kind == "http":
                return cls.http(int(arg) if arg else 502)
            if kind == "status":
                code, _, msg = arg.partition(":")
                return cls.status(int(code), msg or None)
            if kind == "cut_stream":
                return cls.cut_stream(int(arg))
        except ValueError as exc:
            raise ValueError(f"bad argument in fault {spec!r}: {exc}") from None
        simple = {
            "drop_before": cls.drop_before,
            "drop_after": cls.drop_after,
            "garbage": cls.garbage,
            "rate_limit": cls.rate_limit,
        }
        if kind in simple and not arg:
            return simple[kind]()
        raise ValueError(f"unknown fault {spec!r}")


def _as_bytes(body: bytes | str) -> bytes:
    return body.encode() if isinstance(body, str) else body


def _endpoint_tuple(value: Iterable[str]) -> tuple[str, ...]:
    return (value,) if isinstance(value, str) else tuple(value)


def _probability(_: object, attribute: attrs.Attribute[float], value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{attribute.name} must be a probability in [0, 1], got {value!r}")


@attrs.frozen
class Faults:
    """Random fault rates, drawn per request from ``random.Random(seed)``.

    Each request to one of ``endpoints`` draws exactly one number, so a run with the
    same seed and the same sequence of requests meets the same faults.
    ``http_5xx`` answers 502 or 503; ``rate_limit`` answers 1002 without touching the
    real token bucket; ``slow`` delays ``slow_seconds`` after handling the request.
    """

    http_5xx: float = attrs.field(default=0.0, validator=_probability)
    drop_before: float = attrs.field(default=0.0, validator=_probability)
    drop_after: float = attrs.field(default=0.0, validator=_probability)
    garbage: float = attrs.field(default=0.0, validator=_probability)
    slow: float = attrs.field(default=0.0, validator=_probability)
    slow_seconds: float = attrs.field(default=5.0, validator=lambda _, a, v: check_delay(a.name, v))
    rate_limit: float = attrs.field(default=0.0, validator=_probability)
    seed: int = 0
    endpoints: tuple[str, ...] = attrs.field(
        default=("voice_clone", "files/upload"), converter=_endpoint_tuple
    )

    def __attrs_post_init__(self) -> None:
        if self.total > 1.0 + 1e-9:
            raise ValueError("fault probabilities add up to more than 1")
        unknown = set(self.endpoints) - set(ENDPOINTS) - {"*"}
        if unknown:
            raise ValueError(f"unknown endpoints: {sorted(unknown)}")

    @property
    def total(self) -> float:
        """Probability that a request meets some fault."""
        return float(sum(getattr(self, field) for field in _RANDOM_KINDS))

    def applies_to(self, endpoint: str) -> bool:
        """Whether requests to ``endpoint`` draw random faults."""
        return "*" in self.endpoints or endpoint in self.endpoints

    def draw(self, rng: random.Random) -> Fault | None:
        """Draw the fault (or none) for one request."""
        u = rng.random()
        for field in _RANDOM_KINDS:
            rate = getattr(self, field)
            if u < rate:
                if field == "http_5xx":
                    return Fault.http(rng.choice((502, 503)))
                if field == "slow":
                    return Fault.slow(self.slow_seconds)
                return Fault.parse(field)  # the field is named as the fault kind
            u -= rate
        return None


#: The probability fields of `Faults`, in the order a draw walks them (part of the
#: seeded schedule: reordering them changes which request meets which fault).
_RANDOM_KINDS: Final = ("http_5xx", "drop_before", "drop_after", "garbage", "slow", "rate_limit")


class FaultPicker:
    """Chooses the fault for each request: header first, then the queue, then chance."""

    def __init__(self, faults: Faults | None) -> None:
        self.faults = faults
        self._rng = random.Random(faults.seed if faults else 0)
        # Each queued fault may be aimed at one voice id (None: the next request).
        self._queues: dict[str, deque[tuple[Fault, str | None]]] = {}

    def inject(self, fault: Fault, endpoint: str, times: int, voice_id: str | None = None) -> None:
        """Queue ``fault`` for the next ``times`` requests to ``endpoint`` (or ``"*"``)."""
        if endpoint != "*" and endpoint not in ENDPOINTS:
            raise ValueError(f"unknown endpoint {endpoint!r}; expected one of {ENDPOINTS} or '*'")
        if times < 0:
            raise ValueError("times must be >= 0")
        self._queues.setdefault(endpoint, deque()).extend([(fault, voice_id)] * times)

    def clear(self) -> None:
        """Drop every queued fault."""
        self._queues.clear()

    def pending(self, endpoint: str = "*") -> int:
        """How many queued faults wait for ``endpoint`` (``"*"``: the wildcard queue)."""
        return len(self._queues.get(endpoint, ()))

    def pick(self, endpoint: str, header: str | None, voice_id: str | None = None) -> Fault | None:
        """The fault for one request to ``endpoint``, consuming a queued one if used.

        A queued fault aimed at a voice id waits for a request naming that voice.

        Raises:
            ValueError: the fault header is malformed.
        """
        # Draw for every eligible request, used or not, so that the random stream is
        # indexed by request count and a replay meets the same faults.
        drawn = None
        if self.faults is not None and self.faults.applies_to(endpoint):
            drawn = self.faults.draw(self._rng)
        if header is not None:
            return Fault.parse(header)
        for name in (endpoint, "*"):
            queue = self._queues.get(name, deque())
            for position, (fault, target) in enumerate(queue):
                if target is None or target == voice_id:
                    del queue[position]
                    return fault
        return drawn

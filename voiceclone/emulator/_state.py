"""What the emulator remembers: accounts with their files and voices, counters, the rate limit."""

from __future__ import annotations

import collections
import secrets
import time
from collections.abc import Callable, Mapping
from typing import Any

import attrs

from voiceclone._audio import AudioInfo
from voiceclone.emulator._body import Body

__all__ = [
    "Account",
    "Call",
    "Clock",
    "EmulatorStats",
    "Preview",
    "RecordedRequest",
    "StoredFile",
    "StoredVoice",
    "TokenBucket",
    "World",
    "new_trace_id",
]

Clock = Callable[[], float]


@attrs.frozen
class StoredFile:
    """An uploaded file. Only its size, probe result and digest are kept, never the bytes."""

    file_id: int
    filename: str
    purpose: str
    bytes: int
    created_at: int
    sha256: str
    audio: AudioInfo | None
    content_type: str | None = None


@attrs.define
class StoredVoice:
    """A cloned voice. ``activated`` turns true once it has been used for speech."""

    voice_id: str
    file_id: int
    created_at: int
    preview_url: str
    activated: bool = False
    #: When its first synthesis made it permanent (the emulator's clock, Unix seconds).
    activated_at: int | None = None
    prompt_file_id: int | None = None
    text: str | None = None
    model: str | None = None
    input_sensitive_type: int = 0

    @property
    def created_time(self) -> str:
        """Creation date as the API prints it, ``yyyy-mm-dd`` (UTC)."""
        return time.strftime("%Y-%m-%d", time.gmtime(self.created_at))


@attrs.define
class Account:
    """Everything one API key owns.

    Attributes:
        files: Uploaded files by id.
        voices: Cloned voices by id.
        clone_successes: voice_id -> how many times a clone request created it.
        clone_requests: voice_id -> how many clone requests reached the account (after
            authentication; requests that a fault answered are not counted).
        expired: voice ids deleted because no synthesis used them within 7 days.
        characters_billed: characters of text synthesized (``usage_characters``).
    """

    api_key: str = attrs.field(repr=False)
    files: dict[int, StoredFile] = attrs.field(factory=dict)
    voices: dict[str, StoredVoice] = attrs.field(factory=dict)
    clone_successes: collections.Counter[str] = attrs.field(factory=collections.Counter)
    clone_requests: collections.Counter[str] = attrs.field(factory=collections.Counter)
    expired: set[str] = attrs.field(factory=set)
    characters_billed: int = 0


@attrs.define
class EmulatorStats:
    """Counters over everything the emulator answered.

    Attributes:
        requests: Requests per endpoint name (previews count as ``"previews"``).
        status_codes: Answers per ``base_resp.status_code``.
        http_statuses: Answers per HTTP status (dropped connections are not answers).
        faults: Faults applied per kind.
        rate_limited: Clone requests refused by the token bucket.
        dropped: Connections closed without an answer.
    """

    requests: collections.Counter[str] = attrs.field(factory=collections.Counter)
    status_codes: collections.Counter[int] = attrs.field(factory=collections.Counter)
    http_statuses: collections.Counter[int] = attrs.field(factory=collections.Counter)
    faults: collections.Counter[str] = attrs.field(factory=collections.Counter)
    rate_limited: int = 0
    dropped: int = 0


@attrs.frozen
class RecordedRequest:
    """One API request as received, without credentials or file contents.

    Attributes:
        endpoint: Endpoint name, e.g. ``"voice_clone"``.
        method: HTTP method.
        path: URL path.
        query: Query parameters.
        headers: Request headers, ``Authorization`` removed.
        json: Parsed JSON body, if the body was JSON.
        form: Multipart fields: text fields map to their value, file fields to a dict
            with ``filename``, ``size`` and ``content_type``.
        trace_id: The ``Trace-Id`` of the answer.
        fault: Kind of the fault applied, if any.
    """

    endpoint: str
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    json: Any
    form: dict[str, Any] | None
    trace_id: str
    fault: str | None = None


@attrs.frozen
class Preview:
    """Parameters of a generated preview clip, rendered when it is downloaded."""

    seconds: float
    pitch_hz: float
    seed: int


class TokenBucket:
    """Classic token bucket: ``rate`` tokens per second, at most ``capacity``, starts full."""

    def __init__(self, rate: float, capacity: int, clock: Clock = time.monotonic) -> None:
        self.rate = rate
        self.capacity = capacity
        self._clock = clock
        self._tokens = float(capacity)
        self._stamp = clock()

    def take(self, amount: float = 1.0) -> bool:
        """Take ``amount`` tokens if there are that many."""
        now = self._clock()
        elapsed = max(0.0, now - self._stamp)
        self._stamp = now
        self._tokens = min(float(self.capacity), self._tokens + elapsed * self.rate)
        if self._tokens >= amount:
            self._tokens -= amount
            return True
        return False


def new_trace_id() -> str:
    """A fresh hex trace id, like the ones MiniMax sends."""
    return secrets.token_hex(16)


class World:
    """All accounts plus what is shared between them: file ids and preview clips."""

    def __init__(self, api_keys: list[str], *, file_ids_as_strings: bool = False) -> None:
        self.accounts: dict[str, Account] = {key: Account(api_key=key) for key in api_keys}
        self.previews: dict[str, Preview] = {}
        #: Speech rendered for ``output_format="url"``: token -> (bytes, content type).
        self.speech_downloads: dict[str, tuple[bytes, str]] = {}
        #: Seconds the emulator's calendar runs ahead of the wall clock (`Emulator.advance`).
        self.offset = 0.0
        self.file_ids_as_strings = file_ids_as_strings
        # Ids far above 2**53 catch clients that parse JSON numbers through a float.
        self._next_file_id = 2**60 + secrets.randbelow(2**40)

    def now(self) -> int:
        """The emulator's calendar: Unix seconds, plus what `Emulator.advance` added."""
        return int(time.time() + self.offset)

    def new_file_id(self) -> int:
        """A fresh, never reused file id."""
        self._next_file_id += 1 + secrets.randbelow(1000)
        return self._next_file_id

    def wire_id(self, file_id: int) -> int | str:
        """A file id as sent in answers: an int, or a numeric string in string-id mode."""
        return str(file_id) if self.file_ids_as_strings else file_id


@attrs.frozen
class Call:
    """One authenticated API request, as handed to an endpoint handler."""

    account: Account
    body: Body
    query: Mapping[str, str]
    origin: str  # scheme://host:port the client used, for absolute URLs in answers
    now: int  # the emulator's calendar, Unix seconds (see World.now)

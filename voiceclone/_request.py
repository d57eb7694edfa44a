"""A request, built once per call and passed down every layer.

`Request` is everything a call sends and how its answer is read: its endpoint
(a path under the API's base URL, or, for a preview download, an absolute URL
that gets no key), its body, whether it passes the rate gate, and the reader that
turns the answer into the call's value. An upload's body is a `UploadPart`,
re-opened on every attempt (aiohttp closes a file object once it is sent) and
checked again when it is: the file could have been swapped since it was validated.
"""

from __future__ import annotations

import asyncio
import os
import stat
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import IO, Final, Generic, NamedTuple, Protocol, TypeVar

import attrs

from ._errors import ValidationError
from ._validate import MAX_UPLOAD_BYTES

__all__ = [
    "MAX_BODY_BYTES",
    "PREVIEW_PATH",
    "SPEECH_LINK",
    "Answer",
    "Events",
    "Request",
    "UploadPart",
]

#: Answers larger than this, once decoded, are not MiniMax JSON or a preview clip:
#: stop reading instead of buffering them (a 1 MB gzip body can inflate to 1 GiB).
#: Speech answers, which carry the audio, have a limit of their own (`_speech`).
MAX_BODY_BYTES: Final = 16 * 1024 * 1024
#: What logs, events and errors call a preview download, whose URL is not under base_url.
PREVIEW_PATH: Final = "/<demo_audio>"
#: What they call the download of speech asked with ``output_format="url"``.
SPEECH_LINK: Final = "/<t2a_v2 audio url>"


def _open_regular_file(path: Path) -> IO[bytes]:
    """Open ``path`` for reading if it is still a regular file within the upload limit.

    ``O_NONBLOCK`` keeps the open from waiting for a writer when the path is now a
    FIFO; the checks run on the opened descriptor, so they judge what is read.
    """
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:  # moved or deleted while a retry waited
        raise ValidationError("file", f"cannot be opened: {exc.strerror}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise ValidationError("file", "is no longer a regular file")
        if info.st_size > MAX_UPLOAD_BYTES:
            raise ValidationError(
                "file", f"is now {info.st_size} bytes; the limit is 20 MB ({MAX_UPLOAD_BYTES})"
            )
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def _close_when_opened(opening: asyncio.Future[IO[bytes]]) -> None:
    if not opening.cancelled() and opening.exception() is None:
        opening.result().close()


async def _open_in_thread(path: Path) -> IO[bytes]:
    """`_open_regular_file` in a thread: opening on a slow disk must not stall the loop.

    A caller cancelled while the thread runs never gets the file: it is closed as
    soon as the thread returns it, so a cancelled upload leaks no descriptor.
    """
    opening = asyncio.ensure_future(asyncio.to_thread(_open_regular_file, path))
    try:
        return await asyncio.shield(opening)
    except asyncio.CancelledError:
        opening.add_done_callback(_close_when_opened)
        raise


@attrs.frozen(slots=True)
class UploadPart:
    """The audio part of a ``files/upload`` request: bytes, or a path read per attempt."""

    purpose: str
    source: bytes | Path
    filename: str
    content_type: str

    async def open(self) -> IO[bytes]:
        """The file at ``source``, opened for one attempt if it is still fit to send."""
        assert isinstance(self.source, Path)
        return await _open_in_thread(self.source)


#: What a call returns: the decoded API answer and its trace id, or a preview's bytes.
_T_co = TypeVar("_T_co", covariant=True)


class Events(Protocol):
    """Server-sent events still arriving: each event's ``data``, ``None`` at the end."""

    async def next(self) -> bytes | None: ...

    async def aclose(self) -> None: ...

    def close(self) -> None: ...


class Answer(NamedTuple):
    """An HTTP answer, read whole (a tuple: one is made per attempt, cheaply).

    For a streamed request answered with events, ``body`` is the first event's
    data and ``events`` the rest, still arriving.
    """

    http_status: int
    body: bytes
    trace_id: str | None
    retry_after: float | None
    events: Events | None = None


def _what(request: Request[object]) -> str:
    return f"{request.method} {request.path}"


@attrs.frozen(slots=True)
class Request(Generic[_T_co]):
    """One call: built once, sent (and perhaps retried) by the client.

    Attributes:
        method: the HTTP method.
        path: the endpoint below ``base_url``, e.g. ``"/voice_clone"``; for a request
            to another host, what logs, events and errors call it.
        read: turns an answer into the call's value, or raises the error it stands
            for (`_answers.api_reply` for the API); ``what`` names the request in it.
        json: the JSON body, if any.
        upload: the multipart body of an upload, if any.
        paced: whether each attempt passes a rate gate (``voice_clone`` and speech do).
        gate: which of the client's gates: ``"clone"`` or ``"speech"`` (one pace each).
        voice_id: the voice concerned, for logs and hooks.
        announce: awaited right before each attempt leaves, once it holds its
            in-flight slot: a batch journal's "sent" mark (fenced, for a shared
            one). What it raises ends the call; nothing was sent for that attempt.
        limit: the most bytes its answer may decode to (`MAX_BODY_BYTES` by default);
            for a stream, the most its events may add up to.
        stream: the answer may come as server-sent events: the attempt ends with the
            first event read, and the rest are read by the caller (`Answer.events`).
        url: an absolute URL off the API (a preview link): sent without the key or
            the API's headers, redirects followed; its answer is not the API's, so
            the account breaker and MiniMax status codes play no part.
        what: ``"METHOD path"``, naming the request in errors and logs.
    """

    method: str
    path: str
    read: Callable[[Answer, str], _T_co]
    json: Mapping[str, object] | None = None
    upload: UploadPart | None = None
    paced: bool = False
    gate: str = "clone"
    voice_id: str | None = None
    announce: Callable[[], Awaitable[None]] | None = None
    limit: int = MAX_BODY_BYTES
    stream: bool = False
    url: str | None = attrs.field(default=None, repr=False)  # a signed link, perhaps
    what: str = attrs.field(init=False, default=attrs.Factory(_what, takes_self=True))

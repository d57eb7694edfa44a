"""A request to the API, built once per call and passed down every layer.

`Request` is everything a call sends: its endpoint, its body, whether it passes
the rate gate. An upload's body is a `UploadPart`, re-opened on every attempt
(aiohttp closes a file object once it is sent) and checked again when it is:
the file could have been swapped since it was validated.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import stat
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import IO, Final

import aiohttp
import attrs

from ._errors import ValidationError
from ._validate import MAX_UPLOAD_BYTES

__all__ = ["PREVIEW_PATH", "Request", "UploadPart"]

#: What logs, events and errors call a preview download, whose URL is not under base_url.
PREVIEW_PATH: Final = "/<demo_audio>"


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

    async def form(self, files: contextlib.ExitStack) -> aiohttp.FormData:
        """The multipart body for one attempt; an opened file is closed by ``files``."""
        data = aiohttp.FormData()
        data.add_field("purpose", self.purpose)
        payload: IO[bytes] | bytes
        if isinstance(self.source, bytes):
            payload = self.source
        else:
            payload = files.enter_context(await _open_in_thread(self.source))
        data.add_field("file", payload, filename=self.filename, content_type=self.content_type)
        return data


@attrs.frozen(slots=True)
class Request:
    """One API call: built once, sent (and perhaps retried) by the client.

    Attributes:
        method: the HTTP method.
        path: the endpoint below ``base_url``, e.g. ``"/voice_clone"``.
        json: the JSON body, if any.
        upload: the multipart body of an upload, if any.
        paced: whether each attempt passes the rate gate (``voice_clone`` does).
        voice_id: the voice concerned, for logs and hooks.
        announce: awaited right before each attempt leaves, once it holds its
            in-flight slot: a batch journal's "sent" mark (fenced, for a shared
            one). What it raises ends the call; nothing was sent for that attempt.
    """

    method: str
    path: str
    json: Mapping[str, object] | None = None
    upload: UploadPart | None = None
    paced: bool = False
    voice_id: str | None = None
    announce: Callable[[], Awaitable[None]] | None = None

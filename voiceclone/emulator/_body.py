"""Reading request bodies: JSON, or multipart streamed to a spooled temporary file."""

from __future__ import annotations

import hashlib
import json
import tempfile
from typing import IO, Any

import attrs
from aiohttp import BodyPartReader, web

from voiceclone._audio import AudioInfo, probe_fileobj

__all__ = ["INVALID_JSON", "Body", "UploadedPart", "read_body"]

# Uploads are kept in memory up to this size, on disk beyond it, and dropped after probing.
_SPOOL_MAX = 1024 * 1024
_CHUNK = 64 * 1024
_TEXT_FIELD_MAX = 64 * 1024

INVALID_JSON: Any = object()
"""Marker for a body that was not valid JSON."""


@attrs.define
class UploadedPart:
    """A file part of a multipart body, spooled so that it can be probed once."""

    filename: str | None
    content_type: str | None
    size: int
    sha256: str
    spool: IO[bytes] | None = attrs.field(repr=False)

    def probe(self) -> AudioInfo:
        """Sniff the format and read the duration of the uploaded content."""
        if self.spool is None:
            return AudioInfo(format=None, duration=None, size=self.size)
        return probe_fileobj(self.spool, self.size)

    def close(self) -> None:
        """Discard the spooled content."""
        if self.spool is not None:
            self.spool.close()
            self.spool = None


@attrs.define
class Body:
    """A request body. ``json`` is :data:`INVALID_JSON` when it could not be parsed."""

    json: Any = None
    text_fields: dict[str, str] = attrs.field(factory=dict)
    files: dict[str, UploadedPart] = attrs.field(factory=dict)
    multipart: bool = False
    malformed: bool = False

    def summary(self) -> dict[str, Any] | None:
        """Multipart fields as recorded: values for text, metadata for files."""
        if not self.multipart:
            return None
        form: dict[str, Any] = dict(self.text_fields)
        for name, part in self.files.items():
            form[name] = {
                "filename": part.filename,
                "size": part.size,
                "content_type": part.content_type,
            }
        return form

    def close(self) -> None:
        """Release spooled uploads."""
        for part in self.files.values():
            part.close()


async def _read_file_part(part: BodyPartReader) -> UploadedPart:
    digest = hashlib.sha256()
    spool: IO[bytes] = tempfile.SpooledTemporaryFile(max_size=_SPOOL_MAX)  # noqa: SIM115
    size = 0
    try:
        while chunk := await part.read_chunk(_CHUNK):
            digest.update(chunk)
            spool.write(chunk)
            size += len(chunk)
    except BaseException:
        spool.close()
        raise
    return UploadedPart(
        filename=part.filename,
        content_type=part.headers.get("Content-Type"),
        size=size,
        sha256=digest.hexdigest(),
        spool=spool,
    )


async def _read_multipart(request: web.Request, body: Body) -> None:
    reader = await request.multipart()
    while True:
        part = await reader.next()
        if part is None:
            return
        if not isinstance(part, BodyPartReader):
            # Nested multipart is not something the API accepts; skip it whole.
            body.malformed = True
            continue
        name = part.name or ""
        # "file" is a file part even when a client leaves out its filename.
        if part.filename is not None or name == "file":
            uploaded = await _read_file_part(part)
            if name in body.files:
                uploaded.close()  # only the first part of a name counts
            else:
                body.files[name] = uploaded
        else:
            raw = await part.read()
            if len(raw) > _TEXT_FIELD_MAX:
                body.malformed = True
                continue
            body.text_fields.setdefault(name, raw.decode("utf-8", "replace"))


async def read_body(request: web.Request) -> Body:
    """Read the whole body of an API request.

    Multipart bodies are streamed; file parts are hashed and spooled (memory, then
    disk) so that their format and duration can be probed. Call :meth:`Body.close`.
    """
    body = Body()
    if request.content_type.startswith("multipart/"):
        body.multipart = True
        try:
            await _read_multipart(request, body)
        except (ValueError, AssertionError):
            # aiohttp reports a broken multipart stream with these.
            body.malformed = True
        except BaseException:
            body.close()
            raise
        return body
    raw = await request.read()
    if raw:
        try:
            body.json = json.loads(raw)
        except ValueError:
            body.json = INVALID_JSON
    return body

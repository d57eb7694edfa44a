"""File endpoints: upload, list, retrieve, delete."""

from __future__ import annotations

from typing import Any

from voiceclone.emulator._rules import (
    AUDIO_PURPOSES,
    DELETE_PURPOSES,
    LIST_PURPOSES,
    MAX_UPLOAD_BYTES,
    UPLOAD_PURPOSES,
    ApiError,
    as_file_id,
    invalid,
    json_object,
)
from voiceclone.emulator._state import Call, StoredFile, World

__all__ = ["delete_file", "file_object", "known_file", "list_files", "retrieve_file", "upload_file"]


def file_object(world: World, stored: StoredFile) -> dict[str, Any]:
    """The API's ``file`` object for a stored file."""
    return {
        "file_id": world.wire_id(stored.file_id),
        "bytes": stored.bytes,
        "created_at": stored.created_at,
        "filename": stored.filename,
        "purpose": stored.purpose,
    }


def upload_file(world: World, call: Call) -> dict[str, Any]:
    """``POST /files/upload``: multipart ``file`` and ``purpose``."""
    body = call.body
    if not body.multipart:
        raise invalid("content type must be multipart/form-data")
    if body.malformed:
        raise invalid("malformed multipart body")
    purpose = body.text_fields.get("purpose")
    if purpose is None:
        raise invalid("purpose is required")
    if purpose not in UPLOAD_PURPOSES:
        raise invalid(f"purpose must be one of {', '.join(sorted(UPLOAD_PURPOSES))}")
    part = body.files.get("file")
    if part is None:
        raise invalid("file is required")
    if part.size == 0:
        raise invalid("file is empty")
    audio = None
    if purpose in AUDIO_PURPOSES:
        if part.size > MAX_UPLOAD_BYTES:
            raise invalid("file size exceeds 20MB")
        audio = part.probe()
        if audio.format is None:
            raise ApiError(2013, "unsupported file format, expected mp3, m4a or wav")
    stored = StoredFile(
        file_id=world.new_file_id(),
        filename=part.filename or "file",
        purpose=purpose,
        bytes=part.size,
        created_at=call.now,
        sha256=part.sha256,
        audio=audio,
        content_type=part.content_type,
    )
    call.account.files[stored.file_id] = stored
    return {"file": file_object(world, stored)}


def list_files(world: World, call: Call) -> dict[str, Any]:
    """``GET /files/list?purpose=``."""
    purpose = call.query.get("purpose")
    if purpose is None:
        raise invalid("purpose is required")
    if purpose not in LIST_PURPOSES:
        raise invalid(f"purpose must be one of {', '.join(sorted(LIST_PURPOSES))}")
    files = [f for f in call.account.files.values() if f.purpose == purpose]
    return {"files": [file_object(world, f) for f in files]}


def known_file(
    call: Call, raw: Any, *, field: str = "file_id", missing: ApiError | None = None
) -> StoredFile:
    """The account's file ``raw`` names; ``missing`` is raised if there is none."""
    file_id = as_file_id(raw)
    if file_id is None:
        raise invalid(f"{field} must be an integer")
    stored = call.account.files.get(file_id)
    if stored is None:
        raise missing or invalid("file not found")
    return stored


def retrieve_file(world: World, call: Call) -> dict[str, Any]:
    """``GET /files/retrieve?file_id=``: the file object plus a ``download_url``."""
    stored = known_file(call, call.query.get("file_id"))
    file = file_object(world, stored)
    file["download_url"] = f"{call.origin}/downloads/{stored.file_id}"
    return {"file": file}


def delete_file(world: World, call: Call) -> dict[str, Any]:
    """``POST /files/delete`` with JSON ``{file_id, purpose}``."""
    request = json_object(call.body.json)
    purpose = request.get("purpose")
    if purpose not in DELETE_PURPOSES:
        raise invalid(f"purpose must be one of {', '.join(sorted(DELETE_PURPOSES))}")
    stored = known_file(call, request.get("file_id"))
    if stored.purpose != purpose:
        raise invalid("file not found")
    del call.account.files[stored.file_id]
    return {"file_id": world.wire_id(stored.file_id)}

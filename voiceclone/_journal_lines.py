"""The journal's lines: what a record holds, and how a file of them is read back.

Every line is one JSON object in ASCII. Reading trusts nothing: lines come in
bounded chunks (a line over `MAX_LINE` is dropped as it is read, never held), and
each record's fields are checked for type and range (`Damaged` says which field
failed), so a restored `CloneResult` is as sound as a fresh one. Writing bounds
what a server sent, so that every record the SDK writes reads back.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Final

from ._errors import (
    AudioError,
    InvalidParameterError,
    SensitiveContentError,
    ValidationError,
    VoiceCloneError,
    VoiceIdConflictError,
)
from ._models import SENSITIVE_CODES, CloneResult
from ._validate import check_voice_id

__all__ = [
    "MAX_LINE",
    "MAX_TEXT",
    "Damaged",
    "activated_from",
    "activated_record",
    "bounded",
    "decode",
    "encode",
    "failure_from",
    "failure_record",
    "is_final",
    "lines",
    "result_from",
    "result_record",
]

#: A line longer than this is damage: records are a few hundred bytes (the writer
#: keeps every one under it), and a line is never held in memory beyond it.
MAX_LINE: Final = 64 * 1024
#: Bytes read at a time.
_CHUNK: Final = 64 * 1024
#: Server text kept in a record (error messages, trace ids): enough to read, and
#: bounded so that every record fits in `MAX_LINE` whatever the server sent.
MAX_TEXT: Final = 1024
#: A ``created_at`` later than now by more than this is damage, not clock skew.
_CLOCK_SKEW: Final = dt.timedelta(days=1)


class Damaged(Exception):
    """A record that cannot be used; the message says which field and why."""


def bounded(value: str | None) -> str | None:
    """Server text cut to `MAX_TEXT` characters."""
    return None if value is None else value[:MAX_TEXT]


#: Failures that are about the job itself, not the moment or the account: sending it
#: again gets the same answer. Such a failure is final for the batch (every worker
#: reports it from the journal) until a run asks for ``retry_failed``. Rate limits,
#: server and transport failures pass; a dead key, no balance or a spent quota are
#: the account's and clear once it is fixed: a re-run sends those jobs again.
FINAL_FAILURES: Final[dict[str, type[VoiceCloneError]]] = {
    cls.__name__: cls
    for cls in (SensitiveContentError, InvalidParameterError, AudioError, VoiceIdConflictError)
}


def is_final(error: VoiceCloneError) -> bool:
    """Whether ``error`` ends its job for the batch (see `FINAL_FAILURES`)."""
    return isinstance(error, tuple(FINAL_FAILURES.values()))


def failure_record(voice_id: str, error: VoiceCloneError) -> dict[str, Any]:
    """The ``failed`` record of a job; ``final`` says whether re-runs skip it."""
    return {
        "event": "failed",
        "voice_id": voice_id,
        "error": type(error).__name__,
        "status_code": error.status_code,
        "message": bounded(error.message),
        "trace_id": bounded(error.trace_id),
        "final": is_final(error),
    }


def failure_from(record: Mapping[str, Any]) -> VoiceCloneError:
    """The error a final ``failed`` record holds, rebuilt as its type (`Damaged` if not)."""
    cls = FINAL_FAILURES.get(record.get("error"))  # type: ignore[arg-type]
    if cls is None:
        raise Damaged("error is not a final failure")
    code = record.get("status_code")
    if code is not None and (isinstance(code, bool) or not isinstance(code, int)):
        raise Damaged("status_code is not an integer")
    message = record.get("message")
    if not isinstance(message, str):
        raise Damaged("message is not a string")
    return cls(message[:MAX_TEXT], status_code=code, trace_id=_optional_str(record, "trace_id"))


def result_record(result: CloneResult) -> dict[str, Any]:
    """The ``ok`` record of a finished clone."""
    return {
        "event": "ok",
        "voice_id": result.voice_id,
        "demo_audio": result.demo_audio,
        "input_sensitive": result.input_sensitive,
        "input_sensitive_type": int(result.input_sensitive_type),
        "trace_id": bounded(result.trace_id),
        "attempts": result.attempts,
        "recovered": result.recovered,
        "created_at": result.created_at.isoformat(),
    }


def _optional_str(record: Mapping[str, Any], key: str) -> str | None:
    value = record.get(key)
    if value is None or isinstance(value, str):
        return value or None
    raise Damaged(f"{key} is not a string")


def _flag(record: Mapping[str, Any], key: str) -> bool:
    value = record.get(key, False)
    if not isinstance(value, bool):
        raise Damaged(f"{key} is not true or false")
    return value


def _created_at(value: object, now: dt.datetime) -> dt.datetime:
    if not isinstance(value, str):
        raise Damaged("created_at is missing")
    try:
        when = dt.datetime.fromisoformat(value)
    except ValueError:
        raise Damaged("created_at is not a date and time") from None
    if when.utcoffset() is None:
        raise Damaged("created_at has no time zone")
    try:
        when = when.astimezone(dt.timezone.utc)
    except OverflowError:
        raise Damaged("created_at is out of range") from None
    if when > now + _CLOCK_SKEW:
        raise Damaged("created_at is in the future")
    return when


def activated_record(voice_id: str, when: dt.datetime) -> dict[str, Any]:
    """The ``activated`` record: the voice was used for speech, so MiniMax keeps it."""
    return {"event": "activated", "voice_id": voice_id, "activated_at": when.isoformat()}


def activated_from(record: Mapping[str, Any], now: dt.datetime) -> dt.datetime:
    """When an ``activated`` record says its voice was activated (`Damaged` if unreadable)."""
    try:
        return _created_at(record.get("activated_at"), now)
    except Damaged as damage:
        raise Damaged(str(damage).replace("created_at", "activated_at")) from None


def result_from(record: Mapping[str, Any], voice_id: str, now: dt.datetime) -> CloneResult:
    """The `CloneResult` an ``ok`` record holds, every field checked (`Damaged` if not)."""
    kind = record.get("input_sensitive_type", 0)
    if isinstance(kind, bool) or not isinstance(kind, int) or kind not in SENSITIVE_CODES:
        raise Damaged("input_sensitive_type is not a known category")
    attempts = record.get("attempts", 1)
    if isinstance(attempts, bool) or not isinstance(attempts, int) or attempts < 1:
        raise Damaged("attempts is not a positive integer")
    return CloneResult(
        voice_id=voice_id,
        demo_audio=_optional_str(record, "demo_audio"),
        input_sensitive=_flag(record, "input_sensitive"),
        input_sensitive_type=SENSITIVE_CODES[kind],
        trace_id=_optional_str(record, "trace_id"),
        attempts=attempts,
        recovered=_flag(record, "recovered"),
        created_at=_created_at(record.get("created_at"), now),
    )


def decode(line: bytes) -> tuple[str, str, dict[str, Any]]:
    """A line's event, voice id and record."""
    try:
        record = json.loads(line.decode("utf-8"))
    except UnicodeDecodeError:
        raise Damaged("not UTF-8") from None
    except (ValueError, RecursionError):
        raise Damaged("not JSON") from None
    if not isinstance(record, dict):
        raise Damaged("not a JSON object")
    event = record.get("event")
    if not isinstance(event, str):
        raise Damaged("no event")
    try:
        voice_id = check_voice_id(record.get("voice_id"))
    except ValidationError:
        raise Damaged("voice_id is not a voice id") from None
    return event, voice_id, record


def lines(read: Callable[[int], bytes]) -> Iterator[tuple[int, bytes | None]]:
    """``(number, line)`` for each line, ``None`` for one over `MAX_LINE`.

    At most `MAX_LINE` bytes of a line and one chunk are held at a time: the rest
    of an overlong line is read and dropped.
    """
    number = 0
    pending = bytearray()
    overlong = False
    while chunk := read(_CHUNK):
        start = 0
        while (end := chunk.find(b"\n", start)) >= 0:
            number += 1
            overlong = overlong or len(pending) + end - start > MAX_LINE
            if overlong:
                yield number, None
            else:
                pending += chunk[start:end]
                yield number, bytes(pending)
            pending.clear()
            overlong = False
            start = end + 1
        if not overlong:
            pending += chunk[start:]
            if len(pending) > MAX_LINE:
                overlong = True
                pending.clear()
    if pending or overlong:  # a last line without its newline
        yield number + 1, None if overlong else bytes(pending)


def encode(record: dict[str, Any]) -> bytes:
    """``record``, stamped with the time, as one line."""
    record["at"] = dt.datetime.now(dt.timezone.utc).isoformat()
    # ASCII (json's default): no byte of a record is a line break but the last.
    return (json.dumps(record, separators=(",", ":")) + "\n").encode("ascii")

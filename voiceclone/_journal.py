"""The batch journal: one JSON line per event, so a killed batch resumes without loss.

Two events matter for safety. ``sent`` is written *before* a clone request
leaves: on a re-run, a job with ``sent`` but no ``ok`` may have created its voice,
so a 2039 answer then means "done earlier", not "someone else's voice". ``ok``
is written once the voice is confirmed: a re-run skips it. Lines are appended
and flushed one at a time; a line torn by a kill is skipped with a warning.
The journal never holds the API key or request headers.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
from pathlib import Path
from typing import IO, Any

import attrs

from ._errors import VoiceCloneError
from ._models import CloneResult, SensitiveType

__all__ = ["Journal", "JournalState"]

logger = logging.getLogger("voiceclone")


@attrs.define
class JournalState:
    """What earlier runs recorded."""

    done: dict[str, CloneResult] = attrs.Factory(dict)
    sent: set[str] = attrs.Factory(set)
    torn_lines: int = 0


def _result_record(result: CloneResult) -> dict[str, Any]:
    return {
        "event": "ok",
        "voice_id": result.voice_id,
        "demo_audio": result.demo_audio,
        "input_sensitive": result.input_sensitive,
        "input_sensitive_type": int(result.input_sensitive_type),
        "trace_id": result.trace_id,
        "attempts": result.attempts,
        "recovered": result.recovered,
        "created_at": result.created_at.isoformat(),
    }


def _result_from(record: dict[str, Any]) -> CloneResult:
    return CloneResult(
        voice_id=record["voice_id"],
        demo_audio=record.get("demo_audio"),
        input_sensitive=bool(record.get("input_sensitive", False)),
        input_sensitive_type=SensitiveType(int(record.get("input_sensitive_type", 0))),
        trace_id=record.get("trace_id"),
        attempts=int(record.get("attempts", 1)),
        recovered=bool(record.get("recovered", False)),
        created_at=dt.datetime.fromisoformat(record["created_at"]),
    )


class Journal:
    """An append-only JSONL file of batch events."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._file: IO[str] | None = None

    def load(self) -> JournalState:
        """Read what earlier runs recorded (an absent file is an empty journal)."""
        state = JournalState()
        if not self.path.exists():
            return state
        with self.path.open(encoding="utf-8") as lines:
            for number, line in enumerate(lines, 1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                    event, voice_id = record["event"], record["voice_id"]
                    if event == "ok":
                        state.done[voice_id] = _result_from(record)
                    elif event == "sent":
                        state.sent.add(voice_id)
                    elif event == "failed" and record.get("error") == "VoiceIdConflictError":
                        # A conflict that was not recovered: the id existed before this
                        # batch sent anything, so its 2039 on a re-run is no recovery.
                        state.sent.discard(voice_id)
                except (ValueError, KeyError, TypeError):
                    state.torn_lines += 1
                    logger.warning("journal %s: line %d is unreadable, skipped", self.path, number)
        return state

    def open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        needs_newline = self.path.exists() and self.path.stat().st_size > 0
        if needs_newline:
            with self.path.open("rb") as existing:
                existing.seek(-1, os.SEEK_END)
                needs_newline = existing.read(1) != b"\n"
        self._file = self.path.open("a", encoding="utf-8")
        if needs_newline:  # a torn last line: keep the next record on a line of its own
            self._file.write("\n")

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def _append(self, record: dict[str, Any]) -> None:
        assert self._file is not None, "Journal.open() first"
        record["at"] = dt.datetime.now(dt.timezone.utc).isoformat()
        self._file.write(json.dumps(record, separators=(",", ":")) + "\n")
        self._file.flush()
        os.fsync(self._file.fileno())

    def sent(self, voice_id: str, file_id: int, prompt_file_id: int | None) -> None:
        self._append(
            {
                "event": "sent",
                "voice_id": voice_id,
                "file_id": file_id,
                "prompt_file_id": prompt_file_id,
            }
        )

    def ok(self, result: CloneResult) -> None:
        self._append(_result_record(result))

    def failed(self, voice_id: str, error: VoiceCloneError) -> None:
        self._append(
            {
                "event": "failed",
                "voice_id": voice_id,
                "error": type(error).__name__,
                "status_code": error.status_code,
                "message": error.message,
                "trace_id": error.trace_id,
            }
        )

"""The batch journal on its own: what a re-run reads back, torn lines, and what is never written."""

from __future__ import annotations

import datetime as dt
import json
import logging
from pathlib import Path

import pytest

from voiceclone import CloneResult, RateLimitError, SensitiveType
from voiceclone._journal import Journal


def result(voice_id: str) -> CloneResult:
    return CloneResult(
        voice_id,
        demo_audio="https://example.test/demo.wav",
        input_sensitive=True,
        input_sensitive_type=SensitiveType(3),
        trace_id="trace-1",
        attempts=2,
        created_at=dt.datetime(2025, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc),
    )


def test_a_missing_journal_is_an_empty_one(tmp_path: Path) -> None:
    state = Journal(tmp_path / "none.jsonl").load()
    assert state.done == {}
    assert state.sent == set()


def test_finished_and_sent_jobs_are_read_back(tmp_path: Path) -> None:
    book = Journal(tmp_path / "j.jsonl")
    book.open()
    book.sent("VoiceOne01x", 11, None)
    book.ok(result("VoiceOne01x"))
    book.sent("VoiceTwo01x", 12, 13)  # killed before its answer
    book.failed("VoiceTri01x", RateLimitError("slow down", status_code=1002, trace_id="t"))
    book.close()
    state = Journal(tmp_path / "j.jsonl").load()
    assert set(state.done) == {"VoiceOne01x"}
    back = state.done["VoiceOne01x"]
    assert back.input_sensitive_type is SensitiveType(3)
    assert (back.attempts, back.trace_id, back.created_at) == (
        2,
        "trace-1",
        result("x" * 8).created_at,
    )
    assert state.sent == {"VoiceOne01x", "VoiceTwo01x"}  # a failed job is retried on re-run
    assert state.torn_lines == 0


def test_a_torn_last_line_is_skipped_and_the_next_record_starts_a_new_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "torn.jsonl"
    book = Journal(path)
    book.open()
    book.ok(result("VoiceOne01x"))
    book.close()
    with path.open("a") as out:
        out.write('{"event":"ok","voice_id":"Voi')  # the kill came mid-write
    with caplog.at_level(logging.WARNING, logger="voiceclone"):
        state = Journal(path).load()
    assert state.torn_lines == 1
    assert "line 2 is unreadable" in caplog.text
    book = Journal(path)
    book.open()
    book.ok(result("VoiceTwo01x"))
    book.close()
    lines = path.read_text().splitlines()
    assert json.loads(lines[-1])["voice_id"] == "VoiceTwo01x"
    assert set(Journal(path).load().done) == {"VoiceOne01x", "VoiceTwo01x"}


def test_every_record_is_on_disk_when_the_call_returns(tmp_path: Path) -> None:
    path = tmp_path / "flushed.jsonl"
    book = Journal(path)
    book.open()
    book.sent("VoiceOne01x", 11, None)
    assert '"event":"sent"' in path.read_text()  # read while the journal is still open
    book.close()

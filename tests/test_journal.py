"""The batch journal on its own: what a re-run reads back, torn lines, and what is never written."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import os
import stat
import sys
import tracemalloc
from pathlib import Path

import attrs
import pytest
from conftest import KEY, names

from voiceclone import (
    Client,
    CloneJob,
    CloneResult,
    JournalError,
    RateLimitError,
    SensitiveType,
    VoiceIdConflictError,
)
from voiceclone._journal import MAX_LINE, Journal
from voiceclone.emulator import Emulator


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


# -- files planted at the journal's path ------------------------------------------------


def mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def test_a_new_journal_is_created_private(tmp_path: Path) -> None:
    path = tmp_path / "private.jsonl"
    book = Journal(path)
    book.open()
    book.ok(result("VoiceOne01x"))
    book.close()
    assert mode(path) == 0o600


@pytest.mark.parametrize("use", ["open", "load"])
def test_a_link_at_the_journal_path_is_refused_not_followed(tmp_path: Path, use: str) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_bytes(b"precious\n")
    path = tmp_path / "j.jsonl"
    path.symlink_to(victim)
    with pytest.raises(JournalError, match="symbolic link") as caught:
        getattr(Journal(path), use)()
    assert caught.value.path == str(path)
    assert victim.read_bytes() == b"precious\n"


@pytest.mark.parametrize("use", ["open", "load"])
def test_a_folder_or_fifo_in_place_of_the_journal_is_a_journal_error(
    tmp_path: Path, use: str
) -> None:
    (tmp_path / "folder.jsonl").mkdir()
    os.mkfifo(tmp_path / "fifo.jsonl")  # an open for reading would wait for a writer
    with pytest.raises(JournalError, match="is a folder"):
        getattr(Journal(tmp_path / "folder.jsonl"), use)()
    with pytest.raises(JournalError, match="is not a regular file"):
        getattr(Journal(tmp_path / "fifo.jsonl"), use)()


async def test_clone_jobs_refuses_an_unusable_journal_before_any_request(
    client: Client, emu: Emulator, wav_path: Path, tmp_path: Path
) -> None:
    (tmp_path / "folder.jsonl").mkdir()
    (tmp_path / "link.jsonl").symlink_to(tmp_path / "elsewhere.jsonl")
    jobs = [CloneJob("Refused01x", wav_path)]
    for name, reason in (("folder.jsonl", "is a folder"), ("link.jsonl", "symbolic link")):
        with pytest.raises(JournalError, match=reason):
            async for _ in client.clone_jobs(jobs, journal=tmp_path / name):
                pass
    assert sum(emu.stats.requests.values()) == 0
    assert not (tmp_path / "elsewhere.jsonl").exists()


# -- damaged records -----------------------------------------------------------------------


def record(**fields: object) -> bytes:
    base: dict[str, object] = {
        "event": "ok",
        "voice_id": "VoiceOne01x",
        "demo_audio": None,
        "input_sensitive": False,
        "input_sensitive_type": 0,
        "trace_id": "t",
        "attempts": 1,
        "recovered": False,
        "created_at": "2025-01-02T03:04:05+00:00",
    }
    base.update(fields)
    return json.dumps({k: v for k, v in base.items() if v is not ...}).encode()


DAMAGED = [
    (b'{"event":"ok","voice_id":"Voice\xff\xfe01x"}', "not UTF-8"),
    (b"\xc3(", "not UTF-8"),
    (b'{"event":"ok"', "not JSON"),
    (b"[1, 2]", "not a JSON object"),
    (record(event=5), "no event"),
    (record(voice_id=12), "voice_id"),
    (record(voice_id="x y"), "voice_id"),
    (record(created_at="9999-12-31T23:59:59+00:00"), "created_at is in the future"),
    (record(created_at="2025-01-02T03:04:05"), "created_at has no time zone"),
    (record(created_at="yesterday"), "created_at is not a date"),
    (record(created_at=...), "created_at is missing"),
    (record(created_at=20250102), "created_at is missing"),
    (record(demo_audio=5), "demo_audio is not a string"),
    (record(demo_audio=["https://x"]), "demo_audio is not a string"),
    (record(trace_id={"a": 1}), "trace_id is not a string"),
    (record(attempts="2"), "attempts"),
    (record(attempts=0), "attempts"),
    (record(attempts=True), "attempts"),
    (record(input_sensitive="yes"), "input_sensitive is not true or false"),
    (record(input_sensitive_type=42), "input_sensitive_type"),
    (record(input_sensitive_type="3"), "input_sensitive_type"),
    (record(recovered=1), "recovered is not true or false"),
]


def test_each_damaged_record_is_skipped_with_its_line_number(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "damaged.jsonl"
    good = record(voice_id="VoiceGood1x", demo_audio="https://cdn.test/p.mp3")
    sent = json.dumps({"event": "sent", "voice_id": "VoiceSent1x", "file_id": 1}).encode()
    path.write_bytes(b"\n".join([good, *(line for line, _ in DAMAGED), b"", sent]) + b"\n")

    with caplog.at_level(logging.WARNING, logger="voiceclone"):
        state = Journal(path).load()

    assert set(state.done) == {"VoiceGood1x"}
    assert state.sent == {"VoiceSent1x"}
    assert state.torn_lines == len(DAMAGED)
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == len(DAMAGED)
    for number, ((_, reason), message) in enumerate(zip(DAMAGED, messages, strict=True), 2):
        assert f"line {number} is unreadable" in message
        assert reason in message


def test_a_restored_result_is_usable(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    path.write_bytes(
        record(voice_id="VoiceZone1x", created_at="2025-01-02T05:04:05+02:00", trace_id="") + b"\n"
    )
    back = Journal(path).load().done["VoiceZone1x"]
    assert back.created_at == dt.datetime(2025, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc)
    assert back.expires_at == back.created_at + dt.timedelta(days=7)
    assert (back.demo_audio, back.trace_id) == (None, None)


def test_an_overlong_line_is_skipped_without_holding_it(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "long.jsonl"
    size = 8 * 1024 * 1024  # 128 times the cap
    with path.open("wb") as out:
        out.write(record(voice_id="VoiceFirst1") + b"\n")
        out.write(b'{"event":"ok","voice_id":"' + b"x" * size + b'"}\n')
        out.write(record(voice_id="VoiceAfter1") + b"\n")
        out.write(b"y" * MAX_LINE + b"z")  # just over the cap, no newline
        out.write(b"\n" + b"q" * size)  # a last line with no newline, never ending
    tracemalloc.start()
    try:
        with caplog.at_level(logging.WARNING, logger="voiceclone"):
            state = Journal(path).load()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert set(state.done) == {"VoiceFirst1", "VoiceAfter1"}
    assert state.torn_lines == 3
    assert peak < 4 * MAX_LINE, peak  # the chunk and the capped line, never the line
    assert "line 2 is unreadable, skipped: longer than" in caplog.text
    assert "line 4 is unreadable" in caplog.text
    assert "line 5 is unreadable" in caplog.text


def test_what_the_writer_keeps_always_reads_back(tmp_path: Path) -> None:
    path = tmp_path / "big.jsonl"
    huge = "é\u2028" * 500_000  # a hostile server's megabyte, escaped six-fold in JSON
    book = Journal(path)
    book.open()
    book.sent("VoiceOne01x", 1, None)
    book.failed("VoiceOne01x", VoiceIdConflictError(huge, status_code=2039, trace_id=huge))
    book.ok(attrs.evolve(result("VoiceTwo01x"), demo_audio="https://cdn.test/" + huge))
    book.close()
    assert all(len(line) <= MAX_LINE for line in path.read_bytes().splitlines())
    state = Journal(path).load()
    assert state.torn_lines == 0
    assert state.sent == set()  # the conflict was read back: a 2039 is no recovery
    assert state.done["VoiceTwo01x"].demo_audio is None


# -- one journal, one process ------------------------------------------------------------

#: Holds a journal open (and so locked) until its stdin closes or it is killed.
HOLDER = """
import sys
from voiceclone._journal import Journal
book = Journal(sys.argv[1])
book.open()
print("locked", flush=True)
sys.stdin.read()
"""


def test_one_journal_file_has_one_holder_at_a_time(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    first = Journal(path)
    first.open()
    second = Journal(path)
    with pytest.raises(JournalError, match=f"is in use by pid {os.getpid()} on "):
        second.open()
    first.close()
    second.open()
    second.sent("VoiceOne01x", 1, None)
    second.close()
    assert names(tmp_path) == ["j.jsonl"]  # the owner note goes with the lock


async def test_a_second_process_fails_fast_naming_the_holder(
    client: Client, emu: Emulator, wav_path: Path, tmp_path: Path
) -> None:
    journal = tmp_path / "shared.jsonl"
    jobs = [CloneJob("LockedOut1x", wav_path)]
    holder = await asyncio.create_subprocess_exec(
        sys.executable, "-c", HOLDER, str(journal),
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert holder.stdout is not None
    try:
        assert await asyncio.wait_for(holder.stdout.readline(), 60) == b"locked\n"
        with pytest.raises(JournalError) as caught:
            async for _ in client.clone_jobs(jobs, journal=journal):
                pass
    finally:
        holder.kill()  # it dies holding the lock: the system releases it
        await holder.wait()
    message = str(caught.value)
    assert f"pid {holder.pid} on " in message
    assert "voiceclone.RedisJournal" in message
    assert caught.value.path == str(journal)
    assert KEY not in message
    assert sum(emu.stats.requests.values()) == 0  # failed before any request

    outcomes = [o async for o in client.clone_jobs(jobs, journal=journal)]
    assert [o.ok for o in outcomes] == [True]
    assert names(tmp_path) == ["narrator.wav", "shared.jsonl"]


# -- a full disk ---------------------------------------------------------------------------

FULL_DISK_WORKER = Path(__file__).with_name("full_disk_worker.py")


async def test_a_full_disk_ends_the_batch_with_a_journal_error_and_resume_is_exact(
    client: Client, emu: Emulator, wav_path: Path, tmp_path: Path
) -> None:
    journal = tmp_path / "full.jsonl"
    count, limit = 8, 1100  # room for a few jobs' records, not for eight
    worker = await asyncio.create_subprocess_exec(
        sys.executable, str(FULL_DISK_WORKER), emu.base_url, KEY, str(journal), str(wav_path),
        str(count), str(limit), stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, _ = await asyncio.wait_for(worker.communicate(), 60)
    *outcomes, end = [json.loads(line) for line in out.splitlines()]
    assert worker.returncode == 0
    assert end["error"] == "JournalError", end
    assert f"journal {journal} is not writable" in end["message"]
    assert "run the batch again to resume" in end["message"]

    data = journal.read_bytes()
    assert 0 < len(data) <= limit
    assert data.endswith(b"\n")  # cut back to its last whole record
    state = Journal(journal).load()
    assert state.torn_lines == 0
    reported = {o["voice_id"] for o in outcomes if o["ok"]}
    # A voice created while its record could not be written is still reported
    # created; its "sent" mark is on disk, so a re-run gets it back as recovered.
    assert reported <= set(state.done) | state.sent
    assert len(state.done) >= 1

    jobs = [CloneJob(f"FullDisk{i:03d}x", wav_path) for i in range(count)]
    again = [o async for o in client.clone_jobs(jobs, journal=journal)]
    assert all(o.ok for o in again)
    assert sum(o.resumed for o in again) == len(state.done)
    recovered = {o.request.voice_id for o in again if o.result and o.result.recovered}
    assert reported - set(state.done) <= recovered
    created = emu.account(KEY).clone_successes
    assert {f"FullDisk{i:03d}x": 1 for i in range(count)} == dict(created)

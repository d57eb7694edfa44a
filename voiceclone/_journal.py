"""The batch journal: one JSON line per event, so a killed batch resumes without loss.

Two events matter for safety. ``sent`` is written *before* a clone request
leaves: on a re-run, a job with ``sent`` but no ``ok`` may have created its voice,
so a 2039 answer then means "done earlier", not "someone else's voice". ``ok``
is written once the voice is confirmed: a re-run skips it. Lines are appended
and flushed one at a time; a line torn by a kill is skipped with a warning.
The journal never holds the API key or request headers.

The file is the user's, in a folder others may write to, so it is read as
hostile and written as private:

- It is opened without following a symbolic link, and created with mode 0600.
- One process at a time: a batch holds an exclusive lock on the file (``flock``,
  released by the system if the process dies), and a second run fails at once
  with `JournalError` naming the holder, whose pid is in ``<journal>.owner``.
- It is read in bounded chunks. A damaged line (over `MAX_LINE`, not UTF-8, not
  JSON, a field of the wrong type or out of range) is skipped with a warning
  naming its number, and a long one is never held in memory. A file that cannot
  be read at all (a folder, a device, no permission) is a `JournalError`.
- A write or fsync that fails (a full disk) cuts the file back to its last whole
  record and raises `JournalError`, so what was recorded stays valid for resuming.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import os
import socket
import stat
import sys
import threading
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Final

import attrs

if sys.platform != "win32":
    import fcntl

from ._errors import JournalError, ValidationError, VoiceCloneError
from ._files import NO_LINK, PRIVATE_MODE, check_target, reason, write_all, write_file
from ._job_journal import Claim, Recorded
from ._journal_lines import (
    MAX_LINE,
    Damaged,
    activated_from,
    activated_record,
    decode,
    encode,
    failure_from,
    failure_record,
    lines,
    result_from,
    result_record,
)
from ._models import CloneResult
from ._text import safe_text

__all__ = ["MAX_LINE", "FileJobJournal", "Journal", "JournalState"]

logger = logging.getLogger("voiceclone")

#: Damaged lines reported one by one; past this, one summary (a file of garbage
#: must not flood the log).
_WARNED_LINES: Final = 100
#: Bytes of the owner note read back: a pid and a host name.
_OWNER_NOTE_MAX: Final = 256

# O_NONBLOCK (POSIX, absent elsewhere): a FIFO planted at the path must fail the
# open, not hang it.
_POSIX: Final = NO_LINK | getattr(os, "O_NONBLOCK", 0)
_READ: Final = os.O_RDONLY | _POSIX
_APPEND: Final = os.O_RDWR | os.O_APPEND | os.O_CREAT | _POSIX


@attrs.define
class JournalState:
    """What earlier runs recorded."""

    done: dict[str, CloneResult] = attrs.Factory(dict)
    sent: set[str] = attrs.Factory(set)
    #: jobs whose last failure was final (`_journal_lines.is_final`), and its error
    failed: dict[str, VoiceCloneError] = attrs.Factory(dict)
    #: voices used for speech (`Client.activate`), so MiniMax keeps them, and when
    activated: dict[str, dt.datetime] = attrs.Factory(dict)
    #: lines skipped as damaged (torn by a kill, or tampered with)
    torn_lines: int = 0


def _read_at(fd: int, size: int, offset: int) -> bytes:
    # Not os.pread, which Windows lacks. Appends go to the end whatever the offset.
    os.lseek(fd, offset, os.SEEK_SET)
    return os.read(fd, size)


class Journal:
    """An append-only JSONL file of batch events, locked by one process while it runs."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._owner = self.path.with_name(self.path.name + ".owner")
        self._fd: int | None = None
        self._owner_written = False
        self._failure: JournalError | None = None
        self._write_lock = threading.Lock()

    def _error(self, what: str, exc: OSError | None = None, then: str = "") -> JournalError:
        why = f" ({reason(exc)})" if exc is not None else ""
        return JournalError(f"journal {self.path} {what}{why}{then}", path=str(self.path))

    def _open(self, flags: int) -> int:
        """A descriptor of the journal, which must be a regular file and no link."""
        try:
            fd = os.open(self.path, flags, PRIVATE_MODE)
        except OSError as exc:
            if isinstance(exc, FileNotFoundError) and not flags & os.O_CREAT:
                raise  # nothing to read: an empty journal
            if self.path.is_symlink():
                raise self._error("is a symbolic link; refusing to follow it") from None
            if isinstance(exc, IsADirectoryError):
                raise self._error("is a folder") from None
            raise self._error("cannot be opened", exc) from None
        try:
            mode = os.fstat(fd).st_mode
        except OSError as exc:
            os.close(fd)
            raise self._error("cannot be read", exc) from None
        if not stat.S_ISREG(mode):
            os.close(fd)
            kind = "a folder" if stat.S_ISDIR(mode) else "not a regular file"
            raise self._error(f"is {kind}") from None
        return fd

    def load(self) -> JournalState:
        """Read what earlier runs recorded (an absent file is an empty journal).

        Raises:
            JournalError: the file cannot be read (a folder, a link, no permission).
        """
        if self._fd is not None:
            return self._load(self._fd)
        try:
            fd = self._open(_READ)
        except FileNotFoundError:
            return JournalState()
        try:
            return self._load(fd)
        finally:
            os.close(fd)

    def _load(self, fd: int) -> JournalState:
        state = JournalState()
        offset = 0

        def read(size: int) -> bytes:
            nonlocal offset
            try:
                chunk = _read_at(fd, size, offset)
            except OSError as exc:
                raise self._error("cannot be read", exc) from None
            offset += len(chunk)
            return chunk

        now = dt.datetime.now(dt.timezone.utc)
        for number, line in lines(read):
            if line is not None and not line.strip():
                continue
            try:
                if line is None:
                    raise Damaged(f"longer than {MAX_LINE} bytes")
                self._apply(state, *decode(line), now)
            except Damaged as damage:
                state.torn_lines += 1
                if state.torn_lines <= _WARNED_LINES:
                    logger.warning(
                        "journal %s: line %d is unreadable, skipped: %s", self.path, number, damage
                    )
        if state.torn_lines > _WARNED_LINES:
            logger.warning(
                "journal %s: %d damaged lines skipped in all",
                self.path, state.torn_lines,
            )  # fmt: skip
        return state

    @staticmethod
    def _apply(
        state: JournalState, event: str, voice_id: str, record: dict[str, Any], now: dt.datetime
    ) -> None:
        if event == "ok":
            state.done[voice_id] = result_from(record, voice_id, now)
            state.failed.pop(voice_id, None)
        elif event == "sent":
            state.sent.add(voice_id)
        elif event == "activated":
            state.activated[voice_id] = activated_from(record, now)
        elif event == "failed":
            if record.get("final") is True:
                state.failed[voice_id] = failure_from(record)
            else:  # a later failure that passes replaces a final one (retry_failed)
                state.failed.pop(voice_id, None)
            if record.get("error") == "VoiceIdConflictError":
                # A conflict that was not recovered: the id existed before this
                # batch sent anything, so its 2039 on a re-run is no recovery.
                state.sent.discard(voice_id)

    def open(self) -> None:
        """Open the journal for appending and lock it for this process.

        Raises:
            JournalError: the file cannot be created or opened, or another process
                holds it.
        """
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise self._error("cannot be created", exc) from None
        fd = self._open(_APPEND)
        try:
            self._lock(fd)
            size = os.fstat(fd).st_size
            # A torn last line: keep the next record on a line of its own.
            if size and _read_at(fd, 1, size - 1) != b"\n":
                write_all(fd, b"\n")
        except OSError as exc:
            os.close(fd)
            raise self._error("cannot be written", exc) from None
        except JournalError:
            os.close(fd)
            raise
        self._fd = fd
        self._failure = None
        self._write_owner_note()

    def _lock(self, fd: int) -> None:
        if sys.platform == "win32":  # pragma: no cover - no flock there
            return
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise JournalError(
                f"journal {self.path} is in use by {self._holder()}: a journal file "
                "serves one process at a time. Wait for that run to end, "
                "give each process a journal of its own, or share one between workers "
                "with voiceclone.RedisJournal",
                path=str(self.path),
            ) from None

    def _holder(self) -> str:
        try:
            fd = os.open(self._owner, _READ)
        except OSError:
            return "another process"
        try:
            note = os.read(fd, _OWNER_NOTE_MAX).decode("utf-8", "replace").strip()
        except OSError:
            note = ""
        finally:
            os.close(fd)
        return safe_text(note, _OWNER_NOTE_MAX) if note else "another process"

    def _write_owner_note(self) -> None:
        note = f"pid {os.getpid()} on {socket.gethostname()}\n"
        try:
            write_file(check_target(self._owner, "journal"), note.encode(), "journal")
        except ValidationError as exc:
            # Only the message of a second run is poorer without it.
            logger.debug("journal %s: owner note not written: %s", self.path, exc)
        else:
            self._owner_written = True

    def close(self) -> None:
        """Release the lock and close the file (what was written is already on disk)."""
        if self._fd is None:
            return
        if self._owner_written:  # removed while the lock is held: never another's note
            with contextlib.suppress(OSError):
                os.unlink(self._owner)
            self._owner_written = False
        with self._write_lock:  # never under a write still running in a worker thread
            fd, self._fd = self._fd, None
        with contextlib.suppress(OSError):
            os.close(fd)

    def _append(self, record: dict[str, Any]) -> None:
        self._write(encode(record))

    def _write(self, line: bytes) -> None:
        # Batches write from worker threads (an fsync must not stall the event loop):
        # one record at a time, so a failed one can be cut back to the last whole line.
        with self._write_lock:
            self._write_locked(line)

    def _write_locked(self, line: bytes) -> None:
        if self._fd is None:  # closed: a cancelled batch's last write arrives late
            raise self._error("is closed")
        if self._failure is not None:  # nothing more is recorded, or sent, after a failure
            raise self._failure
        fd = self._fd
        size: int | None = None
        try:
            size = os.fstat(fd).st_size
            write_all(fd, line)
            os.fsync(fd)  # on disk before the request it announces is sent
        except OSError as exc:
            if size is not None:  # back to the last whole record
                with contextlib.suppress(OSError):
                    os.ftruncate(fd, size)
            self._failure = self._error(
                "is not writable",
                exc,
                "; what it recorded before stays valid: make room, then run the batch "
                "again to resume",
            )
            raise self._failure from None

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
        record = result_record(result)
        line = encode(record)
        if len(line) > MAX_LINE:  # only a preview link can make it this long
            logger.warning(
                "journal %s: the preview link of %s is too long to keep; recorded without it",
                self.path, result.voice_id,
            )  # fmt: skip
            record["demo_audio"] = None
            line = encode(record)
        self._write(line)

    def failed(self, voice_id: str, error: VoiceCloneError) -> None:
        self._append(failure_record(voice_id, error))

    def activated(self, voice_id: str, when: dt.datetime) -> None:
        """Record that ``voice_id`` was used for speech at ``when`` (MiniMax keeps it)."""
        self._append(activated_record(voice_id, when))


class FileJobJournal:
    """A `Journal` as the job runner uses it (`_job_journal.JobJournal`).

    One process holds the file (its lock), so every claim is held at once, and a
    job's "sent" is written once, before its first attempt leaves. Each record is
    fsynced, in a worker thread: the event loop (every other call's timers, the
    rate gate) does not wait for the disk.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.journal = Journal(path)
        self._state = JournalState()
        self._announced: set[str] = set()

    async def start(self, account_id: str, *, retry_failed: bool) -> Recorded:
        self.journal.open()
        try:
            self._state = self.journal.load()
        except BaseException:
            self.journal.close()
            raise
        if retry_failed:
            self._state.failed.clear()
        activated = self._state.activated
        done = {
            voice_id: attrs.evolve(result, activated_at=activated[voice_id])
            if voice_id in activated
            else result
            for voice_id, result in self._state.done.items()
        }
        return Recorded(done, dict(self._state.failed))

    async def finish(self) -> None:
        self.journal.close()

    async def claimed_elsewhere(self, voice_id: str) -> bool:
        return False  # the file's lock keeps every other process out

    async def claim(self, voice_id: str) -> Claim:
        return Claim(voice_id, held=True, sent=voice_id in self._state.sent)

    async def upload_once(
        self, path: str | os.PathLike[str], purpose: str, upload: Callable[[], Awaitable[int]]
    ) -> int:
        return await upload()

    async def announce(self, claim: Claim, file_id: int, prompt_file_id: int | None) -> None:
        if claim.voice_id in self._announced:  # a retry: already on disk
            return
        await asyncio.to_thread(self.journal.sent, claim.voice_id, file_id, prompt_file_id)
        self._announced.add(claim.voice_id)

    async def ok(self, claim: Claim, result: CloneResult) -> None:
        await asyncio.to_thread(self.journal.ok, result)

    async def failed(self, claim: Claim, error: VoiceCloneError) -> None:
        await asyncio.to_thread(self.journal.failed, claim.voice_id, error)

    async def activated(self, voice_id: str, when: dt.datetime) -> None:
        await asyncio.to_thread(self.journal.activated, voice_id, when)

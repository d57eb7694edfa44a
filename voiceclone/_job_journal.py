"""What the job runner asks of a journal: claims, fenced "sent" marks, records.

`clone_jobs` has one runner (`_jobs`) and three journals behind one protocol:
none (`NO_JOURNAL`), a JSONL file for one process (`_journal.FileJobJournal`) and
Redis for many (`_redis._journal.RedisJournal`). A job goes::

    claim -> upload once -> clone (announce: the fenced "sent" mark, right before
    each attempt leaves) -> ok | failed

A file journal's claims are always held (its file lock keeps other processes
out); a Redis journal's are leases carrying a fencing token that every write for
the job checks, so a worker that lost its claim (paused past its lease) stops
before its request leaves (`ClaimLost`) instead of cloning a voice twice.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Awaitable, Callable
from typing import Protocol

import attrs

from ._errors import VoiceCloneError
from ._models import CloneResult

__all__ = ["NO_JOURNAL", "Claim", "ClaimLost", "JobJournal", "Recorded"]


@attrs.frozen
class Claim:
    """What a journal answered when a worker asked for a job.

    Attributes:
        voice_id: the job.
        done: the result, when some run finished the job.
        failed: the error, when the job failed for good (`_journal_lines.is_final`).
        held: this worker now holds the job; ``token`` fences its writes.
        token: the fencing token of the claim (empty where there is no contention).
        sent: a clone request for the job may have left before (so 2039 is a recovery).
        busy_for: seconds the claim of another live worker still runs.
    """

    voice_id: str
    done: CloneResult | None = None
    failed: VoiceCloneError | None = None
    held: bool = False
    token: str = ""
    sent: bool = False
    busy_for: float = 0.0


@attrs.frozen
class Recorded:
    """What a journal holds when a batch starts: finished jobs and final failures."""

    done: dict[str, CloneResult] = attrs.Factory(dict)
    failed: dict[str, VoiceCloneError] = attrs.Factory(dict)


class ClaimLost(Exception):
    """This worker's claim on a job passed to another worker (its lease lapsed).

    Raised by a fenced write; nothing was sent for the attempt it stopped. The
    runner then waits for the other worker's outcome, as for any busy job.
    """

    def __init__(self, voice_id: str) -> None:
        super().__init__(f"the claim on {voice_id} passed to another worker")
        self.voice_id = voice_id


class JobJournal(Protocol):
    """A journal as the job runner uses it. Every method may raise `JournalError`."""

    async def start(self, account_id: str, *, retry_failed: bool) -> Recorded:
        """Begin a batch for the account; what earlier runs recorded.

        With ``retry_failed``, failures recorded before this run are not final.
        """

    async def finish(self) -> None:
        """End the batch: give up claims still held, close what was opened."""

    async def claimed_elsewhere(self, voice_id: str) -> bool:
        """Whether another live worker holds the job now (its turn comes last)."""

    async def claim(self, voice_id: str) -> Claim:
        """Take the job unless it is done, failed for good, or held by another worker."""

    async def upload_once(
        self, path: str | os.PathLike[str], purpose: str, upload: Callable[[], Awaitable[int]]
    ) -> int:
        """The file_id an earlier upload of this content got, else ``upload()``'s."""

    async def announce(self, claim: Claim, file_id: int, prompt_file_id: int | None) -> None:
        """Record that a clone request is leaving now; `ClaimLost` if the claim is gone."""

    async def ok(self, claim: Claim, result: CloneResult) -> None:
        """Record the voice as created and release the claim."""

    async def failed(self, claim: Claim, error: VoiceCloneError) -> None:
        """Record the failure (final or not, as its type says) and release the claim."""

    async def activated(self, voice_id: str, when: dt.datetime) -> None:
        """Record that the voice was used for speech at ``when``: MiniMax keeps it."""


class _NoJournal:
    """No journal: every job is this run's, nothing is recorded."""

    async def start(self, account_id: str, *, retry_failed: bool) -> Recorded:
        return Recorded()

    async def finish(self) -> None:
        return None

    async def claimed_elsewhere(self, voice_id: str) -> bool:
        return False

    async def claim(self, voice_id: str) -> Claim:
        return Claim(voice_id, held=True)

    async def upload_once(
        self, path: str | os.PathLike[str], purpose: str, upload: Callable[[], Awaitable[int]]
    ) -> int:
        return await upload()

    async def announce(self, claim: Claim, file_id: int, prompt_file_id: int | None) -> None:
        return None

    async def ok(self, claim: Claim, result: CloneResult) -> None:
        return None

    async def failed(self, claim: Claim, error: VoiceCloneError) -> None:
        return None

    async def activated(self, voice_id: str, when: dt.datetime) -> None:
        return None


NO_JOURNAL: JobJournal = _NoJournal()

"""``clone_jobs``: the one job runner, whatever journal keeps the batch.

Each job is claimed, its files uploaded once, its clone request announced to the
journal right before each attempt leaves (the fenced "sent" mark), and its
outcome recorded. The journal (`_job_journal.JobJournal`) decides what a claim
means: nothing without one, a file lock for one process, a fenced lease in Redis
for many. The runner's rules are the same for all three:

- A job some run finished, or failed for good, is reported from the journal
  (``resumed=True``), never sent again (unless ``retry_failed``).
- A job another live worker holds is put back and taken up at the end, when its
  outcome is known or its lease has lapsed; jobs free now come first, so no
  worker waits while there is work it could do.
- A worker that lost its claim (paused past its lease) learns it before its
  request leaves, and waits for the new holder's outcome like any busy job.
- A journal that cannot record "sent" ends the batch (`JournalError`): sending
  without it could clone a voice twice on a re-run. A voice created while its
  result could not be recorded is still reported created; the record is tried
  again when the batch ends, and if it still fails the batch ends with a
  `JournalError` naming how many results went unrecorded.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import functools
import logging
import os
from collections.abc import AsyncIterable, AsyncIterator, Iterable
from pathlib import Path
from typing import Final, cast

import attrs

from ._audio import AudioInfo
from ._batch import Port, check_limit, fan_out
from ._errors import JournalError, ValidationError, VoiceCloneError
from ._job_checks import check_jobs
from ._job_journal import NO_JOURNAL, Claim, ClaimLost, JobJournal
from ._journal import FileJobJournal
from ._models import CloneJob, CloneOutcome, CloneResult
from ._redis._journal import RedisJournal
from ._validate import check_bool

__all__ = ["clone_jobs"]

logger = logging.getLogger("voiceclone")

#: Seconds between looks at a job another live worker holds. Its answer usually
#: comes within one request's time; only jobs met busy are waited for, at the end
#: of a worker's batch, so this costs a few calls per batch.
WAIT_POLL: Final = 0.2
#: Problems listed in the `ValidationError` of a batch refused before it starts.
_LISTED: Final = 20

_Item = tuple[int, CloneJob]


class _Batch:
    """One run of `clone_jobs`: the client, the journal, and what is left to record."""

    def __init__(
        self,
        port: Port,
        journal: JobJournal,
        probed: dict[Path, AudioInfo],
        *,
        activate: bool = False,
    ) -> None:
        self.port = port
        self.journal = journal
        self.probed = probed
        self.activate = activate
        #: Results created but not recorded (the journal failed): written at the end.
        self.unrecorded: list[tuple[Claim, CloneResult]] = []

    async def run(self, index: int, job: CloneJob) -> CloneOutcome:
        """The job's outcome: from the journal, or by cloning it under a claim."""
        while True:
            claim = await self.journal.claim(job.voice_id)
            if claim.done is not None:
                return CloneOutcome(index, job, result=claim.done, resumed=True)
            if claim.failed is not None:
                return CloneOutcome(index, job, error=claim.failed, resumed=True)
            if not claim.held:
                # Another live worker has it: look again soon, and no later than its
                # claim could lapse.
                await asyncio.sleep(max(0.01, min(claim.busy_for, WAIT_POLL)))
                continue
            try:
                return await self._clone(index, job, claim)
            except ClaimLost:
                logger.info(
                    "job %s: this worker's claim lapsed; another worker took it over",
                    job.voice_id,
                )

    async def _clone(self, index: int, job: CloneJob, claim: Claim) -> CloneOutcome:
        journal = self.journal
        try:
            sample = await journal.upload_once(
                job.audio, "voice_clone", functools.partial(self._upload, job.audio, "voice_clone")
            )
            prompt = None
            if job.prompt_audio is not None:
                upload = functools.partial(self._upload, job.prompt_audio, "prompt_audio")
                prompt = await journal.upload_once(job.prompt_audio, "prompt_audio", upload)
            # Every attempt announces itself right before it leaves: for a shared
            # journal, the last check of the claim, atomic with the "sent" mark.
            announce = functools.partial(journal.announce, claim, sample, prompt)
            result = await self.port.clone_maybe_sent(
                job.to_request(sample, prompt), maybe_sent=claim.sent, announce=announce
            )
        except JournalError:
            raise  # "sent" cannot be recorded: the batch ends (see the module docstring)
        except VoiceCloneError as exc:
            with contextlib.suppress(JournalError):  # unrecorded: a re-run tries it again
                await journal.failed(claim, exc)
            return CloneOutcome(index, job, error=exc)
        try:
            await journal.ok(claim, result)
        except JournalError:
            self.unrecorded.append((claim, result))
        if self.activate:
            result = await self._activate(result)
        return CloneOutcome(index, job, result=result)

    async def _activate(self, result: CloneResult) -> CloneResult:
        """Keep the new voice (see `Client.activate`); a failure leaves it to later."""
        try:
            await self.port.activate(result.voice_id)
        except VoiceCloneError as exc:
            logger.warning(
                "voice %s cloned but not activated (%s): activate it within 7 days "
                "(voiceclone activate --journal, or Client.activate)",
                result.voice_id, type(exc).__name__,
            )  # fmt: skip
            return result
        when = dt.datetime.now(dt.timezone.utc)
        try:
            await self.journal.activated(result.voice_id, when)
        except JournalError:  # unrecorded: a later `voiceclone activate` says it again
            logger.warning("voice %s activated, but the journal did not record it", result.voice_id)
        return attrs.evolve(result, activated_at=when)

    async def _upload(self, path: str | os.PathLike[str], purpose: str) -> int:
        # Checked by check_jobs before the batch began: upload without probing again.
        return (await self.port.upload(path, purpose, self.probed[Path(path)])).file_id

    async def record_the_rest(self) -> None:
        """Try once more to record the results the journal missed; say so if it cannot."""
        missed: list[JournalError] = []
        for claim, result in self.unrecorded:
            try:
                await self.journal.ok(claim, result)
            except JournalError as exc:
                missed.append(exc)
        self.unrecorded.clear()
        if missed:
            raise JournalError(
                f"{missed[-1].message}; {len(missed)} voice(s) were created and reported "
                "but not recorded: a re-run gets them back as recovered",
                path=missed[-1].path,
            )


async def clone_jobs(
    port: Port,
    jobs: Iterable[CloneJob] | AsyncIterable[CloneJob],
    *,
    account_id: str,
    journal: str | os.PathLike[str] | RedisJournal | None = None,
    max_in_flight: int | None = None,
    retry_failed: bool = False,
    activate: bool = False,
) -> AsyncIterator[CloneOutcome]:
    limit = check_limit(port, max_in_flight)
    check_bool(retry_failed, "retry_failed")
    check_bool(activate, "activate")
    # Every job's files are checked before the first upload, so a bad row at the
    # end of a long batch is reported now rather than after hours of cloning.
    if isinstance(jobs, AsyncIterable):
        all_jobs: list[object] = [job async for job in jobs]
    else:
        all_jobs = list(jobs)
    probed: dict[Path, AudioInfo] = {}
    problems = check_jobs(all_jobs, probed)
    if problems:
        listed = "; ".join(str(p) for p in problems[:_LISTED])
        more = f" (and {len(problems) - _LISTED} more)" if len(problems) > _LISTED else ""
        raise ValidationError(
            problems[0].field, f"{len(problems)} problem(s): {listed}{more}", problems=problems
        )
    checked = cast("list[CloneJob]", all_jobs)
    book: JobJournal
    if journal is None:
        book = NO_JOURNAL
    elif isinstance(journal, RedisJournal):
        book = journal
    else:
        book = FileJobJournal(journal)
    batch = _Batch(port, book, probed, activate=activate)
    # A file journal is locked here, before it is read: a second run on it fails
    # before any request instead of cloning beside this one.
    recorded = await book.start(account_id, retry_failed=retry_failed)
    try:
        todo: list[_Item] = []
        for index, job in enumerate(checked):
            if job.voice_id in recorded.done:
                yield CloneOutcome(index, job, result=recorded.done[job.voice_id], resumed=True)
            elif job.voice_id in recorded.failed:
                yield CloneOutcome(index, job, error=recorded.failed[job.voice_id], resumed=True)
            else:
                todo.append((index, job))

        async def run(position: int, item: _Item) -> CloneOutcome:
            return await batch.run(*item)

        outcomes = fan_out(_free_first(book, todo), limit, run)
        async with contextlib.aclosing(outcomes):
            async for outcome in outcomes:
                yield outcome
        await batch.record_the_rest()
    finally:
        await book.finish()


async def _free_first(journal: JobJournal, todo: list[_Item]) -> AsyncIterator[_Item]:
    """``todo``, jobs another live worker holds now moved to the end."""
    deferred: list[_Item] = []
    for item in todo:
        if await journal.claimed_elsewhere(item[1].voice_id):
            deferred.append(item)
        else:
            yield item
    for item in deferred:
        yield item

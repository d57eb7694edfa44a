"""``clone_jobs`` with a `RedisJournal`: many processes working through one batch.

Each process runs the same jobs. A job done by anyone is resumed; a job another
live worker holds is put back and taken up at the end, when its outcome is known
(resumed) or its worker's lease has lapsed (this process does it). Jobs free now
come first, so no worker waits while there is work it could do.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncGenerator, AsyncIterator
from pathlib import Path

from ._audio import AudioInfo
from ._batch import Port, _fan_out, split_done
from ._errors import JournalError, VoiceCloneError
from ._models import CloneJob, CloneOutcome
from ._redis_journal import RedisJournal, wait_hint

__all__ = ["clone_shared_jobs"]

_Item = tuple[int, CloneJob]


async def clone_shared_jobs(
    client: Port,
    jobs: list[CloneJob],
    journal: RedisJournal,
    limit: int,
    probed: dict[Path, AudioInfo],
) -> AsyncGenerator[CloneOutcome, None]:
    """Outcomes of ``jobs`` (already checked), shared with every process on ``journal``."""
    resumed, todo = split_done(jobs, await journal.load())
    for outcome in resumed:
        yield outcome
    deferred: list[_Item] = []

    async def free_first() -> AsyncIterator[_Item]:
        for item in todo:
            try:
                busy = await journal.claimed_elsewhere(item[1].voice_id)
            except JournalError:
                busy = False  # _run reports it, job by job
            if busy:
                deferred.append(item)
            else:
                yield item
        for item in deferred:
            yield item

    async def run(position: int, item: _Item) -> CloneOutcome:
        return await _run(client, item[0], item[1], journal, probed)

    async with journal:
        outcomes = _fan_out(free_first(), limit, run)
        async with contextlib.aclosing(outcomes):
            async for outcome in outcomes:
                yield outcome


async def _run(
    client: Port,
    index: int,
    job: CloneJob,
    journal: RedisJournal,
    probed: dict[Path, AudioInfo],
) -> CloneOutcome:
    try:
        while True:
            claim = await journal.claim(job.voice_id)
            if claim.done is not None:
                return CloneOutcome(index, job, result=claim.done, resumed=True)
            if claim.held:
                break
            # Another live worker has it: look again when its lease could have lapsed.
            await asyncio.sleep(wait_hint(claim))
        try:
            sample = await _upload(client, journal, job.audio, "voice_clone", probed)
            prompt = None
            if job.prompt_audio is not None:
                prompt = await _upload(client, journal, job.prompt_audio, "prompt_audio", probed)
            await journal.sent(job.voice_id, sample, prompt)
            result = await client.clone_maybe_sent(job.to_request(sample, prompt), claim.sent)
        except JournalError:
            raise
        except VoiceCloneError as exc:
            with contextlib.suppress(JournalError):  # unrecorded: its lease simply lapses
                await journal.failed(job.voice_id, exc)
            return CloneOutcome(index, job, error=exc)
        await journal.ok(result)
        return CloneOutcome(index, job, result=result)
    except JournalError as exc:
        # Redis lost: this job's outcome, not the end of the batch; a re-run resumes it.
        return CloneOutcome(index, job, error=exc)


async def _upload(
    client: Port,
    journal: RedisJournal,
    path: str | os.PathLike[str],
    purpose: str,
    probed: dict[Path, AudioInfo],
) -> int:
    """The file_id of ``path``: an upload any worker recorded, or a new one."""

    async def upload() -> int:
        return (await client.upload(path, purpose, probed[Path(path)])).file_id

    return await journal.upload_once(path, purpose, upload)

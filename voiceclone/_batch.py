"""Batches: bounded fan-out over a lazily consumed input, one outcome per item.

The input is pulled only as fast as calls finish, so a generator of a million
requests is never more than ``max_in_flight`` tasks in memory. A failed item is
an outcome carrying its error; only a bug (or the caller's own iterator
raising) ends a batch early. Leaving the loop cancels the calls in progress and
waits for them, so no task outlives the batch.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, TypeVar

from ._errors import ValidationError, VoiceCloneError
from ._journal import Journal, JournalState
from ._models import CloneJob, CloneOutcome, CloneRequest
from ._validate import check_audio

if TYPE_CHECKING:
    from ._client import Client

__all__ = ["check_jobs", "clone_all", "clone_jobs", "clone_many"]

_Item = TypeVar("_Item")


async def _iterate(items: Iterable[_Item] | AsyncIterable[_Item]) -> AsyncIterator[_Item]:
    if isinstance(items, AsyncIterable):
        async for item in items:
            yield item
    else:
        for item in items:
            yield item


def _limit(client: Client, max_in_flight: int | None) -> int:
    limit = client.max_in_flight if max_in_flight is None else max_in_flight
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise ValidationError("max_in_flight", f"must be a positive int, got {limit!r}")
    return limit


async def _fan_out(
    items: AsyncIterator[_Item],
    limit: int,
    run: Callable[[int, _Item], Awaitable[CloneOutcome]],
) -> AsyncIterator[CloneOutcome]:
    """Run ``run`` over ``items`` with at most ``limit`` in progress; yield as each ends."""
    pending: set[asyncio.Task[CloneOutcome]] = set()
    index = 0
    exhausted = False
    try:
        while True:
            while not exhausted and len(pending) < limit:
                try:
                    item = await items.__anext__()
                except StopAsyncIteration:
                    exhausted = True
                    break
                pending.add(asyncio.ensure_future(run(index, item)))
                index += 1
            if not pending:
                return
            done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            for task in sorted(done, key=id):
                yield task.result()
    finally:
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)


async def clone_many(
    client: Client,
    requests: Iterable[CloneRequest] | AsyncIterable[CloneRequest],
    *,
    max_in_flight: int | None = None,
) -> AsyncIterator[CloneOutcome]:
    limit = _limit(client, max_in_flight)

    async def run(index: int, request: CloneRequest) -> CloneOutcome:
        try:
            if not isinstance(request, CloneRequest):
                raise ValidationError(
                    f"requests[{index}]", f"must be a CloneRequest, got {type(request).__name__}"
                )
            return CloneOutcome(index, request, result=await client.clone(request))
        except VoiceCloneError as exc:
            return CloneOutcome(index, request, error=exc)

    async for outcome in _fan_out(_iterate(requests), limit, run):
        yield outcome


async def clone_all(
    client: Client,
    requests: Iterable[CloneRequest] | AsyncIterable[CloneRequest],
    *,
    max_in_flight: int | None = None,
) -> list[CloneOutcome]:
    outcomes = [o async for o in clone_many(client, requests, max_in_flight=max_in_flight)]
    outcomes.sort(key=lambda o: o.index)
    return outcomes


def check_jobs(jobs: Iterable[object]) -> list[ValidationError]:
    """Every problem with a batch of jobs, found without sending anything."""
    problems: list[ValidationError] = []
    seen: dict[str, int] = {}
    for i, job in enumerate(jobs):
        if not isinstance(job, CloneJob):
            problems.append(ValidationError(f"jobs[{i}]", "must be a CloneJob"))
            continue
        if job.voice_id in seen:
            problems.append(
                ValidationError(f"jobs[{i}].voice_id", f"repeats jobs[{seen[job.voice_id]}]")
            )
        seen.setdefault(job.voice_id, i)
        for field, purpose in (("audio", "voice_clone"), ("prompt_audio", "prompt_audio")):
            source = getattr(job, field)
            if source is None:
                continue
            try:
                check_audio(source, purpose, field=f"jobs[{i}].{field}")
            except ValidationError as exc:
                problems.append(exc)
    return problems


async def _run_job(
    client: Client, index: int, job: CloneJob, journal: Journal | None, state: JournalState
) -> CloneOutcome:
    try:
        sample = await client.upload_file(job.audio, purpose="voice_clone")
        prompt = None
        if job.prompt_audio is not None:
            prompt = await client.upload_file(job.prompt_audio, purpose="prompt_audio")
        request = job.to_request(sample.file_id, prompt.file_id if prompt else None)
        if journal is not None:
            journal.sent(job.voice_id, sample.file_id, prompt.file_id if prompt else None)
        # The upload is done once; clone() retries only the clone request.
        result = await client._clone(request, maybe_sent=job.voice_id in state.sent)
    except VoiceCloneError as exc:
        if journal is not None:
            journal.failed(job.voice_id, exc)
        return CloneOutcome(index, job, error=exc)
    if journal is not None:
        journal.ok(result)
    return CloneOutcome(index, job, result=result)


async def clone_jobs(
    client: Client,
    jobs: Iterable[CloneJob] | AsyncIterable[CloneJob],
    *,
    journal: str | os.PathLike[str] | None = None,
    max_in_flight: int | None = None,
) -> AsyncIterator[CloneOutcome]:
    limit = _limit(client, max_in_flight)
    # Every job's files are checked before the first upload, so a bad row at the
    # end of a long batch is reported now rather than after hours of cloning.
    all_jobs = [job async for job in _iterate(jobs)]
    problems = check_jobs(all_jobs)
    if problems:
        listed = "; ".join(str(p) for p in problems[:20])
        more = f" (and {len(problems) - 20} more)" if len(problems) > 20 else ""
        error = ValidationError(problems[0].field, f"{len(problems)} problem(s): {listed}{more}")
        error.problems = problems
        raise error
    book = Journal(journal) if journal is not None else None
    state = book.load() if book is not None else JournalState()
    todo: list[tuple[int, CloneJob]] = []
    for index, job in enumerate(all_jobs):
        if job.voice_id in state.done:
            yield CloneOutcome(index, job, result=state.done[job.voice_id], resumed=True)
        else:
            todo.append((index, job))
    if book is not None:
        book.open()
    try:

        async def run(position: int, item: tuple[int, CloneJob]) -> CloneOutcome:
            return await _run_job(client, item[0], item[1], book, state)

        async for outcome in _fan_out(_iterate(todo), limit, run):
            yield outcome
    finally:
        if book is not None:
            book.close()

"""Batches: bounded fan-out over a lazily consumed input, one outcome per item.

The input is pulled only as fast as calls finish, so a generator of a million
requests is never more than ``max_in_flight`` tasks in memory. A failed item is
an outcome carrying its error; only a bug (or the caller's own iterator
raising) ends a batch early. Cancelling the consumer, or leaving the loop inside
``contextlib.aclosing``, cancels the calls in progress and waits for them, so no
task outlives the batch. (A bare ``break`` leaves that to the garbage collector,
as with any async generator.)
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import (
    AsyncGenerator,
    AsyncIterable,
    AsyncIterator,
    Awaitable,
    Callable,
    Iterable,
)
from pathlib import Path
from typing import TYPE_CHECKING, Final, TypeVar, cast

from ._audio import AudioInfo
from ._errors import ValidationError, VoiceCloneError
from ._journal import Journal, JournalState
from ._models import CloneJob, CloneOutcome, CloneRequest
from ._redis_journal import RedisJournal
from ._validate import check_audio

if TYPE_CHECKING:
    from ._client import Client

__all__ = ["check_job", "check_jobs", "clone_all", "clone_jobs", "clone_many"]

_Item = TypeVar("_Item")


_DONE: Final = object()


def _puller(items: Iterable[_Item] | AsyncIterable[_Item]) -> Callable[[], Awaitable[_Item]]:
    """One item per call, raising StopAsyncIteration at the end; safe for concurrent callers."""
    if not isinstance(items, AsyncIterable):
        iterator = iter(items)

        async def pull_sync() -> _Item:
            try:
                return next(iterator)
            except StopIteration:
                raise StopAsyncIteration from None

        return pull_sync
    aiterator = aiter(items)
    # An async generator refuses a second __anext__ while one is running.
    lock = asyncio.Lock()

    async def pull_async() -> _Item:
        async with lock:
            return await anext(aiterator)

    return pull_async


def _limit(client: Client, max_in_flight: int | None) -> int:
    limit = client.max_in_flight if max_in_flight is None else max_in_flight
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise ValidationError("max_in_flight", f"must be a positive int, got {limit!r}")
    return limit


async def _fan_out(
    items: Iterable[_Item] | AsyncIterable[_Item],
    limit: int,
    run: Callable[[int, _Item], Awaitable[CloneOutcome]],
) -> AsyncGenerator[CloneOutcome, None]:
    """Run ``run`` over ``items`` with at most ``limit`` in progress; yield as each ends.

    ``limit`` workers pull from one shared iterator, rather than a task per item:
    the bookkeeping of a task and an ``asyncio.wait`` per item cost more than the
    request itself on a fast server. A worker takes a ticket before pulling and
    the ticket comes back only when the caller has taken the outcome, so items in
    progress plus outcomes not yet consumed never exceed ``limit``.
    """
    pull = _puller(items)
    tickets = asyncio.Semaphore(limit)
    finished: asyncio.Queue[object] = asyncio.Queue()
    index = 0
    exhausted = False

    async def worker() -> None:
        nonlocal index, exhausted
        try:
            while not exhausted:
                await tickets.acquire()
                try:
                    item = await pull()
                except StopAsyncIteration:
                    exhausted = True
                    tickets.release()
                    return
                position, index = index, index + 1
                finished.put_nowait(await run(position, item))
        except Exception as exc:  # a bug, or the caller's iterator raising: ends the batch
            finished.put_nowait(exc)
        finally:
            finished.put_nowait(_DONE)

    workers = [asyncio.ensure_future(worker()) for _ in range(limit)]
    running = limit
    try:
        while running:
            got = await finished.get()
            if got is _DONE:
                running -= 1
            elif isinstance(got, Exception):
                raise got
            else:
                tickets.release()
                yield cast(CloneOutcome, got)
    finally:
        for task in workers:
            task.cancel()
        await asyncio.gather(*workers, return_exceptions=True)


async def clone_many(
    client: Client,
    requests: Iterable[CloneRequest] | AsyncIterable[CloneRequest],
    *,
    max_in_flight: int | None = None,
) -> AsyncIterator[CloneOutcome]:
    limit = _limit(client, max_in_flight)
    # Two requests for one voice at once must not run: a lost answer to one would make
    # the other's 2039 look like a recovery, of audio that did not become the voice.
    in_flight: set[str] = set()

    async def run(index: int, request: CloneRequest) -> CloneOutcome:
        try:
            if not isinstance(request, CloneRequest):
                raise ValidationError(
                    f"requests[{index}]", f"must be a CloneRequest, got {type(request).__name__}"
                )
            if request.voice_id in in_flight:
                raise ValidationError(
                    f"requests[{index}].voice_id",
                    f"{request.voice_id!r} is already being cloned by this batch",
                )
            in_flight.add(request.voice_id)
            try:
                return CloneOutcome(index, request, result=await client.clone(request))
            finally:
                in_flight.discard(request.voice_id)
        except VoiceCloneError as exc:
            return CloneOutcome(index, request, error=exc)

    # Closed explicitly: an abandoned outer generator would leave the inner one's calls
    # running until garbage collection.
    async with contextlib.aclosing(_fan_out(requests, limit, run)) as outcomes:
        async for outcome in outcomes:
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


def check_jobs(
    jobs: Iterable[object], probed: dict[Path, AudioInfo] | None = None
) -> list[ValidationError]:
    """Every problem with a batch of jobs, found without sending anything.

    ``probed``, when given, receives what was learned of each audio file, so the
    uploads that follow need not read the files' headers again.
    """
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
        problems += check_job(job, probed, prefix=f"jobs[{i}].")
    return problems


def check_job(
    job: CloneJob, probed: dict[Path, AudioInfo] | None = None, *, prefix: str = ""
) -> list[ValidationError]:
    """The problems of one job's audio files (format by content, size, duration).

    Fields are named ``prefix`` + ``audio`` or ``prompt_audio``; ``probed``, when
    given, receives what was learned of each file.
    """
    problems = []
    for field, purpose in (("audio", "voice_clone"), ("prompt_audio", "prompt_audio")):
        source = getattr(job, field)
        if source is None:
            continue
        try:
            info = check_audio(source, purpose, field=prefix + field)
        except ValidationError as exc:
            problems.append(exc)
        else:
            if probed is not None:
                probed[Path(source)] = info
    return problems


async def _run_job(
    client: Client,
    index: int,
    job: CloneJob,
    journal: Journal | None,
    state: JournalState,
    probed: dict[Path, AudioInfo],
) -> CloneOutcome:
    try:
        # Checked by check_jobs before the batch began: upload without probing again.
        sample = await client._upload(job.audio, "voice_clone", probed[Path(job.audio)])
        prompt_file_id = None
        if job.prompt_audio is not None:
            prompt = await client._upload(
                job.prompt_audio, "prompt_audio", probed[Path(job.prompt_audio)]
            )
            prompt_file_id = prompt.file_id
        request = job.to_request(sample.file_id, prompt_file_id)
        if journal is not None:
            journal.sent(job.voice_id, sample.file_id, prompt_file_id)
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
    journal: str | os.PathLike[str] | RedisJournal | None = None,
    max_in_flight: int | None = None,
) -> AsyncIterator[CloneOutcome]:
    limit = _limit(client, max_in_flight)
    # Every job's files are checked before the first upload, so a bad row at the
    # end of a long batch is reported now rather than after hours of cloning.
    if isinstance(jobs, AsyncIterable):
        all_jobs: list[object] = [job async for job in jobs]
    else:
        all_jobs = list(jobs)
    probed: dict[Path, AudioInfo] = {}
    problems = check_jobs(all_jobs, probed)
    if problems:
        listed = "; ".join(str(p) for p in problems[:20])
        more = f" (and {len(problems) - 20} more)" if len(problems) > 20 else ""
        error = ValidationError(problems[0].field, f"{len(problems)} problem(s): {listed}{more}")
        error.problems = problems
        raise error
    if isinstance(journal, RedisJournal):  # shared by many processes: see _shared_batch
        from ._shared_batch import clone_shared_jobs

        checked = cast("list[CloneJob]", all_jobs)
        shared = clone_shared_jobs(client, checked, journal, limit, probed)
        async with contextlib.aclosing(shared):
            async for outcome in shared:
                yield outcome
        return
    book = Journal(journal) if journal is not None else None
    state = book.load() if book is not None else JournalState()
    todo: list[tuple[int, CloneJob]] = []
    for index, job in enumerate(cast("list[CloneJob]", all_jobs)):  # all checked above
        if job.voice_id in state.done:
            yield CloneOutcome(index, job, result=state.done[job.voice_id], resumed=True)
        else:
            todo.append((index, job))
    if book is not None:
        book.open()
    try:

        async def run(position: int, item: tuple[int, CloneJob]) -> CloneOutcome:
            return await _run_job(client, item[0], item[1], book, state, probed)

        async with contextlib.aclosing(_fan_out(todo, limit, run)) as outcomes:
            async for outcome in outcomes:
                yield outcome
    finally:
        if book is not None:
            book.close()

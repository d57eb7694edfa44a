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
import itertools
import os
from collections.abc import (
    AsyncGenerator,
    AsyncIterable,
    AsyncIterator,
    Awaitable,
    Callable,
    Iterable,
    Mapping,
)
from pathlib import Path
from typing import Final, TypeVar, cast

import attrs

from ._audio import AudioInfo
from ._errors import JournalError, ValidationError, VoiceCloneError
from ._journal import Journal, JournalState
from ._models import CloneJob, CloneOutcome, CloneRequest, CloneResult, UploadedFile
from ._redis_journal import RedisJournal
from ._validate import check_jobs, check_number

__all__ = ["Port", "clone_all", "clone_jobs", "clone_many", "split_done"]

_Item = TypeVar("_Item")


@attrs.frozen
class Port:
    """What a batch needs of the client: its in-flight cap and two ways to call it."""

    max_in_flight: int
    #: Upload a file already checked for a purpose (with what the check learned).
    upload: Callable[[str | os.PathLike[str], str, AudioInfo], Awaitable[UploadedFile]]
    #: Clone, saying whether an earlier run may already have sent the request.
    clone_maybe_sent: Callable[[CloneRequest, bool], Awaitable[CloneResult]]


_DONE: Final = object()


def _puller(
    items: Iterable[_Item] | AsyncIterable[_Item],
) -> Callable[[], Awaitable[tuple[int, _Item]]]:
    """The next item and its position in the input, per call; StopAsyncIteration at the end.

    Safe for concurrent callers: each item is numbered as it is pulled, in one place.
    """
    position = itertools.count()
    if not isinstance(items, AsyncIterable):
        iterator = iter(items)

        async def pull_sync() -> tuple[int, _Item]:
            try:
                item = next(iterator)
            except StopIteration:
                raise StopAsyncIteration from None
            return next(position), item

        return pull_sync
    aiterator = aiter(items)
    # An async generator refuses a second __anext__ while one is running.
    lock = asyncio.Lock()

    async def pull_async() -> tuple[int, _Item]:
        async with lock:
            item = await anext(aiterator)
            return next(position), item

    return pull_async


def _limit(client: Port, max_in_flight: int | None) -> int:
    if max_in_flight is None:
        return client.max_in_flight
    check_number(max_in_flight, "max_in_flight", positive=True, integer=True)
    return max_in_flight


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
    exhausted = False

    async def worker() -> None:
        nonlocal exhausted
        try:
            while not exhausted:
                await tickets.acquire()
                try:
                    position, item = await pull()
                except StopAsyncIteration:
                    exhausted = True
                    tickets.release()
                    return
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


def _cloner(client: Port) -> Callable[[int, CloneRequest], Awaitable[CloneOutcome]]:
    """One item of ``clone_many`` / ``clone_all``: its outcome, whatever happens."""
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
                result = await client.clone_maybe_sent(request, False)
                return CloneOutcome(index, request, result=result)
            finally:
                in_flight.discard(request.voice_id)
        except VoiceCloneError as exc:
            return CloneOutcome(index, request, error=exc)

    return run


async def clone_many(
    client: Port,
    requests: Iterable[CloneRequest] | AsyncIterable[CloneRequest],
    *,
    max_in_flight: int | None = None,
) -> AsyncIterator[CloneOutcome]:
    limit = _limit(client, max_in_flight)
    # Closed explicitly: an abandoned outer generator would leave the inner one's calls
    # running until garbage collection.
    async with contextlib.aclosing(_fan_out(requests, limit, _cloner(client))) as outcomes:
        async for outcome in outcomes:
            yield outcome


async def clone_all(
    client: Port,
    requests: Iterable[CloneRequest] | AsyncIterable[CloneRequest],
    *,
    max_in_flight: int | None = None,
) -> list[CloneOutcome]:
    """Every outcome, in input order.

    Not `clone_many` collected: nothing is consumed one at a time here, so the
    workers append to one list, with no queue, tickets or generators in between.
    """
    limit = _limit(client, max_in_flight)
    pull = _puller(requests)
    run = _cloner(client)
    outcomes: list[CloneOutcome] = []

    async def worker() -> None:
        while True:
            try:
                position, request = await pull()
            except StopAsyncIteration:
                return
            outcomes.append(await run(position, request))

    workers = [asyncio.ensure_future(worker()) for _ in range(limit)]
    try:
        await asyncio.gather(*workers)
    finally:
        for task in workers:
            task.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
    outcomes.sort(key=lambda o: o.index)
    return outcomes


async def _run_job(
    client: Port,
    index: int,
    job: CloneJob,
    journal: Journal | None,
    state: JournalState,
    probed: dict[Path, AudioInfo],
) -> CloneOutcome:
    try:
        # Checked by check_jobs before the batch began: upload without probing again.
        sample = await client.upload(job.audio, "voice_clone", probed[Path(job.audio)])
        prompt_file_id = None
        if job.prompt_audio is not None:
            prompt = await client.upload(
                job.prompt_audio, "prompt_audio", probed[Path(job.prompt_audio)]
            )
            prompt_file_id = prompt.file_id
        request = job.to_request(sample.file_id, prompt_file_id)
        if journal is not None:
            # Each record is fsynced: in a thread, so the event loop (every other call's
            # timers, the rate gate) does not wait for the disk.
            await asyncio.to_thread(journal.sent, job.voice_id, sample.file_id, prompt_file_id)
        # The upload is done once; clone() retries only the clone request.
        result = await client.clone_maybe_sent(request, job.voice_id in state.sent)
    except JournalError:
        raise  # the journal cannot keep its promise: the batch ends (a typed error)
    except VoiceCloneError as exc:
        if journal is not None:
            await asyncio.to_thread(journal.failed, job.voice_id, exc)
        return CloneOutcome(index, job, error=exc)
    if journal is not None:
        await asyncio.to_thread(journal.ok, result)
    return CloneOutcome(index, job, result=result)


def split_done(
    jobs: list[CloneJob], done: Mapping[str, CloneResult]
) -> tuple[list[CloneOutcome], list[tuple[int, CloneJob]]]:
    """The outcomes of jobs a journal has as done (resumed), and the rest, numbered."""
    resumed: list[CloneOutcome] = []
    todo: list[tuple[int, CloneJob]] = []
    for index, job in enumerate(jobs):
        if job.voice_id in done:
            resumed.append(CloneOutcome(index, job, result=done[job.voice_id], resumed=True))
        else:
            todo.append((index, job))
    return resumed, todo


async def clone_jobs(
    client: Port,
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
        raise ValidationError(
            problems[0].field, f"{len(problems)} problem(s): {listed}{more}", problems=problems
        )
    if isinstance(journal, RedisJournal):  # shared by many processes: see _shared_batch
        from ._shared_batch import clone_shared_jobs

        checked = cast("list[CloneJob]", all_jobs)
        shared = clone_shared_jobs(client, checked, journal, limit, probed)
        async with contextlib.aclosing(shared):
            async for outcome in shared:
                yield outcome
        return
    book = Journal(journal) if journal is not None else None
    if book is not None:
        # Locked before it is read: a second run on this journal fails here, before
        # any request, instead of cloning beside this one.
        book.open()
    try:
        state = book.load() if book is not None else JournalState()
        resumed, todo = split_done(cast("list[CloneJob]", all_jobs), state.done)
        for outcome in resumed:
            yield outcome

        async def run(position: int, item: tuple[int, CloneJob]) -> CloneOutcome:
            return await _run_job(client, item[0], item[1], book, state, probed)

        async with contextlib.aclosing(_fan_out(todo, limit, run)) as outcomes:
            async for outcome in outcomes:
                yield outcome
    finally:
        if book is not None:
            book.close()

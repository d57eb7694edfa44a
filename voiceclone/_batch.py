"""Batches: bounded fan-out over a lazily consumed input, one outcome per item.

``clone_many`` and ``clone_all`` live here; ``clone_jobs`` (uploads and a
journal) is `_jobs`, built on the same `fan_out`.

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
)
from typing import Final, Protocol, TypeVar, cast

import attrs

from ._aio import cancel_and_wait, raise_if_cancelling
from ._audio import AudioInfo
from ._errors import ValidationError, VoiceCloneError
from ._models import CloneOutcome, CloneRequest, CloneResult, UploadedFile
from ._validate import check_number

__all__ = ["Announce", "CloneCall", "Port", "clone_all", "clone_many", "fan_out"]

_Item = TypeVar("_Item")

#: Called right before each attempt of a clone leaves (a journal's "sent" mark).
Announce = Callable[[], Awaitable[None]]


class CloneCall(Protocol):
    """The client's clone, as a batch calls it."""

    def __call__(
        self, request: CloneRequest, *, maybe_sent: bool = False, announce: Announce | None = None
    ) -> Awaitable[CloneResult]: ...


@attrs.frozen
class Port:
    """What a batch needs of the client: its in-flight cap and the calls it makes."""

    max_in_flight: int
    #: Upload a file already checked for a purpose (with what the check learned).
    upload: Callable[[str | os.PathLike[str], str, AudioInfo], Awaitable[UploadedFile]]
    #: Clone, saying whether an earlier run may already have sent the request.
    clone_maybe_sent: CloneCall
    #: Keep a clone with the smallest real synthesis (`Client.activate`).
    activate: Callable[[str], Awaitable[object]]


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


def check_limit(client: Port, max_in_flight: int | None) -> int:
    if max_in_flight is None:
        return client.max_in_flight
    check_number(max_in_flight, "max_in_flight", positive=True, integer=True)
    return max_in_flight


async def fan_out(
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
                outcome = await run(position, item)
                # A cancellation swallowed below (Python 3.11's wait_for can lose one
                # that races a finished call) must still end this worker.
                raise_if_cancelling()
                finished.put_nowait(outcome)
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
        await cancel_and_wait(workers)


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
                result = await client.clone_maybe_sent(request)
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
    limit = check_limit(client, max_in_flight)
    # Closed explicitly: an abandoned outer generator would leave the inner one's calls
    # running until garbage collection.
    async with contextlib.aclosing(fan_out(requests, limit, _cloner(client))) as outcomes:
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
    limit = check_limit(client, max_in_flight)
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
            raise_if_cancelling()

    workers = [asyncio.ensure_future(worker()) for _ in range(limit)]
    try:
        await asyncio.gather(*workers)
    finally:
        await cancel_and_wait(workers)
    outcomes.sort(key=lambda o: o.index)
    return outcomes

"""Asyncio helpers that no cancellation escapes: bounded calls, tasks that really end.

Python 3.11's ``wait_for`` can lose a cancellation that races a finished call, and
a library may swallow one; a batch that relies on cancellation to end must not
hang on either. Used by the batches and by the Redis gate and journal.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Sequence
from typing import Final, TypeVar

__all__ = ["call_within", "cancel_and_wait", "raise_if_cancelling"]

_T = TypeVar("_T")


async def call_within(call: Awaitable[_T], seconds: float) -> _T:
    """``call``, or `asyncio.TimeoutError` after ``seconds``.

    ``asyncio.timeout`` where there is one (3.11+): unlike 3.11's ``wait_for``, it
    never loses a cancellation that races a finished call.
    """
    if sys.version_info >= (3, 11):
        async with asyncio.timeout(seconds):
            return await call
    return await asyncio.wait_for(call, seconds)  # pragma: no cover - Python 3.10


def raise_if_cancelling() -> None:
    """Raise `CancelledError` if the current task is being cancelled (one was lost)."""
    task = asyncio.current_task()
    # Task.cancelling() is Python 3.11+; on 3.10 cancel_and_wait's re-cancel covers it.
    if task is not None and getattr(task, "cancelling", lambda: 0)():
        raise asyncio.CancelledError


#: Seconds between cancellations of a task that swallowed one.
_RECANCEL: Final = 0.1


async def cancel_and_wait(tasks: Sequence[asyncio.Future[None]]) -> None:
    """Cancel ``tasks`` and wait until every one has ended.

    A task may swallow a cancellation (a library catching it, or Python 3.11's
    ``wait_for`` losing one that raced a finished call) and go on to wait for
    something that will never come: it is cancelled again until it ends.
    """
    pending = {task for task in tasks if not task.done()}
    while pending:
        for task in pending:
            task.cancel()
        _, pending = await asyncio.wait(pending, timeout=_RECANCEL)
    for task in tasks:  # retrieve every exception, so none is logged as unretrieved
        if not task.cancelled():
            task.exception()

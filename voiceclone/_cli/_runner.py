"""Running a subcommand's coroutine so that Ctrl-C stops it cleanly.

Ctrl-C (and SIGTERM) cancel the command's task instead of raising
``KeyboardInterrupt`` wherever the interpreter happens to be: the cancellation
unwinds through the batch, whose journal then closes between two whole lines.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Awaitable, Callable

from voiceclone._cli._exit import INTERRUPTED, TERMINATED

__all__ = ["run_command"]


def run_command(command: Callable[[], Awaitable[int]]) -> int:
    """Run ``command()`` in a new event loop; return its exit status (130 on Ctrl-C)."""

    async def guarded() -> int:
        loop = asyncio.get_running_loop()
        task = asyncio.ensure_future(command())
        stopped_by: list[int] = []

        def stop(status: int) -> None:
            stopped_by.append(status)
            task.cancel()

        installed = []
        for signum, status in ((signal.SIGINT, INTERRUPTED), (signal.SIGTERM, TERMINATED)):
            try:
                loop.add_signal_handler(signum, stop, status)
            except (NotImplementedError, RuntimeError):  # pragma: no cover - Windows
                continue
            installed.append(signum)
        try:
            return await task
        except asyncio.CancelledError:
            if stopped_by:
                return stopped_by[0]
            raise
        finally:
            for signum in installed:
                loop.remove_signal_handler(signum)

    try:
        return asyncio.run(guarded())
    except KeyboardInterrupt:  # pragma: no cover - only where signal handlers are unavailable
        return INTERRUPTED

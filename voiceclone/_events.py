"""What the client reports to observability hooks: metadata only, never bodies or keys.

A hook is the user's code running inside the request path, after the server has
acted. So `Hooks` makes sure a hook can neither change a call's outcome nor end
a batch: whatever it raises is logged (once per hook and exception type) and
dropped, and an async hook is awaited for at most the attempt's timeout.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

import attrs

from ._errors import VoiceCloneError

__all__ = ["Hooks", "OnResponse", "OnRetry", "ResponseEvent", "RetryEvent"]

logger = logging.getLogger("voiceclone")

_E = TypeVar("_E")


@attrs.frozen
class ResponseEvent:
    """One answer received (or one attempt that got none).

    Attributes:
        method: HTTP method.
        path: the endpoint path, e.g. ``"/voice_clone"``.
        http_status: the HTTP status, or ``None`` when no answer arrived.
        status_code: ``base_resp.status_code``, when the body had one.
        trace_id: the ``Trace-Id`` header, when present.
        attempt: 1 for the first attempt of a call.
        elapsed: seconds from sending to the end of the body.
        voice_id: the voice being cloned, for ``voice_clone`` calls.
    """

    method: str
    path: str
    http_status: int | None
    status_code: int | None
    trace_id: str | None
    attempt: int
    elapsed: float
    voice_id: str | None = None


@attrs.frozen
class RetryEvent:
    """A failed attempt about to be retried.

    Attributes:
        path: the endpoint path.
        attempt: the attempt that failed (1 for the first).
        wait: seconds of backoff before the next attempt (a paced call may also
            wait for the rate gate).
        error: the failure that caused the retry.
        voice_id: the voice being cloned, for ``voice_clone`` calls.
    """

    path: str
    attempt: int
    wait: float
    error: VoiceCloneError
    voice_id: str | None = None


OnRetry = Callable[[RetryEvent], Awaitable[None] | None]
OnResponse = Callable[[ResponseEvent], Awaitable[None] | None]


def _hook_name(hook: Callable[..., object]) -> str:
    return getattr(hook, "__qualname__", None) or type(hook).__qualname__


class Hooks:
    """Runs the user's ``on_retry`` / ``on_response`` hooks, shielding calls from them."""

    def __init__(self, on_retry: OnRetry | None, on_response: OnResponse | None) -> None:
        self.on_retry = on_retry
        self.on_response = on_response
        self._reported: set[tuple[str, type[BaseException]]] = set()

    async def retry(self, event: RetryEvent, timeout: float) -> None:
        if self.on_retry is not None:
            await self._run(self.on_retry, event, timeout)

    async def response(self, event: ResponseEvent, timeout: float) -> None:
        if self.on_response is not None:
            await self._run(self.on_response, event, timeout)

    async def _run(
        self, hook: Callable[[_E], Awaitable[None] | None], event: _E, timeout: float
    ) -> None:
        try:
            result = hook(event)
            if inspect.isawaitable(result):
                await asyncio.wait_for(result, timeout)
        except Exception as exc:  # the user's code: never the call's outcome
            name = _hook_name(hook)
            if (name, type(exc)) not in self._reported:
                self._reported.add((name, type(exc)))
                # The type only: a hook's message is the user's text, not metadata.
                logger.warning(
                    "hook %s raised %s; ignored (further %s from it are not logged)",
                    name, type(exc).__name__, type(exc).__name__,
                )  # fmt: skip

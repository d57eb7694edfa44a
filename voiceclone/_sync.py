"""A blocking client: the async `Client`, run on a private event loop in a background thread.

Every call is the async client's own, submitted to one event loop that a daemon
thread runs (started on first use) with `asyncio.run_coroutine_threadsafe`, so
the retry, pacing and recovery logic exist once. The caller's thread only
waits, which is why a call works the same from a script, from several threads
at once (they share the client's session, rate gate and retry budget), and from
a thread whose own loop is already running (Jupyter): nothing runs on that loop.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import copy
import inspect
import logging
import os
import threading
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Generator, Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Concatenate, Final, Literal, ParamSpec, TypeVar

from ._breaker import AccountStatus
from ._client import Client
from ._errors import ConfigurationError
from ._events import OnResponse, OnRetry
from ._pacing import GateStats
from ._retry import RetryPolicy

if TYPE_CHECKING:
    from ._redis._conn import RedisClient

__all__ = ["SyncClient"]

_P = ParamSpec("_P")
_R = TypeVar("_R")
_T = TypeVar("_T")

#: Seconds ``close`` waits for the session to close and the thread to end. Closing
#: sockets takes milliseconds; the bound only keeps a wedged loop from hanging exit.
_CLOSE_TIMEOUT: Final = 10.0

logger = logging.getLogger("voiceclone")


async def _invoke(factory: Callable[[], Awaitable[_R]]) -> _R:
    # The awaitable is created here, on the private loop, never in the caller's thread.
    return await factory()


def _serve(loop: asyncio.AbstractEventLoop) -> None:
    """The background thread: run the loop until stopped, then wind it down as asyncio.run does."""
    asyncio.set_event_loop(loop)
    try:
        loop.run_forever()
    finally:
        try:
            pending = asyncio.all_tasks(loop)
            for task in pending:
                task.cancel()
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_asyncgens())
        finally:
            asyncio.set_event_loop(None)
            loop.close()


class _LoopThread:
    """One event loop in one daemon thread, started on first use, stopped once."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._pid: int | None = None  # the process whose thread runs the loop
        self.stopped = False

    @property
    def thread(self) -> threading.Thread | None:
        return self._thread

    def _running_loop(self) -> asyncio.AbstractEventLoop:
        """The loop, started if need be; the caller holds ``_lock``."""
        if self.stopped:
            raise ConfigurationError("the client is closed")
        if self._loop is not None and self._pid != os.getpid():
            # A fork copies the client but not its thread: waiting would hang.
            raise ConfigurationError(
                "this SyncClient was started in another process before a fork; "
                "create one in each process (or first use it after the fork)"
            )
        if self._loop is None:
            self._pid = os.getpid()
            self._loop = asyncio.new_event_loop()
            self._thread = threading.Thread(
                target=_serve, args=(self._loop,), name="voiceclone-sync", daemon=True
            )
            self._thread.start()
        return self._loop

    def call(self, factory: Callable[[], Awaitable[_R]]) -> _R:
        """Run ``factory()`` on the loop and wait for its result in this thread."""
        if threading.current_thread() is self._thread:
            # Waiting here would block the very loop that must do the work.
            raise RuntimeError(
                "a SyncClient cannot be called from its own event loop (a hook, say): "
                "use the async Client there"
            )
        coroutine = _invoke(factory)
        # Checked and submitted under one lock: stop() cannot slip in between and
        # leave this call queued on a loop that no longer runs (a hang).
        with self._lock:
            try:
                loop = self._running_loop()
                future = asyncio.run_coroutine_threadsafe(coroutine, loop)
            except BaseException:
                coroutine.close()
                raise
        try:
            return future.result()
        except concurrent.futures.CancelledError:
            # The loop was wound down under this call by close() from another thread.
            raise ConfigurationError("the client is closed") from None
        except BaseException:
            # KeyboardInterrupt, or the like, in this thread: stop the work too.
            future.cancel()
            raise

    def stop(self, final: Callable[[], Awaitable[None]]) -> None:
        """Run ``final()`` on the loop, then stop the loop and end the thread. Idempotent."""
        with self._lock:
            if self.stopped:
                return
            self.stopped = True
            loop, thread = self._loop, self._thread
        if loop is None or thread is None or self._pid != os.getpid():
            return  # never started (or started by the parent of a fork): nothing to close
        if threading.current_thread() is thread:
            # Closed from the loop itself (garbage collected in a hook): no waiting.
            task = loop.create_task(_invoke(final))
            task.add_done_callback(lambda _: loop.stop())
            return
        try:
            asyncio.run_coroutine_threadsafe(_invoke(final), loop).result(_CLOSE_TIMEOUT)
        except Exception as exc:  # closing must not fail; the thread still ends below
            logger.warning("closing the SyncClient's session failed: %s", type(exc).__name__)
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(_CLOSE_TIMEOUT)


def _drain(owner: SyncClient, iterator: AsyncIterator[_T]) -> Generator[_T, None, None]:
    """Consume ``iterator`` on the private loop, one step per ``next()`` in the caller's thread.

    A generator, so leaving a ``for`` loop early (``break``, an exception) or calling
    ``close()`` closes the async iterator too: the batch's calls in progress are
    cancelled before control returns.
    """
    runner = owner._runner  # the generator keeps owner alive, and so the loop
    try:
        while True:
            try:
                yield runner.call(iterator.__anext__)
            except StopAsyncIteration:
                return
    finally:
        aclose = getattr(iterator, "aclose", None)
        # From the loop's own thread (garbage collected there) asyncio closes it.
        if (
            aclose is not None
            and not runner.stopped
            and threading.current_thread() is not (runner.thread)
        ):
            try:
                runner.call(aclose)
            except Exception as exc:  # still running after an interrupt: the loop ends it
                logger.debug("closing a batch iterator failed: %s", type(exc).__name__)


def _blocking(
    method: Callable[Concatenate[Client, _P], Awaitable[_R]],
) -> Callable[Concatenate[SyncClient, _P], _R]:
    """``Client.<method>`` as a blocking method of `SyncClient`, with the same parameters."""

    def call(self: SyncClient, /, *args: _P.args, **kwargs: _P.kwargs) -> _R:
        return self._runner.call(lambda: method(self._client, *args, **kwargs))

    _describe(call, method, inspect.signature(method).return_annotation)
    return call


def _describe(call: Callable[..., object], method: Callable[..., object], returns: object) -> None:
    """Give ``call`` the name, docstring and parameters of ``method``, for help() and IDEs."""
    call.__name__ = call.__qualname__ = method.__name__
    call.__doc__ = method.__doc__
    signature = inspect.signature(method)
    call.__signature__ = signature.replace(return_annotation=returns)  # type: ignore[attr-defined]


def _iterating(
    method: Callable[Concatenate[Client, _P], AsyncIterator[_T]],
    item: str | None = None,
) -> Callable[Concatenate[SyncClient, _P], Generator[_T, None, None]]:
    """``Client.<method>`` (an async iterator) as a `SyncClient` method returning a generator.

    ``item`` names what it yields when the method's annotation does not say it.
    """

    def call(self: SyncClient, /, *args: _P.args, **kwargs: _P.kwargs) -> Generator[_T, None, None]:
        if self._runner.stopped:
            raise ConfigurationError("the client is closed")
        return _drain(self, method(self._client, *args, **kwargs))

    # Client's annotations are strings ("AsyncIterator[CloneOutcome]"): name the sync type.
    returns = str(inspect.signature(method).return_annotation)
    item = item or returns.removeprefix("AsyncIterator[").removesuffix("]")
    _describe(call, method, f"Generator[{item}, None, None]")
    return call


def _close(runner: _LoopThread, client: Client) -> None:
    runner.stop(client.aclose)


class SyncClient:
    """A blocking client for MiniMax voice cloning: `Client`'s methods, without ``await``.

    For scripts, notebooks and threaded programs (Flask, Django views, Celery
    tasks). The work runs on a private event loop in a background thread, started
    on first use; it is safe to call from several threads at once (they share one
    session, rate gate and retry budget) and from a thread whose own event loop is
    running, as in Jupyter. Close it (or use ``with``) to close the session and end
    the thread; one never closed is closed when garbage collected or at exit. A
    fork copies the client but not its thread: under a prefork server (Celery,
    gunicorn) make one per process, or first use it after the fork.

    ```python
    with voiceclone.SyncClient() as client:
        up = client.upload_file("narrator.wav")
        result = client.clone(file_id=up.file_id, voice_id="Narrator001")
        for outcome in client.clone_many(requests):
            print(outcome.index, outcome.ok)
    ```

    The arguments are `Client`'s (without ``session``: an aiohttp session belongs
    to one event loop). Hooks (``on_retry``, ``on_response``) are called on the
    background thread.

    Args:
        api_key: default: env ``MINIMAX_API_KEY``; missing raises `ConfigurationError`.
        base_url: everything up to and including ``/v1``; default: env
            ``MINIMAX_BASE_URL``, else ``https://api.minimax.io/v1``.
        max_in_flight: requests on the wire at once.
        requests_per_minute: pace of ``voice_clone`` calls; ``None`` discovers it.
        retry: a `RetryPolicy`; ``None`` for the default.
        timeout: seconds per attempt.
        on_retry: called with a `RetryEvent` before each retry.
        on_response: called with a `ResponseEvent` after each attempt.
    """

    def __init__(
        self,
        api_key: str | None = None,
        base_url: str | None = None,
        *,
        max_in_flight: int = 8,
        requests_per_minute: float | None = 60,
        speech_requests_per_minute: float | None = None,
        retry: RetryPolicy | None = None,
        timeout: float = 120.0,
        default_headers: Mapping[str, str] | None = None,
        proxy: str | None = None,
        trust_env: bool = False,
        on_retry: OnRetry | None = None,
        on_response: OnResponse | None = None,
        redis: str | RedisClient | Literal[False] | None = None,
        fallback: str = "local",
    ) -> None:
        # Built here, in the caller's thread, so a bad argument raises at once;
        # nothing in Client.__init__ touches an event loop.
        self._client = Client(
            api_key,
            base_url,
            max_in_flight=max_in_flight,
            requests_per_minute=requests_per_minute,
            speech_requests_per_minute=speech_requests_per_minute,
            retry=retry,
            timeout=timeout,
            default_headers=default_headers,
            proxy=proxy,
            trust_env=trust_env,
            on_retry=on_retry,
            on_response=on_response,
            redis=redis,
            fallback=fallback,
        )
        self._runner = _LoopThread()
        # Set on a with_options view, which owns nothing: its close() does nothing.
        self._parent: SyncClient | None = None
        # Holds the runner and the client, not self: collecting self closes them.
        self._finalizer = weakref.finalize(self, _close, self._runner, self._client)

    def __repr__(self) -> str:
        return "Sync" + repr(self._client)

    @property
    def account_status(self) -> AccountStatus:
        """Whether calls are being sent (see `Client.account_status`)."""
        return self._client.account_status

    @property
    def account_id(self) -> str:
        """A name for the client's account (see `Client.account_id`)."""
        return self._client.account_id

    @property
    def base_url(self) -> str:
        """The base URL in use, up to and including ``/v1``, without a trailing slash."""
        return self._client.base_url

    @property
    def max_in_flight(self) -> int:
        """The cap on requests on the wire at once, for the whole client."""
        return self._client.max_in_flight

    @property
    def rate_stats(self) -> GateStats:
        """The clone gate's current pace and the rate-limit answers it has seen."""
        return self._client.rate_stats

    @property
    def speech_rate_stats(self) -> GateStats:
        """The speech gate's current pace and the rate-limit answers it has seen."""
        return self._client.speech_rate_stats

    def with_options(
        self,
        *,
        timeout: float | None = None,
        retry: RetryPolicy | None = None,
        max_in_flight: int | None = None,
    ) -> SyncClient:
        """A view with other options: `Client.with_options`, on this client's thread.

        The view shares the background loop, the session, the rate gate, the retry
        budget and the hooks. Closing the view does nothing; closing this client
        ends the thread for every view.
        """
        view = copy.copy(self)
        # The view keeps this client alive: collecting it would close the shared thread.
        view._parent = self
        view._client = self._client.with_options(
            timeout=timeout, retry=retry, max_in_flight=max_in_flight
        )
        return view

    def close(self) -> None:
        """Close the session and end the background thread. Idempotent.

        Calls still running in other threads end with `ConfigurationError`.
        """
        if self._parent is None:  # a view's _finalizer is its client's, copied
            self._finalizer()

    def __enter__(self) -> SyncClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    upload_file = _blocking(Client.upload_file)
    """Upload audio and return its `UploadedFile`: `Client.upload_file`, blocking."""

    clone = _blocking(Client.clone)
    """Clone a voice and return its `CloneResult`: `Client.clone`, blocking."""

    list_voices = _blocking(Client.list_voices)
    """Voices of the account: `Client.list_voices`, blocking."""

    delete_voice = _blocking(Client.delete_voice)
    """Delete a cloned voice: `Client.delete_voice`, blocking."""

    download_demo = _blocking(Client.download_demo)
    """Save a clone's preview audio: `Client.download_demo`, blocking."""

    synthesize = _blocking(Client.synthesize)
    """Speak text with a voice; the `Speech`: `Client.synthesize`, blocking."""

    synthesize_stream = _iterating(Client.synthesize_stream, "bytes")
    """Speak text as a stream; an iterator of audio chunks: `Client.synthesize_stream`.

    Leaving the loop early (or ``close()`` on the generator) closes the stream.
    """

    activate = _blocking(Client.activate)
    """Keep a clone with the smallest real synthesis: `Client.activate`, blocking."""

    clone_all = _blocking(Client.clone_all)
    """Clone every request; a list of `CloneOutcome` in input order: `Client.clone_all`."""

    clone_many = _iterating(Client.clone_many)
    """Clone every request; an iterator of `CloneOutcome` as each finishes.

    `Client.clone_many`, run in the background: iterating waits for the next
    outcome. Leaving the loop early (or ``close()`` on the generator) stops the
    batch's calls in progress.
    """

    clone_jobs = _iterating(Client.clone_jobs)
    """Upload and clone each `CloneJob`; an iterator of `CloneOutcome`: `Client.clone_jobs`.

    With ``journal``, a re-run skips finished jobs. Leaving the loop early (or
    ``close()`` on the generator) stops the batch's calls in progress.
    """

"""Cancellation and shutdown leave no pending tasks, no open connections, no warnings.

(``filterwarnings = error`` turns an unclosed session or a never-awaited coroutine
into a failure of the test that leaked it.)
"""

from __future__ import annotations

import asyncio
import gc
import random
from collections.abc import AsyncIterator

import aiohttp
import pytest
import pytest_asyncio

from voiceclone import Client, CloneRequest, RetryPolicy, VoiceCloneError
from voiceclone.emulator import Emulator, Fault, Faults
from voiceclone.testing import FAST_RETRY, TEST_API_KEY, sample_wav

SEED = 8086


@pytest_asyncio.fixture
async def emu() -> AsyncIterator[Emulator]:
    faults = Faults(drop_after=0.1, http_5xx=0.1, seed=SEED)
    async with Emulator(TEST_API_KEY, rpm=None, faults=faults, latency=0.01) as emulator:
        yield emulator


def _others() -> set[asyncio.Task[object]]:
    """Tasks other than this one, leaving out the emulator's server side (same loop)."""
    return {
        t
        for t in asyncio.all_tasks()
        if t is not asyncio.current_task() and "RequestHandler" not in t.get_coro().__qualname__  # type: ignore[union-attr]
    }


async def assert_clean(before: set[asyncio.Task[object]], connector: aiohttp.BaseConnector) -> None:
    await asyncio.sleep(0)  # let cancelled tasks run their finally blocks
    leaked = [t for t in _others() - before if not t.done()]
    assert not leaked, leaked
    assert connector.closed
    gc.collect()


async def _file_id(emu: Emulator) -> int:
    async with Client(TEST_API_KEY, emu.base_url, requests_per_minute=None) as c:
        return (await c.upload_file(sample_wav(10.5))).file_id


@pytest.mark.parametrize("run", range(12))
async def test_cancel_clone_many_at_a_random_point(emu: Emulator, run: int) -> None:
    rng = random.Random(SEED + run)
    file_id = await _file_id(emu)
    before = _others()
    requests = (CloneRequest(file_id, f"Cancel{run:02d}x{i:04d}") for i in range(200))
    client = Client(
        TEST_API_KEY, emu.base_url, requests_per_minute=None, retry=FAST_RETRY, timeout=0.5
    )
    stop_after = rng.randrange(0, 40)
    seen = 0

    async def consume() -> None:
        nonlocal seen
        async for _ in client.clone_many(requests, max_in_flight=16):
            seen += 1
            if seen >= stop_after:
                await asyncio.sleep(10)  # parked here until cancelled

    task = asyncio.ensure_future(consume())
    # Cancel at a random moment: mid-request, mid-backoff, or while the consumer is parked.
    await asyncio.sleep(rng.uniform(0.0, 0.15))
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    session = client._transport.open()
    connector = session.connector
    assert connector is not None
    await client.aclose()
    await assert_clean(before, connector)
    # Nothing went out after the cancellation: every voice made is made once.
    assert all(n == 1 for n in emu.account().clone_successes.values())


@pytest.mark.parametrize("where", ["in_flight", "in_backoff"])
async def test_close_while_calls_are_in_flight_or_in_backoff(emu: Emulator, where: str) -> None:
    file_id = await _file_id(emu)
    before = _others()
    slow_retry = RetryPolicy(
        attempts=5, timeout=30, wait_initial=0.3, wait_max=0.3, wait_jitter=0.0
    )
    client = Client(
        TEST_API_KEY,
        emu.base_url,
        requests_per_minute=None,
        timeout=10.0,
        retry=slow_retry if where == "in_backoff" else FAST_RETRY,
    )
    if where == "in_flight":
        emu.inject(Fault.latency(5.0), times=8)
    else:
        emu.inject(Fault.http(503), times=8)
    calls = [
        asyncio.ensure_future(client.clone(file_id=file_id, voice_id=f"Close{where[3:]}{i:03d}"))
        for i in range(8)
    ]
    # Every call has sent its first attempt (the emulator has no event to wait on).
    while emu.stats.requests["voice_clone"] < 8:  # noqa: ASYNC110
        await asyncio.sleep(0.005)
    session = client._transport.open()
    connector = session.connector
    assert connector is not None
    await client.aclose()
    results = await asyncio.gather(*calls, return_exceptions=True)
    # Each call ends promptly with one of our errors (no hang, nothing a batch would not
    # catch); none succeeds after the close.
    assert all(isinstance(r, VoiceCloneError) for r in results), results
    await assert_clean(before, connector)


async def test_leaving_async_with_by_an_exception(emu: Emulator) -> None:
    file_id = await _file_id(emu)
    before = _others()
    emu.inject(Fault.latency(0.5), times=40)
    connector: aiohttp.BaseConnector | None = None

    async def leave() -> None:
        nonlocal connector
        async with Client(
            TEST_API_KEY, emu.base_url, requests_per_minute=None, retry=FAST_RETRY
        ) as client:
            connector = client._transport.open().connector
            requests = [CloneRequest(file_id, f"Leave{i:04d}xx") for i in range(50)]
            emu.inject(Fault.latency(0.0), times=1)
            async for _ in client.clone_many(requests, max_in_flight=8):
                raise KeyError("boom")

    with pytest.raises(KeyError, match="boom"):
        await leave()
    assert connector is not None
    await assert_clean(before, connector)

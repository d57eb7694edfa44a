"""Time budgets: a call never outlives its retry budget, and the per-attempt timeout
covers waiting for a pooled connection, not only the request itself."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator

import aiohttp
import pytest
import pytest_asyncio

from voiceclone import Client, RetryPolicy, TimeoutError, VoiceCloneError, VoiceIdConflictError
from voiceclone.emulator import Emulator, Fault
from voiceclone.testing import TEST_API_KEY, sample_wav

# Scheduling slack on a busy two-core machine; far below any budget being tested.
TOLERANCE = 0.15
SAMPLE = sample_wav(10.5)


@pytest_asyncio.fixture
async def emu() -> AsyncIterator[Emulator]:
    async with Emulator(TEST_API_KEY, rpm=None) as emulator:
        yield emulator


def patient(budget: float) -> RetryPolicy:
    """Retries that would go on far longer than ``budget`` if it did not stop them."""
    return RetryPolicy(
        attempts=10_000, timeout=budget, wait_initial=0.03, wait_max=0.08, budget=None
    )


@pytest.mark.parametrize(
    ("fault", "per_attempt"),
    [
        (Fault.http(503), 10.0),  # fails fast, retried until the budget stops it
        (Fault.slow(5.0), 0.2),  # every attempt times out after creating nothing useful
        (Fault.latency(5.0), 10.0),  # one attempt longer than the whole budget
        (Fault.drop_before(), 10.0),
        (Fault.rate_limit(), 10.0),  # the rate gate's cooldowns count against the budget
    ],
    ids=["5xx", "slow", "latency", "drop", "1002"],
)
async def test_a_call_never_runs_past_its_budget(
    emu: Emulator, fault: Fault, per_attempt: float
) -> None:
    budget = 0.6
    async with Client(
        TEST_API_KEY,
        emu.base_url,
        requests_per_minute=None,
        timeout=per_attempt,
        retry=patient(budget),
    ) as client:
        sample = await client.upload_file(SAMPLE)
        emu.inject(fault, endpoint="voice_clone", times=10_000)
        started = time.monotonic()
        with pytest.raises(VoiceCloneError):
            await client.clone(file_id=sample.file_id, voice_id="Budget0001")
        elapsed = time.monotonic() - started
    assert elapsed <= budget + TOLERANCE, f"{fault.kind}: {elapsed:.3f} s for a {budget} s budget"
    # It used the budget rather than giving up early (a slow or latency fault never answers).
    assert elapsed >= budget * 0.5 or fault.kind in ("rate_limit",), elapsed


async def test_the_budget_bounds_uploads_too(emu: Emulator) -> None:
    budget = 0.5
    async with Client(
        TEST_API_KEY, emu.base_url, requests_per_minute=None, timeout=0.15, retry=patient(budget)
    ) as client:
        emu.inject(Fault.slow(5.0), endpoint="files/upload", times=10_000)
        started = time.monotonic()
        with pytest.raises(TimeoutError):
            await client.upload_file(SAMPLE)
        elapsed = time.monotonic() - started
    assert budget * 0.5 <= elapsed <= budget + TOLERANCE, elapsed


async def occupy_the_connection(
    emu: Emulator, session: aiohttp.ClientSession, seconds: float
) -> asyncio.Future[None]:
    """Hold the session's one connection for ``seconds`` with a slow request; return once
    the server has it, so it owns the connection."""
    emu.inject(Fault.latency(seconds), endpoint="files/list")

    async def occupy() -> None:
        async with session.get(
            emu.base_url + "/files/list",
            params={"purpose": "voice_clone"},
            headers={"Authorization": f"Bearer {TEST_API_KEY}"},
        ) as resp:
            await resp.read()

    holder = asyncio.ensure_future(occupy())
    while emu.stats.requests["files/list"] == 0:  # noqa: ASYNC110  (no event to wait on)
        await asyncio.sleep(0.005)
    return holder


async def test_the_timeout_covers_waiting_for_a_pooled_connection(emu: Emulator) -> None:
    """A borrowed session with one connection, held by a slow request: the call must time
    out on its own schedule instead of queueing until the connection is free."""
    per_attempt = 0.3
    hold = 1.5
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1)) as session:
        client = Client(
            TEST_API_KEY,
            emu.base_url,
            session=session,
            requests_per_minute=None,
            timeout=per_attempt,
            retry=RetryPolicy(attempts=1),
        )
        async with client:
            holder = await occupy_the_connection(emu, session, hold)
            before = sum(emu.stats.requests.values())
            started = time.monotonic()
            with pytest.raises(TimeoutError) as caught:
                await client.list_voices()
            elapsed = time.monotonic() - started
            # Nothing was sent: the attempt never got the connection, and says so.
            assert sum(emu.stats.requests.values()) == before
            assert caught.value.request_sent is False
            await holder
        assert not session.closed  # borrowed: the client left it open
    assert per_attempt * 0.8 <= elapsed <= per_attempt + TOLERANCE, elapsed
    assert elapsed < hold


async def test_the_budget_covers_the_pool_wait_across_retries(emu: Emulator) -> None:
    budget = 0.5
    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1))
    async with (
        session,
        Client(
            TEST_API_KEY,
            emu.base_url,
            session=session,
            requests_per_minute=None,
            timeout=0.2,
            retry=patient(budget),
        ) as client,
    ):
        holder = await occupy_the_connection(emu, session, 2.0)
        started = time.monotonic()
        with pytest.raises(TimeoutError):
            await client.list_voices()
        elapsed = time.monotonic() - started
        holder.cancel()
        with pytest.raises(asyncio.CancelledError):
            await holder
    assert budget * 0.5 <= elapsed <= budget + TOLERANCE, elapsed


async def test_a_pool_wait_timeout_does_not_turn_a_conflict_into_a_recovery(emu: Emulator) -> None:
    """An attempt that never got a connection cannot have created the voice, so a 2039
    on the retry is a real conflict, not a lost success."""
    holders: list[asyncio.Future[None]] = []

    def free_the_connection(_event: object) -> None:
        holders[0].cancel()  # the retry gets the connection at once, however busy the machine

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1)) as session:
        client = Client(
            TEST_API_KEY,
            emu.base_url,
            session=session,
            requests_per_minute=None,
            timeout=0.5,
            retry=RetryPolicy(attempts=2, wait_initial=0.01, wait_max=0.01, wait_jitter=0),
            on_retry=free_the_connection,
        )
        async with client:
            up = await client.upload_file(SAMPLE)
            await client.clone(file_id=up.file_id, voice_id="Taken0001")
            holders.append(await occupy_the_connection(emu, session, 60.0))
            with pytest.raises(VoiceIdConflictError) as caught:
                await client.clone(file_id=up.file_id, voice_id="Taken0001")
            with contextlib.suppress(asyncio.CancelledError):
                await holders[0]
    assert caught.value.status_code == 2039

"""Retries against injected faults: what is retried, how often, how long, and what it costs."""

from __future__ import annotations

import asyncio
import random
import time
from pathlib import Path

import attrs
import psutil  # type: ignore[import-untyped]
import pytest
from conftest import FAST, KEY, SAMPLE, new_client, respond

import voiceclone
from voiceclone import (
    AuthenticationError,
    Client,
    InvalidParameterError,
    RateLimitError,
    ResponseEvent,
    RetryEvent,
    RetryPolicy,
    ServerError,
    TimeoutError,
    TransportError,
    ValidationError,
    VoiceIdConflictError,
)
from voiceclone._errors import ResponseFormatError, error_for_status
from voiceclone._retry import RetryBudget, is_retryable
from voiceclone.emulator import Emulator, Fault

VOICE = "Narrator001"
ONE_TRY = RetryPolicy(attempts=1)


def server_error(**headers: str) -> Fault:
    return respond(
        {"base_resp": {"status_code": 1000, "status_msg": "unknown error"}}, headers=headers
    )


# -- what is retried ----------------------------------------------------------------


@pytest.mark.parametrize(
    "fault",
    [
        Fault.status(1002),
        Fault.rate_limit(),
        Fault.status(2045),
        Fault.status(1000),
        Fault.status(1041),
        Fault.http(502),
        Fault.http(503),
        Fault.http(429),
        Fault.drop_before(),
        Fault.garbage(),
    ],
    ids=lambda f: f"{f.kind}-{f.code or f.http_status}",
)
async def test_transient_failures_are_retried(
    client: Client, emu: Emulator, file_id: int, fault: Fault
) -> None:
    emu.inject(fault, times=2)

    result = await client.clone(file_id=file_id, voice_id=VOICE)

    assert result.attempts == 3
    assert result.recovered is False
    assert emu.stats.requests["voice_clone"] == 3
    assert emu.account().clone_successes[VOICE] == 1
    assert result.trace_id == emu.requests[-1].trace_id


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        (Fault.status(2013), InvalidParameterError),
        (Fault.status(1004), AuthenticationError),
        (Fault.status(2039), VoiceIdConflictError),
        (Fault.status(1026), Exception),
        (Fault.http(400), Exception),
        (Fault.http(404), Exception),
    ],
)
async def test_non_retryable_failures_are_raised_at_once(
    client: Client, emu: Emulator, fault: Fault, error: type[Exception]
) -> None:
    emu.inject(fault, times=3)
    with pytest.raises(error) as err:
        await client.clone(file_id=1, voice_id=VOICE)
    assert not is_retryable(err.value)
    assert emu.stats.requests["voice_clone"] == 1


async def test_a_first_attempt_2039_is_a_real_conflict(client: Client, file_id: int) -> None:
    await client.clone(file_id=file_id, voice_id=VOICE)
    with pytest.raises(VoiceIdConflictError) as err:
        await client.clone(file_id=file_id, voice_id=VOICE)
    assert err.value.status_code == 2039
    assert err.value.trace_id is not None


async def test_a_rate_limited_attempt_is_not_ambiguous(
    client: Client, emu: Emulator, file_id: int
) -> None:
    await client.clone(file_id=file_id, voice_id=VOICE)
    emu.inject(Fault.rate_limit())
    # The refused attempt created nothing, so the 2039 after it is somebody else's voice.
    with pytest.raises(VoiceIdConflictError):
        await client.clone(file_id=file_id, voice_id=VOICE)
    assert emu.stats.requests["voice_clone"] == 3


async def test_attempts_one_switches_retries_off(emu: Emulator) -> None:
    async with new_client(emu.base_url, retry=ONE_TRY) as client:
        for fault, error in [
            (Fault.status(1000), ServerError),
            (Fault.rate_limit(), RateLimitError),
            (Fault.drop_before(), TransportError),
            (Fault.garbage(), ResponseFormatError),
        ]:
            emu.inject(fault, endpoint="get_voice")
            with pytest.raises(error):
                await client.list_voices()
    assert emu.stats.requests["get_voice"] == 4


async def test_retries_stop_after_the_attempts(client: Client, emu: Emulator) -> None:
    emu.inject(Fault.status(1013), endpoint="get_voice", times=10)
    with pytest.raises(ServerError) as err:
        await client.list_voices()
    assert err.value.status_code == 1013
    assert emu.stats.requests["get_voice"] == FAST.attempts == 6
    assert emu.pending_faults("get_voice") == 4


# -- ambiguous failures -------------------------------------------------------------


async def test_lost_answer_then_2039_is_recovered(
    client: Client, emu: Emulator, file_id: int
) -> None:
    emu.inject(Fault.drop_after())

    result = await client.clone(file_id=file_id, voice_id=VOICE, text="Hi.", model="speech-02-hd")

    assert result.recovered is True
    assert result.attempts == 2
    assert result.voice_id == VOICE
    assert result.demo_audio is None  # the preview link was in the lost answer
    assert result.trace_id == emu.requests[-1].trace_id
    assert emu.account().clone_successes[VOICE] == 1
    assert emu.account().clone_requests[VOICE] == 2


async def test_timed_out_attempt_then_2039_is_recovered(emu: Emulator, wav_path: Path) -> None:
    async with new_client(emu.base_url, timeout=0.3) as client:
        up = await client.upload_file(wav_path)
        emu.inject(Fault.slow(1.0))  # the voice is created, the answer comes too late

        started = time.monotonic()
        result = await client.clone(file_id=up.file_id, voice_id=VOICE)

    assert time.monotonic() - started < 0.9
    assert (result.recovered, result.attempts) == (True, 2)
    assert emu.account().clone_successes[VOICE] == 1


async def test_gateway_5xx_then_2039_is_recovered(client: Client, emu: Emulator) -> None:
    # A gateway error may hide a voice the server created; a 2039 after it is ours.
    emu.inject(Fault.http(502))
    emu.inject(Fault.status(2039))
    result = await client.clone(file_id=1, voice_id=VOICE)
    assert (result.recovered, result.attempts) == (True, 2)


async def test_connection_refused_is_not_sent(tmp_path: Path) -> None:
    async with Emulator(api_key=KEY) as emu:
        base_url = emu.base_url
    async with new_client(
        base_url, retry=RetryPolicy(attempts=2, wait_initial=0.001, wait_jitter=0)
    ) as client:
        with pytest.raises(TransportError) as err:
            await client.clone(file_id=1, voice_id=VOICE)
    assert err.value.request_sent is False
    assert "Connect" in str(err.value)


# -- uploads ------------------------------------------------------------------------


def _open_paths() -> set[str]:
    return {f.path for f in psutil.Process().open_files()}


@pytest.mark.parametrize("fault", [Fault.drop_before(), Fault.drop_after(), Fault.http(502)])
async def test_upload_retry_resends_the_whole_file(
    client: Client, emu: Emulator, wav_path: Path, fault: Fault
) -> None:
    size = len(SAMPLE)
    emu.inject(fault, endpoint="files/upload")

    up = await client.upload_file(wav_path)

    attempts = [r.form["file"]["size"] for r in emu.requests if r.form is not None]
    assert attempts == [size, size]
    assert emu.account().files[up.file_id].bytes == size
    assert up.bytes == size
    assert str(wav_path) not in _open_paths()


async def test_upload_file_is_closed_after_a_failed_attempt(emu: Emulator, wav_path: Path) -> None:
    emu.inject(Fault.drop_before(), endpoint="files/upload")
    async with new_client(emu.base_url, retry=ONE_TRY) as client:
        with pytest.raises(TransportError):
            await client.upload_file(wav_path)
        assert str(wav_path) not in _open_paths()
    assert emu.account().files == {}


# -- waits and budgets --------------------------------------------------------------


async def test_total_time_budget_bounds_a_hanging_server(emu: Emulator) -> None:
    emu.inject(Fault.latency(5.0), endpoint="get_voice", times=10)
    policy = RetryPolicy(attempts=10, timeout=0.4, wait_initial=0.001)
    async with new_client(emu.base_url, retry=policy, timeout=30.0) as client:
        started = time.monotonic()
        with pytest.raises(TimeoutError) as err:
            await client.list_voices()
        elapsed = time.monotonic() - started
    assert 0.35 < elapsed < 1.0
    assert isinstance(err.value, TransportError)
    assert emu.stats.requests["get_voice"] == 1


async def test_total_time_budget_bounds_retries(emu: Emulator) -> None:
    emu.inject(Fault.status(1000), endpoint="get_voice", times=1000)
    policy = RetryPolicy(attempts=1000, timeout=0.3, wait_initial=0.02, wait_max=0.02, budget=None)
    async with new_client(emu.base_url, retry=policy) as client:
        started = time.monotonic()
        # The last failure is raised: a 1000, or, on a loaded machine, the last attempt's
        # own timeout (it gets only what is left of the budget).
        with pytest.raises((ServerError, TimeoutError)):
            await client.list_voices()
        elapsed = time.monotonic() - started
    assert elapsed < 1.0
    assert 2 < emu.stats.requests["get_voice"] < 1000


async def test_rate_gate_wait_past_the_budget_fails_fast(emu: Emulator, file_id: int) -> None:
    policy = RetryPolicy(timeout=0.5)
    async with new_client(emu.base_url, requests_per_minute=1, retry=policy) as client:
        await client.clone(file_id=file_id, voice_id=VOICE)
        started = time.monotonic()
        with pytest.raises(TimeoutError, match="rate gate"):
            await client.clone(file_id=file_id, voice_id="Narrator002")  # its turn is a minute away
    assert time.monotonic() - started < 0.45  # not the half second of the budget
    assert emu.stats.requests["voice_clone"] == 1


async def test_retry_after_zero_skips_the_backoff(emu: Emulator) -> None:
    waits: list[float] = []
    policy = RetryPolicy(wait_initial=5.0, wait_max=5.0, wait_jitter=0.0)
    emu.inject(server_error(**{"Retry-After": "0"}), endpoint="get_voice")
    emu.inject(
        respond(
            {"error": "slow down"},
            status=429,
            headers={"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"},
        ),
        endpoint="get_voice",
    )
    async with new_client(emu.base_url, retry=policy, on_retry=lambda e: waits.append(e.wait)) as c:
        assert await c.list_voices("system")
    assert waits == [0.0, 0.0]


async def test_retry_after_longer_than_the_budget_gives_up(emu: Emulator) -> None:
    emu.inject(server_error(**{"Retry-After": "30"}), endpoint="get_voice", times=2)
    async with new_client(emu.base_url, retry=RetryPolicy(timeout=5.0)) as client:
        started = time.monotonic()
        with pytest.raises(ServerError) as err:
            await client.list_voices()
    assert time.monotonic() - started < 1.0
    assert err.value.retry_after == 30.0
    assert emu.stats.requests["get_voice"] == 1


async def test_unreadable_retry_after_is_ignored(emu: Emulator) -> None:
    emu.inject(server_error(**{"Retry-After": "soon"}), endpoint="get_voice")
    async with new_client(emu.base_url, retry=ONE_TRY) as client:
        with pytest.raises(ServerError) as err:
            await client.list_voices()
    assert err.value.retry_after is None


async def test_retry_budget_caps_traffic_during_an_outage(emu: Emulator) -> None:
    emu.inject(Fault.status(1000), endpoint="get_voice", times=10_000)
    async with new_client(emu.base_url) as client:
        for _ in range(20):
            with pytest.raises(ServerError):
                await client.list_voices()
    budgeted = emu.stats.requests["get_voice"]

    async with new_client(emu.base_url, retry=attrs.evolve(FAST, budget=None)) as c:
        for _ in range(20):
            with pytest.raises(ServerError):
                await c.list_voices()
    unbudgeted = emu.stats.requests["get_voice"] - budgeted

    assert unbudgeted == 20 * 6
    # 20 first attempts, a reserve of 20 retries, then half a retry per request.
    assert 20 + 20 <= budgeted <= 20 + 20 + 10 + 1


async def test_rate_limits_are_not_budgeted(emu: Emulator, file_id: int) -> None:
    emu.inject(Fault.status(1000), endpoint="get_voice", times=200)
    emu.inject(Fault.rate_limit(), times=3)
    async with new_client(emu.base_url) as client:
        for _ in range(12):  # spend the whole reserve
            with pytest.raises(ServerError):
                await client.list_voices()
        result = await client.clone(file_id=file_id, voice_id=VOICE)
    assert result.attempts == 4
    assert client.rate_stats.rate_limited == 3


# -- hooks --------------------------------------------------------------------------


async def test_hooks_see_every_attempt(emu: Emulator, wav_path: Path) -> None:
    retries: list[RetryEvent] = []
    responses: list[ResponseEvent] = []
    async with new_client(
        emu.base_url, on_retry=retries.append, on_response=responses.append
    ) as client:
        up = await client.upload_file(wav_path)
        emu.inject(Fault.rate_limit())
        emu.inject(Fault.drop_before())
        result = await client.clone(file_id=up.file_id, voice_id=VOICE)

    assert result.attempts == 3
    traces = [r.trace_id for r in emu.requests]
    assert [
        (e.method, e.path, e.http_status, e.status_code, e.trace_id, e.attempt, e.voice_id)
        for e in responses
    ] == [
        ("POST", "/files/upload", 200, 0, traces[0], 1, None),
        ("POST", "/voice_clone", 200, 1002, traces[1], 1, VOICE),
        ("POST", "/voice_clone", None, None, None, 2, VOICE),
        ("POST", "/voice_clone", 200, 0, traces[3], 3, VOICE),
    ]
    assert all(0 <= e.elapsed < 2 for e in responses)
    assert [(e.path, e.attempt, type(e.error), e.voice_id) for e in retries] == [
        ("/voice_clone", 1, RateLimitError, VOICE),
        ("/voice_clone", 2, TransportError, VOICE),
    ]
    assert retries[0].wait == 0.0  # paced: the rate gate, not a backoff, decides
    assert 0 < retries[1].wait <= FAST.wait_max
    assert retries[0].error.trace_id == traces[1]


async def test_unpaced_rate_limits_back_off(emu: Emulator) -> None:
    waits: list[float] = []
    emu.inject(Fault.rate_limit(), endpoint="get_voice")
    async with new_client(emu.base_url, on_retry=lambda e: waits.append(e.wait)) as client:
        await client.list_voices("system")
    assert len(waits) == 1
    assert waits[0] > 0


# -- cancellation -------------------------------------------------------------------


async def test_cancel_while_sleeping_in_backoff(emu: Emulator) -> None:
    sleeping = asyncio.Event()
    policy = RetryPolicy(wait_initial=0.001, wait_jitter=0.0)
    emu.inject(server_error(**{"Retry-After": "30"}), endpoint="get_voice")
    client = new_client(
        emu.base_url, retry=policy, max_in_flight=1, on_retry=lambda e: sleeping.set()
    )
    async with client:
        call = asyncio.create_task(client.list_voices())
        await sleeping.wait()
        assert call in sdk_tasks()  # the check below would see a task left behind
        # The one in-flight slot is free while the call sleeps.
        assert await asyncio.wait_for(client.list_voices("system"), 2.0)
        call.cancel()
        with pytest.raises(asyncio.CancelledError):
            await call
        session = client._transport.session
    assert call.cancelled()
    assert session is not None
    assert session.closed
    leftovers = [t for t in sdk_tasks() if t is not asyncio.current_task()]
    assert leftovers == []
    assert emu.stats.requests["get_voice"] == 2


def sdk_tasks() -> list[asyncio.Task[object]]:
    """The running tasks whose coroutine is the SDK's, told apart by where its code
    lives (a coroutine's repr names no file, and a checkout may be named voiceclone)."""
    package = Path(voiceclone.__file__).resolve().parent
    return [
        t
        for t in asyncio.all_tasks()
        if (code := getattr(t.get_coro(), "cr_code", None)) is not None
        and Path(code.co_filename).resolve().is_relative_to(package)
    ]


# -- the policy itself --------------------------------------------------------------


def test_backoff_is_full_jitter_under_a_doubling_cap() -> None:
    policy = RetryPolicy(wait_initial=1.0, wait_max=10.0, wait_jitter=0.5)
    rng = random.Random(7)
    for retry in range(1, 8):
        cap = min(10.0, 2.0 ** (retry - 1))
        waits = [policy.backoff(retry, rng) for _ in range(300)]
        assert all(0 <= w <= min(10.0, cap + 0.5) for w in waits)
        assert max(waits) > 0.8 * min(10.0, cap)  # the draw spans the range
        assert min(waits) < 0.2 * cap + 0.5
    assert RetryPolicy(wait_initial=0, wait_jitter=0).backoff(3) == 0.0


def test_retry_budget_accounting() -> None:
    budget = RetryBudget(0.5, reserve=2.0)
    assert [budget.spend() for _ in range(3)] == [True, True, False]
    budget.earn()
    assert budget.spend() is False  # half a retry is not a retry
    budget.earn()
    assert budget.spend() is True
    for _ in range(1000):
        budget.earn()
    assert sum(budget.spend() for _ in range(100)) == 20  # capped at ten reserves
    unlimited = RetryBudget(None)
    unlimited.earn()
    assert all(unlimited.spend() for _ in range(1000))


def test_what_is_retryable() -> None:
    assert is_retryable(error_for_status(1002, None))
    assert is_retryable(error_for_status(1033, None))
    assert is_retryable(TimeoutError("t"))
    assert is_retryable(ResponseFormatError("r"))
    assert not is_retryable(error_for_status(2039, None))
    assert not is_retryable(error_for_status(123456, None))
    assert not is_retryable(ValidationError("f", "p"))
    assert not is_retryable(asyncio.CancelledError())


async def test_a_gate_turn_past_the_time_budget_fails_at_once_and_is_not_retried(
    emu: Emulator, file_id: int
) -> None:
    retries: list[RetryEvent] = []
    policy = attrs.evolve(FAST, timeout=2.0)
    async with new_client(
        emu.base_url, requests_per_minute=6, retry=policy, on_retry=retries.append
    ) as client:
        await client.clone(file_id=file_id, voice_id="Budget0001")
        sent = emu.stats.requests.get("voice_clone", 0)
        started = time.monotonic()
        # The next turn at 6 per minute is 10 s away, past the 2 s budget.
        with pytest.raises(TimeoutError, match="time budget") as caught:
            await client.clone(file_id=file_id, voice_id="Budget0002")
        assert time.monotonic() - started < 0.5
    assert not is_retryable(caught.value)
    assert caught.value.request_sent is False
    assert retries == []
    assert emu.stats.requests.get("voice_clone", 0) == sent


async def test_the_budget_counts_from_the_call_not_the_first_retry() -> None:
    # The first attempt takes 0.3 s and asks for a 1 s wait: with a 1.2 s budget there
    # is no time for another attempt, so the answer itself is raised at once, not an
    # OutOfTime after a wasted second.
    async with Emulator(api_key=KEY, rpm=None, latency=0.3) as slow:
        slow.inject(
            respond({"base_resp": {"status_code": 1000}}, status=503, headers={"Retry-After": "1"}),
            endpoint="get_voice",
            times=5,
        )
        policy = attrs.evolve(FAST, timeout=1.2)
        async with new_client(slow.base_url, retry=policy) as client:
            started = time.monotonic()
            with pytest.raises(ServerError) as caught:
                await client.list_voices()
            elapsed = time.monotonic() - started
    assert caught.value.http_status == 503
    assert caught.value.trace_id is not None
    assert elapsed < 0.8
    assert slow.stats.requests["get_voice"] == 1


async def test_a_sample_gone_before_a_retry_is_a_validation_error(
    emu: Emulator, tmp_path: Path
) -> None:
    sample = tmp_path / "moved.wav"
    sample.write_bytes(SAMPLE)
    emu.inject(Fault.drop_before(), endpoint="files/upload")
    async with new_client(emu.base_url, on_retry=lambda _event: sample.unlink()) as client:
        with pytest.raises(ValidationError) as caught:
            await client.upload_file(sample)
    assert caught.value.field == "file"
    assert "cannot be opened" in caught.value.problem

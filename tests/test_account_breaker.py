"""The account breaker: an account that cannot clone is not sent ten thousand requests.

Against the emulator (its answers, its counts of what reached it), and the
breaker itself on a fake clock for the probe's timing.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import redis.asyncio as redis_asyncio
from conftest import KEY, new_client
from redis_server import RedisServer, redis_server

import voiceclone
from voiceclone import CloneJob, CloneRequest, InsufficientBalanceError
from voiceclone._breaker import PROBE_INTERVAL, AccountBreaker, is_account_refusal
from voiceclone.emulator import Emulator, Fault
from voiceclone.testing import sample_wav

__all__ = ["redis_server"]  # the fixture, imported for pytest

VOICES = 100


@pytest.fixture
async def emu() -> AsyncIterator[Emulator]:
    async with Emulator(KEY, rpm=None) as emulator:
        yield emulator


def no_balance(emu: Emulator) -> None:
    """Every clone from now on answers 1008, as an account without balance does."""
    emu.inject(Fault.status(1008), times=100_000)


def clones_sent(emu: Emulator) -> int:
    return emu.stats.requests["voice_clone"]


async def test_a_batch_on_an_account_without_balance_sends_a_request_or_two(
    emu: Emulator, caplog: pytest.LogCaptureFixture
) -> None:
    no_balance(emu)
    async with new_client(emu.base_url, requests_per_minute=600) as client:
        up = await client.upload_file(sample_wav(10.5))
        requests = [CloneRequest(up.file_id, f"Broke{i:04d}x") for i in range(VOICES)]
        with caplog.at_level(logging.INFO, logger="voiceclone"):
            outcomes = await client.clone_all(requests)
        status = client.account_status
    assert clones_sent(emu) <= 3
    assert len(outcomes) == VOICES
    errors = [o.error for o in outcomes]
    assert all(isinstance(e, InsufficientBalanceError) for e in errors)
    assert all(e is not None and e.status_code == 1008 for e in errors)
    unsent = [e for e in errors if e is not None and not e.request_sent]
    assert len(unsent) >= VOICES - 3
    assert "not sent: the account answered 1008" in unsent[0].message
    assert "Broke" in unsent[0].message  # whose request it answered
    assert status.open
    assert status.status_code == 1008
    assert status.not_sent >= VOICES - 3
    opened = [r for r in caplog.records if "calls fail without being sent" in r.getMessage()]
    assert len(opened) == 1
    assert opened[0].levelno == logging.WARNING


async def test_calls_waiting_at_the_gate_are_released_unsent(emu: Emulator) -> None:
    no_balance(emu)
    # Eight in flight at 60/min: seven wait at the gate (a second apart) when the
    # first answer opens the breaker; they end at once instead of being sent.
    async with new_client(emu.base_url, requests_per_minute=60, max_in_flight=8) as client:
        up = await client.upload_file(sample_wav(10.5))
        loop = asyncio.get_running_loop()
        started = loop.time()
        requests = [CloneRequest(up.file_id, f"Queued{i:04d}x") for i in range(8)]
        outcomes = await client.clone_all(requests)
        elapsed = loop.time() - started
    assert clones_sent(emu) == 1
    assert sum(not o.error.request_sent for o in outcomes if o.error is not None) == 7
    assert elapsed < 7.0  # not 8 slots of a second each: released, not paced out


async def test_a_wrong_key_stops_uploads_too(emu: Emulator, tmp_path: Path) -> None:
    for i in range(6):
        (tmp_path / f"v{i}.wav").write_bytes(sample_wav(10.5, seed=i))
    jobs = [CloneJob(f"Wrong{i:04d}x", tmp_path / f"v{i}.wav") for i in range(6)]
    async with new_client(emu.base_url, api_key="sk-not-this-account") as client:
        # Two at once: both uploads leave before the first answer comes back.
        outcomes = [o async for o in client.clone_jobs(jobs, max_in_flight=2)]
    assert all(isinstance(o.error, voiceclone.AuthenticationError) for o in outcomes)
    assert emu.stats.requests["files/upload"] + clones_sent(emu) <= 2
    assert sum(not o.error.request_sent for o in outcomes if o.error is not None) >= 4


async def test_after_a_top_up_a_rerun_of_the_journal_clones_each_voice_once(
    emu: Emulator, tmp_path: Path
) -> None:
    sample = tmp_path / "v.wav"
    sample.write_bytes(sample_wav(10.5))
    jobs = [CloneJob(f"TopUp{i:04d}x", sample) for i in range(20)]
    journal = tmp_path / "journal.jsonl"
    no_balance(emu)
    async with new_client(emu.base_url, requests_per_minute=600) as client:
        first = [o async for o in client.clone_jobs(jobs, journal=journal)]
    assert all(isinstance(o.error, InsufficientBalanceError) for o in first)
    assert clones_sent(emu) <= 3
    emu.clear_faults()  # the balance is back
    async with new_client(emu.base_url) as client:
        again = [o async for o in client.clone_jobs(jobs, journal=journal)]
    assert all(o.ok and not o.resumed for o in again)
    assert dict(emu.account().clone_successes) == {j.voice_id: 1 for j in jobs}


async def test_three_workers_sharing_redis_send_a_few_between_them(
    emu: Emulator, redis_server: RedisServer, tmp_path: Path
) -> None:
    sample = tmp_path / "v.wav"
    sample.write_bytes(sample_wav(10.5))
    jobs = [CloneJob(f"Fleet{i:04d}x", sample) for i in range(60)]
    no_balance(emu)

    async def worker() -> list[voiceclone.CloneOutcome]:
        async with new_client(
            emu.base_url, requests_per_minute=600, redis=redis_server.url
        ) as client:
            journal = voiceclone.RedisJournal(redis_server.url, "fleet")
            return [o async for o in client.clone_jobs(jobs, journal=journal)]

    results = await asyncio.gather(worker(), worker(), worker())
    assert clones_sent(emu) <= 8
    for outcomes in results:
        assert len(outcomes) == 60
        assert all(isinstance(o.error, InsufficientBalanceError) for o in outcomes)


def test_one_probe_per_interval_then_a_success_closes_it() -> None:
    now = [100.0]
    breaker = AccountBreaker(clock=lambda: now[0])
    refusal = InsufficientBalanceError("insufficient balance", status_code=1008)
    release = breaker.refused(refusal, "Probe0001x")
    assert release is not None
    assert not release().request_sent
    for _ in range(3):
        with pytest.raises(InsufficientBalanceError, match="not sent"):
            breaker.admit(paced=True)
    breaker.admit(paced=False)  # listing voices needs no balance
    now[0] += PROBE_INTERVAL
    breaker.admit(paced=True)  # the probe goes
    with pytest.raises(InsufficientBalanceError):
        breaker.admit(paced=True)  # and only it
    assert breaker.refused(refusal, "Probe0002x") is None  # still open: nothing to release
    now[0] += PROBE_INTERVAL
    breaker.admit(paced=True)
    breaker.accepted(paced=True)
    assert not breaker.status.open
    breaker.admit(paced=True)


def test_rate_limits_and_voice_errors_do_not_open_it() -> None:
    # The request path opens the breaker only for what is_account_refusal accepts.
    for error in (
        voiceclone.RateLimitError("rate limited", status_code=1002),
        voiceclone.PermissionDeniedError("no access to this voice", status_code=2042),
        voiceclone.SensitiveContentError("sensitive", status_code=1026),
        voiceclone.ServerError("unknown", status_code=1000),
    ):
        assert not is_account_refusal(error)
    assert is_account_refusal(InsufficientBalanceError("no balance", status_code=1008))


async def test_the_cli_stops_with_a_line_saying_why_and_status_5(
    emu: Emulator, tmp_path: Path
) -> None:
    from test_cli import csv_manifest, start, voices_dir

    voices_dir(tmp_path, 6)
    manifest = csv_manifest(tmp_path, [f"CliBroke{i:04d},voice{i}.wav,," for i in range(6)])
    no_balance(emu)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MINIMAX_", "VOICECLONE_"))}
    env.update(NO_COLOR="1", COLUMNS="200", MINIMAX_API_KEY=KEY, MINIMAX_BASE_URL=emu.base_url)
    env["PYTHONPATH"] = os.pathsep.join(sys.path)
    proc = await start(["batch", str(manifest), "--rpm", "600"], env)
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 5, (out, err)
    text = out.decode() + err.decode()
    assert "the account cannot clone (1008" in text
    assert "not sent" in text
    assert "re-run to resume" in text
    assert clones_sent(emu) <= 3


# -- shared through Redis ------------------------------------------------------------------


async def _clone_one(emu: Emulator, url: str, voice_id: str) -> voiceclone.CloneOutcome:
    """One short-lived client cloning one voice, as a Celery task per voice does."""
    async with new_client(emu.base_url, requests_per_minute=600, redis=url) as client:
        up = await client.upload_file(sample_wav(10.5))
        return (await client.clone_all([CloneRequest(up.file_id, voice_id)]))[0]


async def test_short_lived_clients_sharing_redis_stop_after_the_first_refusal(
    emu: Emulator, redis_server: RedisServer
) -> None:
    no_balance(emu)
    outcomes = [await _clone_one(emu, redis_server.url, f"Task{i:04d}x") for i in range(6)]
    assert clones_sent(emu) == 1  # only the first task's request reached the server
    assert all(isinstance(o.error, InsufficientBalanceError) for o in outcomes)
    unsent = [o.error for o in outcomes[1:] if o.error is not None and not o.error.request_sent]
    assert len(unsent) == 5
    assert "Task0000x" in unsent[0].message  # the request the account answered


async def test_one_probe_per_interval_across_workers_and_a_success_closes_it_for_all(
    emu: Emulator, redis_server: RedisServer
) -> None:
    no_balance(emu)
    await _clone_one(emu, redis_server.url, "First0000x")
    direct = redis_asyncio.Redis.from_url(redis_server.url)
    try:
        (state,) = [k async for k in direct.scan_iter(match="voiceclone:{*}:gate")]

        async def interval_passes() -> None:
            await direct.hset(state, "probe_at", "0")

        await interval_passes()
        # Three workers at once: one of them is the probe; still no balance.
        await asyncio.gather(
            *(_clone_one(emu, redis_server.url, f"Probe{i}000x") for i in range(3))
        )
        assert clones_sent(emu) == 2
        emu.clear_faults()  # topped up
        others = [await _clone_one(emu, redis_server.url, f"Early{i}000x") for i in range(2)]
        assert [(o.ok, o.error and o.error.request_sent) for o in others] == [(False, False)] * 2
        assert clones_sent(emu) == 2  # no probe before the interval
        await interval_passes()
        # A re-run after the top-up: three workers at once; one is the probe, the
        # others wait for its answer instead of failing beside it.
        together = await asyncio.gather(
            *(_clone_one(emu, redis_server.url, f"Rerun{i}000x") for i in range(3))
        )
        assert [o.error for o in together] == [None] * 3  # closed for every worker
        after = await asyncio.gather(
            *(_clone_one(emu, redis_server.url, f"After{i}000x") for i in range(3))
        )
        assert [o.error for o in after] == [None] * 3
    finally:
        await direct.aclose()


WORKERS = 3
MAX_IN_FLIGHT = 4


async def test_three_worker_processes_on_an_account_without_balance_send_a_few(
    emu: Emulator, redis_server: RedisServer, tmp_path: Path
) -> None:
    import json

    sample = tmp_path / "v.wav"
    sample.write_bytes(sample_wav(10.5))
    no_balance(emu)
    config = {
        "base_url": emu.base_url, "key": KEY, "redis": redis_server.url, "name": "procs",
        "audio": str(sample), "count": 60, "max_in_flight": MAX_IN_FLIGHT,
    }  # fmt: skip
    worker = Path(__file__).with_name("shared_batch_worker.py")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    procs = [
        await asyncio.create_subprocess_exec(
            sys.executable, str(worker), json.dumps(config), stdout=asyncio.subprocess.PIPE, env=env
        )
        for _ in range(WORKERS)
    ]
    for proc in procs:
        out, _ = await asyncio.wait_for(proc.communicate(), 120)
        *outcomes, end = [json.loads(line) for line in out.splitlines()]
        assert end == {"end": "ok"}
        assert {o.get("error") for o in outcomes} == {"InsufficientBalanceError"}
    # At most what every worker can have in flight before any has heard the refusal
    # (how many do depends on the machine's speed), and a probe if the run outlasts
    # its interval: not the 60 a batch without the breaker sends.
    assert clones_sent(emu) <= WORKERS * MAX_IN_FLIGHT + 1

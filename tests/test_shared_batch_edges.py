"""A shared batch at its edges, against real redis-server processes and real workers.

Redis restarted mid-batch (with and without persistence), a job refused for good
by four workers, a worker paused past its lease (SIGSTOP/SIGCONT), two accounts
on one journal name, cancellation at random moments, and a real 3-node Redis
Cluster. Each promise is the one docs/many-workers.md makes.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import random
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster as AsyncRedisCluster
from redis_server import RedisCluster, RedisServer, redis_cluster, redis_server

import voiceclone
from voiceclone import Client, CloneJob, RedisJournal
from voiceclone.emulator import Emulator, Fault
from voiceclone.testing import sample_wav

__all__ = ["redis_cluster", "redis_server"]  # the fixtures, imported for pytest

KEY = "sk-live-S3CRETKEY-edges-1"
OTHER_KEY = "sk-live-S3CRETKEY-edges-2"
FAST = voiceclone.RetryPolicy(attempts=6, timeout=20.0, wait_initial=0.005, wait_max=0.02)
WORKER = Path(__file__).with_name("shared_batch_worker.py")
#: Seconds any one worker process may take before the test fails instead of hanging.
WORKER_BOUND = 120.0


@pytest.fixture
async def emu() -> AsyncIterator[Emulator]:
    async with Emulator([KEY, OTHER_KEY], rpm=None) as emulator:
        yield emulator


@pytest.fixture
def sample(tmp_path: Path) -> Path:
    path = tmp_path / "voice.wav"
    path.write_bytes(sample_wav(10.5))
    return path


def jobs_for(sample: Path, count: int) -> list[CloneJob]:
    return [CloneJob(f"Shared{i:04d}x", sample) for i in range(count)]


def client_for(emu: Emulator, key: str = KEY, **kw: Any) -> Client:
    return Client(key, emu.base_url, requests_per_minute=60000, retry=FAST, **kw)


async def start_worker(emu: Emulator, redis_url: str, sample: Path, **config: Any) -> Any:
    config = {
        "base_url": emu.base_url, "key": KEY, "redis": redis_url, "name": "batch",
        "audio": str(sample), **config,
    }  # fmt: skip
    return await asyncio.create_subprocess_exec(
        sys.executable, str(WORKER), json.dumps(config),
        stdout=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )  # fmt: skip


async def lines_of(proc: Any) -> list[dict[str, Any]]:
    out, _ = await asyncio.wait_for(proc.communicate(), WORKER_BOUND)
    return [json.loads(line) for line in out.splitlines()]


async def until(condition: Any, what: str) -> None:
    """Until ``condition()`` holds, looking every few milliseconds (bounded)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WORKER_BOUND
    while not condition():
        assert loop.time() < deadline, f"never happened: {what}"
        await asyncio.sleep(0.005)


def sent(emu: Emulator, voice_id: str) -> int:
    """Clone requests for ``voice_id`` that reached the emulator (faults answered included)."""
    return sum(
        1 for r in emu.requests if r.endpoint == "voice_clone" and r.json["voice_id"] == voice_id
    )


def created(emu: Emulator, key: str = KEY) -> int:
    return sum(emu.account(key).clone_successes.values())


# -- Redis restarted -----------------------------------------------------------------------


async def test_four_workers_ride_out_a_redis_restart_and_create_each_voice_once(
    emu: Emulator, sample: Path
) -> None:
    server = RedisServer(persistent=True)
    server.start()
    try:
        emu.latency = 0.1  # the batch lasts long enough to be cut in the middle
        workers = [
            await start_worker(emu, server.url, sample, count=120, max_in_flight=2)
            for _ in range(4)
        ]
        await until(lambda: created(emu) >= 30, "30 voices before the restart")
        server.kill()
        await asyncio.sleep(2.0)  # the outage itself: Redis is away for two seconds
        assert created(emu) < 120, "the batch ended before Redis came back"
        server.start()
        outputs = [await lines_of(proc) for proc in workers]
    finally:
        server.close()
    for lines in outputs:
        *outcomes, end = lines
        assert end == {"end": "ok"}
        assert len(outcomes) == 120
        assert {o["state"] for o in outcomes} <= {"ok", "resumed"}, outcomes
    account = emu.account(KEY)
    assert dict(account.clone_successes) == {f"Shared{i:04d}x": 1 for i in range(120)}
    assert sum(account.clone_requests.values()) == 120  # nothing sent twice


async def test_a_restart_that_lost_the_records_is_said_once_naming_the_batch(
    emu: Emulator, redis_server: RedisServer, sample: Path, caplog: pytest.LogCaptureFixture
) -> None:
    outcomes: list[voiceclone.CloneOutcome] = []
    async with client_for(emu) as client:
        journal = RedisJournal(redis_server.url, "spring-campaign")
        with caplog.at_level(logging.WARNING, logger="voiceclone"):
            batch = client.clone_jobs(jobs_for(sample, 8), journal=journal, max_in_flight=1)
            async for outcome in batch:
                outcomes.append(outcome)
                if len(outcomes) == 3:  # without persistence: back up, empty
                    redis_server.kill()
                    redis_server.start()
    assert len(outcomes) == 8
    assert all(o.ok for o in outcomes)
    gone = [r for r in caplog.records if "records are gone" in r.getMessage()]
    assert len(gone) == 1
    assert "spring-campaign" in gone[0].getMessage()
    assert "append-only" in gone[0].getMessage()


# -- failures for good ---------------------------------------------------------------------


async def test_a_job_refused_for_good_reaches_the_server_once_among_four_workers(
    emu: Emulator, redis_server: RedisServer, sample: Path
) -> None:
    refused = ("Shared0003x", "Shared0011x")
    for voice_id in refused:
        emu.inject(Fault.status(1026), times=50, voice_id=voice_id)
    emu.latency = 0.02
    workers = [
        await start_worker(emu, redis_server.url, sample, count=20, max_in_flight=2)
        for _ in range(4)
    ]
    outputs = [await lines_of(proc) for proc in workers]
    assert {v: sent(emu, v) for v in refused} == dict.fromkeys(refused, 1)
    for *outcomes, end in outputs:
        assert end == {"end": "ok"}
        failed = {
            o["voice_id"]: o["error"] for o in outcomes if o["state"] != "ok" and "error" in o
        }
        assert failed == dict.fromkeys(refused, "SensitiveContentError")
    assert emu.stats.requests["voice_clone"] == 20

    # A re-run reports them from the journal; asked to, it sends them once more.
    async with client_for(emu) as client:
        journal = RedisJournal(redis_server.url, "batch")
        again = [o async for o in client.clone_jobs(jobs_for(sample, 20), journal=journal)]
        assert all(o.resumed for o in again)
        assert emu.stats.requests["voice_clone"] == 20
        journal = RedisJournal(redis_server.url, "batch")
        retried = [
            o
            async for o in client.clone_jobs(
                jobs_for(sample, 20), journal=journal, retry_failed=True
            )
        ]
    assert sorted(o.request.voice_id for o in retried if not o.resumed) == list(refused)
    assert {v: sent(emu, v) for v in refused} == dict.fromkeys(refused, 2)


# -- a worker paused past its lease --------------------------------------------------------


async def test_a_worker_paused_past_its_lease_stops_before_its_request_leaves(
    emu: Emulator, redis_server: RedisServer, sample: Path
) -> None:
    # The paused worker's upload is answered slowly; it is stopped while it waits.
    emu.inject(Fault.latency(0.5), endpoint="files/upload", times=1)
    paused = await start_worker(emu, redis_server.url, sample, count=1, lease=1.0, gate=False)
    try:
        await until(lambda: any(r.endpoint == "files/upload" for r in emu.requests), "upload")
        paused.send_signal(signal.SIGSTOP)

        # Another worker finds the claim held, waits for its lease to lapse, takes
        # the job over and clones the voice.
        async def take_over() -> list[voiceclone.CloneOutcome]:
            async with client_for(emu) as client:
                journal = RedisJournal(redis_server.url, "batch", lease=1.0)
                return [o async for o in client.clone_jobs(jobs_for(sample, 1), journal=journal)]

        taken = await asyncio.wait_for(take_over(), WORKER_BOUND)
        assert taken[0].ok
        assert not taken[0].resumed
    finally:
        paused.send_signal(signal.SIGCONT)
    *outcomes, end = await lines_of(paused)
    assert end == {"end": "ok"}
    # It learned at its fenced "sent" mark that the job was taken over: no second
    # request, no conflict; it reports the other worker's result.
    assert outcomes == [{"voice_id": "Shared0000x", "state": "resumed", "recovered": False}]
    assert emu.account(KEY).clone_requests["Shared0000x"] == 1


# -- two accounts --------------------------------------------------------------------------


async def test_two_accounts_on_one_journal_name_never_share_records_or_uploads(
    emu: Emulator, redis_server: RedisServer, sample: Path
) -> None:
    for key in (KEY, OTHER_KEY):
        async with client_for(emu, key) as client:
            journal = RedisJournal(redis_server.url, "staging")
            batch = client.clone_jobs(jobs_for(sample, 3), journal=journal, max_in_flight=1)
            outcomes = [o async for o in batch]
        assert all(o.ok and not o.resumed for o in outcomes)
        assert dict(emu.account(key).clone_successes) == {f"Shared{i:04d}x": 1 for i in range(3)}
        assert len(emu.account(key).files) == 1  # its own upload, not the other's file id
    async with client_for(emu) as one, client_for(emu, OTHER_KEY) as other:
        journal = RedisJournal(redis_server.url, "staging")
        async for _ in one.clone_jobs(jobs_for(sample, 1), journal=journal):
            pass
        with pytest.raises(voiceclone.ValidationError, match="another account"):
            async for _ in other.clone_jobs(jobs_for(sample, 1), journal=journal):
                pass


# -- cancellation --------------------------------------------------------------------------

#: Cancellations per set-up, each at a random moment of a batch.
CANCELS = 100
#: A cancelled batch must end within this (the docs promise it).
CANCEL_BOUND = 2.0


@pytest.mark.parametrize("setup", ["gate", "journal", "both"])
async def test_a_batch_cancelled_at_any_moment_ends_promptly(
    emu: Emulator, redis_server: RedisServer, sample: Path, setup: str
) -> None:
    rng = random.Random(f"cancel-{setup}")
    emu.latency = 0.002
    redis = redis_server.url if setup in ("gate", "both") else None
    async with client_for(emu, redis=redis, max_in_flight=4) as client:
        for run in range(CANCELS):
            journal = RedisJournal(redis_server.url, f"c{run}") if setup != "gate" else None

            async def batch(journal: RedisJournal | None = journal) -> None:
                async for _ in client.clone_jobs(jobs_for(sample, 12), journal=journal):
                    pass

            task = asyncio.ensure_future(batch())
            await asyncio.sleep(rng.uniform(0, 0.04))
            task.cancel()
            done, _ = await asyncio.wait({task}, timeout=CANCEL_BOUND)
            assert done, f"run {run}: the cancelled batch did not end within {CANCEL_BOUND} s"
    # Every claim a cancelled batch held was given up (none left to lapse).
    direct = aioredis.Redis.from_url(redis_server.url)
    try:
        assert [k async for k in direct.scan_iter(match="*:claim:*")] == []
    finally:
        await direct.aclose()


# -- Redis Cluster -------------------------------------------------------------------------


async def test_a_shared_batch_runs_on_a_redis_cluster(
    emu: Emulator, redis_cluster: RedisCluster, sample: Path
) -> None:
    port = redis_cluster.nodes[1].port  # any node: the client finds the slot's owner
    emu.latency = 0.01

    async def worker() -> list[voiceclone.CloneOutcome]:
        cluster = AsyncRedisCluster(host="127.0.0.1", port=port)
        try:
            async with client_for(emu) as client:
                journal = RedisJournal(cluster, "clustered")
                return [o async for o in client.clone_jobs(jobs_for(sample, 16), journal=journal)]
        finally:
            await cluster.aclose()

    one, two = await asyncio.gather(worker(), worker())
    for outcomes in (one, two):
        assert len(outcomes) == 16
        assert all(o.ok for o in outcomes)
    assert dict(emu.account(KEY).clone_successes) == {f"Shared{i:04d}x": 1 for i in range(16)}
    assert sum(not o.resumed for o in one + two) == 16

    cluster = AsyncRedisCluster(host="127.0.0.1", port=port)
    try:
        summary = await RedisJournal(cluster, "clustered").summary(client_for(emu))
        assert len(summary.done) == 16
        assert not summary.in_flight
    finally:
        await cluster.aclose()

"""The Redis journal: one batch shared by many workers, against a real redis-server.

Each voice is created once whoever runs it; a job done by anyone is resumed; a
SIGKILLed worker's claims lapse and its jobs are taken over (a sent one comes back
``recovered``); uploads are reused; a journaled conflict stays a conflict.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis
from redis.crc import key_slot
from redis_server import RedisServer, redis_server

import voiceclone
from voiceclone import Client, CloneJob, RedisJournal
from voiceclone.emulator import Emulator, Fault
from voiceclone.testing import sample_wav

__all__ = ["redis_server"]  # the fixture, imported for pytest

KEY = "sk-live-S3CRETKEY-journal-1"
FAST = voiceclone.RetryPolicy(attempts=6, timeout=20.0, wait_initial=0.005, wait_max=0.02)
WORKER = Path(__file__).with_name("redis_journal_worker.py")


@pytest.fixture
async def emu() -> AsyncIterator[Emulator]:
    async with Emulator(KEY, rpm=None) as emulator:
        yield emulator


@pytest.fixture
def audio(tmp_path: Path) -> Path:
    """Twelve samples with distinct content (so each upload is its own)."""
    folder = tmp_path / "audio"
    folder.mkdir()
    for i in range(12):
        (folder / f"voice{i}.wav").write_bytes(sample_wav(10.5, seed=i))
    return folder


def jobs_for(audio: Path, count: int = 12) -> list[CloneJob]:
    return [CloneJob(f"Shared{i:04d}x", audio / f"voice{i}.wav") for i in range(count)]


def client_for(emu: Emulator, **kw: Any) -> Client:
    return Client(KEY, emu.base_url, requests_per_minute=60000, retry=FAST, **kw)


async def run_batch(
    emu: Emulator, server: RedisServer, jobs: list[CloneJob], name: str = "batch", **kw: Any
) -> list[voiceclone.CloneOutcome]:
    async with client_for(emu) as client:
        journal = RedisJournal(server.url, name, **kw)
        return [o async for o in client.clone_jobs(jobs, journal=journal)]


async def test_two_workers_share_one_batch_and_create_each_voice_once(
    emu: Emulator, redis_server: RedisServer, audio: Path
) -> None:
    emu.inject(Fault.latency(0.02), times=12)  # keep claims in flight while the other looks
    one, two = await asyncio.gather(
        run_batch(emu, redis_server, jobs_for(audio)),
        run_batch(emu, redis_server, jobs_for(audio)),
    )
    for outcomes in (one, two):
        assert sorted(o.index for o in outcomes) == list(range(12))
        assert all(o.ok for o in outcomes), [o.error for o in outcomes if not o.ok]
    account = emu.account()
    assert dict(account.clone_successes) == {f"Shared{i:04d}x": 1 for i in range(12)}
    assert sum(account.clone_requests.values()) == 12
    # Each did some of the work; what the other did, it reports as resumed.
    fresh = [sum(not o.resumed for o in outcomes) for outcomes in (one, two)]
    assert sum(fresh) == 12
    assert emu.stats.requests["files/upload"] == 12

    again = await run_batch(emu, redis_server, jobs_for(audio))
    assert all(o.resumed and o.ok for o in again)
    assert sum(emu.account().clone_requests.values()) == 12


async def test_uploads_are_reused_by_a_rerun(
    emu: Emulator, redis_server: RedisServer, audio: Path
) -> None:
    # Every attempt fails (FAST has six): the job fails; the re-run then succeeds.
    emu.inject(Fault.status(1000), times=6, voice_id="Shared0003x")
    first = await run_batch(emu, redis_server, jobs_for(audio, 6))
    assert [o.index for o in first if not o.ok] == [3]
    assert emu.stats.requests["files/upload"] == 6
    second = await run_batch(emu, redis_server, jobs_for(audio, 6))
    assert all(o.ok for o in second)
    assert [o.index for o in second if not o.resumed] == [3]
    assert emu.stats.requests["files/upload"] == 6  # the sample was not sent again


async def test_a_journal_made_from_a_url_serves_batch_after_batch_and_leaves_no_connection(
    emu: Emulator, redis_server: RedisServer, audio: Path
) -> None:
    # One journal for every task of a worker (the arq recipe): each batch makes its
    # Redis client and closes it, and its scripts must run on the new one.
    journal = RedisJournal(redis_server.url, "reused")
    direct = aioredis.Redis.from_url(redis_server.url)
    try:
        async with client_for(emu) as client:
            for count in (2, 4):
                outcomes = [
                    o async for o in client.clone_jobs(jobs_for(audio, count), journal=journal)
                ]
                assert all(o.ok for o in outcomes)
                assert sum(not o.resumed for o in outcomes) == 2
                # Only this test's own connection is left: the batch's client is closed
                # (the server notices a closed socket a moment later: look a few times).
                for _ in range(200):
                    if len(await direct.client_list()) == 1:
                        break
                    await asyncio.sleep(0.01)
                assert len(await direct.client_list()) == 1
    finally:
        await direct.aclose()


async def test_a_dead_workers_sent_job_is_taken_over_and_recovered(
    emu: Emulator, redis_server: RedisServer, audio: Path
) -> None:
    jobs = jobs_for(audio, 3)
    # A worker claimed Shared0000x, sent it (the voice was created) and died: no
    # answer recorded, its claim still running.
    dead = RedisJournal(redis_server.url, "batch", lease=1.0)
    async with client_for(emu) as client:
        dead._bind(client.account_id)
        claim = await dead.claim("Shared0000x")
        assert claim.held
        up = await client.upload_file(jobs[0].audio)
        await dead.announce(claim, up.file_id, None)
        await client.clone(file_id=up.file_id, voice_id="Shared0000x")
    await dead._handle.aclose()  # the process is gone; its lease is not renewed

    outcomes = await run_batch(emu, redis_server, jobs)
    by_id = {o.request.voice_id: o for o in outcomes}
    assert all(o.ok for o in outcomes)
    assert by_id["Shared0000x"].result is not None
    assert by_id["Shared0000x"].result.recovered
    assert emu.account().clone_successes["Shared0000x"] == 1


async def test_a_journaled_conflict_stays_a_conflict(
    emu: Emulator, redis_server: RedisServer, audio: Path
) -> None:
    jobs = jobs_for(audio, 2)
    async with client_for(emu) as client:  # someone else's voice, made before the batch
        up = await client.upload_file(jobs[1].audio)
        await client.clone(file_id=up.file_id, voice_id="Shared0001x")
    for run in range(2):
        outcomes = {o.index: o for o in await run_batch(emu, redis_server, jobs)}
        assert isinstance(outcomes[1].error, voiceclone.VoiceIdConflictError)
        # Final: the re-run reports it from the journal and sends nothing for it.
        assert outcomes[1].resumed == (run == 1)
        assert emu.account().clone_requests["Shared0001x"] == 2  # the owner's and one
    summary = await _summary(emu, redis_server)
    assert summary.failed == {"Shared0001x": "VoiceIdConflictError"}
    assert summary.final == {"Shared0001x"}
    assert summary.done == {"Shared0000x"}
    assert not summary.in_flight


async def _summary(emu: Emulator, server: RedisServer, name: str = "batch") -> Any:
    journal = RedisJournal(server.url, name)
    try:
        return await journal.summary(client_for(emu))
    finally:
        await journal.aclose()


async def test_a_sigkilled_worker_claims_lapse_and_another_finishes(
    emu: Emulator, redis_server: RedisServer, audio: Path
) -> None:
    # Slow answers keep the killed worker's first four clones in flight when it dies;
    # the emulator creates those voices a moment later, before their claims lapse.
    emu.inject(Fault.latency(0.3), times=4)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, str(WORKER), emu.base_url, KEY, redis_server.url, "batch",
        str(audio), "12", "1",
        stdout=subprocess.PIPE, env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )  # fmt: skip
    try:
        held = await _wait_for_claims(redis_server, 4)
    finally:
        proc.send_signal(signal.SIGKILL)
        await proc.wait()
    assert held
    outcomes = await run_batch(emu, redis_server, jobs_for(audio), lease=1.0)
    assert all(o.ok for o in outcomes), [o.error for o in outcomes if not o.ok]
    account = emu.account()
    assert all(account.clone_successes[j.voice_id] == 1 for j in jobs_for(audio))
    # A voice the dead worker's request created answers 2039 now: a recovery, since
    # it was journaled as sent (a failure otherwise, which the all-ok check rules out).
    recovered = [o for o in outcomes if o.result is not None and o.result.recovered]
    assert len(recovered) <= 4
    summary = await _summary(emu, redis_server)
    assert len(summary.done) == 12
    assert not summary.in_flight


async def _wait_for_claims(server: RedisServer, count: int) -> bool:
    """Until ``count`` clone requests are in the journal as sent (watching keyspace events)."""
    direct = aioredis.Redis.from_url(server.url)
    try:
        await direct.config_set("notify-keyspace-events", "Kh")
        async with direct.pubsub() as pubsub:
            await pubsub.psubscribe("__keyspace@0__:voiceclone:journal:*:sent")
            while True:
                message = await asyncio.wait_for(pubsub.get_message(timeout=30.0), 60)
                if message is None or message["type"] != "pmessage":
                    continue
                key = message["channel"].decode().split(":", 1)[1]
                if await direct.hlen(key) >= count:
                    return True
    finally:
        await direct.aclose()


async def test_redis_gone_past_the_outage_ends_the_batch_with_a_journal_error(
    emu: Emulator, redis_server: RedisServer, audio: Path
) -> None:
    # Gone for longer than the journal waits: the batch ends (one typed error), it
    # does not run through every remaining job failing each one.
    outcomes: list[voiceclone.CloneOutcome] = []

    async def batch() -> None:
        async with client_for(emu) as client:
            journal = RedisJournal(redis_server.url, "batch", outage=0.3)
            jobs = client.clone_jobs(jobs_for(audio), journal=journal, max_in_flight=1)
            async for outcome in jobs:
                outcomes.append(outcome)
                if len(outcomes) == 3:
                    redis_server.kill()

    with pytest.raises(voiceclone.JournalError) as raised:
        await batch()
    assert 3 <= len(outcomes) < 12
    assert all(o.ok for o in outcomes)
    assert "S3CRETKEY" not in str(raised.value)
    assert sum(emu.account().clone_requests.values()) <= 4


async def test_journal_keys_expire_and_hold_no_secret(
    emu: Emulator, redis_server: RedisServer, audio: Path
) -> None:
    await run_batch(emu, redis_server, jobs_for(audio, 3), name="secret-check")
    direct = aioredis.Redis.from_url(redis_server.url)
    try:
        keys = [k async for k in direct.scan_iter(count=1000)]
        assert any(b":journal:" in k for k in keys)
        # One hash tag: a script's keys share one Redis Cluster slot.
        assert len({key_slot(k) for k in keys if b":journal:" in k}) == 1
        for key in keys:
            assert await direct.pttl(key) > 0, key
            assert b"S3CRETKEY" not in key + (await direct.dump(key) or b""), key
    finally:
        await direct.aclose()


def test_bad_journal_arguments_name_the_field() -> None:
    with pytest.raises(voiceclone.ValidationError, match="name"):
        RedisJournal("redis://cache", "")
    with pytest.raises(voiceclone.ValidationError, match="lease"):
        RedisJournal("redis://cache", "batch", lease=0)
    with pytest.raises(voiceclone.ConfigurationError, match="redis must be"):
        RedisJournal("http://user:pw@cache", "batch")


async def test_a_live_workers_claim_is_renewed_past_its_lease(
    redis_server: RedisServer,
) -> None:
    holder = RedisJournal(redis_server.url, "batch", lease=1.0)
    other = RedisJournal(redis_server.url, "batch", lease=1.0)
    holder._bind("one-account")
    other._bind("one-account")
    direct = aioredis.Redis.from_url(redis_server.url)
    try:
        await direct.config_set("notify-keyspace-events", "Kg")
        async with direct.pubsub() as pubsub:
            await pubsub.psubscribe("__keyspace@0__:voiceclone:journal:*:claim:Held0001x")
            async with holder:
                assert (await holder.claim("Held0001x")).held
                # SET PX is one "expire" event; then one per renewal (every lease/3).
                # Five renewals take the claim well past its first lease.
                renewals = -1
                while renewals < 5:
                    message = await asyncio.wait_for(pubsub.get_message(timeout=10.0), 20)
                    if message is not None and message["data"] == b"expire":
                        renewals += 1
                claim = await other.claim("Held0001x")
                assert not claim.held
                assert claim.busy_for > 0
            # Leaving the batch gives the claim up at once.
            assert (await other.claim("Held0001x")).held
    finally:
        await holder.aclose()
        await other.aclose()
        await direct.aclose()


async def test_a_borrowed_decoding_client_works_and_stays_open(
    emu: Emulator, redis_server: RedisServer, audio: Path
) -> None:
    # Applications often set decode_responses=True on the client they lend.
    borrowed = aioredis.Redis.from_url(redis_server.url, decode_responses=True)
    try:
        for _ in range(2):
            async with client_for(emu, redis=borrowed) as client:
                journal = RedisJournal(borrowed, "decoded")
                outcomes = [o async for o in client.clone_jobs(jobs_for(audio, 3), journal=journal)]
                assert all(o.ok for o in outcomes)
                assert client.rate_stats.gate == "shared"
        assert all(o.resumed for o in outcomes)
        assert (await journal.summary(client)).done == {f"Shared{i:04d}x" for i in range(3)}
        assert await borrowed.ping()
    finally:
        await borrowed.aclose()


async def test_a_shared_batch_records_the_voices_it_keeps(
    emu: Emulator, redis_server: RedisServer, audio: Path
) -> None:
    async with client_for(emu) as client:
        journal = RedisJournal(redis_server.url, "kept")
        jobs = jobs_for(audio, 3)
        outcomes = [o async for o in client.clone_jobs(jobs, journal=journal, activate=True)]
        assert all(o.result is not None and o.result.activated_at for o in outcomes)
        try:
            activated = await journal.activated_voices()
        finally:
            await journal.aclose()  # a read after the batch opens a connection again
    assert set(activated) == {j.voice_id for j in jobs}
    assert all(emu.account(KEY).voices[j.voice_id].activated for j in jobs)

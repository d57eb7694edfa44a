"""The shared rate gate, against a real redis-server and the emulator.

Several OS processes on one key pace as one client; hosts' clocks do not matter;
a cooldown is everyone's; Redis lost, restarted or absent never crashes or hangs
a call; a borrowed Redis client is never closed; two accounts do not pace each other.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis
from redis.crc import key_slot
from redis_server import RedisServer, redis_server, run_redis

import voiceclone
from voiceclone import Client, CloneRequest, RateGateUnavailableError
from voiceclone._client import make_gate
from voiceclone._redis._conn import account_tag
from voiceclone._redis._gate import RedisGate
from voiceclone.emulator import Emulator
from voiceclone.testing import sample_wav

__all__ = ["redis_server"]  # the fixture, imported for pytest

KEY = "sk-live-S3CRETKEY-shared-gate-1"
OTHER_KEY = "sk-live-S3CRETKEY-shared-gate-2"
WORKER = Path(__file__).with_name("gate_worker.py")
# The many-process runs: the account's limit and bucket, and how many voices each
# worker process clones.
ACCOUNT_RPM = 1200.0
ACCOUNT_BURST = 10
PER_WORKER = 8
FAST = voiceclone.RetryPolicy(attempts=8, timeout=30.0, wait_initial=0.01, wait_max=0.05)
#: A pace that never delays the tests about who owns a connection (the default, 60 a
#: minute, would spend a second on their two clones).
FAST_RPM = 60_000.0


@pytest.fixture
async def emu() -> AsyncIterator[Emulator]:
    async with Emulator([KEY, OTHER_KEY], rpm=None) as emulator:
        yield emulator


def gate(server: RedisServer, rpm: float | None, key: str = KEY, **kw: Any) -> RedisGate:
    made = make_gate(
        rpm,
        redis=server.url,
        fallback=kw.get("fallback", "local"),
        api_key=key,
        base_url="x",
        family=kw.get("family", "clone"),
    )
    assert isinstance(made, RedisGate)
    return made


async def clones(client: Client, prefix: str, count: int) -> list[voiceclone.CloneOutcome]:
    sample = await client.upload_file(sample_wav())
    requests = [CloneRequest(sample.file_id, f"{prefix}{i:04d}x") for i in range(count)]
    return await client.clone_all(requests)


# -- several processes ---------------------------------------------------------------


async def run_workers(
    emu: Emulator, redis_url: str, rpm: float | None, count: int, skews: list[float]
) -> tuple[list[dict[str, Any]], float]:
    """Start one worker process per skew, release them together; summaries and wall time."""
    procs = [
        await asyncio.create_subprocess_exec(
            sys.executable, str(WORKER), emu.base_url, KEY, redis_url, f"Worker{n}v", str(count),
            "none" if rpm is None else str(rpm), str(skew),
            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
        )
        for n, skew in enumerate(skews)
    ]  # fmt: skip
    try:
        for proc in procs:
            assert proc.stdout is not None
            line = await asyncio.wait_for(proc.stdout.readline(), 60)
            assert json.loads(line) == {"ready": True}
        started = time.monotonic()
        for proc in procs:
            assert proc.stdin is not None
            proc.stdin.write(b"go\n")
            await proc.stdin.drain()
        summaries = []
        for proc in procs:
            assert proc.stdout is not None
            summaries.append(json.loads(await asyncio.wait_for(proc.stdout.readline(), 60)))
        wall = time.monotonic() - started
        for proc in procs:
            assert await asyncio.wait_for(proc.wait(), 30) == 0
        return summaries, wall
    finally:
        for proc in procs:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()


async def test_processes_on_one_key_pace_as_one_whatever_their_clocks(
    emu: Emulator, redis_server: RedisServer
) -> None:
    # Four processes each told the account's limit, 20 clones a second, with a bucket of
    # 10 at the account. Paced as one client they send 20 a second in all, so only a
    # process stalled for half a second (10 departures bunched) could be refused; paced
    # apart they send 80 a second and are refused within a fifth of one (the test below).
    async with Emulator([KEY], rpm=ACCOUNT_RPM, burst=ACCOUNT_BURST) as limited:
        # Clocks an hour ahead and an hour behind: a gate reading hosts' clocks would let
        # one of them go at once and hold another back for an hour.
        summaries, wall = await run_workers(
            limited, redis_server.url, ACCOUNT_RPM, PER_WORKER, [3600, -3600, 0, 0]
        )
        assert sum(s["ok"] for s in summaries) == 4 * PER_WORKER, summaries
        assert all(s["gate"] == "shared" for s in summaries), summaries
        # One schedule for all four: the 32 left one interval (50 ms) apart, not four at
        # a time. A lower bound: a slow machine only lengthens the run.
        assert wall >= (4 * PER_WORKER - 1) / (ACCOUNT_RPM / 60.0) * 0.95, wall
        assert limited.stats.rate_limited <= 2, limited.stats


async def test_per_process_gates_overshoot_without_redis(emu: Emulator) -> None:
    # The same run without Redis: what the shared gate prevents, and proof that the
    # test above would fail if the gate were not shared.
    async with Emulator([KEY], rpm=ACCOUNT_RPM, burst=ACCOUNT_BURST) as limited:
        summaries, _ = await run_workers(limited, "-", ACCOUNT_RPM, PER_WORKER, [0, 0, 0, 0])
        assert all(s["gate"] == "local" for s in summaries)
        assert limited.stats.rate_limited >= 3, limited.stats


# -- the rules, across clients -----------------------------------------------------------


async def test_speech_has_a_pace_of_its_own_shared_by_the_account(
    redis_server: RedisServer,
) -> None:
    clone = gate(redis_server, 600)
    speech_one = gate(redis_server, 600, family="speech")
    speech_two = gate(redis_server, 600, family="speech")
    try:
        refused = await speech_one.acquire()
        await refused.refused()  # the speech gate cools down, for every worker
        assert speech_one.stats.cooldowns == 1
        await speech_two.acquire()  # waits out the cooldown, and reads the pace
        assert speech_two.stats.requests_per_minute == pytest.approx(
            speech_one.stats.requests_per_minute
        )
        assert speech_two.stats.requests_per_minute < 600
        # The clone gate of the same account heard nothing: its pace (read from Redis
        # by this acquire) is untouched.
        await clone.acquire()
        assert clone.stats.requests_per_minute == pytest.approx(600)
        assert clone.stats.cooldowns == 0
        direct = aioredis.Redis.from_url(redis_server.url)
        try:
            keys = {k.decode() for k in await direct.keys("voiceclone:*")}
        finally:
            await direct.aclose()
        assert any(k.endswith(":speech:gate") for k in keys)
        assert any(k.endswith("}:gate") for k in keys)  # the clone gate's, as before
    finally:
        for g in (clone, speech_one, speech_two):
            await g.aclose()


async def test_a_cooldown_is_everyones_and_old_news_is_ignored(redis_server: RedisServer) -> None:
    one, two = gate(redis_server, 600), gate(redis_server, 600)
    try:
        loop = asyncio.get_running_loop()
        first = await one.acquire()
        sent_before = await two.acquire()
        await first.refused()  # closes the gate for the whole account
        assert one.stats.cooldowns == 1
        started = loop.time()
        await two.acquire()
        # The cooldown is half an interval at the lowered pace: 0.5 / (10/s * 0.5) s.
        assert loop.time() - started >= 0.09
        # A refusal of a request sent before the cooldown began is old news.
        await sent_before.refused()
        assert two.stats.cooldowns == 0
        assert two.stats.rate_limited == 1
        assert one.stats.requests_per_minute == pytest.approx(two.stats.requests_per_minute)
        assert two.stats.requests_per_minute < 600
    finally:
        await one.aclose()
        await two.aclose()


async def test_no_burst_and_no_saved_credit_across_clients(redis_server: RedisServer) -> None:
    one, two = gate(redis_server, 1200), gate(redis_server, 1200)
    try:
        loop = asyncio.get_running_loop()
        started = loop.time()
        for _ in range(3):  # alternate clients: one schedule for both
            await one.acquire()
            await two.acquire()
        # Six departures one interval (50 ms) apart: the first at once.
        assert loop.time() - started >= 5 * 0.05 * 0.9
    finally:
        await one.aclose()
        await two.aclose()


async def test_two_accounts_on_one_redis_do_not_pace_each_other(
    redis_server: RedisServer,
) -> None:
    mine, theirs, mine_too = (
        gate(redis_server, 60, KEY),
        gate(redis_server, 60, OTHER_KEY),
        gate(redis_server, 60, KEY),
    )
    try:
        loop = asyncio.get_running_loop()
        await mine.acquire()
        started = loop.time()
        await theirs.acquire()  # another account: its own schedule, no wait
        assert loop.time() - started < 0.5
        with pytest.raises(voiceclone.OutOfTime):
            # The same account: the next slot is a second away.
            await mine_too.acquire(deadline=loop.time() + 0.5)
    finally:
        for g in (mine, theirs, mine_too):
            await g.aclose()


#: Clones per client while the three discover the limit: enough that the first burst
#: (refused before anyone knows the limit) weighs little in the refusals per clone.
PER_CLIENT = 30


async def test_unknown_limit_is_discovered_together(
    emu: Emulator, redis_server: RedisServer
) -> None:
    async with Emulator([KEY], rpm=1200.0, burst=2) as limited:
        clients = [
            # Two in flight each: requests already on the wire when a refusal starts
            # the shared cooldown are refused too, and a busy machine bunches them;
            # fewer in flight keeps that noise small beside what the bound measures.
            Client(KEY, limited.base_url, requests_per_minute=None, retry=FAST,
                   redis=redis_server.url, max_in_flight=2)
            for _ in range(3)
        ]  # fmt: skip
        try:
            results = await asyncio.gather(
                *(clones(c, f"Discover{n}v", PER_CLIENT) for n, c in enumerate(clients))
            )
            # Each client read the pace at its own last departure, and the batch moved
            # it between them. One more turn each reports every success counted; a
            # second reads the pace they now share.
            for _ in range(2):
                for c in clients:
                    await c._gates["clone"].acquire()
            paces = [c.rate_stats.requests_per_minute for c in clients]
        finally:
            for c in clients:
                await c.aclose()
        assert all(o.ok for outcomes in results for o in outcomes)
        assert limited.stats.rate_limited <= 0.3 * 3 * PER_CLIENT, limited.stats
        assert max(paces) == pytest.approx(min(paces)), paces
        assert 0 < max(paces) < 1200 * 1.5


# -- Redis lost, restarted, absent -------------------------------------------------------


async def test_redis_killed_mid_batch_falls_back_then_returns(
    emu: Emulator, redis_server: RedisServer, caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    monkeypatch.setattr("voiceclone._redis._gate.PROBE_FIRST", 0.0)  # probe at every call
    monkeypatch.setattr("voiceclone._redis._gate.PROBE_MAX", 0.0)
    caplog.set_level(logging.INFO, "voiceclone")
    async with Client(
        KEY, emu.base_url, requests_per_minute=6000, retry=FAST, redis=redis_server.url
    ) as client:
        sample = await client.upload_file(sample_wav())
        done = 0
        requests = [CloneRequest(sample.file_id, f"Outage{i:04d}x") for i in range(30)]
        async for outcome in client.clone_many(requests, max_in_flight=2):
            assert outcome.ok, outcome.error
            done += 1
            if done == 10:
                redis_server.kill()
        assert client.rate_stats.gate == "fallback"
        warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
        assert len(warnings) == 1, [r.getMessage() for r in warnings]
        assert "a local gate at 6000.0/min" in warnings[0].getMessage()
        # The account's limit shared by the one worker seen: the fallback's fair share.
        assert client.rate_stats.requests_per_minute == pytest.approx(6000)

        redis_server.start()  # same port, empty: the script cache is gone too
        more = [CloneRequest(sample.file_id, f"Back{i:04d}x") for i in range(5)]
        assert all(o.ok for o in await client.clone_all(more))
        assert client.rate_stats.gate == "shared"
        back = [r for r in caplog.records if "reachable again" in r.getMessage()]
        assert len(back) == 1
        assert back[0].levelno == logging.INFO
        assert len([r for r in caplog.records if r.levelno == logging.WARNING]) == 1


async def test_fair_share_divides_by_live_workers(redis_server: RedisServer) -> None:
    gates = [gate(redis_server, 600) for _ in range(4)]
    # Four processes (a worker is "process:client"; one process's clients share a
    # share, see test_shared_gate_edges::test_the_fair_share_counts_processes_not_clients).
    for n, g in enumerate(gates):
        g._worker = f"process{n}:client"
    try:
        for g in [*gates, gates[0]]:
            await g.acquire()  # the last sees all four in Redis
        redis_server.kill()
        await gates[0].acquire()
        with pytest.raises(voiceclone.OutOfTime):
            # Falls back at 600/4 a minute: after a departure, the next is 0.4 s away.
            await gates[0].acquire(asyncio.get_running_loop().time() + 0.2)
        assert gates[0].stats.gate == "fallback"
        assert gates[0].stats.requests_per_minute == pytest.approx(150)
    finally:
        for g in gates:
            await g.aclose()


async def test_redis_down_at_start_never_blocks_a_call(
    emu: Emulator, caplog: pytest.LogCaptureFixture
) -> None:
    server = RedisServer()  # never started: nothing listens on its port
    try:
        async with Client(
            KEY, emu.base_url, requests_per_minute=6000, retry=FAST, redis=server.url
        ) as client:
            outcomes = await asyncio.wait_for(clones(client, "Down", 5), 20)
            assert all(o.ok for o in outcomes)
            assert client.rate_stats.gate == "fallback"
        assert len([r for r in caplog.records if r.levelno == logging.WARNING]) == 1
    finally:
        server.close()


async def test_fallback_fail_raises_a_typed_error_before_sending(emu: Emulator) -> None:
    server = RedisServer()
    try:
        async with Client(
            KEY, emu.base_url, retry=FAST, redis=server.url, fallback="fail"
        ) as client:
            sample = await client.upload_file(sample_wav())
            with pytest.raises(RateGateUnavailableError):
                await client.clone(file_id=sample.file_id, voice_id="NeverSent01")
        assert emu.stats.requests["voice_clone"] == 0
    finally:
        server.close()


async def test_fallback_open_does_not_pace(redis_server: RedisServer) -> None:
    g = gate(redis_server, 60, fallback="open")
    try:
        redis_server.kill()
        loop = asyncio.get_running_loop()
        for _ in range(5):  # at 60/min these would take four seconds
            await g.acquire(deadline=loop.time() + 5)
        assert g.stats.gate == "fallback"
    finally:
        await g.aclose()


async def test_script_cache_flushed_is_reloaded_without_falling_back(
    redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    g = gate(redis_server, 6000)
    direct = aioredis.Redis.from_url(redis_server.url)
    try:
        await g.acquire()
        await direct.script_flush()
        await g.acquire()  # NOSCRIPT, loaded again
        assert g.stats.gate == "shared"
        assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    finally:
        await g.aclose()
        await direct.aclose()


async def test_a_slow_redis_is_treated_as_down(
    redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("voiceclone._redis._gate.CALL_TIMEOUT", 0.2)
    g = gate(redis_server, 6000)
    direct = aioredis.Redis.from_url(redis_server.url)
    try:
        await g.acquire()
        # Redis stalls (a long script, a swap storm): the gate must not wait on it.
        pause = asyncio.ensure_future(direct.execute_command("CLIENT", "PAUSE", 3000, "ALL"))
        await pause
        loop = asyncio.get_running_loop()
        started = loop.time()
        await g.acquire()
        assert loop.time() - started < 1.5
        assert g.stats.gate == "fallback"
    finally:
        await direct.execute_command("CLIENT", "UNPAUSE")
        await g.aclose()
        await direct.aclose()


# -- connections and secrets -------------------------------------------------------------


async def test_a_borrowed_redis_client_is_never_closed(
    emu: Emulator, redis_server: RedisServer
) -> None:
    borrowed = aioredis.Redis.from_url(redis_server.url)
    try:
        async with Client(
            KEY, emu.base_url, retry=FAST, redis=borrowed, requests_per_minute=FAST_RPM
        ) as client:
            outcomes = await clones(client, "Borrowed", 2)
            assert all(o.ok for o in outcomes)
            assert client.rate_stats.gate == "shared"
        assert await borrowed.ping()
    finally:
        await borrowed.aclose()


async def test_an_owned_redis_client_is_made_lazily_and_closed(
    emu: Emulator, redis_server: RedisServer
) -> None:
    direct = aioredis.Redis.from_url(redis_server.url)
    try:
        client = Client(
            KEY, emu.base_url, retry=FAST, redis=redis_server.url, requests_per_minute=FAST_RPM
        )
        assert len(await direct.client_list()) == 1  # only ours: nothing connected yet
        async with client:
            await clones(client, "Owned", 2)
            assert len(await direct.client_list()) == 2
            gate_ = client._gates["clone"]
            assert isinstance(gate_, RedisGate)
            owned = gate_._handle.get()
            connections = owned.connection_pool._available_connections
            assert connections
            assert all(c.is_connected for c in connections)
        # Closed on our side (the server may notice a moment later).
        assert not any(c.is_connected for c in connections)
    finally:
        await direct.aclose()


async def test_env_url_is_the_default(
    emu: Emulator, redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VOICECLONE_REDIS_URL", redis_server.url)
    async with Client(KEY, emu.base_url, retry=FAST, requests_per_minute=FAST_RPM) as client:
        assert client.rate_stats.gate == "shared"
        assert all(o.ok for o in await clones(client, "FromEnv", 2))
    monkeypatch.delenv("VOICECLONE_REDIS_URL")
    async with Client(KEY, emu.base_url, retry=FAST) as client:
        assert client.rate_stats.gate == "local"


def test_bad_redis_arguments_name_the_field_and_hide_the_url() -> None:
    with pytest.raises(voiceclone.ConfigurationError, match="redis must be") as info:
        Client(KEY, "http://127.0.0.1:1/v1", redis="http://user:hunter2pass@cache:6379")
    assert "hunter2pass" not in str(info.value)
    with pytest.raises(voiceclone.ConfigurationError, match="redis must be"):
        Client(KEY, "http://127.0.0.1:1/v1", redis=6379)  # type: ignore[arg-type]
    with pytest.raises(voiceclone.ConfigurationError, match="fallback must be"):
        Client(KEY, "http://127.0.0.1:1/v1", redis="redis://cache", fallback="pray")


def test_without_the_extra_redis_is_a_configuration_error() -> None:
    code = (
        "import sys; sys.modules['redis'] = None\n"
        "import voiceclone\n"
        "try:\n"
        "    voiceclone.Client('k', 'http://127.0.0.1:1/v1', redis='redis://cache')\n"
        "except voiceclone.ConfigurationError as exc:\n"
        "    print(exc)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    assert 'pip install "voiceclone[redis]"' in out


async def scan_for_secrets(server: RedisServer, tag: str) -> None:
    """Every key is the account's (by its tag), expires, and holds no key or password."""
    direct = aioredis.Redis.from_url(server.url)
    try:
        keys = [k async for k in direct.scan_iter(count=1000)]
        assert keys
        assert len({key_slot(k) for k in keys}) == 1  # one Redis Cluster slot
        for key in keys:
            assert tag.encode() in key
            assert await direct.pttl(key) > 0, key  # nothing outlives the account's use
            dumped = key + (await direct.dump(key) or b"")
            for secret in (KEY, "S3CRETKEY", server.password or "?"):
                assert secret.encode() not in dumped, key
    finally:
        await direct.aclose()


@pytest.fixture
def password_redis() -> Iterator[RedisServer]:
    yield from run_redis(password="hunter2-redis-pass")


async def test_no_key_or_password_in_redis_logs_or_errors_and_every_key_expires(
    emu: Emulator, password_redis: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    async with Client(
        KEY, emu.base_url, requests_per_minute=6000, retry=FAST, redis=password_redis.url
    ) as client:
        assert all(o.ok for o in await clones(client, "Secret", 3))
        gate_ = client._gates["clone"]
        assert isinstance(gate_, RedisGate)
        ticket = await gate_.acquire()
        await ticket.refused()
        assert "hunter2" not in repr(client)
        assert "hunter2" not in repr(gate_)
        await scan_for_secrets(password_redis, account_tag(KEY, emu.base_url))
        password_redis.kill()  # errors and the fallback warning must not leak either
        assert all(o.ok for o in await clones(client, "Secret2", 2))
    for record in caplog.records:
        text = record.getMessage() + str(record.exc_info or "")
        assert "S3CRETKEY" not in text, text
        assert "hunter2" not in text, text


async def test_refusals_go_to_the_gate_that_let_the_request_go(
    redis_server: RedisServer,
) -> None:
    g = gate(redis_server, 600)
    try:
        shared = await g.acquire()
        redis_server.kill()
        await shared.refused()  # Redis gone: falls back, no error
        assert g.stats.gate == "fallback"
        fallback = await g.acquire()
        assert g._fallback is not None
        before = g.stats.requests_per_minute
        await fallback.refused()
        assert g.stats.requests_per_minute < before  # the fallback gate slowed down
        assert g._fallback.stats.rate_limited == 1  # told once, by its own ticket
        assert g.stats.rate_limited == 2
    finally:
        await g.aclose()


async def test_one_round_trip_per_departure(redis_server: RedisServer) -> None:
    g = gate(redis_server, 6_000_000)
    direct = aioredis.Redis.from_url(redis_server.url)
    try:
        await g.acquire()  # loads the script
        await direct.config_resetstat()
        for _ in range(20):
            await g.acquire()
            await g.on_accepted()  # counted here, carried by the next acquire
        stats = await direct.info("commandstats")
        # Redis 7 counts subcommands apart ("cmdstat_config|resetstat"); 6 does not.
        calls: dict[str, int] = {}
        for name, entry in stats.items():
            command = name.removeprefix("cmdstat_").split("|")[0]
            calls[command] = calls.get(command, 0) + entry["calls"]
        assert calls.pop("evalsha") == 20
        # Redis counts the commands run inside the script too; nothing else was sent
        # (no SCRIPT LOAD, no EVAL, no polling), besides this test's CONFIG and INFO.
        inside = {"time", "hmget", "hset", "hdel", "hvals", "lrange", "lpush", "ltrim",
                  "zadd", "zrange", "zrangebyscore", "zremrangebyscore", "pexpire"}  # fmt: skip
        assert set(calls) <= inside | {"info", "config"}
        assert calls["hmget"] == 20  # the state is read once per departure
        assert "hget" not in calls
    finally:
        await g.aclose()
        await direct.aclose()

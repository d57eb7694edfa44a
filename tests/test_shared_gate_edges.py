"""The shared rate gate at its edges, against real redis-server processes.

Limits of departed workers stop counting, a Redis clock that steps back does not
freeze pacing, live processes (not client objects) are counted, ``redis=False``
opts out, a Redis URL redis-py would misread is refused at construction, a
server answering like no Redis is treated as down, no password sits in a frame,
and a real 3-node Redis Cluster paces as one.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import math
import os
import traceback
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster as AsyncRedisCluster
from redis_server import RedisCluster, RedisServer, redis_cluster, redis_server

import voiceclone
from voiceclone import Client, CloneRequest, RedisJournal
from voiceclone._client import make_gate
from voiceclone._pacing import Gate
from voiceclone._redis._gate import HEARTBEAT, RedisGate
from voiceclone.emulator import Emulator

__all__ = ["redis_cluster", "redis_server"]  # the fixtures, imported for pytest

KEY = "sk-live-S3CRETKEY-gate-edges"
FAST = voiceclone.RetryPolicy(attempts=6, timeout=20.0, wait_initial=0.005, wait_max=0.02)


PACKAGE = str(Path(voiceclone.__file__).parent) + os.sep


def sdk_frames_text(error: BaseException) -> str:
    """The error and every frame of the SDK in its traceback, with their locals.

    Only the SDK's frames: the test's own locals hold the URL it passed in.
    """
    shown = traceback.TracebackException.from_exception(error, capture_locals=True)
    shown.stack = traceback.StackSummary.from_list(
        [f for f in shown.stack if f.filename.startswith(PACKAGE)]
    )
    assert shown.stack, "no frame of the SDK in the traceback"
    return "".join(shown.format())  # every local repr'd: none may raise


def gate(url: Any, rpm: float | None) -> RedisGate:
    made = make_gate(rpm, redis=url, fallback="local", api_key=KEY, base_url="x")
    assert isinstance(made, RedisGate)
    return made


async def state_keys(server: RedisServer) -> dict[str, bytes]:
    """The account's gate keys by their last part (gate, sent, spent, workers, told)."""
    direct = aioredis.Redis.from_url(server.url)
    try:
        keys = [k async for k in direct.scan_iter(match="voiceclone:{*}:*")]
        return {k.decode().rsplit(":", 1)[1]: k for k in keys if b":journal:" not in k}
    finally:
        await direct.aclose()


async def pace(g: Gate) -> float:
    await g.acquire()
    return g.stats.requests_per_minute


# -- limits of departed workers ------------------------------------------------------------


async def test_a_lower_limit_counts_while_its_worker_lives_and_is_said_once(
    redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    low, high = gate(redis_server.url, 600), gate(redis_server.url, 6000)
    try:
        assert await pace(low) == pytest.approx(600)
        with caplog.at_level(logging.WARNING, logger="voiceclone"):
            assert await pace(high) == pytest.approx(600)  # the lowest live limit holds
            assert await pace(high) == pytest.approx(600)
        said = [r.getMessage() for r in caplog.records if "another live worker" in r.getMessage()]
        assert len(said) == 1
        assert "told 6000 requests/min" in said[0]
        assert "account 600/min" in said[0]
        await low.aclose()  # it leaves: its limit stops counting at once
        assert await pace(high) == pytest.approx(6000)
    finally:
        await low.aclose()
        await high.aclose()


async def test_a_limit_of_a_worker_gone_silent_stops_counting_after_the_heartbeat(
    redis_server: RedisServer,
) -> None:
    high = gate(redis_server.url, 6000)
    try:
        await high.acquire()
        keys = await state_keys(redis_server)
        direct = aioredis.Redis.from_url(redis_server.url)
        try:
            now = float((await direct.time())[0])
            # A worker told 600/min that was killed HEARTBEAT + 1 s ago, and one still live.
            await direct.zadd(keys["workers"], {"deadproc:c1": now - HEARTBEAT - 1})
            await direct.hset(keys["told"], "deadproc:c1", repr(10.0))
            assert await pace(high) == pytest.approx(6000)
            await direct.zadd(keys["workers"], {"liveproc:c1": now})
            await direct.hset(keys["told"], "liveproc:c1", repr(10.0))
            assert await pace(high) == pytest.approx(600)
            assert await direct.hget(keys["told"], "deadproc:c1") is None
        finally:
            await direct.aclose()
    finally:
        await high.aclose()


async def test_a_raised_limit_takes_effect_once_the_lower_worker_left(
    redis_server: RedisServer,
) -> None:
    # A worker told 300/min made two clones and exited; one told 6000/min comes next.
    low = gate(redis_server.url, 300)
    await low.acquire()
    await low.on_accepted()
    await low.acquire()
    await low.aclose()
    high = gate(redis_server.url, 6000)
    try:
        assert await pace(high) == pytest.approx(6000)
        loop = asyncio.get_running_loop()
        # Nine departures at 6000/min are 0.09 s of intervals; at 300/min, 1.8 s: the
        # deadline fails the call long before the old pace could meet it.
        deadline = loop.time() + 1.0
        for _ in range(9):
            await high.acquire(deadline=deadline)
    finally:
        await high.aclose()


# -- time --------------------------------------------------------------------------------


async def test_a_redis_clock_that_stepped_back_does_not_stop_pacing(
    redis_server: RedisServer,
) -> None:
    g = gate(redis_server.url, 600)
    try:
        for _ in range(3):
            await g.acquire()
        keys = await state_keys(redis_server)
        direct = aioredis.Redis.from_url(redis_server.url)
        try:
            # What a step back of an hour leaves: every stored time an hour ahead.
            ahead = float((await direct.time())[0]) + 3600
            await direct.hset(keys["gate"], mapping={"last": ahead, "closed_until": ahead})
        finally:
            await direct.aclose()
        loop = asyncio.get_running_loop()
        for _ in range(3):  # no OutOfTime: each slot within a few intervals of now
            await g.acquire(deadline=loop.time() + 1.0)
    finally:
        await g.aclose()


# -- live workers ------------------------------------------------------------------------


async def test_the_fair_share_counts_processes_not_clients(redis_server: RedisServer) -> None:
    gates = [gate(redis_server.url, 6000) for _ in range(5)]  # five clients, one process
    try:
        for g in gates:
            await g.acquire()
        assert gates[-1]._workers == 1
        keys = await state_keys(redis_server)
        direct = aioredis.Redis.from_url(redis_server.url)
        try:
            assert await direct.zcard(keys["workers"]) == 5
            await gates[0].aclose()  # a closed client stops its heartbeat at once
            assert await direct.zcard(keys["workers"]) == 4
        finally:
            await direct.aclose()
    finally:
        for g in gates:
            await g.aclose()


# -- opting out, URLs, passwords ---------------------------------------------------------


@pytest.mark.parametrize("redis", [False, "", "  "])
async def test_redis_false_or_empty_means_no_redis_whatever_the_environment(
    monkeypatch: pytest.MonkeyPatch, redis: Any
) -> None:
    monkeypatch.setenv("VOICECLONE_REDIS_URL", "redis://127.0.0.1:1/0")
    async with Client(KEY, "http://127.0.0.1:1/v1", redis=redis) as client:
        assert client.rate_stats.gate == "local"
    async with Client(KEY, "http://127.0.0.1:1/v1") as client:
        assert client.rate_stats.gate != "local"  # None still reads the environment


@pytest.mark.parametrize("password", ["pa/ss9word", "pa#ss9word", "pa?ss9word"])
def test_a_redis_url_with_an_unencoded_password_is_refused_quoting_nothing(
    password: str,
) -> None:
    url = f"redis://user:{password}@127.0.0.1:6379/0"
    for make in (
        lambda: Client(KEY, "http://127.0.0.1:1/v1", redis=url),
        lambda: RedisJournal(url, "batch"),
    ):
        with pytest.raises(voiceclone.ConfigurationError, match="percent-encode") as caught:
            make()
        assert "ss9word" not in sdk_frames_text(caught.value)
        assert caught.value.__cause__ is None
        assert caught.value.__context__ is None


def test_no_frame_of_a_refused_construction_holds_a_redis_password() -> None:
    url = "redis://user:hunter2pass@127.0.0.1:6379/0"
    for make in (
        lambda: Client(KEY, "http://127.0.0.1:1/v1", redis=url, timeout=-1),
        lambda: Client(KEY, "http://127.0.0.1:1/v1", redis=url, proxy=url),
        lambda: RedisJournal(url, "", lease=30),
        lambda: RedisJournal(url, "batch", lease=0),
    ):
        with pytest.raises(voiceclone.VoiceCloneError) as caught:
            make()
        assert "hunter2pass" not in sdk_frames_text(caught.value)


async def test_the_cli_refuses_an_unreadable_redis_url_in_one_line(tmp_path: Any) -> None:
    from voiceclone.cli import main

    manifest = tmp_path / "voices.csv"
    manifest.write_text("voice_id,audio\n", encoding="utf-8")
    url = "redis://user:pa/ss9word@127.0.0.1:6379/0"
    loop = asyncio.get_running_loop()
    status, err = await loop.run_in_executor(None, _run_cli, main, manifest, url)
    assert status == 3, err
    assert "percent-encode" in err
    assert "ss9word" not in err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def _run_cli(main: Any, manifest: Any, url: str) -> tuple[int, str]:
    # The command sets up the "voiceclone" logger for a terminal: restored after.
    logger = logging.getLogger("voiceclone")
    kept = (logger.handlers[:], logger.level, logger.propagate)
    err = io.StringIO()
    env = {"MINIMAX_API_KEY": KEY, "MINIMAX_BASE_URL": "http://127.0.0.1:1/v1", "NO_COLOR": "1"}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            try:
                status = main(["batch", str(manifest), "--redis", url, "--journal-name", "x"])
            except SystemExit as exc:
                status = int(exc.code or 0)
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        logger.handlers[:], logger.level, logger.propagate = kept
    return status, err.getvalue()


# -- a server that answers like no Redis -------------------------------------------------


class Impostor:
    """A RESP server that says OK to everything, and ``answer`` to a script call."""

    def __init__(self, answer: bytes) -> None:
        self.answer = answer
        self.scripts = 0
        self.server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"redis://127.0.0.1:{self.server.sockets[0].getsockname()[1]}/0"

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                header = await reader.readline()
                if not header:
                    return
                words = []
                for _ in range(int(header[1:])):
                    size = int((await reader.readline())[1:])
                    words.append((await reader.readexactly(size + 2))[:-2])
                command = words[0].upper()
                if command in (b"EVALSHA", b"EVAL"):
                    self.scripts += 1
                    writer.write(self.answer)
                elif command == b"INFO":
                    writer.write(b"$0\r\n\r\n")
                else:
                    writer.write(b"+OK\r\n")
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            return
        finally:
            writer.close()


@pytest.fixture
async def emu() -> AsyncIterator[Emulator]:
    async with Emulator(KEY, rpm=None) as emulator:
        yield emulator


@pytest.mark.parametrize(
    "answer", [b"+OK\r\n", b"$-1\r\n", b"*2\r\n:1\r\n:2\r\n", b"*6\r\n" + b"$3\r\nabc\r\n" * 6]
)
async def test_a_server_answering_like_no_redis_is_treated_as_down(
    emu: Emulator, answer: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    impostor = Impostor(answer)
    impostor.server = await asyncio.start_server(impostor.handle, "127.0.0.1", 0)
    try:
        async with impostor.server:
            client = Client(
                KEY, emu.base_url, requests_per_minute=60000, retry=FAST, redis=impostor.url
            )
            async with client:
                up = await client.upload_file(_sample())
                requests = [CloneRequest(up.file_id, f"Impostor{i:03d}x") for i in range(4)]
                with caplog.at_level(logging.WARNING, logger="voiceclone"):
                    outcomes = await client.clone_all(requests)
                assert [o.ok for o in outcomes] == [True] * 4
                assert client.rate_stats.gate == "fallback"
            assert impostor.scripts >= 1
            warned = [r for r in caplog.records if "unreachable" in r.getMessage()]
            assert len(warned) == 1
            assert "UnreadableReply" in warned[0].getMessage()
    finally:
        impostor.server.close()


def _sample() -> bytes:
    from voiceclone.testing import sample_wav

    return sample_wav(10.5)


# -- Redis Cluster -----------------------------------------------------------------------


@pytest.mark.parametrize("given", ["client", "url"])
async def test_four_workers_on_a_redis_cluster_pace_as_one(
    emu: Emulator, redis_cluster: RedisCluster, given: str
) -> None:
    node = redis_cluster.nodes[2]
    clusters: list[AsyncRedisCluster] = []

    def redis_for() -> Any:
        if given == "url":
            return node.url  # a node's URL: the client finds out it is a cluster
        clusters.append(AsyncRedisCluster(host="127.0.0.1", port=node.port))
        return clusters[-1]

    clients = [
        Client(KEY, emu.base_url, requests_per_minute=1200, retry=FAST, redis=redis_for())
        for _ in range(4)
    ]
    try:
        gates = [c._gates["clone"] for c in clients]
        loop = asyncio.get_running_loop()
        started = loop.time()
        await asyncio.gather(*(g.acquire() for g in gates for _ in range(5)))
        wall = loop.time() - started
        assert [c.rate_stats.gate for c in clients] == ["shared"] * 4
        # Twenty departures of one schedule at 20/s: at least 19 intervals apart in
        # all (four separate gates would let them leave four at a time).
        assert wall >= 19 / 20 * 0.95, wall
        assert not math.isinf(clients[0].rate_stats.requests_per_minute)
    finally:
        for c in clients:
            await c.aclose()
        for cluster in clusters:
            await cluster.aclose()

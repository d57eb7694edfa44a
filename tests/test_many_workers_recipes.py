"""The Celery and arq recipes of docs/many-workers.md, run as written.

Each recipe's files are taken from the page, then run with two real worker
processes, a real redis-server and the emulator. The emulator allows 60 clones a
minute with a bucket of 2: two workers pacing on their own (each told 60) would
be refused about once a second; through the shared gate they are not.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from redis_server import RedisServer, redis_server

from voiceclone.emulator import Emulator
from voiceclone.testing import sample_wav

__all__ = ["redis_server"]  # the fixture, imported for pytest

PAGE = Path(__file__).resolve().parent.parent / "docs" / "many-workers.md"
KEY = "sk-live-S3CRETKEY-recipes"
VOICES = 6  # as the recipes queue
_BLOCK = re.compile(r'```python title="(?P<title>[^"]+)"\n(?P<code>.*?)```', re.DOTALL)


def recipe_files() -> dict[str, str]:
    return {m["title"]: m["code"] for m in _BLOCK.finditer(PAGE.read_text(encoding="utf-8"))}


@pytest.fixture
async def emu() -> AsyncIterator[Emulator]:
    async with Emulator(KEY, rpm=60, burst=2) as emulator:
        yield emulator


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    for name, code in recipe_files().items():
        (tmp_path / name).write_text(code, encoding="utf-8")
    (tmp_path / "samples").mkdir()
    for i in range(VOICES):
        (tmp_path / "samples" / f"{i}.wav").write_bytes(sample_wav(10.5, seed=i))
    return tmp_path


def environment(emu: Emulator, server: RedisServer, workdir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MINIMAX_", "VOICECLONE_"))}
    env.update(
        MINIMAX_API_KEY=KEY,
        MINIMAX_BASE_URL=emu.base_url,
        VOICECLONE_REDIS_URL=server.url,
        PYTHONPATH=os.pathsep.join([str(workdir), *sys.path]),
        PYTHONUNBUFFERED="1",
    )
    return env


async def run_recipe(
    emu: Emulator, server: RedisServer, workdir: Path, worker: list[str], enqueue: str
) -> str:
    env = environment(emu, server, workdir)
    workers = [
        await asyncio.create_subprocess_exec(
            sys.executable, *[a.replace("N", str(n)) for a in worker], cwd=workdir, env=env,
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
        )
        for n in range(2)
    ]  # fmt: skip
    try:
        producer = await asyncio.create_subprocess_exec(
            sys.executable, enqueue, cwd=workdir, env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        out, err = await asyncio.wait_for(producer.communicate(), 180)
        assert producer.returncode == 0, err.decode()[-2000:]
        return out.decode()
    finally:
        for proc in workers:
            if proc.returncode is None:
                proc.send_signal(signal.SIGTERM)
        for proc in workers:
            try:
                await asyncio.wait_for(proc.wait(), 15)
            except asyncio.TimeoutError:
                proc.kill()
                await proc.wait()


def check(emu: Emulator, out: str) -> None:
    expected = [f"Speaker{i:04d} cloned" for i in range(VOICES)]
    assert out.split("\n")[:VOICES] == expected, out
    assert dict(emu.account().clone_successes) == {f"Speaker{i:04d}": 1 for i in range(VOICES)}
    assert emu.stats.rate_limited <= 1, emu.stats  # one pace for both workers


async def test_celery_recipe_two_workers(
    emu: Emulator, redis_server: RedisServer, workdir: Path
) -> None:
    worker = [
        "-m", "celery", "-A", "tasks", "worker", "--pool", "solo", "-n", "wN@%h",
        "--loglevel", "warning", "--without-gossip", "--without-mingle", "--without-heartbeat",
    ]  # fmt: skip
    check(emu, await run_recipe(emu, redis_server, workdir, worker, "enqueue.py"))


async def test_arq_recipe_two_workers(
    emu: Emulator, redis_server: RedisServer, workdir: Path
) -> None:
    worker = ["-m", "arq", "voice_worker.WorkerSettings"]
    check(emu, await run_recipe(emu, redis_server, workdir, worker, "enqueue_arq.py"))

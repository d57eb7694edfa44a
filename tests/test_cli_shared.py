"""``voiceclone batch --redis URL --journal-name NAME``: processes sharing one manifest."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from redis_server import RedisServer, redis_server
from test_cli import run_in_process, start

from voiceclone.emulator import Emulator
from voiceclone.testing import sample_wav

__all__ = ["redis_server"]  # the fixture, imported for pytest

KEY = "sk-cli-S3CRET-shared-1"
VOICES = 10


@pytest.fixture
async def emu() -> AsyncIterator[Emulator]:
    async with Emulator(KEY, rpm=None) as emulator:
        yield emulator


@pytest.fixture
def manifest(tmp_path: Path) -> Path:
    rows = []
    for i in range(VOICES):
        (tmp_path / f"voice{i}.wav").write_bytes(sample_wav(10.5, seed=i))
        rows.append(f"CliShared{i:03d}x,voice{i}.wav")
    path = tmp_path / "voices.csv"
    path.write_text("voice_id,audio\n" + "\n".join(rows) + "\n", encoding="utf-8")
    return path


async def voiceclone(emu: Emulator, *args: str, process: bool = False) -> tuple[int, str, str]:
    """``voiceclone ARGS``: in this process, or with ``process`` a child process of its own."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MINIMAX_", "VOICECLONE_"))}
    env.update(NO_COLOR="1", COLUMNS="200", MINIMAX_API_KEY=KEY, MINIMAX_BASE_URL=emu.base_url)
    if not process:
        run = await asyncio.wait_for(asyncio.to_thread(run_in_process, args, env), 60)
        return run.status, run.out, run.err
    env["PYTHONPATH"] = os.pathsep.join(sys.path)
    proc = await start(args, env)
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_processes_share_a_manifest_and_status_shows_the_batch(
    emu: Emulator, redis_server: RedisServer, manifest: Path
) -> None:
    shared = ["--redis", redis_server.url, "--journal-name", "spring", "--rpm", "60000"]
    # A batch that never ran is not "0 done": the name is probably wrong.
    before = await voiceclone(emu, "batch", str(manifest), *shared, "--status")
    assert before[0] == 2, before
    assert "no batch named 'spring' for this account" in before[2]

    runs = await asyncio.gather(
        voiceclone(emu, "batch", str(manifest), *shared, "--json", process=True),
        voiceclone(emu, "batch", str(manifest), *shared, "--json", process=True),
    )
    produced: list[str] = []
    for status, out, err in runs:
        assert status == 0, (out, err)
        assert f"cloned {VOICES} of {VOICES}" in err
        assert KEY not in out + err
        assert "RedisJournal(" not in err  # the journal is named for people
        assert "journal: the shared batch 'spring' in Redis" in err
        records = [json.loads(line) for line in out.splitlines()]
        assert len(records) == VOICES  # each worker reports every voice of the batch
        produced += [r["voice_id"] for r in records if not r["resumed"]]
    # Concatenated, the records not marked resumed are each voice exactly once.
    assert sorted(produced) == [f"CliShared{i:03d}x" for i in range(VOICES)]
    assert dict(emu.account().clone_successes) == {f"CliShared{i:03d}x": 1 for i in range(VOICES)}
    assert not (manifest.parent / "voices.csv.journal.jsonl").exists()

    after = await voiceclone(emu, "batch", str(manifest), *shared, "--status")
    assert after[0] == 0, after
    assert f"{VOICES} done, 0 in flight, 0 failed, 0 not started" in after[1]
    status, out, err = await voiceclone(emu, "batch", str(manifest), *shared, "--status", "--json")
    assert status == 0, err
    assert json.loads(out) == {
        "batch": "spring", "total": VOICES, "done": VOICES, "in_flight": 0, "failed": 0,
        "not_started": 0, "failures": [],
    }  # fmt: skip


async def test_shared_options_are_checked_before_anything_is_sent(
    emu: Emulator, manifest: Path
) -> None:
    status, _, err = await voiceclone(emu, "batch", str(manifest), "--journal-name", "x")
    assert status == 2
    assert "--journal-name needs a Redis" in err
    status, _, err = await voiceclone(
        emu, "batch", str(manifest), "--journal-name", "x", "--journal", "j.jsonl",
        "--redis", "redis://127.0.0.1:1",
    )  # fmt: skip
    assert status == 2
    assert "replaces --journal" in err
    status, _, err = await voiceclone(emu, "batch", str(manifest), "--status")
    assert status == 2
    assert "--journal-name" in err
    assert emu.stats.requests["voice_clone"] == 0


async def test_an_unreachable_redis_is_a_clear_error(emu: Emulator, manifest: Path) -> None:
    gone = RedisServer()  # never started: nothing listens on its port
    try:
        for extra in ([], ["--status"]):
            status, out, err = await voiceclone(
                emu, "batch", str(manifest), "--redis", gone.url, "--journal-name", "x", *extra
            )
            assert status == 4, (out, err)  # the journal's own exit status
            assert "Redis did not answer" in err
            assert "Traceback" not in err
            # A read-only query changed nothing: there is nothing to resume.
            assert ("resume" in err) == (not extra), err
            assert ("nothing was changed" in err) == bool(extra), err
    finally:
        gone.close()
    assert emu.stats.requests["voice_clone"] == 0


#: SIGTERMs at different moments of a shared batch, and the bound on each ending.
TERMS = 4
TERM_BOUND = 10.0


async def test_a_shared_batch_ends_within_seconds_of_sigterm(
    emu: Emulator, redis_server: RedisServer, manifest: Path
) -> None:
    shared = ["--redis", redis_server.url, "--rpm", "60000", "--max-in-flight", "2"]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MINIMAX_", "VOICECLONE_"))}
    env.update(NO_COLOR="1", MINIMAX_API_KEY=KEY, MINIMAX_BASE_URL=emu.base_url)
    env["PYTHONPATH"] = os.pathsep.join(sys.path)
    emu.latency = 0.05
    for run in range(TERMS):
        proc = await start(["batch", str(manifest), *shared, "--journal-name", f"t{run}"], env)
        account = emu.account()
        before = sum(account.clone_requests.values())
        # At a different point of each run: before any clone, then after 1, 2, 3.
        while sum(account.clone_requests.values()) < before + run:
            assert proc.returncode is None, "the batch ended before it was interrupted"
            await asyncio.sleep(0.005)
        proc.send_signal(signal.SIGTERM)
        await asyncio.wait_for(proc.communicate(), TERM_BOUND)
        # Before its handler is set (run 0 may still be starting) the default ends it.
        assert proc.returncode in ((143, -signal.SIGTERM) if run == 0 else (143,)), run

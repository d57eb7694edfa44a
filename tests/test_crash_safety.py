"""Crash safety of the journal: a batch killed at random moments resumes without loss.

A batch process (tests/crash_worker.py) runs ``clone_jobs`` with a journal against
an emulator in this process, and is killed with SIGKILL at a random moment, again
and again, with faults that leave some clone answers lost. After every kill the
journal must still be readable: each line a whole record, except a line torn by a
kill, which is tolerated and reported. A last run then finishes the batch, and
the emulator's books must show every voice created exactly once.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import random
import signal
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from voiceclone import Client, CloneJob, RetryPolicy
from voiceclone._journal import Journal
from voiceclone.emulator import Emulator, Faults
from voiceclone.testing import TEST_API_KEY, sample_wav

WORKER = Path(__file__).with_name("crash_worker.py")
SEED = int(os.environ.get("CRASH_SEED", "5150"))
KILLS = 20
VOICES = 400
EVENTS = {"sent", "ok", "failed"}


class JournalAudit:
    """Reads the journal after each kill and keeps count of torn lines."""

    def __init__(self, path: Path, voice_ids: list[str]) -> None:
        self.path = path
        self.voice_ids = set(voice_ids)
        self.torn: set[bytes] = set()

    def check(self, where: str) -> dict[str, int]:
        data = self.path.read_bytes() if self.path.exists() else b""
        *whole, tail = data.split(b"\n")
        if tail:  # the last write was cut short
            self.torn.add(tail)
        done: dict[str, int] = {}
        for number, line in enumerate(whole, 1):
            if not line or line in self.torn:
                continue
            try:
                record = json.loads(line)
            except ValueError:
                pytest.fail(f"{where}: journal line {number} is corrupt: {line[:80]!r}")
            assert record["event"] in EVENTS, f"{where}: line {number}: {record}"
            assert record["voice_id"] in self.voice_ids, f"{where}: line {number}: {record}"
            assert TEST_API_KEY not in line.decode(), f"{where}: the key is in the journal"
            if record["event"] == "ok":
                done[record["voice_id"]] = done.get(record["voice_id"], 0) + 1
        twice = {v: n for v, n in done.items() if n > 1}
        assert not twice, f"{where}: recorded done more than once: {twice}"
        assert Journal(self.path).load().torn_lines == len(self.torn), where
        return done


async def _line(stream: asyncio.StreamReader) -> dict[str, Any]:
    raw = await asyncio.wait_for(stream.readline(), 30)
    assert raw, "the crash worker died"
    return dict(json.loads(raw))


async def test_killed_batches_resume_without_loss(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    rng = random.Random(SEED)
    where = f"CRASH_SEED={SEED}"
    audio = tmp_path / "sample.wav"
    audio.write_bytes(sample_wav(10.5))
    journal = tmp_path / "journal.jsonl"
    voice_ids = [f"Crash{i:04d}v" for i in range(VOICES)]
    audit = JournalAudit(journal, voice_ids)
    # Lost answers (drop_after, slow) make clones whose outcome only a retry can learn.
    faults = Faults(drop_after=0.08, slow=0.04, slow_seconds=1.0, http_5xx=0.04, seed=SEED)
    started = time.perf_counter()
    killed = finished = 0
    progress: list[int] = []  # voices done after each killed run
    async with Emulator(TEST_API_KEY, rpm=None, faults=faults) as emu:
        spec = {
            "base_url": emu.base_url,
            "api_key": TEST_API_KEY,
            "journal": str(journal),
            "audio": str(audio),
            "voice_ids": voice_ids,
        }
        worker = await asyncio.create_subprocess_exec(
            sys.executable,
            str(WORKER),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        assert worker.stdin is not None
        assert worker.stdout is not None
        try:
            for run in range(KILLS):
                worker.stdin.write(json.dumps(spec).encode() + b"\n")
                await worker.stdin.drain()
                child = (await _line(worker.stdout))["pid"]
                # The random moment of the crash; the emulator serves the child meanwhile.
                await asyncio.sleep(rng.uniform(0.02, 0.2))
                os.kill(child, signal.SIGKILL)  # unreaped until "reap": never a stranger
                worker.stdin.write(b'{"reap": true}\n')
                status = (await _line(worker.stdout))["exit"]
                if os.WIFSIGNALED(status):
                    killed += 1
                else:
                    finished += 1
                progress.append(len(audit.check(f"{where}, after run {run}")))
                if run == KILLS // 2:
                    # What a crash mid-write (power loss) leaves: half a record, no newline.
                    with journal.open("ab") as file:
                        file.write(b'{"event":"ok","voice_id":"Crash00')
                    audit.check(f"{where}, torn by hand after run {run}")
        finally:
            worker.stdin.close()
            await asyncio.wait_for(worker.wait(), 10)
        done_before = audit.check(where)

        caplog.set_level(logging.WARNING, logger="voiceclone")
        caplog.clear()
        retry = RetryPolicy(
            attempts=20, timeout=20.0, wait_initial=0.002, wait_max=0.01, budget=None
        )
        async with Client(
            TEST_API_KEY, emu.base_url, requests_per_minute=None, retry=retry, timeout=0.3
        ) as client:
            jobs = [CloneJob(v, audio) for v in voice_ids]
            outcomes = [o async for o in client.clone_jobs(jobs, journal=journal)]
        # The torn lines were reported when the last run read the journal.
        reports = [r for r in caplog.records if "unreadable" in r.getMessage()]

        account = emu.account(TEST_API_KEY)
        failed = [(o.request.voice_id, o.error) for o in outcomes if not o.ok]
        assert not failed, f"{where}: {failed[:3]}"
        assert sorted(o.index for o in outcomes) == list(range(VOICES)), where
        assert set(account.voices) == set(voice_ids), f"{where}: voices lost or extra"
        doubled = {v: n for v, n in account.clone_successes.items() if n != 1}
        assert not doubled, f"{where}: cloned more than once: {doubled}"
        resumed = sum(o.resumed for o in outcomes)
        assert resumed == len(done_before), where
        recovered = sum(o.result is not None and o.result.recovered for o in outcomes)
        done_after = audit.check(f"{where}, after the last run")
        assert set(done_after) == set(voice_ids), where
        assert len(reports) == len(audit.torn) >= 1, where
        assert killed >= KILLS // 2, f"{where}: most runs should die mid-batch"
    print(
        f"\ncrash safety {where}: {KILLS} runs, {killed} killed by SIGKILL, {finished} "
        f"finished first; voices done after each run {progress}; the last run resumed "
        f"{resumed} and finished {VOICES - resumed}; {recovered} outcomes recovered (created "
        f"by an attempt whose answer was lost or whose run was killed); "
        f"torn lines {len(audit.torn)}; "
        f"0 lost, 0 doubled; {time.perf_counter() - started:.1f} s"
    )

"""The emulator seen from outside: ``GET /__emulator/state``, ``voiceclone emulator --state``
and the one-line summary when it stops."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import re
import signal
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
from test_cli import cli_env, start

from voiceclone import Client, CloneJob, RetryPolicy
from voiceclone._samples import make_wav
from voiceclone.emulator import Emulator, Fault, Faults

KEY = "sk-state-5e4d3c2b1a"
OTHER_KEY = "sk-state-other-9f8e"
FAST = RetryPolicy(attempts=4, timeout=10.0, wait_initial=0.001, wait_max=0.002, wait_jitter=0.0)


async def get_state(origin: str) -> dict[str, Any]:
    async with (
        aiohttp.ClientSession() as session,
        session.get(origin + "/__emulator/state") as answer,
    ):
        assert answer.status == 200
        text = await answer.text()
    assert KEY not in text
    assert OTHER_KEY not in text
    state = json.loads(text)
    assert isinstance(state, dict)
    return state


def jobs(folder: Path, count: int) -> list[CloneJob]:
    found = []
    for i in range(count):
        path = folder / f"voice{i}.wav"
        path.write_bytes(make_wav(10.5, seed=i))
        found.append(CloneJob(f"Counted{i:05d}", path))
    return found


async def test_state_counts_every_voice_once_and_every_answer(tmp_path: Path) -> None:
    faults = Faults(http_5xx=0.0, seed=1)
    async with Emulator([KEY, OTHER_KEY], rpm=None, faults=faults, latency=0.001) as emu:
        # A lost answer after the voice was created: the retry meets 2039 and recovers.
        emu.inject(Fault.drop_after(), voice_id="Counted00001")
        emu.inject(Fault.http(503), endpoint="files/upload")
        async with Client(KEY, emu.base_url, requests_per_minute=None, retry=FAST) as client:
            outcomes = [o async for o in client.clone_jobs(jobs(tmp_path, 3))]
        assert all(o.ok for o in outcomes)
        state = await get_state(emu.origin)
        assert {**state, "uptime_seconds": 0} == {**emu.state(), "uptime_seconds": 0}
        again = await get_state(emu.origin)
    assert again["requests"] == state["requests"]  # reading the state is not a request
    mine, other = state["accounts"]
    assert mine["key_sha256"] == hashlib.sha256(KEY.encode()).hexdigest()[:12]
    assert other["voices"] == {}
    assert other["files"] == []
    voices = mine["voices"]
    assert {name: v["created"] for name, v in voices.items()} == {
        "Counted00000": 1,
        "Counted00001": 1,
        "Counted00002": 1,
    }
    assert voices["Counted00001"]["clone_requests"] == 2
    assert all(v["exists"] and not v["activated"] for v in voices.values())
    assert len(mine["files"]) == 3
    assert {f["purpose"] for f in mine["files"]} == {"voice_clone"}
    assert state["requests"]["voice_clone"] == 4
    assert state["requests"]["files/upload"] == 4
    assert state["answers"]["status_codes"]["2039"] == 1
    assert state["answers"]["http_statuses"]["503"] == 1
    assert state["faults"] == {"drop_after": 1, "http": 1}
    assert state["dropped_connections"] == 1
    assert state["settings"]["rpm"] is None
    assert state["settings"]["latency"] == 0.001
    assert state["settings"]["faults"]["seed"] == 1
    line = emu.summary()
    assert "\n" not in line
    assert "8 requests" in line
    assert "3 voices created, each once" in line
    assert "faults drop_after 1, http 1" in line


async def test_summary_names_a_voice_created_twice() -> None:
    async with Emulator(KEY, rpm=None) as emu:
        account = emu.account()
        # As after a client that forgot a clone and made it again once deleted.
        account.clone_successes["TwiceMade01"] = 2
        account.clone_requests["TwiceMade01"] = 2
        assert "0 rate-limit answers" in emu.summary()
        assert "1 voices created, 1 more than once: TwiceMade01" in emu.summary()
        state = await get_state(emu.origin)
    assert state["accounts"][0]["voices"]["TwiceMade01"]["exists"] is False


async def _command(*args: str) -> asyncio.subprocess.Process:
    return await start(["emulator", *args], cli_env(None))


class _Running:
    """``voiceclone emulator`` in a child process, listening at ``base_url``."""

    def __init__(self, process: asyncio.subprocess.Process, base_url: str) -> None:
        self.process = process
        self.base_url = base_url

    async def stop(self) -> str:
        """SIGTERM, as a service manager stops it; what it wrote on stderr."""
        self.process.send_signal(signal.SIGTERM)
        _, err = await asyncio.wait_for(self.process.communicate(), 10)
        assert self.process.returncode == 0, err
        return err.decode()


@contextlib.asynccontextmanager
async def _serving(*args: str) -> AsyncIterator[_Running]:
    server = await _command("--port", "0", "--api-key", KEY, *args)
    try:
        assert server.stdout is not None
        line = (await asyncio.wait_for(server.stdout.readline(), 10)).decode()
        yield _Running(server, line.split()[-1])
    finally:
        if server.returncode is None:
            server.kill()
            await server.wait()


async def test_the_command_prints_a_running_emulators_state_and_a_summary_at_stop(
    tmp_path: Path,
) -> None:
    async with _serving("--rpm", "30") as server:
        base_url = server.base_url
        async with Client(KEY, base_url, requests_per_minute=None, retry=FAST) as client:
            outcomes = [o async for o in client.clone_jobs(jobs(tmp_path, 2))]
        assert all(o.ok for o in outcomes)
        reader = await _command("--state", base_url)
        out, err = await asyncio.wait_for(reader.communicate(), 10)
        assert reader.returncode == 0, err
        state = json.loads(out)
        voices = state["accounts"][0]["voices"]
        assert {name: v["created"] for name, v in voices.items()} == {
            "Counted00000": 1,
            "Counted00001": 1,
        }
        assert state["settings"]["burst"] == 7  # 30 // 4
        port = re.search(r":(\d+)/v1", base_url)
        assert port is not None
        # The same from --port alone, as for the emulator started just before.
        reader = await _command("--port", port.group(1), "--state")
        out, _ = await asyncio.wait_for(reader.communicate(), 10)
        assert json.loads(out)["accounts"] == state["accounts"]
        stderr = await server.stop()
    summary = stderr.strip().splitlines()[-1]
    assert summary.startswith("emulator stopped after ")
    assert "2 voices created, each once; 2 files" in summary
    assert KEY not in stderr


async def test_verbose_says_the_summary_once() -> None:
    async with _serving("-v") as server:
        stderr = await server.stop()
    assert stderr.count("emulator stopped after ") == 1, stderr


async def test_state_of_nothing_is_a_clear_error() -> None:
    reader = await _command("--state", "http://127.0.0.1:9/v1")
    out, err = await asyncio.wait_for(reader.communicate(), 10)
    assert reader.returncode == 1
    assert out == b""
    assert err.decode().startswith("error: no emulator answers at http://127.0.0.1:9/__emulator/")


async def test_help_shows_the_burst_default_and_what_minimax_allows() -> None:
    reader = await _command("--help")
    out, _ = await asyncio.wait_for(reader.communicate(), 10)
    text = " ".join(out.decode().split())
    assert "--burst N" in text
    assert "default: rpm // 4" in text
    assert "MiniMax is believed to allow about 14 to 30 rapid calls" in text
    assert "--state [URL]" in text

"""Shared by the benchmarks: an emulator in a separate process, and the requests to send.

The emulator runs in its own interpreter so that its CPU time is not charged to
the client being measured (on two cores each gets one).
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import sys
from collections.abc import Iterator

import aiohttp

API_KEY = "bench-key"


@contextlib.contextmanager
def emulator_process(*args: str) -> Iterator[str]:
    """Start ``python -m voiceclone.emulator --port 0 ARGS``; yield its base URL; kill it."""
    command = [sys.executable, "-m", "voiceclone.emulator", "--port", "0", "--api-key", API_KEY]
    process = subprocess.Popen(
        [*command, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        match = re.search(r"(http://\S+/v1)", line)
        if match is None:
            raise RuntimeError(f"the emulator did not start: {line!r}")
        yield match.group(1)
    finally:
        process.kill()
        process.wait()


async def upload_sample(base_url: str) -> int:
    """Upload one valid sample and return its file id (every clone can reuse it)."""
    from voiceclone.testing import sample_wav

    data = aiohttp.FormData()
    data.add_field("purpose", "voice_clone")
    data.add_field("file", sample_wav(), filename="sample.wav", content_type="audio/wav")
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            base_url + "/files/upload", data=data, headers={"Authorization": f"Bearer {API_KEY}"}
        ) as resp,
    ):
        body = await resp.json()
    return int(body["file"]["file_id"])


def voice_id(run: str, i: int) -> str:
    """A valid, unique voice id for item ``i`` of run ``run``."""
    return f"Bench{run}{i:07d}x"


def print_row(label: str, *values: str) -> None:
    print(f"{label:<34}" + "".join(f"{v:>14}" for v in values), flush=True)

"""Shared by the benchmarks: a server in a separate process, and the requests to send.

The server (the emulator, or the fixed-answer server of ``_fixed_server.py``) runs in
its own interpreter so that its CPU time is not charged to the client being measured
(on two cores each gets one).
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import aiohttp

API_KEY = "bench-key"


@contextlib.contextmanager
def emulator_process(*args: str) -> Iterator[str]:
    """Start ``python -m voiceclone.emulator --port 0 ARGS``; yield its base URL; kill it."""
    command = ["-m", "voiceclone.emulator", "--port", "0", "--api-key", API_KEY]
    with server_process(*command, *args) as base_url:
        yield base_url


@contextlib.contextmanager
def fixed_server_process() -> Iterator[str]:
    """Start ``bench/_fixed_server.py`` (one canned clone success); yield its base URL."""
    with server_process(str(Path(__file__).resolve().parent / "_fixed_server.py")) as base_url:
        yield base_url


@contextlib.contextmanager
def server_process(*args: str) -> Iterator[str]:
    """Run ``python ARGS``, wait for the base URL on its first line, yield it, kill it."""
    process = subprocess.Popen(
        [sys.executable, *args],
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
            raise RuntimeError(f"{args[0]} did not start: {line!r}")
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

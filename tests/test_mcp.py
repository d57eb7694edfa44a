"""MiniMax's official MCP server (PyPI ``minimax-mcp``), unchanged, speaks through the emulator.

Its ``text_to_audio`` tool is called the way an MCP host calls it: the server runs
as a child process over stdio, pointed at the emulator by its own environment
variables, and a real MCP client session sends the tool call.
"""

from __future__ import annotations

import io
import os
import shutil
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import soundfile  # type: ignore[import-untyped]
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

from voiceclone.emulator import Emulator

KEY = "sk-mcp-test-5f1e"


@pytest.fixture
async def emu() -> AsyncIterator[Emulator]:
    async with Emulator(KEY, rpm=None) as emulator:
        yield emulator


def server_command() -> str:
    """The ``minimax-mcp`` script installed beside this interpreter."""
    found = shutil.which("minimax-mcp", path=str(Path(sys.executable).parent))
    assert found is not None, "minimax-mcp is a test dependency (pip install -e '.[test]')"
    return found


def saved_audio(folder: Path) -> tuple[int, int]:
    """The sample rate and channels of the one file the server saved in ``folder``."""
    (saved,) = folder.glob("t2a_*.mp3")
    with soundfile.SoundFile(io.BytesIO(saved.read_bytes())) as sound:
        return sound.samplerate, sound.channels


async def test_the_official_mcp_servers_text_to_audio_works_against_the_emulator(
    emu: Emulator, tmp_path: Path
) -> None:
    params = StdioServerParameters(
        command=server_command(),
        env={
            "PATH": os.environ.get("PATH", ""),
            "HOME": str(tmp_path),
            "MINIMAX_API_KEY": KEY,
            "MINIMAX_API_HOST": emu.origin,
            "MINIMAX_MCP_BASE_PATH": str(tmp_path),
            "MINIMAX_API_RESOURCE_MODE": "local",
        },
    )
    async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        result = await session.call_tool(
            "text_to_audio",
            {"text": "Hello from the MCP server.", "voice_id": "English_Graceful_Lady"},
        )
    (content,) = result.content
    text = getattr(content, "text", "")
    assert text.startswith("Success. File saved as:"), text
    assert saved_audio(tmp_path) == (32000, 1)  # the server's defaults
    (request,) = [r for r in emu.requests if r.endpoint == "t2a_v2"]
    assert request.json["voice_setting"]["voice_id"] == "English_Graceful_Lady"
    assert request.json["text"] == "Hello from the MCP server."

"""Sample audio is importable and usable without any test dependency."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable

import pytest

from voiceclone._validate import check_audio
from voiceclone.samples import sample_m4a, sample_mp3, sample_wav

#: What a plain ``pip install voiceclone`` lacks: every test-only dependency.
TEST_ONLY = ("pytest", "_pytest", "pytest_asyncio", "hypothesis", "jsonschema", "yaml")

# Refuses the test-only packages at import, as if they were not installed, then uses
# the samples as the docs' "without pytest" example does: with the emulator.
PROGRAM = f"""
import importlib.abc, json, sys

class NotInstalled(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in {TEST_ONLY!r}:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
        return None

sys.meta_path.insert(0, NotInstalled())
report = {{}}
try:
    import pytest
except ImportError:
    report["pytest"] = "missing"

import asyncio
import voiceclone
from voiceclone.emulator import Emulator
from voiceclone.samples import sample_m4a, sample_mp3, sample_wav

async def clone() -> str:
    async with Emulator("k", rpm=None) as emulator:
        async with voiceclone.Client(api_key="k", base_url=emulator.base_url) as client:
            up = await client.upload_file(sample_wav(), filename="narrator.wav")
            return (await client.clone(file_id=up.file_id, voice_id="Narrator001")).voice_id

report["voice"] = asyncio.run(clone())
report["heads"] = [sample_wav(10.0)[:4].hex(), sample_mp3(10.0)[:2].hex(), sample_m4a()[4:8].hex()]
try:
    import voiceclone.testing
except ImportError as exc:
    report["testing"] = str(exc)
report["loaded"] = sorted(m for m in sys.modules if m.partition(".")[0] in {TEST_ONLY!r})
print(json.dumps(report))
"""


def test_samples_import_and_work_without_test_dependencies() -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    run = subprocess.run(
        [sys.executable, "-c", PROGRAM], capture_output=True, text=True, env=env, timeout=60
    )
    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout)
    assert report["pytest"] == "missing"  # the block works: pytest really is absent
    assert report["voice"] == "Narrator001"
    assert report["heads"] == [b"RIFF".hex(), "fffb", b"ftyp".hex()]
    assert "voiceclone.samples" in report["testing"]  # the plugin says where to look
    assert report["loaded"] == []


@pytest.mark.parametrize(
    ("make", "fmt", "seconds"),
    [
        (sample_wav, "wav", 10.0),
        (sample_wav, "wav", 12.0),
        (sample_mp3, "mp3", 10.0),
        (sample_mp3, "mp3", 300.0),
        (sample_m4a, "m4a", 10.0),
        (sample_m4a, "m4a", 300.0),
    ],
)
def test_samples_pass_the_voice_clone_checks(
    make: Callable[[float], bytes], fmt: str, seconds: float
) -> None:
    info = check_audio(make(seconds), "voice_clone")
    assert info.format == fmt
    assert info.duration == pytest.approx(seconds, abs=0.03)


def test_samples_are_deterministic_and_distinct() -> None:
    assert sample_wav(11.0, seed=3) == sample_wav(11.0, seed=3)
    assert sample_wav(11.0, seed=3) != sample_wav(11.0, seed=4)
    assert sample_wav(11.0, pitch_hz=120.0) != sample_wav(11.0, pitch_hz=180.0)
    assert check_audio(sample_wav(5.0), "prompt_audio").duration == pytest.approx(5.0)

"""``voiceclone speak``, ``voiceclone activate`` and ``voiceclone voices --expiring``."""

from __future__ import annotations

import datetime as dt
import io
import json
from pathlib import Path

import soundfile  # type: ignore[import-untyped]
from conftest import new_client
from test_cli import KEY, cli, cli_env, emu, finish, journal_lines, start

from voiceclone import CloneResult
from voiceclone._journal import Journal
from voiceclone._samples import make_wav
from voiceclone.emulator import Emulator

__all__ = ["emu"]  # the fixture, shared with test_cli

SYSTEM_VOICE = "English_Graceful_Lady"


async def test_speak_writes_the_format_its_file_names(emu: Emulator, tmp_path: Path) -> None:
    out = tmp_path / "hello.flac"
    run = await cli("speak", SYSTEM_VOICE, "Hello from the command line.", "-o", str(out),
                    "--sample-rate", "22050", "--speed", "1.5", emu=emu)  # fmt: skip
    assert run.status == 0, run.err
    with soundfile.SoundFile(io.BytesIO(out.read_bytes())) as sound:
        assert sound.samplerate == 22050
    sent = emu.requests[-1].json
    assert sent["audio_setting"] == {"format": "flac", "sample_rate": 22050}
    assert sent["voice_setting"] == {"voice_id": SYSTEM_VOICE, "speed": 1.5}
    assert "ms of speech" in run.err
    assert str(out) in run.err


async def test_speak_streams_to_stdout(emu: Emulator) -> None:
    text = "Streamed to standard output. " * 10
    proc = await start(["speak", SYSTEM_VOICE, text, "-o", "-", "--stream"], cli_env(emu))
    out, err = await proc.communicate()
    assert proc.returncode == 0, err
    async with new_client(emu.base_url, api_key=KEY) as client:
        whole = await client.synthesize(voice_id=SYSTEM_VOICE, text=text)
    assert out == whole.audio
    assert emu.requests[0].json["stream"] is True


async def test_speak_refuses_bad_settings_and_names_a_missing_voice(
    emu: Emulator, tmp_path: Path
) -> None:
    out = tmp_path / "x.mp3"
    run = await cli("speak", SYSTEM_VOICE, "Hi.", "-o", str(out), "--speed", "9", emu=emu)
    assert run.status == 2
    assert "speed" in run.err
    assert emu.requests == []
    run = await cli("speak", "NoSuchVoice1", "Hi.", "-o", str(out), emu=emu)
    assert run.status == 1
    assert "no speech" in run.err
    assert not out.exists()  # nothing written for a failure


async def clone_into_journal(
    emu: Emulator, journal_path: Path, voices: dict[str, dt.datetime]
) -> None:
    """Clone ``voices`` on the emulator and record them in a batch journal, each with
    the given creation time."""
    async with new_client(emu.base_url, api_key=KEY) as client:
        up = await client.upload_file(make_wav(12.0))
        results = [await client.clone(file_id=up.file_id, voice_id=v) for v in voices]
    journal = Journal(journal_path)
    journal.open()
    try:
        for result in results:
            journal.ok(CloneResult(result.voice_id, created_at=voices[result.voice_id]))
    finally:
        journal.close()


async def test_activate_keeps_a_journals_voices_once_each(emu: Emulator, tmp_path: Path) -> None:
    path = tmp_path / "spring.journal.jsonl"
    now = dt.datetime.now(dt.timezone.utc)
    await clone_into_journal(
        emu, path, {"SoonGone01": now - dt.timedelta(days=6, hours=12), "Fresh00001": now}
    )
    run = await cli("voices", "--journal", str(path), "--expiring", "--json", emu=emu)
    assert [v["voice_id"] for v in json.loads(run.out)] == ["SoonGone01", "Fresh00001"]

    run = await cli("activate", "--journal", str(path), "--within", "48h", emu=emu)
    assert run.status == 0, run.err
    assert run.out.split() == ["activated", "SoonGone01"]  # only the one expiring soon
    assert emu.account(KEY).voices["SoonGone01"].activated
    assert not emu.account(KEY).voices["Fresh00001"].activated

    run = await cli("activate", "--journal", str(path), "--json", emu=emu)
    assert run.status == 0, run.err
    assert [json.loads(line) for line in run.out.splitlines()] == [
        {"voice_id": "Fresh00001", "activated": True}
    ]
    recorded = [r["voice_id"] for r in journal_lines(path) if r["event"] == "activated"]
    assert recorded == ["SoonGone01", "Fresh00001"]
    speech_requests = [r for r in emu.requests if r.endpoint == "t2a_v2"]
    assert len(speech_requests) == 2

    run = await cli("activate", "--journal", str(path), emu=emu)  # a re-run: nothing left
    assert run.status == 0
    assert "nothing to activate" in run.err
    assert len([r for r in emu.requests if r.endpoint == "t2a_v2"]) == 2
    run = await cli("voices", "--journal", str(path), "--expiring", "--json", emu=emu)
    assert json.loads(run.out) == []


async def test_activate_says_which_voices_are_already_gone(emu: Emulator, tmp_path: Path) -> None:
    path = tmp_path / "late.journal.jsonl"
    await clone_into_journal(emu, path, {"TooLate001": dt.datetime.now(dt.timezone.utc)})
    emu.advance(8 * 24 * 3600)  # MiniMax deleted it: no speech used it within 7 days
    run = await cli("activate", "--journal", str(path), emu=emu)
    assert run.status == 1
    assert "TooLate001" in run.err
    assert "gone" in run.err
    assert not [r for r in journal_lines(path) if r["event"] == "activated"]


async def test_activate_needs_a_journal_that_exists(emu: Emulator, tmp_path: Path) -> None:
    run = await cli("activate", "--journal", str(tmp_path / "none.jsonl"), emu=emu)
    assert run.status == 2
    assert "no such file" in run.err
    run = await cli("activate", "--journal", "x", "--within", "soon", emu=emu)
    assert run.status == 2
    assert "48h" in run.err


async def test_speak_never_prints_the_key(emu: Emulator, tmp_path: Path) -> None:
    proc = await start(
        ["speak", SYSTEM_VOICE, "Quiet.", "-o", str(tmp_path / "q.mp3"), "-v"], cli_env(emu)
    )
    run = await finish(proc)  # finish() asserts the key is in neither stream
    assert run.status == 0

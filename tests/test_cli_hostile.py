"""The command against a hostile server: its strings are shown as text, never as markup or
terminal escapes, and local file failures are reported after the result they follow."""

from __future__ import annotations

import asyncio
import json
import re
import resource
import signal
from pathlib import Path

import pytest
from conftest import ok, respond
from test_cli import (
    FAST_RPM,
    KEY,
    Emulator,
    Factory,
    cli,
    cli_env,
    csv_manifest,
    finish,
    start,
    voices_dir,
)

from voiceclone.emulator import Fault

#: Rich markup that crashes a markup parser ("closing tag with nothing to close").
CLOSING_TAG = "[/]"
#: A fake link in rich markup and in the terminal's own OSC 8 syntax.
MARKUP_LINK = "[link=https://evil.example/markup]click[/link]"
OSC8_LINK = "\x1b]8;;https://evil.example/osc\x1b\\click\x1b]8;;\x1b\\"
#: Clears the screen, retitles the window, then a C1 control, DEL and a line separator.
ESCAPES = "\x1b[2J\x1b]0;pwned\x07\x9b31m\x7f\u2028forged"
#: The terminal escapes above, as they would reach a terminal.
RAW = ("\x1b", "\x9b", "\x07", "\u2028")


@pytest.fixture
async def emu(minimax_emulator_factory: Factory) -> Emulator:
    return await minimax_emulator_factory(api_key=KEY, rpm=None)


def clone_answer(demo_audio: str, trace_id: str) -> Fault:
    """A successful clone answer carrying hostile strings in its body and headers."""
    body = ok(input_sensitive=False, input_sensitive_type=0, demo_audio=demo_audio)
    return respond(body, headers={"Trace-Id": trace_id})


def assert_inert(text: str) -> None:
    """No control character from the server reaches the output, and no link is planted."""
    for char in RAW:
        assert char not in text, repr(char)
    assert "\x1b]8;;https://evil.example" not in text


async def test_clone_shows_markup_and_escapes_from_the_server_as_text(
    emu: Emulator, tmp_path: Path
) -> None:
    (sample,) = voices_dir(tmp_path, 1)
    preview = f"{emu.origin}/previews/{MARKUP_LINK} a b.wav"
    emu.inject(clone_answer(preview, CLOSING_TAG))
    run = await cli("clone", str(sample), "--voice-id", "Narrator001", "--text", "Hi.", emu=emu)
    assert run.status == 0, run.err
    # The voice was created (and billed): its result is printed, markup and all, as text.
    assert re.search(r"trace id +\[/\]", run.out), run.out
    assert MARKUP_LINK in run.out
    assert_inert(run.out + run.err)


async def test_clone_neutralises_terminal_escapes_but_json_keeps_them_exact(
    emu: Emulator, tmp_path: Path
) -> None:
    (sample,) = voices_dir(tmp_path, 1)
    message = f"refused {ESCAPES} {OSC8_LINK} {CLOSING_TAG}"
    answer = {"base_resp": {"status_code": 1026, "status_msg": message}}
    emu.inject(respond(answer, headers={"Trace-Id": "[bold]trace"}))
    run = await cli("clone", str(sample), "--voice-id", "Narrator001", emu=emu)
    assert run.status == 1
    assert "SensitiveContentError 1026: refused \\x1b[2J\\x1b]0;pwned\\x07" in run.err
    assert "\\u2028forged" in run.out + run.err
    assert_inert(run.out + run.err)
    emu.inject(respond(answer))
    run = await cli("clone", str(sample), "--voice-id", "Narrator002", "--json", emu=emu)
    assert run.status == 1
    assert message in run.json["error"]["message"]  # exact: json.dumps escapes it
    assert "\x1b" not in run.out  # ... as \u001b, so the JSON text itself is inert


async def test_clone_on_a_forced_colour_terminal_plants_no_link(
    emu: Emulator, tmp_path: Path
) -> None:
    (sample,) = voices_dir(tmp_path, 1)
    emu.inject(clone_answer(f"https://evil.example/a.wav {OSC8_LINK}", MARKUP_LINK))
    env = cli_env(emu, FORCE_COLOR="1")
    del env["NO_COLOR"]
    run = await cli("clone", str(sample), "--voice-id", "Narrator001", "--text", "Hi.", env=env)
    assert run.status == 0, run.err
    assert "\x1b[" in run.out  # colours are on: rich writes escapes, but only its own
    assert "\x1b]8;" not in run.out  # no link at all: the URL was not a plain one
    assert "\x1b]0;" not in run.out


async def test_voices_lists_hostile_ids_and_dates_as_text(emu: Emulator) -> None:
    listed = [
        {"voice_id": CLOSING_TAG, "created_time": f"2026-01-01{ESCAPES}"},
        {"voice_id": MARKUP_LINK, "created_time": OSC8_LINK},
    ]
    answer = ok(voice_cloning=listed, system_voice=None, voice_generation=None)
    emu.inject(respond(answer, headers={"Trace-Id": CLOSING_TAG}), endpoint="get_voice")
    run = await cli("voices", emu=emu)
    assert run.status == 0, run.err
    assert CLOSING_TAG in run.out
    assert MARKUP_LINK in run.out
    assert "2026-01-01\\x1b[2J" in run.out
    assert_inert(run.out + run.err)
    emu.inject(respond(answer), endpoint="get_voice")
    run = await cli("voices", "--json", emu=emu)
    assert [v["voice_id"] for v in run.json] == [CLOSING_TAG, MARKUP_LINK]
    assert run.json[1]["created"] == OSC8_LINK


async def test_batch_table_shows_a_preview_name_with_spaces_as_text(
    emu: Emulator, tmp_path: Path
) -> None:
    voices_dir(tmp_path, 2)
    manifest = csv_manifest(
        tmp_path,
        ["GoodVoice01,voice0.wav,Hi.,speech-2.8-hd", "GoodVoice02,voice1.wav,Hi.,speech-2.8-hd"],
    )
    # Read as a style, "link URL on red" would paint the cell red.
    emu.inject(clone_answer(f"{emu.origin}/p/x on red", CLOSING_TAG), voice_id="GoodVoice01")
    emu.inject(clone_answer(f"{emu.origin}/p/{ESCAPES}", MARKUP_LINK), voice_id="GoodVoice02")
    env = cli_env(emu, FORCE_COLOR="1")
    del env["NO_COLOR"]
    run = await cli("batch", str(manifest), "--rpm", FAST_RPM, env=env)
    assert run.status == 0, run.err
    assert "x on red" in run.out
    assert "\\x1b[2J" in run.out  # the second name: its escapes shown, not run
    assert "\x1b[" in run.out  # colours are on ...
    assert "\x1b[41m" not in run.out  # ... and no cell was painted red
    assert "\x1b]8;;" not in run.out  # neither URL was a plain one: no links
    assert "\x1b[2J" not in run.out
    assert "\x1b]0;" not in run.out
    assert "cloned 2 of 2" in run.out


async def test_manifest_problems_quote_cells_and_field_names_as_text(
    emu: Emulator, tmp_path: Path
) -> None:
    voices_dir(tmp_path, 1)
    manifest = tmp_path / "voices.jsonl"
    row = {"voice_id": "GoodVoice01", "audio": "voice0.wav", f"x{ESCAPES}[/]": 1}
    manifest.write_text(json.dumps(row) + "\n", encoding="utf-8")
    run = await cli("batch", str(manifest), "--dry-run", emu=emu)
    assert run.status == 2
    assert "line 1  x\\x1b[2J" in run.err
    assert_inert(run.err)


# -- local files -----------------------------------------------------------------------


async def test_a_failed_preview_download_is_reported_after_the_result(
    emu: Emulator, tmp_path: Path
) -> None:
    (sample,) = voices_dir(tmp_path, 1)
    target = tmp_path / "missing-dir" / "preview.wav"
    args = ["clone", str(sample), "--voice-id", "Narrator001", "--text", "Hi."]
    run = await cli(*args, "--download-demo", str(target), emu=emu)
    assert run.status == 1
    # The voice exists: its result is on stdout, then the download failure on stderr.
    assert "Narrator001" in run.out
    assert "trace id" in run.out
    assert "the voice was cloned, but its preview was not saved" in run.err
    assert emu.account(KEY).clone_successes == {"Narrator001": 1}
    assert not target.parent.exists()


async def test_a_failed_preview_download_keeps_the_json_result(
    emu: Emulator, tmp_path: Path
) -> None:
    (sample,) = voices_dir(tmp_path, 1)
    target = tmp_path / "a-directory"
    target.mkdir()
    args = ["clone", str(sample), "--voice-id", "Narrator001", "--text", "Hi.", "--json"]
    run = await cli(*args, "--download-demo", str(target), emu=emu)
    assert run.status == 1
    assert run.json["status"] == "cloned"
    assert "demo_path" not in run.json
    assert "preview was not saved" in run.err


def _capped_env(emu: Emulator) -> dict[str, str]:
    # Coverage cannot save its data from a child whose writes are capped (its own
    # traceback at exit would fail the test): such a child is not measured.
    env = cli_env(emu, PYTHONDONTWRITEBYTECODE="1")
    return {k: v for k, v in env.items() if not k.startswith("COVERAGE_")}


def _voices_manifest(folder: Path, count: int) -> Path:
    """A manifest of ``count`` good voices, Full0000000 up, their samples beside it."""
    voices_dir(folder, count)
    return csv_manifest(folder, [f"Full{i:07d},voice{i}.wav,," for i in range(count)])


def _limit_file_size(limit: int) -> None:
    # In the child, before it runs: writes past `limit` bytes fail with EFBIG
    # (a full disk, as a program sees it) instead of killing it with SIGXFSZ.
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))


async def test_a_full_disk_under_the_journal_exits_4_with_a_resume_hint(
    emu: Emulator, tmp_path: Path
) -> None:
    count = 6
    manifest = _voices_manifest(tmp_path, count)
    env = _capped_env(emu)
    args = ["batch", str(manifest), "--rpm", FAST_RPM, "--max-in-flight", "1"]
    proc = await start(args, env, preexec_fn=lambda: _limit_file_size(1024))
    run = await finish(proc)
    assert run.status == 4, run.err
    assert re.search(r"journal not writable: \d+ finished; re-run to resume", run.err), run.err
    assert "Traceback" not in run.err
    journal = Path(f"{manifest}.journal.jsonl")
    assert 0 < journal.stat().st_size <= 1024  # noqa: ASYNC240
    # With room again, the same command resumes: no voice is cloned twice.
    run = await cli(*args, emu=emu)
    assert run.status == 0, run.err
    assert f"cloned {count} of {count}" in run.out
    assert dict(emu.account(KEY).clone_successes) == {f"Full{i:07d}": 1 for i in range(count)}
    assert set(emu.account(KEY).voices) == {f"Full{i:07d}" for i in range(count)}


async def test_a_full_disk_under_the_results_file_exits_4(emu: Emulator, tmp_path: Path) -> None:
    count = 6
    manifest = _voices_manifest(tmp_path, count)
    out = tmp_path / "results.jsonl"
    args = ["batch", str(manifest), "--rpm", FAST_RPM, "--max-in-flight", "1", "--no-journal"]
    proc = await start(
        [*args, "--out", str(out)], _capped_env(emu), preexec_fn=lambda: _limit_file_size(1024)
    )
    run = await finish(proc)
    assert run.status == 4, run.err
    assert re.search(rf"results not writable: \d+ finished \(--out {out}: File too large", run.err)
    assert "re-run" not in run.err  # no journal: nothing to resume from
    assert "Traceback" not in run.err


async def test_a_full_stdout_under_json_records_is_named_not_blamed_on_the_journal(
    emu: Emulator, tmp_path: Path
) -> None:
    manifest = _voices_manifest(tmp_path, 3)
    args = ["batch", str(manifest), "--rpm", FAST_RPM, "--json"]
    with Path("/dev/full").open("wb") as full:  # noqa: ASYNC230 (every write: ENOSPC)
        proc = await start(args, cli_env(emu), stdout=full)
        _, raw = await asyncio.wait_for(proc.communicate(), 30)
    err = raw.decode()
    assert proc.returncode == 4, err
    assert re.search(r"results not writable: \d+ finished; re-run to resume \(stdout: ", err), err
    assert "journal not writable" not in err
    assert "Traceback" not in err
    assert "Exception ignored" not in err


async def test_download_demo_to_stdout(emu: Emulator, tmp_path: Path) -> None:
    (sample,) = voices_dir(tmp_path, 1)
    args = ["clone", str(sample), "--voice-id", "Narrator001", "--text", "Hi."]
    proc = await start([*args, "--download-demo", "-"], cli_env(emu))
    out, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 0, err
    assert out[:4] == b"RIFF"  # the audio, and only the audio, on stdout
    assert b"Narrator001" in err  # the result for people, on stderr
    assert not (tmp_path / "-").exists()
    run = await cli(*args, "--download-demo", "-", "--json", emu=emu)
    assert run.status == 2
    assert "both write to stdout" in run.err

"""The command in scripts: JSON lines on stdout, ``-`` for stdout, closed pipes, partial
manifests, and exit statuses that tell one kind of failure from another."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
from pathlib import Path

import pytest
from test_cli import (
    FAST_RPM,
    KEY,
    Emulator,
    Factory,
    _interrupted_batch,
    cli,
    cli_env,
    csv_manifest,
    start,
    voices_dir,
)

from voiceclone._cli import _exit
from voiceclone._cli._main import build_parser
from voiceclone._samples import make_wav
from voiceclone.emulator._cli import build_parser as emulator_parser

DOCS = Path(__file__).resolve().parent.parent / "docs" / "cli.md"


@pytest.fixture
async def emu(minimax_emulator_factory: Factory) -> Emulator:
    return await minimax_emulator_factory(api_key=KEY, rpm=None)


def good_manifest(folder: Path, count: int) -> Path:
    voices_dir(folder, count)
    return csv_manifest(
        folder, [f"Piped{i:06d},voice{i}.wav,Hi.,speech-2.8-hd" for i in range(count)]
    )


# -- JSON lines and "-" ------------------------------------------------------------------


async def test_batch_json_writes_one_record_per_voice_and_people_text_to_stderr(
    emu: Emulator, tmp_path: Path
) -> None:
    manifest = good_manifest(tmp_path, 3)
    out = tmp_path / "results.jsonl"
    args = ["batch", str(manifest), "--rpm", FAST_RPM, "--json", "--out", str(out)]
    run = await cli(*args, emu=emu)
    assert run.status == 0, run.err
    records = [json.loads(line) for line in run.out.splitlines()]
    assert sorted(r["voice_id"] for r in records) == [f"Piped{i:06d}" for i in range(3)]
    assert all(r["status"] == "cloned" and r["demo_audio"] for r in records)
    # The same records as --out writes, and the table and summary on stderr.
    assert out.read_text().splitlines() == run.out.splitlines()
    assert "cloned 3 of 3" in run.err
    assert "Piped000000" in run.err
    # "--out -" is stdout too.
    run = await cli("batch", str(manifest), "--rpm", FAST_RPM, "--out", "-", emu=emu)
    assert run.status == 0, run.err
    assert [json.loads(line)["status"] for line in run.out.splitlines()] == ["resumed"] * 3
    assert "cloned 3 of 3 (3 resumed from the journal)" in run.err
    assert not (tmp_path / "-").exists()
    assert not (Path.cwd() / "-").exists()
    # A dry run has no records: with --json its stdout stays empty.
    run = await cli("batch", str(manifest), "--dry-run", "--json", emu=emu)
    assert (run.status, run.out) == (0, "")
    assert "3 voices" in run.err


async def _closed_stdout(args: list[str], env: dict[str, str]) -> tuple[int, str]:
    """Run the command with stdout a pipe whose reader is already gone, as after `| head`."""
    read, write = os.pipe()
    os.close(read)
    try:
        proc = await start(args, env, stdout=write)
    finally:
        os.close(write)
    _, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode is not None
    return proc.returncode, err.decode()


@pytest.mark.parametrize(
    "output", [("--json",), ("--out", "-"), ("--out", "/dev/stdout"), ("--quiet",)]
)
async def test_a_closed_pipe_ends_the_batch_quietly_with_141(
    emu: Emulator, tmp_path: Path, output: tuple[str, ...]
) -> None:
    manifest = good_manifest(tmp_path, 3)
    args = ["batch", str(manifest), "--rpm", FAST_RPM, "--max-in-flight", "1", *output]
    status, err = await _closed_stdout(args, cli_env(emu))
    assert status == _exit.PIPE_CLOSED == 141
    assert "Traceback" not in err
    assert "Error" not in err
    # It stopped at its first write: what it finished is in the journal, for a re-run.
    journal = Path(f"{manifest}.journal.jsonl")
    assert journal.exists()  # noqa: ASYNC240
    assert sum(emu.account(KEY).clone_successes.values()) < 3 or output == ("--quiet",)


async def test_clone_and_voices_json_into_a_closed_pipe(emu: Emulator, tmp_path: Path) -> None:
    (sample,) = voices_dir(tmp_path, 1)
    args = ["clone", str(sample), "--voice-id", "Narrator001", "--json"]
    assert await _closed_stdout(args, cli_env(emu)) == (141, "")
    assert await _closed_stdout(["voices", "--json"], cli_env(emu)) == (141, "")


async def test_a_preview_into_a_closed_pipe_ends_quietly_with_141(
    emu: Emulator, tmp_path: Path
) -> None:
    (sample,) = voices_dir(tmp_path, 1)
    args = ["clone", str(sample), "--voice-id", "Narrator001", "--text", "Hi."]
    status, err = await _closed_stdout([*args, "--download-demo", "-"], cli_env(emu))
    assert status == 141, err
    assert "error" not in err


# -- partial manifests -----------------------------------------------------------------


async def test_skip_invalid_runs_the_valid_rows_and_counts_the_others_as_failed(
    emu: Emulator, tmp_path: Path
) -> None:
    voices_dir(tmp_path, 3)
    (tmp_path / "short.wav").write_bytes(make_wav(2.0))
    manifest = csv_manifest(
        tmp_path,
        [
            "GoodVoice01,voice0.wav,,",
            "x,voice1.wav,,",
            "GoodVoice03,short.wav,Hello,",
            "GoodVoice04,voice2.wav,,",
        ],
    )
    args = ["batch", str(manifest), "--rpm", FAST_RPM]
    refused = await cli(*args, emu=emu)
    assert refused.status == 2  # without the flag: refused whole, as before
    assert "--skip-invalid runs the valid rows" in refused.err
    assert sum(emu.stats.requests.values()) == 0

    run = await cli(*args, "--skip-invalid", "--json", emu=emu)
    assert run.status == 1, run.err
    for expected in (
        "line 3  voice_id: must be 8 to 256 characters",
        "line 4  model: is required with text",
        "line 4  audio: lasts 2.0 s",
        "skipping 2 invalid row(s); cloning the other 2",
        "cloned 2 of 4",
        "failed 2: 2 refused before sending (invalid input)",
    ):
        assert expected in run.err, expected
    assert dict(emu.account(KEY).clone_successes) == {"GoodVoice01": 1, "GoodVoice04": 1}
    records = {r["line"]: r for r in map(json.loads, run.out.splitlines())}
    assert sorted(records) == [2, 3, 4, 5]
    assert (records[3]["status"], records[3]["voice_id"]) == ("refused", "x")
    first, second = records[4]["problems"]
    assert first.startswith("model: is required with text")
    assert second.startswith("audio: lasts 2.0 s")
    assert records[4]["error"]["type"] == "ValidationError"
    assert records[5]["status"] == "cloned"


async def test_skip_invalid_still_refuses_a_broken_header(emu: Emulator, tmp_path: Path) -> None:
    voices_dir(tmp_path, 1)
    manifest = tmp_path / "voices.csv"
    manifest.write_text("voice_id,sample\nGoodVoice01,voice0.wav\n", encoding="utf-8")
    run = await cli("batch", str(manifest), "--skip-invalid", emu=emu)
    assert run.status == 2
    assert "line 1  audio: column is missing from the header" in run.err
    assert sum(emu.stats.requests.values()) == 0


async def test_a_jsonl_row_with_an_unknown_field_is_skipped_not_run(
    emu: Emulator, tmp_path: Path
) -> None:
    voices_dir(tmp_path, 2)
    manifest = tmp_path / "voices.jsonl"
    rows = [
        {"voice_id": "JsonVoice01", "audio": "voice0.wav", "colour": "red"},
        "not an object",
        {"voice_id": "JsonVoice03", "audio": "voice1.wav"},
    ]
    manifest.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    run = await cli("batch", str(manifest), "--skip-invalid", "--rpm", FAST_RPM, emu=emu)
    assert run.status == 1, run.err
    assert "line 1  colour: unknown field" in run.err
    assert "line 2  manifest: must be a JSON object" in run.err
    assert dict(emu.account(KEY).clone_successes) == {"JsonVoice03": 1}


# -- exit statuses ---------------------------------------------------------------------


async def test_a_wrong_key_in_a_batch_exits_3(emu: Emulator, tmp_path: Path) -> None:
    manifest = good_manifest(tmp_path, 2)
    env = cli_env(emu, MINIMAX_API_KEY="sk-wrong-key-0000")
    run = await cli("batch", str(manifest), "--rpm", FAST_RPM, env=env)
    assert run.status == 3, run.err
    assert "AuthenticationError 2049" in run.out
    assert emu.account(KEY).clone_successes == {}


@pytest.mark.parametrize(
    "base_url",
    ["ftp://api.example.com/v1", "http://user:secret@127.0.0.1:1/v1", "http://x:port/v1"],
)
async def test_a_bad_base_url_exits_3_before_sending(emu: Emulator, base_url: str) -> None:
    run = await cli("--base-url", base_url, "voices", emu=emu)
    assert run.status == 3, run.err
    assert "base_url" in run.err
    assert "secret" not in run.err
    assert sum(emu.stats.requests.values()) == 0


async def test_an_unusable_journal_exits_4(emu: Emulator, tmp_path: Path) -> None:
    manifest = good_manifest(tmp_path, 1)
    folder = tmp_path / "journal-is-a-directory"
    folder.mkdir()
    run = await cli("batch", str(manifest), "--journal", str(folder), "--rpm", FAST_RPM, emu=emu)
    assert run.status == 4, run.err
    assert "journal not" in run.err
    assert "Traceback" not in run.err
    assert emu.account(KEY).clone_successes == {}


async def test_sigterm_exits_143_and_the_batch_resumes(
    minimax_emulator_factory: Factory, tmp_path: Path
) -> None:
    emu = await minimax_emulator_factory(api_key=KEY, rpm=None, latency=0.02)
    manifest = await _interrupted_batch(emu, tmp_path, 12, signal.SIGTERM)
    run = await cli("batch", str(manifest), "--rpm", FAST_RPM, emu=emu)
    assert run.status == 0, run.err
    assert dict(emu.account(KEY).clone_successes) == {f"Resume{i:05d}": 1 for i in range(12)}


def _statuses() -> dict[int, str]:
    return {
        value: name
        for name, value in vars(_exit).items()
        if name.isupper() and isinstance(value, int) and name != "OK"
    }


async def test_help_and_docs_list_every_exit_status() -> None:
    run = await cli("--help", env=cli_env(None))
    help_text = " ".join(run.out.split())
    docs = " ".join(DOCS.read_text(encoding="utf-8").split())
    for value in [0, *_statuses()]:
        assert re.search(rf"\b{value} [a-z]", help_text), value
        assert re.search(rf"`{value}` [a-z]", docs), value


def _options(parser: object) -> set[str]:
    import argparse

    assert isinstance(parser, argparse.ArgumentParser)
    found: set[str] = set()
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                found |= _options(sub)
        found |= {o for o in action.option_strings if o.startswith("--") and o != "--help"}
    return found


def test_docs_and_help_name_the_same_options() -> None:
    docs = DOCS.read_text(encoding="utf-8")
    documented = set(re.findall(r"`(--[a-z][a-z0-9-]*)", docs))
    documented |= {f"--{n}" for n in re.findall(r"`--\[no-\]([a-z-]+)`", docs)}
    documented |= {f"--no-{n}" for n in re.findall(r"`--\[no-\]([a-z-]+)`", docs)}
    options = _options(build_parser()) | _options(emulator_parser())
    assert options - documented == set(), "in --help, not in docs/cli.md"
    assert documented - options == set(), "in docs/cli.md, not in --help"

"""The ``voiceclone`` command against an emulator in this process.

`cli` runs the command in this process (``voiceclone.cli.main(argv)`` in a thread,
with its own environment and captured streams): what it prints and the status it
returns are what a user's shell would get, without an interpreter start and an
aiohttp import per call. `start` runs it as a real child process, for what only a
process shows: signals, pipes, file-size limits, a fresh interpreter.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import os
import re
import signal
import sys
import threading
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import attrs
import pytest

import voiceclone
from voiceclone import Client, CloneJob, RetryPolicy
from voiceclone._samples import make_wav
from voiceclone.emulator import Emulator, Fault

#: Distinctive, so that a leak shows up in any text searched for it.
KEY = "sk-cli-S3CRET-7e6d5c4b3a29"
FAST_RPM = "60000"

Factory = Callable[..., Awaitable[Emulator]]


@attrs.frozen
class Run:
    status: int
    out: str
    err: str

    @property
    def json(self) -> Any:
        return json.loads(self.out)


def cli_env(emu: Emulator | None, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MINIMAX_")}
    env.update(NO_COLOR="1", COLUMNS="200", PYTHONUNBUFFERED="1")
    if emu is not None:
        env.update(MINIMAX_API_KEY=KEY, MINIMAX_BASE_URL=emu.base_url)
    env.update(extra)
    return env


async def start(
    args: Sequence[str], env: dict[str, str], cwd: Path | None = None, **options: Any
) -> asyncio.subprocess.Process:
    """``voiceclone ARGS`` in a child process; ``options`` go to `create_subprocess_exec`."""
    options.setdefault("stdout", asyncio.subprocess.PIPE)
    options.setdefault("stderr", asyncio.subprocess.PIPE)
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "voiceclone.cli", *args, env=env, cwd=cwd, **options
    )


async def finish(proc: asyncio.subprocess.Process) -> Run:
    out, err = await asyncio.wait_for(proc.communicate(), 30)
    run = Run(proc.returncode if proc.returncode is not None else -1, out.decode(), err.decode())
    assert KEY not in run.out
    assert KEY not in run.err
    return run


def _exit_status(exit: SystemExit) -> int:
    # As the interpreter turns sys.exit(code) into a process's status.
    if exit.code is None:
        return 0
    return exit.code if isinstance(exit.code, int) else 1


def run_in_process(args: Sequence[str], env: dict[str, str]) -> Run:
    """``voiceclone ARGS`` through `voiceclone.cli.main`, with ``env`` as the environment.

    Blocking (the command runs its own event loop): call it in a thread. What the
    command changes in the process (the environment, the standard streams, the
    ``voiceclone`` logger it points at stderr) is put back afterwards.
    """
    from voiceclone.cli import main

    out, err = io.BytesIO(), io.BytesIO()
    streams = sys.stdout, sys.stderr
    environ = dict(os.environ)
    logger = logging.getLogger("voiceclone")
    handlers, level, propagate = logger.handlers[:], logger.level, logger.propagate
    # The test's emulator logs on the test's thread: a child process's stderr would
    # not have those lines, so neither does this run's.
    this_thread = threading.get_ident()
    emulator_logs = logging.getLogger("voiceclone.emulator")
    others = _OneThread(this_thread)
    emulator_logs.addFilter(others)
    os.environ.clear()
    os.environ.update(env)
    captured = [io.TextIOWrapper(b, encoding="utf-8", write_through=True) for b in (out, err)]
    sys.stdout, sys.stderr = captured
    try:
        try:
            status = main(list(args))
        except SystemExit as exit:
            status = _exit_status(exit)
    finally:
        sys.stdout, sys.stderr = streams
        for stream in captured:
            stream.detach()  # closing the wrapper would close the buffer before it is read
        os.environ.clear()
        os.environ.update(environ)
        logger.handlers[:] = handlers
        logger.propagate = propagate
        logger.setLevel(level)
        emulator_logs.removeFilter(others)
    run = Run(status, out.getvalue().decode(), err.getvalue().decode())
    assert KEY not in run.out
    assert KEY not in run.err
    return run


class _OneThread(logging.Filter):
    """Keeps the records logged on one thread (the in-process command's)."""

    def __init__(self, thread: int) -> None:
        super().__init__()
        self.thread = thread

    def filter(self, record: logging.LogRecord) -> bool:
        return record.thread == self.thread


async def cli(*args: str, emu: Emulator | None = None, env: dict[str, str] | None = None) -> Run:
    """``voiceclone ARGS`` run in this process (see `run_in_process`)."""
    env = env if env is not None else cli_env(emu)
    try:
        return await asyncio.wait_for(asyncio.to_thread(run_in_process, args, env), 30)
    except asyncio.TimeoutError:
        # The command's thread still runs with the environment and streams swapped:
        # nothing after it in this process could be trusted.
        pytest.exit(f"voiceclone {' '.join(args)} hung in-process for 30 s", returncode=1)


def assert_no_key_in(*paths: Path) -> None:
    for path in paths:
        assert KEY not in path.read_text(encoding="utf-8"), path


def voices_dir(folder: Path, count: int) -> list[Path]:
    paths = []
    for i in range(count):
        path = folder / f"voice{i}.wav"
        path.write_bytes(make_wav(10.5, pitch_hz=100 + 7 * i, seed=i))
        paths.append(path)
    return paths


def csv_manifest(folder: Path, rows: Sequence[str], name: str = "voices.csv") -> Path:
    path = folder / name
    path.write_text("voice_id,audio,text,model\n" + "\n".join(rows) + "\n", encoding="utf-8")
    return path


@pytest.fixture
async def emu(minimax_emulator_factory: Factory) -> Emulator:
    return await minimax_emulator_factory(api_key=KEY, rpm=None)


def journal_lines(path: Path) -> list[dict[str, Any]]:
    # Every line must be whole: json.loads fails on a torn one.
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


# -- general ---------------------------------------------------------------------------


async def test_version_and_help() -> None:
    run = await cli("--version", env=cli_env(None))
    assert (run.status, run.out.strip()) == (0, f"voiceclone {voiceclone.__version__}")
    run = await cli("batch", "--help", env=cli_env(None))
    assert run.status == 0
    assert "--dry-run" in run.out
    assert "--journal" in run.out
    run = await cli("emulator", "--help", env=cli_env(None))
    assert run.status == 0
    assert run.out.startswith("usage: voiceclone emulator ")


@pytest.mark.parametrize(
    "args",
    [
        (),
        ("clone", "sample.wav"),  # --voice-id missing
        ("batch",),
        ("batch", "m.csv", "--rpm", "fast"),
        ("clone", "x.wav", "--voice-id", "VoiceNumber1", "--accuracy", "2"),
        ("nonsense",),
    ],
)
async def test_usage_errors_exit_2(args: tuple[str, ...]) -> None:
    run = await cli(*args, env=cli_env(None))
    assert run.status == 2
    assert "usage: voiceclone" in run.err


async def test_no_api_key_is_a_configuration_error_and_nothing_is_sent(
    emu: Emulator, tmp_path: Path
) -> None:
    (sample,) = voices_dir(tmp_path, 1)
    env = cli_env(emu)
    del env["MINIMAX_API_KEY"]
    run = await cli("clone", str(sample), "--voice-id", "VoiceNumber1", env=env)
    assert run.status == 3
    assert "no API key: set MINIMAX_API_KEY or pass --api-key-file" in run.err
    assert sum(emu.stats.requests.values()) == 0


async def test_the_command_needs_rich_but_the_package_does_not(tmp_path: Path) -> None:
    code = (
        "import sys; sys.modules['rich'] = None\n"
        "import voiceclone, voiceclone.cli, voiceclone.emulator\n"
        "sys.exit(voiceclone.cli.main(['demo']))\n"
    )
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", code, stderr=asyncio.subprocess.PIPE, env=cli_env(None)
    )
    _, err = await proc.communicate()
    assert proc.returncode == 2
    assert "pip install 'voiceclone[cli]'" in err.decode()


# -- clone -----------------------------------------------------------------------------


async def test_clone_sends_every_option_and_prints_json(emu: Emulator, tmp_path: Path) -> None:
    sample, prompt = tmp_path / "sample.wav", tmp_path / "prompt.wav"
    sample.write_bytes(make_wav(11.0))
    prompt.write_bytes(make_wav(3.0, seed=3))
    demo = tmp_path / "preview.wav"
    emu.inject(Fault.http(503))  # retried, and logged with --verbose
    args = ["clone", str(sample), "--voice-id", "Narrator001", "--prompt-audio", str(prompt)]
    args += ["--prompt-text", "Hello there.", "--text", "A preview.", "--language-boost", "English"]
    args += ["--text-validation", "Hi.", "--accuracy", "0.8", "--noise-reduction"]
    args += ["--no-volume-normalization", "--watermark", "--continuous-sound"]
    args += ["--json", "--download-demo", str(demo)]
    run = await cli("--verbose", *args, emu=emu)
    assert run.status == 0, run.err
    data = run.json
    assert data["voice_id"] == "Narrator001"
    assert (data["status"], data["ok"], data["attempts"]) == ("cloned", True, 2)
    assert data["demo_audio"].startswith(emu.origin)
    assert data["demo_path"] == str(demo)
    assert demo.read_bytes()[:4] == b"RIFF"
    assert "retrying POST /voice_clone" in run.err  # --verbose logs retries
    body = [r.json for r in emu.requests if r.endpoint == "voice_clone"][-1]
    assert body["model"] == "speech-2.8-hd"  # the default with --text
    expected = {
        "text": "A preview.",
        "language_boost": "English",
        "text_validation": "Hi.",
        "accuracy": 0.8,
        "need_noise_reduction": True,
        "need_volume_normalization": False,
        "aigc_watermark": True,
        "continuous_sound": True,
    }
    assert {k: body[k] for k in expected} == expected
    assert body["clone_prompt"]["prompt_text"] == "Hello there."
    assert emu.account(KEY).clone_successes == {"Narrator001": 1}


async def test_clone_failure_exits_1_with_a_json_error(emu: Emulator, tmp_path: Path) -> None:
    (sample,) = voices_dir(tmp_path, 1)
    run = await cli(
        "clone", str(sample), "--voice-id", "Narrator001", "--text", "FLAGGED", "--json", emu=emu
    )
    assert run.status == 1
    error = run.json["error"]
    assert (error["type"], error["status_code"]) == ("SensitiveContentError", 1026)
    assert len(error["trace_id"]) == 32


async def test_clone_refuses_bad_input_without_sending(emu: Emulator, tmp_path: Path) -> None:
    short = tmp_path / "short.wav"
    short.write_bytes(make_wav(4.0))
    run = await cli("clone", str(short), "--voice-id", "Narrator001", "--json", emu=emu)
    assert run.status == 2
    assert run.json["status"] == "refused"
    assert "lasts 4.0 s" in run.json["error"]["message"]
    assert sum(emu.stats.requests.values()) == 0


async def test_api_key_file_keeps_the_key_out_of_the_environment(
    emu: Emulator, tmp_path: Path
) -> None:
    (sample,) = voices_dir(tmp_path, 1)
    key_file = tmp_path / "key.txt"
    key_file.write_text(KEY + "\n", encoding="utf-8")
    env = cli_env(emu)
    del env["MINIMAX_API_KEY"]
    args = ["--api-key-file", str(key_file), "clone", str(sample), "--voice-id", "Narrator001"]
    run = await cli(*args, env=env)
    assert run.status == 0, run.err
    assert "Narrator001" in run.out
    assert "expires" in run.out
    missing = await cli("--api-key-file", str(tmp_path / "nope"), "voices", env=env)
    assert missing.status == 3
    assert "--api-key-file: No such file or directory" in missing.err
    # A key pasted where its file's path goes is not quoted back (`cli` checks KEY
    # is absent from both streams).
    pasted = await cli("--api-key-file", KEY, "voices", env=env)
    assert pasted.status == 3
    assert "the value given is not shown" in pasted.err


async def test_stderr_to_a_file_keeps_each_message_on_one_line(
    emu: Emulator, tmp_path: Path
) -> None:
    # No COLUMNS, not a terminal: a note is one line however long (a reader greps it).
    env = cli_env(emu)
    del env["COLUMNS"]
    folder = tmp_path / ("a-folder-with-a-long-name-" * 4)
    folder.mkdir()
    voices_dir(folder, 1)
    manifest = csv_manifest(folder, ["LongLines01,voice0.wav,,"])
    run = await cli("batch", str(manifest), "--rpm", FAST_RPM, "--json", env=env)
    assert run.status == 0, run.err
    journal = f"journal: {manifest}.journal.jsonl"
    assert len(journal) > 150
    assert [line for line in run.err.splitlines() if line.startswith("journal: ")] == [journal]


async def test_a_wrong_key_fails_without_echoing_it(emu: Emulator, tmp_path: Path) -> None:
    (sample,) = voices_dir(tmp_path, 1)
    env = cli_env(emu, MINIMAX_API_KEY="sk-wrong-" + KEY)
    run = await cli("clone", str(sample), "--voice-id", "Narrator001", env=env)
    assert run.status == 3  # configuration, not "some voices failed"
    assert "AuthenticationError 2049" in run.err


# -- batch -----------------------------------------------------------------------------


async def test_a_model_released_since_is_accepted_with_a_warning(
    emu: Emulator, tmp_path: Path
) -> None:
    voices_dir(tmp_path, 1)
    manifest = csv_manifest(tmp_path, ["NewModel01,voice0.wav,Hi.,speech-7.0-cli-hd"])
    run = await cli("batch", str(manifest), "--dry-run", emu=emu)
    assert run.status == 0, run.err
    assert "model 'speech-7.0-cli-hd' is not one this version of voiceclone knows" in run.err
    assert sum(emu.stats.requests.values()) == 0


async def test_dry_run_reports_every_problem_and_sends_nothing(
    emu: Emulator, tmp_path: Path
) -> None:
    voices_dir(tmp_path, 2)
    (tmp_path / "short.wav").write_bytes(make_wav(2.0))
    (tmp_path / "text.wav").write_text("hello", encoding="utf-8")
    manifest = csv_manifest(
        tmp_path,
        [
            "GoodVoice01,voice0.wav,,",
            "x,voice1.wav,,",
            "GoodVoice03,short.wav,Hello,",
            "GoodVoice01,absent.wav,,",
            "GoodVoice05,text.wav,Hi,speech 9",
        ],
    )
    run = await cli("batch", str(manifest), "--dry-run", emu=emu)
    assert run.status == 2
    for expected in (
        "line 3  voice_id: must be 8 to 256 characters",
        "line 4  model: is required with text",
        "line 4  audio: lasts 2.0 s",
        "line 5  voice_id: repeats line 2",
        "line 5  audio:",
        "line 6  model: must be a model name",
        "line 6  audio: is not mp3, m4a or wav audio",
        "7 problem(s) on 4 line(s)",
        "nothing was sent",
    ):
        assert expected in run.err
    assert "  line 2  " not in run.err
    assert sum(emu.stats.requests.values()) == 0
    # Without --dry-run the same manifest is refused as a whole, still sending nothing.
    run = await cli("batch", str(manifest), emu=emu)
    assert run.status == 2
    assert "line 6  audio" in run.err
    assert sum(emu.stats.requests.values()) == 0
    assert not (tmp_path / "voices.csv.journal.jsonl").exists()


async def test_dry_run_of_a_good_manifest(emu: Emulator, tmp_path: Path) -> None:
    voices_dir(tmp_path, 2)
    manifest = csv_manifest(tmp_path, ["GoodVoice01,voice0.wav,,", "GoodVoice02,voice1.wav,,"])
    run = await cli("batch", str(manifest), "--dry-run", emu=emu)
    assert run.status == 0
    assert "2 voices" in run.out
    assert sum(emu.stats.requests.values()) == 0


async def test_partial_failure_exits_1_and_writes_results(emu: Emulator, tmp_path: Path) -> None:
    voices_dir(tmp_path, 4)
    manifest = csv_manifest(
        tmp_path,
        [
            "GoodVoice01,voice0.wav,Hello.,speech-2.8-hd",
            "GoodVoice02,voice1.wav,Hi.,speech-2.8-hd",
            "BadVoice003,voice2.wav,This is FLAGGED.,speech-2.8-hd",
            "GoodVoice04,voice3.wav,,",
        ],
    )
    out = tmp_path / "results.jsonl"
    emu.inject(Fault.drop_after())  # the first clone is recovered
    args = ["batch", str(manifest), "--rpm", FAST_RPM, "--max-in-flight", "1", "--out", str(out)]
    run = await cli(*args, emu=emu)
    assert run.status == 1, run.err
    assert "cloned 3 of 4" in run.out
    assert "1 SensitiveContentError 1026" in run.out
    assert "1 recovered after a lost answer" in run.out
    records = {r["voice_id"]: r for r in map(json.loads, out.read_text().splitlines())}
    assert len(records) == 4
    assert records["BadVoice003"]["error"]["status_code"] == 1026
    assert records["BadVoice003"]["line"] == 4
    # The first clone's answer was lost: recovered, so without its preview link.
    assert (records["GoodVoice01"]["recovered"], records["GoodVoice01"]["demo_audio"]) == (
        True,
        None,
    )
    assert records["GoodVoice02"]["demo_audio"].startswith(emu.origin)
    assert sum(r["recovered"] for r in records.values() if r["ok"]) == 1
    journal = tmp_path / "voices.csv.journal.jsonl"
    assert {e["voice_id"] for e in journal_lines(journal) if e["event"] == "ok"} == {
        "GoodVoice01",
        "GoodVoice02",
        "GoodVoice04",
    }
    assert_no_key_in(out, journal)
    # A re-run resumes: the three done voices are not sent again, nor is the voice
    # refused for good (1026), which the journal reports; --retry-failed sends it.
    sent_before = emu.account(KEY).clone_requests["BadVoice003"]
    run = await cli("batch", str(manifest), "--rpm", FAST_RPM, emu=emu)
    assert run.status == 1
    assert "4 resumed from the journal" in run.out
    assert "SensitiveContentError 1026" in run.out
    assert emu.account(KEY).clone_requests["BadVoice003"] == sent_before
    run = await cli("batch", str(manifest), "--rpm", FAST_RPM, "--retry-failed", emu=emu)
    assert run.status == 1
    assert "3 resumed from the journal" in run.out
    assert emu.account(KEY).clone_requests["BadVoice003"] == sent_before + 1
    successes = emu.account(KEY).clone_successes
    assert successes == {"GoodVoice01": 1, "GoodVoice02": 1, "GoodVoice04": 1}
    assert emu.account(KEY).clone_requests["GoodVoice02"] == 1


async def test_jsonl_manifest_with_its_own_journal_path(emu: Emulator, tmp_path: Path) -> None:
    voices_dir(tmp_path, 2)
    manifest = tmp_path / "voices.jsonl"
    rows = [
        {"voice_id": "JsonVoice01", "audio": "voice0.wav", "watermark": True},
        {"voice_id": "JsonVoice02", "audio": "voice1.wav", "noise_reduction": "yes"},
    ]
    manifest.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    journal = tmp_path / "state" / "j.jsonl"
    run = await cli(
        "-q", "batch", str(manifest), "--journal", str(journal), "--rpm", "auto", emu=emu
    )
    assert run.status == 0, run.err
    assert run.err == ""  # --quiet, and no progress bar off a terminal
    assert "cloned 2 of 2" in run.out
    assert journal.exists()
    bodies = {r.json["voice_id"]: r.json for r in emu.requests if r.endpoint == "voice_clone"}
    assert bodies["JsonVoice01"]["aigc_watermark"] is True
    assert bodies["JsonVoice02"]["need_noise_reduction"] is True


async def _interrupted_batch(emu: Emulator, folder: Path, count: int, signum: int) -> Path:
    """Start a batch of ``count`` voices, send ``signum`` mid-way, check the exit status."""
    voices_dir(folder, count)
    manifest = csv_manifest(folder, [f"Resume{i:05d},voice{i}.wav,," for i in range(count)])
    proc = await start(
        ["batch", str(manifest), "--rpm", FAST_RPM, "--max-in-flight", "2"], cli_env(emu)
    )
    account = emu.account(KEY)
    while sum(account.clone_successes.values()) < 3:
        assert proc.returncode is None, "the batch ended before it was interrupted"
        await asyncio.sleep(0.005)
    proc.send_signal(signum)
    run = await finish(proc)
    assert sum(account.clone_successes.values()) < count, "the batch was not interrupted"
    if signum in (signal.SIGINT, signal.SIGTERM):
        assert run.status == {signal.SIGINT: 130, signal.SIGTERM: 143}[signum]
        assert "interrupted" in run.err
    else:
        assert run.status == -signum
    return manifest


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGKILL])
async def test_an_interrupted_batch_resumes_without_cloning_twice(
    minimax_emulator_factory: Factory, tmp_path: Path, signum: int
) -> None:
    emu = await minimax_emulator_factory(api_key=KEY, rpm=None, latency=0.02)
    count = 20
    manifest = await _interrupted_batch(emu, tmp_path, count, signum)
    journal = Path(f"{manifest}.journal.jsonl")
    if signum == signal.SIGINT:
        # A clean stop leaves only whole lines, and every "ok" voice exists.
        events = journal_lines(journal)
        done = {e["voice_id"] for e in events if e["event"] == "ok"}
        assert done
        assert done <= set(emu.account(KEY).voices)
    run = await cli("batch", str(manifest), "--rpm", FAST_RPM, emu=emu)
    assert run.status == 0, run.err
    assert f"cloned {count} of {count}" in run.out
    assert "resumed from the journal" in run.out
    expected = {f"Resume{i:05d}": 1 for i in range(count)}
    assert dict(emu.account(KEY).clone_successes) == expected
    assert set(emu.account(KEY).voices) == set(expected)
    assert_no_key_in(journal)


# -- voices ----------------------------------------------------------------------------


async def test_voices_lists_with_expiry_and_deletes(emu: Emulator, tmp_path: Path) -> None:
    voices_dir(tmp_path, 2)
    journal = tmp_path / "j.jsonl"
    jobs = [CloneJob(f"Listed{i:05d}", tmp_path / f"voice{i}.wav") for i in range(2)]
    async with Client(
        KEY, emu.base_url, requests_per_minute=None, retry=RetryPolicy(attempts=1)
    ) as client:
        outcomes = [o async for o in client.clone_jobs(jobs, journal=journal)]
    assert all(o.ok for o in outcomes)
    emu.activate("Listed00000")  # used for speech: listed by the API, no longer expires

    run = await cli("voices", "--journal", str(journal), "--json", emu=emu)
    assert run.status == 0, run.err
    listed = {v["voice_id"]: v for v in run.json}
    assert listed["Listed00000"]["active"] is True
    assert listed["Listed00000"]["expires_at"] is None
    pending = listed["Listed00001"]
    assert pending["active"] is False
    result = outcomes[1].result
    assert result is not None
    assert pending["expires_at"] == result.expires_at.isoformat(timespec="seconds")

    run = await cli("voices", "--journal", str(journal), emu=emu)
    assert run.status == 0
    assert "not used yet" in run.out
    assert "days left" in run.out

    run = await cli("voices", "--journal", str(tmp_path / "missing.jsonl"), emu=emu)
    assert run.status == 2
    assert "missing.jsonl: no such file" in run.err

    run = await cli("voices", "delete", "Listed00000", emu=emu)
    assert (run.status, run.out.strip()) == (0, "deleted Listed00000")
    assert "Listed00000" not in emu.account(KEY).voices
    run = await cli("voices", "delete", "Listed00000", emu=emu)
    assert run.status == 1
    assert "was not deleted" in run.err


# -- emulator and demo -----------------------------------------------------------------


async def test_emulator_subcommand_serves_until_interrupted() -> None:
    proc = await start(["emulator", "--port", "0", "--rpm", "30", "--api-key", KEY], cli_env(None))
    assert proc.stdout is not None
    line = (await asyncio.wait_for(proc.stdout.readline(), 10)).decode()
    assert line.startswith("MiniMax emulator listening on http://127.0.0.1:")
    async with Client(KEY, line.split()[-1], requests_per_minute=None) as client:
        assert await client.list_voices() == []
    proc.send_signal(signal.SIGINT)
    run = await finish(proc)
    assert run.status == 0


async def test_demo_runs_offline_and_keeps_its_outputs(tmp_path: Path) -> None:
    env = cli_env(None, COLUMNS="80")  # narrow: errors are listed under the table
    folder = tmp_path / "demo"
    run = await cli("demo", "--voices", "4", "--rpm", "600", "--out-dir", str(folder), env=env)
    assert run.status == 0, run.err
    for expected in (
        "Results",
        "Demo_Aria_01",
        "Short_Sample",
        "refused",
        "recovered",
        "SensitiveContentError 1026",
        "advertising",
        "deliberate",
        "(all deliberate)",
        "[1] Short_Sample: audio: lasts 4.0 s",
        "Demo_Aria_01.wav",  # the saved preview, instead of a link that ends with the demo
    ):
        assert expected in run.out, expected
    text = " ".join(run.out.split())
    # A long folder path is folded across lines, wherever the test's folder happens to be.
    unfolded = "".join(run.out.split())
    assert re.search(r"cloned +5 of 8 voices\s+\(2\s+recovered", run.out), run.out
    assert f"outputskeptin{folder}" in unfolded
    # The time against the ideal, and its two parts, add up.
    time = re.search(
        r"time ([\d.]+) s for 6 voices: ([\d.]+) times the ([\d.]+) s they would take at "
        r"600 requests/min, each sent once",
        text,
    )
    assert time is not None, text
    elapsed, times, ideal = (float(g) for g in time.groups())
    assert ideal == (6 - 1) * 60 / 600
    assert abs(times - elapsed / ideal) <= 0.15
    why = re.search(
        r"why (\d+) clone requests \(6 voices, (\d+) sent again\) take ([\d.]+) s at that "
        r"pace; the other ([\d.]+) s went to ",
        text,
    )
    assert why is not None, text
    requests, again, paced, rest = int(why[1]), int(why[2]), float(why[3]), float(why[4])
    assert again == requests - 6 >= 2  # two answers lost, at least
    assert abs(paced - min((requests - 1) * 60 / 600, elapsed)) <= 0.05
    assert abs(paced + rest - elapsed) <= 0.1
    # Every retry is named: the clone requests sent again are the retries of clones.
    retries = re.search(r"retries (\d+) \((.*?)\) time ", text)
    assert retries is not None, text
    clone_part = re.search(r"clone: ([^;]*)", retries[2])
    assert clone_part is not None, retries[2]
    assert sum(int(n) for n in re.findall(r"(\d+) after", clone_part[1])) == again
    assert sum(int(n) for n in re.findall(r"(\d+) after", retries[2])) == int(retries[1])
    # Everything is kept: the samples, a preview per voice with one, the journal, results.
    assert f"kept{folder}:samples/" in unfolded
    records = [json.loads(line) for line in (folder / "results.jsonl").read_text().splitlines()]
    assert len(records) == 8
    with_preview = [r for r in records if r.get("demo_audio")]
    assert len(with_preview) == 3  # the recovered voices have none
    for record in with_preview:
        assert Path(record["demo_path"]).read_bytes()[:4] == b"RIFF"  # noqa: ASYNC240
        assert Path(record["demo_path"]).parent == folder / "previews"
    assert len(list((folder / "samples").glob("*.wav"))) == 8
    assert (folder / "journal.jsonl").stat().st_size > 0
    # The folder must be new or empty: a journal there would resume an earlier demo.
    run = await cli("demo", "--out-dir", str(folder), env=env)
    assert run.status == 2
    assert "not an empty folder" in run.err


async def test_demo_without_keeping_leaves_nothing(tmp_path: Path) -> None:
    run = await cli("demo", "--voices", "1", "--rpm", "6000", "--no-keep", env=cli_env(None))
    assert run.status == 0, run.err
    assert "nothing (--no-keep)" in run.out
    folder = re.search(r"in a temporary folder, (\S+)", run.out)
    assert folder is not None, run.out
    assert not Path(folder.group(1)).exists()  # noqa: ASYNC240

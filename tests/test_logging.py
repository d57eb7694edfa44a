"""What the ``voiceclone`` logger and the ``on_retry`` / ``on_response`` hooks report.

One run meets success, every kind of retry, a recovered clone and failures; the
tests then pin that each attempt is logged with its metadata and that nothing
secret or personal (key, headers, bodies, file names or contents, texts, preview
links) ever reaches a log record.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

import voiceclone
from voiceclone.emulator import Emulator, Fault
from voiceclone.testing import client_for, sample_wav

KEY = "sk-LOGGING-test-key-5b1e"
FILE_NAME = "private-narrator-name.wav"
PROMPT_FILE_NAME = "private-prompt-name.wav"
PREVIEW_TEXT = "Preview words nobody should log."
PROMPT_TEXT = "Prompt transcript nobody should log."
VALIDATION_TEXT = "Expected transcript nobody should log"
SERVER_MESSAGE = "server message nobody should log"


class Run:
    """Everything one scripted run produced."""

    def __init__(self) -> None:
        self.records: list[logging.LogRecord] = []
        self.responses: list[voiceclone.ResponseEvent] = []
        self.retries: list[voiceclone.RetryEvent] = []
        self.results: dict[str, Any] = {}
        self.emulator_trace_ids: list[str] = []
        self.demo_url: str | None = None


async def _scripted_run(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> Run:
    run = Run()
    audio = tmp_path / FILE_NAME
    audio.write_bytes(sample_wav(11.0))
    prompt = tmp_path / PROMPT_FILE_NAME
    prompt.write_bytes(sample_wav(4.0, seed=1))
    caplog.set_level(logging.DEBUG, logger="voiceclone")
    async with Emulator(KEY, rpm=None) as emu:
        client = client_for(
            emu,
            api_key=KEY,
            on_retry=run.retries.append,
            on_response=run.responses.append,
        )
        async with client:
            up = await client.upload_file(audio)
            clip = await client.upload_file(prompt, purpose="prompt_audio")
            # Clean success with a preview, every text field set.
            ok = await client.clone(
                file_id=up.file_id,
                voice_id="LoggedVoice01",
                clone_prompt={"prompt_audio": clip.file_id, "prompt_text": PROMPT_TEXT},
                text=PREVIEW_TEXT,
                model="speech-2.8-hd",
                text_validation=VALIDATION_TEXT,
            )
            await client.download_demo(ok, tmp_path / "demo.wav")
            run.demo_url = ok.demo_audio
            # A gateway 502, a rate limit, a lost answer: retried, then recovered.
            emu.inject(Fault.http(502))
            emu.inject(Fault.status(1002, SERVER_MESSAGE))
            emu.inject(Fault.drop_after())
            run.results["recovered"] = await client.clone(
                file_id=up.file_id,
                voice_id="LoggedVoice02",
                text=PREVIEW_TEXT,
                model="speech-02-hd",
            )
            # Failures: a real conflict on a first attempt, and a non-retryable code.
            for voice_id, fault in (("LoggedVoice01", None), ("LoggedVoice03", Fault.status(2013))):
                if fault is not None:
                    emu.inject(fault)
                with pytest.raises(voiceclone.APIError) as caught:
                    await client.clone(file_id=up.file_id, voice_id=voice_id)
                run.results[voice_id] = caught.value
        run.emulator_trace_ids = [r.trace_id for r in emu.requests]
    run.records = [r for r in caplog.records if r.name == "voiceclone"]
    return run


@pytest.fixture
async def run(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> Run:
    return await _scripted_run(tmp_path, caplog)


def _messages(run: Run) -> list[str]:
    return [r.getMessage() for r in run.records]


def test_every_attempt_is_logged_with_its_metadata(run: Run) -> None:
    debug = [r.getMessage() for r in run.records if r.levelno == logging.DEBUG]
    assert len(debug) == len(run.responses) == 10
    for message, event in zip(debug, run.responses, strict=True):
        assert message.startswith(f"{event.method} {event.path} -> HTTP {event.http_status}, ")
        assert f"status {event.status_code}," in message
        assert f"trace {event.trace_id}," in message
        assert f"attempt {event.attempt}," in message
    assert debug[4].startswith("POST /voice_clone -> HTTP 502, status None, trace ")
    assert debug[5].startswith("POST /voice_clone -> HTTP 200, status 1002, trace ")
    assert debug[6].startswith("POST /voice_clone -> HTTP None, status None, trace None, attempt 3")
    assert debug[7].startswith("POST /voice_clone -> HTTP 200, status 2039, trace ")


def test_retries_are_logged_with_cause_attempt_and_wait(run: Run) -> None:
    info = [r.getMessage() for r in run.records if r.levelno == logging.INFO]
    retry_lines = [m for m in info if m.startswith("retrying ")]
    assert len(retry_lines) == len(run.retries) == 3
    for message, event in zip(retry_lines, run.retries, strict=True):
        assert message.startswith(f"retrying POST /voice_clone after {type(event.error).__name__}")
        error = event.error
        assert (
            f"(HTTP {error.http_status}, status {error.status_code}, trace {error.trace_id})"
            in message
        )
        assert f"attempt {event.attempt} failed, waiting {event.wait:.2f} s" in message
    assert "voice LoggedVoice02 recovered: an earlier attempt created it" in info


def test_nothing_secret_or_personal_is_logged(run: Run) -> None:
    text = "\n".join(_messages(run))
    assert run.demo_url
    for secret in (
        KEY,
        "Bearer",
        "Authorization",
        FILE_NAME,
        PROMPT_FILE_NAME,
        "RIFF",  # the start of every WAV file's contents
        PREVIEW_TEXT,
        PROMPT_TEXT,
        VALIDATION_TEXT,
        SERVER_MESSAGE,
        "rate limit exceeded",
        "voice_id already exists",
        "base_resp",
        "{",
        run.demo_url,
    ):
        assert secret not in text, secret
    for record in run.records:
        assert record.args is None or all(
            isinstance(arg, (str, int, float, type(None))) for arg in record.args
        )
        assert record.exc_info is None


def test_response_events_match_what_the_server_saw(run: Run) -> None:
    events = run.responses
    # The preview download is not an API call the emulator records.
    api_events = [e for e in events if e.path != "/<demo_audio>"]
    answered = [e.trace_id for e in api_events if e.trace_id is not None]
    assert set(answered) <= set(run.emulator_trace_ids)
    assert [(e.path, e.attempt, e.http_status, e.status_code, e.voice_id) for e in events] == [
        ("/files/upload", 1, 200, 0, None),
        ("/files/upload", 1, 200, 0, None),
        ("/voice_clone", 1, 200, 0, "LoggedVoice01"),
        ("/<demo_audio>", 1, 200, None, None),
        ("/voice_clone", 1, 502, None, "LoggedVoice02"),
        ("/voice_clone", 2, 200, 1002, "LoggedVoice02"),
        ("/voice_clone", 3, None, None, "LoggedVoice02"),
        ("/voice_clone", 4, 200, 2039, "LoggedVoice02"),
        ("/voice_clone", 1, 200, 2039, "LoggedVoice01"),
        ("/voice_clone", 1, 200, 2013, "LoggedVoice03"),
    ]
    assert all(e.method in ("POST", "GET") and e.elapsed >= 0 for e in events)
    assert events[6].trace_id is None  # the connection was dropped: no answer, no trace id


def test_retry_events_carry_cause_wait_and_voice(run: Run) -> None:
    first, second, third = run.retries
    assert [e.attempt for e in run.retries] == [1, 2, 3]
    assert {e.voice_id for e in run.retries} == {"LoggedVoice02"}
    assert {e.path for e in run.retries} == {"/voice_clone"}
    assert isinstance(first.error, voiceclone.ServerError)
    assert first.error.http_status == 502
    assert isinstance(second.error, voiceclone.RateLimitError)
    assert second.error.status_code == 1002
    assert isinstance(third.error, voiceclone.TransportError)
    # Paced rate limits wait at the shared gate, not in the backoff.
    assert second.wait == 0.0
    # FAST_RETRY: backoff drawn under wait_max, plus at most wait_jitter.
    assert 0.0 <= first.wait <= 0.022
    assert 0.0 <= third.wait <= 0.022
    assert first.error.trace_id == run.responses[4].trace_id
    recovered = run.results["recovered"]
    assert recovered.recovered is True
    assert recovered.attempts == 4


def test_failures_are_logged_once_and_not_retried(run: Run) -> None:
    conflict = run.results["LoggedVoice01"]
    invalid = run.results["LoggedVoice03"]
    assert isinstance(conflict, voiceclone.VoiceIdConflictError)
    assert isinstance(invalid, voiceclone.InvalidParameterError)
    assert not [e for e in run.retries if e.voice_id in ("LoggedVoice01", "LoggedVoice03")]
    messages = _messages(run)
    assert sum(f"trace {invalid.trace_id}," in m for m in messages) == 1
    assert sum(f"trace {conflict.trace_id}," in m for m in messages) == 1
    assert not [r for r in run.records if r.levelno >= logging.WARNING]


async def test_on_response_fires_for_every_attempt_of_an_upload() -> None:
    seen: list[tuple[str, int]] = []
    async with (
        Emulator(KEY, rpm=None) as emu,
        client_for(emu, api_key=KEY, on_response=lambda e: seen.append((e.path, e.attempt))) as c,
    ):
        emu.inject(Fault.drop_before(), endpoint="files/upload")
        await c.upload_file(sample_wav(10.5), filename=FILE_NAME)
    assert seen == [("/files/upload", 1), ("/files/upload", 2)]

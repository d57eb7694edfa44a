"""Bad input is refused with a ValidationError naming the field, before anything is sent."""

from __future__ import annotations

import logging
import struct
from pathlib import Path
from typing import Any

import pytest
from conftest import KEY, NO_PACING

from voiceclone import (
    Client,
    CloneJob,
    ClonePrompt,
    CloneRequest,
    InvalidParameterError,
    RetryPolicy,
    ValidationError,
)
from voiceclone._samples import make_m4a, make_mp3, make_wav
from voiceclone._validate import MODELS, check_audio
from voiceclone.emulator import Emulator

VOICE = "Narrator001"
PROMPT = {"prompt_audio": 42, "prompt_text": "Hello there."}


def wav_header(seconds: float, sample_rate: int = 8000) -> bytes:
    """The 44-byte header of a 16-bit mono WAV; pad the file to its size to complete it."""
    data = round(seconds * sample_rate) * 2
    return (
        b"RIFF"
        + struct.pack("<I", 36 + data)
        + b"WAVEfmt "
        + struct.pack("<IHHIIHH", 16, 1, 1, sample_rate, sample_rate * 2, 2, 16)
        + b"data"
        + struct.pack("<I", data)
    )


def sparse_wav(path: Path, seconds: float, size: int | None = None) -> Path:
    """A WAV of silence lasting ``seconds``, written as a sparse file (instant, no RAM)."""
    header = wav_header(seconds)
    with path.open("wb") as f:
        f.write(header)
        f.truncate(size if size is not None else len(header) + round(seconds * 8000) * 2)
    return path


def assert_nothing_sent(emu: Emulator) -> None:
    assert emu.requests == []
    assert sum(emu.stats.requests.values()) == 0


# -- voice_id -----------------------------------------------------------------------

GOOD_VOICE_IDS = [
    "Abcdefg1",  # 8, the shortest
    "A" + "b" * 254 + "9",  # 256, the longest
    "a-b_c-d_e",
    "Z0000000",
    "Voice_With-Mixed_123",
]

BAD_VOICE_IDS = [
    "Abcdef1",  # 7
    "A" + "b" * 255 + "9",  # 257
    "1Abcdefg",  # digit first
    "_Abcdefg",
    "-Abcdefg",
    "Abcdefg-",  # ends with '-'
    "Abcdefg_",
    "Abc defg1",
    "Abcdéfgh",
    "Ébcdefgh",  # non-ASCII letter first
    "Abc١defg",  # Arabic-Indic digit
    "Abcdefgh\n",
    "Abc.defgh",
    "",
    12345678,
    None,
]


@pytest.mark.parametrize("voice_id", GOOD_VOICE_IDS)
def test_good_voice_ids(voice_id: str) -> None:
    assert CloneRequest(1, voice_id).voice_id == voice_id


@pytest.mark.parametrize("voice_id", BAD_VOICE_IDS)
async def test_bad_voice_ids_never_reach_the_server(
    client: Client, emu: Emulator, voice_id: Any
) -> None:
    with pytest.raises(ValidationError) as err:
        await client.clone(file_id=1, voice_id=voice_id)
    assert err.value.field == "voice_id"
    assert str(err.value).startswith("voice_id: ")
    assert_nothing_sent(emu)


# -- the other clone fields ---------------------------------------------------------

BAD_FIELDS: list[tuple[dict[str, Any], str]] = [
    # file_id: a positive int64, never a bool, float or string
    ({"file_id": 0}, "file_id"),
    ({"file_id": -5}, "file_id"),
    ({"file_id": True}, "file_id"),
    ({"file_id": 3.0}, "file_id"),
    ({"file_id": "311103389282466"}, "file_id"),
    ({"file_id": 2**63}, "file_id"),
    ({"file_id": None}, "file_id"),
    # text and model
    ({"text": "x" * 1001, "model": "speech-2.8-hd"}, "text"),
    ({"text": "   ", "model": "speech-2.8-hd"}, "text"),
    ({"text": 5, "model": "speech-2.8-hd"}, "text"),
    ({"text": "Hello."}, "model"),
    ({"text": "Hello.", "model": "speech 2.8"}, "model"),  # not even a model's name
    ({"text": "Hello.", "model": ""}, "model"),
    ({"text": "Hello.", "model": 2.8}, "model"),
    ({"text": "Hello.", "model": "s" * 65}, "model"),
    ({"model": "SPEECH-2.8-HD"}, "model"),  # a known model in the wrong case: a typo
    ({"language_boost": "english"}, "language_boost"),
    ({"language_boost": ["English"]}, "language_boost"),
    # text_validation and accuracy
    ({"text_validation": "y" * 201}, "text_validation"),
    ({"text_validation": ""}, "text_validation"),
    ({"accuracy": -0.01}, "accuracy"),
    ({"accuracy": 1.01}, "accuracy"),
    ({"accuracy": True}, "accuracy"),
    ({"accuracy": float("nan")}, "accuracy"),
    ({"accuracy": float("inf")}, "accuracy"),
    ({"accuracy": "0.7"}, "accuracy"),
    # booleans are booleans
    ({"need_noise_reduction": 1}, "need_noise_reduction"),
    ({"need_volume_normalization": "true"}, "need_volume_normalization"),
    ({"aigc_watermark": 0}, "aigc_watermark"),
    ({"continuous_sound": "yes"}, "continuous_sound"),
    ({"continuous_sound": 1}, "continuous_sound"),
    # clone_prompt needs both fields and a transcript ending in punctuation
    ({"clone_prompt": {"prompt_audio": 42}}, "clone_prompt.prompt_text"),
    ({"clone_prompt": {"prompt_text": "Hello."}}, "clone_prompt.prompt_audio"),
    ({"clone_prompt": {**PROMPT, "prompt_text": "Hello there"}}, "prompt_text"),
    ({"clone_prompt": {**PROMPT, "prompt_text": ""}}, "prompt_text"),
    ({"clone_prompt": {**PROMPT, "prompt_audio": True}}, "prompt_audio"),
    ({"clone_prompt": {**PROMPT, "prompt_audio": 0}}, "prompt_audio"),
    ({"clone_prompt": {**PROMPT, "extra": 1}}, "clone_prompt"),
    ({"clone_prompt": "Hello."}, "clone_prompt"),
    ({"clone_prompt": (42, "Hello.")}, "clone_prompt"),
]


@pytest.mark.parametrize(("fields", "field"), BAD_FIELDS)
async def test_bad_fields_never_reach_the_server(
    client: Client, emu: Emulator, fields: dict[str, Any], field: str
) -> None:
    with pytest.raises(ValidationError) as err:
        await client.clone(**{"file_id": 311103389282466, "voice_id": VOICE, **fields})
    assert err.value.field == field
    assert isinstance(err.value, ValueError)
    assert_nothing_sent(emu)


async def test_a_model_this_sdk_does_not_know_is_sent_and_told_once(
    client: Client, emu: Emulator, file_id: int, caplog: pytest.LogCaptureFixture
) -> None:
    # A model MiniMax released after this SDK: the server judges it, not the SDK.
    caplog.set_level(logging.WARNING, logger="voiceclone")
    request = CloneRequest(311103389282466, VOICE, text="Hi.", model="speech-9.9-unknown-hd")
    assert request.to_json()["model"] == "speech-9.9-unknown-hd"
    for _ in range(2):
        # The emulator serves today's models only, and answers 2013 as MiniMax would.
        with pytest.raises(InvalidParameterError, match="model"):
            await client.clone(file_id=file_id, voice_id=VOICE, text="Hi.",
                               model="speech-9.9-unknown-hd")  # fmt: skip
    sent = [r.json["model"] for r in emu.requests if r.endpoint == "voice_clone"]
    assert sent == ["speech-9.9-unknown-hd"] * 2
    told = [r for r in caplog.records if "speech-9.9-unknown-hd" in r.getMessage()]
    assert [r.levelno for r in told] == [logging.WARNING]  # once per name, per process
    assert "sent as given" in told[0].getMessage()


@pytest.mark.parametrize(
    "fields",
    [
        {"text": "x" * 1000, "model": "speech-2.8-hd"},
        {"text": "(breath) Hi", "model": MODELS[-1]},
        {"model": "speech-02-hd"},  # a model alone is harmless
        {"text_validation": "y" * 200},
        {"accuracy": 0},
        {"accuracy": 1},
        {"accuracy": 0.7},
        {"language_boost": "auto"},
        {"language_boost": "Chinese,Yue"},
        {"clone_prompt": {**PROMPT, "prompt_text": "你好。"}},
        {"clone_prompt": {**PROMPT, "prompt_text": "Really?! "}},
        {"clone_prompt": ClonePrompt(2**63 - 1, "¿Qué tal?")},
        {"file_id": 2**63 - 1},
        {"continuous_sound": True, "text": "Hi.", "model": "speech-2.8-hd"},
        # Documented for speech-2.8 only, but the server decides: sent with any model.
        {"continuous_sound": False, "text": "Hi.", "model": "speech-01-turbo"},
    ],
)
def test_good_fields(fields: dict[str, Any]) -> None:
    request = CloneRequest(**{"file_id": 1, "voice_id": VOICE, **fields})
    sent = request.to_json()
    for name, value in fields.items():
        if name == "clone_prompt":
            assert set(sent["clone_prompt"]) == {"prompt_audio", "prompt_text"}
        else:
            assert sent[name] == value


def test_prompt_fields_are_required_directly() -> None:
    with pytest.raises(ValidationError) as err:
        ClonePrompt(None, "Hello.")  # type: ignore[arg-type]
    assert err.value.field == "clone_prompt.prompt_audio"
    with pytest.raises(ValidationError) as err:
        ClonePrompt(5, None)  # type: ignore[arg-type]
    assert err.value.field == "clone_prompt.prompt_text"
    with pytest.raises(ValidationError) as err:
        CloneRequest(5, None)  # type: ignore[arg-type]
    assert err.value.field == "voice_id"


def test_clone_job_rules(tmp_path: Path) -> None:
    audio = tmp_path / "a.wav"
    job = CloneJob(
        VOICE, audio, prompt_audio=audio, prompt_text="Hi.", text="Hey.", model="speech-01-turbo"
    )
    request = job.to_request(11, 12)
    assert request.to_json() == {
        "file_id": 11,
        "voice_id": VOICE,
        "clone_prompt": {"prompt_audio": 12, "prompt_text": "Hi."},
        "text": "Hey.",
        "model": "speech-01-turbo",
    }
    cases: list[tuple[dict[str, Any], str]] = [
        ({"prompt_audio": audio}, "prompt_text"),
        ({"prompt_text": "Hi."}, "prompt_audio"),
        ({"text": "Hey."}, "model"),
        ({"prompt_audio": 5, "prompt_text": "Hi."}, "prompt_audio"),
    ]
    for kwargs, field in cases:
        with pytest.raises(ValidationError) as err:
            CloneJob(VOICE, audio, **kwargs)
        assert err.value.field == field
    with pytest.raises(ValidationError, match="audio"):
        CloneJob(VOICE, None)  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="voice_id"):
        CloneJob(None, audio)  # type: ignore[arg-type]


async def test_continuous_sound_is_sent_only_when_set(client: Client, emu: Emulator) -> None:
    audio = await client.upload_file(make_wav(12.0))
    job = CloneJob(VOICE, "a.wav", continuous_sound=True, text="Hi.", model="speech-2.8-hd")
    assert job.to_request(audio.file_id).continuous_sound is True
    await client.clone(job.to_request(audio.file_id))
    await client.clone(file_id=audio.file_id, voice_id="Plain0001")
    with pytest.raises(ValidationError) as err:
        CloneJob(VOICE, "a.wav", continuous_sound="on")  # type: ignore[arg-type]
    assert err.value.field == "continuous_sound"
    sent = [r.json for r in emu.requests if r.endpoint == "voice_clone"]
    assert sent[0]["continuous_sound"] is True
    assert "continuous_sound" not in sent[1]
    assert set(emu.account(KEY).voices) == {VOICE, "Plain0001"}  # the emulator accepts it


# -- uploads ------------------------------------------------------------------------


async def test_a_text_file_named_wav_is_refused(
    client: Client, emu: Emulator, tmp_path: Path
) -> None:
    fake = tmp_path / "voice.wav"
    fake.write_text("this is not audio, whatever the name says\n" * 10)
    with pytest.raises(ValidationError) as err:
        await client.upload_file(fake)
    assert err.value.field == "file"
    assert "checked by content" in str(err.value)
    assert_nothing_sent(emu)


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("take.bin", make_mp3(12.0)),
        ("take.wav", make_m4a(12.0)),  # m4a content under a .wav name
        ("take", make_wav(10.0)),  # exactly 10 s
    ],
)
async def test_audio_is_recognised_by_content(
    client: Client, emu: Emulator, tmp_path: Path, name: str, data: bytes
) -> None:
    path = tmp_path / name
    path.write_bytes(data)
    up = await client.upload_file(path)
    assert emu.account().files[up.file_id].bytes == len(data)


async def test_five_minutes_is_allowed(client: Client, emu: Emulator, tmp_path: Path) -> None:
    path = sparse_wav(tmp_path / "long.wav", 300.0)
    up = await client.upload_file(path)
    assert up.bytes == path.stat().st_size


@pytest.mark.parametrize(
    ("seconds", "purpose", "problem"),
    [
        (9.9, "voice_clone", "10 s to 300 s"),
        (300.5, "voice_clone", "10 s to 300 s"),
        (8.0, "prompt_audio", "under 8 s"),
        (12.0, "prompt_audio", "under 8 s"),
    ],
)
async def test_duration_limits(
    client: Client, emu: Emulator, tmp_path: Path, seconds: float, purpose: str, problem: str
) -> None:
    path = sparse_wav(tmp_path / "x.wav", seconds)
    with pytest.raises(ValidationError, match=problem) as err:
        await client.upload_file(path, purpose=purpose)
    assert err.value.field == "file"
    assert_nothing_sent(emu)


async def test_prompt_audio_just_under_eight_seconds(client: Client, emu: Emulator) -> None:
    up = await client.upload_file(make_wav(7.9), purpose="prompt_audio")
    assert emu.account().files[up.file_id].purpose == "prompt_audio"


async def test_size_limit(client: Client, emu: Emulator, tmp_path: Path) -> None:
    limit = 20 * 1024 * 1024
    too_big = sparse_wav(tmp_path / "big.wav", 60.0, size=limit + 1)
    with pytest.raises(ValidationError, match="20 MB") as err:
        await client.upload_file(too_big)
    assert err.value.field == "file"
    with pytest.raises(ValidationError, match="20 MB"):
        await client.upload_file(wav_header(60.0) + bytes(limit))
    assert_nothing_sent(emu)
    assert check_audio(sparse_wav(tmp_path / "edge.wav", 60.0, size=limit), "voice_clone")


@pytest.mark.parametrize(
    ("make", "problem"),
    [
        (lambda p: p / "missing.wav", "does not exist"),
        (lambda p: p, "is a directory"),
        (lambda p: (p / "empty.wav", (p / "empty.wav").touch())[0], "is empty"),
        (lambda p: 12, "must be a path"),
        (lambda p: p / ("x" * 300 + ".wav"), "cannot read"),
        (
            lambda p: (p / "cut.wav", (p / "cut.wav").write_bytes(wav_header(12.0)[:30]))[0],
            "duration cannot be read",
        ),
    ],
)
async def test_file_problems(
    client: Client, emu: Emulator, tmp_path: Path, make: Any, problem: str
) -> None:
    with pytest.raises(ValidationError, match=problem) as err:
        await client.upload_file(make(tmp_path))
    assert err.value.field == "file"
    assert_nothing_sent(emu)


async def test_unknown_purpose(client: Client, emu: Emulator) -> None:
    with pytest.raises(ValidationError) as err:
        await client.upload_file(make_wav(12.0), purpose="voice-clone")
    assert err.value.field == "purpose"
    assert_nothing_sent(emu)


# -- RetryPolicy and Client options -------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"attempts": 0}, "RetryPolicy.attempts"),
        ({"attempts": 2.5}, "RetryPolicy.attempts"),
        ({"attempts": True}, "RetryPolicy.attempts"),
        ({"timeout": 0}, "RetryPolicy.timeout"),
        ({"wait_initial": -1}, "RetryPolicy.wait_initial"),
        ({"wait_max": float("nan")}, "RetryPolicy.wait_max"),
        ({"wait_jitter": "1"}, "RetryPolicy.wait_jitter"),
        ({"budget": -0.5}, "RetryPolicy.budget"),
    ],
)
def test_bad_retry_policy(kwargs: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as err:
        RetryPolicy(**kwargs)
    assert err.value.field == field


def test_good_retry_policy() -> None:
    assert RetryPolicy(attempts=1, wait_initial=0, wait_jitter=0, budget=None).attempts == 1
    assert RetryPolicy(timeout=0.5, budget=0).timeout == 0.5
    assert NO_PACING > 0

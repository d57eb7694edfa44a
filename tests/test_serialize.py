"""Results serialize to stable JSON, keep MiniMax's raw answer, and outcomes unwrap."""

from __future__ import annotations

import datetime as dt
import json
import pickle
import traceback
import typing

import pytest
from conftest import KEY, SAMPLE, ok, respond

import voiceclone
from voiceclone import (
    Client,
    CloneJob,
    CloneOutcome,
    CloneRequest,
    CloneResult,
    PreviewInfo,
    SensitiveType,
    UploadedFile,
    ValidationError,
    Voice,
    VoiceIdConflictError,
)
from voiceclone._errors import error_for_status
from voiceclone.emulator import Emulator

WHEN = dt.datetime(2026, 3, 1, 12, 30, tzinfo=dt.timezone.utc)
RESULT_KEYS = [
    "voice_id",
    "demo_audio",
    "input_sensitive",
    "input_sensitive_type",
    "extra_info",
    "trace_id",
    "attempts",
    "recovered",
    "created_at",
    "expires_at",
]


def test_clone_result_to_dict_is_json_ready_with_stable_keys() -> None:
    full = CloneResult(
        "Narrator001",
        demo_audio="https://cdn.example/p.mp3",
        input_sensitive=True,
        input_sensitive_type=SensitiveType.ADVERTISING,
        extra_info=PreviewInfo(audio_length=9120, usage_characters=108),
        trace_id="t1",
        attempts=2,
        created_at=WHEN,
        raw={"base_resp": {"status_code": 0}},
    )
    data = full.to_dict()
    assert list(data) == RESULT_KEYS
    assert json.loads(json.dumps(data)) == data  # nothing that JSON would change
    assert data["input_sensitive_type"] == 3
    assert data["created_at"] == "2026-03-01T12:30:00+00:00"
    assert data["expires_at"] == "2026-03-08T12:30:00+00:00"
    assert data["extra_info"] == {
        "audio_length": 9120,
        "audio_sample_rate": None,
        "audio_size": None,
        "bitrate": None,
        "word_count": None,
        "usage_characters": 108,
    }
    bare = CloneResult("Narrator002", created_at=WHEN).to_dict()
    assert list(bare) == RESULT_KEYS
    assert (bare["demo_audio"], bare["extra_info"], bare["input_sensitive_type"]) == (None, None, 0)


def test_uploaded_file_and_voice_to_dict() -> None:
    big = 2**63 - 1
    up = UploadedFile(big, 1024, WHEN, "narrator.wav", "voice_clone", "t2", raw={"file": {}})
    assert up.to_dict() == {
        "file_id": big,  # exact: no float on the way
        "bytes": 1024,
        "created_at": "2026-03-01T12:30:00+00:00",
        "filename": "narrator.wav",
        "purpose": "voice_clone",
        "trace_id": "t2",
    }
    assert json.loads(json.dumps(up.to_dict()))["file_id"] == big
    assert UploadedFile(5).to_dict()["created_at"] is None
    voice = Voice("Narrator001", "voice_cloning", "2026-03-01", ("warm", "calm"))
    assert json.dumps(voice.to_dict()) == (
        '{"voice_id": "Narrator001", "voice_type": "voice_cloning", "created_time": '
        '"2026-03-01", "description": ["warm", "calm"], "voice_name": null}'
    )


def test_outcome_to_dict_and_unwrap() -> None:
    request = CloneRequest(1, "Narrator001")
    result = CloneResult("Narrator001", created_at=WHEN)
    good = CloneOutcome(0, request, result=result)
    assert good.unwrap() is result
    assert good.to_dict() == {
        "index": 0,
        "voice_id": "Narrator001",
        "ok": True,
        "resumed": False,
        "result": result.to_dict(),
        "error": None,
    }
    error = error_for_status(2039, "voice_id already exists", trace_id="t3", http_status=200)
    bad = CloneOutcome(1, CloneJob("Narrator002", "a.wav"), error=error)
    with pytest.raises(VoiceIdConflictError) as raised:
        bad.unwrap()
    assert raised.value is error
    assert bad.to_dict()["error"] == {
        "type": "VoiceIdConflictError",
        "status_code": 2039,
        "http_status": 200,
        "message": "MiniMax status 2039: voice_id already exists",
        "trace_id": "t3",
    }
    assert bad.to_dict()["voice_id"] == "Narrator002"
    refused = CloneOutcome(2, request, error=ValidationError("requests[2]", "repeats"))
    assert refused.to_dict()["error"] == {
        "type": "ValidationError",
        "status_code": None,
        "http_status": None,
        "message": "requests[2]: repeats",
        "trace_id": None,
    }
    with pytest.raises(ValueError, match="neither"):
        CloneOutcome(3, request).unwrap()


async def test_raw_answers_over_the_wire(client: Client, emu: Emulator) -> None:
    up = await client.upload_file(SAMPLE)
    assert up.raw is not None
    assert up.raw["file"]["file_id"] == up.file_id
    assert up.raw["base_resp"]["status_code"] == 0
    # A field MiniMax may add later is reachable before the SDK names it.
    answer = ok(demo_audio="", input_sensitive=False, voice_tags=["warm"])
    emu.inject(respond(answer))
    result = await client.clone(file_id=up.file_id, voice_id="Narrator001")
    assert result.raw == answer
    await client.clone(file_id=up.file_id, voice_id="Narrator002")
    emu.activate("Narrator002", KEY)
    (voice,) = await client.list_voices()
    assert voice.raw is not None
    assert voice.raw["voice_id"] == "Narrator002"
    # Excluded from repr and equality (and so from hashing).
    assert "raw" not in repr(result)
    twin = CloneResult(
        result.voice_id, trace_id=result.trace_id, created_at=result.created_at, raw=None
    )
    assert twin == result
    assert hash(twin) == hash(result)


def test_exported_classes_report_the_package_as_their_module() -> None:
    classes = [getattr(voiceclone, n) for n in voiceclone.__all__]
    classes = [c for c in classes if isinstance(c, type)]
    assert len(classes) > 30
    for cls in classes:
        assert cls.__module__ == "voiceclone", cls
        typing.get_type_hints(cls)  # annotations still resolve from the new module
    error = error_for_status(1002, "rate limit exceeded(RPM)")
    assert traceback.format_exception_only(error)[0].startswith("voiceclone.RateLimitError: ")


@pytest.mark.parametrize(
    "value",
    [
        CloneResult("Narrator001", extra_info=PreviewInfo(bitrate=1), raw={"a": [1]}),
        UploadedFile(7, created_at=WHEN),
        Voice("Narrator001", "voice_cloning", description=("x",)),
        CloneOutcome(0, CloneRequest(1, "Narrator001"), error=error_for_status(2039, "dup")),
        CloneJob("Narrator001", "a.wav", continuous_sound=True),
        SensitiveType.OTHER,
        voiceclone.RetryPolicy(attempts=2),
        voiceclone.GateStats(60.0, 1, 1),
    ],
    ids=lambda v: type(v).__name__,
)
def test_exported_values_survive_pickling(value: object) -> None:
    copy = pickle.loads(pickle.dumps(value))
    assert type(copy) is type(value)
    if isinstance(value, CloneOutcome):
        assert copy.to_dict() == value.to_dict()
    else:
        assert copy == value

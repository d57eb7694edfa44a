"""Voice endpoints: voice_clone, get_voice, delete_voice."""

from __future__ import annotations

import hashlib
import re
import secrets
from typing import Any

from voiceclone.emulator._files import known_file
from voiceclone.emulator._rules import (
    BASIC_PLAN_KEY_PREFIX,
    BASIC_PLAN_REFUSED_MODELS,
    CLONE_MAX_SECONDS,
    CLONE_MIN_SECONDS,
    LANGUAGE_BOOSTS,
    MODELS,
    PROMPT_MAX_SECONDS,
    TEXT_MAX_CHARS,
    TEXT_VALIDATION_MAX_CHARS,
    VOICE_ID_RE,
    ApiError,
    as_file_id,
    invalid,
    json_object,
)
from voiceclone.emulator._state import Call, Preview, StoredFile, StoredVoice, World

__all__ = ["PREVIEW_SAMPLE_RATE", "SYSTEM_VOICES", "clone_voice", "delete_voice", "get_voice"]

PREVIEW_SAMPLE_RATE = 16000

#: The fixed system voices ``get_voice`` lists.
SYSTEM_VOICES: tuple[dict[str, Any], ...] = (
    {
        "voice_id": "English_Graceful_Lady",
        "voice_name": "Graceful Lady",
        "description": ["A warm, composed adult female voice with clear articulation."],
        "created_time": "1970-01-01",
    },
    {
        "voice_id": "Chinese (Mandarin)_News_Anchor",
        "voice_name": "News Anchor",
        "description": ["A professional middle-aged female news anchor, standard Mandarin."],
        "created_time": "1970-01-01",
    },
)

_BOOL_FIELDS = (
    "need_noise_reduction",
    "need_volume_normalization",
    "aigc_watermark",
    # Documented for the speech-2.8 models; the API does not refuse it with others.
    "continuous_sound",
)
_WORD = re.compile(r"[^\W_]+|[\u3400-\u9fff]")
# Content triggers that let tests reach the moderation paths deterministically.
_FLAGGED_WORD = re.compile(r"\bFLAGGED\b")
_SENSITIVE_PREFIX = "sensitive"


def _audio_file(call: Call, raw: Any, field: str, purpose: str) -> StoredFile:
    # The clone endpoint answers an unknown sample with 20132, not the files' 2013.
    stored = known_file(call, raw, field=field, missing=ApiError(20132))
    if stored.purpose != purpose:
        raise invalid(f"{field} must be a file uploaded with purpose {purpose}")
    return stored


def _check_options(request: dict[str, Any]) -> tuple[str | None, str | None]:
    """Validate the optional fields; return (text, model)."""
    text = request.get("text")
    model = request.get("model")
    if text is not None:
        if not isinstance(text, str):
            raise invalid("text must be a string")
        if len(text) > TEXT_MAX_CHARS:
            raise invalid(f"text exceeds {TEXT_MAX_CHARS} characters")
        if model is None:
            raise invalid("model is required when text is set")
    if model is not None and model not in MODELS:
        raise invalid(f"model must be one of {', '.join(sorted(MODELS))}")
    boost = request.get("language_boost")
    if boost is not None and boost not in LANGUAGE_BOOSTS:
        raise invalid("language_boost is not a supported value")
    validation = request.get("text_validation")
    if validation is not None and (
        not isinstance(validation, str) or len(validation) > TEXT_VALIDATION_MAX_CHARS
    ):
        raise invalid(f"text_validation must be a string of at most {TEXT_VALIDATION_MAX_CHARS}")
    accuracy = request.get("accuracy")
    if accuracy is not None and (
        isinstance(accuracy, bool)
        or not isinstance(accuracy, (int, float))
        or not 0.0 <= accuracy <= 1.0
    ):
        raise invalid("accuracy must be a number between 0 and 1")
    for name in _BOOL_FIELDS:
        if name in request and not isinstance(request[name], bool):
            raise invalid(f"{name} must be a boolean")
    return text, model


def _preview(world: World, call: Call, voice_id: str, text: str) -> tuple[str, dict[str, Any]]:
    digest = hashlib.sha256(voice_id.encode()).digest()
    preview = Preview(
        seconds=round(min(2.0, max(1.0, len(text) * 0.06)), 2),
        pitch_hz=100.0 + digest[0] % 120,
        seed=int.from_bytes(digest[1:5], "big"),
    )
    token = secrets.token_hex(16)
    world.previews[token] = preview
    n_samples = round(preview.seconds * PREVIEW_SAMPLE_RATE)
    extra_info = {
        "audio_length": round(preview.seconds * 1000),
        "audio_sample_rate": PREVIEW_SAMPLE_RATE,
        "audio_size": 44 + 2 * n_samples,
        "bitrate": PREVIEW_SAMPLE_RATE * 16,
        "word_count": len(_WORD.findall(text)),
        "usage_characters": len(text),
    }
    return f"{call.origin}/previews/{token}.wav", extra_info


def parse_clone_voice_id(body_json: Any) -> str | None:
    """The voice_id of a clone request if it has a string one (for per-voice counters)."""
    if isinstance(body_json, dict):
        voice_id = body_json.get("voice_id")
        if isinstance(voice_id, str):
            return voice_id
    return None


def clone_voice(world: World, call: Call) -> dict[str, Any]:
    """``POST /voice_clone``: validate as the API does, then create the voice."""
    request = json_object(call.body.json)
    if "file_id" not in request:
        raise invalid("file_id is required")
    if as_file_id(request["file_id"]) is None:
        raise invalid("file_id must be an integer")
    voice_id = request.get("voice_id")
    if voice_id is None:
        raise invalid("voice_id is required")
    if not isinstance(voice_id, str) or VOICE_ID_RE.fullmatch(voice_id) is None:
        raise invalid(
            "voice_id must be 8-256 characters, start with a letter, contain only "
            "letters, digits, '-' and '_', and not end with '-' or '_'"
        )
    sample = _audio_file(call, request["file_id"], "file_id", "voice_clone")
    prompt = None
    clone_prompt = request.get("clone_prompt")
    if clone_prompt is not None:
        if not isinstance(clone_prompt, dict):
            raise invalid("clone_prompt must be an object")
        if "prompt_audio" not in clone_prompt or "prompt_text" not in clone_prompt:
            raise invalid("clone_prompt requires prompt_audio and prompt_text")
        if not isinstance(clone_prompt["prompt_text"], str) or not clone_prompt["prompt_text"]:
            raise invalid("clone_prompt.prompt_text must be a non-empty string")
        prompt = _audio_file(
            call, clone_prompt["prompt_audio"], "clone_prompt.prompt_audio", "prompt_audio"
        )
    text, model = _check_options(request)
    if model in BASIC_PLAN_REFUSED_MODELS and call.account.api_key.startswith(
        BASIC_PLAN_KEY_PREFIX
    ):
        raise ApiError(2061)

    duration = sample.audio.duration if sample.audio else None
    if duration is None:
        raise ApiError(1000, "unknown error: the voice sample could not be decoded")
    if not CLONE_MIN_SECONDS <= duration <= CLONE_MAX_SECONDS:
        raise ApiError(2037)
    if prompt is not None:
        prompt_duration = prompt.audio.duration if prompt.audio else None
        if prompt_duration is None:
            raise ApiError(1000, "unknown error: the prompt audio could not be decoded")
        if prompt_duration >= PROMPT_MAX_SECONDS:
            raise ApiError(2048)
    if voice_id in call.account.voices:
        raise ApiError(2039)
    if text is not None and _FLAGGED_WORD.search(text):
        raise ApiError(1026)

    sensitive_type = 3 if sample.filename.startswith(_SENSITIVE_PREFIX) else 0
    answer: dict[str, Any] = {
        "input_sensitive": sensitive_type != 0,
        "input_sensitive_type": sensitive_type,
        "demo_audio": "",
    }
    preview_url = ""
    if text is not None and model is not None:
        preview_url, answer["extra_info"] = _preview(world, call, voice_id, text)
        answer["demo_audio"] = preview_url
    call.account.voices[voice_id] = StoredVoice(
        voice_id=voice_id,
        file_id=sample.file_id,
        created_at=call.now,
        preview_url=preview_url,
        prompt_file_id=prompt.file_id if prompt else None,
        text=text,
        model=model,
        input_sensitive_type=sensitive_type,
    )
    call.account.clone_successes[voice_id] += 1
    return answer


def get_voice(world: World, call: Call) -> dict[str, Any]:
    """``POST /get_voice``: system voices, and cloned voices once activated."""
    request = call.body.json
    voice_type = request.get("voice_type") if isinstance(request, dict) else None
    if voice_type not in ("system", "voice_cloning", "voice_generation", "all"):
        raise invalid("voice_type must be one of system, voice_cloning, voice_generation, all")
    answer: dict[str, Any] = {}
    if voice_type in ("system", "all"):
        answer["system_voice"] = [dict(v) for v in SYSTEM_VOICES]
    if voice_type in ("voice_cloning", "all"):
        cloned = [
            {"voice_id": v.voice_id, "description": [], "created_time": v.created_time}
            for v in call.account.voices.values()
            if v.activated
        ]
        # The real service serialises an empty list as null.
        answer["voice_cloning"] = cloned or None
    if voice_type in ("voice_generation", "all"):
        answer["voice_generation"] = None
    return answer


def delete_voice(world: World, call: Call) -> dict[str, Any]:
    """``POST /delete_voice``: remove a cloned voice; its id can then be used again."""
    request = json_object(call.body.json)
    voice_type = request.get("voice_type")
    if voice_type not in ("voice_cloning", "voice_generation"):
        raise invalid("voice_type must be voice_cloning or voice_generation")
    voice_id = request.get("voice_id")
    if not isinstance(voice_id, str) or not voice_id:
        raise invalid("voice_id is required")
    voice = call.account.voices.get(voice_id) if voice_type == "voice_cloning" else None
    if voice is None:
        raise invalid("voice not found")
    del call.account.voices[voice_id]
    return {"voice_id": voice_id, "created_time": voice.created_time}

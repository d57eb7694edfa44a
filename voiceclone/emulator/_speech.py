"""Speech: ``POST /v1/t2a_v2``, and the 7-day rule it keeps clones alive under.

A synthesis with a cloned voice activates it (``get_voice`` lists it from then on,
and the 7-day deletion no longer applies); a voice that does not exist, or was
deleted for want of use, is answered 20132 ("invalid samples or voice_id"), the
code MiniMax's error page gives for a T2A ``voice_id``. The answer's audio is
rendered by `_speech_audio`; with ``stream`` the app sends it as server-sent
events (see `stream_events`).
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import secrets
from collections.abc import Iterator
from typing import Any, Final

from voiceclone.emulator._rules import (
    LANGUAGE_BOOSTS,
    MODELS,
    SPEECH_BITRATES,
    SPEECH_CHANNELS,
    SPEECH_EMOTIONS,
    SPEECH_FORMATS,
    SPEECH_SAMPLE_RATES,
    SPEECH_TEXT_MAX_CHARS,
    VOICE_TTL_SECONDS,
    ApiError,
    invalid,
    json_object,
)
from voiceclone.emulator._speech_audio import PAUSE, render_speech
from voiceclone.emulator._state import Call, World
from voiceclone.emulator._voices import SYSTEM_VOICES

__all__ = ["STREAM_CHUNK_BYTES", "expire_voices", "stream_events", "synthesize"]

#: Audio bytes per streamed event (MiniMax sends chunks of a few kilobytes).
STREAM_CHUNK_BYTES: Final = 8192
#: Rendered speech kept for ``output_format="url"`` downloads, newest last.
KEPT_DOWNLOADS: Final = 64
_SYSTEM_IDS: Final = frozenset(v["voice_id"] for v in SYSTEM_VOICES)
_FLAGGED_WORD = re.compile(r"\bFLAGGED\b")
_CONTENT_TYPES: Final = {
    "mp3": "audio/mpeg",
    "wav": "audio/wav",
    "flac": "audio/flac",
    "pcm": "application/octet-stream",
}


def expire_voices(world: World, now: int) -> None:
    """Delete every clone not activated within `VOICE_TTL_SECONDS` of its creation."""
    for account in world.accounts.values():
        expired = [
            voice_id
            for voice_id, voice in account.voices.items()
            if not voice.activated and now - voice.created_at >= VOICE_TTL_SECONDS
        ]
        for voice_id in expired:
            del account.voices[voice_id]
            account.expired.add(voice_id)


def _number(
    setting: dict[str, Any], key: str, default: float, low: float, high: float, *,
    low_open: bool = False, integer: bool = False,
) -> float:  # fmt: skip
    value = setting.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise invalid(f"{key} must be a number")
    if integer and value != int(value):
        raise invalid(f"{key} must be an integer")
    if not (low < value if low_open else low <= value) or value > high:
        raise invalid(f"{key} out of range")
    return float(value)


def _choice(setting: dict[str, Any], key: str, default: Any, allowed: frozenset[Any]) -> Any:
    value = setting.get(key, default)
    if isinstance(value, bool) or value not in allowed:
        raise invalid(f"{key} must be one of {sorted(allowed)}")
    return value


def _object(request: dict[str, Any], key: str) -> dict[str, Any]:
    value = request.get(key) or {}
    if not isinstance(value, dict):
        raise invalid(f"{key} must be an object")
    return value


def _voices(call: Call, voice_setting: dict[str, Any], request: dict[str, Any]) -> list[str]:
    """The voices the request speaks with: ``voice_id``, or the ``timbre_weights`` mix."""
    weights = request.get("timbre_weights")
    if weights is not None:
        if not isinstance(weights, list) or not 1 <= len(weights) <= 4:
            raise invalid("timbre_weights must list 1 to 4 voices")
        ids = []
        for item in weights:
            if not isinstance(item, dict) or not isinstance(item.get("voice_id"), str):
                raise invalid("timbre_weights items need a voice_id")
            weight = item.get("weight")
            if isinstance(weight, bool) or not isinstance(weight, int) or not 1 <= weight <= 100:
                raise invalid("timbre_weights weight must be an integer from 1 to 100")
            ids.append(item["voice_id"])
    else:
        voice_id = voice_setting.get("voice_id")
        if not isinstance(voice_id, str) or not voice_id:
            raise invalid("voice_setting.voice_id is required")
        ids = [voice_id]
    for voice_id in ids:
        if voice_id not in _SYSTEM_IDS and voice_id not in call.account.voices:
            raise ApiError(20132)
    return ids


def synthesize(world: World, call: Call) -> dict[str, Any]:
    """``POST /t2a_v2``: speech for ``text``, with ``extra_info``; activates the voices used."""
    request = json_object(call.body.json)
    model = request.get("model")
    if model not in MODELS:
        raise invalid(f"model must be one of {', '.join(sorted(MODELS))}")
    text = request.get("text")
    if not isinstance(text, str) or not text.strip():
        raise invalid("text is required")
    if len(text) >= SPEECH_TEXT_MAX_CHARS:
        raise invalid(f"text must be under {SPEECH_TEXT_MAX_CHARS} characters")
    for mark in PAUSE.findall(text):
        if not re.fullmatch(r"\d+(\.\d+)?", mark) or not 0.01 <= float(mark) <= 99.99:
            raise invalid("a pause mark must be <#x#> with x from 0.01 to 99.99 seconds")
    stream = request.get("stream", False)
    if not isinstance(stream, bool):
        raise invalid("stream must be a boolean")
    voice_setting = _object(request, "voice_setting")
    audio_setting = _object(request, "audio_setting")
    speed = _number(voice_setting, "speed", 1.0, 0.5, 2.0)
    _number(voice_setting, "vol", 1.0, 0.0, 10.0, low_open=True)
    _number(voice_setting, "pitch", 0, -12, 12, integer=True)
    if "emotion" in voice_setting:
        _choice(voice_setting, "emotion", None, SPEECH_EMOTIONS)
    sample_rate = _choice(audio_setting, "sample_rate", 32000, SPEECH_SAMPLE_RATES)
    bitrate = _choice(audio_setting, "bitrate", 128000, SPEECH_BITRATES)
    audio_format = _choice(audio_setting, "format", "mp3", SPEECH_FORMATS)
    channels = _choice(audio_setting, "channel", 1, SPEECH_CHANNELS)
    if stream and audio_format == "wav":
        raise invalid("wav is not supported in streaming mode")
    output_format = request.get("output_format", "hex")
    if output_format not in ("hex", "url"):
        raise invalid("output_format must be hex or url")
    if stream and output_format == "url":
        raise invalid("output_format url is not supported in streaming mode")
    boost = request.get("language_boost")
    if boost is not None and boost not in LANGUAGE_BOOSTS:
        raise invalid("language_boost is not supported")
    voices = _voices(call, voice_setting, request)
    if _FLAGGED_WORD.search(text):
        raise ApiError(1026)
    for voice_id in voices:  # a real synthesis: the clone is kept from now on
        voice = call.account.voices.get(voice_id)
        if voice is not None and not voice.activated:
            voice.activated = True
            voice.activated_at = call.now
    call.account.characters_billed += len(text)
    digest = hashlib.sha256("\0".join(voices).encode()).digest()
    audio = render_speech(
        text,
        pitch_hz=110.0 + digest[0] % 120,
        seed=int.from_bytes(digest[1:5], "big"),
        speed=speed,
        format=audio_format,
        sample_rate=sample_rate,
        bitrate=bitrate,
        channels=channels,
    )
    if output_format == "url":
        token = secrets.token_urlsafe(12)
        world.speech_downloads[token] = (audio.data, _CONTENT_TYPES[audio_format])
        while len(world.speech_downloads) > KEPT_DOWNLOADS:
            del world.speech_downloads[next(iter(world.speech_downloads))]
        shown = f"{call.origin}/speech/{token}.{audio_format}"
    else:
        shown = audio.data.hex()
    return {
        "data": {"audio": shown, "status": 2, "subtitle_file": ""},
        "extra_info": {
            "audio_length": audio.length_ms,
            "audio_sample_rate": audio.sample_rate,
            "audio_size": len(audio.data),
            "bitrate": audio.bitrate,
            "word_count": len(re.findall(r"\w+", text)),
            "invisible_character_ratio": 0,
            "usage_characters": len(text),
            "audio_format": audio_format,
            "audio_channel": audio.channels,
        },
        "trace_id": "",
    }


def stream_events(answer: dict[str, Any], *, aggregated: bool) -> Iterator[bytes]:
    """A successful answer as MiniMax streams it: ``data:`` events of hex chunks.

    Each chunk event has ``data.status`` 1; the last has status 2, ``extra_info``
    and, unless ``aggregated`` is false, the whole audio again.
    """
    audio = bytes.fromhex(answer["data"]["audio"])
    base = answer["base_resp"]
    for start in range(0, len(audio), STREAM_CHUNK_BYTES):
        chunk = audio[start : start + STREAM_CHUNK_BYTES]
        event = {"data": {"audio": chunk.hex(), "status": 1}, "trace_id": answer["trace_id"],
                 "base_resp": base}  # fmt: skip
        yield b"data: " + json.dumps(event).encode() + b"\n\n"
    final = {
        "data": {"audio": audio.hex() if aggregated else "", "status": 2},
        "extra_info": answer["extra_info"],
        "trace_id": answer["trace_id"],
        "base_resp": base,
    }
    yield b"data: " + json.dumps(final).encode() + b"\n\n"

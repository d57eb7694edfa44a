"""The API's limits, enums and status messages, and the error that carries a status code.

These restate the published API on purpose rather than import the SDK's own
checks (`voiceclone._validate`): the emulator stands in for the server, and a
mistake shared by both sides would pass every test.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = [
    "AUDIO_PURPOSES",
    "BASIC_PLAN_KEY_PREFIX",
    "BASIC_PLAN_REFUSED_MODELS",
    "CLONE_MAX_SECONDS",
    "CLONE_MIN_SECONDS",
    "DELETE_PURPOSES",
    "LANGUAGE_BOOSTS",
    "LIST_PURPOSES",
    "MAX_UPLOAD_BYTES",
    "MODELS",
    "PROMPT_MAX_SECONDS",
    "SPEECH_BITRATES",
    "SPEECH_CHANNELS",
    "SPEECH_EMOTIONS",
    "SPEECH_FORMATS",
    "SPEECH_SAMPLE_RATES",
    "SPEECH_TEXT_MAX_CHARS",
    "TEXT_MAX_CHARS",
    "TEXT_VALIDATION_MAX_CHARS",
    "UPLOAD_PURPOSES",
    "VOICE_ID_RE",
    "VOICE_TTL_SECONDS",
    "ApiError",
    "as_file_id",
    "invalid",
    "json_object",
    "status_message",
]

MAX_UPLOAD_BYTES = 20 * 1024 * 1024
CLONE_MIN_SECONDS = 10.0
CLONE_MAX_SECONDS = 300.0
PROMPT_MAX_SECONDS = 8.0
TEXT_MAX_CHARS = 1000
TEXT_VALIDATION_MAX_CHARS = 200

# Text to speech (``/t2a_v2``), as MiniMax's T2A HTTP reference states it.
SPEECH_TEXT_MAX_CHARS = 10_000
SPEECH_SAMPLE_RATES = frozenset({8000, 16000, 22050, 24000, 32000, 44100})
SPEECH_BITRATES = frozenset({32000, 64000, 128000, 256000})
SPEECH_FORMATS = frozenset({"mp3", "pcm", "flac", "wav"})
SPEECH_CHANNELS = frozenset({1, 2})
SPEECH_EMOTIONS = frozenset(
    {"happy", "sad", "angry", "fearful", "disgusted", "surprised", "calm", "fluent", "whisper"}
)
#: A clone not used for real speech within this many seconds is deleted.
VOICE_TTL_SECONDS = 7 * 24 * 3600

VOICE_ID_RE = re.compile(r"[A-Za-z][A-Za-z0-9_-]{6,254}[A-Za-z0-9]")

UPLOAD_PURPOSES = frozenset(
    {
        "voice_clone",
        "prompt_audio",
        "t2a_async_input",
        "video_understanding",
        "video_generation_input",
    }
)
AUDIO_PURPOSES = frozenset({"voice_clone", "prompt_audio"})
LIST_PURPOSES = frozenset(
    {"voice_clone", "prompt_audio", "t2a_async_input", "video_generation_input"}
)
DELETE_PURPOSES = frozenset(
    {"voice_clone", "prompt_audio", "t2a_async", "t2a_async_input", "video_generation"}
)

MODELS = frozenset(
    {
        "speech-2.8-hd",
        "speech-2.8-turbo",
        "speech-2.6-hd",
        "speech-2.6-turbo",
        "speech-02-hd",
        "speech-02-turbo",
        "speech-01-hd",
        "speech-01-turbo",
    }
)

#: An account whose API key starts with this is on a plan without the newest models:
#: a clone with one of `BASIC_PLAN_REFUSED_MODELS` is answered 2061, so tests can
#: reach "model not available on the account's plan" without a fault.
BASIC_PLAN_KEY_PREFIX = "basic-plan-"
BASIC_PLAN_REFUSED_MODELS = frozenset({"speech-2.8-hd", "speech-2.8-turbo"})

LANGUAGE_BOOSTS = frozenset(
    {
        "Chinese",
        "Chinese,Yue",
        "English",
        "Arabic",
        "Russian",
        "Spanish",
        "French",
        "Portuguese",
        "German",
        "Turkish",
        "Dutch",
        "Ukrainian",
        "Vietnamese",
        "Indonesian",
        "Japanese",
        "Italian",
        "Korean",
        "Thai",
        "Polish",
        "Romanian",
        "Greek",
        "Czech",
        "Finnish",
        "Hindi",
        "Bulgarian",
        "Danish",
        "Hebrew",
        "Malay",
        "Persian",
        "Slovak",
        "Swedish",
        "Croatian",
        "Filipino",
        "Hungarian",
        "Norwegian",
        "Slovenian",
        "Catalan",
        "Nynorsk",
        "Tamil",
        "Afrikaans",
        "auto",
    }
)

_MESSAGES = {
    0: "success",
    1000: "unknown error",
    1001: "request timeout",
    1002: "rate limit exceeded(RPM)",
    1004: "authentication failed",
    1008: "insufficient balance",
    1013: "internal service error",
    1024: "internal error",
    1026: "input new_sensitive",
    1027: "output new_sensitive",
    1028: "quota exhausted",
    1030: "quota exhausted",
    1033: "system error",
    1039: "rate limit exceeded(TPM)",
    1041: "conn limit",
    1042: "illegal characters exceed limit",
    1043: "The asr similarity check failed",
    1044: "The clone prompt similarity check failed",
    2013: "invalid params",
    20132: "invalid samples or voice_id",
    2037: "voice duration too short or too long",
    2038: "no cloning permission",
    2039: "voice_id already exists",
    2042: "no access to this voice_id",
    2045: "rate growth limit exceeded",
    2048: "prompt audio too long",
    2049: "invalid api key",
    2056: "usage limit exceeded",
    2061: "model not supported by your plan",
}


def status_message(code: int) -> str:
    """The message the API sends with ``code``."""
    return _MESSAGES.get(code, "error")


class ApiError(Exception):
    """A request the API answers with a non-zero ``base_resp.status_code``."""

    def __init__(self, code: int, msg: str | None = None) -> None:
        self.code = code
        self.msg = msg if msg is not None else status_message(code)
        super().__init__(code, self.msg)


def invalid(problem: str) -> ApiError:
    """A 2013 error naming the offending parameter."""
    return ApiError(2013, f"invalid params, {problem}")


def json_object(body: Any) -> dict[str, Any]:
    """A request's JSON body, which the API wants to be an object (2013 if not)."""
    if not isinstance(body, dict):
        raise invalid("body must be a JSON object")
    return body


def as_file_id(value: Any) -> int | None:
    """A file id from JSON or a query string: an int or a numeric string; else ``None``."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isascii() and value.isdigit():
        return int(value)
    return None

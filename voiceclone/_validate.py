"""Checks that run before any request is sent.

Every check raises `ValidationError` naming the field, so a batch of 500 voices
fails on the bad row at once instead of after an upload, a clone fee, or a
round trip to the server. The rules are MiniMax's (minimax-api.md, section 2).
"""

from __future__ import annotations

import logging
import math
import os
import re
import threading
import unicodedata
from pathlib import Path
from typing import Final, Literal, get_args
from urllib.parse import urlsplit

from ._audio import AUDIO_FORMATS, AudioInfo, probe_bytes, probe_file
from ._errors import ValidationError

__all__ = [
    "DEFAULT_MODEL",
    "LANGUAGE_BOOSTS",
    "MAX_UPLOAD_BYTES",
    "MODELS",
    "PURPOSES",
    "FilePurpose",
    "SpeechModel",
    "check_accuracy",
    "check_audio",
    "check_bool",
    "check_file_id",
    "check_language_boost",
    "check_model",
    "check_number",
    "check_prompt_text",
    "check_purpose",
    "check_text",
    "check_text_validation",
    "check_voice_id",
    "check_voice_type",
    "is_http_url",
]

VOICE_ID_PATTERN: Final = re.compile(r"[A-Za-z][A-Za-z0-9_-]{6,254}[A-Za-z0-9]")

logger = logging.getLogger("voiceclone")

SpeechModel = Literal[
    "speech-2.8-hd",
    "speech-2.8-turbo",
    "speech-2.6-hd",
    "speech-2.6-turbo",
    "speech-02-hd",
    "speech-02-turbo",
    "speech-01-hd",
    "speech-01-turbo",
]
"""The speech models MiniMax documents, newest first (the first is the CLI's default).

For type checkers: ``model`` parameters take ``SpeechModel | str``, so an editor
offers these names and a model MiniMax released since still type-checks (it is
sent with one WARNING per name).
"""
#: `SpeechModel`'s names. A model not among them is sent as given, with one WARNING
#: per name: MiniMax adds models faster than an SDK is released, and the server is
#: the judge of what it serves (it answers 2013 for a model it does not know).
MODELS: Final[tuple[str, ...]] = get_args(SpeechModel)
#: The model the CLI reads a preview with when none is given.
DEFAULT_MODEL: Final = MODELS[0]
#: What a model name looks like; anything else is refused before sending.
_MODEL_NAME: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_unknown_models_told: set[str] = set()
_unknown_models_lock = threading.Lock()

LANGUAGE_BOOSTS: Final = (
    "auto", "Chinese", "Chinese,Yue", "English", "Arabic", "Russian", "Spanish",
    "French", "Portuguese", "German", "Turkish", "Dutch", "Ukrainian", "Vietnamese",
    "Indonesian", "Japanese", "Italian", "Korean", "Thai", "Polish", "Romanian",
    "Greek", "Czech", "Finnish", "Hindi", "Bulgarian", "Danish", "Hebrew", "Malay",
    "Persian", "Slovak", "Swedish", "Croatian", "Filipino", "Hungarian", "Norwegian",
    "Slovenian", "Catalan", "Nynorsk", "Tamil", "Afrikaans",
)  # fmt: skip

FilePurpose = Literal[
    "voice_clone",
    "prompt_audio",
    "t2a_async_input",
    "video_understanding",
    "video_generation_input",
]
"""Upload purposes the files endpoint knows; only the first two are audio for cloning.

Unlike models, an unknown purpose is refused before sending: the endpoint's list
is closed.
"""
PURPOSES: Final[tuple[str, ...]] = get_args(FilePurpose)

#: What get_voice lists, and the kinds of voice delete_voice can remove.
VOICE_TYPES: Final = ("system", "voice_cloning", "voice_generation", "all")
DELETABLE_VOICE_TYPES: Final = ("voice_cloning", "voice_generation")

MAX_TEXT_CHARS: Final = 1000
MAX_TEXT_VALIDATION_CHARS: Final = 200
MAX_UPLOAD_BYTES: Final = 20 * 1024 * 1024
INT64_MAX: Final = 2**63 - 1

#: Allowed duration, in seconds, of audio uploaded for each cloning purpose:
#: (inclusive minimum, maximum, whether the maximum itself is allowed).
DURATION_LIMITS: Final = {
    "voice_clone": (10.0, 300.0, True),
    "prompt_audio": (0.0, 8.0, False),
}


def check_voice_id(value: object, field: str = "voice_id") -> str:
    if not isinstance(value, str):
        raise ValidationError(field, f"must be a string, got {type(value).__name__}")
    if not 8 <= len(value) <= 256:
        raise ValidationError(field, f"must be 8 to 256 characters long, got {len(value)}")
    if not value[0].isascii() or not value[0].isalpha():
        raise ValidationError(field, "must start with a letter (A-Z or a-z)")
    if value[-1] in "-_":
        raise ValidationError(field, "must not end with '-' or '_'")
    if not VOICE_ID_PATTERN.fullmatch(value):
        raise ValidationError(field, "may contain only letters, digits, '-' and '_'")
    return value


def check_file_id(value: object, field: str = "file_id") -> int:
    # bool is an int subclass: True would go out as file_id 1.
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError(field, f"must be an int file id, got {type(value).__name__}")
    if not 0 < value <= INT64_MAX:
        raise ValidationError(field, "must be a positive 64-bit integer")
    return value


def _check_str(value: object, field: str, limit: int) -> str:
    if not isinstance(value, str):
        raise ValidationError(field, f"must be a string, got {type(value).__name__}")
    if not value.strip():
        raise ValidationError(field, "must not be empty (omit it instead)")
    if len(value) > limit:
        raise ValidationError(field, f"must be at most {limit} characters, got {len(value)}")
    return value


def check_text(value: object, field: str = "text") -> str:
    return _check_str(value, field, MAX_TEXT_CHARS)


def check_text_validation(value: object, field: str = "text_validation") -> str:
    return _check_str(value, field, MAX_TEXT_VALIDATION_CHARS)


def check_prompt_text(value: object, field: str = "prompt_text") -> str:
    text = _check_str(value, field, MAX_TEXT_CHARS)
    # MiniMax compares the transcript with the prompt audio and wants a sentence end.
    if not unicodedata.category(text.rstrip()[-1]).startswith("P"):
        raise ValidationError(field, "must end with punctuation, e.g. '.' or '。'")
    return text


def _check_choice(value: object, field: str, choices: tuple[str, ...]) -> str:
    if not isinstance(value, str) or value not in choices:
        shown = ", ".join(choices[:8]) + (", ..." if len(choices) > 8 else "")
        raise ValidationError(field, f"must be one of {shown}; got {value!r}")
    return value


def check_model(value: object, field: str = "model") -> str:
    """A model name: a known one, or any well-formed name (told once, then sent)."""
    if not isinstance(value, str) or not _MODEL_NAME.fullmatch(value):
        raise ValidationError(
            field, f"must be a model name such as {', '.join(MODELS[:4])}, ...; got {value!r}"
        )
    if value not in MODELS and value.lower() in MODELS:
        raise ValidationError(field, f"model names are lower case: did you mean {value.lower()!r}?")
    if value not in MODELS:
        with _unknown_models_lock:
            first = value not in _unknown_models_told
            _unknown_models_told.add(value)
        if first:
            logger.warning(
                "model %r is not one this version of voiceclone knows (%s, ...): it is sent "
                "as given and MiniMax decides (2013 if it does not serve it)",
                value,
                ", ".join(MODELS[:2]),
            )
    return value


def check_language_boost(value: object, field: str = "language_boost") -> str:
    return _check_choice(value, field, LANGUAGE_BOOSTS)


def check_purpose(value: object, field: str = "purpose") -> str:
    return _check_choice(value, field, PURPOSES)


def check_voice_type(value: object, choices: tuple[str, ...] = VOICE_TYPES) -> str:
    return _check_choice(value, "voice_type", choices)


def check_accuracy(value: object, field: str = "accuracy") -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValidationError(field, f"must be a number, got {type(value).__name__}")
    if math.isnan(value) or not 0.0 <= value <= 1.0:
        raise ValidationError(field, f"must be between 0 and 1, got {value!r}")
    return float(value)


def check_number(
    value: object, field: str, *, positive: bool = False, integer: bool = False
) -> float:
    """A number (an int if ``integer``), > 0 if ``positive`` else >= 0; never a bool or NaN."""
    kinds = (int,) if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kinds):
        kind = "an int" if integer else "a number"
        raise ValidationError(field, f"must be {kind}, got {value!r}")
    if not math.isfinite(value):  # NaN fails every comparison; infinity overflows later
        raise ValidationError(field, f"must be a finite number, got {value!r}")
    if not (value > 0 if positive else value >= 0):
        raise ValidationError(field, f"must be {'> 0' if positive else '>= 0'}, got {value!r}")
    return value


def check_bool(value: object, field: str) -> bool:
    if not isinstance(value, bool):
        raise ValidationError(field, f"must be True or False, got {type(value).__name__}")
    return value


def check_audio(
    source: str | os.PathLike[str] | bytes, purpose: str, field: str = "file"
) -> AudioInfo:
    """Check an audio sample (a path or bytes) against the limits of ``purpose``.

    Reads only the header of a file on disk. Returns what was learned so callers
    can report size and duration.
    """
    if isinstance(source, (bytes, bytearray, memoryview)):
        info = probe_bytes(bytes(source))
    elif isinstance(source, (str, os.PathLike)):
        path = Path(source)
        try:
            # is_file() itself raises for some paths (a name too long, for one).
            if not path.is_file():
                problem = "is a directory" if path.is_dir() else "does not exist"
                raise ValidationError(field, f"{os.fspath(path)!r} {problem}")
            info = probe_file(path)
        except OSError as exc:
            raise ValidationError(
                field, f"cannot read {os.fspath(path)!r}: {exc.strerror}"
            ) from None
    else:
        raise ValidationError(
            field, f"must be a path (str or os.PathLike) or bytes, got {type(source).__name__}"
        )
    if info.size == 0:
        raise ValidationError(field, "is empty")
    if info.size > MAX_UPLOAD_BYTES:
        raise ValidationError(
            field, f"is {info.size} bytes; the limit is 20 MB ({MAX_UPLOAD_BYTES})"
        )
    if purpose not in DURATION_LIMITS:
        return info
    if info.format not in AUDIO_FORMATS:
        raise ValidationError(field, "is not mp3, m4a or wav audio (checked by content)")
    if info.duration is None:
        raise ValidationError(field, f"is {info.format} but its duration cannot be read")
    low, high, high_allowed = DURATION_LIMITS[purpose]
    too_long = info.duration > high or (info.duration == high and not high_allowed)
    if info.duration < low or too_long:
        bounds = f"{low:g} s to {high:g} s" if low else f"under {high:g} s"
        raise ValidationError(
            field, f"lasts {info.duration:.1f} s; {purpose} audio must last {bounds}"
        )
    return info


def is_http_url(value: str) -> bool:
    """Whether ``value`` is an http(s) URL (one that does not even parse is not)."""
    try:
        return urlsplit(value).scheme in ("http", "https")
    except ValueError:  # "http://[::1", say
        return False

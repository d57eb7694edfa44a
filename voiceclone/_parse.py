"""Reading MiniMax's JSON answers into result types.

Tolerant where MiniMax is inconsistent (ids as numbers or numeric strings,
``input_sensitive`` as a boolean or as the ``{type: int}`` object the published
schema describes, arrays that are ``null``), strict where a wrong value would
mislead: anything unusable raises `ResponseFormatError`, never a ``KeyError`` or
``TypeError`` from deep inside. The one exception is the sensitivity flag, which
fails closed: unreadable means flagged (see `parse_sensitivity`).
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Mapping
from typing import Any, Final

from ._errors import ResponseFormatError
from ._models import (
    PREVIEW_FIELDS,
    SENSITIVE_CODES,
    CloneResult,
    PreviewInfo,
    SensitiveType,
    UploadedFile,
    Voice,
)
from ._speech import FORMATS as SPEECH_FORMATS
from ._speech import Speech
from ._validate import is_http_url

__all__ = [
    "int64",
    "parse_clone_result",
    "parse_sensitivity",
    "parse_speech",
    "parse_speech_event",
    "parse_uploaded_file",
    "parse_voices",
    "traced",
]

_INT64_MAX = 2**63 - 1
# ASCII only: str.isdigit() also admits "²", and lstrip("-") admitted "--5".
_DECIMAL = re.compile(r"-?[0-9]+")
# Longer numeric strings cannot be an int64 figure (and int() refuses huge ones anyway).
_MAX_NUMBER_CHARS = 32


def int64(value: object, where: str) -> int:
    """An int64 sent as a JSON number or a numeric string, exactly (never via float)."""
    if isinstance(value, int) and not isinstance(value, bool):
        result = value
    elif isinstance(value, str) and _DECIMAL.fullmatch(value.strip()):
        # Anything longer than 20 characters is out of range (and may pass int()'s limit).
        result = int(value) if len(value.strip()) <= 20 else _INT64_MAX + 1
    else:
        raise ResponseFormatError(f"unreadable response: {where} is not an integer")
    if not -_INT64_MAX - 1 <= result <= _INT64_MAX:
        raise ResponseFormatError(f"unreadable response: {where} is out of the int64 range")
    return result


def _optional_int(body: Mapping[str, Any], key: str, where: str) -> int | None:
    value = body.get(key)
    return None if value is None else int64(value, f"{where}.{key}")


def _optional_str(body: Mapping[str, Any], key: str, where: str) -> str | None:
    value = body.get(key)
    if value is None or isinstance(value, str):
        return value
    raise ResponseFormatError(f"unreadable response: {where}.{key} is not a string")


def _object(value: object, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ResponseFormatError(f"unreadable response: {where} is not an object")
    return value


class traced:
    """Give a malformed answer's error its trace id: support needs it as much as an error's.

    A class, not ``@contextmanager``: it wraps every parsed answer, and a generator
    per answer costs more than the parse.
    """

    __slots__ = ("_trace_id",)

    def __init__(self, trace_id: str | None) -> None:
        self._trace_id = trace_id

    def __enter__(self) -> None:
        return None

    def __exit__(self, _type: object, exc: BaseException | None, _tb: object) -> None:
        if isinstance(exc, ResponseFormatError):
            raise ResponseFormatError(exc.message, trace_id=self._trace_id) from None


#: What a flagged answer with no readable category is reported as.
_UNKNOWN_CATEGORY: Final = SensitiveType.OTHER
#: Stands for an ``input_sensitive`` that is present but cannot be read.
_UNREADABLE: Final = object()


def _category(value: object) -> SensitiveType | None:
    """The category MiniMax sent, or ``None`` when it cannot be read or is not known."""
    if isinstance(value, bool):
        return None  # JSON true/false is no category number
    if isinstance(value, int):
        number = value
    elif isinstance(value, str) and _DECIMAL.fullmatch(value.strip()) and len(value) <= 20:
        number = int(value)
    else:
        return None
    return SENSITIVE_CODES.get(number)


def parse_sensitivity(body: Mapping[str, Any]) -> tuple[bool, SensitiveType]:
    """Whether MiniMax flagged the input audio, and why; failing closed.

    Accepted shapes: ``input_sensitive`` a boolean with the category in
    ``input_sensitive_type`` (what the API sends), or the published schema's
    ``{"type": int}`` object. Both absent means not flagged.

    Anything unreadable counts as flagged, with the category read when it can be
    and `SensitiveType.OTHER` when it cannot: a flag that is not a boolean
    (``"yes"``, ``1``), a category that is not a number or not a known one, or a
    flag and a category that disagree (``false`` with a non-zero category). It is
    not raised as `ResponseFormatError`, for two reasons: this answer said
    ``base_resp`` 0, so the voice exists and a failure would send the caller into
    a retry that can only answer 2039; and a voice whose answer cannot be read is
    returned without its details, which would report it unflagged. A caller who
    acts on the flag (review, refuse to publish) then errs on the safe side.
    """
    flag = body.get("input_sensitive")
    raw_code = body.get("input_sensitive_type")
    if isinstance(flag, Mapping):  # the published schema's shape: {"type": int}
        raw_code = flag.get("type", raw_code)
        # The object carries no flag of its own: its category decides, and an object
        # without one cannot be read.
        flag = None if raw_code is not None else _UNREADABLE
    code = None if raw_code is None else _category(raw_code)
    # Identity tests: 0 == False, and a flag of 0 is unreadable, not "not flagged".
    unflagged = flag is None or flag is False
    if unflagged and (raw_code is None or code is SensitiveType.NORMAL):
        return False, SensitiveType.NORMAL
    return True, code if code not in (None, SensitiveType.NORMAL) else _UNKNOWN_CATEGORY


#: Preview fields that are measurements: a fractional value is rounded. The others
#: (word_count, usage_characters) are counts, where a fraction means nothing.
_PREVIEW_MEASURES: Final = frozenset({"audio_length", "audio_sample_rate", "audio_size", "bitrate"})


def _preview_number(value: object, *, measure: bool) -> int | None:
    """A non-negative preview figure from a number or a numeric string; ``None`` if odd."""
    if isinstance(value, str):
        text = value.strip()
        if len(text) > _MAX_NUMBER_CHARS:
            return None
        try:
            value = int(text) if _DECIMAL.fullmatch(text) else float(text)
        except ValueError:
            return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    if isinstance(value, float):
        if not math.isfinite(value) or not (measure or value.is_integer()):
            return None
        value = round(value)
    return value if 0 <= value <= _INT64_MAX else None


def _preview(extra: object) -> PreviewInfo | None:
    # Preview metadata is informational: an odd value becomes None, never an error,
    # because the voice exists once base_resp says 0 and must not look failed.
    if not isinstance(extra, Mapping):
        return None
    return PreviewInfo(
        **{
            name: _preview_number(extra.get(name), measure=name in _PREVIEW_MEASURES)
            for name in PREVIEW_FIELDS
        }
    )


def parse_clone_result(
    body: Mapping[str, Any], *, voice_id: str, trace_id: str | None, attempts: int
) -> CloneResult:
    with traced(trace_id):
        flag, kind = parse_sensitivity(body)
        return CloneResult(
            voice_id=voice_id,
            demo_audio=_optional_str(body, "demo_audio", "response") or None,
            input_sensitive=flag,
            input_sensitive_type=kind,
            extra_info=_preview(body.get("extra_info")),
            trace_id=trace_id,
            attempts=attempts,
            raw=body,
        )


def _hex_audio(text: str, where: str) -> bytes:
    try:
        return bytes.fromhex(text)
    except ValueError:
        raise ResponseFormatError(f"unreadable response: {where} is not hex") from None


def parse_speech(body: Mapping[str, Any], *, trace_id: str | None, attempts: int) -> Speech:
    """A ``t2a_v2`` answer: its audio (hex decoded, or the link of ``output_format=url``)."""
    with traced(trace_id):
        data = _object(body.get("data"), "data")
        audio = _optional_str(data, "audio", "data")
        if not audio:
            raise ResponseFormatError("unreadable response: data.audio is missing")
        url = audio if is_http_url(audio) else None
        extra = body.get("extra_info")
        extra = extra if isinstance(extra, Mapping) else {}
        fmt = extra.get("audio_format")

        def figure(key: str) -> int | None:  # informational: an odd value is None
            return _preview_number(extra.get(key), measure=True)

        return Speech(
            b"" if url else _hex_audio(audio, "data.audio"),
            format=fmt if fmt in SPEECH_FORMATS else None,  # the server's string: known ones only
            sample_rate=figure("audio_sample_rate"),
            bitrate=figure("bitrate"),
            channels=figure("audio_channel"),
            audio_length=figure("audio_length"),
            size=figure("audio_size"),
            usage_characters=_preview_number(extra.get("usage_characters"), measure=False),
            url=url,
            extra_info=extra,
            trace_id=trace_id,
            attempts=attempts,
        )


def parse_speech_event(
    event: Mapping[str, Any], *, trace_id: str | None
) -> tuple[bytes, Mapping[str, Any] | None]:
    """One event of a speech stream: its audio, and its ``extra_info`` if it is the last
    (``data.status`` 2), else ``None``."""
    with traced(trace_id):
        data = _object(event.get("data"), "data")
        audio = _hex_audio(_optional_str(data, "audio", "data") or "", "data.audio")
    if data.get("status") != 2:
        return audio, None
    extra = event.get("extra_info")
    return audio, extra if isinstance(extra, Mapping) else {}


def _timestamp(value: int | None) -> dt.datetime | None:
    if value is None:
        return None
    try:
        return dt.datetime.fromtimestamp(value, dt.timezone.utc)
    except (OverflowError, OSError, ValueError):
        raise ResponseFormatError("unreadable response: created_at is not a timestamp") from None


def parse_uploaded_file(body: Mapping[str, Any], *, trace_id: str | None) -> UploadedFile:
    with traced(trace_id):
        file = _object(body.get("file"), "file")
        if file.get("file_id") is None:
            raise ResponseFormatError("unreadable response: file.file_id is missing")
        file_id = int64(file["file_id"], "file.file_id")
        if file_id <= 0:  # a clone with it could only fail, after a billed upload
            raise ResponseFormatError("unreadable response: file.file_id is not positive")
        return UploadedFile(
            file_id=file_id,
            bytes=_optional_int(file, "bytes", "file"),
            created_at=_timestamp(_optional_int(file, "created_at", "file")),
            filename=_optional_str(file, "filename", "file"),
            purpose=_optional_str(file, "purpose", "file"),
            trace_id=trace_id,
            raw=body,
        )


_VOICE_GROUPS = {
    "system_voice": "system",
    "voice_cloning": "voice_cloning",
    "voice_generation": "voice_generation",
}


def parse_voices(body: Mapping[str, Any], *, trace_id: str | None = None) -> list[Voice]:
    with traced(trace_id):
        return [voice for key, kind in _VOICE_GROUPS.items() for voice in _group(body, key, kind)]


def _group(body: Mapping[str, Any], key: str, voice_type: str) -> list[Voice]:
    voices = []
    group = body.get(key) or []  # MiniMax sends null for an empty group
    if not isinstance(group, list):
        raise ResponseFormatError(f"unreadable response: {key} is not a list")
    for i, item in enumerate(group):
        where = f"{key}[{i}]"
        item = _object(item, where)
        voice_id = _optional_str(item, "voice_id", where)
        if not voice_id:
            raise ResponseFormatError(f"unreadable response: {where}.voice_id is missing")
        description = item.get("description") or []
        if not isinstance(description, list) or not all(isinstance(d, str) for d in description):
            raise ResponseFormatError(f"unreadable response: {where}.description")
        voices.append(
            Voice(
                voice_id=voice_id,
                voice_type=voice_type,
                created_time=_optional_str(item, "created_time", where),
                description=tuple(description),
                voice_name=_optional_str(item, "voice_name", where),
                raw=item,
            )
        )
    return voices

"""Speech: a synthesis request, checked before it is sent, and the `Speech` it returns.

`SpeechRequest` holds `Client.synthesize`'s keywords, MiniMax's names flattened
from ``voice_setting`` and ``audio_setting``, and builds the ``/t2a_v2`` body;
every field is checked on construction against MiniMax's T2A HTTP reference, so
a bad one raises `ValidationError` naming it and nothing is sent. `Speech` is
the decoded answer: the audio bytes, what MiniMax says of them, and ``save``.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Final, Literal, TypedDict

import attrs

from ._errors import ValidationError
from ._files import check_target, write_file
from ._validate import (
    DEFAULT_MODEL,
    SpeechModel,
    check_bool,
    check_language_boost,
    check_model,
)

__all__ = [
    "ACTIVATION_SETTINGS",
    "ACTIVATION_TEXT",
    "MAX_SPEECH_BODY_BYTES",
    "MAX_SPEECH_TEXT_CHARS",
    "AudioFormat",
    "Speech",
    "SpeechFields",
    "SpeechRequest",
]

#: ``text`` must be shorter than this (MiniMax: "under 10,000 characters").
MAX_SPEECH_TEXT_CHARS: Final = 10_000
SAMPLE_RATES: Final = (8000, 16000, 22050, 24000, 32000, 44100)
BITRATES: Final = (32000, 64000, 128000, 256000)
AudioFormat = Literal["mp3", "pcm", "flac", "wav"]
FORMATS: Final = ("mp3", "pcm", "flac", "wav")
EMOTIONS: Final = (
    "happy", "sad", "angry", "fearful", "disgusted", "surprised", "calm", "fluent", "whisper",
)  # fmt: skip
OUTPUT_FORMATS: Final = ("hex", "url")
#: A speech answer carries its audio as hex: this many decoded bytes at most (32 MiB
#: of audio: about half an hour of mp3 at 128 kbit/s, three minutes of 44.1 kHz stereo
#: wav). Longer speech: ask ``output_format="url"``, downloaded under the same cap.
MAX_SPEECH_BODY_BYTES: Final = 64 * 1024 * 1024
#: A voice id for speech: a clone's, or a system voice's ("Chinese (Mandarin)_News_Anchor",
#: "female-shaonv"): printable, without the clone id's stricter rules.
_SPEECH_VOICE: Final = re.compile(r"[^\x00-\x1f\x7f]{1,256}")
#: A pause mark, ``<#seconds#>``: MiniMax takes 0.01 to 99.99 seconds.
_PAUSE: Final = re.compile(r"<#([^#>]*)#>")
PAUSE_SECONDS: Final = (0.01, 99.99)
#: The voices a ``timbre_weights`` mix may name, and the range of each weight.
MAX_TIMBRE_VOICES: Final = 4
WEIGHTS: Final = (1, 100)


def _choice(value: object, field: str, choices: tuple[Any, ...]) -> None:
    if isinstance(value, bool) or value not in choices:
        shown = ", ".join(map(str, choices))
        raise ValidationError(field, f"must be one of {shown}; got {value!r}")


def _range(
    value: object, field: str, low: float, high: float, *, integer: bool = False,
    low_open: bool = False,
) -> None:  # fmt: skip
    kinds = (int,) if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kinds) or not math.isfinite(value):
        kind = "an int" if integer else "a number"
        raise ValidationError(field, f"must be {kind}, got {value!r}")
    if not (low < value if low_open else low <= value) or value > high:
        shown = f"({low}, {high}]" if low_open else f"{low} to {high}"
        raise ValidationError(field, f"must be {shown}, got {value!r}")


def _check_text(text: object) -> None:
    if not isinstance(text, str) or not text.strip():
        raise ValidationError("text", "must be a non-empty string")
    if len(text) >= MAX_SPEECH_TEXT_CHARS:
        raise ValidationError(
            "text", f"must be under {MAX_SPEECH_TEXT_CHARS} characters, got {len(text)}"
        )
    for mark in _PAUSE.findall(text):
        try:
            seconds = float(mark)
        except ValueError:
            seconds = math.nan
        if not PAUSE_SECONDS[0] <= seconds <= PAUSE_SECONDS[1]:
            raise ValidationError(
                "text", f"a pause <#{mark}#> must be 0.01 to 99.99 seconds, e.g. <#0.5#>"
            )


def check_speech_voice(value: object, field: str = "voice_id") -> str:
    """A voice to speak with: a clone's id or a system voice's name."""
    if not isinstance(value, str) or not _SPEECH_VOICE.fullmatch(value) or not value.strip():
        raise ValidationError(field, "must be a voice id (1 to 256 printable characters)")
    return value


def _check_weights(weights: object) -> None:
    if not isinstance(weights, Sequence) or isinstance(weights, (str, bytes)):
        raise ValidationError("timbre_weights", "must be a list of {voice_id, weight}")
    if not 1 <= len(weights) <= MAX_TIMBRE_VOICES:
        raise ValidationError("timbre_weights", f"must name 1 to {MAX_TIMBRE_VOICES} voices")
    for i, item in enumerate(weights):
        where = f"timbre_weights[{i}]"
        if not isinstance(item, Mapping) or set(item) != {"voice_id", "weight"}:
            raise ValidationError(where, "must be {'voice_id': ..., 'weight': ...}")
        check_speech_voice(item["voice_id"], f"{where}.voice_id")
        _range(item["weight"], f"{where}.weight", *WEIGHTS, integer=True)


def _check_mapping(value: object, field: str) -> None:
    if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
        raise ValidationError(field, "must be a mapping of MiniMax's fields")
    try:  # what goes out must be JSON: no sets, no objects, no NaN
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError):
        raise ValidationError(field, "must hold only JSON values (finite numbers)") from None


#: Keyword -> (the body object it goes in, its check). ``None``: the top level.
_FIELDS: Final[dict[str, tuple[str | None, Any]]] = {
    "speed": ("voice_setting", lambda v, f: _range(v, f, 0.5, 2.0)),
    "vol": ("voice_setting", lambda v, f: _range(v, f, 0.0, 10.0, low_open=True)),
    "pitch": ("voice_setting", lambda v, f: _range(v, f, -12, 12, integer=True)),
    "emotion": ("voice_setting", lambda v, f: _choice(v, f, EMOTIONS)),
    "text_normalization": ("voice_setting", check_bool),
    "sample_rate": ("audio_setting", lambda v, f: _choice(v, f, SAMPLE_RATES)),
    "bitrate": ("audio_setting", lambda v, f: _choice(v, f, BITRATES)),
    "format": ("audio_setting", lambda v, f: _choice(v, f, FORMATS)),
    "channel": ("audio_setting", lambda v, f: _choice(v, f, (1, 2))),
    "language_boost": (None, check_language_boost),
    "pronunciation_dict": (None, _check_mapping),
    "timbre_weights": (None, lambda v, f: _check_weights(v)),
    "voice_modify": (None, _check_mapping),
    "output_format": (None, lambda v, f: _choice(v, f, OUTPUT_FORMATS)),
    "aigc_watermark": (None, check_bool),
    "subtitle_enable": (None, check_bool),
}


class SpeechFields(TypedDict, total=False):
    """`Client.synthesize`'s settings as keywords, so type checkers see them."""

    speed: float
    vol: float
    pitch: int
    emotion: str
    text_normalization: bool
    sample_rate: int
    bitrate: int
    format: AudioFormat
    channel: int
    language_boost: str
    pronunciation_dict: Mapping[str, Any]
    timbre_weights: Sequence[Mapping[str, Any]]
    voice_modify: Mapping[str, Any]
    output_format: Literal["hex", "url"]
    aigc_watermark: bool
    subtitle_enable: bool


@attrs.frozen
class SpeechRequest:
    """One ``/t2a_v2`` request: the voice, the text, the model and the settings given.

    ``settings`` holds only what was given, by MiniMax's names (see `SpeechFields`):
    what is not given is MiniMax's default. Checked on construction.
    """

    voice_id: str | None
    text: str
    model: SpeechModel | str = DEFAULT_MODEL
    settings: Mapping[str, Any] = attrs.field(factory=dict)
    stream: bool = False

    def __attrs_post_init__(self) -> None:
        _check_text(self.text)
        check_model(self.model)
        unknown = sorted(set(self.settings) - set(_FIELDS))
        if unknown:
            raise ValidationError(unknown[0], "is not a t2a_v2 setting")
        for name, value in self.settings.items():
            _FIELDS[name][1](value, name)
        if self.voice_id is None and "timbre_weights" not in self.settings:
            raise ValidationError("voice_id", "is required (or timbre_weights)")
        if self.voice_id is not None:
            check_speech_voice(self.voice_id)
        # A copy, as JSON: what was checked is what is sent, even if the caller's
        # lists or mappings change before a stream starts.
        object.__setattr__(self, "settings", json.loads(json.dumps(dict(self.settings))))
        if self.stream and self.settings.get("format") == "wav":
            raise ValidationError("format", "wav is only available without streaming")
        if self.stream and self.settings.get("output_format") == "url":
            raise ValidationError("output_format", "url is only available without streaming")

    def to_json(self) -> dict[str, Any]:
        """The request body: what was given, each in its place (settings are JSON copies)."""
        body: dict[str, Any] = {"model": self.model, "text": self.text, "stream": self.stream}
        if self.stream:  # the last event would repeat the whole audio: the chunks suffice
            body["stream_options"] = {"exclude_aggregated_audio": True}
        voice: dict[str, Any] = {} if self.voice_id is None else {"voice_id": self.voice_id}
        audio: dict[str, Any] = {}
        places = {"voice_setting": voice, "audio_setting": audio, None: body}
        for name, value in self.settings.items():
            places[_FIELDS[name][0]][name] = value
        if voice:
            body["voice_setting"] = voice
        if audio:
            body["audio_setting"] = audio
        return body


@attrs.frozen
class Speech:
    """Synthesized speech.

    Attributes:
        audio: the audio, decoded from MiniMax's hex (or downloaded from its link);
            ``b""`` when ``output_format="url"`` was asked with ``download=False``.
        format: ``mp3``, ``pcm``, ``flac`` or ``wav``.
        sample_rate, bitrate, channels: as MiniMax reports them (``None`` if not).
        audio_length: milliseconds.
        size: bytes of audio MiniMax reports.
        usage_characters: characters billed.
        url: the link MiniMax returned with ``output_format="url"`` (valid about a
            day), else ``None``.
        extra_info: MiniMax's ``extra_info`` as it came (do not modify it).
        trace_id: the answer's ``Trace-Id``.
        attempts: requests sent for this synthesis.
    """

    audio: bytes = attrs.field(repr=lambda a: f"<{len(a)} bytes>")
    format: str | None = None
    sample_rate: int | None = None
    bitrate: int | None = None
    channels: int | None = None
    audio_length: int | None = None
    size: int | None = None
    usage_characters: int | None = None
    url: str | None = None
    extra_info: Mapping[str, Any] | None = attrs.field(default=None, repr=False, eq=False)
    trace_id: str | None = None
    attempts: int = 1

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the audio to ``path`` (whole or not at all, mode 0600, never through a link).

        Blocking: it waits for the disk. In async code, run it in a thread.
        """
        return write_file(check_target(path), self.audio)


#: What `Client.activate` says: a real synthesis, as small as MiniMax allows (two
#: characters billed, the lowest rate and bitrate, mono mp3).
ACTIVATION_TEXT: Final = "Hi"
ACTIVATION_SETTINGS: Final[Mapping[str, Any]] = {
    "format": "mp3", "sample_rate": 8000, "bitrate": 32000, "channel": 1,
}  # fmt: skip

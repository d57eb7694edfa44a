"""Request and result types, validated on construction, and their JSON forms."""

from __future__ import annotations

import datetime as dt
import enum
import os
from collections.abc import Callable, Mapping
from typing import Any, Final

import attrs

from . import _validate as v
from ._errors import ValidationError, VoiceCloneError

__all__ = [
    "CloneJob",
    "CloneOutcome",
    "ClonePrompt",
    "CloneRequest",
    "CloneResult",
    "PreviewInfo",
    "SensitiveType",
    "UploadedFile",
    "Voice",
]

#: MiniMax deletes a cloned voice not used for real speech within this time.
VOICE_TTL: Final = dt.timedelta(days=7)


def _checked(
    check: Callable[[Any, str], object],
) -> Callable[[Any, attrs.Attribute[Any], Any], None]:
    """Adapt a `_validate` check to an attrs validator that skips ``None``."""

    def validator(_instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        if value is not None:
            check(value, attribute.name)

    return validator


def _optional(check: Callable[[Any, str], object]) -> Any:
    return attrs.field(default=None, kw_only=True, validator=_checked(check))


def _check_preview(text: str | None, model: str | None) -> None:
    if text is not None and model is None:
        raise ValidationError("model", f"is required with text; one of {', '.join(v.MODELS)}")


@attrs.frozen
class ClonePrompt:
    """A short example clip (uploaded with ``purpose="prompt_audio"``) and its transcript."""

    prompt_audio: int = attrs.field(validator=_checked(v.check_file_id))
    prompt_text: str = attrs.field(validator=_checked(v.check_prompt_text))

    def __attrs_post_init__(self) -> None:
        if self.prompt_audio is None:
            raise ValidationError("clone_prompt.prompt_audio", "is required")
        if self.prompt_text is None:
            raise ValidationError("clone_prompt.prompt_text", "is required")


def _to_prompt(value: ClonePrompt | Mapping[str, Any] | None) -> ClonePrompt | None:
    if value is None or isinstance(value, ClonePrompt):
        return value
    if isinstance(value, Mapping):
        unknown = set(value) - {"prompt_audio", "prompt_text"}
        if unknown:
            raise ValidationError("clone_prompt", f"unknown keys {sorted(unknown)}")
        return ClonePrompt(value.get("prompt_audio"), value.get("prompt_text"))  # type: ignore[arg-type]
    raise ValidationError(
        "clone_prompt", f"must be a ClonePrompt or a mapping, got {type(value).__name__}"
    )


@attrs.frozen
class CloneRequest:
    """One call to ``voice_clone``. Fields left as ``None`` are not sent.

    Validated on construction: a bad field raises `ValidationError` naming it.
    """

    file_id: int = attrs.field(validator=_checked(v.check_file_id))
    voice_id: str = attrs.field(validator=_checked(v.check_voice_id))
    clone_prompt: ClonePrompt | None = attrs.field(default=None, kw_only=True, converter=_to_prompt)
    text: str | None = _optional(v.check_text)
    model: str | None = _optional(v.check_model)
    language_boost: str | None = _optional(v.check_language_boost)
    text_validation: str | None = _optional(v.check_text_validation)
    accuracy: float | None = _optional(v.check_accuracy)
    need_noise_reduction: bool | None = _optional(v.check_bool)
    need_volume_normalization: bool | None = _optional(v.check_bool)
    aigc_watermark: bool | None = _optional(v.check_bool)
    #: "Continuous inference": more natural prosody across sentences, at some latency.
    #: MiniMax documents it for the speech-2.8 models; sent only when set.
    continuous_sound: bool | None = _optional(v.check_bool)

    def __attrs_post_init__(self) -> None:
        if self.file_id is None:
            raise ValidationError("file_id", "is required")
        if self.voice_id is None:
            raise ValidationError("voice_id", "is required")
        _check_preview(self.text, self.model)

    def to_json(self) -> dict[str, Any]:
        """The request body: every field that is set, and nothing else."""
        # Runs once per clone: a plain loop, not attrs.asdict's generic recursion.
        body = {
            name: value for name in _REQUEST_FIELDS if (value := getattr(self, name)) is not None
        }
        if self.clone_prompt is not None:
            body["clone_prompt"] = {
                "prompt_audio": self.clone_prompt.prompt_audio,
                "prompt_text": self.clone_prompt.prompt_text,
            }
        return body


_REQUEST_FIELDS: Final = tuple(
    a.name for a in attrs.fields(CloneRequest) if a.name != "clone_prompt"
)


@attrs.frozen
class PreviewInfo:
    """Metadata and billing of the preview MiniMax read in the new voice."""

    audio_length: int | None = None  #: milliseconds
    audio_sample_rate: int | None = None
    audio_size: int | None = None  #: bytes
    bitrate: int | None = None
    word_count: int | None = None
    usage_characters: int | None = None  #: characters billed for the preview


class SensitiveType(enum.IntEnum):
    """Why MiniMax flagged the input audio (``input_sensitive_type``)."""

    NORMAL = 0
    SEVERE_VIOLATION = 1
    PORNOGRAPHIC = 2
    ADVERTISING = 3
    PROHIBITED = 4
    ABUSE = 5
    VIOLENCE_OR_TERRORISM = 6
    OTHER = 7


@attrs.frozen
class CloneResult:
    """A voice that exists in the account.

    Attributes:
        voice_id: the id sent; MiniMax does not echo it.
        demo_audio: URL of the preview, or ``None`` when no ``text`` was sent (or the
            voice was recovered). The link expires after about 48 hours.
        input_sensitive: whether MiniMax flagged the input audio.
        input_sensitive_type: why, when flagged.
        extra_info: preview metadata, when a preview was made.
        trace_id: ``Trace-Id`` of the answer that settled the call.
        attempts: requests sent for this clone, the first included.
        recovered: ``True`` when an attempt's answer was lost and a retry answered
            2039: the voice was created by the lost attempt.
        created_at: when the clone was confirmed (UTC).
    """

    voice_id: str
    demo_audio: str | None = None
    input_sensitive: bool = False
    input_sensitive_type: SensitiveType = SensitiveType.NORMAL
    extra_info: PreviewInfo | None = None
    trace_id: str | None = None
    attempts: int = 1
    recovered: bool = False
    created_at: dt.datetime = attrs.field(factory=lambda: dt.datetime.now(dt.timezone.utc))

    @property
    def expires_at(self) -> dt.datetime:
        """When MiniMax deletes the voice unless it is used for speech first (7 days)."""
        return self.created_at + VOICE_TTL


@attrs.frozen
class UploadedFile:
    """A file stored by MiniMax's files endpoint.

    Attributes:
        file_id: the id to pass to `Client.clone` (a 64-bit integer).
        bytes: the size MiniMax stored.
        created_at: when MiniMax stored it (UTC).
        filename: the name it was uploaded under.
        purpose: ``voice_clone``, ``prompt_audio``, ...
        trace_id: ``Trace-Id`` of the upload's answer.
    """

    file_id: int
    bytes: int | None = None
    created_at: dt.datetime | None = None
    filename: str | None = None
    purpose: str | None = None
    trace_id: str | None = None


@attrs.frozen
class Voice:
    """A voice listed by ``get_voice``.

    Attributes:
        voice_id: the voice's id.
        voice_type: ``system``, ``voice_cloning`` or ``voice_generation``.
        created_time: the day it was created (``yyyy-mm-dd``), when MiniMax says.
        description: MiniMax's description lines, if any.
        voice_name: the display name of a system voice.
    """

    voice_id: str
    voice_type: str
    created_time: str | None = None
    description: tuple[str, ...] = ()
    voice_name: str | None = None


@attrs.frozen
class CloneOutcome:
    """What happened to one item of a batch: a result or an error, never both.

    Attributes:
        index: the item's position in the input, from 0.
        request: the `CloneRequest` (or, for ``clone_jobs``, the `CloneJob`).
        result: the voice, when the item succeeded.
        error: why it failed, otherwise.
        resumed: finished by an earlier run, read back from the journal.
    """

    index: int
    request: CloneRequest | CloneJob
    result: CloneResult | None = None
    error: VoiceCloneError | None = None
    #: finished by an earlier run, read back from the journal
    resumed: bool = False

    @property
    def ok(self) -> bool:
        """Whether the item succeeded (``result`` is set)."""
        return self.error is None


def _check_path(value: object, field: str) -> object:
    if not isinstance(value, (str, os.PathLike)):
        raise ValidationError(field, f"must be a path, got {type(value).__name__}")
    return value


@attrs.frozen
class CloneJob:
    """A voice to create from local files: upload the sample (and prompt clip), then clone.

    The audio files are checked (format by content, size, duration) by
    ``clone_jobs`` before any request of the batch is sent.
    """

    voice_id: str = attrs.field(validator=_checked(v.check_voice_id))
    audio: str | os.PathLike[str] = attrs.field(validator=_checked(_check_path))
    prompt_audio: str | os.PathLike[str] | None = _optional(_check_path)
    prompt_text: str | None = _optional(v.check_prompt_text)
    text: str | None = _optional(v.check_text)
    model: str | None = _optional(v.check_model)
    language_boost: str | None = _optional(v.check_language_boost)
    text_validation: str | None = _optional(v.check_text_validation)
    accuracy: float | None = _optional(v.check_accuracy)
    need_noise_reduction: bool | None = _optional(v.check_bool)
    need_volume_normalization: bool | None = _optional(v.check_bool)
    aigc_watermark: bool | None = _optional(v.check_bool)
    #: "Continuous inference": more natural prosody across sentences, at some latency.
    #: MiniMax documents it for the speech-2.8 models; sent only when set.
    continuous_sound: bool | None = _optional(v.check_bool)

    def __attrs_post_init__(self) -> None:
        if self.voice_id is None:
            raise ValidationError("voice_id", "is required")
        if self.audio is None:
            raise ValidationError("audio", "is required")
        if (self.prompt_audio is None) != (self.prompt_text is None):
            missing = "prompt_text" if self.prompt_text is None else "prompt_audio"
            raise ValidationError(missing, "is required with prompt_audio and prompt_text")
        _check_preview(self.text, self.model)

    def to_request(self, file_id: int, prompt_file_id: int | None = None) -> CloneRequest:
        """The clone request for this job once its files are uploaded."""
        options = attrs.asdict(
            self,
            filter=lambda a, _v: a.name not in ("voice_id", "audio", "prompt_audio", "prompt_text"),
        )
        prompt = None
        if prompt_file_id is not None and self.prompt_text is not None:
            prompt = ClonePrompt(prompt_file_id, self.prompt_text)
        return CloneRequest(file_id, self.voice_id, clone_prompt=prompt, **options)

"""Request and result types, validated on construction, and their JSON forms."""

from __future__ import annotations

import datetime as dt
import enum
import os
import sys
from collections.abc import Callable, Mapping
from typing import Any, Final, TypedDict

if sys.version_info >= (3, 11):
    from typing import Required
else:  # pragma: no cover
    from typing_extensions import Required

import attrs

from . import _validate as v
from ._errors import ValidationError, VoiceCloneError
from ._validate import SpeechModel

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


def _option(check: Callable[[Any, str], object]) -> Any:
    """An option of `_CloneOptions`: checked by `_CloneOptions._check_options`, not attrs."""
    return attrs.field(default=None, kw_only=True, metadata={"check": check})


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


@attrs.frozen(repr=False, kw_only=True)  # kw_only here too, where type checkers see it
class _CloneOptions:
    """The ``voice_clone`` options a `CloneRequest` and a `CloneJob` share, defined once.

    Every option is keyword-only and optional; ``None`` means "not sent".
    """

    text: str | None = _option(v.check_text)
    model: SpeechModel | str | None = _option(v.check_model)
    language_boost: str | None = _option(v.check_language_boost)
    text_validation: str | None = _option(v.check_text_validation)
    accuracy: float | None = _option(v.check_accuracy)
    need_noise_reduction: bool | None = _option(v.check_bool)
    need_volume_normalization: bool | None = _option(v.check_bool)
    aigc_watermark: bool | None = _option(v.check_bool)
    #: "Continuous inference": more natural prosody across sentences, at some latency.
    #: MiniMax documents it for the speech-2.8 models; sent only when set.
    continuous_sound: bool | None = _option(v.check_bool)

    def __repr__(self) -> str:
        # The class's own fields first, then the options that are set: attrs would put
        # the inherited options first and list every unset one.
        own = [a.name for a in attrs.fields(type(self)) if a.name not in _OPTION_NAMES]
        shown = [
            f"{name}={value!r}"
            for name in (*own, *_OPTION_NAMES)
            if (value := getattr(self, name)) is not None or name in own[:2]
        ]
        return f"{type(self).__name__}({', '.join(shown)})"

    def _check_options(self) -> None:
        # One pass over the options rather than an attrs validator each: a request is
        # built per clone, most options are unset, and a call per field adds up.
        for name, check in _OPTION_CHECKS:
            value = getattr(self, name)
            if value is not None:
                check(value, name)
        _check_preview(self.text, self.model)

    def options(self) -> dict[str, Any]:
        """The options that are set, by name."""
        return {n: value for n in _OPTION_NAMES if (value := getattr(self, n)) is not None}


_OPTION_NAMES: Final = tuple(a.name for a in attrs.fields(_CloneOptions))
_OPTION_CHECKS: Final = tuple((a.name, a.metadata["check"]) for a in attrs.fields(_CloneOptions))


@attrs.frozen(repr=False)
class CloneRequest(_CloneOptions):
    """One call to ``voice_clone``. Fields left as ``None`` are not sent.

    Validated on construction: a bad field raises `ValidationError` naming it.
    """

    file_id: int = attrs.field(validator=_checked(v.check_file_id))
    voice_id: str = attrs.field(validator=_checked(v.check_voice_id))
    clone_prompt: ClonePrompt | None = attrs.field(default=None, kw_only=True, converter=_to_prompt)

    def __attrs_post_init__(self) -> None:
        if self.file_id is None:
            raise ValidationError("file_id", "is required")
        if self.voice_id is None:
            raise ValidationError("voice_id", "is required")
        self._check_options()

    def to_json(self) -> dict[str, Any]:
        """The request body: every field that is set, and nothing else."""
        # Runs once per clone: a plain loop, not attrs.asdict's generic recursion.
        body: dict[str, Any] = {"file_id": self.file_id, "voice_id": self.voice_id}
        body.update(self.options())
        if self.clone_prompt is not None:
            body["clone_prompt"] = {
                "prompt_audio": self.clone_prompt.prompt_audio,
                "prompt_text": self.clone_prompt.prompt_text,
            }
        return body


class CloneFields(TypedDict, total=False):
    """`CloneRequest`'s fields as keywords of `Client.clone`, so type checkers see them."""

    file_id: Required[int]
    voice_id: Required[str]
    clone_prompt: ClonePrompt | Mapping[str, Any] | None
    text: str | None
    model: SpeechModel | str | None
    language_boost: str | None
    text_validation: str | None
    accuracy: float | None
    need_noise_reduction: bool | None
    need_volume_normalization: bool | None
    aigc_watermark: bool | None
    continuous_sound: bool | None


@attrs.frozen
class PreviewInfo:
    """Metadata and billing of the preview MiniMax read in the new voice.

    Each field is read on its own and is ``None`` when MiniMax sent nothing usable
    (missing, negative, not a number, or a fractional count); numeric strings are
    read, and a fractional length, size or bitrate is rounded.
    """

    audio_length: int | None = None  #: milliseconds
    audio_sample_rate: int | None = None
    audio_size: int | None = None  #: bytes
    bitrate: int | None = None
    word_count: int | None = None
    usage_characters: int | None = None  #: characters billed for the preview

    def to_dict(self) -> dict[str, int | None]:
        """Every field by name, ``None`` where MiniMax sent nothing usable."""
        return {name: getattr(self, name) for name in PREVIEW_FIELDS}


PREVIEW_FIELDS: Final = tuple(a.name for a in attrs.fields(PreviewInfo))


def _iso(value: dt.datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _raw() -> Any:
    # The decoded answer, for fields newer than this SDK; not part of equality.
    return attrs.field(default=None, repr=False, eq=False, kw_only=True)


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


#: The known categories by number, to read one from an answer or a journal.
SENSITIVE_CODES: Final[Mapping[int, SensitiveType]] = {t.value: t for t in SensitiveType}


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
            2039: the voice was created by the lost attempt. Its answer, and with it
            the sensitivity flag, was lost: ``input_sensitive`` is then ``False``
            for want of one, not because MiniMax said so.
        created_at: when the clone was confirmed (UTC).
        activated_at: when this SDK used the voice for speech (``clone_jobs(...,
            activate=True)``): MiniMax keeps it for good from then; else ``None``.
        raw: the decoded JSON answer, as MiniMax sent it, so fields newer than this
            SDK are reachable (``None`` for a voice recovered or read from a
            journal). Not part of ``repr`` or equality; do not modify it.
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
    activated_at: dt.datetime | None = attrs.field(default=None, kw_only=True)
    raw: Mapping[str, Any] | None = _raw()

    @property
    def expires_at(self) -> dt.datetime:
        """When MiniMax deletes the voice unless it is used for speech first (7 days)."""
        return self.created_at + VOICE_TTL

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict with the same keys every time (``raw`` is left out).

        Datetimes are ISO 8601 strings with their UTC offset, ``input_sensitive_type``
        is its number (as MiniMax sends it), and ``extra_info`` is
        `PreviewInfo.to_dict` or ``None``.
        """
        return {
            "voice_id": self.voice_id,
            "demo_audio": self.demo_audio,
            "input_sensitive": self.input_sensitive,
            "input_sensitive_type": int(self.input_sensitive_type),
            "extra_info": None if self.extra_info is None else self.extra_info.to_dict(),
            "trace_id": self.trace_id,
            "attempts": self.attempts,
            "recovered": self.recovered,
            "created_at": self.created_at.isoformat(),
            "expires_at": self.expires_at.isoformat(),
        }


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
        raw: the decoded JSON answer (the file is ``raw["file"]``), for fields
            newer than this SDK. Not part of ``repr`` or equality.
    """

    file_id: int
    bytes: int | None = None
    created_at: dt.datetime | None = None
    filename: str | None = None
    purpose: str | None = None
    trace_id: str | None = None
    raw: Mapping[str, Any] | None = _raw()

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict with the same keys every time (``raw`` is left out).

        ``created_at`` is an ISO 8601 string or ``None``; ``file_id`` stays an exact
        int (beyond 2**53, JavaScript readers need it as a string).
        """
        return {
            "file_id": self.file_id,
            "bytes": self.bytes,
            "created_at": _iso(self.created_at),
            "filename": self.filename,
            "purpose": self.purpose,
            "trace_id": self.trace_id,
        }


@attrs.frozen
class Voice:
    """A voice listed by ``get_voice``.

    Attributes:
        voice_id: the voice's id.
        voice_type: ``system``, ``voice_cloning`` or ``voice_generation``.
        created_time: the day it was created (``yyyy-mm-dd``), when MiniMax says.
        description: MiniMax's description lines, if any.
        voice_name: the display name of a system voice.
        raw: the voice's item of the decoded JSON answer, for fields newer than
            this SDK. Not part of ``repr`` or equality.
    """

    voice_id: str
    voice_type: str
    created_time: str | None = None
    description: tuple[str, ...] = ()
    voice_name: str | None = None
    raw: Mapping[str, Any] | None = _raw()

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict with the same keys every time (``raw`` is left out)."""
        return {
            "voice_id": self.voice_id,
            "voice_type": self.voice_type,
            "created_time": self.created_time,
            "description": list(self.description),
            "voice_name": self.voice_name,
        }


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

    def unwrap(self) -> CloneResult:
        """The result, or raise the error: ``outcome.unwrap().voice_id`` needs no check.

        Raises:
            VoiceCloneError: the item's error, when it failed.
        """
        if self.error is not None:
            raise self.error
        if self.result is None:  # not made by a batch: neither was set
            raise ValueError("the outcome has neither a result nor an error")
        return self.result

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict with the same keys every time, for logs and result files.

        ``result`` is `CloneResult.to_dict` or ``None``; ``error`` is ``None`` or
        ``{"type", "status_code", "http_status", "message", "trace_id"}`` (the class
        name, MiniMax's code or ``None``, the HTTP status or ``None``, the message
        without the trace id, the trace id).
        """
        return {
            "index": self.index,
            "voice_id": self.request.voice_id,
            "ok": self.ok,
            "resumed": self.resumed,
            "result": None if self.result is None else self.result.to_dict(),
            "error": None if self.error is None else _error_dict(self.error),
        }


def _error_dict(error: VoiceCloneError) -> dict[str, Any]:
    # Errors carry no headers, so nothing here can hold the API key.
    return {
        "type": type(error).__name__,
        "status_code": error.status_code,
        "http_status": error.http_status,
        "message": error.message,
        "trace_id": error.trace_id,
    }


def _check_path(value: object, field: str) -> object:
    if not isinstance(value, (str, os.PathLike)):
        raise ValidationError(field, f"must be a path, got {type(value).__name__}")
    return value


@attrs.frozen(repr=False)
class CloneJob(_CloneOptions):
    """A voice to create from local files: upload the sample (and prompt clip), then clone.

    The audio files are checked (format by content, size, duration) by
    ``clone_jobs`` before any request of the batch is sent.
    """

    voice_id: str = attrs.field(validator=_checked(v.check_voice_id))
    audio: str | os.PathLike[str] = attrs.field(validator=_checked(_check_path))
    prompt_audio: str | os.PathLike[str] | None = _optional(_check_path)
    prompt_text: str | None = _optional(v.check_prompt_text)

    def __attrs_post_init__(self) -> None:
        if self.voice_id is None:
            raise ValidationError("voice_id", "is required")
        if self.audio is None:
            raise ValidationError("audio", "is required")
        if (self.prompt_audio is None) != (self.prompt_text is None):
            missing = "prompt_text" if self.prompt_text is None else "prompt_audio"
            raise ValidationError(missing, "is required with prompt_audio and prompt_text")
        self._check_options()

    def to_request(self, file_id: int, prompt_file_id: int | None = None) -> CloneRequest:
        """The clone request for this job once its files are uploaded."""
        prompt = None
        if prompt_file_id is not None and self.prompt_text is not None:
            prompt = ClonePrompt(prompt_file_id, self.prompt_text)
        return CloneRequest(file_id, self.voice_id, clone_prompt=prompt, **self.options())

"""voiceclone: an asyncio SDK for MiniMax voice cloning.

```python
async with voiceclone.Client() as client:
    up = await client.upload_file("narrator.wav")
    result = await client.clone(file_id=up.file_id, voice_id="Narrator001")
```
"""

import inspect as _inspect
import typing as _typing

from ._breaker import AccountStatus
from ._client import Client
from ._errors import (
    APIError,
    AudioError,
    AuthenticationError,
    ConfigurationError,
    InsecureTransportWarning,
    InsufficientBalanceError,
    InvalidParameterError,
    JournalError,
    OutOfTime,
    PermissionDeniedError,
    QuotaExceededError,
    RateGateUnavailableError,
    RateLimitError,
    ResponseFormatError,
    SensitiveContentError,
    ServerError,
    TimeoutError,
    TransportError,
    ValidationError,
    VoiceCloneError,
    VoiceIdConflictError,
    VoiceNotFoundError,
)
from ._events import ResponseEvent, RetryEvent
from ._models import (
    CloneJob,
    CloneOutcome,
    ClonePrompt,
    CloneRequest,
    CloneResult,
    PreviewInfo,
    SensitiveType,
    UploadedFile,
    Voice,
)
from ._pacing import GateStats
from ._redis._journal import RedisJournal
from ._retry import RetryPolicy
from ._speech import AudioFormat, Speech, SpeechFields
from ._speech_stream import SpeechStream
from ._sync import SyncClient
from ._validate import FilePurpose, SpeechModel
from ._version import __version__

__all__ = [
    "APIError",
    "AccountStatus",
    "AudioError",
    "AudioFormat",
    "AuthenticationError",
    "Client",
    "CloneJob",
    "CloneOutcome",
    "ClonePrompt",
    "CloneRequest",
    "CloneResult",
    "ConfigurationError",
    "FilePurpose",
    "GateStats",
    "InsecureTransportWarning",
    "InsufficientBalanceError",
    "InvalidParameterError",
    "JournalError",
    "OutOfTime",
    "PermissionDeniedError",
    "PreviewInfo",
    "QuotaExceededError",
    "RateGateUnavailableError",
    "RateLimitError",
    "RedisJournal",
    "ResponseEvent",
    "ResponseFormatError",
    "RetryEvent",
    "RetryPolicy",
    "SensitiveContentError",
    "SensitiveType",
    "ServerError",
    "Speech",
    "SpeechFields",
    "SpeechModel",
    "SpeechStream",
    "SyncClient",
    "TimeoutError",
    "TransportError",
    "UploadedFile",
    "ValidationError",
    "Voice",
    "VoiceCloneError",
    "VoiceIdConflictError",
    "VoiceNotFoundError",
    "__version__",
]


def _present_as_public(cls: type) -> None:
    """Report ``voiceclone`` as the module of ``cls``: tracebacks show ``voiceclone.X``.

    Pickling still works (``voiceclone.X`` is the same class). The class's own
    annotations, strings under ``from __future__ import annotations``, are resolved
    first in the module that wrote them: ``typing.get_type_hints`` would otherwise
    look their names up in this package and fail.
    """
    own = _inspect.get_annotations(cls)
    if own:
        hints = _typing.get_type_hints(cls)
        cls.__annotations__ = {name: hints[name] for name in own}
    cls.__module__ = __name__


for _name in __all__:
    if isinstance(globals()[_name], type):
        _present_as_public(globals()[_name])
del _name

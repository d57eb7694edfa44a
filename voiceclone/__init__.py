"""voiceclone: an asyncio SDK for MiniMax voice cloning.

```python
async with voiceclone.Client() as client:
    up = await client.upload_file("narrator.wav")
    result = await client.clone(file_id=up.file_id, voice_id="Narrator001")
```
"""

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
    RateLimitError,
    ResponseFormatError,
    SensitiveContentError,
    ServerError,
    TimeoutError,
    TransportError,
    ValidationError,
    VoiceCloneError,
    VoiceIdConflictError,
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
from ._retry import RetryPolicy
from ._version import __version__

__all__ = [
    "APIError",
    "AudioError",
    "AuthenticationError",
    "Client",
    "CloneJob",
    "CloneOutcome",
    "ClonePrompt",
    "CloneRequest",
    "CloneResult",
    "ConfigurationError",
    "GateStats",
    "InsecureTransportWarning",
    "InsufficientBalanceError",
    "InvalidParameterError",
    "JournalError",
    "OutOfTime",
    "PermissionDeniedError",
    "PreviewInfo",
    "QuotaExceededError",
    "RateLimitError",
    "ResponseEvent",
    "ResponseFormatError",
    "RetryEvent",
    "RetryPolicy",
    "SensitiveContentError",
    "SensitiveType",
    "ServerError",
    "TimeoutError",
    "TransportError",
    "UploadedFile",
    "ValidationError",
    "Voice",
    "VoiceCloneError",
    "VoiceIdConflictError",
    "__version__",
]

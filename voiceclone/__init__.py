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
    InsufficientBalanceError,
    InvalidParameterError,
    JournalError,
    OutOfTime,
    PermissionDeniedError,
    QuotaExceededError,
    RateGateUnavailableError,
    RateLimitError,
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
from ._redis_journal import RedisJournal
from ._retry import RetryPolicy

__version__ = "0.1.0"

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

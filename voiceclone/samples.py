"""Sample audio for demos, scripts and tests: no test dependency needed.

Every function is standard library only and deterministic (equal arguments give
equal bytes), so a sample can be made on the fly instead of kept in a repository.
The files pass MiniMax's checks (format by content, size, duration), and the
emulator clones from them.

```python
from pathlib import Path

from voiceclone.samples import sample_wav

Path("narrator.wav").write_bytes(sample_wav(12.0))
```
"""

from __future__ import annotations

from ._samples import make_m4a, make_mp3, make_wav

__all__ = ["sample_m4a", "sample_mp3", "sample_wav"]


def sample_wav(seconds: float = 12.0, *, pitch_hz: float = 140.0, seed: int = 0) -> bytes:
    """A voice-like WAV sample the emulator (and MiniMax's limits) accept.

    Args:
        seconds: duration; voice samples need 10 s to 5 min, prompt audio under 8 s.
        pitch_hz: the fundamental frequency, to make distinct voices.
        seed: varies the syllable pattern; the same arguments give the same bytes.

    Returns:
        The bytes of a 16-bit mono WAV file.
    """
    return make_wav(seconds, pitch_hz=pitch_hz, seed=seed)


def sample_mp3(seconds: float = 12.0) -> bytes:
    """An MP3 file of silence lasting ``seconds``: valid frames, for format and duration checks.

    Args:
        seconds: duration, to within one frame (26 ms).

    Returns:
        The bytes of a 128 kbit/s, 44.1 kHz mono MP3 file.
    """
    return make_mp3(seconds)


def sample_m4a(seconds: float = 12.0) -> bytes:
    """A minimal M4A file whose header says ``seconds`` long (no playable audio).

    Enough for format sniffing and duration checks, the emulator's included.

    Args:
        seconds: the duration the header declares.

    Returns:
        The bytes of an MPEG-4 audio file.
    """
    return make_m4a(seconds)

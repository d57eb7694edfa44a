"""Format and duration of wav / mp3 / m4a audio, judged by content rather than file name."""

from __future__ import annotations

import io
import os
from typing import IO, Any

import attrs

__all__ = [
    "AUDIO_FORMATS",
    "AudioInfo",
    "probe_bytes",
    "probe_file",
    "probe_fileobj",
    "sniff_format",
]

AUDIO_FORMATS: tuple[str, ...] = ("mp3", "m4a", "wav")

#: How many leading bytes :func:`sniff_format` looks at.
SNIFF_BYTES = 64

# Brands seen in the ftyp box of audio-only MPEG-4 files. Plain video brands such as
# "avc1" are left out so that an .mp4 video is not taken for an audio sample.
_M4A_BRANDS = frozenset(
    {
        b"M4A ",
        b"M4B ",
        b"M4P ",
        b"mp41",
        b"mp42",
        b"isom",
        b"iso2",
        b"iso3",
        b"iso4",
        b"iso5",
        b"iso6",
        b"dash",
        b"3gp4",
        b"3gp5",
        b"3gp6",
        b"F4A ",
    }
)


@attrs.frozen
class AudioInfo:
    """What could be learnt about a piece of audio.

    Attributes:
        format: ``"mp3"``, ``"m4a"`` or ``"wav"``; ``None`` when the content is none of these.
        duration: Length in seconds; ``None`` when the format is known but the duration
            cannot be read (a truncated or corrupt file).
        size: Size in bytes.
    """

    format: str | None
    duration: float | None
    size: int


def _is_mpeg_frame_header(head: bytes) -> bool:
    if len(head) < 4 or head[0] != 0xFF or (head[1] & 0xE0) != 0xE0:
        return False
    version = (head[1] >> 3) & 0x3
    layer = (head[1] >> 1) & 0x3
    bitrate_index = head[2] >> 4
    sample_rate_index = (head[2] >> 2) & 0x3
    # The reserved values rule out AAC/ADTS (layer 0) and random 0xFFEx bytes.
    return version != 1 and layer != 0 and bitrate_index != 15 and sample_rate_index != 3


def _is_m4a(head: bytes) -> bool:
    if len(head) < 12 or head[4:8] != b"ftyp":
        return False
    box_size = int.from_bytes(head[0:4], "big")
    if box_size < 16:
        return False
    brands = [head[8:12]]
    end = min(box_size, len(head))
    brands.extend(head[i : i + 4] for i in range(16, end - 3, 4))
    return any(brand in _M4A_BRANDS for brand in brands)


def sniff_format(head: bytes) -> str | None:
    """Recognise wav, mp3 or m4a from the first bytes of a file (64 are plenty).

    Returns ``"wav"``, ``"mp3"``, ``"m4a"`` or ``None``. The file name is never consulted.
    """
    if len(head) >= 12 and head[0:4] == b"RIFF" and head[8:12] == b"WAVE":
        return "wav"
    if head[0:3] == b"ID3" or _is_mpeg_frame_header(head):
        return "mp3"
    if _is_m4a(head):
        return "m4a"
    return None


def _duration(fmt: str, fileobj: IO[bytes]) -> float | None:
    # mutagen is imported lazily: importing it costs more than most callers ever probe.
    loader: Any
    if fmt == "wav":
        from mutagen.wave import WAVE as loader
    elif fmt == "mp3":
        from mutagen.mp3 import MP3 as loader
    else:
        from mutagen.mp4 import MP4 as loader
    try:
        fileobj.seek(0)
        length = loader(fileobj).info.length
    except Exception:
        # mutagen raises a zoo of exception types (its own, struct.error, ValueError,
        # EOFError...) for damaged files; all of them mean the same thing here.
        return None
    if not isinstance(length, (int, float)) or length < 0:
        return None
    return float(length)


def probe_fileobj(fileobj: IO[bytes], size: int) -> AudioInfo:
    """Probe an open, seekable binary file of ``size`` bytes, starting from its beginning.

    Only the header region is read unless the format needs more to find its duration.
    """
    fileobj.seek(0)
    fmt = sniff_format(fileobj.read(SNIFF_BYTES))
    if fmt is None:
        return AudioInfo(format=None, duration=None, size=size)
    return AudioInfo(format=fmt, duration=_duration(fmt, fileobj), size=size)


def probe_bytes(data: bytes) -> AudioInfo:
    """Probe audio held in memory."""
    return probe_fileobj(io.BytesIO(data), len(data))


def probe_file(path: str | os.PathLike[str]) -> AudioInfo:
    """Probe an audio file on disk without loading it whole.

    Raises:
        OSError: the file cannot be opened or read.
    """
    with open(path, "rb") as fileobj:
        size = os.fstat(fileobj.fileno()).st_size
        return probe_fileobj(fileobj, size)

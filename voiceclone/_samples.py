"""Deterministic sample audio for demos and tests: voice-like WAV, and minimal MP3 / M4A.

Everything here is standard library only and reproducible: the same arguments always
give the same bytes.
"""

from __future__ import annotations

import math
import os
import random
import struct
import sys
from array import array
from pathlib import Path

__all__ = ["make_m4a", "make_mp3", "make_wav", "write_wav"]

_LEVELS = 32  # amplitude quantisation of the syllable envelope
_PEAK = 12000  # int16 peak, leaves headroom under 32767


def _wav_header(n_samples: int, sample_rate: int) -> bytes:
    data_size = n_samples * 2
    return struct.pack(
        "<4sI4s4sIHHIIHH4sI",
        b"RIFF",
        36 + data_size,
        b"WAVE",
        b"fmt ",
        16,
        1,  # PCM
        1,  # mono
        sample_rate,
        sample_rate * 2,
        2,
        16,
        b"data",
        data_size,
    )


class _PeriodBank:
    """One glottal period of a harmonic tone, rendered once per (length, level) and reused.

    Building the signal period by period from cached byte strings keeps generation
    at a few milliseconds per ten seconds of audio, without numpy.
    """

    def __init__(self, weights: list[float], phases: list[float]) -> None:
        self._weights = weights
        self._phases = phases
        self._shapes: dict[int, list[float]] = {}
        self._rendered: dict[tuple[int, int], bytes] = {}

    def _shape(self, length: int) -> list[float]:
        shape = self._shapes.get(length)
        if shape is None:
            norm = sum(self._weights)
            step = 2.0 * math.pi / length
            shape = [
                sum(
                    w * math.sin((h + 1) * step * i + p)
                    for h, (w, p) in enumerate(zip(self._weights, self._phases, strict=True))
                )
                / norm
                for i in range(length)
            ]
            self._shapes[length] = shape
        return shape

    def period(self, length: int, level: int) -> bytes:
        key = (length, level)
        data = self._rendered.get(key)
        if data is None:
            gain = _PEAK * level / _LEVELS
            samples = array("h", [round(v * gain) for v in self._shape(length)])
            if sys.byteorder == "big":
                samples.byteswap()
            data = samples.tobytes()
            self._rendered[key] = data
        return data


def make_wav(
    seconds: float, *, pitch_hz: float = 140.0, sample_rate: int = 16000, seed: int = 0
) -> bytes:
    """A 16-bit mono PCM WAV of a voice-like signal lasting ``seconds``.

    The signal is a fundamental at about ``pitch_hz`` with a few harmonics, a slow
    vibrato, and an amplitude envelope of syllables separated by short pauses. Different
    ``pitch_hz`` or ``seed`` give clearly different files; equal arguments give equal bytes.
    """
    if seconds < 0 or pitch_hz <= 0 or sample_rate <= 0:
        raise ValueError("seconds must be >= 0, pitch_hz and sample_rate > 0")
    rng = random.Random(seed)
    n_total = round(seconds * sample_rate)
    weights = [1.0] + [rng.uniform(0.15, 0.7) / h for h in range(2, 7)]
    phases = [rng.uniform(0.0, 2.0 * math.pi) for _ in weights]
    bank = _PeriodBank(weights, phases)
    vibrato_hz = rng.uniform(4.5, 6.0)
    vibrato_depth = rng.uniform(0.015, 0.03)

    chunks: list[bytes] = []
    n = 0
    while n < n_total:
        # A syllable: voiced stretch with a rise-and-fall envelope and its own pitch offset.
        syllable = round(rng.uniform(0.12, 0.32) * sample_rate)
        inflection = rng.uniform(-0.08, 0.08)
        loudness = rng.uniform(0.6, 1.0)
        start = n
        while n < n_total and n - start < syllable:
            t = n / sample_rate
            freq = (
                pitch_hz
                * (1.0 + inflection)
                * (1.0 + vibrato_depth * math.sin(2.0 * math.pi * vibrato_hz * t))
            )
            length = max(2, round(sample_rate / freq))
            envelope = math.sin(math.pi * min(1.0, (n - start + length / 2) / syllable))
            level = max(0, min(_LEVELS, round(_LEVELS * loudness * envelope)))
            chunks.append(bank.period(length, level))
            n += length
        pause = round(rng.choice((0.04, 0.06, 0.08, 0.25)) * sample_rate)
        chunks.append(b"\x00\x00" * pause)
        n += pause

    pcm = b"".join(chunks)[: n_total * 2]
    return _wav_header(n_total, sample_rate) + pcm


def write_wav(
    path: str | os.PathLike[str],
    seconds: float,
    *,
    pitch_hz: float = 140.0,
    sample_rate: int = 16000,
    seed: int = 0,
) -> Path:
    """Write :func:`make_wav` output to ``path`` and return it as a :class:`~pathlib.Path`."""
    target = Path(path)
    target.write_bytes(make_wav(seconds, pitch_hz=pitch_hz, sample_rate=sample_rate, seed=seed))
    return target


# MPEG-1 Layer III, 128 kbit/s, 44.1 kHz, mono, no CRC.
_MP3_BITRATE = 128_000
_MP3_RATE = 44_100
_MP3_SAMPLES_PER_FRAME = 1152
_MP3_HEADER = 0xFFFB9000 | 0xC0  # sync, MPEG-1, layer III, no CRC, 128k, 44.1k; 0xC0 = mono
_MP3_PADDING_BIT = 0x200


def make_mp3(seconds: float) -> bytes:
    """MPEG-1 Layer III frames (128 kbit/s, 44.1 kHz) of silence lasting about ``seconds``.

    Frame headers are valid and payloads are zero, which decoders play as silence; padding
    is spread as an encoder would so that the byte rate is exactly 128 kbit/s and the
    duration read from the file size matches the frame count.
    """
    if seconds < 0:
        raise ValueError("seconds must be >= 0")
    frames = round(seconds * _MP3_RATE / _MP3_SAMPLES_PER_FRAME)
    numerator = 144 * _MP3_BITRATE  # frame size = numerator / rate bytes, fractional
    out = bytearray()
    remainder = 0
    for _ in range(frames):
        size, remainder = divmod(numerator + remainder, _MP3_RATE)
        header = _MP3_HEADER
        if size > numerator // _MP3_RATE:
            header |= _MP3_PADDING_BIT
        out += header.to_bytes(4, "big")
        out += bytes(size - 4)
    return bytes(out)


def _box(kind: bytes, *payload: bytes) -> bytes:
    body = b"".join(payload)
    return struct.pack(">I4s", 8 + len(body), kind) + body


def _full_box(kind: bytes, version: int, flags: int, *payload: bytes) -> bytes:
    return _box(kind, struct.pack(">I", (version << 24) | flags), *payload)


_MATRIX = struct.pack(">9I", 0x10000, 0, 0, 0, 0x10000, 0, 0, 0, 0x40000000)


def make_m4a(seconds: float, *, sample_rate: int = 44_100) -> bytes:
    """A minimal MPEG-4 audio file (brand ``M4A ``) whose header says ``seconds`` long.

    It holds an audio track with empty sample tables and no media data: enough for
    format sniffing and for mutagen to report the duration, not for playback.
    """
    if seconds < 0:
        raise ValueError("seconds must be >= 0")
    timescale = sample_rate
    duration = round(seconds * timescale)
    ftyp = _box(b"ftyp", b"M4A ", struct.pack(">I", 0), b"M4A ", b"mp42", b"isom")
    mvhd = _full_box(
        b"mvhd",
        0,
        0,
        struct.pack(">IIII", 0, 0, timescale, duration),
        struct.pack(">IH10x", 0x10000, 0x100),  # rate 1.0, volume 1.0
        _MATRIX,
        bytes(24),  # pre_defined
        struct.pack(">I", 2),  # next_track_ID
    )
    tkhd = _full_box(
        b"tkhd",
        0,
        0x7,  # enabled, in movie, in preview
        struct.pack(">IIIII", 0, 0, 1, 0, duration),
        struct.pack(">8xhhH2x", 0, 0, 0x100),
        _MATRIX,
        struct.pack(">II", 0, 0),
    )
    mdhd = _full_box(
        b"mdhd", 0, 0, struct.pack(">IIIIHH", 0, 0, timescale, duration, 0x55C4, 0)
    )  # language "und"
    hdlr = _full_box(b"hdlr", 0, 0, struct.pack(">I4s12x", 0, b"soun"), b"SoundHandler\x00")
    smhd = _full_box(b"smhd", 0, 0, struct.pack(">hH", 0, 0))
    dinf = _box(b"dinf", _full_box(b"dref", 0, 0, struct.pack(">I", 1), _full_box(b"url ", 0, 1)))
    stbl = _box(
        b"stbl",
        _full_box(b"stsd", 0, 0, struct.pack(">I", 0)),
        _full_box(b"stts", 0, 0, struct.pack(">I", 0)),
        _full_box(b"stsc", 0, 0, struct.pack(">I", 0)),
        _full_box(b"stsz", 0, 0, struct.pack(">II", 0, 0)),
        _full_box(b"stco", 0, 0, struct.pack(">I", 0)),
    )
    mdia = _box(b"mdia", mdhd, hdlr, _box(b"minf", smhd, dinf, stbl))
    moov = _box(b"moov", mvhd, _box(b"trak", tkhd, mdia))
    return ftyp + moov + _box(b"mdat")

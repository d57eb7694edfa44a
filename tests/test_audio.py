"""Format sniffing, duration probing, and the generated sample audio."""

from __future__ import annotations

import io
import time
import wave
from pathlib import Path
from typing import Any

import attrs
import pytest

from voiceclone._audio import (
    AUDIO_FORMATS,
    AudioInfo,
    probe_bytes,
    probe_file,
    probe_fileobj,
    sniff_format,
)
from voiceclone._samples import make_m4a, make_mp3, make_wav, write_wav


class CountingReader(io.BytesIO):
    """A BytesIO that counts how many bytes were read from it."""

    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.bytes_read = 0

    def read(self, size: int | None = -1) -> bytes:
        chunk = super().read(size)
        self.bytes_read += len(chunk)
        return chunk


# -- sniffing -----------------------------------------------------------------------


def test_audio_formats() -> None:
    assert AUDIO_FORMATS == ("mp3", "m4a", "wav")


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (b"RIFF\x24\x00\x00\x00WAVEfmt ", "wav"),
        (b"ID3\x04\x00\x00\x00\x00\x00\x00", "mp3"),
        (bytes([0xFF, 0xFB, 0x90, 0xC0]), "mp3"),  # MPEG-1 layer III
        (bytes([0xFF, 0xF3, 0x48, 0xC4]), "mp3"),  # MPEG-2 layer III
        (bytes([0xFF, 0xE3, 0x18, 0xC4]), "mp3"),  # MPEG-2.5 layer III
        (b"\x00\x00\x00\x20ftypM4A \x00\x00\x00\x00M4A mp42isom\x00\x00\x00\x00", "m4a"),
        (b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom", "m4a"),
        (b"\x00\x00\x00\x14ftypXXXX\x00\x00\x00\x00isom", "m4a"),  # compatible brand
        (b"\x00\x00\x00\x14ftypavc1\x00\x00\x00\x00avc1", None),  # video only
        (bytes([0xFF, 0xF1, 0x50, 0x80]), None),  # AAC ADTS: layer bits 00
        (bytes([0xFF, 0xFB, 0xF0, 0xC0]), None),  # bad bitrate index
        (bytes([0xFF, 0xFB, 0x9C, 0xC0]), None),  # reserved sample rate
        (b"RIFF\x24\x00\x00\x00AVI LIST", None),
        (b"OggS\x00\x02", None),
        (b"fLaC\x00\x00\x00\x22", None),
        (b"hello world, not audio", None),
        (b"", None),
        (b"\xff", None),
    ],
)
def test_sniff_format(head: bytes, expected: str | None) -> None:
    assert sniff_format(head) == expected


def test_sniff_ignores_file_name(tmp_path: Path) -> None:
    wav_named_mp3 = tmp_path / "voice.mp3"
    wav_named_mp3.write_bytes(make_wav(1.0))
    text_named_wav = tmp_path / "voice.wav"
    text_named_wav.write_bytes(b"just some text\n" * 10)
    assert probe_file(wav_named_mp3).format == "wav"
    assert probe_file(text_named_wav) == AudioInfo(format=None, duration=None, size=150)


# -- probing ------------------------------------------------------------------------


@pytest.mark.parametrize("seconds", [1.5, 10.0, 42.25])
def test_probe_generated_audio(seconds: float) -> None:
    wav = probe_bytes(make_wav(seconds))
    assert wav.format == "wav"
    assert wav.duration == pytest.approx(seconds, abs=1e-3)
    m4a = probe_bytes(make_m4a(seconds))
    assert m4a.format == "m4a"
    assert m4a.duration == pytest.approx(seconds, abs=1e-3)
    mp3 = probe_bytes(make_mp3(seconds))
    assert mp3.format == "mp3"
    assert mp3.duration == pytest.approx(seconds, abs=0.03)  # within one frame


def test_probe_reports_size() -> None:
    data = make_mp3(3.0)
    assert probe_bytes(data).size == len(data)


@pytest.mark.parametrize(
    "data",
    [
        b"RIFF\x00\x00\x00\x00WAVE" + b"\x13" * 40,
        b"ID3\x04\x00\x00\x00\x00\x00\x0a" + b"\x00" * 20,
        b"\x00\x00\x00\x14ftypM4A \x00\x00\x00\x00isom",
        make_m4a(12.0)[:-300],
    ],
    ids=["wav-no-fmt", "id3-no-frames", "m4a-no-moov", "m4a-truncated"],
)
def test_probe_known_format_unreadable_duration(data: bytes) -> None:
    info = probe_bytes(data)
    assert info.format is not None
    assert info.duration is None
    assert info.size == len(data)


def test_probe_unknown_reads_only_the_head() -> None:
    reader = CountingReader(b"\x00" * (5 * 1024 * 1024))
    info = probe_fileobj(reader, 5 * 1024 * 1024)
    assert info == AudioInfo(format=None, duration=None, size=5 * 1024 * 1024)
    assert reader.bytes_read <= 64


def test_probe_large_wav_reads_only_headers() -> None:
    data = make_wav(300.0, sample_rate=32000)  # about 19 MB
    reader = CountingReader(data)
    info = probe_fileobj(reader, len(data))
    assert info.duration == pytest.approx(300.0)
    assert reader.bytes_read < 64 * 1024


def test_probe_file(tmp_path: Path) -> None:
    path = write_wav(tmp_path / "a.wav", 11.0)
    info = probe_file(path)
    assert (info.format, info.size) == ("wav", path.stat().st_size)
    assert info.duration == pytest.approx(11.0)
    assert probe_file(str(path)) == info


def test_probe_missing_file_raises(tmp_path: Path) -> None:
    with pytest.raises(OSError):  # noqa: PT011 - any OSError is the contract
        probe_file(tmp_path / "missing.wav")


def test_audio_info_is_frozen() -> None:
    info = AudioInfo(format="wav", duration=1.0, size=10)
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        info.size = 11  # type: ignore[misc]


# -- generated samples --------------------------------------------------------------


def test_make_wav_is_real_pcm() -> None:
    data = make_wav(2.0, sample_rate=22050)
    with wave.open(io.BytesIO(data)) as reader:
        assert reader.getnchannels() == 1
        assert reader.getsampwidth() == 2
        assert reader.getframerate() == 22050
        assert reader.getnframes() == 44100
        frames = reader.readframes(reader.getnframes())
    assert len(frames) == 88200
    assert any(frames)  # not silence


def test_make_wav_deterministic_and_distinct() -> None:
    base = make_wav(3.0)
    assert make_wav(3.0) == base
    others = {make_wav(3.0, seed=1), make_wav(3.0, pitch_hz=220.0), make_wav(3.0, seed=2)}
    assert base not in others
    assert len(others) == 3


def test_make_wav_zero_length() -> None:
    assert probe_bytes(make_wav(0.0)).duration == 0.0


def test_make_wav_is_fast() -> None:
    start = time.perf_counter()
    make_wav(10.0, seed=7)
    # The target is well under 0.1 s; the margin absorbs slow CI machines.
    assert time.perf_counter() - start < 0.5


@pytest.mark.parametrize("kwargs", [{"seconds": -1.0}, {"seconds": 1.0, "pitch_hz": 0.0}])
def test_make_wav_rejects_bad_arguments(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="must be"):
        make_wav(**kwargs)


def test_make_mp3_frames() -> None:
    from mutagen.mp3 import MP3

    data = make_mp3(10.0)
    assert data[:2] == b"\xff\xfb"
    info: Any = MP3(io.BytesIO(data)).info  # type: ignore[no-untyped-call]
    assert info.bitrate == 128000
    assert info.sample_rate == 44100
    # 383 frames of 1152 samples, and the byte rate is exactly 128 kbit/s.
    assert info.length == pytest.approx(383 * 1152 / 44100, abs=1e-3)
    assert len(data) == pytest.approx(info.length * 128000 / 8, abs=1)


def test_make_m4a_header() -> None:
    from mutagen.mp4 import MP4

    data = make_m4a(12.5)
    assert data[4:12] == b"ftypM4A "
    info: Any = MP4(io.BytesIO(data)).info  # type: ignore[no-untyped-call]
    assert info.length == pytest.approx(12.5)


def test_write_wav(tmp_path: Path) -> None:
    path = write_wav(tmp_path / "x.wav", 1.0, pitch_hz=180.0, seed=3)
    assert isinstance(path, Path)
    assert path.read_bytes() == make_wav(1.0, pitch_hz=180.0, seed=3)

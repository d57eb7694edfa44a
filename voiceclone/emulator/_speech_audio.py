"""Synthesized speech as the emulator renders it: a tone, in the format asked for.

Deterministic (one voice, one text, one setting: the same bytes), of the length
the text would take to say, and a real file of its format: 16-bit PCM, a WAV, a
FLAC of verbatim frames, or MP3 frames of silence at the asked bitrate and rate.
No codec is needed to write them, and any player or decoder reads them.
"""

from __future__ import annotations

import re
import struct
from typing import Final

from voiceclone._samples import make_wav

__all__ = ["PAUSE", "SpeechAudio", "render_speech", "speech_seconds"]

#: Characters said per second at speed 1: a calm reading pace.
CHARS_PER_SECOND: Final = 15.0
#: The shortest speech rendered, in seconds.
MIN_SECONDS: Final = 0.2
#: Samples per FLAC frame (a fixed block size; the last frame is shorter).
FLAC_BLOCK: Final = 4096
_PAUSE = re.compile(r"<#(\d+(?:\.\d+)?)#>")
#: Any pause mark, well formed or not (``<#...#>``).
PAUSE = re.compile(r"<#([^#>]*)#>")
_WAV_HEADER_BYTES: Final = 44

# MPEG audio, Layer III: bitrates (kbit/s) by index, per version; sample rates by version.
_MPEG1_KBPS: Final = (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320)
_MPEG2_KBPS: Final = (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160)
# sample rate -> (version bits, sample-rate index, bitrate table, samples per frame, slot factor)
_MPEG_RATES: Final = {
    44100: (0b11, 0, _MPEG1_KBPS, 1152, 144),
    48000: (0b11, 1, _MPEG1_KBPS, 1152, 144),
    32000: (0b11, 2, _MPEG1_KBPS, 1152, 144),
    22050: (0b10, 0, _MPEG2_KBPS, 576, 72),
    24000: (0b10, 1, _MPEG2_KBPS, 576, 72),
    16000: (0b10, 2, _MPEG2_KBPS, 576, 72),
    11025: (0b00, 0, _MPEG2_KBPS, 576, 72),
    12000: (0b00, 1, _MPEG2_KBPS, 576, 72),
    8000: (0b00, 2, _MPEG2_KBPS, 576, 72),
}


class SpeechAudio:
    """Rendered speech and what ``extra_info`` says of it."""

    __slots__ = ("bitrate", "channels", "data", "format", "length_ms", "sample_rate")

    def __init__(
        self,
        data: bytes,
        *,
        format: str,
        sample_rate: int,
        bitrate: int,
        channels: int,
        length_ms: int,
    ) -> None:
        self.data = data
        self.format = format
        self.sample_rate = sample_rate
        self.bitrate = bitrate
        self.channels = channels
        self.length_ms = length_ms


def speech_seconds(text: str, speed: float) -> float:
    """How long ``text`` takes to say at ``speed``: its characters, plus its pause marks
    (checked by the endpoint: each 0.01 to 99.99 seconds)."""
    pauses = sum(float(seconds) for seconds in _PAUSE.findall(text))
    spoken = len(_PAUSE.sub("", text).strip())
    return max(MIN_SECONDS, spoken / CHARS_PER_SECOND / speed) + pauses


def render_speech(
    text: str,
    *,
    pitch_hz: float,
    seed: int,
    speed: float,
    format: str,
    sample_rate: int,
    bitrate: int,
    channels: int,
) -> SpeechAudio:
    """``text`` said by a voice of ``pitch_hz``, in ``format`` at ``sample_rate``."""
    seconds = speech_seconds(text, speed)
    if format == "mp3":
        data, bitrate, frames, per_frame = _mp3(seconds, sample_rate, bitrate, channels)
        length_ms = round(frames * per_frame * 1000 / sample_rate)
        return SpeechAudio(
            data, format=format, sample_rate=sample_rate, bitrate=bitrate,
            channels=channels, length_ms=length_ms,
        )  # fmt: skip
    mono = make_wav(seconds, pitch_hz=pitch_hz, sample_rate=sample_rate, seed=seed)
    pcm = mono[_WAV_HEADER_BYTES:]
    if channels == 2:  # the same signal on both sides, interleaved
        pcm = b"".join(pcm[i : i + 2] * 2 for i in range(0, len(pcm), 2))
    samples = len(pcm) // (2 * channels)
    if format == "wav":
        data = _wav_header(len(pcm), sample_rate, channels) + pcm
    elif format == "flac":
        data = _flac(pcm, sample_rate, channels)
    else:
        data = pcm
    return SpeechAudio(
        data, format=format, sample_rate=sample_rate, bitrate=sample_rate * 16 * channels,
        channels=channels, length_ms=round(samples * 1000 / sample_rate),
    )  # fmt: skip


def _wav_header(size: int, sample_rate: int, channels: int) -> bytes:
    block = 2 * channels
    return (
        b"RIFF" + struct.pack("<I", 36 + size) + b"WAVE"
        + b"fmt " + struct.pack("<IHHIIHH", 16, 1, channels, sample_rate,
                                sample_rate * block, block, 16)
        + b"data" + struct.pack("<I", size)
    )  # fmt: skip


def _mp3(
    seconds: float, sample_rate: int, bitrate: int, channels: int
) -> tuple[bytes, int, int, int]:
    """Silent frames; returns the bytes, the bitrate used, frames and samples per frame.

    A bitrate the MPEG version of ``sample_rate`` cannot carry (256 kbit/s at 24 kHz,
    say) is lowered to the highest it can: what an encoder would do.
    """
    version, rate_index, table, per_frame, factor = _MPEG_RATES[sample_rate]
    kbps = max(k for k in table if k <= bitrate // 1000) or table[1]
    header = (
        (0x7FF << 21) | (version << 19) | (0b01 << 17) | (1 << 16)
        | (table.index(kbps) << 12) | (rate_index << 10)
        | ((0b11 if channels == 1 else 0b00) << 6)
    )  # fmt: skip
    frames = max(1, round(seconds * sample_rate / per_frame))
    numerator = factor * kbps * 1000
    out = bytearray()
    remainder = 0
    for _ in range(frames):
        size, remainder = divmod(numerator + remainder, sample_rate)
        padded = size > numerator // sample_rate
        out += (header | (padded << 9)).to_bytes(4, "big")
        out += bytes(size - 4)
    return bytes(out), kbps * 1000, frames, per_frame


def _crc_table(poly: int, width: int) -> tuple[int, ...]:
    top, mask = 1 << (width - 1), (1 << width) - 1
    table = []
    for byte in range(256):
        crc = byte << (width - 8)
        for _ in range(8):
            crc = ((crc << 1) ^ poly) & mask if crc & top else (crc << 1) & mask
        table.append(crc)
    return tuple(table)


# FLAC's checksums, a table each: a byte at a time, not a bit (a frame is ~16 KiB).
_CRC8: Final = _crc_table(0x07, 8)
_CRC16: Final = _crc_table(0x8005, 16)


def _crc8(data: bytes) -> int:
    crc = 0
    for byte in data:
        crc = _CRC8[crc ^ byte]
    return crc


def _crc16(data: bytes) -> int:
    crc = 0
    table = _CRC16
    for byte in data:
        crc = ((crc << 8) & 0xFFFF) ^ table[(crc >> 8) ^ byte]
    return crc


def _utf8_number(n: int) -> bytes:
    """A FLAC frame number: UTF-8's coding, extended to 36 bits."""
    if n < 0x80:
        return bytes([n])
    length = 2
    while n >= 1 << (5 * length + 1):
        length += 1
    out = bytearray()
    for _ in range(length - 1):
        out.insert(0, 0x80 | (n & 0x3F))
        n >>= 6
    out.insert(0, ((0xFF << (8 - length)) & 0xFF) | n)
    return bytes(out)


def _flac(pcm: bytes, sample_rate: int, channels: int) -> bytes:
    """A FLAC stream of verbatim subframes: 16-bit samples, fixed blocks, CRCs set."""
    frame_bytes = 2 * channels
    total = len(pcm) // frame_bytes
    info = struct.pack(">HH", FLAC_BLOCK, FLAC_BLOCK) + bytes(6)  # frame sizes unknown: 0
    packed = (sample_rate << 44) | ((channels - 1) << 41) | (15 << 36) | total
    info += packed.to_bytes(8, "big") + bytes(16)  # no MD5 signature
    out = bytearray(b"fLaC" + bytes([0x80]) + len(info).to_bytes(3, "big") + info)
    for number, start in enumerate(range(0, total, FLAC_BLOCK)):
        count = min(FLAC_BLOCK, total - start)
        header = bytearray(b"\xff\xf8")  # sync, fixed block size
        header.append(0x70)  # block size: 16 bits at the end; sample rate: from STREAMINFO
        header.append(((channels - 1) << 4) | 0x08)  # independent channels, 16 bits
        header += _utf8_number(number) + struct.pack(">H", count - 1)
        header.append(_crc8(bytes(header)))
        frame = bytearray(header)
        block = pcm[start * frame_bytes : (start + count) * frame_bytes]
        for channel in range(channels):
            frame.append(0x02)  # verbatim subframe, no wasted bits
            little = struct.unpack(f"<{count * channels}h", block)[channel::channels]
            frame += struct.pack(f">{count}h", *little)
        frame += struct.pack(">H", _crc16(bytes(frame)))
        out += frame
    return bytes(out)

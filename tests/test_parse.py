"""Reading MiniMax answers: tolerant of its inconsistencies, strict about unusable values."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from conftest import ok, respond

from voiceclone import Client, PreviewInfo, SensitiveType, TransportError, UploadedFile, Voice
from voiceclone._parse import (
    ResponseFormatError,
    int64,
    parse_clone_result,
    parse_uploaded_file,
    parse_voices,
)
from voiceclone._samples import make_wav
from voiceclone.emulator import Emulator

BIG = 2**63 - 1


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0, 0),
        (311103389282466, 311103389282466),
        (2**53 + 1, 2**53 + 1),
        ("9007199254740993", 9007199254740993),
        (" 42 ", 42),
        ("-7", -7),
        (BIG, BIG),
        (str(BIG), BIG),
        (-(2**63), -(2**63)),
    ],
)
def test_int64_reads_numbers_and_numeric_strings_exactly(value: object, expected: int) -> None:
    assert int64(value, "x") == expected


@pytest.mark.parametrize(
    "value",
    [
        True,
        False,
        1.0,
        9007199254740993.0,
        "1e3",
        "0x10",
        "",
        "12a",
        None,
        [1],
        {"v": 1},
        2**63,
        str(2**63),
        -(2**63) - 1,
    ],
)
def test_int64_refuses_everything_else(value: object) -> None:
    with pytest.raises(ResponseFormatError, match=r"file\.file_id"):
        int64(value, "file.file_id")


def test_format_errors_are_transport_errors() -> None:
    assert issubclass(ResponseFormatError, TransportError)


def test_clone_result_from_a_full_answer() -> None:
    body = ok(
        input_sensitive=False,
        input_sensitive_type=0,
        demo_audio="https://cdn.example/preview.mp3",
        extra_info={"audio_length": 9120, "bitrate": None, "word_count": "21"},
    )
    result = parse_clone_result(body, voice_id="Narrator001", trace_id="t", attempts=2)
    assert result.demo_audio == "https://cdn.example/preview.mp3"
    assert result.extra_info == PreviewInfo(audio_length=9120, word_count=21)
    assert (result.voice_id, result.trace_id, result.attempts, result.recovered) == (
        "Narrator001",
        "t",
        2,
        False,
    )


@pytest.mark.parametrize(
    ("body", "where"),
    [
        ({"demo_audio": 5}, "demo_audio"),
    ],
)
def test_clone_result_refuses_unusable_values(body: dict[str, Any], where: str) -> None:
    with pytest.raises(ResponseFormatError, match=where):
        parse_clone_result(ok(**body), voice_id="Narrator001", trace_id=None, attempts=1)


@pytest.mark.parametrize(
    ("value", "measure", "count"),
    [
        (9120, 9120, 9120),
        ("9120", 9120, 9120),
        (" 21 ", 21, 21),
        (9120.0, 9120, 9120),
        ("9120.0", 9120, 9120),
        (9120.6, 9121, None),  # a fraction of a millisecond rounds; of a word, means nothing
        ("1e3", 1000, 1000),
        (0, 0, 0),
        (-1, None, None),
        ("-5", None, None),
        (None, None, None),
        (True, None, None),
        ("many", None, None),
        ("", None, None),
        (float("nan"), None, None),
        (float("inf"), None, None),
        ("1e400", None, None),
        (2**63, None, None),
        ("9" * 100, None, None),
        ([9120], None, None),
        ({"ms": 9120}, None, None),
    ],
)
def test_preview_info_is_tolerant_field_by_field(
    value: object, measure: int | None, count: int | None
) -> None:
    extra = {"audio_length": value, "bitrate": value, "word_count": value}
    extra["usage_characters"] = value
    result = parse_clone_result(
        ok(demo_audio="https://cdn.example/p.mp3", extra_info=extra),
        voice_id="Narrator001",
        trace_id="t",
        attempts=1,
    )
    assert result.extra_info == PreviewInfo(
        audio_length=measure, bitrate=measure, word_count=count, usage_characters=count
    )
    assert result.demo_audio == "https://cdn.example/p.mp3"


@pytest.mark.parametrize("extra", ["none", [1, 2], 5, True])
def test_an_extra_info_that_is_not_an_object_is_dropped(extra: object) -> None:
    result = parse_clone_result(
        ok(demo_audio="https://cdn.example/p.mp3", extra_info=extra),
        voice_id="Narrator001",
        trace_id="t",
        attempts=1,
    )
    assert result.extra_info is None
    assert result.demo_audio == "https://cdn.example/p.mp3"


def test_clone_result_null_demo_audio() -> None:
    result = parse_clone_result(
        ok(demo_audio=None, input_sensitive=None), voice_id="V1234567", trace_id=None, attempts=1
    )
    assert result.demo_audio is None
    assert result.input_sensitive is False
    assert result.input_sensitive_type is SensitiveType.NORMAL


def test_sensitive_types_are_the_documented_ones() -> None:
    assert [(t.name, t.value) for t in SensitiveType] == [
        ("NORMAL", 0),
        ("SEVERE_VIOLATION", 1),
        ("PORNOGRAPHIC", 2),
        ("ADVERTISING", 3),
        ("PROHIBITED", 4),
        ("ABUSE", 5),
        ("VIOLENCE_OR_TERRORISM", 6),
        ("OTHER", 7),
    ]


def test_uploaded_file() -> None:
    body = ok(
        file={
            "file_id": "311103389282466",
            "bytes": 5896337,
            "created_at": 1700469398,
            "filename": "narrator.wav",
            "purpose": "voice_clone",
        }
    )
    assert parse_uploaded_file(body, trace_id="t") == UploadedFile(
        311103389282466,
        5896337,
        dt.datetime(2023, 11, 20, 8, 36, 38, tzinfo=dt.timezone.utc),
        "narrator.wav",
        "voice_clone",
        "t",
    )


@pytest.mark.parametrize(
    ("file", "where"),
    [
        (None, "file is not an object"),
        ([], "file is not an object"),
        ({"bytes": 3}, "file_id is missing"),
        ({"file_id": None}, "file_id is missing"),
        ({"file_id": 1.5}, "file.file_id"),
        ({"file_id": 1, "created_at": 2**62}, "created_at"),
        ({"file_id": 1, "created_at": "yesterday"}, "created_at"),
        ({"file_id": 1, "filename": 3}, "file.filename"),
    ],
)
def test_uploaded_file_refuses_unusable_values(file: Any, where: str) -> None:
    with pytest.raises(ResponseFormatError, match=where):
        parse_uploaded_file(ok(file=file), trace_id=None)


def test_voices_from_every_group_with_nulls() -> None:
    body = ok(
        system_voice=[{"voice_id": "Calm_Woman", "voice_name": "Calm", "description": None}],
        voice_cloning=None,
        voice_generation=[{"voice_id": "Gen1", "description": ["a", "b"], "created_time": "x"}],
    )
    assert parse_voices(body) == [
        Voice("Calm_Woman", "system", None, (), "Calm"),
        Voice("Gen1", "voice_generation", "x", ("a", "b"), None),
    ]
    assert parse_voices(ok()) == []


@pytest.mark.parametrize(
    ("body", "where"),
    [
        ({"voice_cloning": {"voice_id": "x"}}, "voice_cloning is not a list"),
        ({"voice_cloning": ["Narrator001"]}, r"voice_cloning\[0\] is not an object"),
        ({"system_voice": [{"voice_id": ""}]}, r"system_voice\[0\].voice_id is missing"),
        ({"system_voice": [{"voice_id": 7}]}, r"system_voice\[0\].voice_id is not a string"),
        ({"voice_generation": [{"voice_id": "G", "description": "d"}]}, "description"),
        ({"voice_generation": [{"voice_id": "G", "description": [1]}]}, "description"),
    ],
)
def test_voices_refuse_unusable_values(body: dict[str, Any], where: str) -> None:
    with pytest.raises(ResponseFormatError, match=where):
        parse_voices(ok(**body))


# -- the same shapes, over the wire -------------------------------------------------


async def test_upload_answer_shapes_over_the_wire(client: Client, emu: Emulator) -> None:
    emu.inject(
        respond(ok(file={"file_id": "18446744073709551615"})), endpoint="files/upload"
    )  # 2**64 - 1: out of int64
    with pytest.raises(ResponseFormatError, match="int64") as err:
        await client.upload_file(make_wav(12.0))
    assert err.value.trace_id == emu.requests[-1].trace_id
    assert emu.stats.requests["files/upload"] == 1  # a parse failure after success is final


async def test_null_voice_groups_over_the_wire(client: Client, emu: Emulator) -> None:
    emu.inject(
        respond(ok(system_voice=None, voice_cloning=None, voice_generation=None)),
        endpoint="get_voice",
    )
    assert await client.list_voices("all") == []


async def test_clone_answer_with_odd_preview_details_over_the_wire(
    client: Client, emu: Emulator
) -> None:
    # base_resp says 0, so the voice exists: odd preview metadata must never turn it
    # into a failure (or a retry that can only answer 2039). The link is kept.
    extra = {"audio_length": "9120", "audio_size": -3, "bitrate": 1.5e5, "word_count": None}
    emu.inject(respond(ok(extra_info=extra, demo_audio="https://cdn.example/p.mp3")))
    result = await client.clone(file_id=1, voice_id="Narrator001")
    assert result.voice_id == "Narrator001"
    assert result.extra_info == PreviewInfo(audio_length=9120, bitrate=150000)
    assert result.demo_audio == "https://cdn.example/p.mp3"
    assert result.trace_id == emu.requests[-1].trace_id
    assert emu.stats.requests["voice_clone"] == 1


async def test_clone_answer_with_an_unreadable_sensitivity_over_the_wire(
    client: Client, emu: Emulator
) -> None:
    # Still a result: the voice exists; the flag that cannot be read counts as flagged.
    emu.inject(respond(ok(input_sensitive="no", demo_audio="https://cdn.example/p.mp3")))
    result = await client.clone(file_id=1, voice_id="Narrator001")
    assert (result.voice_id, result.demo_audio) == ("Narrator001", "https://cdn.example/p.mp3")
    assert (result.input_sensitive, result.input_sensitive_type) == (True, SensitiveType.OTHER)
    assert emu.stats.requests["voice_clone"] == 1

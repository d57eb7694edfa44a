"""Batch manifests: parsing CSV and JSONL rows into jobs, and reporting every problem at once."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from voiceclone._cli._manifest import Problem, load_manifest, parse_bool
from voiceclone._samples import make_wav


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "audio").mkdir()
    (tmp_path / "audio" / "a.wav").write_bytes(make_wav(11.0, seed=1))
    (tmp_path / "audio" / "b.wav").write_bytes(make_wav(12.0, seed=2))
    (tmp_path / "short.wav").write_bytes(make_wav(3.0))
    (tmp_path / "prompt.wav").write_bytes(make_wav(4.0))
    (tmp_path / "notes.wav").write_text("not audio", encoding="utf-8")
    return tmp_path


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def problems_by_line(path: Path) -> dict[int, list[tuple[str, str]]]:
    found: dict[int, list[tuple[str, str]]] = {}
    for p in load_manifest(path).problems:
        found.setdefault(p.line, []).append((p.field, p.problem))
    return found


def test_csv_rows_become_typed_jobs_with_paths_relative_to_the_manifest(folder: Path) -> None:
    manifest = load_manifest(
        write(
            folder / "voices.csv",
            "voice_id,audio,prompt_audio,prompt_text,text,model,accuracy,noise_reduction,"
            "need_volume_normalization,watermark\n"
            "Narrator001,audio/a.wav,prompt.wav,Hello there.,Hi!,speech-2.6-hd,0.8,yes,0,TRUE\n"
            "  Narrator002 ,audio/b.wav,,,,,,,,\n",
        )
    )
    assert manifest.ok, manifest.problems
    assert [row.line for row in manifest.rows] == [2, 3]
    first, second = manifest.jobs
    assert first.voice_id == "Narrator001"
    assert Path(first.audio) == folder / "audio" / "a.wav"
    assert first.prompt_audio is not None
    assert Path(first.prompt_audio) == folder / "prompt.wav"
    assert (first.prompt_text, first.text, first.model) == ("Hello there.", "Hi!", "speech-2.6-hd")
    assert first.accuracy == 0.8
    assert first.need_noise_reduction is True
    assert first.need_volume_normalization is False
    assert first.aigc_watermark is True
    # Empty cells are "not set", and cells are trimmed.
    assert second.voice_id == "Narrator002"
    assert (second.text, second.model, second.accuracy, second.aigc_watermark) == (None,) * 4


def test_jsonl_rows_with_typed_values_and_a_byte_order_mark(folder: Path) -> None:
    lines = [
        {
            "voice_id": "Narrator001",
            "audio": "audio/a.wav",
            "watermark": True,
            "accuracy": 1,
            "continuous_sound": "yes",  # every boolean field of CloneJob is a flag column
        },
        {"voice_id": "Narrator002", "audio": str(folder / "audio" / "b.wav"), "text": "Hey."},
    ]
    path = folder / "voices.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + "\n\n".join(json.dumps(x) for x in lines).encode())
    manifest = load_manifest(path)
    # Line 3 lacks a model for its text; every other field parsed.
    assert manifest.problems == (Problem(3, "model", manifest.problems[0].problem),)
    assert "required with text" in manifest.problems[0].problem
    assert manifest.jobs[0].aigc_watermark is True
    assert manifest.jobs[0].continuous_sound is True
    assert manifest.jobs[0].accuracy == 1.0


def test_every_problem_of_every_row_is_reported(folder: Path) -> None:
    path = write(
        folder / "bad.csv",
        "voice_id,audio,text,model,accuracy,watermark,colour\n"
        "GoodVoice01,audio/a.wav,,,,,\n"  # 2: fine
        "bad,audio/a.wav,,,,,\n"  # 3: voice id too short
        "GoodVoice02,short.wav,Hello,,2,maybe,\n"  # 4: four problems
        "GoodVoice01,missing.wav,,,,,\n"  # 5: duplicate id, missing file
        ",notes.wav,,speech 9,,,\n"  # 6: no id, bad model, not audio
        "GoodVoice03,audio/b.wav,,,,,\n",  # 7: fine
    )
    manifest = load_manifest(path)
    assert [row.line for row in manifest.rows] == [2, 7]
    assert manifest.row_count == 6
    found = problems_by_line(path)
    assert [field for field, _ in found[1]] == ["colour"]
    assert "unknown column" in found[1][0][1]
    assert [field for field, _ in found[3]] == ["voice_id"]
    assert sorted(field for field, _ in found[4]) == [
        "accuracy",
        "aigc_watermark",
        "audio",
        "model",
    ]
    assert dict(found[5]) == {
        "voice_id": "repeats line 2",
        "audio": f"{str(folder / 'missing.wav')!r} does not exist",
    }
    assert sorted(field for field, _ in found[6]) == ["audio", "model", "voice_id"]
    assert "not mp3, m4a or wav" in dict(found[6])["audio"]
    assert "is required" in dict(found[6])["voice_id"]


def test_prompt_audio_needs_its_transcript_and_must_be_short(folder: Path) -> None:
    path = write(
        folder / "prompt.csv",
        "voice_id,audio,prompt_audio,prompt_text\n"
        "PromptVoice1,audio/a.wav,prompt.wav,\n"
        "PromptVoice2,audio/a.wav,audio/b.wav,A sentence.\n",
    )
    found = problems_by_line(path)
    assert [field for field, _ in found[2]] == ["prompt_text"]
    assert found[3] == [("prompt_audio", found[3][0][1])]
    assert "under 8 s" in found[3][0][1]


def test_a_missing_column_is_reported_once_not_on_every_row(folder: Path) -> None:
    path = write(folder / "m.csv", "voice_id,file\nVoiceNumber1,a.wav\nVoiceNumber2,b.wav\n")
    problems = load_manifest(path).problems
    assert [(p.line, p.field) for p in problems] == [(1, "file"), (1, "audio")]
    assert problems[1].problem == "column is missing from the header"


def test_broken_jsonl_lines_are_reported_and_the_rest_checked(folder: Path) -> None:
    path = write(
        folder / "m.jsonl",
        '{"voice_id": "VoiceNumber1", "audio": "audio/a.wav"}\n'
        '{"voice_id": "VoiceNumber2", "audio": \n'
        '["not", "an", "object"]\n'
        '{"voice_id": 12345678, "audio": "audio/b.wav", "speed": 2}\n',
    )
    manifest = load_manifest(path)
    assert [row.line for row in manifest.rows] == [1]
    got = [(p.line, p.field) for p in manifest.problems]
    assert got == [(2, "manifest"), (3, "manifest"), (4, "speed"), (4, "voice_id")]
    assert "not valid JSON" in manifest.problems[0].problem
    assert manifest.problems[3].problem == "must be a string, got int"


def test_check_files_false_reads_rows_without_touching_audio(folder: Path) -> None:
    path = write(folder / "m.csv", "voice_id,audio\nVoiceNumber1,nowhere.wav\n")
    assert load_manifest(path, check_files=False).ok
    assert not load_manifest(path).ok


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "is empty: expected a header row naming the columns"),
        ("voice_id,audio\n", "has no rows"),
    ],
)
def test_empty_manifests(folder: Path, text: str, problem: str) -> None:
    manifest = load_manifest(write(folder / "m.csv", text))
    assert [str(p) for p in manifest.problems] == [f"manifest: manifest: {problem}"]


def test_a_missing_manifest_is_one_problem(folder: Path) -> None:
    manifest = load_manifest(folder / "absent.csv")
    assert len(manifest.problems) == 1
    assert "does not exist" in str(manifest.problems[0])
    assert "is a directory" in str(load_manifest(folder).problems[0])


def test_format_is_sniffed_when_the_extension_says_nothing(folder: Path) -> None:
    path = write(folder / "voices.txt", '{"voice_id": "VoiceNumber1", "audio": "audio/a.wav"}\n')
    assert load_manifest(path).ok
    path = write(folder / "voices.list", "voice_id,audio\nVoiceNumber1,audio/a.wav\n")
    assert load_manifest(path).ok


TRUTHY = [("yes", True), ("TRUE", True), (" on ", True), ("1", True), (1, True), (True, True)]
FALSY = [("no", False), ("False", False), ("off", False), ("0", False), (0, False)]


@pytest.mark.parametrize(("value", "expected"), [*TRUTHY, *FALSY])
def test_parse_bool(value: object, expected: bool) -> None:
    assert parse_bool(value) is expected


@pytest.mark.parametrize("value", ["maybe", "", 2, 0.5, None])
def test_parse_bool_refuses_anything_else(value: object) -> None:
    with pytest.raises(ValueError, match="must be true or false"):
        parse_bool(value)


def test_invalid_rows_are_kept_apart_with_their_voice_ids(folder: Path) -> None:
    manifest = load_manifest(
        write(
            folder / "voices.csv",
            "voice_id,audio\nNarrator001,audio/a.wav\nNarrator002,short.wav\n,audio/b.wav\n"
            "Narrator004,audio/b.wav,extra\n",
        )
    )
    assert [row.line for row in manifest.rows] == [2]
    assert [(i.line, i.voice_id) for i in manifest.invalid] == [
        (3, "Narrator002"),
        (4, None),
        (5, "Narrator004"),
    ]
    # A row with more cells than the header could be built, but is not valid.
    assert [p.problem for p in manifest.invalid[2].problems] == [
        "row has more cells than the header"
    ]
    assert manifest.blocking == ()


def test_header_and_file_problems_block_every_row(folder: Path) -> None:
    unknown = load_manifest(
        write(folder / "a.csv", "voice_id,audio,colour\nNarrator001,audio/a.wav,red\n")
    )
    assert [(p.line, p.field) for p in unknown.blocking] == [(1, "colour")]
    assert unknown.invalid == ()
    empty = load_manifest(write(folder / "b.csv", ""))
    assert [p.line for p in empty.blocking] == [0]
    # In JSONL every line is a row: a bad first line is that row's problem, not the file's.
    jsonl = load_manifest(write(folder / "c.jsonl", '{"voice_id": "Narrator001", "audio": 1}\n'))
    assert jsonl.blocking == ()
    assert [(i.line, i.voice_id) for i in jsonl.invalid] == [(1, "Narrator001")]

"""Batch manifests: CSV or JSONL files with one voice per row, checked all at once.

Every problem is collected, not just the first, so that a dry run of a
500-row manifest lists everything to fix in one go. Problems are tied to the
line of the file they come from (for a CSV file with a header, that is also
the spreadsheet's row number).
"""

from __future__ import annotations

import csv
import json
import os
import typing
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Final

import attrs

from voiceclone import CloneJob, ValidationError
from voiceclone._job_checks import check_job

__all__ = [
    "COLUMNS",
    "InvalidRow",
    "Manifest",
    "ManifestRow",
    "Problem",
    "load_manifest",
    "parse_bool",
]

#: Columns of a manifest, as `CloneJob` names them.
COLUMNS: Final = tuple(a.name for a in attrs.fields(CloneJob))
#: Shorter names accepted for the flags, matching the command line options.
ALIASES: Final = {
    "noise_reduction": "need_noise_reduction",
    "volume_normalization": "need_volume_normalization",
    "watermark": "aigc_watermark",
}
_PATHS: Final = ("audio", "prompt_audio")
#: The yes/no columns: every boolean field of `CloneJob`, so a new flag is read as one.
_FLAGS: Final = tuple(
    name for name, hint in typing.get_type_hints(CloneJob).items() if hint == (bool | None)
)
_TRUE: Final = frozenset({"true", "yes", "y", "1", "on"})
_FALSE: Final = frozenset({"false", "no", "n", "0", "off"})
# Stand-ins for a missing or invalid required field, so the rest of a row is still checked.
_PLACEHOLDER: Final = {"voice_id": "Placeholder0", "audio": "placeholder.wav"}
# When a field is refused for lacking its partner, the partner is what must go.
_PARTNER: Final = {"model": "text", "prompt_text": "prompt_audio", "prompt_audio": "prompt_text"}
_MISSING_COLUMN: Final = "column is missing from the header"


@attrs.frozen(order=True)
class Problem:
    """One thing wrong with a manifest.

    Attributes:
        line: line of the manifest (``0``: the file as a whole).
        field: the column, or ``"manifest"``.
        problem: what is wrong.
    """

    line: int
    field: str
    problem: str

    def __str__(self) -> str:
        where = f"line {self.line}" if self.line else "manifest"
        return f"{where}: {self.field}: {self.problem}"


@attrs.frozen
class ManifestRow:
    """A valid row: its line in the file and the job it describes."""

    line: int
    job: CloneJob


@attrs.frozen
class InvalidRow:
    """A row that cannot be sent: its line, its voice id if it has one, its problems."""

    line: int
    voice_id: str | None
    problems: tuple[Problem, ...]


@attrs.frozen
class Manifest:
    """What a manifest holds: the valid rows and every problem found.

    Attributes:
        path: the manifest file.
        rows: the valid rows, in file order.
        problems: every problem, sorted by line.
        row_count: rows read, valid or not.
        invalid: the rows with problems, by line (``--skip-invalid`` reports them).
        header_line: the line of the CSV header (``None`` for JSONL).
    """

    path: Path
    rows: tuple[ManifestRow, ...]
    problems: tuple[Problem, ...]
    row_count: int
    invalid: tuple[InvalidRow, ...] = ()
    header_line: int | None = None

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def blocking(self) -> tuple[Problem, ...]:
        """Problems of the file as a whole (unreadable, empty, a bad header), not of one row.

        These stop a batch even with ``--skip-invalid``: no row can be trusted.
        """
        return tuple(p for p in self.problems if p.line in (0, self.header_line))

    @property
    def jobs(self) -> list[CloneJob]:
        return [row.job for row in self.rows]


def parse_bool(value: object) -> bool:
    """A flag from a manifest cell: true/false, yes/no, 1/0, on/off, or a JSON boolean.

    Raises:
        ValueError: anything else.
    """
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        word = value.strip().lower()
        if word in _TRUE:
            return True
        if word in _FALSE:
            return False
    raise ValueError(f"must be true or false, got {value!r}")


def _parse_accuracy(value: object) -> float:
    if isinstance(value, bool):
        raise ValueError(f"must be a number between 0 and 1, got {value!r}")
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            pass
    raise ValueError(f"must be a number between 0 and 1, got {value!r}")


def _resolve(base: Path, value: str) -> str:
    path = Path(os.path.expanduser(value))
    return os.fspath(path if path.is_absolute() else base / path)


def _cells(
    record: Mapping[str, Any], line: int, base: Path
) -> tuple[dict[str, Any], list[Problem]]:
    """Typed `CloneJob` keyword arguments from one row, and the problems with its cells."""
    fields: dict[str, Any] = {}
    problems: list[Problem] = []
    for raw_name, raw in record.items():
        name = ALIASES.get(raw_name, raw_name)
        value = raw.strip() if isinstance(raw, str) else raw
        if value is None or value == "":
            continue
        try:
            if name in _FLAGS:
                value = parse_bool(value)
            elif name == "accuracy":
                value = _parse_accuracy(value)
            elif not isinstance(value, str):
                raise ValueError(f"must be a string, got {type(value).__name__}")
            elif name in _PATHS:
                value = _resolve(base, value)
        except ValueError as exc:
            problems.append(Problem(line, name, str(exc)))
            continue
        fields[name] = value
    return fields, problems


def _build_job(
    fields: dict[str, Any], line: int, reported: set[str]
) -> tuple[CloneJob, set[str], list[Problem]]:
    """Build the row's job, collecting every field `CloneJob` refuses.

    A refused field is dropped (a required one replaced by a stand-in) and the job
    built again, so one pass reports all of a row's problems, not only the first.
    Fields in ``reported`` already have a problem and are not reported missing.
    Returns the job, the fields that were replaced or dropped, and the problems.
    """
    problems: list[Problem] = []
    dropped: set[str] = set()
    for name, stand_in in _PLACEHOLDER.items():
        if name not in fields:
            if name not in reported:
                problems.append(Problem(line, name, "is required"))
            fields[name] = stand_in
            dropped.add(name)
    for _ in range(len(COLUMNS) + 2):
        try:
            return CloneJob(**fields), dropped, problems
        except ValidationError as exc:
            if exc.field not in dropped:  # else it was already reported, for its own value
                problems.append(Problem(line, exc.field, exc.problem))
            culprit = exc.field
            if fields.get(culprit) is None:
                culprit = _PARTNER.get(culprit, culprit)
            dropped.add(culprit)
            if culprit in _PLACEHOLDER:
                fields[culprit] = _PLACEHOLDER[culprit]
            else:
                fields.pop(culprit, None)
    raise AssertionError(f"line {line}: the row could not be checked")  # pragma: no cover


def _file_problems(job: CloneJob, skip: set[str], line: int) -> list[Problem]:
    """Problems with the row's audio files (format by content, size, duration)."""
    problems = []
    for error in check_job(job):
        if error.field not in skip:
            problems.append(Problem(line, error.field, error.problem))
    return problems


def _csv_records(path: Path) -> Iterator[tuple[int, dict[str, Any]] | Problem]:
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        header = reader.fieldnames
        if not header:
            yield Problem(0, "manifest", "is empty: expected a header row naming the columns")
            return
        names = [(name or "").strip() for name in header]
        for name in names:
            if ALIASES.get(name, name) not in COLUMNS:
                yield Problem(1, name or "(blank)", f"unknown column; known: {', '.join(COLUMNS)}")
        for required in ("voice_id", "audio"):
            if required not in names:
                yield Problem(1, required, _MISSING_COLUMN)
        known = dict(zip(header, names, strict=True))
        for record in reader:
            cells: dict[str, Any] = {}
            for raw_name, value in record.items():
                if raw_name is None:  # more cells than header columns
                    yield Problem(reader.line_num, "manifest", "row has more cells than the header")
                elif ALIASES.get(known[raw_name], known[raw_name]) in COLUMNS:
                    cells[known[raw_name]] = value
            yield reader.line_num, cells


def _jsonl_records(path: Path) -> Iterator[tuple[int, dict[str, Any]] | Problem]:
    with path.open(encoding="utf-8-sig") as handle:
        for number, text in enumerate(handle, 1):
            if not text.strip():
                continue
            try:
                record = json.loads(text)
            except json.JSONDecodeError as exc:
                yield Problem(number, "manifest", f"not valid JSON ({exc.msg})")
                continue
            if not isinstance(record, dict):
                yield Problem(number, "manifest", "must be a JSON object, one per line")
                continue
            cells = {}
            for name, value in record.items():
                if ALIASES.get(name, name) in COLUMNS:
                    cells[name] = value
                else:
                    yield Problem(number, name, f"unknown field; known: {', '.join(COLUMNS)}")
            yield number, cells


def _is_jsonl(path: Path) -> bool:
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson", ".json"):
        return True
    if suffix == ".csv":
        return False
    with path.open("rb") as handle:
        return handle.read(512).lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"{")


def load_manifest(path: str | os.PathLike[str], *, check_files: bool = True) -> Manifest:
    """Read and check a manifest; nothing is sent anywhere.

    Args:
        path: a ``.csv`` file with a header row, or ``.jsonl`` with one object per line.
        check_files: also check every audio file (exists, format by content, size,
            duration), as a batch would before its first upload.

    Returns:
        The valid rows and all problems, sorted by line.
    """
    source = Path(path)
    if not source.is_file():
        problem = "is a directory" if source.is_dir() else "does not exist"
        return Manifest(
            source, (), (Problem(0, "manifest", f"{os.fspath(source)!r} {problem}"),), 0
        )
    base = source.parent
    rows: list[ManifestRow] = []
    problems: list[Problem] = []
    seen: dict[str, int] = {}
    voice_ids: dict[int, str] = {}
    count = 0
    try:
        jsonl = _is_jsonl(source)
        records = list(_jsonl_records(source) if jsonl else _csv_records(source))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        return Manifest(source, (), (Problem(0, "manifest", f"cannot be read: {reason}"),), 0)
    # A column missing from the header is reported once, not again on every row.
    missing = {p.field for p in records if isinstance(p, Problem) and p.problem == _MISSING_COLUMN}
    for record in records:
        if isinstance(record, Problem):
            problems.append(record)
            continue
        line, cells = record
        count += 1
        fields, row_problems = _cells(cells, line, base)
        if "voice_id" in fields:  # before _build_job puts a stand-in for a bad one
            voice_ids[line] = fields["voice_id"]
        job, dropped, built_problems = _build_job(fields, line, {p.field for p in row_problems})
        row_problems += [p for p in built_problems if p.field not in missing]
        if "voice_id" not in dropped:
            first = seen.setdefault(job.voice_id, line)
            if first != line:
                row_problems.append(Problem(line, "voice_id", f"repeats line {first}"))
        if check_files:
            row_problems += _file_problems(job, dropped, line)
        if row_problems:
            problems += row_problems
        else:
            rows.append(ManifestRow(line, job))
    if count == 0 and not problems:
        problems.append(Problem(0, "manifest", "has no rows"))
    header_line = None if jsonl else 1
    by_line: dict[int, list[Problem]] = {}
    for item in problems:
        if item.line not in (0, header_line):
            by_line.setdefault(item.line, []).append(item)
    invalid = tuple(
        InvalidRow(line, voice_ids.get(line), tuple(found))
        for line, found in sorted(by_line.items())
    )
    # A row with a problem found while reading it (an unknown JSONL field, extra
    # CSV cells) is not valid either, even if its job could be built.
    valid = tuple(row for row in rows if row.line not in by_line)
    return Manifest(
        source,
        valid,
        tuple(sorted(problems, key=lambda p: p.line)),
        count,
        invalid,
        header_line,
    )

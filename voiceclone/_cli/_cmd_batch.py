"""``voiceclone batch MANIFEST``: check a manifest, then clone it with progress and resume."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any, Final

from rich.console import Console
from rich.markup import escape

from voiceclone import APIError, JournalError, RedisJournal, ValidationError
from voiceclone._breaker import is_account_refusal
from voiceclone._cli._connect import make_client
from voiceclone._cli._exit import JOURNAL, OK, USAGE, UsageError, failure_status
from voiceclone._cli._manifest import InvalidRow, Manifest, Problem, load_manifest
from voiceclone._cli._progress import BatchProgress
from voiceclone._cli._redis_options import print_status, redis_journal, redis_url
from voiceclone._cli._render import (
    FULL_TABLE_ROWS,
    ResultRow,
    record,
    results_table,
    row_from_outcome,
    tally,
)
from voiceclone._cli._ui import Ui, silence_closed_pipes
from voiceclone._text import safe_text

__all__ = ["batch", "report_problems", "summary_line"]

#: ``--out -`` writes the records to stdout, like ``--json``.
STDOUT = "-"


def report_problems(ui: Ui, problems: Sequence[Problem]) -> None:
    """Every problem, one per line, on stderr (always shown, even with ``--quiet``).

    Problems quote the manifest's cells and file names, which may hold anything.
    """
    for problem in problems:
        where = f"line {problem.line}" if problem.line else "manifest"
        field, text = escape(safe_text(problem.field)), escape(safe_text(problem.problem))
        ui.err.print(f"  [bold]{where}[/]  [cyan]{field}[/]: {text}", soft_wrap=True)


def _dry_run(ui: Ui, manifest: Manifest, human: Console) -> int:
    if manifest.ok:
        human.print(
            f"[green]ok[/]: {len(manifest.rows)} voices in {escape(str(manifest.path))} "
            "are valid and their audio files are readable; nothing was sent"
        )
        return OK
    bad_lines = len({p.line for p in manifest.problems})
    report_problems(ui, manifest.problems)
    ui.error(
        f"{len(manifest.problems)} problem(s) on {bad_lines} line(s) of {manifest.path} "
        f"({len(manifest.rows)} of {manifest.row_count} rows valid); nothing was sent"
    )
    return USAGE


def summary_line(rows: Sequence[ResultRow], progress: BatchProgress) -> str:
    """What happened, in one line of rich markup."""
    counts = tally(rows)
    extras = []
    if counts.recovered:
        extras.append(f"{counts.recovered} recovered after a lost answer")
    if progress.resumed:
        extras.append(f"{progress.resumed} resumed from the journal")
    if counts.flagged:
        extras.append(f"{counts.flagged} flagged sensitive")
    text = f"[green]cloned {counts.cloned} of {counts.total}[/]"
    if extras:
        text += f" ({', '.join(extras)})"
    if counts.failed:
        text += f"; [red]failed {counts.failed}[/]: {counts.reasons_text()}"
    text += (
        f"; {progress.retries} retries, {progress.rate_limited} rate-limit answers; "
        f"{progress.elapsed:.1f} s"
    )
    return text


#: What to do about each answer that stops the account's calls (`_breaker`).
_ACCOUNT_ADVICE: Final = {
    1004: "check the API key",
    2049: "check the API key and its region's base URL",
    1008: "top up",
    1028: "wait for the quota to renew or raise it",
    1030: "wait for the quota to renew or raise it",
    2056: "wait for the 5-hour usage window to pass",
    2038: "verify the account for voice cloning",
}


def account_line(rows: Sequence[ResultRow]) -> str | None:
    """Why the batch stopped sending, when the account answered it cannot clone."""
    refusals = [r.error for r in rows if r.error is not None and is_account_refusal(r.error)]
    if not refusals:
        return None
    first = refusals[0]
    assert isinstance(first, APIError)
    unsent = sum(not getattr(error, "request_sent", True) for error in refusals)
    advice = _ACCOUNT_ADVICE.get(first.status_code or 0, "fix the account")
    return (  # plain text: ui.error prints it as it is
        f"the account cannot clone ({first.status_code} {first.status_msg or ''}".rstrip()
        + f"): {unsent:,} voices not sent; {advice}, then re-run to resume"
    )


def _skipped_row(invalid: InvalidRow) -> ResultRow:
    first = invalid.problems[0]
    more = len(invalid.problems) - 1
    return ResultRow(
        invalid.voice_id or "",
        error=ValidationError(first.field, first.problem),
        line=invalid.line,
        note=f"and {more} more problem(s), listed above" if more else None,
    )


def _open_out(path: str | None) -> IO[str] | None:
    if path is None:
        return None
    try:
        return Path(path).open("w", encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"--out {path}: {exc.strerror or 'cannot be written'}") from None


class _OutputError(Exception):
    """The records could not be written mid-batch (a full disk under ``--out`` or stdout)."""


def _records_on_stdout(args: argparse.Namespace) -> bool:
    """Whether the records go to stdout (``--json`` or ``--out -``): then people's text does not."""
    return bool(args.json) or args.out == STDOUT


def _write_line(stream: IO[str], line: str, name: str) -> None:
    """One record, flushed; a full disk under it is an `_OutputError` naming ``name``."""
    try:
        stream.write(line)
        stream.flush()
    except BrokenPipeError:  # a closed pipe ends the command quietly (see _dispatch)
        raise
    except OSError as exc:
        if stream is sys.stdout:
            # What stayed in the buffer would fail again at exit, after the message.
            silence_closed_pipes(sys.stdout)
        raise _OutputError(f"{name}: {exc.strerror or exc}") from None


class _Records:
    """Where each voice's JSON record goes: ``--json`` (stdout) and ``--out`` (a file or -)."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.to_stdout = _records_on_stdout(args)
        self._path = args.out
        self._file = _open_out(args.out if args.out != STDOUT else None)

    def write(self, data: dict[str, Any]) -> None:
        # One line per voice, flushed at once, so that a reader down a pipe (jq, a
        # script) sees each voice as it finishes.
        line = json.dumps(data) + "\n"
        if self.to_stdout:
            _write_line(sys.stdout, line, "stdout")
        if self._file is not None:
            _write_line(self._file, line, f"--out {self._path}")

    def close(self) -> None:
        if self._file is not None:
            with contextlib.suppress(OSError):  # already reported by `write`
                self._file.close()


def _refuse(ui: Ui, manifest: Manifest, problems: Sequence[Problem]) -> int:
    report_problems(ui, problems)
    hint = "" if manifest.blocking else "; --skip-invalid runs the valid rows"
    ui.error(
        f"{len(problems)} problem(s) in {manifest.path}; nothing was sent "
        f"(fix them, then check again with --dry-run{hint})"
    )
    return USAGE


async def batch(args: argparse.Namespace, ui: Ui) -> int:
    """Run ``voiceclone batch``."""
    manifest = load_manifest(args.manifest)
    # With records on stdout, everything for people goes to stderr.
    human: Console = ui.err if _records_on_stdout(args) else ui.out
    shared = redis_journal(args)  # --journal-name: one batch for many processes
    if shared is not None and args.status:
        async with make_client(args) as reader:
            return await print_status(ui, shared, manifest, reader, as_json=args.json)
    if args.dry_run:
        return _dry_run(ui, manifest, human)
    if manifest.blocking:
        return _refuse(ui, manifest, manifest.blocking)
    if not manifest.ok and not args.skip_invalid:
        return _refuse(ui, manifest, manifest.problems)
    skipped = [_skipped_row(invalid) for invalid in manifest.invalid]
    if skipped:
        report_problems(ui, manifest.problems)
        ui.err.print(
            f"[yellow]skipping {len(skipped)} invalid row(s)[/]; "
            f"cloning the other {len(manifest.rows)}",
            soft_wrap=True,
        )
    journal: Path | RedisJournal | None = shared
    if shared is None and not args.no_journal:
        journal = Path(args.journal or f"{manifest.path}.journal.jsonl")
    progress = BatchProgress(ui, total=len(manifest.rows))
    client = make_client(
        args,
        max_in_flight=args.max_in_flight,
        requests_per_minute=args.rpm,
        on_retry=progress.on_retry,
        on_response=progress.on_response,
        redis=redis_url(args),
    )
    records = _Records(args)
    rows: list[ResultRow] = list(skipped)
    try:
        for invalid, row in zip(manifest.invalid, skipped, strict=True):
            records.write(_skipped_record(row, invalid))
        async with client:
            with progress:
                async for outcome in client.clone_jobs(
                    manifest.jobs, journal=journal, retry_failed=args.retry_failed
                ):
                    # Outcomes are indexed by input position, and the jobs are the rows.
                    row = row_from_outcome(outcome, line=manifest.rows[outcome.index].line)
                    progress.record(outcome)
                    rows.append(row)
                    records.write(record(row))
    except asyncio.CancelledError:
        where = (
            f"; {_journal_text(journal)} keeps them: run the same command again to resume"
            if journal
            else ""
        )
        ui.err.print(
            f"[yellow]interrupted[/]: {progress.done} of {progress.total} voices finished"
            f"{escape(where)}"
        )
        raise
    except BrokenPipeError:
        raise
    except _OutputError as exc:
        resume = "; re-run to resume" if journal is not None else ""
        ui.error(f"results not writable: {progress.done} finished{resume} ({exc})")
        return JOURNAL
    except JournalError as exc:
        # A full disk or a lost mount under the journal: what it holds stays valid.
        ui.error(f"journal not writable: {progress.done} finished; re-run to resume ({exc})")
        return JOURNAL
    finally:
        records.close()
    rows.sort(key=lambda row: row.line or 0)
    shown = rows if len(rows) <= FULL_TABLE_ROWS else [row for row in rows if not row.ok]
    if shown:
        human.print(results_table(shown, width=human.width))
    human.print(summary_line(rows, progress), soft_wrap=True)
    account = account_line(rows)
    if account is not None:
        ui.error(account)
    if journal is not None:
        ui.note(f"[dim]journal: {escape(_journal_text(journal))}[/]")
    if all(row.ok for row in rows):
        return OK
    return failure_status(*(row.error for row in rows))


def _journal_text(journal: Path | RedisJournal) -> str:
    """The journal as people know it: a file's path, or a shared batch's name."""
    if isinstance(journal, RedisJournal):
        return f"the shared batch {journal.name!r} in Redis"
    return str(journal)


def _skipped_record(row: ResultRow, invalid: InvalidRow) -> dict[str, Any]:
    data = record(row)
    data["voice_id"] = invalid.voice_id  # None when the row has none
    data["problems"] = [f"{p.field}: {p.problem}" for p in invalid.problems]
    return data

"""``voiceclone batch MANIFEST``: check a manifest, then clone it with progress and resume."""

from __future__ import annotations

import argparse
import asyncio
import json
from collections.abc import Sequence
from pathlib import Path
from typing import IO

from rich.markup import escape

from voiceclone import RedisJournal
from voiceclone._cli._cmd_shared import print_status, redis_url, shared_journal
from voiceclone._cli._connect import make_client
from voiceclone._cli._exit import FAILED, OK, USAGE, UsageError
from voiceclone._cli._manifest import Manifest, Problem, load_manifest
from voiceclone._cli._progress import BatchProgress
from voiceclone._cli._render import (
    ResultRow,
    record,
    results_table,
    row_from_outcome,
    tally,
)
from voiceclone._cli._ui import Ui

__all__ = ["batch", "report_problems", "summary_line"]

#: Above this many voices the final table lists only the failures.
FULL_TABLE_ROWS = 200


def report_problems(ui: Ui, problems: Sequence[Problem]) -> None:
    """Every problem, one per line, on stderr (always shown, even with ``--quiet``)."""
    for problem in problems:
        where = f"line {problem.line}" if problem.line else "manifest"
        ui.err.print(
            f"  [bold]{where}[/]  [cyan]{escape(problem.field)}[/]: {escape(problem.problem)}",
            soft_wrap=True,
        )


def _dry_run(ui: Ui, manifest: Manifest) -> int:
    if manifest.ok:
        ui.out.print(
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


def _open_out(path: str | None) -> IO[str] | None:
    if path is None:
        return None
    try:
        return Path(path).open("w", encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"--out {path}: {exc.strerror or 'cannot be written'}") from None


async def batch(args: argparse.Namespace, ui: Ui) -> int:
    """Run ``voiceclone batch``."""
    manifest = load_manifest(args.manifest)
    shared = shared_journal(args)  # --journal-name: one batch for many processes
    if shared is not None and args.status:
        return await print_status(ui, shared, manifest)
    if args.dry_run:
        return _dry_run(ui, manifest)
    if not manifest.ok:
        report_problems(ui, manifest.problems)
        ui.error(
            f"{len(manifest.problems)} problem(s) in {manifest.path}; nothing was sent "
            "(fix them, then check again with --dry-run)"
        )
        return USAGE
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
    out = _open_out(args.out)
    rows: list[ResultRow] = []
    try:
        async with client:
            with progress:
                async for outcome in client.clone_jobs(manifest.jobs, journal=journal):
                    # Outcomes are indexed by input position, and the jobs are the rows.
                    row = row_from_outcome(outcome, line=manifest.rows[outcome.index].line)
                    progress.record(outcome)
                    rows.append(row)
                    if out is not None:
                        out.write(json.dumps(record(row)) + "\n")
                        out.flush()
    except asyncio.CancelledError:
        where = f"; {journal} keeps them: run the same command again to resume" if journal else ""
        ui.err.print(
            f"[yellow]interrupted[/]: {progress.done} of {progress.total} voices finished"
            f"{escape(where)}"
        )
        raise
    finally:
        if out is not None:
            out.close()
    rows.sort(key=lambda row: row.line or 0)
    shown = rows if len(rows) <= FULL_TABLE_ROWS else [row for row in rows if not row.ok]
    if shown:
        ui.out.print(results_table(shown, width=ui.out.width))
    ui.out.print(summary_line(rows, progress), soft_wrap=True)
    if journal is not None:
        ui.note(f"[dim]journal: {escape(str(journal))}[/]")
    return OK if all(row.ok for row in rows) else FAILED

"""``voiceclone demo``: the SDK's main job, end to end, on the built-in emulator.

No API key and no network: sample voices are generated as WAV files, the
emulator runs in this process with a realistic rate limit (scaled so the demo
takes seconds) and a little fault injection, and the voices are batch-cloned
through the public SDK exactly as against MiniMax. The samples, the previews,
the journal and a results file are kept in a folder the user can open after.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import secrets
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Final

import attrs
from rich.markup import escape

from voiceclone import Client, RetryPolicy, ValidationError, VoiceCloneError
from voiceclone._cli._demo_inputs import DemoInput, write_inputs
from voiceclone._cli._demo_report import DemoRun, summary_grid
from voiceclone._cli._exit import FAILED, OK, UsageError
from voiceclone._cli._progress import BatchProgress
from voiceclone._cli._render import (
    FULL_TABLE_ROWS,
    ResultRow,
    record,
    results_table,
    row_from_outcome,
)
from voiceclone._cli._ui import Ui
from voiceclone._job_checks import check_job
from voiceclone.emulator import Emulator, Fault, Faults

__all__ = ["demo"]

#: Retries as in production, with waits scaled down like the rate limit.
DEMO_RETRY = RetryPolicy(attempts=6, timeout=60.0, wait_initial=0.25, wait_max=2.0, wait_jitter=0.2)
#: Random faults on clone requests: gateway errors, connections dropped before an
#: answer, and rate-limit answers beyond the real limiter's.
DEMO_FAULTS = Faults(
    http_5xx=0.04, drop_before=0.02, rate_limit=0.02, seed=5, endpoints=("voice_clone",)
)
#: Seconds the emulator takes to answer each request.
DEMO_LATENCY = 0.08
#: Preview downloads at once: a handful, as a user's script would.
PREVIEW_DOWNLOADS: Final = 8
#: The outputs' folder unless --out-dir names one: new in the current directory.
DEFAULT_FOLDER: Final = "voiceclone-demo-%Y%m%d-%H%M%S"
JOURNAL: Final = "journal.jsonl"
RESULTS: Final = "results.jsonl"


def _refusal(item: DemoInput) -> ValidationError | None:
    """The first problem of one job, checked alone so that the others still run."""
    problems = check_job(item.job)
    return problems[0] if problems else None


def _intro(ui: Ui, inputs: Sequence[DemoInput], folder: Path, kept: bool, emu: Emulator) -> None:
    bad = sum(1 for item in inputs if item.note)
    where = "kept in" if kept else "in a temporary folder,"
    ui.out.print(
        f"[bold]voiceclone demo[/]: {len(inputs) - bad} sample voices (10-14 s WAV, 85-255 Hz) "
        f"and {bad} deliberately bad inputs; outputs {where} {escape(str(folder))}"
    )
    ui.out.print(
        f"emulator at {emu.base_url}: {emu.rpm:g} clones/min (burst {emu.burst}), "
        f"{DEMO_LATENCY * 1000:.0f} ms per answer, random 5xx / dropped connections / "
        "rate-limit answers, and two clone answers lost after the voice was created"
    )


async def _save_previews(
    client: Client, rows: dict[str, ResultRow], folder: Path
) -> dict[str, ResultRow]:
    """Download every preview into ``folder``, as a user would; rows gain the saved path.

    The emulator's links end with the demo, the files stay. A failed download
    leaves its row with the link.
    """
    slots = asyncio.Semaphore(PREVIEW_DOWNLOADS)

    async def save(row: ResultRow) -> ResultRow:
        assert row.result is not None
        async with slots:
            try:
                path = await client.download_demo(row.result, folder / f"{row.voice_id}.wav")
            except VoiceCloneError:  # a file it cannot write is a ValidationError too
                return row
        return attrs.evolve(row, saved_preview=path)

    with_preview = [r for r in rows.values() if r.result is not None and r.result.demo_audio]
    saved = await asyncio.gather(*(save(row) for row in with_preview))
    return {row.voice_id: row for row in saved}


def _unexpected(rows: Sequence[ResultRow], inputs: Sequence[DemoInput]) -> list[str]:
    expected = {item.job.voice_id: item.expect for item in inputs}
    wrong = []
    for row in rows:
        want = expected[row.voice_id]
        ok_wanted = want in ("cloned", "flagged")
        if row.ok != ok_wanted or (row.refused and want != "refused"):
            wrong.append(row.voice_id)
    return wrong


def _new_folder(args: argparse.Namespace) -> Path:
    """The folder the demo keeps its outputs in: new, or empty.

    Raises:
        UsageError: it holds files already (a journal there would resume an
            earlier demo against a fresh emulator), or cannot be created.
    """
    folder = Path(args.out_dir or time.strftime(DEFAULT_FOLDER)).absolute()
    try:
        if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
            raise UsageError(f"--out-dir {folder}: not an empty folder; choose a new one")
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"--out-dir {folder}: {exc.strerror or 'cannot be created'}") from None
    return folder


@contextlib.contextmanager
def _workspace(args: argparse.Namespace) -> Iterator[tuple[Path, bool]]:
    """The folder to work in, with its ``samples`` and ``previews``, and whether it is kept."""
    if args.no_keep:
        with tempfile.TemporaryDirectory(prefix="voiceclone-demo-") as tmp:
            (Path(tmp) / "samples").mkdir()
            yield Path(tmp), False
    else:
        folder = _new_folder(args)
        (folder / "samples").mkdir()
        (folder / "previews").mkdir()
        yield folder, True


def _write_results(path: Path, rows: Sequence[ResultRow]) -> None:
    with path.open("w", encoding="utf-8") as out:
        for row in rows:
            out.write(json.dumps(record(row)) + "\n")


async def demo(args: argparse.Namespace, ui: Ui) -> int:
    """Run ``voiceclone demo``."""
    key = f"demo-{secrets.token_hex(8)}"
    with _workspace(args) as (folder, kept):
        inputs = write_inputs(folder / "samples", args.voices)
        notes = {item.job.voice_id: item.note for item in inputs}
        refused = {item.job.voice_id: _refusal(item) for item in inputs}
        burst = max(2, args.rpm // 40)
        async with Emulator(
            key, rpm=args.rpm, burst=burst, faults=DEMO_FAULTS, latency=DEMO_LATENCY
        ) as emu:
            # Two answers lost after the voice was created, aimed at ordinary voices so
            # the outcome does not depend on which requests happen to arrive first.
            ordinary = [item.job.voice_id for item in inputs if item.note is None]
            for voice_id in ordinary[1:3]:
                emu.inject(Fault.drop_after(), endpoint="voice_clone", voice_id=voice_id)
            emu.inject(Fault.http(502), endpoint="files/upload")
            _intro(ui, inputs, folder, kept, emu)
            rows: dict[str, ResultRow] = {}
            for voice_id, error in refused.items():
                if error is not None:
                    rows[voice_id] = ResultRow(voice_id, error=error, note=notes[voice_id])
            jobs = [item.job for item in inputs if refused[item.job.voice_id] is None]
            if rows and not ui.quiet:
                ui.out.print(
                    f"{len(rows)} inputs refused before sending ({', '.join(rows)}); "
                    f"cloning the other {len(jobs)}"
                )
            progress = BatchProgress(ui, total=len(jobs))
            async with Client(
                api_key=key,
                base_url=emu.base_url,
                max_in_flight=8,
                requests_per_minute=args.rpm,
                retry=DEMO_RETRY,
                on_retry=progress.on_retry,
                on_response=progress.on_response,
            ) as client:
                with progress:
                    async for outcome in client.clone_jobs(jobs, journal=folder / JOURNAL):
                        progress.record(outcome)
                        voice_id = outcome.request.voice_id
                        rows[voice_id] = row_from_outcome(outcome, note=notes[voice_id])
                saved = await _save_previews(client, rows, folder / "previews") if kept else {}
                rows.update(saved)
                ordered = [rows[item.job.voice_id] for item in inputs]
                if kept:  # else the folder is deleted on the way out
                    _write_results(folder / RESULTS, ordered)
                shown = ordered if len(ordered) <= FULL_TABLE_ROWS else []
                ui.out.print()
                if shown:
                    ui.out.print(results_table(shown, title="[bold]Results[/]", width=ui.out.width))
                run = DemoRun(
                    sent=len(jobs),
                    deliberate=sum(1 for i in inputs if i.expect in ("refused", "failed")),
                    pace=client.rate_stats.requests_per_minute,
                    folder=folder if kept else None,
                    previews=sum(1 for row in saved.values() if row.saved_preview),
                )
                ui.out.print()
                ui.out.print(summary_grid(ordered, progress, emu, run))
    wrong = _unexpected(ordered, inputs)
    if wrong:
        ui.error(f"unexpected results for {', '.join(wrong)}")
        return FAILED
    return OK

"""``voiceclone demo``: the SDK's main job, end to end, on the built-in emulator.

No API key and no network: sample voices are generated as WAV files, the
emulator runs in this process with a realistic rate limit (scaled so the demo
takes seconds) and a little fault injection, and the voices are batch-cloned
through the public SDK exactly as against MiniMax.
"""

from __future__ import annotations

import argparse
import secrets
import tempfile
from collections.abc import Sequence
from pathlib import Path

from rich.markup import escape
from rich.table import Table

from voiceclone import Client, RetryPolicy, ValidationError, VoiceCloneError
from voiceclone._cli._cmd_batch import FULL_TABLE_ROWS
from voiceclone._cli._demo_inputs import DemoInput, write_inputs
from voiceclone._cli._exit import FAILED, OK
from voiceclone._cli._progress import BatchProgress
from voiceclone._cli._render import ResultRow, results_table, row_from_outcome, tally
from voiceclone._cli._ui import Ui
from voiceclone._validate import check_job
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


def _refusal(item: DemoInput) -> ValidationError | None:
    """The first problem of one job, checked alone so that the others still run."""
    problems = check_job(item.job)
    return problems[0] if problems else None


def _intro(ui: Ui, inputs: Sequence[DemoInput], folder: Path, emu: Emulator) -> None:
    bad = sum(1 for item in inputs if item.note)
    ui.out.print(
        f"[bold]voiceclone demo[/]: {len(inputs) - bad} sample voices (10-14 s WAV, 85-255 Hz) "
        f"and {bad} deliberately bad inputs in {escape(str(folder))}"
    )
    ui.out.print(
        f"emulator at {emu.base_url}: {emu.rpm:g} clones/min (burst {emu.burst}), "
        f"{DEMO_LATENCY * 1000:.0f} ms per answer, random 5xx / dropped connections / "
        "rate-limit answers, and two clone answers lost after the voice was created"
    )


def _summary(
    ui: Ui,
    rows: Sequence[ResultRow],
    inputs: Sequence[DemoInput],
    progress: BatchProgress,
    emu: Emulator,
    sent: int,
    preview: str | None,
) -> None:
    counts = tally(rows)
    deliberate = sum(1 for item in inputs if item.expect in ("refused", "failed"))
    http_5xx = sum(n for status, n in emu.stats.http_statuses.items() if status >= 500)
    rpm = emu.rpm or 0.0
    ideal = sent * 60.0 / rpm if rpm else 0.0
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    grid.add_row(
        "cloned",
        f"[green]{counts.cloned}[/] of {counts.total} voices "
        f"({counts.recovered} recovered after a lost answer, {counts.flagged} flagged sensitive)",
    )
    grid.add_row(
        "failed",
        f"{counts.failed}: {counts.reasons_text() or 'none'}"
        + (" [dim](all deliberate)[/]" if counts.failed == deliberate else ""),
    )
    grid.add_row(
        "server",
        f"{progress.rate_limited} rate-limit answers, {http_5xx} HTTP 5xx, "
        f"{emu.stats.dropped} dropped connections; {progress.retries} retries",
    )
    grid.add_row(
        "time",
        f"{progress.elapsed:.1f} s for {sent} voices sent; the ideal at {rpm:g}/min is "
        f"{ideal:.1f} s ({ideal / progress.elapsed:.0%} of the limit used)",
    )
    if preview:
        grid.add_row("preview", preview)
    ui.out.print()
    ui.out.print(grid)


async def _fetch_preview(client: Client, rows: Sequence[ResultRow], folder: Path) -> str | None:
    """Download one preview, as a user would, and say what arrived."""
    first = next((r for r in rows if r.result is not None and r.result.demo_audio), None)
    if first is None or first.result is None:
        return None
    try:
        path = await client.download_demo(first.result, folder / "preview.wav")
    except VoiceCloneError as exc:
        return f"[red]download failed[/]: {escape(str(exc))}"
    return (
        f"{path.stat().st_size / 1024:.0f} KiB WAV downloaded for {escape(first.voice_id)} "
        "(links work while the emulator runs)"
    )


def _unexpected(rows: Sequence[ResultRow], inputs: Sequence[DemoInput]) -> list[str]:
    expected = {item.job.voice_id: item.expect for item in inputs}
    wrong = []
    for row in rows:
        want = expected[row.voice_id]
        ok_wanted = want in ("cloned", "flagged")
        if row.ok != ok_wanted or (row.refused and want != "refused"):
            wrong.append(row.voice_id)
    return wrong


async def demo(args: argparse.Namespace, ui: Ui) -> int:
    """Run ``voiceclone demo``."""
    key = f"demo-{secrets.token_hex(8)}"
    with tempfile.TemporaryDirectory(prefix="voiceclone-demo-") as tmp:
        folder = Path(tmp)
        inputs = write_inputs(folder, args.voices)
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
            _intro(ui, inputs, folder, emu)
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
                    async for outcome in client.clone_jobs(jobs):
                        progress.record(outcome)
                        voice_id = outcome.request.voice_id
                        rows[voice_id] = row_from_outcome(outcome, note=notes[voice_id])
                ordered = [rows[item.job.voice_id] for item in inputs]
                shown = ordered if len(ordered) <= FULL_TABLE_ROWS else []
                ui.out.print()
                if shown:
                    ui.out.print(results_table(shown, title="[bold]Results[/]", width=ui.out.width))
                preview = await _fetch_preview(client, ordered, folder)
                _summary(ui, ordered, inputs, progress, emu, len(jobs), preview)
    wrong = _unexpected(ordered, inputs)
    if wrong:
        ui.error(f"unexpected results for {', '.join(wrong)}")
        return FAILED
    return OK

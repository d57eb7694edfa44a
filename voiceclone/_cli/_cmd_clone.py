"""``voiceclone clone AUDIO --voice-id ID``: upload one sample and clone it."""

from __future__ import annotations

import argparse
import contextlib
import json
from pathlib import Path

from rich.markup import escape
from rich.table import Table

from voiceclone import CloneJob, ValidationError, VoiceCloneError
from voiceclone._cli._connect import make_client
from voiceclone._cli._exit import FAILED, OK, USAGE, UsageError
from voiceclone._cli._main import DEFAULT_MODEL
from voiceclone._cli._render import ResultRow, error_label, record, row_from_outcome
from voiceclone._cli._render import sensitivity_label as sensitivity
from voiceclone._cli._ui import Ui
from voiceclone._validate import check_job

__all__ = ["clone"]


def _job(args: argparse.Namespace) -> CloneJob:
    model = args.model or (DEFAULT_MODEL if args.text is not None else None)
    return CloneJob(
        args.voice_id,
        args.audio,
        prompt_audio=args.prompt_audio,
        prompt_text=args.prompt_text,
        text=args.text,
        model=model,
        language_boost=args.language_boost,
        text_validation=args.text_validation,
        accuracy=args.accuracy,
        need_noise_reduction=args.noise_reduction,
        need_volume_normalization=args.volume_normalization,
        aigc_watermark=args.watermark,
        continuous_sound=args.continuous_sound,
    )


def _refused(args: argparse.Namespace, ui: Ui, errors: list[ValidationError]) -> int:
    if args.json:
        row = ResultRow(args.voice_id, error=errors[0])
        data = record(row)
        data["problems"] = [error_label(e) for e in errors]
        print(json.dumps(data))
    for error in errors:
        ui.error(error_label(error))
    return USAGE


def _show(ui: Ui, row: ResultRow, saved: Path | None) -> None:
    result = row.result
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    grid.add_row("voice id", escape(row.voice_id))
    if result is None:
        grid.add_row("status", "[bold red]failed[/]")
        grid.add_row("error", escape(error_label(row.error)))
    else:
        grid.add_row("status", f"[green]{row.status}[/]")
        grid.add_row("attempts", str(result.attempts))
        grid.add_row("sensitivity", sensitivity(result))
        if result.demo_audio:
            grid.add_row("preview", f"[link={result.demo_audio}]{escape(result.demo_audio)}[/]")
        if saved is not None:
            grid.add_row("saved to", escape(str(saved)))
        grid.add_row(
            "expires",
            f"{result.expires_at:%Y-%m-%d %H:%M} UTC unless used for speech before then",
        )
        if result.trace_id:
            grid.add_row("trace id", result.trace_id)
    ui.out.print(grid)


async def clone(args: argparse.Namespace, ui: Ui) -> int:
    """Run ``voiceclone clone``."""
    if args.download_demo and args.text is None:
        raise UsageError("--download-demo needs --text: the preview is read from it")
    try:
        job = _job(args)
    except ValidationError as exc:
        return _refused(args, ui, [exc])
    problems = check_job(job)
    if problems:
        return _refused(args, ui, problems)
    saved: Path | None = None
    download_failed = False
    async with make_client(args, requests_per_minute=args.rpm, max_in_flight=2) as client:
        with (
            ui.err.status(f"cloning {escape(job.voice_id)}…")
            if ui.live
            else contextlib.nullcontext()
        ):
            outcomes = [o async for o in client.clone_jobs([job])]
            row = row_from_outcome(outcomes[0])
            if row.result is not None and args.download_demo:
                try:
                    saved = await client.download_demo(row.result, args.download_demo)
                except VoiceCloneError as exc:
                    download_failed = True
                    ui.error(f"the voice was cloned, but its preview was not saved: {exc}")
    if args.json:
        data = record(row)
        if saved is not None:
            data["demo_path"] = str(saved)
        print(json.dumps(data))
    else:
        _show(ui, row, saved)
    if not row.ok:
        ui.error(error_label(row.error))
    return OK if row.ok and not download_failed else FAILED

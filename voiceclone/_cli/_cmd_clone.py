"""``voiceclone clone AUDIO --voice-id ID``: upload one sample and clone it."""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import tempfile
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from voiceclone import Client, CloneJob, CloneResult, ValidationError, VoiceCloneError
from voiceclone._cli._connect import make_client
from voiceclone._cli._exit import FAILED, OK, USAGE, UsageError, failure_status
from voiceclone._cli._render import ResultRow, error_label, link, plain, record, row_from_outcome
from voiceclone._cli._render import sensitivity_label as sensitivity
from voiceclone._cli._ui import Ui
from voiceclone._job_checks import check_job
from voiceclone._validate import DEFAULT_MODEL

__all__ = ["clone"]

#: ``--download-demo -`` writes the preview audio to stdout.
STDOUT = "-"


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


def _show(console: Console, row: ResultRow) -> None:
    result = row.result
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    grid.add_row("voice id", plain(row.voice_id))
    if result is None:
        grid.add_row("status", Text("failed", style="bold red"))
        grid.add_row("error", plain(error_label(row.error)))
    else:
        grid.add_row("status", Text(row.status, style="green"))
        grid.add_row("attempts", str(result.attempts))
        grid.add_row("sensitivity", sensitivity(result))
        if result.demo_audio:
            grid.add_row("preview", link(result.demo_audio))
        if row.saved_preview is not None:
            grid.add_row("saved to", plain(row.saved_preview))
        grid.add_row(
            "expires",
            f"{result.expires_at:%Y-%m-%d %H:%M} UTC unless used for speech before then",
        )
        if result.trace_id:
            grid.add_row("trace id", plain(result.trace_id))
    console.print(grid)


async def _download(client: Client, result: CloneResult, target: str) -> Path | None:
    """Save the preview to ``target`` (``-``: stdout); the path saved to, if a file."""
    if target != STDOUT:
        return await client.download_demo(result, target)
    with tempfile.TemporaryDirectory(prefix="voiceclone-") as folder:
        path = await client.download_demo(result, Path(folder) / "preview")
        sys.stdout.buffer.write(path.read_bytes())
        sys.stdout.buffer.flush()
    return None


def _reason(exc: Exception) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return f"{exc.filename}: {exc.strerror}" if exc.filename else exc.strerror
    return str(exc)


async def clone(args: argparse.Namespace, ui: Ui) -> int:
    """Run ``voiceclone clone``."""
    if args.download_demo and args.text is None:
        raise UsageError("--download-demo needs --text: the preview is read from it")
    if args.download_demo == STDOUT and args.json:
        raise UsageError("--download-demo - and --json both write to stdout: choose one")
    try:
        job = _job(args)
    except ValidationError as exc:
        return _refused(args, ui, [exc])
    problems = check_job(job)
    if problems:
        return _refused(args, ui, problems)
    # With the audio on stdout, the result is for people: it goes to stderr.
    human = ui.err if args.download_demo == STDOUT else ui.out
    download_error: str | None = None
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
                    saved = await _download(client, row.result, args.download_demo)
                except BrokenPipeError:  # its reader has gone: end quietly (see _dispatch)
                    raise
                except (VoiceCloneError, OSError) as exc:
                    # The voice exists (and was billed): its result is shown first,
                    # then what went wrong with the file.
                    download_error = _reason(exc)
                else:
                    if saved is not None:
                        row = row_from_outcome(outcomes[0], saved_preview=saved)
    if args.json:
        print(json.dumps(record(row)))
    else:
        _show(human, row)
    if download_error is not None:
        ui.error(f"the voice was cloned, but its preview was not saved: {download_error}")
        return FAILED
    if not row.ok:
        ui.error(error_label(row.error))
        return failure_status(row.error)
    return OK

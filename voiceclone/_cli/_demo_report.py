"""The demo's closing summary: what was cloned, what failed and why, and where the time went.

The time is compared with the ideal (every voice sent once, evenly paced at the
limit), and split in two parts that add up to it: the clone requests actually
sent, paced at the limit, and the rest (rate-limit pauses, backoff, uploads,
answers). Every retry is named by what was sent again and why.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import attrs
from rich.console import RenderableType
from rich.markup import escape
from rich.table import Table

from voiceclone._cli._progress import BatchProgress
from voiceclone._cli._render import ResultRow, tally
from voiceclone.emulator import Emulator

__all__ = ["DemoRun", "summary_grid"]


@attrs.frozen
class DemoRun:
    """What the demo measured, for its summary.

    Attributes:
        sent: voices sent (the inputs that passed the local checks).
        deliberate: inputs expected to fail, refused or refused by the server.
        pace: the client's pace at the end, in requests per minute.
        folder: where the outputs are kept, or ``None`` if they are not.
        previews: preview files saved.
    """

    sent: int
    deliberate: int
    pace: float
    folder: Path | None
    previews: int


def at_limit(requests: int, rpm: float) -> float:
    """Seconds ``requests`` take evenly paced at ``rpm``: the first leaves at once."""
    return max(0, requests - 1) * 60.0 / rpm


def _time_rows(run: DemoRun, progress: BatchProgress, emu: Emulator) -> list[tuple[str, str]]:
    rpm = emu.rpm or 0.0
    elapsed = progress.elapsed
    if not rpm or run.sent < 2:
        return [("time", f"{elapsed:.1f} s")]
    ideal = at_limit(run.sent, rpm)
    requests = emu.stats.requests["voice_clone"]
    again = requests - run.sent
    # The two parts add up to the run's time: pacing can only be slower than the limit.
    paced = min(at_limit(requests, rpm), elapsed)
    rest = elapsed - paced
    causes = []
    if progress.rate_limited:
        answers = "answer" if progress.rate_limited == 1 else "answers"
        causes.append(
            f"pausing and slowing down after {progress.rate_limited} rate-limit {answers} "
            f"(the pace is {run.pace:.0f}/min now, rising back slowly)"
        )
    if progress.retries:
        causes.append("waiting before retries")
    causes.append("uploading the samples and waiting for answers")
    requests_text = f"{requests} clone requests" + (
        f" ({run.sent} voices, {again} sent again)" if again else ""
    )
    return [
        (
            "time",
            f"{elapsed:.1f} s for {run.sent} voices: {elapsed / ideal:.1f} times the "
            f"{ideal:.1f} s they would take at {rpm:g} requests/min, each sent once",
        ),
        (
            "why",
            f"{requests_text} take {paced:.1f} s at that pace; the other {rest:.1f} s went "
            f"to {_and(causes)}",
        ),
    ]


def _retry_text(progress: BatchProgress) -> str:
    """Every retry, named: what was sent again, and after what."""
    if not progress.retries:
        return "none"
    by_request: dict[str, list[str]] = {}
    for (what, why), count in sorted(progress.retried.items(), key=lambda item: -item[1]):
        by_request.setdefault(what, []).append(f"{count} after {why}")
    parts = [f"{what}: {', '.join(reasons)}" for what, reasons in by_request.items()]
    return f"{progress.retries} ({'; '.join(parts)})"


def _and(items: Sequence[str]) -> str:
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"


def summary_grid(
    rows: Sequence[ResultRow], progress: BatchProgress, emu: Emulator, run: DemoRun
) -> RenderableType:
    """The summary: cloned, failed, server behaviour, time and its explanation, outputs."""
    counts = tally(rows)
    http_5xx = sum(n for status, n in emu.stats.http_statuses.items() if status >= 500)
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column(overflow="fold")  # a long folder path is folded, never cut with an ellipsis
    grid.add_row(
        "cloned",
        f"[green]{counts.cloned}[/] of {counts.total} voices "
        f"({counts.recovered} recovered after a lost answer, {counts.flagged} flagged sensitive)",
    )
    grid.add_row(
        "failed",
        f"{counts.failed}: {counts.reasons_text() or 'none'}"
        + (" [dim](all deliberate)[/]" if counts.failed == run.deliberate else ""),
    )
    answers = "answer" if progress.rate_limited == 1 else "answers"
    grid.add_row(
        "server",
        f"{progress.rate_limited} rate-limit {answers}; {http_5xx} HTTP 5xx and "
        f"{emu.stats.dropped} dropped connections (faults the demo's emulator makes on purpose)",
    )
    grid.add_row("retries", _retry_text(progress))
    for name, text in _time_rows(run, progress, emu):
        grid.add_row(name, text)
    if run.folder is not None:
        where = escape(str(run.folder))
        grid.add_row(
            "kept",
            f"{where}: samples/ (the inputs), previews/ ({run.previews} preview files), "
            "journal.jsonl (a re-run's resume state), results.jsonl (one JSON record per voice)",
        )
    else:
        grid.add_row("kept", "nothing (--no-keep): the outputs were deleted")
    return grid

"""The demo's closing summary: what was cloned, what failed and why, and where the time went.

The time is compared with the ideal (every voice sent once, evenly paced at the
limit) and the gap is explained by what was measured in the run: the extra
requests that retries cost, the rate-limit answers that slowed the client, and
the emulator's burst, which a client that never bursts leaves unused.
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


def _time_rows(run: DemoRun, progress: BatchProgress, emu: Emulator) -> list[tuple[str, str]]:
    rpm = emu.rpm or 0.0
    if not rpm or not run.sent:
        return [("time", f"{progress.elapsed:.1f} s")]
    ideal = run.sent * 60.0 / rpm
    used = ideal / progress.elapsed if progress.elapsed > 0 else 1.0
    requests = emu.stats.requests["voice_clone"]
    extra = requests - run.sent
    paced = requests * 60.0 / rpm
    rest = max(0.0, progress.elapsed - paced)
    why = (
        f"{requests} clone requests for {run.sent} voices: {extra} more for retries, "
        f"and at {rpm:g}/min those alone take {paced:.1f} s"
    )
    if progress.rate_limited:
        answers = "answer" if progress.rate_limited == 1 else "answers"
        why += (
            f"; {progress.rate_limited} rate-limit {answers} paused every request for a "
            f"cooldown and slowed the pace (now {run.pace:.0f}/min, rising back slowly)"
        )
    why += (
        f"; the other {rest:.1f} s are cooldowns, backoff waits, uploads and answer latency. "
        f"The client never bursts, so the emulator's burst of {emu.burst} goes unused: "
        "MiniMax answers sudden growth with 2045"
    )
    return [
        (
            "time",
            f"{progress.elapsed:.1f} s for {run.sent} voices; the ideal at {rpm:g}/min "
            f"(each voice sent once, evenly paced) is {ideal:.1f} s: {used:.0%} of it",
        ),
        ("why", why),
    ]


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
        f"{progress.rate_limited} rate-limit {answers}, {http_5xx} HTTP 5xx, "
        f"{emu.stats.dropped} dropped connections; {progress.retries} retries",
    )
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

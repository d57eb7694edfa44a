"""How results look: the results table, a voice's JSON record, failure reasons.

Every string a server sent (preview links, trace ids, status messages, dates) is
shown as plain text, never parsed as rich markup or styles, and made safe with
`voiceclone._text.safe_text` first; the JSON records keep the exact strings.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import attrs
from rich import box
from rich.console import Group, RenderableType
from rich.markup import escape
from rich.style import Style
from rich.table import Table
from rich.text import Text

from voiceclone import (
    CloneOutcome,
    CloneResult,
    SensitiveType,
    ValidationError,
    VoiceCloneError,
)
from voiceclone._text import safe_text

__all__ = [
    "FULL_TABLE_ROWS",
    "ResultRow",
    "error_label",
    "failure_reasons",
    "link",
    "plain",
    "record",
    "results_table",
    "row_from_outcome",
    "sensitivity_label",
    "short_link",
    "tally",
]

#: Above this many voices a final table lists only the failures.
FULL_TABLE_ROWS = 200

_STATUS_STYLE = {
    "cloned": "green",
    "recovered": "green",
    "resumed": "green",
    "failed": "bold red",
    "refused": "red",
}


@attrs.frozen
class ResultRow:
    """One voice of a results table.

    Attributes:
        voice_id: the voice.
        result: set when the voice exists.
        error: set when it does not.
        resumed: finished by an earlier run (read back from the journal).
        line: its manifest line, for batches.
        note: a remark shown in its own column (the demo labels its deliberate failures).
        saved_preview: where its preview audio was saved, shown instead of the link.
    """

    voice_id: str
    result: CloneResult | None = None
    error: VoiceCloneError | None = None
    resumed: bool = False
    line: int | None = None
    note: str | None = None
    saved_preview: Path | None = None

    @property
    def ok(self) -> bool:
        return self.result is not None

    @property
    def refused(self) -> bool:
        """Its input was rejected before anything was sent."""
        return isinstance(self.error, ValidationError)

    @property
    def status(self) -> str:
        if self.result is not None:
            if self.resumed:
                return "resumed"
            return "recovered" if self.result.recovered else "cloned"
        return "refused" if self.refused else "failed"


def row_from_outcome(
    outcome: CloneOutcome,
    *,
    line: int | None = None,
    note: str | None = None,
    saved_preview: Path | None = None,
) -> ResultRow:
    return ResultRow(
        outcome.request.voice_id,
        result=outcome.result,
        error=outcome.error,
        resumed=outcome.resumed,
        line=line,
        note=note,
        saved_preview=saved_preview,
    )


def sensitivity_label(result: CloneResult | None) -> str:
    if result is None:
        return ""
    if not result.input_sensitive:
        return "normal"
    kind = result.input_sensitive_type
    return kind.name.lower().replace("_", " ") if kind != SensitiveType.NORMAL else "flagged"


def error_label(error: VoiceCloneError | None) -> str:
    """A one-line description of a failure: its kind, code and message."""
    if error is None:
        return ""
    if isinstance(error, ValidationError):
        return f"{error.field}: {error.problem}"
    if error.status_code is not None and error.status_msg:
        return f"{type(error).__name__} {error.status_code}: {error.status_msg}"
    return f"{type(error).__name__}: {error.message}"


def failure_reasons(rows: Iterable[ResultRow]) -> Counter[str]:
    """Failures grouped by reason, e.g. ``SensitiveContentError 1026``."""
    reasons: Counter[str] = Counter()
    for row in rows:
        if row.error is None:
            continue
        if row.refused:
            reasons["refused before sending (invalid input)"] += 1
        elif row.error.status_code is not None:
            reasons[f"{type(row.error).__name__} {row.error.status_code}"] += 1
        else:
            reasons[type(row.error).__name__] += 1
    return reasons


@attrs.frozen
class Tally:
    """What a batch came to, for the summaries of ``batch`` and ``demo``."""

    total: int
    cloned: int
    recovered: int
    flagged: int
    reasons: Counter[str]

    @property
    def failed(self) -> int:
        return sum(self.reasons.values())

    def reasons_text(self) -> str:
        """The failures by reason, most common first: ``"2 refused ..., 1 ..."``."""
        return ", ".join(f"{n} {escape(reason)}" for reason, n in self.reasons.most_common())


def tally(rows: Sequence[ResultRow]) -> Tally:
    results = [row.result for row in rows if row.result is not None]
    return Tally(
        total=len(rows),
        cloned=len(results),
        recovered=sum(1 for r in results if r.recovered),
        flagged=sum(1 for r in results if r.input_sensitive),
        reasons=failure_reasons(rows),
    )


def plain(value: object, style: str = "") -> Text:
    """``value`` as one line of text for the terminal: no markup, no control characters."""
    return Text(safe_text(str(value)), style=style)


def _linkable(url: str) -> bool:
    # A terminal link carries the URL itself in an escape sequence: only a plain
    # http(s) URL, or the file URL of a saved preview, with nothing to escape may go there.
    return (
        urlsplit(url).scheme in ("http", "https", "file")
        and url.isascii()
        and url.isprintable()
        and " " not in url
    )


def link(url: str, label: str | None = None) -> Text:
    """``label`` (default: the URL) as text, clickable where terminals allow and the URL is safe."""
    text = plain(url if label is None else label)
    if _linkable(url):
        text.stylize(Style(link=url))
    return text


def short_link(url: str | None) -> Text:
    """A preview URL shown by its file name, clickable where terminals allow.

    Whole URLs do not fit beside the other columns; ``--json`` and ``--out``
    carry them in full.
    """
    if not url:
        return Text("")
    name = urlsplit(url).path.rsplit("/", 1)[-1] or url
    if len(name) > 14:
        stem, dot, ext = name.rpartition(".")
        name = f"{stem[:6]}…{dot}{ext}" if dot and len(ext) <= 4 else f"{name[:13]}…"
    return link(url, name)


def _preview_cell(row: ResultRow) -> Text:
    if row.saved_preview is not None:
        return link(row.saved_preview.absolute().as_uri(), row.saved_preview.name)
    return short_link(row.result.demo_audio if row.result is not None else None)


#: Below this many columns, errors are listed under the table instead of in it.
INLINE_ERRORS_WIDTH = 110


def results_table(
    rows: Sequence[ResultRow], *, title: str | None = None, width: int = INLINE_ERRORS_WIDTH
) -> RenderableType:
    """The results table: voice id, status, attempts, sensitivity, preview link, error.

    A row's note, if any, is shown with its error. On a terminal narrower than
    `INLINE_ERRORS_WIDTH` the error column holds a reference and the errors
    follow the table in full, instead of being folded into a sliver.
    """
    inline = width >= INLINE_ERRORS_WIDTH
    footnotes: list[Text] = []
    lines = any(row.line is not None for row in rows)
    table = Table(title=title, box=box.SIMPLE_HEAD, title_justify="left", pad_edge=False)
    if lines:
        table.add_column("line", justify="right", style="dim")
    table.add_column("voice id", no_wrap=True)
    table.add_column("status", no_wrap=True)
    table.add_column("tries", justify="right", no_wrap=True)
    table.add_column("sensitivity", no_wrap=True)
    table.add_column("preview", no_wrap=True)
    table.add_column("error", overflow="fold", ratio=1, min_width=16)
    for row in rows:
        result = row.result
        sensitivity = Text(sensitivity_label(result))
        if result is not None and result.input_sensitive:
            sensitivity.stylize("yellow")
        elif result is not None:
            sensitivity.stylize("dim")
        error = plain(error_label(row.error), style="red")
        if row.note:
            gap = ("\n" if inline else " — ") if error else ""
            error.append(gap + safe_text(row.note), style="italic dim")
        if error and not inline:
            mark = f"[{len(footnotes) + 1}]"
            footnotes.append(Text.assemble(f"{mark} ", plain(row.voice_id, "bold"), ": ", error))
            error = Text(mark, style="red" if row.error else "dim")
        cells: list[Any] = []
        if lines:
            cells.append(str(row.line) if row.line is not None else "")
        cells += [
            plain(row.voice_id),
            Text(row.status, style=_STATUS_STYLE[row.status]),
            str(result.attempts) if result is not None and not row.resumed else "",
            sensitivity,
            _preview_cell(row),
            error,
        ]
        table.add_row(*cells)
    if not footnotes:
        return table
    return Group(table, *footnotes)


def _iso(value: dt.datetime) -> str:
    return value.isoformat(timespec="seconds")


def record(row: ResultRow) -> dict[str, Any]:
    """A voice's JSON record, as ``--json`` and ``--out`` write it (no secrets in it)."""
    # "resumed": this process did not produce the outcome (an earlier run did, or in a
    # shared batch another worker): each voice once across workers is "not resumed".
    data: dict[str, Any] = {
        "voice_id": row.voice_id,
        "status": row.status,
        "ok": row.ok,
        "resumed": row.resumed,
    }
    if row.line is not None:
        data["line"] = row.line
    result = row.result
    if result is not None:
        data.update(
            attempts=result.attempts,
            recovered=result.recovered,
            demo_audio=result.demo_audio,
            input_sensitive=result.input_sensitive,
            input_sensitive_type=int(result.input_sensitive_type),
            trace_id=result.trace_id,
            created_at=_iso(result.created_at),
            expires_at=_iso(result.expires_at),
        )
    if row.saved_preview is not None:
        data["demo_path"] = str(row.saved_preview)
    error = row.error
    if error is not None:
        data["error"] = {
            "type": type(error).__name__,
            "message": error_label(error),
            "status_code": error.status_code,
            "trace_id": error.trace_id,
        }
    return data

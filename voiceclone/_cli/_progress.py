"""The live progress bar of a batch: done of total, rate, ETA, retries and failures.

The counters are fed by the client's ``on_retry`` / ``on_response`` hooks and by
each finished outcome, and they are kept whether or not the bar is drawn, so the
summary can report them.
"""

from __future__ import annotations

import collections
import time
from collections.abc import Callable
from types import TracebackType
from typing import Final

from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    SpinnerColumn,
    Task,
    TaskID,
)
from rich.text import Text

from voiceclone import CloneOutcome, ResponseEvent, RetryEvent
from voiceclone._cli._ui import Ui
from voiceclone._errors import (
    RATE_LIMIT_CODES,
    RateLimitError,
    TimeoutError,
    TransportError,
    VoiceCloneError,
)
from voiceclone._request import PREVIEW_PATH

__all__ = ["BatchProgress", "is_rate_limit_answer"]


def is_rate_limit_answer(event: ResponseEvent) -> bool:
    """Whether an answer refused a request for its rate."""
    return event.status_code in RATE_LIMIT_CODES or event.http_status == 429


class _Live(ProgressColumn):
    """A column computed at every refresh, so rate and ETA move between outcomes."""

    def __init__(self, render: Callable[[], Text]) -> None:
        super().__init__()
        self._render = render

    def render(self, task: Task) -> Text:
        return self._render()


def _clock(seconds: float) -> str:
    minutes, secs = divmod(max(0, round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


class BatchProgress:
    """Counts a batch's outcomes, retries and rate-limit answers, and draws them live.

    Use as a context manager around the batch; pass `on_retry` and `on_response`
    to the `voiceclone.Client`, and every outcome to `record`.
    """

    def __init__(self, ui: Ui, total: int) -> None:
        self.total = total
        self.done = 0
        self.failed = 0
        self.resumed = 0
        #: Retries by what was sent again and why: ("clone", "HTTP 503") -> count.
        self.retried: collections.Counter[tuple[str, str]] = collections.Counter()
        self.rate_limited = 0
        self.started = time.monotonic()
        self.finished: float | None = None
        self._progress = Progress(
            SpinnerColumn(finished_text="[green]✓[/]"),
            BarColumn(bar_width=18),
            MofNCompleteColumn(),
            _Live(self._rate_text),
            _Live(self._eta_text),
            _Live(self._counters_text),
            console=ui.err,
            disable=not ui.live,
            refresh_per_second=8,
        )
        self._task: TaskID | None = None

    def __enter__(self) -> BatchProgress:
        self.started = time.monotonic()
        self._progress.start()
        self._task = self._progress.add_task("cloning", total=self.total)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.finished = time.monotonic()
        self._progress.refresh()
        self._progress.stop()

    @property
    def elapsed(self) -> float:
        return (self.finished or time.monotonic()) - self.started

    @property
    def retries(self) -> int:
        """Retries of the run, whatever was sent again."""
        return self.retried.total()

    @property
    def per_minute(self) -> float:
        """Voices finished per minute in this run (outcomes read from a journal excluded)."""
        fresh = self.done - self.resumed
        return fresh * 60.0 / self.elapsed if fresh and self.elapsed > 0 else 0.0

    # -- hooks ----------------------------------------------------------------------

    def on_retry(self, event: RetryEvent) -> None:
        self.retried[_what(event.path), _why(event.error)] += 1

    def on_response(self, event: ResponseEvent) -> None:
        if is_rate_limit_answer(event):
            self.rate_limited += 1

    def record(self, outcome: CloneOutcome) -> None:
        self.done += 1
        if outcome.resumed:
            self.resumed += 1
        if not outcome.ok:
            self.failed += 1
        if self._task is not None:
            self._progress.advance(self._task)

    # -- columns --------------------------------------------------------------------

    def _rate_text(self) -> Text:
        rate = self.per_minute
        return Text(f"{rate:3.0f}/min" if rate else "  –/min", style="cyan")

    def _eta_text(self) -> Text:
        left = self.total - self.done
        rate = self.per_minute
        if self.finished is not None or left == 0:
            return Text(f"took {_clock(self.elapsed)}", style="dim")
        if not rate:
            return Text("ETA -:--", style="dim")
        return Text(f"ETA {_clock(left * 60.0 / rate)}", style="yellow")

    def _counters_text(self) -> Text:
        text = Text()
        text.append(f"retries {self.retries}", style="yellow" if self.retries else "dim")
        text.append(" · ", style="dim")
        text.append(
            f"rate-limited {self.rate_limited}", style="magenta" if self.rate_limited else "dim"
        )
        text.append(" · ", style="dim")
        text.append(f"failed {self.failed}", style="bold red" if self.failed else "dim")
        if self.resumed:
            text.append(f" · resumed {self.resumed}", style="dim")
        return text


#: What people call the request an endpoint path stands for.
_REQUESTS: Final = {
    "/voice_clone": "clone",
    "/files/upload": "upload",
    PREVIEW_PATH: "preview download",
}


def _what(path: str) -> str:
    return _REQUESTS.get(path, path)


def _why(error: VoiceCloneError) -> str:
    """Why an attempt was retried, in a few plain words."""
    if isinstance(error, RateLimitError):
        return "a rate-limit answer"
    if isinstance(error, TimeoutError):
        return "no answer in time"
    if isinstance(error, TransportError):
        return "a lost connection"
    if error.http_status is not None and error.http_status >= 500:
        return f"HTTP {error.http_status}"
    if error.status_code is not None:
        return f"status {error.status_code}"
    return type(error).__name__

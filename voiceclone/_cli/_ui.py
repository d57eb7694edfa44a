"""Where output goes: results to stdout, progress, notes, logs and errors to stderr."""

from __future__ import annotations

import logging
import os
import sys
from typing import IO

import attrs
from rich.console import Console
from rich.logging import RichHandler
from rich.markup import escape

from voiceclone._text import safe_text

__all__ = ["MAX_ERROR_TEXT", "Ui", "make_ui", "silence_closed_pipes"]

#: An error line is cut beyond this: long enough for a manifest's list of known
#: columns, short enough that a server cannot flood the terminal through one.
MAX_ERROR_TEXT = 2000


class _Console(Console):
    """A console that lets a closed pipe end the command like any other write would."""

    def on_broken_pipe(self) -> None:
        # rich's own handling exits with status 1 from wherever it is; the command
        # ends quietly with its pipe status instead (see `_dispatch`).
        self.quiet = True
        raise BrokenPipeError


@attrs.define
class Ui:
    """The two consoles and how chatty to be.

    rich switches colours off for ``NO_COLOR`` and for output that is not a
    terminal; the progress bar is shown only when stderr is a terminal.
    """

    out: Console
    err: Console
    quiet: bool = False
    verbose: bool = False

    @property
    def live(self) -> bool:
        """Whether to draw live progress on stderr."""
        return self.err.is_terminal and not self.quiet

    def note(self, message: str) -> None:
        """A remark for people (rich markup allowed); silent with ``--quiet``."""
        if not self.quiet:
            self.err.print(message)

    def error(self, message: str) -> None:
        """An error, always shown; ``message`` is plain text, never markup.

        It may quote a server (an error's status message), so control characters
        are neutralised like any server string.
        """
        text = safe_text(message, limit=MAX_ERROR_TEXT)
        self.err.print(f"[bold red]error:[/] {escape(text)}", soft_wrap=True)


def make_ui(*, quiet: bool = False, verbose: bool = False) -> Ui:
    """Consoles for this process, and the ``voiceclone`` logger sent to stderr."""
    out = _Console(highlight=False)
    if not out.is_terminal and "COLUMNS" not in os.environ:
        # Files and pipes have no width: do not squeeze tables into 80 columns.
        out = _Console(highlight=False, width=120)
    err = _Console(stderr=True, highlight=False)
    if not err.is_terminal:
        # Notes and errors sent to a log or a pipe stay one line each (a reader greps
        # them); tables still fit the width.
        err = _Console(
            stderr=True,
            highlight=False,
            soft_wrap=True,
            width=None if "COLUMNS" in os.environ else 120,
        )
    ui = Ui(out, err, quiet, verbose)
    handler = RichHandler(
        console=ui.err, show_path=False, markup=False, rich_tracebacks=False, log_time_format="[%X]"
    )
    handler.setFormatter(logging.Formatter("%(name)s: %(message)s"))
    logger = logging.getLogger("voiceclone")
    for old in [h for h in logger.handlers if isinstance(h, RichHandler)]:
        logger.removeHandler(old)
    logger.addHandler(handler)
    logger.setLevel(logging.INFO if verbose else logging.WARNING)
    logger.propagate = False
    return ui


def silence_closed_pipes(*streams: IO[str]) -> None:
    """Point ``streams`` (stdout and stderr if none) at the null device once they fail.

    Without this the interpreter's final flush of the buffered output fails
    again, and prints "Exception ignored ... BrokenPipeError" on its way out.
    """
    null = os.open(os.devnull, os.O_WRONLY)
    for stream in streams or (sys.stdout, sys.stderr):
        try:
            os.dup2(null, stream.fileno())
        except (OSError, ValueError):  # a stream without a descriptor: nothing to flush
            continue
    os.close(null)

"""Where output goes: results to stdout, progress, notes, logs and errors to stderr."""

from __future__ import annotations

import logging
import os

import attrs
from rich.console import Console
from rich.logging import RichHandler
from rich.markup import escape

__all__ = ["Ui", "make_ui"]


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
        """An error, always shown; ``message`` is plain text, never markup."""
        self.err.print(f"[bold red]error:[/] {escape(message)}", soft_wrap=True)


def make_ui(*, quiet: bool = False, verbose: bool = False) -> Ui:
    """Consoles for this process, and the ``voiceclone`` logger sent to stderr."""
    out = Console(highlight=False)
    if not out.is_terminal and "COLUMNS" not in os.environ:
        # Files and pipes have no width: do not squeeze tables into 80 columns.
        out = Console(highlight=False, width=120)
    ui = Ui(out, Console(stderr=True, highlight=False), quiet, verbose)
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

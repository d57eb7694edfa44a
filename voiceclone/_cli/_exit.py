"""Exit statuses of the command, and the error that ends it with a usage status."""

from __future__ import annotations

from typing import Final

__all__ = ["FAILED", "INTERRUPTED", "OK", "TERMINATED", "USAGE", "UsageError"]

OK: Final = 0
#: Some (or all) voices failed; the others were cloned.
FAILED: Final = 1
#: Bad arguments, configuration, manifest or input: nothing was sent.
USAGE: Final = 2
#: Stopped by Ctrl-C (128 + SIGINT), as shells report it.
INTERRUPTED: Final = 130
#: Stopped by SIGTERM (128 + SIGTERM).
TERMINATED: Final = 143


class UsageError(Exception):
    """A problem with how the command was called; reported on stderr with exit status 2."""

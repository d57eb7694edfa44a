"""The ``voiceclone`` command: ``demo``, ``clone``, ``batch``, ``voices``, ``emulator``.

This module is only the entry point; the subcommands live in ``voiceclone._cli``.
Run ``voiceclone --help`` for the options.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line with ``argv`` (default: ``sys.argv[1:]``); return the exit status."""
    from voiceclone._cli._main import run

    return run(argv)


if __name__ == "__main__":
    sys.exit(main())

"""Runs a parsed command line: output set-up, errors to exit statuses."""

from __future__ import annotations

import argparse
from collections.abc import Awaitable, Callable

from voiceclone import ConfigurationError, JournalError, ValidationError
from voiceclone._cli._exit import FAILED, USAGE, UsageError
from voiceclone._cli._runner import run_command
from voiceclone._cli._ui import Ui, make_ui

__all__ = ["dispatch"]


def _command(args: argparse.Namespace, ui: Ui) -> Callable[[], Awaitable[int]]:
    if args.command == "demo":
        from voiceclone._cli._cmd_demo import demo

        return lambda: demo(args, ui)
    if args.command == "clone":
        from voiceclone._cli._cmd_clone import clone

        return lambda: clone(args, ui)
    if args.command == "batch":
        from voiceclone._cli._cmd_batch import batch

        return lambda: batch(args, ui)
    from voiceclone._cli._cmd_voices import voices

    return lambda: voices(args, ui)


def dispatch(args: argparse.Namespace) -> int:
    """Run the subcommand ``args.command``; return the exit status."""
    ui = make_ui(quiet=args.quiet, verbose=args.verbose)
    try:
        return run_command(_command(args, ui))
    except (UsageError, ConfigurationError, ValidationError) as exc:
        # Messages of these errors name fields and files, never the API key.
        ui.error(str(exc))
        return USAGE
    except JournalError as exc:  # a journal that cannot be read (a Redis that is down)
        ui.error(str(exc))
        return FAILED

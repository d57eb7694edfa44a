"""Runs a parsed command line: output set-up, errors to exit statuses."""

from __future__ import annotations

import argparse
from collections.abc import Awaitable, Callable

from voiceclone import ConfigurationError, JournalError, ValidationError
from voiceclone._cli._exit import CONFIG, JOURNAL, PIPE_CLOSED, USAGE, SetupError, UsageError
from voiceclone._cli._runner import run_command
from voiceclone._cli._ui import Ui, make_ui, silence_closed_pipes

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
    if args.command in ("speak", "activate"):
        from voiceclone._cli import _cmd_speak

        command = _cmd_speak.speak if args.command == "speak" else _cmd_speak.activate
        return lambda: command(args, ui)
    from voiceclone._cli._cmd_voices import voices

    return lambda: voices(args, ui)


def dispatch(args: argparse.Namespace) -> int:
    """Run the subcommand ``args.command``; return the exit status."""
    ui = make_ui(quiet=args.quiet, verbose=args.verbose)
    try:
        return run_command(_command(args, ui))
    except BrokenPipeError:
        # `voiceclone ... | head`: the reader has what it wanted. End quietly, as a
        # program stopped by SIGPIPE would, instead of with a traceback.
        silence_closed_pipes()
        return PIPE_CLOSED
    except (SetupError, ConfigurationError) as exc:
        # Messages of these errors name fields and files, never the API key.
        ui.error(str(exc))
        return CONFIG
    except JournalError as exc:
        ui.error(f"journal not usable: {exc}")
        return JOURNAL
    except (UsageError, ValidationError) as exc:
        ui.error(str(exc))
        return USAGE

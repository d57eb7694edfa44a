"""Argument parsing and dispatch. Imports nothing beyond the standard library until a
subcommand runs, so ``--help``, ``--version`` and ``emulator`` work without rich."""

from __future__ import annotations

import argparse
import importlib.util
import sys
from collections.abc import Sequence

from voiceclone import __version__
from voiceclone._cli._exit import (
    ACCOUNT,
    CONFIG,
    FAILED,
    INTERRUPTED,
    JOURNAL,
    OK,
    PIPE_CLOSED,
    TERMINATED,
    USAGE,
)
from voiceclone._cli._redis_options import add_options as add_redis_options
from voiceclone._validate import DEFAULT_MODEL, MODELS

__all__ = ["build_parser", "run"]

_EPILOG = f"""\
environment:
  MINIMAX_API_KEY   the API key (or use --api-key-file); never printed or written anywhere
  MINIMAX_BASE_URL  the API's base URL, up to and including /v1 (default: global region)
  NO_COLOR          set to switch colours off

exit status:
  {OK:<4} all voices done
  {FAILED:<4} some voices failed (the others were cloned)
  {USAGE:<4} usage or input error: nothing was sent
  {CONFIG:<4} configuration or authentication: no API key, a key refused, a bad base URL
  {JOURNAL:<4} the journal (or the --out file) cannot be written or read; a re-run resumes
  {ACCOUNT:<4} the account cannot clone (no balance, a spent quota, no permission): sending stopped;
       a re-run once it is fixed sends what was not sent
  {INTERRUPTED:<4} interrupted by Ctrl-C; a batch re-run with the same journal resumes
  {PIPE_CLOSED:<4} stdout was closed by its reader (| head)
  {TERMINATED:<4} stopped by SIGTERM; a batch re-run resumes
"""


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def rpm_value(text: str) -> float | None:
    """``--rpm``: a positive number, or ``0`` / ``auto`` to discover the limit."""
    if text.strip().lower() in ("auto", "0"):
        return None
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number or 'auto', got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be positive, 0 or 'auto', got {text!r}")
    return value


def _window(text: str) -> object:
    from voiceclone._cli._cmd_speak import parse_window  # datetime only: no rich

    return parse_window(text)


def _accuracy(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {text}")
    return value


def _global_options(parser: argparse.ArgumentParser, *, top: bool) -> None:
    # The same options are accepted before and after the subcommand. On the
    # subcommands their defaults are suppressed so they never overwrite a value
    # given before the subcommand.
    default = None if top else argparse.SUPPRESS
    group = parser.add_argument_group("connection and output")
    group.add_argument(
        "--base-url",
        default=default,
        metavar="URL",
        help="API base URL up to /v1 (default: $MINIMAX_BASE_URL or the global region)",
    )
    group.add_argument(
        "--api-key-file",
        default=default,
        metavar="PATH",
        help="read the API key from this file instead of $MINIMAX_API_KEY",
    )
    group.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        default=False if top else argparse.SUPPRESS,
        help="no progress bar or notes; results and errors only",
    )
    group.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        default=False if top else argparse.SUPPRESS,
        help="log requests, retries and waits to stderr",
    )


def _clone_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "audio", metavar="AUDIO", help="voice sample: wav, mp3 or m4a, 10 s to 5 min"
    )
    parser.add_argument("--voice-id", required=True, metavar="ID", help="id of the new voice")
    prompt = parser.add_argument_group("clone prompt (optional, both together)")
    prompt.add_argument("--prompt-audio", metavar="PATH", help="a short example clip, under 8 s")
    prompt.add_argument(
        "--prompt-text", metavar="TEXT", help="its transcript, ending in punctuation"
    )
    preview = parser.add_argument_group("preview and options")
    preview.add_argument("--text", metavar="TEXT", help="preview text to read in the new voice")
    preview.add_argument(
        "--model",
        metavar="MODEL",
        help=f"model of the preview (default with --text: {DEFAULT_MODEL}); known: "
        f"{', '.join(MODELS)}; another name is sent as given, with a warning",
    )
    preview.add_argument("--language-boost", metavar="LANG", help="e.g. auto, English, Chinese")
    preview.add_argument(
        "--text-validation", metavar="TEXT", help="expected transcript of the sample"
    )
    preview.add_argument(
        "--accuracy", type=_accuracy, metavar="X", help="0 to 1, with --text-validation"
    )
    for flag, help_text in (
        ("--noise-reduction", "reduce noise in the sample"),
        ("--volume-normalization", "normalise the sample's volume"),
        ("--watermark", "mark the end of the preview audio (AIGC watermark)"),
        ("--continuous-sound", "continuous inference: smoother prosody (speech-2.8 models)"),
    ):
        preview.add_argument(flag, action=argparse.BooleanOptionalAction, help=help_text)
    parser.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    parser.add_argument(
        "--download-demo", metavar="PATH", help="save the preview audio here (needs --text)"
    )


def build_parser() -> argparse.ArgumentParser:
    """The parser of the ``voiceclone`` command."""
    parser = argparse.ArgumentParser(
        prog="voiceclone",
        description="Clone voices with MiniMax: one at a time, or batches with resume.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"voiceclone {__version__}")
    _global_options(parser, top=True)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True

    def command(name: str, help_text: str, **kwargs: object) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text, description=help_text, **kwargs)  # type: ignore[arg-type]
        _global_options(sub, top=False)
        return sub

    demo = command(
        "demo", "batch-clone sample voices on the built-in emulator: no API key, no network"
    )
    demo.add_argument(
        "--voices", type=_positive_int, default=24, metavar="N", help="good sample voices"
    )
    demo.add_argument(
        "--rpm",
        type=_positive_int,
        default=120,
        metavar="N",
        help="the emulator's clone limit per minute (the client is told it too)",
    )
    keep = demo.add_mutually_exclusive_group()
    keep.add_argument(
        "--out-dir",
        metavar="DIR",
        help="keep the samples, previews, journal and results here (a new or empty folder; "
        "default: voiceclone-demo-DATE-TIME in the current directory)",
    )
    keep.add_argument(
        "--no-keep", action="store_true", help="work in a temporary folder, deleted at the end"
    )

    clone = command("clone", "upload one sample and clone a voice from it")
    _clone_options(clone)
    clone.add_argument(
        "--rpm", type=rpm_value, default=60.0, metavar="N", help="clone requests per minute"
    )

    batch = command(
        "batch",
        "clone every voice of a CSV or JSONL manifest, resumably",
        epilog="manifest columns: voice_id, audio (relative to the manifest), prompt_audio, "
        "prompt_text, text, model, language_boost, text_validation, accuracy, "
        "noise_reduction, volume_normalization, watermark, continuous_sound",
    )
    batch.add_argument("manifest", metavar="MANIFEST", help="a .csv (with header) or .jsonl file")
    batch.add_argument(
        "--dry-run", action="store_true", help="check every row and file; send nothing"
    )
    batch.add_argument(
        "--skip-invalid",
        action="store_true",
        help="clone the valid rows, list the invalid ones and count them as failed "
        "(default: refuse the manifest if any row is invalid)",
    )
    where = batch.add_mutually_exclusive_group()
    where.add_argument(
        "--journal",
        metavar="PATH",
        help="resume journal (default: MANIFEST.journal.jsonl beside the manifest)",
    )
    where.add_argument("--no-journal", action="store_true", help="do not keep a journal")
    batch.add_argument(
        "--retry-failed",
        action="store_true",
        help="send again the voices the journal has as failed for good (sensitive text, "
        "invalid parameters, bad audio, a taken voice id); default: report them from it",
    )
    batch.add_argument(
        "--out", metavar="PATH", help="write one JSON line per voice here (- for stdout)"
    )
    batch.add_argument(
        "--json",
        action="store_true",
        help="print one JSON line per voice on stdout as each finishes; "
        "the table and summary go to stderr",
    )
    batch.add_argument(
        "--max-in-flight", type=_positive_int, default=8, metavar="N", help="requests at once"
    )
    batch.add_argument(
        "--rpm",
        type=rpm_value,
        default=60.0,
        metavar="N",
        help="clone requests per minute, or 0/auto to discover the limit (default: 60)",
    )
    add_redis_options(batch)

    speak = command("speak", "speak text with a voice (text to speech) into an audio file")
    speak.add_argument("voice_id", metavar="VOICE_ID", help="a cloned or system voice")
    speak.add_argument("text", metavar="TEXT", help="what to say (under 10,000 characters)")
    speak.add_argument(
        "-o", "--out", required=True, metavar="PATH", help="the audio file (- for stdout)"
    )
    speak.add_argument(
        "--stream", action="store_true", help="stream the speech (to stdout as it arrives)"
    )
    speak.add_argument(
        "--model", default=DEFAULT_MODEL, metavar="MODEL", help=f"default: {DEFAULT_MODEL}"
    )
    sound = speak.add_argument_group("voice and audio settings (MiniMax's defaults if left out)")
    sound.add_argument(
        "--format",
        choices=("mp3", "pcm", "flac", "wav"),
        help="audio format (default: from the file's suffix, else mp3)",
    )
    sound.add_argument("--sample-rate", type=int, metavar="HZ", help="8000 to 44100")
    sound.add_argument("--bitrate", type=int, metavar="BPS", help="32000 to 256000 (mp3)")
    sound.add_argument("--channel", type=int, choices=(1, 2), help="1 or 2")
    sound.add_argument("--speed", type=float, metavar="X", help="0.5 to 2")
    sound.add_argument("--vol", type=float, metavar="X", help="above 0, up to 10")
    sound.add_argument("--pitch", type=int, metavar="N", help="-12 to 12")
    sound.add_argument("--emotion", metavar="NAME", help="e.g. calm, happy, sad, whisper")
    sound.add_argument("--language-boost", metavar="LANG", help="e.g. auto, English")

    activate = command(
        "activate",
        "keep a batch's cloned voices: one small synthesis each, before MiniMax's 7 days end",
    )
    activate.add_argument(
        "--journal", required=True, metavar="PATH", help="the batch journal naming the voices"
    )
    activate.add_argument(
        "--within",
        type=_window,
        metavar="TIME",
        help="only voices expiring within this time (48h, 2d); default: every unused one",
    )
    activate.add_argument(
        "--rpm", type=rpm_value, default=None, metavar="N",
        help="speech requests per minute (default: found from rate-limit answers)",
    )  # fmt: skip
    activate.add_argument("--json", action="store_true", help="one JSON line per voice")

    voices = command("voices", "list cloned voices, or delete one")
    voices.add_argument(
        "--journal",
        action="append",
        default=[],
        metavar="PATH",
        help="a batch journal: shows when its voices expire (repeatable)",
    )
    voices.add_argument("--json", action="store_true", help="print a JSON array on stdout")
    voices.add_argument(
        "--expiring",
        action="store_true",
        help="only the journals' voices not used for speech yet, soonest to expire first",
    )
    actions = voices.add_subparsers(dest="action", metavar="ACTION")
    delete = actions.add_parser(
        "delete", help="delete a cloned voice", description="delete a cloned voice"
    )
    delete.add_argument("voice_id", metavar="ID")
    _global_options(delete, top=False)

    commands.add_parser(
        "emulator",
        help="run the MiniMax emulator (see 'voiceclone emulator --help')",
        add_help=False,
    )
    return parser


def _has_rich() -> bool:
    return importlib.util.find_spec("rich") is not None


def run(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` and run the subcommand; return the exit status."""
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if args.command == "emulator":
        from voiceclone.emulator import main as emulator_main

        return emulator_main(extra, prog="voiceclone emulator")
    if extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    if not _has_rich():
        print(
            "voiceclone: the command needs rich for its progress bars and tables.\n"
            "Install it with:  pip install 'voiceclone[cli]'",
            file=sys.stderr,
        )
        return USAGE
    from voiceclone._cli._dispatch import dispatch

    return dispatch(args)

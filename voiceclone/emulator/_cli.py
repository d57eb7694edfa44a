"""Command line: run the emulator in the foreground until Ctrl-C."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Sequence

from voiceclone.emulator._app import Emulator
from voiceclone.emulator._faults import Faults

__all__ = ["build_parser", "main"]


def build_parser(prog: str = "python -m voiceclone.emulator") -> argparse.ArgumentParser:
    """The argument parser of :func:`main`."""
    parser = argparse.ArgumentParser(
        prog=prog, description="Run a local MiniMax-compatible voice-cloning API server."
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=8000, help="port (0 picks a free one)")
    parser.add_argument(
        "--api-key",
        action="append",
        dest="api_keys",
        metavar="KEY",
        help="accepted key, repeatable; default $MINIMAX_API_KEY or 'test-key'",
    )
    parser.add_argument("--rpm", type=float, default=60.0, help="clone requests per minute")
    parser.add_argument("--no-rate-limit", action="store_true", help="do not limit clones")
    parser.add_argument("--burst", type=int, default=None, help="rate limiter bucket size")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds before each answer")
    parser.add_argument("--file-ids-as-strings", action="store_true")
    chaos = parser.add_argument_group("random faults (probability per request)")
    for flag in ("5xx", "drop-before", "drop-after", "garbage", "slow", "rate-limit"):
        chaos.add_argument(
            f"--fault-{flag}", type=float, default=0.0, metavar="P", help=f"{flag} faults"
        )
    chaos.add_argument("--slow-seconds", type=float, default=5.0, help="delay of slow faults")
    chaos.add_argument("--seed", type=int, default=0, help="seed of the fault generator")
    parser.add_argument("-v", "--verbose", action="store_true", help="log every request")
    return parser


async def _serve(emulator: Emulator) -> None:
    async with emulator:
        print(f"MiniMax emulator listening on {emulator.base_url}", flush=True)
        await asyncio.Event().wait()


def main(argv: Sequence[str] | None = None, *, prog: str | None = None) -> int:
    """Run the emulator until interrupted; return the process exit status.

    ``prog`` names the command in help and usage (``voiceclone emulator`` from the CLI).
    """
    args = (build_parser(prog) if prog else build_parser()).parse_args(argv)
    keys = args.api_keys or [os.environ.get("MINIMAX_API_KEY") or "test-key"]
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(name)s %(message)s",
        stream=sys.stderr,
    )
    try:
        faults = Faults(
            http_5xx=args.fault_5xx,
            drop_before=args.fault_drop_before,
            drop_after=args.fault_drop_after,
            garbage=args.fault_garbage,
            slow=args.fault_slow,
            slow_seconds=args.slow_seconds,
            rate_limit=args.fault_rate_limit,
            seed=args.seed,
        )
        emulator = Emulator(
            keys,
            rpm=None if args.no_rate_limit else args.rpm,
            burst=args.burst,
            faults=faults if faults.total > 0 else None,
            latency=args.latency,
            host=args.host,
            port=args.port,
            file_ids_as_strings=args.file_ids_as_strings,
        )
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        asyncio.run(_serve(emulator))
    except KeyboardInterrupt:
        pass
    except OSError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0

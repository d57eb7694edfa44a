"""Command line: run the emulator in the foreground until Ctrl-C, or print a running one's state."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import sys
import urllib.error
import urllib.request
from collections.abc import Sequence
from typing import Any, Final

from voiceclone.emulator._app import Emulator, http_origin
from voiceclone.emulator._faults import Faults
from voiceclone.emulator._inspect import STATE_PATH

__all__ = ["build_parser", "main", "read_state", "state_url"]

#: Seconds to wait for a running emulator's state: it answers from memory, at once.
STATE_TIMEOUT: Final = 10.0
#: A state document larger than this is not an emulator's (it holds counters, not audio).
MAX_STATE_BYTES: Final = 64 * 1024 * 1024


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
    parser.add_argument(
        "--burst",
        type=int,
        default=None,
        metavar="N",
        help="clone requests accepted at once after a pause (the token bucket's size; "
        "default: rpm // 4, so 15 at 60/min). MiniMax is believed to allow about 14 to "
        "30 rapid calls before answering 1002, and answers sudden growth with 2045: "
        "a small burst is the stricter test",
    )
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
    parser.add_argument(
        "--state",
        nargs="?",
        const="",
        metavar="URL",
        help="print the state of a running emulator as JSON and exit: voices with their "
        f"creation counts, files, answers, faults (GET {STATE_PATH}); URL is its base URL "
        "(default: http://HOST:PORT from --host and --port)",
    )
    return parser


def state_url(target: str, host: str, port: int) -> str:
    """Where a running emulator's state is: from its base URL or origin, or host and port."""
    origin = (target or http_origin(host, port)).rstrip("/")
    if origin.endswith("/v1"):
        origin = origin[: -len("/v1")]
    return origin + STATE_PATH


def read_state(url: str) -> dict[str, Any]:
    """A running emulator's state.

    Raises:
        OSError: nothing answers there, or not with an emulator's state.
    """
    # No proxies: the emulator is local, and a proxy from the environment would
    # answer for it (or not at all).
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=STATE_TIMEOUT) as answer:
            body = answer.read(MAX_STATE_BYTES + 1)
    except urllib.error.URLError as exc:
        raise OSError(f"no emulator answers at {url}: {exc.reason}") from None
    if len(body) > MAX_STATE_BYTES:
        raise OSError(f"{url} answered more than an emulator's state")
    try:
        state = json.loads(body)
    except ValueError:
        raise OSError(f"{url} did not answer with JSON: is it an emulator?") from None
    if not isinstance(state, dict) or "accounts" not in state:
        raise OSError(f"{url} did not answer with an emulator's state")
    return state


def _print_state(url: str) -> int:
    try:
        state = read_state(url)
    except OSError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(state, indent=2))
    return 0


async def _serve(emulator: Emulator) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(signum, stop.set)
        except (NotImplementedError, RuntimeError):  # pragma: no cover - Windows
            continue
    async with emulator:
        print(f"MiniMax emulator listening on {emulator.base_url}", flush=True)
        await stop.wait()


def main(argv: Sequence[str] | None = None, *, prog: str | None = None) -> int:
    """Run the emulator until interrupted; return the process exit status.

    ``prog`` names the command in help and usage (``voiceclone emulator`` from the CLI).
    """
    args = (build_parser(prog) if prog else build_parser()).parse_args(argv)
    if args.state is not None:
        return _print_state(state_url(args.state, args.host, args.port))
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
    except KeyboardInterrupt:  # pragma: no cover - only where signal handlers are unavailable
        pass
    except OSError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    # What happened, in one line: enough to see at a glance that no voice was
    # created twice; `--state` while it runs gives the whole document. With -v the
    # emulator's log has just said it.
    if not args.verbose:
        print(emulator.summary(), file=sys.stderr, flush=True)
    return 0

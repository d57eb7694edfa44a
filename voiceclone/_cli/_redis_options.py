"""``voiceclone batch --redis URL --journal-name NAME``: one manifest, many processes.

Every process (on any host) given the same manifest, Redis and journal name works
through the batch together; ``--status`` prints the whole batch's state instead.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING, Any

from voiceclone import Client, RedisJournal
from voiceclone._cli._exit import FAILED, OK, USAGE, UsageError
from voiceclone._config import ENV_REDIS_URL, env_url

if TYPE_CHECKING:  # rich is imported only to print: the parser works without the extra
    from voiceclone._cli._manifest import Manifest
    from voiceclone._cli._ui import Ui

__all__ = ["add_options", "print_status", "redis_journal"]

#: Names of failed voices listed by ``--status`` before it only counts them.
LISTED = 20


def add_options(parser: argparse.ArgumentParser) -> None:
    """The shared-batch options of ``voiceclone batch``."""
    group = parser.add_argument_group("many workers (Redis)")
    group.add_argument(
        "--redis",
        metavar="URL",
        help=f"share the rate limit through this Redis (default: ${ENV_REDIS_URL})",
    )
    group.add_argument(
        "--journal-name",
        metavar="NAME",
        help="keep the journal in that Redis under NAME: every process given it shares the batch",
    )
    group.add_argument(
        "--status",
        action="store_true",
        help="print the batch's state (done / in flight / failed) from Redis; send nothing",
    )


def redis_url(args: argparse.Namespace) -> str | None:
    """``--redis``, else the environment's URL, else none."""
    return getattr(args, "redis", None) or env_url()


def redis_journal(args: argparse.Namespace) -> RedisJournal | None:
    """The `RedisJournal` that ``--journal-name`` asks for, or ``None``."""
    name = getattr(args, "journal_name", None)
    if name is None:
        if getattr(args, "status", False):
            raise UsageError("--status reads a shared batch: give --journal-name NAME")
        return None
    if args.journal or args.no_journal:
        raise UsageError("--journal-name replaces --journal and --no-journal: give one")
    url = redis_url(args)
    if url is None:
        raise UsageError(f"--journal-name needs a Redis: pass --redis URL or set ${ENV_REDIS_URL}")
    return RedisJournal(url, name)


async def print_status(
    ui: Ui, journal: RedisJournal, manifest: Manifest, client: Client, *, as_json: bool = False
) -> int:
    """Print the batch's state for ``client``'s account (as one JSON object with
    ``as_json``); exit status 1 while anything failed, 2 for a batch that never ran."""
    from rich.markup import escape

    try:
        state = await journal.summary(client)
    finally:
        await journal.aclose()
    if not state.started:
        ui.error(
            f"no batch named {journal.name!r} for this account on that Redis (never started, "
            "or its records expired): check --journal-name and --redis"
        )
        return USAGE
    ids = {job.voice_id for job in manifest.jobs}
    done, flying = state.done & ids, state.in_flight & ids
    failed = {v: e for v, e in state.failed.items() if v in ids and v not in flying}
    waiting = len(ids) - len(done) - len(flying) - len(failed)
    if as_json:
        document: dict[str, Any] = {
            "batch": journal.name,
            "total": len(ids),
            "done": len(done),
            "in_flight": len(flying),
            "failed": len(failed),
            "not_started": waiting,
            "failures": [{"voice_id": v, "error": failed[v]} for v in sorted(failed)],
        }
        sys.stdout.write(json.dumps(document) + "\n")  # plain: markup never applies
        return FAILED if failed else OK
    ui.out.print(
        f"batch {escape(journal.name)}: {len(done)} done, {len(flying)} in flight, "
        f"{len(failed)} failed, {waiting} not started, of {len(ids)}",
        soft_wrap=True,
    )
    for voice_id in sorted(failed)[:LISTED]:
        ui.out.print(f"  failed  {escape(voice_id)}  {escape(failed[voice_id])}", soft_wrap=True)
    if len(failed) > LISTED:
        ui.out.print(f"  ... and {len(failed) - LISTED} more failed")
    return FAILED if failed else OK

"""``voiceclone voices``: list cloned voices (with their expiry, from batch journals), or
``voiceclone voices delete ID``."""

from __future__ import annotations

import argparse
import datetime as dt
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import attrs
from rich import box
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from voiceclone import CloneResult, JournalError, VoiceCloneError
from voiceclone._cli._connect import make_client
from voiceclone._cli._exit import OK, UsageError, failure_status
from voiceclone._cli._render import plain
from voiceclone._cli._ui import Ui
from voiceclone._journal import Journal

__all__ = ["journal_voices", "voices"]


@attrs.frozen
class _Listed:
    voice_id: str
    created: str | None
    active: bool
    expires_at: dt.datetime | None = None


def journal_voices(paths: Iterable[str]) -> tuple[dict[str, CloneResult], set[str]]:
    """Voices that batch journals record as cloned, and those they record as activated.

    Raises:
        UsageError: a journal cannot be read.
    """
    found: dict[str, CloneResult] = {}
    activated: set[str] = set()
    for name in paths:
        if not Path(name).is_file():
            raise UsageError(f"--journal {name}: no such file")
        try:
            state = Journal(name).load()  # damaged lines are skipped there
        except JournalError as exc:
            raise UsageError(f"--journal {name}: {exc.message}") from None
        found.update(state.done)
        activated.update(state.activated)
    return found, activated


def _merge(
    api: Iterable[Any], journal: dict[str, CloneResult], activated: set[str]
) -> list[_Listed]:
    rows = [_Listed(v.voice_id, v.created_time, active=True) for v in api]
    listed = {row.voice_id for row in rows}
    for voice_id, result in sorted(journal.items(), key=lambda item: item[1].created_at):
        if voice_id not in listed:
            active = voice_id in activated  # the journal saw it activated
            rows.append(
                _Listed(
                    voice_id,
                    f"{result.created_at:%Y-%m-%d}",
                    active=active,
                    expires_at=None if active else result.expires_at,
                )
            )
    return rows


def _as_json(row: _Listed) -> dict[str, Any]:
    return {
        "voice_id": row.voice_id,
        "created": row.created,
        "active": row.active,
        "expires_at": row.expires_at.isoformat(timespec="seconds") if row.expires_at else None,
    }


def _table(rows: list[_Listed]) -> Table:
    now = dt.datetime.now(dt.timezone.utc)
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    table.add_column("voice id", no_wrap=True)
    table.add_column("created")
    table.add_column("state")
    table.add_column("expires")
    for row in rows:
        if row.active:
            state, expires = Text("in use", "green"), Text("never (used for speech)", "dim")
        elif row.expires_at is not None and row.expires_at <= now:
            state, expires = Text("expired?", "red"), Text(f"{row.expires_at:%Y-%m-%d %H:%M} UTC")
        else:
            assert row.expires_at is not None
            days = (row.expires_at - now).total_seconds() / 86400
            state = Text("not used yet", "yellow")
            expires = Text(f"{row.expires_at:%Y-%m-%d %H:%M} UTC ({days:.1f} days left)")
        # Ids and dates listed by the server are its strings: shown as text, never markup.
        table.add_row(plain(row.voice_id), plain(row.created or ""), state, expires)
    return table


async def voices(args: argparse.Namespace, ui: Ui) -> int:
    """Run ``voiceclone voices`` and ``voiceclone voices delete``."""
    if args.action == "delete":
        async with make_client(args) as client:
            try:
                await client.delete_voice(args.voice_id)
            except VoiceCloneError as exc:
                ui.error(f"{args.voice_id} was not deleted: {exc}")
                return failure_status(exc)
        ui.out.print(f"deleted {escape(args.voice_id)}")
        return OK
    journal, activated = journal_voices(args.journal)
    async with make_client(args) as client:
        try:
            listed = await client.list_voices()
        except VoiceCloneError as exc:
            ui.error(f"cannot list voices: {exc}")
            return failure_status(exc)
    rows = _merge(listed, journal, activated)
    if args.expiring:  # what `voiceclone activate` would keep, soonest to go first
        rows = sorted(
            (r for r in rows if not r.active and r.expires_at is not None),
            key=lambda r: r.expires_at or dt.datetime.max,
        )
    if args.json:
        print(json.dumps([_as_json(row) for row in rows]))
        return OK
    if rows:
        ui.out.print(_table(rows))
    ui.note(
        f"[dim]{sum(r.active for r in rows)} voices in use, "
        f"{sum(not r.active for r in rows)} from journals not used yet. "
        "New clones are listed by the API only after their first speech synthesis; "
        "unused ones are deleted after 7 days.[/]"
    )
    return OK

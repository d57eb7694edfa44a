"""``voiceclone speak`` (text to speech with a voice) and ``voiceclone activate`` (keep clones).

``speak VOICE_ID TEXT -o FILE`` writes the speech whole or not at all (``-o -``:
to stdout, as it arrives with ``--stream``). ``activate --journal J`` makes the
journal's cloned voices permanent before MiniMax's 7 days run out, recording
each in the journal, so a re-run (after Ctrl-C, or the next day) activates only
what is left.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import re
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

from rich.markup import escape

from voiceclone import Client, ValidationError, VoiceCloneError, VoiceNotFoundError
from voiceclone._cli._connect import make_client
from voiceclone._cli._exit import FAILED, OK, UsageError, failure_status
from voiceclone._cli._ui import Ui
from voiceclone._files import check_target, write_file
from voiceclone._journal import Journal

__all__ = ["activate", "parse_window", "speak"]

#: ``-o -`` writes the audio to stdout.
STDOUT: Final = "-"
#: File suffixes that say the format, when ``--format`` does not.
_SUFFIX_FORMATS: Final = {".mp3": "mp3", ".wav": "wav", ".flac": "flac", ".pcm": "pcm"}
_WINDOW = re.compile(r"(?P<n>\d+(?:\.\d+)?)\s*(?P<unit>[smhd])")
_UNIT_SECONDS: Final = {"s": 1, "m": 60, "h": 3600, "d": 86400}
#: Voices activated at once: the speech gate paces them; this bounds what is queued.
ACTIVATING: Final = 4


def parse_window(text: str) -> dt.timedelta:
    """``--within``: ``48h``, ``2d``, ``90m``, ``3600s``."""
    match = _WINDOW.fullmatch(text.strip().lower())
    if match is None:
        raise argparse.ArgumentTypeError(f"expected a time such as 48h or 2d, got {text!r}")
    return dt.timedelta(seconds=float(match["n"]) * _UNIT_SECONDS[match["unit"]])


def _settings(args: argparse.Namespace) -> dict[str, Any]:
    """The speech settings given on the command line, by MiniMax's names."""
    settings = {
        name: value
        for name, value in (
            ("speed", args.speed),
            ("vol", args.vol),
            ("pitch", args.pitch),
            ("emotion", args.emotion),
            ("sample_rate", args.sample_rate),
            ("bitrate", args.bitrate),
            ("channel", args.channel),
            ("language_boost", args.language_boost),
        )
        if value is not None
    }
    fmt = args.format or _SUFFIX_FORMATS.get(Path(args.out).suffix.lower())
    if fmt is not None:
        settings["format"] = fmt
    return settings


async def speak(args: argparse.Namespace, ui: Ui) -> int:
    """Run ``voiceclone speak``."""
    to_stdout = args.out == STDOUT
    target = None if to_stdout else check_target(args.out, "-o")  # before anything is sent
    settings = _settings(args)
    async with make_client(args) as client:
        try:
            if args.stream:
                audio, size, facts = await _stream(client, args, settings, to_stdout=to_stdout)
            else:
                speech = await client.synthesize(
                    voice_id=args.voice_id, text=args.text, model=args.model, **settings
                )
                audio, size, facts = speech.audio, len(speech.audio), speech.extra_info
        except ValidationError:
            raise  # a usage error: nothing was sent
        except VoiceCloneError as exc:
            ui.error(f"no speech: {exc}")
            return failure_status(exc)
    if target is not None:
        await asyncio.to_thread(write_file, target, audio, "-o")
    elif not args.stream:
        sys.stdout.buffer.write(audio)
        sys.stdout.buffer.flush()
    where = "stdout" if target is None else escape(str(target))
    facts = facts or {}  # MiniMax's extra_info
    ui.note(
        f"{facts.get('audio_length') or '?'} ms of speech ({size} bytes, "
        f"{facts.get('usage_characters') or '?'} characters billed) to {where}"
    )
    return OK


async def _stream(
    client: Client, args: argparse.Namespace, settings: dict[str, Any], *, to_stdout: bool
) -> tuple[bytes, int, Mapping[str, Any] | None]:
    """Stream the speech: to stdout as it arrives (nothing kept), or kept to be written
    whole. Returns what was kept, the bytes streamed, and the last event's extra_info."""
    kept = bytearray()
    size = 0
    stream = client.synthesize_stream(
        voice_id=args.voice_id, text=args.text, model=args.model, **settings
    )
    async with stream:
        async for chunk in stream:
            size += len(chunk)
            if to_stdout:
                sys.stdout.buffer.write(chunk)
                sys.stdout.buffer.flush()
            else:
                kept += chunk
    return bytes(kept), size, stream.extra_info


async def activate(args: argparse.Namespace, ui: Ui) -> int:
    """Run ``voiceclone activate --journal J [--within WINDOW]``."""
    journal, todo, in_use = await asyncio.to_thread(_pending, args)
    if not todo:
        ui.note(f"nothing to activate: {in_use} voices of the journal in use")
        return OK
    # Locked: a batch running on the journal (or another activate) is refused.
    await asyncio.to_thread(journal.open)
    failures: list[VoiceCloneError] = []
    try:
        async with make_client(args, speech_requests_per_minute=args.rpm) as client:
            pending = iter(todo)

            async def worker() -> None:
                for voice_id in pending:
                    failure = await _activate_one(client, journal, voice_id, args, ui)
                    if failure is not None:
                        failures.append(failure)

            await asyncio.gather(*(worker() for _ in range(min(ACTIVATING, len(todo)))))
    finally:
        journal.close()
    ui.note(f"{len(todo) - len(failures)} of {len(todo)} voices activated")
    if failures:
        return failure_status(failures[0]) if len(failures) == len(todo) else FAILED
    return OK


def _pending(args: argparse.Namespace) -> tuple[Journal, list[str], int]:
    """The journal, its cloned voices not yet activated (soonest to expire first), and
    how many are in use."""
    path = Path(args.journal)
    if not path.is_file():
        raise UsageError(f"--journal {args.journal}: no such file")
    journal = Journal(path)
    state = journal.load()
    now = dt.datetime.now(dt.timezone.utc)
    todo = [
        result.voice_id
        for result in sorted(state.done.values(), key=lambda r: r.expires_at)
        if result.voice_id not in state.activated
        and (args.within is None or result.expires_at - now <= args.within)
    ]
    return journal, todo, len(state.activated)


async def _activate_one(
    client: Client, journal: Journal, voice_id: str, args: argparse.Namespace, ui: Ui
) -> VoiceCloneError | None:
    try:
        await client.activate(voice_id)
    except VoiceCloneError as exc:
        gone = isinstance(exc, VoiceNotFoundError)
        reason = "gone (deleted, or not used within 7 days)" if gone else str(exc)
        if args.json:
            print(json.dumps({"voice_id": voice_id, "activated": False, "error": reason}))
        ui.error(f"{escape(voice_id)}: not activated: {escape(reason)}")
        return exc
    when = dt.datetime.now(dt.timezone.utc)
    await asyncio.to_thread(journal.activated, voice_id, when)
    if args.json:
        print(json.dumps({"voice_id": voice_id, "activated": True}), flush=True)
    else:
        ui.out.print(f"activated {escape(voice_id)}")
    return None

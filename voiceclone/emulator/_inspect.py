"""The emulator's state for people and scripts outside it: a JSON document, and one line.

The document is what ``GET /__emulator/state`` answers and what
``voiceclone emulator --state`` prints: each account's voices with how many times
a clone request created them, its files, the requests and answers by endpoint and
status code, rate-limit answers and the faults applied. It is how a test in another
process or language checks that every voice was created exactly once.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any, Final

import attrs

from voiceclone._errors import RATE_LIMIT_CODES
from voiceclone.emulator._faults import Faults
from voiceclone.emulator._state import Account, EmulatorStats

__all__ = ["STATE_PATH", "account_state", "emulator_state", "key_fingerprint", "summary_line"]

#: Beside ``/v1``, under a name the real API never uses, so no client reaches it by mistake.
STATE_PATH: Final = "/__emulator/state"
#: Hex digits of a key's SHA-256 that name its account: enough to tell keys apart,
#: and a key is never shown (not even the emulator's test keys).
FINGERPRINT_DIGITS: Final = 12


def key_fingerprint(api_key: str) -> str:
    """The name of an account in the state: the start of its key's SHA-256, in hex."""
    return hashlib.sha256(api_key.encode()).hexdigest()[:FINGERPRINT_DIGITS]


def account_state(account: Account) -> dict[str, Any]:
    """One account: every voice id a clone request named, and the files it holds."""
    voices: dict[str, Any] = {}
    for voice_id in sorted(set(account.clone_requests) | set(account.voices)):
        voice = account.voices.get(voice_id)
        voices[voice_id] = {
            "created": account.clone_successes[voice_id],
            "clone_requests": account.clone_requests[voice_id],
            "exists": voice is not None,
            "activated": voice.activated if voice is not None else False,
            "created_time": voice.created_time if voice is not None else None,
            "file_id": voice.file_id if voice is not None else None,
        }
    files = [
        {
            "file_id": f.file_id,
            "filename": f.filename,
            "purpose": f.purpose,
            "bytes": f.bytes,
            "created_at": f.created_at,
        }
        for f in account.files.values()
    ]
    return {"key_sha256": key_fingerprint(account.api_key), "voices": voices, "files": files}


def _rates(faults: Faults | None) -> dict[str, Any] | None:
    if faults is None:
        return None
    return {**attrs.asdict(faults), "endpoints": list(faults.endpoints)}


def _by_number(counter: Mapping[int, int]) -> dict[str, int]:
    # JSON object keys are strings; sorted by number so the document reads in order.
    return {str(code): counter[code] for code in sorted(counter)}


def emulator_state(
    *,
    accounts: list[Account],
    stats: EmulatorStats,
    rpm: float | None,
    burst: int | None,
    latency: float,
    faults: Faults | None,
    uptime: float,
) -> dict[str, Any]:
    """The whole state as a JSON-ready dict (see the module documentation)."""
    return {
        "settings": {
            "rpm": rpm,
            "burst": burst,
            "latency": latency,
            "faults": _rates(faults),
        },
        "uptime_seconds": round(uptime, 3),
        "requests": dict(sorted(stats.requests.items())),
        "answers": {
            "status_codes": _by_number(stats.status_codes),
            "http_statuses": _by_number(stats.http_statuses),
        },
        "rate_limit_answers": sum(stats.status_codes[code] for code in RATE_LIMIT_CODES),
        "rate_limited_by_bucket": stats.rate_limited,
        "dropped_connections": stats.dropped,
        "faults": dict(sorted(stats.faults.items())),
        "accounts": [account_state(account) for account in accounts],
    }


def _counts(counter: Mapping[Any, int], times: str = " ") -> str:
    return ", ".join(f"{name}{times}{n}" for name, n in counter.items())


def summary_line(state: Mapping[str, Any]) -> str:
    """The state in one line, as the emulator prints it on stderr when it stops."""
    requests: dict[str, int] = state["requests"]
    parts = [
        f"emulator stopped after {state['uptime_seconds']:.1f} s: "
        f"{sum(requests.values())} requests ({_counts(requests) or 'none'})",
    ]
    codes: dict[str, int] = state["answers"]["status_codes"]
    if codes:
        parts.append(f"status codes {_counts(codes, '×')}")
    parts.append(f"{state['rate_limit_answers']} rate-limit answers")
    faults: dict[str, int] = state["faults"]
    parts.append(f"faults {_counts(faults)}" if faults else "no faults")
    if state["dropped_connections"]:
        parts.append(f"{state['dropped_connections']} connections dropped")
    for account in state["accounts"]:
        voices: dict[str, Any] = account["voices"]
        created = sum(1 for v in voices.values() if v["created"])
        twice = sorted(name for name, v in voices.items() if v["created"] > 1)
        if twice:
            made = f"{created} voices created, {len(twice)} more than once: {', '.join(twice)}"
        else:
            made = f"{created} voices created, each once" if created else "no voices created"
        parts.append(f"account {account['key_sha256']}: {made}; {len(account['files'])} files")
    return "; ".join(parts)

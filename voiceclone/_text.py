"""Server strings made safe to keep, print and log.

Everything a server sends (``status_msg``, ``Trace-Id``, ``created_time``, preview
links) is hostile: it may be megabytes long, or carry terminal escapes (ESC, OSC,
C1 controls that clear the screen, retitle the window or plant links) and line
separators that forge log lines. `safe_text` turns such a string into one line of
plain, bounded text; `--json` output keeps the exact strings and lets the JSON
encoder escape them instead.
"""

from __future__ import annotations

import unicodedata
from typing import Final

__all__ = ["MAX_SERVER_TEXT", "safe_text"]

#: Longer server strings are cut: a status message or trace id is a line, not a payload.
MAX_SERVER_TEXT: Final = 512

# Categories shown as escapes: controls (C0, DEL, C1), format characters (bidi
# overrides, zero-width joiners), line and paragraph separators, unassigned and
# private-use code points, and lone surrogates.
_UNSAFE_CATEGORIES: Final = frozenset({"Cc", "Cf", "Zl", "Zp", "Cn", "Co", "Cs"})


def _escape(char: str) -> str:
    code = ord(char)
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def safe_text(value: str, limit: int = MAX_SERVER_TEXT) -> str:
    """``value`` as one line of printable text, at most about ``limit`` characters.

    Unsafe characters become visible escapes (``\\x1b``), so nothing is silently
    dropped and nothing reaches a terminal or a log as a control sequence.
    """
    if len(value) > limit:
        value = value[:limit] + "…"
    if value.isprintable():  # the common case: nothing to escape (space is printable)
        return value
    return "".join(
        _escape(c) if unicodedata.category(c) in _UNSAFE_CATEGORIES or c in "\t\n\r" else c
        for c in value
    )

"""Every code block in the README and the docs fits 88 columns: no sideways scrolling.

88 columns is what a docs page's text column shows without a scroll bar at a
normal window width, and what black and ruff format Python to by default.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SOURCES = [*sorted((ROOT / "docs").glob("*.md")), ROOT / "README.md"]
MAX_COLUMNS = 88

_FENCE = re.compile(r"^(?P<indent> *)(?P<fence>```+|~~~+)(?P<info>.*)$")


def too_wide(text: str, limit: int = MAX_COLUMNS) -> list[tuple[int, int]]:
    """(line number, width) of each fenced line wider than ``limit``.

    Widths count from the fence's own indentation, which the page does not show.
    """
    found = []
    fence: str | None = None
    indent = 0
    for number, line in enumerate(text.splitlines(), start=1):
        match = _FENCE.match(line)
        if fence is None:
            if match:
                fence, indent = match["fence"], len(match["indent"])
            continue
        if match and match["fence"] == fence and not match["info"].strip():
            fence = None
            continue
        width = len(line[indent:]) if line[:indent].isspace() else len(line)
        if width > limit:
            found.append((number, width))
    return found


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.name)
def test_code_blocks_fit_88_columns(source: Path) -> None:
    wide = too_wide(source.read_text(encoding="utf-8"))
    assert not wide, f"{source.name}: lines wider than {MAX_COLUMNS} columns (line, width): {wide}"


def test_the_width_check_sees_only_fenced_lines() -> None:
    prose = "x" * 120
    text = "\n".join(
        [
            prose,
            "```python",
            "y" * 89,  # line 3: one column too many
            "ok",
            "```",
            prose,
            "- a list item",
            "    ```bash",
            "    " + "z" * 88,  # indented with its fence: 88 columns on the page
            "    ```",
        ]
    )
    assert too_wide(text) == [(3, 89)]

"""Type checkers catch misuse of the public API: these snippets must fail `mypy --strict`.

(`tests/typing/api.py`, checked by CI, holds the uses that must pass.)
"""

from __future__ import annotations

import textwrap
from pathlib import Path

from mypy import api

MUST_FAIL = {
    "a misspelt keyword": 'await client.clone(file_id=1, voice_id="Narrator001", txt="Hi.")',
    "a wrong type": 'await client.clone(file_id="1", voice_id="Narrator001")',
    "a missing required field": 'await client.clone(voice_id="Narrator001")',
    "a wrong option type": 'await client.clone(file_id=1, voice_id="Narrator001", accuracy="hi")',
    "both forms at once": 'await client.clone(voiceclone.CloneRequest(1, "Narrator001"), text="x")',
    "a wrong CloneJob keyword": 'voiceclone.CloneJob("Narrator001", "a.wav", modle="x")',
    "a wrong upload purpose type": 'await client.upload_file("a.wav", purpose=1)',
    "a misspelt known model": 'model: voiceclone.SpeechModel = "speech-2.8-hdd"',
    "a misspelt known purpose": 'purpose: voiceclone.FilePurpose = "voiceclone"',
}


def test_mistakes_fail_type_checking(tmp_path: Path) -> None:
    lines = ["import voiceclone", "", "", "async def main(client: voiceclone.Client) -> None:"]
    for name, call in MUST_FAIL.items():
        lines += [f"    # {name}", f"    {call}"]
    snippet = tmp_path / "mistakes.py"
    snippet.write_text("\n".join(lines) + "\n")
    cache = str(tmp_path / "mypy-cache")  # never the checkout's: it may be read-only
    out, _err, status = api.run(
        ["--strict", "--no-error-summary", "--cache-dir", cache, str(snippet)]
    )
    assert status == 1, out
    flagged = {int(line.split(":")[1]) for line in out.splitlines() if ": error:" in line}
    calls = [i for i, line in enumerate(lines, 1) if line.startswith("    ") and "#" not in line]
    missed = [lines[i - 1].strip() for i in calls if i not in flagged]
    assert not missed, textwrap.indent(out, "  ")


def test_the_typed_keywords_are_exactly_the_request_fields() -> None:
    import attrs

    from voiceclone import CloneRequest
    from voiceclone._models import CloneFields

    assert set(CloneFields.__annotations__) == {a.name for a in attrs.fields(CloneRequest)}

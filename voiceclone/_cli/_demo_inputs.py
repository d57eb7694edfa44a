"""The demo's inputs: distinct sample voices written as real WAV files, plus a few
deliberately bad ones that show how each kind of failure is reported."""

from __future__ import annotations

from pathlib import Path
from typing import Final

import attrs

from voiceclone import CloneJob
from voiceclone._samples import make_wav
from voiceclone._validate import DEFAULT_MODEL

__all__ = ["DemoInput", "write_inputs"]

_NAMES: Final = (
    "Aria", "Basil", "Cleo", "Dorian", "Esme", "Felix", "Greta", "Hugo", "Iris", "Jasper",
    "Kira", "Leon", "Mira", "Nico", "Opal", "Pavel", "Quinn", "Rosa", "Silas", "Tess",
    "Uma", "Viktor", "Wren", "Xavi", "Yara", "Zane",
)  # fmt: skip


@attrs.frozen
class DemoInput:
    """One voice of the demo and what it is expected to do.

    Attributes:
        job: the voice to clone.
        expect: ``"cloned"``, ``"flagged"`` (cloned, input marked sensitive),
            ``"refused"`` (invalid, never sent) or ``"failed"`` (sent, refused by the server).
        note: why a deliberate failure fails, shown in the results table.
    """

    job: CloneJob
    expect: str = "cloned"
    note: str | None = None


def _voice(folder: Path, index: int) -> DemoInput:
    name = _NAMES[index % len(_NAMES)]
    voice_id = f"Demo_{name}_{index + 1:02d}"
    # Spread pitch over a low bass to a high soprano, and vary length and timbre.
    pitch = 85.0 + (index * 37) % 170
    seconds = 10.5 + (index % 8) * 0.5
    path = folder / f"{voice_id.lower()}.wav"
    path.write_bytes(make_wav(seconds, pitch_hz=pitch, seed=index + 1))
    text = f"Hello, I am {name}. This is how my cloned voice sounds."
    return DemoInput(CloneJob(voice_id, path, text=text, model=DEFAULT_MODEL))


def _bad_inputs(folder: Path) -> list[DemoInput]:
    short = folder / "too_short.wav"
    short.write_bytes(make_wav(4.0, pitch_hz=180.0, seed=101))
    not_audio = folder / "meeting_notes.wav"
    not_audio.write_text("Notes from Monday: ship the demo.\n", encoding="utf-8")
    flagged = folder / "flagged_preview.wav"
    flagged.write_bytes(make_wav(11.0, pitch_hz=150.0, seed=102))
    # The emulator flags samples uploaded under a name starting with "sensitive".
    sensitive = folder / "sensitive_radio_ad.wav"
    sensitive.write_bytes(make_wav(12.0, pitch_hz=125.0, seed=103))
    return [
        DemoInput(
            CloneJob("Short_Sample", short),
            "refused",
            "deliberate: a 4 s sample",
        ),
        DemoInput(
            CloneJob("Text_As_Wav", not_audio),
            "refused",
            "deliberate: text named .wav",
        ),
        DemoInput(
            CloneJob(
                "Flagged_Text",
                flagged,
                text="This preview text is FLAGGED by moderation.",
                model=DEFAULT_MODEL,
            ),
            "failed",
            "deliberate: moderated text",
        ),
        DemoInput(
            CloneJob(
                "Sensitive_Ad",
                sensitive,
                text="Buy now, limited offer, call today.",
                model=DEFAULT_MODEL,
            ),
            "flagged",
            "deliberate: flagged sample",
        ),
    ]


def write_inputs(folder: Path, voices: int) -> list[DemoInput]:
    """Write ``voices`` good samples and the bad ones into ``folder``.

    The bad inputs come after the first few good ones, as they would in a real
    batch: the batch must carry on around them.
    """
    good = [_voice(folder, i) for i in range(voices)]
    bad = _bad_inputs(folder)
    cut = min(len(good), max(4, voices // 3))
    inputs = good[:cut]
    for i, item in enumerate(bad):
        inputs.append(item)
        inputs += good[cut + i * 3 : cut + (i + 1) * 3]
    inputs += good[cut + len(bad) * 3 :]
    return inputs

"""Hostile inputs: valid ones are accepted, invalid ones raise ValidationError naming the
field, and no invalid input ever reaches the server."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest_asyncio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from voiceclone import Client, CloneJob, CloneRequest, ValidationError
from voiceclone._validate import LANGUAGE_BOOSTS, MODELS, VOICE_ID_PATTERN
from voiceclone.emulator import Emulator
from voiceclone.testing import FAST_RETRY, TEST_API_KEY

FUZZ = settings(
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)

anything = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True),
    st.text(max_size=30),
    st.binary(max_size=8),
    st.lists(st.integers(), max_size=2),
)
good_voice_ids = st.from_regex(VOICE_ID_PATTERN, fullmatch=True).filter(lambda v: len(v) <= 256)
FIELDS: dict[str, st.SearchStrategy[Any]] = {
    "voice_id": good_voice_ids | anything,
    "text": st.text(min_size=1, max_size=1200) | anything,
    "model": st.sampled_from(MODELS) | anything,
    "language_boost": st.sampled_from(LANGUAGE_BOOSTS) | anything,
    "text_validation": st.text(min_size=1, max_size=250) | anything,
    "accuracy": st.floats(0, 1) | anything,
    "need_noise_reduction": st.booleans() | anything,
    "need_volume_normalization": st.booleans() | anything,
    "aigc_watermark": st.booleans() | anything,
}


@st.composite
def field_sets(draw: st.DrawFn, extra: dict[str, st.SearchStrategy[Any]]) -> dict[str, Any]:
    names = draw(st.sets(st.sampled_from(sorted(FIELDS)), max_size=5))
    chosen = {name: draw(FIELDS[name]) for name in names}
    for name, strategy in extra.items():
        chosen[name] = draw(strategy)
    return chosen


def valid_by_rules(fields: dict[str, Any]) -> bool:
    """An independent statement of MiniMax's input rules (minimax-api.md, section 2)."""

    def is_bool(v: Any) -> bool:
        return isinstance(v, bool)

    def text_ok(v: Any, limit: int) -> bool:
        return isinstance(v, str) and bool(v.strip()) and len(v) <= limit

    rules = {
        "voice_id": lambda v: (
            isinstance(v, str) and len(v) <= 256 and VOICE_ID_PATTERN.fullmatch(v) is not None
        ),
        "file_id": lambda v: type(v) is int and 0 < v < 2**63,
        "text": lambda v: text_ok(v, 1000),
        # Any model name is sent (an unknown one with a warning), but a known one in
        # the wrong case is a typo.
        "model": lambda v: (
            isinstance(v, str)
            and re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}", v) is not None
            and (v in MODELS or v.lower() not in MODELS)
        ),
        "language_boost": lambda v: isinstance(v, str) and v in LANGUAGE_BOOSTS,
        "text_validation": lambda v: text_ok(v, 200),
        "accuracy": lambda v: type(v) in (int, float) and 0 <= v <= 1,
        "need_noise_reduction": is_bool,
        "need_volume_normalization": is_bool,
        "aigc_watermark": is_bool,
    }
    for name, value in fields.items():
        required = name in ("voice_id", "file_id", "audio")
        if name in rules and (value is not None or required) and not rules[name](value):
            return False
    return not (fields.get("text") is not None and fields.get("model") is None)


def refusal(cls: Any, fields: dict[str, Any]) -> ValidationError | None:
    """The ValidationError building ``cls(**fields)`` raises, if any (nothing else may)."""
    try:
        cls(**fields)
    except ValidationError as exc:
        return exc
    return None


@pytest_asyncio.fixture
async def emu() -> AsyncIterator[Emulator]:
    async with Emulator(TEST_API_KEY, rpm=None) as emulator:
        yield emulator


@pytest_asyncio.fixture
async def client(emu: Emulator) -> AsyncIterator[Client]:
    async with Client(TEST_API_KEY, emu.base_url, requests_per_minute=None, retry=FAST_RETRY) as c:
        yield c


@FUZZ
@given(fields=field_sets({"file_id": st.integers(1, 2**63 - 1) | anything}))
async def test_clone_fields(emu: Emulator, client: Client, fields: dict[str, Any]) -> None:
    fields.setdefault("voice_id", "FuzzInput01")
    before = sum(emu.stats.requests.values())
    expected = valid_by_rules(fields)
    exc = refusal(CloneRequest, fields)
    if exc is None:
        assert expected, fields
        assert CloneRequest(**fields).to_json()["voice_id"] == fields["voice_id"]
        return
    assert not expected, (fields, exc)
    assert exc.field in fields or exc.field == "model", (fields, exc.field)
    # The same fields through clone(): refused before anything is sent.
    again: ValidationError | None = None
    try:
        await client.clone(**fields)
    except ValidationError as error:
        again = error
    assert again is not None, f"clone() accepted {fields!r}"
    assert again.field == exc.field
    assert sum(emu.stats.requests.values()) == before


@FUZZ
@given(fields=field_sets({}), prompt=st.booleans())
def test_clone_job_fields(fields: dict[str, Any], prompt: bool, tmp_path: Path) -> None:
    fields.setdefault("voice_id", "FuzzInput01")
    fields["audio"] = str(tmp_path / "a.wav")
    if prompt:
        fields["prompt_audio"] = str(tmp_path / "p.wav")
        fields["prompt_text"] = "Hello there."
    expected = valid_by_rules(fields)
    exc = refusal(CloneJob, fields)
    assert (exc is None) == expected, (fields, exc)
    if exc is not None:
        assert exc.field in fields or exc.field == "model", (fields, exc.field)

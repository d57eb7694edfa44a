"""The sensitivity flag fails closed: an answer that cannot be read never comes back unflagged.

Checked on the parser and through the client against the emulator answering each
body as it stands, since a voice whose answer cannot be read is still returned
(its ``base_resp`` said 0) and must not lose its flag on the way.
"""

from __future__ import annotations

from typing import Any

import pytest
from conftest import ok, respond

from voiceclone import Client, SensitiveType
from voiceclone._parse import parse_clone_result
from voiceclone.emulator import Emulator

OTHER = SensitiveType.OTHER

UNREADABLE: list[tuple[dict[str, Any], SensitiveType]] = [
    ({"input_sensitive": "yes"}, OTHER),
    ({"input_sensitive": "no", "input_sensitive_type": 0}, OTHER),
    ({"input_sensitive": 1}, OTHER),
    ({"input_sensitive": 0, "input_sensitive_type": 0}, OTHER),
    ({"input_sensitive": 0.0}, OTHER),
    ({"input_sensitive": []}, OTHER),
    ({"input_sensitive": "yes", "input_sensitive_type": 5}, SensitiveType.ABUSE),
    ({"input_sensitive": True, "input_sensitive_type": 42}, OTHER),
    ({"input_sensitive": True, "input_sensitive_type": -1}, OTHER),
    ({"input_sensitive": True, "input_sensitive_type": 2**70}, OTHER),
    ({"input_sensitive": True, "input_sensitive_type": "bad"}, OTHER),
    ({"input_sensitive": True, "input_sensitive_type": 1.5}, OTHER),
    ({"input_sensitive": True, "input_sensitive_type": True}, OTHER),
    ({"input_sensitive": True, "input_sensitive_type": [3]}, OTHER),
    ({"input_sensitive": True}, OTHER),
    ({"input_sensitive": True, "input_sensitive_type": 0}, OTHER),
    ({"input_sensitive": False, "input_sensitive_type": 3}, SensitiveType.ADVERTISING),
    ({"input_sensitive": False, "input_sensitive_type": "x"}, OTHER),
    ({"input_sensitive": False, "input_sensitive_type": 99}, OTHER),
    ({"input_sensitive_type": 6}, SensitiveType.VIOLENCE_OR_TERRORISM),
    ({"input_sensitive": {"type": 1.5}}, OTHER),
    ({"input_sensitive": {"type": "x"}}, OTHER),
    ({"input_sensitive": {"type": None}}, OTHER),
    ({"input_sensitive": {}}, OTHER),
    ({"input_sensitive": {"type": 9}}, OTHER),
]

READABLE: list[tuple[dict[str, Any], bool, SensitiveType]] = [
    ({}, False, SensitiveType.NORMAL),
    ({"input_sensitive": None, "input_sensitive_type": None}, False, SensitiveType.NORMAL),
    ({"input_sensitive": False, "input_sensitive_type": 0}, False, SensitiveType.NORMAL),
    ({"input_sensitive": False, "input_sensitive_type": "0"}, False, SensitiveType.NORMAL),
    ({"input_sensitive": False}, False, SensitiveType.NORMAL),
    ({"input_sensitive": {"type": 0}}, False, SensitiveType.NORMAL),
    ({"input_sensitive": True, "input_sensitive_type": 5}, True, SensitiveType.ABUSE),
    ({"input_sensitive": True, "input_sensitive_type": " 3 "}, True, SensitiveType.ADVERTISING),
    ({"input_sensitive": {"type": 2}}, True, SensitiveType.PORNOGRAPHIC),
]


def parsed(answer: dict[str, Any]) -> tuple[bool, SensitiveType]:
    result = parse_clone_result(ok(**answer), voice_id="Narrator001", trace_id=None, attempts=1)
    return result.input_sensitive, result.input_sensitive_type


@pytest.mark.parametrize(("answer", "kind"), UNREADABLE)
def test_an_unreadable_flag_is_parsed_as_flagged(
    answer: dict[str, Any], kind: SensitiveType
) -> None:
    assert parsed(answer) == (True, kind)


@pytest.mark.parametrize(("answer", "flag", "kind"), READABLE)
def test_a_readable_flag_is_parsed_as_sent(
    answer: dict[str, Any], flag: bool, kind: SensitiveType
) -> None:
    assert parsed(answer) == (flag, kind)


@pytest.mark.parametrize(("answer", "kind"), UNREADABLE)
async def test_an_unreadable_flag_reaches_the_caller_flagged(
    client: Client, emu: Emulator, answer: dict[str, Any], kind: SensitiveType
) -> None:
    emu.inject(respond(ok(demo_audio="", **answer)))

    result = await client.clone(file_id=7, voice_id="Narrator001")

    assert (result.input_sensitive, result.input_sensitive_type) == (True, kind)
    assert emu.stats.requests["voice_clone"] == 1  # the voice exists: no retry


async def test_a_flag_survives_an_answer_unreadable_elsewhere(
    emu: Emulator, client: Client, file_id: int
) -> None:
    # The voice exists (base_resp 0) but its preview link is not a string: the result is
    # returned without preview details, and still flagged.
    answer = ok(input_sensitive=True, input_sensitive_type=3, demo_audio=5)
    emu.inject(respond(answer), endpoint="voice_clone")
    result = await client.clone(file_id=file_id, voice_id="Flagged0001")
    assert result.demo_audio is None
    assert (result.input_sensitive, result.input_sensitive_type) == (
        True,
        SensitiveType.ADVERTISING,
    )

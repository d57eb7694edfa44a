"""Hostile answers through the real request path: only our errors or well-formed results.

Each example makes the emulator answer one request with an arbitrary body, status,
content type and headers (``Fault.respond``). Whatever arrives, a call either returns
a result whose every field has its documented type, or raises a `VoiceCloneError`;
never a ``KeyError``, ``TypeError``, ``ValueError`` or ``RecursionError`` from inside.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest_asyncio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from voiceclone import (
    Client,
    CloneResult,
    PreviewInfo,
    RetryPolicy,
    SensitiveType,
    UploadedFile,
    ValidationError,
    Voice,
    VoiceCloneError,
)
from voiceclone._breaker import AccountBreaker
from voiceclone.emulator import Emulator, Fault
from voiceclone.testing import TEST_API_KEY, sample_wav

FUZZ = settings(
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
SAMPLE = sample_wav(10.5)
VOICE_ID = "FuzzVoice01"
INT64 = 2**63 - 1

# -- strategies ---------------------------------------------------------------------------

scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20)
    | st.sampled_from(["", "0", "1", "-1", "--5", "1e3", " 7 ", "²", "９", "1" * 30, "null"])
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
# Rate-limit codes are left out: on voice_clone they close the client's shared rate gate
# for a cooldown that doubles while no success comes between, which only slows the run.
status_codes = st.sampled_from([0, 0, 0, 1, 1004, 1008, 2039, 1000, -1, 2**40]) | json_values


def _mutated(template: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    """The template with some keys dropped, some replaced by anything, some added."""

    @st.composite
    def build(draw: st.DrawFn) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in template.items():
            choice = draw(st.sampled_from(["keep", "keep", "drop", "any", "null"]))
            if choice == "keep":
                out[key] = value
            elif choice == "any":
                out[key] = draw(json_values)
            elif choice == "null":
                out[key] = None
        out.update(draw(st.dictionaries(st.text(max_size=8), json_values, max_size=2)))
        return out

    return build()


def _base_resp() -> st.SearchStrategy[Any]:
    return st.one_of(
        st.fixed_dictionaries({"status_code": status_codes, "status_msg": json_values}),
        st.fixed_dictionaries({"status_code": st.just(0)}),
        json_values,
    )


def _body(fields: dict[str, Any]) -> st.SearchStrategy[Any]:
    return st.builds(
        lambda body, base: {**body, "base_resp": base}, _mutated(fields), _base_resp()
    ) | st.builds(lambda body: body, _mutated(fields))


CLONE_OK = {
    "input_sensitive": False,
    "input_sensitive_type": 0,
    "demo_audio": "http://127.0.0.1:1/previews/x.wav",
    "extra_info": {
        "audio_length": 1000,
        "audio_sample_rate": 16000,
        "audio_size": 32044,
        "bitrate": 256000,
        "word_count": 2,
        "usage_characters": 11,
    },
}
UPLOAD_OK = {
    "file": {
        "file_id": 2**60 + 7,
        "bytes": 1234,
        "created_at": 1_700_000_000,
        "filename": "a.wav",
        "purpose": "voice_clone",
    }
}
VOICES_OK = {
    "system_voice": [{"voice_id": "English_Graceful_Lady", "description": ["x"]}],
    "voice_cloning": [{"voice_id": "Narrator001", "created_time": "2025-01-01"}],
    "voice_generation": None,
}


def _encode(value: Any) -> bytes:
    return json.dumps(value, allow_nan=True).encode()


@st.composite
def _nested_dicts(draw: st.DrawFn) -> dict[str, Any]:
    out = draw(_mutated(CLONE_OK))
    out["extra_info"] = draw(_mutated(CLONE_OK["extra_info"]))
    out["input_sensitive"] = draw(
        st.sampled_from([True, False, None, {"type": 3}, {"type": "x"}, {}, "yes", 1])
    )
    out["base_resp"] = {"status_code": 0, "status_msg": "success"}
    return out


def raw_bodies(valid: dict[str, Any]) -> st.SearchStrategy[bytes]:
    """Bodies that are not (quite) the JSON the endpoint documents."""
    whole = _encode({**valid, "base_resp": {"status_code": 0, "status_msg": "success"}})
    return st.one_of(
        st.binary(max_size=64),
        st.integers(1, len(whole) - 1).map(lambda n: whole[:n]),  # truncated
        st.sampled_from(
            [
                b"",
                b"null",
                b"[]",
                b"42",
                b'"text"',
                b"NaN",
                b'{"base_resp": {"status_code": NaN}}',
                b'{"base_resp": {"status_code": Infinity}}',
                b'{"base_resp": {"status_code": -Infinity}}',
                b'{"base_resp": {"status_code": 0}, "file": {"file_id": NaN}}',
                b'{"base_resp": {"status_code": 1e400}}',
                b'{"base_resp": {"status_code": ' + b"9" * 5000 + b"}}",
                b'{"base_resp": {"status_code": 0}, "file": {"file_id": "' + b"9" * 5000 + b'"}}',
                b"[" * 100_000 + b"]" * 100_000,
                b'{"a":' * 50_000 + b"1" + b"}" * 50_000,
                b'{"base_resp": {"status_code": 0, "status_msg": "\xff\xfe\xc3"}}',
                b"\xef\xbb\xbf" + whole,  # UTF-8 byte order mark
                whole.decode().encode("utf-16"),
                b"<html><body>502 Bad Gateway</body></html>",
                whole + b"trailing",
                whole * 2,
            ]
        ),
    )


def answers(valid: dict[str, Any]) -> st.SearchStrategy[bytes]:
    structured = _body(valid).map(_encode)
    return st.one_of(structured, structured, raw_bodies(valid))


http_statuses = st.sampled_from([200, 200, 200, 200, 201, 204, 301, 400, 401, 404, 500, 503])
content_types = st.sampled_from(
    [
        "application/json",
        "application/json; charset=utf-8",
        "application/json; charset=latin-1",
        "text/html",
        "text/plain",
        "application/octet-stream",
        "",
        "not a content type",
    ]
)
retry_after = st.one_of(
    st.none(),
    st.sampled_from(
        [
            "0",
            "2",
            "99999999999999999999999",
            "-1",
            "1.5",
            "a,b",
            "Wed, 21 Oct 2015 07:28:00 GMT",
            "Wed, 99 Foo 2015 99:99:99 GMT",
            ",",
            "²",
            "Mon, 01 Jan 3000 00:00:00 GMT",
        ]
    ),
    st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=12),
)


def fault(body: bytes, status: int, content_type: str, wait: str | None) -> Fault:
    headers = {} if wait is None else {"Retry-After": wait}
    return Fault.respond(body, status=status, content_type=content_type, headers=headers)


# -- checks of what came back ----------------------------------------------------------------


def _opt(value: object, kind: type) -> bool:
    return value is None or (isinstance(value, kind) and not isinstance(value, bool))


def check_clone_result(res: object) -> None:
    assert isinstance(res, CloneResult)
    assert res.voice_id == VOICE_ID
    assert res.demo_audio is None or (isinstance(res.demo_audio, str) and res.demo_audio)
    assert isinstance(res.input_sensitive, bool)
    assert isinstance(res.input_sensitive_type, SensitiveType)
    assert res.extra_info is None or isinstance(res.extra_info, PreviewInfo)
    if res.extra_info is not None:
        for name in (
            "audio_length",
            "audio_sample_rate",
            "audio_size",
            "bitrate",
            "word_count",
            "usage_characters",
        ):
            value = getattr(res.extra_info, name)
            assert _opt(value, int), (name, value)
            assert value is None or -INT64 - 1 <= value <= INT64
    assert _opt(res.trace_id, str)
    assert res.attempts == 1
    assert res.recovered is False
    assert isinstance(res.created_at, dt.datetime)
    assert isinstance(res.expires_at, dt.datetime)


def check_uploaded(res: object) -> None:
    assert isinstance(res, UploadedFile)
    assert isinstance(res.file_id, int)
    assert not isinstance(res.file_id, bool)
    assert -INT64 - 1 <= res.file_id <= INT64
    assert _opt(res.bytes, int)
    assert res.created_at is None or isinstance(res.created_at, dt.datetime)
    assert _opt(res.filename, str)
    assert _opt(res.purpose, str)
    assert _opt(res.trace_id, str)


def check_voices(res: object) -> None:
    assert isinstance(res, list)
    for voice in res:
        assert isinstance(voice, Voice)
        assert isinstance(voice.voice_id, str)
        assert voice.voice_id
        assert voice.voice_type in ("system", "voice_cloning", "voice_generation")
        assert _opt(voice.created_time, str)
        assert isinstance(voice.description, tuple)
        assert all(isinstance(d, str) for d in voice.description)
        assert _opt(voice.voice_name, str)


async def outcome_of(call: Awaitable[Any], check: Callable[[object], None]) -> str:
    """Run one call; assert it returned a well-formed result or raised one of our errors."""
    error: VoiceCloneError | None = None
    try:
        result = await call
    except VoiceCloneError as exc:
        error = exc
    if error is None:
        check(result)
        return "ok"
    assert not isinstance(error, ValidationError), error  # inputs are valid: nothing to refuse
    assert TEST_API_KEY not in f"{error} {error!r}"
    return type(error).__name__


# -- fixtures --------------------------------------------------------------------------------


@pytest_asyncio.fixture
async def emu() -> AsyncIterator[Emulator]:
    async with Emulator(TEST_API_KEY, rpm=None) as emulator:
        yield emulator


@pytest_asyncio.fixture
async def client(emu: Emulator) -> AsyncIterator[Client]:
    async with Client(
        TEST_API_KEY,
        emu.base_url,
        requests_per_minute=None,
        retry=RetryPolicy(attempts=1),
        timeout=5.0,
    ) as c:
        yield c


@pytest_asyncio.fixture
async def file_id(client: Client) -> int:
    return (await client.upload_file(SAMPLE)).file_id


def _no_fault_left(emu: Emulator, endpoint: str) -> None:
    # Every example's answer was consumed by exactly the one request it was meant for.
    assert emu.pending_faults(endpoint) == 0


def _a_fresh_account(client: Client) -> None:
    # An example may answer as an account that cannot clone (1004, 1008, ...): the
    # client then stops sending, by design. Each example is another account.
    client._breaker = AccountBreaker()


# -- tests -----------------------------------------------------------------------------------


@FUZZ
@given(
    body=answers(CLONE_OK) | _nested_dicts().map(_encode),
    status=http_statuses,
    content_type=content_types,
    wait=retry_after,
)
async def test_voice_clone_answers(
    emu: Emulator,
    client: Client,
    file_id: int,
    body: bytes,
    status: int,
    content_type: str,
    wait: str | None,
) -> None:
    _a_fresh_account(client)
    emu.inject(fault(body, status, content_type, wait), endpoint="voice_clone")
    await outcome_of(client.clone(file_id=file_id, voice_id=VOICE_ID), check_clone_result)
    _no_fault_left(emu, "voice_clone")


@FUZZ
@given(body=answers(UPLOAD_OK), status=http_statuses, content_type=content_types, wait=retry_after)
async def test_upload_answers(
    emu: Emulator, client: Client, body: bytes, status: int, content_type: str, wait: str | None
) -> None:
    _a_fresh_account(client)
    emu.inject(fault(body, status, content_type, wait), endpoint="files/upload")
    await outcome_of(client.upload_file(SAMPLE), check_uploaded)
    _no_fault_left(emu, "files/upload")


@st.composite
def _voice_lists(draw: st.DrawFn) -> dict[str, Any]:
    item = _mutated({"voice_id": "Narrator001", "voice_name": "N", "created_time": "2025-01-01"})
    group = st.none() | json_values | st.lists(item | json_values, max_size=3)
    return {
        "system_voice": draw(group),
        "voice_cloning": draw(group),
        "voice_generation": draw(group),
        "base_resp": {"status_code": 0, "status_msg": "success"},
    }


@FUZZ
@given(
    body=answers(VOICES_OK) | _voice_lists().map(_encode),
    status=http_statuses,
    content_type=content_types,
    wait=retry_after,
)
async def test_get_voice_answers(
    emu: Emulator, client: Client, body: bytes, status: int, content_type: str, wait: str | None
) -> None:
    _a_fresh_account(client)
    emu.inject(fault(body, status, content_type, wait), endpoint="get_voice")
    await outcome_of(client.list_voices("all"), check_voices)
    _no_fault_left(emu, "get_voice")


async def test_the_fuzzed_path_is_the_real_one(emu: Emulator, client: Client, file_id: int) -> None:
    """Sanity: the documented answers parse, and a respond fault really replaces one."""
    body = _encode({**CLONE_OK, "base_resp": {"status_code": 0, "status_msg": "success"}})
    emu.inject(Fault.respond(body), endpoint="voice_clone")
    res = await client.clone(file_id=file_id, voice_id=VOICE_ID)
    check_clone_result(res)
    assert res.extra_info is not None
    assert res.extra_info.audio_length == 1000
    assert VOICE_ID not in emu.account().voices  # answered by the fault, not the handler
    emu.inject(Fault.respond(b"[" * 100_000), endpoint="voice_clone")
    kind = await outcome_of(client.clone(file_id=file_id, voice_id=VOICE_ID), check_clone_result)
    assert kind == "ResponseFormatError"

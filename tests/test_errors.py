"""Every status code and gateway answer maps to its exception, with code, message and trace id."""

from __future__ import annotations

import builtins
import multiprocessing
import pickle
import re
from collections.abc import AsyncIterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pytest
from conftest import KEY, SAMPLE, new_client, respond

import voiceclone
from voiceclone import (
    APIError,
    AudioError,
    AuthenticationError,
    Client,
    InsufficientBalanceError,
    InvalidParameterError,
    PermissionDeniedError,
    QuotaExceededError,
    RateLimitError,
    SensitiveContentError,
    ServerError,
    TimeoutError,
    TransportError,
    ValidationError,
    VoiceCloneError,
    VoiceIdConflictError,
)
from voiceclone._errors import STATUS_ERRORS, ResponseFormatError, detach, error_for_status
from voiceclone.emulator import Emulator, Fault

ONE_TRY = voiceclone.RetryPolicy(attempts=1)

#: minimax-api.md, section 4, transcribed independently of the package's own table.
SECTION_4 = {
    1000: ServerError,
    1001: ServerError,
    1002: RateLimitError,
    1004: AuthenticationError,
    1008: InsufficientBalanceError,
    1013: ServerError,
    1024: ServerError,
    1026: SensitiveContentError,
    1027: SensitiveContentError,
    1028: QuotaExceededError,
    1030: QuotaExceededError,
    1033: ServerError,
    1039: RateLimitError,
    1041: ServerError,
    1042: InvalidParameterError,
    1043: InvalidParameterError,
    1044: InvalidParameterError,
    2013: InvalidParameterError,
    20132: InvalidParameterError,
    2037: AudioError,
    2038: PermissionDeniedError,
    2039: VoiceIdConflictError,
    2042: PermissionDeniedError,
    2045: RateLimitError,
    2048: AudioError,
    2049: AuthenticationError,
    2056: QuotaExceededError,
    2061: PermissionDeniedError,
}


@pytest.fixture
async def once(emu: Emulator) -> AsyncIterator[Client]:
    """A client that never retries, so each answer surfaces as it was."""
    async with new_client(emu.base_url, retry=ONE_TRY) as c:
        yield c


def test_the_table_is_section_4() -> None:
    assert STATUS_ERRORS == SECTION_4


@pytest.mark.parametrize(("code", "cls"), sorted(SECTION_4.items()))
async def test_status_code_maps_to_its_class(
    once: Client, emu: Emulator, code: int, cls: type[APIError]
) -> None:
    emu.inject(Fault.status(code), endpoint="get_voice")

    with pytest.raises(APIError) as err:
        await once.list_voices()

    assert type(err.value) is cls
    assert err.value.status_code == code
    assert err.value.status_msg  # the emulator's message for the code
    assert err.value.status_msg in str(err.value)
    assert str(code) in str(err.value)
    assert err.value.trace_id == emu.requests[-1].trace_id
    assert err.value.trace_id in str(err.value)


async def test_status_codes_on_clone_keep_the_message(once: Client, emu: Emulator) -> None:
    emu.inject(Fault.status(1043, "The asr similarity check failed"))
    with pytest.raises(InvalidParameterError) as err:
        await once.clone(file_id=1, voice_id="Narrator001", text_validation="Hello.")
    assert err.value.status_msg == "The asr similarity check failed"
    assert emu.stats.requests["voice_clone"] == 1


async def test_the_connection_limit_is_retried(client: Client, emu: Emulator) -> None:
    emu.inject(Fault.status(1041), endpoint="get_voice", times=2)
    assert await client.list_voices() == []
    assert emu.stats.requests["get_voice"] == 3
    assert emu.stats.status_codes[1041] == 2


@pytest.mark.parametrize("code", [1028, 1030, 2056, 2061])
async def test_quota_and_plan_refusals_are_final(client: Client, emu: Emulator, code: int) -> None:
    emu.inject(Fault.status(code), endpoint="get_voice")
    with pytest.raises(APIError) as err:
        await client.list_voices()
    assert type(err.value) is SECTION_4[code]
    assert emu.stats.requests["get_voice"] == 1


async def test_a_model_missing_from_the_plan_is_permission_denied() -> None:
    # The emulator puts keys starting "basic-plan-" on a plan without speech-2.8.
    async with (
        Emulator(api_key="basic-plan-key-1", rpm=None) as plan,
        new_client(plan.base_url, api_key="basic-plan-key-1") as client,
    ):
        sample = await client.upload_file(SAMPLE)
        with pytest.raises(PermissionDeniedError) as err:
            await client.clone(
                file_id=sample.file_id, voice_id="Narrator001", text="Hi.", model="speech-2.8-hd"
            )
        assert err.value.status_code == 2061
        assert "plan" in str(err.value)
        older = await client.clone(
            file_id=sample.file_id, voice_id="Narrator001", text="Hi.", model="speech-2.6-hd"
        )
        assert older.demo_audio is not None
    assert plan.stats.requests["voice_clone"] == 2


@pytest.mark.parametrize("code", [1, 1003, 9999, 20133, 2**40])
async def test_unknown_codes_are_plain_api_errors(once: Client, emu: Emulator, code: int) -> None:
    emu.inject(Fault.status(code, "something new"), endpoint="get_voice")

    with pytest.raises(APIError) as err:
        await once.list_voices()

    assert type(err.value) is APIError
    assert (err.value.status_code, err.value.status_msg) == (code, "something new")


async def test_code_as_a_string_and_a_missing_message(once: Client, emu: Emulator) -> None:
    emu.inject(respond({"base_resp": {"status_code": "2039"}}), endpoint="get_voice")
    with pytest.raises(VoiceIdConflictError) as err:
        await once.list_voices()
    assert err.value.status_code == 2039
    assert err.value.status_msg is None
    assert "no status message" in str(err.value)


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (500, ServerError),
        (502, ServerError),
        (503, ServerError),
        (504, ServerError),
        (429, RateLimitError),
        (401, AuthenticationError),
        (403, AuthenticationError),
        (400, APIError),
        (413, APIError),
    ],
)
async def test_gateway_http_errors(
    once: Client, emu: Emulator, status: int, cls: type[APIError]
) -> None:
    emu.inject(Fault.http(status), endpoint="get_voice")

    with pytest.raises(APIError) as err:
        await once.list_voices()

    assert type(err.value) is cls
    assert (err.value.http_status, err.value.status_code) == (status, None)
    assert f"HTTP {status}" in str(err.value)
    assert "base_url" not in str(err.value)
    assert err.value.trace_id == emu.requests[-1].trace_id


async def test_http_404_points_at_base_url(once: Client, emu: Emulator) -> None:
    emu.inject(Fault.http(404, "not found", "text/plain"), endpoint="get_voice")
    with pytest.raises(APIError) as err:
        await once.list_voices()
    assert type(err.value) is APIError
    assert "check base_url" in str(err.value)


async def test_a_5xx_wins_over_a_business_code_in_its_body(once: Client, emu: Emulator) -> None:
    body = '{"base_resp": {"status_code": 2013, "status_msg": "invalid params"}}'
    emu.inject(Fault.http(503, body, "application/json"), endpoint="get_voice")
    with pytest.raises(ServerError) as err:
        await once.list_voices()
    assert err.value.http_status == 503


async def test_business_code_wins_over_a_4xx(once: Client, emu: Emulator) -> None:
    emu.inject(
        respond({"base_resp": {"status_code": 1008, "status_msg": "no money"}}, status=400),
        endpoint="get_voice",
    )
    with pytest.raises(InsufficientBalanceError):
        await once.list_voices()


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (b"[1, 2]", "not a JSON object"),
        (b"{}", "no base_resp.status_code"),
        (b'{"base_resp": {"status_msg": "ok"}}', "no base_resp.status_code"),
        (b'{"base_resp": "ok"}', "no base_resp.status_code"),
        (b'{"base_resp": {"status_code": "zero"}}', "status_code is not an integer"),
        (b'{"base_resp": {"status_code": 1.5}}', "status_code is not an integer"),
        (b"<html>hello</html>", "not a JSON object"),
        (b"[" * 100_000, "not a JSON object"),
    ],
)
async def test_unreadable_answers(once: Client, emu: Emulator, body: bytes, problem: str) -> None:
    emu.inject(Fault.respond(body), endpoint="get_voice")

    with pytest.raises(ResponseFormatError) as err:
        await once.list_voices()

    assert isinstance(err.value, TransportError)
    assert problem in str(err.value)
    assert err.value.trace_id == emu.requests[-1].trace_id


async def test_wrong_key_is_an_authentication_error(emu: Emulator) -> None:
    async with new_client(emu.base_url, api_key="sk-other-region-key") as client:
        with pytest.raises(AuthenticationError) as err:
            await client.list_voices()
    assert err.value.status_code == 2049
    assert emu.stats.requests["get_voice"] == 1  # not retried


async def test_trace_id_is_kept_on_results(client: Client, emu: Emulator, file_id: int) -> None:
    result = await client.clone(file_id=file_id, voice_id="Narrator001")
    assert result.trace_id == emu.requests[-1].trace_id
    assert len(result.trace_id) == 32


def test_hierarchy() -> None:
    for cls in SECTION_4.values():
        assert issubclass(cls, APIError)
        assert issubclass(cls, VoiceCloneError)
    assert issubclass(ValidationError, ValueError)
    assert issubclass(TimeoutError, TransportError)
    assert issubclass(TimeoutError, builtins.TimeoutError)
    assert issubclass(voiceclone.ConfigurationError, VoiceCloneError)
    assert not issubclass(TransportError, APIError)


def test_str_and_repr() -> None:
    err = error_for_status(2056, "usage limit exceeded", trace_id="abc123", http_status=200)
    assert isinstance(err, QuotaExceededError)
    assert str(err) == "MiniMax status 2056: usage limit exceeded (trace id abc123)"
    assert repr(err) == (
        "QuotaExceededError('MiniMax status 2056: usage limit exceeded', "
        "status_code=2056, http_status=200, trace_id='abc123')"
    )
    plain = TransportError("POST /voice_clone: ServerDisconnectedError")
    assert str(plain) == "POST /voice_clone: ServerDisconnectedError"
    assert plain.status_code is None
    assert plain.trace_id is None
    assert plain.retry_after is None
    invalid = ValidationError("voice_id", "must start with a letter")
    assert str(invalid) == "voice_id: must start with a letter"
    assert (invalid.field, invalid.problem, invalid.problems) == (
        "voice_id",
        "must start with a letter",
        [invalid],
    )


@pytest.mark.parametrize(
    "err",
    [
        error_for_status(1002, "rate limit exceeded(RPM)", trace_id="t1"),
        error_for_status(77, None),
        TimeoutError("POST /voice_clone: no answer within 1.0 s"),
        voiceclone.ConfigurationError("no API key"),
    ],
)
def test_errors_survive_pickling(err: VoiceCloneError) -> None:
    copy = pickle.loads(pickle.dumps(err))
    assert type(copy) is type(err)
    assert (copy.message, copy.status_code, copy.status_msg, copy.trace_id) == (
        err.message,
        err.status_code,
        err.status_msg,
        err.trace_id,
    )
    assert str(copy) == str(err)


def test_validation_error_survives_pickling() -> None:
    copy = pickle.loads(pickle.dumps(ValidationError("accuracy", "must be between 0 and 1")))
    assert (copy.field, copy.problem) == ("accuracy", "must be between 0 and 1")


def test_every_attribute_survives_pickling() -> None:
    problems = [
        ValidationError("jobs[0].audio", "is empty"),
        ValidationError("jobs[3].voice_id", "repeats jobs[1]"),
    ]
    batch = ValidationError("jobs[0].audio", "2 problem(s)", problems=problems)
    limited = error_for_status(1002, "rate limit exceeded(RPM)", trace_id="t1", retry_after=7.0)
    unsent = TimeoutError("POST /voice_clone: no answer within 1.0 s", request_sent=False)
    final = TransportError("GET /<demo_audio>: ClientSSLError", retryable=False)
    gateway = ServerError("HTTP 502 from POST /voice_clone", http_status=502)

    copies = pickle.loads(pickle.dumps((batch, limited, unsent, final, gateway)))
    batch_copy, limited_copy, unsent_copy, final_copy, gateway_copy = copies
    assert [p.field for p in batch_copy.problems] == ["jobs[0].audio", "jobs[3].voice_id"]
    assert (limited_copy.retry_after, limited_copy.status_code) == (7.0, 1002)
    assert unsent_copy.request_sent is False
    assert final_copy.retryable is False
    assert (gateway_copy.http_status, gateway_copy.status_code) == (502, None)
    assert str(limited_copy) == str(limited)


PUBLIC_ERRORS = sorted(
    (
        item
        for item in (getattr(voiceclone, name) for name in voiceclone.__all__)
        if isinstance(item, type) and issubclass(item, VoiceCloneError)
    ),
    key=lambda cls: cls.__name__,
)


def an_error(cls: type[VoiceCloneError]) -> VoiceCloneError:
    """An instance of ``cls`` as the SDK makes them, with every attribute it can carry."""
    if cls is ValidationError:
        return ValidationError("voice_id", "must start with a letter")
    if issubclass(cls, voiceclone.APIError):
        return cls(
            "MiniMax status 1008: insufficient balance",
            status_code=1008, status_msg="insufficient balance", trace_id="t-1", http_status=200,
        )  # fmt: skip
    if cls is voiceclone.OutOfTime:
        return cls("POST /voice_clone: the 30 s budget ran out")
    if issubclass(cls, TransportError):
        return cls("POST /voice_clone: ServerDisconnectedError", trace_id="t-2", retryable=False)
    if cls is voiceclone.JournalError:
        return cls("journal.jsonl: disk full", path="journal.jsonl")
    return cls("no API key")


def test_every_error_class_is_public_and_covered() -> None:
    defined = {
        item
        for item in vars(voiceclone._errors).values()
        if isinstance(item, type) and issubclass(item, VoiceCloneError)
    }
    assert set(PUBLIC_ERRORS) == defined
    assert voiceclone.RateGateUnavailableError in defined


def test_both_drawings_of_the_tree_name_every_error_class() -> None:
    docs = (Path(__file__).resolve().parent.parent / "docs" / "errors.md").read_text("utf-8")
    (docs_tree,) = re.findall(r"## The tree\n\n```text\n(.*?)```", docs, re.DOTALL)
    module_tree = (voiceclone._errors.__doc__ or "").split("```")[1]
    for tree in (docs_tree, module_tree):
        drawn = set(re.findall(r"^[│├└─ ]*(\w+)", tree, re.MULTILINE)) - {""}
        assert drawn >= {cls.__name__ for cls in PUBLIC_ERRORS}, tree


@pytest.mark.parametrize("cls", PUBLIC_ERRORS, ids=lambda cls: cls.__name__)
def test_every_error_survives_pickle_with_its_attributes(cls: type[VoiceCloneError]) -> None:
    err = an_error(cls)
    copy = pickle.loads(pickle.dumps(err))
    assert type(copy) is cls
    assert (str(copy), repr(copy)) == (str(err), repr(err))
    assert vars(copy).keys() == vars(err).keys()
    for name, value in vars(err).items():
        if name != "problems":  # a list holding the error itself: compared by field
            assert getattr(copy, name) == value, name
    if isinstance(err, ValidationError):
        assert [p.field for p in copy.problems] == [err.field]


@pytest.mark.parametrize("cls", PUBLIC_ERRORS, ids=lambda cls: cls.__name__)
def test_every_error_is_rebuilt_from_its_args(cls: type[VoiceCloneError]) -> None:
    # What Celery does with an error from a task (and what its JSON result backend
    # keeps): the class, then `cls(*args)`. The class and the message come back.
    err = an_error(cls)
    for original in (err, pickle.loads(pickle.dumps(err))):  # after a pickle too
        copy = cls(*original.args)
        assert type(copy) is cls
        assert copy.message == err.message
        assert str(copy) == err.message


def _raise(cls_name: str) -> None:
    raise an_error(getattr(voiceclone, cls_name))


def test_errors_cross_a_process_boundary() -> None:
    # A real worker process (concurrent.futures pickles the error raised there).
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        for name in ("InsufficientBalanceError", "ValidationError", "TimeoutError"):
            with pytest.raises(getattr(voiceclone, name)) as caught:
                pool.submit(_raise, name).result(timeout=60)
            assert str(caught.value) == str(an_error(getattr(voiceclone, name)))
    assert caught.value.retryable is False  # the TimeoutError's own attribute


def test_detach_cuts_every_foreign_link_and_keeps_ours() -> None:
    foreign = ValueError("b'Authorization: Bearer sk-...'")
    inner = TransportError("GET /x: ClientResponseError")
    inner.__context__ = foreign
    outer = TimeoutError("GET /x: no answer within 1.0 s")
    outer.__cause__ = foreign
    outer.__context__ = inner
    assert detach(outer) is outer
    assert (outer.__cause__, outer.__context__) == (None, inner)
    assert inner.__context__ is None
    looped = TransportError("a")
    looped.__context__ = looped  # a cycle of ours ends the walk
    assert detach(looped) is looped
    # Both links of ours are walked: a foreign one behind the context goes too.
    cause, context = TransportError("cause"), TransportError("context")
    context.__context__ = foreign
    both = TransportError("both")
    both.__cause__, both.__context__ = cause, context
    detach(both)
    assert (both.__cause__, both.__context__, context.__context__) == (cause, context, None)


def test_key_never_in_configuration_errors() -> None:
    with pytest.raises(voiceclone.ConfigurationError) as err:
        Client(api_key=KEY + "\r\nX-Injected: 1")
    assert KEY not in str(err.value)
    assert KEY not in repr(err.value)

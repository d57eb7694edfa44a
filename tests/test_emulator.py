"""The emulator, exercised over real HTTP with a plain aiohttp client."""

from __future__ import annotations

import asyncio
import copy
import io
import json
import logging
import os
import re
import signal
import sys
from collections.abc import AsyncIterator
from functools import cache
from pathlib import Path
from typing import Any

import aiohttp
import attrs
import pytest
import yaml  # type: ignore[import-untyped]
from openapi_schema_validator import OAS31Validator, oas31_format_checker

from voiceclone._audio import probe_bytes
from voiceclone._samples import make_m4a, make_mp3, make_wav
from voiceclone.emulator import Emulator, Fault, Faults, main

KEY = "sk-test-7f3a9c1e5b"
OTHER_KEY = "sk-test-other-2d4e"
OPENAPI = Path(__file__).parent / "openapi"
TRACE_ID = re.compile(r"[0-9a-f]{32}")


# -- plumbing -----------------------------------------------------------------------


@attrs.frozen
class Reply:
    status: int
    headers: dict[str, str]
    text: str

    @property
    def json(self) -> Any:
        return json.loads(self.text)

    @property
    def code(self) -> int:
        code = self.json["base_resp"]["status_code"]
        assert isinstance(code, int)
        return code

    @property
    def msg(self) -> str:
        msg = self.json["base_resp"]["status_msg"]
        assert isinstance(msg, str)
        return msg


class Api:
    """A thin raw client: no retries, no parsing beyond what the assertions need."""

    def __init__(self, session: aiohttp.ClientSession, emu: Emulator) -> None:
        self.session = session
        self.emu = emu

    async def request(
        self,
        method: str,
        path: str,
        *,
        key: str | None = KEY,
        fault: str | None = None,
        timeout: float = 5.0,
        **kwargs: Any,
    ) -> Reply:
        headers = dict(kwargs.pop("headers", {}))
        if key is not None:
            headers["Authorization"] = f"Bearer {key}"
        if fault is not None:
            headers["X-Emulator-Fault"] = fault
        async with self.session.request(
            method,
            self.emu.base_url + path,
            headers=headers,
            timeout=aiohttp.ClientTimeout(total=timeout),
            **kwargs,
        ) as response:
            return Reply(response.status, dict(response.headers), await response.text())

    async def upload(
        self,
        data: bytes,
        purpose: str | None = "voice_clone",
        filename: str = "sample.wav",
        **kwargs: Any,
    ) -> Reply:
        form = aiohttp.FormData()
        if purpose is not None:
            form.add_field("purpose", purpose)
        form.add_field(
            "file", io.BytesIO(data), filename=filename, content_type="application/octet-stream"
        )
        return await self.request("POST", "/files/upload", data=form, **kwargs)

    async def file_id(self, data: bytes, purpose: str = "voice_clone", **kwargs: Any) -> int:
        reply = await self.upload(data, purpose, **kwargs)
        assert reply.code == 0, reply.text
        file_id = reply.json["file"]["file_id"]
        return int(file_id)

    async def clone(self, body: Any = None, **kwargs: Any) -> Reply:
        return await self.request("POST", "/voice_clone", json=body, **kwargs)

    async def get_voice(self, voice_type: str = "all", **kwargs: Any) -> Reply:
        return await self.request("POST", "/get_voice", json={"voice_type": voice_type}, **kwargs)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def emu() -> AsyncIterator[Emulator]:
    async with Emulator([KEY, OTHER_KEY], rpm=None) as emulator:
        yield emulator


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


@pytest.fixture
def api(emu: Emulator, session: aiohttp.ClientSession) -> Api:
    return Api(session, emu)


@pytest.fixture
async def sample(api: Api) -> int:
    return await api.file_id(make_wav(12.0), filename="voice.wav")


# -- OpenAPI schemas ----------------------------------------------------------------

_SCHEMAS = {
    "voice_clone": ("voice_clone.yaml", "VoiceCloneResp"),
    "files/upload": ("files_upload.yaml", "UploadFileResp"),
    "files/upload/voice_clone": ("files_upload_voice_clone.yaml", "UploadFileResp"),
    "files/list": ("files_list.yaml", "ListFileResp"),
    "files/retrieve": ("files_retrieve.yaml", "RetrieveFileResp"),
    "files/delete": ("files_delete.yaml", "DeleteFileResp"),
    "get_voice": ("get_voice.yaml", "GetVoiceResp"),
    "delete_voice": ("delete_voice.yaml", "DeleteVoiceResp"),
}


@cache
def _validator(endpoint: str) -> OAS31Validator:
    filename, name = _SCHEMAS[endpoint]
    spec = yaml.safe_load((OPENAPI / filename).read_text(encoding="utf-8"))
    components = copy.deepcopy(spec["components"])
    schemas = components["schemas"]
    if name == "VoiceCloneResp":
        # The published schema calls input_sensitive an object {type: int}; real servers
        # send a boolean (with the code in input_sensitive_type), and so does the emulator.
        schemas[name]["properties"]["input_sensitive"] = {"type": "boolean"}
    if name == "GetVoiceResp":
        # The real service sends null for an empty list; the schema only says array.
        for prop in schemas[name]["properties"].values():
            if prop.get("type") == "array":
                prop["type"] = ["array", "null"]
    schema = {"$ref": f"#/components/schemas/{name}", "components": components}
    return OAS31Validator(schema, format_checker=oas31_format_checker)


def assert_schema(endpoint: str, reply: Reply) -> None:
    assert reply.status == 200
    assert reply.headers["Content-Type"].startswith("application/json")
    _validator(endpoint).validate(reply.json)


# -- lifecycle, trace ids, auth -----------------------------------------------------


async def test_lifecycle_without_context_manager() -> None:
    emulator = Emulator()
    with pytest.raises(RuntimeError):
        _ = emulator.base_url
    await emulator.start()
    try:
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+/v1", emulator.base_url)
        assert emulator.port != 0
        assert emulator.burst == 15  # max(1, 60 // 4)
    finally:
        await emulator.close()
    await emulator.close()  # idempotent


async def test_constructor_checks() -> None:
    with pytest.raises(ValueError, match="api_key"):
        Emulator([])
    with pytest.raises(ValueError, match="rpm"):
        Emulator(rpm=0)


async def test_every_answer_has_a_fresh_trace_id(api: Api, sample: int) -> None:
    replies = [
        await api.get_voice(),
        await api.get_voice("nonsense"),
        await api.get_voice(key=None),
        await api.clone({"file_id": sample, "voice_id": "x"}),
        await api.request("GET", "/no/such/endpoint"),
        await api.get_voice(fault="http:502"),
        await api.get_voice(fault="garbage"),
    ]
    ids = [r.headers["Trace-Id"] for r in replies]
    assert all(TRACE_ID.fullmatch(i) for i in ids)
    assert len(set(ids)) == len(ids)
    # Recorded requests carry the id of their answer (the 404 was never an API request).
    assert [r.trace_id for r in api.emu.requests[-6:]] == ids[:4] + ids[5:]


async def test_auth(api: Api) -> None:
    missing = await api.get_voice(key=None)
    assert (missing.code, missing.msg) == (1004, "authentication failed")
    unknown = await api.get_voice(key="sk-wrong")
    assert (unknown.code, unknown.msg) == (2049, "invalid api key")
    basic = await api.get_voice(headers={"Authorization": "Basic abc"}, key=None)
    assert basic.code == 1004
    tolerated = await api.get_voice(params={"GroupId": "123456"})
    assert tolerated.code == 0


async def test_each_key_is_its_own_account(api: Api, sample: int) -> None:
    assert sample in api.emu.account().files
    assert api.emu.account(OTHER_KEY).files == {}
    other = await api.clone({"file_id": sample, "voice_id": "OtherVoice1"}, key=OTHER_KEY)
    assert (other.code, other.msg) == (20132, "invalid samples or voice_id")
    listing = await api.request("GET", "/files/list", params={"purpose": "voice_clone"})
    assert [f["file_id"] for f in listing.json["files"]] == [sample]
    listing = await api.request(
        "GET", "/files/list", params={"purpose": "voice_clone"}, key=OTHER_KEY
    )
    assert listing.json["files"] == []


# -- files --------------------------------------------------------------------------


async def test_upload_success(api: Api) -> None:
    data = make_wav(11.0)
    reply = await api.upload(data, filename="narrator.wav")
    assert_schema("files/upload", reply)
    assert_schema("files/upload/voice_clone", reply)
    file = reply.json["file"]
    assert file["bytes"] == len(data)
    assert file["filename"] == "narrator.wav"
    assert file["purpose"] == "voice_clone"
    assert isinstance(file["created_at"], int)
    # Ids above 2**53 are not representable as floats: they catch lossy JSON parsing.
    assert isinstance(file["file_id"], int)
    assert file["file_id"] > 2**53
    assert f'"file_id": {file["file_id"]},' in reply.text
    stored = api.emu.account().files[file["file_id"]]
    assert stored.audio is not None
    assert (stored.audio.format, stored.audio.duration) == ("wav", 11.0)
    assert len(stored.sha256) == 64


async def test_upload_ids_are_distinct(api: Api) -> None:
    ids = [await api.file_id(make_mp3(1.0), "prompt_audio") for _ in range(3)]
    assert len(set(ids)) == 3
    assert all(i > 2**53 for i in ids)


@pytest.mark.parametrize(
    ("purpose", "data", "message"),
    [
        (None, make_wav(1.0), "purpose"),
        ("voice_cloning", make_wav(1.0), "purpose"),
        ("voice_clone", b"plain text, not audio" * 10, "unsupported file format"),
        ("prompt_audio", b"\x00" * 100, "unsupported file format"),
    ],
)
async def test_upload_rejections(api: Api, purpose: str | None, data: bytes, message: str) -> None:
    reply = await api.upload(data, purpose)
    assert reply.code == 2013
    assert message in reply.msg
    assert api.emu.account().files == {}


async def test_upload_without_file_part(api: Api) -> None:
    urlencoded = aiohttp.FormData({"purpose": "voice_clone"})
    reply = await api.request("POST", "/files/upload", data=urlencoded)
    assert (reply.code, "multipart" in reply.msg) == (2013, True)
    form = aiohttp.FormData({"purpose": "voice_clone"}, default_to_multipart=True)
    reply = await api.request("POST", "/files/upload", data=form)
    assert (reply.code, "file is required" in reply.msg) == (2013, True)


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("multipart/form-data", b"garbage"),
        ("multipart/form-data; boundary=zz", b"garbage"),
        (
            "multipart/form-data; boundary=zz",
            b'--zz\r\nContent-Disposition: form-data; name="file"\r\n\r\nRIFF',
        ),
        ("application/json", b'{"purpose": "voice_clone"}'),
    ],
    ids=["no-boundary", "no-parts", "truncated", "json"],
)
async def test_upload_malformed_bodies(api: Api, content_type: str, body: bytes) -> None:
    reply = await api.request(
        "POST", "/files/upload", data=body, headers={"Content-Type": content_type}
    )
    assert reply.code == 2013


async def test_upload_size_limit(api: Api) -> None:
    limit = 20 * 1024 * 1024
    too_big = make_wav(1.0) + b"\x00" * (limit + 1 - len(make_wav(1.0)))
    reply = await api.upload(too_big)
    assert reply.code == 2013
    assert "20MB" in reply.msg
    assert api.emu.requests[-1].form == {
        "purpose": "voice_clone",
        "file": {
            "filename": "sample.wav",
            "size": limit + 1,
            "content_type": "application/octet-stream",
        },
    }


async def test_upload_other_purposes_take_any_content(api: Api) -> None:
    reply = await api.upload(b"some text to read\n", "t2a_async_input", filename="book.txt")
    assert reply.code == 0
    assert api.emu.account().files[reply.json["file"]["file_id"]].audio is None


async def test_file_list_retrieve_delete(api: Api, sample: int) -> None:
    prompt = await api.file_id(make_wav(3.0), "prompt_audio")
    listing = await api.request("GET", "/files/list", params={"purpose": "prompt_audio"})
    assert_schema("files/list", listing)
    assert [f["file_id"] for f in listing.json["files"]] == [prompt]

    retrieved = await api.request("GET", "/files/retrieve", params={"file_id": str(sample)})
    assert_schema("files/retrieve", retrieved)
    assert retrieved.json["file"]["file_id"] == sample
    assert retrieved.json["file"]["download_url"].startswith("http://127.0.0.1:")

    wrong_purpose = await api.request(
        "POST", "/files/delete", json={"file_id": sample, "purpose": "prompt_audio"}
    )
    assert wrong_purpose.code == 2013
    deleted = await api.request(
        "POST", "/files/delete", json={"file_id": sample, "purpose": "voice_clone"}
    )
    assert_schema("files/delete", deleted)
    assert deleted.json["file_id"] == sample
    assert sample not in api.emu.account().files
    again = await api.request("GET", "/files/retrieve", params={"file_id": sample})
    assert again.code == 2013


@pytest.mark.parametrize(
    ("method", "path", "kwargs"),
    [
        ("GET", "/files/list", {}),
        ("GET", "/files/list", {"params": {"purpose": "voice_cloning"}}),
        ("GET", "/files/retrieve", {}),
        ("GET", "/files/retrieve", {"params": {"file_id": "abc"}}),
        ("GET", "/files/retrieve", {"params": {"file_id": "12345"}}),
        ("POST", "/files/delete", {"json": {"file_id": 12345, "purpose": "voice_clone"}}),
        ("POST", "/files/delete", {"json": {"file_id": 12345, "purpose": "nope"}}),
        ("POST", "/files/delete", {"data": b"not json"}),
    ],
)
async def test_file_endpoint_errors(api: Api, method: str, path: str, kwargs: Any) -> None:
    reply = await api.request(method, path, **kwargs)
    assert reply.code == 2013


async def test_file_ids_as_strings(session: aiohttp.ClientSession) -> None:
    async with Emulator(KEY, file_ids_as_strings=True) as emulator:
        api = Api(session, emulator)
        reply = await api.upload(make_wav(12.0))
        raw_id = reply.json["file"]["file_id"]
        assert isinstance(raw_id, str)
        assert int(raw_id) > 2**53
        listing = await api.request("GET", "/files/list", params={"purpose": "voice_clone"})
        assert listing.json["files"][0]["file_id"] == raw_id
        retrieved = await api.request("GET", "/files/retrieve", params={"file_id": raw_id})
        assert retrieved.json["file"]["file_id"] == raw_id
        cloned = await api.clone({"file_id": raw_id, "voice_id": "StringId01"})
        assert cloned.code == 0
        deleted = await api.request(
            "POST", "/files/delete", json={"file_id": raw_id, "purpose": "voice_clone"}
        )
        assert deleted.json["file_id"] == raw_id


# -- voice_clone --------------------------------------------------------------------


async def test_clone_minimal_success(api: Api, sample: int) -> None:
    reply = await api.clone({"file_id": sample, "voice_id": "Narrator01"})
    assert_schema("voice_clone", reply)
    assert reply.json == {
        "input_sensitive": False,
        "input_sensitive_type": 0,
        "demo_audio": "",
        "base_resp": {"status_code": 0, "status_msg": "success"},
    }
    voice = api.emu.account().voices["Narrator01"]
    assert (voice.file_id, voice.activated, voice.preview_url) == (sample, False, "")
    assert api.emu.account().clone_successes["Narrator01"] == 1


async def test_clone_with_preview(api: Api, session: aiohttp.ClientSession, sample: int) -> None:
    prompt = await api.file_id(make_m4a(5.0), "prompt_audio", filename="p.m4a")
    text = "Hello there, this is the new voice."
    reply = await api.clone(
        {
            "file_id": sample,
            "voice_id": "Narrator02",
            "clone_prompt": {"prompt_audio": prompt, "prompt_text": "A short prompt."},
            "text": text,
            "model": "speech-2.8-hd",
            "language_boost": "Chinese,Yue",
            "text_validation": "expected words",
            "accuracy": 0.8,
            "need_noise_reduction": True,
            "need_volume_normalization": False,
            "aigc_watermark": False,
        }
    )
    assert_schema("voice_clone", reply)
    body = reply.json
    extra = body["extra_info"]
    assert extra["usage_characters"] == len(text)
    assert extra["word_count"] == 7
    assert re.fullmatch(
        rf"{re.escape(api.emu.base_url[:-3])}/previews/[0-9a-f]+\.wav", body["demo_audio"]
    )
    # Previews need no key and ignore faults.
    api.emu.inject(Fault.drop_before(), endpoint="*")
    async with session.get(body["demo_audio"]) as response:
        assert response.status == 200
        assert response.content_type == "audio/wav"
        assert TRACE_ID.fullmatch(response.headers["Trace-Id"])
        audio = await response.read()
    assert api.emu.pending_faults("*") == 1
    info = probe_bytes(audio)
    assert info.format == "wav"
    assert info.duration is not None
    assert 1.0 <= info.duration <= 2.0
    assert extra["audio_length"] == round(info.duration * 1000)
    assert extra["audio_size"] == len(audio)
    async with session.get(body["demo_audio"].replace("/previews/", "/previews/0")) as response:
        assert response.status == 404


def _long(n: int) -> str:
    return "a" * n


# (description, change to a valid request body, expected code)
_CLONE_CASES: list[tuple[str, dict[str, Any], int]] = [
    ("file_id missing", {"file_id": None}, 2013),
    ("file_id float", {"file_id": 1.5}, 2013),
    ("file_id bool", {"file_id": True}, 2013),
    ("file_id non-numeric string", {"file_id": "12ab"}, 2013),
    ("file_id unknown", {"file_id": 2**60 - 1}, 20132),
    ("voice_id missing", {"voice_id": None}, 2013),
    ("voice_id not a string", {"voice_id": 12345678}, 2013),
    ("voice_id 7 chars", {"voice_id": "abcdefg"}, 2013),
    ("voice_id 257 chars", {"voice_id": "a" + "b" * 256}, 2013),
    ("voice_id starts with digit", {"voice_id": "1abcdefgh"}, 2013),
    ("voice_id ends with _", {"voice_id": "abcdefgh_"}, 2013),
    ("voice_id ends with -", {"voice_id": "abcdefgh-"}, 2013),
    ("voice_id has a space", {"voice_id": "abcd efgh"}, 2013),
    ("voice_id non-ascii", {"voice_id": "abcdéfghi"}, 2013),
    ("sample has wrong purpose", {"file_id": "PROMPT"}, 2013),
    ("clone_prompt not an object", {"clone_prompt": "x"}, 2013),
    ("clone_prompt without text", {"clone_prompt": {"prompt_audio": "PROMPT"}}, 2013),
    ("clone_prompt without audio", {"clone_prompt": {"prompt_text": "Hi."}}, 2013),
    ("prompt_audio unknown", {"clone_prompt": {"prompt_audio": 77, "prompt_text": "Hi."}}, 20132),
    (
        "prompt_audio wrong purpose",
        {"clone_prompt": {"prompt_audio": "SAMPLE", "prompt_text": "Hi."}},
        2013,
    ),
    ("text too long", {"text": _long(1001), "model": "speech-02-hd"}, 2013),
    ("text not a string", {"text": 5, "model": "speech-02-hd"}, 2013),
    ("text without model", {"text": "Hello."}, 2013),
    ("unknown model", {"text": "Hello.", "model": "speech-03-hd"}, 2013),
    ("unknown language_boost", {"language_boost": "Klingon"}, 2013),
    ("text_validation too long", {"text_validation": _long(201)}, 2013),
    ("accuracy above 1", {"accuracy": 1.5}, 2013),
    ("accuracy below 0", {"accuracy": -0.1}, 2013),
    ("accuracy string", {"accuracy": "0.5"}, 2013),
    ("accuracy bool", {"accuracy": True}, 2013),
    ("flag not a bool", {"need_noise_reduction": "yes"}, 2013),
    ("continuous_sound not a bool", {"continuous_sound": 1}, 2013),
    ("sample unreadable", {"file_id": "BROKEN"}, 1000),
    ("sample too short", {"file_id": "SHORT"}, 2037),
    ("sample too long", {"file_id": "LONG"}, 2037),
    (
        "prompt too long",
        {"clone_prompt": {"prompt_audio": "LONGPROMPT", "prompt_text": "Hi."}},
        2048,
    ),
    ("text flagged", {"text": "this is FLAGGED content", "model": "speech-02-hd"}, 1026),
    ("shortest voice_id", {"voice_id": "a234567b"}, 0),
    ("longest voice_id", {"voice_id": "a" + "-_9" * 85}, 0),
    ("text of 1000 chars", {"text": _long(1000), "model": "speech-01-turbo"}, 0),
    ("text_validation of 200", {"text_validation": _long(200), "accuracy": 0}, 0),
    ("accuracy 1", {"accuracy": 1}, 0),
    ("language_boost auto", {"language_boost": "auto"}, 0),
    ("sample of exactly 10 s", {"file_id": "TEN"}, 0),
    ("sample of 300 s", {"file_id": "FIVE_MINUTES"}, 0),
    ("file_id as numeric string", {"file_id": "SAMPLE_STR"}, 0),
    (
        "prompt just under 8 s",
        {"clone_prompt": {"prompt_audio": "PROMPT", "prompt_text": "Hi."}},
        0,
    ),
]


@cache
def _wav(seconds: float) -> bytes:
    return make_wav(seconds, sample_rate=8000)


@pytest.fixture
async def files(api: Api) -> dict[str, int]:
    return {
        "SAMPLE": await api.file_id(_wav(12.0)),
        "PROMPT": await api.file_id(make_mp3(7.9), "prompt_audio"),
        "LONGPROMPT": await api.file_id(make_m4a(8.0), "prompt_audio"),
        "BROKEN": await api.file_id(b"RIFF\x00\x00\x00\x00WAVE" + b"\x13" * 64),
        "SHORT": await api.file_id(_wav(9.9)),
        "LONG": await api.file_id(make_m4a(300.5)),
        "TEN": await api.file_id(_wav(10.0)),
        "FIVE_MINUTES": await api.file_id(make_m4a(300.0)),
    }


def _resolve(value: Any, files: dict[str, int]) -> Any:
    if isinstance(value, dict):
        return {k: _resolve(v, files) for k, v in value.items()}
    if value == "SAMPLE_STR":
        return str(files["SAMPLE"])
    if isinstance(value, str) and value in files:
        return files[value]
    return value


@pytest.mark.parametrize(
    ("change", "code"), [c[1:] for c in _CLONE_CASES], ids=[c[0] for c in _CLONE_CASES]
)
async def test_clone_validation(
    api: Api, files: dict[str, int], change: dict[str, Any], code: int
) -> None:
    body: dict[str, Any] = {"file_id": files["SAMPLE"], "voice_id": "ValidVoice01"}
    body.update(_resolve(change, files))
    body = {k: v for k, v in body.items() if v is not None}
    reply = await api.clone(body)
    assert reply.code == code, reply.text
    assert_schema("voice_clone", reply)
    account = api.emu.account()
    if code == 0:
        assert list(account.voices) == [body["voice_id"]]
    else:
        assert account.voices == {}
        if code == 2013:
            assert reply.msg.startswith("invalid params, ")


@pytest.mark.parametrize("raw", [b"not json", b"[1, 2]", b"", b"null"])
async def test_clone_body_not_an_object(api: Api, raw: bytes) -> None:
    reply = await api.request(
        "POST", "/voice_clone", data=raw, headers={"Content-Type": "application/json"}
    )
    assert reply.code == 2013


async def test_clone_duplicate_voice_id(api: Api, sample: int) -> None:
    body = {"file_id": sample, "voice_id": "Duplicate01"}
    assert (await api.clone(body)).code == 0
    again = await api.clone(body)
    assert (again.code, again.msg) == (2039, "voice_id already exists")
    account = api.emu.account()
    assert account.clone_successes["Duplicate01"] == 1
    assert account.clone_requests["Duplicate01"] == 2


async def test_clone_sensitive_sample(api: Api) -> None:
    file_id = await api.file_id(make_wav(12.0), filename="sensitive-ad.wav")
    reply = await api.clone({"file_id": file_id, "voice_id": "Sensitive01"})
    assert reply.code == 0
    assert (reply.json["input_sensitive"], reply.json["input_sensitive_type"]) == (True, 3)
    assert "Sensitive01" in api.emu.account().voices


# -- get_voice / delete_voice -------------------------------------------------------


async def test_get_voice_lists_only_activated_clones(api: Api, sample: int) -> None:
    await api.clone({"file_id": sample, "voice_id": "Activated01"})
    await api.clone({"file_id": sample, "voice_id": "Inactive01"})
    before = await api.get_voice()
    assert_schema("get_voice", before)
    assert before.json["voice_cloning"] is None
    assert before.json["voice_generation"] is None
    assert len(before.json["system_voice"]) >= 2

    api.emu.activate("Activated01")
    after = await api.get_voice("voice_cloning")
    assert_schema("get_voice", after)
    [voice] = after.json["voice_cloning"]
    assert voice["voice_id"] == "Activated01"
    assert voice["description"] == []
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", voice["created_time"])
    assert "system_voice" not in after.json

    system = await api.get_voice("system")
    assert set(system.json) == {"system_voice", "base_resp"}
    generation = await api.get_voice("voice_generation")
    assert generation.json["voice_generation"] is None
    with pytest.raises(KeyError):
        api.emu.activate("NoSuchVoice")


@pytest.mark.parametrize("body", [{"voice_type": "cloned"}, {}, [1]])
async def test_get_voice_bad_type(api: Api, body: Any) -> None:
    reply = await api.request("POST", "/get_voice", json=body)
    assert reply.code == 2013


async def test_delete_voice(api: Api, sample: int) -> None:
    await api.clone({"file_id": sample, "voice_id": "Deletable01"})
    wrong_type = await api.request(
        "POST", "/delete_voice", json={"voice_type": "system", "voice_id": "Deletable01"}
    )
    assert wrong_type.code == 2013
    unknown = await api.request(
        "POST", "/delete_voice", json={"voice_type": "voice_cloning", "voice_id": "Unknown01"}
    )
    assert unknown.code == 2013
    assert "voice not found" in unknown.msg
    deleted = await api.request(
        "POST", "/delete_voice", json={"voice_type": "voice_cloning", "voice_id": "Deletable01"}
    )
    assert_schema("delete_voice", deleted)
    assert deleted.json["voice_id"] == "Deletable01"
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", deleted.json["created_time"])
    assert "Deletable01" not in api.emu.account().voices
    # A deleted id can be cloned again.
    assert (await api.clone({"file_id": sample, "voice_id": "Deletable01"})).code == 0


# -- rate limit ---------------------------------------------------------------------


async def test_rate_limit_token_bucket(session: aiohttp.ClientSession) -> None:
    clock = FakeClock()
    async with Emulator([KEY, OTHER_KEY], rpm=60, burst=2, clock=clock) as emulator:
        api = Api(session, emulator)
        file_id = await api.file_id(make_wav(12.0))
        codes = [
            (await api.clone({"file_id": file_id, "voice_id": f"Rated{i:04d}"})).code
            for i in range(3)
        ]
        assert codes == [0, 0, 1002]
        limited = emulator.requests[-1]
        assert limited.json["voice_id"] == "Rated0002"
        account = emulator.account()
        assert "Rated0002" not in account.voices
        assert account.clone_requests["Rated0002"] == 1
        assert emulator.stats.rate_limited == 1
        last = await api.clone({"file_id": file_id, "voice_id": "Rated0002"})
        assert (last.code, last.msg) == (1002, "rate limit exceeded(RPM)")
        # Other endpoints and other accounts are not limited.
        assert [(await api.get_voice()).code for _ in range(5)] == [0] * 5
        other_file = await api.file_id(make_wav(12.0), key=OTHER_KEY)
        other = await api.clone({"file_id": other_file, "voice_id": "Other0001"}, key=OTHER_KEY)
        assert other.code == 0
        # One second at 60 rpm refills one token.
        clock.now += 1.0
        assert (await api.clone({"file_id": file_id, "voice_id": "Rated0002"})).code == 0
        assert (await api.clone({"file_id": file_id, "voice_id": "Rated0003"})).code == 1002
        clock.now += 60.0  # refills to the capacity, not beyond
        codes = [
            (await api.clone({"file_id": file_id, "voice_id": f"Later{i:04d}"})).code
            for i in range(3)
        ]
        assert codes == [0, 0, 1002]


# -- faults -------------------------------------------------------------------------


async def test_drop_before(api: Api, sample: int) -> None:
    api.emu.inject(Fault.drop_before())
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await api.clone({"file_id": sample, "voice_id": "Dropped01"})
    assert "Dropped01" not in api.emu.account().voices
    assert api.emu.stats.dropped == 1
    assert (await api.clone({"file_id": sample, "voice_id": "Dropped01"})).code == 0


async def test_drop_after_creates_the_voice(api: Api, sample: int) -> None:
    api.emu.inject(Fault.drop_after())
    body = {"file_id": sample, "voice_id": "Created01"}
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await api.clone(body)
    account = api.emu.account()
    assert "Created01" in account.voices
    assert account.clone_successes["Created01"] == 1
    # The blind retry the client might make now reports the duplicate.
    assert (await api.clone(body)).code == 2039
    assert account.clone_successes["Created01"] == 1
    assert account.clone_requests["Created01"] == 2


async def test_a_fault_aimed_at_a_voice_waits_for_that_voice(api: Api, sample: int) -> None:
    api.emu.inject(Fault.drop_after(), voice_id="Aimed0002")
    # Requests for other voices pass it by, whatever their order.
    assert (await api.clone({"file_id": sample, "voice_id": "Aimed0001"})).code == 0
    assert api.emu.pending_faults() == 1
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await api.clone({"file_id": sample, "voice_id": "Aimed0002"})
    assert api.emu.pending_faults() == 0
    assert "Aimed0002" in api.emu.account().voices
    assert (await api.clone({"file_id": sample, "voice_id": "Aimed0003"})).code == 0


async def test_drop_after_on_upload_stores_the_file(api: Api) -> None:
    api.emu.inject(Fault.drop_after(), endpoint="files/upload")
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await api.upload(make_wav(12.0))
    assert len(api.emu.account().files) == 1


async def test_slow_processes_then_delays(api: Api, sample: int) -> None:
    api.emu.inject(Fault.slow(0.3))
    with pytest.raises(asyncio.TimeoutError):
        await api.clone({"file_id": sample, "voice_id": "SlowVoice01"}, timeout=0.05)
    # The answer was lost, but the voice exists.
    assert "SlowVoice01" in api.emu.account().voices


async def test_slow_answers_eventually(api: Api) -> None:
    loop = asyncio.get_running_loop()
    started = loop.time()
    reply = await api.get_voice(fault="slow:0.05")
    assert reply.code == 0
    assert loop.time() - started >= 0.05


async def test_latency_does_not_block_other_requests(api: Api) -> None:
    loop = asyncio.get_running_loop()
    started = loop.time()
    delayed = asyncio.ensure_future(api.get_voice(fault="latency:0.3"))
    quick = asyncio.ensure_future(api.get_voice())
    done, _ = await asyncio.wait({delayed, quick}, return_when=asyncio.FIRST_COMPLETED)
    assert done == {quick}
    assert (await delayed).code == 0
    assert loop.time() - started >= 0.3


async def test_emulator_wide_latency(session: aiohttp.ClientSession) -> None:
    async with Emulator(KEY, latency=0.05) as emulator:
        loop = asyncio.get_running_loop()
        started = loop.time()
        assert (await Api(session, emulator).get_voice()).code == 0
        assert loop.time() - started >= 0.05


async def test_http_fault(api: Api, sample: int) -> None:
    api.emu.inject(Fault.http())
    reply = await api.clone({"file_id": sample, "voice_id": "Gateway01"})
    assert reply.status == 502
    assert reply.headers["Content-Type"] == "text/html"
    assert reply.text == "<html>502 Bad Gateway</html>"
    assert TRACE_ID.fullmatch(reply.headers["Trace-Id"])
    assert api.emu.account().voices == {}
    assert api.emu.account().clone_requests == {}
    by_header = await api.clone({"file_id": sample, "voice_id": "Gateway01"}, fault="http:503")
    assert by_header.status == 503
    assert api.emu.stats.http_statuses[502] == api.emu.stats.http_statuses[503] == 1


async def test_garbage_fault(api: Api, sample: int) -> None:
    api.emu.inject(Fault.garbage())
    reply = await api.clone({"file_id": sample, "voice_id": "Garbage01"})
    assert reply.status == 200
    assert reply.headers["Content-Type"].startswith("application/json")
    with pytest.raises(json.JSONDecodeError):
        _ = reply.json
    assert api.emu.account().voices == {}


@pytest.mark.parametrize(
    ("fault", "header", "code", "msg"),
    [
        (Fault.status(1002), None, 1002, "rate limit exceeded(RPM)"),
        (Fault.status(1000, "boom"), None, 1000, "boom"),
        (None, "status:2045", 2045, "rate growth limit exceeded"),
        (None, "status:1013:busy", 1013, "busy"),
        (None, "rate_limit", 1002, "rate limit exceeded(RPM)"),
    ],
)
async def test_status_fault(
    api: Api, sample: int, fault: Fault | None, header: str | None, code: int, msg: str
) -> None:
    if fault is not None:
        api.emu.inject(fault)
    reply = await api.clone({"file_id": sample, "voice_id": "Status01"}, fault=header)
    assert (reply.status, reply.code, reply.msg) == (200, code, msg)
    assert api.emu.account().voices == {}
    assert api.emu.stats.status_codes[code] == 1


async def test_respond_fault(api: Api) -> None:
    api.emu.inject(
        Fault.respond(
            b'{"base_resp": {"status_code": "0"}}', status=429, headers={"Retry-After": "3"}
        ),
        endpoint="get_voice",
    )
    reply = await api.get_voice()
    assert reply.status == 429
    assert reply.headers["Retry-After"] == "3"
    assert reply.text == '{"base_resp": {"status_code": "0"}}'
    assert TRACE_ID.fullmatch(reply.headers["Trace-Id"])
    api.emu.inject(Fault.respond("x", headers={"Trace-Id": "fixed"}), endpoint="get_voice")
    assert (await api.get_voice()).headers["Trace-Id"] == "fixed"


async def test_fault_precedence(api: Api, sample: int) -> None:
    api.emu.inject(Fault.status(1000), times=2)
    api.emu.inject(Fault.status(1001), endpoint="*")
    # A header wins and leaves the queue alone.
    assert (
        await api.clone({"file_id": sample, "voice_id": "Order0001"}, fault="status:1033")
    ).code == 1033
    assert api.emu.pending_faults() == 2
    # The endpoint's own queue comes before the wildcard queue.
    codes = [(await api.clone({"file_id": sample, "voice_id": "Order0001"})).code for _ in range(4)]
    assert codes == [1000, 1000, 1001, 0]
    api.emu.inject(Fault.status(1001), endpoint="*")
    assert (await api.get_voice()).code == 1001
    assert api.emu.pending_faults("*") == 0
    assert [r.fault for r in api.emu.requests[-6:]] == ["status"] * 4 + [None, "status"]


async def test_queued_faults_beat_random_ones(session: aiohttp.ClientSession) -> None:
    async with Emulator(KEY, faults=Faults(http_5xx=1.0, endpoints=("get_voice",))) as emulator:
        api = Api(session, emulator)
        emulator.inject(Fault.status(1000), endpoint="get_voice")
        assert (await api.get_voice()).code == 1000
        assert (await api.get_voice()).status in (502, 503)
        # Endpoints outside Faults.endpoints see no random faults.
        listing = await api.request("GET", "/files/list", params={"purpose": "voice_clone"})
        assert listing.code == 0


async def test_bad_fault_requests(api: Api) -> None:
    reply = await api.get_voice(fault="explode")
    assert reply.status == 400
    assert "X-Emulator-Fault" in reply.text
    with pytest.raises(ValueError, match="endpoint"):
        api.emu.inject(Fault.garbage(), endpoint="voice-clone")


@pytest.mark.parametrize("spec", ["latency:inf", "slow:nan", "latency:-1", "slow:601"])
async def test_a_fault_delay_is_bounded(api: Api, spec: str) -> None:
    # Refused at once (not held forever): the header, the API and the constructor agree.
    reply = await api.get_voice(fault=spec, timeout=2.0)
    assert reply.status == 400
    assert f"bad argument in fault {spec!r}" in reply.text
    assert "between 0 and 600 seconds" in reply.text or "finite" in reply.text
    kind, _, seconds = spec.partition(":")
    with pytest.raises(ValueError, match=kind):
        getattr(Fault, kind)(float(seconds))
    with pytest.raises(ValueError, match="latency"):
        Emulator(KEY, latency=float(seconds) if kind == "latency" else float("inf"))
    # Every other way in is checked the same: the random faults' delay, the
    # constructor, and the running emulator's latency.
    with pytest.raises(ValueError, match="slow_seconds"):
        Faults(slow=1.0, slow_seconds=float(seconds))
    with pytest.raises(ValueError, match="seconds"):
        Fault(kind, seconds=float(seconds))
    with pytest.raises(ValueError, match="latency"):
        api.emu.latency = float(seconds)
    assert api.emu.latency == 0.0


async def test_the_request_history_is_a_ring_and_the_counts_stay_whole(
    session: aiohttp.ClientSession,
) -> None:
    async with Emulator(KEY, rpm=None, history=3) as emulator:
        api = Api(session, emulator)
        for n in range(5):
            await api.request("GET", "/files/list", params={"purpose": f"p{n}"})
        assert [r.query["purpose"] for r in emulator.requests] == ["p2", "p3", "p4"]
        assert emulator.stats.requests["files/list"] == 5
        assert emulator.state()["requests"] == {"files/list": 5}
    with pytest.raises(ValueError, match="history"):
        Emulator(KEY, history=-1)


async def _outcomes(session: aiohttp.ClientSession, faults: Faults, n: int) -> list[str]:
    outcomes = []
    async with Emulator(KEY, faults=faults) as emulator:
        api = Api(session, emulator)
        for _ in range(n):
            try:
                reply = await api.get_voice()
            except aiohttp.ServerDisconnectedError:
                outcomes.append("disconnect")
                continue
            if reply.status != 200:
                outcomes.append(f"http {reply.status}")
            else:
                try:
                    outcomes.append(f"code {reply.code}")
                except json.JSONDecodeError:
                    outcomes.append("garbage")
        assert sum(emulator.stats.faults.values()) == sum(o != "code 0" for o in outcomes)
    return outcomes


async def test_random_faults_replay_with_the_same_seed(session: aiohttp.ClientSession) -> None:
    def faults(seed: int) -> Faults:
        return Faults(
            http_5xx=0.2,
            drop_before=0.1,
            drop_after=0.1,
            garbage=0.15,
            rate_limit=0.15,
            seed=seed,
            endpoints=("get_voice",),
        )

    first = await _outcomes(session, faults(7), 40)
    assert await _outcomes(session, faults(7), 40) == first
    assert await _outcomes(session, faults(8), 40) != first
    kinds = {o.split(" ")[0] for o in first}
    assert kinds == {"http", "disconnect", "garbage", "code"}
    assert "seed=7" in repr(faults(7))


def test_faults_checks() -> None:
    with pytest.raises(ValueError, match="probability"):
        Faults(garbage=1.5)
    with pytest.raises(ValueError, match="add up"):
        Faults(garbage=0.6, drop_after=0.6)
    with pytest.raises(ValueError, match="endpoints"):
        Faults(endpoints=("voice-clone",))


@pytest.mark.parametrize(
    ("spec", "fault"),
    [
        ("latency:0.2", Fault.latency(0.2)),
        ("slow:5", Fault.slow(5)),
        ("http:503", Fault.http(503)),
        ("http", Fault.http()),
        ("drop_before", Fault.drop_before()),
        ("drop_after", Fault.drop_after()),
        ("garbage", Fault.garbage()),
        ("status:1002", Fault.status(1002)),
        ("status:2045:slow down", Fault.status(2045, "slow down")),
    ],
)
def test_fault_header_syntax(spec: str, fault: Fault) -> None:
    assert Fault.parse(spec) == fault


@pytest.mark.parametrize("spec", ["", "latency", "latency:x", "status", "garbage:1", "nope"])
def test_fault_header_syntax_errors(spec: str) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - the message is checked elsewhere
        Fault.parse(spec)


# -- observability ------------------------------------------------------------------


async def test_recorded_requests_and_logs_hold_no_secrets(
    api: Api, sample: int, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="voiceclone.emulator")
    await api.clone({"file_id": sample, "voice_id": "Recorded01"}, params={"GroupId": "42"})
    upload, clone = api.emu.requests
    assert upload.endpoint == "files/upload"
    assert upload.form == {
        "purpose": "voice_clone",
        "file": {
            "filename": "voice.wav",
            "size": len(make_wav(12.0)),
            "content_type": "application/octet-stream",
        },
    }
    assert upload.json is None
    assert (clone.method, clone.path, clone.query) == ("POST", "/v1/voice_clone", {"GroupId": "42"})
    assert clone.json == {"file_id": sample, "voice_id": "Recorded01"}
    assert clone.form is None
    for recorded in api.emu.requests:
        assert "authorization" not in {h.lower() for h in recorded.headers}
    everything = repr(api.emu.requests) + repr(api.emu) + repr(api.emu.account()) + caplog.text
    assert KEY not in everything
    assert "Recorded01" not in caplog.text  # metadata only, no bodies
    assert "voice_clone" in caplog.text


async def test_client_vanishing_mid_upload_is_quiet(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    emulator = Emulator(KEY)
    await emulator.start()
    try:
        _reader, writer = await asyncio.open_connection("127.0.0.1", emulator.port)
        writer.write(
            b"POST /v1/files/upload HTTP/1.1\r\nHost: x\r\n"
            b"Content-Type: multipart/form-data; boundary=b\r\nContent-Length: 100000\r\n\r\n"
            b'--b\r\nContent-Disposition: form-data; name="file"; filename="a.wav"\r\n\r\nRIFF'
        )
        await writer.drain()
        writer.close()
        await writer.wait_closed()
    finally:
        await emulator.close()  # waits for the handler to finish
    assert emulator.stats.requests["files/upload"] == 1
    assert "client disconnected while sending" in caplog.text
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


async def test_stats(api: Api, sample: int) -> None:
    await api.clone({"file_id": sample, "voice_id": "Stats0001"})
    await api.clone({"file_id": sample, "voice_id": "Stats0001"})
    await api.get_voice(fault="http:502")
    stats = api.emu.stats
    assert stats.requests == {"files/upload": 1, "voice_clone": 2, "get_voice": 1}
    assert stats.status_codes == {0: 2, 2039: 1}
    assert stats.http_statuses == {200: 3, 502: 1}
    assert stats.faults == {"http": 1}


# -- command line -------------------------------------------------------------------


def test_main_rejects_bad_options(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--fault-garbage", "2", "--api-key", KEY]) == 2
    captured = capsys.readouterr()
    assert "probability" in captured.err
    assert KEY not in captured.out + captured.err


async def test_command_line_serves_until_interrupted(session: aiohttp.ClientSession) -> None:
    env = dict(os.environ, MINIMAX_API_KEY=KEY)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(Path(__file__).parent.parent), env.get("PYTHONPATH", "")]
    )
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "voiceclone.emulator",
        "--port",
        "0",
        "--rpm",
        "30",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    try:
        assert process.stdout is not None
        line = (await asyncio.wait_for(process.stdout.readline(), 10)).decode()
        base_url = re.search(r"http://127\.0\.0\.1:\d+/v1", line)
        assert base_url is not None, line
        async with session.post(
            base_url.group(0) + "/get_voice",
            json={"voice_type": "system"},
            headers={"Authorization": f"Bearer {KEY}"},
        ) as response:
            assert (await response.json())["base_resp"]["status_code"] == 0
        process.send_signal(signal.SIGINT)
        out, err = await asyncio.wait_for(process.communicate(), 10)
        assert process.returncode == 0, err
        assert KEY not in line + out.decode() + err.decode()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()

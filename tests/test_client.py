"""The client against the emulator: what goes on the wire, what comes back, its lifecycle."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import socket
import wave
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from conftest import KEY, SAMPLE, Gateway, Hostile, names, new_client, ok, respond

import voiceclone
from voiceclone import (
    APIError,
    Client,
    CloneJob,
    ClonePrompt,
    CloneRequest,
    CloneResult,
    ConfigurationError,
    InvalidParameterError,
    PreviewInfo,
    RetryPolicy,
    SensitiveType,
    ServerError,
    TransportError,
    UploadedFile,
    ValidationError,
    Voice,
)
from voiceclone._client import DEFAULT_BASE_URL
from voiceclone._errors import InsecureTransportWarning, ResponseFormatError
from voiceclone._samples import make_m4a, make_mp3, make_wav
from voiceclone.emulator import Emulator, Fault

VOICE = "Narrator001"


# -- clone: what is sent ------------------------------------------------------------


async def test_clone_sends_only_the_required_fields(
    client: Client, emu: Emulator, file_id: int
) -> None:
    result = await client.clone(file_id=file_id, voice_id=VOICE)

    sent = emu.requests[-1]
    assert sent.endpoint == "voice_clone"
    assert sent.json == {"file_id": file_id, "voice_id": VOICE}
    assert result.voice_id == VOICE
    assert VOICE in emu.account().voices
    assert result.demo_audio is None  # the emulator answered ""
    assert result.extra_info is None
    assert result.input_sensitive is False
    assert result.input_sensitive_type is SensitiveType.NORMAL
    assert result.attempts == 1
    assert result.recovered is False
    assert result.trace_id == sent.trace_id


async def test_clone_sends_every_field_that_is_set(
    client: Client, emu: Emulator, file_id: int
) -> None:
    prompt = await client.upload_file(make_wav(3.0), purpose="prompt_audio")
    fields = {
        "file_id": file_id,
        "voice_id": VOICE,
        "clone_prompt": ClonePrompt(prompt.file_id, "Hello there."),
        "text": "A gentle breeze sweeps across the grass.",
        "model": "speech-2.8-hd",
        "language_boost": "English",
        "text_validation": "Hello there.",
        "accuracy": 0.0,
        "need_noise_reduction": True,
        "need_volume_normalization": False,
        "aigc_watermark": True,
    }
    result = await client.clone(**fields)

    assert emu.requests[-1].json == {
        **fields,
        "clone_prompt": {"prompt_audio": prompt.file_id, "prompt_text": "Hello there."},
    }
    voice = emu.account().voices[VOICE]
    assert voice.prompt_file_id == prompt.file_id
    assert voice.model == "speech-2.8-hd"
    assert result.demo_audio is not None
    assert result.demo_audio.startswith(emu.origin)
    # A 2 s, 16 kHz, 16-bit preview of a 7-word, 40-character text.
    assert result.extra_info == PreviewInfo(2000, 16000, 64044, 256000, 7, 40)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("text", "Hello."),
        ("language_boost", "Chinese,Yue"),
        ("text_validation", "Some words."),
        ("accuracy", 1),
        ("need_noise_reduction", False),
        ("need_volume_normalization", True),
        ("aigc_watermark", False),
    ],
)
async def test_each_optional_field_is_sent_alone_when_set(
    client: Client, emu: Emulator, file_id: int, field: str, value: object
) -> None:
    extra = {"model": "speech-02-turbo"} if field == "text" else {}
    await client.clone(file_id=file_id, voice_id=VOICE, **{field: value}, **extra)

    assert emu.requests[-1].json == {"file_id": file_id, "voice_id": VOICE, field: value, **extra}


async def test_clone_accepts_a_request_object_and_a_prompt_mapping(
    client: Client, emu: Emulator, file_id: int
) -> None:
    prompt = await client.upload_file(make_wav(2.0), purpose="prompt_audio")
    request = CloneRequest(
        file_id, VOICE, clone_prompt={"prompt_audio": prompt.file_id, "prompt_text": "Hi."}
    )
    assert request.clone_prompt == ClonePrompt(prompt.file_id, "Hi.")

    result = await client.clone(request)

    assert result.voice_id == VOICE
    assert emu.requests[-1].json["clone_prompt"] == {
        "prompt_audio": prompt.file_id,
        "prompt_text": "Hi.",
    }


async def test_clone_result_dates_follow_the_seven_day_rule(client: Client, file_id: int) -> None:
    before = dt.datetime.now(dt.timezone.utc)
    result = await client.clone(file_id=file_id, voice_id=VOICE)
    after = dt.datetime.now(dt.timezone.utc)

    assert before <= result.created_at <= after
    assert result.created_at.tzinfo is not None
    assert result.expires_at - result.created_at == dt.timedelta(days=7)


async def test_sensitive_sample_flag_comes_back(
    client: Client, emu: Emulator, tmp_path: Path
) -> None:
    path = tmp_path / "sensitive_ad.wav"
    path.write_bytes(make_wav(11.0))
    up = await client.upload_file(path)

    result = await client.clone(file_id=up.file_id, voice_id=VOICE)

    assert result.input_sensitive is True
    assert result.input_sensitive_type is SensitiveType.ADVERTISING


@pytest.mark.parametrize(
    ("answer", "flag", "kind"),
    [
        ({"input_sensitive": True, "input_sensitive_type": 5}, True, SensitiveType.ABUSE),
        ({"input_sensitive": False, "input_sensitive_type": 0}, False, SensitiveType.NORMAL),
        ({"input_sensitive": {"type": 2}}, True, SensitiveType.PORNOGRAPHIC),
        ({"input_sensitive": {"type": 0}}, False, SensitiveType.NORMAL),
        ({"input_sensitive": {"type": "6"}}, True, SensitiveType.VIOLENCE_OR_TERRORISM),
        ({"input_sensitive": {}, "input_sensitive_type": 1}, True, SensitiveType.SEVERE_VIOLATION),
        ({"input_sensitive": True, "input_sensitive_type": 42}, True, SensitiveType.OTHER),
        ({}, False, SensitiveType.NORMAL),
    ],
)
async def test_input_sensitive_in_both_shapes(
    client: Client, emu: Emulator, answer: dict[str, object], flag: bool, kind: SensitiveType
) -> None:
    emu.inject(respond(ok(demo_audio="", **answer)))

    result = await client.clone(file_id=7, voice_id=VOICE)

    assert result.input_sensitive is flag
    assert result.input_sensitive_type is kind


async def test_extra_info_and_demo_audio_are_parsed(client: Client, emu: Emulator) -> None:
    extra = {
        "audio_length": 9120,
        "audio_sample_rate": 32000,
        "audio_size": "146000",
        "bitrate": 128000,
        "word_count": 21,
        "usage_characters": 108,
    }
    emu.inject(respond(ok(demo_audio="https://cdn.example/p.mp3", extra_info=extra)))

    result = await client.clone(file_id=7, voice_id=VOICE)

    assert result.demo_audio == "https://cdn.example/p.mp3"
    assert result.extra_info == PreviewInfo(9120, 32000, 146000, 128000, 21, 108)


# -- uploads and file ids -----------------------------------------------------------


@pytest.mark.parametrize("as_strings", [False, True])
async def test_file_ids_beyond_two_to_the_53_stay_exact(as_strings: bool, wav_path: Path) -> None:
    async with (
        Emulator(api_key=KEY, rpm=None, file_ids_as_strings=as_strings) as emu,
        new_client(emu.base_url) as client,
    ):
        up = await client.upload_file(wav_path)
        assert [up.file_id] == list(emu.account().files)
        assert up.file_id > 2**53
        wire = emu.account().files[up.file_id]
        assert up.bytes == wire.bytes == len(SAMPLE)
        assert up.filename == "narrator.wav"
        assert up.purpose == "voice_clone"
        assert up.created_at == dt.datetime.fromtimestamp(wire.created_at, dt.timezone.utc)
        assert up.trace_id == emu.requests[-1].trace_id

        await client.clone(file_id=up.file_id, voice_id=VOICE)
        assert emu.requests[-1].json["file_id"] == up.file_id
        assert emu.account().voices[VOICE].file_id == up.file_id


async def test_numeric_string_file_id_past_float_precision(client: Client, emu: Emulator) -> None:
    # 2**53 + 1 is the first integer a float cannot hold.
    emu.inject(
        respond(ok(file={"file_id": "9007199254740993", "bytes": 5})), endpoint="files/upload"
    )

    up = await client.upload_file(make_wav(12.0))

    assert up == UploadedFile(9007199254740993, 5, trace_id=up.trace_id)
    assert up.trace_id is not None


async def test_upload_by_content_not_extension(
    client: Client, emu: Emulator, tmp_path: Path
) -> None:
    mp3 = tmp_path / "sample.bin"
    mp3.write_bytes(make_mp3(12.0))

    up = await client.upload_file(mp3)

    form = emu.requests[-1].form
    assert form is not None
    assert form["purpose"] == "voice_clone"
    assert form["file"] == {
        "filename": "sample.bin",
        "size": mp3.stat().st_size,
        "content_type": "audio/mpeg",
    }
    assert emu.account().files[up.file_id].audio is not None


async def test_upload_bytes_and_m4a_with_a_chosen_name(client: Client, emu: Emulator) -> None:
    data = make_m4a(12.0)
    await client.upload_file(data)
    await client.upload_file(data, filename="take2.m4a")
    await client.upload_file(make_wav(12.0))

    files = [r.form["file"] for r in emu.requests if r.form is not None]
    assert [(f["filename"], f["content_type"], f["size"]) for f in files] == [
        ("audio.m4a", "audio/mp4", len(data)),
        ("take2.m4a", "audio/mp4", len(data)),
        ("audio.wav", "audio/wav", 384044),
    ]


async def test_upload_a_bytearray_or_memoryview(client: Client, emu: Emulator) -> None:
    data = make_wav(12.0)
    first = await client.upload_file(bytearray(data))
    second = await client.upload_file(memoryview(data))
    files = [r.form["file"] for r in emu.requests if r.form is not None]
    assert [(f["content_type"], f["size"]) for f in files] == [("audio/wav", len(data))] * 2
    assert first.file_id != second.file_id


async def test_upload_other_purposes_skip_the_audio_checks(client: Client, emu: Emulator) -> None:
    up = await client.upload_file(b"some text to read", purpose="t2a_async_input")

    assert up.purpose == "t2a_async_input"
    form = emu.requests[-1].form
    assert form is not None
    assert form["file"]["content_type"] == "application/octet-stream"
    assert form["file"]["filename"] == "audio.bin"


# -- clone() misuse -----------------------------------------------------------------


async def test_clone_misuse_is_refused_before_sending(client: Client, emu: Emulator) -> None:
    request = CloneRequest(5, VOICE)
    with pytest.raises(TypeError, match="not both"):
        await client.clone(request, text="Hello.")
    with pytest.raises(TypeError, match="CloneRequest"):
        await client.clone({"file_id": 5, "voice_id": VOICE})  # type: ignore[arg-type]
    with pytest.raises(ValidationError) as unknown:
        await client.clone(file_id=5, voice_id=VOICE, voice_name="x")
    assert unknown.value.field == "voice_name"
    with pytest.raises(ValidationError) as missing:
        await client.clone(voice_id=VOICE)
    assert missing.value.field == "file_id"
    with pytest.raises(ValidationError) as missing:
        await client.clone(file_id=5)
    assert missing.value.field == "voice_id"
    assert emu.requests == []


# -- voices and previews ------------------------------------------------------------


async def test_list_voices(client: Client, emu: Emulator, file_id: int) -> None:
    assert await client.list_voices() == []  # voice_cloning is null until first use
    await client.clone(file_id=file_id, voice_id=VOICE)
    await client.clone(file_id=file_id, voice_id="Narrator002")
    emu.activate(VOICE)

    cloned = await client.list_voices()
    everything = await client.list_voices("all")
    system = await client.list_voices("system")

    assert emu.requests[-3].json == {"voice_type": "voice_cloning"}
    assert emu.requests[-2].json == {"voice_type": "all"}
    assert [v.voice_id for v in cloned] == [VOICE]
    assert cloned[0].voice_type == "voice_cloning"
    assert cloned[0].created_time == emu.account().voices[VOICE].created_time
    assert cloned[0].description == ()
    assert system[0] == Voice(
        "English_Graceful_Lady",
        "system",
        "1970-01-01",
        ("A warm, composed adult female voice with clear articulation.",),
        "Graceful Lady",
    )
    assert {v.voice_type for v in everything} == {"system", "voice_cloning"}
    assert len(everything) == len(system) + 1
    with pytest.raises(ValidationError) as bad:
        await client.list_voices("cloned")
    assert bad.value.field == "voice_type"
    assert len(emu.requests) == 7


async def test_delete_voice_frees_the_id(client: Client, emu: Emulator, file_id: int) -> None:
    await client.clone(file_id=file_id, voice_id=VOICE)

    await client.delete_voice(VOICE)

    assert emu.requests[-1].json == {"voice_type": "voice_cloning", "voice_id": VOICE}
    assert VOICE not in emu.account().voices
    again = await client.clone(file_id=file_id, voice_id=VOICE)
    assert again.recovered is False
    with pytest.raises(InvalidParameterError) as gone:
        await client.delete_voice("Nobody12345")
    assert gone.value.status_code == 2013
    sent = sum(emu.stats.requests.values())
    with pytest.raises(ValidationError, match="voice_id"):
        await client.delete_voice("no")
    with pytest.raises(ValidationError, match="voice_type"):
        await client.delete_voice(VOICE, voice_type="system")
    assert sum(emu.stats.requests.values()) == sent


async def test_download_demo_writes_the_preview_without_the_key(
    client: Client, emu: Emulator, file_id: int, tmp_path: Path
) -> None:
    result = await client.clone(file_id=file_id, voice_id=VOICE, text="Hi.", model="speech-01-hd")
    assert result.demo_audio is not None
    path = result.demo_audio.removeprefix(emu.origin)

    async with Gateway(emu.origin) as gateway:
        target = await client.download_demo(gateway.origin + "/minimax" + path, tmp_path / "a.wav")
        direct = await client.download_demo(result, str(tmp_path / "b.wav"))

    assert target == tmp_path / "a.wav"
    assert direct == tmp_path / "b.wav"
    assert target.read_bytes() == direct.read_bytes()
    with wave.open(str(target)) as w:
        assert w.getframerate() == 16000
        assert w.getnframes() > 0
    assert emu.stats.requests["previews"] == 2
    assert len(gateway.headers) == 1
    sent_headers = {k.lower(): v for k, v in gateway.headers[0].items()}
    assert "authorization" not in sent_headers
    assert KEY not in str(sent_headers)
    assert names(tmp_path) == ["a.wav", "b.wav", "narrator.wav"]


async def test_download_demo_refusals(client: Client, emu: Emulator, tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="no preview"):
        await client.download_demo(CloneResult(VOICE), tmp_path / "x.wav")
    with pytest.raises(ValidationError, match="http"):
        await client.download_demo("file:///etc/passwd", tmp_path / "x.wav")
    with pytest.raises(APIError) as missing:
        await client.download_demo(emu.origin + "/previews/nothing.wav", tmp_path / "x.wav")
    assert missing.value.http_status == 404
    assert "base_url" not in str(missing.value)  # a preview link is not the API
    assert names(tmp_path) == []


# -- configuration and lifecycle ----------------------------------------------------


def test_environment_and_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MINIMAX_BASE_URL", raising=False)
    monkeypatch.setenv("MINIMAX_API_KEY", "  env-key  ")
    assert Client().base_url == DEFAULT_BASE_URL == "https://api.minimax.io/v1"
    assert Client()._key == "env-key"
    assert Client(api_key="explicit")._key == "explicit"

    monkeypatch.setenv("MINIMAX_BASE_URL", "https://api.minimaxi.com/v1/")
    assert Client().base_url == "https://api.minimaxi.com/v1"
    with pytest.warns(InsecureTransportWarning, match="plain http to gw.example"):
        plain = Client(base_url="http://gw.example:8080/minimax/v1")
    assert plain.base_url == "http://gw.example:8080/minimax/v1"

    monkeypatch.delenv("MINIMAX_API_KEY")
    with pytest.raises(ConfigurationError, match="MINIMAX_API_KEY"):
        Client()
    with pytest.raises(ConfigurationError, match="no API key"):
        Client(api_key="   ")


@pytest.mark.parametrize(
    "base_url",
    [
        "api.minimax.io/v1",
        "ftp://api.minimax.io/v1",
        "http:///v1",
        "https://user:pw@api.minimax.io/v1",
        "https://api.minimax.io/v1?GroupId=1",
        "https://api.minimax.io/v1#frag",
        "http://127.0.0.1:8000:1/v1",
        "http://127.0.0.1:99999/v1",
    ],
)
def test_bad_base_url(base_url: str) -> None:
    with pytest.raises(ConfigurationError) as err:
        Client(api_key="k", base_url=base_url)
    assert "pw" not in str(err.value)


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("max_in_flight", 0),
        ("max_in_flight", 2.5),
        ("max_in_flight", True),
        ("requests_per_minute", 0),
        ("requests_per_minute", "60"),
        ("timeout", -1.0),
        ("timeout", float("nan")),
        ("retry", {"attempts": 1}),
    ],
)
def test_bad_options(option: str, value: object) -> None:
    with pytest.raises(ConfigurationError, match=option):
        Client(api_key="k", **{option: value})  # type: ignore[arg-type]


def test_client_properties_and_repr() -> None:
    client = Client(api_key=KEY, base_url="https://h/v1", max_in_flight=3, requests_per_minute=30)
    assert client.max_in_flight == 3
    assert client.rate_stats.requests_per_minute == pytest.approx(30.0)
    assert client.rate_stats.rate_limited == 0
    assert repr(client) == (
        "Client(base_url='https://h/v1', max_in_flight=3, requests_per_minute=30)"
    )


def test_no_pacing_option() -> None:
    client = Client(api_key=KEY, base_url="https://h/v1", requests_per_minute=None)
    assert repr(client).endswith("requests_per_minute=None)")


async def test_batches_go_through_the_same_path(
    client: Client, emu: Emulator, file_id: int, wav_path: Path
) -> None:
    requests = [CloneRequest(file_id, VOICE), CloneRequest(file_id, VOICE)]
    # One at a time: the repeat reaches the server after the first is done.
    outcomes = await client.clone_all(requests, max_in_flight=1)
    assert [o.index for o in outcomes] == [0, 1]
    assert [o.ok for o in outcomes] == [True, False]
    assert outcomes[1].error is not None
    assert outcomes[1].error.status_code == 2039
    streamed = [o async for o in client.clone_many([CloneRequest(file_id, "Narrator002")])]
    assert streamed[0].result is not None
    assert streamed[0].result.voice_id == "Narrator002"
    jobs = [o async for o in client.clone_jobs([CloneJob("Narrator003", wav_path)])]
    assert jobs[0].ok
    assert set(emu.account().voices) == {VOICE, "Narrator002", "Narrator003"}


def test_session_is_created_inside_the_loop_that_uses_it(wav_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    # Built with no running loop: a session made here would be bound to no loop.
    client = new_client(f"http://127.0.0.1:{port}/v1")
    assert client._transport.session is None

    async def run() -> int:
        async with Emulator(api_key=KEY, rpm=None, port=port), client:
            up = await client.upload_file(wav_path)
            return up.file_id

    assert asyncio.run(run()) > 2**53
    assert client._transport.session is None  # closed and dropped by the context manager


async def test_aclose_is_idempotent_and_final(emu: Emulator) -> None:
    client = new_client(emu.base_url)
    await client.list_voices("system")
    await client.aclose()
    await client.aclose()
    with pytest.raises(ConfigurationError, match="closed"):
        await client.list_voices("system")
    assert emu.stats.requests["get_voice"] == 1


async def test_aclose_before_any_request(emu: Emulator) -> None:
    async with new_client(emu.base_url):
        pass
    assert emu.requests == []


async def test_borrowed_session_is_used_and_left_open(emu: Emulator) -> None:
    async with aiohttp.ClientSession() as session:
        async with new_client(emu.base_url, session=session) as client:
            assert await client.list_voices("system")
        assert not session.closed
        # Still usable by its owner after the client is gone.
        async with session.post(
            emu.base_url + "/get_voice",
            json={"voice_type": "system"},
            headers={"Authorization": f"Bearer {KEY}"},
        ) as resp:
            assert (await resp.json())["base_resp"]["status_code"] == 0
    assert emu.stats.requests["get_voice"] == 2


async def test_gateway_prefix_base_url_works_as_is(emu: Emulator, wav_path: Path) -> None:
    async with Gateway(emu.origin) as gateway:
        base_url = gateway.origin + "/minimax/v1"
        async with new_client(base_url) as client:
            assert client.base_url == base_url
            up = await client.upload_file(wav_path)
            result = await client.clone(file_id=up.file_id, voice_id=VOICE)
            await client.delete_voice(VOICE)

    assert result.trace_id == emu.requests[1].trace_id
    assert [r.path for r in emu.requests] == [
        "/v1/files/upload",
        "/v1/voice_clone",
        "/v1/delete_voice",
    ]
    assert emu.account().files[up.file_id].bytes == len(SAMPLE)
    assert all(h["Authorization"] == f"Bearer {KEY}" for h in gateway.headers)


async def test_wrong_base_url_path_mentions_base_url(emu: Emulator) -> None:
    async with new_client(emu.origin) as client:  # forgot the /v1
        with pytest.raises(APIError) as err:
            await client.list_voices()
    assert type(err.value) is APIError
    assert err.value.http_status == 404
    assert "base_url" in str(err.value)
    assert emu.stats.http_statuses[200] == 0


async def test_unreadable_success_body_raises_format_error(client: Client, emu: Emulator) -> None:
    emu.inject(respond(ok(system_voice=[{"voice_name": "nameless"}])), endpoint="get_voice")
    with pytest.raises(ResponseFormatError, match="voice_id") as err:
        await client.list_voices("system")
    assert err.value.trace_id == emu.requests[-1].trace_id
    assert emu.stats.requests["get_voice"] == 1  # a parse failure after success is not retried


@contextlib.asynccontextmanager
async def preview_host(handler: Any) -> AsyncIterator[str]:
    """A stand-in for the CDN that serves previews: yields its origin."""
    app = web.Application()
    app.router.add_get("/{name}", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


async def test_an_expired_preview_link_is_not_an_authentication_error(
    client: Client, tmp_path: Path
) -> None:
    # Preview hosts answer 403 for expired links; that says nothing about the API key.
    async def expired(_request: web.Request) -> web.Response:
        return web.Response(status=403, text="expired")

    async with preview_host(expired) as origin:
        with pytest.raises(APIError) as caught:
            await client.download_demo(f"{origin}/p.mp3", tmp_path / "p.mp3")
    assert type(caught.value) is APIError
    assert caught.value.http_status == 403
    assert "base_url" not in str(caught.value)
    assert not (tmp_path / "p.mp3").exists()


async def test_a_preview_streamed_in_many_chunks_arrives_whole(
    client: Client, tmp_path: Path
) -> None:
    audio = make_wav(30.0)  # about a megabyte: many reads on the client's side

    async def preview(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "audio/wav"})
        await response.prepare(request)
        for start in range(0, len(audio), 4096):
            await response.write(audio[start : start + 4096])
        await response.write_eof()
        return response

    async with preview_host(preview) as origin:
        path = await client.download_demo(f"{origin}/long.wav", tmp_path / "l.wav")
    assert path.read_bytes() == audio


def test_a_bad_base_url_error_does_not_echo_credentials() -> None:
    with pytest.raises(ConfigurationError) as caught:
        Client(api_key=KEY, base_url="htps://user:s3cret-pass@api.example.com/v1")
    assert "s3cret-pass" not in str(caught.value)
    assert "'htps'" in str(caught.value)


# -- per-call options, headers and proxies ---------------------------------------------


async def test_with_options_shares_the_session_gate_and_budget(emu: Emulator, file_id: int) -> None:
    async with new_client(emu.base_url, requests_per_minute=600) as client:
        urgent = client.with_options(retry=RetryPolicy(attempts=1), timeout=2.0, max_in_flight=1)
        emu.inject(Fault.http(503), endpoint="voice_clone")
        with pytest.raises(ServerError):  # no retry through the view
            await urgent.clone(file_id=file_id, voice_id="Urgent0001")
        emu.inject(Fault.http(503), endpoint="voice_clone")
        result = await client.clone(file_id=file_id, voice_id="Patient001")  # the client retries
        assert result.attempts == 2
        assert urgent._transport is client._transport  # one session for both
        assert urgent.rate_stats == client.rate_stats  # one gate
        assert (urgent.max_in_flight, client.max_in_flight) == (1, 8)
        await urgent.aclose()  # a view owns nothing: the client still works
        await client.list_voices()
    with pytest.raises(ConfigurationError, match="closed"):
        await urgent.list_voices()
    with pytest.raises(ConfigurationError, match="timeout"):
        client.with_options(timeout=0)


async def test_a_views_cap_holds_within_the_clients() -> None:
    on_wire = peak = 0

    async def held(_request: web.Request) -> web.Response:
        nonlocal on_wire, peak
        on_wire += 1
        peak = max(peak, on_wire)
        try:
            await asyncio.sleep(0.05)  # room for any request the caps let through to arrive
            return web.json_response({"base_resp": {"status_code": 0}})
        finally:
            on_wire -= 1

    async with Hostile(held) as server, new_client(server.origin, max_in_flight=3) as client:
        one = client.with_options(max_in_flight=1)
        for view, cap in ((one, 1), (client.with_options(max_in_flight=8), 3),
                          (one.with_options(max_in_flight=2), 2)):  # fmt: skip
            peak = 0
            await asyncio.gather(*(view.list_voices("system") for _ in range(6)))
            assert peak <= cap, (view.max_in_flight, peak)
            assert peak > 1 or cap == 1  # the calls did overlap where they could


async def test_user_agent_and_default_headers_reach_the_api_only(tmp_path: Path) -> None:
    seen: list[dict[str, str]] = []

    async def record(request: web.Request) -> web.StreamResponse:
        seen.append(dict(request.headers))
        if request.path.startswith("/v1"):
            return web.json_response({"base_resp": {"status_code": 0}, "voice_cloning": []})
        return web.Response(body=b"ID3" + b"\0" * 32)

    async with (
        Hostile(record) as host,
        Client(
            api_key=KEY, base_url=host.origin + "/v1", default_headers={"X-Gateway-Tenant": "t-42"}
        ) as client,
    ):
        await client.list_voices()
        await client.download_demo(host.origin + "/p.mp3", tmp_path / "p.mp3")
    api, preview = seen
    assert api["User-Agent"].startswith(f"voiceclone/{voiceclone.__version__} aiohttp/")
    assert " python/3." in api["User-Agent"]
    assert api["X-Gateway-Tenant"] == "t-42"
    assert api["Authorization"] == f"Bearer {KEY}"
    assert preview["User-Agent"] == api["User-Agent"]
    assert "X-Gateway-Tenant" not in preview
    assert "Authorization" not in preview


@pytest.mark.parametrize(
    ("headers", "match"),
    [
        ({"authorization": "Bearer other"}, "Authorization"),
        ({"X-Bad": "a\r\nInjected: 1"}, "line break"),
        ({"X-Num": 5}, "strings"),
        ({"Content-Length": "10"}, "must not set Content-Length: it describes one request"),
        ({"transfer-encoding": "chunked"}, "must not set transfer-encoding"),
        ({"Content-Type": "application/json"}, "must not set Content-Type"),
        ({"Connection": "close"}, "must not set Connection"),
    ],
)
def test_bad_default_headers_are_refused(headers: dict[str, Any], match: str) -> None:
    with pytest.raises(ConfigurationError, match=match):
        Client(api_key=KEY, base_url="https://api.example/v1", default_headers=headers)


async def test_an_explicit_proxy_carries_every_request(emu: Emulator) -> None:
    relayed: list[str] = []

    async def proxy(request: web.Request) -> web.StreamResponse:
        relayed.append(str(request.url))
        async with aiohttp.ClientSession() as upstream:
            target = emu.base_url + request.path.removeprefix("/v1")
            async with upstream.request(
                request.method, target, data=await request.read(),
                headers={"Authorization": request.headers["Authorization"],
                         "Content-Type": request.headers["Content-Type"]},
            ) as answer:  # fmt: skip
                return web.Response(status=answer.status, body=await answer.read())

    # Port 9 (discard) refuses connections: only the proxy can answer for it.
    async with (
        Hostile(proxy) as relay,
        new_client("http://127.0.0.1:9/v1", proxy=relay.origin) as client,
    ):
        assert await client.list_voices() == []
    assert relayed == ["http://127.0.0.1:9/v1/get_voice"]


async def test_proxy_variables_are_ignored_unless_trusted(
    emu: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")  # refuses every connection
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    async with new_client(emu.base_url) as client:
        assert await client.list_voices() == []  # direct: the variable was not used
    async with new_client(emu.base_url, trust_env=True, retry=RetryPolicy(attempts=1)) as client:
        with pytest.raises(TransportError):  # through the dead proxy
            await client.list_voices()

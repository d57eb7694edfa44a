"""The emulator's speech (``/v1/t2a_v2``) and 7-day rule, over real HTTP with plain aiohttp.

The audio it answers is read back by an independent decoder (libsndfile, through
soundfile): a format the emulator got wrong would not decode, or decode to another
rate, channel count or length than ``extra_info`` says.
"""

from __future__ import annotations

import io
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
import soundfile  # type: ignore[import-untyped]

from voiceclone._samples import make_wav
from voiceclone.emulator import Emulator

KEY = "sk-test-speech-1"
SYSTEM_VOICE = "English_Graceful_Lady"
WEEK = 7 * 24 * 3600


@pytest.fixture
async def emu() -> AsyncIterator[Emulator]:
    async with Emulator(KEY, rpm=None) as emulator:
        yield emulator


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


def speech(
    text: str = "Hello there.", voice_id: str = SYSTEM_VOICE, **audio: Any
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": "speech-2.8-hd",
        "text": text,
        "voice_setting": {"voice_id": voice_id},
    }
    extra = {k: audio.pop(k) for k in ("stream", "output_format", "stream_options") if k in audio}
    if audio:
        body["audio_setting"] = audio
    return {**body, **extra}


async def post(
    session: aiohttp.ClientSession, emu: Emulator, path: str, body: Any
) -> tuple[aiohttp.ClientResponse, bytes]:
    headers = {"Authorization": f"Bearer {KEY}"}
    async with session.post(emu.base_url + path, json=body, headers=headers) as resp:
        return resp, await resp.read()


async def synthesize(session: aiohttp.ClientSession, emu: Emulator, body: Any) -> dict[str, Any]:
    _, raw = await post(session, emu, "/t2a_v2", body)
    answer: dict[str, Any] = json.loads(raw)
    return answer


async def clone(session: aiohttp.ClientSession, emu: Emulator, voice_id: str) -> None:
    form = aiohttp.FormData()
    form.add_field("purpose", "voice_clone")
    form.add_field("file", make_wav(12.0), filename="s.wav", content_type="audio/wav")
    headers = {"Authorization": f"Bearer {KEY}"}
    async with session.post(emu.base_url + "/files/upload", data=form, headers=headers) as r:
        file_id = (await r.json())["file"]["file_id"]
    _, raw = await post(session, emu, "/voice_clone", {"file_id": file_id, "voice_id": voice_id})
    assert json.loads(raw)["base_resp"]["status_code"] == 0


def decoded(audio: bytes) -> soundfile.SoundFile:
    return soundfile.SoundFile(io.BytesIO(audio))


@pytest.mark.parametrize("fmt", ["wav", "flac", "mp3"])
@pytest.mark.parametrize(("rate", "channels"), [(8000, 1), (24000, 2), (44100, 1)])
async def test_speech_decodes_to_what_extra_info_says(
    emu: Emulator, session: aiohttp.ClientSession, fmt: str, rate: int, channels: int
) -> None:
    body = speech("A sentence of some length, said once.", format=fmt, sample_rate=rate,
                  channel=channels)  # fmt: skip
    answer = await synthesize(session, emu, body)
    assert answer["base_resp"]["status_code"] == 0
    audio = bytes.fromhex(answer["data"]["audio"])
    info = answer["extra_info"]
    assert info["audio_size"] == len(audio)
    assert (info["audio_format"], info["audio_sample_rate"], info["audio_channel"]) == (
        fmt, rate, channels,
    )  # fmt: skip
    with decoded(audio) as sound:
        assert (sound.samplerate, sound.channels) == (rate, channels)
        assert sound.frames / rate * 1000 == pytest.approx(info["audio_length"], abs=80)
    assert info["usage_characters"] == len(body["text"])


async def test_pcm_is_the_samples_of_the_wav(emu: Emulator, session: aiohttp.ClientSession) -> None:
    wav = await synthesize(session, emu, speech(format="wav", sample_rate=16000))
    pcm = await synthesize(session, emu, speech(format="pcm", sample_rate=16000))
    assert bytes.fromhex(wav["data"]["audio"])[44:] == bytes.fromhex(pcm["data"]["audio"])
    flac = await synthesize(session, emu, speech(format="flac", sample_rate=16000))
    with decoded(bytes.fromhex(flac["data"]["audio"])) as sound:
        samples = sound.read(dtype="int16").tobytes()
    assert samples == bytes.fromhex(pcm["data"]["audio"])  # lossless, sample for sample


async def test_longer_text_is_longer_speech_and_pauses_count(
    emu: Emulator, session: aiohttp.ClientSession
) -> None:
    short = await synthesize(session, emu, speech("Short one."))
    long = await synthesize(session, emu, speech("Short one. " * 10))
    paused = await synthesize(session, emu, speech("Short one.<#1.5#>"))
    lengths = [a["extra_info"]["audio_length"] for a in (short, long, paused)]
    assert lengths[1] > 5 * lengths[0]
    assert lengths[2] == pytest.approx(lengths[0] + 1500, abs=80)


async def test_a_stream_is_the_same_audio_in_chunks(
    emu: Emulator, session: aiohttp.ClientSession
) -> None:
    whole = await synthesize(session, emu, speech("Streamed words. " * 40, format="mp3"))
    resp, raw = await post(session, emu, "/t2a_v2", speech("Streamed words. " * 40, stream=True))
    assert resp.headers["Content-Type"].startswith("text/event-stream")
    events = [json.loads(part[len(b"data: ") :]) for part in raw.split(b"\n\n") if part]
    chunks = [e["data"]["audio"] for e in events if e["data"]["status"] == 1]
    final = events[-1]
    assert len(chunks) > 2
    assert final["data"]["status"] == 2
    assert "".join(chunks) == final["data"]["audio"] == whole["data"]["audio"]
    assert final["extra_info"] == whole["extra_info"]
    assert final["trace_id"] == resp.headers["Trace-Id"]
    options = {"exclude_aggregated_audio": True}
    _, raw = await post(session, emu, "/t2a_v2", speech(stream=True, stream_options=options))
    assert json.loads(raw.split(b"\n\n")[-2][6:])["data"]["audio"] == ""


@pytest.mark.parametrize(
    "body",
    [
        speech(format="wav", stream=True),  # wav only without streaming
        speech(stream=True, output_format="url"),
        speech("x" * 10_000),
        speech("Wait <#100#> long."),
        speech("Wait <#x#>."),
        speech(format="ogg"),
        speech(sample_rate=11025),
        {**speech(), "voice_setting": {"voice_id": SYSTEM_VOICE, "speed": 2.5}},
        {**speech(), "voice_setting": {"voice_id": SYSTEM_VOICE, "pitch": 0.5}},
        {**speech(), "voice_setting": {"voice_id": SYSTEM_VOICE, "vol": 0}},
        {**speech(), "voice_setting": {"voice_id": SYSTEM_VOICE, "emotion": "bored"}},
        {**speech(), "model": "speech-9"},
        {**speech(), "timbre_weights": [{"voice_id": SYSTEM_VOICE, "weight": 0}]},
    ],
)
async def test_invalid_speech_requests_are_2013(
    emu: Emulator, session: aiohttp.ClientSession, body: dict[str, Any]
) -> None:
    answer = await synthesize(session, emu, body)
    assert answer["base_resp"]["status_code"] == 2013


async def test_url_output_is_a_download(emu: Emulator, session: aiohttp.ClientSession) -> None:
    answer = await synthesize(session, emu, speech(format="flac", output_format="url"))
    url = answer["data"]["audio"]
    assert url.startswith(emu.origin + "/speech/")
    assert url.endswith(".flac")
    async with session.get(url) as resp:
        assert resp.headers["Content-Type"] == "audio/flac"
        assert len(await resp.read()) == answer["extra_info"]["audio_size"]


async def test_first_synthesis_activates_and_a_week_unused_deletes(
    emu: Emulator, session: aiohttp.ClientSession
) -> None:
    await clone(session, emu, "KeptVoice01")
    await clone(session, emu, "LostVoice01")
    _, raw = await post(session, emu, "/get_voice", {"voice_type": "voice_cloning"})
    assert json.loads(raw)["voice_cloning"] is None  # nothing used for speech yet
    spoken = await synthesize(session, emu, speech(voice_id="KeptVoice01"))
    assert spoken["base_resp"]["status_code"] == 0
    kept = emu.account(KEY).voices["KeptVoice01"]
    assert kept.activated
    assert kept.activated_at is not None
    _, raw = await post(session, emu, "/get_voice", {"voice_type": "voice_cloning"})
    assert [v["voice_id"] for v in json.loads(raw)["voice_cloning"]] == ["KeptVoice01"]

    emu.advance(WEEK - 60)  # a minute short of the week: both still there
    assert set(emu.account(KEY).voices) == {"KeptVoice01", "LostVoice01"}
    async with session.post(emu.origin + "/__emulator/advance", json={"seconds": 60}) as resp:
        assert resp.status == 200
    assert set(emu.account(KEY).voices) == {"KeptVoice01"}
    assert emu.account(KEY).expired == {"LostVoice01"}
    gone = await synthesize(session, emu, speech(voice_id="LostVoice01"))
    assert gone["base_resp"]["status_code"] == 20132
    again = await synthesize(session, emu, speech(voice_id="KeptVoice01"))
    assert again["base_resp"]["status_code"] == 0


@pytest.mark.parametrize("body", [{"seconds": -1}, {"seconds": "a day"}, {}, [1]])
async def test_advance_refuses_what_is_not_a_forward_step(
    emu: Emulator, session: aiohttp.ClientSession, body: Any
) -> None:
    async with session.post(emu.origin + "/__emulator/advance", json=body) as resp:
        assert resp.status == 400
    with pytest.raises(ValueError, match="seconds"):
        emu.advance(-5)


async def test_speech_has_limits_of_its_own() -> None:
    async with (
        Emulator(KEY, rpm=60, speech_rpm=2, speech_cpm=1000) as emu,
        aiohttp.ClientSession() as session,
    ):
        codes = [
            (await synthesize(session, emu, speech()))["base_resp"]["status_code"] for _ in range(3)
        ]
        assert codes == [0, 0, 1002]  # two a minute
        assert emu.stats.rate_limited == 1
    async with (
        Emulator(KEY, rpm=None, speech_cpm=100) as emu,
        aiohttp.ClientSession() as session,
    ):
        first = await synthesize(session, emu, speech("y" * 80))
        second = await synthesize(session, emu, speech("y" * 80))
        assert [first["base_resp"]["status_code"], second["base_resp"]["status_code"]] == [
            0, 1039,
        ]  # fmt: skip

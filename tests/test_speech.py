"""Speech through the SDK: synthesize, activate and the 7-day rule, against the emulator."""

from __future__ import annotations

import io
import json
import os
import stat
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import soundfile  # type: ignore[import-untyped]
from conftest import KEY, new_client

import voiceclone
from voiceclone import Client, Speech, ValidationError, VoiceNotFoundError
from voiceclone._samples import make_wav
from voiceclone._speech import ACTIVATION_SETTINGS, ACTIVATION_TEXT, SpeechRequest
from voiceclone.emulator import Emulator, Fault

SYSTEM_VOICE = "English_Graceful_Lady"
WEEK = 7 * 24 * 3600


async def cloned(client: Client, file_id: int, voice_id: str) -> str:
    await client.clone(file_id=file_id, voice_id=voice_id)
    return voice_id


async def test_synthesize_returns_the_audio_and_what_minimax_says_of_it(
    client: Client, emu: Emulator
) -> None:
    speech = await client.synthesize(
        voice_id=SYSTEM_VOICE, text="Good evening, and welcome.", format="flac",
        sample_rate=24000, channel=2, speed=1.25, emotion="calm",
    )  # fmt: skip
    assert isinstance(speech, Speech)
    with soundfile.SoundFile(io.BytesIO(speech.audio)) as sound:
        assert (sound.samplerate, sound.channels) == (24000, 2)
        assert sound.frames * 1000 / 24000 == pytest.approx(speech.audio_length, abs=5)
    assert (speech.format, speech.sample_rate, speech.channels) == ("flac", 24000, 2)
    assert speech.size == len(speech.audio)
    assert speech.usage_characters == len("Good evening, and welcome.")
    assert speech.trace_id == emu.requests[-1].trace_id
    assert speech.url is None
    assert speech.attempts == 1
    assert "bytes>" in repr(speech)
    assert str(len(speech.audio)) in repr(speech)  # the length, never the audio
    body = emu.requests[-1].json
    assert body["voice_setting"] == {"voice_id": SYSTEM_VOICE, "speed": 1.25, "emotion": "calm"}
    assert body["audio_setting"] == {"format": "flac", "sample_rate": 24000, "channel": 2}
    assert body["stream"] is False


def test_settings_go_where_minimax_reads_them() -> None:
    request = SpeechRequest(
        None, "Mixed.", "speech-02-hd",
        {"timbre_weights": [{"voice_id": "VoiceAbc123", "weight": 60}], "vol": 2.0,
         "pronunciation_dict": {"tone": ["omg/oh my god"]}, "output_format": "url",
         "aigc_watermark": True, "language_boost": "English"},
    )  # fmt: skip
    assert request.to_json() == {
        "model": "speech-02-hd",
        "text": "Mixed.",
        "stream": False,
        "timbre_weights": [{"voice_id": "VoiceAbc123", "weight": 60}],
        "voice_setting": {"vol": 2.0},
        "pronunciation_dict": {"tone": ["omg/oh my god"]},
        "output_format": "url",
        "aigc_watermark": True,
        "language_boost": "English",
    }


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"text": "x" * 10_000}, "text"),
        ({"text": "   "}, "text"),
        ({"speed": 2.5}, "speed"),
        ({"speed": float("nan")}, "speed"),
        ({"vol": 0}, "vol"),
        ({"pitch": 1.5}, "pitch"),
        ({"pitch": True}, "pitch"),
        ({"emotion": "bored"}, "emotion"),
        ({"sample_rate": 48000}, "sample_rate"),
        ({"bitrate": 96000}, "bitrate"),
        ({"format": "ogg"}, "format"),
        ({"channel": 3}, "channel"),
        ({"output_format": "base64"}, "output_format"),
        ({"language_boost": "Klingon"}, "language_boost"),
        (
            {"timbre_weights": [{"voice_id": "VoiceAbc123", "weight": 101}]},
            "timbre_weights[0].weight",
        ),
        ({"timbre_weights": []}, "timbre_weights"),
        ({"voice_modify": "louder"}, "voice_modify"),
        ({"voice_id": "bad\x00voice"}, "voice_id"),
        ({"voice_id": "  "}, "voice_id"),
        ({"text": "A pause <#100#> too long."}, "text"),
        ({"text": "A pause <#soon#>."}, "text"),
        ({"pronunciation_dict": {"tone": {1, 2}}}, "pronunciation_dict"),
        ({"voice_modify": {"pitch": float("nan")}}, "voice_modify"),
        ({"voice_id": None}, "voice_id"),
        ({"model": "Speech-2.8-HD"}, "model"),
        ({"sped": 1.0}, "sped"),
    ],
)
async def test_bad_settings_are_refused_by_name_before_anything_is_sent(
    client: Client, emu: Emulator, kwargs: dict[str, Any], field: str
) -> None:
    call: dict[str, Any] = {"voice_id": SYSTEM_VOICE, "text": "Hello.", **kwargs}
    with pytest.raises(ValidationError) as caught:
        await client.synthesize(**call)
    assert caught.value.field == field
    assert emu.requests == []


def test_streaming_refuses_what_minimax_only_does_whole() -> None:
    with pytest.raises(ValidationError, match="format"):
        SpeechRequest(SYSTEM_VOICE, "Hi.", settings={"format": "wav"}, stream=True)
    with pytest.raises(ValidationError, match="output_format"):
        SpeechRequest(SYSTEM_VOICE, "Hi.", settings={"output_format": "url"}, stream=True)


async def test_a_link_is_downloaded_without_the_key_unless_asked_not_to(
    client: Client, emu: Emulator
) -> None:
    fetched = await client.synthesize(voice_id=SYSTEM_VOICE, text="Linked.", output_format="url")
    assert fetched.url is not None
    assert fetched.url.startswith(emu.origin + "/speech/")
    assert len(fetched.audio) == fetched.size
    assert fetched.audio[0] == 0xFF
    assert fetched.audio[1] & 0xE0 == 0xE0  # an MPEG audio frame's sync
    kept = await client.synthesize(
        voice_id=SYSTEM_VOICE, text="Linked.", output_format="url", download=False
    )
    assert kept.audio == b""
    assert kept.url is not None
    assert kept.url != fetched.url


async def test_a_clone_is_kept_by_activate_and_lost_without_it(
    client: Client, emu: Emulator, file_id: int
) -> None:
    kept = await cloned(client, file_id, "KeptVoice01")
    lost = await cloned(client, file_id, "LostVoice01")
    assert await client.list_voices() == []  # MiniMax lists a clone once it has spoken
    speech = await client.activate(kept)
    assert speech.usage_characters == len(ACTIVATION_TEXT)
    sent = emu.requests[-1].json
    assert sent["text"] == ACTIVATION_TEXT
    assert sent["audio_setting"] == dict(ACTIVATION_SETTINGS)
    assert [v.voice_id for v in await client.list_voices()] == [kept]
    emu.advance(WEEK)
    with pytest.raises(VoiceNotFoundError) as caught:
        await client.activate(lost)
    assert caught.value.status_code == 20132
    assert isinstance(caught.value, voiceclone.InvalidParameterError)
    assert emu.account(KEY).expired == {lost}
    again = await client.synthesize(voice_id=kept, text="Still here.")
    assert again.audio


async def test_speech_is_retried_and_paced_apart_from_cloning(emu: Emulator) -> None:
    emu.inject(Fault.http(503), endpoint="t2a_v2")
    emu.inject(Fault.rate_limit(), endpoint="t2a_v2")
    async with new_client(emu.base_url) as client:
        speech = await client.synthesize(voice_id=SYSTEM_VOICE, text="Again.")
        assert speech.attempts == 3
        assert client.speech_rate_stats.rate_limited == 1
        assert client.rate_stats.rate_limited == 0  # the clone gate heard nothing
    assert [r.endpoint for r in emu.requests] == ["t2a_v2"] * 3


async def test_speech_saves_privately(client: Client, tmp_path: Path) -> None:
    speech = await client.synthesize(voice_id=SYSTEM_VOICE, text="Saved.", format="wav")
    path = speech.save(tmp_path / "saved.wav")
    assert path.read_bytes() == speech.audio
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    os.symlink(tmp_path / "elsewhere.wav", tmp_path / "link.wav")
    speech.save(tmp_path / "link.wav")  # the link is replaced, never followed
    assert not (tmp_path / "elsewhere.wav").exists()
    assert not (tmp_path / "link.wav").is_symlink()
    assert (tmp_path / "link.wav").read_bytes() == speech.audio


# -- streaming ------------------------------------------------------------------------

TEXT = "Streamed speech, said at some length. " * 12


async def whole_audio(client: Client, **settings: Any) -> bytes:
    return (await client.synthesize(voice_id=SYSTEM_VOICE, text=TEXT, **settings)).audio


async def test_a_stream_yields_the_audio_in_chunks_then_its_facts(
    client: Client, emu: Emulator
) -> None:
    stream = client.synthesize_stream(voice_id=SYSTEM_VOICE, text=TEXT)
    assert emu.requests == []  # nothing is sent before the first step
    chunks = [chunk async for chunk in stream]
    assert len(chunks) > 3
    sent = emu.requests[-1]
    assert sent.json["stream"] is True
    assert sent.json["stream_options"] == {"exclude_aggregated_audio": True}
    assert b"".join(chunks) == await whole_audio(client)
    assert stream.extra_info is not None
    assert stream.extra_info["audio_size"] == sum(map(len, chunks))
    assert stream.trace_id == sent.trace_id
    assert stream.attempts == 1
    assert [c async for c in stream] == []  # ended: nothing more, nothing sent


@pytest.mark.parametrize(
    "fault",
    [Fault.http(503), Fault.rate_limit(), Fault.drop_before(), Fault.cut_stream(0)],
    ids=["503", "1002", "dropped", "cut before the first event"],
)
async def test_failures_before_the_first_chunk_are_retried(
    client: Client, emu: Emulator, fault: Fault
) -> None:
    emu.inject(fault, endpoint="t2a_v2")
    stream = client.synthesize_stream(voice_id=SYSTEM_VOICE, text=TEXT)
    audio = b"".join([chunk async for chunk in stream])
    assert stream.attempts == 2
    assert audio == await whole_audio(client)  # every byte once


async def drain(stream: voiceclone.SpeechStream, into: list[bytes]) -> None:
    async for chunk in stream:
        into.append(chunk)


async def test_a_cut_after_audio_is_raised_and_nothing_is_sent_again(
    client: Client, emu: Emulator
) -> None:
    emu.inject(Fault.cut_stream(3), endpoint="t2a_v2")
    got: list[bytes] = []
    stream = client.synthesize_stream(voice_id=SYSTEM_VOICE, text=TEXT)
    with pytest.raises(voiceclone.TransportError) as caught:
        await drain(stream, got)
    assert caught.value.request_sent
    assert not caught.value.retryable  # sending it again would give audio twice
    assert len(got) == 3
    assert len(emu.requests) == 1  # never sent again: no audio twice
    assert (await whole_audio(client)).startswith(b"".join(got))


async def test_leaving_a_stream_early_closes_it(client: Client, emu: Emulator) -> None:
    async with client.synthesize_stream(voice_id=SYSTEM_VOICE, text=TEXT) as stream:
        first = await anext(stream)
    assert first
    assert [c async for c in stream] == []
    assert await whole_audio(client)  # the client goes on


async def test_streaming_checks_its_settings_at_the_call(client: Client, emu: Emulator) -> None:
    with pytest.raises(ValidationError, match="format"):
        client.synthesize_stream(voice_id=SYSTEM_VOICE, text="Hi.", format="wav")
    with pytest.raises(ValidationError, match="speed"):
        client.synthesize_stream(voice_id=SYSTEM_VOICE, text="Hi.", speed=9)
    assert emu.requests == []


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (b"data: " + b"00" * (3 * 1024 * 1024), "event too long"),
        (
            b'data: {"data": {"audio": "00", "status": 1}, "base_resp": {"status_code": 0}}\n\n'
            b'data: {"base_resp": {"status_code": 1026, "status_msg": "x"}}\n\n',
            "1026",
        ),
        (
            b'data: {"data": {"audio": "zz", "status": 1}, "base_resp": {"status_code": 0}}\n\n',
            "not hex",
        ),
        (
            b'data: {"data": {"audio": "00", "status": 1}, "base_resp": {"status_code": 0}}\n\n',
            "ended before its last event",
        ),
    ],
    ids=["endless event", "an error mid-stream", "not hex", "no last event"],
)
async def test_hostile_streams_end_in_typed_errors(
    client: Client, emu: Emulator, body: bytes, error: str
) -> None:
    # As often as the client may try: some of these are retried (before any audio).
    emu.inject(Fault.respond(body, content_type="text/event-stream"), endpoint="t2a_v2", times=20)
    stream = client.synthesize_stream(voice_id=SYSTEM_VOICE, text="Hello.")
    with pytest.raises(voiceclone.VoiceCloneError, match=error):
        await drain(stream, [])


# -- clone_jobs(activate=True) --------------------------------------------------------


async def test_a_batch_can_keep_each_voice_it_clones(
    client: Client, emu: Emulator, tmp_path: Path
) -> None:
    for i in range(3):
        (tmp_path / f"v{i}.wav").write_bytes(make_wav(11.0, seed=i))
    jobs = [voiceclone.CloneJob(f"KeptVoice{i}x", tmp_path / f"v{i}.wav") for i in range(3)]
    journal = tmp_path / "kept.journal.jsonl"
    outcomes = [o async for o in client.clone_jobs(jobs, journal=journal, activate=True)]
    assert all(o.ok for o in outcomes)
    assert all(o.result is not None and o.result.activated_at is not None for o in outcomes)
    assert {v.voice_id for v in await client.list_voices()} == {j.voice_id for j in jobs}
    speech = [r for r in emu.requests if r.endpoint == "t2a_v2"]
    assert sorted(r.json["voice_setting"]["voice_id"] for r in speech) == sorted(
        j.voice_id for j in jobs
    )
    events = [json.loads(line) for line in journal.read_text().splitlines()]
    assert sorted(e["voice_id"] for e in events if e["event"] == "activated") == sorted(
        j.voice_id for j in jobs
    )
    # A re-run reports them from the journal, activated, and sends nothing.
    sent = len(emu.requests)
    again = [o async for o in client.clone_jobs(jobs, journal=journal, activate=True)]
    assert all(o.resumed and o.result and o.result.activated_at for o in again)
    assert len(emu.requests) == sent


async def test_a_voice_not_kept_is_still_cloned_and_said(
    client: Client, emu: Emulator, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "v.wav").write_bytes(make_wav(11.0))
    emu.inject(Fault.status(1008), endpoint="t2a_v2", times=10)  # no balance for speech
    job = voiceclone.CloneJob("NotKept001", tmp_path / "v.wav")
    (outcome,) = [o async for o in client.clone_jobs([job], activate=True)]
    assert outcome.ok
    assert outcome.result is not None
    assert outcome.result.activated_at is None
    assert "NotKept001 cloned but not activated (InsufficientBalanceError)" in caplog.text


async def test_system_voices_are_spoken_whatever_their_names(client: Client, emu: Emulator) -> None:
    speech = await client.synthesize(voice_id="Chinese (Mandarin)_News_Anchor", text="你好。")
    assert speech.audio


async def test_what_was_checked_is_what_is_sent(client: Client, emu: Emulator) -> None:
    weights = [{"voice_id": SYSTEM_VOICE, "weight": 40}]
    stream = client.synthesize_stream(text="Mixed.", timbre_weights=weights)
    weights[0]["weight"] = 1000  # changed after the check: not what goes out
    _ = [chunk async for chunk in stream]
    assert emu.requests[-1].json["timbre_weights"] == [{"voice_id": SYSTEM_VOICE, "weight": 40}]


async def test_a_stream_that_fails_gives_its_connection_back(emu: Emulator) -> None:
    bad = b'data: {"data": {"audio": "00", "status": 1}, "base_resp": {"status_code": 0}}\n\n'
    bad += b'data: {"data": {"audio": "zz", "status": 1}, "base_resp": {"status_code": 0}}\n\n'
    emu.inject(Fault.respond(bad, content_type="text/event-stream"), endpoint="t2a_v2")
    # One connection in the pool: a stream that kept it would stall the next call.
    async with (
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1)) as session,
        new_client(emu.base_url, session=session, timeout=2.0) as client,
    ):
        stream = client.synthesize_stream(voice_id=SYSTEM_VOICE, text="Hello.")
        with pytest.raises(voiceclone.ResponseFormatError, match="not hex"):
            await drain(stream, [])
        assert (await client.synthesize(voice_id=SYSTEM_VOICE, text="Next.")).audio

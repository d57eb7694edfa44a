"""The API key never shows in a repr, an error, a traceback, a hook event or a log line."""

from __future__ import annotations

import logging
import traceback
from pathlib import Path

import pytest
from conftest import KEY, new_client, respond

from voiceclone import (
    Client,
    ConfigurationError,
    RetryPolicy,
    ValidationError,
    VoiceCloneError,
)
from voiceclone._samples import make_wav
from voiceclone.emulator import Emulator, Fault

VOICE = "Narrator001"


def assert_clean(text: str) -> None:
    assert KEY not in text
    assert "S3CRETKEY" not in text
    assert "Bearer" not in text


def test_key_not_in_client_repr() -> None:
    client = Client(api_key=KEY, base_url="https://gw.example/minimax/v1")
    assert_clean(repr(client))
    assert_clean(str(client))
    assert_clean(str(vars(client).keys()))


async def test_key_absent_from_errors_events_and_debug_logs(
    emu: Emulator, wav_path: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="voiceclone")
    errors: list[BaseException] = []
    events: list[object] = []
    async with new_client(
        emu.base_url, on_retry=events.append, on_response=events.append
    ) as client:
        up = await client.upload_file(wav_path)
        # Failures of every kind, retried and final.
        emu.inject(Fault.drop_after())
        emu.inject(Fault.rate_limit())
        emu.inject(Fault.garbage())
        emu.inject(Fault.http(502))
        emu.inject(respond({"base_resp": {"status_code": 1000}}, headers={"Retry-After": "0"}))
        result = await client.clone(
            file_id=up.file_id, voice_id=VOICE, text="Hi.", model="speech-01-hd"
        )
        assert result.recovered
        for fault in (Fault.status(2013), Fault.http(401), Fault.status(2039)):
            emu.inject(fault)
            try:
                await client.clone(file_id=up.file_id, voice_id="Narrator002")
            except VoiceCloneError as exc:
                errors.append(exc)
        emu.inject(Fault.drop_before(), endpoint="get_voice", times=10)
        with pytest.raises(VoiceCloneError) as dropped:
            await client.list_voices()
        errors.append(dropped.value)
        with pytest.raises(ValidationError) as invalid:
            await client.upload_file(tmp_path / "nowhere.wav")
        errors.append(invalid.value)
        with pytest.raises(VoiceCloneError) as missing:
            await client.download_demo(emu.origin + "/previews/none.wav", tmp_path / "p.wav")
        errors.append(missing.value)
    async with new_client(emu.base_url, api_key=KEY + "x", retry=RetryPolicy(attempts=1)) as bad:
        with pytest.raises(VoiceCloneError) as refused:
            await bad.upload_file(make_wav(12.0))
        errors.append(refused.value)
    async with Emulator(api_key=KEY) as gone:
        closed_port = gone.base_url
    async with new_client(
        closed_port, retry=RetryPolicy(attempts=2, wait_initial=0.001, wait_jitter=0)
    ) as c:
        with pytest.raises(VoiceCloneError) as unreachable:
            await c.list_voices()
        errors.append(unreachable.value)
    with pytest.raises(ConfigurationError) as config:
        Client(api_key=KEY + "\nX: y")
    errors.append(config.value)

    assert len(errors) == 9
    for err in errors:
        assert_clean(str(err))
        assert_clean(repr(err))
        assert_clean("".join(traceback.format_exception(err)))
        assert_clean(repr(err.__context__) + repr(err.__cause__))
    assert len(events) > 10
    for event in events:
        assert_clean(repr(event))
    records = [r for r in caplog.records if r.name.startswith("voiceclone")]
    assert any(r.levelno == logging.DEBUG for r in records)
    assert any("retrying" in r.getMessage() for r in records)
    assert any("recovered" in r.getMessage() for r in records)
    for record in records:
        assert_clean(record.getMessage())
        assert_clean(repr(record.args))
    assert_clean(caplog.text)
    for recorded in emu.requests:
        assert_clean(str(recorded))

"""Type-checked only (``mypy --strict tests/typing``), never run or collected by pytest.

Exercises the public API as users write it, so a change to an annotation that
would break their type checking fails CI.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp

import voiceclone
from voiceclone.emulator import Emulator, Fault, Faults
from voiceclone.testing import FAST_RETRY, TEST_API_KEY, client_for, sample_wav


async def requests_from(file_id: int) -> AsyncIterator[voiceclone.CloneRequest]:
    for i in range(3):
        yield voiceclone.CloneRequest(file_id, f"Typed{i:04d}")


def on_retry(event: voiceclone.RetryEvent) -> None:
    attempt: int = event.attempt
    wait: float = event.wait
    error: voiceclone.VoiceCloneError = event.error
    voice_id: str | None = event.voice_id
    path: str = event.path
    print(attempt, wait, error, voice_id, path)


def on_response(event: voiceclone.ResponseEvent) -> None:
    http_status: int | None = event.http_status
    status_code: int | None = event.status_code
    trace_id: str | None = event.trace_id
    elapsed: float = event.elapsed
    method: str = event.method
    print(http_status, status_code, trace_id, elapsed, method, event.attempt, event.voice_id)


async def client_usage(session: aiohttp.ClientSession) -> None:
    policy = voiceclone.RetryPolicy(
        attempts=3, timeout=60.0, wait_initial=0.5, wait_max=5.0, wait_jitter=0.1, budget=None
    )
    backoff: float = policy.backoff(1)
    async with voiceclone.Client(
        api_key="key",
        base_url="https://api.minimax.io/v1",
        max_in_flight=4,
        requests_per_minute=None,
        retry=policy,
        timeout=30.0,
        session=session,
        on_retry=on_retry,
        on_response=on_response,
    ) as client:
        base_url: str = client.base_url
        stats: voiceclone.GateStats = client.rate_stats
        pace: float = stats.requests_per_minute
        limited: int = stats.rate_limited + stats.cooldowns

        up: voiceclone.UploadedFile = await client.upload_file("narrator.wav")
        from_bytes = await client.upload_file(b"...", purpose="prompt_audio", filename="p.wav")
        from_path = await client.upload_file(Path("narrator.wav"))
        file_id: int = up.file_id
        size: int | None = from_bytes.bytes
        created: dt.datetime | None = from_path.created_at

        result: voiceclone.CloneResult = await client.clone(
            file_id=file_id,
            voice_id="Narrator001",
            clone_prompt={"prompt_audio": from_bytes.file_id, "prompt_text": "Hi."},
            text="Hello.",
            model="speech-2.8-hd",
            need_noise_reduction=True,
        )
        request = voiceclone.CloneRequest(
            file_id,
            "Narrator002",
            clone_prompt=voiceclone.ClonePrompt(from_bytes.file_id, "Hi."),
            text="Hello.",
            model="speech-02-hd",
            language_boost="English",
            text_validation="Hello.",
            accuracy=0.8,
            need_volume_normalization=False,
            aigc_watermark=True,
        )
        again: voiceclone.CloneResult = await client.clone(request)
        # A model released after this SDK is still a model (a str); the known ones are
        # a Literal an editor can offer.
        newer: str = "speech-3.0-hd"
        known: voiceclone.SpeechModel = "speech-2.8-turbo"
        purpose: voiceclone.FilePurpose = "prompt_audio"
        voiceclone.CloneRequest(file_id, "Narrator003", text="Hi.", model=newer)
        voiceclone.CloneRequest(file_id, "Narrator004", text="Hi.", model=known)
        await client.upload_file(b"...", purpose=purpose)
        body: dict[str, object] = dict(request.to_json())
        demo: str | None = result.demo_audio
        sensitive: bool = result.input_sensitive
        kind: voiceclone.SensitiveType = result.input_sensitive_type
        flagged: bool = kind is not voiceclone.SensitiveType.NORMAL
        info: voiceclone.PreviewInfo | None = result.extra_info
        billed: int | None = info.usage_characters if info else None
        expires: dt.datetime = result.expires_at
        recovered: bool = again.recovered
        attempts: int = again.attempts
        saved: Path = await client.download_demo(result, "preview.audio")

        outcomes: list[voiceclone.CloneOutcome] = await client.clone_all([request])
        async for outcome in client.clone_many(requests_from(file_id), max_in_flight=2):
            ok: bool = outcome.ok
            index: int = outcome.index
            done: voiceclone.CloneResult | None = outcome.result
            failed: voiceclone.VoiceCloneError | None = outcome.error
            item: voiceclone.CloneRequest | voiceclone.CloneJob = outcome.request
            print(ok, index, done, failed, item)

        jobs = [
            voiceclone.CloneJob("Reader0001", "a.wav"),
            voiceclone.CloneJob(
                "Reader0002",
                Path("b.wav"),
                prompt_audio=os.path.join("clips", "b.wav"),
                prompt_text="Hi.",
                text="Hello.",
                model="speech-2.8-turbo",
            ),
        ]
        async for outcome in client.clone_jobs(jobs, journal=Path("clones.jsonl")):
            resumed: bool = outcome.resumed
            print(resumed)

        voices: list[voiceclone.Voice] = await client.list_voices("all")
        names: list[str] = [v.voice_id for v in voices]
        await client.delete_voice("Narrator001")
        print(base_url, pace, limited, backoff, size, created, body, demo, sensitive)
        print(flagged, billed, expires, recovered, attempts, saved, outcomes, names)
    await client.aclose()


def error_attributes(exc: voiceclone.VoiceCloneError) -> None:
    code: int | None = exc.status_code
    msg: str | None = exc.status_msg
    trace: str | None = exc.trace_id
    retry_after: float | None = exc.retry_after
    message: str = exc.message
    if isinstance(exc, voiceclone.ValidationError):
        field: str = exc.field
        problem: str = exc.problem
        problems: list[voiceclone.ValidationError] = exc.problems
        as_value_error: ValueError = exc
        print(field, problem, problems, as_value_error)
    if isinstance(exc, voiceclone.APIError):
        api_code: int | None = exc.status_code
        http_status: int | None = exc.http_status
        print(api_code, http_status)
    if isinstance(exc, voiceclone.TransportError):
        sent: bool = exc.request_sent
        retryable: bool = exc.retryable
        print(sent, retryable)
    if isinstance(exc, voiceclone.TimeoutError):
        builtin: TimeoutError = exc
        print(builtin)
    print(code, msg, trace, retry_after, message)


def error_tree() -> list[type[voiceclone.VoiceCloneError]]:
    api: list[type[voiceclone.APIError]] = [
        voiceclone.RateLimitError,
        voiceclone.AuthenticationError,
        voiceclone.InsufficientBalanceError,
        voiceclone.SensitiveContentError,
        voiceclone.InvalidParameterError,
        voiceclone.AudioError,
        voiceclone.PermissionDeniedError,
        voiceclone.VoiceIdConflictError,
        voiceclone.QuotaExceededError,
        voiceclone.ServerError,
    ]
    transport: type[voiceclone.TransportError] = voiceclone.TimeoutError
    return [
        *api,
        transport,
        voiceclone.ConfigurationError,
        voiceclone.ValidationError,
        voiceclone.VoiceCloneError,
    ]


async def emulator_usage() -> None:
    faults = Faults(http_5xx=0.1, drop_after=0.05, seed=3, endpoints=("voice_clone",))
    async with Emulator(TEST_API_KEY, rpm=60, faults=faults, latency=0.01) as emulator:
        emulator.inject(Fault.drop_after())
        emulator.inject(Fault.status(1002), endpoint="files/upload", times=2)
        emulator.inject(Fault.http(503))
        base_url: str = emulator.base_url
        async with client_for(emulator, retry=FAST_RETRY) as client:
            up = await client.upload_file(sample_wav(12.0, pitch_hz=150.0, seed=2))
            await client.clone(file_id=up.file_id, voice_id="Emulated01")
        account = emulator.account()
        cloned: bool = "Emulated01" in account.voices
        rate_limited: int = emulator.stats.rate_limited
        print(base_url, cloned, rate_limited, len(emulator.requests))


version: str = voiceclone.__version__


async def many_workers(jobs: list[voiceclone.CloneJob]) -> None:
    import redis.asyncio

    borrowed = redis.asyncio.Redis.from_url("redis://cache:6379/0")
    async with (
        voiceclone.Client(redis="redis://cache:6379/0", fallback="local") as by_url,
        voiceclone.Client(redis=borrowed, fallback="fail") as by_client,
    ):
        gate: str = by_url.rate_stats.gate
        journal = voiceclone.RedisJournal(borrowed, "spring", lease=30.0, outage=60.0)
        batch = by_client.clone_jobs(jobs, journal=journal, retry_failed=True)
        async for outcome in batch:
            resumed: bool = outcome.resumed
            print(gate, resumed)
        state = await journal.summary(by_client)
        done: frozenset[str] = state.done
        failed: dict[str, str] = state.failed
        final: frozenset[str] = state.final
        account: str = by_client.account_id
        print(done, failed, final, account, journal.name, journal.lease, journal.outage)
        await journal.aclose()
    try:
        await by_url.clone(file_id=1, voice_id="Typed0001")
    except voiceclone.RateGateUnavailableError as exc:
        print(exc.message)
    await borrowed.aclose()

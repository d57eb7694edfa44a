"""Batches against the emulator: the shared gate end to end, lazy fan-out, outcomes, clone_jobs."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import signal
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import voiceclone
from voiceclone import (
    CloneJob,
    CloneRequest,
    ResponseEvent,
    SensitiveContentError,
    ValidationError,
    VoiceIdConflictError,
)
from voiceclone._samples import make_wav
from voiceclone.emulator import Emulator, Fault
from voiceclone.testing import FAST_RETRY

KEY = "batch-test-key"


def client_for(emu: Emulator, **kwargs: Any) -> voiceclone.Client:
    kwargs.setdefault("requests_per_minute", 1_000_000)
    kwargs.setdefault("retry", FAST_RETRY)
    kwargs.setdefault("timeout", 5.0)
    return voiceclone.Client(KEY, emu.base_url, **kwargs)


@contextlib.asynccontextmanager
async def emulator(**kwargs: Any) -> Any:
    kwargs.setdefault("rpm", None)
    async with Emulator(KEY, **kwargs) as emu:
        yield emu


async def uploaded(client: voiceclone.Client) -> int:
    return (await client.upload_file(make_wav(11.0))).file_id


def requests(file_id: int, count: int, prefix: str = "Voice") -> Iterator[CloneRequest]:
    return (CloneRequest(file_id, f"{prefix}{i:05d}x") for i in range(count))


class Sends:
    """When each voice_clone attempt left the client (loop time), from the response hook."""

    def __init__(self) -> None:
        self.events: list[tuple[float, ResponseEvent]] = []

    def __call__(self, event: ResponseEvent) -> None:
        if event.path == "/voice_clone":
            sent = asyncio.get_running_loop().time() - event.elapsed
            self.events.append((sent, event))


# -- the shared rate gate, end to end ----------------------------------------------------


async def test_a_1002_storm_is_one_shared_cooldown_and_paced_retries() -> None:
    sends = Sends()
    # 6000 per minute: five requests leave 10 ms apart, all before the first answer
    # (which takes 300 ms: a machine busy elsewhere still sends all five first).
    async with (
        emulator(latency=0.3) as emu,
        client_for(emu, requests_per_minute=6000, on_response=sends) as client,
    ):
        file_id = await uploaded(client)
        emu.inject(Fault.status(1002), times=5)
        outcomes = await client.clone_all(requests(file_id, 5))
        stats = client.rate_stats
    assert all(o.ok for o in outcomes)
    first = sorted(t for t, e in sends.events if e.attempt == 1)
    retries = sorted(t for t, e in sends.events if e.attempt == 2)
    first_answer = min(t + e.elapsed for t, e in sends.events if e.attempt == 1)
    assert max(first) < first_answer  # the premise: all five were in flight together
    assert stats.rate_limited == 5
    assert stats.cooldowns == 1  # one cooldown for the storm, not five backoffs
    assert [r.fault for r in emu.requests if r.endpoint == "voice_clone"][:5] == ["status"] * 5
    assert len(retries) == 5
    assert min(retries) >= first_answer  # nobody retried before the storm was answered
    # The retries come back one lowered interval apart (rate halved: 20 ms), not as a herd.
    assert min(b - a for a, b in itertools.pairwise(retries)) >= 0.015


async def test_pacing_has_no_initial_burst() -> None:
    sends = Sends()
    async with emulator() as emu, client_for(emu, requests_per_minute=3000, on_response=sends) as c:
        await c.clone_all(requests(await uploaded(c), 10))
    times = sorted(t for t, _ in sends.events)
    gaps = [b - a for a, b in itertools.pairwise(times)]
    # 20 ms apart from the very first request. A burst sends them together (gaps near
    # zero); a starved process may see one departure late and the next on time, so
    # the floor is a quarter interval, and the whole span holds the pace.
    assert min(gaps) >= 0.25 * 0.02
    assert times[-1] - times[0] >= 9 * 0.02 * 0.95


async def test_told_nothing_the_client_finds_the_servers_limit() -> None:
    # A limit far below what even a busy machine sends (30/s), so the server, not the
    # machine's speed, is what the client has to find.
    async with (
        emulator(rpm=1800, burst=5, latency=0.01) as emu,
        client_for(emu, requests_per_minute=None) as client,
    ):
        outcomes = await client.clone_all(requests(await uploaded(client), 90))
        stats = client.rate_stats
    assert all(o.ok for o in outcomes)
    assert emu.stats.rate_limited == stats.rate_limited > 0  # it had to find the limit
    assert stats.rate_limited / len(outcomes) <= 0.3
    assert 0.7 * 1800 <= stats.requests_per_minute <= 1.3 * 1800


# -- clone_many / clone_all --------------------------------------------------------------


async def test_a_huge_generator_is_consumed_lazily() -> None:
    pulled = 0

    def endless(file_id: int) -> Iterator[CloneRequest]:
        nonlocal pulled
        for i in range(10**6):
            pulled += 1
            yield CloneRequest(file_id, f"Lazy{i:07d}x")

    async with emulator() as emu, client_for(emu) as client:
        stream = client.clone_many(endless(await uploaded(client)), max_in_flight=4)
        seen = 0
        async with contextlib.aclosing(stream):  # type: ignore[type-var]
            async for _ in stream:
                seen += 1
                if seen == 20:
                    break
    assert 20 <= pulled <= 20 + 4
    assert emu.stats.requests["voice_clone"] <= 24


async def test_async_iterables_are_accepted() -> None:
    async def source(file_id: int) -> Any:
        for request in requests(file_id, 6):
            await asyncio.sleep(0)
            yield request

    async with emulator() as emu, client_for(emu) as client:
        outcomes = await client.clone_all(source(await uploaded(client)), max_in_flight=3)
    assert [o.index for o in outcomes] == list(range(6))
    assert all(o.ok for o in outcomes)


async def test_per_item_errors_are_outcomes_and_the_batch_goes_on() -> None:
    async with emulator() as emu, client_for(emu, max_in_flight=1) as client:
        file_id = await uploaded(client)
        batch = [
            CloneRequest(file_id, "Good000001x"),
            CloneRequest(file_id, "Flagged001x", text="This is FLAGGED.", model="speech-2.8-hd"),
            CloneRequest(file_id, "Good000001x"),  # the same voice id again: 2039
            CloneRequest(file_id, "Good000002x"),
        ]
        outcomes = await client.clone_all(batch)
    assert [o.ok for o in outcomes] == [True, False, False, True]
    assert isinstance(outcomes[1].error, SensitiveContentError)
    assert isinstance(outcomes[2].error, VoiceIdConflictError)
    assert outcomes[2].result is None
    assert outcomes[2].error.trace_id is not None


async def test_a_non_request_item_is_an_outcome_not_a_crash() -> None:
    async with emulator() as emu, client_for(emu) as client:
        file_id = await uploaded(client)
        outcomes = await client.clone_all([CloneRequest(file_id, "Valid00001x"), "nope"])  # type: ignore[list-item]
    assert outcomes[0].ok
    assert isinstance(outcomes[1].error, ValidationError)


async def test_clone_all_keeps_input_order_though_answers_arrive_out_of_order() -> None:
    async with emulator() as emu, client_for(emu, max_in_flight=4) as client:
        file_id = await uploaded(client)
        emu.inject(Fault.latency(0.2))  # the first request answers last
        streamed = [o.index async for o in client.clone_many(requests(file_id, 4, "Stream"))]
        emu.inject(Fault.latency(0.2))
        outcomes = await client.clone_all(requests(file_id, 4, "Sorted"))
    assert streamed[-1] == 0  # clone_many yields as each finishes
    assert [o.index for o in outcomes] == [0, 1, 2, 3]
    assert [o.request.voice_id for o in outcomes] == [f"Sorted{i:05d}x" for i in range(4)]


def _batch_tasks() -> list[asyncio.Task[Any]]:
    here = {str(Path(voiceclone.__file__).parent / name) for name in ("_batch.py", "_client.py")}
    return [
        t
        for t in asyncio.all_tasks()
        if not t.done()
        and getattr(t.get_coro(), "cr_code", None) is not None
        and t.get_coro().cr_code.co_filename in here  # type: ignore[union-attr]
    ]


async def test_cancelling_the_consumer_cancels_the_calls_in_flight() -> None:
    async with emulator() as emu, client_for(emu, max_in_flight=4) as client:
        file_id = await uploaded(client)
        emu.inject(Fault.latency(5.0), times=100)
        fourth_pulled = asyncio.Event()

        def source() -> Iterator[CloneRequest]:
            for i, request in enumerate(requests(file_id, 100)):
                if i == 3:
                    fourth_pulled.set()
                yield request

        async def consume() -> None:
            async for _ in client.clone_many(source()):
                pass  # pragma: no cover - nothing finishes before the cancel

        consumer = asyncio.ensure_future(consume())
        await fourth_pulled.wait()
        assert len(_batch_tasks()) >= 4  # four calls are under way
        consumer.cancel()
        with pytest.raises(asyncio.CancelledError):
            await consumer
        assert _batch_tasks() == []  # no call outlives the batch


async def test_leaving_the_loop_early_inside_aclosing_stops_every_call() -> None:
    async with emulator() as emu, client_for(emu, max_in_flight=4) as client:
        file_id = await uploaded(client)
        emu.inject(Fault.latency(0.0))  # one quick clone, then slow ones
        emu.inject(Fault.latency(5.0), times=100)
        stream = client.clone_many(requests(file_id, 100))
        async with contextlib.aclosing(stream):  # type: ignore[type-var]
            async for outcome in stream:
                assert outcome.ok
                break
        assert _batch_tasks() == []


async def test_a_bad_max_in_flight_is_refused() -> None:
    async with emulator() as emu, client_for(emu) as client:
        with pytest.raises(ValidationError, match="max_in_flight"):
            await client.clone_all([], max_in_flight=0)


# -- clone_jobs ----------------------------------------------------------------------------


@pytest.fixture
def audio_dir(tmp_path: Path) -> Path:
    sample = make_wav(11.0)
    for i in range(12):
        (tmp_path / f"voice{i}.wav").write_bytes(sample)
    (tmp_path / "short.wav").write_bytes(make_wav(3.0))
    return tmp_path


async def test_a_clone_retry_never_uploads_again(audio_dir: Path) -> None:
    async with emulator() as emu, client_for(emu) as client:
        emu.inject(Fault.drop_after())  # the voice is created, the answer lost
        outcomes = [
            o async for o in client.clone_jobs([CloneJob("Dropped01x", audio_dir / "voice0.wav")])
        ]
    result = outcomes[0].result
    assert result is not None
    assert result.recovered  # the retry's 2039 means the first attempt made it
    assert emu.stats.requests["files/upload"] == 1
    assert emu.stats.requests["voice_clone"] == 2
    assert emu.account().clone_successes["Dropped01x"] == 1


async def test_every_job_is_checked_before_any_request(audio_dir: Path) -> None:
    jobs = [CloneJob(f"Checked{i:03d}x", audio_dir / f"voice{i}.wav") for i in range(5)]
    jobs.append(CloneJob("TooShort01x", audio_dir / "short.wav"))
    jobs.append(CloneJob("Checked001x", audio_dir / "voice6.wav"))  # a repeated voice id
    async with emulator() as emu, client_for(emu) as client:
        with pytest.raises(ValidationError) as caught:
            async for _ in client.clone_jobs(jobs):
                pass  # pragma: no cover
    assert sum(emu.stats.requests.values()) == 0
    fields = [p.field for p in caught.value.problems]  # type: ignore[attr-defined]
    assert "jobs[5].audio" in fields
    assert "jobs[6].voice_id" in fields


async def test_a_journal_makes_a_rerun_skip_finished_jobs(audio_dir: Path, tmp_path: Path) -> None:
    journal = tmp_path / "run.jsonl"
    jobs = [CloneJob(f"Journal{i:03d}x", audio_dir / f"voice{i}.wav") for i in range(4)]
    async with emulator() as emu, client_for(emu) as client:
        first = [o async for o in client.clone_jobs(jobs, journal=journal)]
        requests_after_first = sum(emu.stats.requests.values())
        again = [o async for o in client.clone_jobs(jobs, journal=journal)]
    assert all(o.ok and not o.resumed for o in first)
    assert all(o.ok and o.resumed for o in again)
    assert sorted(o.index for o in again) == [0, 1, 2, 3]
    assert sum(emu.stats.requests.values()) == requests_after_first  # nothing was sent
    assert KEY not in journal.read_text()


async def _run_worker(
    emu: Emulator, journal: Path, audio_dir: Path, count: int, kill_after: int | None
) -> list[str]:
    worker = Path(__file__).with_name("journal_worker.py")
    process = await asyncio.create_subprocess_exec(
        sys.executable, str(worker), emu.base_url, KEY, str(journal), str(audio_dir), str(count),
        stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert process.stdout is not None
    lines: list[str] = []
    try:
        while True:
            line = await asyncio.wait_for(process.stdout.readline(), 20.0)
            if not line:
                break
            lines.append(line.decode().strip())
            if kill_after is not None and len(lines) == kill_after:
                os.kill(process.pid, signal.SIGKILL)
                break
    finally:
        await process.wait()
    return lines


async def test_a_batch_killed_mid_way_resumes_without_loss_or_duplicates(
    audio_dir: Path, tmp_path: Path
) -> None:
    journal = tmp_path / "killed.jsonl"
    count = 12
    # Answers take 50 ms, so when the worker is killed other clones are on the wire.
    async with emulator(latency=0.05) as emu:
        first = await _run_worker(emu, journal, audio_dir, count, kill_after=3)
        assert len(first) == 3
        sent_before_kill = sum(r.endpoint == "voice_clone" for r in emu.requests)
        with journal.open("a") as torn:  # a record cut short by the kill
            torn.write('{"event":"ok","voice_id":"Resum')
        second = await _run_worker(emu, journal, audio_dir, count, kill_after=None)
        account = emu.account()
    expected = {f"Resumed{i:04d}x" for i in range(count)}
    assert sent_before_kill > 3  # some clones were on the wire when it died
    assert set(account.voices) == expected  # every voice exists
    assert set(account.clone_successes) == expected
    assert all(n == 1 for n in account.clone_successes.values())  # and was created once
    states = dict(line.split() for line in second)
    assert set(states) == expected
    assert "failed" not in states.values()
    assert sum(s == "resumed" for s in states.values()) >= 3


async def test_two_requests_for_one_voice_never_run_at_once() -> None:
    async with emulator() as emu, client_for(emu) as client:
        first, second = await uploaded(client), await uploaded(client)
        # The first request's answer is lost after the voice was created; were the
        # second running alongside, its 2039 would pass for a recovery of its audio.
        emu.inject(Fault.drop_after(), voice_id="Dupvoice01")
        batch = [CloneRequest(first, "Dupvoice01"), CloneRequest(second, "Dupvoice01")]
        outcomes = await client.clone_all(batch, max_in_flight=2)
    assert outcomes[0].ok
    assert outcomes[0].result is not None
    assert outcomes[0].result.recovered
    assert isinstance(outcomes[1].error, ValidationError)
    assert outcomes[1].error.field == "requests[1].voice_id"
    assert emu.account().voices["Dupvoice01"].file_id == first
    assert emu.account().clone_requests["Dupvoice01"] == 2  # both from request 0


async def test_a_resumed_batch_does_not_take_an_existing_voice_for_its_own(
    tmp_path: Path,
) -> None:
    sample = tmp_path / "sample.wav"
    sample.write_bytes(make_wav(11.0))
    journal = tmp_path / "journal.jsonl"
    job = CloneJob("Existing01", sample)
    async with emulator() as emu, client_for(emu) as client:
        # The id is taken before the batch ever runs.
        await client.clone(file_id=await uploaded(client), voice_id="Existing01")
        for _ in range(2):  # the first run, then a re-run with the same journal
            outcomes = [o async for o in client.clone_jobs([job], journal=journal)]
            assert isinstance(outcomes[0].error, VoiceIdConflictError)
    assert emu.account().clone_successes["Existing01"] == 1

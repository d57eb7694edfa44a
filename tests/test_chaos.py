"""Chaos batches: hundreds of voices with every fault on at once, nothing lost or doubled.

The emulator draws a fault for every upload and clone request from a seeded
generator (HTTP 5xx, connections dropped before and after the voice is created,
garbage bodies, answers slower than the client's timeout, rate limits), and on
top of that two 1002 storms hit the batch mid-way. The emulator's own books then
decide: every voice exists exactly once, and every outcome says it does (``ok``,
and ``recovered`` where an attempt created the voice but its answer was lost).

Each run prints a summary line (``pytest -s``). A failure names its seed; replay it
with ``CHAOS_SEEDS=<seed> pytest tests/test_chaos.py``.

Why this client configuration:

* ``attempts=40`` and ``budget=None``: a quarter to a third of all requests fail
  here, far above any real outage, so six attempts would give up on a few voices
  per run, and the client-wide retry budget (meant to stop retries multiplying
  traffic during an outage) would rightly stop retrying. Both are turned off to
  test what this file is about: that retries never lose or duplicate a voice.
* ``timeout=0.8`` per attempt with ``slow_seconds=2.0``: slow answers always run
  past the timeout, after the voice was created, while a 400 KB upload among 32 in
  flight on a busy two-core machine still fits in it (at 0.3 s it did not, and
  the batch's own congestion timed uploads out until their budget ran out).
* ``requests_per_minute=60000``: the pace is not under test; the rate gate still
  sees every 1002 and cools down.
"""

from __future__ import annotations

import collections
import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from voiceclone import (
    Client,
    CloneJob,
    CloneOutcome,
    CloneRequest,
    ResponseEvent,
    RetryEvent,
    RetryPolicy,
)
from voiceclone.emulator import Emulator, Fault, Faults
from voiceclone.testing import TEST_API_KEY, sample_wav

VOICES = 300
SEEDS = [int(s) for s in os.environ.get("CHAOS_SEEDS", "").split(",") if s.strip()]
CHAOS_RETRY = RetryPolicy(
    attempts=40, timeout=30.0, wait_initial=0.002, wait_max=0.02, wait_jitter=0.002, budget=None
)
# Emulator latency, so that a storm meets a batch with requests in flight.
LATENCY = 0.04


def chaos(seed: int) -> Faults:
    return Faults(
        http_5xx=0.07,
        drop_before=0.05,
        drop_after=0.07,
        garbage=0.05,
        slow=0.05,
        slow_seconds=2.0,
        rate_limit=0.002,
        seed=seed,
    )


class Recorder:
    """Counts what the client saw and starts a 1002 storm at the given clone answers."""

    def __init__(self, emu: Emulator, storms_at: tuple[int, ...]) -> None:
        self.emu = emu
        self.storms_at = storms_at
        self.answered_at: list[float] = []
        self.storm_sizes: list[int] = []
        self.retries: collections.Counter[str] = collections.Counter()

    def on_response(self, event: ResponseEvent) -> None:
        if event.path != "/voice_clone":
            return
        now = time.monotonic()
        self.answered_at.append(now)
        if len(self.answered_at) in self.storms_at:
            # A storm as wide as the traffic in flight: the server's window ran out and the
            # requests arriving before the first 1002 gets back are refused too. Sized by
            # the answers of the last LATENCY seconds, the clone traffic of one round trip.
            recent = sum(1 for t in self.answered_at if now - t <= LATENCY)
            size = max(2, min(16, recent // 2))
            self.storm_sizes.append(size)
            self.emu.inject(Fault.rate_limit(), endpoint="voice_clone", times=size)

    def on_retry(self, event: RetryEvent) -> None:
        self.retries[f"{event.path}:{type(event.error).__name__}"] += 1


def make_client(emu: Emulator, recorder: Recorder) -> Client:
    return Client(
        TEST_API_KEY,
        emu.base_url,
        max_in_flight=32,
        requests_per_minute=60_000,
        retry=CHAOS_RETRY,
        timeout=0.8,
        on_retry=recorder.on_retry,
        on_response=recorder.on_response,
    )


def check_books(
    seed: int,
    emu: Emulator,
    outcomes: list[CloneOutcome],
    voice_ids: list[str],
    voice_of: Callable[[CloneOutcome], str],
) -> tuple[int, int, int]:
    """Assert nothing was lost or doubled; return (recovered, attempts, max attempts)."""
    where = f"seed={seed} (replay: CHAOS_SEEDS={seed})"
    account = emu.account(TEST_API_KEY)
    assert sorted(o.index for o in outcomes) == list(range(len(voice_ids))), where
    failed = [(voice_of(o), repr(o.error)) for o in outcomes if not o.ok]
    assert not failed, f"{where}: {len(failed)} failed, e.g. {failed[:3]}"
    assert set(account.voices) == set(voice_ids), f"{where}: voices lost or extra"
    doubled = {v: n for v, n in account.clone_successes.items() if n != 1}
    assert not doubled, f"{where}: cloned more than once: {doubled}"
    recovered = attempts = most = 0
    for outcome in outcomes:
        result = outcome.result
        assert result is not None, where
        assert result.voice_id == voice_of(outcome), where
        assert 1 <= result.attempts <= CHAOS_RETRY.attempts, where
        attempts += result.attempts
        most = max(most, result.attempts)
        if result.recovered:
            recovered += 1
            # Only a retry can learn that an earlier attempt created the voice.
            assert result.attempts >= 2, f"{where}: {result}"
            assert account.clone_requests[result.voice_id] >= 2, f"{where}: {result}"
            assert result.demo_audio is None, where
    # Each attempt the client counted is a request the server received.
    sent = emu.stats.requests["voice_clone"]
    assert attempts >= sent, f"{where}: {attempts} attempts reported, {sent} received"
    assert recovered > 0, f"{where}: no lost answer was recovered; the test lost its teeth"
    assert emu.stats.faults["drop_after"] + emu.stats.faults["slow"] > 0, where
    return recovered, attempts, most


def summary(
    kind: str,
    seed: int,
    emu: Emulator,
    client: Client,
    recorder: Recorder,
    figures: tuple[int, int, int],
    started: float,
) -> None:
    recovered, attempts, most = figures
    faults = ", ".join(f"{k}={n}" for k, n in sorted(emu.stats.faults.items()))
    print(
        f"\nchaos {kind} seed={seed}: {VOICES} voices, 0 lost, 0 doubled, "
        f"{recovered} recovered; {attempts} clone attempts ({attempts - VOICES} retries, "
        f"at most {most} for one voice; {emu.stats.requests['voice_clone']} received); "
        f"uploads={emu.stats.requests['files/upload']}; "
        f"faults: {faults}; storms={recorder.storm_sizes}; "
        f"1002 seen={client.rate_stats.rate_limited}, cooldowns={client.rate_stats.cooldowns}; "
        f"{time.perf_counter() - started:.1f} s"
    )


@pytest.mark.parametrize("seed", SEEDS or [20240611, 7, 31337])
async def test_clone_all_under_chaos(seed: int) -> None:
    started = time.perf_counter()
    async with Emulator(TEST_API_KEY, rpm=None, faults=chaos(seed), latency=LATENCY) as emu:
        recorder = Recorder(emu, storms_at=(80, 240))
        async with make_client(emu, recorder) as client:
            sample = await client.upload_file(sample_wav(10.5))
            voice_ids = [f"Chaos{seed}x{i:04d}" for i in range(VOICES)]
            requests = [CloneRequest(sample.file_id, v) for v in voice_ids]
            outcomes = await client.clone_all(requests)
            figures = check_books(seed, emu, outcomes, voice_ids, lambda o: o.request.voice_id)
            assert [o.request for o in outcomes] == requests
            summary("clone_all", seed, emu, client, recorder, figures, started)


@pytest.mark.parametrize("seed", SEEDS or [99])
async def test_clone_jobs_under_chaos(seed: int, tmp_path: Path) -> None:
    started = time.perf_counter()
    audio = tmp_path / "sample.wav"
    audio.write_bytes(sample_wav(10.5))
    journal = tmp_path / "journal.jsonl"
    async with Emulator(TEST_API_KEY, rpm=None, faults=chaos(seed), latency=LATENCY) as emu:
        recorder = Recorder(emu, storms_at=(80, 240))
        async with make_client(emu, recorder) as client:
            voice_ids = [f"Jobs{seed}x{i:04d}" for i in range(VOICES)]
            jobs = [CloneJob(v, audio) for v in voice_ids]
            outcomes = [o async for o in client.clone_jobs(jobs, journal=journal)]
            figures = check_books(seed, emu, outcomes, voice_ids, lambda o: o.request.voice_id)
            # Every clone went out with a file this batch uploaded.
            account = emu.account(TEST_API_KEY)
            assert {v.file_id for v in account.voices.values()} <= set(account.files)
            summary("clone_jobs", seed, emu, client, recorder, figures, started)
        # The journal agrees: a re-run has nothing left to do and sends nothing.
        before = sum(emu.stats.requests.values())
        async with make_client(emu, recorder) as client:
            again = [o async for o in client.clone_jobs(jobs, journal=journal)]
        assert all(o.ok and o.resumed for o in again), f"seed={seed}"
        assert sum(emu.stats.requests.values()) == before, f"seed={seed}"

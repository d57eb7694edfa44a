"""SyncClient: the async client behind a blocking facade, against an emulator on its own thread."""

from __future__ import annotations

import asyncio
import gc
import inspect
import os
import select
import signal
import threading
from collections.abc import Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import pytest
from conftest import FAST, KEY, NO_PACING, SAMPLE

import voiceclone
from voiceclone import (
    Client,
    CloneJob,
    CloneRequest,
    ConfigurationError,
    ResponseEvent,
    SyncClient,
    ValidationError,
    VoiceIdConflictError,
)
from voiceclone.emulator import Emulator, Fault

_T = TypeVar("_T")


class EmulatorThread:
    """An emulator serving from its own event loop and thread, as a remote server would."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.emulator = Emulator(KEY, rpm=None)

    def run(self, coroutine: Coroutine[Any, Any, _T]) -> _T:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(10)

    def __enter__(self) -> Emulator:
        self.thread.start()
        self.run(self.emulator.start())
        return self.emulator

    def __exit__(self, *exc: object) -> None:
        self.run(self.emulator.close())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


@pytest.fixture
def emu() -> Iterator[Emulator]:
    with EmulatorThread() as emulator:
        yield emulator


def new_sync(emu: Emulator, **kwargs: Any) -> SyncClient:
    kwargs.setdefault("requests_per_minute", NO_PACING)
    kwargs.setdefault("retry", FAST)
    kwargs.setdefault("timeout", 5.0)
    return SyncClient(api_key=KEY, base_url=emu.base_url, **kwargs)


def loop_thread(client: SyncClient) -> threading.Thread | None:
    return client._runner.thread


def test_every_call_of_a_script(emu: Emulator, tmp_path: Path) -> None:
    sample = tmp_path / "narrator.wav"
    sample.write_bytes(SAMPLE)
    emu.inject(Fault.http(502), endpoint="voice_clone")  # retried on the client's loop
    with new_sync(emu) as client:
        assert loop_thread(client) is None  # started lazily
        up = client.upload_file(sample)
        result = client.clone(
            file_id=up.file_id, voice_id="Narrator001", text="Hi.", model="speech-2.8-hd"
        )
        assert (result.voice_id, result.attempts) == ("Narrator001", 2)
        saved = client.download_demo(result, tmp_path / "preview.wav")
        assert saved.read_bytes()[:4] == b"RIFF"
        emu.activate("Narrator001", KEY)
        assert [v.voice_id for v in client.list_voices()] == ["Narrator001"]
        with pytest.raises(VoiceIdConflictError) as err:
            client.clone(file_id=up.file_id, voice_id="Narrator001")
        assert err.value.status_code == 2039  # the async client's own errors, as they are
        with pytest.raises(ValidationError):
            client.clone(file_id=up.file_id, voice_id="bad id")
        client.delete_voice("Narrator001")
        assert client.list_voices() == []
        assert client.rate_stats.rate_limited == 0
        assert (client.base_url, client.max_in_flight) == (emu.base_url, 8)
        assert KEY not in repr(client)
    assert emu.account(KEY).voices == {}
    assert emu.stats.requests["voice_clone"] == 3  # 502, success, conflict; bad id never sent


def test_batches_return_a_list_and_iterators(emu: Emulator, tmp_path: Path) -> None:
    for name in ("a.wav", "b.wav"):
        (tmp_path / name).write_bytes(SAMPLE)
    jobs = [CloneJob("JobVoice01", tmp_path / "a.wav"), CloneJob("JobVoice02", tmp_path / "b.wav")]
    journal = tmp_path / "clones.jsonl"
    with new_sync(emu) as client:
        up = client.upload_file(SAMPLE)
        requests = [CloneRequest(up.file_id, f"Voice{i:04d}") for i in range(6)]
        outcomes = client.clone_all(requests, max_in_flight=3)
        assert [o.index for o in outcomes] == list(range(6))
        assert all(o.ok for o in outcomes)
        again = list(client.clone_many(requests[:2]))
        assert sorted(type(o.error).__name__ for o in again) == ["VoiceIdConflictError"] * 2
        first = list(client.clone_jobs(jobs, journal=journal))
        rerun = list(client.clone_jobs(jobs, journal=journal))
    assert sorted(o.request.voice_id for o in first if o.ok) == ["JobVoice01", "JobVoice02"]
    assert [o.resumed for o in rerun] == [True, True]
    assert emu.account(KEY).clone_successes["JobVoice01"] == 1


async def test_a_call_from_inside_a_running_event_loop(emu: Emulator) -> None:
    # As in a Jupyter cell: this thread's loop is running and stays blocked while
    # the call waits, so the work must run elsewhere or it would deadlock.
    running = asyncio.get_running_loop()
    threads: list[threading.Thread] = []

    def on_response(event: ResponseEvent) -> None:
        threads.append(threading.current_thread())

    with new_sync(emu, on_response=on_response) as client:
        up = client.upload_file(SAMPLE)
        result = client.clone(file_id=up.file_id, voice_id="Notebook001")
        assert asyncio.get_running_loop() is running
    assert result.voice_id == "Notebook001"
    assert threads
    assert {t.name for t in threads} == {"voiceclone-sync"}
    assert threading.current_thread() not in threads


def test_four_threads_at_once_share_one_loop(emu: Emulator) -> None:
    threads: set[threading.Thread] = set()
    with new_sync(emu, on_response=lambda _: threads.add(threading.current_thread())) as client:
        file_id = client.upload_file(SAMPLE).file_id
        start = threading.Barrier(4)

        def work(worker: int) -> list[str]:
            start.wait(5)
            return [
                client.clone(file_id=file_id, voice_id=f"Thread{worker}Voice{i}").voice_id
                for i in range(5)
            ]

        with ThreadPoolExecutor(4) as pool:
            done = list(pool.map(work, range(4)))
    assert sorted(v for voices in done for v in voices) == sorted(emu.account(KEY).voices)
    assert len(emu.account(KEY).voices) == 20
    assert len(threads) == 1  # one private loop served every thread


def test_close_ends_the_thread_and_later_calls_fail(emu: Emulator) -> None:
    client = new_sync(emu)
    client.list_voices()
    thread = loop_thread(client)
    assert thread is not None
    assert thread.is_alive()
    client.close()
    assert not thread.is_alive()
    client.close()  # idempotent
    with pytest.raises(ConfigurationError, match="closed"):
        client.list_voices()
    with pytest.raises(ConfigurationError, match="closed"):
        client.clone_many([])
    unused = new_sync(emu)
    unused.close()
    assert loop_thread(unused) is None  # closing never started a thread


def test_leaving_a_batch_early_stops_its_calls(emu: Emulator) -> None:
    pulled: list[str] = []
    closed: list[str] = []

    def requests(file_id: int, prefix: str) -> Iterator[CloneRequest]:
        try:
            for i in range(1000):
                pulled.append(prefix)
                yield CloneRequest(file_id, f"{prefix}{i:04d}")
        finally:
            closed.append(prefix)

    with new_sync(emu) as client:
        file_id = client.upload_file(SAMPLE).file_id
        for outcome in client.clone_many(requests(file_id, "Broken"), max_in_flight=2):
            assert outcome.ok
            break
        # The break closed the batch before returning: its calls were cancelled
        # and its input closed (one done, at most two more were under way).
        assert closed == ["Broken"]
        assert pulled.count("Broken") <= 3
        batch = client.clone_many(requests(file_id, "Closed"), max_in_flight=2)
        assert next(batch).ok
        batch.close()
        assert closed == ["Broken", "Closed"]
        assert client.list_voices() == []  # the client goes on working
    assert pulled.count("Closed") <= 3


def test_calling_it_from_its_own_loop_fails_fast(emu: Emulator) -> None:
    errors: list[BaseException] = []
    holder: list[SyncClient] = []

    def on_response(event: ResponseEvent) -> None:
        if event.path == "/get_voice":
            try:
                holder[0].list_voices("system")
            except RuntimeError as exc:
                errors.append(exc)

    with new_sync(emu, on_response=on_response) as client:
        holder.append(client)
        assert client.list_voices() == []  # returns: the hook's call did not deadlock
    assert len(errors) == 1
    assert "own event loop" in str(errors[0])


def test_an_unclosed_client_is_closed_when_collected(emu: Emulator) -> None:
    client = new_sync(emu)
    client.list_voices()
    thread = loop_thread(client)
    assert thread is not None
    del client
    # weakref.finalize ran on the last reference (CPython frees it at once).
    assert not thread.is_alive()


def test_a_client_started_before_a_fork_refuses_in_the_child(emu: Emulator) -> None:
    # Prefork servers (Celery, gunicorn) copy the client but not its thread.
    with new_sync(emu) as client:
        client.list_voices()
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: report, then leave without running any cleanup
            try:
                client.list_voices()
                message = b"no error"
            except ConfigurationError as exc:
                message = str(exc).encode()
            finally:
                os.write(write, message or b"?")
                os._exit(0)
        os.close(write)
        # Bounded only for the failure: a child waiting on a thread it lacks never answers.
        ready, _, _ = select.select([read], [], [], 30.0)
        if not ready:
            os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        with os.fdopen(read, "rb") as pipe:
            answer = pipe.read().decode()
        assert "before a fork" in answer
        assert client.list_voices() == []  # the parent's client is untouched


def test_the_constructor_and_methods_mirror_the_async_client() -> None:
    sync_params = inspect.signature(SyncClient.__init__).parameters
    async_params = dict(inspect.signature(Client.__init__).parameters)
    del async_params["session"]  # an aiohttp session belongs to one event loop
    assert list(sync_params.items()) == list(async_params.items())
    public = {
        name
        for name, member in inspect.getmembers(Client)
        if not name.startswith("_") and name != "aclose"
    }
    for name in public:
        mirrored = getattr(SyncClient, name)
        assert mirrored.__doc__, name
        if callable(mirrored):
            assert (
                inspect.signature(mirrored).parameters
                == inspect.signature(getattr(Client, name)).parameters
            ), name
    with pytest.raises(ConfigurationError):
        SyncClient(api_key="")  # checked at once, in the caller's thread
    assert voiceclone.SyncClient is SyncClient


def test_a_view_outlives_the_client_it_came_from(emu: Emulator) -> None:
    view = new_sync(emu).with_options(timeout=5.0)  # the client itself is dropped at once
    gc.collect()
    assert view.list_voices() == []  # the view keeps its client, and the thread, alive
    view.close()  # a view closes nothing
    assert view.list_voices() == []


def test_the_blocking_client_speaks_and_keeps_a_voice(emu: Emulator) -> None:
    with new_sync(emu) as client:
        speech = client.synthesize(voice_id="English_Graceful_Lady", text="Blocking.", format="pcm")
        assert speech.format == "pcm"
        assert len(speech.audio) == speech.size
        with pytest.raises(voiceclone.VoiceNotFoundError):
            client.activate("NoSuchVoice1")
        text = "Blocking, in chunks. " * 20
        chunks = list(client.synthesize_stream(voice_id="English_Graceful_Lady", text=text))
        assert len(chunks) > 1
        whole = client.synthesize(voice_id="English_Graceful_Lady", text=text)
        assert b"".join(chunks) == whole.audio
        for _chunk in client.synthesize_stream(voice_id="English_Graceful_Lady", text=text):
            break  # leaving early closes the stream; the client goes on
        assert client.synthesize(voice_id="English_Graceful_Lady", text="After.").audio

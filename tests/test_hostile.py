"""Hostile servers and careless callers, each attack built for real on loopback.

Every test here stands for a hole that was once open: a compressed bomb, the key
in a traceback's locals, a batch torn down by ``aclose()``, a raising hook, a
client carried to a second event loop, an upload swapped after validation, a
plaintext key, a certificate failure retried as if it could pass, cookies
carried to a preview host, unbounded server strings, a file id of 0, and a
``Retry-After`` added on top of the gate's own cooldown.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import ssl
import subprocess
import threading
import traceback
import tracemalloc
import warnings
import zlib
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from conftest import KEY, SAMPLE, Hostile, new_client, ok, respond

import voiceclone
from voiceclone import (
    Client,
    CloneRequest,
    ConfigurationError,
    InsecureTransportWarning,
    RateLimitError,
    ResponseEvent,
    ResponseFormatError,
    RetryPolicy,
    TransportError,
    ValidationError,
    VoiceCloneError,
)
from voiceclone._retry import wait_for
from voiceclone.emulator import Emulator, Fault

ONE_TRY = RetryPolicy(attempts=1)
#: Decodes to four times the body cap; about 64 KB on the wire.
BOMB_BYTES = 64 * 1024 * 1024


def gzip_bomb(size: int = BOMB_BYTES) -> bytes:
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)  # 31: a gzip container
    block = b"\0" * (1024 * 1024)
    return b"".join(packer.compress(block) for _ in range(size // len(block))) + packer.flush()


# -- 1. bodies are bounded after decoding ------------------------------------------------


async def test_a_compressed_bomb_is_refused_after_decoding(emu: Emulator, file_id: int) -> None:
    bomb = gzip_bomb()
    assert len(bomb) < 1024 * 1024  # the wire length passes any length check
    bombed = Fault.respond(bomb, headers={"Content-Encoding": "gzip"})
    emu.inject(bombed, endpoint="voice_clone", times=5)
    tracemalloc.start()
    try:
        async with new_client(emu.base_url) as client:  # retries allowed
            with pytest.raises(ResponseFormatError, match="over 16 MiB") as caught:
                await client.clone(file_id=file_id, voice_id="Narrator001")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 40 * 1024 * 1024  # the 64 MiB it inflates to was never held
    # Too large is final: the same request would be as large (and billed again).
    assert not caught.value.retryable
    assert [r.endpoint for r in emu.requests].count("voice_clone") == 1


async def test_a_compressed_bomb_preview_writes_nothing(tmp_path: Path) -> None:
    bomb = gzip_bomb()

    async def preview(_request: web.Request) -> web.Response:
        return web.Response(body=bomb, headers={"Content-Encoding": "gzip"})

    target = tmp_path / "demo.mp3"
    async with Hostile(preview) as host, new_client(host.origin + "/v1", retry=ONE_TRY) as client:
        with pytest.raises(ResponseFormatError, match="over 16 MiB"):
            await client.download_demo(host.origin + "/demo.mp3", target)
    assert os.listdir(tmp_path) == []


# -- 2. no frame, chain or attribute of an error holds the key -----------------------------


def reachable(error: BaseException) -> list[object]:
    """Everything an error tracker could walk from ``error``: chains, attributes, locals."""
    seen: list[object] = []
    pending: list[BaseException] = [error]
    while pending:
        exc = pending.pop()
        if any(exc is s for s in seen):
            continue
        seen.append(exc)
        seen.extend(vars(exc).values())
        seen.extend(exc.args)
        tb = exc.__traceback__
        while tb is not None:
            seen.extend(tb.tb_frame.f_locals.values())
            tb = tb.tb_next
        pending += [e for e in (exc.__cause__, exc.__context__) if e is not None]
    return seen


async def malformed_http(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.readuntil(b"\r\n\r\n")
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: lots\r\n\r\n{}")
    await writer.drain()
    writer.close()


async def test_no_traceback_local_or_chained_exception_holds_the_key(
    emu: Emulator, file_id: int
) -> None:
    server = await asyncio.start_server(malformed_http, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    errors: list[VoiceCloneError] = []
    try:
        async with new_client(f"http://127.0.0.1:{port}/v1", retry=ONE_TRY) as client:
            with pytest.raises(TransportError) as malformed:
                await client.list_voices()
            errors.append(malformed.value)
    finally:
        server.close()
        await server.wait_closed()
    emu.inject(Fault.drop_after(), endpoint="voice_clone", times=6)
    async with new_client(emu.base_url) as client:
        with pytest.raises(TransportError) as dropped:  # retried, then raised
            await client.clone(file_id=file_id, voice_id="Narrator001")
        errors.append(dropped.value)
        emu.inject(Fault.status(2013), endpoint="voice_clone")
        with pytest.raises(VoiceCloneError) as refused:
            await client.clone(file_id=file_id, voice_id="Narrator002")
        errors.append(refused.value)

    for error in errors:
        shown = traceback.TracebackException.from_exception(error, capture_locals=True)
        text = "".join(shown.format())
        assert KEY not in text
        assert "Bearer" not in text
        for value in reachable(error):
            assert KEY not in repr(value)
            assert not isinstance(value, aiohttp.ClientError)  # never chained to aiohttp's
        assert error.__context__ is None or isinstance(error.__context__, VoiceCloneError)


# -- 3. aclose() during a batch ------------------------------------------------------------


async def test_aclose_during_a_batch_ends_every_item_as_an_outcome(
    emu: Emulator, file_id: int
) -> None:
    emu.inject(Fault.latency(0.05), endpoint="voice_clone", times=100)
    closing: list[asyncio.Task[None]] = []

    def close_on_first_answer(_event: ResponseEvent) -> None:
        if not closing:
            closing.append(asyncio.get_running_loop().create_task(client.aclose()))

    client = new_client(emu.base_url, max_in_flight=2, on_response=close_on_first_answer)
    requests = [CloneRequest(file_id, f"Closing{i:04d}") for i in range(16)]
    outcomes = await client.clone_all(requests, max_in_flight=8)  # more than the client's 2
    await asyncio.gather(*closing)
    assert len(outcomes) == 16
    failed = [o.error for o in outcomes if not o.ok]
    assert failed  # the batch outlived the close instead of ending with RuntimeError
    assert all(isinstance(e, ConfigurationError) for e in failed), failed
    assert all("closed" in str(e) for e in failed)


# -- 6. hooks cannot change outcomes --------------------------------------------------------


async def test_a_raising_hook_changes_no_outcome_and_is_logged_once(
    emu: Emulator, file_id: int, caplog: pytest.LogCaptureFixture
) -> None:
    def broken_response_hook(_event: object) -> None:
        raise RuntimeError("observer bug")

    seen: list[object] = []

    async def async_retry_hook(event: object) -> None:
        await asyncio.sleep(0)
        seen.append(event)

    emu.inject(Fault.http(503), endpoint="voice_clone", times=2)
    async with new_client(
        emu.base_url, on_response=broken_response_hook, on_retry=async_retry_hook
    ) as client:
        outcomes = await client.clone_all(
            [CloneRequest(file_id, f"Hooked{i:04d}") for i in range(5)]
        )
    assert all(o.ok for o in outcomes)
    assert len(seen) == 2  # the async hook was awaited, once per retry
    assert sorted(emu.account(KEY).clone_successes.values()) == [1] * 5
    warned = [r for r in caplog.records if "broken_response_hook" in r.getMessage()]
    assert len(warned) == 1  # once per hook and error type, not once per call
    assert "RuntimeError" in warned[0].getMessage()
    assert "observer bug" not in caplog.text


async def test_a_hung_async_hook_is_bounded_by_the_attempt_timeout(
    emu: Emulator, file_id: int
) -> None:
    async def hung(_event: object) -> None:
        await asyncio.Event().wait()

    async with new_client(emu.base_url, on_response=hung, timeout=0.2) as client:
        result = await client.clone(file_id=file_id, voice_id="Hanging001")
    assert result.voice_id == "Hanging001"


# -- 7. one client, one event loop ----------------------------------------------------------


def test_a_client_used_from_a_second_loop_says_so() -> None:
    unreachable = "http://127.0.0.1:9/v1"  # discard port: refused at once
    client = new_client(unreachable, retry=ONE_TRY)
    bound, done = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    async def first() -> None:
        with pytest.raises(TransportError):
            await client.list_voices()  # binds the client to this loop
        bound.set()
        await asyncio.to_thread(done.wait, 10)
        await client.aclose()

    async def second() -> None:
        try:
            await client.list_voices()
        except BaseException as exc:
            errors.append(exc)

    owner = threading.Thread(target=asyncio.run, args=(first(),))
    owner.start()
    assert bound.wait(10)
    asyncio.run(second())  # on this thread's own loop
    done.set()
    owner.join(10)
    assert not owner.is_alive()
    assert len(errors) == 1
    assert isinstance(errors[0], ConfigurationError)
    assert "another event loop" in str(errors[0])


def test_a_client_reused_after_asyncio_run_says_so() -> None:
    async def first_run() -> Client:
        async with aiohttp.ClientSession() as session:  # borrowed: closed by its owner
            client = Client(
                api_key=KEY, base_url="http://127.0.0.1:9/v1", retry=ONE_TRY, session=session
            )
            with pytest.raises(TransportError):
                await client.list_voices()
        return client

    client = asyncio.run(first_run())
    with pytest.raises(ConfigurationError, match="another event loop"):
        asyncio.run(client.list_voices())


# -- 8. an upload re-checks its file on every attempt ----------------------------------------


async def test_an_upload_swapped_for_a_fifo_fails_without_freezing_the_loop(
    emu: Emulator, tmp_path: Path
) -> None:
    sample = tmp_path / "narrator.wav"
    sample.write_bytes(SAMPLE)

    def swap(_event: object) -> None:
        sample.unlink()
        os.mkfifo(sample)

    def unfreeze() -> None:  # lets a frozen loop go on, so a regression fails, not hangs
        with contextlib.suppress(OSError):
            os.close(os.open(sample, os.O_WRONLY | os.O_NONBLOCK))

    watchdog = threading.Timer(10, unfreeze)
    watchdog.start()
    emu.inject(Fault.drop_before(), endpoint="files/upload")
    try:
        async with new_client(emu.base_url, on_retry=swap) as client:
            with pytest.raises(ValidationError, match="no longer a regular file") as caught:
                await client.upload_file(sample)
    finally:
        watchdog.cancel()
    assert caught.value.field == "file"


async def test_an_upload_swapped_for_a_huge_file_is_refused(emu: Emulator, tmp_path: Path) -> None:
    sample = tmp_path / "narrator.wav"
    sample.write_bytes(SAMPLE)

    def swap(_event: object) -> None:
        with sample.open("r+b") as grown:
            grown.truncate(200 * 1024 * 1024)  # sparse: no disk used

    emu.inject(Fault.drop_before(), endpoint="files/upload")
    async with new_client(emu.base_url, on_retry=swap) as client:
        with pytest.raises(ValidationError, match="limit is 20 MB"):
            await client.upload_file(sample)
    assert emu.stats.requests.get("files/upload", 0) == 1  # the big one was never sent


# -- 13, 14. the key: never in cleartext unannounced, checked at construction ----------------


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8000/v1", "http://localhost:8000/v1", "http://[::1]:8000/v1"]
)
def test_plain_http_to_loopback_is_quiet(url: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Client(api_key=KEY, base_url=url)


def test_plain_http_to_another_host_warns() -> None:
    with pytest.warns(InsecureTransportWarning, match="unencrypted"):
        Client(api_key=KEY, base_url="http://10.1.2.3/v1")


@pytest.mark.parametrize("bad", ["key\x7f", "key\x1b[0m", "kéy", "key with space", "k\u2028ey"])
def test_a_key_that_cannot_be_a_header_is_refused_at_construction(bad: str) -> None:
    with pytest.raises(ConfigurationError, match="printable ASCII") as caught:
        Client(api_key=bad, base_url="https://api.example/v1")
    assert bad not in str(caught.value)


@pytest.fixture(scope="module")
def self_signed(tmp_path_factory: pytest.TempPathFactory) -> ssl.SSLContext:
    folder = tmp_path_factory.mktemp("tls")
    key, cert = folder / "key.pem", folder / "cert.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return context


async def test_a_certificate_failure_is_final(self_signed: ssl.SSLContext) -> None:
    async def never(_request: web.Request) -> web.Response:
        raise AssertionError("no request gets through an unverified certificate")

    attempts: list[ResponseEvent] = []
    async with (
        Hostile(never, ssl_context=self_signed) as host,
        new_client(host.origin + "/v1", on_response=attempts.append) as client,
    ):
        with pytest.raises(TransportError) as caught:
            await client.list_voices()
    assert caught.value.retryable is False
    assert len(attempts) == 1  # not six attempts over half a minute


async def test_a_redirect_to_an_invalid_url_is_final(tmp_path: Path) -> None:
    async def redirect(_request: web.Request) -> web.Response:
        return web.Response(status=302, headers={"Location": "http://[not-a-host/x.mp3"})

    attempts: list[ResponseEvent] = []
    async with (
        Hostile(redirect) as host,
        new_client(host.origin + "/v1", on_response=attempts.append) as client,
    ):
        with pytest.raises(TransportError) as caught:
            await client.download_demo(host.origin + "/demo.mp3", tmp_path / "demo.mp3")
    assert caught.value.retryable is False
    assert len(attempts) == 1


# -- 15. cookies, long strings, impossible ids, Retry-After -----------------------------------


async def test_api_cookies_never_reach_a_preview_host(tmp_path: Path) -> None:
    async def api(request: web.Request) -> web.Response:
        if request.path.startswith("/v1"):
            body = ok(voice_cloning=[])
            return web.json_response(body, headers={"Set-Cookie": "session=api-secret; Path=/"})
        return web.Response(body=b"ID3" + b"\0" * 64, content_type="audio/mpeg")

    async with Hostile(api) as host:
        origin = host.origin.replace("127.0.0.1", "localhost")  # a name: jars keep its cookies
        async with new_client(origin + "/v1") as client:
            await client.list_voices()
            await client.download_demo(origin + "/preview.mp3", tmp_path / "p.mp3")
    assert "api-secret" not in json.dumps(host.headers[-1])
    assert "Cookie" not in host.headers[-1]


async def test_a_huge_status_message_is_cut_and_neutralised(emu: Emulator, file_id: int) -> None:
    message = "\x1b]0;pwned\x07" + "x" * 100_000
    emu.inject(Fault.status(2013, message), endpoint="voice_clone")
    async with new_client(emu.base_url) as client:
        with pytest.raises(VoiceCloneError) as caught:
            await client.clone(file_id=file_id, voice_id="Narrator001")
    error = caught.value
    assert error.status_msg is not None
    assert len(error.status_msg) <= 512
    assert len(str(error)) < 700
    assert "\x1b" not in str(error)
    assert "\\x1b]0;pwned" in str(error)  # shown, not obeyed


@pytest.mark.parametrize("file_id", [0, -5, "0"])
async def test_an_upload_answer_with_an_impossible_file_id_is_refused(
    emu: Emulator, file_id: Any
) -> None:
    emu.inject(respond(ok(file={"file_id": file_id})), endpoint="files/upload")
    async with new_client(emu.base_url, retry=ONE_TRY) as client:
        with pytest.raises(ResponseFormatError, match="not positive"):
            await client.upload_file(SAMPLE)


def test_a_paced_rate_limit_waits_at_the_gate_only() -> None:
    # The gate's side is in test_pacing (Retry-After is a floor of the cooldown).
    hinted = RateLimitError("MiniMax status 1002", status_code=1002, retry_after=4.0)
    policy = RetryPolicy()
    assert wait_for(policy, hinted, 1, paced=True) == 0.0  # the gate honours the 4 s
    assert wait_for(policy, hinted, 1, paced=False) == 4.0


# -- found in review: construction errors, odd URLs, infinities ----------------------------


@pytest.mark.parametrize(
    "options",
    [
        {"default_headers": {"Authorization": "Bearer other"}},
        {"default_headers": {"X-A": "a\x01b"}},
        {"default_headers": {"Bad Name": "x"}},
        {"base_url": "http://[::1/v1"},
        {"proxy": "ftp://user:pw@proxy"},
        {"timeout": float("inf")},
    ],
)
def test_a_refused_client_leaves_no_key_in_its_traceback(options: dict[str, Any]) -> None:
    with pytest.raises(ConfigurationError) as caught:
        Client(api_key=KEY, **options)
    shown = traceback.TracebackException.from_exception(caught.value, capture_locals=True)
    text = "".join(shown.format())  # also: repr() of the half-built client must not fail
    assert KEY not in text


async def test_a_proxy_password_stays_out_of_a_transport_errors_frames() -> None:
    proxy = "http://user:s3cretproxypw@127.0.0.1:9"  # refuses every connection
    async with new_client("http://127.0.0.1:9/v1", proxy=proxy, retry=ONE_TRY) as client:
        with pytest.raises(TransportError) as caught:
            await client.list_voices()
    tb = caught.value.__traceback__
    sdk_frames = 0
    # The package's own folder, whatever the checkout is called: a folder named
    # "voiceclone" above the tests must not make this test's frames the SDK's.
    package = str(Path(voiceclone.__file__).parent) + os.sep
    while tb is not None:  # the SDK's frames only: this test's own locals hold the URL
        if tb.tb_frame.f_code.co_filename.startswith(package):
            sdk_frames += 1
            assert "s3cretproxypw" not in repr(tb.tb_frame.f_locals)
        tb = tb.tb_next
    assert sdk_frames >= 3


async def test_a_preview_link_that_is_no_url_is_a_validation_error(tmp_path: Path) -> None:
    async with new_client("http://127.0.0.1:9/v1") as client:
        with pytest.raises(ValidationError, match="http"):
            await client.download_demo("http://[::1", tmp_path / "p.mp3")


def test_infinite_budgets_and_huge_retry_numbers_are_handled() -> None:
    with pytest.raises(ValidationError, match="finite"):
        RetryPolicy(timeout=float("inf"))
    assert 0 <= RetryPolicy(attempts=5000, budget=None).backoff(1100) <= 61.0

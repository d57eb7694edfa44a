"""Shared fixtures for the client tests: an emulator, a fast client, sample audio, a gateway."""

from __future__ import annotations

import json
import os
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from hypothesis import settings
from hypothesis.configuration import set_hypothesis_home_dir

from voiceclone import Client, RetryPolicy
from voiceclone._samples import make_wav
from voiceclone.emulator import Emulator, Fault

# Hypothesis examples per property. "dev", the default, is enough to catch a broken
# property on every run; `--hypothesis-profile=ci` (what .ci/run uses) searches deeper.
# A property's own settings leave max_examples to the profile. No example database:
# the suite writes nothing into the source tree (it may be read-only), and a failing
# example is printed with the failure.
settings.register_profile("dev", max_examples=40, database=None)
settings.register_profile("ci", max_examples=300, database=None)
settings.load_profile("dev")  # the hypothesis plugin then loads --hypothesis-profile, if given
# Hypothesis caches what it learns (constants, Unicode tables) in ./.hypothesis by
# default: the user's cache folder instead, as the source tree may be read-only.
if "HYPOTHESIS_STORAGE_DIRECTORY" not in os.environ:
    _cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    set_hypothesis_home_dir(str(_cache / "voiceclone-tests" / "hypothesis"))

#: Distinctive, so that a leak shows up in any text searched for it.
KEY = "sk-live-S3CRETKEY-9f8e7d6c5b4a"

#: Production-shaped retries with waits of milliseconds.
FAST = RetryPolicy(attempts=6, timeout=20.0, wait_initial=0.001, wait_max=0.004, wait_jitter=0.001)

#: Far above any pace a test reaches: the rate gate never delays a test.
NO_PACING = 1_000_000.0


def new_client(base_url: str, **kwargs: Any) -> Client:
    kwargs.setdefault("requests_per_minute", NO_PACING)
    kwargs.setdefault("retry", FAST)
    kwargs.setdefault("timeout", 5.0)
    return Client(api_key=kwargs.pop("api_key", KEY), base_url=base_url, **kwargs)


def respond(body: dict[str, Any], **kwargs: Any) -> Fault:
    """A `Fault.respond` answering ``body`` as JSON."""
    return Fault.respond(json.dumps(body), **kwargs)


def ok(**fields: Any) -> dict[str, Any]:
    return {**fields, "base_resp": {"status_code": 0, "status_msg": "success"}}


@pytest.fixture
async def emu() -> AsyncIterator[Emulator]:
    async with Emulator(api_key=KEY, rpm=None) as emulator:
        yield emulator


@pytest.fixture
async def client(emu: Emulator) -> AsyncIterator[Client]:
    async with new_client(emu.base_url) as c:
        yield c


#: A 12-second voice sample, as ``wav_path`` holds it.
SAMPLE = make_wav(12.0)


def names(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


@pytest.fixture
def wav_path(tmp_path: Path) -> Path:
    path = tmp_path / "narrator.wav"
    path.write_bytes(SAMPLE)
    return path


@pytest.fixture
async def file_id(client: Client, wav_path: Path) -> int:
    return (await client.upload_file(wav_path)).file_id


class Gateway:
    """A reverse proxy serving an upstream origin under ``prefix``; records request headers."""

    def __init__(self, upstream: str, prefix: str = "/minimax") -> None:
        self.upstream = upstream
        self.prefix = prefix
        self.headers: list[dict[str, str]] = []
        self.origin = ""
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> Gateway:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._forward)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.origin = f"http://127.0.0.1:{self._runner.addresses[0][1]}"
        self._session = aiohttp.ClientSession()
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._session is not None
        assert self._runner is not None
        await self._session.close()
        await self._runner.cleanup()

    async def _forward(self, request: web.Request) -> web.Response:
        self.headers.append(dict(request.headers))
        if not request.path.startswith(self.prefix + "/"):
            return web.Response(status=404, text="no route")
        assert self._session is not None
        hop = {"host", "content-length", "transfer-encoding", "connection"}
        headers = {k: v for k, v in request.headers.items() if k.lower() not in hop}
        url = self.upstream + request.path_qs[len(self.prefix) :]
        async with self._session.request(
            request.method, url, data=await request.read(), headers=headers
        ) as upstream:
            kept = {k: v for k, v in upstream.headers.items() if k in ("Content-Type", "Trace-Id")}
            return web.Response(status=upstream.status, body=await upstream.read(), headers=kept)


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Hostile:
    """A loopback HTTP(S) server whose every answer the test writes; records requests."""

    def __init__(self, handler: Handler, *, ssl_context: ssl.SSLContext | None = None) -> None:
        self.handler = handler
        self.requests: list[web.Request] = []
        self.headers: list[dict[str, str]] = []
        self._ssl = ssl_context
        self._runner: web.AppRunner | None = None
        self.origin = ""

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        self.requests.append(request)
        self.headers.append(dict(request.headers))
        return await self.handler(request)

    async def __aenter__(self) -> Hostile:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0, ssl_context=self._ssl)
        await site.start()
        scheme = "https" if self._ssl else "http"
        self.origin = f"{scheme}://127.0.0.1:{self._runner.addresses[0][1]}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._runner is not None
        await self._runner.cleanup()


#: The files that take longest, started first: the two workers then end together,
#: instead of one running a long file alone at the end.
SLOW_FIRST = (
    "test_many_workers_recipes.py",
    "test_shared_batch_edges.py",
    "test_shared_gate.py",
    "test_chaos.py",
    "test_shared_gate_edges.py",
    "test_cli.py",
    "test_docs_examples.py",
    "test_bench_plots.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {name: i for i, name in enumerate(SLOW_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable within a file


def pytest_configure(config: pytest.Config) -> None:
    # A worker saving its coverage data on a busy machine (CI runs four interpreters at
    # once) can outlast xdist's 10 s wait for workers to end; killed then, its data file
    # is torn and half the suite's lines go unmeasured. Let it finish.
    if config.pluginmanager.has_plugin("xdist"):
        from xdist.workermanage import NodeManager

        NodeManager.EXIT_TIMEOUT = 120
    # The pytest11 entry point imports voiceclone before pytest-cov starts, so its module
    # bodies count as unrun. Run with `-p no:voiceclone` for true figures: the plugin's
    # fixtures are then loaded here, after coverage has started.
    if not config.pluginmanager.has_plugin("voiceclone"):
        config.pluginmanager.import_plugin("voiceclone.testing")

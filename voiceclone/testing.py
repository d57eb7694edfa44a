"""A pytest plugin for testing apps that use `voiceclone`, without MiniMax.

Installed with the package (entry point ``pytest11``), it gives every test suite
three fixtures, all function-scoped and cleaned up after the test:

* ``minimax_emulator``: a running `voiceclone.emulator.Emulator` on 127.0.0.1,
  with no rate limit and the key `TEST_API_KEY`.
* ``minimax_emulator_factory``: an async function taking the `Emulator`'s keyword
  arguments (``rpm=``, ``faults=``, ``latency=`` ...) and returning a started one,
  closed after the test.
* ``voiceclone_client``: a `voiceclone.Client` bound to ``minimax_emulator`` (made
  by `client_for`), so tests stay fast: pacing far above any test's rate, and
  retry waits of milliseconds (`FAST_RETRY`).

The fixtures are async and need pytest-asyncio (in its ``auto`` mode, or mark
the tests with ``@pytest.mark.asyncio``). `sample_wav` is re-exported from
`voiceclone.samples`, which needs no test dependency.

```python
async def test_my_app_clones(voiceclone_client, minimax_emulator):
    up = await voiceclone_client.upload_file(voiceclone.testing.sample_wav())
    await my_app.clone_narrator(voiceclone_client, up.file_id)
    assert "Narrator001" in minimax_emulator.account().voices
```
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Final

try:
    import pytest
except ImportError as exc:  # pragma: no cover - exercised in a subprocess without pytest
    raise ImportError(
        "voiceclone.testing is a pytest plugin and needs pytest; "
        "for sample audio without it, use voiceclone.samples"
    ) from exc

from ._client import Client
from ._retry import RetryPolicy
from .emulator import Emulator
from .samples import sample_wav

__all__ = ["FAST_RETRY", "TEST_API_KEY", "TEST_REQUESTS_PER_MINUTE", "client_for", "sample_wav"]

TEST_API_KEY: Final = "test-key"
"""The key the emulator fixtures accept."""

FAST_RETRY: Final = RetryPolicy(
    attempts=6, timeout=30.0, wait_initial=0.002, wait_max=0.02, wait_jitter=0.002
)
"""Retries as in production, but with waits of milliseconds."""


TEST_REQUESTS_PER_MINUTE: Final = 600_000
"""The pace of test clients: fast enough never to be the bottleneck of a test.

(``requests_per_minute=None`` would not do: it starts at MiniMax's 60 per minute.)
"""


def client_for(emulator: Emulator, **overrides: Any) -> Client:
    """A `voiceclone.Client` for ``emulator``, set up for fast tests.

    The key is `TEST_API_KEY`, pacing is `TEST_REQUESTS_PER_MINUTE`, retries are
    `FAST_RETRY` and attempts time out after 10 s. Use it with ``async with``.

    Args:
        emulator: a started emulator (from ``minimax_emulator_factory``, say).
        **overrides: any other `voiceclone.Client` argument, e.g.
            ``requests_per_minute=60`` or ``on_retry=...``.
    """
    options: dict[str, Any] = {
        "api_key": TEST_API_KEY,
        "base_url": emulator.base_url,
        "requests_per_minute": TEST_REQUESTS_PER_MINUTE,
        "retry": FAST_RETRY,
        "timeout": 10.0,
    }
    options.update(overrides)
    return Client(**options)


try:
    import pytest_asyncio
except ImportError:  # pragma: no cover - the fixtures then explain what is missing

    def _missing() -> None:
        pytest.fail("voiceclone.testing fixtures need pytest-asyncio: pip install pytest-asyncio")

    for _name in ("minimax_emulator_factory", "minimax_emulator", "voiceclone_client"):
        globals()[_name] = pytest.fixture(_missing, name=_name)

else:

    @pytest_asyncio.fixture
    async def minimax_emulator_factory() -> AsyncIterator[Callable[..., Awaitable[Emulator]]]:
        """Start emulators with custom settings: ``await minimax_emulator_factory(rpm=30)``.

        Takes `voiceclone.emulator.Emulator`'s keyword arguments; ``api_key`` defaults
        to `TEST_API_KEY` and ``rpm`` to ``None`` (no limit). Every emulator started is
        closed after the test.
        """
        started: list[Emulator] = []

        async def start(**kwargs: Any) -> Emulator:
            kwargs.setdefault("api_key", TEST_API_KEY)
            kwargs.setdefault("rpm", None)
            emulator = Emulator(**kwargs)
            await emulator.start()
            started.append(emulator)
            return emulator

        try:
            yield start
        finally:
            for emulator in started:
                await emulator.close()

    @pytest_asyncio.fixture
    async def minimax_emulator(
        minimax_emulator_factory: Callable[..., Awaitable[Emulator]],
    ) -> Emulator:
        """A running emulator with no rate limit that accepts `TEST_API_KEY`."""
        return await minimax_emulator_factory()

    @pytest_asyncio.fixture
    async def voiceclone_client(minimax_emulator: Emulator) -> AsyncIterator[Client]:
        """A `voiceclone.Client` bound to ``minimax_emulator`` (see `client_for`)."""
        async with client_for(minimax_emulator) as client:
            yield client

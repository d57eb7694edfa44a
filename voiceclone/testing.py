"""A pytest plugin for testing apps that use `voiceclone`, without MiniMax.

Installed with the package (entry point ``pytest11``), it gives every test suite
three fixtures, all function-scoped and cleaned up after the test:

* ``minimax_emulator``: a running `voiceclone.emulator.Emulator` on 127.0.0.1,
  with no rate limit and the key `TEST_API_KEY`.
* ``minimax_emulator_factory``: an async function taking the `Emulator`'s keyword
  arguments (``rpm=``, ``faults=``, ``latency=`` ...) and returning a started one.
* ``voiceclone_client``: a `voiceclone.Client` bound to ``minimax_emulator``, with
  no pacing and retry waits of milliseconds (`FAST_RETRY`), so tests stay fast.

The fixtures are async and need pytest-asyncio.

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

import pytest

from ._client import Client
from ._retry import RetryPolicy
from ._samples import make_wav
from .emulator import Emulator

__all__ = ["FAST_RETRY", "TEST_API_KEY", "sample_wav"]

#: The key the emulator fixtures accept.
TEST_API_KEY: Final = "test-key"

#: Retries as in production, but with waits of milliseconds.
FAST_RETRY: Final = RetryPolicy(
    attempts=6, timeout=30.0, wait_initial=0.002, wait_max=0.02, wait_jitter=0.002
)


def sample_wav(seconds: float = 12.0, *, pitch_hz: float = 140.0, seed: int = 0) -> bytes:
    """A voice-like WAV sample the emulator (and MiniMax's limits) accept."""
    return make_wav(seconds, pitch_hz=pitch_hz, seed=seed)


try:
    import pytest_asyncio
except ImportError:  # pragma: no cover - the fixtures then explain what is missing

    @pytest.fixture
    def minimax_emulator() -> None:
        pytest.fail("voiceclone.testing fixtures need pytest-asyncio: pip install pytest-asyncio")

else:

    @pytest_asyncio.fixture
    async def minimax_emulator_factory() -> AsyncIterator[Callable[..., Awaitable[Emulator]]]:
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
        return await minimax_emulator_factory()

    @pytest_asyncio.fixture
    async def voiceclone_client(minimax_emulator: Emulator) -> AsyncIterator[Client]:
        async with Client(
            api_key=TEST_API_KEY,
            base_url=minimax_emulator.base_url,
            requests_per_minute=None,
            retry=FAST_RETRY,
            timeout=10.0,
        ) as client:
            yield client

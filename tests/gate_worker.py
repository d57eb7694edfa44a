"""One worker process of a shared-gate test: clones COUNT voices, prints a JSON summary.

python tests/gate_worker.py BASE_URL API_KEY REDIS_URL|- PREFIX COUNT RPM|none SKEW_SECONDS

``SKEW_SECONDS`` shifts this process's wall clock (``time.time``), as a host whose
clock is wrong would be: the shared gate must not care, since it takes time from Redis.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time

import voiceclone
from voiceclone.testing import sample_wav


async def main(
    base_url: str, key: str, redis_url: str, prefix: str, count: int, rpm: float | None
) -> int:
    async with voiceclone.Client(
        key,
        base_url,
        max_in_flight=8,
        requests_per_minute=rpm,
        timeout=10.0,
        redis=None if redis_url == "-" else redis_url,
        retry=voiceclone.RetryPolicy(attempts=10, timeout=60.0, wait_initial=0.05, wait_max=1.0),
    ) as client:
        sample = await client.upload_file(sample_wav())
        requests = [
            voiceclone.CloneRequest(sample.file_id, f"{prefix}{i:04d}x") for i in range(count)
        ]
        # Start together: the test releases every worker at once through stdin.
        print(json.dumps({"ready": True}), flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
        started = time.monotonic()
        outcomes = await client.clone_all(requests)
        summary = {
            "ok": sum(o.ok for o in outcomes),
            "failed": [type(o.error).__name__ for o in outcomes if not o.ok],
            "seconds": time.monotonic() - started,
            "gate": client.rate_stats.gate,
            "rate_limited": client.rate_stats.rate_limited,
        }
    print(json.dumps(summary), flush=True)
    return 0


if __name__ == "__main__":
    url, key, redis_url, prefix, count, rpm, skew = sys.argv[1:8]
    if float(skew):
        real_time, real_time_ns = time.time, time.time_ns
        time.time = lambda: real_time() + float(skew)  # type: ignore[assignment]
        time.time_ns = lambda: real_time_ns() + int(float(skew) * 1e9)  # type: ignore[assignment]
    sys.exit(
        asyncio.run(
            main(url, key, redis_url, prefix, int(count), None if rpm == "none" else float(rpm))
        )
    )

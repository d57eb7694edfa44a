"""One worker of a shared batch: clone_jobs with a RedisJournal, one JSON line per outcome.

python tests/redis_journal_worker.py BASE_URL API_KEY REDIS_URL NAME AUDIO_DIR COUNT LEASE
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import voiceclone


async def main(
    base_url: str, key: str, redis_url: str, name: str, audio_dir: str, count: int, lease: float
) -> int:
    jobs = [
        voiceclone.CloneJob(f"Shared{i:04d}x", Path(audio_dir) / f"voice{i}.wav")
        for i in range(count)
    ]
    journal = voiceclone.RedisJournal(redis_url, name, lease=lease)
    async with voiceclone.Client(
        key, base_url, max_in_flight=4, requests_per_minute=60000, timeout=10.0, redis=redis_url
    ) as client:
        async for outcome in client.clone_jobs(jobs, journal=journal):
            state = "resumed" if outcome.resumed else ("ok" if outcome.ok else "failed")
            record = {"voice_id": outcome.request.voice_id, "state": state}
            if outcome.result is not None:
                record["recovered"] = outcome.result.recovered
            if outcome.error is not None:
                record["error"] = type(outcome.error).__name__
            print(json.dumps(record), flush=True)
    return 0


if __name__ == "__main__":
    url, key, redis_url, name, audio_dir, count, lease = sys.argv[1:8]
    sys.exit(asyncio.run(main(url, key, redis_url, name, audio_dir, int(count), float(lease))))

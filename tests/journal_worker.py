"""Runs one clone_jobs batch with a journal, printing each outcome: the process the tests kill.

python tests/journal_worker.py BASE_URL API_KEY JOURNAL AUDIO_DIR COUNT
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import voiceclone


async def main(base_url: str, key: str, journal: str, audio_dir: str, count: int) -> int:
    jobs = [
        voiceclone.CloneJob(f"Resumed{i:04d}x", Path(audio_dir) / f"voice{i}.wav")
        for i in range(count)
    ]
    failed = 0
    async with voiceclone.Client(
        key, base_url, max_in_flight=4, requests_per_minute=6000, timeout=10.0
    ) as client:
        async for outcome in client.clone_jobs(jobs, journal=journal):
            failed += not outcome.ok
            state = "resumed" if outcome.resumed else ("ok" if outcome.ok else "failed")
            print(outcome.request.voice_id, state, flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    url, key, journal, audio_dir, count = sys.argv[1:6]
    sys.exit(asyncio.run(main(url, key, journal, audio_dir, int(count))))

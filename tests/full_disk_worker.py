"""Runs one clone_jobs batch with a journal on a disk that fills up: the process
tests/test_journal.py limits.

python tests/full_disk_worker.py BASE_URL API_KEY JOURNAL AUDIO COUNT MAX_FILE_BYTES

Files this process writes cannot grow past MAX_FILE_BYTES (``RLIMIT_FSIZE``, with
SIGXFSZ ignored so that a write past it fails with EFBIG, as on a full disk). Prints
one JSON line per outcome, then ``{"error": <class name>, "message": ...}`` for the
exception that ended the batch (or ``{"error": null}``).
"""

from __future__ import annotations

import asyncio
import json
import resource
import signal
import sys

from voiceclone import Client, CloneJob, RetryPolicy

RETRY = RetryPolicy(attempts=3, timeout=10.0, wait_initial=0.001, wait_max=0.004)


async def main(base_url: str, key: str, journal: str, audio: str, count: int) -> None:
    jobs = [CloneJob(f"FullDisk{i:03d}x", audio) for i in range(count)]
    async with Client(
        key, base_url, max_in_flight=4, requests_per_minute=None, retry=RETRY, timeout=10.0
    ) as client:
        try:
            async for outcome in client.clone_jobs(jobs, journal=journal):
                print(json.dumps({"voice_id": outcome.request.voice_id, "ok": outcome.ok}))
        except Exception as exc:
            print(json.dumps({"error": type(exc).__name__, "message": str(exc)}))
        else:
            print(json.dumps({"error": None}))


if __name__ == "__main__":
    url, key, journal, audio, count, limit = sys.argv[1:7]
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (int(limit), int(limit)))
    asyncio.run(main(url, key, journal, audio, int(count)))

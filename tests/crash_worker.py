"""A batch process for tests/test_crash_safety.py to kill.

Importing Python and aiohttp takes longer than the runs being killed, so this
process imports once and then forks one child per run. Protocol, one JSON object
per line: the test writes a run (``base_url``, ``api_key``, ``journal``, ``audio``,
``voice_ids``); this process answers ``{"pid": <child>}`` at once. Once the test has
killed the child (or not), it writes ``{"reap": true}`` and this process answers
``{"exit": <wait status>}`` when the child has ended. The child is reaped only then,
so its pid cannot be reused by another process while the test may still signal it.
The child runs ``clone_jobs`` with the journal and exits 0 if every job ended ``ok``.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from typing import Any

from voiceclone import Client, CloneJob, RetryPolicy

RETRY = RetryPolicy(
    attempts=20, timeout=20.0, wait_initial=0.002, wait_max=0.01, wait_jitter=0.002, budget=None
)


async def run(spec: dict[str, Any]) -> int:
    jobs = [CloneJob(voice_id, spec["audio"]) for voice_id in spec["voice_ids"]]
    async with Client(
        spec["api_key"],
        spec["base_url"],
        max_in_flight=8,
        requests_per_minute=None,
        retry=RETRY,
        timeout=0.3,
    ) as client:
        failed = 0
        async for outcome in client.clone_jobs(jobs, journal=spec["journal"]):
            failed += not outcome.ok
    return 1 if failed else 0


def main() -> None:
    for line in sys.stdin:
        spec = json.loads(line)
        pid = os.fork()
        if pid == 0:
            code = 2
            try:
                code = asyncio.run(run(spec))
            finally:
                os._exit(code)
        print(json.dumps({"pid": pid}), flush=True)
        assert json.loads(sys.stdin.readline()) == {"reap": True}
        _, status = os.waitpid(pid, 0)
        print(json.dumps({"exit": status}), flush=True)


if __name__ == "__main__":
    main()

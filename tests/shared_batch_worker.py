"""One worker of a shared batch, as a real process: one JSON line per outcome, then an end line.

python tests/shared_batch_worker.py CONFIG_JSON

CONFIG_JSON names base_url, key, redis (URL), name, audio (one sample for every
job), count, and optionally lease, outage, max_in_flight and gate (share the rate
gate through the same Redis). The last line is ``{"end": "ok"}`` or the error that
ended the batch.
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

import voiceclone


async def main(config: dict[str, Any]) -> int:
    jobs = [voiceclone.CloneJob(f"Shared{i:04d}x", config["audio"]) for i in range(config["count"])]
    journal = voiceclone.RedisJournal(
        config["redis"],
        config["name"],
        lease=config.get("lease", 30.0),
        outage=config.get("outage", 60.0),
    )
    async with voiceclone.Client(
        config["key"],
        config["base_url"],
        max_in_flight=config.get("max_in_flight", 4),
        requests_per_minute=60000,
        timeout=10.0,
        redis=config["redis"] if config.get("gate", True) else None,
    ) as client:
        try:
            async for outcome in client.clone_jobs(jobs, journal=journal):
                state = "resumed" if outcome.resumed else ("ok" if outcome.ok else "failed")
                record: dict[str, Any] = {"voice_id": outcome.request.voice_id, "state": state}
                if outcome.result is not None:
                    record["recovered"] = outcome.result.recovered
                if outcome.error is not None:
                    record["error"] = type(outcome.error).__name__
                print(json.dumps(record), flush=True)
        except voiceclone.VoiceCloneError as exc:
            print(json.dumps({"end": "error", "error": type(exc).__name__, "message": str(exc)}))
            return 1
    print(json.dumps({"end": "ok"}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(json.loads(sys.argv[1]))))

"""Type-checked only: `SyncClient` as users write it (its methods keep `Client`'s types)."""

from __future__ import annotations

from collections.abc import Generator
from pathlib import Path

import voiceclone
from voiceclone.samples import sample_m4a, sample_mp3, sample_wav


def script(path: Path) -> list[str]:
    with voiceclone.SyncClient(requests_per_minute=None, max_in_flight=4) as client:
        up: voiceclone.UploadedFile = client.upload_file(path, purpose="voice_clone")
        result: voiceclone.CloneResult = client.clone(file_id=up.file_id, voice_id="Typed0001")
        saved: Path = client.download_demo(result, "preview.audio")
        requests = [voiceclone.CloneRequest(up.file_id, f"Typed{i:04d}") for i in range(3)]
        outcomes: list[voiceclone.CloneOutcome] = client.clone_all(requests, max_in_flight=2)
        batch: Generator[voiceclone.CloneOutcome, None, None] = client.clone_many(requests)
        for outcome in batch:
            index: int = outcome.index
        jobs = [voiceclone.CloneJob("Typed0009", path, continuous_sound=True)]
        for outcome in client.clone_jobs(jobs, journal="clones.jsonl"):
            ok: bool = outcome.ok
        voices: list[voiceclone.Voice] = client.list_voices("all")
        client.delete_voice("Typed0001")
        pace: float = client.rate_stats.requests_per_minute
    facts = [saved.name, str(index), str(ok), str(pace), str(len(outcomes))]
    return facts + [v.voice_id for v in voices]


def samples() -> list[bytes]:
    return [sample_wav(12.0, pitch_hz=120.0, seed=1), sample_mp3(11.0), sample_m4a()]

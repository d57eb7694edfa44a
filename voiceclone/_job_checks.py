"""The checks of whole jobs and batches of jobs: their audio files and their voice ids.

Above `_models` and `_validate` (a `CloneJob` validates its own fields with
`_validate` as it is built); what is checked here needs the files themselves,
read before anything is sent.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from ._audio import AudioInfo
from ._errors import ValidationError
from ._models import CloneJob
from ._validate import check_audio

__all__ = ["check_job", "check_jobs"]


def check_job(
    job: CloneJob, probed: dict[Path, AudioInfo] | None = None, *, prefix: str = ""
) -> list[ValidationError]:
    """The problems of one job's audio files (format by content, size, duration).

    Fields are named ``prefix`` + ``audio`` or ``prompt_audio``; ``probed``, when
    given, receives what was learned of each file.
    """
    problems = []
    for field, purpose in (("audio", "voice_clone"), ("prompt_audio", "prompt_audio")):
        source = getattr(job, field)
        if source is None:
            continue
        try:
            info = check_audio(source, purpose, field=prefix + field)
        except ValidationError as exc:
            problems.append(exc)
        else:
            if probed is not None:
                probed[Path(source)] = info
    return problems


def check_jobs(
    jobs: Iterable[object], probed: dict[Path, AudioInfo] | None = None
) -> list[ValidationError]:
    """Every problem with a batch of jobs, found without sending anything.

    ``probed``, when given, receives what was learned of each audio file, so the
    uploads that follow need not read the files' headers again.
    """
    problems: list[ValidationError] = []
    seen: dict[str, int] = {}
    for i, job in enumerate(jobs):
        if not isinstance(job, CloneJob):
            problems.append(ValidationError(f"jobs[{i}]", "must be a CloneJob"))
            continue
        if job.voice_id in seen:
            problems.append(
                ValidationError(f"jobs[{i}].voice_id", f"repeats jobs[{seen[job.voice_id]}]")
            )
        seen.setdefault(job.voice_id, i)
        problems += check_job(job, probed, prefix=f"jobs[{i}].")
    return problems

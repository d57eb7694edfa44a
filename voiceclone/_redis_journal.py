"""The batch journal in Redis: one batch worked through by many processes on many hosts.

The records and resume rules are the JSONL journal's (`_journal`): a job ``ok``
for anyone is skipped by everyone; ``sent`` is recorded before a clone request
leaves, so a 2039 for it later is a recovery; a plain conflict that was journaled
stays a conflict. Added for many workers:

* **Claims.** A job is cloned only by the process holding its claim, a key set
  with ``SET NX PX``: a lease that this process renews while it lives (one
  round trip for all its claims, every third of the lease), so the claims of a
  SIGKILLed worker expire and another worker takes the jobs over.
* **Uploads.** Each uploaded sample's file_id is recorded under the file's
  content digest, so a re-run or another worker reuses it instead of sending
  the audio again.

Each decision is one Lua script; every key lives under one hash tag (one Redis
Cluster slot) and expires `RECORD_TTL` after the batch's last write.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import inspect
import json
import os
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, TypeVar

import attrs

from ._errors import JournalError, ValidationError, VoiceCloneError, VoiceIdConflictError
from ._journal_lines import Damaged, encode, result_from, result_record
from ._models import CloneResult
from ._redis_conn import RedisHandle, hash_tag, redis_errors, resolve
from ._redis_journal_lua import CLAIM, RECORD, RENEW

if TYPE_CHECKING:
    from redis.asyncio import Redis

__all__ = ["Claim", "JournalSummary", "RedisJournal"]

_T = TypeVar("_T")

#: Records outlive the batch's last write by MiniMax's 7 days: a voice not used for
#: speech by then is deleted, so an older record says nothing about the account.
RECORD_TTL: Final = 7 * 24 * 3600.0
#: The default lease of a claim: a dead worker's jobs wait this long for another.
LEASE: Final = 30.0
#: Seconds one Redis call may take before the journal reports it unreachable.
CALL_TIMEOUT: Final = 5.0
#: Seconds between looks at a job another live worker holds. Only jobs met busy are
#: waited for, at the end of a worker's batch, so this costs a few calls per batch.
WAIT_POLL: Final = 0.2
_CHUNK: Final = 1 << 20  # bytes read at a time when digesting a sample


@attrs.frozen
class Claim:
    """What `RedisJournal.claim` found for one job.

    Attributes:
        done: the result, when some worker finished the job.
        held: this process now holds the job's claim.
        sent: a clone request for it may have been sent before (so 2039 is a recovery).
        busy_for: seconds the claim of another live worker still runs, when busy.
    """

    done: CloneResult | None = None
    held: bool = False
    sent: bool = False
    busy_for: float = 0.0


@attrs.frozen
class JournalSummary:
    """A batch's state, read from Redis.

    Attributes:
        done: voice_ids cloned (by any worker).
        in_flight: voice_ids claimed by a live worker right now.
        failed: voice_id -> the error type of its last failure (not retried yet).
        sent: voice_ids whose clone request left but whose answer is not recorded.
    """

    done: frozenset[str]
    in_flight: frozenset[str]
    failed: dict[str, str]
    sent: frozenset[str]


class RedisJournal:
    """A batch journal in Redis, shared by every process that uses the same name.

    Pass it as ``client.clone_jobs(jobs, journal=RedisJournal(...))`` in as many
    processes as you like: each job is cloned once, by the process holding its
    claim; a job another live worker holds is left for later and waited for at the
    end of the batch (reported ``resumed=True`` when that worker succeeds), so no
    worker reports a job as failed because another has it, and none sits idle
    while unclaimed jobs remain.

    Args:
        redis: a Redis URL (``redis://host:6379/0``) or a ``redis.asyncio.Redis``
            to borrow (never closed).
        name: the batch's name; processes using the same name share the batch.
        lease: seconds a claim outlives its worker's last renewal.
    """

    def __init__(self, redis: str | Redis, name: str, *, lease: float = LEASE) -> None:
        if not isinstance(name, str) or not name.strip() or len(name) > 200:
            raise ValidationError("name", "must be a non-empty string of at most 200 characters")
        if isinstance(lease, bool) or not isinstance(lease, (int, float)) or not lease >= 1:
            raise ValidationError("lease", "must be a number of seconds, at least 1")
        handle = resolve(redis, env=False)
        if handle is None:
            raise ValidationError("redis", "is required: a Redis URL or a redis.asyncio.Redis")
        self._handle: RedisHandle = handle
        self.name = name
        self.lease = float(lease)
        self._prefix = f"voiceclone:journal:{hash_tag(name)}:"
        self._worker = uuid.uuid4().hex
        self._held: set[str] = set()
        self._errors = redis_errors()
        self._renewer: asyncio.Task[None] | None = None
        self._users = 0  # batches using the journal now

    def __repr__(self) -> str:
        return f"RedisJournal(name={self.name!r}, lease={self.lease})"

    def _key(self, part: str) -> str:
        return self._prefix + part

    def _claim_key(self, voice_id: str) -> str:
        return self._key("claim:" + voice_id)

    async def _call(self, what: str, call: Callable[[], Awaitable[_T]]) -> _T:
        """One Redis call, its failure turned into a `JournalError` (never a hang)."""
        try:
            return await asyncio.wait_for(call(), CALL_TIMEOUT)
        except self._errors as exc:
            # The exception's text may name the server; the type is enough.
            raise JournalError(
                f"journal {self.name!r}: Redis did not answer ({type(exc).__name__}) "
                f"while {what}; re-run the batch to resume it",
                path=self.name,
            ) from None

    async def _script(self, name: str, source: str, keys: list[str], args: list[Any]) -> Any:
        script = self._handle.script(source)
        return await self._call(name, lambda: script(keys=keys, args=args))

    # -- what the batch calls ------------------------------------------------------------

    async def load(self) -> dict[str, CloneResult]:
        """Every job some worker finished: voice_id -> result."""
        raw = await self._call("loading", lambda: _aw(self._handle.get().hgetall(self._key("ok"))))
        return {_text(k): _restored(_text(k), v) for k, v in raw.items()}

    async def claimed_elsewhere(self, voice_id: str) -> bool:
        """Whether another live worker holds the job's claim right now."""
        owner = await self._call(
            "reading a claim", lambda: self._handle.get().get(self._claim_key(voice_id))
        )
        return owner is not None and _text(owner) != self._worker

    async def claim(self, voice_id: str) -> Claim:
        """Take the job's claim unless it is done or another live worker holds it."""
        keys = [self._claim_key(voice_id), self._key("ok"), self._key("sent")]
        state, detail = await self._script(
            "claim", CLAIM, keys, [self._worker, int(self.lease * 1000), voice_id]
        )
        state = _text(state)
        if state == "done":
            return Claim(done=_restored(voice_id, detail))
        if state == "claimed":
            self._held.add(voice_id)
            return Claim(held=True, sent=_text(detail) == "1")
        return Claim(busy_for=max(0.0, int(detail) / 1000.0))

    async def _record(
        self, voice_id: str, into: str, record: dict[str, Any] | None, drop: str, release: bool
    ) -> None:
        keys = [self._claim_key(voice_id), self._key(into), self._key(drop)]
        args = [
            self._worker,
            voice_id,
            "" if record is None else encode(record).rstrip(b"\n"),  # a journal line, unbroken
            voice_id if drop else "",
            int(RECORD_TTL * 1000),
            "1" if release else "0",
        ]
        await self._script("record", RECORD, keys, args)
        if release:
            self._held.discard(voice_id)

    async def sent(self, voice_id: str, file_id: int, prompt_file_id: int | None) -> None:
        """Record that the clone request is about to leave (before it does)."""
        record = {"event": "sent", "file_id": file_id, "prompt_file_id": prompt_file_id}
        await self._record(voice_id, "sent", record, "", release=False)

    async def ok(self, result: CloneResult) -> None:
        """Record the voice as done for everyone, and release its claim."""
        await self._record(result.voice_id, "ok", result_record(result), "failed", release=True)

    async def failed(self, voice_id: str, error: VoiceCloneError) -> None:
        """Record the failure (a re-run tries again), and release the claim."""
        record = {
            "event": "failed",
            "error": type(error).__name__,
            "status_code": error.status_code,
            "message": error.message,
            "trace_id": error.trace_id,
        }
        # A conflict that was not recovered: the id existed before this batch sent
        # anything, so its sent mark goes in the same step (a 2039 on a re-run is no
        # recovery either, and no worker may take the claim between the two).
        drop = "sent" if isinstance(error, VoiceIdConflictError) else ""
        await self._record(voice_id, "failed", record, drop, release=True)

    async def release(self, voice_id: str) -> None:
        """Give the claim up without a record (the job was cancelled)."""
        if voice_id in self._held:
            await self._record(voice_id, "failed", None, "", release=True)

    async def upload_once(
        self, path: str | os.PathLike[str], purpose: str, upload: Callable[[], Awaitable[int]]
    ) -> int:
        """The file_id an upload of this content got from any worker, else ``upload()``'s.

        A new upload is recorded so no worker sends this content again. The content
        is read once, for its digest, before anything is sent.
        """
        field = await self._upload_field(path, purpose)
        raw = await self._call(
            "reading uploads", lambda: _aw(self._handle.get().hget(self._key("uploads"), field))
        )
        if raw is not None:
            return int(raw)
        file_id = await upload()
        redis = self._handle.get()

        async def write() -> None:
            async with redis.pipeline(transaction=True) as pipe:
                pipe.hset(self._key("uploads"), field, str(file_id))
                pipe.pexpire(self._key("uploads"), int(RECORD_TTL * 1000))
                await pipe.execute()

        await self._call("recording an upload", write)
        return file_id

    @staticmethod
    async def _upload_field(path: str | os.PathLike[str], purpose: str) -> str:
        def digest() -> str:
            sha = hashlib.sha256()
            with Path(path).open("rb") as audio:
                for chunk in iter(lambda: audio.read(_CHUNK), b""):
                    sha.update(chunk)
            return sha.hexdigest()

        return f"{purpose}:{await asyncio.to_thread(digest)}"

    # -- the lease -----------------------------------------------------------------------

    async def __aenter__(self) -> RedisJournal:
        """Start renewing this process's claims (every third of the lease).

        Batches may share one journal at once (a worker running several tasks): the
        renewal runs from the first entry to the last exit.
        """
        self._users += 1
        if self._renewer is None:
            self._renewer = asyncio.ensure_future(self._renew_forever())
        return self

    async def __aexit__(self, *exc: object) -> None:
        """At the last exit, stop renewing and give up the claims still held."""
        self._users = max(0, self._users - 1)
        if not self._users:
            await self._stop()

    async def _stop(self) -> None:
        renewer, self._renewer = self._renewer, None
        if renewer is not None:
            renewer.cancel()
            await asyncio.gather(renewer, return_exceptions=True)
        try:
            for voice_id in list(self._held):
                await self.release(voice_id)
        except JournalError:
            pass  # Redis is gone: the leases lapse by themselves
        finally:
            self._held.clear()
            # A client made from a URL lives for one batch (made again if used again).
            await self._handle.aclose()

    async def _renew_forever(self) -> None:
        while True:
            await asyncio.sleep(self.lease / 3.0)
            if self._held:
                keys = [self._claim_key(v) for v in sorted(self._held)]
                try:
                    await self._script("renew", RENEW, keys, [self._worker, int(self.lease * 1000)])
                except JournalError:
                    continue  # Redis lost for now: the next tick tries again

    async def aclose(self) -> None:
        """Close the Redis client if this journal made it (never a borrowed one).

        A batch closes it when it ends; call this after `summary` or `load`.
        """
        self._users = 0
        await self._stop()

    # -- reading a batch's state ---------------------------------------------------------

    async def summary(self) -> JournalSummary:
        """The whole batch's state: done, in flight, failed, sent without an answer."""
        redis = self._handle.get()

        async def read() -> tuple[Any, ...]:
            done = await _aw(redis.hkeys(self._key("ok")))
            failed = await _aw(redis.hgetall(self._key("failed")))
            sent = await _aw(redis.hkeys(self._key("sent")))
            claims = [k async for k in redis.scan_iter(match=self._escape() + "claim:*")]
            return done, failed, sent, claims

        done, failed, sent, claims = await self._call("reading the batch", read)
        done_ids = frozenset(_text(v) for v in done)
        prefix = len(self._key("claim:"))
        return JournalSummary(
            done=done_ids,
            in_flight=frozenset(_text(k)[prefix:] for k in claims),
            failed={
                _text(k): json.loads(v).get("error", "?")
                for k, v in failed.items()
                if _text(k) not in done_ids
            },
            sent=frozenset(_text(v) for v in sent) - done_ids,
        )

    def _escape(self) -> str:
        """The key prefix as a SCAN pattern (the hash tag's braces are literal there)."""
        return "".join("\\" + c if c in "*?[]\\" else c for c in self._prefix)


def _text(value: bytes | str) -> str:
    """A reply as text, whether the client decodes responses or not (a borrowed one may)."""
    return value.decode() if isinstance(value, bytes) else value


def _aw(value: Awaitable[_T] | _T) -> Awaitable[_T]:
    """redis-py types a command as sync-or-async; on an asyncio client it is awaitable."""
    assert inspect.isawaitable(value)
    return value


def wait_hint(claim: Claim) -> float:
    """How long to wait before looking at a job another worker holds again.

    Its answer usually comes within one request's time, so look again soon
    (`WAIT_POLL`), and no later than its claim could lapse.
    """
    return max(0.01, min(claim.busy_for, WAIT_POLL))


def _restored(voice_id: str, raw: str | bytes) -> CloneResult:
    """A result some worker recorded, checked field by field as the file journal's are."""
    try:
        record = json.loads(raw)
        if not isinstance(record, dict):
            raise Damaged("not a JSON object")
        return result_from(record, voice_id, dt.datetime.now(dt.timezone.utc))
    except (ValueError, RecursionError, Damaged) as exc:
        raise JournalError(f"the shared journal's record of {voice_id} is damaged: {exc}") from None

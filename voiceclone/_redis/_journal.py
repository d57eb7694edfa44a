"""The batch journal in Redis: one batch worked through by many processes on many hosts.

The records and resume rules are the JSONL journal's (`_journal`): a job ``ok``
for anyone is skipped by everyone, and so is a job that failed for good; ``sent``
is recorded before a clone request leaves, so a 2039 for it later is a recovery;
a plain conflict that was journaled stays a conflict. Added for many workers:

* **Claims, fenced.** A job is cloned only by the process holding its claim: a
  lease this process renews while it lives (one round trip for all its claims,
  every third of the lease), so the claims of a SIGKILLed worker expire and
  another worker takes the jobs over. Each claim carries a fencing token that
  every write for the job checks in the same script; the last check, atomic
  with the "sent" mark, runs right before each attempt leaves (`announce`), so a
  worker paused past its lease stops there (`ClaimLost`). What is left is the
  pause between that script's answer and the request's bytes on the socket:
  microseconds, unless the process is stopped exactly there.
* **Uploads.** Each uploaded sample's file_id is recorded under the file's
  content digest, so a re-run or another worker reuses it instead of sending
  the audio again.
* **Outages ridden out.** A call that finds Redis unreachable is tried again,
  with backoff, for up to ``outage`` seconds before it fails with `JournalError`:
  a restart or failover pauses the batch instead of failing job after job.
* **One account.** Keys carry the account (a digest of API key and base URL, as
  the rate gate's do) beside the batch's name: two accounts sharing a name and a
  Redis never see each other's records or uploads.
* **Records that vanish.** Redis restarted without persistence loses the batch's
  records: the batch's ``epoch`` marker is gone, and the first claim to notice
  logs one WARNING (voices created before will answer 2039). Give the journal a
  Redis with an append-only file.

Each decision is one Lua script (no ``MULTI``: Redis Cluster refuses it); every key
lives under one hash tag (one Redis Cluster slot) and expires `RECORD_TTL` after
the batch's last write.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import inspect
import json
import logging
import os
import random
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Final, Protocol, TypeVar

import attrs

from voiceclone._aio import call_within, cancel_and_wait
from voiceclone._config import Redacted
from voiceclone._errors import JournalError, ValidationError, VoiceCloneError, VoiceIdConflictError
from voiceclone._job_journal import Claim, ClaimLost, Recorded
from voiceclone._journal_lines import (
    Damaged,
    encode,
    failure_from,
    failure_record,
    is_final,
    result_from,
    result_record,
)
from voiceclone._models import CloneResult
from voiceclone._validate import check_number

from ._conn import RedisClient, RedisHandle, hash_tag, redis_errors, resolve
from ._journal_lua import CLAIM, RECORD, RENEW, SENT, START, UPLOADED

__all__ = ["JournalSummary", "RedisJournal"]


class _OfAccount(Protocol):
    """What the journal needs of a client: its account (`Client.account_id`). A
    protocol, so this module never imports the client, which imports it."""

    @property
    def account_id(self) -> str: ...


_T = TypeVar("_T")

logger = logging.getLogger("voiceclone")

#: Records outlive the batch's last write by MiniMax's 7 days: a voice not used for
#: speech by then is deleted, so an older record says nothing about the account.
RECORD_TTL: Final = 7 * 24 * 3600.0
#: The default lease of a claim: a dead worker's jobs wait this long for another.
LEASE: Final = 30.0
#: The default time a journal call keeps trying an unreachable Redis: longer than a
#: restart or a managed failover (seconds to tens of seconds), short enough that a
#: Redis gone for good ends the batch while someone is still watching.
OUTAGE: Final = 60.0
#: Seconds one Redis call may take before it counts as a failed try.
CALL_TIMEOUT: Final = 5.0
#: Backoff between tries while Redis is unreachable: from the first, doubling to the
#: most, with full jitter (workers that lost Redis together do not return together).
_RETRY_FIRST: Final = 0.05
_RETRY_MOST: Final = 2.0
#: Seconds the claims still held are given to be released when a batch ends: a
#: cancelled batch must end promptly, and an unreleased claim lapses by itself.
_RELEASE_TIMEOUT: Final = 1.0
_CHUNK: Final = 1 << 20  # bytes read at a time when digesting a sample


@attrs.frozen
class JournalSummary:
    """A batch's state, read from Redis.

    Attributes:
        done: voice_ids cloned (by any worker).
        in_flight: voice_ids claimed by a live worker right now.
        failed: voice_id -> the error type of its last failure (not retried yet).
        sent: voice_ids whose clone request left but whose answer is not recorded.
        final: voice_ids among ``failed`` that failed for good (skipped by re-runs
            unless they ask for ``retry_failed``).
        started: whether a worker ever started this batch (for this account, within
            the records' lifetime): ``False`` for a name that never ran.
    """

    done: frozenset[str]
    in_flight: frozenset[str]
    failed: dict[str, str]
    sent: frozenset[str]
    final: frozenset[str] = frozenset()
    started: bool = True


class RedisJournal:
    """A batch journal in Redis, shared by every process of one account using its name.

    Pass it as ``client.clone_jobs(jobs, journal=RedisJournal(...))`` in as many
    processes as you like: each job is cloned once, by the process holding its
    claim; a job another live worker holds is left for later and waited for at the
    end of the batch (reported ``resumed=True`` when that worker finishes it), so
    no worker reports a job as failed because another has it, and none sits idle
    while unclaimed jobs remain. The journal belongs to the account of the first
    client that uses it.

    Args:
        redis: a Redis URL (``redis://host:6379/0``), a ``redis.asyncio.Redis`` or
            a ``redis.asyncio.cluster.RedisCluster`` to borrow (never closed).
        name: the batch's name; processes of one account using it share the batch.
        lease: seconds a claim outlives its worker's last renewal.
        outage: seconds a journal call keeps trying while Redis is unreachable,
            before the batch ends with `JournalError`.
    """

    def __init__(
        self, redis: str | RedisClient, name: str, *, lease: float = LEASE, outage: float = OUTAGE
    ) -> None:
        if isinstance(redis, str):  # its password stays out of this frame's locals
            redis = Redacted(redis)
        if not isinstance(name, str) or not name.strip() or len(name) > 200:
            raise ValidationError("name", "must be a non-empty string of at most 200 characters")
        if isinstance(lease, bool) or not isinstance(lease, (int, float)) or not lease >= 1:
            raise ValidationError("lease", "must be a number of seconds, at least 1")
        # Finite: a Redis gone for good must end the batch.
        check_number(outage, "outage")
        self.name = name
        self.lease = float(lease)
        self.outage = float(outage)
        self._account: str | None = None
        self._prefix = ""
        self._worker = uuid.uuid4().hex
        self._held: dict[str, str] = {}  # voice_id -> "worker:token"
        self._claiming: set[str] = set()  # claims asked for whose answer was not read
        self._epoch = ""
        self._since = 0
        self._unreachable = False  # said once per outage
        self._reached = False  # some call has succeeded: outages are waited for
        self._renewer: asyncio.Task[None] | None = None
        self._users = 0  # batches using the journal now
        handle = resolve(redis, env=False)
        if handle is None:
            raise ValidationError("redis", "is required: a Redis URL or a redis.asyncio client")
        self._handle: RedisHandle = handle
        self._errors = redis_errors()

    def __repr__(self) -> str:
        # getattr: a traceback printed with its locals reprs a journal __init__ refused.
        return (
            f"RedisJournal(name={getattr(self, 'name', None)!r}, "
            f"lease={getattr(self, 'lease', None)}, outage={getattr(self, 'outage', None)})"
        )

    # -- keys and calls ------------------------------------------------------------------

    def _bind(self, account_id: str) -> None:
        """Tie the journal to one account: its keys carry it beside the batch's name."""
        if self._account is None:
            self._account = account_id
            self._prefix = f"voiceclone:journal:{hash_tag(account_id + chr(0) + self.name)}:"
        elif self._account != account_id:
            raise ValidationError(
                "journal",
                f"RedisJournal {self.name!r} belongs to another account (another API key "
                "or base URL): make one journal per account",
            )

    def _key(self, part: str) -> str:
        if self._account is None:
            raise ValidationError(
                "journal", f"RedisJournal {self.name!r} has no account yet: use it with a client"
            )
        return self._prefix + part

    def _claim_key(self, voice_id: str) -> str:
        return self._key("claim:" + voice_id)

    async def _call(
        self,
        what: str,
        call: Callable[[], Awaitable[_T]],
        *,
        patient: bool = True,
        advice: str = "re-run the batch to resume it",
    ) -> _T:
        """One Redis call, tried again while Redis is unreachable for up to ``outage`` s.

        Its failure then is a `JournalError` (never a hang) ending with ``advice``;
        ``patient=False`` tries once, bounded by `CALL_TIMEOUT`.
        """
        loop = asyncio.get_running_loop()
        # A Redis never reached (a wrong URL, nothing listening) fails at once; once
        # the journal has worked, a lost Redis is waited for.
        patient = patient and self._reached
        deadline = loop.time() + (self.outage if patient else 0.0)
        wait = _RETRY_FIRST
        while True:
            try:
                await self._handle.ready()
                result = await call_within(call(), CALL_TIMEOUT)
            except self._errors as exc:
                if loop.time() + wait > deadline:
                    # The exception's text may name the server; the type is enough.
                    raise JournalError(
                        f"journal {self.name!r}: Redis did not answer ({type(exc).__name__}) "
                        f"while {what}; {advice}",
                        path=self.name,
                    ) from None
                if not self._unreachable:
                    self._unreachable = True
                    logger.warning(
                        "journal %r: Redis is unreachable (%s) while %s; journal calls "
                        "wait for it up to %.0f s",
                        self.name, type(exc).__name__, what, self.outage,
                    )  # fmt: skip
                await asyncio.sleep(random.uniform(0, wait))
                wait = min(wait * 2, _RETRY_MOST)
                continue
            self._reached = True
            if self._unreachable:
                self._unreachable = False
                logger.info("journal %r: Redis answers again", self.name)
            return result

    async def _script(
        self, name: str, source: str, keys: list[str], args: list[Any], *, patient: bool = True
    ) -> Any:
        # Looked up inside the call: the handle makes its client (`ready`) first.
        return await self._call(
            name, lambda: self._handle.script(source)(keys=keys, args=args), patient=patient
        )

    # -- the batch (`_job_journal.JobJournal`) -------------------------------------------

    async def start(self, account_id: str, *, retry_failed: bool) -> Recorded:
        """Begin a batch for the account: mark its epoch, renew claims, read the records."""
        self._bind(account_id)
        await self.__aenter__()
        try:
            epoch, now = await self._script(
                "starting", START, [self._key("epoch")], [uuid.uuid4().hex, _ms(RECORD_TTL)]
            )
            self._epoch = _text(epoch)
            # Failures recorded before this moment (Redis's clock) are not final for
            # a run asked to retry them; those recorded by any worker after it are.
            self._since = int(_text(now)) + 1 if retry_failed else 0
            done, final, final_at = await self._read(
                "loading",
                lambda r: r.hgetall(self._key("ok")),
                lambda r: r.hgetall(self._key("final")),
                lambda r: r.hgetall(self._key("final_at")),
            )
        except BaseException:
            await self.__aexit__()
            raise
        failed = {
            _text(k): _failure(_text(k), v)
            for k, v in final.items()
            if int(_text(final_at.get(k, b"0"))) >= self._since
        }
        return Recorded({_text(k): _restored(_text(k), v) for k, v in done.items()}, failed)

    async def finish(self) -> None:
        await self.__aexit__()

    async def _read(
        self, what: str, *commands: Callable[[RedisClient], Any], **options: Any
    ) -> list[Any]:
        """Single-key reads, each made and awaited in turn (a cluster answers each from
        its node; none is left unawaited when the batch is cancelled). ``options`` go
        to `_call`."""

        async def read() -> list[Any]:
            client = self._handle.get()
            return [await _aw(command(client)) for command in commands]

        return await self._call(what, read, **options)

    async def claimed_elsewhere(self, voice_id: str) -> bool:
        """Whether another live worker holds the job's claim right now."""
        (owner,) = await self._read("reading a claim", lambda r: r.get(self._claim_key(voice_id)))
        return owner is not None and not _text(owner).startswith(self._worker + ":")

    async def claim(self, voice_id: str) -> Claim:
        """Take the job's claim unless it is done, failed for good or held by a live worker."""
        keys = [self._claim_key(voice_id)] + [
            self._key(k) for k in ("ok", "sent", "final", "final_at", "fence", "epoch")
        ]
        args = [self._worker, _ms(self.lease), voice_id, self._since, self._epoch, _ms(RECORD_TTL)]
        # Known before the script runs: a call cancelled after Redis took the claim
        # but before the answer was read still leaves it to be released at the end.
        self._claiming.add(voice_id)
        reply = await self._script("claiming", CLAIM, keys, args)
        self._claiming.discard(voice_id)
        try:
            state, detail, lost = _text(reply[0]), reply[1], int(reply[2])
            sent = state == "claimed" and int(reply[3]) == 1
            busy_ms = int(detail) if state == "busy" else 0
        except (TypeError, ValueError, IndexError, AttributeError, UnicodeDecodeError):
            raise JournalError(
                f"journal {self.name!r}: Redis answered a claim with something unreadable "
                "(a proxy or a server that is not Redis?)",
                path=self.name,
            ) from None
        if lost and self._epoch:
            logger.warning(
                "journal %r: its records are gone from Redis (restarted without "
                "persistence?): voices created before will answer 2039 and be reported "
                "as conflicts. Give the journal a Redis with an append-only file",
                self.name,
            )
        if state == "done":
            return Claim(voice_id, done=_restored(voice_id, detail))
        if state == "failed":
            return Claim(voice_id, failed=_failure(voice_id, detail))
        if state == "claimed":
            holder = f"{self._worker}:{_text(detail)}"
            self._held[voice_id] = holder
            return Claim(voice_id, held=True, token=holder, sent=sent)
        return Claim(voice_id, busy_for=max(0.0, busy_ms / 1000.0))

    async def announce(self, claim: Claim, file_id: int, prompt_file_id: int | None) -> None:
        """Record that the clone request leaves now, if the claim is still this worker's."""
        record = {"event": "sent", "file_id": file_id, "prompt_file_id": prompt_file_id}
        keys = [self._claim_key(claim.voice_id), self._key("sent")]
        line = encode(record).rstrip(b"\n")  # a journal line, unbroken
        written = await self._script(
            "recording a request", SENT, keys, [claim.token, claim.voice_id, line, _ms(RECORD_TTL)]
        )
        if not written:
            self._held.pop(claim.voice_id, None)
            raise ClaimLost(claim.voice_id)

    async def _record(
        self, claim: Claim, kind: str, record: dict[str, Any] | None, *, patient: bool = True
    ) -> bool:
        keys = [self._claim_key(claim.voice_id)] + [
            self._key(k) for k in ("ok", "sent", "failed", "final", "final_at", "epoch")
        ]
        line = b"" if record is None else encode(record).rstrip(b"\n")
        args = [claim.token, claim.voice_id, kind, line, _ms(RECORD_TTL)]
        written = await self._script("recording", RECORD, keys, args, patient=patient)
        self._held.pop(claim.voice_id, None)
        return bool(written)

    async def ok(self, claim: Claim, result: CloneResult) -> None:
        """Record the voice as done for everyone, and release its claim.

        A worker whose claim passed to another writes nothing: the new holder finds
        this one's "sent" mark, and its 2039 comes back as a recovery.
        """
        await self._record(claim, "ok", result_record(result))

    async def failed(self, claim: Claim, error: VoiceCloneError) -> None:
        """Record the failure (final for the batch if `is_final`), and release the claim."""
        if isinstance(error, VoiceIdConflictError):
            kind = "conflict"
        else:
            kind = "final" if is_final(error) else "failed"
        await self._record(claim, kind, failure_record(claim.voice_id, error))

    async def activated(self, voice_id: str, when: dt.datetime) -> None:
        """Record that the voice was used for speech (MiniMax keeps it), for every worker."""
        key = self._key("activated")

        async def record() -> None:
            client = self._handle.get()
            await _aw(client.hset(key, voice_id, when.isoformat()))
            await _aw(client.pexpire(key, _ms(RECORD_TTL)))

        await self._call("recording an activation", record)

    async def activated_voices(self) -> dict[str, dt.datetime]:
        """The batch's voices recorded as used for speech, and when (then `aclose`)."""
        (found,) = await self._read(
            "reading activations", lambda r: r.hgetall(self._key("activated"))
        )
        activated = {}
        for voice_id, when in found.items():
            try:
                activated[_text(voice_id)] = dt.datetime.fromisoformat(_text(when))
            except ValueError:
                continue  # not ours: skipped, as a damaged journal line is
        return activated

    async def upload_once(
        self, path: str | os.PathLike[str], purpose: str, upload: Callable[[], Awaitable[int]]
    ) -> int:
        """The file_id an upload of this content got from any worker, else ``upload()``'s.

        A new upload is recorded so no worker sends this content again. The content
        is read once, for its digest, before anything is sent.
        """
        field = await self._upload_field(path, purpose)
        (raw,) = await self._read("reading uploads", lambda r: r.hget(self._key("uploads"), field))
        if raw is not None:
            return int(raw)
        file_id = await upload()
        recorded = await self._script(
            "recording an upload",
            UPLOADED,
            [self._key("uploads")],
            [field, str(file_id), _ms(RECORD_TTL)],
        )
        return int(recorded) if recorded is not None else file_id

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
        asked, self._claiming, self._held = self._claiming | set(self._held), set(), {}
        mine = self._worker + ":"

        async def release() -> None:
            for voice_id in sorted(asked):
                await self._record(Claim(voice_id, token=mine), "release", None, patient=False)

        try:
            if renewer is not None:
                # Cancelled again until it ends: a cancellation that races a Redis
                # timeout can be turned into one, which the renewal would ride out.
                await cancel_and_wait([renewer])
            # Bounded, one try each: a cancelled batch ends promptly, and a claim
            # not released lapses by itself.
            await call_within(release(), _RELEASE_TIMEOUT)
        except (JournalError, asyncio.TimeoutError):
            pass
        finally:
            # Whatever happened above (a cancellation included), the connections go:
            # a client made from a URL lives for one batch (made again if used again).
            await self._handle.aclose()

    async def _renew_forever(self) -> None:
        me = asyncio.current_task()
        while self._renewer is me:  # stopped: not this journal's renewal any more
            await asyncio.sleep(self.lease / 3.0)
            if not self._held:
                continue
            held = sorted(self._held.items())
            keys = [self._claim_key(v) for v, _ in held]
            args = [holder for _, holder in held] + [_ms(self.lease)]
            try:
                kept = await self._script("renewing claims", RENEW, keys, args, patient=False)
            except JournalError:
                continue  # Redis lost for now: the next tick tries again
            for (voice_id, holder), still in zip(held, kept, strict=True):
                if not int(still) and self._held.get(voice_id) == holder:
                    # Lapsed (this process was paused) and perhaps taken over: the
                    # fenced "sent" mark stops its request; nothing renews it now.
                    logger.warning(
                        "journal %r: the claim on %s lapsed (this process was paused or "
                        "cut off past its lease); it will not be sent from here",
                        self.name, voice_id,
                    )  # fmt: skip
                    del self._held[voice_id]

    async def aclose(self) -> None:
        """Close the Redis client if this journal made it (never a borrowed one).

        A batch closes it when it ends; call this after `summary` or
        `activated_voices`.
        """
        self._users = 0
        await self._stop()

    # -- reading a batch's state ---------------------------------------------------------

    async def summary(self, client: _OfAccount) -> JournalSummary:
        """The whole batch's state for ``client``'s account.

        Done, in flight, failed (final or not), and sent without a recorded answer.
        """
        self._bind(client.account_id)
        # A read changes nothing: its failure advises trying again, not resuming.
        again = "nothing was changed; ask again once Redis answers"
        done, failed, final, sent, started = await self._read(
            "reading the batch",
            lambda r: r.hkeys(self._key("ok")),
            lambda r: r.hgetall(self._key("failed")),
            lambda r: r.hkeys(self._key("final")),
            lambda r: r.hkeys(self._key("sent")),
            lambda r: r.exists(self._key("epoch")),
            advice=again,
        )
        claims = await self._call("reading claims", self._scan_claims, advice=again)
        done_ids = frozenset(_text(v) for v in done)
        failed_ids = {
            _text(k): json.loads(v).get("error", "?")
            for k, v in failed.items()
            if _text(k) not in done_ids
        }
        return JournalSummary(
            done=done_ids,
            in_flight=frozenset(claims),
            failed=failed_ids,
            sent=frozenset(_text(v) for v in sent) - done_ids,
            final=frozenset(_text(v) for v in final) & frozenset(failed_ids),
            # The epoch marks a start; records without it (a Redis restarted from an
            # older snapshot) still show one.
            started=bool(started or done or failed or sent or claims),
        )

    async def _scan_claims(self) -> list[str]:
        prefix = self._key("claim:")
        pattern = "".join("\\" + c if c in "*?[]\\" else c for c in prefix) + "*"
        # A cluster client scans every node; the batch's keys are all on one.
        keys = [_text(k) async for k in self._handle.get().scan_iter(match=pattern, count=1000)]
        return [k[len(prefix) :] for k in keys]


def _ms(seconds: float) -> int:
    return int(seconds * 1000)


def _text(value: bytes | str) -> str:
    """A reply as text, whether the client decodes responses or not (a borrowed one may)."""
    return value.decode() if isinstance(value, bytes) else value


def _aw(value: Awaitable[_T] | _T) -> Awaitable[_T]:
    """redis-py types a command as sync-or-async; on an asyncio client it is awaitable."""
    assert inspect.isawaitable(value)
    return value


def _restored(voice_id: str, raw: str | bytes) -> CloneResult:
    """A result some worker recorded, checked field by field as the file journal's are."""
    record = _record(voice_id, raw)
    try:
        return result_from(record, voice_id, dt.datetime.now(dt.timezone.utc))
    except Damaged as exc:
        raise JournalError(f"the shared journal's record of {voice_id} is damaged: {exc}") from None


def _failure(voice_id: str, raw: str | bytes) -> VoiceCloneError:
    """A final failure some worker recorded, rebuilt as its error type."""
    record = _record(voice_id, raw)
    try:
        return failure_from(record)
    except Damaged as exc:
        raise JournalError(f"the shared journal's record of {voice_id} is damaged: {exc}") from None


def _record(voice_id: str, raw: str | bytes) -> dict[str, Any]:
    """A stored record as a JSON object, or `JournalError` naming the voice."""
    try:
        record = json.loads(raw)
    except (ValueError, RecursionError):
        record = None
    if not isinstance(record, dict):
        raise JournalError(f"the shared journal's record of {voice_id} is damaged: not JSON")
    return record

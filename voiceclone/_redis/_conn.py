"""Reaching Redis: the optional import, URL checks, borrowed or owned clients, key names.

Shared by the gate and the journal. Nothing here connects: redis-py opens a
connection at the first command, which the gate and the journal send from inside
the running loop. No function echoes a URL, which may carry a password.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any, Final, TypeVar, Union
from urllib.parse import urlsplit

from voiceclone._aio import call_within
from voiceclone._config import account_id, digest, env_url
from voiceclone._errors import ConfigurationError

if TYPE_CHECKING:
    from redis.asyncio import Redis
    from redis.asyncio.cluster import RedisCluster
    from redis.commands.core import AsyncScript

#: What ``redis=`` may lend: a client of one server, or of a Redis Cluster.
RedisClient = Union["Redis", "RedisCluster"]

_T = TypeVar("_T")

__all__ = [
    "RedisClient",
    "RedisHandle",
    "UnreadableReply",
    "account_tag",
    "hash_tag",
    "redis_errors",
    "resolve",
]

_SCHEMES: Final = ("redis", "rediss", "unix")
#: Seconds for a connect or a command: Redis on a LAN answers in a millisecond, so a
#: second means it is gone or stalled, and the gate falls back rather than wait.
SOCKET_TIMEOUT: Final = 1.0


def _module() -> Any:
    try:
        import redis.asyncio
    except ImportError:
        raise ConfigurationError(
            'redis= needs the redis extra: pip install "voiceclone[redis]"'
        ) from None
    return redis.asyncio


class UnreadableReply(Exception):
    """A script's answer without the shape it returns: not Redis, or a broken proxy."""


def redis_errors() -> tuple[type[BaseException], ...]:
    """What a lost, stalled, restarted or impostor Redis raises (and our timeouts)."""
    from redis.exceptions import RedisError

    return (RedisError, OSError, asyncio.TimeoutError, UnreadableReply)


class RedisHandle:
    """A Redis client made on first use from a URL (owned), or a borrowed one (never closed)."""

    def __init__(self, url: str | None, client: RedisClient | None) -> None:
        self._url = url
        self._client = client
        self.owned = client is None
        self._scripts: dict[str, AsyncScript] = {}
        self._making = asyncio.Lock()
        self._checked = client is not None  # a borrowed client is what it is

    def __repr__(self) -> str:
        return f"<RedisHandle {'owned' if self.owned else 'borrowed'}>"

    @property
    def made(self) -> bool:
        """Whether there is a client (borrowed, or made by `ready`) to talk to."""
        return self._client is not None

    def get(self) -> RedisClient:
        """The client, once `ready` has made it (an owned one) or at once (borrowed)."""
        assert self._client is not None, "RedisHandle.ready() first"
        return self._client

    async def ready(self) -> RedisClient:
        """The client; an owned one is made here, inside the running loop.

        A URL may name a Redis Cluster node: the first connection asks the server
        (``INFO cluster``) and, if it is one, the handle uses redis-py's cluster
        client from then on (that probe bounded by `SOCKET_TIMEOUT`). Raises what a
        Redis call raises when it is unreachable. Once made, a check of one flag.
        """
        if not self._checked:
            async with self._making:  # one probe, one client, however many tasks ask
                if not self._checked:
                    await self._check()
        assert self._client is not None
        return self._client

    async def _check(self) -> None:
        assert self._url is not None
        module = _module()
        options = {"socket_timeout": SOCKET_TIMEOUT, "socket_connect_timeout": SOCKET_TIMEOUT}
        if self._client is None:
            # Kept on the handle before the probe: if the probe is cancelled or fails,
            # aclose() still closes it, and the next call probes again.
            self._client = module.Redis.from_url(self._url, **options)
        info = await call_within(self._client.info("cluster"), SOCKET_TIMEOUT)
        if int(info.get("cluster_enabled", 0)) == 1:
            plain, self._client = self._client, module.RedisCluster.from_url(self._url, **options)
            self._scripts.clear()
            await plain.aclose()
        self._checked = True

    def script(self, source: str) -> AsyncScript:
        """``source`` registered on the current client (after `ready`), once per client.

        A script is bound to the client it was registered on, so closing an owned
        client forgets them: the next use registers them on the new one.
        """
        script = self._scripts.get(source)
        if script is None:
            # A cluster client registers scripts as a plain one does (typed for Redis only).
            client: Any = self.get()
            script = self._scripts[source] = client.register_script(source)
        return script

    async def aclose(self) -> None:
        """Close an owned client; a borrowed one is the caller's to close."""
        if self.owned and self._client is not None:
            client, self._client = self._client, None
            self._checked = False
            self._scripts.clear()
            await client.aclose()


def resolve(value: object, *, env: bool = True) -> RedisHandle | None:
    """Check ``value`` (a URL, a redis.asyncio client, ``None`` or ``False``) and wrap it.

    ``None`` reads ``VOICECLONE_REDIS_URL`` when ``env``; unset or empty means no Redis.
    ``False`` (or an empty URL) is no Redis, whatever the environment.
    """
    if value is None and env:
        value = env_url()
    if value is None or value is False or (isinstance(value, str) and not value.strip()):
        return None
    module = _module()
    if isinstance(value, str):
        from voiceclone._config import Redacted  # a URL may hold a password: never a plain local

        value = url = Redacted(value.strip())
        problem = _url_problem(url)  # its frame, holding the URL's parts, is gone now
        if problem is not None:
            raise ConfigurationError(problem)
        return RedisHandle(url, None)
    if isinstance(value, (module.Redis, module.RedisCluster)):
        return RedisHandle(None, value)
    raise ConfigurationError(
        "redis must be a Redis URL, a redis.asyncio.Redis, a redis.asyncio.cluster."
        f"RedisCluster or False, got {type(value).__name__}"
    )


def _url_problem(url: str) -> str | None:
    """What is wrong with a URL redis-py would misread, quoting nothing of it."""
    from redis.asyncio.connection import parse_url

    try:
        parts = urlsplit(url)
    except ValueError:
        return "redis must be a redis://, rediss:// or unix:// URL"
    if parts.scheme not in _SCHEMES:
        return f"redis must be a redis://, rediss:// or unix:// URL (scheme {parts.scheme!r})"
    # An "@" past the host part: a password holding "/", "#" or "?" that was not
    # percent-encoded, which redis-py would read as a path, a query or a fragment.
    misread = "@" in parts.path + parts.query + parts.fragment
    try:
        parse_url(url)
    except (ValueError, TypeError):
        misread = True
    if misread:
        return (
            "the redis URL cannot be read: percent-encode any '/', '#', '?' or '@' in its "
            "user name or password (urllib.parse.quote(password, safe=''))"
        )
    return None


def account_tag(api_key: str, base_url: str) -> str:
    """A Redis Cluster hash tag for one account.

    Every key of an account carries it, so a script's keys share one slot.
    """
    return "{" + account_id(api_key, base_url) + "}"


def hash_tag(text: str) -> str:
    """A Redis Cluster hash tag naming ``text`` by a digest (it may be a secret)."""
    return "{" + digest(text) + "}"

"""The client's options, checked once at construction, before anything is sent.

The API key is wrapped in `Redacted` the moment it is read, so no frame of these
checks holds it in a form a traceback would print; the headers are built here,
once per client, rather than per request.
"""

from __future__ import annotations

import hashlib
import ipaddress
import os
import platform
import warnings
from collections.abc import Mapping
from typing import Final
from urllib.parse import urlsplit

import aiohttp

from ._errors import ConfigurationError, InsecureTransportWarning, ValidationError
from ._retry import RetryPolicy
from ._validate import check_number, is_http_url
from ._version import __version__

__all__ = [
    "DEFAULT_BASE_URL",
    "ENV_REDIS_URL",
    "FALLBACKS",
    "USER_AGENT",
    "Redacted",
    "account_id",
    "check_fallback",
    "check_key",
    "check_option",
    "check_proxy",
    "check_retry",
    "digest",
    "env_url",
    "request_headers",
    "resolve_base_url",
]

DEFAULT_BASE_URL: Final = "https://api.minimax.io/v1"
#: The environment variable read when ``Client(redis=None)``.
ENV_REDIS_URL: Final = "VOICECLONE_REDIS_URL"
#: What a Redis-shared gate may do while Redis is unreachable (see `Client`'s ``fallback``).
FALLBACKS: Final = ("local", "open", "fail")
#: Sent with every request: MiniMax support and gateway logs can tell SDK traffic apart.
USER_AGENT: Final = (
    f"voiceclone/{__version__} aiohttp/{aiohttp.__version__} python/{platform.python_version()}"
)


class Redacted(str):
    """A string that never shows itself in a repr: for the key in frames and headers.

    Tracebacks printed with their locals (``pytest -l``, ``capture_locals=True``,
    error trackers) repr every variable of every frame; the key travels in this
    type, so those show ``'<redacted>'``.
    """

    __slots__ = ()

    def __repr__(self) -> str:
        return "'<redacted>'"


def _is_loopback(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def resolve_base_url(value: str) -> str:
    try:
        parts = urlsplit(value.strip())
    except ValueError:
        raise ConfigurationError("base_url is not a URL (an unclosed [ or a bad port)") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        # Never echo the URL itself: a mistyped one may still carry user:password@.
        raise ConfigurationError(
            f"base_url must be an http(s) URL with a host (scheme {parts.scheme!r}, "
            f"host {'present' if parts.hostname else 'missing'})"
        )
    if parts.query or parts.fragment or parts.username or parts.password:
        raise ConfigurationError("base_url must not carry a query, fragment or credentials")
    try:
        parts.port  # noqa: B018  (raises for a port that is not a number in range)
    except ValueError:
        raise ConfigurationError(f"base_url has an invalid port: {value!r}") from None
    if parts.scheme == "http" and not _is_loopback(parts.hostname):
        warnings.warn(
            f"base_url is plain http to {parts.hostname}: the API key crosses the network "
            "unencrypted; use https",
            InsecureTransportWarning,
            stacklevel=3,
        )
    return value.strip().rstrip("/")


def check_key(key: Redacted) -> Redacted:
    # Redacted before and after: a failing check must not leave the key in a frame.
    key = Redacted(key.strip())
    if not key:
        raise ConfigurationError("no API key: pass api_key= or set MINIMAX_API_KEY")
    if not all("!" <= c <= "~" for c in key):
        # Caught here, once, rather than by every request's header encoding.
        raise ConfigurationError(
            "the API key must be printable ASCII without spaces or control characters"
        )
    return key


#: Characters of a header name (RFC 9110 "token").
_TOKEN: Final = frozenset(
    "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
)


#: Headers of one request's body (its length, framing, type and encoding: a multipart
#: form's boundary is in its Content-Type) or of the connection. Set once for every
#: request, each breaks them all, so they are refused with a reason instead.
_PER_REQUEST: Final = frozenset(
    {
        "content-length", "transfer-encoding", "content-type", "content-encoding",
        "connection", "keep-alive", "upgrade", "te", "trailer", "expect",
    }
)  # fmt: skip


def request_headers(default_headers: Mapping[str, str] | None, key: Redacted) -> dict[str, str]:
    """Headers for every API request: User-Agent, the caller's own, then the key.

    Checked here, once: a header aiohttp would refuse fails every request otherwise.
    """
    headers = {"User-Agent": USER_AGENT}
    for name, value in (default_headers or {}).items():
        if not isinstance(name, str) or not isinstance(value, str):
            raise ConfigurationError("default_headers must map header names to strings")
        if not name or not set(name) <= _TOKEN:
            raise ConfigurationError(f"default_headers: {name!r} is not a header name")
        if name.lower() == "authorization":
            raise ConfigurationError(
                "default_headers must not set Authorization: the client sends the API key"
            )
        if name.lower() in _PER_REQUEST:
            raise ConfigurationError(
                f"default_headers must not set {name}: it describes one request's body or "
                "the connection, and the client sets it for each request"
            )
        if any((c < " " and c != "\t") or c == "\x7f" for c in value):
            raise ConfigurationError(
                f"default_headers[{name!r}] contains a line break or control character"
            )
        headers[name] = value
    headers["Authorization"] = Redacted(f"Bearer {key}")
    return headers


def check_proxy(proxy: str | None) -> Redacted | None:
    """The proxy URL, kept redacted: it may carry a password."""
    if proxy is None:
        return None
    if not is_http_url(proxy):
        raise ConfigurationError("proxy must be an http(s) URL")
    return Redacted(proxy)


def check_retry(retry: object) -> RetryPolicy | None:
    if retry is not None and not isinstance(retry, RetryPolicy):
        raise ConfigurationError("retry must be a voiceclone.RetryPolicy or None")
    return retry


def check_option(name: str, value: object, *, integer: bool = False) -> None:
    """A client option: a positive number, else `ConfigurationError`."""
    try:
        check_number(value, name, positive=True, integer=integer)
    except ValidationError as exc:
        raise ConfigurationError(str(exc)) from None


def env_url() -> str | None:
    """``$VOICECLONE_REDIS_URL``, or ``None`` when it is unset or empty."""
    return os.environ.get(ENV_REDIS_URL, "").strip() or None


def check_fallback(fallback: str) -> None:
    if fallback not in FALLBACKS:
        raise ConfigurationError(f"fallback must be one of {', '.join(FALLBACKS)}")


def digest(text: str) -> str:
    """A short SHA-256 name for ``text`` (which may be a secret): safe to log or store."""
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def account_id(api_key: str, base_url: str) -> str:
    """A name for one account (API key + base URL): a digest, never the key itself."""
    return digest(f"voiceclone\0{api_key}\0{base_url}")

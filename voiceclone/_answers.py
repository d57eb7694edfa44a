"""What an HTTP answer means: its decoded JSON body, or the error it stands for.

MiniMax answers HTTP 200 with the outcome in ``base_resp``, so a non-zero
``status_code`` is an error whatever the HTTP status; gateways in front of it add
HTTP 5xx, 429 and HTML bodies. This is the one place that tells them apart.
"""

from __future__ import annotations

import email.utils
import json
import time
from collections.abc import Mapping
from typing import Any, Final

import aiohttp

from ._errors import APIError, AuthenticationError, RateLimitError, ServerError, error_for_status
from ._parse import ResponseFormatError, int64

__all__ = ["MAX_BODY_BYTES", "PREVIEW_PATH", "interpret", "parse_retry_after", "read_body"]

#: Answers larger than this are not MiniMax JSON; stop reading instead of buffering them.
MAX_BODY_BYTES: Final = 16 * 1024 * 1024
#: What logs and events call a preview download, whose URL is not under base_url.
PREVIEW_PATH: Final = "/<demo_audio>"


def parse_retry_after(headers: Mapping[str, str]) -> float | None:
    value = headers.get("Retry-After")
    if not value:
        return None
    # isdigit() alone admits "²" and other digits float() refuses.
    if value.strip().isascii() and value.strip().isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value) if "," in value else None
        return max(0.0, when.timestamp() - time.time()) if when else None
    except (TypeError, ValueError, OverflowError, IndexError):
        return None  # a malformed hint (from a proxy, say) is no hint


async def read_body(resp: aiohttp.ClientResponse, path: str) -> bytes:
    """The whole body, refusing one too large to be MiniMax JSON or a preview."""
    length = resp.content_length
    if length is not None:
        if length > MAX_BODY_BYTES:
            raise ResponseFormatError(f"unreadable response from {path}: body over 16 MiB")
        return await resp.read()  # bounded by the length; the common case
    chunks = []
    size = 0
    async for chunk in resp.content.iter_any():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise ResponseFormatError(f"unreadable response from {path}: body over 16 MiB")
        chunks.append(chunk)
    return b"".join(chunks)


def interpret(
    path: str, http_status: int, body: bytes, trace_id: str | None, retry_after: float | None
) -> tuple[Any, int]:
    """Map an answer to its decoded JSON or to the error it stands for."""
    try:
        decoded = json.loads(body)
    except (ValueError, RecursionError):
        decoded = None
    base = decoded.get("base_resp") if isinstance(decoded, dict) else None
    code = base.get("status_code") if isinstance(base, dict) else None
    if code is not None and http_status < 500:
        try:
            code = int64(code, "base_resp.status_code")
        except ResponseFormatError as exc:
            exc.trace_id = trace_id
            raise
        if code != 0:
            msg = base.get("status_msg") if isinstance(base, dict) else None
            err = error_for_status(code, msg if isinstance(msg, str) else None, trace_id=trace_id)
            err.retry_after = retry_after
            raise err
    if http_status != 200:
        cls: type[APIError] = APIError
        hint = ""
        if http_status >= 500:
            cls = ServerError
        elif http_status == 429:
            cls = RateLimitError
        elif path == PREVIEW_PATH:
            pass  # an expired or missing preview link says nothing about the key or base_url
        elif http_status in (401, 403):
            cls = AuthenticationError
        elif http_status == 404:
            hint = ": check base_url (it must end with /v1)"
        err = cls(
            f"HTTP {http_status} from {path}{hint}", status_code=http_status, trace_id=trace_id
        )
        err.retry_after = retry_after
        raise err
    if not isinstance(decoded, dict) or code is None:
        what = "not a JSON object" if not isinstance(decoded, dict) else "no base_resp.status_code"
        raise ResponseFormatError(f"unreadable response from {path}: {what}", trace_id=trace_id)
    return decoded, code

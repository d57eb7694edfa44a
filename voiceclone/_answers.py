"""What an HTTP answer means: its decoded JSON body, or the error it stands for.

MiniMax answers HTTP 200 with the outcome in ``base_resp``, so a non-zero
``status_code`` is an error whatever the HTTP status; gateways in front of it add
HTTP 5xx, 429 and HTML bodies. This is the one place that tells them apart.
A preview download is not an API answer (no ``base_resp``, a host of its own):
`preview_body` judges it by its HTTP status alone.
"""

from __future__ import annotations

import json
from typing import Any

from ._errors import (
    APIError,
    AuthenticationError,
    RateLimitError,
    ResponseFormatError,
    ServerError,
    error_for_status,
)
from ._parse import int64, traced
from ._request import Answer

__all__ = ["Reply", "api_body", "api_reply", "preview_body"]

#: A decoded API answer and its trace id.
Reply = tuple[dict[str, Any], "str | None"]


def _http_error(answer: Answer, what: str, *, api: bool) -> APIError:
    """The error for a non-200 answer without a usable ``base_resp``."""
    status = answer.http_status
    cls: type[APIError] = APIError
    hint = ""
    if status >= 500:
        cls = ServerError
    elif status == 429:
        cls = RateLimitError
    elif not api:
        pass  # an expired or missing preview link says nothing about the key or base_url
    elif status in (401, 403):
        cls = AuthenticationError
    elif status == 404:
        hint = ": check base_url (it must end with /v1)"
    return cls(
        f"HTTP {status} from {what}{hint}",
        http_status=status,
        trace_id=answer.trace_id,
        retry_after=answer.retry_after,
    )


def api_body(answer: Answer, what: str) -> dict[str, Any]:
    """The decoded JSON object of a successful API answer (status code 0), or raise.

    ``what`` is the request's ``"METHOD /path"``: it names it in errors, and the path
    picks the error class where a code means more from one endpoint.
    """
    try:
        decoded = json.loads(answer.body)
    except (ValueError, RecursionError):
        decoded = None
    base = decoded.get("base_resp") if isinstance(decoded, dict) else None
    code = base.get("status_code") if isinstance(base, dict) else None
    if code is not None and answer.http_status < 500:
        with traced(answer.trace_id):
            code = int64(code, "base_resp.status_code")
        if code != 0:
            assert isinstance(base, dict)
            msg = base.get("status_msg")
            raise error_for_status(
                code,
                msg if isinstance(msg, str) else None,
                trace_id=answer.trace_id,
                retry_after=answer.retry_after,
                http_status=answer.http_status,
                endpoint=what.partition(" ")[2],  # "POST /t2a_v2": the path
            )
    if answer.http_status != 200:
        raise _http_error(answer, what, api=True)
    if not isinstance(decoded, dict) or code is None:
        shape = "not a JSON object" if not isinstance(decoded, dict) else "no base_resp.status_code"
        raise ResponseFormatError(
            f"unreadable response from {what}: {shape}", trace_id=answer.trace_id
        )
    return decoded


def api_reply(answer: Answer, what: str) -> Reply:
    """`api_body` and the answer's trace id: what an API request's call returns."""
    return api_body(answer, what), answer.trace_id


def preview_body(answer: Answer, what: str) -> bytes:
    """The bytes of a preview download, or the error its HTTP status stands for."""
    if answer.http_status != 200:
        raise _http_error(answer, what, api=False)
    return answer.body

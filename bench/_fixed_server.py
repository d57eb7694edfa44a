"""A server that answers every request with one precomputed voice_clone success.

Run in its own process by ``bench/overhead.py`` so that what is measured is the
client: a bare asyncio protocol that splits HTTP/1.1 requests on their
``Content-Length`` and writes the same bytes back each time does the least
per request that Python can (most of it the socket's system calls), where the
emulator (validation, account state, a token bucket) costs as much CPU as the
client it serves.

Requests must carry a ``Content-Length`` (aiohttp's JSON posts do; chunked
bodies are not understood). ``GET .../__cpu`` answers the server's own CPU
seconds, so the benchmark can show what the server costs. The server checks
nothing: it is not an API, only a fixed load for timing clients.

    python bench/_fixed_server.py      # prints "listening on http://127.0.0.1:PORT/v1"
"""

from __future__ import annotations

import asyncio
import json
import time

#: What MiniMax answers to a clone without a preview (minimax-api.md, section 2).
CLONE_SUCCESS = json.dumps(
    {
        "input_sensitive": False,
        "input_sensitive_type": 0,
        "demo_audio": "",
        "base_resp": {"status_code": 0, "status_msg": "success"},
    }
).encode()


def _response(body: bytes) -> bytes:
    head = (
        "HTTP/1.1 200 OK\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n"
        "Trace-Id: bench-fixed-answer\r\n"
        "\r\n"
    )
    return head.encode() + body


_CLONE_RESPONSE = _response(CLONE_SUCCESS)
_HEADER_END = b"\r\n\r\n"
_LENGTH = b"\r\ncontent-length:"
# A request head larger than this is not one a benchmark client sends: drop the
# connection rather than buffer without bound.
_MAX_HEAD = 64 * 1024


class _FixedAnswer(asyncio.Protocol):
    def __init__(self) -> None:
        self._buffer = b""
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport

    def data_received(self, data: bytes) -> None:
        assert self._transport is not None
        buffer = self._buffer + data
        answers = []
        while True:
            end = buffer.find(_HEADER_END)
            if end < 0:
                if len(buffer) > _MAX_HEAD:
                    self._transport.close()
                    return
                break
            head = buffer[:end].lower()
            at = head.find(_LENGTH)
            length = 0
            if at >= 0:
                stop = head.find(b"\r\n", at + 2)
                length = int(head[at + len(_LENGTH) : stop if stop >= 0 else None])
            total = end + len(_HEADER_END) + length
            if len(buffer) < total:
                break
            if head.startswith(b"get ") and b"/__cpu " in head[: head.find(b"\r\n")]:
                answers.append(_response(str(time.process_time()).encode()))
            else:
                answers.append(_CLONE_RESPONSE)
            buffer = buffer[total:]
        self._buffer = buffer
        if answers:
            self._transport.write(b"".join(answers))


async def _serve() -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(_FixedAnswer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    print(f"listening on http://127.0.0.1:{port}/v1", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(_serve())

"""Streamed speech: audio chunks as MiniMax synthesizes them, then the last event's facts.

The rule for retries: a stream is sent again, whole, only until its first event
has arrived (the attempt, in the client's request path, ends there); once audio
has been handed to the caller nothing is sent again, so no audio is ever given
twice. A stream cut after that raises `TransportError` (``request_sent``), and
what to do with the audio already played is the caller's call.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from types import TracebackType
from typing import Any

from ._answers import api_body
from ._errors import TransportError
from ._parse import parse_speech_event
from ._request import Answer, Events

__all__ = ["Opened", "SpeechStream", "StreamReply", "stream_reply"]

#: What opening a stream gives: the first event, the rest, the trace id, attempts made.
Opened = tuple[dict[str, Any], "Events | None", "str | None", int]
#: What a streamed request's reader makes of its answer: (first event, the rest), trace id.
StreamReply = tuple[tuple[dict[str, Any], "Events | None"], "str | None"]


def stream_reply(answer: Answer, what: str) -> StreamReply:
    """The reader of a streamed speech request: the first event (checked) and the rest.

    A server that answered whole instead (one JSON object) gives that as the first
    and only event.
    """
    try:
        first = api_body(answer, what)
    except BaseException:
        if answer.events is not None:
            answer.events.close()
        raise
    return (first, answer.events), answer.trace_id


class SpeechStream:
    """Speech as it is made: ``async for chunk in stream`` yields audio bytes.

    Nothing is sent before the first ``async for`` step. Once the stream ends,
    `extra_info` holds the last event's (audio length, size, characters billed)
    and `trace_id` the answer's. Leave early with ``aclose()`` (or ``async with``):
    the connection is closed.
    """

    def __init__(self, start: Callable[[], Awaitable[Opened]], what: str) -> None:
        self._start = start
        self._what = what
        self._events: Events | None = None
        self._started = False
        self._done = False
        self._yielded = 0
        #: The last event's ``extra_info``, once the stream has ended.
        self.extra_info: Mapping[str, Any] | None = None
        #: The answer's ``Trace-Id``, once the stream has started.
        self.trace_id: str | None = None
        #: Requests sent to open the stream (retries before its first event included).
        self.attempts = 0

    def __repr__(self) -> str:
        state = "done" if self._done else "streaming" if self._started else "not started"
        return f"<SpeechStream {state}, {self._yielded} bytes>"

    def __aiter__(self) -> SpeechStream:
        return self

    async def __aenter__(self) -> SpeechStream:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Stop reading; the connection is closed. Idempotent."""
        self._done = True
        events, self._events = self._events, None
        if events is not None:
            await events.aclose()

    async def __anext__(self) -> bytes:
        try:
            return await self._next_chunk()
        except StopAsyncIteration:
            raise
        except BaseException:
            await self.aclose()  # whatever ended it (an error, a cancellation): closed
            raise

    async def _next_chunk(self) -> bytes:
        event: dict[str, Any] | None = None
        if not self._started:
            self._started = True
            event, self._events, self.trace_id, self.attempts = await self._start()
        while not self._done:
            if event is None:
                event = await self._next_event()
            audio, extra = parse_speech_event(event, trace_id=self.trace_id)
            event = None
            if extra is not None:  # the last event
                self.extra_info = extra
                await self.aclose()
                if audio and not self._yielded:  # a short text: one event, whole
                    self._yielded += len(audio)
                    return audio
                break
            if audio:
                self._yielded += len(audio)
                return audio
        raise StopAsyncIteration

    async def _next_event(self) -> dict[str, Any]:
        data = await self._events.next() if self._events is not None else None
        if data is None:
            await self.aclose()
            raise TransportError(
                f"{self._what}: the stream ended before its last event, after "
                f"{self._yielded} bytes of audio",
                request_sent=True,
                retryable=False,
            )
        return api_body(Answer(200, data, self.trace_id, None), self._what)

"""A MiniMax-compatible voice-cloning API server for demos and tests.

:class:`Emulator` is a real ``aiohttp.web`` server on a local port. It speaks the
protocol of ``/v1/files/upload``, ``/v1/files/list``, ``/v1/files/retrieve``,
``/v1/files/delete``, ``/v1/voice_clone``, ``/v1/get_voice``, ``/v1/delete_voice``
and ``/v1/t2a_v2`` (speech, streamed as server-sent events with ``stream``):
bearer-key accounts, validation with the real status codes, duplicate voice ids
(2039), a per-account requests-per-minute limit (1002; speech has limits of its
own, ``speech_rpm`` and ``speech_cpm``: 1039), preview clips served from
``/previews/<token>.wav``, and a ``Trace-Id`` header on every answer.

The 7-day rule: a clone is listed by ``get_voice`` once a synthesis used it, and
a clone no synthesis used within 7 days is deleted. The emulator's calendar moves
with :meth:`Emulator.advance` (``POST /__emulator/advance {"seconds": N}``). Its state
(voices with their creation counts, files, answers, faults) is served as JSON at
``GET /__emulator/state``, beside ``/v1``, and returned by :meth:`Emulator.state`.

Faults can be injected three ways, in order of precedence:

1. a request header ``X-Emulator-Fault: <kind>[:<arg>]`` (``latency:0.2``, ``slow:5``,
   ``http:503``, ``drop_before``, ``drop_after``, ``garbage``, ``rate_limit``,
   ``status:1002``, ``status:1002:message``);
2. :meth:`Emulator.inject` queues a :class:`Fault` for the next requests to an endpoint;
3. :class:`Faults` gives per-request probabilities drawn from a seeded generator.

Deterministic content triggers: a preview ``text`` containing the word ``FLAGGED``
is refused with 1026; a sample uploaded under a filename starting with
``sensitive`` clones with ``input_sensitive: true, input_sensitive_type: 3``.
"""

from voiceclone.emulator._app import Emulator
from voiceclone.emulator._cli import main
from voiceclone.emulator._faults import Fault, Faults
from voiceclone.emulator._state import (
    Account,
    EmulatorStats,
    RecordedRequest,
    StoredFile,
    StoredVoice,
)

__all__ = [
    "Account",
    "Emulator",
    "EmulatorStats",
    "Fault",
    "Faults",
    "RecordedRequest",
    "StoredFile",
    "StoredVoice",
    "main",
]

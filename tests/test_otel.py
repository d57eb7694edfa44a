"""OpenTelemetry: a span per call, a child span per attempt, metrics; nothing without it.

Each scenario runs in a subprocess: OpenTelemetry's providers are process-wide and
can be set only once, and "absent" must mean never imported.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from typing import Any

from conftest import KEY

TRACED = textwrap.dedent(
    """
    import asyncio, json
    from opentelemetry import metrics, trace
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    import voiceclone
    from voiceclone._samples import make_wav
    from voiceclone.emulator import Emulator, Fault

    spans = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(spans))
    trace.set_tracer_provider(provider)
    reader = InMemoryMetricReader()
    metrics.set_meter_provider(MeterProvider(metric_readers=[reader]))
    FAST = voiceclone.RetryPolicy(wait_initial=0.001, wait_max=0.002, wait_jitter=0.0)

    async def main():
        async with Emulator(api_key=KEY, rpm=None) as emu:
            # Paced fast: the rate-limit answer's cooldown lasts milliseconds, not seconds.
            async with voiceclone.Client(
                KEY, emu.base_url, retry=FAST, requests_per_minute=6000
            ) as client:
                up = await client.upload_file(make_wav(12.0), filename="secret-name.wav")
                emu.inject(Fault.http(503), endpoint="voice_clone")
                emu.inject(Fault.rate_limit(), endpoint="voice_clone")
                await client.clone(file_id=up.file_id, voice_id="Traced0001", text="Hi.",
                                   model="speech-2.8-hd")
                emu.inject(Fault.status(2013, "no good"), endpoint="get_voice")
                try:
                    await client.list_voices()
                except voiceclone.APIError:
                    pass
                emu.inject(Fault.status(1008), endpoint="voice_clone")
                for voice_id in ("Broke0001x", "Broke0002x"):  # the second is not sent
                    try:
                        await client.clone(file_id=up.file_id, voice_id=voice_id)
                    except voiceclone.InsufficientBalanceError:
                        pass

    asyncio.run(main())
    out = [
        {"name": s.name, "id": s.context.span_id, "parent": s.parent.span_id if s.parent else None,
         "status": s.status.status_code.name, "attributes": dict(s.attributes),
         "events": [[e.name, dict(e.attributes)] for e in s.events]}
        for s in spans.get_finished_spans()
    ]
    data = reader.get_metrics_data()
    points = {}
    for rm in data.resource_metrics:
        for sm in rm.scope_metrics:
            for m in sm.metrics:
                for p in m.data.data_points:
                    value = getattr(p, "value", None)
                    if value is None:
                        value = p.count
                    points.setdefault(m.name, []).append([dict(p.attributes), value])
    print(json.dumps({"spans": out, "metrics": points}))
    """
)


def run(script: str, *prelude: str) -> str:
    code = "\n".join([*prelude, f"KEY = {KEY!r}", script])
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_a_retried_clone_is_one_span_with_a_child_per_attempt() -> None:
    out = json.loads(run(TRACED))
    spans: list[dict[str, Any]] = out["spans"]
    clone = [
        s
        for s in spans
        if s["name"] == "voiceclone.clone"
        and s["attributes"]["voiceclone.voice_id"] == "Traced0001"
    ]
    assert len(clone) == 1
    attempts = [s for s in spans if s["parent"] == clone[0]["id"]]
    assert [s["name"] for s in attempts] == ["POST /voice_clone"] * 3
    assert [s["attributes"]["voiceclone.attempt"] for s in attempts] == [1, 2, 3]
    first, second, third = (s["attributes"] for s in attempts)
    assert first["http.response.status_code"] == 503
    assert second["minimax.status_code"] == 1002
    assert third["minimax.status_code"] == 0
    assert all(a["voiceclone.voice_id"] == "Traced0001" for a in (first, second, third))
    assert all(a.get("minimax.trace_id") for a in (first, second, third))
    assert [s["status"] for s in attempts] == ["ERROR", "ERROR", "UNSET"]
    assert all(any(e[0] == "voiceclone.gate.wait" for e in s["events"]) for s in attempts)
    assert clone[0]["status"] == "UNSET"
    failed = [s for s in spans if s["name"] == "voiceclone.list_voices"]
    assert failed[0]["status"] == "ERROR"
    assert failed[0]["attributes"]["error.type"] == "InvalidParameterError"
    assert any(s["name"] == "voiceclone.upload_file" for s in spans)

    metrics = out["metrics"]
    by_code = {
        a.get("minimax.status_code", a.get("http.response.status_code")): v
        for a, v in metrics["voiceclone.requests"]
        if a["url.path"] == "/voice_clone"
    }
    assert by_code == {503: 1, 1002: 1, 0: 1, 1008: 1}
    # The account breaker opened once: a span event and a count, labelled by code.
    refused = [e for s in spans for e in s["events"] if e[0] == "voiceclone.account.refused"]
    assert refused == [["voiceclone.account.refused", {"minimax.status_code": 1008}]]
    assert metrics["voiceclone.account.refused"] == [[{"minimax.status_code": 1008}, 1]]
    assert sum(v for _, v in metrics["voiceclone.rate_limited"]) == 1
    assert sum(v for _, v in metrics["voiceclone.retries"]) == 2
    # One wait per attempt that reached the gate (the call not sent never does).
    assert sum(v for _, v in metrics["voiceclone.gate.wait"]) == 4

    text = json.dumps(out)
    for secret in (KEY, "Bearer", "secret-name", "no good", "Hi."):
        assert secret not in text  # no key, header, file name, server message or text


METERED = textwrap.dedent(
    """
    import asyncio, json
    from opentelemetry import metrics, trace
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader

    import voiceclone
    from voiceclone.emulator import Emulator, Fault
    from voiceclone.testing import sample_wav

    reader = InMemoryMetricReader()
    metrics.set_meter_provider(MeterProvider(metric_readers=[reader]))  # and no tracer
    FAST = voiceclone.RetryPolicy(wait_initial=0.001, wait_max=0.002, wait_jitter=0.0)

    async def main():
        async with Emulator(api_key=KEY, rpm=None) as emu:
            async with voiceclone.Client(
                KEY, emu.base_url, retry=FAST, requests_per_minute=60000
            ) as client:
                up = await client.upload_file(sample_wav(10.5))
                # Codes no one documented: each would be a time series of its own.
                for n, fault in enumerate(
                    [Fault.status(77001), Fault.status(77002), Fault.http(418, "teapot")]
                ):
                    emu.inject(fault, endpoint="voice_clone")
                    try:
                        await client.clone(file_id=up.file_id, voice_id=f"Metered{n}00x")
                    except voiceclone.APIError:
                        pass
                await client.clone(file_id=up.file_id, voice_id="Metered900x")

    asyncio.run(main())
    points = []
    for rm in reader.get_metrics_data().resource_metrics:
        for sm in rm.scope_metrics:
            for m in sm.metrics:
                if m.name == "voiceclone.requests":
                    points += [[dict(p.attributes), p.value] for p in m.data.data_points]
    print(json.dumps({"tracing": type(trace.get_tracer_provider()).__name__, "requests": points}))
    """
)


def test_a_meter_provider_alone_records_metrics_with_bounded_labels() -> None:
    out = json.loads(run(METERED))
    assert out["tracing"] == "ProxyTracerProvider"  # no tracer provider was set up
    clones = [(a, v) for a, v in out["requests"] if a["url.path"] == "/voice_clone"]
    labels = sorted(
        (str(a.get("http.response.status_code")), str(a.get("minimax.status_code")), v)
        for a, v in clones
    )
    # 77001 and 77002 are one "other" series; 418, a status no one answers, is "4xx".
    assert labels == [("200", "0", 1), ("200", "other", 2), ("4xx", "None", 1)]


def test_without_opentelemetry_nothing_is_imported() -> None:
    script = textwrap.dedent(
        """
        import asyncio, sys
        import voiceclone
        from voiceclone.emulator import Emulator

        async def main():
            async with Emulator(api_key=KEY, rpm=None) as emu:
                async with voiceclone.Client(KEY, emu.base_url) as client:
                    assert client._telemetry is None
                    await client.list_voices()

        asyncio.run(main())
        print(sorted(m for m, v in sys.modules.items() if m.startswith("opentelemetry") and v))
        """
    )
    blocked = "import sys; sys.modules['opentelemetry'] = None"
    assert run(script, blocked).strip() == "[]"


def test_with_the_api_but_no_sdk_set_up_nothing_is_recorded() -> None:
    script = textwrap.dedent(
        """
        import asyncio
        import voiceclone
        from voiceclone._otel import SILENT
        from voiceclone.emulator import Emulator

        async def main():
            async with Emulator(api_key=KEY, rpm=None) as emu:
                async with voiceclone.Client(KEY, emu.base_url) as client:
                    await client.list_voices()
                    print(client._telemetry is not None, client._observed() is SILENT)

        asyncio.run(main())
        """
    )
    assert run(script).split() == ["True", "True"]

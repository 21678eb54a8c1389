# SPDX-License-Identifier: Apache-2.0
"""Many interleaved turns on one event loop; a dead or black-holed exporter never reaches the hooks."""

from __future__ import annotations

import asyncio
import random
import statistics
import threading
import time
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from otel_filter import Filter, Pipeline, Valves
from tests.support.otlp_sink import Blackhole, OtlpSink, dead_endpoint

pytestmark = pytest.mark.unit

TURNS = 1_000


def _bodies(i: int) -> tuple[dict[str, Any], list[dict[str, Any]], dict[str, Any]]:
    mid = f"m-{i}"
    inlet = {
        "model": f"model-{i % 7}",
        "stream": True,
        "messages": [{"role": "user", "content": f"question {i}"}],
        "metadata": {"chat_id": f"chat-{i % 50}", "message_id": mid, "user_id": f"u-{i % 13}"},
    }
    chunks = [
        {"id": f"r-{i}", "model": f"upstream-{i % 7}", "choices": [{"delta": {"content": "a"}}]},
        {"id": f"r-{i}", "choices": [{"delta": {}, "finish_reason": "stop"}]},
        {"id": f"r-{i}", "choices": [], "usage": {"prompt_tokens": i, "completion_tokens": i + 1}},
    ]
    outlet = {
        "model": f"model-{i % 7}",
        "id": mid,
        "chat_id": f"chat-{i % 50}",
        "messages": [
            {"role": "user", "content": f"question {i}"},
            {
                "id": mid,
                "role": "assistant",
                "content": f"answer {i}",
                "usage": {"prompt_tokens": i, "completion_tokens": i + 1},
            },
        ],
    }
    return inlet, chunks, outlet


@pytest.mark.parametrize("functions", [False, True], ids=["pipelines", "functions"])
def test_interleaved_concurrent_turns_each_get_their_own_correct_span(functions: bool) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    host: Any = Filter(tracer_provider=provider) if functions else Pipeline(tracer_provider=provider)
    rng = random.Random(7)

    async def turn(i: int) -> None:
        inlet, chunks, outlet = _bodies(i)
        user = {"id": f"u-{i % 13}"}
        await asyncio.sleep(rng.random() * 0.01)
        if functions:
            assert host.inlet(inlet, __user__=user, __metadata__=inlet["metadata"]) is inlet
            for chunk in chunks:
                await asyncio.sleep(rng.random() * 0.005)
                assert host.stream(chunk, __metadata__=inlet["metadata"], __message_id__=f"m-{i}") is chunk
            await asyncio.sleep(rng.random() * 0.01)
            assert host.outlet(outlet, __user__=user, __metadata__=inlet["metadata"]) is outlet
        else:
            assert await host.inlet(inlet, user) is inlet
            await asyncio.sleep(rng.random() * 0.02)
            assert await host.outlet(outlet, user) is outlet

    async def run() -> None:
        await asyncio.gather(*(turn(i) for i in range(TURNS)))

    asyncio.run(run())
    spans = exporter.get_finished_spans()
    assert len(spans) == TURNS
    seen = set()
    for span in spans:
        attributes = span.attributes or {}
        i = int(str(attributes["openwebui.message.id"]).removeprefix("m-"))
        seen.add(i)
        assert span.name == f"chat model-{i % 7}"
        assert attributes["gen_ai.conversation.id"] == f"chat-{i % 50}"
        assert attributes["user.id"] == f"u-{i % 13}"
        assert attributes["gen_ai.usage.input_tokens"] == i
        assert attributes["gen_ai.usage.output_tokens"] == i + 1
        assert f"question {i}" in str(attributes["gen_ai.input.messages"])
        assert f"answer {i}" in str(attributes["gen_ai.output.messages"])
        if functions:
            assert attributes["gen_ai.response.id"] == f"r-{i}"
            assert attributes["gen_ai.response.model"] == f"upstream-{i % 7}"
            assert attributes["gen_ai.response.time_to_first_chunk"] > 0  # type: ignore[operator]
    assert seen == set(range(TURNS))
    assert host._core_instance.open_turns == 0


def _hook_latencies(pipeline: Pipeline, turns: int) -> list[float]:
    latencies: list[float] = []

    async def run() -> None:
        for i in range(turns):
            inlet, _, outlet = _bodies(i)
            start = time.perf_counter()
            await pipeline.inlet(inlet, {"id": "u"})
            await pipeline.outlet(outlet, {"id": "u"})
            latencies.append(time.perf_counter() - start)
            if i % 50 == 0:
                await asyncio.sleep(0.01)  # let the exporter thread run, as a real server would

    asyncio.run(run())
    return latencies


@pytest.mark.parametrize("target", ["blackhole", "refused"])
def test_unreachable_collector_never_slows_or_breaks_the_hooks(target: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Export goes to a port that swallows connections (or refuses them): hooks keep their pace.

    Behaviour, not timing: the exporter thread is stuck for its 10 s timeout, yet every hook call
    returns at once, and the only thread that ever touched the network is the exporter's.
    """
    # The SDK exporter retries until its timeout (default 10 s); 3 s keeps the test short.
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TIMEOUT", "3")
    with OtlpSink() as sink, Blackhole() as hole:
        baseline = Pipeline()
        baseline.valves = Valves(otlp_endpoint=sink.endpoint)
        healthy = _hook_latencies(baseline, 400)
        asyncio.run(baseline.on_shutdown())
        assert len(sink.wait_for(400)) == 400

        broken = Pipeline()
        broken.valves = Valves(otlp_endpoint=hole.endpoint if target == "blackhole" else dead_endpoint())
        export_threads_before = {t.ident for t in threading.enumerate()}
        latencies = _hook_latencies(broken, 400)
        new_threads = [t for t in threading.enumerate() if t.ident not in export_threads_before]
        assert any(t.name.startswith("OtelBatch") for t in new_threads)
        # Generous bound: a blocking export would take >= 1 s (connect/read timeouts), hooks take µs.
        assert max(latencies) < 0.5, max(latencies)
        assert statistics.median(latencies) < 20 * max(statistics.median(healthy), 1e-4)
        assert broken.health.get("turns_ended") == 400
        start = time.monotonic()
        broken._core().shutdown(timeout_s=1.0)  # bounded even though the collector never answers
        assert time.monotonic() - start < 5

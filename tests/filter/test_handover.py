# SPDX-License-Identifier: Apache-2.0
"""Pipelines handover details: what a reload must not change about a turn (see also
tests/openwebui/test_pipelines_reload.py, which reloads through the Pipelines contract double)."""

from __future__ import annotations

import asyncio
import importlib.util
import sys
import time
import types
import uuid
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from otel_filter import Pipeline
from tests.filter.bodies import USER, inlet_body, outlet_body
from tests.support.owui_hosts import BUNDLE

pytestmark = pytest.mark.unit


def _load(module_name: str, exporter: InMemorySpanExporter, **valves: Any) -> Any:
    """A Pipeline from the generated file under ``module_name``, as the Pipelines server loads it."""
    spec = importlib.util.spec_from_file_location(module_name, BUNDLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module_name not in sys.modules
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    pipeline = module.Pipeline(tracer_provider=provider)
    pipeline.valves = pipeline.Valves(**valves)
    return pipeline


def test_an_adopted_turn_keeps_the_time_it_had_left() -> None:
    exporter = InMemorySpanExporter()
    name = f"reload_probe_{uuid.uuid4().hex[:8]}"
    first = _load(name, exporter, turn_timeout_seconds=3)

    async def run() -> Any:
        await first.on_startup()
        await first.inlet(inlet_body("slow"), USER)
        await asyncio.sleep(2.0)
        await first.on_shutdown()
        second = _load(name, exporter, turn_timeout_seconds=3)
        await second.on_startup()  # adopts the turn
        deadline = time.monotonic() + 10
        while not exporter.get_finished_spans() and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        return second

    second = asyncio.run(run())
    try:
        (span,) = exporter.get_finished_spans()
        assert span.attributes is not None and span.attributes["openwebui.turn.end_reason"] == "timeout"
        assert span.start_time is not None and span.end_time is not None
        # Ended 3 s after its inlet (not 3 s after the reload, which would be 5 s).
        assert 3.0 <= (span.end_time - span.start_time) / 1e9 < 4.5
        assert second.health.get("turns_abandoned_timeout") == 1
    finally:
        asyncio.run(second.on_shutdown())
        second.end_parked_turns()


def test_a_hook_reaching_an_instance_after_on_shutdown_takes_its_turns_back() -> None:
    exporter = InMemorySpanExporter()
    pipeline = _load(f"late_probe_{uuid.uuid4().hex[:8]}", exporter)

    async def run() -> None:
        await pipeline.on_startup()
        await pipeline.inlet(inlet_body("m1"), USER)
        await pipeline.on_shutdown()
        await pipeline.outlet(outlet_body("m1"), USER)  # e.g. a request that was already routed to this instance
        await pipeline.on_shutdown()

    asyncio.run(run())
    try:
        (span,) = exporter.get_finished_spans()
        assert span.attributes is not None and span.attributes["openwebui.turn.end_reason"] == "outlet"
        assert pipeline.health.get("orphan_outlets") == 0
    finally:
        pipeline.end_parked_turns()


def test_a_pipeline_imported_as_a_library_ends_its_turns_at_on_shutdown() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    pipeline = Pipeline(tracer_provider=provider)  # otel_filter.hosts is in sys.modules: no Pipelines server

    async def run() -> None:
        await pipeline.inlet(inlet_body("m1"), USER)
        await pipeline.on_shutdown()

    asyncio.run(run())
    (span,) = exporter.get_finished_spans()
    assert span.attributes is not None and span.attributes["openwebui.turn.end_reason"] == "shutdown"
    assert pipeline._handover_key() is None  # nothing parked for a successor


def test_on_shutdown_never_raises_even_when_parking_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    # The Pipelines server awaits every on_shutdown in one loop: a raise would stop the whole reload.
    exporter = InMemorySpanExporter()
    pipeline = _load(f"broken_registry_probe_{uuid.uuid4().hex[:8]}", exporter)
    asyncio.run(pipeline.on_startup())
    asyncio.run(pipeline.inlet(inlet_body("m1"), USER))
    monkeypatch.setitem(sys.modules, "_owui_otel_pipelines_handover", types.ModuleType("broken"))  # no lock
    asyncio.run(pipeline.on_shutdown())
    assert pipeline._guard_health.get("on_shutdown_failed") == 1
    pipeline._parked_core.shutdown()

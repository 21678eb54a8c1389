# SPDX-License-Identifier: Apache-2.0
"""A ``Pipeline`` whose spans land in memory, synchronously: for tests that read spans right after a hook.

pipeline, exporter = make_pipeline(capture_message_content=False)
await pipeline.inlet(body, user)
spans = exporter.get_finished_spans()
"""

from __future__ import annotations

from typing import Any

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from otel_filter import Pipeline, Valves


def make_pipeline(**valves: Any) -> tuple[Pipeline, InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    pipeline = Pipeline(tracer_provider=provider)
    pipeline.valves = Valves(**valves)
    return pipeline, exporter

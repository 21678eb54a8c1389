# SPDX-License-Identifier: Apache-2.0
"""Spans shaped like otel_filter's turn spans, sent with the real OpenTelemetry SDK OTLP/HTTP exporter; raw OTLP
requests in our scope for the tests that send bytes themselves.

sent = send_spans_impl(stack.otlp_http_traces_url, count=3)       # list[SentSpan]
sent[0].trace_id, sent[0].span_id, sent[0].attributes
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult

from otel_filter.semconv import INSTRUMENTATION_SCOPE

OUR_SCOPE = INSTRUMENTATION_SCOPE
"""The filter's instrumentation scope: the only scope the collector's Langfuse pipeline keeps."""

EXPORT_METHOD = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
PROTOBUF = {"Content-Type": "application/x-protobuf"}


def otlp_request(*, trace_id: bytes = b"\x01" * 16, span_id: bytes = b"\x02" * 8) -> bytes:
    """A one-span ExportTraceServiceRequest in our scope (so it would reach Langfuse if it were accepted)."""
    request = ExportTraceServiceRequest()
    scope_spans = request.resource_spans.add().scope_spans.add()
    scope_spans.scope.name = OUR_SCOPE
    span = scope_spans.spans.add()
    span.trace_id, span.span_id, span.name = trace_id, span_id, "chat injected"
    data: bytes = request.SerializeToString()
    return data


INPUT_MESSAGES = json.dumps([{"role": "user", "parts": [{"type": "text", "content": "What is OTLP?"}]}])
OUTPUT_MESSAGES = json.dumps(
    [{"role": "assistant", "parts": [{"type": "text", "content": "A protocol."}], "finish_reason": "stop"}]
)
SYSTEM_INSTRUCTIONS = json.dumps([{"type": "text", "content": "Be brief."}])


@dataclass(frozen=True, slots=True)
class SentSpan:
    """What the test sent, to compare with what arrived."""

    trace_id: str
    span_id: str
    name: str
    start_time_unix_nano: int
    attributes: dict[str, Any]


def filter_like_attributes(index: int = 0, *, ttft: float | None = 0.123456) -> dict[str, Any]:
    """Attributes shaped like otel_filter's turn span (GenAI semconv + session/user + Open WebUI extras)."""
    attributes: dict[str, Any] = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "mock-gpt",
        "gen_ai.response.model": "mock-gpt-2026-01-01",
        "gen_ai.usage.input_tokens": 12 + index,
        "gen_ai.usage.output_tokens": 5,
        "gen_ai.input.messages": INPUT_MESSAGES,
        "gen_ai.output.messages": OUTPUT_MESSAGES,
        "gen_ai.system_instructions": SYSTEM_INSTRUCTIONS,
        "session.id": "chat-42",
        "user.id": "user-7",
        "openwebui.model.name": "Mock GPT",
        "openwebui.message.id": f"msg-{index}",
    }
    if ttft is not None:
        attributes["gen_ai.response.time_to_first_chunk"] = ttft
    return attributes


class _RecordingExporter(SpanExporter):
    """Wraps the OTLP exporter and remembers each export result (to assert rejections, e.g. 401)."""

    def __init__(self, inner: OTLPSpanExporter) -> None:
        self.inner = inner
        self.results: list[SpanExportResult] = []

    def export(self, spans: Any) -> SpanExportResult:
        result = self.inner.export(spans)
        self.results.append(result)
        return result

    def shutdown(self) -> None:
        self.inner.shutdown()  # type: ignore[no-untyped-call]  # the SDK exporter's shutdown() is unannotated


def send_spans_impl(
    url: str,
    *,
    count: int = 1,
    scope: str = OUR_SCOPE,
    name: str = "chat mock-gpt",
    attributes: Callable[[int], dict[str, Any]] = filter_like_attributes,
    headers: Mapping[str, str] | None = None,
    results: list[SpanExportResult] | None = None,
) -> list[SentSpan]:
    exporter = _RecordingExporter(OTLPSpanExporter(endpoint=url, headers=dict(headers or {}), timeout=10))
    provider = TracerProvider(resource=Resource.create({"service.name": "open-webui"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer(scope, "0.1.0")
    sent: list[SentSpan] = []
    for index in range(count):
        attrs = attributes(index)
        # Microsecond-aligned start plus 789 ns: exercises truncation of the formatted fraction.
        start = time.time_ns() // 1000 * 1000 + 789
        span = tracer.start_span(name, start_time=start, attributes=attrs)
        span.end(end_time=start + 1_500_000_000)
        ctx = span.get_span_context()
        sent.append(SentSpan(f"{ctx.trace_id:032x}", f"{ctx.span_id:016x}", name, start, attrs))
    provider.shutdown()
    if results is not None:
        results.extend(exporter.results)
    return sent

# SPDX-License-Identifier: Apache-2.0
"""No OTLP request the filter sends is larger than MAX_REQUEST_BYTES (issue 8, finding 1).

The collector's receiver refuses bodies over 8 MiB (the guard against the nested-value crash,
open-telemetry/opentelemetry-collector#15301), gRPC messages over 4 MiB: the filter splits each batch into
requests under 3 MiB, and bounds every attribute so that one span, however large its payload, fits in one.
Checked against a local OTLP/HTTP sink (the bytes on the wire) and the OTLP exporter's own protobuf encoder.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Link, SpanContext, Status, StatusCode, TraceFlags, TraceState

from otel_filter import FilterCore
from otel_filter._counters import Counters
from otel_filter._limits import MAX_ITEM_CHARS, MAX_LIST_ITEMS, MAX_TEXT_CHARS
from otel_filter._request_size import MAX_REQUEST_BYTES, group_bytes, span_bytes, split_by_size
from otel_filter._settings import MAX_MAX_CONTENT_CHARS, resolve_settings
from otel_filter._telemetry import Telemetry
from tests.support.otlp_sink import OtlpSink

pytestmark = pytest.mark.unit

EMOJI = "\U0001f600"  # 4 bytes of UTF-8: the most one character can take


@pytest.fixture(autouse=True)
def _fast_export(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "50")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "5")


def _recorded(make: Any, resource: Resource | None = None) -> list[ReadableSpan]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=resource or Resource.create({"service.name": "open-webui"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    make(provider.get_tracer("openwebui.otel_bridge", "1.0", schema_url="https://opentelemetry.io/schemas/1.37.0"))
    provider.shutdown()
    return list(exporter.get_finished_spans())


def _varied_spans(count: int) -> list[ReadableSpan]:
    alphabet = ["a", "é", "中", EMOJI, '"', "\\", "\n", " "]
    rng = random.Random(8)

    def text(n: int) -> str:
        return "".join(rng.choice(alphabet) for _ in range(n))

    def make(tracer: Any) -> None:
        for index in range(count):
            other = SpanContext(
                rng.getrandbits(128),
                rng.getrandbits(64),
                True,
                TraceFlags(1),
                TraceState([("k", text(3).strip() or "v")]),
            )
            span = tracer.start_span(
                text(rng.randint(0, 300)),
                attributes={
                    "gen_ai.input.messages": text(rng.randint(0, 50_000)),
                    "gen_ai.request.stop_sequences": tuple(text(rng.randint(0, 40)) for _ in range(rng.randint(1, 9))),
                    "gen_ai.usage.input_tokens": rng.randint(0, 2**62),
                    "gen_ai.request.temperature": rng.random(),
                    "gen_ai.request.stream": True,
                    text(20): text(2_000),
                },
                links=[Link(other, {"link.kind": text(10)})] if index % 2 else [],
            )
            span.add_event(text(12), {"event.detail": text(500)})
            if index % 3 == 0:
                span.set_status(Status(StatusCode.ERROR, text(400)))
            span.end()

    return _recorded(make, Resource.create({"service.name": "open-webui", "deployment.environment": text(200)}))


def test_the_bound_never_underestimates_the_protobuf_encoding() -> None:
    spans = _varied_spans(60)
    for span in spans:  # one span alone, with its resource and scope
        assert span_bytes(span) + group_bytes(span) >= encode_spans([span]).ByteSize()
    total = span_bytes(spans[0]) + group_bytes(spans[0]) + sum(span_bytes(s) for s in spans[1:])
    actual = encode_spans(spans).ByteSize()
    assert actual <= total <= actual * 1.05 + 4096  # tight enough not to split batches for nothing


def test_split_requests_stay_under_the_cap_in_order() -> None:
    spans = _varied_spans(60)
    cap = 200_000
    requests, too_large = split_by_size(spans, cap)
    assert not too_large
    assert len(requests) > 3
    assert [s for request in requests for s in request] == spans  # every span, once, in order
    for request in requests:
        assert encode_spans(request).ByteSize() <= cap


def test_a_span_too_large_for_any_request_is_reported_not_sent() -> None:
    spans = _recorded(lambda tracer: tracer.start_span("big", attributes={"blob": "x" * 5000}).end())
    requests, too_large = split_by_size(spans, 4000)
    assert requests == [] and too_large == spans


def _big_turn_span(tracer: Any, index: int) -> None:
    # Three content attributes of 150,000 ASCII characters: ~450 KB per span, 7 spans per 3 MiB request.
    content = {
        name: f"{index}:" + "m" * 150_000
        for name in ("gen_ai.system_instructions", "gen_ai.input.messages", "gen_ai.output.messages")
    }
    tracer.start_span(f"chat big-{index}", attributes={"openwebui.message.id": f"turn-{index}", **content}).end()


def test_a_batch_of_big_spans_goes_out_in_several_requests_each_under_the_cap() -> None:
    health = Counters()
    with OtlpSink() as sink:
        settings, _ = resolve_settings({"otlp_endpoint": sink.endpoint}, {})
        telemetry = Telemetry(settings, health)
        try:
            for index in range(64):  # below the SDK's 512-span batch: one batch, queued before the worker wakes
                _big_turn_span(telemetry.tracer, index)
            assert telemetry.force_flush(30.0)
            received = sink.wait_for(64, timeout_s=30)
        finally:
            telemetry.shutdown()
        sizes = [int(request["content-length"]) for request in sink.requests]
    assert sorted(s.attributes["openwebui.message.id"] for s in received) == sorted(f"turn-{i}" for i in range(64))
    assert len(received) == 64  # none lost, none twice
    assert len(sizes) >= 64 * 450_000 // MAX_REQUEST_BYTES + 1
    assert max(sizes) <= MAX_REQUEST_BYTES
    assert health.get("spans_exported") == 64 and health.get("spans_export_failed") == 0


def _worst_inlet(message_id: str) -> dict[str, Any]:
    huge = EMOJI * 300_000  # more than any bound: everything the filter records from it is cut
    long_list = [huge[:5_000]] * 500
    return {
        "model": huge,
        "stream": True,
        "stop": long_list,
        "tool_ids": long_list,
        "features": {f"{EMOJI * 2_000}{i}": True for i in range(500)},
        "files": long_list,
        "messages": [
            {"role": "system", "content": huge},
            {"role": "user", "content": huge, "name": huge},
            {"role": "assistant", "content": huge, "tool_calls": [{"id": huge, "function": {"name": huge}}]},
            {"role": "user", "content": huge},
        ],
        "metadata": {
            "message_id": message_id,
            "chat_id": huge,
            "session_id": huge,
            "user_message_id": huge,
            "model": {"id": huge, "name": huge, "owned_by": huge, "info": {"base_model_id": huge}},
        },
    }


def _worst_outlet(message_id: str) -> dict[str, Any]:
    huge = EMOJI * 300_000
    return {
        "model": huge,
        "id": message_id,
        "chat_id": huge,
        "messages": [
            {"role": "user", "content": huge},
            {"id": message_id, "role": "assistant", "content": huge, "error": {"content": huge}},
        ],
    }


@pytest.fixture
def sink() -> Iterator[OtlpSink]:
    with OtlpSink() as running:
        yield running


def test_the_largest_span_a_payload_can_make_fits_in_one_request(sink: OtlpSink) -> None:
    core = FilterCore(
        {"otlp_endpoint": sink.endpoint, "max_content_chars": MAX_MAX_CONTENT_CHARS, "capture_message_content": True},
        host="library",
    )
    user = {"id": EMOJI * 100_000, "email": EMOJI * 100_000, "role": EMOJI * 100_000}
    try:
        assert core.settings.max_content_chars == MAX_MAX_CONTENT_CHARS
        core.inlet(_worst_inlet("worst"), user)
        core.outlet(_worst_outlet("worst"), user)
        assert core.force_flush(30.0)
        [span] = sink.wait_for(1, timeout_s=30)
    finally:
        core.shutdown()
    [size] = [int(request["content-length"]) for request in sink.requests]
    assert size <= MAX_REQUEST_BYTES
    # It is the worst case: the three content attributes are at their bound, in 4-byte characters.
    for name in ("gen_ai.system_instructions", "gen_ai.input.messages", "gen_ai.output.messages"):
        text = span.attributes[name]
        assert MAX_MAX_CONTENT_CHARS - 100 <= len(text) <= MAX_MAX_CONTENT_CHARS
        assert len(text.encode()) > 3.9 * len(text)
    assert size > 3 * 3.9 * MAX_MAX_CONTENT_CHARS
    # Everything else is bounded by the rule of _attributes.py, whatever the payload held.
    assert len(span.name) <= MAX_TEXT_CHARS
    others = {
        k: v for k, v in span.attributes.items() if not k.startswith(("gen_ai.system", "gen_ai.input", "gen_ai.output"))
    }
    assert len(span.attributes["gen_ai.request.model"]) == MAX_TEXT_CHARS  # the payload's 300,000 were cut
    for name, value in others.items():
        if isinstance(value, str):
            assert len(value) <= MAX_TEXT_CHARS, name
        elif isinstance(value, tuple):
            assert len(value) <= MAX_LIST_ITEMS and all(len(item) <= MAX_ITEM_CHARS for item in value), name
    assert len(span.attributes["gen_ai.request.stop_sequences"]) == MAX_LIST_ITEMS
    assert core.health.get("spans_too_large") == 0


def test_the_worst_case_arithmetic_leaves_room_for_everything_else() -> None:
    content = 3 * MAX_MAX_CONTENT_CHARS * 4
    assert content < MAX_REQUEST_BYTES * 0.8  # the rest (bounded attributes, name, status, resource) fits in 20%


def test_a_failed_request_fails_the_rest_of_its_batch_at_once(caplog: pytest.LogCaptureFixture) -> None:
    health = Counters()
    with OtlpSink() as sink:
        sink.fail_with = 400  # not retried by the SDK: each request would otherwise be tried in turn
        settings, _ = resolve_settings({"otlp_endpoint": sink.endpoint}, {})
        telemetry = Telemetry(settings, health)
        try:
            for index in range(64):
                _big_turn_span(telemetry.tracer, index)
            telemetry.force_flush(30.0)
        finally:
            telemetry.shutdown()
        attempts = len(sink.requests)
    assert attempts == 1  # one batch, split in several requests: only the first was tried
    assert health.get("spans_export_failed") == 64 and health.get("spans_exported") == 0
    assert "could not export" in caplog.text


def test_a_span_too_large_to_send_is_counted_and_logged(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import otel_filter._telemetry as telemetry_module  # noqa: PLC0415

    monkeypatch.setattr(telemetry_module, "MAX_REQUEST_BYTES", 20_000)
    health = Counters()
    with OtlpSink() as sink:
        settings, _ = resolve_settings({"otlp_endpoint": sink.endpoint}, {})
        telemetry = Telemetry(settings, health)
        try:
            telemetry.tracer.start_span("small", attributes={"openwebui.message.id": "small"}).end()
            telemetry.tracer.start_span("big", attributes={"openwebui.message.id": "big", "blob": "x" * 30_000}).end()
            assert telemetry.force_flush(30.0)
            received = sink.wait_for(1)
        finally:
            telemetry.shutdown()
    assert [span.name for span in received] == ["small"]
    assert health.get("spans_too_large") == 1 and health.get("spans_export_failed") == 1
    assert health.get("spans_exported") == 1
    assert "each alone encodes to more than 20000 bytes" in caplog.text

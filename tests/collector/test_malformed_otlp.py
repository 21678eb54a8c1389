# SPDX-License-Identifier: Apache-2.0
"""Malformed OTLP from a third party: every bad request is refused with a client error; the collector stays up.

Anyone who can reach the receiver can send it bytes (the auth overlay is opt-in). Garbage protobuf, a wrong content
type, broken or unknown compression, invalid ids, oversized bodies and a gzip bomb are each sent over OTLP/HTTP and,
where it applies, OTLP/gRPC. After each one the collector must be running and healthy; at the end, valid spans sent
with the SDK's HTTP and gRPC exporters still reach Langfuse, and nothing from the bad requests does.
"""

from __future__ import annotations

import gzip
from collections.abc import Callable
from dataclasses import dataclass

import grpc  # type: ignore[import-untyped]  # no stubs unless types-grpcio is installed
import httpx
import pytest
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from tests.support.delivery import collector_healthy, collector_log, settle
from tests.support.spans import EXPORT_METHOD, OUR_SCOPE, PROTOBUF, otlp_request, send_spans_impl
from tests.support.stack import Stack

pytestmark = [pytest.mark.integration, pytest.mark.faults, pytest.mark.timeout(120)]

MIB = 1024 * 1024


GARBAGE = b"\x0a\xff\xff\xff\xff\x0fnot protobuf at all"


@dataclass(frozen=True)
class HttpCase:
    name: str
    headers: dict[str, str]
    body: bytes
    status: int
    method: str = "POST"
    path: str = "/v1/traces"


HTTP_CASES = [
    HttpCase("garbage_protobuf", PROTOBUF, GARBAGE, 400),
    HttpCase("wrong_content_type", {"Content-Type": "text/plain"}, otlp_request(), 415),
    HttpCase("no_content_type", {}, otlp_request(), 415),
    HttpCase("invalid_json", {"Content-Type": "application/json"}, b"{not json", 400),
    HttpCase("truncated_gzip", {**PROTOBUF, "Content-Encoding": "gzip"}, gzip.compress(otlp_request() * 50)[:40], 400),
    HttpCase("claims_zstd_sends_raw", {**PROTOBUF, "Content-Encoding": "zstd"}, otlp_request(), 400),
    HttpCase("unknown_encoding", {**PROTOBUF, "Content-Encoding": "br0tli"}, otlp_request(), 400),
    HttpCase("trace_id_3_bytes", PROTOBUF, otlp_request(trace_id=b"\x01\x02\x03"), 400),
    HttpCase("huge_body_25MiB", PROTOBUF, b"\x0a" + b"\xff" * (25 * MIB), 400),  # receiver limit: 20 MiB
    HttpCase("gzip_bomb_64MiB", {**PROTOBUF, "Content-Encoding": "gzip"}, gzip.compress(b"\0" * (64 * MIB)), 400),
    HttpCase("get_instead_of_post", PROTOBUF, b"", 405, method="GET"),
    HttpCase("unknown_path", PROTOBUF, otlp_request(), 404, path="/v1/nope"),
]

# grpc-go answers an unparseable message with INTERNAL ("error unmarshalling request"); INVALID_ARGUMENT would be
# as good. Never OK, never UNAVAILABLE (that would mean the server went away).
UNPARSEABLE = {grpc.StatusCode.INTERNAL, grpc.StatusCode.INVALID_ARGUMENT}
GRPC_CASES = [
    ("garbage_protobuf", EXPORT_METHOD, GARBAGE, UNPARSEABLE),
    ("trace_id_3_bytes", EXPORT_METHOD, otlp_request(trace_id=b"\x01\x02\x03"), UNPARSEABLE),
    ("huge_message_5MiB", EXPORT_METHOD, b"\x0a" + b"\xff" * (5 * MIB), {grpc.StatusCode.RESOURCE_EXHAUSTED}),
    (
        "unknown_method",
        "/opentelemetry.proto.collector.trace.v1.TraceService/Nope",
        otlp_request(),
        {grpc.StatusCode.UNIMPLEMENTED},
    ),
]


def _grpc_valid_span(endpoint: str) -> str:
    provider = TracerProvider(resource=Resource.create({"service.name": "open-webui"}))
    provider.add_span_processor(SimpleSpanProcessor(GrpcSpanExporter(endpoint=endpoint, insecure=True, timeout=10)))
    span = provider.get_tracer(OUR_SCOPE).start_span("chat via grpc")
    span.end()
    provider.shutdown()
    return f"{span.get_span_context().span_id:016x}"


def test_malformed_otlp_is_refused_and_the_collector_stays_up(
    stacks: Callable[..., Stack], report: Callable[..., None]
) -> None:
    stack = stacks()
    mismatches: list[str] = []

    for case in HTTP_CASES:
        response = httpx.request(
            case.method, stack.otlp_http_endpoint + case.path, headers=case.headers, content=case.body, timeout=30
        )
        if response.status_code != case.status:
            mismatches.append(f"http {case.name}: {response.status_code} {response.text[:120]!r}, want {case.status}")
        if not (stack.collector and stack.collector.running() and collector_healthy(stack)):
            pytest.fail(f"collector down after http {case.name}\n{stack.logs()}")

    with grpc.insecure_channel(stack.otlp_grpc_endpoint) as channel:
        for name, method, body, codes in GRPC_CASES:
            call = channel.unary_unary(method, request_serializer=lambda b: b, response_deserializer=lambda b: b)
            try:
                call(body, timeout=10)
                mismatches.append(f"grpc {name}: OK, want {sorted(c.name for c in codes)}")
            except grpc.RpcError as error:
                if error.code() not in codes:
                    mismatches.append(f"grpc {name}: {error.code().name} {error.details()!r}")
            if not (stack.collector and stack.collector.running() and collector_healthy(stack)):
                pytest.fail(f"collector down after grpc {name}\n{stack.logs()}")

    valid_http = send_spans_impl(stack.otlp_http_traces_url, count=1)[0].span_id
    valid_grpc = _grpc_valid_span(stack.otlp_grpc_endpoint)
    stack.wait_for_langfuse_spans(2, timeout=30)
    got = settle(stack, quiet_s=1.5)
    log = collector_log(stack)
    report(
        "malformed-otlp",
        http_cases=len(HTTP_CASES),
        grpc_cases=len(GRPC_CASES),
        mismatches=len(mismatches),
        accepted_spans=int(stack.collector_metric("otelcol_receiver_accepted_spans")),
        delivered=got.distinct,
    )
    assert mismatches == []
    assert set(got.span_ids) == {valid_http, valid_grpc}, "only the valid spans reach Langfuse"
    assert stack.collector_metric("otelcol_receiver_accepted_spans") == 2
    assert "panic" not in log.lower()

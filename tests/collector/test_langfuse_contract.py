# SPDX-License-Identifier: Apache-2.0
"""The Langfuse contract endpoint behaves like Langfuse's /api/public/otel/v1/traces (in-process ASGI tests)."""

from __future__ import annotations

import base64
import gzip
import json
import time
from collections.abc import Iterator
from typing import Any

import anyio
import httpx
import pytest
from fastapi import FastAPI
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span

from tests.support.langfuse_contract import create_app

pytestmark = pytest.mark.unit

PK, SK = "pk-lf-test", "sk-lf-test"
PATH = "/api/public/otel/v1/traces"
AUTH = {"authorization": "Basic " + base64.b64encode(f"{PK}:{SK}".encode()).decode()}
TRACE_ID = bytes.fromhex("5b8efff798038103d269b633813fc60c")
SPAN_ID = bytes.fromhex("eee19b7ec3c1b174")


class AsgiClient:
    """Synchronous calls into the ASGI app through httpx.ASGITransport (no server, no network).

    Not starlette's AsgiClient: with httpx it raises a deprecation warning, and warnings are errors here.
    """

    def __init__(self, app: FastAPI) -> None:
        self.app = app

    def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        async def call() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://contract") as http:
                return await http.request(method, url, **kwargs)

        return anyio.run(call)

    def get(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", url, **kwargs)

    def post(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", url, **kwargs)

    def put(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("PUT", url, **kwargs)

    def delete(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("DELETE", url, **kwargs)


@pytest.fixture
def client() -> Iterator[AsgiClient]:
    yield AsgiClient(create_app(public_key=PK, secret_key=SK))


def protobuf_body(**attributes: Any) -> bytes:
    kvs = []
    for key, value in attributes.items():
        any_value = AnyValue()
        if isinstance(value, bool):
            any_value.bool_value = value
        elif isinstance(value, int):
            any_value.int_value = value
        elif isinstance(value, float):
            any_value.double_value = value
        else:
            any_value.string_value = str(value)
        kvs.append(KeyValue(key=key, value=any_value))
    span = Span(trace_id=TRACE_ID, span_id=SPAN_ID, name="chat mock-gpt", start_time_unix_nano=1, end_time_unix_nano=2)
    span.attributes.extend(kvs)
    scope_spans = ScopeSpans(spans=[span])
    scope_spans.scope.name = "openwebui.otel_bridge"
    request = ExportTraceServiceRequest(resource_spans=[ResourceSpans(scope_spans=[scope_spans])])
    return bytes(request.SerializeToString())


def json_body(**overrides: Any) -> bytes:
    span = {
        "traceId": TRACE_ID.hex(),
        "spanId": SPAN_ID.hex(),
        "name": "chat mock-gpt",
        "kind": 1,
        "startTimeUnixNano": "1795901825000000000",
        "endTimeUnixNano": 1795901826000000000,
        "attributes": [
            {"key": "gen_ai.usage.input_tokens", "value": {"intValue": "12"}},
            {"key": "gen_ai.response.time_to_first_chunk", "value": {"doubleValue": 0.5}},
            {"key": "gen_ai.response.finish_reasons", "value": {"arrayValue": {"values": [{"stringValue": "stop"}]}}},
        ],
    }
    span.update(overrides)
    document = {
        "resourceSpans": [
            {
                "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "open-webui"}}]},
                "scopeSpans": [{"scope": {"name": "openwebui.otel_bridge", "version": "0.1.0"}, "spans": [span]}],
            }
        ]
    }
    return json.dumps(document).encode()


def post(client: AsgiClient, body: bytes, **headers: str) -> httpx.Response:
    merged = {**AUTH, "content-type": "application/x-protobuf", "x-langfuse-ingestion-version": "4"}
    for key, value in headers.items():
        merged[key.replace("_", "-")] = value
    merged = {key: value for key, value in merged.items() if value != ""}
    return client.post(PATH, content=body, headers=merged)


def received(client: AsgiClient) -> dict[str, Any]:
    result: dict[str, Any] = client.get("/_control/received").json()
    return result


def test_protobuf_gzip_is_accepted_recorded_and_answered_with_json(client: AsgiClient) -> None:
    response = post(
        client,
        gzip.compress(protobuf_body(**{"gen_ai.operation.name": "chat", "n": 3, "x": 0.5})),
        content_encoding="gzip",
    )
    assert response.status_code == 200
    assert response.json() == {}
    assert response.headers["content-type"] == "application/json; charset=utf-8"
    data = received(client)
    [request] = data["requests"]
    assert request["content_encoding"] == "gzip"
    assert request["write_path"] == "direct"
    assert request["headers"]["authorization"] == AUTH["authorization"]
    [span] = data["spans"]
    assert span["trace_id"] == TRACE_ID.hex() and span["span_id"] == SPAN_ID.hex()
    assert span["scope"]["name"] == "openwebui.otel_bridge"
    assert span["attributes"] == {"gen_ai.operation.name": "chat", "n": 3, "x": 0.5}


def test_json_is_decoded_to_the_same_shape(client: AsgiClient) -> None:
    assert post(client, json_body(), content_type="application/json").status_code == 200
    [span] = received(client)["spans"]
    assert span["attributes"] == {
        "gen_ai.usage.input_tokens": 12,
        "gen_ai.response.time_to_first_chunk": 0.5,
        "gen_ai.response.finish_reasons": ["stop"],
    }
    assert span["start_time_unix_nano"] == 1795901825000000000
    assert span["resource"] == {"service.name": "open-webui"}


@pytest.mark.parametrize(
    ("authorization", "status"),
    [
        ("", 401),
        ("Basic " + base64.b64encode(f"{PK}:wrong".encode()).decode(), 401),
        ("Basic not-base64!", 401),
        ("Token abc", 401),
        (f"Bearer {PK}", 403),
        ("Bearer other", 401),
    ],
)
def test_auth_failures(client: AsgiClient, authorization: str, status: int) -> None:
    response = post(client, protobuf_body(), authorization=authorization)
    assert response.status_code == status
    assert "message" in response.json()
    data = received(client)
    assert data["requests"] == []
    assert data["rejected"][0]["reason"] == "auth"


@pytest.mark.parametrize(
    ("headers", "body", "reason"),
    [
        ({"content_type": "text/plain"}, protobuf_body(), "content-type"),
        ({"content_type": ""}, protobuf_body(), "content-type"),
        ({"content_encoding": "zstd"}, protobuf_body(), "payload"),
        ({"content_encoding": "deflate"}, protobuf_body(), "payload"),
        ({"content_encoding": "gzip"}, b"not gzip", "payload"),
        ({}, b"\xff\xff\xff", "payload"),
        ({"content_type": "application/json"}, b"{not json", "payload"),
        ({"content_type": "application/json"}, json_body(spanId=""), "payload"),
        ({"content_type": "application/json"}, json_body(traceId="Zm9vYmFy"), "payload"),  # base64 id
        ({"content_type": "application/json"}, json_body(attributes={"a": 1}), "payload"),
        ({"x_langfuse_ingestion_version": "5"}, protobuf_body(), "ingestion-version"),
        ({"x_langfuse_ingestion_version": "v4"}, protobuf_body(), "ingestion-version"),
    ],
)
def test_bad_requests_are_400(client: AsgiClient, headers: dict[str, str], body: bytes, reason: str) -> None:
    response = post(client, body, **headers)
    assert response.status_code == 400, response.text
    assert received(client)["rejected"][-1]["reason"] == reason


@pytest.mark.parametrize(
    ("version", "path"), [(None, "dual_write"), ("3", "dual_write"), ("4", "direct"), ("4.0", "direct")]
)
def test_ingestion_version_selects_the_write_path(client: AsgiClient, version: str | None, path: str) -> None:
    headers = {"x_langfuse_ingestion_version": version if version is not None else ""}
    assert post(client, protobuf_body(), **headers).status_code == 200
    [request] = received(client)["requests"]
    assert request["write_path"] == path
    assert request["ingestion_version"] == version


def test_empty_export_is_200_and_records_nothing(client: AsgiClient) -> None:
    assert post(client, ExportTraceServiceRequest().SerializeToString()).json() == {}
    assert received(client)["requests"] == []


def test_routing(client: AsgiClient) -> None:
    assert client.get(PATH).status_code == 405
    assert client.put(PATH, content=b"").status_code == 405
    assert client.post("/api/public/otel/v1/logs", content=b"", headers=AUTH).status_code == 404
    assert client.post("/api/public/otel", content=b"", headers=AUTH).status_code == 404
    metrics = client.post("/api/public/otel/v1/metrics", content=b"x", headers=AUTH)
    assert metrics.status_code == 200 and metrics.json() == {}


def test_fault_error_for_a_count_then_back_to_ok(client: AsgiClient) -> None:
    mode = client.post("/_control/mode", json={"mode": "error", "status": 500, "count": 2}).json()
    assert mode["mode"] == "error" and mode["count"] == 2
    assert post(client, protobuf_body()).status_code == 500
    assert post(client, protobuf_body()).status_code == 500
    assert post(client, protobuf_body()).status_code == 200
    assert client.get("/_control/mode").json()["mode"] == "ok"
    data = received(client)
    assert [r["reason"] for r in data["rejected"]] == ["injected", "injected"]
    assert len(data["requests"]) == 1


def test_fault_rate_limit_sends_retry_after(client: AsgiClient) -> None:
    client.post("/_control/mode", json={"mode": "rate_limit", "retry_after": 7})
    response = post(client, protobuf_body())
    assert response.status_code == 429
    assert response.headers["retry-after"] == "7"


def test_fault_unavailable_is_503(client: AsgiClient) -> None:
    client.post("/_control/mode", json={"mode": "unavailable"})
    assert post(client, protobuf_body()).status_code == 503


def test_fault_slow_delays_then_accepts(client: AsgiClient) -> None:
    client.post("/_control/mode", json={"mode": "slow", "delay": 0.3, "count": 1})
    started = time.monotonic()
    assert post(client, protobuf_body()).status_code == 200
    assert time.monotonic() - started >= 0.3
    assert len(received(client)["requests"]) == 1


def test_bad_mode_and_reset(client: AsgiClient) -> None:
    assert client.post("/_control/mode", json={"mode": "explode"}).status_code == 400
    assert client.post("/_control/mode", json={"mode": "error", "status": "x"}).status_code == 400
    post(client, protobuf_body())
    assert client.delete("/_control/received").json() == {"ok": True}
    assert received(client) == {"requests": [], "spans": [], "rejected": [], "scores": {}, "score_requests": []}

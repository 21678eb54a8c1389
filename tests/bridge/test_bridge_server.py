# SPDX-License-Identifier: Apache-2.0
"""The bridge server, over HTTP (in-process ASGI): the captured Open WebUI requests replayed with and
without the right key, valves persisted, and the caller's traceparent connected to the turn span."""

from __future__ import annotations

import json
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from owui_otel.server import ServerConfig, create_app
from tests.support.scenarios import load, pipelines_steps

pytestmark = pytest.mark.unit

KEY = "bridge-test-key-0123456789"
AUTH = {"Authorization": f"Bearer {KEY}"}
FILTER = "otel_bridge"


@pytest.fixture
def client(tmp_path: Path, tracer_provider: TracerProvider) -> Iterator[TestClient]:
    app = create_app(ServerConfig(api_key=KEY, data_dir=tmp_path), tracer_provider=tracer_provider)
    with TestClient(app) as test_client:
        yield test_client


def _replay(client: TestClient, scenario: str, headers: dict[str, str]) -> list[Any]:
    """POST each captured request exactly as Open WebUI sent it: {"user": ..., "body": ...}."""
    responses = []
    for step in pipelines_steps(scenario):
        recorded = load(step.file)
        responses.append((recorded, client.post(f"/{FILTER}/filter/{step.hook}", json=recorded, headers=headers)))
    return responses


@pytest.mark.parametrize("scenario", ["ui_stream_turn1", "api_stream", "legacy", "task_endpoint"])
def test_captured_requests_with_the_right_key_are_traced_and_echoed(
    client: TestClient, span_exporter: InMemorySpanExporter, scenario: str
) -> None:
    for recorded, response in _replay(client, scenario, AUTH):
        assert response.status_code == 200
        assert response.json() == recorded["body"]  # the body comes back as it went in
    spans = span_exporter.get_finished_spans()
    turns = [s for s in spans if "openwebui.task" not in (s.attributes or {})]
    assert len(turns) == (0 if scenario == "task_endpoint" else 1)
    for span in turns:
        assert span.attributes["openwebui.host"] == "bridge"  # type: ignore[index]
        assert span.attributes["openwebui.turn.end_reason"] == "outlet"  # type: ignore[index]


@pytest.mark.parametrize(
    "headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": KEY}, {"Authorization": "Basic x"}]
)
def test_every_route_refuses_a_missing_or_wrong_key(
    client: TestClient, span_exporter: InMemorySpanExporter, headers: dict[str, str]
) -> None:
    recorded = load("pipelines_ui_stream_turn1_inlet.json")
    requests = [
        ("GET", "/", None),
        ("GET", "/v1/models", None),
        ("GET", "/models", None),
        ("GET", "/pipelines", None),
        ("POST", f"/{FILTER}/filter/inlet", recorded),
        ("POST", f"/{FILTER}/filter/outlet", recorded),
        ("POST", f"/v1/{FILTER}/filter/inlet", recorded),
        ("GET", f"/{FILTER}/valves", None),
        ("GET", f"/{FILTER}/valves/spec", None),
        ("POST", f"/{FILTER}/valves/update", {"otlp_endpoint": "http://attacker:4318"}),
        ("POST", "/admin/end-open-turns", {}),
        ("POST", "/pipelines/upload", None),
    ]
    for method, path, body in requests:
        response = client.request(method, path, json=body, headers=headers)
        assert response.status_code == 401, (method, path, response.status_code)
        assert "API key" in response.json()["detail"]
        assert KEY not in response.text
    assert span_exporter.get_finished_spans() == ()  # nothing was traced
    assert client.get(f"/{FILTER}/valves", headers=AUTH).json()["otlp_endpoint"] == ""  # nothing was changed


def test_health_and_readiness_need_no_key_and_reveal_nothing(client: TestClient) -> None:
    client.post(
        f"/{FILTER}/valves/update", json={"otlp_headers": "authorization=Bearer%20collector-secret"}, headers=AUTH
    )
    for path in ("/health", "/ready"):
        response = client.get(path)
        assert response.status_code == 200
        assert "collector-secret" not in response.text and KEY not in response.text
    assert client.get("/ready").json() == {"ready": True}
    assert client.get("/health").json()["status"] == "ok"


def test_models_lists_the_filter_the_way_open_webui_detects_it(client: TestClient) -> None:
    for path in ("/models", "/v1/models"):
        models = client.get(path, headers=AUTH).json()
        assert models["pipelines"] is True
        (entry,) = models["data"]
        assert entry["id"] == FILTER
        assert entry["pipeline"] == {"type": "filter", "pipelines": ["*"], "priority": 0, "valves": True}
    assert client.get("/", headers=AUTH).json() == {"status": True}


def test_valves_are_validated_persisted_and_applied(
    tmp_path: Path, tracer_provider: TracerProvider, span_exporter: InMemorySpanExporter
) -> None:
    # record_user_email on widens what leaves the machine: allowed because the operator said so.
    config = ServerConfig(api_key=KEY, data_dir=tmp_path, allow_widening_valves=True)
    with TestClient(create_app(config, tracer_provider=tracer_provider)) as client:
        spec = client.get(f"/{FILTER}/valves/spec", headers=AUTH).json()
        assert all(field.get("description") for field in spec["properties"].values())
        bad = client.post(f"/{FILTER}/valves/update", json={"max_open_turns": "many"}, headers=AUTH)
        assert bad.status_code == 422 and "max_open_turns" in bad.text
        updated = client.post(
            f"/{FILTER}/valves/update",
            json={"priority": 3, "record_user_email": True, "pipelines": ["gpt-4o"]},
            headers=AUTH,
        )
        assert updated.status_code == 200 and updated.json()["priority"] == 3
        assert client.get("/models", headers=AUTH).json()["data"][0]["pipeline"]["priority"] == 3
        recorded_in = load("pipelines_ui_nonstream_inlet.json")
        recorded_out = load("pipelines_ui_nonstream_outlet.json")
        client.post(f"/{FILTER}/filter/inlet", json=recorded_in, headers=AUTH)
        client.post(f"/{FILTER}/filter/outlet", json=recorded_out, headers=AUTH)
    (span,) = span_exporter.get_finished_spans()
    assert span.attributes["user.email"] == "admin@example.com"  # type: ignore[index]  # the valve took effect
    saved = tmp_path / "valves.json"
    assert stat.S_IMODE(saved.stat().st_mode) == 0o600  # valves may hold exporter credentials
    assert json.loads(saved.read_text())["priority"] == 3
    with TestClient(create_app(config, tracer_provider=tracer_provider)) as restarted:  # survives a restart
        valves = restarted.get(f"/{FILTER}/valves", headers=AUTH).json()
        # true/false valves are kept as "true"/"false" ("" = the environment decides): a saved True reads "true"
        assert (valves["priority"], valves["record_user_email"], valves["pipelines"]) == (3, "true", ["gpt-4o"])


def test_unknown_filter_and_unsupported_management_routes(client: TestClient) -> None:
    response = client.post("/someone_else/filter/inlet", json={"body": {}, "user": None}, headers=AUTH)
    assert response.status_code == 404 and "otel_bridge" in response.json()["detail"]
    assert client.post("/pipelines/upload", headers=AUTH).status_code == 501
    assert client.post(f"/{FILTER}/filter/inlet", json={"user": None}, headers=AUTH).status_code == 422


def test_callers_traceparent_is_linked_from_the_turn_span(
    client: TestClient, span_exporter: InMemorySpanExporter
) -> None:
    """Open WebUI (ENABLE_OTEL) sends a traceparent on each filter call: inlet and outlet both become links."""
    inlet_parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    outlet_parent = "00-0af7651916cd43dd8448eb211c80319c-00f067aa0ba902b7-01"
    client.post(
        f"/{FILTER}/filter/inlet",
        json=load("pipelines_ui_stream_turn1_inlet.json"),
        headers={**AUTH, "traceparent": inlet_parent},
    )
    client.post(
        f"/{FILTER}/filter/outlet",
        json=load("pipelines_ui_stream_turn1_outlet.json"),
        headers={**AUTH, "traceparent": outlet_parent},
    )
    (span,) = span_exporter.get_finished_spans()
    assert span.parent is None  # still the root of its own trace: complete in Langfuse
    linked = [(f"{link.context.trace_id:032x}", f"{link.context.span_id:016x}") for link in span.links]
    assert linked == [
        ("0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331"),
        ("0af7651916cd43dd8448eb211c80319c", "00f067aa0ba902b7"),
    ]


def test_end_open_turns_by_message_id(client: TestClient, span_exporter: InMemorySpanExporter) -> None:
    recorded = load("pipelines_ui_stream_error_inlet.json")
    client.post(f"/{FILTER}/filter/inlet", json=recorded, headers=AUTH)
    message_id = recorded["body"]["metadata"]["message_id"]
    assert client.post("/admin/end-open-turns", json={"message_ids": ["unknown"]}, headers=AUTH).json() == {"ended": 0}
    assert client.post("/admin/end-open-turns", json={"message_ids": [message_id]}, headers=AUTH).json() == {"ended": 1}
    (span,) = span_exporter.get_finished_spans()
    assert span.attributes["openwebui.turn.end_reason"] == "ended_by_operator"  # type: ignore[index]
    assert span.attributes["error.type"] == "abandoned"  # type: ignore[index]


def test_server_refuses_to_start_without_a_key(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="OWUI_OTEL_API_KEY"):
        ServerConfig(api_key="", data_dir=tmp_path)

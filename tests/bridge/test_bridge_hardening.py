# SPDX-License-Identifier: Apache-2.0
"""The bridge server against a caller holding its key, a caller without it, and careless or hostile input.

Valves: secrets are write-only and widening what leaves the machine needs the operator. Routes: no schema, no
slash redirect before auth, unknown paths look like every other route without the key. Input: deep JSON, NaN
and oversized bodies get a clear 4xx, never a 500.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from owui_otel._valve_policy import SECRET_MASK
from owui_otel.environment_variables import OWUI_OTEL_ALLOW_WIDENING_VALVES
from owui_otel.server import ServerConfig, create_app
from tests.support.scenarios import load

pytestmark = pytest.mark.unit

KEY = "bridge-hardening-key-0123456789"
AUTH = {"Authorization": f"Bearer {KEY}"}
FILTER = "otel_bridge"
VALVES = f"/{FILTER}/valves"
UPDATE = f"/{FILTER}/valves/update"
HEADERS_SECRET = "authorization=Bearer%20collector-token-4f1e9a"
ENDPOINT_PASSWORD = "endpoint-password-77c2"


def _app(tmp_path: Path, tracer_provider: TracerProvider, **config: Any) -> TestClient:
    return TestClient(
        create_app(ServerConfig(api_key=KEY, data_dir=tmp_path, **config), tracer_provider=tracer_provider)
    )


@pytest.fixture
def client(tmp_path: Path, tracer_provider: TracerProvider) -> Iterator[TestClient]:
    # The operator's own settings, as `owui-otel serve` would find them in valves.json.
    (tmp_path / "valves.json").write_text(
        json.dumps(
            {
                "otlp_endpoint": f"http://ingest:{ENDPOINT_PASSWORD}@collector.internal:4318",
                "otlp_headers": HEADERS_SECRET,
                "capture_message_content": False,
                "redact_patterns": [r"sk-[a-z0-9]+", r"\b\d{3}-\d{2}-\d{4}\b"],
                "record_user_email": False,
                "record_tasks": False,
                "max_content_chars": 4000,
            }
        )
    )
    with _app(tmp_path, tracer_provider) as test_client:
        yield test_client


def _stored(tmp_path: Path) -> dict[str, Any]:
    stored: dict[str, Any] = json.loads((tmp_path / "valves.json").read_text())
    return stored


# --- valves: secrets are write-only ----------------------------------------------------------------------------


def test_valves_never_show_a_secret(client: TestClient) -> None:
    for path in (VALVES, f"/v1{VALVES}"):
        response = client.get(path, headers=AUTH)
        assert response.status_code == 200
        assert HEADERS_SECRET not in response.text and "collector-token" not in response.text
        assert ENDPOINT_PASSWORD not in response.text
        valves = response.json()
        assert valves["otlp_headers"] == SECRET_MASK
        assert valves["otlp_endpoint"] == "http://***@collector.internal:4318"


def test_a_key_in_the_endpoints_query_string_is_not_shown_and_survives_a_round_trip(
    tmp_path: Path, tracer_provider: TracerProvider
) -> None:
    # Some OTLP backends take their key in the URL (?api_key=...): as secret as a password in it.
    endpoint = "https://otlp.example.com:443/ingest?api_key=query-secret-5d5d#frag-secret-6e6e"
    (tmp_path / "valves.json").write_text(json.dumps({"otlp_endpoint": endpoint}))
    with _app(tmp_path, tracer_provider) as client:
        shown = client.get(VALVES, headers=AUTH).json()
        assert shown["otlp_endpoint"] == "https://otlp.example.com:443/ingest?***#***"
        response = client.post(UPDATE, json={**shown, "priority": 3}, headers=AUTH)  # the admin page's save
        assert response.status_code == 200, response.text
        assert "query-secret" not in response.text and "frag-secret" not in response.text
    assert _stored(tmp_path)["otlp_endpoint"] == endpoint


def test_an_update_that_sends_the_masks_back_or_leaves_keys_out_keeps_the_secrets(
    client: TestClient, tmp_path: Path
) -> None:
    shown = client.get(VALVES, headers=AUTH).json()
    # Open WebUI's admin page posts every valve back as shown, masks included.
    response = client.post(UPDATE, json={**shown, "priority": 5}, headers=AUTH)
    assert response.status_code == 200, response.text
    assert HEADERS_SECRET not in response.text and ENDPOINT_PASSWORD not in response.text
    assert client.post(UPDATE, json={"priority": 6}, headers=AUTH).status_code == 200
    stored = _stored(tmp_path)
    assert stored["otlp_headers"] == HEADERS_SECRET
    assert stored["otlp_endpoint"] == f"http://ingest:{ENDPOINT_PASSWORD}@collector.internal:4318"
    assert stored["priority"] == 6


def test_a_new_secret_for_the_same_endpoint_is_accepted_and_not_shown(client: TestClient, tmp_path: Path) -> None:
    rotated = "authorization=Bearer%20rotated-token-0a0a"
    response = client.post(UPDATE, json={"otlp_headers": rotated}, headers=AUTH)
    assert response.status_code == 200 and "rotated-token" not in response.text
    assert _stored(tmp_path)["otlp_headers"] == rotated
    assert client.post(UPDATE, json={"otlp_headers": ""}, headers=AUTH).status_code == 200  # clearing: narrowing
    assert _stored(tmp_path)["otlp_headers"] == ""


# --- valves: widening needs the operator -----------------------------------------------------------------------

WIDENING = {
    "new endpoint host": ({"otlp_endpoint": "http://attacker.example:4318"}, "otlp_endpoint"),
    "new endpoint port": ({"otlp_endpoint": "http://collector.internal:9999"}, "otlp_endpoint"),
    "new endpoint scheme": ({"otlp_endpoint": "https://collector.internal:4318"}, "otlp_endpoint"),
    "endpoint with new headers": (
        {"otlp_endpoint": "http://attacker.example:4318", "otlp_headers": "x=1"},
        "otlp_endpoint",
    ),
    "endpoint to the environment default": ({"otlp_endpoint": ""}, "otlp_endpoint"),
    "default endpoint over grpc": ({"otlp_endpoint": "", "otlp_protocol": "grpc"}, "otlp_endpoint"),
    "content capture on": ({"capture_message_content": True}, "capture_message_content"),
    "a redaction pattern removed": ({"redact_patterns": [r"sk-[a-z0-9]+"]}, "redact_patterns"),
    "no redaction at all": ({"redact_patterns": []}, "redact_patterns"),
    "a pattern replaced": ({"redact_patterns": [r"sk-[a-z0-9]+", r"\d+"]}, "redact_patterns"),
    "email on": ({"record_user_email": True}, "record_user_email"),
    "tasks on": ({"record_tasks": True}, "record_tasks"),
    "longer content": ({"max_content_chars": 100000}, "max_content_chars"),
    "users identified by email": ({"user_identity": "email"}, "user_identity"),
    "capture left to the environment (on by default)": ({"capture_message_content": ""}, "capture_message_content"),
}


@pytest.mark.parametrize("case", list(WIDENING))
def test_widening_changes_are_refused_without_the_operator_setting(
    client: TestClient, tmp_path: Path, case: str
) -> None:
    change, valve = WIDENING[case]
    before = _stored(tmp_path)
    response = client.post(UPDATE, json=change, headers=AUTH)
    assert response.status_code == 403, response.text
    detail = response.json()["detail"]
    assert valve in detail and "--allow-widening-valves" in detail and OWUI_OTEL_ALLOW_WIDENING_VALVES in detail
    assert HEADERS_SECRET not in detail and ENDPOINT_PASSWORD not in detail and "sk-[a-z0-9]+" not in detail
    assert _stored(tmp_path) == before  # nothing was saved
    assert client.get(VALVES, headers=AUTH).json()["otlp_headers"] == SECRET_MASK


def test_narrowing_changes_are_always_accepted(client: TestClient, tmp_path: Path) -> None:
    narrowing: list[dict[str, Any]] = [
        {"redact_patterns": [r"sk-[a-z0-9]+", r"\b\d{3}-\d{2}-\d{4}\b", r"[\w.]+@[\w.]+"]},  # one more pattern
        {"capture_message_content": False},
        {"max_content_chars": 1000},
        {"otlp_endpoint": "http://other-user:pw@collector.internal:4318/custom/path"},  # same origin
        {"priority": 9, "pipelines": ["gpt-4o"], "service_name": "chat", "turn_timeout_seconds": 30},
    ]
    for change in narrowing:
        response = client.post(UPDATE, json=change, headers=AUTH)
        assert response.status_code == 200, (change, response.text)
    assert len(_stored(tmp_path)["redact_patterns"]) == 3


def test_tracing_more_models_is_widening_and_fewer_is_not(client: TestClient, tmp_path: Path) -> None:
    assert client.post(UPDATE, json={"pipelines": ["gpt-4o", "llama3"]}, headers=AUTH).status_code == 200
    assert client.post(UPDATE, json={"pipelines": ["gpt-4o"]}, headers=AUTH).status_code == 200
    for wider in (["*"], ["gpt-4o", "mistral"]):
        response = client.post(UPDATE, json={"pipelines": wider}, headers=AUTH)
        assert response.status_code == 403 and "pipelines" in response.json()["detail"], response.text
    assert _stored(tmp_path)["pipelines"] == ["gpt-4o"]


def test_the_operator_setting_allows_widening(tmp_path: Path, tracer_provider: TracerProvider) -> None:
    with _app(tmp_path, tracer_provider, allow_widening_valves=True) as client:
        for change, _ in WIDENING.values():
            response = client.post(UPDATE, json=change, headers=AUTH)
            assert response.status_code == 200, (change, response.text)
    assert _stored(tmp_path)["record_user_email"] == "true"  # true/false valves are stored as text


def test_capture_on_then_off_then_on_again_needs_the_operator_again(client: TestClient) -> None:
    # Turning capture off is always fine; it does not open a door to turn it back on.
    assert client.post(UPDATE, json={"capture_message_content": False}, headers=AUTH).status_code == 200
    assert client.post(UPDATE, json={"capture_message_content": True}, headers=AUTH).status_code == 403


def test_invalid_valves_never_echo_what_was_submitted(client: TestClient) -> None:
    secret = "Bearer submitted-secret-9f8e"
    for form in (
        {"otlp_headers": [f"authorization={secret}"]},
        {"otlp_headers": {"authorization": secret}},
        {"max_open_turns": secret},
    ):
        response = client.post(UPDATE, json=form, headers=AUTH)
        assert response.status_code == 422 and "submitted-secret" not in response.text


@pytest.mark.parametrize(
    "raw",
    [
        b"[" * 100_000 + b"]" * 100_000,
        b'{"pipelines": ' + b"[" * 5000 + b"]" * 5000 + b"}",
        b'{"priority": ' + b"9" * 10_000 + b"}",
        b'{"turn_timeout_seconds": 1e400}',
        b'{"max_open_turns": NaN}',
        b'{"priority": 1',
        b"\xff\xfe",
        b'["not", "an", "object"]',
    ],
    ids=["deep array", "deep valve", "huge int", "1e400", "NaN", "truncated", "not utf-8", "not an object"],
)
def test_bad_valve_updates_get_a_clear_4xx_and_change_nothing(client: TestClient, tmp_path: Path, raw: bytes) -> None:
    before = _stored(tmp_path)
    response = client.post(UPDATE, content=raw, headers={**AUTH, "Content-Type": "application/json"})
    assert response.status_code == 422, response.text[:200]
    assert response.json()["detail"]
    assert _stored(tmp_path) == before


# --- routes ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/openapi.json", "/docs", "/redoc", "/v1/openapi.json"])
def test_no_schema_or_docs_with_or_without_the_key(client: TestClient, path: str) -> None:
    assert client.get(path).status_code == 401
    assert client.get(path, headers=AUTH).status_code == 404


@pytest.mark.parametrize("path", ["/models/", "/v1/models/", f"/{FILTER}/valves/", "/pipelines/", "/no/such/path"])
def test_no_slash_redirect_and_unknown_paths_need_the_key(client: TestClient, path: str) -> None:
    response = client.get(path, headers={"Host": "evil.example"}, follow_redirects=False)
    assert response.status_code == 401
    assert "location" not in response.headers and "evil.example" not in response.text
    with_key = client.get(path, headers={**AUTH, "Host": "evil.example"}, follow_redirects=False)
    assert with_key.status_code == 404 and "location" not in with_key.headers


def test_wrong_method_on_a_known_path_needs_the_key_too(client: TestClient) -> None:
    assert client.delete("/models").status_code == 401
    assert client.delete("/models", headers=AUTH).status_code == 405


# --- admin -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "form",
    [
        {"older_than_seconds": "NaN"},
        {"older_than_seconds": "nan"},
        {"older_than_seconds": "-inf"},
        {"older_than_seconds": "Infinity"},
        {"older_than_seconds": -1},
        {"older_than_seconds": "soon"},
        {"message_ids": "m-1"},
    ],
)
def test_end_open_turns_validates_its_input_and_ends_nothing_on_bad_input(
    client: TestClient, span_exporter: InMemorySpanExporter, form: dict[str, Any]
) -> None:
    client.post(f"/{FILTER}/filter/inlet", json=load("pipelines_ui_stream_error_inlet.json"), headers=AUTH)
    response = client.post("/admin/end-open-turns", json=form, headers=AUTH)
    assert response.status_code == 422, response.text
    assert "older_than_seconds" in response.text or "message_ids" in response.text
    assert client.get("/health").json()["open_turns"] == 1
    assert span_exporter.get_finished_spans() == ()
    for raw in (b'{"older_than_seconds": NaN}', b"[" * 50_000, b'{"older_than_seconds": 1e400}'):
        bad = client.post("/admin/end-open-turns", content=raw, headers={**AUTH, "Content-Type": "application/json"})
        assert bad.status_code == 422, bad.text
    assert client.post("/admin/end-open-turns", json={"older_than_seconds": 0}, headers=AUTH).json() == {"ended": 1}


# --- limits ----------------------------------------------------------------------------------------------------


def test_bodies_above_the_hard_limit_get_a_clear_413(tmp_path: Path, tracer_provider: TracerProvider) -> None:
    with _app(tmp_path, tracer_provider, max_body_bytes=100_000, max_recorded_body_bytes=50_000) as client:
        body = {"model": "m", "messages": [{"role": "user", "content": "x" * 100_000}]}
        declared = client.post(f"/{FILTER}/filter/inlet", json={"body": body}, headers=AUTH)
        assert declared.status_code == 413
        assert "100000" in declared.json()["detail"] and "--max-body-bytes" in declared.json()["detail"]

        def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it arrives
            yield b'{"body": {"messages": [{"content": "'
            for _ in range(20):
                yield b"y" * 10_000
            yield b'"}]}}'

        streamed = client.post(f"/{FILTER}/filter/inlet", content=chunks(), headers=AUTH)
        assert streamed.status_code == 413
        settings = client.post(UPDATE, content=b'{"service_name": "' + b"s" * (2 << 20) + b'"}', headers=AUTH)
        assert settings.status_code == 413  # valves and admin requests are small
        # Between the limits: answered in full, not traced.
        between = {"model": "m", "messages": [{"role": "user", "content": "z" * 60_000}]}
        response = client.post(f"/{FILTER}/filter/inlet", json={"body": between}, headers=AUTH)
        assert response.status_code == 200 and response.json() == between
        counters = client.get("/health").json()["counters"]
        assert (counters["bodies_too_large"], counters["bodies_refused"]) == (1, 2)


def test_bad_limits_fail_at_startup_naming_the_setting(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="--max-recorded-body-bytes"):
        ServerConfig(api_key=KEY, data_dir=tmp_path, max_body_bytes=10, max_recorded_body_bytes=20)
    with pytest.raises(ValueError, match="OWUI_OTEL_MAX_BODY_BYTES"):
        ServerConfig(api_key=KEY, data_dir=tmp_path, max_body_bytes=0)


# --- operator settings -----------------------------------------------------------------------------------------


def test_limits_and_the_widening_switch_come_from_flags_then_environment_then_defaults() -> None:
    from owui_otel._bridge_settings import (  # noqa: PLC0415
        DEFAULT_MAX_BODY_BYTES,
        DEFAULT_MAX_RECORDED_BODY_BYTES,
        OWUI_OTEL_MAX_BODY_BYTES,
        OWUI_OTEL_MAX_RECORDED_BODY_BYTES,
        allow_widening,
        body_limits,
    )
    from owui_otel.cli import build_parser  # noqa: PLC0415

    assert body_limits(None, None, {}) == (DEFAULT_MAX_BODY_BYTES, DEFAULT_MAX_RECORDED_BODY_BYTES)
    environ = {OWUI_OTEL_MAX_BODY_BYTES: "64MiB", OWUI_OTEL_MAX_RECORDED_BODY_BYTES: "512k"}
    assert body_limits(None, None, environ) == (64 << 20, 512 << 10)
    assert body_limits("1G", "2m", environ) == (1 << 30, 2 << 20)  # flags win
    for bad in ("lots", "-5", "0", "1.5MiB"):
        with pytest.raises(ValueError, match="--max-body-bytes"):
            body_limits(bad, None, {})
    with pytest.raises(ValueError, match=OWUI_OTEL_MAX_RECORDED_BODY_BYTES):
        body_limits(None, None, {OWUI_OTEL_MAX_RECORDED_BODY_BYTES: "many"})
    assert allow_widening(False, {}) is False
    assert allow_widening(False, {OWUI_OTEL_ALLOW_WIDENING_VALVES: "true"}) is True
    assert allow_widening(True, {}) is True
    with pytest.raises(ValueError, match=OWUI_OTEL_ALLOW_WIDENING_VALVES):
        allow_widening(False, {OWUI_OTEL_ALLOW_WIDENING_VALVES: "perhaps"})
    args = build_parser().parse_args(["serve", "--max-body-bytes", "1MiB", "--allow-widening-valves"])
    assert (args.max_body_bytes, args.max_recorded_body_bytes, args.allow_widening_valves) == ("1MiB", None, True)

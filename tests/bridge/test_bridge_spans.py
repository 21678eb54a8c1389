# SPDX-License-Identifier: Apache-2.0
"""The bridge's own request spans (``owui-otel serve``: opentelemetry-instrumentation-fastapi) never carry the
query string: a caller may put a key there (``?api_key=...``), and those spans go to Jaeger.

Checked on the spans as exported, for every response code the bridge gives, with the old HTTP semantic
conventions (``http.url``, ``http.target``; the instrumentation's default) and the new ones (``url.full``,
``url.query``) both on (``OTEL_SEMCONV_STABILITY_OPT_IN=http/dup``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from opentelemetry.instrumentation._semconv import _OpenTelemetrySemanticConventionStability
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from owui_otel._serve import REDACTED, instrument
from owui_otel.server import ServerConfig, create_app
from tests.support.scenarios import load

pytestmark = pytest.mark.unit

KEY = "bridge-spans-key-0123456789"
QUERY_SECRET = "query-secret-5d1c"
AUTH = {"Authorization": f"Bearer {KEY}"}


@pytest.fixture(params=["default", "http/dup"])
def semconv_mode(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The instrumentation reads OTEL_SEMCONV_STABILITY_OPT_IN once per process: read it again for each mode."""
    if request.param == "default":
        monkeypatch.delenv("OTEL_SEMCONV_STABILITY_OPT_IN", raising=False)
    else:
        monkeypatch.setenv("OTEL_SEMCONV_STABILITY_OPT_IN", request.param)
    monkeypatch.setattr(_OpenTelemetrySemanticConventionStability, "_initialized", False)
    yield request.param
    monkeypatch.undo()
    _OpenTelemetrySemanticConventionStability._initialized = False


def test_request_spans_carry_no_query_string_for_any_response_code(
    tmp_path: Path, tracer_provider: TracerProvider, semconv_mode: str
) -> None:
    server_spans = InMemorySpanExporter()
    server_provider = TracerProvider()
    server_provider.add_span_processor(SimpleSpanProcessor(server_spans))
    config = ServerConfig(api_key=KEY, data_dir=tmp_path, max_body_bytes=10_000, max_recorded_body_bytes=5_000)
    app = create_app(config, tracer_provider=tracer_provider)
    instrument(app, server_provider)
    query = f"?api_key={QUERY_SECRET}&token={QUERY_SECRET}"
    recorded = load("pipelines_ui_stream_turn1_inlet.json")
    statuses = {}
    with TestClient(app) as client:
        for name, method, path, headers, body in [
            ("200", "POST", "/otel_bridge/filter/inlet", AUTH, recorded),
            ("401 missing key", "POST", "/otel_bridge/filter/inlet", {}, recorded),
            ("401 wrong key", "GET", "/models", {"Authorization": "Bearer nope"}, None),
            ("401 unknown path", "GET", "/secret/path/", {}, None),
            ("403", "POST", "/otel_bridge/valves/update", AUTH, {"record_user_email": True}),
            ("404", "POST", "/someone/filter/inlet", AUTH, recorded),
            ("413", "POST", "/otel_bridge/filter/inlet", AUTH, {"body": {"x": "y" * 20_000}}),
            ("422", "POST", "/admin/end-open-turns", AUTH, {"older_than_seconds": "NaN"}),
            ("501", "POST", "/pipelines/upload", AUTH, None),
        ]:
            response = client.request(method, path + query, headers=headers, json=body)
            statuses[name] = response.status_code
    server_provider.shutdown()
    spans = server_spans.get_finished_spans()

    assert {name: int(name[:3]) for name in statuses} == statuses
    assert len(spans) == len(statuses)  # one span per request: no per-chunk receive/send spans
    for span in spans:
        attributes = dict(span.attributes or {})
        dumped = json.dumps(attributes) + span.name
        assert QUERY_SECRET not in dumped, dumped
        assert "api_key" not in dumped, dumped
        for name in ("http.url", "url.full", "http.target"):
            assert "?" not in str(attributes.get(name, "")), (name, attributes)
        assert attributes["url.query"] == REDACTED
        if semconv_mode == "default":
            assert attributes["http.target"].startswith("/")  # the path is still there
        else:
            assert attributes["url.path"].startswith("/")

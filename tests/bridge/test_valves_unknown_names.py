# SPDX-License-Identifier: Apache-2.0
"""``POST /{id}/valves/update`` refuses valve names the filter does not have, instead of dropping them.

A typo (``otlp_endpont``) used to answer 200 with the old value kept: it looked saved. Now: 422 naming the unknown
name and the closest valid one, and nothing stored changes (the secret and widening rules still apply after it).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from opentelemetry.sdk.trace import TracerProvider

from owui_otel._valve_policy import SECRET_MASK
from owui_otel.server import ServerConfig, create_app

pytestmark = pytest.mark.unit

KEY = "bridge-unknown-valves-key-0123456789"
AUTH = {"Authorization": f"Bearer {KEY}"}
UPDATE = "/otel_bridge/valves/update"
STORED = {"otlp_endpoint": "http://collector.internal:4318", "otlp_headers": "authorization=Bearer%20t0ken"}


def _client(tmp_path: Path, tracer_provider: TracerProvider) -> TestClient:
    (tmp_path / "valves.json").write_text(json.dumps(STORED))
    return TestClient(create_app(ServerConfig(api_key=KEY, data_dir=tmp_path), tracer_provider=tracer_provider))


def test_an_unknown_valve_name_is_refused_with_the_closest_valid_one(
    tmp_path: Path, tracer_provider: TracerProvider
) -> None:
    with _client(tmp_path, tracer_provider) as client:
        before = (tmp_path / "valves.json").read_text()
        response = client.post(UPDATE, json={"otlp_endpont": "http://elsewhere:4318", "priority": 2}, headers=AUTH)
        assert response.status_code == 422
        detail = response.json()["detail"]
        assert detail.startswith("invalid valves: no such valve: otlp_endpont (did you mean otlp_endpoint?)")
        assert "nothing was changed" in detail and "Fix: send only pipelines, priority, otlp_endpoint" in detail
        assert "elsewhere" not in detail  # names only, never a value
        assert (tmp_path / "valves.json").read_text() == before  # not even the valid priority was applied
        assert client.get("/otel_bridge/valves", headers=AUTH).json()["priority"] == 0


@pytest.mark.parametrize(
    ("valves", "named"),
    [
        ({"otlp_endpoint": "garbage"}, "valve otlp_endpoint: 'garbage' is not a URL"),
        ({"max_content_chars": 5, "priority": 2}, "valve max_content_chars: '5' must be a whole number"),
        ({"otlp_protocol": "grcp"}, "valve otlp_protocol: 'grcp' is not a supported protocol"),
    ],
)
def test_a_bad_value_is_refused_by_the_filters_own_rules(
    tmp_path: Path, tracer_provider: TracerProvider, valves: dict[str, object], named: str
) -> None:
    with _client(tmp_path, tracer_provider) as client:
        before = (tmp_path / "valves.json").read_text()
        response = client.post(UPDATE, json=valves, headers=AUTH)
        assert response.status_code == 422
        detail = response.json()["detail"]
        assert named in detail and "Fix: " in detail and "nothing was changed" in detail
        assert (tmp_path / "valves.json").read_text() == before


def test_a_name_like_no_valve_is_named_without_a_guess(tmp_path: Path, tracer_provider: TracerProvider) -> None:
    with _client(tmp_path, tracer_provider) as client:
        response = client.post(UPDATE, json={"zzz": 1}, headers=AUTH)
        assert response.status_code == 422
        assert "no such valve: zzz;" in response.json()["detail"]


def test_the_admin_pages_full_form_with_masked_secrets_is_still_accepted(
    tmp_path: Path, tracer_provider: TracerProvider
) -> None:
    # Open WebUI posts back every valve it was shown, the masked secret included: all known names.
    with _client(tmp_path, tracer_provider) as client:
        shown = client.get("/otel_bridge/valves", headers=AUTH).json()
        assert shown["otlp_headers"] == SECRET_MASK
        response = client.post(UPDATE, json={**shown, "priority": 5}, headers=AUTH)
        assert response.status_code == 200 and response.json()["priority"] == 5
    assert json.loads((tmp_path / "valves.json").read_text())["otlp_headers"] == STORED["otlp_headers"]


def test_widening_is_still_refused_for_known_names(tmp_path: Path, tracer_provider: TracerProvider) -> None:
    with _client(tmp_path, tracer_provider) as client:
        response = client.post(UPDATE, json={"otlp_endpoint": "http://elsewhere:4318"}, headers=AUTH)
        assert response.status_code == 403

# SPDX-License-Identifier: Apache-2.0
"""``owui-otel serve`` hands its settings to the filter it hosts without writing the process environment."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from owui_otel._serve import filter_environ
from owui_otel.server import ServerConfig, create_app
from tests.support.otlp_sink import OtlpSink
from tests.support.scenarios import load

pytestmark = pytest.mark.unit


def test_serve_hands_its_otlp_endpoint_to_the_filter_without_writing_the_environment(tmp_path: Path) -> None:
    """``owui-otel serve --otlp-endpoint`` reaches the bridge's filter through its environ mapping; os.environ is
    left as it was (it used to be written)."""
    before = dict(os.environ)
    with OtlpSink() as sink:
        config = ServerConfig(api_key="k", data_dir=tmp_path, environ=filter_environ(sink.endpoint, {}))
        with TestClient(create_app(config)) as client:
            recorded_in = load("pipelines_ui_nonstream_inlet.json")
            recorded_out = load("pipelines_ui_nonstream_outlet.json")
            auth = {"Authorization": "Bearer k"}
            for hook, recorded in (("inlet", recorded_in), ("outlet", recorded_out)):
                assert client.post(f"/{config.filter_id}/filter/{hook}", json=recorded, headers=auth).status_code == 200
        (span,) = sink.wait_for(1)  # the app's shutdown flushed the turn to the endpoint given
    assert span.name.startswith("chat ")
    assert dict(os.environ) == before

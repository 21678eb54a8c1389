# SPDX-License-Identifier: Apache-2.0
"""The Phoenix backend's pipeline: only the filter's spans, filed under the `open-webui` project, content kept.

What Phoenix then shows is tested in a browser (tests/cli/test_trace_ui.py); that every selection with it validates,
in tests/collector/test_validate_configs.py.
"""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from collector import render_config
from collector._backends.phoenix import FILTER_PHOENIX, PHOENIX_PROJECT, PHOENIX_PROJECT_ATTRIBUTE, TRANSFORM_PHOENIX
from otel_filter.semconv import INSTRUMENTATION_SCOPE

pytestmark = pytest.mark.unit


def _config() -> dict[str, Any]:
    config: dict[str, Any] = yaml.safe_load(render_config(["jaeger", "phoenix"]))
    return config


def test_phoenix_pipeline_filters_names_the_project_and_keeps_content() -> None:
    config = _config()
    pipeline = config["service"]["pipelines"]["traces/phoenix"]
    assert pipeline["processors"] == ["memory_limiter", FILTER_PHOENIX, TRANSFORM_PHOENIX, "batch"]
    assert pipeline["exporters"] == ["otlp_http/phoenix"]
    # Jaeger's pipeline strips the messages; Phoenix's (above: no transform/strip_content) keeps them.
    assert "transform/strip_content" in config["service"]["pipelines"]["traces/jaeger"]["processors"]


def test_phoenix_gets_only_the_filters_scope() -> None:
    (rule,) = _config()["processors"][FILTER_PHOENIX]["trace_conditions"]
    # A true condition drops: every scope but the filter's (the bridge's FastAPI spans, Open WebUI's own) is dropped.
    assert rule == {"context": "scope", "conditions": [f'scope.name != "{INSTRUMENTATION_SCOPE}"']}


def test_phoenix_project_is_set_unless_the_sender_chose_one() -> None:
    (block,) = _config()["processors"][TRANSFORM_PHOENIX]["trace_statements"]
    attribute = f'resource.attributes["{PHOENIX_PROJECT_ATTRIBUTE}"]'
    assert block == {
        "context": "resource",
        "statements": [f'set({attribute}, "{PHOENIX_PROJECT}") where {attribute} == nil'],
    }


def test_phoenix_endpoint_comes_from_the_environment() -> None:
    exporter = _config()["exporters"]["otlp_http/phoenix"]
    assert exporter["endpoint"] == "${env:PHOENIX_OTLP_ENDPOINT:-http://localhost:6006}"

# SPDX-License-Identifier: Apache-2.0
"""The single installable file: generated, current, and acceptable to both hosts as text."""

from __future__ import annotations

import ast
import inspect
import re

import pytest

import otel_filter
from otel_filter import bundle
from otel_filter.hosts import FILTER_NAME
from tests.support.owui_hosts import (
    BUNDLE,
    load_as_function,
    load_as_pipelines,
    openwebui_frontmatter,
    pipelines_frontmatter,
)

pytestmark = pytest.mark.unit

TEXT = BUNDLE.read_text(encoding="utf-8")


def test_committed_file_is_what_the_generator_produces() -> None:
    assert TEXT == bundle.render(), (
        "stale: run `python -m otel_filter.bundle` and commit pipelines/otel_filter_pipeline.py"
    )
    assert bundle.main(["--check"]) == 0


def test_check_mode_fails_on_a_stale_file(tmp_path: pytest.TempPathFactory) -> None:
    stale = tmp_path / "stale.py"  # type: ignore[operator]
    stale.write_text(TEXT.replace(FILTER_NAME, "hand edited", 1))
    assert bundle.main(["--check", "--output", str(stale)]) == 1


def test_frontmatter_is_readable_by_both_hosts() -> None:
    assert TEXT.splitlines()[0] == '"""'
    for frontmatter in (openwebui_frontmatter(TEXT), pipelines_frontmatter(TEXT)):
        assert frontmatter["title"] == FILTER_NAME == "OpenTelemetry GenAI tracing"
        assert frontmatter["version"] == otel_filter.__version__
        requirements = [r.strip() for r in frontmatter["requirements"].split(",")]
        assert requirements == list(bundle.REQUIREMENTS)
        for requirement in requirements:  # PyPI names with a lower bound, nothing a pip URL would need
            assert re.fullmatch(r"[a-z0-9][a-z0-9-]*>=[0-9.]+", requirement), requirement


def test_no_text_that_open_webui_rewrites_on_import() -> None:
    for phrase in ("from utils", "from main", "from config", "from apps"):
        assert phrase not in TEXT


def test_self_contained_with_both_host_classes_and_no_pipe() -> None:
    tree = ast.parse(TEXT)
    classes = {node.name for node in tree.body if isinstance(node, ast.ClassDef)}
    assert {"Pipeline", "Filter", "Valves"} <= classes
    assert "Pipe" not in classes  # Open WebUI would load a Pipe before a Filter
    imported = {
        (node.module or "").split(".")[0] if isinstance(node, ast.ImportFrom) else alias.name.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
    }
    assert "otel_filter" not in imported
    assert imported <= {
        "argparse",
        "ast",
        "asyncio",
        "atexit",
        "collections",
        "contextlib",
        "dataclasses",
        "decimal",
        "fnmatch",
        "hashlib",
        "importlib",  # genai_prices, imported on first use (otel_filter/_pricing.py)
        "inspect",
        "itertools",
        "json",
        "logging",
        "math",
        "opentelemetry",
        "os",
        "pydantic",
        "re",
        "requests",  # the OTLP/HTTP exporter's own dependency: the session that scopes headers
        "regex",
        "sys",
        "threading",
        "time",
        "types",
        "typing",
        "urllib",
    }, imported


def test_pipelines_shape() -> None:
    pipeline = load_as_pipelines()
    assert pipeline.type == "filter"
    assert pipeline.valves.pipelines == ["*"] and pipeline.valves.priority == 0
    for hook in ("on_startup", "on_shutdown", "on_valves_updated", "inlet", "outlet"):
        assert inspect.iscoroutinefunction(getattr(pipeline, hook)), f"the Pipelines server awaits {hook}"
    saved = load_as_pipelines(saved_valves={"priority": 5, "otlp_endpoint": "http://collector:4318"})
    assert saved.valves.priority == 5 and saved.valves.otlp_endpoint == "http://collector:4318"


def test_functions_shape() -> None:
    instance, module = load_as_function()
    assert not hasattr(module, "Pipe")
    for hook in ("on_startup", "on_shutdown", "on_valves_updated"):
        assert not hasattr(instance, hook), f"Functions have no {hook}; valve changes are detected per call"
    for hook, first in (("inlet", "body"), ("stream", "event"), ("outlet", "body")):
        parameters = list(inspect.signature(getattr(instance, hook)).parameters)
        assert parameters[0] == first
        assert all(p.startswith("__") and p.endswith("__") for p in parameters[1:]), parameters


def test_every_valve_is_described_in_the_bundle() -> None:
    instance, _ = load_as_function()
    for name, field in instance.Valves.model_json_schema()["properties"].items():
        assert field.get("description"), name


def test_public_api_is_complete_and_sorted() -> None:
    assert otel_filter.__all__ == sorted(otel_filter.__all__)
    public = {name for name in vars(otel_filter) if not name.startswith("_") and name not in ("annotations",)}
    modules = {"bundle", "environment_variables", "hosts", "semconv", "settings", "trace_ids", "version"}
    # the Event function's modules (bundle.py imports them)
    modules |= {"event_function", "feedback", "feedback_delivery", "feedback_sink"}
    assert public - modules == set(otel_filter.__all__) - {"__version__"}

# SPDX-License-Identifier: Apache-2.0
"""The usage metrics as rendered by ``python -m collector config`` (on by default, ``--no-metrics`` to leave out)."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from collector import EXPORTERS_FULL, config_dict, render_config, spec_from_env
from collector._backends import env_defaults
from collector._backends.metrics import ENV, EXPORTER, PIPELINES, usage_metrics, user_metrics
from collector._config import env_vars_used
from collector._errors import UsageError
from collector.cli import main

pytestmark = pytest.mark.unit

PER_USER_LABELS = {"user.id", "openwebui.user.role"}


def _pipelines(config: dict[str, Any]) -> dict[str, Any]:
    pipelines: dict[str, Any] = config["service"]["pipelines"]
    return pipelines


def test_metrics_are_on_by_default_and_wired_spans_to_prometheus() -> None:
    config = config_dict(["jaeger"])
    pipelines = _pipelines(config)
    assert set(PIPELINES) <= set(pipelines)
    spans = pipelines["traces/metrics"]
    assert spans["receivers"] == ["otlp"] and spans["exporters"] == list(config["connectors"])
    for name in ("metrics/usage", "metrics/users"):
        pipeline = pipelines[name]
        assert pipeline["receivers"][0] in config["connectors"]
        assert pipeline["processors"][0] == "memory_limiter" and pipeline["processors"][-1] == "batch"
        assert any(p.startswith("delta_to_cumulative/") for p in pipeline["processors"])
        assert pipeline["exporters"] == [EXPORTER]
    # Every processor a pipeline names is defined, and nothing defined is unused.
    used = {p for pipeline in pipelines.values() for p in pipeline["processors"]}
    assert used == set(config["processors"])
    assert (
        config["exporters"][EXPORTER]["endpoint"]
        == "${env:PROMETHEUS_OTLP_ENDPOINT:-http://localhost:9090/api/v1/otlp}"
    )


def test_no_metrics_leaves_no_trace_of_them() -> None:
    config = config_dict(["jaeger"], metrics=False)
    assert "connectors" not in config and EXPORTER not in config["exporters"]
    assert set(_pipelines(config)) == {"traces/jaeger"}
    assert "--no-metrics" in render_config(["jaeger"], metrics=False).splitlines()[1]
    assert not spec_from_env({"OWUI_OTEL_METRICS": "false"}).metrics
    assert spec_from_env({}).metrics
    with pytest.raises(UsageError, match="OWUI_OTEL_METRICS"):
        spec_from_env({"OWUI_OTEL_METRICS": "maybe"})


def test_cli_no_metrics_flag(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OWUI_OTEL_METRICS", raising=False)
    assert main(["config", "-e", "jaeger", "--no-metrics"]) == 0
    assert "connectors" not in yaml.safe_load(capsys.readouterr().out)
    assert main(["config", "-e", "jaeger"]) == 0
    assert "connectors" in yaml.safe_load(capsys.readouterr().out)


def test_per_model_metrics_carry_no_user_and_per_user_metrics_are_switchable() -> None:
    for metric in usage_metrics():
        keys = {attribute["key"] for attribute in metric["attributes"]}
        assert not keys & PER_USER_LABELS, metric["name"]
        assert "openwebui.chat.id" not in keys and "openwebui.message.id" not in keys
    for metric in user_metrics():
        keys = {attribute["key"] for attribute in metric["attributes"]}
        assert "user.id" in keys, metric["name"]
        assert all('"${env:OWUI_OTEL_METRICS_PER_USER:-true}" == "true"' in c for c in metric["conditions"])


def test_cost_and_tokens_are_exact_sums() -> None:
    by_name: dict[str, list[dict[str, Any]]] = {}
    for metric in usage_metrics() + user_metrics():
        by_name.setdefault(metric["name"], []).append(metric)
    for name in ("gen_ai.usage.cost", "openwebui.user.cost"):
        [cost] = by_name[name]
        assert cost["unit"] == "nUSD" and cost["sum"]["value"].startswith("Int(")  # integers: order-free sums
    tokens = by_name["gen_ai.client.token.usage"]
    assert sorted(t["attributes"][-1]["default_value"] for t in tokens) == ["input", "output"]
    assert {t["unit"] for t in tokens} == {"{token}"}


def test_every_metrics_env_var_is_declared_with_its_default() -> None:
    used = env_vars_used(config_dict(EXPORTERS_FULL))
    for name, default in ENV.items():
        assert used[name] == default
        assert env_defaults()[name] == default

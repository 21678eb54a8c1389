# SPDX-License-Identifier: Apache-2.0
"""``owui-otel up`` and the per-user metrics settings: taken from its shell, given to the collector (which inherits
no config variable), and a changed setting on a running stack is named, with how to apply it."""

from __future__ import annotations

from pathlib import Path

import pytest

from owui_otel._stack import (
    StackOptions,
    _plan,
    _urls,
    metrics_settings,
    requested_settings,
    settings_differences,
)

pytestmark = pytest.mark.unit

BINARIES = (
    Path("/nonexistent/otelcol"),
    Path("/nonexistent/jaeger"),
    Path("/nonexistent/phoenix"),
    Path("/nonexistent/prometheus"),
)


def test_the_shell_settings_reach_the_collector_and_prometheus_is_its_metrics_endpoint(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("OWUI_OTEL_DATA_DIR", str(tmp_path / "data"))
    shell = {"OWUI_OTEL_METRICS_PER_USER": "false", "OWUI_OTEL_METRICS_MAX_USER_SERIES": " ", "PATH": "/bin"}
    options = StackOptions(prometheus_port=19191, metrics_settings=metrics_settings(shell))
    plan = _plan(options, BINARIES, tmp_path, _urls(options), ("k", "t"))
    children = {child.name: child for child in plan.children}
    collector = children["collector"].env
    assert collector["OWUI_OTEL_METRICS_PER_USER"] == "false"
    assert "OWUI_OTEL_METRICS_MAX_USER_SERIES" not in collector  # blank: the config's default applies
    assert collector["PROMETHEUS_OTLP_ENDPOINT"] == "http://127.0.0.1:19191/api/v1/otlp"
    prometheus = children["prometheus"].argv
    assert "--web.listen-address=127.0.0.1:19191" in prometheus and "--web.enable-otlp-receiver" in prometheus
    assert f"--storage.tsdb.path={tmp_path / 'data' / 'prometheus'}" in prometheus  # kept across down/up
    assert children["prometheus"].ready_url == "http://127.0.0.1:19191/-/ready"


def test_a_changed_metrics_setting_on_a_running_stack_is_named() -> None:
    running = requested_settings(StackOptions())
    wanted = requested_settings(StackOptions(metrics_settings={"OWUI_OTEL_METRICS_PER_USER": "false"}))
    assert settings_differences(running, wanted) == ["OWUI_OTEL_METRICS_PER_USER false (running: unset)"]
    assert settings_differences(running, requested_settings(StackOptions())) == []

# SPDX-License-Identifier: Apache-2.0
"""The metrics part of docker-compose.yml (Prometheus + Grafana with the usage dashboard), checked without a Docker
engine: the real files pass metrics_checks, and each check reports a copy broken on purpose."""

from __future__ import annotations

import copy
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from . import checks
from .metrics_checks import check_metrics_wiring

pytestmark = pytest.mark.unit


def test_the_metrics_profile_is_wired_end_to_end(resolved: dict[str, Any]) -> None:
    assert check_metrics_wiring(resolved, checks.REPO_ROOT) == []


def test_prometheus_and_grafana_run_whenever_the_collector_runs(resolved: dict[str, Any]) -> None:
    all_services = checks.services(resolved)
    assert checks.METRICS_SERVICES <= checks.DEFAULT_SERVICES
    assert all(not all_services[name].get("profiles") for name in checks.METRICS_SERVICES | {"otel-collector"})
    # Open WebUI never waits for them (checks.TRACING_SERVICES covers them).
    assert not set(all_services["open-webui"].get("depends_on") or {}) & checks.METRICS_SERVICES


def test_grafana_gets_its_provisioning_and_dashboards_read_only_from_the_repository(
    compose_doc: dict[str, Any],
) -> None:
    binds = {mount.target: mount for mount in checks.mounts_of(compose_doc, "grafana") if mount.kind == "bind"}
    assert binds["/etc/grafana/provisioning"].source == "./compose/grafana/provisioning"
    assert binds["/etc/grafana/dashboards"].source == "./compose/grafana/dashboards"
    assert all(mount.read_only and mount.selinux == "z" for mount in binds.values())
    assert (checks.REPO_ROOT / "compose" / "grafana" / "dashboards" / "open-webui-usage.json").is_file()


def test_grafana_admin_password_is_a_required_secret(compose_doc: dict[str, Any]) -> None:
    refs = [ref for ref in checks.variable_refs(compose_doc) if ref.name == "GRAFANA_ADMIN_PASSWORD"]
    assert refs and all(ref.operator == ":?" and ref.argument for ref in refs)


def test_the_per_user_settings_default_to_the_collectors_defaults(
    env_example: checks.EnvExample, collector_config_text: str, resolved: dict[str, Any]
) -> None:
    defaults = checks.collector_env_defaults(collector_config_text)
    collector_env = checks.environment(checks.services(resolved)["otel-collector"])
    for name in ("OWUI_OTEL_METRICS_PER_USER", "OWUI_OTEL_METRICS_MAX_USER_SERIES"):
        assert env_example.values[name] == defaults[name] == collector_env[name], name


def copy_of_compose_folder(tmp_path: Path) -> Path:
    shutil.copytree(checks.REPO_ROOT / "compose", tmp_path / "compose")
    return tmp_path


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1, f"the mutation target must occur exactly once in {path.name}: {old!r}"
    path.write_text(text.replace(old, new), encoding="utf-8")


DATASOURCES = Path("compose/grafana/provisioning/datasources/prometheus.yaml")
PROVIDERS = Path("compose/grafana/provisioning/dashboards/owui-otel.yaml")
PROMETHEUS_CONFIG = Path("compose/prometheus/prometheus.yml")
DASHBOARD = Path("compose/grafana/dashboards/open-webui-usage.json")

FILE_MUTATIONS = [
    pytest.param(DATASOURCES, "url: http://prometheus:9090", "url: http://prometheus:9091",
                 "does not declare port 9091", id="datasource-on-a-wrong-port"),
    pytest.param(DATASOURCES, "url: http://prometheus:9090", "url: http://prom:9090", "names no compose service",
                 id="datasource-on-an-unknown-host"),
    pytest.param(DATASOURCES, "timeInterval: 1m", "timeInterval: ''", "set jsonData.timeInterval",
                 id="datasource-without-a-time-interval"),
    pytest.param(DATASOURCES, "uid: owui-otel-prometheus", "uid: another", "is not a provisioned datasource",
                 id="dashboard-datasource-not-provisioned"),
    pytest.param(PROVIDERS, "path: /etc/grafana/dashboards", "path: /var/lib/grafana/dashboards",
                 "no dashboard JSON mounted there", id="provider-reads-an-unmounted-folder"),
    pytest.param(PROMETHEUS_CONFIG, "translation_strategy: UnderscoreEscapingWithSuffixes",
                 "translation_strategy: NoTranslation", "not UnderscoreEscapingWithSuffixes",
                 id="prometheus-names-metrics-otherwise"),
    pytest.param(PROMETHEUS_CONFIG, "out_of_order_time_window: 10m", "out_of_order_time_window: 0s",
                 "differs from the local stack's", id="prometheus-config-not-the-local-stacks"),
]  # fmt: skip


@pytest.mark.parametrize(("relative", "old", "new", "fragment"), FILE_MUTATIONS)
def test_a_broken_file_is_reported(
    resolved: dict[str, Any], tmp_path: Path, relative: Path, old: str, new: str, fragment: str
) -> None:
    project = copy_of_compose_folder(tmp_path)
    edit(project / relative, old, new)
    problems = check_metrics_wiring(resolved, project)
    assert any(fragment in problem for problem in problems), problems


def without_mount(target: str) -> Callable[[dict[str, Any]], None]:
    def change(doc: dict[str, Any]) -> None:
        service = next(name for name in ("grafana", "prometheus") if any(
            isinstance(entry, dict) and entry.get("target") == target for entry in doc["services"][name]["volumes"]
        ))  # fmt: skip
        volumes = doc["services"][service]["volumes"]
        volumes[:] = [entry for entry in volumes if not (isinstance(entry, dict) and entry.get("target") == target)]

    return change


def set_key(service: str, key: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def change(doc: dict[str, Any]) -> None:
        doc["services"][service][key] = value

    return change


def set_env(service: str, name: str, value: str) -> Callable[[dict[str, Any]], None]:
    def change(doc: dict[str, Any]) -> None:
        doc["services"][service]["environment"][name] = value

    return change


def without_ports(service: str) -> Callable[[dict[str, Any]], None]:
    def change(doc: dict[str, Any]) -> None:
        doc["services"][service]["expose"] = []
        doc["services"][service]["ports"] = []

    return change


COMPOSE_MUTATIONS = [
    pytest.param(without_mount("/etc/grafana/provisioning"), "no Prometheus datasource is provisioned",
                 id="grafana-without-provisioning"),
    pytest.param(without_mount("/etc/grafana/dashboards"), "no dashboard JSON mounted there",
                 id="grafana-without-dashboards"),
    pytest.param(without_mount("/etc/prometheus/prometheus.yml"), "--config.file=/etc/prometheus/prometheus.yml",
                 id="prometheus-without-its-config"),
    pytest.param(set_key("grafana", "profiles", ["metrics"]), "run it with the collector's profiles",
                 id="grafana-in-a-profile"),
    pytest.param(set_key("prometheus", "command", ["--config.file=/etc/prometheus/prometheus.yml"]),
                 "add --web.enable-otlp-receiver", id="prometheus-without-otlp-receiver"),
    pytest.param(set_key("prometheus", "command", ["--config.file=/etc/prometheus/prometheus.yml",
                                                   "--web.enable-otlp-receiver"]),
                 "add --enable-feature=created-timestamp-zero-ingestion", id="prometheus-without-start-zeros"),
    pytest.param(set_env("otel-collector", "PROMETHEUS_OTLP_ENDPOINT", "http://prometheus:9091/api/v1/otlp"),
                 "does not declare port 9091", id="collector-pushes-to-a-wrong-port"),
    pytest.param(set_env("otel-collector", "PROMETHEUS_OTLP_ENDPOINT", "http://jaeger:4318/api/v1/otlp"),
                 "is not the prometheus service", id="collector-pushes-elsewhere"),
    pytest.param(set_env("otel-collector", "PROMETHEUS_OTLP_ENDPOINT", "http://prometheus:9090"),
                 "the path must be /api/v1/otlp", id="collector-pushes-to-the-wrong-path"),
    pytest.param(set_env("grafana", "GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH", "/etc/grafana/dashboards/x.json"),
                 "is not a mounted file", id="home-dashboard-missing"),
    pytest.param(without_ports("prometheus"), "port 9090 (OTLP receiver, web UI and API) is not declared",
                 id="prometheus-port-not-declared"),
]  # fmt: skip


@pytest.mark.parametrize(("change", "fragment"), COMPOSE_MUTATIONS)
def test_a_broken_service_is_reported(
    resolved: dict[str, Any], change: Callable[[dict[str, Any]], None], fragment: str
) -> None:
    broken = copy.deepcopy(resolved)
    change(broken)
    problems = check_metrics_wiring(broken, checks.REPO_ROOT)
    assert any(fragment in problem for problem in problems), problems

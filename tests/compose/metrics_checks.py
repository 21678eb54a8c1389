# SPDX-License-Identifier: Apache-2.0
"""Static checks of the metrics part of docker-compose.yml (Prometheus + Grafana), without a Docker engine.

Like checks.py, every check returns a list of problems (empty = fine) and reads plain data: the interpolated
compose document and the repository files the services mount (Prometheus' config, Grafana's provisioning and
dashboards), found through the bind mounts, so a check follows the file the container would read.

Usage::

    resolved, _ = checks.interpolate_doc(checks.load_compose(text), env.values)
    problems = check_metrics_wiring(resolved, checks.REPO_ROOT)
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from collector import prometheus_command
from collector._prometheus import prometheus_config

from . import checks

PROMETHEUS, GRAFANA, METRICS_SERVICES = checks.PROMETHEUS, checks.GRAFANA, checks.METRICS_SERVICES
PROMETHEUS_PORT = 9090  # the image's --web.listen-address
GRAFANA_PORT = 3000  # the image's http_port
GRAFANA_PROVISIONING = "/etc/grafana/provisioning"  # the image's GF_PATHS_PROVISIONING
_MACHINE_FLAGS = {
    "--config.file", "--storage.tsdb.path", "--storage.tsdb.retention.time", "--web.listen-address", "--log.level"
}  # fmt: skip
OTLP_PATH = "/api/v1/otlp"  # Prometheus' OTLP receiver (the collector's exporter appends /v1/metrics)
COLLECTOR_ENDPOINT_VARIABLE = "PROMETHEUS_OTLP_ENDPOINT"  # what otel-collector.yaml reads for its exporter
TRANSLATION_STRATEGY = "UnderscoreEscapingWithSuffixes"  # the Prometheus names the dashboard queries


def repo_path(resolved: Mapping[str, Any], service: str, container_path: str, project_dir: Path) -> Path | None:
    """The repository file or folder a service sees at ``container_path`` through a bind mount (None: not one)."""
    for mount in checks.mounts_of(resolved, service):
        target = mount.target.rstrip("/")
        if mount.kind == "bind" and (container_path == target or container_path.startswith(target + "/")):
            return (project_dir / mount.source / container_path[len(target) :].lstrip("/")).resolve()
    return None


def _flag(command: list[str], name: str) -> str:
    return next((arg.split("=", 1)[1] for arg in command if arg.startswith(f"--{name}=")), "")


def _yaml_files(folder: Path | None) -> Iterator[tuple[Path, dict[str, Any]]]:
    for path in sorted(folder.glob("*.y*ml")) if folder and folder.is_dir() else []:
        yield path, yaml.safe_load(path.read_text(encoding="utf-8")) or {}


def _service_port_problem(all_services: Mapping[str, Any], where: str, address: str, wanted: str) -> str | None:
    found = checks.host_port(address)
    if not found or found[0] not in all_services:
        return f"{where}: {address} names no compose service (want {wanted})"
    if found[1] not in checks.exposed_ports(all_services[found[0]]):
        return f"{where}: {address}: service {found[0]} does not declare port {found[1]}"
    return None


def check_prometheus(resolved: Mapping[str, Any], project_dir: Path) -> tuple[list[str], dict[str, Any]]:
    """Prometheus reads a mounted config and accepts OTLP, and the collector pushes to exactly that receiver.
    Returns the problems and the parsed config (empty when unreadable)."""
    all_services = checks.services(resolved)
    service = all_services[PROMETHEUS]
    command = [str(arg) for arg in service.get("command") or []]
    problems: list[str] = [
        f"services.{PROMETHEUS}.command: add {flag} (as the local stack runs it: collector.prometheus_command)"
        for flag in sorted(local_stack_flags() - set(command))
    ]
    if PROMETHEUS_PORT not in checks.exposed_ports(service):
        problems.append(
            f"services.{PROMETHEUS}: port {PROMETHEUS_PORT} (OTLP receiver, web UI and API) is not declared"
        )

    endpoint = checks.environment(all_services[checks.COLLECTOR]).get(COLLECTOR_ENDPOINT_VARIABLE, "")
    where = f"services.{checks.COLLECTOR}.environment.{COLLECTOR_ENDPOINT_VARIABLE}"
    problem = _service_port_problem(all_services, where, endpoint, f"http://{PROMETHEUS}:{PROMETHEUS_PORT}")
    if problem:
        problems.append(problem)
    elif (checks.host_port(endpoint) or ("",))[0] != PROMETHEUS:
        problems.append(f"{where}={endpoint} is not the {PROMETHEUS} service")
    elif urlsplit(endpoint).path.rstrip("/") != OTLP_PATH:
        problems.append(f"{where}={endpoint}: the path must be {OTLP_PATH} (the exporter appends /v1/metrics)")

    config_path = _flag(command, "config.file")
    source = repo_path(resolved, PROMETHEUS, config_path, project_dir) if config_path else None
    if source is None or not source.is_file():
        problems.append(
            f"services.{PROMETHEUS}: --config.file={config_path or '?'} is not a repository file mounted in"
        )
        return problems, {}
    config: dict[str, Any] = yaml.safe_load(source.read_text(encoding="utf-8")) or {}
    strategy = (config.get("otlp") or {}).get("translation_strategy")
    if strategy != TRANSLATION_STRATEGY:
        problems.append(
            f"{source.name}: otlp.translation_strategy is {strategy!r}, not {TRANSLATION_STRATEGY} (the metric names "
            "the dashboard queries)"
        )
    elif config != prometheus_config():
        problems.append(f"{source.name}: differs from the local stack's collector.prometheus_config() {config}")
    return problems, config


def local_stack_flags() -> set[str]:
    """The flags of the local stack's Prometheus that do not name a path, an address or a log level."""
    command = prometheus_command(Path("prometheus"), config=Path("c.yml"), data_dir=Path("data"), port=9090)
    return {arg for arg in command[1:] if arg.split("=", 1)[0] not in _MACHINE_FLAGS}


def provisioned_datasources(resolved: Mapping[str, Any], project_dir: Path) -> list[dict[str, Any]]:
    folder = repo_path(resolved, GRAFANA, f"{GRAFANA_PROVISIONING}/datasources", project_dir)
    return [entry for _, doc in _yaml_files(folder) for entry in doc.get("datasources") or []]


def provisioned_dashboard_folders(resolved: Mapping[str, Any], project_dir: Path) -> list[tuple[str, Path | None]]:
    """(container path, repository folder or None) of every file provider in Grafana's dashboard provisioning."""
    folder = repo_path(resolved, GRAFANA, f"{GRAFANA_PROVISIONING}/dashboards", project_dir)
    found = []
    for _, doc in _yaml_files(folder):
        for provider in doc.get("providers") or []:
            path = str((provider.get("options") or {}).get("path", ""))
            found.append((path, repo_path(resolved, GRAFANA, path, project_dir)))
    return found


def _datasource_uids(dashboard: Any) -> Iterator[str]:
    if isinstance(dashboard, Mapping):
        reference = dashboard.get("datasource")
        if isinstance(reference, Mapping) and "uid" in reference:
            yield str(reference["uid"])
        for value in dashboard.values():
            yield from _datasource_uids(value)
    elif isinstance(dashboard, list):
        for value in dashboard:
            yield from _datasource_uids(value)


def check_dashboard_datasources(dashboard: Mapping[str, Any], provisioned: set[str], where: str) -> list[str]:
    """Every datasource a dashboard names is a provisioned one, directly or through a datasource variable whose
    default is one."""
    variables = {
        f"${{{variable['name']}}}": str((variable.get("current") or {}).get("value", ""))
        for variable in (dashboard.get("templating") or {}).get("list") or []
        if variable.get("type") == "datasource"
    }
    problems = []
    for uid in sorted(set(_datasource_uids(dashboard))):
        resolved_uid = variables.get(uid, uid)
        if resolved_uid not in provisioned:
            problems.append(f"{where}: datasource {uid} ({resolved_uid}) is not a provisioned datasource")
    return problems


def check_grafana(resolved: Mapping[str, Any], project_dir: Path) -> list[str]:
    """Grafana's provisioning is mounted from the repository: its datasource reaches the prometheus service, its
    dashboard folder holds the dashboards, each naming only provisioned datasources; the home dashboard exists."""
    all_services = checks.services(resolved)
    problems: list[str] = []
    datasources = provisioned_datasources(resolved, project_dir)
    prometheus = [entry for entry in datasources if entry.get("type") == "prometheus"]
    if not prometheus:
        problems.append(f"services.{GRAFANA}: no Prometheus datasource is provisioned ({GRAFANA_PROVISIONING})")
    for entry in prometheus:
        where = f"grafana datasource {entry.get('name')}"
        problem = _service_port_problem(all_services, where, str(entry.get("url", "")), f"{PROMETHEUS}:9090")
        if problem:
            problems.append(problem)
        elif (checks.host_port(str(entry["url"])) or ("",))[0] != PROMETHEUS:
            problems.append(f"{where}: url {entry['url']} is not the {PROMETHEUS} service")
        if not (entry.get("jsonData") or {}).get("timeInterval"):
            problems.append(
                f"{where}: set jsonData.timeInterval (nothing is scraped: without it $__rate_interval assumes 15 s "
                "and spans too few of the collector's pushes)"
            )
    uids = {str(entry.get("uid", "")) for entry in datasources}

    folders = provisioned_dashboard_folders(resolved, project_dir)
    if not folders:
        problems.append(f"services.{GRAFANA}: no dashboard provider is provisioned ({GRAFANA_PROVISIONING})")
    for container_path, folder in folders:
        dashboards = sorted(folder.glob("*.json")) if folder and folder.is_dir() else []
        if not dashboards:
            problems.append(f"grafana dashboard provider {container_path}: no dashboard JSON mounted there")
        for path in dashboards:
            dashboard = json.loads(path.read_text(encoding="utf-8"))
            problems += check_dashboard_datasources(dashboard, uids, path.name)

    home = checks.environment(all_services[GRAFANA]).get("GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH", "")
    home_source = repo_path(resolved, GRAFANA, home, project_dir) if home else None
    if home and (home_source is None or not home_source.is_file()):
        problems.append(f"services.{GRAFANA}: GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH={home} is not a mounted file")
    if GRAFANA_PORT not in checks.exposed_ports(all_services[GRAFANA]):
        problems.append(f"services.{GRAFANA}: port {GRAFANA_PORT} (web UI) is not declared")
    return problems


def check_metrics_wiring(resolved: Mapping[str, Any], project_dir: Path = checks.REPO_ROOT) -> list[str]:
    """The collector pushes to Prometheus, Grafana reads Prometheus and shows the dashboards; both run whenever the
    collector does (it sends metrics whenever it runs)."""
    all_services = checks.services(resolved)
    missing = [name for name in sorted(METRICS_SERVICES | {checks.COLLECTOR}) if name not in all_services]
    if missing:
        return [f"service {name} is missing" for name in missing]
    collector_profiles = all_services[checks.COLLECTOR].get("profiles")
    problems = [
        f"services.{name}.profiles: run it with the collector's profiles ({collector_profiles or 'none'}): the "
        "collector pushes metrics whenever it runs"
        for name in sorted(METRICS_SERVICES)
        if all_services[name].get("profiles") != collector_profiles
    ]
    prometheus_problems, _ = check_prometheus(resolved, project_dir)
    return problems + prometheus_problems + check_grafana(resolved, project_dir)

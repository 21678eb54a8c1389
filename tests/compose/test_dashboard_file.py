# SPDX-License-Identifier: Apache-2.0
"""The "Open WebUI usage" dashboard file: generated, current, and a valid Grafana dashboard.

Validation uses Grafana's dashboard model as Grafana publishes it for programs: the ``grafana-foundation-sdk``
package (Apache-2.0, generated from Grafana's own schema; the build for Grafana "next", schemaVersion 41). No JSON
schema of the dashboard is installable from the registries (npm ``@grafana/schema`` ships TypeScript types only).
Decoding the file into the SDK's models and encoding it again must give the file back unchanged: a key the model
does not know, or a value of the wrong shape, is lost or changed on the way and fails the comparison.
"""

from __future__ import annotations

import copy
import importlib.util
import json
import re
from types import ModuleType
from typing import Any

import pytest
import yaml
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.cog.plugins import register_default_plugins
from grafana_foundation_sdk.models.dashboard import Dashboard as DashboardModel

from . import checks

pytestmark = pytest.mark.unit

GENERATOR = checks.REPO_ROOT / "compose" / "grafana" / "build_dashboard.py"
GRID_COLUMNS = 24  # Grafana's dashboard grid is 24 columns wide


def load_generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("build_dashboard", GENERATOR)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def generator() -> ModuleType:
    return load_generator()


@pytest.fixture(scope="module")
def dashboard(generator: ModuleType) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(generator.OUTPUT.read_text(encoding="utf-8"))
    return document


def round_trip(document: dict[str, Any]) -> dict[str, Any]:
    """The document decoded into Grafana's dashboard model and encoded again."""
    register_default_plugins()  # panel options and Prometheus queries decode into their own models
    model = DashboardModel.from_json(copy.deepcopy(document))
    encoded: dict[str, Any] = json.loads(JSONEncoder(sort_keys=True).encode(model))
    return encoded


def test_the_committed_dashboard_is_the_generators_output(generator: ModuleType) -> None:
    committed = generator.OUTPUT.read_text(encoding="utf-8")
    assert committed == generator.render(), "run: .venv/bin/python compose/grafana/build_dashboard.py"
    assert generator.main(["--check"]) == 0


def test_the_dashboard_is_a_grafana_dashboard_model_unchanged_by_decoding(dashboard: dict[str, Any]) -> None:
    assert round_trip(dashboard) == dashboard
    assert dashboard["schemaVersion"] == 41
    assert dashboard["title"] == "Open WebUI usage" and dashboard["uid"]


@pytest.mark.parametrize(
    ("path", "key", "bad_key"),
    [
        pytest.param(("panels", 1, "targets", 0), "expr", "exp", id="misspelled-query-key"),
        pytest.param(("panels", 1), "gridPos", "gridPosition", id="misspelled-panel-key"),
        pytest.param((), "schemaVersion", "schema_version", id="misspelled-dashboard-key"),
    ],
)
def test_the_model_check_catches_keys_grafana_does_not_know(
    dashboard: dict[str, Any], path: tuple[Any, ...], key: str, bad_key: str
) -> None:
    broken = copy.deepcopy(dashboard)
    node: Any = broken
    for step in path:
        node = node[step]
    node[bad_key] = node.pop(key)
    assert round_trip(broken) != broken


def test_panels_have_unique_ids_and_fit_the_grid_without_overlapping(dashboard: dict[str, Any]) -> None:
    panels = dashboard["panels"]
    ids = [panel["id"] for panel in panels]
    assert len(ids) == len(set(ids))
    cells: set[tuple[int, int]] = set()
    for panel in panels:
        grid = panel["gridPos"]
        assert grid["x"] >= 0 and grid["x"] + grid["w"] <= GRID_COLUMNS, panel["title"]
        taken = {
            (x, y) for x in range(grid["x"], grid["x"] + grid["w"]) for y in range(grid["y"], grid["y"] + grid["h"])
        }
        assert not taken & cells, f"{panel['title']} overlaps another panel"
        cells |= taken


def test_every_query_uses_only_defined_variables_and_every_filter_variable_is_used(dashboard: dict[str, Any]) -> None:
    defined = {variable["name"] for variable in dashboard["templating"]["list"]}
    builtin = {"__rate_interval", "__range", "__interval", "__all"}
    exprs = [target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])]
    assert exprs
    used = {name for expr in exprs for name in re.findall(r"\$\{?(\w+)", expr)}
    assert used - builtin <= defined
    assert {"model", "user", "role"} <= used


def test_the_dashboard_covers_what_admins_ask_for(dashboard: dict[str, Any]) -> None:
    titles = {panel["title"] for panel in dashboard["panels"]}
    for wanted in (
        "Tokens per model", "Tokens per user", "Tokens per role (group)", "Cost per model", "Cost per user",
        "Cost per role (group)", "Turns by end reason and error", "Turns per user", "Error rate", "Abandoned rate",
        "Turn duration percentiles", "Time to first chunk percentiles", "Task calls by task",
    ):  # fmt: skip
        assert wanted in titles


def test_the_over_time_window_is_the_collectors_max_stale(generator: ModuleType, dashboard: dict[str, Any]) -> None:
    """Within the window every pushed sample has the one before it (or the 0 of a restarted series): see OVER_TIME."""
    processors = yaml.safe_load(checks.COLLECTOR_CONFIG.read_text(encoding="utf-8"))["processors"]
    stale = {config["max_stale"] for name, config in processors.items() if name.startswith("delta_to_cumulative")}
    assert stale == {generator.OVER_TIME}
    exprs = [target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])]
    assert all("$__rate_interval" not in expr for expr in exprs)
    assert sum(f"[{generator.OVER_TIME}]" in expr for expr in exprs) > 10

# SPDX-License-Identifier: Apache-2.0
"""Every PromQL query of the "Open WebUI usage" dashboard runs against the real Prometheus, fed by the real collector
with replayed turns, and returns data for them.

The data: ``replayed_metrics`` (tests/metrics/conftest.py: Pipelines turns over 3 models, 3 users and 2 roles, with
abandoned turns and title tasks, plus streamed Function turns) and streamed turns of one of its models and users, so
that one selection of a model, a user and a role has data in every panel (time to first chunk is known for
streamed turns only). Grafana's variables are substituted as Grafana does: ``All`` is ``.*`` (the variables'
``allValue``), a selection is the value; ``$__range`` and ``$__rate_interval`` become a window spanning the test.
"""

from __future__ import annotations

import asyncio
import json
import math
import re
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support import scenarios
from tests.support.fixtures import BSP_SCHEDULE_DELAY_MS
from tests.support.metrics_replay import REPLAY_VALVES
from tests.support.owui_hosts import FunctionHost, load_as_function

from .conftest import ReplayedMetrics

pytestmark = pytest.mark.integration

DASHBOARD = Path(__file__).resolve().parents[2] / "compose" / "grafana" / "dashboards" / "open-webui-usage.json"
WINDOW = "15m"  # $__range and $__rate_interval: longer than the whole test

STREAMED = "ui_stream_turn1"  # a recorded streamed Function turn (inlet, stream events, outlet)
STREAMED_TURNS = 2
# Who the streamed turns are: a model and user of the replay plan, so a selection of one of each covers every panel.
MODEL, USER, ROLE = "acme-small-2", "u-bob", "user"
_RECORDED = {"mock-gpt": MODEL, "e7ef1609-1bfc-40e9-b692-49a9cc09fe02": USER, '"role": "admin"': f'"role": "{ROLE}"'}
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")

ALL = {"model": ".*", "user": ".*", "role": ".*"}
SELECTED = {"model": MODEL, "user": USER, "role": ROLE}
GROUPED_BY = {"gen_ai_request_model": "model", "user_id": "user", "openwebui_user_role": "role"}
"""Prometheus label -> the variable that filters it."""


def dashboard() -> dict[str, Any]:
    document: dict[str, Any] = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    return document


def panel_queries() -> list[tuple[str, str, bool]]:
    """(panel title and refId, PromQL, whether Grafana asks a range query) of every query of every panel."""
    return [
        (f"{panel['title']} [{target['refId']}]", target["expr"], bool(target.get("range")))
        for panel in dashboard()["panels"]
        for target in panel.get("targets", [])
    ]


def substitute(expr: str, variables: dict[str, str]) -> str:
    expr = expr.replace("$__rate_interval", WINDOW).replace("$__range", WINDOW)
    for name, value in variables.items():
        expr = expr.replace(f"${name}", value)
    assert "$" not in expr, f"a variable is left: {expr}"
    return expr


def streamed_fixture_copy(folder: Path) -> Path:
    """The recorded streamed Function turn with fresh ids, and this test's model, user and role."""
    folder.mkdir(parents=True, exist_ok=True)
    files = scenarios.function_files(STREAMED)
    texts = {name: (scenarios.FIXTURES / name).read_text(encoding="utf-8") for name in files.values()}
    fresh = {old: str(uuid.uuid4()) for text in texts.values() for old in _UUID.findall(text)}
    for old in _RECORDED:
        fresh.pop(old, None)
    for name, text in texts.items():
        for old, new in {**fresh, **_RECORDED}.items():
            text = text.replace(old, new)
        (folder / name).write_text(text, encoding="utf-8")
    return folder


def replay_streamed_turns(endpoint: str, workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """STREAMED_TURNS streamed turns through an in-process Function (it measures the time to the first chunk)."""
    instance, _ = load_as_function()
    host = FunctionHost(instance, valves={"otlp_endpoint": endpoint, **REPLAY_VALVES})
    for turn in range(STREAMED_TURNS):
        monkeypatch.setattr(scenarios, "FIXTURES", streamed_fixture_copy(workdir / f"turn-{uuid.uuid4().hex}"))
        calls = asyncio.run(scenarios.replay_function(host, STREAMED))
        assert [hook for hook, _, _ in calls].count("stream") > 1, f"turn {turn}: no stream events replayed"
    instance._core().shutdown()  # flushes the spans


def instant(prometheus_url: str, expr: str) -> list[dict[str, Any]]:
    answer = httpx.get(f"{prometheus_url}/api/v1/query", params={"query": expr}, timeout=30)
    assert answer.status_code == 200, f"{expr}: {answer.text}"
    body = answer.json()
    assert body["status"] == "success", body
    result: list[dict[str, Any]] = body["data"]["result"]
    return result


def query_range(prometheus_url: str, expr: str, minutes: int = 10, step: str = "15s") -> list[list[float]]:
    """The values of each series of a range query over the last ``minutes``, as Grafana's time series panels ask."""
    end = time.time()
    params = {"query": expr, "start": f"{end - minutes * 60:.3f}", "end": f"{end:.3f}", "step": step}
    answer = httpx.get(f"{prometheus_url}/api/v1/query_range", params=params, timeout=30)
    assert answer.status_code == 200, f"{expr}: {answer.text}"
    body = answer.json()
    assert body["status"] == "success" and body["data"]["resultType"] == "matrix", body
    return [[float(value) for _, value in series["values"]] for series in body["data"]["result"]]


def total(prometheus_url: str, expr: str) -> float:
    return sum(float(row["value"][1]) for row in instant(prometheus_url, f"sum({expr})"))


def wait_for_turns(prometheus_url: str, turns: int, timeout: float = 90.0) -> None:
    """Until Prometheus counts ``turns`` turns, STREAMED_TURNS of them of MODEL with a time to first chunk."""
    streamed = f'gen_ai_client_operation_time_to_first_chunk_seconds_count{{gen_ai_request_model="{MODEL}"}}'
    deadline = time.monotonic() + timeout
    while True:
        counts = (total(prometheus_url, "openwebui_turns_total"), total(prometheus_url, streamed))
        if counts[0] >= turns and counts[1] >= STREAMED_TURNS:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"Prometheus has {counts} of ({turns}, {STREAMED_TURNS}) turns (all, streamed)")
        time.sleep(1.0)


@pytest.fixture(scope="module")
def replayed(replayed_metrics: ReplayedMetrics, tmp_path_factory: pytest.TempPathFactory) -> ReplayedMetrics:
    """replayed_metrics plus STREAMED_TURNS streamed turns of MODEL, USER and ROLE (the fixture's own streamed turns
    are of an unpriced model and another user), all of it stored in Prometheus."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", BSP_SCHEDULE_DELAY_MS)
        replay_streamed_turns(
            replayed_metrics.stack.otlp_http_endpoint, tmp_path_factory.mktemp("streamed"), monkeypatch
        )
    wait_for_turns(replayed_metrics.prometheus.url, replayed_metrics.totals.turns + STREAMED_TURNS)
    return replayed_metrics


QUERIES = panel_queries()


def replayed_values(replayed: ReplayedMetrics) -> dict[str, set[str]]:
    """variable -> the values the replay used (models and users as the turns' spans in Jaeger say)."""
    totals = replayed.totals
    roles = {turn.role for turn in replayed.plan}  # the Function turns' recorded user is an admin, as is u-alice
    return {"model": set(totals.models), "user": set(totals.turns_by_user), "role": roles}


@pytest.mark.parametrize("selection", [ALL, SELECTED], ids=["all", "selected"])
@pytest.mark.parametrize(("panel", "expr", "is_range"), QUERIES, ids=[panel for panel, _, _ in QUERIES])
def test_every_dashboard_query_returns_data_for_the_replayed_turns(
    replayed: ReplayedMetrics, panel: str, expr: str, is_range: bool, selection: dict[str, str]
) -> None:
    query = substitute(expr, selection)
    if is_range:  # a time series panel: Grafana asks for points over the time range
        points = query_range(replayed.prometheus.url, query)
        assert any(math.isfinite(value) for series in points for value in series), f"{panel}: no points: {query}"
    rows = instant(replayed.prometheus.url, query)
    assert rows, f"{panel}: no data for\n{query}"
    values = [float(row["value"][1]) for row in rows]
    assert any(math.isfinite(value) for value in values), f"{panel}: only NaN/Inf: {rows}"
    assert all(value >= 0 for value in values if math.isfinite(value)), rows

    grouped = [label for label in GROUPED_BY if re.search(rf"sum by \((le, )?[^)]*\b{label}\b", expr)]
    for label in grouped:
        seen = {row["metric"].get(label, "") for row in rows}
        if selection is SELECTED:
            # The selection filters the series: only the selected value is left.
            assert seen == {selection[GROUPED_BY[label]]}, f"{panel}: {label} {seen}"
        else:
            assert seen and seen <= replayed_values(replayed)[GROUPED_BY[label]], f"{panel}: {label} {seen}"


def test_the_overview_counts_every_replayed_turn(replayed: ReplayedMetrics) -> None:
    """The overview's increase over the range counts every turn, token and task call of the replay (increase()
    extrapolates, so it is at least the exact figure; Prometheus' zero at each series' start counts first turns)."""
    stats = {panel["title"]: panel["targets"][0]["expr"] for panel in dashboard()["panels"] if panel["type"] == "stat"}
    plan = replayed.plan
    minimum = {
        "Turns": replayed.totals.turns + STREAMED_TURNS,
        "Tokens": sum(turn.input_tokens + turn.output_tokens for turn in plan if not turn.abandoned),
        "Task calls": sum(turn.title_task for turn in plan),
    }
    for title, floor in minimum.items():
        [row] = instant(replayed.prometheus.url, substitute(stats[title], ALL))
        assert float(row["value"][1]) >= floor, f"{title}: {row} < {floor}"
    [cost] = instant(replayed.prometheus.url, substitute(stats["Cost"], ALL))
    assert float(cost["value"][1]) > 0
    # increase() extrapolates numerator and denominator separately: the rate is near, not exactly, the plan's.
    [abandoned] = instant(replayed.prometheus.url, substitute(stats["Abandoned rate"], ALL))
    expected = sum(turn.abandoned for turn in plan) / (replayed.totals.turns + STREAMED_TURNS)
    assert expected / 2 < float(abandoned["value"][1]) < expected * 2


@pytest.mark.parametrize(
    "variable", [variable for variable in dashboard()["templating"]["list"] if variable["type"] == "query"],
    ids=lambda variable: variable["name"],
)  # fmt: skip
def test_every_variable_lists_the_replayed_values(replayed: ReplayedMetrics, variable: dict[str, Any]) -> None:
    """``label_values(metric, label)`` / ``label_values(label)``, asked the way Grafana asks Prometheus."""
    match = re.fullmatch(r"label_values\((?:(\w+), )?(\w+)\)", variable["query"])
    assert match, variable["query"]
    metric, label = match.groups()
    params = {"match[]": metric} if metric else {}
    answer = httpx.get(f"{replayed.prometheus.url}/api/v1/label/{label}/values", params=params, timeout=30)
    answer.raise_for_status()
    values = set(answer.json()["data"])
    assert SELECTED[variable["name"]] in values
    assert replayed_values(replayed)[variable["name"]] <= values

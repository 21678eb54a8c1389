# SPDX-License-Identifier: Apache-2.0
"""Generates compose/grafana/dashboards/open-webui-usage.json, the "Open WebUI usage" Grafana dashboard.

The dashboard is built with Grafana's own dashboard model and builders (the ``grafana-foundation-sdk`` package,
generated from Grafana's schema), so the file is a Grafana dashboard by construction; never edit the JSON by hand.
After changing this file::

    .venv/bin/python compose/grafana/build_dashboard.py           # rewrite the JSON
    .venv/bin/python compose/grafana/build_dashboard.py --check   # exit 1 when the JSON is not current

tests/compose/test_dashboard_file.py keeps the committed JSON equal to this output, and
tests/compose/test_dashboard_queries.py runs every query against a real Prometheus fed by the real collector.

Every query reads the series our collector derives from the turn spans (collector/, "Metrics and dashboards" in
the README). The user and group variables match everything (``.*``, which also matches a series without the label)
when the per-user/per-group dimensions are off, so every panel works either way.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from grafana_foundation_sdk.builders import common as common_builders
from grafana_foundation_sdk.builders import dashboard as dashboard_builders
from grafana_foundation_sdk.builders import prometheus as prometheus_builders
from grafana_foundation_sdk.builders import stat, timeseries
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import common as common_models
from grafana_foundation_sdk.models import dashboard as dashboard_models

OUTPUT = Path(__file__).resolve().parent / "dashboards" / "open-webui-usage.json"

DASHBOARD_UID = "owui-otel-usage"
DASHBOARD_TITLE = "Open WebUI usage"
# The datasource compose/grafana/provisioning/datasources/prometheus.yaml provisions; the `datasource` variable
# lets the same file run on any Grafana with another Prometheus.
DATASOURCE_UID = "owui-otel-prometheus"
DATASOURCE = common_models.DataSourceRef(type_val="prometheus", uid="${datasource}")

# --- the series our collector exports (Prometheus names: dots become underscores, unit and type suffixes added) ---
TOKENS = "gen_ai_client_token_usage_sum"  # histogram sum: tokens, by gen_ai_token_type
COST = "gen_ai_usage_cost_total"  # counter: cost in the price table's currency (USD)
TURNS = "owui_turns_total"  # counter: turns, by end reason and status
TASKS = "owui_task_calls_total"  # counter: task calls (title, tags, follow-ups...)
DURATION = "gen_ai_client_operation_duration_seconds_bucket"  # histogram buckets: turn duration
TTFC = "gen_ai_client_operation_time_to_first_chunk_seconds_bucket"  # histogram buckets: time to first chunk

# --- labels -------------------------------------------------------------------------------------------------------
MODEL = "gen_ai_request_model"
USER = "user_id"
GROUP = "user_group"
TOKEN_TYPE = "gen_ai_token_type"
END_REASON = "end_reason"
STATUS = "status"
TASK = "task"
ERROR_STATUS = "error"
ABANDONED_REASON = "abandoned"

IS_ERROR = f'{STATUS}="{ERROR_STATUS}"'
IS_ABANDONED = f'{END_REASON}="{ABANDONED_REASON}"'

FILTERS = f'{MODEL}=~"$model", {USER}=~"$user", {GROUP}=~"$group"'
"""The template variables every query is filtered by."""

VARIABLES = (("model", "Model", MODEL), ("user", "User", USER), ("group", "Group", GROUP))
"""(variable name, label, the Prometheus label it lists)."""


def selector(metric: str, extra: str = "") -> str:
    """``metric{<the dashboard's filters>[, extra]}``."""
    return f"{metric}{{{FILTERS}{', ' + extra if extra else ''}}}"


def increase(metric: str, window: str = "$__rate_interval", extra: str = "") -> str:
    return f"increase({selector(metric, extra)}[{window}])"


def quantile(q: float, buckets: str) -> str:
    return f"histogram_quantile({q}, sum by (le, {MODEL}) (rate({selector(buckets)}[$__rate_interval])))"


def prometheus_query(expr: str, legend: str = "__auto", ref_id: str = "A") -> prometheus_builders.Dataquery:
    return (
        prometheus_builders.Dataquery().expr(expr).legend_format(legend).ref_id(ref_id).datasource(DATASOURCE).range()
    )


def timeseries_panel(
    title: str, description: str, unit: str, queries: list[prometheus_builders.Dataquery], width: int = 12
) -> timeseries.Panel:
    panel = (
        timeseries.Panel()
        .title(title)
        .description(description)
        .datasource(DATASOURCE)
        .unit(unit)
        .min(0)
        .height(8)
        .span(width)
        .fill_opacity(10)
        .legend(
            common_builders.VizLegendOptions()
            .display_mode(common_models.LegendDisplayMode.TABLE)
            .placement(common_models.LegendPlacement.BOTTOM)
            .show_legend(True)
            .calcs(["sum"] if unit not in ("s", "percentunit") else ["mean", "max"])
        )
    )
    for query in queries:
        panel = panel.with_target(query)
    return panel


def stat_panel(title: str, description: str, unit: str, expr: str) -> stat.Panel:
    return (
        stat.Panel()
        .title(title)
        .description(description)
        .datasource(DATASOURCE)
        .unit(unit)
        .height(4)
        .span(4)
        .graph_mode(common_models.BigValueGraphMode.NONE)
        .reduce_options(common_builders.ReduceDataOptions().calcs(["lastNotNull"]).values(False))
        .with_target(prometheus_builders.Dataquery().expr(expr).ref_id("A").datasource(DATASOURCE).instant())
    )


def per(label: str, what: str) -> str:
    """``sum by (label) (what)``."""
    return f"sum by ({label}) ({what})"


def ratio(part: str, whole: str) -> str:
    """``part / whole`` over the dashboard's range, 0 when nothing happened."""
    return f"({part}) / clamp_min({whole}, 1)"


def build() -> dashboard_builders.Dashboard:
    turns_in_range = f"sum({increase(TURNS, '$__range')})"
    board = (
        dashboard_builders.Dashboard(DASHBOARD_TITLE)
        .uid(DASHBOARD_UID)
        .description(
            "Tokens, cost, turns, errors, latency and task calls of Open WebUI chats, from the GenAI metrics the "
            "owui-otel collector derives from each turn's span. User and group need the per-user/per-group "
            "dimensions (off by default: see the README, Metrics and dashboards)."
        )
        .tags(["open-webui", "owui-otel", "genai"])
        .time("now-24h", "now")
        .refresh("1m")
        .timezone("browser")
        .editable()
        .with_variable(
            dashboard_builders.DatasourceVariable("datasource")
            .label("Prometheus")
            .type("prometheus")
            .current(dashboard_models.VariableOption(selected=True, text="Prometheus", value=DATASOURCE_UID))
        )
    )
    for name, label, prometheus_label in VARIABLES:
        board = board.with_variable(
            dashboard_builders.QueryVariable(name)
            .label(label)
            .datasource(DATASOURCE)
            .query({"query": f"label_values({prometheus_label})", "refId": f"{name}-values"})
            .refresh(dashboard_models.VariableRefresh.ON_TIME_RANGE_CHANGED)
            .sort(dashboard_models.VariableSort.ALPHABETICAL_CASE_INSENSITIVE_ASC)
            .multi(True)
            .include_all(True)
            .all_value(".*")
            .current(dashboard_models.VariableOption(selected=True, text="All", value="$__all"))
        )

    board = (
        board.with_row(dashboard_builders.Row("Overview (selected time range)"))
        .with_panel(stat_panel("Turns", "Chat turns that ended in the time range.", "short", turns_in_range))
        .with_panel(
            stat_panel(
                "Tokens", "Input + output tokens in the time range.", "short", f"sum({increase(TOKENS, '$__range')})"
            )
        )
        .with_panel(
            stat_panel(
                "Cost", "Cost of the turns in the time range.", "currencyUSD", f"sum({increase(COST, '$__range')})"
            )
        )
        .with_panel(
            stat_panel(
                "Error rate",
                "Share of turns that ended with an error.",
                "percentunit",
                ratio(f"sum({increase(TURNS, '$__range', IS_ERROR)})", turns_in_range),
            )
        )
        .with_panel(
            stat_panel(
                "Abandoned rate",
                "Share of turns that never got a reply (Stop pressed, tab closed, provider timeout).",
                "percentunit",
                ratio(f"sum({increase(TURNS, '$__range', IS_ABANDONED)})", turns_in_range),
            )
        )
        .with_panel(
            stat_panel(
                "Task calls",
                "Title, tag and follow-up generation calls Open WebUI made around the turns.",
                "short",
                f"sum({increase(TASKS, '$__range')})",
            )
        )
    )

    board = board.with_row(dashboard_builders.Row("Tokens and cost over time"))
    for label, title in ((MODEL, "model"), (USER, "user"), (GROUP, "group")):
        board = board.with_panel(
            timeseries_panel(
                f"Tokens per {title}",
                f"Tokens per {title} and token type (input/output).",
                "short",
                [
                    prometheus_query(
                        per(f"{label}, {TOKEN_TYPE}", increase(TOKENS)), f"{{{{{label}}}}} {{{{{TOKEN_TYPE}}}}}"
                    )
                ],
            )
        ).with_panel(
            timeseries_panel(
                f"Cost per {title}",
                f"Cost per {title} (USD, from the price table the filter uses).",
                "currencyUSD",
                [prometheus_query(per(label, increase(COST)), f"{{{{{label}}}}}")],
            )
        )

    board = (
        board.with_row(dashboard_builders.Row("Turns"))
        .with_panel(
            timeseries_panel(
                "Turns by end reason and status",
                "How turns ended: completed, error, abandoned...",
                "short",
                [
                    prometheus_query(
                        per(f"{END_REASON}, {STATUS}", increase(TURNS)), f"{{{{{END_REASON}}}}} {{{{{STATUS}}}}}"
                    )
                ],
                width=8,
            )
        )
        .with_panel(
            timeseries_panel(
                "Error rate",
                "Share of turns that ended with an error, per model.",
                "percentunit",
                [
                    prometheus_query(
                        ratio(
                            per(MODEL, increase(TURNS, extra=IS_ERROR)),
                            per(MODEL, increase(TURNS)),
                        ),
                        f"{{{{{MODEL}}}}}",
                    )
                ],
                width=8,
            )
        )
        .with_panel(
            timeseries_panel(
                "Abandoned rate",
                "Share of turns that never got a reply, per model.",
                "percentunit",
                [
                    prometheus_query(
                        ratio(
                            per(MODEL, increase(TURNS, extra=IS_ABANDONED)),
                            per(MODEL, increase(TURNS)),
                        ),
                        f"{{{{{MODEL}}}}}",
                    )
                ],
                width=8,
            )
        )
    )

    board = board.with_row(dashboard_builders.Row("Latency"))
    for buckets, title, what in (
        (DURATION, "Turn duration", "from the request to the end of the reply"),
        (TTFC, "Time to first chunk", "from the request to the first streamed chunk (streamed turns only)"),
    ):
        board = board.with_panel(
            timeseries_panel(
                f"{title} percentiles",
                f"p50, p95 and p99 per model, {what}.",
                "s",
                [
                    prometheus_query(quantile(q, buckets), f"p{int(q * 100)} {{{{{MODEL}}}}}", ref_id)
                    for q, ref_id in ((0.5, "A"), (0.95, "B"), (0.99, "C"))
                ],
            )
        )

    return board.with_row(dashboard_builders.Row("Task calls")).with_panel(
        timeseries_panel(
            "Task calls by task",
            "Open WebUI's background calls (title, tags, follow-ups...), recorded inside their turn's trace.",
            "short",
            [prometheus_query(per(TASK, increase(TASKS)), f"{{{{{TASK}}}}}")],
            width=24,
        )
    )


def render() -> str:
    """The dashboard as the JSON text committed in the repository."""
    model = build().build()
    # Grafana identifies panels by id (links, "view panel"): number them in layout order.
    for number, panel in enumerate(model.panels or [], start=1):
        panel.id_val = number
    document: dict[str, Any] = json.loads(JSONEncoder(sort_keys=True, indent=2).encode(model))
    return json.dumps(document, indent=2, sort_keys=True) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 when the committed JSON is not current")
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        if OUTPUT.read_text(encoding="utf-8") != text:
            print(f"{OUTPUT} is not current: run .venv/bin/python {Path(__file__).name}", file=sys.stderr)
            return 1
        return 0
    OUTPUT.parent.mkdir(parents=True, exist_ok=True)
    OUTPUT.write_text(text, encoding="utf-8")
    print(f"wrote {OUTPUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

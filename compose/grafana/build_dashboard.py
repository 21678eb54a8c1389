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
the README). The model filter applies to every panel; the user and role filters to the per-user panels (the
per-turn series carry no user, so that their cardinality stays bounded by the models).
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

# --- the series our collector exports (NOTES-metrics / README "Metrics and dashboards"; Prometheus' default OTLP
# translation: dots become underscores, unit and type suffixes are added) ---------------------------------------------
# Per turn, labelled by model (and provider, operation, host kind):
TOKENS = "gen_ai_client_token_usage_sum"  # histogram sum = exact tokens, by gen_ai_token_type
COST = "gen_ai_usage_cost_nUSD_total"  # counter: cost in integer nano-USD (exact sums; / 1e9 = USD)
TURNS = "openwebui_turns_total"  # counter: turns, by end reason and error type
DURATION = "gen_ai_client_operation_duration_seconds_bucket"  # histogram: turn duration
TTFC = "gen_ai_client_operation_time_to_first_chunk_seconds_bucket"  # histogram: time to first chunk (streamed)
TASKS = "openwebui_task_calls_total"  # counter: task calls, by task and model id
# Per user (a collector setting with a cardinality bound; absent when it is off), labelled by user, role and model:
USER_TOKENS = "openwebui_user_token_usage_total"
USER_COST = "openwebui_user_cost_nUSD_total"
USER_TURNS = "openwebui_user_turns_total"

# --- labels -------------------------------------------------------------------------------------------------------
MODEL = "gen_ai_request_model"
USER = "user_id"
# Open WebUI passes a filter the user's role but not their groups: the role is the group dimension there is.
ROLE = "openwebui_user_role"
TOKEN_TYPE = "gen_ai_token_type"
END_REASON = "openwebui_turn_end_reason"
ERROR_TYPE = "error_type"
TASK = "openwebui_task"
TASK_MODEL = "openwebui_model_id"

NANO_USD_PER_USD = "1e9"
IS_ERROR = f'{ERROR_TYPE}!=""'
IS_ABANDONED = f'{ERROR_TYPE}="abandoned"'

MODEL_FILTER = f'{MODEL}=~"$model"'
USER_FILTERS = f'{MODEL}=~"$model", {USER}=~"$user", {ROLE}=~"$role"'
TASK_FILTER = f'{TASK_MODEL}=~"$model"'

VARIABLES = (
    ("model", "Model", f"label_values({MODEL})"),
    ("user", "User", f"label_values({USER_TURNS}, {USER})"),
    ("role", "Role (group)", f"label_values({USER_TURNS}, {ROLE})"),
)
"""(variable name, label, the query listing its values)."""


OVER_TIME = "1h"
"""The window of every over-time panel: each point is what happened in the hour before it.

Not Grafana's ``$__rate_interval``: the collector pushes a series only when a turn changes it, so on a quiet
instance two samples of a series can be far apart, and ``increase()`` over a few minutes would see one sample and
show nothing. A series idle for the collector's ``max_stale`` (1h, otel-collector.yaml's delta_to_cumulative)
restarts from a 0 sample, so a one-hour window holds the sample before a turn for all but turns after nearly an
hour's pause (a test keeps the two equal). Exact totals: the overview's ``$__range`` panels, or Prometheus."""


def increase(metric: str, filters: str, window: str = OVER_TIME, extra: str = "") -> str:
    """``increase(metric{filters[, extra]}[window])``."""
    return f"increase({metric}{{{filters}{', ' + extra if extra else ''}}}[{window}])"


def quantile(q: float, buckets: str) -> str:
    return f"histogram_quantile({q}, sum by (le, {MODEL}) (rate({buckets}{{{MODEL_FILTER}}}[{OVER_TIME}])))"


def per(labels: str, what: str) -> str:
    """``sum by (labels) (what)``."""
    return f"sum by ({labels}) ({what})"


def ratio(part: str, whole: str) -> str:
    """``part / whole``, no value where ``whole`` is 0 (no turns: no rate), 0 where ``part`` has none."""
    return f"(({part}) or ({whole}) * 0) / (({whole}) > 0)"


def usd(nano_usd: str) -> str:
    return f"{nano_usd} / {NANO_USD_PER_USD}"


def legend(*labels: str) -> str:
    return " ".join(f"{{{{{label}}}}}" for label in labels)


def prometheus_query(expr: str, legend_format: str = "__auto", ref_id: str = "A") -> prometheus_builders.Dataquery:
    return (
        prometheus_builders.Dataquery()
        .expr(expr)
        .legend_format(legend_format)
        .ref_id(ref_id)
        .datasource(DATASOURCE)
        .range()
    )


def timeseries_panel(
    title: str, description: str, unit: str, queries: list[prometheus_builders.Dataquery], width: int = 12
) -> timeseries.Panel:
    panel = (
        timeseries.Panel()
        .title(title)
        .description(f"{description} Each point covers the hour before it.")
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
            # Points are rolling one-hour windows: their sum would count a turn many times.
            .calcs(["mean", "max"])
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


def overview(board: dashboard_builders.Dashboard) -> dashboard_builders.Dashboard:
    turns = f"sum({increase(TURNS, MODEL_FILTER, '$__range')})"
    return (
        board.with_row(dashboard_builders.Row("Overview (selected time range)"))
        .with_panel(stat_panel("Turns", "Chat turns that ended in the time range.", "short", turns))
        .with_panel(
            stat_panel(
                "Tokens",
                "Input + output tokens in the time range.",
                "short",
                f"sum({increase(TOKENS, MODEL_FILTER, '$__range')})",
            )
        )
        .with_panel(
            stat_panel(
                "Cost",
                "Cost of the turns in the time range (USD, from the price table the filter uses).",
                "currencyUSD",
                usd(f"sum({increase(COST, MODEL_FILTER, '$__range')})"),
            )
        )
        .with_panel(
            stat_panel(
                "Error rate",
                "Share of turns that ended with an error (provider error or abandoned).",
                "percentunit",
                ratio(f"sum({increase(TURNS, MODEL_FILTER, '$__range', IS_ERROR)})", turns),
            )
        )
        .with_panel(
            stat_panel(
                "Abandoned rate",
                "Share of turns that never got a reply (Stop pressed, tab closed, provider timeout).",
                "percentunit",
                ratio(f"sum({increase(TURNS, MODEL_FILTER, '$__range', IS_ABANDONED)})", turns),
            )
        )
        .with_panel(
            stat_panel(
                "Task calls",
                "Title, tag and follow-up generation calls Open WebUI made around the turns.",
                "short",
                f"sum({increase(TASKS, TASK_FILTER, '$__range')})",
            )
        )
    )


def tokens_and_cost(board: dashboard_builders.Dashboard) -> dashboard_builders.Dashboard:
    board = board.with_row(dashboard_builders.Row("Tokens and cost over time"))
    per_user_note = " Needs the per-user metrics (collector setting, on by default)."
    for tokens, cost, filters, label, title, note in (
        (TOKENS, COST, MODEL_FILTER, MODEL, "model", ""),
        (USER_TOKENS, USER_COST, USER_FILTERS, USER, "user", per_user_note),
        (
            USER_TOKENS,
            USER_COST,
            USER_FILTERS,
            ROLE,
            "role (group)",
            " Open WebUI tells filters the user's role, not their groups." + per_user_note,
        ),
    ):
        board = board.with_panel(
            timeseries_panel(
                f"Tokens per {title}",
                f"Tokens per {title} and token type (input/output).{note}",
                "short",
                [prometheus_query(per(f"{label}, {TOKEN_TYPE}", increase(tokens, filters)), legend(label, TOKEN_TYPE))],
            )
        ).with_panel(
            timeseries_panel(
                f"Cost per {title}",
                f"Cost per {title} (USD, from the price table the filter uses).{note}",
                "currencyUSD",
                [prometheus_query(usd(per(label, increase(cost, filters))), legend(label))],
            )
        )
    return board


def turns(board: dashboard_builders.Dashboard) -> dashboard_builders.Dashboard:
    all_turns = per(MODEL, increase(TURNS, MODEL_FILTER))
    return (
        board.with_row(dashboard_builders.Row("Turns"))
        .with_panel(
            timeseries_panel(
                "Turns by end reason and error",
                "How turns ended (outlet, abandoned...) and the error type when they failed.",
                "short",
                [
                    prometheus_query(
                        per(f"{END_REASON}, {ERROR_TYPE}", increase(TURNS, MODEL_FILTER)),
                        legend(END_REASON, ERROR_TYPE),
                    )
                ],
            )
        )
        .with_panel(
            timeseries_panel(
                "Turns per user",
                "Turns per user. Needs the per-user metrics (collector setting, on by default).",
                "short",
                [prometheus_query(per(USER, increase(USER_TURNS, USER_FILTERS)), legend(USER))],
            )
        )
        .with_panel(
            timeseries_panel(
                "Error rate",
                "Share of turns that ended with an error, per model.",
                "percentunit",
                [
                    prometheus_query(
                        ratio(per(MODEL, increase(TURNS, MODEL_FILTER, extra=IS_ERROR)), all_turns), legend(MODEL)
                    )
                ],
            )
        )
        .with_panel(
            timeseries_panel(
                "Abandoned rate",
                "Share of turns that never got a reply, per model.",
                "percentunit",
                [
                    prometheus_query(
                        ratio(per(MODEL, increase(TURNS, MODEL_FILTER, extra=IS_ABANDONED)), all_turns), legend(MODEL)
                    )
                ],
            )
        )
    )


def latency(board: dashboard_builders.Dashboard) -> dashboard_builders.Dashboard:
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
                    prometheus_query(quantile(q, buckets), f"p{round(q * 100)} {legend(MODEL)}", ref_id)
                    for q, ref_id in ((0.5, "A"), (0.95, "B"), (0.99, "C"))
                ],
            )
        )
    return board


def task_calls(board: dashboard_builders.Dashboard) -> dashboard_builders.Dashboard:
    return board.with_row(dashboard_builders.Row("Task calls")).with_panel(
        timeseries_panel(
            "Task calls by task",
            "Open WebUI's background calls (title, tags, follow-ups...), recorded inside their turn's trace.",
            "short",
            [prometheus_query(per(TASK, increase(TASKS, TASK_FILTER)), legend(TASK))],
            width=24,
        )
    )


def build() -> dashboard_builders.Dashboard:
    board = (
        dashboard_builders.Dashboard(DASHBOARD_TITLE)
        .uid(DASHBOARD_UID)
        .description(
            "Tokens, cost, turns, errors, latency and task calls of Open WebUI chats, from the GenAI metrics the "
            "owui-otel collector derives from each turn's span (README: Metrics and dashboards)."
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
    for name, label, query in VARIABLES:
        board = board.with_variable(
            dashboard_builders.QueryVariable(name)
            .label(label)
            .datasource(DATASOURCE)
            # A string: the classic form every Grafana version reads (an object needs the editor's qryType).
            .query(query)
            .refresh(dashboard_models.VariableRefresh.ON_TIME_RANGE_CHANGED)
            .sort(dashboard_models.VariableSort.ALPHABETICAL_CASE_INSENSITIVE_ASC)
            .multi(True)
            .include_all(True)
            # `.*` also matches a series without the label (a turn without a model, per-user metrics off).
            .all_value(".*")
            .current(dashboard_models.VariableOption(selected=True, text="All", value="$__all"))
        )
    for section in (overview, tokens_and_cost, turns, latency, task_calls):
        board = section(board)
    return board


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

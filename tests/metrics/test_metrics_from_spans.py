# SPDX-License-Identifier: Apache-2.0
"""Issue 13: with the real collector and the real Prometheus, PromQL sums per model and per user equal the sums of
the spans' token counts and costs, exactly; turns, errors and task calls are counted."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from tests.metrics.conftest import ReplayedMetrics
from tests.support.metrics_replay import FUNCTION_SCENARIOS

pytestmark = pytest.mark.integration


def _settled(
    read: Callable[[], dict[str, float]], expected: dict[str, float], *, timeout: float = 60.0
) -> dict[str, float]:
    """``read()`` once it equals ``expected`` (the last export may still be on its way), else its last value."""
    deadline = time.monotonic() + timeout
    while True:
        got = read()
        if got == expected or time.monotonic() > deadline:
            return got
        time.sleep(0.5)


def test_the_replay_covers_what_the_metrics_break_down(replayed_metrics: ReplayedMetrics) -> None:
    totals = replayed_metrics.totals
    assert totals.turns == len(replayed_metrics.plan) + len(FUNCTION_SCENARIOS) == 26
    assert len(totals.models) == 4 and len(totals.turns_by_user) == 4
    assert set(totals.hosts) == {"pipelines", "functions"} and totals.with_time_to_first_chunk == 2
    assert totals.errors["abandoned"] == sum(turn.abandoned for turn in replayed_metrics.plan) == 3
    assert len(totals.nano_usd_by_model) == 3 and all(totals.nano_usd_by_model.values())  # mock-gpt has no price


def test_tokens_per_model_equal_the_spans_exactly(replayed_metrics: ReplayedMetrics) -> None:
    prometheus = replayed_metrics.prometheus
    expected = {f"{model}/{kind}": float(n) for (model, kind), n in replayed_metrics.totals.tokens_by_model.items()}

    def read() -> dict[str, float]:
        rows = prometheus.query("sum by (gen_ai_request_model, gen_ai_token_type) (gen_ai_client_token_usage_sum)")
        return {
            f"{row['metric']['gen_ai_request_model']}/{row['metric']['gen_ai_token_type']}": float(row["value"][1])
            for row in rows
        }

    assert _settled(read, expected) == expected


def test_tokens_per_user_equal_the_spans_exactly(replayed_metrics: ReplayedMetrics) -> None:
    prometheus = replayed_metrics.prometheus
    expected = {f"{user}/{kind}": float(n) for (user, kind), n in replayed_metrics.totals.tokens_by_user.items()}

    def read() -> dict[str, float]:
        rows = prometheus.query("sum by (user_id, gen_ai_token_type) (openwebui_user_token_usage_total)")
        return {
            f"{row['metric']['user_id']}/{row['metric']['gen_ai_token_type']}": float(row["value"][1]) for row in rows
        }

    assert _settled(read, expected) == expected


def test_cost_per_model_and_per_user_equals_the_spans_exactly(replayed_metrics: ReplayedMetrics) -> None:
    prometheus = replayed_metrics.prometheus
    totals = replayed_metrics.totals
    by_model = {model: float(n) for model, n in totals.nano_usd_by_model.items()}
    by_user = {user: float(n) for user, n in totals.nano_usd_by_user.items()}
    expr_model = "sum by (gen_ai_request_model) (gen_ai_usage_cost_nUSD_total)"
    expr_user = "sum by (user_id) (openwebui_user_cost_nUSD_total)"
    assert _settled(lambda: prometheus.values(expr_model, "gen_ai_request_model"), by_model) == by_model
    assert _settled(lambda: prometheus.values(expr_user, "user_id"), by_user) == by_user
    # In USD: one division of an exact integer, the same on both sides.
    usd = prometheus.values(f"{expr_model} / 1e9", "gen_ai_request_model")
    assert usd == {model: n / 1e9 for model, n in by_model.items()}


def test_turns_errors_and_task_calls_are_counted(replayed_metrics: ReplayedMetrics) -> None:
    prometheus = replayed_metrics.prometheus
    totals = replayed_metrics.totals
    turns = {"": float(totals.turns)}
    assert _settled(lambda: prometheus.values("sum(openwebui_turns_total)", ""), turns) == turns
    errors = {kind: float(n) for kind, n in totals.errors.items()}
    expr = 'sum by (error_type) (openwebui_turns_total{error_type!=""})'
    assert _settled(lambda: prometheus.values(expr, "error_type"), errors) == errors
    durations = {"": float(totals.turns)}
    expr = "sum(gen_ai_client_operation_duration_seconds_count)"
    assert _settled(lambda: prometheus.values(expr, ""), durations) == durations
    streamed = {"": float(totals.with_time_to_first_chunk)}
    expr = "sum(gen_ai_client_operation_time_to_first_chunk_seconds_count)"
    assert _settled(lambda: prometheus.values(expr, ""), streamed) == streamed
    hosts = {host: float(n) for host, n in totals.hosts.items()}
    expr = "sum by (openwebui_host) (openwebui_turns_total)"
    assert _settled(lambda: prometheus.values(expr, "openwebui_host"), hosts) == hosts
    tasks = {task: float(n) for task, n in totals.task_calls.items()}
    expr = "sum by (openwebui_task) (openwebui_task_calls_total)"
    assert _settled(lambda: prometheus.values(expr, "openwebui_task"), tasks) == tasks
    per_user = {user: float(n) for user, n in totals.turns_by_user.items()}
    expr = "sum by (user_id) (openwebui_user_turns_total)"
    assert _settled(lambda: prometheus.values(expr, "user_id"), per_user) == per_user

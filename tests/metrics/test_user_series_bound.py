# SPDX-License-Identifier: Apache-2.0
"""The per-user metrics' setting and cardinality bound, with the real collector and Prometheus: beyond
``OWUI_OTEL_METRICS_MAX_USER_SERIES`` streams new per-user series are dropped (and counted, and ``owui-otel doctor``
says so with the fix), the per-model metrics stay exact; ``OWUI_OTEL_METRICS_PER_USER=false`` leaves the per-user
series out altogether; doctor fails the metrics link when Prometheus is down."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from owui_otel._doctor import FAIL, OK, WARN, DoctorInputs
from owui_otel._doctor_metrics import check_metrics
from tests.support.prometheus import PrometheusServer
from tests.support.spans import SentSpan, filter_like_attributes
from tests.support.stack import Stack

pytestmark = pytest.mark.integration

USERS = 12
LIMIT = 4


def _user_span(prefix: str) -> Callable[[int], dict[str, Any]]:
    def attributes(index: int) -> dict[str, Any]:
        return {**filter_like_attributes(index), "user.id": f"{prefix}-{index}", "gen_ai.request.model": prefix}

    return attributes


def _metrics_url(stack: Stack) -> str:
    return f"http://127.0.0.1:{stack.ports.metrics}/metrics"


def _wait_value(prometheus: PrometheusServer, expr: str, expected: float, timeout: float = 60.0) -> float:
    deadline = time.monotonic() + timeout
    while True:
        rows = prometheus.query(expr)
        value = float(rows[0]["value"][1]) if rows else 0.0
        if value == expected or time.monotonic() > deadline:
            return value
        time.sleep(0.5)


def test_per_user_series_are_bounded_and_switchable(
    prometheus_binary: Path,
    stack_factory: Callable[..., Stack],
    send_spans: Callable[..., list[SentSpan]],
    tmp_path: Path,
) -> None:
    with PrometheusServer(prometheus_binary, tmp_path / "prometheus") as prometheus:
        endpoint = {"PROMETHEUS_OTLP_ENDPOINT": prometheus.otlp_endpoint}
        bounded = stack_factory(langfuse=False, env={**endpoint, "OWUI_OTEL_METRICS_MAX_USER_SERIES": str(LIMIT)})
        sent = send_spans(bounded.otlp_http_traces_url, count=USERS, attributes=_user_span("bounded"))
        tokens = sum(span.attributes["gen_ai.usage.input_tokens"] for span in sent)
        # Per model: every span counted, exactly.
        expr = 'sum(gen_ai_client_token_usage_sum{gen_ai_request_model="bounded", gen_ai_token_type="input"})'
        assert _wait_value(prometheus, expr, float(tokens)) == tokens
        # Per user: no more streams than the bound, and the collector counts what it dropped.
        dropped = bounded.wait_metric("otelcol_deltatocumulative_datapoints", 1, error="limit")
        assert dropped >= 1
        series = prometheus.query('{__name__=~"openwebui_user_.*", gen_ai_request_model="bounded"}')
        assert 0 < len(series) <= LIMIT
        assert len({row["metric"]["user_id"] for row in series}) < USERS
        inputs = DoctorInputs(prometheus_url=prometheus.url, collector_metrics=_metrics_url(bounded))
        [bound, stored] = check_metrics(inputs)
        assert bound.status == WARN and bound.link == "OWUI_OTEL_METRICS_MAX_USER_SERIES" and "bound" in bound.says
        assert "OWUI_OTEL_METRICS_MAX_USER_SERIES=50000" in bound.fix and stored.status == OK

        off = stack_factory(langfuse=False, env={**endpoint, "OWUI_OTEL_METRICS_PER_USER": "false"})
        sent = send_spans(off.otlp_http_traces_url, count=3, attributes=_user_span("off"))
        expr = 'sum(openwebui_turns_total{gen_ai_request_model="off"})'
        assert _wait_value(prometheus, expr, 3.0) == 3.0
        assert prometheus.query('{__name__=~"openwebui_user_.*", gen_ai_request_model="off"}') == []
        [healthy] = check_metrics(DoctorInputs(prometheus_url=prometheus.url, collector_metrics=_metrics_url(off)))
        assert healthy.status == OK and f"usage of {USERS + 3} turn(s)" in healthy.says, healthy
    [down] = check_metrics(DoctorInputs(prometheus_url=prometheus.url, collector_metrics=_metrics_url(off)))
    assert down.status == FAIL and "does not answer" in down.says and "owui-otel down && " in down.fix

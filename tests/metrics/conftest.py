# SPDX-License-Identifier: Apache-2.0
"""The metrics tests share one replay: a real collector (the repository's ``otel-collector.yaml``), Jaeger and
Prometheus, and a real filter that replays a varied set of turns (``tests.support.metrics_replay``).

    def test_x(replayed_metrics):
        replayed_metrics.prometheus.query("sum(openwebui_turns_total)")
        replayed_metrics.totals.tokens_by_model      # what the spans say, read back from Jaeger
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from collector import build_prometheus
from otel_filter import Pipeline, Valves
from tests.support.fixtures import *  # noqa: F403 (the shared process fixtures, found by name)
from tests.support.fixtures import BSP_SCHEDULE_DELAY_MS, _cached_binary
from tests.support.metrics_replay import FUNCTION_SCENARIOS, REPLAY_VALVES, PlannedTurn, SpanTotals, replay, replay_plan
from tests.support.metrics_replay import wait_for_span_totals as span_totals
from tests.support.owui_hosts import FunctionHost, load_as_function
from tests.support.prometheus import PrometheusServer
from tests.support.scenarios import replay_function
from tests.support.stack import Stack


@pytest.fixture(scope="session")
def prometheus_binary() -> Path:
    """The Prometheus binary (cached build; skips only if it cannot be built here)."""
    return _cached_binary(
        "OWUI_OTEL_PROMETHEUS_BINARY", build_prometheus, name="prometheus", command="build-prometheus"
    )


@dataclass(frozen=True)
class ReplayedMetrics:
    """A running Prometheus holding the metrics of the replayed turns, and what their spans add up to."""

    prometheus: PrometheusServer
    stack: Stack
    plan: list[PlannedTurn]
    totals: SpanTotals


@pytest.fixture(scope="module")
def replayed_metrics(
    collector_binary: Path, jaeger_binary: Path, prometheus_binary: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ReplayedMetrics]:
    """Collector + Jaeger + Prometheus, the replay sent through real filters (a Pipelines filter, then streamed turns
    through a Function) and flushed; all stopped after."""
    workdir = tmp_path_factory.mktemp("metrics")
    with PrometheusServer(prometheus_binary, workdir / "prometheus") as prometheus:
        stack = Stack(
            collector_binary=collector_binary,
            jaeger_binary=jaeger_binary,
            workdir=workdir / "stack",
            langfuse=False,
            env={"PROMETHEUS_OTLP_ENDPOINT": prometheus.otlp_endpoint},
        )
        with stack:
            previous = os.environ.get("OTEL_BSP_SCHEDULE_DELAY")
            os.environ["OTEL_BSP_SCHEDULE_DELAY"] = BSP_SCHEDULE_DELAY_MS
            try:
                pipeline = Pipeline()
                pipeline.valves = Valves(otlp_endpoint=stack.otlp_http_endpoint, **REPLAY_VALVES)
                asyncio.run(pipeline.on_startup())
                plan = replay_plan()
                asyncio.run(replay(pipeline, plan))
                asyncio.run(asyncio.sleep(2.5))  # abandoned turns end after turn_timeout_seconds (1 s)
                asyncio.run(pipeline.on_shutdown())
                # Streamed turns through the in-process Function: these know their time to first chunk.
                instance, _ = load_as_function()
                host = FunctionHost(instance, valves={"otlp_endpoint": stack.otlp_http_endpoint, **REPLAY_VALVES})
                for scenario in FUNCTION_SCENARIOS:
                    asyncio.run(replay_function(host, scenario))
                instance._core().shutdown()
            finally:
                if previous is None:
                    os.environ.pop("OTEL_BSP_SCHEDULE_DELAY", None)
                else:
                    os.environ["OTEL_BSP_SCHEDULE_DELAY"] = previous
            totals = span_totals(stack.jaeger_query_url, len(plan) + len(FUNCTION_SCENARIOS), plan)
            yield ReplayedMetrics(prometheus=prometheus, stack=stack, plan=plan, totals=totals)

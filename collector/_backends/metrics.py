# SPDX-License-Identifier: Apache-2.0
"""GenAI usage metrics derived from the turn spans, in the collector, exported to Prometheus over OTLP.

Spans and metrics can never disagree: the metrics are computed from the very spans every other backend gets.

    traces/metrics (otlp -> memory_limiter, batch) --> signal_to_metrics/usage --> metrics/usage --+
                                                   \\-> signal_to_metrics/users --> metrics/users --+
    metrics/<x>: memory_limiter, transform/metrics_start_time, delta_to_cumulative/<x>, batch -> otlp_http/prometheus

- ``signal_to_metrics`` (contrib signaltometricsconnector) aggregates each batch of spans into DELTA sums and
  histograms; ``delta_to_cumulative`` keeps running totals, so Prometheus (or any cumulative backend) gets plain
  counters and classic histograms, and an export that fails is made good by the next cumulative value. (Prometheus'
  own delta support is an experimental feature flag; the processor also bounds the per-user streams.)
- ``otlp_http/prometheus`` sends them to Prometheus 3's native OTLP receiver (``--web.enable-otlp-receiver``,
  ``/api/v1/otlp/v1/metrics``). The contrib ``prometheus`` exporter is not released at v0.161.0; this needs
  nothing beyond the OTLP exporter we already ship.
- Per-user series (``openwebui.user.*``) live in their own pipeline, so that their bound
  (``OWUI_OTEL_METRICS_MAX_USER_SERIES`` streams; beyond it new streams are dropped and counted as
  ``otelcol_deltatocumulative_datapoints{error="limit"}``) never touches the per-model metrics. They are on unless
  ``OWUI_OTEL_METRICS_PER_USER=false`` (a condition in each definition, so the switch needs no re-render).

Exact sums: tokens are integers (a float64 sum of integers is exact below 2**53); cost is recorded as integer
nano-USD (``gen_ai.usage.cost`` USD * 1e9, rounded half up per turn), because float additions in a different
order (the collector's batches vs any other sum) differ in the last bits. USD = value / 1e9.

Usage:

    >>> from collector._backends.metrics import metrics_blocks
    >>> sorted(metrics_blocks()["pipelines"])
    ['metrics/usage', 'metrics/users', 'traces/metrics']
"""

from __future__ import annotations

from typing import Any

from collector._components import MEMORY_LIMITER, OUR_SCOPE, env_ref, local_otlp_http_exporter
from otel_filter.semconv import (
    ERROR_TYPE,
    GEN_AI_OPERATION_NAME,
    GEN_AI_PROVIDER_NAME,
    GEN_AI_REQUEST_MODEL,
    GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK,
    GEN_AI_USAGE_COST,
    GEN_AI_USAGE_INPUT_TOKENS,
    GEN_AI_USAGE_OUTPUT_TOKENS,
    OPENWEBUI_HOST,
    OPENWEBUI_MODEL_ID,
    OPENWEBUI_TASK,
    OPENWEBUI_TURN_END_REASON,
    OPENWEBUI_USER_ROLE,
    SERVICE_NAME,
    USER_ID,
)

__all__ = [
    "CONNECTOR_USAGE",
    "CONNECTOR_USERS",
    "ENV",
    "EXPORTER",
    "GOMOD",
    "NANO_USD",
    "PIPELINES",
    "TOKEN_TYPE",
    "metrics_blocks",
    "usage_metrics",
    "user_metrics",
]

ENV: dict[str, str | None] = {
    "PROMETHEUS_OTLP_ENDPOINT": "http://localhost:9090/api/v1/otlp",
    "OWUI_OTEL_METRICS_PER_USER": "true",
    "OWUI_OTEL_METRICS_MAX_USER_SERIES": "10000",
}
"""The env vars the metrics blocks read, with their defaults."""

GOMOD = (
    "github.com/open-telemetry/opentelemetry-collector-contrib/connector/signaltometricsconnector",
    "github.com/open-telemetry/opentelemetry-collector-contrib/processor/deltatocumulativeprocessor",
    "go.opentelemetry.io/collector/exporter/otlphttpexporter",
)
"""OCB manifest modules the metrics need (the manifest test checks each is there)."""

CONNECTOR_USAGE = "signal_to_metrics/usage"
CONNECTOR_USERS = "signal_to_metrics/users"
EXPORTER = "otlp_http/prometheus"
PIPELINES = ("traces/metrics", "metrics/usage", "metrics/users")

TOKEN_TYPE = "gen_ai.token.type"
"""Semconv attribute of ``gen_ai.client.token.usage``: ``input`` or ``output``, one recording per type."""
NANO_USD = "nUSD"
"""Unit of the cost metrics: integer nano-US-dollars (Prometheus suffix ``_nUSD_total``)."""

# Semconv advisory buckets (gen-ai-metrics.md): tokens 1 .. 4**13, seconds 0.01 .. 81.92.
TOKEN_BUCKETS = [float(4**power) for power in range(14)]
SECONDS_BUCKETS = [round(0.01 * 2**power, 2) for power in range(14)]

_SCOPE = f'instrumentation_scope.name == "{OUR_SCOPE}"'
_TURN = f'{_SCOPE} and span.attributes["{GEN_AI_OPERATION_NAME}"] != nil'
_TASK = f'{_SCOPE} and span.attributes["{OPENWEBUI_TASK}"] != nil and span.attributes["{GEN_AI_OPERATION_NAME}"] == nil'
_PER_USER = '"${env:OWUI_OTEL_METRICS_PER_USER:-true}" == "true"'
_COST = f'span.attributes["{GEN_AI_USAGE_COST}"]'
# Integer nano-USD, rounded half up (costs are never negative); Double() is nil for a non-number, which the
# condition excludes first.
_COST_NANO = f"Int(Double({_COST}) * 1000000000.0 + 0.5)"
_HAS_COST = f"{_COST} != nil and Double({_COST}) != nil and Double({_COST}) >= 0.0"
_TOKENS = {"input": GEN_AI_USAGE_INPUT_TOKENS, "output": GEN_AI_USAGE_OUTPUT_TOKENS}


def _optional(*keys: str) -> list[dict[str, Any]]:
    """Dimensions that label a series when the span has them; a span without one is still counted."""
    return [{"key": key, "optional": True} for key in keys]


def _turn_dimensions() -> list[dict[str, Any]]:
    """What every per-model metric is broken down by (no ids, no content: semconv forbids them on metrics)."""
    return [{"key": GEN_AI_OPERATION_NAME}, *_optional(GEN_AI_PROVIDER_NAME, GEN_AI_REQUEST_MODEL, OPENWEBUI_HOST)]


def _user_dimensions() -> list[dict[str, Any]]:
    """The per-user breakdown: who (the filter's user_identity setting), their role (the group we know), model."""
    return _optional(USER_ID, OPENWEBUI_USER_ROLE, GEN_AI_REQUEST_MODEL)


def _resource() -> list[dict[str, Any]]:
    # Only service.name (Prometheus' job label): any other resource attribute would split the series per process.
    return [{"key": SERVICE_NAME}]


def _metric(name: str, unit: str, description: str, **body: Any) -> dict[str, Any]:
    return {"name": name, "description": description, "unit": unit, "include_resource_attributes": _resource(), **body}


def _counter(
    name: str, unit: str, description: str, attributes: list[dict[str, Any]], condition: str, value: str = "1"
) -> dict[str, Any]:
    """A monotonic sum of ``value`` (default: one per span) over the spans that meet ``condition``."""
    return _metric(
        name, unit, description, attributes=attributes, conditions=[condition], sum={"value": value, "monotonic": True}
    )


def _seconds(
    name: str, description: str, attributes: list[dict[str, Any]], condition: str, value: str
) -> dict[str, Any]:
    """A histogram in seconds on the semconv advisory buckets."""
    histogram = {"buckets": list(SECONDS_BUCKETS), "value": value}
    return _metric(name, "s", description, attributes=attributes, conditions=[condition], histogram=histogram)


def _token_usage(token_type: str, *, per_user: bool) -> dict[str, Any]:
    """One token type's recording; the two types share one metric (the connector merges same-named definitions)."""
    attribute = f'span.attributes["{_TOKENS[token_type]}"]'
    has_tokens = f"{attribute} != nil and Int({attribute}) != nil"
    token_type_dimension = {"key": TOKEN_TYPE, "default_value": token_type}
    if per_user:
        return _counter(
            "openwebui.user.token.usage",
            "{token}",
            "Tokens per user, role and model (input and output)",
            [*_user_dimensions(), token_type_dimension],
            f"{_PER_USER} and {_TURN} and {has_tokens}",
            f"Int({attribute})",
        )
    return _metric(
        "gen_ai.client.token.usage",
        "{token}",
        "Number of input and output tokens used per turn",
        attributes=[*_turn_dimensions(), token_type_dimension],
        conditions=[f"{_TURN} and {has_tokens}"],
        histogram={"buckets": list(TOKEN_BUCKETS), "value": f"Double(Int({attribute}))"},
    )


def usage_metrics() -> list[dict[str, Any]]:
    """The per-model metrics (semconv GenAI client metrics, turns, cost, task calls)."""
    duration = "Double(Nanoseconds(span.end_time - span.start_time)) / 1000000000.0"
    ttfc = f'span.attributes["{GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK}"]'
    return [
        _token_usage("input", per_user=False),
        _token_usage("output", per_user=False),
        _seconds(
            "gen_ai.client.operation.duration",
            "Duration of each turn, from the request to the end of the reply",
            [*_turn_dimensions(), *_optional(ERROR_TYPE)],
            _TURN,
            duration,
        ),
        _seconds(
            "gen_ai.client.operation.time_to_first_chunk",
            "Time to the first streamed chunk of the reply",
            _turn_dimensions(),
            f"{_TURN} and {ttfc} != nil and Double({ttfc}) != nil and Double({ttfc}) >= 0.0",
            f"Double({ttfc})",
        ),
        _counter(
            "openwebui.turns",
            "{turn}",
            "Turns, by end reason and error type",
            [*_turn_dimensions(), *_optional(OPENWEBUI_TURN_END_REASON, ERROR_TYPE)],
            _TURN,
        ),
        _counter(
            "gen_ai.usage.cost",
            NANO_USD,
            "Cost of the turns in nano-USD (USD = value / 1e9), as priced by the filter",
            _turn_dimensions(),
            f"{_TURN} and {_HAS_COST}",
            _COST_NANO,
        ),
        _counter(
            "openwebui.task.calls",
            "{call}",
            "Task calls Open WebUI made (title, tags, follow-ups...), by task",
            [{"key": OPENWEBUI_TASK}, *_optional(OPENWEBUI_MODEL_ID, OPENWEBUI_HOST)],
            _TASK,
        ),
    ]


def user_metrics() -> list[dict[str, Any]]:
    """The per-user metrics (bounded, switchable): tokens, cost and turns per user, role and model."""
    return [
        _token_usage("input", per_user=True),
        _token_usage("output", per_user=True),
        _counter(
            "openwebui.user.cost",
            NANO_USD,
            "Cost per user, role and model in nano-USD (USD = value / 1e9)",
            _user_dimensions(),
            f"{_PER_USER} and {_TURN} and {_HAS_COST}",
            _COST_NANO,
        ),
        _counter(
            "openwebui.user.turns",
            "{turn}",
            "Turns per user, role and model, by error type",
            [*_user_dimensions(), *_optional(ERROR_TYPE)],
            f"{_PER_USER} and {_TURN}",
        ),
    ]


START_TIME = "transform/metrics_start_time"


def start_time_processor() -> dict[str, Any]:
    """Gives each delta point a start time (1 ms before it) where the connector left none.

    The cumulative stream then starts there, and Prometheus (``created-timestamp-zero-ingestion``) writes a zero at
    that instant: without it a series' first sample is already its first turn's value, and ``increase()`` or
    ``rate()`` over it count nothing for that turn.
    """
    return {
        "error_mode": "ignore",
        "metric_statements": [
            {
                "context": "datapoint",
                "statements": [
                    "set(datapoint.start_time_unix_nano, datapoint.time_unix_nano - 1000000)"
                    " where datapoint.start_time_unix_nano == 0"
                ],
            }
        ],
    }


def _delta_to_cumulative(*, max_streams: str | None = None) -> dict[str, Any]:
    # A stream idle for max_stale is forgotten and restarts from zero on its next turn: Prometheus sees a counter
    # reset, which increase()/rate() handle. An hour keeps that rare without holding idle streams forever.
    block: dict[str, Any] = {"max_stale": "1h"}
    if max_streams is not None:
        block["max_streams"] = max_streams
    return block


def prometheus_exporter() -> dict[str, Any]:
    """OTLP/HTTP to Prometheus' OTLP receiver (the exporter appends ``/v1/metrics``)."""
    return local_otlp_http_exporter("PROMETHEUS_OTLP_ENDPOINT", ENV["PROMETHEUS_OTLP_ENDPOINT"])


def metrics_blocks() -> dict[str, dict[str, Any]]:
    """The components and pipelines the metrics add to a config (keys: connectors, processors, exporters, pipelines).

    The ``batch`` and ``memory_limiter`` processors they name are the shared ones (``collector._components``).
    """
    users_limit = env_ref("OWUI_OTEL_METRICS_MAX_USER_SERIES", ENV["OWUI_OTEL_METRICS_MAX_USER_SERIES"])
    return {
        "connectors": {
            CONNECTOR_USAGE: {"error_mode": "ignore", "spans": usage_metrics()},
            CONNECTOR_USERS: {"error_mode": "ignore", "spans": user_metrics()},
        },
        "processors": {
            START_TIME: start_time_processor(),
            "delta_to_cumulative/usage": _delta_to_cumulative(),
            "delta_to_cumulative/users": _delta_to_cumulative(max_streams=users_limit),
        },
        "exporters": {EXPORTER: prometheus_exporter()},
        "pipelines": {
            # batch first: bigger batches aggregate into fewer data points.
            "traces/metrics": {
                "receivers": ["otlp"],
                "processors": [MEMORY_LIMITER, "batch"],
                "exporters": [CONNECTOR_USAGE, CONNECTOR_USERS],
            },
            "metrics/usage": {
                "receivers": [CONNECTOR_USAGE],
                "processors": [MEMORY_LIMITER, START_TIME, "delta_to_cumulative/usage", "batch"],
                "exporters": [EXPORTER],
            },
            "metrics/users": {
                "receivers": [CONNECTOR_USERS],
                "processors": [MEMORY_LIMITER, START_TIME, "delta_to_cumulative/users", "batch"],
                "exporters": [EXPORTER],
            },
        },
    }

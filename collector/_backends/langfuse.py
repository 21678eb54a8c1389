# SPDX-License-Identifier: Apache-2.0
"""Langfuse: OTLP/HTTP to ``$LANGFUSE_HOST/api/public/otel``, only our spans, a persistent queue on disk.

Off until ``LANGFUSE_HOST`` is set (``filter/langfuse`` drops everything while it is empty), so the same config
runs with or without Langfuse. ``transform/langfuse`` adds what only Langfuse reads, derived from the filter's
vendor-neutral attributes: trace name, completion start time, trace tags, filterable metadata, release and version,
and EVENT as the observation type of a task call's record.
Prompts and replies are kept: showing them is what Langfuse is for.

Usage:

    >>> from collector._backends.langfuse import LANGFUSE
    >>> LANGFUSE.exporter_id
    'otlp_http/langfuse'
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from collector._components import FILE_STORAGE, OUR_SCOPE, env, env_ref, file_storage_extension, retry_on_failure
from collector._nested_values import TRANSFORM_NESTED_VALUES, nested_values_processor
from otel_filter.semconv import (
    GEN_AI_EVALUATION_NAME,
    GEN_AI_OPERATION_NAME,
    GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK,
    GEN_AI_USAGE_COST,
    GEN_AI_USAGE_INPUT_TOKENS,
    GEN_AI_USAGE_OUTPUT_TOKENS,
    OPENWEBUI_CHAT_ID,
    OPENWEBUI_COST_CACHE_READ,
    OPENWEBUI_COST_CACHE_WRITE,
    OPENWEBUI_COST_INPUT,
    OPENWEBUI_COST_OUTPUT,
    OPENWEBUI_COST_REASONING,
    OPENWEBUI_FEEDBACK_DELIVERY,
    OPENWEBUI_HOST,
    OPENWEBUI_MODEL_ID,
    OPENWEBUI_MODEL_NAME,
    OPENWEBUI_TASK,
    OPENWEBUI_TURN_END_REASON,
    OPENWEBUI_VERSION,
    TELEMETRY_DISTRO_VERSION,
)

from .base import Backend, Component

if TYPE_CHECKING:
    from collector._config import ConfigSpec

__all__ = [
    "FILTER_LANGFUSE",
    "LANGFUSE",
    "LANGFUSE_DROP_CONDITIONS",
    "LANGFUSE_DROP_SPAN_CONDITIONS",
    "LANGFUSE_HOST_FALLBACK",
    "LANGFUSE_INGESTION_HEADERS",
    "LANGFUSE_METADATA",
    "LANGFUSE_OTLP_PATH",
    "LANGFUSE_TAG",
    "LANGFUSE_STATEMENTS",
    "TRANSFORM_LANGFUSE",
    "filter_langfuse_processor",
    "langfuse_exporter",
    "transform_langfuse_processor",
]

FILTER_LANGFUSE = "filter/langfuse"
TRANSFORM_LANGFUSE = "transform/langfuse"

LANGFUSE_OTLP_PATH = "/api/public/otel"
"""Langfuse's OTLP/HTTP base path (HTTP only; the exporter appends /v1/traces)."""
LANGFUSE_INGESTION_HEADERS = {"x-langfuse-ingestion-version": "4"}
"""Real-time ("direct") ingestion, see otel-collector.yaml."""

LANGFUSE_HOST_FALLBACK = "http://langfuse.invalid"
"""Endpoint host used while Langfuse is disabled (RFC 2606 reserved name; never resolves)."""

ENV: dict[str, str | None] = {"LANGFUSE_HOST": "", "LANGFUSE_AUTH_B64": ""}
"""The env vars only this backend reads, with their defaults."""


def _env(name: str) -> str:
    return env_ref(name, ENV[name])


_TTFT = f'span.attributes["{GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK}"]'
_OPERATION = f'span.attributes["{GEN_AI_OPERATION_NAME}"]'
_MODEL_NAME = f'span.attributes["{OPENWEBUI_MODEL_NAME}"]'
_TASK = f'span.attributes["{OPENWEBUI_TASK}"]'
_TRACE_NAME = 'span.attributes["langfuse.trace.name"]'
_COMPLETION_START = 'span.attributes["langfuse.observation.completion_start_time"]'
_OBSERVATION_TYPE = 'span.attributes["langfuse.observation.type"]'
_COST = f'span.attributes["{GEN_AI_USAGE_COST}"]'
_COST_DETAILS = 'span.attributes["langfuse.observation.cost_details"]'
_COST_BUILDING = "langfuse.observation.cost_details.building"  # scratch key, deleted by the last cost statement
_BUILDING = f'span.attributes["{_COST_BUILDING}"]'
# Our cost parts -> Langfuse's cost keys, named like the usage keys Langfuse derives from gen_ai.usage.* (so
# "input" is the uncached input, as in its usage_details; the UI sums keys containing "input"/"output").
_COST_PARTS = (
    ("input", OPENWEBUI_COST_INPUT),
    ("output", OPENWEBUI_COST_OUTPUT),
    ("input_cached_tokens", OPENWEBUI_COST_CACHE_READ),
    ("input_cache_creation", OPENWEBUI_COST_CACHE_WRITE),
    ("output_reasoning_tokens", OPENWEBUI_COST_REASONING),
)
NO_USAGE_COST_DETAILS = '{"usage_not_reported":0}'
"""Set when a span reports no usage and no cost: see the statement that sets it."""


def _cost_statements() -> tuple[str, ...]:
    """``langfuse.observation.cost_details`` JSON from ``gen_ai.usage.cost`` and the ``openwebui.cost.*`` parts.

    Langfuse takes provided cost as final: with any cost key it computes none itself
    (worker/src/services/IngestionService/index.ts, calculateUsageCosts) and skips tokenising (getUsageUnits).
    OTTL has no JSON encoder, so the object is assembled with Format; %v of a double is a valid JSON number."""
    statements = [
        f'set({_BUILDING}, Format("{{\\"total\\":%v", [Double({_COST})])) where {_COST} != nil '
        f"and Double({_COST}) != nil and {_COST_DETAILS} == nil",
    ]
    for key, name in _COST_PARTS:
        part = f'span.attributes["{name}"]'
        statements.append(
            f'set({_BUILDING}, Format("%s,\\"{key}\\":%v", [{_BUILDING}, Double({part})])) '
            f"where {_BUILDING} != nil and Double({part}) != nil"
        )
    statements += [
        f'set({_COST_DETAILS}, Concat([{_BUILDING}, "}}"], "")) where {_BUILDING} != nil',
        f'delete_key(span.attributes, "{_COST_BUILDING}")',
        # No usage reported and no cost: Langfuse would count tokens itself, from the I/O strings, which are our
        # semconv JSON messages (~3x the text's tokens; IngestionService getUsageUnits tokenises when a model
        # matched and neither usage nor cost was provided, level not ERROR). A provided cost key with no "total"
        # stops that and leaves total_cost unset (calculateUsageCosts): no usage and no cost, which is the truth.
        # The doctor's "token usage" check tells the admin how to get real usage (the model's Usage capability).
        f"set({_COST_DETAILS}, {json.dumps(NO_USAGE_COST_DETAILS)}) where {_COST_DETAILS} == nil and {_COST} == nil "
        f'and span.attributes["{GEN_AI_USAGE_INPUT_TOKENS}"] == nil '
        f'and span.attributes["{GEN_AI_USAGE_OUTPUT_TOKENS}"] == nil',
    ]
    return tuple(statements)


_HOST = f'span.attributes["{OPENWEBUI_HOST}"]'
_TAGS = 'span.attributes["langfuse.trace.tags"]'
_RELEASE = 'span.attributes["langfuse.release"]'
_VERSION = 'span.attributes["langfuse.version"]'
_OPENWEBUI_VERSION = f'span.attributes["{OPENWEBUI_VERSION}"]'
_DISTRO_VERSION = f'resource.attributes["{TELEMETRY_DISTRO_VERSION}"]'

LANGFUSE_TAG = "open-webui"
"""Every trace root's tag, next to its host kind (pipelines, functions, bridge) and, for a task call, its task."""

LANGFUSE_METADATA = {
    "chat_id": OPENWEBUI_CHAT_ID,
    "model_id": OPENWEBUI_MODEL_ID,
    "model_name": OPENWEBUI_MODEL_NAME,
    "task": OPENWEBUI_TASK,
    "host": OPENWEBUI_HOST,
    "end_reason": OPENWEBUI_TURN_END_REASON,
    "openwebui_version": OPENWEBUI_VERSION,
}
"""Top-level Langfuse metadata key -> the filter attribute it copies (Langfuse filters on top-level keys only)."""


def _metadata_statement(key: str, attribute: str) -> str:
    target = f'span.attributes["langfuse.observation.metadata.{key}"]'
    source = f'span.attributes["{attribute}"]'
    return f"set({target}, {source}) where {source} != nil and {target} == nil"


LANGFUSE_STATEMENTS = (
    # A readable trace name: "<operation> <model display name>" for chat turns (the span name carries the model
    # id, which for Open WebUI custom models is an opaque slug); anything else its span name (a task record: its
    # task). Langfuse's v4 direct path reads the name only from this attribute, on every
    # span (langfuse/langfuse packages/shared/src/server/otel/OtelIngestionProcessor.ts, processToEvent); an
    # existing value set upstream wins.
    f'set({_TRACE_NAME}, Concat([{_OPERATION}, {_MODEL_NAME}], " ")) where {_TRACE_NAME} == nil '
    f"and {_TASK} == nil and {_OPERATION} != nil and {_MODEL_NAME} != nil",
    # Only a root names the trace: a task record inside its turn's trace (otel_filter.trace_ids) must not rename it.
    f"set({_TRACE_NAME}, span.name) where {_TRACE_NAME} == nil and IsRootSpan()",
    # A task call's record (openwebui.task without gen_ai.operation.name: the filter never saw its reply or usage)
    # is an EVENT, not a 0-ms GENERATION; it names no model, so Langfuse neither estimates its tokens nor prices it
    # (ObservationTypeMapper.ts: langfuse.observation.type comes first; IngestionService: usage and cost only for
    # observations with a model or provided usage/cost).
    f'set({_OBSERVATION_TYPE}, "event") where {_OBSERVATION_TYPE} == nil and {_TASK} != nil and {_OPERATION} == nil',
    # completion_start_time = span start + time to first chunk (seconds, double). span.start_time is a UTC
    # time.Time, so the literal "Z" is correct; Unix(...) would give local time. %f drops trailing zeros.
    # "+ 0.5" rounds to the nearest nanosecond: Int() truncates, and 0.00013 * 1e9 is 129999.99999999999.
    # Double() is nil for a non-numeric value, so the ">= 0.0" guard also skips garbage and negative values.
    f"set({_COMPLETION_START}, FormatTime(span.start_time + Duration(Concat([String(Int(Double({_TTFT}) "
    f'* 1000000000.0 + 0.5)), "ns"], "")), "%Y-%m-%dT%H:%M:%S.%fZ")) where {_TTFT} != nil '
    f"and Double({_TTFT}) >= 0.0 and {_COMPLETION_START} == nil",
    # Trace tags, on trace roots only: Langfuse's v4 trace view takes the tags of the newest span that has any
    # (event-query-builder.ts: argMaxIf(tags, event_ts, notEmpty(tags))), so a task record inside a turn's trace must
    # not replace the turn's tags. A string array, the form extractTags reads as is.
    f'set({_TAGS}, ["{LANGFUSE_TAG}", {_HOST}, {_TASK}]) where IsRootSpan() and {_TAGS} == nil and {_HOST} != nil '
    f"and {_TASK} != nil",
    f'set({_TAGS}, ["{LANGFUSE_TAG}", {_HOST}]) where IsRootSpan() and {_TAGS} == nil and {_HOST} != nil',
    # Filterable metadata, on every span: observation metadata keys are top-level keys of the observation's metadata
    # and, on a root span, of the trace's too (OtelIngestionProcessor.ts: the legacy path merges the observation
    # metadata into a root's trace metadata; the v4 path keeps one metadata per row and the trace's is its root's).
    *(_metadata_statement(key, attribute) for key, attribute in LANGFUSE_METADATA.items()),
    # Release = the Open WebUI release being traced (known in-process only); version = the filter's version, which
    # shapes every span (Langfuse reads span langfuse.version, else resource service.version, which we do not set).
    f"set({_RELEASE}, {_OPENWEBUI_VERSION}) where {_OPENWEBUI_VERSION} != nil and {_RELEASE} == nil",
    f"set({_VERSION}, {_DISTRO_VERSION}) where {_DISTRO_VERSION} != nil and {_VERSION} == nil",
    *_cost_statements(),
)

LANGFUSE_DROP_CONDITIONS = (
    # Langfuse is off until LANGFUSE_HOST is set: with the variable unset this compares "" == "" and drops
    # every span, so the exporter never sends and never logs connection errors.
    f'"{_env("LANGFUSE_HOST")}" == ""',
    # Langfuse bills every span: keep only ours (turn spans are trace roots, so no root is lost) and drop e.g.
    # Open WebUI's own FastAPI/httpx spans when its OTel export points here too.
    f'scope.name != "{OUR_SCOPE}"',
)

LANGFUSE_DROP_SPAN_CONDITIONS = (
    # Evaluations (otel_filter.feedback_sink: a span carrying gen_ai.evaluation.result under the rated turn) reach
    # Langfuse as scores through its scores API, on the turn's trace and GENERATION. As spans they would be extra
    # (billable) observations, and Langfuse reads no gen_ai.evaluation.* (langfuse-otlp-contract §5.2).
    f'span.attributes["{GEN_AI_EVALUATION_NAME}"] != nil',
    # Score delivery reports (otel_filter.feedback_delivery) tell of Langfuse's own outage, for doctor to read in
    # Jaeger; in Langfuse they would be billable traces of no turn.
    f'span.name == "{OPENWEBUI_FEEDBACK_DELIVERY}"',
)


def filter_langfuse_processor() -> dict[str, Any]:
    """A true condition drops the data. Scope conditions keep or drop whole scopes; span conditions single spans.

    The context is explicit because context inference cannot place the path-less LANGFUSE_HOST gate.
    """
    return {
        "error_mode": "ignore",
        "trace_conditions": [
            {"context": "scope", "conditions": list(LANGFUSE_DROP_CONDITIONS)},
            {"context": "span", "conditions": list(LANGFUSE_DROP_SPAN_CONDITIONS)},
        ],
    }


def transform_langfuse_processor() -> dict[str, Any]:
    """Adds trace name, completion start time, trace tags, filterable metadata, release and version, and the EVENT
    observation type of task records."""
    return {"error_mode": "ignore", "trace_statements": list(LANGFUSE_STATEMENTS)}


def langfuse_exporter(_spec: ConfigSpec | None = None) -> dict[str, Any]:
    """OTLP/HTTP (protobuf, gzip) to Langfuse with the v4 ingestion header and a persistent, byte-bounded queue."""
    # Not _env("LANGFUSE_HOST"): the gate in filter/langfuse needs "" as the default, the URL needs a valid one.
    # With LANGFUSE_HOST unset nothing reaches this exporter, so the reserved .invalid host is never contacted.
    host = env_ref("LANGFUSE_HOST", LANGFUSE_HOST_FALLBACK)
    return {
        "endpoint": f"{host}{LANGFUSE_OTLP_PATH}",
        "headers": {"Authorization": f"Basic {_env('LANGFUSE_AUTH_B64')}", **LANGFUSE_INGESTION_HEADERS},
        "compression": "gzip",
        "encoding": "proto",
        "timeout": "30s",
        "retry_on_failure": retry_on_failure(max_elapsed=env("OTELCOL_RETRY_MAX_ELAPSED")),
        "sending_queue": {
            "enabled": True,
            "storage": FILE_STORAGE,
            "num_consumers": 4,
            # Bounded in bytes, below the volume's size: a full disk would fail the queue file itself (and at
            # start, the collector), while a full queue refuses new data cleanly and counts it.
            "sizer": "bytes",
            "queue_size": env("OTELCOL_QUEUE_MAX_BYTES"),  # 256 MiB
            "batch": {"sizer": "bytes", "flush_timeout": "1s", "min_size": 0, "max_size": 4000000},
        },
    }


LANGFUSE = Backend(
    name="langfuse",
    title="Langfuse",
    help="Langfuse over OTLP/HTTP (LANGFUSE_HOST, LANGFUSE_AUTH_B64; off while LANGFUSE_HOST is unset)",
    exporter_id="otlp_http/langfuse",
    exporter=langfuse_exporter,
    processors=(
        Component(FILTER_LANGFUSE, filter_langfuse_processor),
        # Its batches are 4 MB too: a span with a huge nested value would take its batch-mates along.
        Component(TRANSFORM_NESTED_VALUES, nested_values_processor),
        Component(TRANSFORM_LANGFUSE, transform_langfuse_processor),
    ),
    persistent_queue=True,
    extensions=(Component(FILE_STORAGE, file_storage_extension),),
    default_if_set="LANGFUSE_HOST",
    env=ENV,
    gomod=(
        "go.opentelemetry.io/collector/exporter/otlphttpexporter",
        "github.com/open-telemetry/opentelemetry-collector-contrib/processor/filterprocessor",
        "github.com/open-telemetry/opentelemetry-collector-contrib/processor/transformprocessor",
        "github.com/open-telemetry/opentelemetry-collector-contrib/extension/storage/filestorage",
    ),
)

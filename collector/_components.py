# SPDX-License-Identifier: Apache-2.0
"""Every collector component block we emit, defined once as plain data.

``otel-collector.yaml`` (hand-commented) and ``python -m collector config`` (rendered) must describe the same
components; ``tests/collector/test_config_render.py`` compares them, so this module is the single source of truth
for OTTL statements, env-var names and their defaults.

Usage::

    from collector._components import langfuse_exporter, TRANSFORM_LANGFUSE
    block = {"exporters": {"otlp_http/langfuse": langfuse_exporter()}}
"""

from __future__ import annotations

from typing import Any

from otel_filter._semconv import (
    GEN_AI_INPUT_MESSAGES,
    GEN_AI_OPERATION_NAME,
    GEN_AI_OUTPUT_MESSAGES,
    GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK,
    GEN_AI_SYSTEM_INSTRUCTIONS,
    INSTRUMENTATION_SCOPE,
    OPENWEBUI_MODEL_NAME,
    OPENWEBUI_TASK,
)

__all__ = [
    "BEARER_AUTH",
    "CONTENT_ATTRIBUTES",
    "ENV_DEFAULTS",
    "FILE_STORAGE",
    "FILTER_LANGFUSE",
    "HEALTH_CHECK",
    "LANGFUSE_HOST_FALLBACK",
    "MEMORY_LIMITER",
    "OUR_SCOPE",
    "RECEIVER_GRPC_MAX_RECV_MIB",
    "RECEIVER_HTTP_MAX_BODY_BYTES",
    "TRANSFORM_LANGFUSE",
    "TRANSFORM_STRIP_CONTENT",
    "batch_processor",
    "bearer_auth_extension",
    "debug_exporter",
    "env",
    "file_exporter",
    "file_storage_extension",
    "filter_langfuse_processor",
    "health_check_extension",
    "jaeger_exporter",
    "langfuse_exporter",
    "memory_limiter_processor",
    "otlp_receiver",
    "retry_on_failure",
    "strip_content_processor",
    "telemetry",
    "transform_langfuse_processor",
]

OUR_SCOPE = INSTRUMENTATION_SCOPE
"""Instrumentation scope of otel_filter's spans."""

# Component ids (type/name) used in pipelines.
MEMORY_LIMITER = "memory_limiter"
FILTER_LANGFUSE = "filter/langfuse"
TRANSFORM_LANGFUSE = "transform/langfuse"
TRANSFORM_STRIP_CONTENT = "transform/strip_content"
HEALTH_CHECK = "health_check"
FILE_STORAGE = "file_storage/queue"
BEARER_AUTH = "bearertokenauth/ingest"

LANGFUSE_OTLP_PATH = "/api/public/otel"
"""Langfuse's OTLP/HTTP base path (HTTP only; the exporter appends /v1/traces)."""
LANGFUSE_INGESTION_HEADERS = {"x-langfuse-ingestion-version": "4"}
"""Real-time ("direct") ingestion, see otel-collector.yaml."""

LANGFUSE_HOST_FALLBACK = "http://langfuse.invalid"
"""Endpoint host used while Langfuse is disabled (RFC 2606 reserved name; never resolves)."""

ENV_DEFAULTS: dict[str, str | None] = {
    "OTELCOL_RECEIVER_HOST": "localhost",
    "OTELCOL_GRPC_PORT": "4317",
    "OTELCOL_HTTP_PORT": "4318",
    "OTELCOL_HEALTH_ENDPOINT": "localhost:13133",
    "OTELCOL_METRICS_HOST": "localhost",
    "OTELCOL_METRICS_PORT": "8888",
    "OTELCOL_LOG_LEVEL": "info",
    "OTELCOL_QUEUE_DIR": "/tmp/owui-otel/queue",
    "OTELCOL_QUEUE_MAX_BYTES": "268435456",
    "OTELCOL_RETRY_INITIAL_INTERVAL": "5s",
    "OTELCOL_RETRY_MAX_INTERVAL": "30s",
    "OTELCOL_RETRY_MAX_ELAPSED": "1h",
    "OTELCOL_FILE_PATH": "/tmp/owui-otel/traces.jsonl",
    "LANGFUSE_HOST": "",
    "LANGFUSE_AUTH_B64": "",
    "JAEGER_OTLP_ENDPOINT": "localhost:14317",
    "OTEL_INGEST_TOKEN": None,
}
"""Every env var the configs read, with the default written into the file (None: required, no default)."""


def env(name: str) -> str:
    """``${env:NAME:-default}`` (or ``${env:NAME}`` when the variable has no default)."""
    default = ENV_DEFAULTS[name]
    return f"${{env:{name}}}" if default is None else f"${{env:{name}:-{default}}}"


# Message content: what Jaeger (and any target marked strip_content) never stores by default.
CONTENT_ATTRIBUTES = (
    GEN_AI_INPUT_MESSAGES,
    GEN_AI_OUTPUT_MESSAGES,
    GEN_AI_SYSTEM_INSTRUCTIONS,
    # Semconv content attributes the filter does not write (yet), stripped all the same for any other source.
    "gen_ai.tool.definitions",
    "gen_ai.tool.call.arguments",
    "gen_ai.tool.call.result",
)

_TTFT = f'span.attributes["{GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK}"]'
_OPERATION = f'span.attributes["{GEN_AI_OPERATION_NAME}"]'
_MODEL_NAME = f'span.attributes["{OPENWEBUI_MODEL_NAME}"]'
_TASK = f'span.attributes["{OPENWEBUI_TASK}"]'
_TRACE_NAME = 'span.attributes["langfuse.trace.name"]'
_COMPLETION_START = 'span.attributes["langfuse.observation.completion_start_time"]'

LANGFUSE_STATEMENTS = (
    # A readable trace name: "<operation> <model display name>" for chat turns (the span name carries the model
    # id, which for Open WebUI custom models is an opaque slug); background tasks keep their span name
    # ("title_generation gpt-4o"). Langfuse's v4 direct path reads the name only from this attribute, on every
    # span (langfuse-otlp-contract.md §2.3); an existing value set upstream wins.
    f'set({_TRACE_NAME}, Concat([{_OPERATION}, {_MODEL_NAME}], " ")) where {_TRACE_NAME} == nil '
    f"and {_TASK} == nil and {_OPERATION} != nil and {_MODEL_NAME} != nil",
    f"set({_TRACE_NAME}, span.name) where {_TRACE_NAME} == nil",
    # completion_start_time = span start + time to first chunk (seconds, double). span.start_time is a UTC
    # time.Time, so the literal "Z" is correct; Unix(...) would give local time. %f drops trailing zeros.
    # "+ 0.5" rounds to the nearest nanosecond: Int() truncates, and 0.00013 * 1e9 is 129999.99999999999.
    # Double() is nil for a non-numeric value, so the ">= 0.0" guard also skips garbage and negative values.
    f"set({_COMPLETION_START}, FormatTime(span.start_time + Duration(Concat([String(Int(Double({_TTFT}) "
    f'* 1000000000.0 + 0.5)), "ns"], "")), "%Y-%m-%dT%H:%M:%S.%fZ")) where {_TTFT} != nil '
    f"and Double({_TTFT}) >= 0.0 and {_COMPLETION_START} == nil",
)

STRIP_CONTENT_STATEMENTS = tuple(f'delete_key(span.attributes, "{key}")' for key in CONTENT_ATTRIBUTES)

LANGFUSE_DROP_CONDITIONS = (
    # Langfuse is off until LANGFUSE_HOST is set: with the variable unset this compares "" == "" and drops
    # every span, so the exporter never sends and never logs connection errors.
    f'"{env("LANGFUSE_HOST")}" == ""',
    # Langfuse bills every span: keep only ours (turn spans are trace roots, so no root is lost) and drop e.g.
    # Open WebUI's own FastAPI/httpx spans when its OTel export points here too.
    f'scope.name != "{OUR_SCOPE}"',
)


RECEIVER_HTTP_MAX_BODY_BYTES = 8 * 1024 * 1024
"""``max_request_body_size`` of the OTLP/HTTP receiver, checked on the body as sent AND after gzip/zstd decoding.

confighttp (v0.161.0, ``ToServer``) wraps the handler in ``maxRequestBodySizeInterceptor`` (``http.MaxBytesReader``
on the raw body) and, inside it, ``httpContentDecompressor`` (``http.MaxBytesReader`` with the same limit on the
decoded body); the receiver answers 400 "request body too large" without decoding anything. 8 MiB keeps one request
from crashing the collector with a deeply nested value (open-telemetry/opentelemetry-collector#15301, fixed for
protobuf from v0.165.0; the JSON variant #15603 is open in every release), token or not. Measured with our build
(tests/faults/test_collector_hardening.py): the deepest values that fit in 8 MiB -- 891,967 nested arrays or
594,644 nested kvlists of protobuf, 299,578 nested arrays of OTLP/JSON -- are decoded and the collector lives;
the smallest crashes measured are 1,300,000 nested arrays (11.9 MiB; 1,200,000 = 10.9 MiB survive) and
1,000,000 nested kvlists (13.8 MiB; 900,000 = 12.4 MiB survive) of protobuf, and 3,000,000 nested arrays of JSON
(80 MiB; 1,000,000 = 26.7 MiB survive).
otel_filter never sends a request above 3 MiB (``otel_filter._request_size.MAX_REQUEST_BYTES``): it splits its
batches, and bounds every attribute so that one span always fits.
"""
RECEIVER_GRPC_MAX_RECV_MIB = 4
"""``max_recv_msg_size_mib`` of the OTLP/gRPC receiver (gRPC's own default, written out so it cannot drift).

gRPC decodes a message BEFORE the auth interceptor runs (configgrpc authenticates in a unary interceptor), so on
gRPC this size is the only guard against the nested-AnyValue crash (#15301): it must stay below the smallest
request that overflows the stack (measured in tests/faults/test_collector_hardening.py). otel_filter sends
OTLP/HTTP by default, and over either protocol never a request above 3 MiB.
"""


def otlp_receiver(*, auth: bool = False) -> dict[str, Any]:
    """OTLP gRPC + HTTP receiver bound to ``OTELCOL_RECEIVER_HOST`` (localhost unless set), with size limits."""
    host = env("OTELCOL_RECEIVER_HOST")
    grpc: dict[str, Any] = {
        "endpoint": f"{host}:{env('OTELCOL_GRPC_PORT')}",
        "max_recv_msg_size_mib": RECEIVER_GRPC_MAX_RECV_MIB,
    }
    http: dict[str, Any] = {
        "endpoint": f"{host}:{env('OTELCOL_HTTP_PORT')}",
        "max_request_body_size": RECEIVER_HTTP_MAX_BODY_BYTES,
    }
    if auth:
        grpc["auth"] = {"authenticator": BEARER_AUTH}
        http["auth"] = {"authenticator": BEARER_AUTH}
    return {"protocols": {"grpc": grpc, "http": http}}


def memory_limiter_processor() -> dict[str, Any]:
    """First processor in every pipeline: refuses data before the process runs out of memory."""
    return {"check_interval": "1s", "limit_percentage": 80, "spike_limit_percentage": 25}


def batch_processor() -> dict[str, Any]:
    """Last processor in every pipeline; bounded so one request never carries an unbounded number of spans."""
    return {"timeout": "1s", "send_batch_size": 256, "send_batch_max_size": 512}


def filter_langfuse_processor() -> dict[str, Any]:
    """A true condition drops the data. Evaluated per scope: whole scopes are kept or dropped at once.

    The context is explicit because context inference cannot place the path-less LANGFUSE_HOST gate.
    """
    return {
        "error_mode": "ignore",
        "trace_conditions": [{"context": "scope", "conditions": list(LANGFUSE_DROP_CONDITIONS)}],
    }


def transform_langfuse_processor() -> dict[str, Any]:
    """Adds ``langfuse.trace.name`` and ``langfuse.observation.completion_start_time``."""
    return {"error_mode": "ignore", "trace_statements": list(LANGFUSE_STATEMENTS)}


def strip_content_processor() -> dict[str, Any]:
    """Removes message content (prompts, replies, tool payloads) before a backend that should not store it."""
    return {"error_mode": "ignore", "trace_statements": list(STRIP_CONTENT_STATEMENTS)}


def retry_on_failure(*, max_elapsed: str | None = None) -> dict[str, Any]:
    """Exponential backoff; intervals tunable by env so tests can shorten them."""
    return {
        "enabled": True,
        "initial_interval": env("OTELCOL_RETRY_INITIAL_INTERVAL"),
        "max_interval": env("OTELCOL_RETRY_MAX_INTERVAL"),
        "max_elapsed_time": max_elapsed or "300s",
    }


def langfuse_exporter() -> dict[str, Any]:
    """OTLP/HTTP (protobuf, gzip) to Langfuse with the v4 ingestion header and a persistent, byte-bounded queue."""
    # Not env("LANGFUSE_HOST"): the gate in filter/langfuse needs "" as the default, the URL needs a valid one.
    # With LANGFUSE_HOST unset nothing reaches this exporter, so the reserved .invalid host is never contacted.
    host = f"${{env:LANGFUSE_HOST:-{LANGFUSE_HOST_FALLBACK}}}"
    return {
        "endpoint": f"{host}{LANGFUSE_OTLP_PATH}",
        "headers": {"Authorization": f"Basic {env('LANGFUSE_AUTH_B64')}", **LANGFUSE_INGESTION_HEADERS},
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


JAEGER_EXPORT_MAX_BYTES = 4_000_000
"""Largest request (uncompressed protobuf) the collector sends to Jaeger: half of Jaeger's 8 MiB receiver limit."""


def jaeger_exporter() -> dict[str, Any]:
    """OTLP/gRPC to Jaeger v2 (plaintext: Jaeger sits on the internal network or loopback)."""
    return {
        "endpoint": env("JAEGER_OTLP_ENDPOINT"),
        "tls": {"insecure": True},
        "compression": "gzip",
        "retry_on_failure": retry_on_failure(),
        "sending_queue": {
            "enabled": True,
            "queue_size": 1000,
            # The batch processor counts spans, not bytes: 512 large spans can outgrow Jaeger's 8 MiB receiver
            # (collector/_jaeger.py), which refuses the whole batch (ResourceExhausted: dropped, not retried).
            # Splitting what goes out into requests of at most 4 MB keeps every one of them under it.
            "batch": {"sizer": "bytes", "flush_timeout": "1s", "min_size": 0, "max_size": JAEGER_EXPORT_MAX_BYTES},
        },
    }


def debug_exporter(verbosity: str = "basic") -> dict[str, Any]:
    """Writes spans to the collector's log (basic: counts only; detailed: every attribute, content included)."""
    return {"verbosity": verbosity}


def file_exporter() -> dict[str, Any]:
    """OTLP-JSON lines appended to a local file, rotated at 100 MiB."""
    return {"path": env("OTELCOL_FILE_PATH"), "format": "json", "rotation": {"max_megabytes": 100, "max_backups": 3}}


def health_check_extension() -> dict[str, Any]:
    """HTTP 200 on ``/`` once every pipeline started (probe it from outside: the contrib image has no shell)."""
    return {"endpoint": env("OTELCOL_HEALTH_ENDPOINT")}


def file_storage_extension() -> dict[str, Any]:
    """Backs the persistent sending queue; compaction keeps the bbolt file from growing forever."""
    return {
        "directory": env("OTELCOL_QUEUE_DIR"),
        "create_directory": True,
        "timeout": "1s",
        "compaction": {"on_start": True, "on_rebound": True, "directory": env("OTELCOL_QUEUE_DIR")},
    }


def bearer_auth_extension() -> dict[str, Any]:
    """Server-side bearer token check for the OTLP receiver (token from ``OTEL_INGEST_TOKEN``)."""
    return {"scheme": "Bearer", "token": env("OTEL_INGEST_TOKEN")}


def telemetry() -> dict[str, Any]:
    """The collector's own logs and Prometheus metrics (``otelcol_exporter_queue_size`` etc.)."""
    return {
        "logs": {"level": env("OTELCOL_LOG_LEVEL")},
        "metrics": {
            "level": "normal",
            "readers": [
                {
                    "pull": {
                        "exporter": {
                            "prometheus": {
                                "host": env("OTELCOL_METRICS_HOST"),
                                "port": env("OTELCOL_METRICS_PORT"),
                            }
                        }
                    }
                }
            ],
        },
    }

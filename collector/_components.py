# SPDX-License-Identifier: Apache-2.0
"""The collector component blocks every config shares, defined once as plain data.

The receiver, ``memory_limiter``, ``batch``, content stripping, retries, the health check, the persistent
queue's storage, receiver auth and the collector's own telemetry. Each backend's own blocks (exporter, processors)
live with its registry entry in ``collector/_backends/``. ``otel-collector.yaml`` (hand-commented) and
``python -m collector config`` (rendered) must describe the same components; ``tests/collector/test_config_render.py``
compares them.

Usage:

    >>> from collector._components import MEMORY_LIMITER, env, memory_limiter_processor
    >>> block = {"processors": {MEMORY_LIMITER: memory_limiter_processor()}}
    >>> env("OTELCOL_LOG_LEVEL")
    '${env:OTELCOL_LOG_LEVEL:-info}'
"""

from __future__ import annotations

from typing import Any

from otel_filter.semconv import (
    GEN_AI_INPUT_MESSAGES,
    GEN_AI_OUTPUT_MESSAGES,
    GEN_AI_SYSTEM_INSTRUCTIONS,
    INSTRUMENTATION_SCOPE,
)

__all__ = [
    "BEARER_AUTH",
    "CONTENT_ATTRIBUTES",
    "ENV_DEFAULTS",
    "GOMOD",
    "FILE_STORAGE",
    "HEALTH_CHECK",
    "MEMORY_LIMITER",
    "OUR_SCOPE",
    "RECEIVER_GRPC_MAX_RECV_MIB",
    "RECEIVER_HTTP_MAX_BODY_BYTES",
    "TRANSFORM_STRIP_CONTENT",
    "batch_processor",
    "bearer_auth_extension",
    "env",
    "env_ref",
    "file_storage_extension",
    "health_check_extension",
    "memory_limiter_processor",
    "otlp_receiver",
    "retry_on_failure",
    "strip_content_processor",
    "telemetry",
]

OUR_SCOPE = INSTRUMENTATION_SCOPE
"""Instrumentation scope of otel_filter's spans."""

# Component ids (type/name) used in pipelines.
MEMORY_LIMITER = "memory_limiter"
TRANSFORM_STRIP_CONTENT = "transform/strip_content"
HEALTH_CHECK = "health_check"
FILE_STORAGE = "file_storage/queue"
BEARER_AUTH = "bearertokenauth/ingest"

GOMOD = (
    "go.opentelemetry.io/collector/receiver/otlpreceiver",
    "go.opentelemetry.io/collector/processor/memorylimiterprocessor",
    "go.opentelemetry.io/collector/processor/batchprocessor",
    "github.com/open-telemetry/opentelemetry-collector-contrib/processor/transformprocessor",  # strip_content
    "github.com/open-telemetry/opentelemetry-collector-contrib/extension/healthcheckextension",
    "github.com/open-telemetry/opentelemetry-collector-contrib/extension/bearertokenauthextension",
)
"""OCB manifest modules (path, no version) the shared components need; backends list theirs in ``Backend.gomod``."""

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
    "OTEL_INGEST_TOKEN": None,
}
"""Env vars the shared components read, with the default written into the file (None: required, no default).

Each backend lists its own in ``Backend.env``; ``collector._backends.env_defaults()`` merges them all.
"""


def env_ref(name: str, default: str | None) -> str:
    """``${env:NAME:-default}`` (or ``${env:NAME}`` when ``default`` is None: the variable is required)."""
    return f"${{env:{name}}}" if default is None else f"${{env:{name}:-{default}}}"


def env(name: str) -> str:
    """:func:`env_ref` of a shared variable, with its default from :data:`ENV_DEFAULTS`."""
    return env_ref(name, ENV_DEFAULTS[name])


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

STRIP_CONTENT_STATEMENTS = tuple(f'delete_key(span.attributes, "{key}")' for key in CONTENT_ATTRIBUTES)

RECEIVER_HTTP_MAX_BODY_BYTES = 8 * 1024 * 1024
"""``max_request_body_size`` of the OTLP/HTTP receiver, checked on the body as sent AND after gzip/zstd decoding.

confighttp (v0.161.0, ``ToServer``) wraps the handler in ``maxRequestBodySizeInterceptor`` (``http.MaxBytesReader``
on the raw body) and, inside it, ``httpContentDecompressor`` (``http.MaxBytesReader`` with the same limit on the
decoded body); the receiver answers 400 "request body too large" without decoding anything. 8 MiB keeps one request
from crashing the collector with a deeply nested value (open-telemetry/opentelemetry-collector#15301, fixed for
protobuf from v0.165.0; the JSON variant #15603 is open in every release), token or not. Measured with our build
(tests/collector/test_collector_hardening.py): the deepest values that fit in 8 MiB -- 891,967 nested arrays or
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
request that overflows the stack (measured in tests/collector/test_collector_hardening.py). otel_filter sends
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


def local_otlp_http_exporter(endpoint_var: str, default_endpoint: str | None) -> dict[str, Any]:
    """OTLP/HTTP (protobuf, gzip) to a backend on this host or network, with retries and an in-memory queue of 1,000
    batches (a local backend's restart loses little). Used by Phoenix and by the metrics' Prometheus export::

        local_otlp_http_exporter("PHOENIX_OTLP_ENDPOINT", "http://localhost:6006")
    """
    return {
        "endpoint": env_ref(endpoint_var, default_endpoint),
        "encoding": "proto",
        "compression": "gzip",
        "retry_on_failure": retry_on_failure(),
        "sending_queue": {"enabled": True, "queue_size": 1000},
    }


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

# SPDX-License-Identifier: Apache-2.0
"""Jaeger v2: OTLP/gRPC to ``$JAEGER_OTLP_ENDPOINT`` (plaintext), message content stripped unless kept.

Every span is bounded first (``transform/jaeger_span_size``), so that it fits one export request: the exporter
batches by bytes, and a span larger than a batch is dropped together with the spans after it in that batch
("Failed to split request ... one span size is greater than max size, dropping items";
go.opentelemetry.io/collector/exporter/exporterhelper v0.161.0 internal/queuebatch/traces_batch.go ``split``).
Our filter never sends a span above 3 MiB (otel_filter/_request_size.py); other senders can send up to the
receiver's 8 MiB. The bound, per span: map and nested or huge list values deleted and at most 128 attributes
(``transform/nested_values``, :mod:`collector._nested_values`, shared with Langfuse), then message content
attributes cut to :data:`JAEGER_CONTENT_MAX_BYTES` each and every other string to :data:`JAEGER_STRING_MAX_BYTES`
(UTF-8 safe), event attributes likewise. Together at most ~3.7 MB, under the 4 MB batches.
Not bounded (OTTL has no cheap way to measure them; ``String()`` of a deeply nested value takes seconds): attribute
keys, a nested value hidden after a list's first item, the number of events and links.

Usage:

    >>> from collector._backends.jaeger import JAEGER
    >>> JAEGER.exporter_id
    'otlp_grpc/jaeger'
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from collector._components import CONTENT_ATTRIBUTES, env_ref, retry_on_failure
from collector._nested_values import MAX_ATTRIBUTES, TRANSFORM_NESTED_VALUES, nested_values_processor

from .base import Backend, Component

if TYPE_CHECKING:
    from collector._config import ConfigSpec

__all__ = [
    "JAEGER",
    "JAEGER_CONTENT_MAX_BYTES",
    "JAEGER_EXPORT_MAX_BYTES",
    "JAEGER_SPAN_SIZE_STATEMENTS",
    "JAEGER_STRING_MAX_BYTES",
    "TRANSFORM_JAEGER_SPAN_SIZE",
    "jaeger_exporter",
    "jaeger_span_size_processor",
]

ENV: dict[str, str | None] = {"JAEGER_OTLP_ENDPOINT": "localhost:14317"}
"""The env vars only this backend reads, with their defaults."""

JAEGER_EXPORT_MAX_BYTES = 4_000_000
"""Largest request (uncompressed protobuf) the collector sends to Jaeger: half of Jaeger's 8 MiB receiver limit."""

TRANSFORM_JAEGER_SPAN_SIZE = "transform/jaeger_span_size"
JAEGER_STRING_MAX_BYTES = 8192
"""A string attribute other than message content (the filter's own are at most 1,024 characters)."""
JAEGER_CONTENT_MAX_BYTES = 448 * 1024
"""A message content attribute (prompts, replies; only where content is kept): 6 of them plus 122 other strings
stay under :data:`JAEGER_EXPORT_MAX_BYTES`."""
_CONTENT_KEPT = "span.cache"  # content values wait here while every other string is cut


def _content(key: str) -> str:
    return f'span.attributes["{key}"]'


JAEGER_SPAN_SIZE_STATEMENTS = (
    *(f'set({_CONTENT_KEPT}["{key}"], {_content(key)}) where {_content(key)} != nil' for key in CONTENT_ATTRIBUTES),
    f"truncate_all(span.attributes, {JAEGER_STRING_MAX_BYTES})",
    f"truncate_all({_CONTENT_KEPT}, {JAEGER_CONTENT_MAX_BYTES})",
    *(
        f'set({_content(key)}, {_CONTENT_KEPT}["{key}"]) where {_CONTENT_KEPT}["{key}"] != nil'
        for key in CONTENT_ATTRIBUTES
    ),
)
JAEGER_SPAN_EVENT_SIZE_STATEMENTS = (
    f"truncate_all(spanevent.attributes, {JAEGER_STRING_MAX_BYTES})",
    f"limit(spanevent.attributes, {MAX_ATTRIBUTES}, [])",
)


def jaeger_span_size_processor() -> dict[str, Any]:
    """Bounds each span so it fits one export request (see the module docstring)."""
    # Explicit contexts: inferred from the whole list, the span statements would run per event (spanevent.cache).
    return {
        "error_mode": "ignore",
        "trace_statements": [
            {"context": "span", "statements": list(JAEGER_SPAN_SIZE_STATEMENTS)},
            {"context": "spanevent", "statements": list(JAEGER_SPAN_EVENT_SIZE_STATEMENTS)},
        ],
    }


def jaeger_exporter(_spec: ConfigSpec | None = None) -> dict[str, Any]:
    """OTLP/gRPC to Jaeger v2 (plaintext: Jaeger sits on the internal network or loopback)."""
    return {
        "endpoint": env_ref("JAEGER_OTLP_ENDPOINT", ENV["JAEGER_OTLP_ENDPOINT"]),
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


JAEGER = Backend(
    name="jaeger",
    title="Jaeger",
    help="Jaeger v2 over OTLP/gRPC (JAEGER_OTLP_ENDPOINT); prompts and replies stripped",
    exporter_id="otlp_grpc/jaeger",
    exporter=jaeger_exporter,
    processors=(
        Component(TRANSFORM_NESTED_VALUES, nested_values_processor),
        Component(TRANSFORM_JAEGER_SPAN_SIZE, jaeger_span_size_processor),
    ),
    strips_content=True,
    default=True,
    env=ENV,
    gomod=(
        "go.opentelemetry.io/collector/exporter/otlpexporter",
        "github.com/open-telemetry/opentelemetry-collector-contrib/processor/transformprocessor",
    ),
)

# SPDX-License-Identifier: Apache-2.0
"""Jaeger v2: OTLP/gRPC to ``$JAEGER_OTLP_ENDPOINT`` (plaintext), message content stripped unless kept.

Usage:

    >>> from collector._backends.jaeger import JAEGER
    >>> JAEGER.exporter_id
    'otlp_grpc/jaeger'
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from collector._components import env_ref, retry_on_failure

from .base import Backend

if TYPE_CHECKING:
    from collector._config import ConfigSpec

__all__ = ["JAEGER", "JAEGER_EXPORT_MAX_BYTES", "jaeger_exporter"]

ENV: dict[str, str | None] = {"JAEGER_OTLP_ENDPOINT": "localhost:14317"}
"""The env vars only this backend reads, with their defaults."""

JAEGER_EXPORT_MAX_BYTES = 4_000_000
"""Largest request (uncompressed protobuf) the collector sends to Jaeger: half of Jaeger's 8 MiB receiver limit."""


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
    strips_content=True,
    default=True,
    env=ENV,
    gomod=("go.opentelemetry.io/collector/exporter/otlpexporter",),
)

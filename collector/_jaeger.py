# SPDX-License-Identifier: Apache-2.0
"""Build a Jaeger v2 all-in-one binary from its Go module, cached like the collector.

Why a scratch module and ``go get -tool`` instead of ``go install``: the Jaeger module path has no ``/v2``, so
v2 releases are only reachable through the v1.x tag of the same commit (v1.76.0 = Jaeger v2.13.0), and
``go install ...@v1.76.0`` refuses that module because its go.mod contains a ``replace`` directive. As a
dependency of our own throw-away module the replace is ignored and the build works.

A source build has no UI assets (they come from an npm build of jaeger-ui); the HTTP query API on port 16686
(``/api/traces/{id}``, ``/api/v3/...``) is complete, which is all the tests use.

Usage::

    from collector import build_jaeger, jaeger_config
    jaeger = build_jaeger(progress=print)     # Path(".../jaeger/<key>/jaeger")
    config = jaeger_config(otlp_grpc_port=14317, otlp_http_port=14318, query_port=16686, query_grpc_port=16685)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Unpack

from ._artifact import BuildOptions
from ._go_tool import GoTool, build_go_tool

__all__ = ["JAEGER_MODULE", "JAEGER_PACKAGE", "JAEGER_VERSION", "build_jaeger", "jaeger_config"]

JAEGER_MODULE = "github.com/jaegertracing/jaeger"
JAEGER_PACKAGE = f"{JAEGER_MODULE}/cmd/jaeger"
JAEGER_VERSION = "v1.76.0"
"""Go module version; the same commit as the Jaeger v2.13.0 release."""


def build_jaeger(*, version: str = JAEGER_VERSION, **options: Unpack[BuildOptions]) -> Path:
    """Build (or reuse) the Jaeger all-in-one binary and return its absolute path.

    Args:
        version: module version of ``github.com/jaegertracing/jaeger``.
        **options: :class:`~collector._artifact.BuildOptions` (force, progress, cache, env).

    Raises:
        GoNotFoundError: Go missing or too old.
        BuildError: ``go get`` or ``go build`` failed.
    """
    return build_go_tool(GoTool(package=JAEGER_PACKAGE, version=version, binary="jaeger"), kind="jaeger", **options)


def jaeger_config(
    *, otlp_grpc_port: int, otlp_http_port: int, query_port: int, query_grpc_port: int, host: str = "127.0.0.1"
) -> dict[str, Any]:
    """A minimal Jaeger v2 config: OTLP in, in-memory storage, query API; only the ports we chose.

    The built-in all-in-one config would also bind fixed ports (8888, 13133, 5778, 14250, 9411, ...) that collide
    with the collector and with parallel test runs.

        config = jaeger_config(otlp_grpc_port=14317, otlp_http_port=14318, query_port=16686, query_grpc_port=16685)
    """
    return {
        "service": {
            "extensions": ["jaeger_storage", "jaeger_query"],
            "pipelines": {
                "traces": {"receivers": ["otlp"], "processors": ["batch"], "exporters": ["jaeger_storage_exporter"]}
            },
            "telemetry": {"metrics": {"level": "none"}, "logs": {"level": "warn"}},
        },
        "extensions": {
            "jaeger_query": {
                # Default true: Jaeger traces its own queries to the SDK default localhost:4317 (the collector's
                # default port) and waits 10 s for that export at shutdown.
                "enable_tracing": False,
                "storage": {"traces": "memstore"},
                "http": {"endpoint": f"{host}:{query_port}"},
                "grpc": {"endpoint": f"{host}:{query_grpc_port}"},
            },
            "jaeger_storage": {"backends": {"memstore": {"memory": {"max_traces": 10000}}}},
        },
        "receivers": {
            "otlp": {
                # Unauthenticated (loopback only), so size limits are the guard against the nested-AnyValue
                # crash (open-telemetry/opentelemetry-collector#15301, ~13 MB at Jaeger's pdata too): 8 MiB is
                # well below it and far above what the collector sends here (batches of <= 512 spans with the
                # message content stripped).
                "protocols": {
                    "grpc": {"endpoint": f"{host}:{otlp_grpc_port}", "max_recv_msg_size_mib": 8},
                    "http": {"endpoint": f"{host}:{otlp_http_port}", "max_request_body_size": 8 * 1024 * 1024},
                }
            }
        },
        "processors": {"batch": {"timeout": "200ms"}},
        "exporters": {"jaeger_storage_exporter": {"trace_storage": "memstore"}},
    }

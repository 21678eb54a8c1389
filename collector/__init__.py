# SPDX-License-Identifier: Apache-2.0
"""Collector tooling of owui-otel (OpenTelemetry GenAI tracing for Open WebUI).

Builds ``owui-otelcol`` (a small OpenTelemetry Collector distribution, ``collector/manifest.yaml``) and Jaeger v2
from source, renders collector configs for any mix of backends, validates configs with the real binary and
computes Langfuse's Basic-auth value.

Usage (CLI)::

    python -m collector build                        # -> ~/.cache/owui-otel/collector/<key>/owui-otelcol
    python -m collector build-jaeger                 # -> ~/.cache/owui-otel/jaeger/<key>/jaeger
    python -m collector build-prometheus             # -> ~/.cache/owui-otel/prometheus/<key>/prometheus
    python -m collector config -e langfuse,jaeger -o /etc/owui-otel/collector.yaml --validate
    python -m collector validate --config otel-collector.yaml
    export LANGFUSE_AUTH_B64="$(python -m collector langfuse-auth)"

Usage (API)::

    from collector import build_collector, render_config, parse_otlp_target, validate_config
    binary = build_collector(progress=print)
    text = render_config(["jaeger"], [parse_otlp_target("name=tempo,endpoint=http://tempo:4318")])

Configuration (environment):
    ``OWUI_OTEL_CACHE``: cache directory (default ``$XDG_CACHE_HOME/owui-otel`` or ``~/.cache/owui-otel``).
    ``OWUI_OTEL_EXPORTERS``, ``OWUI_OTEL_OTLP``, ``OWUI_OTEL_RECEIVER_AUTH``: defaults for ``config``.
    ``LANGFUSE_PUBLIC_KEY``, ``LANGFUSE_SECRET_KEY``: input of ``langfuse-auth``.
    The env vars the rendered configs read at collector start are listed in each file's header.

The test harnesses (a real-process stack, a Langfuse-compatible OTLP endpoint) are not part of this package:
they live in the repository's ``tests/support/`` and are not shipped in the wheel.
"""

from __future__ import annotations

from ._auth import (
    LANGFUSE_PUBLIC_KEY,
    LANGFUSE_SECRET_KEY,
    langfuse_base_url,
    langfuse_basic_auth,
    langfuse_basic_auth_from_env,
)
from ._backends import BUILTIN_EXPORTERS
from ._backends.langfuse import LANGFUSE_INGESTION_HEADERS, LANGFUSE_OTLP_PATH
from ._backends.metrics import EXPORTER as METRICS_EXPORTER
from ._build import MANIFEST, build_collector
from ._cache import cache_dir
from ._config import EXPORTERS_FULL, config_dict, render_config, spec_from_env
from ._environment import CollectorAddresses, collector_env
from ._errors import BuildError, GoNotFoundError, OwuiOtelError, UsageError, ValidationError
from ._jaeger import build_jaeger, jaeger_config
from ._metrics import metric_samples
from ._process import ManagedProcess, ProcessError, http_ok, open_private_log, wait_until
from ._prometheus import PROMETHEUS_OTLP_PATH, build_prometheus, prometheus_command, write_prometheus_config
from ._targets import OtlpTarget, parse_otlp_target, parse_otlp_targets
from ._validate import validate_config

__all__ = [
    "BUILTIN_EXPORTERS",
    "EXPORTERS_FULL",
    "LANGFUSE_INGESTION_HEADERS",
    "LANGFUSE_OTLP_PATH",
    "LANGFUSE_PUBLIC_KEY",
    "LANGFUSE_SECRET_KEY",
    "MANIFEST",
    "METRICS_EXPORTER",
    "PROMETHEUS_OTLP_PATH",
    "ManagedProcess",
    "ProcessError",
    "BuildError",
    "CollectorAddresses",
    "GoNotFoundError",
    "OtlpTarget",
    "OwuiOtelError",
    "UsageError",
    "ValidationError",
    "build_collector",
    "build_jaeger",
    "build_prometheus",
    "prometheus_command",
    "write_prometheus_config",
    "jaeger_config",
    "cache_dir",
    "http_ok",
    "open_private_log",
    "wait_until",
    "collector_env",
    "config_dict",
    "langfuse_base_url",
    "langfuse_basic_auth",
    "langfuse_basic_auth_from_env",
    "metric_samples",
    "parse_otlp_target",
    "parse_otlp_targets",
    "render_config",
    "spec_from_env",
    "validate_config",
]

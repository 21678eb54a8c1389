# SPDX-License-Identifier: Apache-2.0
"""Prometheus for the usage metrics: built from its Go module like Jaeger, cached, run with its OTLP receiver on.

The collector pushes the usage metrics (:mod:`collector._backends.metrics`) to Prometheus 3's native OTLP receiver
(``--web.enable-otlp-receiver``, ``/api/v1/otlp/v1/metrics``); nothing is scraped.

Module ``github.com/prometheus/prometheus`` v0.316.0 is the Prometheus v3.16.0 release (its Go module versions are
``v0.<major*100+minor>.<patch>``). Built with ``-tags remove_all_sd``: the service-discovery plugins (AWS, Azure,
Kubernetes, ...) are for scraping fleets and would double the build. A Go-module build has no web UI assets (they
come from an npm build that no registry ships: only ``@prometheus-io/codemirror-promql`` and ``lezer-promql`` are on
npm), so the UI pages answer with an error; the HTTP API (``/api/v1/query``, ``/api/v1/query_range``, ...) that
``owui-otel demo``, Grafana and the tests use is complete.

Usage::

    from collector import build_prometheus, prometheus_command
    binary = build_prometheus(progress=print)          # ~/.cache/owui-otel/prometheus/<key>/prometheus
    command = prometheus_command(binary, config=path, data_dir=data, port=9090)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Unpack

import yaml

from ._artifact import BuildOptions
from ._go_tool import GoTool, build_go_tool

__all__ = [
    "PROMETHEUS_OTLP_PATH",
    "PROMETHEUS_PACKAGE",
    "PROMETHEUS_VERSION",
    "build_prometheus",
    "prometheus_command",
    "prometheus_config",
    "write_prometheus_config",
]

PROMETHEUS_PACKAGE = "github.com/prometheus/prometheus/cmd/prometheus"
PROMETHEUS_VERSION = "v0.316.0"
"""Go module version of the Prometheus v3.16.0 release."""
PROMETHEUS_OTLP_PATH = "/api/v1/otlp"
"""Base path of Prometheus' OTLP receiver (the collector's otlp_http exporter appends ``/v1/metrics``)."""


def build_prometheus(*, version: str = PROMETHEUS_VERSION, **options: Unpack[BuildOptions]) -> Path:
    """Build (or reuse) the Prometheus server binary and return its absolute path.

    Raises:
        GoNotFoundError: Go missing or too old.
        BuildError: ``go get`` or ``go build`` failed.
    """
    tool = GoTool(package=PROMETHEUS_PACKAGE, version=version, binary="prometheus", tags=("remove_all_sd",))
    return build_go_tool(tool, kind="prometheus", **options)


def prometheus_config() -> dict[str, Any]:
    """The server config: nothing to scrape (metrics arrive over OTLP), OTLP names translated the default way.

    ``out_of_order_time_window``: the collector's exporter sends with several consumers, so two exports can arrive
    out of order; without a window Prometheus would refuse the older one (the newer cumulative value already
    carries it, but the refusal is logged as a failed export).
    """
    return {
        "global": {"evaluation_interval": "1m"},
        "otlp": {"translation_strategy": "UnderscoreEscapingWithSuffixes"},
        "storage": {"tsdb": {"out_of_order_time_window": "10m"}},
    }


def write_prometheus_config(path: Path) -> Path:
    """Write :func:`prometheus_config` to ``path`` (YAML) and return it."""
    path.write_text(yaml.safe_dump(prometheus_config(), sort_keys=False), encoding="utf-8")
    return path


def prometheus_command(
    binary: Path, *, config: Path, data_dir: Path, port: int, host: str = "127.0.0.1", retention: str = "30d"
) -> list[str]:
    """The command line of a Prometheus that stores in ``data_dir`` and listens on ``host:port`` only.

    ``retention``: how long samples are kept (Prometheus' default is 15 days). ``created-timestamp-zero-ingestion``
    writes a 0 at each series' start time (set by the collector's ``transform/metrics_start_time``), so
    ``increase()``/``rate()`` count a series' first turns too.
    """
    return [
        str(binary),
        f"--config.file={config}",
        f"--storage.tsdb.path={data_dir}",
        f"--storage.tsdb.retention.time={retention}",
        f"--web.listen-address={host}:{port}",
        "--web.enable-otlp-receiver",
        "--enable-feature=created-timestamp-zero-ingestion",
        "--log.level=warn",
    ]

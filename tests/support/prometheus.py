# SPDX-License-Identifier: Apache-2.0
"""A real Prometheus for tests: the cached build, its OTLP receiver on, a loopback port, data in ``workdir``.

Usage::

    from collector import build_prometheus
    from tests.support.prometheus import PrometheusServer

    with PrometheusServer(build_prometheus(), tmp_path) as prometheus:
        stack = stack_factory(env={"PROMETHEUS_OTLP_ENDPOINT": prometheus.otlp_endpoint})
        ...
        rows = prometheus.query('sum by (gen_ai_request_model) (gen_ai_client_token_usage_sum)')
        values = prometheus.values("sum by (user_id) (openwebui_user_cost_nUSD_total)", "user_id")
"""

from __future__ import annotations

import os
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

from collector import ManagedProcess, http_ok, prometheus_command, write_prometheus_config
from collector._process import free_port
from collector._prometheus import PROMETHEUS_OTLP_PATH

__all__ = ["PrometheusServer"]

_HOST = "127.0.0.1"


class PrometheusServer:
    """One Prometheus child process (stopped by :meth:`stop` or the ``with`` block)."""

    def __init__(self, binary: Path, workdir: Path, *, ready_timeout: float = 60.0) -> None:
        self.binary = binary
        self.workdir = workdir
        self.port = free_port(_HOST)
        self.ready_timeout = ready_timeout
        self.process: ManagedProcess | None = None

    @property
    def url(self) -> str:
        """Base URL of the HTTP API (``/api/v1/query``)."""
        return f"http://{_HOST}:{self.port}"

    @property
    def otlp_endpoint(self) -> str:
        """What the collector's ``PROMETHEUS_OTLP_ENDPOINT`` is set to (the exporter appends ``/v1/metrics``)."""
        return f"{self.url}{PROMETHEUS_OTLP_PATH}"

    def start(self) -> PrometheusServer:
        """Start it and wait until ``/-/ready`` answers."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        config = write_prometheus_config(self.workdir / "prometheus.yml")
        command = prometheus_command(self.binary, config=config, data_dir=self.workdir / "data", port=self.port)
        self.process = ManagedProcess("prometheus", command, env=dict(os.environ), log_path=self.workdir / "prom.log")
        self.process.start()
        try:
            self.process.wait_ready(lambda: http_ok(f"{self.url}/-/ready"), timeout=self.ready_timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop it (SIGTERM, bounded wait, SIGKILL)."""
        if self.process is not None:
            self.process.stop()

    def __enter__(self) -> PrometheusServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()

    def log(self) -> str:
        """Its log so far (for assertion messages)."""
        return self.process.log_text() if self.process is not None else ""

    def query(self, expr: str) -> list[dict[str, Any]]:
        """An instant PromQL query's result vector (``[{"metric": {...}, "value": [ts, "v"]}, ...]``)."""
        answer = httpx.get(f"{self.url}/api/v1/query", params={"query": expr}, timeout=30)
        answer.raise_for_status()
        body = answer.json()
        assert body["status"] == "success", body
        result: list[dict[str, Any]] = body["data"]["result"]
        return result

    def values(self, expr: str, label: str) -> dict[str, float]:
        """``{label value: sample value}`` of an instant query grouped by one label (absent label -> "")."""
        return {row["metric"].get(label, ""): float(row["value"][1]) for row in self.query(expr)}

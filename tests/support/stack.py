# SPDX-License-Identifier: Apache-2.0
"""A real local stack for integration tests: ``owui-otelcol`` + Jaeger v2 + the Langfuse contract endpoint.

Every port is a loopback port chosen at run time, every file lives in ``workdir``, and :meth:`Stack.stop`
ends every child (SIGTERM, bounded wait, SIGKILL), so nothing is left behind even when a test fails.

Usage::

    from collector import build_collector, build_jaeger
    from tests.support.stack import Stack

    with Stack(collector_binary=build_collector(), jaeger_binary=build_jaeger(), workdir=tmp_path) as stack:
        exporter = OTLPSpanExporter(endpoint=stack.otlp_http_traces_url)      # send spans here
        ...
        stack.wait_for_langfuse_spans(1)
        trace = stack.jaeger_trace(trace_id_hex)

    # Fault injection / durability
    stack.langfuse_mode("rate_limit", retry_after=1, count=2)
    stack.stop_langfuse(); stack.kill_collector(); stack.start_collector(); stack.start_langfuse()

Test-only: it lives under ``tests/`` (not in the wheel) because it starts the repository's files, the contract
endpoint (:mod:`tests.support.langfuse_contract`) and ``otel-collector.yaml``.

The collector runs with ``configs`` (default: the repository's ``otel-collector.yaml``) and the env built by
:meth:`Stack.collector_env`; pass ``env`` to add or override variables (e.g. :data:`FAST_RETRY`).
"""

from __future__ import annotations

import dataclasses
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx
import yaml

from collector import EXPORTERS_FULL, CollectorAddresses, collector_env, jaeger_config, metric_samples, render_config
from collector._process import ManagedProcess, free_port, http_ok, wait_until

__all__ = ["FAST_RETRY", "RECEIVER_AUTH_OVERLAY", "REPO_ROOT", "ROOT_CONFIG", "Stack", "StackPorts"]

REPO_ROOT = Path(__file__).resolve().parents[2]
"""The repository checkout the tests run from (``tests/support/`` is two levels below it)."""
ROOT_CONFIG = REPO_ROOT / "otel-collector.yaml"
RECEIVER_AUTH_OVERLAY = REPO_ROOT / "collector" / "overlays" / "receiver-auth.yaml"
"""Layered after :data:`ROOT_CONFIG`: the receiver requires ``Authorization: Bearer $OTEL_INGEST_TOKEN``."""
FAST_RETRY = {
    "OTELCOL_RETRY_INITIAL_INTERVAL": "200ms",
    "OTELCOL_RETRY_MAX_INTERVAL": "1s",
    "OTELCOL_RETRY_MAX_ELAPSED": "5m",
}
"""``env`` for :class:`Stack`: exporter retries after 200 ms to 1 s (not 5 to 30 s), so recovery takes seconds."""
_HOST = "127.0.0.1"


def _http(port: int) -> str:
    return f"http://{_HOST}:{port}"


@dataclass(frozen=True, slots=True)
class StackPorts:
    """Loopback ports of one stack (all chosen at run time)."""

    otlp_grpc: int
    otlp_http: int
    health: int
    metrics: int
    langfuse: int
    jaeger_otlp_grpc: int
    jaeger_otlp_http: int
    jaeger_query: int
    jaeger_query_grpc: int
    prometheus: int

    @classmethod
    def allocate(cls) -> StackPorts:
        """Pick distinct free ports."""
        ports: list[int] = []
        while len(ports) < len(dataclasses.fields(cls)):
            port = free_port(_HOST)
            if port not in ports:
                ports.append(port)
        return cls(*ports)


class Stack:
    """Collector + optional Jaeger + optional Langfuse contract endpoint, as child processes."""

    def __init__(
        self,
        *,
        collector_binary: Path,
        workdir: Path,
        jaeger_binary: Path | None = None,
        configs: Sequence[Path] = (ROOT_CONFIG,),
        env: Mapping[str, str] | None = None,
        langfuse: bool = True,
        public_key: str = "pk-lf-test",
        secret_key: str = "sk-lf-test",
        ready_timeout: float = 60.0,
    ) -> None:
        """Prepare (nothing starts until :meth:`start`).

        Args:
            collector_binary: ``owui-otelcol`` (or ``otelcol-contrib``).
            workdir: private directory for logs, the queue and generated configs.
            jaeger_binary: start Jaeger too when given.
            configs: collector config files, merged in order.
            env: extra env for the collector (overrides the stack's own values).
            langfuse: start the Langfuse contract endpoint (its port is reserved either way).
            public_key: key pair the endpoint accepts and the collector sends.
            secret_key: see ``public_key``.
            ready_timeout: seconds each process may take to become ready.
        """
        self.ports = StackPorts.allocate()
        self.collector_binary = collector_binary
        self.jaeger_binary = jaeger_binary
        self.workdir = workdir
        self.configs = [Path(config) for config in configs]
        self.extra_env = dict(env or {})
        self.with_langfuse = langfuse
        self.public_key = public_key
        self.secret_key = secret_key
        self.ready_timeout = ready_timeout
        self.queue_dir = workdir / "queue"
        self.collector: ManagedProcess | None = None
        self.jaeger: ManagedProcess | None = None
        self.langfuse: ManagedProcess | None = None

    # --- addresses -----------------------------------------------------------------------

    @property
    def otlp_http_endpoint(self) -> str:
        """Base URL of the collector's OTLP/HTTP receiver."""
        return _http(self.ports.otlp_http)

    @property
    def otlp_http_traces_url(self) -> str:
        """Full traces URL for ``OTLPSpanExporter(endpoint=...)`` (the SDK does not append the path)."""
        return f"{self.otlp_http_endpoint}/v1/traces"

    @property
    def otlp_grpc_endpoint(self) -> str:
        """``host:port`` of the collector's OTLP/gRPC receiver."""
        return f"{_HOST}:{self.ports.otlp_grpc}"

    @property
    def langfuse_url(self) -> str:
        """Base URL of the Langfuse contract endpoint (what ``LANGFUSE_HOST`` is set to)."""
        return _http(self.ports.langfuse)

    @property
    def jaeger_query_url(self) -> str:
        """Base URL of Jaeger's query API."""
        return _http(self.ports.jaeger_query)

    def collector_env(self) -> dict[str, str]:
        """The collector's environment (:func:`collector.collector_env`): our ports and paths, then ``env``."""
        addresses = CollectorAddresses(
            host=_HOST,
            otlp_grpc_port=self.ports.otlp_grpc,
            otlp_http_port=self.ports.otlp_http,
            health_port=self.ports.health,
            metrics_port=self.ports.metrics,
            jaeger_otlp_endpoint=f"{_HOST}:{self.ports.jaeger_otlp_grpc}",
        )
        return collector_env(
            addresses,
            queue_dir=self.queue_dir,
            file_path=self.workdir / "traces.jsonl",
            langfuse_host=self.langfuse_url,
            langfuse_public_key=self.public_key,
            langfuse_secret_key=self.secret_key,
            # Without PROMETHEUS_OTLP_ENDPOINT in env the stack runs without the usage metrics (_collector_configs);
            # this default port of its own only keeps any other config from reaching a real :9090.
            overrides={"PROMETHEUS_OTLP_ENDPOINT": f"{_http(self.ports.prometheus)}/api/v1/otlp", **self.extra_env},
        )

    # --- lifecycle -----------------------------------------------------------------------

    def start(self) -> Stack:
        """Start Langfuse endpoint and Jaeger (if enabled), then the collector; wait until all are ready."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        try:
            if self.with_langfuse:
                self.start_langfuse()
            if self.jaeger_binary is not None:
                self._start_jaeger(self.jaeger_binary)
            self.start_collector()
        except BaseException:
            self.stop()
            raise
        return self

    def _start_jaeger(self, binary: Path) -> None:
        config = self.workdir / "jaeger.yaml"
        config.write_text(
            yaml.safe_dump(
                jaeger_config(
                    otlp_grpc_port=self.ports.jaeger_otlp_grpc,
                    otlp_http_port=self.ports.jaeger_otlp_http,
                    query_port=self.ports.jaeger_query,
                    query_grpc_port=self.ports.jaeger_query_grpc,
                ),
                sort_keys=False,
            ),
            encoding="utf-8",
        )
        self.jaeger = ManagedProcess(
            "jaeger",
            [str(binary), "--config", str(config)],
            env=dict(os.environ),
            log_path=self.workdir / "jaeger.log",
        )
        self._start(self.jaeger, f"{self.jaeger_query_url}/api/services")

    def start_langfuse(self) -> None:
        """(Re)start the contract endpoint on its reserved port; recorded data starts empty."""
        if self.langfuse is None:
            self.langfuse = ManagedProcess(
                "langfuse-contract",
                [
                    sys.executable,
                    "-m",
                    "tests.support.langfuse_contract",
                    "--host",
                    _HOST,
                    "--port",
                    str(self.ports.langfuse),
                ],
                # Keys by environment, never on the command line (which the log records).
                env={**os.environ, "LANGFUSE_PUBLIC_KEY": self.public_key, "LANGFUSE_SECRET_KEY": self.secret_key},
                log_path=self.workdir / "langfuse-contract.log",
                cwd=REPO_ROOT,
            )
        self._start(self.langfuse, f"{self.langfuse_url}/_control/health")

    def _collector_configs(self) -> list[Path]:
        """:attr:`configs`, with :data:`ROOT_CONFIG` rendered without the usage metrics unless the test gives a
        Prometheus (``PROMETHEUS_OTLP_ENDPOINT`` in ``env``): otherwise the metrics export would fail, and the failed
        exports and retries it logs would show up in what tests read (the doctor's delivery checks)."""
        if "PROMETHEUS_OTLP_ENDPOINT" in self.extra_env or ROOT_CONFIG not in self.configs:
            return self.configs
        traces_only = self.workdir / "otel-collector-traces-only.yaml"
        traces_only.write_text(render_config(EXPORTERS_FULL, metrics=False), encoding="utf-8")
        return [traces_only if config == ROOT_CONFIG else config for config in self.configs]

    def start_collector(self) -> None:
        """(Re)start the collector with the same configs, env and queue directory."""
        if self.collector is None:
            self.collector = ManagedProcess(
                "owui-otelcol",
                [str(self.collector_binary), *(f"--config={config.resolve()}" for config in self._collector_configs())],
                env=self.collector_env(),
                log_path=self.workdir / "collector.log",
            )
        self._start(self.collector, f"{_http(self.ports.health)}/")

    def _start(self, process: ManagedProcess, ready_url: str) -> None:
        """Start ``process`` (again) and wait until ``ready_url`` answers."""
        process.start()
        process.wait_ready(lambda: http_ok(ready_url), timeout=self.ready_timeout)

    def stop(self) -> None:
        """Stop everything that runs (collector first, so it stops exporting into stopped backends)."""
        for proc in (self.collector, self.jaeger, self.langfuse):
            if proc is not None:
                proc.stop()

    def __enter__(self) -> Stack:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def logs(self) -> str:
        """Tails of every log, for assertion messages."""
        parts = []
        for proc in (self.collector, self.jaeger, self.langfuse):
            if proc is not None:
                parts.append(f"--- {proc.name} ({proc.log_path})\n{proc.log_tail(60)}")
        return "\n".join(parts)

    # --- faults --------------------------------------------------------------------------

    def stop_langfuse(self) -> None:
        """Stop the endpoint: the collector then sees connection refused (a real outage)."""
        if self.langfuse is not None:
            self.langfuse.stop()

    def kill_collector(self) -> None:
        """SIGKILL the collector (no graceful shutdown, no queue flush)."""
        if self.collector is not None:
            self.collector.kill()

    # --- observation ---------------------------------------------------------------------

    def _wait(
        self,
        predicate: Callable[[], bool],
        *,
        timeout: float,
        interval: float,
        what: str,
        got: Callable[[], str] | None = None,
    ) -> None:
        """:func:`wait_until`, with ``got()`` and the log tails of every process in the timeout message."""
        try:
            wait_until(predicate, timeout=timeout, interval=interval, what=what)
        except TimeoutError as exc:
            raise TimeoutError(f"{exc}{got() if got else ''}\n{self.logs()}") from exc

    def langfuse_received(self) -> dict[str, Any]:
        """``GET /_control/received`` of the contract endpoint."""
        response = httpx.get(f"{self.langfuse_url}/_control/received", timeout=10.0)
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result

    def langfuse_mode(self, mode: str, **options: Any) -> dict[str, Any]:
        """Set fault injection (see :mod:`tests.support.langfuse_contract`)."""
        response = httpx.post(f"{self.langfuse_url}/_control/mode", json={"mode": mode, **options}, timeout=10.0)
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result

    def wait_for_langfuse_spans(self, count: int, *, timeout: float = 60.0) -> list[dict[str, Any]]:
        """Wait until the endpoint recorded at least ``count`` distinct span ids; return all recorded spans."""
        spans: list[dict[str, Any]] = []

        def enough() -> bool:
            nonlocal spans
            spans = self.langfuse_received()["spans"]
            return len({span["span_id"] for span in spans}) >= count

        what = f"{count} spans at the Langfuse endpoint"
        self._wait(enough, timeout=timeout, interval=0.25, what=what, got=lambda: f"; got {len(spans)}")
        return spans

    def jaeger_trace(self, trace_id: str) -> dict[str, Any] | None:
        """Jaeger's ``GET /api/traces/{id}`` result (``data[0]``), or None while not (yet) stored."""
        try:
            response = httpx.get(f"{self.jaeger_query_url}/api/traces/{trace_id}", timeout=5.0)
        except httpx.HTTPError:
            return None
        if response.status_code != 200:
            return None
        data = response.json().get("data") or []
        return data[0] if data else None

    def wait_for_jaeger_trace(self, trace_id: str, *, spans: int = 1, timeout: float = 60.0) -> dict[str, Any]:
        """Wait until Jaeger returns ``trace_id`` with at least ``spans`` spans."""
        found: dict[str, Any] = {}

        def stored() -> bool:
            trace = self.jaeger_trace(trace_id)
            if trace is None or len(trace.get("spans", [])) < spans:
                return False
            found.update(trace)
            return True

        self._wait(stored, timeout=timeout, interval=0.25, what=f"trace {trace_id} in Jaeger")
        return found

    def collector_metric(self, name: str, **labels: str) -> float:
        """Sum of a collector self-metric over the series whose labels include ``labels`` (0.0 if absent)."""
        try:
            text = httpx.get(f"{_http(self.ports.metrics)}/metrics", timeout=5.0).text
        except httpx.HTTPError:
            return 0.0
        samples = metric_samples(text, [name])
        return sum(value for found, value in samples if all(found.get(k) == v for k, v in labels.items()))

    def wait_metric(self, name: str, minimum: float, *, timeout: float = 30.0, **labels: str) -> float:
        """Wait until :meth:`collector_metric` reaches ``minimum``; return the value."""
        value = 0.0

        def reached() -> bool:
            nonlocal value
            value = self.collector_metric(name, **labels)
            return value >= minimum

        self._wait(reached, timeout=timeout, interval=0.2, what=f"{name}{labels} >= {minimum}")
        return value

# SPDX-License-Identifier: Apache-2.0
"""What the usage metrics cost the collector: CPU and memory per 1,000 turns/s, metrics on vs off, side by side.

Two ``owui-otelcol`` processes run at the same time with the same rendered config (``--exporters langfuse``, the
production Langfuse pipeline to the local sink), one with the usage metrics (``signal_to_metrics`` ->
``delta_to_cumulative`` -> a real Prometheus over OTLP) and one rendered ``--no-metrics``. A producer runs turns
through :class:`otel_filter.FilterCore` (short chat, content on) paced at 1,000 turns/s into one collector at a
time, in the order off on on off (A B B A, cancelling drift); the other idles. For each run: the collector's CPU
seconds (user + system, /proc) from the first turn until the sink has every span, divided by thousands of turns =
CPU cores per 1,000 turns/s; its resident memory (VmRSS) after the run and its peak (VmHWM).
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks._common import Sink, abba, short_chat
from benchmarks._throughput import _produce
from collector import build_collector, build_prometheus, render_config
from otel_filter import FilterCore
from tests.support.prometheus import PrometheusServer
from tests.support.stack import Stack

RATE = 1000.0
"""Turns per second the producer is paced at (the figures are per 1,000 turns/s)."""


def _proc(pid: int | None) -> tuple[float, float, float]:
    """(CPU seconds, VmRSS MiB, VmHWM MiB) of a process, from /proc (zeros where unavailable)."""
    if pid is None:
        return 0.0, 0.0, 0.0
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0.0, 0.0, 0.0
    cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    memory = {line.split(":")[0]: int(line.split()[1]) / 1024 for line in status.splitlines() if line.startswith("Vm")}
    return cpu, memory.get("VmRSS", 0.0), memory.get("VmHWM", 0.0)


def _one_run(name: str, stack: Stack, sink: Sink, seconds: float) -> dict[str, Any]:
    scenario = short_chat()
    core = FilterCore(
        {"otlp_endpoint": stack.otlp_http_endpoint, "capture_message_content": True}, host="bridge", environ={}
    )
    own = scenario.fresh_copy()
    pid = stack.collector.pid if stack.collector is not None else None
    sink.reset()
    cpu_before, _, _ = _proc(pid)
    try:
        turns, elapsed = _produce(lambda: own.play(core), seconds, RATE)
        core.force_flush()
        counts = sink.wait_for(turns, timeout=60.0, settle=3.0)
    finally:
        core.shutdown()
    cpu_after, rss, hwm = _proc(pid)
    return {
        "name": name,
        "turns": turns,
        "turns_per_s": turns / elapsed,
        "received": counts["distinct"],
        "cpu_s": cpu_after - cpu_before,
        "cores_per_1000_turns_per_s": (cpu_after - cpu_before) / (turns / 1000.0),
        "rss_mib": rss,
        "peak_rss_mib": hwm,
    }


def _turns_stored(prometheus: PrometheusServer, expected: int, timeout: float = 30.0) -> float:
    """Turns Prometheus counted (``openwebui_turns_total``), once it reaches ``expected`` or after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        rows = prometheus.query("sum(openwebui_turns_total)")
        stored = float(rows[0]["value"][1]) if rows else 0.0
        if stored >= expected or time.monotonic() > deadline:
            return stored
        time.sleep(0.5)


def _stack(binary: Path, workdir: Path, *, metrics: bool, sink: Sink, prometheus: PrometheusServer) -> Stack:
    config = workdir / "collector.yaml"
    workdir.mkdir(parents=True)
    config.write_text(render_config(["langfuse"], metrics=metrics), encoding="utf-8")
    env = {"LANGFUSE_HOST": sink.url, "OTELCOL_LOG_LEVEL": "warn", "PROMETHEUS_OTLP_ENDPOINT": prometheus.otlp_endpoint}
    return Stack(collector_binary=binary, workdir=workdir, configs=[config], langfuse=False, env=env)


def run(*, quick: bool, log: Callable[[str], None]) -> dict[str, Any]:
    seconds = 2.0 if quick else 10.0
    rounds = 1 if quick else 2
    binary = build_collector()
    runs: list[dict[str, Any]] = []
    with (
        tempfile.TemporaryDirectory(prefix="owui-otel-bench-metrics-") as tmp,
        Sink() as sink,
        PrometheusServer(build_prometheus(), Path(tmp) / "prometheus") as prometheus,
    ):
        stacks = {
            "off": _stack(binary, Path(tmp) / "off", metrics=False, sink=sink, prometheus=prometheus),
            "on": _stack(binary, Path(tmp) / "on", metrics=True, sink=sink, prometheus=prometheus),
        }
        for stack in stacks.values():
            stack.start()
        try:
            for _, name in abba(["off", "on"], rounds):
                result = _one_run(name, stacks[name], sink, seconds)
                runs.append(result)
                log(
                    f"  metrics {name}: {result['turns']} turns at {result['turns_per_s']:.0f}/s, received "
                    f"{result['received']}, collector {result['cpu_s']:.2f} CPU s = "
                    f"{result['cores_per_1000_turns_per_s']:.3f} cores per 1,000 turns/s, "
                    f"RSS {result['rss_mib']:.1f} MiB (peak {result['peak_rss_mib']:.1f})"
                )
            stored = _turns_stored(prometheus, sum(r["turns"] for r in runs if r["name"] == "on"))
        finally:
            for stack in stacks.values():
                stack.stop()

    def mean(name: str, key: str) -> float:
        values = [r[key] for r in runs if r["name"] == name]
        return sum(values) / len(values)

    on_cpu, off_cpu = mean("on", "cores_per_1000_turns_per_s"), mean("off", "cores_per_1000_turns_per_s")
    return {
        "metrics_on_cores_per_1000_tps": on_cpu,
        "metrics_off_cores_per_1000_tps": off_cpu,
        "metrics_cpu_ratio": on_cpu / off_cpu if off_cpu else None,
        "metrics_on_rss_mib": max(r["rss_mib"] for r in runs if r["name"] == "on"),
        "metrics_off_rss_mib": max(r["rss_mib"] for r in runs if r["name"] == "off"),
        "metrics_on_peak_rss_mib": max(r["peak_rss_mib"] for r in runs if r["name"] == "on"),
        "metrics_off_peak_rss_mib": max(r["peak_rss_mib"] for r in runs if r["name"] == "off"),
        "metrics_lost": sum(r["turns"] - r["received"] for r in runs),
        "metrics_turns_sent_with_metrics_on": sum(r["turns"] for r in runs if r["name"] == "on"),
        "metrics_turns_in_prometheus": stored,
        "metrics_runs": runs,
    }

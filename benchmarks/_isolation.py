# SPDX-License-Identifier: Apache-2.0
"""Request-path isolation: hook latency with the collector up, blackholed, and down.

Three :class:`otel_filter.FilterCore` instances in one process, identical but for their OTLP endpoint:

* ``up``: the real collector (owui-otelcol, Langfuse pipeline -> local sink; see :mod:`benchmarks._stack`);
* ``blackholed``: a listening TCP socket that never accepts nor answers (connect succeeds into the backlog, the
  request is never read: the exporter waits for its timeout);
* ``down``: a loopback port nobody listens on (connection refused; the exporter backs off and retries).

Before measuring, each core runs more turns than its export queue holds (8192), unmeasured, so ``blackholed`` and
``down`` are in their steady state (queue full, every new span pushes the oldest out) and ``up`` has warmed up its
connection. Then turns are paced at a fixed rate and every hook call (inlet and outlet separately) is timed; the
conditions alternate in A B C / C B A batches. Latency percentiles pool all hook calls of a condition.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from typing import Any

from benchmarks._common import HOST, Scenario, abba, median, percentile, short_chat
from benchmarks._stack import collector_to_sink
from otel_filter import FilterCore
from tests.support.otlp_sink import dead_endpoint

PREFILL_TURNS = 9000  # > the filter's export queue (8192)


def _paced_batch(
    core: FilterCore, scenario: Scenario, turns: int, rate: float, samples: list[int], outlets: list[int] | None = None
) -> None:
    scenario_turn = scenario.turn
    perf = time.perf_counter_ns
    interval = 1e9 / rate
    next_at: float = perf()
    for _ in range(turns):
        now = perf()
        if now < next_at:
            time.sleep((next_at - now) / 1e9)
        next_at += interval
        inlet_body, inlet_user, outlet_body, outlet_user = scenario_turn()
        start = perf()
        core.inlet(inlet_body, inlet_user)
        middle = perf()
        core.outlet(outlet_body, outlet_user)
        end = perf()
        samples.append(middle - start)
        samples.append(end - middle)
        if outlets is not None:
            outlets.append(end - middle)


def run(*, quick: bool, log: Callable[[str], None]) -> dict[str, Any]:
    # Many short batches: bursts of load from other processes on a shared machine then hit every condition.
    rounds = 6 if quick else 30
    batch = 100 if quick else 200
    rate = 1000.0
    scenario = short_chat()
    # Not tests.support.otlp_sink.Blackhole: its backlog is 1024, the figures were measured with backlog 0.
    blackhole = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    blackhole.bind((HOST, 0))
    blackhole.listen(0)  # never accept(): connections sit in the backlog, requests are never read
    down = dead_endpoint()  # bound and released: nothing listens there
    cores: dict[str, FilterCore] = {}
    samples: dict[str, list[int]] = {"up": [], "blackholed": [], "down": []}
    outlets: dict[str, list[int]] = {name: [] for name in samples}
    per_round: dict[str, list[float]] = {name: [] for name in samples}
    result: dict[str, Any] = {}
    try:
        with collector_to_sink() as (stack, _sink):
            endpoints = {
                "up": stack.otlp_http_endpoint,
                "blackholed": f"http://{HOST}:{blackhole.getsockname()[1]}",
                "down": down,
            }
            for name, endpoint in endpoints.items():
                cores[name] = FilterCore(
                    {"otlp_endpoint": endpoint, "capture_message_content": True}, host="bridge", environ={}
                )
            prefill = 300 if quick else PREFILL_TURNS
            for name, core in cores.items():
                _paced_batch(core, scenario, prefill, 1e9, [])
                if name == "up":
                    core.force_flush()
            for _, name in abba(list(cores), rounds):
                batch_samples: list[int] = []
                _paced_batch(cores[name], scenario, batch, rate, batch_samples, outlets[name])
                samples[name].extend(batch_samples)
                per_round[name].append(percentile(batch_samples, 99))
                if name == "up":
                    cores[name].force_flush()  # its export work stays inside its own batches
            health = {name: core.health.snapshot() for name, core in cores.items()}
    finally:
        blackhole.close()  # pending connections are reset: the stuck exporter returns at once
        for core in cores.values():
            core.shutdown(timeout_s=0.5)
    for name, values in samples.items():
        result[f"isolation_{name}_p50_us"] = percentile(values, 50) / 1000
        result[f"isolation_{name}_p99_us"] = percentile(values, 99) / 1000
        result[f"isolation_{name}_outlet_p50_us"] = percentile(outlets[name], 50) / 1000
        result[f"isolation_{name}_hooks"] = len(values)
    result["isolation_p99_ratio"] = result["isolation_blackholed_p99_us"] / result["isolation_up_p99_us"]
    result["isolation_down_p99_ratio"] = result["isolation_down_p99_us"] / result["isolation_up_p99_us"]
    result["isolation_p50_ratio"] = result["isolation_blackholed_p50_us"] / result["isolation_up_p50_us"]
    result["isolation_down_p50_ratio"] = result["isolation_down_p50_us"] / result["isolation_up_p50_us"]
    result["isolation_outlet_p50_ratio"] = (
        result["isolation_blackholed_outlet_p50_us"] / result["isolation_up_outlet_p50_us"]
    )
    result["isolation_p99_ratio_median_of_rounds"] = median(
        [b / u for b, u in zip(per_round["blackholed"], per_round["up"], strict=True)]
    )
    result["isolation_health"] = health
    log(
        "  hook latency p50/p99 us: "
        + ", ".join(
            f"{name} {result[f'isolation_{name}_p50_us']:.0f}/{result[f'isolation_{name}_p99_us']:.0f}"
            for name in samples
        )
    )
    log(f"  filter counters: {health}")
    return result

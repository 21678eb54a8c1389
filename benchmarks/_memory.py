# SPDX-License-Identifier: Apache-2.0
"""Memory: bytes per open turn (tracemalloc) and RSS across many turns (a child process).

**Bytes per open turn** (content off): with ``tracemalloc`` tracing, N inlet bodies are parsed from JSON (fresh
strings and dicts, as a real request has), N inlets run (no outlets), the bodies are dropped and a full GC runs;
the traced-memory growth divided by N is what each open turn keeps alive: the filter's own records *and* the
payload strings it still references. The seed's filter is measured the same way (its open trace per chat).

**RSS across turns**: ``python -m benchmarks._memory --rss-child N`` runs N turns (inlet + outlet, short chat,
default valves: content on) through :class:`otel_filter.FilterCore` with an injected provider whose
BatchSpanProcessor (queue 8192, the filter's setting) feeds a no-op exporter: the filter and the SDK's span path
in full, without network encoding, so a million turns fit in a few minutes. RSS is sampled every 1 % of the turns;
growth is measured from the sample at 10 % (warm) to the end.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

from benchmarks._common import REPO, NoopExporter, rss_bytes, short_chat


def _bodies(template: dict[str, Any], count: int, prefix: str, chat_per_turn: bool) -> list[dict[str, Any]]:
    text = json.dumps(template)
    bodies = []
    for i in range(count):
        body = json.loads(text)
        body["body"]["metadata"]["message_id"] = f"{prefix}-{i:012d}"
        if chat_per_turn:
            body["body"]["metadata"]["chat_id"] = f"chat-{prefix}-{i:012d}"
        bodies.append(body)
    return bodies


def _traced_growth(
    count: int,
    setup: Callable[[], Any],
    open_turn: Callable[[Any, dict[str, Any]], None],
    template: dict[str, Any],
    *,
    chat_per_turn: bool,
    settle: Callable[[Any], object] = lambda _: None,
) -> float:
    target = setup()
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        bodies = _bodies(template, count, "m", chat_per_turn)
        for item in bodies:
            open_turn(target, item)
        del bodies, item
        settle(target)  # spans already ended must not count as held by open turns
        gc.collect()
        after = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    return (after - before) / count


def bytes_per_open_turn(count: int) -> float:
    from opentelemetry.sdk.trace import TracerProvider  # noqa: PLC0415
    from opentelemetry.sdk.trace.export import BatchSpanProcessor  # noqa: PLC0415

    from otel_filter import FilterCore  # noqa: PLC0415

    def setup() -> FilterCore:
        provider = TracerProvider()
        provider.add_span_processor(BatchSpanProcessor(NoopExporter()))
        core = FilterCore(
            {"capture_message_content": False, "max_open_turns": count + 1},
            host="bridge",
            tracer_provider=provider,
            environ={},
        )
        warm = short_chat().turn()
        core.inlet(warm[0], warm[1])  # imports, caches and the sweeper thread before tracing starts
        core.outlet(warm[2], warm[3])
        return core

    def open_turn(core: FilterCore, item: dict[str, Any]) -> None:
        core.inlet(item["body"], item.get("user"))

    core_holder: list[FilterCore] = []

    def setup_and_keep() -> FilterCore:
        core_holder.append(setup())
        return core_holder[0]

    try:
        result = _traced_growth(count, setup_and_keep, open_turn, short_chat().inlet, chat_per_turn=False)
        if core_holder[0].open_turns < count:
            raise RuntimeError(f"only {core_holder[0].open_turns} of {count} turns stayed open")
        return result
    finally:
        for core in core_holder:
            core.shutdown(timeout_s=1.0)


def seed_bytes_per_open_turn(count: int) -> float:
    """The seed keeps an open root observation per chat until its outlet (one chat per turn here)."""
    from benchmarks._common import Sink  # noqa: PLC0415
    from benchmarks._seed_langfuse import SeedLangfuseFilter  # noqa: PLC0415

    server = Sink()
    seeds: list[SeedLangfuseFilter] = []
    try:

        def setup() -> SeedLangfuseFilter:
            seed = SeedLangfuseFilter(server.url)
            warm = short_chat()
            inlet_body, inlet_user, outlet_body, outlet_user = warm.turn()
            seed.inlet(inlet_body, inlet_user)
            seed.outlet(outlet_body, outlet_user)
            seeds.append(seed)
            return seed

        def open_turn(seed: SeedLangfuseFilter, item: dict[str, Any]) -> None:
            seed.inlet(item["body"], item.get("user"))

        return _traced_growth(
            count, setup, open_turn, short_chat().inlet, chat_per_turn=True, settle=lambda s: s.langfuse.flush()
        )
    finally:
        for seed in seeds:
            seed.shutdown()
        server.stop()


def rss_child(turns: int) -> dict[str, Any]:
    from opentelemetry.sdk.trace import TracerProvider  # noqa: PLC0415
    from opentelemetry.sdk.trace.export import BatchSpanProcessor  # noqa: PLC0415

    from otel_filter import FilterCore  # noqa: PLC0415
    from otel_filter._telemetry import DEFAULT_MAX_QUEUE_SIZE  # noqa: PLC0415

    exporter = NoopExporter()
    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(exporter, max_queue_size=DEFAULT_MAX_QUEUE_SIZE))
    core = FilterCore({}, host="bridge", tracer_provider=provider, environ={})
    scenario = short_chat()
    step = max(turns // 100, 1)
    samples: list[tuple[int, int]] = [(0, rss_bytes())]
    start = time.perf_counter()
    for i in range(1, turns + 1):
        inlet_body, inlet_user, outlet_body, outlet_user = scenario.turn()
        core.inlet(inlet_body, inlet_user)
        core.outlet(outlet_body, outlet_user)
        if i % step == 0:
            samples.append((i, rss_bytes()))
    elapsed = time.perf_counter() - start
    provider.force_flush()
    counters = core.health.snapshot()
    core.shutdown()
    return {
        "turns": turns,
        "seconds": elapsed,
        "samples": samples,
        "exported": exporter.exported,
        "counters": counters,
        "open_turns": core.open_turns,
    }


def start_rss(turns: int) -> subprocess.Popen[str]:
    """Start the RSS child at nice 19: it only takes CPU the other sections leave idle (see BENCHMARKS.md)."""
    return subprocess.Popen(
        [sys.executable, "-m", "benchmarks._memory", "--rss-child", str(turns)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: os.nice(19),
    )


def finish_rss(proc: subprocess.Popen[str], log: Callable[[str], None]) -> dict[str, Any]:
    """Wait for the RSS child and turn its samples into figures."""
    started = time.monotonic()
    stdout, stderr = proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"RSS child failed ({proc.returncode}): {stderr[-2000:]}")
    child = json.loads(stdout.strip().splitlines()[-1])
    samples = child["samples"]
    warm_index = max(1, len(samples) // 10)
    warm_turns, warm_rss = samples[warm_index]
    end_turns, end_rss = samples[-1]
    peak = max(r for _, r in samples[warm_index:])
    result: dict[str, Any] = {
        "rss_growth_pct": (end_rss - warm_rss) / warm_rss * 100,
        "rss_peak_over_warm_pct": (peak - warm_rss) / warm_rss * 100,
        "rss_warm_mb": warm_rss / 2**20,
        "rss_end_mb": end_rss / 2**20,
        "rss_warm_at_turn": warm_turns,
        "rss_turns": end_turns,
        "rss_spans_exported": child["exported"],
        "rss_child_seconds": child["seconds"],
        "rss_samples_mb": [round(r / 2**20, 2) for _, r in samples[:: max(1, len(samples) // 20)]],
    }
    log(
        f"  RSS {warm_rss / 2**20:.1f} MB at turn {warm_turns:,} -> {end_rss / 2**20:.1f} MB at {end_turns:,} "
        f"(peak {peak / 2**20:.1f} MB); child ran {child['seconds']:.0f} s (waited {time.monotonic() - started:.0f} s "
        f"at the end); spans exported {child['exported']:,}, open turns at end {child['open_turns']}"
    )
    return result


def run(*, quick: bool, log: Callable[[str], None]) -> dict[str, Any]:
    """Bytes per open turn, ours and the seed's (the RSS run is started/finished by run.py around all sections)."""
    open_count = 1000 if quick else 10_000
    seed_count = 30 if quick else 300
    per_turn = bytes_per_open_turn(open_count)
    seed_per_turn = seed_bytes_per_open_turn(seed_count)
    log(f"  bytes per open turn: ours {per_turn:.0f} (N={open_count}), seed {seed_per_turn:.0f} (N={seed_count})")
    return {
        "bytes_per_open_turn": per_turn,
        "seed_bytes_per_open_turn": seed_per_turn,
        "seed_vs_ours_bytes_per_open_turn": seed_per_turn / per_turn if per_turn > 0 else None,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks._memory")
    parser.add_argument("--rss-child", type=int, required=True, help="turns to run; prints one JSON line")
    args = parser.parse_args(argv)
    from benchmarks._common import quiet_logging  # noqa: PLC0415

    quiet_logging()
    print(json.dumps(rss_child(args.rss_child)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

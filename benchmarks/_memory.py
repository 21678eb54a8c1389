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

from benchmarks._common import REPO, Hooks, NoopExporter, Sink, noop_provider, quiet_logging, rss_bytes, short_chat
from otel_filter import FilterCore


def _bodies(template: dict[str, Any], count: int, chat_per_turn: bool) -> list[dict[str, Any]]:
    text = json.dumps(template)
    bodies = []
    for i in range(count):
        body = json.loads(text)
        body["body"]["metadata"]["message_id"] = f"m-{i:012d}"
        if chat_per_turn:
            body["body"]["metadata"]["chat_id"] = f"chat-m-{i:012d}"
        bodies.append(body)
    return bodies


def _traced_growth(
    hooks: Hooks, count: int, *, chat_per_turn: bool, settle: Callable[[], object] = lambda: None
) -> float:
    """Traced-memory growth per open turn: ``count`` inlets (no outlets) through ``hooks``, after one warm turn."""
    short_chat().play(hooks)  # imports, caches, threads and connections before tracing starts
    template = short_chat().inlet
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        bodies = _bodies(template, count, chat_per_turn)
        for item in bodies:
            hooks.inlet(item["body"], item.get("user"))
        del bodies, item
        settle()  # spans already ended must not count as held by open turns
        gc.collect()
        after = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    return (after - before) / count


def bytes_per_open_turn(count: int) -> float:
    core = FilterCore(
        {"capture_message_content": False, "max_open_turns": count + 1},
        host="bridge",
        tracer_provider=noop_provider(),
        environ={},
    )
    try:
        result = _traced_growth(core, count, chat_per_turn=False)
        if core.open_turns < count:
            raise RuntimeError(f"only {core.open_turns} of {count} turns stayed open")
        return result
    finally:
        core.shutdown(timeout_s=1.0)


def seed_bytes_per_open_turn(count: int) -> float:
    """The seed keeps an open root observation per chat until its outlet (one chat per turn here)."""
    from benchmarks._seed_langfuse import SeedLangfuseFilter  # noqa: PLC0415 (langfuse stays out of the RSS child)

    with Sink() as server:
        seed = SeedLangfuseFilter(server.url)
        try:
            return _traced_growth(seed, count, chat_per_turn=True, settle=seed.langfuse.flush)
        finally:
            seed.shutdown()


def rss_child(turns: int) -> dict[str, Any]:
    exporter = NoopExporter()
    provider = noop_provider(exporter)
    core = FilterCore({}, host="bridge", tracer_provider=provider, environ={})
    scenario = short_chat()
    step = max(turns // 100, 1)
    samples: list[tuple[int, int]] = [(0, rss_bytes())]
    start = time.perf_counter()
    for i in range(1, turns + 1):
        scenario.play(core)
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
    quiet_logging()
    print(json.dumps(rss_child(args.rss_child)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

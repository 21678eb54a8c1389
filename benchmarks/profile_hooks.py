# SPDX-License-Identifier: Apache-2.0
"""Profile the filter's hooks on the benchmark payloads: ``python benchmarks/profile_hooks.py [options]``.

Runs inlet + outlet through :class:`otel_filter.FilterCore` (injected provider: BatchSpanProcessor -> no-op
exporter, so only the request path is profiled) under cProfile and prints the top functions. ``--floor`` also
times the bare-SDK floor for the same attributes, and ``--parts`` times the filter's building blocks one by one
(no profiler overhead), to attribute the gap.

    python benchmarks/profile_hooks.py --chat long --content on --sort tottime
    python benchmarks/profile_hooks.py --parts
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
import time
from collections.abc import Callable
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from opentelemetry.sdk.trace import TracerProvider  # noqa: E402

from benchmarks._common import Scenario, long_chat, noop_provider, short_chat  # noqa: E402
from benchmarks._overhead import captured_span, floor_span  # noqa: E402
from otel_filter import FilterCore  # noqa: E402


def _best_us(fn: Callable[[], object], n: int = 2000, repeat: int = 5) -> float:
    for _ in range(min(n, 200)):
        fn()
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter_ns()
        for _ in range(n):
            fn()
        best = min(best, (time.perf_counter_ns() - start) / n / 1000)
    return best


def _core(content: bool) -> FilterCore:
    return FilterCore({"capture_message_content": content}, host="bridge", tracer_provider=noop_provider(), environ={})


def _floor(scenario: Scenario, content: bool) -> tuple[TracerProvider, Callable[[], None]]:
    """The bare-SDK floor for ``scenario``'s span, on a no-op export path like :func:`_core`'s."""
    name, attributes = captured_span(scenario.fresh_copy(), content)
    provider = noop_provider()
    return provider, floor_span(provider, name, attributes)


def parts(scenario: Scenario, content: bool) -> None:
    from otel_filter._content import input_content  # noqa: PLC0415
    from otel_filter._extract import (  # noqa: PLC0415
        conversation_fingerprints,
        extract_request,
        extract_result,
        last_assistant,
    )
    from otel_filter._redact import Redactor  # noqa: PLC0415
    from otel_filter._usage import reply_usage  # noqa: PLC0415

    inlet_body, inlet_user, outlet_body, outlet_user = scenario.turn()
    core = _core(content)
    provider, floor = _floor(scenario, content)
    reply = last_assistant(outlet_body["messages"]) or {}
    rows = [
        ("turn (inlet+outlet)", lambda: scenario.play(core)),
        ("floor: start_span+end", floor),
        ("extract_request", lambda: extract_request(inlet_body, inlet_user)),
        ("extract_result", lambda: extract_result(outlet_body, outlet_user)),
        ("conversation_fingerprints(inlet)", lambda: conversation_fingerprints(inlet_body["messages"])),
        ("conversation_fingerprints(outlet)", lambda: conversation_fingerprints(outlet_body["messages"])),
        ("reply_usage", lambda: reply_usage(reply)),
        ("input_content", lambda: input_content(inlet_body["messages"], Redactor((), "x"), 20_000)),
    ]
    print(f"{scenario.name} chat, content {'on' if content else 'off'}: best of 5, us per call")
    for label, fn in rows:
        print(f"  {label:<36} {_best_us(fn):8.1f}")
    core.shutdown()
    provider.shutdown()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python benchmarks/profile_hooks.py", description=__doc__.splitlines()[0])
    parser.add_argument("--chat", choices=("short", "long"), default="short")
    parser.add_argument("--content", choices=("on", "off"), default="off")
    parser.add_argument("--turns", type=int, default=5000)
    parser.add_argument("--sort", default="cumulative", help="pstats sort key (cumulative, tottime, ...)")
    parser.add_argument("--limit", type=int, default=35)
    parser.add_argument("--parts", action="store_true", help="time the building blocks instead of profiling")
    args = parser.parse_args(argv)
    scenario = short_chat() if args.chat == "short" else long_chat()
    content = args.content == "on"
    if args.parts:
        parts(scenario, content)
        return 0
    core = _core(content)

    def run(turns: int) -> None:
        for _ in range(turns):
            scenario.play(core)

    run(500)
    profiler = cProfile.Profile()
    profiler.runcall(run, args.turns)
    core.shutdown()
    pstats.Stats(profiler).sort_stats(args.sort).print_stats(args.limit)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

# SPDX-License-Identifier: Apache-2.0
"""Profile the filter's hooks on the benchmark payloads: ``python benchmarks/profile_hooks.py [options]``.

Runs inlet + outlet through :class:`otel_filter.FilterCore` (injected provider: BatchSpanProcessor -> no-op
exporter, so only the request path is profiled) under cProfile and prints the top functions. ``--floor`` also
times the bare-SDK floor for the same attributes, and ``--parts`` times the filter's building blocks one by one
(no profiler overhead), to attribute the gap.

    python benchmarks/profile_hooks.py --chat long --content on --sort tottime
    python benchmarks/profile_hooks.py --parts
    python benchmarks/profile_hooks.py --what-if      # estimated gains of the fixes suggested in BENCHMARKS.md

``--what-if`` is an experiment, not a benchmark: it monkeypatches private functions of ``otel_filter`` with the
suggested changes (an upper bound where noted) and times each variant against the unchanged filter, interleaved,
on the same payloads. Once the filter changes, it may no longer apply (it then says so).
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import statistics
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from opentelemetry.context import Context  # noqa: E402
from opentelemetry.sdk.trace import TracerProvider  # noqa: E402
from opentelemetry.sdk.trace.export import BatchSpanProcessor  # noqa: E402
from opentelemetry.trace import SpanKind  # noqa: E402

from benchmarks._common import NoopExporter, Scenario, long_chat, short_chat  # noqa: E402
from benchmarks._overhead import captured_span  # noqa: E402
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
    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(NoopExporter(), max_queue_size=8192))
    return FilterCore({"capture_message_content": content}, host="bridge", tracer_provider=provider, environ={})


def parts(scenario: Scenario, content: bool) -> None:
    from otel_filter._content import Redactor, input_content  # noqa: PLC0415
    from otel_filter._extract import (  # noqa: PLC0415
        conversation_fingerprints,
        extract_request,
        extract_result,
        last_assistant,
        reply_usage,
    )

    inlet_body, inlet_user, outlet_body, outlet_user = scenario.turn()
    core = _core(content)

    def turn() -> None:
        a, b, c, d = scenario.turn()
        core.inlet(a, b)
        core.outlet(c, d)

    name, attributes = captured_span(scenario.fresh_copy(), content)
    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(NoopExporter(), max_queue_size=8192))
    tracer = provider.get_tracer("floor")
    root = Context()
    reply = last_assistant(outlet_body["messages"]) or {}
    rows = [
        ("turn (inlet+outlet)", turn),
        (
            "floor: start_span+end",
            lambda: tracer.start_span(name, context=root, kind=SpanKind.CLIENT, attributes=attributes).end(),
        ),
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


def _dict_fast_get(mapping: object, *path: str) -> object:
    current = mapping
    for key in path:
        if current.__class__ is dict:
            current = current.get(key)
        elif current is None or not isinstance(current, Mapping):
            return None
        else:
            current = current.get(key)
    return current


def _dict_fast_as_dict(value: object) -> Mapping[str, Any] | None:
    if value.__class__ is dict:
        return value
    return value if value is not None and isinstance(value, Mapping) else None


def what_if(turns: int, rounds: int) -> None:
    """Time the unchanged filter against patched variants, interleaved (A B C D / D C B A ...), medians."""
    import otel_filter._extract as extract  # noqa: PLC0415

    original = {name: getattr(extract, name, None) for name in ("_get", "as_dict", "conversation_fingerprints")}
    if None in original.values():
        print("what-if: otel_filter._extract no longer has _get/as_dict/conversation_fingerprints; skipped")
        return
    variants: dict[str, dict[str, Any]] = {
        "unchanged": {},
        "dict fast path (_get, as_dict)": {"_get": _dict_fast_get, "as_dict": _dict_fast_as_dict},
        "no fingerprints (upper bound of lazy)": {"conversation_fingerprints": lambda _messages: (None, None)},
        "both": {
            "_get": _dict_fast_get,
            "as_dict": _dict_fast_as_dict,
            "conversation_fingerprints": lambda _messages: (None, None),
        },
    }
    for make in (short_chat, long_chat):
        for content in (False, True):
            _what_if_one(extract, make(), content, original, variants, turns, rounds)


def _what_if_one(
    extract: Any,
    scenario: Scenario,
    content: bool,
    original: dict[str, Any],
    variants: dict[str, dict[str, Any]],
    turns: int,
    rounds: int,
) -> None:
    core = _core(content)
    name, attributes = captured_span(scenario.fresh_copy(), content)
    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(NoopExporter(), max_queue_size=8192))
    tracer = provider.get_tracer("floor")
    root = Context()
    times: dict[str, list[float]] = {label: [] for label in [*variants, "floor"]}

    def turn() -> None:
        a, b, c, d = scenario.turn()
        core.inlet(a, b)
        core.outlet(c, d)

    def floor() -> None:
        scenario.turn()
        tracer.start_span(name, context=root, kind=SpanKind.CLIENT, attributes=attributes).end()

    labels = list(times)
    try:
        for r in range(rounds):
            for label in labels if r % 2 == 0 else reversed(labels):
                for attr, value in original.items():
                    setattr(extract, attr, value)
                for attr, value in variants.get(label, {}).items():
                    setattr(extract, attr, value)
                fn = floor if label == "floor" else turn
                start = time.perf_counter_ns()
                for _ in range(turns):
                    fn()
                times[label].append((time.perf_counter_ns() - start) / turns / 1000)
    finally:
        for attr, value in original.items():
            setattr(extract, attr, value)
        core.shutdown()
        provider.shutdown()
    floor_us = statistics.median(times["floor"])
    print(f"{scenario.name} chat, content {'on' if content else 'off'} (median of {rounds}, us per turn)")
    for label in labels:
        value = statistics.median(times[label])
        print(f"  {label:<40} {value:7.1f}  {value / floor_us:5.2f}x floor")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python benchmarks/profile_hooks.py", description=__doc__.splitlines()[0])
    parser.add_argument("--chat", choices=("short", "long"), default="short")
    parser.add_argument("--content", choices=("on", "off"), default="off")
    parser.add_argument("--turns", type=int, default=5000)
    parser.add_argument("--sort", default="cumulative", help="pstats sort key (cumulative, tottime, ...)")
    parser.add_argument("--limit", type=int, default=35)
    parser.add_argument("--parts", action="store_true", help="time the building blocks instead of profiling")
    parser.add_argument("--what-if", action="store_true", help="estimate the suggested fixes (monkeypatched)")
    args = parser.parse_args(argv)
    scenario = short_chat() if args.chat == "short" else long_chat()
    content = args.content == "on"
    if args.parts:
        parts(scenario, content)
        return 0
    if args.what_if:
        what_if(turns=300, rounds=9)
        return 0
    core = _core(content)

    def run(turns: int) -> None:
        for _ in range(turns):
            a, b, c, d = scenario.turn()
            core.inlet(a, b)
            core.outlet(c, d)

    run(500)
    profiler = cProfile.Profile()
    profiler.runcall(run, args.turns)
    core.shutdown()
    pstats.Stats(profiler).sort_stats(args.sort).print_stats(args.limit)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

# SPDX-License-Identifier: Apache-2.0
"""Per-turn overhead: otel_filter vs the bare-SDK floor vs the seed's Langfuse-SDK filter, side by side.

Contenders, all exporting to the same local sink (``benchmarks._sink``, a separate process):

* ``ours``: :class:`otel_filter.FilterCore` with its own export path (private provider, BatchSpanProcessor with a
  8192-span queue, OTLP/HTTP exporter), ``inlet`` + ``outlet`` per turn;
* ``floor``: the bare OTel SDK creating and ending one span with the very attributes ``ours`` produced for that
  scenario (captured once through an in-memory exporter), on a provider built like the filter's (same resource,
  scope, BatchSpanProcessor queue size, OTLP/HTTP exporter, sink): ``start_span(attributes=...)`` + ``end()``;
* ``seed``: :class:`benchmarks._seed_langfuse.SeedLangfuseFilter` (langfuse SDK, flush per outlet).

Each batch of turns is timed twice: wall time of the hook calls only (summed per turn, on the calling thread), and
process CPU (``time.process_time``: every thread, so the exporter threads' encoding and HTTP work too) from the
batch start to the end of a ``force_flush`` after the batch, so a contender's export work is charged to it and
never spills into the next contender's batch. Batches (500 turns) stay below the SDK's export batch size (512), so
the exporter thread does not compete for the GIL while the hooks are timed: wall time is the hooks' own cost
(what a request waits for), CPU time is everything the turn costs the process. (The seed flushes inside its outlet:
its export is in its wall time, as in production.) Batches are interleaved A B C / C B A over the rounds; figures are
medians over rounds, ratios are medians of the per-round paired ratios.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from opentelemetry.context import Context
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from opentelemetry.util.types import Attributes

from benchmarks._common import Scenario, Sink, abba, long_chat, median, short_chat
from benchmarks._seed_langfuse import SeedLangfuseFilter
from otel_filter import FilterCore
from otel_filter.semconv import GEN_AI_USAGE_COST, INSTRUMENTATION_SCOPE, SCHEMA_URL
from otel_filter.settings import DEFAULT_MAX_QUEUE_SIZE
from otel_filter.version import __version__


@dataclass
class Contender:
    name: str
    scenario: Scenario
    inlet: Callable[[Any, Any], object]
    outlet: Callable[[Any, Any], object]
    flush: Callable[[], object]
    batch: int
    spans_per_turn: int = 1
    wall_us: list[float] = field(default_factory=list)
    cpu_us: list[float] = field(default_factory=list)
    turns: int = 0

    def run_batch(self, record: bool = True) -> None:
        turn = self.scenario.turn
        inlet, outlet = self.inlet, self.outlet
        perf = time.perf_counter_ns
        wall = 0
        cpu_start = time.process_time_ns()
        for _ in range(self.batch):
            inlet_body, inlet_user, outlet_body, outlet_user = turn()
            start = perf()
            inlet(inlet_body, inlet_user)
            outlet(outlet_body, outlet_user)
            wall += perf() - start
        self.flush()
        cpu = time.process_time_ns() - cpu_start
        self.turns += self.batch
        if record:
            self.wall_us.append(wall / self.batch / 1000)
            self.cpu_us.append(cpu / self.batch / 1000)


def captured_span(scenario: Scenario, content: bool) -> tuple[str, dict[str, Any]]:
    """Name and attributes of the span ``ours`` produces for one turn of ``scenario``."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    core = FilterCore({"capture_message_content": content}, host="bridge", tracer_provider=provider, environ={})
    scenario.play(core)
    core.shutdown()
    spans = exporter.get_finished_spans()
    if len(spans) != 1:
        raise RuntimeError(f"expected one span from the filter, got {len(spans)}")
    if GEN_AI_USAGE_COST not in (spans[0].attributes or {}):
        raise RuntimeError("the benchmark turn got no cost: the per-turn figures must include pricing")
    return spans[0].name, dict(spans[0].attributes or {})


def filter_resource(core: FilterCore) -> Resource:
    """The resource of the filter's own provider (a private field, read-only use)."""
    return core._telemetry._provider.resource


def floor_provider(endpoint: str, resource: Resource) -> TracerProvider:
    """A provider built like the filter's: same resource, BatchSpanProcessor queue size, OTLP/HTTP exporter."""
    provider = TracerProvider(resource=resource, shutdown_on_exit=False)
    provider.add_span_processor(
        BatchSpanProcessor(OTLPSpanExporter(endpoint=f"{endpoint}/v1/traces"), max_queue_size=DEFAULT_MAX_QUEUE_SIZE)
    )
    return provider


def floor_span(provider: TracerProvider, name: str, attributes: Attributes) -> Callable[..., None]:
    """The floor's turn: one span with the filter's scope, ``name`` and ``attributes``, started and ended (any
    arguments are ignored, so it can stand in for an outlet hook)."""
    tracer = provider.get_tracer(INSTRUMENTATION_SCOPE, __version__, schema_url=SCHEMA_URL)
    root = Context()
    client = SpanKind.CLIENT

    def span(*_: object) -> None:
        tracer.start_span(name, context=root, kind=client, attributes=attributes).end()

    return span


def _tag(content: bool) -> str:
    return "content" if content else "no-content"


def _ours(scenario: Scenario, sink: Sink, content: bool, batch: int) -> tuple[Contender, FilterCore]:
    core = FilterCore({"otlp_endpoint": sink.url, "capture_message_content": content}, host="bridge", environ={})
    contender = Contender(
        f"ours/{scenario.name}/{_tag(content)}", scenario, core.inlet, core.outlet, core.force_flush, batch
    )
    return contender, core


def _floor(
    scenario: Scenario, sink: Sink, content: bool, batch: int, core: FilterCore
) -> tuple[Contender, TracerProvider]:
    name, attributes = captured_span(scenario.fresh_copy(), content)
    provider = floor_provider(sink.url, filter_resource(core))
    outlet = floor_span(provider, name, attributes)

    def inlet(_body: object, _user: object) -> None:
        pass

    contender = Contender(
        f"floor/{scenario.name}/{_tag(content)}", scenario, inlet, outlet, provider.force_flush, batch
    )
    return contender, provider


def run(*, quick: bool, log: Callable[[str], None]) -> dict[str, Any]:
    with Sink() as sink:
        return _run(sink, quick=quick, log=log)


def _run(sink: Sink, *, quick: bool, log: Callable[[str], None]) -> dict[str, Any]:
    rounds = 3 if quick else 15
    # Below the SDK's export batch size (512): the batch processor does not wake up to export in the middle of a
    # batch, so wall time is the hooks alone; the export runs in the flush after the batch and counts as CPU.
    batch_ours = 150 if quick else 500
    batch_seed = 8 if quick else 30
    results: dict[str, Any] = {"scenarios": {}}
    seed = SeedLangfuseFilter(sink.url)
    cores: list[FilterCore] = []
    providers: list[TracerProvider] = []
    expected_spans = 0
    try:
        for make in (short_chat, long_chat):
            base = make()
            contenders: dict[str, Contender] = {}
            for content in (False, True):
                ours, core = _ours(base.fresh_copy(), sink, content, batch_ours)
                floor, provider = _floor(base.fresh_copy(), sink, content, batch_ours, core)
                cores.append(core)
                providers.append(provider)
                contenders[f"ours/{_tag(content)}"] = ours
                contenders[f"floor/{_tag(content)}"] = floor
            seed_scenario = base.fresh_copy()
            contenders["seed"] = Contender(
                f"seed/{base.name}", seed_scenario, seed.inlet, seed.outlet, seed.langfuse.flush, batch_seed, 3
            )
            for contender in contenders.values():  # warm-up: imports, caches, connections
                contender.run_batch(record=False)
            for _, name in abba(list(contenders), rounds):
                contenders[name].run_batch()
            expected_spans += sum(c.turns * c.spans_per_turn for c in contenders.values())
            seed_wall, seed_cpu = contenders["seed"].wall_us, contenders["seed"].cpu_us
            for tag in ("no-content", "content"):
                ours, floor = contenders[f"ours/{tag}"], contenders[f"floor/{tag}"]
                key = f"{base.name}/{tag}"
                results["scenarios"][key] = {
                    "chars": base.content_chars,
                    "ours_wall_us": median(ours.wall_us),
                    "ours_cpu_us": median(ours.cpu_us),
                    "floor_wall_us": median(floor.wall_us),
                    "floor_cpu_us": median(floor.cpu_us),
                    "seed_wall_us": median(seed_wall),
                    "seed_cpu_us": median(seed_cpu),
                    "vs_floor_wall": median([o / f for o, f in zip(ours.wall_us, floor.wall_us, strict=True)]),
                    "vs_floor_cpu": median([o / f for o, f in zip(ours.cpu_us, floor.cpu_us, strict=True)]),
                    "seed_vs_ours_wall": median([s / o for s, o in zip(seed_wall, ours.wall_us, strict=True)]),
                    "seed_vs_ours_cpu": median([s / o for s, o in zip(seed_cpu, ours.cpu_us, strict=True)]),
                }
                log(
                    f"  overhead {key}: ours {median(ours.wall_us):.0f} us wall / {median(ours.cpu_us):.0f} us CPU, "
                    f"floor {median(floor.wall_us):.0f}/{median(floor.cpu_us):.0f}, "
                    f"seed {median(seed_wall):.0f}/{median(seed_cpu):.0f}"
                )
        counts = sink.wait_for(expected_spans, timeout=30.0)
        results["sink_expected_spans"] = expected_spans
        results["sink_received_spans"] = counts["distinct"]
    finally:
        for core in cores:
            core.shutdown()
        for provider in providers:
            provider.shutdown()
        seed.shutdown()
    scenarios = results["scenarios"].values()
    results["overhead_vs_floor"] = max(s["vs_floor_wall"] for s in scenarios)
    results["overhead_vs_floor_cpu"] = max(s["vs_floor_cpu"] for s in scenarios)
    results["overhead_vs_langfuse_sdk"] = min(s["seed_vs_ours_wall"] for s in scenarios)
    results["overhead_vs_langfuse_sdk_cpu"] = min(s["seed_vs_ours_cpu"] for s in scenarios)
    return results

# SPDX-License-Identifier: Apache-2.0
"""One export lifecycle per core: valve changes and hanging endpoints never add threads (issue 8, finding 7).

The endpoint that hangs is a local socket that accepts connections and never answers
(``Blackhole``); the export timeout is shortened so that the test does not wait 10 s per request.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator, Sequence

import pytest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from otel_filter import FilterCore
from otel_filter._counters import Counters
from otel_filter._settings import ExportSettings
from otel_filter._telemetry import _RoutingExporter
from tests.filter.bodies import USER, inlet_body, outlet_body
from tests.support.otlp_sink import Blackhole, OtlpSink
from tests.support.owui_hosts import FunctionHost, load_as_function

pytestmark = pytest.mark.unit

FLIPS = 300
# Threads a core may own: its writer thread and the batch processor's worker. The rest of the margin
# is for the sink's per-connection threads (one per keep-alive connection of an exporter).
THREAD_MARGIN = 8
HOOK_BOUND_S = 1.0  # far below the export timeout (3 s): a hook that waited for the network would show


@pytest.fixture(autouse=True)
def _fast_export(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "3")
    monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "100")


@pytest.fixture
def endpoints() -> Iterator[tuple[Blackhole, OtlpSink]]:
    with Blackhole() as hanging, OtlpSink() as working:
        yield hanging, working


class _Watch:
    """Peak thread count and slowest hook while the flips run."""

    def __init__(self) -> None:
        self.baseline = threading.active_count()
        self.peak = self.baseline
        self.slowest_s = 0.0

    def timed(self, call: Callable[..., object], *args: object) -> None:
        started = time.perf_counter()
        call(*args)
        self.slowest_s = max(self.slowest_s, time.perf_counter() - started)
        self.peak = max(self.peak, threading.active_count())


def _ids(sink: OtlpSink) -> set[str]:
    return {str(span.attributes.get("openwebui.message.id")) for span in sink.spans}


def _wait_for_id(sink: OtlpSink, message_id: str, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while message_id not in _ids(sink):
        assert time.monotonic() < deadline, f"{message_id} never reached the working endpoint"
        time.sleep(0.05)


def test_valve_flips_against_a_hanging_endpoint_add_no_threads(endpoints: tuple[Blackhole, OtlpSink]) -> None:
    hanging, working = endpoints
    watch = _Watch()
    core = FilterCore({"otlp_endpoint": hanging.endpoint}, host="library")
    try:
        for flip in range(FLIPS):
            message_id = f"turn-{flip}"
            watch.timed(core.inlet, inlet_body(message_id), USER)
            watch.timed(core.outlet, outlet_body(message_id), USER)
            # Alternate the endpoint, and give every flip its own header value: each flip is a new exporter
            # configuration, the worst case for the old design (one batch processor and thread per change).
            endpoint = working.endpoint if flip % 2 else hanging.endpoint
            valves = {"otlp_endpoint": endpoint, "otlp_headers": f"x-flip={flip}"}
            watch.timed(core.update_valves, valves)
        assert core.settings.export.endpoint.startswith(working.endpoint)
        core.inlet(inlet_body("after-final-flip"), USER)
        core.outlet(outlet_body("after-final-flip"), USER)
        _wait_for_id(working, "after-final-flip")
        assert watch.peak - watch.baseline <= THREAD_MARGIN, (watch.baseline, watch.peak, threading.enumerate())
        assert watch.slowest_s < HOOK_BOUND_S
        # Spans of the turns that ended while the working endpoint was configured went there (the ones of
        # replaced destinations after the current one's: they may still be on their way).
        for flip in range(2, FLIPS, 2):
            _wait_for_id(working, f"turn-{flip}")
        assert not {f"turn-{flip}" for flip in range(1, FLIPS, 2)} & _ids(working)  # nor elsewhere
        # Old destinations are let go once nothing queued needs them.
        deadline = time.monotonic() + 30
        while core._telemetry.exporters_alive() > 1:
            assert time.monotonic() < deadline, core._telemetry.exporters_alive()
            core.force_flush(1.0)
            time.sleep(0.05)
        assert core.health.get("spans_exported") >= FLIPS // 2
    finally:
        core.shutdown(timeout_s=5.0)


def test_functions_host_flips_rebuilt_valves_without_thread_growth(endpoints: tuple[Blackhole, OtlpSink]) -> None:
    hanging, working = endpoints
    instance, _ = load_as_function(function_id="flip_probe")
    host = FunctionHost(instance, "flip_probe", {"otlp_endpoint": hanging.endpoint})
    watch = _Watch()

    async def turn(message_id: str) -> None:
        extra = {"__user__": USER, "__message_id__": message_id, "__chat_id__": "chat-1"}
        for hook, payload in (
            ("inlet", inlet_body(message_id)),
            ("outlet", outlet_body(message_id)),
        ):
            started = time.perf_counter()
            await host.call(hook, payload, extra)
            watch.slowest_s = max(watch.slowest_s, time.perf_counter() - started)
            watch.peak = max(watch.peak, threading.active_count())

    async def run() -> None:
        for flip in range(FLIPS):
            await turn(f"fn-{flip}")
            # Open WebUI rebuilds the valves from the stored dict before every call: the change is seen there.
            host.stored_valves = {"otlp_endpoint": working.endpoint if flip % 2 else hanging.endpoint}
        await turn("fn-after-final-flip")

    try:
        asyncio.run(run())
        _wait_for_id(working, "fn-after-final-flip")
        assert watch.peak - watch.baseline <= THREAD_MARGIN, (watch.baseline, watch.peak, threading.enumerate())
        assert watch.slowest_s < HOOK_BOUND_S
        core = instance._core_instance
        assert core._telemetry.exporters_alive() <= 2  # two endpoints, two exporters: never one per flip
    finally:
        instance._core_instance.shutdown(timeout_s=5.0)


def test_spans_queued_before_a_change_go_where_they_were_headed() -> None:
    with OtlpSink() as first, OtlpSink() as second:
        core = FilterCore({"otlp_endpoint": first.endpoint}, host="library")
        try:
            core.inlet(inlet_body("before"), USER)
            core.outlet(outlet_body("before"), USER)  # ended, maybe still queued when the valve changes
            core.update_valves({"otlp_endpoint": second.endpoint})
            core.inlet(inlet_body("after"), USER)
            core.outlet(outlet_body("after"), USER)
            assert core.force_flush(5.0)
            assert _ids(first) == {"before"}
            assert _ids(second) == {"after"}
        finally:
            core.shutdown()


class _SlowExporter(SpanExporter):
    """Holds an export until released; records whether it was shut down while an export was in flight."""

    def __init__(self) -> None:
        self.exporting = threading.Event()
        self.release = threading.Event()
        self.in_flight = False
        self.shut_down_in_flight = False

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.in_flight = True
        self.exporting.set()
        self.release.wait(10)
        self.in_flight = False
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        self.shut_down_in_flight = self.shut_down_in_flight or self.in_flight


def test_a_flush_never_retires_an_exporter_an_export_in_flight_uses() -> None:
    # Spans being exported are out of the SDK queue, so a prune (Telemetry.force_flush runs one on the caller's
    # thread) sees no queued span for their route: it must wait for the export instead of shutting it down.
    router = _RoutingExporter(Counters())
    old, new = (ExportSettings(f"http://127.0.0.1:{port}/v1/traces", "http/protobuf", (), True) for port in (1, 2))
    old_resource, new_resource = Resource.create({"n": 1}), Resource.create({"n": 2})
    slow = _SlowExporter()
    router.route(old_resource, old)
    router._exporters[old] = slow  # in place of the OTLP exporter built for it
    router.route(new_resource, new)
    exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=old_resource)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    provider.get_tracer("t").start_span("old").end()
    export = threading.Thread(target=router.export, args=(exporter.get_finished_spans(),))
    export.start()
    try:
        assert slow.exporting.wait(5)
        prune = threading.Thread(target=router.prune)
        prune.start()
        prune.join(0.3)
        assert not slow.shut_down_in_flight
    finally:
        slow.release.set()
        export.join(5)
        prune.join(5)
        router.shutdown()
    assert not slow.shut_down_in_flight and router.destinations() == 0

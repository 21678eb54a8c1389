# SPDX-License-Identifier: Apache-2.0
"""The export path: private TracerProviders -> one BatchSpanProcessor -> a routing exporter -> OTLP exporters.

Never the global provider: Open WebUI sets its own in-process (``ENABLE_OTEL``), and a plugin
that replaces it would export the host's spans or lose its own (langfuse/langfuse#7212).
Spans are only *queued* on the request path; the SDK's worker thread does all network I/O.

One export lifecycle per core, however often valves change and however an endpoint hangs: one
batch processor (one worker thread) for the life of the core. A valve change that touches the
exporter or the resource builds a new TracerProvider (cheap, no thread) sharing that processor,
and points it at the OTLP exporter of the new settings (built once per distinct settings, so
flipping between two endpoints builds two). Each span goes where it was headed when it ended:
the routing exporter finds its destination by the span's resource object, which is unique to the
provider that made it. An exporter nobody is headed to any more is shut down on the worker
thread, between two exports, so nobody waits for it; an export in flight to a hanging endpoint
ends by its own timeout (``OTEL_EXPORTER_OTLP_TIMEOUT``). One exception to "where it was headed":
spans for a replaced destination whose endpoint failed less than ``DEAD_ENDPOINT_S`` ago are
counted as failed instead of being tried again, so that a string of valve changes away from a
hanging endpoint cannot queue timeout after timeout in front of the new destination.

No request is larger than ``MAX_REQUEST_BYTES`` (3 MiB): each destination's batch is split by an
upper bound of its protobuf size (``_request_size``), so the collector's 8 MiB body limit (its
guard against open-telemetry/opentelemetry-collector#15301) and gRPC's 4 MiB never refuse a batch.

    telemetry = Telemetry(settings, health)
    span = telemetry.tracer.start_span("chat gpt-4o", start_time=t0)
    telemetry.apply(new_settings)   # new provider/route only where something changed
    telemetry.shutdown()            # flushes; call from on_shutdown / atexit, never from a hook
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any

import requests
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.trace import Tracer

from otel_filter._counters import Counters
from otel_filter._request_size import MAX_REQUEST_BYTES, split_by_size
from otel_filter._settings import PROTOCOL_GRPC, ExportSettings, Settings, display_url, parse_key_values
from otel_filter.environment_variables import OTEL_EXPORTER_OTLP_HEADERS, OTEL_EXPORTER_OTLP_TRACES_HEADERS
from otel_filter.semconv import (
    INSTRUMENTATION_SCOPE,
    SCHEMA_URL,
    SERVICE_NAME,
    TELEMETRY_DISTRO_NAME,
    TELEMETRY_DISTRO_VERSION,
)
from otel_filter.version import __version__

DISTRO_NAME = "owui-otel"
# Bigger than the SDK's 2048: a collector restart should not cost a busy instance its spans.
DEFAULT_MAX_QUEUE_SIZE = 8192
# A replaced destination whose endpoint failed this recently is not tried again (see the module docstring).
DEAD_ENDPOINT_S = 30.0


class _CountingExporter(SpanExporter):
    """Counts exported and failed spans and reports failures (rate-limited) with the endpoint."""

    def __init__(self, inner: SpanExporter, export: ExportSettings, health: Counters) -> None:
        self._inner = inner
        self._endpoint = display_url(export.endpoint)  # only ever logged: no credentials from the URL
        self._setting = export.endpoint_setting
        self._health = health

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        try:
            result = self._inner.export(spans)
        except Exception as error:  # an exporter must not kill the worker thread
            self._health.count("spans_export_failed", len(spans))
            self._health.problem(
                "export_error",
                "otel_filter: %s: export to %s raised %r. Fix: report it with this line. Until then: those spans "
                "are lost (counted as spans_export_failed); chats go on",
                self._setting,
                self._endpoint,
                error,
            )
            return SpanExportResult.FAILURE
        if result is SpanExportResult.SUCCESS:
            self._health.count("spans_exported", len(spans))
        else:
            self._health.count("spans_export_failed", len(spans))
            self._health.problem(
                "export_failed",
                "otel_filter: %s: could not export %d span(s) to %s (is the collector running there?). Fix: start "
                "the collector, or set %s to its OTLP address. Until then: those spans are lost (counted as "
                "spans_export_failed); chats go on",
                self._setting,
                len(spans),
                self._endpoint,
                self._setting,
            )
        return result

    def shutdown(self) -> None:
        self._inner.shutdown()

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        flush = getattr(self._inner, "force_flush", None)
        return bool(flush(timeout_millis)) if callable(flush) else True


class _RoutingExporter(SpanExporter):
    """The batch processor's only exporter: sends each span to the OTLP exporter it was headed to.

    A span's destination is the one its provider was routed to (see :meth:`route`), found by the
    identity of the span's resource. Unknown resources (a route already pruned) go to the current
    destination. Thread-safe; :meth:`export` runs on the SDK's worker thread, :meth:`prune` there after each
    export and on the caller's thread in :meth:`Telemetry.force_flush`: one export lock keeps a prune from
    retiring an exporter that an export in flight still uses (its spans are out of the queue already).
    """

    def __init__(self, health: Counters) -> None:
        self._health = health
        self._lock = threading.Lock()
        self._routes: dict[int, tuple[Resource, ExportSettings]] = {}  # id(resource) -> (resource, destination)
        self._exporters: dict[ExportSettings, SpanExporter | None] = {}  # None: cannot export (logged)
        self._current: ExportSettings | None = None
        self._current_key: int | None = None
        self._failed_at: dict[str, float] = {}  # endpoint -> monotonic time of its last failed export
        self._closed = False
        self._export_lock = threading.RLock()  # export() and prune(): see the class docstring
        self.queue: Any = None  # the SDK's span queue (see _sdk_queue), to know which routes are still needed

    def route(self, resource: Resource, export: ExportSettings) -> None:
        """Spans of ``resource`` (and, from now on, unknown ones) go to ``export``. No network I/O."""
        with self._lock:
            known = export in self._exporters
        exporter = None if known else _build_exporter(export, self._health)
        with self._lock:
            if self._closed:
                return
            if not known:
                self._exporters.setdefault(export, exporter)
            self._routes[id(resource)] = (resource, export)
            self._current, self._current_key = export, id(resource)

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        with self._export_lock:
            return self._export(spans)

    def _export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        with self._lock:
            routes = {key: export for key, (_, export) in self._routes.items()}
            exporters = dict(self._exporters)
            current = self._current
        groups: dict[ExportSettings | None, list[ReadableSpan]] = {current: []}  # the current destination first
        for span in spans:
            groups.setdefault(routes.get(id(span.resource), current), []).append(span)
        result = SpanExportResult.SUCCESS
        for export, batch in groups.items():  # one request per destination, whatever the order of the spans
            if not batch:
                continue
            exporter = exporters.get(export) if export is not None else None
            if exporter is None or export is None:  # export disabled (logged when it was set up)
                self._health.count("spans_export_failed", len(batch))
                result = SpanExportResult.FAILURE
                continue
            if export != current and self._failed_recently(export.endpoint):
                self._health.count("spans_export_failed", len(batch))
                self._health.problem(
                    "export_skipped",
                    "otel_filter: %s: %d span(s) queued for %s before a valve change were not sent: it failed moments "
                    "ago. Fix: none needed if the new endpoint is the right one. Until then: those spans are lost "
                    "(counted as spans_export_failed)",
                    export.endpoint_setting,
                    len(batch),
                    display_url(export.endpoint),
                )
                result = SpanExportResult.FAILURE
                continue
            endpoint_ok, all_sent = self._send(exporter, export, batch)
            if endpoint_ok:
                self._failed_at.pop(export.endpoint, None)
            else:
                self._failed_at[export.endpoint] = time.monotonic()
            if not all_sent:
                result = SpanExportResult.FAILURE
        self.prune()
        return result

    def _send(self, exporter: SpanExporter, export: ExportSettings, batch: list[ReadableSpan]) -> tuple[bool, bool]:
        """Export ``batch`` in requests of at most ``MAX_REQUEST_BYTES`` each (see ``_request_size``).

        Returns (the endpoint took every request it was sent, every span was sent): a span too large to send is
        this filter's problem, not the endpoint's."""
        bounded_batches, too_large = split_by_size(batch, MAX_REQUEST_BYTES)
        if too_large:
            self._health.count("spans_export_failed", len(too_large))
            self._health.count("spans_too_large", len(too_large))
            self._health.problem(
                "span_too_large",
                "otel_filter: valve resource_attributes / OTEL_RESOURCE_ATTRIBUTES: %d span(s) not sent to %s: each "
                "alone encodes to more than %d bytes, the most one OTLP request may hold. Fix: shorten the resource "
                "attributes. Until then: such spans are lost (counted as spans_too_large)",
                len(too_large),
                display_url(export.endpoint),
                MAX_REQUEST_BYTES,
            )
        for index, request in enumerate(bounded_batches):
            if exporter.export(request) is not SpanExportResult.SUCCESS:
                # The endpoint just failed (after its own retries, up to its timeout): the rest of this batch is
                # counted as failed rather than tried request after request, each waiting out the same timeout.
                rest = sum(len(r) for r in bounded_batches[index + 1 :])
                if rest:
                    self._health.count("spans_export_failed", rest)
                return False, False
        return True, not too_large

    def _failed_recently(self, endpoint: str) -> bool:
        failed_at = self._failed_at.get(endpoint)
        return failed_at is not None and time.monotonic() - failed_at < DEAD_ENDPOINT_S

    def prune(self) -> None:
        """Forget routes no queued span needs; shut down exporters no route needs (here: never a hook's thread)."""
        if len(self._routes) <= 1:
            return
        with self._export_lock:
            self._prune()

    def _prune(self) -> None:
        queue = self.queue
        # deque.copy() runs under the GIL in one step: safe while hooks append. Without the queue (another SDK
        # layout) every old route is dropped: its last queued spans then go to the current destination.
        queued = {id(span.resource) for span in queue.copy()} if queue is not None else set()
        with self._lock:
            for key in [key for key in self._routes if key != self._current_key and key not in queued]:
                del self._routes[key]
            needed = {export for _, export in self._routes.values()}
            retired = [exporter for export, exporter in self._exporters.items() if export not in needed]
            self._exporters = {export: e for export, e in self._exporters.items() if export in needed}
            endpoints = {export.endpoint for export in needed}
            self._failed_at = {url: at for url, at in self._failed_at.items() if url in endpoints}
        for exporter in retired:
            _shutdown_quietly(exporter, self._health)

    def shutdown(self) -> None:
        with self._lock:
            self._closed = True
            exporters = list(self._exporters.values())
            self._exporters.clear()
            self._routes.clear()
        for exporter in exporters:
            _shutdown_quietly(exporter, self._health)

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return True  # nothing is buffered here; the batch processor holds the queue

    def destinations(self) -> int:
        """How many OTLP exporters are alive (tests: flipping valves must not pile them up)."""
        with self._lock:
            return len(self._exporters)


def _shutdown_quietly(exporter: SpanExporter | None, health: Counters) -> None:
    if exporter is None:
        return
    try:
        exporter.shutdown()
    except Exception:
        health.problem("exporter_shutdown_failed", "otel_filter: shutting down an old exporter failed", exc_info=True)


class _ScopedHeadersSession(requests.Session):
    """Sends exactly the headers the settings resolved, nothing from the environment.

    The SDK's HTTP exporter also reads ``OTEL_EXPORTER_OTLP_(TRACES_)HEADERS`` itself (1.4x merges
    them under the given headers; older releases use them when none are given). Those hold the
    collector's token and must only go to the endpoint that came from the environment: the
    settings decide (``_settings._resolve_export``), and this session enforces it on every request.
    """

    def __init__(self, headers: Mapping[str, str], environ: Mapping[str, str]) -> None:
        super().__init__()
        self._scoped_headers = dict(headers)
        own = {key.lower() for key in headers}
        from_environment = [
            key.lower()
            for name in (OTEL_EXPORTER_OTLP_TRACES_HEADERS, OTEL_EXPORTER_OTLP_HEADERS)
            for key, _ in parse_key_values(environ.get(name, ""))[0]
        ]
        self._blocked = {key for key in from_environment if key not in own}

    def prepare_request(self, request: requests.Request) -> requests.PreparedRequest:
        prepared = super().prepare_request(request)
        for name in self._blocked:
            prepared.headers.pop(name, None)
        prepared.headers.update(self._scoped_headers)
        return prepared


def _make_exporter(export: ExportSettings) -> SpanExporter:
    headers = dict(export.headers)
    if export.protocol == PROTOCOL_GRPC:
        try:  # imported on demand: gRPC is the less common choice and grpcio is a heavy import
            from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (  # noqa: PLC0415
                OTLPSpanExporter as GrpcExporter,
            )
        except ImportError as error:
            raise RuntimeError(
                "protocol 'grpc' needs the package opentelemetry-exporter-otlp-proto-grpc "
                "(pip install opentelemetry-exporter-otlp-proto-grpc), or set otlp_protocol to 'http/protobuf'"
            ) from error
        exporter = GrpcExporter(endpoint=export.endpoint, insecure=export.insecure, headers=headers or None)
        if not headers:
            # Given no headers, the gRPC exporter falls back to OTEL_EXPORTER_OTLP_HEADERS: the settings decided
            # that none may go to this endpoint (see _ScopedHeadersSession). Its metadata field since 1.x.
            exporter._headers = ()  # noqa: SLF001
        return exporter
    return HttpExporter(
        endpoint=export.endpoint, headers=headers or None, session=_ScopedHeadersSession(headers, os.environ)
    )


def _build_exporter(export: ExportSettings, health: Counters) -> SpanExporter | None:
    try:
        return _CountingExporter(_make_exporter(export), export, health)
    except Exception as error:
        health.problem(
            "exporter_unavailable",
            "otel_filter: %s: export disabled: %s. Fix: correct the export settings (endpoint, protocol, headers). "
            "Until then: no span leaves; chats go on",
            export.endpoint_setting,
            error,
        )
        return None


def _batch_processor(exporter: SpanExporter) -> BatchSpanProcessor:
    kwargs: dict[str, Any] = {}
    if not os.environ.get("OTEL_BSP_MAX_QUEUE_SIZE"):
        kwargs["max_queue_size"] = DEFAULT_MAX_QUEUE_SIZE
    return BatchSpanProcessor(exporter, **kwargs)


def _sdk_queue(processor: BatchSpanProcessor) -> Any:
    """The SDK's span queue, to count drops before they happen.

    The SDK only reports drops through a MeterProvider (1.3x+) or a log line, so we peek at its
    bounded deque (a private field in every SDK since 1.27); ``None`` if the layout changes, and
    drops are then visible only in the SDK's own "Queue full" warning.
    """
    inner = getattr(processor, "_batch_processor", processor)
    queue = getattr(inner, "_queue", None)
    if queue is None:  # not `or`: an empty deque is falsy
        queue = getattr(inner, "queue", None)
    return queue if hasattr(queue, "maxlen") else None


class Telemetry:
    """Owns the private providers and the one export pipeline; see the module docstring."""

    def __init__(self, settings: Settings, health: Counters, *, tracer_provider: TracerProvider | None = None) -> None:
        self._health = health
        self._lock = threading.Lock()
        self._external = tracer_provider is not None
        self._export: ExportSettings | None = None
        self._resource_key: tuple[object, ...] | None = None
        self._queue: Any = None
        self._router: _RoutingExporter | None = None
        self._batch: BatchSpanProcessor | None = None
        self._provider: TracerProvider
        self.tracer: Tracer
        if tracer_provider is not None:
            # Injected (tests, the bridge server): the caller owns its processors and shutdown.
            self._provider = tracer_provider
            self.tracer = tracer_provider.get_tracer(INSTRUMENTATION_SCOPE, __version__, schema_url=SCHEMA_URL)
        else:
            self._router = _RoutingExporter(health)
            self._batch = _batch_processor(self._router)  # the only worker thread, for the life of this object
            self._queue = self._router.queue = _sdk_queue(self._batch)
            self.apply(settings)

    @property
    def endpoint(self) -> str | None:
        """The export URL, for log lines (credentials and query masked)."""
        return display_url(self._export.endpoint) if self._export else None

    def apply(self, settings: Settings) -> None:
        """Follow a change of the resource or the exporter: a new provider routed to the right exporter."""
        if self._router is None or self._batch is None:
            return
        with self._lock:
            resource_key = (settings.service_name, settings.resource_attributes)
            if resource_key == self._resource_key and settings.export == self._export:
                return
            attributes: dict[str, Any] = {
                SERVICE_NAME: settings.service_name,
                TELEMETRY_DISTRO_NAME: DISTRO_NAME,
                TELEMETRY_DISTRO_VERSION: __version__,
            }
            attributes.update(settings.resource_attributes)
            # A new Resource object per change even when its attributes are the same: it is how the routing
            # exporter tells spans made before the change (headed to the old exporter) from the new ones.
            resource = Resource.create(attributes)
            provider = TracerProvider(resource=resource, shutdown_on_exit=False)
            provider.add_span_processor(self._batch)
            self._router.route(resource, settings.export)
            self._provider = provider
            self.tracer = provider.get_tracer(INSTRUMENTATION_SCOPE, __version__, schema_url=SCHEMA_URL)
            self._resource_key = resource_key
            self._export = settings.export

    def queue_full(self) -> bool:
        """True when the next span would push an older one out of the SDK queue (counted as dropped)."""
        queue = self._queue
        return queue is not None and queue.maxlen is not None and len(queue) >= queue.maxlen

    def exporters_alive(self) -> int:
        """OTLP exporters currently held (at most one per destination some queued span still needs)."""
        return self._router.destinations() if self._router is not None else 0

    def shutdown(self, timeout_s: float = 10.0) -> None:
        batch, self._batch = self._batch, None
        if batch is None:
            return
        # Flushing is network I/O that a hanging endpoint can stretch to its export timeout: wait at most
        # timeout_s, and let that one thread finish on its own.
        done = threading.Thread(target=batch.shutdown, name="otel_filter-shutdown", daemon=True)
        done.start()
        done.join(timeout_s)
        if done.is_alive():
            self._health.problem("shutdown_timeout", "otel_filter: flushing spans took longer than %ss", timeout_s)

    def force_flush(self, timeout_s: float = 10.0) -> bool:
        if self._external:
            return bool(self._provider.force_flush(int(timeout_s * 1000)))
        batch = self._batch
        if batch is None or self._router is None:
            return True
        flushed = bool(batch.force_flush(int(timeout_s * 1000)))
        self._router.prune()
        return flushed

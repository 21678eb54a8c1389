# SPDX-License-Identifier: Apache-2.0
"""The export path: a private TracerProvider -> BatchSpanProcessor -> OTLP exporter.

Never the global provider: Open WebUI sets its own in-process (``ENABLE_OTEL``), and a plugin
that replaces it would export the host's spans or lose its own (langfuse/langfuse#7212).
Spans are only *queued* on the request path; the SDK's worker thread does all network I/O.

A valve change that touches the exporter swaps the batch processor behind a stable
:class:`_SwitchableSpanProcessor`; the old one is flushed and shut down on a background thread,
so the hook that noticed the change never waits for the network and no queued span is lost.

    telemetry = Telemetry(settings, health)
    span = telemetry.tracer.start_span("chat gpt-4o", start_time=t0)
    telemetry.apply(new_settings)   # rebuilds exporter/resource only where they changed
    telemetry.shutdown()            # flushes; call from on_shutdown / atexit, never from a hook
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from typing import Any

from opentelemetry.context import Context
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.trace import Tracer

from otel_filter._health import Health
from otel_filter._semconv import (
    INSTRUMENTATION_SCOPE,
    SCHEMA_URL,
    SERVICE_NAME,
    TELEMETRY_DISTRO_NAME,
    TELEMETRY_DISTRO_VERSION,
)
from otel_filter._settings import PROTOCOL_GRPC, ExportSettings, Settings, display_url
from otel_filter.version import __version__

DISTRO_NAME = "owui-otel"
# Bigger than the SDK's 2048: a collector restart should not cost a busy instance its spans.
DEFAULT_MAX_QUEUE_SIZE = 8192


class _CountingExporter(SpanExporter):
    """Counts exported and failed spans and reports failures (rate-limited) with the endpoint."""

    def __init__(self, inner: SpanExporter, endpoint: str, health: Health) -> None:
        self._inner = inner
        self._endpoint = display_url(endpoint)  # only ever logged: no credentials from the URL
        self._health = health

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        try:
            result = self._inner.export(spans)
        except Exception as error:  # an exporter must not kill the worker thread
            self._health.count("spans_export_failed", len(spans))
            self._health.problem("export_error", "otel_filter: export to %s raised %r", self._endpoint, error)
            return SpanExportResult.FAILURE
        if result is SpanExportResult.SUCCESS:
            self._health.count("spans_exported", len(spans))
        else:
            self._health.count("spans_export_failed", len(spans))
            self._health.problem(
                "export_failed",
                "otel_filter: could not export %d span(s) to %s; is the collector running? "
                "Check otlp_endpoint / OTEL_EXPORTER_OTLP_ENDPOINT",
                len(spans),
                self._endpoint,
            )
        return result

    def shutdown(self) -> None:
        self._inner.shutdown()

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        flush = getattr(self._inner, "force_flush", None)
        return bool(flush(timeout_millis)) if callable(flush) else True


class _SwitchableSpanProcessor(SpanProcessor):
    """Delegates to the current batch processor; ``swap`` replaces it without losing spans."""

    def __init__(self) -> None:
        self._delegate: SpanProcessor | None = None
        self._lock = threading.Lock()

    def swap(self, new: SpanProcessor | None) -> SpanProcessor | None:
        with self._lock:
            old, self._delegate = self._delegate, new
        return old

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        delegate = self._delegate
        if delegate is not None:
            delegate.on_start(span, parent_context)

    def on_end(self, span: ReadableSpan) -> None:
        delegate = self._delegate
        if delegate is not None:
            delegate.on_end(span)

    def shutdown(self) -> None:
        old = self.swap(None)
        if old is not None:
            old.shutdown()

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        delegate = self._delegate
        return delegate.force_flush(timeout_millis) if delegate is not None else True


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
        return GrpcExporter(endpoint=export.endpoint, insecure=export.insecure, headers=headers or None)
    return HttpExporter(endpoint=export.endpoint, headers=headers or None)


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
    """Owns the private provider and its export pipeline; see the module docstring."""

    def __init__(self, settings: Settings, health: Health, *, tracer_provider: TracerProvider | None = None) -> None:
        self._health = health
        self._lock = threading.Lock()
        self._external = tracer_provider is not None
        self._processor = _SwitchableSpanProcessor()
        self._export: ExportSettings | None = None
        self._resource_key: tuple[object, ...] | None = None
        self._queue: Any = None
        self._provider: TracerProvider
        self.tracer: Tracer
        if tracer_provider is not None:
            # Injected (tests, the bridge server): the caller owns its processors and shutdown.
            self._provider = tracer_provider
            self.tracer = tracer_provider.get_tracer(INSTRUMENTATION_SCOPE, __version__, schema_url=SCHEMA_URL)
        else:
            self.apply(settings)

    @property
    def endpoint(self) -> str | None:
        """The export URL, for log lines (credentials in it masked)."""
        return display_url(self._export.endpoint) if self._export else None

    def apply(self, settings: Settings) -> None:
        """Rebuild what changed: the resource (new provider), the exporter (swapped processor)."""
        if self._external:
            return
        with self._lock:
            resource_key = (settings.service_name, settings.resource_attributes)
            if resource_key != self._resource_key:
                attributes: dict[str, Any] = {
                    SERVICE_NAME: settings.service_name,
                    TELEMETRY_DISTRO_NAME: DISTRO_NAME,
                    TELEMETRY_DISTRO_VERSION: __version__,
                }
                attributes.update(settings.resource_attributes)
                provider = TracerProvider(resource=Resource.create(attributes), shutdown_on_exit=False)
                # Spans already started keep their old resource; all share one processor chain.
                provider.add_span_processor(self._processor)
                self._provider = provider
                self.tracer = provider.get_tracer(INSTRUMENTATION_SCOPE, __version__, schema_url=SCHEMA_URL)
                self._resource_key = resource_key
            if settings.export != self._export:
                self._export = settings.export
                try:
                    exporter = _make_exporter(settings.export)
                except Exception as error:
                    self._health.problem("exporter_unavailable", "otel_filter: export disabled: %s", error)
                    new_processor: BatchSpanProcessor | None = None
                else:
                    new_processor = _batch_processor(
                        _CountingExporter(exporter, settings.export.endpoint, self._health)
                    )
                self._queue = _sdk_queue(new_processor) if new_processor else None
                old = self._processor.swap(new_processor)
                if old is not None:
                    # Flushing is network I/O: never on the caller's (event loop) thread.
                    threading.Thread(target=old.shutdown, name="otel_filter-retire-exporter", daemon=True).start()

    def queue_full(self) -> bool:
        """True when the next span would push an older one out of the SDK queue (counted as dropped)."""
        queue = self._queue
        return queue is not None and queue.maxlen is not None and len(queue) >= queue.maxlen

    def shutdown(self, timeout_s: float = 10.0) -> None:
        if self._external:
            return
        processor = self._processor.swap(None)
        if processor is None:
            return
        done = threading.Thread(target=processor.shutdown, name="otel_filter-shutdown", daemon=True)
        done.start()
        done.join(timeout_s)
        if done.is_alive():
            self._health.problem("shutdown_timeout", "otel_filter: flushing spans took longer than %ss", timeout_s)

    def force_flush(self, timeout_s: float = 10.0) -> bool:
        if self._external:
            return bool(self._provider.force_flush(int(timeout_s * 1000)))
        return self._processor.force_flush(int(timeout_s * 1000))

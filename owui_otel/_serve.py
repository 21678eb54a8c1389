# SPDX-License-Identifier: Apache-2.0
"""``owui-otel serve``: run the bridge server with uvicorn, its own HTTP requests traced.

The server's spans (one per request, from opentelemetry-instrumentation-fastapi) go to the same
collector under ``service.name=owui-otel-bridge`` with their own private provider; the
collector's Langfuse pipeline drops them (they are not GenAI), Jaeger keeps them. They never carry the query
string (a caller may put a key in it, e.g. ``?api_key=...``): ``url.query`` is ``REDACTED`` and ``http.url``,
``url.full`` and ``http.target`` stop at the path, whatever the response code.
"""

from __future__ import annotations

import inspect
import logging
import os
import socket
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import Span

from otel_filter.settings import http_traces_url
from owui_otel._bridge_settings import allow_widening, body_limits
from owui_otel._errors import OwuiOtelError, UsageError
from owui_otel.environment_variables import OTEL_EXPORTER_OTLP_ENDPOINT
from owui_otel.server import VALVES_FILE, ServerConfig, ValveStore, create_app

if TYPE_CHECKING:
    from owui_otel._feedback_sync import FeedbackWorker

SERVER_SERVICE_NAME = "owui-otel-bridge"


REDACTED = "REDACTED"
_URL_ATTRIBUTES = ("http.url", "url.full", "http.target")


def hide_query(span: Span, scope: Mapping[str, Any]) -> None:
    """``server_request_hook``: drop the query string from the request span (it runs once the span has its
    request attributes, before the app; nothing later puts the URL back)."""
    if not span.is_recording():
        return
    attributes = getattr(span, "attributes", None) or {}
    for name in _URL_ATTRIBUTES:
        value = attributes.get(name)
        if isinstance(value, str) and "?" in value:
            span.set_attribute(name, value.partition("?")[0])
    if scope.get("query_string") or "url.query" in attributes:
        span.set_attribute("url.query", REDACTED)


def instrument(app: FastAPI, tracer_provider: TracerProvider) -> None:
    """Trace the server's own requests (not /health, /ready), one span each: the per-chunk ``http receive``
    and ``http send`` spans are left out (a 50 MB body would make hundreds)."""
    # exclude_spans arrived in opentelemetry-instrumentation-fastapi 0.49b0
    # (open-telemetry/opentelemetry-python-contrib#2802); the declared floor is 0.48b0.
    options: dict[str, Any] = {}
    if "exclude_spans" in inspect.signature(FastAPIInstrumentor.instrument_app).parameters:
        options["exclude_spans"] = ["receive", "send"]
    FastAPIInstrumentor.instrument_app(
        app, tracer_provider=tracer_provider, excluded_urls="health,ready", server_request_hook=hide_query, **options
    )


def server_tracer_provider(otlp_traces_url: str) -> TracerProvider:
    """A private provider for the server's own spans, exported to ``otlp_traces_url``."""
    provider = TracerProvider(resource=Resource.create({"service.name": SERVER_SERVICE_NAME}), shutdown_on_exit=False)
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=otlp_traces_url)))
    return provider


def traces_url(otlp_endpoint: str | None, environ: Mapping[str, str] = os.environ) -> str:
    return http_traces_url(otlp_endpoint or environ.get(OTEL_EXPORTER_OTLP_ENDPOINT) or "http://localhost:4318")


def filter_environ(otlp_endpoint: str | None, environ: Mapping[str, str] = os.environ) -> Mapping[str, str]:
    """What the bridge's filter resolves its settings against: ``environ`` with ``--otlp-endpoint`` (when given) as
    ``OTEL_EXPORTER_OTLP_ENDPOINT``, the default its valve falls back to. The process environment is never written.

        >>> dict(filter_environ("http://collector:4318", {"OTEL_SERVICE_NAME": "chat"}))
        {'OTEL_SERVICE_NAME': 'chat', 'OTEL_EXPORTER_OTLP_ENDPOINT': 'http://collector:4318'}
    """
    if not otlp_endpoint:
        return environ
    return {**environ, OTEL_EXPORTER_OTLP_ENDPOINT: otlp_endpoint}


class NamedOnceFormatter(logging.Formatter):
    """``<time> <LEVEL> <logger>: <message>``, the logger's name left out when the message already starts with it:
    the filter's lines say ``otel_filter: ...`` themselves (hosts such as Pipelines print no logger names), which
    would otherwise read ``otel_filter: otel_filter: ...`` here.

        >>> record = logging.makeLogRecord({"name": "otel_filter", "msg": "otel_filter: x", "levelname": "ERROR"})
        >>> NamedOnceFormatter().format(record).split(" ", 2)[2]
        'ERROR otel_filter: x'
    """

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(message)s")

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 (logging's name)
        if not record.message.startswith(f"{record.name}: "):
            record.message = f"{record.name}: {record.message}"
        return super().formatMessage(record)


def check_port_free(host: str, port: int) -> None:
    """Raise :class:`OwuiOtelError` naming ``--port`` when ``host:port`` cannot be bound, before uvicorn starts
    (uvicorn would log its startup, then the bind error, then exit). Same socket options as uvicorn's bind."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except socket.gaierror as error:
            raise UsageError(
                f"--host {host!r}: not an address of this machine ({error.strerror or error}). Fix: use 127.0.0.1, "
                "or 0.0.0.0 in a container"
            ) from error
        except OSError as error:
            raise OwuiOtelError(
                f"--port {port}: cannot listen on {host}:{port} ({error.strerror or error}). Fix: stop what uses the "
                "port (the `up` stack's bridge: `down`), or pick another with --port (and --host for another address)"
            ) from error


def serve(
    *,
    host: str,
    port: int,
    api_key: str,
    data_dir: Path,
    filter_id: str,
    otlp_endpoint: str | None,
    server_spans: bool,
    log_level: str,
    max_body_bytes: str | None = None,
    max_recorded_body_bytes: str | None = None,
    allow_widening_valves: bool = False,
    feedback: FeedbackWorker | None = None,
) -> int:
    """Run until interrupted. Limits are sizes as text (``"8MiB"``); ``None``: the environment, else the default."""
    import uvicorn  # noqa: PLC0415 (heavy; only this command needs it)

    environ = filter_environ(otlp_endpoint)
    try:
        body_limit, recorded_limit = body_limits(max_body_bytes, max_recorded_body_bytes, os.environ)
        config = ServerConfig(
            api_key=api_key,
            data_dir=data_dir,
            filter_id=filter_id,
            max_body_bytes=body_limit,
            max_recorded_body_bytes=recorded_limit,
            allow_widening_valves=allow_widening(allow_widening_valves, os.environ),
            environ=environ,
            feedback=feedback,
        )
    except ValueError as error:
        raise UsageError(str(error)) from error
    check_port_free(host, port)
    # Read once before uvicorn starts: in the app's lifespan, a damaged file would end in uvicorn's traceback.
    ValveStore(config.data_dir / VALVES_FILE).load()
    handler = logging.StreamHandler()
    handler.setFormatter(NamedOnceFormatter())
    logging.basicConfig(level=log_level.upper(), handlers=[handler])
    app = create_app(config)
    provider = server_tracer_provider(traces_url(otlp_endpoint)) if server_spans else None
    if provider is not None:
        instrument(app, provider)
    try:
        uvicorn.run(app, host=host, port=port, log_level=log_level, access_log=False)
    finally:
        if provider is not None:
            provider.shutdown()
    return 0

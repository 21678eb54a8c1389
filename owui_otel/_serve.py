# SPDX-License-Identifier: Apache-2.0
"""``owui-otel serve``: run the bridge server with uvicorn, its own HTTP requests traced.

The server's spans (one per request, from opentelemetry-instrumentation-fastapi) go to the same
collector under ``service.name=owui-otel-bridge`` with their own private provider; the
collector's Langfuse pipeline drops them (they are not GenAI), Jaeger keeps them.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from fastapi import FastAPI
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from otel_filter._settings import http_traces_url
from owui_otel._errors import UsageError
from owui_otel.server import ServerConfig, create_app

SERVER_SERVICE_NAME = "owui-otel-bridge"


def instrument(app: FastAPI, otlp_traces_url: str) -> TracerProvider:
    """Trace the server's own requests (not /health, /ready) with a private provider."""
    provider = TracerProvider(resource=Resource.create({"service.name": SERVER_SERVICE_NAME}), shutdown_on_exit=False)
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=otlp_traces_url)))
    FastAPIInstrumentor.instrument_app(app, tracer_provider=provider, excluded_urls="health,ready")
    return provider


def traces_url(otlp_endpoint: str | None) -> str:
    return http_traces_url(otlp_endpoint or os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or "http://localhost:4318")


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
) -> int:
    import uvicorn  # noqa: PLC0415 (heavy; only this command needs it)

    if otlp_endpoint:
        # The filter's valves default to the standard variable; set it for this process.
        os.environ["OTEL_EXPORTER_OTLP_ENDPOINT"] = otlp_endpoint
    try:
        config = ServerConfig(api_key=api_key, data_dir=data_dir, filter_id=filter_id)
    except ValueError as error:
        raise UsageError(str(error)) from error
    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    app = create_app(config)
    provider = instrument(app, traces_url(otlp_endpoint)) if server_spans else None
    try:
        uvicorn.run(app, host=host, port=port, log_level=log_level, access_log=False)
    finally:
        if provider is not None:
            provider.shutdown()
    return 0

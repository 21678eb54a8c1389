# SPDX-License-Identifier: Apache-2.0
"""Shared fixtures, and unit-test hygiene: a unit test that starts an OTLP exporter must also stop it.

A leftover exporter thread keeps retrying in the background (using ``random`` for backoff jitter, which
Hypothesis reports as flaky generation in whatever test runs next). Tiers are marks each test file sets
(``pytestmark = pytest.mark.unit``); the repository's ``conftest.py`` refuses a test without exactly one.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

_EXPORTER_THREAD_PREFIXES = ("OtelBatch", "otel_filter-retire", "otel_filter-shutdown")


@pytest.fixture(autouse=True)
def exporter_threads_are_stopped(request: pytest.FixtureRequest) -> Iterator[None]:
    """After each ``unit`` test, no exporter thread it started is still running (15 s to wind down)."""
    if request.node.get_closest_marker("unit") is None:
        yield
        return
    before = {thread.ident for thread in threading.enumerate()}
    yield
    deadline = time.monotonic() + 15
    while True:
        leaked = [
            t.name
            for t in threading.enumerate()
            if t.ident not in before and t.name.startswith(_EXPORTER_THREAD_PREFIXES) and t.is_alive()
        ]
        if not leaked or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert not leaked, f"exporter threads still running after the test: {leaked}"


@pytest.fixture
def span_exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def tracer_provider(span_exporter: InMemorySpanExporter) -> Iterator[TracerProvider]:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(span_exporter))
    yield provider
    provider.shutdown()

# SPDX-License-Identifier: Apache-2.0
"""Shared fixtures and the unit/integration tier marks."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

TESTS_DIR = Path(__file__).resolve().parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests under tests/unit are ``unit``; elsewhere a test is ``integration`` unless marked ``unit``."""
    for item in items:
        if Path(str(item.fspath)).is_relative_to(TESTS_DIR / "unit"):
            item.add_marker(pytest.mark.unit)
        elif item.get_closest_marker("unit") is None:
            item.add_marker(pytest.mark.integration)


@pytest.fixture
def span_exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def tracer_provider(span_exporter: InMemorySpanExporter) -> Iterator[TracerProvider]:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(span_exporter))
    yield provider
    provider.shutdown()

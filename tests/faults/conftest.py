# SPDX-License-Identifier: Apache-2.0
"""Fixtures for the fault and security suite.

Binaries and stacks come from ``tests/collector``'s fixtures (``collector_binary``, ``jaeger_binary`` and
``stack_factory``, here named ``stacks``), so the suite skips only when the collector cannot be built, with the same
reason.

    def test_x(stacks, pipelines, report):
        stack = stacks(env=FAST_RETRY)                          # started; stopped at teardown
        pipeline = pipelines(stack.otlp_http_endpoint)          # real filter, real OTLP exporter
        ...
        report("collector-down", sent=40, delivered=40)         # printed and kept as a junit property

Teardown order is the fixture order: pipelines are shut down (flushed) before the stacks stop, and any mount is
removed last, whatever the test did.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from otel_filter import Pipeline, Valves
from tests.collector.conftest import collector_binary, jaeger_binary, stack_factory  # noqa: F401 (fixtures reused)
from tests.support.stack import Stack

from .turns import TurnFactory

# The filter's BatchSpanProcessor waits 5 s between exports by default; 500 ms keeps the suite short and
# recovery times readable. Every number the tests report was measured with this value.
BSP_SCHEDULE_DELAY_MS = "500"


@pytest.fixture
def stacks(stack_factory: Callable[..., Stack]) -> Callable[..., Stack]:  # noqa: F811
    """``tests.collector``'s ``stack_factory``: started stacks (collector + Langfuse contract endpoint + optional
    Jaeger), all stopped at teardown."""
    return stack_factory


@pytest.fixture
def pipelines(stacks: Callable[..., Stack], monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., Pipeline]]:
    """Real filters (``Pipeline`` with its own OTLP/HTTP exporter); each is shut down (flushed) at teardown.

    Depends on ``stacks`` so that pipelines are flushed while the collector still runs.
    """
    monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", BSP_SCHEDULE_DELAY_MS)
    made: list[Pipeline] = []

    def make(endpoint: str, **valves: Any) -> Pipeline:
        pipeline = Pipeline()
        pipeline.valves = Valves(otlp_endpoint=endpoint, **valves)
        asyncio.run(pipeline.on_startup())
        made.append(pipeline)
        return pipeline

    yield make
    for pipeline in made:
        asyncio.run(pipeline.on_shutdown())


@pytest.fixture
def turns() -> TurnFactory:
    return TurnFactory()


@pytest.fixture
def report(capsys: pytest.CaptureFixture[str], record_property: Callable[[str, object], None]) -> Callable[..., None]:
    """Print measured numbers to the terminal (even with output capture) and keep them as junit properties."""

    def emit(name: str, **numbers: object) -> None:
        for key, value in numbers.items():
            record_property(f"{name}.{key}", value)
        text = " ".join(f"{key}={value}" for key, value in numbers.items())
        with capsys.disabled():
            print(f"\n[{name}] {text}")

    return emit


@pytest.fixture
def secret() -> Callable[[str], str]:
    """Fresh, unmistakable secret values (random, so a match in a scan cannot be a coincidence)."""

    def make(prefix: str) -> str:
        return f"{prefix}{secrets.token_hex(12)}"

    return make

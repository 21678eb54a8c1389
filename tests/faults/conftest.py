# SPDX-License-Identifier: Apache-2.0
"""Fixtures for the fault and security suite.

Binaries come from the same cached builds as ``tests/collector`` (its ``collector_binary``/``jaeger_binary``
fixtures are reused, so the suite skips only when the collector cannot be built, with the same reason).

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
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from collector.testing import ROOT_CONFIG, Stack
from otel_filter import Pipeline, Valves
from tests.collector.conftest import collector_binary, jaeger_binary  # noqa: F401 (fixtures reused as is)

from .turns import TurnFactory

# The filter's BatchSpanProcessor waits 5 s between exports by default; 500 ms keeps the suite short and
# recovery times readable. Every number the tests report was measured with this value.
BSP_SCHEDULE_DELAY_MS = "500"


@pytest.fixture
def stacks(collector_binary: Path, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Callable[..., Stack]]:  # noqa: F811
    """Start stacks (collector + Langfuse contract endpoint + optional Jaeger); all are stopped at teardown."""
    started: list[Stack] = []

    def make(
        *,
        jaeger: bool = False,
        configs: Sequence[Path] = (ROOT_CONFIG,),
        env: Mapping[str, str] | None = None,
        langfuse: bool = True,
        public_key: str = "pk-lf-test",
        secret_key: str = "sk-lf-test",
        start: bool = True,
    ) -> Stack:
        stack = Stack(
            collector_binary=collector_binary,
            jaeger_binary=request.getfixturevalue("jaeger_binary") if jaeger else None,
            workdir=tmp_path / f"stack{len(started)}",
            configs=configs,
            env=env,
            langfuse=langfuse,
            public_key=public_key,
            secret_key=secret_key,
        )
        started.append(stack)
        if start:
            stack.start()
        return stack

    yield make
    for stack in started:
        stack.stop()


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

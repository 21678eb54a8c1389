# SPDX-License-Identifier: Apache-2.0
"""Fixtures shared by the subject folders that start real processes: built binaries, stacks, real filters.

A folder's ``conftest.py`` imports them all (pytest finds fixtures by name in a conftest's namespace; a fixture
such as ``rig`` needs the ones it is built from next to it)::

    from tests.support.fixtures import *  # noqa: F403 (the shared process fixtures, found by name)

Binaries come from the build cache (``python -m collector build`` / ``build-jaeger`` run before the tests in CI,
so these fixtures only look them up). Override with ``OWUI_OTEL_COLLECTOR_BINARY`` (e.g. an ``otelcol-contrib``
0.161.0 binary, to check that our configs run on the official distribution) or ``OWUI_OTEL_JAEGER_BINARY``.
The suite skips only when the collector cannot be built, with that reason.

    def test_x(stacks, pipelines, report):
        stack = stacks(env=FAST_RETRY)                          # started; stopped at teardown
        pipeline = pipelines(stack.otlp_http_endpoint)          # real filter, real OTLP exporter
        ids = send_spans(stack.otlp_http_traces_url, count=3)   # filter-shaped spans, real SDK exporter
        report("collector-down", sent=40, delivered=40)         # printed and kept as a junit property

Teardown order is the fixture order: pipelines are shut down (flushed) before the stacks stop, and any mount is
removed last, whatever the test did.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from collector import BuildError, GoNotFoundError, build_collector, build_jaeger
from otel_filter import Pipeline, Valves
from tests.support.spans import SentSpan, send_spans_impl
from tests.support.stack import Stack
from tests.support.turns import TurnFactory

__all__ = [
    "collector_binary",
    "jaeger_binary",
    "pipelines",
    "report",
    "rig",
    "secret",
    "send_spans",
    "stack_factory",
    "stacks",
    "turns",
]


def _cached_binary(variable: str, build: Callable[[], Path], *, name: str, command: str) -> Path:
    """``$variable`` when set, else the cached build; skips only if ``name`` cannot be built here."""
    value = os.environ.get(variable, "").strip()
    if value:
        path = Path(value)
        if not path.is_file():
            pytest.fail(f"{variable}={value} does not exist")
        return path
    try:
        return build()
    except (GoNotFoundError, BuildError) as exc:
        pytest.skip(f"{name} cannot be built on this machine, run `python -m collector {command}`: {exc}")


@pytest.fixture(scope="session")
def collector_binary() -> Path:
    """The owui-otelcol binary (cached build; skips only if it cannot be built here)."""
    return _cached_binary("OWUI_OTEL_COLLECTOR_BINARY", build_collector, name="owui-otelcol", command="build")


@pytest.fixture(scope="session")
def jaeger_binary() -> Path:
    """The Jaeger v2 binary (cached build; skips only if it cannot be built here)."""
    return _cached_binary("OWUI_OTEL_JAEGER_BINARY", build_jaeger, name="jaeger", command="build-jaeger")


@pytest.fixture
def stack_factory(
    collector_binary: Path, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[Callable[..., Stack]]:
    """Start stacks (collector + optional Jaeger + Langfuse contract endpoint); all are stopped at teardown.

    Call with ``jaeger=True`` to add Jaeger (builds/looks up the binary lazily), ``start=False`` to get an unstarted
    :class:`Stack`; every other keyword goes to :class:`Stack` (``configs=[...]``, ``env={...}``, ``langfuse=False``
    to keep the endpoint down, ``public_key``/``secret_key``).
    """
    stacks: list[Stack] = []

    def make(*, jaeger: bool = False, start: bool = True, **options: Any) -> Stack:
        stack = Stack(
            collector_binary=collector_binary,
            jaeger_binary=request.getfixturevalue("jaeger_binary") if jaeger else None,
            workdir=tmp_path / f"stack{len(stacks)}",
            **options,
        )
        stacks.append(stack)
        if start:
            stack.start()
        return stack

    yield make
    for stack in stacks:
        stack.stop()


@pytest.fixture
def send_spans() -> Callable[..., list[SentSpan]]:
    """Send filter-shaped spans with the real SDK exporter (see :func:`tests.support.spans.send_spans_impl`)."""
    return send_spans_impl


# The filter's BatchSpanProcessor waits 5 s between exports by default; 500 ms keeps the suite short and
# recovery times readable. Every number the tests report was measured with this value.
BSP_SCHEDULE_DELAY_MS = "500"


@pytest.fixture
def stacks(stack_factory: Callable[..., Stack]) -> Callable[..., Stack]:
    """``stack_factory``: started stacks (collector + Langfuse contract endpoint + optional
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


@dataclass(frozen=True)
class FaultRig:
    """The fault fixtures in one: ``rig.stacks(...)``, ``rig.pipelines(endpoint)``, ``rig.turns.make()``,
    ``rig.secret("pk-lf-")``, ``rig.report("name", n=1)`` (each as the fixture of that name)."""

    stacks: Callable[..., Stack]
    pipelines: Callable[..., Pipeline]
    turns: TurnFactory
    secret: Callable[[str], str]
    report: Callable[..., None]


@pytest.fixture
def rig(
    stacks: Callable[..., Stack],
    pipelines: Callable[..., Pipeline],
    turns: TurnFactory,
    secret: Callable[[str], str],
    report: Callable[..., None],
) -> FaultRig:
    return FaultRig(stacks, pipelines, turns, secret, report)

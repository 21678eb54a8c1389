# SPDX-License-Identifier: Apache-2.0
"""Fixtures for the collector tests: built binaries, a stack factory and filter-shaped spans.

Binaries come from the build cache (``python -m collector build`` / ``build-jaeger`` run before the tests in CI,
so these fixtures only look them up). Override with ``OWUI_OTEL_COLLECTOR_BINARY`` (e.g. an ``otelcol-contrib``
0.161.0 binary, to check that our configs run on the official distribution) or ``OWUI_OTEL_JAEGER_BINARY``.

Reusable by later suites (e.g. the real filter on top)::

    def test_x(stack_factory, send_spans):
        stack = stack_factory(jaeger=True)                 # started; stopped at teardown
        ids = send_spans(stack.otlp_http_traces_url, count=3)
        stack.wait_for_langfuse_spans(3)
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from collector import BuildError, GoNotFoundError, build_collector, build_jaeger
from tests.support.stack import Stack

from .spans import SentSpan, send_spans_impl


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
    """Send filter-shaped spans with the real SDK exporter (see :func:`tests.collector.spans.send_spans_impl`)."""
    return send_spans_impl

# SPDX-License-Identifier: Apache-2.0
"""otel_filter.trace_ids: a turn's ids derived as the Langfuse SDK derives them, the same in every process."""

from __future__ import annotations

import hashlib

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from otel_filter import FilterCore
from otel_filter.trace_ids import span_id_from_seed, trace_id_from_seed, turn_seed, turn_span_id, turn_trace_id
from tests.support.scenarios import load

SEEDS = [
    "external-system-123456",
    "5ebb5e33-e6c7-4f28-98ed-b870a4078d3f:62b773af-0938-43b7-a6d2-b959b61cd457",
    ":msg_0123456789abcdef",
    "temporary:9f2c:ünïcödé-✓",
]  # never "": the SDK's create_trace_id(seed="") is random, and a turn's seed always holds a ":"

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("seed", SEEDS)
def test_trace_id_is_sha256_prefix_32_hex(seed: str) -> None:
    # Equal to the Langfuse SDK's create_trace_id(seed=...): tests/evaluations/test_trace_ids_sdk.py (needs the SDK).
    assert trace_id_from_seed(seed) == hashlib.sha256(seed.encode()).digest()[:16].hex()


@pytest.mark.parametrize("seed", SEEDS)
def test_span_id_is_sha256_prefix_16_hex(seed: str) -> None:
    span_id = span_id_from_seed(seed)
    assert span_id == hashlib.sha256(seed.encode()).digest()[:8].hex()
    assert len(span_id) == 16 and int(span_id, 16) != 0


def test_seed_is_chat_id_and_assistant_message_id() -> None:
    assert turn_seed("c1", "m1") == "c1:m1"
    assert turn_seed(None, "m1") == turn_seed("", "m1") == ":m1"
    assert turn_seed("c1", None) is None and turn_seed("c1", "") is None
    assert turn_trace_id("c1", "m1") == trace_id_from_seed("c1:m1")
    assert turn_trace_id("c1", "m1") != turn_trace_id("c2", "m1") != turn_trace_id("c1", "m2")
    assert turn_trace_id("c1", None) is None and turn_span_id("c1", None) is None


def test_a_lone_surrogate_in_an_id_does_not_raise() -> None:
    assert len(turn_trace_id("c\ud800", "m") or "") == 32


def _core() -> tuple[FilterCore, InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return FilterCore({}, host="pipelines", tracer_provider=provider), exporter


def test_two_processes_give_a_turn_the_same_ids_and_a_rating_can_name_them() -> None:
    """Two FilterCore instances (two processes) trace the same recorded turn: same trace id and span id, the ones a
    later rating derives from the feedback record's ``meta.chat_id`` and ``meta.message_id``."""
    inlet = load("pipelines_ui_stream_turn1_inlet.json")
    outlet = load("pipelines_ui_stream_turn1_outlet.json")
    ids = []
    for _ in range(2):
        core, exporter = _core()
        core.inlet(inlet["body"], inlet["user"])
        core.outlet(outlet["body"], outlet["user"])
        core.shutdown()
        (span,) = exporter.get_finished_spans()
        assert span.parent is None  # a root: the derived id is the trace's own, not a parent's
        ids.append((f"{span.context.trace_id:032x}", f"{span.context.span_id:016x}"))
    feedback_meta = {"chat_id": inlet["body"]["metadata"]["chat_id"], "message_id": outlet["body"]["id"]}
    expected = (turn_trace_id(**feedback_meta), turn_span_id(**feedback_meta))
    assert ids == [expected, expected]


def test_turn_without_a_message_id_keeps_random_ids() -> None:
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "metadata": {"chat_id": ""}}
    trace_ids = set()
    for _ in range(2):
        core, exporter = _core()
        core.inlet(body, {"id": "u"})
        core.shutdown()
        (span,) = exporter.get_finished_spans()
        trace_ids.add(span.context.trace_id)
    assert len(trace_ids) == 2

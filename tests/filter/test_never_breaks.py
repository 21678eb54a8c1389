# SPDX-License-Identifier: Apache-2.0
"""It never breaks a chat: 10,000+ malformed or odd payloads, and failures injected inside.

4,000 generated sequences of 3 to 5 hook calls each feed 12,000 to 20,000 odd bodies, events
and users (``NEVER_BREAKS_EXAMPLES`` changes the count). For every sequence: no exception
escapes, each hook returns the very object it was given with its content unchanged, the
filter's own error counters stay at zero (odd input is traced as far as possible, not merely
survived), and no turn is left behind.
"""

from __future__ import annotations

import asyncio
import copy
import math
import os
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import otel_filter._spans as spans_module
from otel_filter import Filter, Pipeline, Valves
from tests.support.otlp_sink import OtlpSink

pytestmark = pytest.mark.unit

MAX_OPEN = 8
EXAMPLES = int(os.environ.get("NEVER_BREAKS_EXAMPLES", "4000"))
CALLS_PER_EXAMPLE = (3, 5)

leaf = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.binary(max_size=8),
)
anything = st.recursive(
    leaf,
    lambda inner: st.lists(inner, max_size=2) | st.dictionaries(st.text(max_size=6), inner, max_size=2),
    max_leaves=4,
)
ids = st.one_of(
    st.none(),
    st.sampled_from(["", "m1", "m2", "msg_x", "local", "local:sid", "temporary:t", "channel:c", "\ud800"]),
    st.integers(),
    anything,
)
huge_text = st.builds(lambda n, c: c * n, st.integers(min_value=10_000, max_value=200_000), st.sampled_from("xé\u4e2d"))
content = st.one_of(
    st.text(max_size=30),
    huge_text,
    st.lists(
        st.one_of(
            st.fixed_dictionaries({"type": st.just("text"), "text": st.one_of(st.text(max_size=20), anything)}),
            st.fixed_dictionaries(
                {
                    "type": st.just("image_url"),
                    "image_url": st.one_of(anything, st.fixed_dictionaries({"url": st.text(max_size=30)})),
                }
            ),
            anything,
        ),
        max_size=3,
    ),
    anything,
)
message = st.one_of(
    st.fixed_dictionaries(
        {"role": st.one_of(st.sampled_from(["user", "assistant", "system", "tool"]), anything), "content": content},
        optional={
            "tool_calls": anything,
            "tool_call_id": ids,
            "usage": st.one_of(
                anything,
                st.dictionaries(
                    st.sampled_from(
                        [
                            "prompt_tokens",
                            "completion_tokens",
                            "input_tokens",
                            "output_tokens",
                            "prompt_eval_count",
                            "eval_count",
                            "prompt_n",
                            "cache_n",
                            "cache_read_input_tokens",
                            "prompt_tokens_details",
                            "completion_tokens_details",
                        ]
                    ),
                    anything,
                    max_size=5,
                ),
            ),
            "info": anything,
            "finish_reason": anything,
            "output": anything,
            "error": anything,
            "id": ids,
        },
    ),
    anything,
)
metadata = st.one_of(
    anything,
    st.fixed_dictionaries(
        {},
        optional={
            "chat_id": ids,
            "message_id": ids,
            "session_id": ids,
            "user_id": ids,
            "task": st.one_of(st.sampled_from(["title_generation", "tags_generation", "query_generation"]), anything),
            "task_body": anything,
            "model": st.one_of(
                anything,
                st.fixed_dictionaries(
                    {},
                    optional={"owned_by": anything, "openai": anything, "info": anything, "name": anything, "id": ids},
                ),
            ),
            "features": anything,
            "files": anything,
        },
    ),
)
body = st.one_of(
    anything,
    st.fixed_dictionaries(
        {},
        optional={
            "model": ids,
            "messages": st.one_of(st.lists(message, max_size=4), anything),
            "metadata": metadata,
            "stream": anything,
            "temperature": anything,
            "max_tokens": anything,
            "stop": anything,
            "options": anything,
            "id": ids,
            "chat_id": ids,
            "usage": anything,
        },
    ),
)
user = st.one_of(
    st.none(), anything, st.fixed_dictionaries({}, optional={"id": ids, "email": anything, "role": anything})
)
chunk = st.one_of(
    anything,
    st.fixed_dictionaries(
        {},
        optional={
            "id": ids,
            "model": ids,
            "choices": st.one_of(
                anything,
                st.lists(
                    st.fixed_dictionaries({}, optional={"delta": anything, "finish_reason": anything}), max_size=2
                ),
            ),
            "usage": anything,
        },
    ),
)
operation = st.one_of(
    st.tuples(st.just("inlet"), body, user),
    st.tuples(st.just("outlet"), body, user),
    st.tuples(st.just("stream"), chunk, ids),
    st.tuples(st.just("repeat_outlet"), st.none(), st.none()),
)


def _same(before: str, after: Any) -> bool:
    return before == repr(after)


def _snapshot(value: Any) -> str:
    # repr compares structure and values, and treats NaN like NaN (== would not).
    return repr(value)


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(ops=st.lists(operation, min_size=CALLS_PER_EXAMPLE[0], max_size=CALLS_PER_EXAMPLE[1]), functions=st.booleans())
def test_odd_payloads_never_break_a_chat(ops: list[tuple[str, Any, Any]], functions: bool) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    host: Any = (Filter if functions else Pipeline)(tracer_provider=provider)
    host.valves = Valves(max_open_turns=MAX_OPEN, max_content_chars=2_000)
    last_outlet: tuple[Any, Any] | None = None

    def call(hook: str, payload: Any, extra: Any) -> Any:
        if functions:
            if hook == "stream":
                return host.stream(payload, __metadata__=None, __message_id__=extra if isinstance(extra, str) else None)
            user_arg = {"__user__": extra}
            return getattr(host, hook)(payload, **user_arg)
        if hook == "stream":
            return payload  # the Pipelines server has no stream hook
        return asyncio.run(getattr(host, hook)(payload, extra))

    for hook, payload, extra in ops:
        if hook == "repeat_outlet":
            if last_outlet is None:
                continue
            hook, (payload, extra) = "outlet", last_outlet
        before = _snapshot(payload)
        returned = call(hook, payload, extra)
        assert returned is payload
        assert _same(before, payload), f"{hook} changed its payload"
        if hook == "outlet":
            last_outlet = (payload, extra)
        core = host._core_instance
        assert core is None or core.open_turns <= MAX_OPEN

    health = host.health.snapshot()
    assert not [k for k in health if k.endswith("_failed")], health
    if host._core_instance is not None:
        host._core_instance.shutdown()
        assert host._core_instance.open_turns == 0
    for span in exporter.get_finished_spans():
        for value in (span.attributes or {}).values():
            if isinstance(value, str):
                value.encode("utf-8")  # every string is exportable
            if isinstance(value, float):
                assert math.isfinite(value)
    provider.shutdown()


class _ExplodingExporter(SpanExporter):
    def export(self, spans: Any) -> SpanExportResult:
        raise RuntimeError("backend exploded")


class _ExplodingProvider(TracerProvider):
    def get_tracer(self, *args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("no tracer for you")


def _turn(mid: str) -> tuple[dict[str, Any], dict[str, Any]]:
    inlet = {
        "model": "m",
        "messages": [{"role": "user", "content": "hi"}],
        "metadata": {"message_id": mid, "chat_id": "c"},
    }
    outlet = {"model": "m", "id": mid, "chat_id": "c", "messages": [{"role": "assistant", "content": "yo"}]}
    return inlet, outlet


def test_exporter_failure_does_not_break_chat() -> None:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(_ExplodingExporter()))
    pipeline = Pipeline(tracer_provider=provider)
    inlet, outlet = _turn("m1")
    assert asyncio.run(pipeline.inlet(inlet, {"id": "u"})) is inlet
    assert asyncio.run(pipeline.outlet(outlet, {"id": "u"})) is outlet


@pytest.mark.parametrize("model", ["gpt\ud800x", "\udfff" * 3000], ids=["short", "cut"])
def test_a_lone_surrogate_in_the_model_id_still_encodes(model: str) -> None:
    # The model id is the span name: one unencodable name fails the OTLP encoding of the whole batch.
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    pipeline = Pipeline(tracer_provider=provider)
    inlet, outlet = _turn("m1")
    inlet["model"] = outlet["model"] = model
    asyncio.run(pipeline.inlet(inlet, {"id": "u"}))
    asyncio.run(pipeline.outlet(outlet, {"id": "u"}))
    spans = exporter.get_finished_spans()
    assert len(spans) == 1
    assert encode_spans(spans).ByteSize() > 0  # raises UnicodeEncodeError with the surrogate left in


def test_broken_telemetry_setup_does_not_break_chat() -> None:
    pipeline = Pipeline(tracer_provider=_ExplodingProvider())
    inlet, outlet = _turn("m1")
    assert asyncio.run(pipeline.inlet(inlet, None)) is inlet
    assert asyncio.run(pipeline.outlet(outlet, None)) is outlet
    assert pipeline.health.get("inlet_failed") == 1  # counted, not silent


def test_failure_while_ending_a_turn_is_counted_and_the_turn_released(monkeypatch: pytest.MonkeyPatch) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    pipeline = Pipeline(tracer_provider=provider)
    inlet, outlet = _turn("m1")
    asyncio.run(pipeline.inlet(inlet, None))

    def boom(*args: Any, **kwargs: Any) -> Any:
        raise ValueError("attribute mapping bug")

    monkeypatch.setattr(spans_module, "response_attributes", boom)
    sent = copy.deepcopy(outlet)
    assert asyncio.run(pipeline.outlet(sent, None)) is sent
    assert pipeline.health.get("outlet_failed") == 1
    assert pipeline._core().open_turns == 0


def test_failure_while_writing_a_span_in_the_background_is_counted(monkeypatch: pytest.MonkeyPatch) -> None:
    """With its own export pipeline the core writes spans on its worker thread: a failure there is counted
    and the next span is still written."""
    calls = {"n": 0}
    real = spans_module.response_attributes

    def first_one_fails(*args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 1:
            raise ValueError("attribute mapping bug")
        return real(*args, **kwargs)

    monkeypatch.setattr(spans_module, "response_attributes", first_one_fails)
    with OtlpSink() as sink:
        pipeline = Pipeline()
        pipeline.valves = Valves(otlp_endpoint=sink.endpoint)
        for mid in ("m1", "m2"):
            inlet, outlet = _turn(mid)
            asyncio.run(pipeline.inlet(inlet, None))
            assert asyncio.run(pipeline.outlet(outlet, None)) is outlet
        asyncio.run(pipeline.on_shutdown())
        assert [s.attributes["openwebui.message.id"] for s in sink.spans] == ["m2"]
    assert pipeline.health.get("write_failed") == 1
    assert pipeline.health.get("outlet_failed") == 0

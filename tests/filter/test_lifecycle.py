# SPDX-License-Identifier: Apache-2.0
"""Turn lifecycle through the hosts: expiry, caps, duplicates, tasks, valves, shutdown, takeover."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF
from opentelemetry.trace import StatusCode

from otel_filter import Filter, Pipeline, Valves
from tests.filter.bodies import USER, inlet_body, outlet_body
from tests.support.in_memory import make_pipeline
from tests.support.otlp_sink import OtlpSink
from tests.support.owui_hosts import FunctionHost, load_as_function
from tests.support.scenarios import load

pytestmark = pytest.mark.unit


def by_message(spans: Any) -> dict[str, ReadableSpan]:
    return {str(s.attributes["openwebui.message.id"]): s for s in spans if "openwebui.message.id" in s.attributes}


def test_turn_without_outlet_is_ended_after_the_timeout() -> None:
    pipeline, exporter = make_pipeline(turn_timeout_seconds=1)

    async def run() -> None:
        await pipeline.inlet(inlet_body("m-stop"), USER)
        deadline = time.monotonic() + 5
        while not exporter.get_finished_spans() and time.monotonic() < deadline:
            await asyncio.sleep(0.05)  # no hook runs: the sweeper thread must end it

    asyncio.run(run())
    (span,) = exporter.get_finished_spans()
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes["error.type"] == "abandoned"  # type: ignore[index]
    assert span.attributes["openwebui.turn.end_reason"] == "timeout"  # type: ignore[index]
    assert "no outlet within 1s" in (span.status.description or "")
    assert 1.0 <= (span.end_time - span.start_time) / 1e9 < 4.0  # type: ignore[operator]
    assert pipeline.health.get("turns_abandoned_timeout") == 1
    assert pipeline._core().open_turns == 0
    asyncio.run(pipeline.on_shutdown())


def test_open_turns_are_capped_and_evictions_counted() -> None:
    pipeline, exporter = make_pipeline(max_open_turns=3)

    async def run() -> None:
        for i in range(5):
            await pipeline.inlet(inlet_body(f"m{i}"), USER)

    asyncio.run(run())
    evicted = by_message(exporter.get_finished_spans())
    assert set(evicted) == {"m0", "m1"}  # the oldest go first
    assert all(s.attributes["openwebui.turn.end_reason"] == "capacity" for s in evicted.values())  # type: ignore[index]
    assert pipeline._core().open_turns == 3
    assert pipeline.health.get("turns_abandoned_capacity") == 2
    asyncio.run(pipeline.on_shutdown())
    ended = by_message(exporter.get_finished_spans())
    assert {ended[m].attributes["openwebui.turn.end_reason"] for m in ("m2", "m3", "m4")} == {"shutdown"}  # type: ignore[index]


def test_second_outlet_is_ignored_and_late_outlet_is_reported(caplog: pytest.LogCaptureFixture) -> None:
    pipeline, exporter = make_pipeline(turn_timeout_seconds=1)

    async def run() -> None:
        await pipeline.inlet(inlet_body("m1"), USER)
        await pipeline.outlet(outlet_body("m1", usage={"prompt_tokens": 3, "completion_tokens": 2}), USER)
        await pipeline.outlet(outlet_body("m1", usage={"prompt_tokens": 99, "completion_tokens": 99}), USER)
        await pipeline.inlet(inlet_body("m2"), USER)
        await asyncio.sleep(1.3)
        pipeline._core().sweep()
        with caplog.at_level(logging.WARNING, logger="otel_filter"):
            await pipeline.outlet(outlet_body("m2"), USER)

    asyncio.run(run())
    spans = by_message(exporter.get_finished_spans())
    assert len(exporter.get_finished_spans()) == 2
    assert spans["m1"].attributes["gen_ai.usage.input_tokens"] == 3  # type: ignore[index]
    assert spans["m2"].attributes["openwebui.turn.end_reason"] == "timeout"  # type: ignore[index]
    assert pipeline.health.get("duplicate_outlets") == 1
    assert pipeline.health.get("late_outlets") == 1
    assert "turn_timeout_seconds" in caplog.text
    asyncio.run(pipeline.on_shutdown())


def test_outlet_without_inlet_is_traced_with_what_it_has() -> None:
    pipeline, exporter = make_pipeline()
    asyncio.run(pipeline.outlet(outlet_body("m-orphan", usage={"prompt_tokens": 5, "completion_tokens": 6}), USER))
    (span,) = exporter.get_finished_spans()
    attributes = span.attributes or {}
    assert attributes["openwebui.turn.inlet_seen"] is False
    assert attributes["openwebui.turn.end_reason"] == "orphan_outlet"
    assert (attributes["gen_ai.usage.input_tokens"], attributes["gen_ai.usage.output_tokens"]) == (5, 6)
    assert attributes["gen_ai.conversation.id"] == "chat-1"
    assert '"question for m-orphan"' in str(attributes["gen_ai.input.messages"])
    assert '"answer"' not in str(attributes["gen_ai.input.messages"])  # the reply is the output, not an input
    assert '"answer"' in str(attributes["gen_ai.output.messages"])
    assert pipeline.health.get("orphan_outlets") == 1
    assert pipeline._core().open_turns == 0


def test_task_inlet_sharing_the_turns_message_id_never_touches_the_turn() -> None:
    """Open WebUI 0.6.x: task inlets carry the turn's message_id, with the task model, before or after the outlet."""
    pipeline, exporter = make_pipeline()

    def task(name: str) -> dict[str, Any]:
        return inlet_body("m1", model="small-task-model", task=name, task_body={"chat_id": "chat-1"})

    async def run() -> None:
        await pipeline.inlet(inlet_body("m1", model="gpt-4o"), USER)
        await pipeline.inlet(task("title_generation"), USER)
        await pipeline.outlet(outlet_body("m1", usage={"prompt_eval_count": 10, "eval_count": 20}), USER)
        await pipeline.inlet(task("tags_generation"), USER)

    asyncio.run(run())
    spans = exporter.get_finished_spans()
    main = [s for s in spans if "openwebui.task" not in (s.attributes or {})]
    tasks = sorted(s.name for s in spans if "openwebui.task" in (s.attributes or {}))
    assert len(main) == 1
    assert main[0].attributes["gen_ai.request.model"] == "gpt-4o"  # type: ignore[index]
    assert main[0].attributes["gen_ai.usage.output_tokens"] == 20  # type: ignore[index]
    assert tasks == ["tags_generation", "title_generation"]


def test_record_tasks_off_skips_task_spans() -> None:
    pipeline, exporter = make_pipeline(record_tasks=False)
    recorded = load("pipelines_ui_stream_turn1_title_generation_inlet.json")
    asyncio.run(pipeline.inlet(recorded["body"], recorded["user"]))
    assert exporter.get_finished_spans() == ()
    assert pipeline.health.get("tasks_skipped") == 1


def test_multi_model_answers_in_one_chat_are_separate_spans() -> None:
    pipeline, exporter = make_pipeline()

    async def run() -> None:
        await pipeline.inlet(inlet_body("m-a", model="gpt-4o"), USER)
        await pipeline.inlet(inlet_body("m-b", model="llama3"), USER)
        await pipeline.outlet(outlet_body("m-b", model="llama3"), USER)
        await pipeline.outlet(outlet_body("m-a", model="gpt-4o"), USER)

    asyncio.run(run())
    spans = by_message(exporter.get_finished_spans())
    assert spans["m-a"].name == "chat gpt-4o" and spans["m-b"].name == "chat llama3"
    assert spans["m-a"].attributes["gen_ai.conversation.id"] == spans["m-b"].attributes["gen_ai.conversation.id"]  # type: ignore[index]


def test_api_turns_without_ids_are_matched_by_their_conversation() -> None:
    """Two concurrent API calls from one user: each outlet finds its own inlet."""
    pipeline, exporter = make_pipeline()

    def api_inlet(text: str) -> dict[str, Any]:
        return {
            "model": "m",
            "messages": [{"role": "user", "content": text}],
            "metadata": {"chat_id": "", "message_id": None},
        }

    def api_outlet(text: str, mid: str, tokens: int) -> dict[str, Any]:
        return {
            "model": "m",
            "id": mid,
            "chat_id": "",
            "messages": [
                {"id": None, "role": "user", "content": text},
                {
                    "id": mid,
                    "role": "assistant",
                    "content": "ok",
                    "usage": {"prompt_tokens": tokens, "completion_tokens": 1},
                },
            ],
        }

    async def run() -> None:
        await pipeline.inlet(api_inlet("first question"), USER)
        await pipeline.inlet(api_inlet("second question"), USER)
        await pipeline.outlet(api_outlet("second question", "msg_2", 22), USER)
        await pipeline.outlet(api_outlet("first question", "msg_1", 11), USER)

    asyncio.run(run())
    spans = by_message(exporter.get_finished_spans())
    assert spans["msg_1"].attributes["gen_ai.usage.input_tokens"] == 11  # type: ignore[index]
    assert "first question" in str(spans["msg_1"].attributes["gen_ai.input.messages"])  # type: ignore[index]
    assert "second question" in str(spans["msg_2"].attributes["gen_ai.input.messages"])  # type: ignore[index]


def test_user_email_only_when_enabled() -> None:
    for enabled in (False, True):
        pipeline, exporter = make_pipeline(record_user_email=enabled)
        asyncio.run(pipeline.inlet(inlet_body("m"), USER))
        asyncio.run(pipeline.outlet(outlet_body("m"), USER))
        (span,) = exporter.get_finished_spans()
        assert (span.attributes or {}).get("user.email") == ("ada@example.com" if enabled else None)
        assert span.attributes["user.id"] == "u-1"  # type: ignore[index]


@pytest.mark.parametrize("valves", [{"capture_message_content": False}, {"redact_patterns": ["(broken"]}])
def test_no_content_when_capture_is_off_or_redaction_is_broken(valves: dict[str, Any]) -> None:
    pipeline, exporter = make_pipeline(**valves)
    asyncio.run(pipeline.inlet(inlet_body("m"), USER))
    asyncio.run(pipeline.outlet(outlet_body("m"), USER))
    (span,) = exporter.get_finished_spans()
    assert not any(k.startswith(("gen_ai.input", "gen_ai.output", "gen_ai.system")) for k in span.attributes or {})
    assert span.attributes["gen_ai.request.model"] == "gpt-4o"  # type: ignore[index]


def test_redaction_applies_to_input_and_output() -> None:
    pipeline, exporter = make_pipeline(redact_patterns=[r"question for \S+", "answer"])
    asyncio.run(pipeline.inlet(inlet_body("m"), USER))
    asyncio.run(pipeline.outlet(outlet_body("m"), USER))
    (span,) = exporter.get_finished_spans()
    text = str(span.attributes["gen_ai.input.messages"]) + str(span.attributes["gen_ai.output.messages"])  # type: ignore[index]
    assert "question for" not in text and "answer" not in text
    assert text.count("[REDACTED]") == 2


def test_bad_valve_is_logged_with_its_fix_and_chats_still_pass(caplog: pytest.LogCaptureFixture) -> None:
    pipeline, exporter = make_pipeline()
    pipeline.valves = Valves(otlp_protocol="grcp", max_content_chars=5)
    body = inlet_body("m")
    with caplog.at_level(logging.ERROR, logger="otel_filter"):
        returned = asyncio.run(pipeline.inlet(body, USER))
    assert returned is body
    assert "valve otlp_protocol: 'grcp'" in caplog.text and "Fix: set it to 'http/protobuf' or 'grpc'" in caplog.text
    assert "valve max_content_chars: " in caplog.text
    asyncio.run(pipeline.outlet(outlet_body("m"), USER))
    assert len(exporter.get_finished_spans()) == 1


def _bsp_threads() -> int:
    return sum(1 for t in threading.enumerate() if t.name.startswith("OtelBatch"))


def test_valve_change_swaps_the_exporter_without_losing_open_turns() -> None:
    with OtlpSink() as first, OtlpSink() as second:
        pipeline = Pipeline()
        pipeline.valves = Valves(otlp_endpoint=first.endpoint)
        threads_before = _bsp_threads()

        async def run() -> None:
            await pipeline.on_startup()
            await pipeline.inlet(inlet_body("done-before"), USER)
            await pipeline.outlet(outlet_body("done-before"), USER)
            await pipeline.inlet(inlet_body("open-across-change"), USER)
            pipeline.valves = Valves(otlp_endpoint=second.endpoint, service_name="renamed")
            await pipeline.on_valves_updated()
            await pipeline.outlet(outlet_body("open-across-change"), USER)
            await pipeline.on_shutdown()

        asyncio.run(run())
        assert [s.attributes["openwebui.message.id"] for s in first.wait_for(1)] == ["done-before"]
        (moved,) = second.wait_for(1)
        assert moved.attributes["openwebui.message.id"] == "open-across-change"
        assert moved.attributes["openwebui.turn.end_reason"] == "outlet"
        assert moved.resource["service.name"] == "renamed"
        deadline = time.monotonic() + 5
        while _bsp_threads() > threads_before and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _bsp_threads() == threads_before  # old and new exporter threads both gone


def test_shutdown_ends_open_turns_and_flushes_everything() -> None:
    with OtlpSink() as sink:
        pipeline = Pipeline()
        pipeline.valves = Valves(otlp_endpoint=sink.endpoint)

        async def run() -> None:
            await pipeline.inlet(inlet_body("complete"), USER)
            await pipeline.outlet(outlet_body("complete"), USER)
            await pipeline.inlet(inlet_body("open-1"), USER)
            await pipeline.inlet(inlet_body("open-2"), USER)
            await pipeline.on_shutdown()

        asyncio.run(run())
        # No waiting: on_shutdown returned only after the flush.
        spans = {s.attributes["openwebui.message.id"]: s for s in sink.spans}
        assert set(spans) == {"complete", "open-1", "open-2"}
        assert spans["open-1"].attributes["openwebui.turn.end_reason"] == "shutdown"
        assert spans["open-1"].attributes["error.type"] == "abandoned"
        assert spans["open-1"].status_code == 2  # STATUS_CODE_ERROR


def test_functions_valves_rebuilt_per_call_are_detected() -> None:
    with OtlpSink() as first, OtlpSink() as second:
        instance, _ = load_as_function(function_id="valve_probe")
        host = FunctionHost(instance, "valve_probe", {"otlp_endpoint": first.endpoint})

        async def run() -> None:
            await host.call("inlet", inlet_body("a"), {"__user__": USER})
            await host.call("outlet", outlet_body("a"), {"__user__": USER})
            await host.call("inlet", inlet_body("b"), {"__user__": USER})
            host.stored_valves = {"otlp_endpoint": second.endpoint}  # admin saves new valves
            await host.call("outlet", outlet_body("b"), {"__user__": USER})

        asyncio.run(run())
        instance._core_instance.shutdown()
        assert [s.attributes["openwebui.message.id"] for s in first.wait_for(1)] == ["a"]
        assert [s.attributes["openwebui.message.id"] for s in second.wait_for(1)] == ["b"]


def test_edited_function_takes_over_the_open_turns_of_the_old_module() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    old, _ = load_as_function(function_id="edited", tracer_provider=provider)
    new, _ = load_as_function(function_id="edited", tracer_provider=provider)  # admin saved an edit
    old_host, new_host = FunctionHost(old, "edited"), FunctionHost(new, "edited")

    async def run() -> None:
        await old_host.call("inlet", inlet_body("in-flight"), {"__user__": USER})
        await new_host.call(
            "outlet", outlet_body("in-flight", usage={"prompt_tokens": 1, "completion_tokens": 2}), {"__user__": USER}
        )

    asyncio.run(run())
    (span,) = exporter.get_finished_spans()
    assert span.attributes["openwebui.turn.end_reason"] == "outlet"  # type: ignore[index]
    assert "openwebui.turn.inlet_seen" not in (span.attributes or {})  # the old module's inlet counts
    assert old._core_instance.open_turns == 0
    new._core_instance.shutdown()


def test_functions_inlet_links_to_the_hosts_current_span() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    host_provider = TracerProvider()  # stands for Open WebUI's own (global) provider
    instance = Filter(tracer_provider=provider)
    with host_provider.get_tracer("open-webui").start_as_current_span("POST /api/chat/completions") as server_span:
        instance.inlet(inlet_body("m"), __user__=USER)
    instance.outlet(outlet_body("m"), __user__=USER)
    (span,) = exporter.get_finished_spans()
    assert span.parent is None  # linked, not parented
    assert [link.context.span_id for link in span.links] == [server_span.get_span_context().span_id]
    assert trace.get_current_span() is trace.INVALID_SPAN


def test_always_off_sampler_records_nothing_and_keeps_no_state() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider(sampler=ALWAYS_OFF)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    pipeline = Pipeline(tracer_provider=provider)

    async def run() -> None:
        for i in range(20):
            await pipeline.inlet(inlet_body(f"m{i}"), USER)
            await pipeline.outlet(outlet_body(f"m{i}"), USER)

    asyncio.run(run())
    assert exporter.get_finished_spans() == ()
    assert pipeline._core().open_turns == 0
    assert not any(key.endswith("_failed") for key in pipeline.health.snapshot())

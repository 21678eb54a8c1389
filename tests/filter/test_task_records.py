# SPDX-License-Identifier: Apache-2.0
"""Task calls (title, tags, follow-ups) as records inside their turn's trace, never billed on an estimate.

Replays the recorded Open WebUI 0.12 web-UI turn with its three background task inlets (which carry no
``metadata.message_id``: the turn is found from ``task_body``), through FilterCore with an in-memory exporter.
"""

from __future__ import annotations

from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ParentBased, Sampler, TraceIdRatioBased
from opentelemetry.trace import Link, NonRecordingSpan, SpanContext, SpanKind, TraceFlags

from otel_filter import FilterCore
from otel_filter.trace_ids import turn_span_id, turn_trace_id
from tests.support.langfuse_mapping import langfuse_costs, to_observation
from tests.support.scenarios import load

TASKS = ("title_generation", "tags_generation", "follow_up_generation")
TURN_INLET = load("pipelines_ui_stream_turn1_inlet.json")
TURN_OUTLET = load("pipelines_ui_stream_turn1_outlet.json")
TASK_INLETS = {task: load(f"pipelines_ui_stream_turn1_{task}_inlet.json") for task in TASKS}
CHAT_ID = TURN_INLET["body"]["metadata"]["chat_id"]
MESSAGE_ID = TURN_OUTLET["body"]["id"]

pytestmark = pytest.mark.unit


def _core(sampler: Sampler | None = None, **valves: Any) -> tuple[FilterCore, InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider(sampler=sampler) if sampler is not None else TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return FilterCore(valves, host="pipelines", tracer_provider=provider), exporter


def _send_turn(core: FilterCore) -> None:
    core.inlet(TURN_INLET["body"], TURN_INLET["user"])
    core.outlet(TURN_OUTLET["body"], TURN_OUTLET["user"])


def _send_tasks(core: FilterCore, **kwargs: Any) -> None:
    for recorded in TASK_INLETS.values():
        core.inlet(recorded["body"], recorded["user"], **kwargs)


def _split(spans: Any) -> tuple[ReadableSpan, dict[str, ReadableSpan]]:
    turns = [s for s in spans if "openwebui.task" not in (s.attributes or {})]
    assert len(turns) == 1, [s.name for s in spans]
    return turns[0], {str((s.attributes or {})["openwebui.task"]): s for s in spans if s not in turns}


def _assert_in_turn(task: ReadableSpan, turn: ReadableSpan) -> None:
    assert task.context.trace_id == turn.context.trace_id
    assert task.parent is not None and task.parent.span_id == turn.context.span_id


def test_tasks_after_the_turn_ended_are_records_in_its_trace() -> None:
    core, exporter = _core()
    _send_turn(core)
    _send_tasks(core)  # 0.12: title, tags and follow-ups start after the outlet
    core.shutdown()
    turn, tasks = _split(exporter.get_finished_spans())
    assert f"{turn.context.trace_id:032x}" == turn_trace_id(CHAT_ID, MESSAGE_ID)
    assert f"{turn.context.span_id:016x}" == turn_span_id(CHAT_ID, MESSAGE_ID)
    assert set(tasks) == set(TASKS)
    for name, task in tasks.items():
        _assert_in_turn(task, turn)
        attributes = dict(task.attributes or {})
        assert task.name == name and task.kind is SpanKind.INTERNAL
        assert attributes["openwebui.message.id"] == MESSAGE_ID  # the turn it serves
        assert attributes["openwebui.model.id"] == "mock-gpt"  # the task's model, not as an inference's model
        # Nothing a backend could price: no operation, no model, no usage, no cost.
        assert not any(k.startswith("gen_ai.usage.") for k in attributes), attributes
        assert "gen_ai.operation.name" not in attributes and "gen_ai.request.model" not in attributes
        assert "gen_ai.output.messages" not in attributes
        assert attributes["gen_ai.input.messages"]  # the prompt is kept (content capture is on by default)
    assert core.health.get("task_spans") == 3


def test_a_task_in_another_process_joins_the_turn() -> None:
    """The turn is traced by one FilterCore, its tasks by another (another Pipelines worker, a restart)."""
    first, turn_exporter = _core()
    _send_turn(first)
    first.shutdown()
    second, task_exporter = _core()
    _send_tasks(second)
    second.shutdown()
    (turn,) = turn_exporter.get_finished_spans()
    tasks = task_exporter.get_finished_spans()
    assert len(tasks) == 3
    for task in tasks:
        _assert_in_turn(task, turn)


def test_a_task_while_the_turn_is_open_joins_it_and_leaves_it_open() -> None:
    core, exporter = _core()
    core.inlet(TURN_INLET["body"], TURN_INLET["user"])
    _send_tasks(core)
    assert core.open_turns == 1
    core.outlet(TURN_OUTLET["body"], TURN_OUTLET["user"])
    core.shutdown()
    turn, tasks = _split(exporter.get_finished_spans())
    assert turn.attributes is not None and turn.attributes["openwebui.turn.end_reason"] == "outlet"
    for task in tasks.values():
        _assert_in_turn(task, turn)


def test_a_task_sent_straight_to_the_task_endpoint_is_its_own_root() -> None:
    core, exporter = _core()
    recorded = load("pipelines_task_endpoint_title_generation_inlet.json")  # no message id anywhere
    core.inlet(recorded["body"], recorded["user"])
    core.shutdown()
    (task,) = exporter.get_finished_spans()
    assert task.parent is None and task.name == "title_generation"
    assert "gen_ai.request.model" not in (task.attributes or {})


def test_record_tasks_off_records_the_turn_only() -> None:
    core, exporter = _core(record_tasks=False)
    _send_turn(core)
    _send_tasks(core)
    core.shutdown()
    (turn,) = exporter.get_finished_spans()
    assert "openwebui.task" not in (turn.attributes or {})
    assert core.health.get("tasks_skipped") == 3


def test_a_callers_traceparent_stays_a_link_and_the_derived_trace_id_wins() -> None:
    caller = SpanContext(0x0AF7651916CD43DD8448EB211C80319C, 0xB7AD6B7169203331, is_remote=True)
    links = (Link(caller),)
    core, exporter = _core()
    core.inlet(TURN_INLET["body"], TURN_INLET["user"], links=links)
    core.outlet(TURN_OUTLET["body"], TURN_OUTLET["user"])
    _send_tasks(core, links=links)
    core.shutdown()
    turn, tasks = _split(exporter.get_finished_spans())
    assert f"{turn.context.trace_id:032x}" == turn_trace_id(CHAT_ID, MESSAGE_ID)
    assert turn.parent is None and [link.context for link in turn.links] == [caller]
    for task in tasks.values():
        _assert_in_turn(task, turn)
        assert [link.context for link in task.links] == [caller]


def test_an_explicit_parent_wins_over_derivation() -> None:
    """An embedding application that passes ``parent`` gets its own trace: the turn is its child."""
    parent_context = SpanContext(0x1234, 0x5678, is_remote=True, trace_flags=TraceFlags(TraceFlags.SAMPLED))
    parent = trace.set_span_in_context(NonRecordingSpan(parent_context))
    core, exporter = _core()
    core.inlet(TURN_INLET["body"], TURN_INLET["user"], parent=parent)
    core.outlet(TURN_OUTLET["body"], TURN_OUTLET["user"])
    core.shutdown()
    (turn,) = exporter.get_finished_spans()
    assert turn.context.trace_id == 0x1234 and turn.parent is not None and turn.parent.span_id == 0x5678


def test_ratio_sampling_keeps_a_turn_and_its_tasks_together_in_every_process() -> None:
    """A ratio sampler decides from the derived trace id alone: two processes agree on each turn, and a task record
    is kept exactly when its turn is."""
    kept: list[set[str]] = []
    for _ in range(2):
        turn_core, turn_exporter = _core(ParentBased(TraceIdRatioBased(0.5)))
        task_core, task_exporter = _core(ParentBased(TraceIdRatioBased(0.5)))
        for index in range(40):
            message_id = f"{MESSAGE_ID}-{index}"
            body = {**TURN_INLET["body"], "metadata": {**TURN_INLET["body"]["metadata"], "message_id": message_id}}
            turn_core.inlet(body, TURN_INLET["user"])
            turn_core.outlet({**TURN_OUTLET["body"], "id": message_id}, TURN_OUTLET["user"])
            task = TASK_INLETS["follow_up_generation"]
            task_body = {**task["body"]["metadata"]["task_body"], "message_id": message_id}
            task_core.inlet({**task["body"], "metadata": {**task["body"]["metadata"], "task_body": task_body}}, {})
        turn_core.shutdown()
        task_core.shutdown()
        turns = {str((s.attributes or {})["openwebui.message.id"]) for s in turn_exporter.get_finished_spans()}
        tasks = {str((s.attributes or {})["openwebui.message.id"]) for s in task_exporter.get_finished_spans()}
        assert 0 < len(turns) < 40  # the sampler really dropped some
        assert tasks == turns
        kept.append(turns)
    assert kept[0] == kept[1]


def test_langfuse_reads_the_task_as_an_unpriced_span_and_the_turn_as_a_generation() -> None:
    """Direct export (no collector): Langfuse's rules (tests/support/langfuse_mapping.py, checked against its
    ingestion code) make the task record a SPAN without a model, so it is neither tokenised nor priced. The
    collector's Langfuse pipeline makes it an EVENT (tests/collector/test_task_records_langfuse.py)."""
    core, exporter = _core()
    _send_turn(core)
    _send_tasks(core)
    core.shutdown()
    turn, tasks = _split(exporter.get_finished_spans())
    turn_observation = to_observation(dict(turn.attributes or {}), span_name=turn.name)
    assert turn_observation.type == "GENERATION" and turn_observation.model == "mock-gpt"
    for task in tasks.values():
        observation = to_observation(dict(task.attributes or {}), span_name=task.name)
        assert (observation.type, observation.model, observation.usage_details) == ("SPAN", None, {})
        costs = langfuse_costs(observation)
        assert not costs.tokenised and costs.total_cost is None and costs.usage_details == {}


def test_an_outlet_whose_inlet_was_elsewhere_joins_the_trace_with_its_own_span_id() -> None:
    """Inlet in one process, outlet in another (Pipelines behind a load balancer): both spans land in the turn's
    trace, but only the inlet's side takes the turn's span id, so two spans never share one."""
    first, inlet_exporter = _core()
    first.inlet(TURN_INLET["body"], TURN_INLET["user"])
    first.shutdown()  # never sees the outlet: ends the turn as abandoned
    second, outlet_exporter = _core()
    second.outlet(TURN_OUTLET["body"], TURN_OUTLET["user"])
    second.shutdown()
    (abandoned,) = inlet_exporter.get_finished_spans()
    (orphan,) = outlet_exporter.get_finished_spans()
    assert f"{abandoned.context.span_id:016x}" == turn_span_id(CHAT_ID, MESSAGE_ID)
    assert orphan.context.trace_id == abandoned.context.trace_id
    assert orphan.context.span_id != abandoned.context.span_id
    assert second.health.get("orphan_outlets") == 1

# SPDX-License-Identifier: Apache-2.0
"""The filter's own export -> real collector -> Langfuse contract endpoint: a turn with its three task records.

What Langfuse receives, read with its rules (tests/support/langfuse_mapping.py): one GENERATION for the turn, which
names the trace, and three EVENTs inside the same trace, under the turn, with no model, usage or cost, so Langfuse
neither estimates nor bills them.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from otel_filter import FilterCore
from otel_filter.trace_ids import turn_span_id, turn_trace_id
from tests.support.langfuse_mapping import langfuse_costs, to_observation
from tests.support.scenarios import load
from tests.support.stack import Stack

pytestmark = pytest.mark.integration

TASKS = ("title_generation", "tags_generation", "follow_up_generation")


def test_task_records_reach_langfuse_as_unpriced_events_in_their_turns_trace(
    stack_factory: Callable[..., Stack],
) -> None:
    stack = stack_factory()
    core = FilterCore({"otlp_endpoint": stack.otlp_http_endpoint}, host="pipelines")
    inlet, outlet = load("pipelines_ui_stream_turn1_inlet.json"), load("pipelines_ui_stream_turn1_outlet.json")
    core.inlet(inlet["body"], inlet["user"])
    core.outlet(outlet["body"], outlet["user"])
    for task in TASKS:
        recorded = load(f"pipelines_ui_stream_turn1_{task}_inlet.json")
        core.inlet(recorded["body"], recorded["user"])
    core.shutdown()

    spans = stack.wait_for_langfuse_spans(4)
    assert len(spans) == 4
    trace_id = turn_trace_id(inlet["body"]["metadata"]["chat_id"], outlet["body"]["id"])
    turn_id = turn_span_id(inlet["body"]["metadata"]["chat_id"], outlet["body"]["id"])
    assert {span["trace_id"] for span in spans} == {trace_id}
    [turn] = [span for span in spans if span["span_id"] == turn_id]
    assert turn["parent_span_id"] == ""
    turn_observation = to_observation(turn["attributes"], span_name=turn["name"])
    assert turn_observation.type == "GENERATION" and turn_observation.trace_name == "chat mock-gpt"

    tasks = {span["attributes"]["openwebui.task"]: span for span in spans if span is not turn}
    assert set(tasks) == set(TASKS)
    for name, span in tasks.items():
        assert span["parent_span_id"] == turn_id
        observation = to_observation(span["attributes"], span_name=span["name"])
        assert (observation.type, observation.name, observation.model) == ("EVENT", name, None)
        assert observation.trace_name is None  # the turn names the trace
        costs = langfuse_costs(observation)
        assert not costs.tokenised and costs.total_cost is None and costs.usage_details == {}

# SPDX-License-Identifier: Apache-2.0
"""Through the real collector and Jaeger: a rating of a turn the real filter traced becomes scores on that turn
(the Langfuse contract endpoint's scores API) and a gen_ai.evaluation.result under the turn span in Jaeger, and the
collector keeps the evaluation span out of Langfuse's OTLP."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from typing import Any

import pytest

from collector._process import wait_until
from otel_filter import Pipeline
from otel_filter.event_function import Event
from otel_filter.feedback import score_ids_for_feedback
from otel_filter.trace_ids import turn_span_id, turn_trace_id
from tests.support.stack import Stack
from tests.support.turns import HookStats, TurnFactory, run_turn

pytestmark = pytest.mark.integration


def _tags(span: Mapping[str, Any]) -> dict[str, Any]:
    return {tag["key"]: tag["value"] for tag in span.get("tags", [])}


def test_rating_becomes_scores_and_an_evaluation_under_the_turn(
    stacks: Callable[..., Stack], pipelines: Callable[..., Pipeline], turns: TurnFactory
) -> None:
    stack = stacks(jaeger=True)
    pipeline = pipelines(stack.otlp_http_endpoint)
    turn = turns.make()
    stats = HookStats()
    asyncio.run(run_turn(pipeline, turn, stats))
    assert not stats.failures
    chat_id = turn.inlet["metadata"]["chat_id"]
    trace_id, turn_span = turn_trace_id(chat_id, turn.message_id), turn_span_id(chat_id, turn.message_id)
    assert trace_id is not None and turn_span is not None
    record: dict[str, Any] = {
        "id": "feedback-stack-1",
        "user_id": turn.user["id"],
        "type": "rating",
        "data": {
            "rating": -1,
            "reason": "not_factually_correct",
            "comment": "Wrong year.",
            "details": {"rating": 2},
            "model_id": "gpt-4o-mini",
            "tags": ["history"],
        },
        "meta": {"chat_id": chat_id, "message_id": turn.message_id, "model_id": "gpt-4o-mini"},
        "created_at": 1796539489,
        "updated_at": 1796539493,
    }

    async def read(_: str) -> Mapping[str, Any]:
        return record

    function = Event(read_feedback=read, environ={})
    function.valves = function.Valves(
        otlp_endpoint=stack.otlp_http_endpoint,
        langfuse_host=stack.langfuse_url,
        langfuse_public_key=stack.public_key,
        langfuse_secret_key=stack.secret_key,
    )
    event = {"event": "feedback.updated", "subject": {"type": "feedback", "id": record["id"]}, "data": {"rating": -1}}
    asyncio.run(function.event(event, __event_name__="feedback.updated"))
    assert function.sink.flush(20)
    assert function._telemetry is not None and function._telemetry.force_flush(20)  # noqa: SLF001

    # Langfuse: the scores, on the turn's trace and its span (the GENERATION)
    scores = stack.langfuse_received()["scores"]
    assert set(scores) == set(score_ids_for_feedback(record["id"]))
    for score in scores.values():
        assert (score["traceId"], score["observationId"]) == (trace_id, turn_span)

    # Jaeger: the turn and, under it, one evaluation span per score with the semconv event
    stored = stack.wait_for_jaeger_trace(trace_id, spans=3)
    by_name = {span["operationName"]: span for span in stored["spans"]}
    turn_spans = [span for span in stored["spans"] if span["spanID"] == turn_span]
    assert len(turn_spans) == 1
    evaluation = by_name["evaluation user_feedback"]
    assert evaluation["references"][0]["spanID"] == turn_span
    (log,) = evaluation["logs"]
    fields = {field["key"]: field["value"] for field in log["fields"]}
    assert fields["event"] == "gen_ai.evaluation.result"
    assert fields["gen_ai.evaluation.name"] == "user_feedback"
    assert fields["gen_ai.evaluation.score.value"] == -1.0
    assert fields["gen_ai.evaluation.score.label"] == "negative"
    assert fields["gen_ai.evaluation.explanation"] == "not_factually_correct: Wrong year."
    assert _tags(by_name["evaluation user_rating"])["gen_ai.evaluation.score.value"] == 2.0

    # Langfuse's OTLP got the turn but no evaluation span (it has the scores). A second turn, sent after the
    # evaluations reached the collector, marks the point by which they would have arrived.
    later = turns.make()
    asyncio.run(run_turn(pipeline, later, stats))
    asyncio.run(pipeline.on_shutdown())  # flushes
    later_span = turn_span_id(later.inlet["metadata"]["chat_id"], later.message_id)

    def received() -> list[dict[str, Any]]:
        return stack.langfuse_received()["spans"]  # type: ignore[no-any-return]

    wait_until(
        lambda: {turn_span, later_span} <= {s["span_id"] for s in received()}, timeout=30, what="both turns at Langfuse"
    )
    assert not [s for s in received() if s["name"].startswith("evaluation ")]
    assert all("gen_ai.evaluation.name" not in s["attributes"] for s in received())

    asyncio.run(function.on_shutdown())

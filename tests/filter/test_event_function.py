# SPDX-License-Identifier: Apache-2.0
"""The Event function replayed over every event a real Open WebUI 0.12.4 delivered (tests/fixtures/openwebui-events):
what it sends, deletes and emits, and that nothing it receives breaks it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from otel_filter import Counters
from otel_filter._settings import resolve_settings
from otel_filter._telemetry import Telemetry
from otel_filter.event_function import Event, langfuse_target
from otel_filter.feedback import RATING_SCORE, THUMB_SCORE, Score, score_ids_for_feedback
from otel_filter.semconv import (
    GEN_AI_EVALUATION_EXPLANATION,
    GEN_AI_EVALUATION_NAME,
    GEN_AI_EVALUATION_RESULT,
    GEN_AI_EVALUATION_SCORE_LABEL,
    GEN_AI_EVALUATION_SCORE_VALUE,
)
from otel_filter.trace_ids import turn_span_id, turn_trace_id
from tests.support.event_recording import events_received, steps

pytestmark = pytest.mark.unit

DOWN_TURN2 = "a8aabaa8-5e84-44b8-afae-b647367c9457"
UP_TURN1 = "31d92983-9b7f-4467-a549-0036a7f053d6"
REGULAR_USER = "046d1785-3ca3-4397-aad9-c05905815673"


class Replay:
    """An Event function with an in-memory tracer, fed the recorded events in order; records what it queued."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        self.exporter = InMemorySpanExporter()
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(self.exporter))
        settings, _ = resolve_settings({}, {})
        self.record: Mapping[str, Any] | None = None
        self.reads: list[str] = []

        async def read(feedback_id: str) -> Mapping[str, Any] | None:
            self.reads.append(feedback_id)
            return self.record

        self.function = Event(
            environ=environ or {},
            read_feedback=read,
            telemetry=Telemetry(settings, Counters(), tracer_provider=provider),
        )
        self.sent: list[tuple[str, list[Score]]] = []
        self.deleted: list[tuple[str, list[str]]] = []
        self.current = ""
        sink = self.function.sink
        send, delete = sink.send, sink.delete

        def record_send(scores: Any) -> bool:
            self.sent.append((self.current, list(scores)))
            return send(scores)

        def record_delete(ids: Any) -> bool:
            self.deleted.append((self.current, list(ids)))
            return delete(ids)

        sink.send = record_send  # type: ignore[method-assign]
        sink.delete = record_delete  # type: ignore[method-assign,assignment]

    def play(self, *steps: str) -> None:
        for step in steps:
            for line in events_received(step):
                self.current = f"{step}:{line['event_name']}"
                self.record = line.get("feedback_record_in_process")
                kwargs = {"__event_name__": line["event_name"], "__id__": "otel_evaluations", "__request__": None}
                assert asyncio.run(self.function.event(line["event"], **kwargs)) is None


ALL_STEPS = steps()


def test_whole_recording_replays_without_a_failure() -> None:
    replay = Replay()
    replay.play(*ALL_STEPS)
    counts = replay.function.counters.snapshot()
    assert counts.get("feedback_event_failed", 0) == 0
    feedback_events = sum(
        1 for step in ALL_STEPS for line in events_received(step) if line["event_name"].startswith("feedback.")
    )
    assert counts["feedback_events"] == feedback_events
    # only feedback events are acted on: no read for chat.*, message.*, model.* ...
    assert all(where.split(":")[1].startswith("feedback.") for where, _ in replay.sent + replay.deleted)
    # the API feedback without a rating (step 18) is skipped with a counted reason
    assert counts["feedback_skipped"] == 1
    replay.function.sink.stop()


def test_thumb_click_and_comment_box_send_scores_on_the_turn() -> None:
    replay = Replay()
    replay.play("03_thumbs_up", "04_thumbs_down", "05_thumbs_down_details")
    where, scores = replay.sent[-1]
    assert where == "05_thumbs_down_details:feedback.updated"
    assert [(s.name, s.value) for s in scores] == [(THUMB_SCORE, -1.0), (RATING_SCORE, 3.0)]
    # one thumb click fires created then updated: both send the same score ids (an overwrite, not a duplicate)
    created = [s.score_id for w, ss in replay.sent if w.startswith("04_thumbs_down:feedback.created") for s in ss]
    updated = [s.score_id for w, ss in replay.sent if w.startswith("04_thumbs_down:feedback.updated") for s in ss]
    assert created == updated == score_ids_for_feedback(DOWN_TURN2)[:1]


def test_reset_rating_is_deleted_and_a_deleted_feedback_deletes_its_scores() -> None:
    replay = Replay()
    replay.play("03_thumbs_up", "04_thumbs_down", "05_thumbs_down_details", "06_update_flip_thumb")
    assert replay.deleted[-1] == ("06_update_flip_thumb:feedback.updated", score_ids_for_feedback(DOWN_TURN2)[1:])
    replay.play("07_update_comment", "08_delete_one")
    assert replay.deleted[-1] == ("08_delete_one:feedback.deleted", score_ids_for_feedback(UP_TURN1))


def test_delete_all_deletes_the_feedbacks_seen_of_that_user_then_all() -> None:
    replay = Replay()
    replay.play(*ALL_STEPS[: ALL_STEPS.index("12_user_delete_own_all")])
    user_feedbacks = {s.feedback_id for _, ss in replay.sent for s in ss if s.metadata.get("rater") == REGULAR_USER}
    assert len(user_feedbacks) == 1
    replay.play("12_user_delete_own_all")
    (user_feedback,) = user_feedbacks
    assert [ids for where, ids in replay.deleted if where.startswith("12_")] == [score_ids_for_feedback(user_feedback)]
    replay.play(*ALL_STEPS[ALL_STEPS.index("12_user_delete_own_all") + 1 :])
    # the admin's delete-all (step 19) deletes every feedback still known: turn 2's and the arena's
    deleted_at_19 = {tuple(ids) for where, ids in replay.deleted if where.startswith("19_")}
    assert tuple(score_ids_for_feedback(DOWN_TURN2)) in deleted_at_19
    assert len(deleted_at_19) == 2


def test_each_score_is_an_evaluation_event_under_the_turn_span() -> None:
    replay = Replay()
    replay.play("03_thumbs_up", "04_thumbs_down", "05_thumbs_down_details")
    replay.function.sink.flush()
    spans = [span for span in replay.exporter.get_finished_spans() if span.name == f"evaluation {RATING_SCORE}"]
    (span,) = spans
    chat, message = "36064e48-a294-4184-a27b-c5d4f34d45ca", "b167f8a5-5404-4ce2-9582-e53c04cb4c13"
    assert span.context is not None and span.parent is not None
    assert format(span.context.trace_id, "032x") == turn_trace_id(chat, message)
    assert format(span.parent.span_id, "016x") == turn_span_id(chat, message)
    (event,) = span.events
    assert event.name == GEN_AI_EVALUATION_RESULT
    assert dict(event.attributes or {}) == {
        GEN_AI_EVALUATION_NAME: RATING_SCORE,
        GEN_AI_EVALUATION_SCORE_VALUE: 3.0,
        GEN_AI_EVALUATION_EXPLANATION: "not_helpful: Too vague, no concrete answer.",
        "openwebui.feedback.id": DOWN_TURN2,
    }
    thumbs = [s for s in replay.exporter.get_finished_spans() if s.name == f"evaluation {THUMB_SCORE}"]
    assert {dict(s.events[0].attributes or {})[GEN_AI_EVALUATION_SCORE_LABEL] for s in thumbs} == {
        "positive",
        "negative",
    }


def _explanations(replay: Replay) -> list[object]:
    replay.function.sink.flush()
    events = [event for span in replay.exporter.get_finished_spans() for event in span.events]
    assert events, "no evaluation event was recorded"
    return [(event.attributes or {}).get(GEN_AI_EVALUATION_EXPLANATION) for event in events]


@pytest.mark.parametrize(
    ("environ", "valve"),
    [
        ({"OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": "false"}, ""),  # the variable
        ({}, "false"),  # the valve (the same name as the filter's)
        ({"OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": "true"}, "false"),  # the valve wins
    ],
)
def test_no_explanation_in_otel_when_content_capture_is_off(environ: dict[str, str], valve: str) -> None:
    replay = Replay(environ=environ)
    replay.function.valves.capture_message_content = valve
    replay.play("03_thumbs_up", "04_thumbs_down", "05_thumbs_down_details")
    assert set(_explanations(replay)) == {None}


def test_the_explanation_is_recorded_when_content_capture_is_on() -> None:
    replay = Replay()
    replay.play("03_thumbs_up", "04_thumbs_down", "05_thumbs_down_details")
    assert "not_helpful: Too vague, no concrete answer." in _explanations(replay)


@pytest.mark.parametrize(
    "event",
    [
        {},
        {"event": "feedback.updated"},
        {"event": "feedback.updated", "subject": "x"},
        {"event": "feedback.deleted", "subject": {"id": 5}},
        {"event": "feedback.deleted_all", "subject": None},
        {"event": "feedback.created", "subject": {"id": "gone"}},
    ],
)
def test_odd_events_are_counted_never_raised(event: dict[str, Any]) -> None:
    replay = Replay()
    replay.record = None
    assert asyncio.run(replay.function.event(event)) is None
    assert replay.function.counters.get("feedback_event_failed") == 0


def test_a_failing_record_read_is_counted_not_raised() -> None:
    async def broken(_: str) -> Mapping[str, Any] | None:
        raise RuntimeError("database locked")

    function = Event(
        environ={},
        read_feedback=broken,
        telemetry=Telemetry(resolve_settings({}, {})[0], Counters(), tracer_provider=TracerProvider()),
    )
    event = {"event": "feedback.created", "subject": {"type": "feedback", "id": "f"}}
    assert asyncio.run(function.event(event)) is None
    assert function.counters.get("feedback_event_failed") == 1


def test_langfuse_settings_valve_then_environment_and_never_echoed() -> None:
    environ = {"LANGFUSE_HOST": "https://env.example", "LANGFUSE_PUBLIC_KEY": "pk-env", "LANGFUSE_SECRET_KEY": "sk-env"}
    target, _ = langfuse_target({"langfuse_secret_key": "sk-valve"}, environ)
    assert target is not None
    assert (target.host, target.public_key, target.secret_key) == ("https://env.example", "pk-env", "sk-valve")
    assert "sk-valve" not in repr(target)
    none, why = langfuse_target({}, {"LANGFUSE_HOST": "https://h"})
    assert none is None and "langfuse_public_key / LANGFUSE_PUBLIC_KEY" in why
    bad, why = langfuse_target({"langfuse_host": "langfuse:3000"}, environ)
    assert bad is None and why.startswith("valve langfuse_host: 'langfuse:3000' is not a URL") and "Fix: " in why
    bad, why = langfuse_target({}, {**environ, "LANGFUSE_HOST": "langfuse:3000"})
    assert bad is None and why.startswith("LANGFUSE_HOST: 'langfuse:3000' is not a URL")


def test_an_edited_function_retires_the_instance_it_replaces() -> None:
    old, new = Replay(), Replay()
    event = {"event": "feedback.deleted", "subject": {"type": "feedback", "id": "f-1"}}
    asyncio.run(old.function.event(event, __event_name__="feedback.deleted", __id__="otel_evaluations_edit"))
    asyncio.run(new.function.event(event, __event_name__="feedback.deleted", __id__="otel_evaluations_edit"))
    deadline = time.monotonic() + 10
    while old.function.sink.delete(["x"]):  # queued while the old one still runs; refused once it stopped
        assert time.monotonic() < deadline, "the replaced instance never stopped"
        time.sleep(0.05)
    assert new.function.sink.delete(["x"])  # the acting one still takes work
    new.function.retire()

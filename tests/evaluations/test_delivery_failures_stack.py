# SPDX-License-Identifier: Apache-2.0
"""Through the real collector and Jaeger, with the Langfuse contract endpoint failing: the Event function reports
the ratings it could not deliver as ``openwebui.feedback.delivery`` spans, Jaeger keeps them, `owui-otel doctor`
names them with the fix and the sync command, and the collector keeps the reports out of Langfuse."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from typing import Any

import pytest

from collector._process import wait_until
from otel_filter.event_function import Event
from otel_filter.semconv import (
    OPENWEBUI_FEEDBACK_DELIVERY,
    OPENWEBUI_FEEDBACK_DELIVERY_DROPPED,
    OPENWEBUI_FEEDBACK_DELIVERY_DROPPED_RATINGS,
    OPENWEBUI_FEEDBACK_DELIVERY_LAST_ERROR,
    OPENWEBUI_FEEDBACK_DELIVERY_SYNCED,
    OPENWEBUI_FEEDBACK_DELIVERY_TARGET,
)
from owui_otel._doctor import FAIL, OK, DoctorInputs, run_checks
from owui_otel._doctor_feedback import check_feedback_delivery
from owui_otel._feedback_sync import EvaluationSpans, SyncReport
from owui_otel._jaeger_query import search_traces, span_tags
from tests.support.spans import SentSpan
from tests.support.stack import Stack

pytestmark = pytest.mark.integration


def _record(feedback_id: str, message_id: str) -> dict[str, Any]:
    return {
        "id": feedback_id,
        "user_id": "user-1",
        "type": "rating",
        "data": {"rating": -1, "reason": "not_helpful", "details": {"rating": 3}, "model_id": "gpt-4o-mini"},
        "meta": {"chat_id": "chat-delivery", "message_id": message_id, "model_id": "gpt-4o-mini"},
        "created_at": 1796539489,
        "updated_at": 1796539493,
    }


def _event_function(stack: Stack, records: Mapping[str, Mapping[str, Any]]) -> Event:
    async def read(feedback_id: str) -> Mapping[str, Any]:
        return records[feedback_id]

    # Two quick tries instead of six over a minute; a report after every outcome instead of once a minute.
    function = Event(
        read_feedback=read,
        environ={},
        sink_options={"retry_base_s": 0.05, "max_attempts": 2, "report_interval_s": 0.0},
    )
    function.valves = function.Valves(
        otlp_endpoint=stack.otlp_http_endpoint,
        langfuse_host=stack.langfuse_url,
        langfuse_public_key=stack.public_key,
        langfuse_secret_key=stack.secret_key,
    )
    return function


def _rate(function: Event, feedback_id: str) -> None:
    event = {"event": "feedback.created", "subject": {"type": "feedback", "id": feedback_id}}
    asyncio.run(function.event(event, __event_name__="feedback.created"))


def _reports(stack: Stack) -> list[dict[str, Any]]:
    traces = search_traces(stack.jaeger_query_url, tags={OPENWEBUI_FEEDBACK_DELIVERY_TARGET: "langfuse"}, limit=100)
    return [
        span_tags(span)
        for trace in traces
        for span in trace["spans"]
        if span["operationName"] == OPENWEBUI_FEEDBACK_DELIVERY
    ]


def test_undelivered_ratings_reach_doctor_through_jaeger_while_langfuse_is_down(stacks: Callable[..., Stack]) -> None:
    stack = stacks(jaeger=True)
    inputs = DoctorInputs(jaeger_url=stack.jaeger_query_url, openwebui_url="http://localhost:3000")
    assert check_feedback_delivery(inputs)[0].status == OK  # nothing reported yet

    records = {
        "feedback-down-1": _record("feedback-down-1", "m-1"),
        "feedback-down-2": _record("feedback-down-2", "m-2"),
    }
    function = _event_function(stack, records)
    stack.langfuse_mode("unavailable")  # every Langfuse request answers 503, the OTLP and the scores API alike
    for feedback_id in records:
        _rate(function, feedback_id)
    assert function.sink.flush(20)
    assert function.counters.get("scores_dropped") == 4  # two ratings, a thumb and a 1-10 rating each
    assert function._telemetry is not None and function._telemetry.force_flush(20)  # noqa: SLF001
    assert stack.langfuse_received()["scores"] == {}

    wait_until(
        lambda: sum(int(tags.get(OPENWEBUI_FEEDBACK_DELIVERY_DROPPED, 0)) for tags in _reports(stack)) == 4,
        timeout=30,
        what="the delivery reports in Jaeger",
    )
    reports = _reports(stack)
    assert sum(int(tags[OPENWEBUI_FEEDBACK_DELIVERY_DROPPED_RATINGS]) for tags in reports) == 2
    assert any("HTTP 503" in str(tags.get(OPENWEBUI_FEEDBACK_DELIVERY_LAST_ERROR)) for tags in reports)
    assert any(tags.get("otel.status_code") == "ERROR" for tags in reports)

    checks = [check for check in run_checks(inputs).checks if check.link == "rating delivery"]
    assert [check.status for check in checks] == [FAIL]
    (check,) = checks
    assert check.says.startswith("2 rating(s) (4 score(s) or score deletion(s)) could not be delivered to Langfuse")
    assert "HTTP 503" in check.says
    assert "langfuse_host" in check.fix and "LANGFUSE_HOST" in check.fix
    assert "`.venv/bin/owui-otel feedback sync --openwebui-url http://localhost:3000 --token $OWUI_TOKEN`" in check.fix
    asyncio.run(function.on_shutdown())

    # The backstop ran to completion (its report through the same collector): what was dropped before it is resent.
    spans = EvaluationSpans(stack.otlp_http_endpoint, environ={})
    spans.completed(SyncReport(seen=2, sent=2, scores_sent=4))
    spans.close()
    wait_until(
        lambda: any(OPENWEBUI_FEEDBACK_DELIVERY_SYNCED in tags for tags in _reports(stack)),
        timeout=30,
        what="the sync's report in Jaeger",
    )
    (after_sync,) = check_feedback_delivery(inputs)
    assert after_sync.status == OK and after_sync.says.startswith("no rating failed to reach Langfuse since")


def test_the_collector_keeps_delivery_reports_out_of_langfuse(
    stacks: Callable[..., Stack], send_spans: Callable[..., list[SentSpan]]
) -> None:
    stack = stacks(jaeger=True)
    records = {"feedback-keys": _record("feedback-keys", "m-keys")}
    function = _event_function(stack, records)
    stack.langfuse_mode("unavailable", path="/api/public/scores")  # the scores API fails, Langfuse's OTLP works
    _rate(function, "feedback-keys")
    assert function.sink.flush(20) and function.counters.get("scores_dropped") == 2
    assert function._telemetry is not None and function._telemetry.force_flush(20)  # noqa: SLF001
    wait_until(lambda: bool(_reports(stack)), timeout=30, what="the delivery report in Jaeger")

    # The collector has passed the report on (Jaeger has it); a span sent after it reaches Langfuse, the report not.
    (marker,) = send_spans(stack.otlp_http_traces_url)

    def received() -> list[dict[str, Any]]:
        return stack.langfuse_received()["spans"]  # type: ignore[no-any-return]

    wait_until(lambda: marker.span_id in {s["span_id"] for s in received()}, timeout=60, what="the marker at Langfuse")
    assert [s["name"] for s in received()] == [marker.name]
    asyncio.run(function.on_shutdown())


def test_a_failure_that_recovers_is_reported_as_recovered(stacks: Callable[..., Stack]) -> None:
    stack = stacks(jaeger=True)
    records = {"feedback-blip": _record("feedback-blip", "m-blip")}
    function = _event_function(stack, records)
    stack.langfuse_mode("unavailable", count=1)  # one failed try, then Langfuse answers again
    _rate(function, "feedback-blip")
    assert function.sink.flush(20)
    assert len(stack.langfuse_received()["scores"]) == 2
    assert function._telemetry is not None and function._telemetry.force_flush(20)  # noqa: SLF001
    wait_until(lambda: bool(_reports(stack)), timeout=30, what="a delivery report in Jaeger")

    checks = check_feedback_delivery(DoctorInputs(jaeger_url=stack.jaeger_query_url))
    assert [check.status for check in checks] == [OK]
    assert checks[0].says.startswith("every rating reached Langfuse; 1 attempt(s) failed and were retried")
    asyncio.run(function.on_shutdown())

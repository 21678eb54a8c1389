# SPDX-License-Identifier: Apache-2.0
"""Evaluations end to end with the real Open WebUI 0.12.4: the filter and the Event function installed by
``owui-otel install``; a web-UI turn; a thumbs-down with reason, comment and a 1-10 rating through
``POST /api/v1/evaluations/feedback``; an update; a re-rating that clears the 1-10 rating; a delete.

Asserted: the Langfuse contract endpoint's scores API gets the scores with the trace id and span id that Jaeger shows
for that turn, the same score ids on update, deletes on delete; Jaeger shows the evaluation under the turn.

Topology: test ──HTTP──▶ Open WebUI ──▶ mock LLM; Function otel_bridge and Event function otel_evaluations (both
in-process) ──OTLP/HTTP──▶ collector ──▶ Jaeger, Langfuse endpoint (spans); Event function ──▶ Langfuse endpoint
(/api/public/scores).
"""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from collector._process import wait_until
from otel_filter.feedback import score_ids_for_feedback
from otel_filter.trace_ids import turn_span_id, turn_trace_id
from tests.support.stack import Stack

from .checks import jaeger_span, keep, wait_jaeger_span
from .harness import (
    MODEL,
    Connection,
    OpenWebUIClient,
    Progress,
    UITurn,
    owui_otel_argv,
    signup_admin,
    start_mock_llm,
    start_openwebui,
    stopping,
    ui_turn,
)

pytestmark = pytest.mark.e2e

EVENT_FUNCTION_ID = "otel_evaluations"
DELIVERY_TIMEOUT_S = 60.0
"""Open WebUI delivers events in background tasks; the sink sends on its own thread: poll."""


@dataclass
class Rated:
    stack: Stack
    api: OpenWebUIClient
    turn: UITurn
    trace_id: str
    span_id: str
    workdir: Path


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*owui_otel_argv(), *args], capture_output=True, text=True, timeout=120, check=False)


@pytest.fixture(scope="module")
def rated(
    openwebui_binary: Path,
    collector_binary: Path,
    jaeger_binary: Path,
    tmp_path_factory: pytest.TempPathFactory,
    progress: Progress,
) -> Iterator[Rated]:
    workdir = tmp_path_factory.mktemp("evaluations")
    with contextlib.ExitStack() as running:
        stack = running.enter_context(
            Stack(collector_binary=collector_binary, jaeger_binary=jaeger_binary, workdir=workdir / "stack")
        )
        mock = start_mock_llm(workdir)
        running.enter_context(stopping(mock))
        owui = start_openwebui(openwebui_binary, workdir, [Connection(mock.openai_url, "mock")], progress=progress)
        running.enter_context(stopping(owui))
        token = signup_admin(owui.url)
        api = OpenWebUIClient(owui.url, token)
        running.callback(api.close)
        common = ["--url", owui.url, "--token", token, "--valve", f"otlp_endpoint={stack.otlp_http_endpoint}"]
        installed = _cli("install", "function", *common)
        assert installed.returncode == 0, installed.stdout + installed.stderr
        installed = _cli(
            "install",
            "event-function",
            *common,
            "--valve",
            f"langfuse_host={stack.langfuse_url}",
            "--valve",
            f"langfuse_public_key={stack.public_key}",
            "--valve",
            f"langfuse_secret_key={stack.secret_key}",
        )
        assert installed.returncode == 0, installed.stdout + installed.stderr
        record = api.function(EVENT_FUNCTION_ID)
        assert record is not None and record["type"] == "event" and record["is_active"], record
        api.models()
        python = openwebui_binary.parent / "python"
        turn = ui_turn(python, owui.url, token, label="rated turn", content="E1 web UI: what is a span?")
        trace_id, span_id = turn_trace_id(turn.chat_id, turn.message_id), turn_span_id(turn.chat_id, turn.message_id)
        assert trace_id is not None and span_id is not None
        yield Rated(stack, api, turn, trace_id, span_id, workdir)


def _feedback(turn: UITurn, **data: Any) -> dict[str, Any]:
    """The body the 0.12.4 web UI sends (ResponseMessage.svelte feedbackHandler), without the chat snapshot."""
    return {
        "type": "rating",
        "data": {"model_id": MODEL, "sibling_model_ids": None, **data},
        "meta": {"model_id": MODEL, "message_id": turn.message_id, "message_index": 2, "chat_id": turn.chat_id},
    }


def _wait_scores(stack: Stack, done: Callable[[dict[str, Any]], bool], what: str) -> dict[str, Any]:
    seen: list[dict[str, Any]] = []

    def check() -> bool:
        seen.append(stack.langfuse_received()["scores"])
        return done(seen[-1])

    wait_until(check, timeout=DELIVERY_TIMEOUT_S, interval=0.5, what=what)
    return seen[-1]


def test_rating_update_and_delete_reach_langfuse_and_jaeger_on_the_turn(rated: Rated) -> None:
    stack, api, turn = rated.stack, rated.api, rated.turn
    # The turn as Jaeger shows it: its span id is the one the scores must name.
    _, turn_span = wait_jaeger_span(stack, rated.trace_id, rated.span_id)
    assert turn_span["operationName"].startswith("chat ")

    created = api.post(
        "/api/v1/evaluations/feedback",
        _feedback(turn, rating=-1, reason="not_helpful", comment="Too vague.", details={"rating": 3}, tags=["e2e"]),
    )
    feedback_id = created["id"]
    ids = score_ids_for_feedback(feedback_id)
    scores = _wait_scores(stack, lambda s: set(s) == set(ids), "both scores at the Langfuse endpoint")
    thumb, rating = scores[ids[0]], scores[ids[1]]
    assert (thumb["name"], thumb["value"], rating["name"], rating["value"]) == ("user_feedback", -1, "user_rating", 3)
    for score in (thumb, rating):
        assert (score["traceId"], score["observationId"]) == (rated.trace_id, turn_span["spanID"])
        assert score["comment"] == "not_helpful: Too vague."
        assert score["metadata"]["tags"] == ["e2e"] and score["metadata"]["feedback_id"] == feedback_id

    def evaluations(trace: dict[str, Any] | None) -> list[dict[str, Any]]:
        spans = trace["spans"] if trace else []
        return [s for s in spans if s["operationName"].startswith("evaluation ")]

    wait_until(
        lambda: len(evaluations(stack.jaeger_trace(rated.trace_id))) >= 2,
        timeout=DELIVERY_TIMEOUT_S,
        what="the evaluation spans in Jaeger",
    )
    stored = stack.jaeger_trace(rated.trace_id)
    assert stored is not None
    for span in evaluations(stored):
        assert span["references"][0]["spanID"] == rated.span_id  # under the turn
        fields = {f["key"]: f["value"] for f in span["logs"][0]["fields"]}
        assert fields["event"] == "gen_ai.evaluation.result"
    assert jaeger_span(stored, rated.span_id) is not None

    # update: the comment box saved again -> the same score ids, new values
    api.post(
        f"/api/v1/evaluations/feedback/{feedback_id}",
        _feedback(turn, rating=1, reason="accurate_information", comment="Fine after all.", details={"rating": 8}),
    )
    scores = _wait_scores(
        stack, lambda s: set(s) == set(ids) and s[ids[1]]["value"] == 8, "the updated scores at the Langfuse endpoint"
    )
    assert scores[ids[0]]["value"] == 1 and scores[ids[0]]["comment"] == "accurate_information: Fine after all."

    # re-rated with the other thumb: Open WebUI clears the 1-10 rating -> that score is deleted
    api.post(f"/api/v1/evaluations/feedback/{feedback_id}", _feedback(turn, rating=-1, details=None))
    scores = _wait_scores(stack, lambda s: set(s) == {ids[0]} and s[ids[0]]["value"] == -1, "the reset rating deleted")

    # delete: every score of the feedback
    response = api.http.delete(f"/api/v1/evaluations/feedback/{feedback_id}")
    assert response.status_code == 200, response.text
    _wait_scores(stack, lambda s: s == {}, "the scores deleted at the Langfuse endpoint")
    requests = stack.langfuse_received()["score_requests"]
    keep(rated.workdir, "score-requests.json", requests)
    assert {tuple(r["ids"]) for r in requests if r["method"] == "DELETE"} >= {(ids[0],), (ids[1],)}
    # Langfuse never got the evaluation spans (it has the scores)
    spans = stack.langfuse_received()["spans"]
    assert spans and not [s for s in spans if s["name"].startswith("evaluation ")]

# SPDX-License-Identifier: Apache-2.0
"""Score requests as Langfuse's own client builds and checks them, sent by ScoreSink to the Langfuse contract
endpoint (tests/support/langfuse_contract.py, /api/public/scores): create, update (same ids), delete, retries."""

from __future__ import annotations

import base64
import dataclasses
import json
import logging
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import httpx
import pytest
from langfuse.api.core.jsonable_encoder import jsonable_encoder
from langfuse.api.core.serialization import convert_and_respect_annotation_metadata
from langfuse.api.scores.types.create_score_request import CreateScoreRequest

from otel_filter import Counters
from otel_filter.feedback import score_ids_for_feedback, scores_for_feedback
from otel_filter.feedback_sink import LangfuseTarget, ScoreSink, score_request
from tests.support.event_recording import EVENTS
from tests.support.langfuse_contract import create_app
from tests.support.servers import ThreadServer

pytestmark = pytest.mark.unit

PUBLIC, SECRET = "pk-lf-scores", "sk-lf-scores-do-not-log"


def _record(step: str, key: str) -> dict[str, Any]:
    return json.loads((EVENTS / f"{step}.records.json").read_text())["feedback_by_id"][key]["body"]  # type: ignore[no-any-return]


def _all_scores() -> list[Any]:
    scores = []
    for path in sorted(EVENTS.glob("*.records.json")):
        for item in json.loads(path.read_text())["admin_list"]["body"]["items"]:
            scores += scores_for_feedback(item, user_identity="email")[0]
    return scores


def test_every_fixture_score_is_a_valid_create_score_request_on_the_wire() -> None:
    scores = _all_scores()
    assert len(scores) > 10
    for score in scores:
        request = score_request(score)
        assert isinstance(request, CreateScoreRequest)
        wire = jsonable_encoder(request)  # what the client's HTTP layer sends (core/http_client.py)
        assert isinstance(wire, dict)
        body = {k: v for k, v in wire.items() if v is not None}
        # what the client puts on the wire: Langfuse's camelCase names
        assert body["id"] == score.score_id and body["traceId"] == score.trace_id
        assert body["observationId"] == score.observation_id and body["dataType"] == "NUMERIC"
        assert body["name"] == score.name and body["value"] == score.value
        assert body["metadata"]["rater"] == "admin@example.com" or body["metadata"]["rater"] == "user@example.com"
        assert datetime.fromisoformat(body["timestamp"]).timestamp() == score.created_at
        # and back: Langfuse's model reads it as the same score
        again = CreateScoreRequest.model_validate(
            convert_and_respect_annotation_metadata(object_=body, annotation=CreateScoreRequest, direction="read")
        )
        assert again.trace_id == score.trace_id and again.observation_id == score.observation_id


@pytest.fixture
def langfuse() -> Iterator[ThreadServer]:
    with ThreadServer(create_app(public_key=PUBLIC, secret_key=SECRET)) as server:
        yield server


def _received(server: ThreadServer) -> dict[str, Any]:
    return httpx.get(f"{server.url}/_control/received").json()  # type: ignore[no-any-return]


def _sink(server: ThreadServer, health: Counters, secret: str = SECRET, **options: Any) -> ScoreSink:
    target = LangfuseTarget(server.url, PUBLIC, secret)
    return ScoreSink(langfuse=lambda: target, health=health, **options)


def test_create_update_delete_through_the_scores_api(langfuse: ThreadServer) -> None:
    health = Counters()
    sink = _sink(langfuse, health)
    first, _ = scores_for_feedback(_record("05_thumbs_down_details", "down_turn2"))
    assert sink.send(first) and sink.flush(10)
    stored = _received(langfuse)["scores"]
    assert set(stored) == {s.score_id for s in first}
    thumb = stored[first[0].score_id]
    assert thumb["traceId"] == first[0].trace_id and thumb["observationId"] == first[0].observation_id
    assert (thumb["name"], thumb["value"], thumb["dataType"]) == ("user_feedback", -1.0, "NUMERIC")
    assert thumb["comment"] == "not_helpful: Too vague, no concrete answer."

    updated, _ = scores_for_feedback(_record("07_update_comment", "down_turn2"))
    assert sink.send(updated) and sink.flush(10)
    stored = _received(langfuse)["scores"]
    assert set(stored) == {s.score_id for s in first}  # same ids: overwritten, not duplicated
    assert [stored[s.score_id]["value"] for s in updated] == [1.0, 8.0]

    assert sink.delete(score_ids_for_feedback(updated[0].feedback_id)) and sink.flush(10)
    assert _received(langfuse)["scores"] == {}
    assert sink.delete(score_ids_for_feedback(updated[0].feedback_id)) and sink.flush(10)  # 404 counts as done
    requests = _received(langfuse)["score_requests"]
    assert [r["method"] for r in requests] == ["POST", "POST", "DELETE", "DELETE", "DELETE", "DELETE"]
    assert health.get("scores_sent") == 4 and health.get("scores_deleted") == 4
    assert health.get("score_attempts_failed") == 0
    sink.stop()


def test_a_down_langfuse_is_retried_with_a_bound(langfuse: ThreadServer) -> None:
    health = Counters()
    sink = _sink(langfuse, health, retry_base_s=0.05)
    httpx.post(f"{langfuse.url}/_control/mode", json={"mode": "unavailable", "count": 2})
    scores, _ = scores_for_feedback(_record("05_thumbs_down_details", "down_turn2"))
    assert sink.send(scores) and sink.flush(10)
    assert set(_received(langfuse)["scores"]) == {s.score_id for s in scores}
    assert health.get("score_attempts_failed") == 2 and health.get("scores_sent") == 2
    sink.stop()


def test_wrong_keys_give_up_after_max_attempts_counted_and_never_logged(
    langfuse: ThreadServer, caplog: pytest.LogCaptureFixture
) -> None:
    health = Counters(interval_s=0)
    sink = _sink(langfuse, health, secret="sk-lf-wrong-secret", retry_base_s=0.01, max_attempts=3)
    scores, _ = scores_for_feedback(_record("05_thumbs_down_details", "down_turn2"))
    with caplog.at_level(logging.DEBUG, logger="otel_filter"):
        assert sink.send(scores) and sink.flush(10)
    assert health.get("score_attempts_failed") == 3 and health.get("scores_dropped") == 2
    assert _received(langfuse)["scores"] == {}
    assert "HTTP 401" in caplog.text
    assert "sk-lf-wrong-secret" not in caplog.text and PUBLIC not in caplog.text
    sink.stop()


def test_a_full_queue_drops_counted_and_never_blocks() -> None:
    health = Counters()
    gate = LangfuseTarget("http://127.0.0.1:9", PUBLIC, SECRET)
    sink = ScoreSink(langfuse=lambda: gate, health=health, capacity=2, retry_base_s=30)
    scores, _ = scores_for_feedback(_record("05_thumbs_down_details", "down_turn2"))
    results = [sink.send(scores[:1]) for _ in range(6)]
    assert results.count(False) >= 3 and health.get("scores_dropped") >= 3
    sink.stop(timeout_s=0.1)
    assert health.get("scores_dropped") >= 5  # what was still queued at stop is counted too


def test_no_langfuse_configured_sends_nothing_and_fails_nothing() -> None:
    health = Counters()
    sink = ScoreSink(langfuse=lambda: None, health=health)
    scores, _ = scores_for_feedback(_record("05_thumbs_down_details", "down_turn2"))
    assert sink.send(scores) and sink.flush(5)
    assert health.snapshot().get("score_attempts_failed", 0) == 0 and health.get("scores_sent") == 0
    sink.stop()


def _auth(secret: str = SECRET) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{PUBLIC}:{secret}".encode()).decode()}


def test_contract_scores_endpoint_follows_langfuses_api(langfuse: ThreadServer) -> None:
    url = f"{langfuse.url}/api/public/scores"
    good = {"id": "s-1", "traceId": "ab" * 16, "name": "user_feedback", "value": 1.0, "dataType": "NUMERIC"}
    assert httpx.post(url, json=[good]).status_code == 401
    assert httpx.post(url, json=[good], headers=_auth("sk-wrong")).status_code == 401
    accepted = httpx.post(url, json=[good], headers=_auth())
    assert (accepted.status_code, accepted.json()) == (202, {"message": "Accepted"})
    bad = [
        {"traceId": "t", "name": "x", "value": "high", "dataType": "NUMERIC"},  # a string for a NUMERIC score
        {"traceId": "t", "name": "x", "value": 2, "dataType": "BOOLEAN"},  # BOOLEAN is 0 or 1
        {"name": "x", "value": 1.0},  # no trace, session or dataset run
        {"traceId": "t", "value": 1.0},  # no name: CreateScoreRequest refuses it
    ]
    partial = httpx.post(url, json=[*bad, dict(good, id="s-2")], headers=_auth())
    assert partial.status_code == 207
    assert (partial.json()["accepted"], partial.json()["rejected"]) == (1, 4)
    assert set(_received(langfuse)["scores"]) == {"s-1", "s-2"}
    assert httpx.delete(f"{url}/s-1", headers=_auth()).status_code == 200
    assert httpx.delete(f"{url}/s-1", headers=_auth()).status_code == 404
    assert httpx.delete(f"{url}/s-2").status_code == 401
    assert set(_received(langfuse)["scores"]) == {"s-2"}


def test_a_207_rejection_is_counted_and_not_retried(langfuse: ThreadServer) -> None:
    health = Counters()
    sink = _sink(langfuse, health, retry_base_s=0.01)
    scores, _ = scores_for_feedback(_record("05_thumbs_down_details", "down_turn2"))
    invalid = dataclasses.replace(scores[0], trace_id="", observation_id=None)  # Langfuse needs a trace
    assert sink.send([invalid, scores[1]]) and sink.flush(10)
    assert health.get("scores_rejected") == 1 and health.get("scores_sent") == 1
    assert len(_received(langfuse)["score_requests"]) == 1  # not retried
    sink.stop()

# SPDX-License-Identifier: Apache-2.0
"""otel_filter.feedback over the real Open WebUI 0.12.4 feedback records (tests/fixtures/openwebui-events)."""

from __future__ import annotations

import math
from typing import Any

import pytest

from otel_filter.feedback import (
    RATING_SCORE,
    SCORE_NAMES,
    THUMB_SCORE,
    Score,
    score_id,
    score_ids_for_feedback,
    scores_for_feedback,
    stale_score_ids,
)
from otel_filter.trace_ids import turn_span_id, turn_trace_id
from tests.support.event_recording import events_received, records_file, steps

pytestmark = pytest.mark.unit


def _record(step: str, key: str) -> dict[str, Any]:
    answer = records_file(step)["feedback_by_id"][key]
    assert answer["status"] == 200, answer
    return answer["body"]  # type: ignore[no-any-return]


def _every_record() -> list[tuple[str, dict[str, Any]]]:
    """Every feedback record the fixtures hold: by id, the admin export, the admin list (with ``user``), and the
    records read in-process by the recording Event function."""
    found: list[tuple[str, dict[str, Any]]] = []
    for step in steps("records"):
        data = records_file(step)
        for key, answer in data["feedback_by_id"].items():
            if answer["status"] == 200:
                found.append((f"{step}.records:{key}", answer["body"]))
        found += [(f"{step}.records:export", body) for body in data["admin_export"]["body"]]
        found += [(f"{step}.records:list", item) for item in data["admin_list"]["body"]["items"]]
    for step in steps("events"):
        for line in events_received(step):
            if line.get("feedback_record_in_process"):
                found.append((f"{step}.events:{line['event_name']}", line["feedback_record_in_process"]))
    return found


RECORDS = _every_record()


def test_the_fixtures_hold_records_of_every_kind() -> None:
    assert len(RECORDS) > 40
    kinds = {
        (r["meta"].get("arena") is True, r["data"].get("rating"), bool(r["data"].get("details"))) for _, r in RECORDS
    }
    assert (True, 1, True) in kinds  # arena
    assert (False, -1, True) in kinds  # thumbs down with a 1-10 rating
    assert (False, None, False) in kinds  # API feedback without a rating


@pytest.mark.parametrize(("where", "record"), RECORDS, ids=[where for where, _ in RECORDS])
def test_every_record_is_scored_on_its_turn_or_has_a_reason(where: str, record: dict[str, Any]) -> None:
    scores, reason = scores_for_feedback(record)
    data, meta = record["data"], record["meta"]
    if data.get("rating") is None and not (data.get("details") or {}).get("rating"):
        assert (scores, reason) == (
            [],
            "no rating: neither a thumb (data.rating) nor a 1-10 rating (data.details.rating)",
        )
        return
    assert reason is None
    assert [s.name for s in scores] == [n for n in SCORE_NAMES if n == THUMB_SCORE or (data.get("details") or {})]
    for score in scores:
        assert score.trace_id == turn_trace_id(meta["chat_id"], meta["message_id"])
        assert score.observation_id == turn_span_id(meta["chat_id"], meta["message_id"])
        assert score.score_id == score_id(record["id"], score.name)
        assert score.feedback_id == record["id"]
        assert score.updated_at == record["updated_at"] and score.created_at == record["created_at"]
        assert score.data_type == "NUMERIC" and isinstance(score.value, float)
        assert score.metadata["feedback_id"] == record["id"]
        assert score.metadata["model_id"] == data["model_id"]
        assert score.metadata["message_model_id"] == meta["model_id"]
        assert score.metadata["rater"] == record["user_id"]
        assert score.metadata.get("tags") == (data.get("tags") or None)
    assert scores[0].value == float(data["rating"]) and scores[0].label == (
        "positive" if data["rating"] > 0 else "negative"
    )


def test_thumbs_down_with_reason_comment_and_rating() -> None:
    scores, reason = scores_for_feedback(_record("05_thumbs_down_details", "down_turn2"))
    assert reason is None
    thumb, rating = scores
    assert (thumb.name, thumb.value, thumb.label) == (THUMB_SCORE, -1.0, "negative")
    assert (rating.name, rating.value, rating.label) == (RATING_SCORE, 3.0, None)
    assert thumb.comment == rating.comment == "not_helpful: Too vague, no concrete answer."
    assert thumb.metadata["tags"] == ["General", "Testing", "vague"]
    assert thumb.trace_id == turn_trace_id(
        "36064e48-a294-4184-a27b-c5d4f34d45ca", "b167f8a5-5404-4ce2-9582-e53c04cb4c13"
    )


def test_the_rated_message_is_the_turn_the_filter_traced() -> None:
    # chat.finished names the turn's chat id and assistant message id: the ids the filter derives the trace from.
    finished = [
        line["event"]["data"] for line in events_received("02_chat_turn2") if line["event_name"] == "chat.finished"
    ]
    (turn,) = finished
    scores, _ = scores_for_feedback(_record("05_thumbs_down_details", "down_turn2"))
    assert scores[0].trace_id == turn_trace_id(turn["chat_id"], turn["message_id"])


def test_updates_keep_the_score_ids_and_a_reset_rating_becomes_stale() -> None:
    before, _ = scores_for_feedback(_record("05_thumbs_down_details", "down_turn2"))
    flipped, _ = scores_for_feedback(_record("06_update_flip_thumb", "down_turn2"))  # other thumb: details reset
    again, _ = scores_for_feedback(_record("07_update_comment", "down_turn2"))
    assert [s.name for s in flipped] == [THUMB_SCORE] and flipped[0].value == 1.0
    assert flipped[0].score_id == before[0].score_id  # the same Langfuse score, overwritten
    assert stale_score_ids(flipped[0].feedback_id, flipped) == [before[1].score_id]
    assert [s.score_id for s in again] == [s.score_id for s in before]
    assert [s.value for s in again] == [1.0, 8.0]
    assert again[0].comment == "accurate_information: On second thought it was fine."
    assert again[0].created_at == before[0].created_at  # Langfuse updates a score sent with the same id + timestamp
    assert again[0].updated_at is not None and before[0].updated_at is not None
    assert again[0].updated_at > before[0].updated_at
    assert stale_score_ids(again[0].feedback_id, again) == []


def test_arena_rating_names_the_model_that_answered_and_its_siblings() -> None:
    (thumb, rating), reason = scores_for_feedback(_record("17_arena_rating", "arena_up"))
    assert reason is None and (thumb.value, rating.value) == (1.0, 9.0)
    assert thumb.metadata["arena"] is True
    assert thumb.metadata["model_id"] == "mock-gpt"
    assert thumb.metadata["message_model_id"] == "arena-model"
    assert thumb.metadata["sibling_model_ids"] == ["mock-llama:latest"]
    assert thumb.comment == "thorough_explanation: Better than the other one."


def test_api_feedback_without_rating_is_skipped_with_a_reason() -> None:
    record = _record("18_api_feedback_without_rating", "api_no_rating")
    assert scores_for_feedback(record)[0] == []
    assert "no rating" in str(scores_for_feedback(record)[1])


@pytest.mark.parametrize(
    ("identity", "expected"),
    [("id", "fa546203-aaeb-4009-9904-d8aa1c1ad202"), ("email", "admin@example.com"), ("username", "Harness Admin")],
)
def test_rater_per_user_identity_from_a_list_item(identity: str, expected: str) -> None:
    item = records_file("07_update_comment")["admin_list"]["body"]["items"][0]
    scores, _ = scores_for_feedback(item, user_identity=identity)
    assert scores[0].metadata["rater"] == expected


def test_username_is_the_users_username_when_open_webui_has_one_else_the_name_as_for_turns() -> None:
    record = {**_record("05_thumbs_down_details", "down_turn2"), "user": {"name": "Bea User", "username": "bea"}}
    assert scores_for_feedback(record, user_identity="username")[0][0].metadata["rater"] == "bea"
    record["user"] = {"name": "Bea User", "username": None}
    assert scores_for_feedback(record, user_identity="username")[0][0].metadata["rater"] == "Bea User"


def test_rater_falls_back_to_the_id_when_the_record_has_no_user() -> None:
    scores, _ = scores_for_feedback(_record("05_thumbs_down_details", "down_turn2"), user_identity="email")
    assert scores[0].metadata["rater"] == "fa546203-aaeb-4009-9904-d8aa1c1ad202"


def test_delete_ids_are_every_id_a_feedback_produced() -> None:
    scores, _ = scores_for_feedback(_record("05_thumbs_down_details", "down_turn2"))
    assert score_ids_for_feedback("a8aabaa8-5e84-44b8-afae-b647367c9457") == [s.score_id for s in scores]
    # the deleted event names the feedback id only; the ids come from it alone
    (deleted,) = events_received("08_delete_one")
    up, _ = scores_for_feedback(_record("05_thumbs_down_details", "up_turn1"))
    assert up[0].score_id in score_ids_for_feedback(deleted["event"]["subject"]["id"])


def test_score_ids_are_stable_distinct_uuids() -> None:
    ids = {score_id(f"fb-{n}", name) for n in range(50) for name in SCORE_NAMES}
    assert len(ids) == 100
    assert score_id("fb-1", THUMB_SCORE) == score_id("fb-1", THUMB_SCORE)
    assert len(score_id("fb-1", THUMB_SCORE)) == 36


@pytest.mark.parametrize(
    ("record", "reason"),
    [
        (None, "not a feedback record"),
        ([], "not a feedback record"),
        ({}, "no feedback id"),
        ({"id": 5, "data": {"rating": 1}}, "no feedback id"),
        ({"id": "f", "type": "comparison", "data": {"rating": 1}, "meta": {"message_id": "m"}}, "not a rating"),
        ({"id": "f", "data": {"rating": 1}, "meta": {"chat_id": "c"}}, "no message id"),
        ({"id": "f", "data": {"rating": 1}, "meta": {"chat_id": "c", "message_id": 7}}, "no message id"),
        ({"id": "f", "data": "oops", "meta": {"message_id": "m"}}, "no rating"),
        (
            {"id": "f", "data": {"rating": math.nan, "details": {"rating": 11}}, "meta": {"message_id": "m"}},
            "no rating",
        ),
        ({"id": "f", "data": {"rating": True}, "meta": {"message_id": "m"}}, "no rating"),
        ({"id": "f", "data": {"rating": 0}, "meta": {"message_id": "m"}}, "no rating"),
    ],
)
def test_bad_records_get_a_reason_and_never_raise(record: Any, reason: str) -> None:
    scores, why = scores_for_feedback(record)
    assert scores == [] and why is not None and reason in why


def test_a_rating_of_an_api_turn_without_chat_uses_the_filters_derivation() -> None:
    (score,), _ = scores_for_feedback({"id": "f", "data": {"rating": "-1"}, "meta": {"message_id": "m-1"}})
    assert score.trace_id == turn_trace_id(None, "m-1") and score.value == -1.0


def test_score_is_frozen() -> None:
    (score,), _ = scores_for_feedback({"id": "f", "data": {"rating": 1}, "meta": {"message_id": "m"}})
    assert isinstance(score, Score)
    with pytest.raises(AttributeError):
        score.value = 2.0  # type: ignore[misc]

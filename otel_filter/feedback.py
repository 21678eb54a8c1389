# SPDX-License-Identifier: Apache-2.0
"""Open WebUI feedback records -> scores on the rated turn: what becomes what, with ids that make resends harmless.

A feedback record is Open WebUI's ``FeedbackModel`` as JSON: what ``GET /api/v1/evaluations/feedback/{id}`` answers,
what ``Feedbacks.get_feedback_by_id(id).model_dump()`` gives in-process, one item of ``/feedbacks/all/export`` or of
``/feedbacks/list`` (whose items also carry ``user``). Each record becomes up to two scores on the turn that
generated the rated answer:

============== ========= ================================ ============================================
score name     type      value                            from
============== ========= ================================ ============================================
``user_feedback`` NUMERIC ``1.0`` (thumbs up) / ``-1.0``  ``data.rating``
``user_rating``   NUMERIC ``1.0`` ... ``10.0``            ``data.details.rating`` (the comment box's scale)
============== ========= ================================ ============================================

Both carry the same comment (``"<reason>: <comment>"``, either part alone when the other is empty; Open WebUI's
reason keys such as ``not_helpful`` as they are) and metadata: ``feedback_id``, ``tags``, ``model_id`` (the model
that answered), ``message_model_id`` (the message's model, e.g. ``arena-model``), ``rater`` (per ``user_identity``),
``source: "open-webui"``, and for arena ratings ``arena: true`` and ``sibling_model_ids``.

- **Where**: the trace id and observation id are derived from the record's ``meta.chat_id`` and ``meta.message_id``
  (:func:`otel_filter.trace_ids.turn_trace_id`, :func:`~otel_filter.trace_ids.turn_span_id`), exactly as the filter
  derived them when it traced the turn: nothing has to remember them.
- **Ids**: a score's id is a UUID derived from the feedback id and the score name (:func:`score_id`). A changed
  rating sends the same ids (Langfuse overwrites the score), a retry or a second sync never duplicates, a delete
  knows what to delete (:func:`score_ids_for_feedback`). A rating cleared in an update (re-rating with the other
  thumb resets ``details``) leaves its ``user_rating`` score to be deleted: :func:`stale_score_ids`.
- **Timestamp**: the record's ``created_at``, the same in every resend: Langfuse updates a score sent again "with
  the same id and timestamp" (its ``CreateScoreRequest.timestamp`` documentation).

    >>> record = {"id": "fb-1", "user_id": "u-1", "type": "rating",
    ...           "data": {"rating": -1, "reason": "not_helpful", "comment": "Too vague.", "details": {"rating": 3},
    ...                    "model_id": "gpt-4o", "tags": ["general"]},
    ...           "meta": {"chat_id": "c-1", "message_id": "m-1", "model_id": "gpt-4o"},
    ...           "created_at": 1796539489, "updated_at": 1796539493}
    >>> scores, reason = scores_for_feedback(record)
    >>> [(s.name, s.value, s.comment) for s in scores], reason
    ([('user_feedback', -1.0, 'not_helpful: Too vague.'), ('user_rating', 3.0, 'not_helpful: Too vague.')], None)
    >>> scores[0].trace_id == turn_trace_id("c-1", "m-1"), scores[0].observation_id == turn_span_id("c-1", "m-1")
    (True, True)
    >>> scores_for_feedback({"id": "fb-2", "data": {"rating": 1}, "meta": {}})
    ([], 'no message id: the rated answer is unknown')
    >>> score_ids_for_feedback("fb-1") == [s.score_id for s in scores]
    True
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field

from otel_filter.trace_ids import turn_span_id, turn_trace_id

THUMB_SCORE = "user_feedback"
"""The thumb: +1 (up) or -1 (down)."""
RATING_SCORE = "user_rating"
"""The optional 1-10 rating of Open WebUI's comment box."""
SCORE_NAMES = (THUMB_SCORE, RATING_SCORE)
"""Every score name a feedback can produce, in the order they are produced."""
DATA_TYPE_NUMERIC = "NUMERIC"
RATING_MIN, RATING_MAX = 1, 10
FEEDBACK_EVENTS = ("feedback.created", "feedback.updated", "feedback.deleted", "feedback.deleted_all")
"""The Open WebUI events (>= 0.10) that concern ratings."""

_SCORE_ID_NAMESPACE = uuid.UUID("6f1f0a3e-5c1b-4c54-9d7e-0c2a7e3f6b11")
"""Fixed forever: changing it would orphan every score already sent."""
_SOURCE = "open-webui"


@dataclass(frozen=True)
class Score:
    """One score of one feedback record, ready for Langfuse (a score) and OTel (``gen_ai.evaluation.result``)."""

    score_id: str
    trace_id: str
    observation_id: str | None
    name: str
    value: float | str
    data_type: str
    comment: str | None
    metadata: dict[str, object]
    feedback_id: str
    updated_at: int | None
    created_at: int | None = field(default=None)
    """The record's ``created_at`` (epoch seconds): the score's timestamp, unchanged by updates."""

    @property
    def label(self) -> str | None:
        """The semconv ``gen_ai.evaluation.score.label``: ``positive``/``negative`` for the thumb, else None."""
        return thumb_label(self.value) if self.name == THUMB_SCORE else None


def score_id(feedback_id: str, name: str) -> str:
    """The id of score ``name`` of feedback ``feedback_id``: a UUID (version 5), the same in every process.

    >>> score_id("31d92983-9b7f-4467-a549-0036a7f053d6", "user_feedback")
    'db7af15a-bbda-5eba-ae31-2c8bece1f8dd'
    """
    return str(uuid.uuid5(_SCORE_ID_NAMESPACE, f"{feedback_id}\x00{name}"))


def score_ids_for_feedback(feedback_id: str) -> list[str]:
    """Every score id a feedback may have produced (for deletes): one per name in :data:`SCORE_NAMES`."""
    return [score_id(feedback_id, name) for name in SCORE_NAMES]


def stale_score_ids(feedback_id: str, scores: list[Score]) -> list[str]:
    """The score ids of ``feedback_id`` that the current ``scores`` no longer produce (delete them): e.g. the
    1-10 rating after a re-rating with the other thumb reset it, or both when the record cannot be scored any more."""
    current = {score.score_id for score in scores}
    return [sid for sid in score_ids_for_feedback(feedback_id) if sid not in current]


def thumb_label(value: object) -> str | None:
    """``positive`` for a thumb up, ``negative`` for a thumb down (low-cardinality semconv label)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return "positive" if value > 0 else "negative" if value < 0 else None
    return None


def _record_map(value: object) -> Mapping[str, object]:
    return value if isinstance(value, Mapping) else {}


def _record_text(value: object) -> str | None:
    return value.strip() or None if isinstance(value, str) else None


def _record_number(value: object) -> float | None:
    """A finite number (an int, a float, or a numeric string), else None; bool is not a number here."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            return None
    if isinstance(value, int | float) and math.isfinite(value):
        return float(value)
    return None


def _record_epoch(value: object) -> int | None:
    number = _record_number(value)
    return int(number) if number is not None else None


def _record_comment(data: Mapping[str, object]) -> str | None:
    parts = [part for part in (_record_text(data.get("reason")), _record_text(data.get("comment"))) if part]
    return ": ".join(parts) or None


def _record_rater(record: Mapping[str, object], user_identity: str) -> str | None:
    """Who rated, per the ``user_identity`` setting (id, email, username), as the filter names a turn's user.

    The record names its rater by ``user_id`` only; ``/feedbacks/list`` items, records the Event function
    enriches from the event's actor and records ``owui-otel feedback sync`` enriches from Open WebUI's users API
    also carry ``user``. Without the requested field the id is used."""
    user = _record_map(record.get("user"))
    if user_identity == "email":
        wanted = _record_text(user.get("email"))
    elif user_identity == "username":  # as the filter: the username when Open WebUI has one, else the name
        wanted = _record_text(user.get("username")) or _record_text(user.get("name"))
    else:
        wanted = None
    return wanted or _record_text(record.get("user_id")) or _record_text(user.get("id"))


def _record_metadata(record: Mapping[str, object], feedback_id: str, user_identity: str) -> dict[str, object]:
    data, meta = _record_map(record.get("data")), _record_map(record.get("meta"))
    metadata: dict[str, object] = {"feedback_id": feedback_id, "source": _SOURCE}
    tags = data.get("tags")
    if isinstance(tags, list) and tags:
        metadata["tags"] = [str(tag) for tag in tags]
    for key, value in (
        ("model_id", data.get("model_id")),
        ("message_model_id", meta.get("model_id")),
        ("chat_id", meta.get("chat_id")),
        ("message_id", meta.get("message_id")),
        ("rater", _record_rater(record, user_identity)),
    ):
        if _record_text(value):
            metadata[key] = value
    if meta.get("arena") is True:
        metadata["arena"] = True
        siblings = data.get("sibling_model_ids")
        if isinstance(siblings, list):
            metadata["sibling_model_ids"] = [str(sibling) for sibling in siblings]
    return metadata


def scores_for_feedback(record: Mapping[str, object], *, user_identity: str = "id") -> tuple[list[Score], str | None]:
    """A feedback record (Open WebUI's FeedbackModel as JSON) -> its scores, or ([], reason) when it cannot be scored
    (no message id, no rating, ...). Never raises, whatever the record holds."""
    if not isinstance(record, Mapping):
        return [], "not a feedback record (expected a JSON object)"
    feedback_id = _record_text(record.get("id"))
    if feedback_id is None:
        return [], "no feedback id"
    kind = record.get("type")
    if kind not in (None, "rating"):
        return [], f"feedback type {kind!r} is not a rating"
    data, meta = _record_map(record.get("data")), _record_map(record.get("meta"))
    message_id = _record_text(meta.get("message_id"))
    trace_id = turn_trace_id(_record_text(meta.get("chat_id")), message_id)
    if trace_id is None:
        return [], "no message id: the rated answer is unknown"
    observation_id = turn_span_id(_record_text(meta.get("chat_id")), message_id)
    values: list[tuple[str, float]] = []
    thumb = _record_number(data.get("rating"))
    if thumb is not None and thumb != 0:
        values.append((THUMB_SCORE, 1.0 if thumb > 0 else -1.0))
    rating = _record_number(_record_map(data.get("details")).get("rating"))
    if rating is not None and RATING_MIN <= rating <= RATING_MAX:
        values.append((RATING_SCORE, rating))
    if not values:
        return [], "no rating: neither a thumb (data.rating) nor a 1-10 rating (data.details.rating)"
    comment = _record_comment(data)
    metadata = _record_metadata(record, feedback_id, user_identity)
    updated_at, created_at = _record_epoch(record.get("updated_at")), _record_epoch(record.get("created_at"))
    scores = [
        Score(
            score_id=score_id(feedback_id, name),
            trace_id=trace_id,
            observation_id=observation_id,
            name=name,
            value=value,
            data_type=DATA_TYPE_NUMERIC,
            comment=comment,
            metadata=dict(metadata),
            feedback_id=feedback_id,
            updated_at=updated_at,
            created_at=created_at,
        )
        for name, value in values
    ]
    return scores, None

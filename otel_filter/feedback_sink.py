# SPDX-License-Identifier: Apache-2.0
"""Send scores (:mod:`otel_filter.feedback`) to Langfuse and as ``gen_ai.evaluation.result`` to OTel, off the
caller's thread, with a bounded queue and bounded retries. Never blocks, never raises into the caller.

    sink = ScoreSink(
        langfuse=lambda: LangfuseTarget("https://cloud.langfuse.com", "pk-lf-...", "sk-lf-..."),
        tracer=lambda: telemetry.tracer,          # otel_filter._telemetry.Telemetry; None: no OTel evaluations
        health=Counters(),
    )
    sink.send(scores)                  # True: queued; False: queue full (counted as scores_dropped)
    sink.delete(score_ids_for_feedback(feedback_id))
    sink.flush(timeout_s=10)           # tests, shutdown
    sink.stop()

The parts, for callers that need each outcome (``owui-otel feedback sync``): :class:`LangfuseScores` (the scores
API, synchronous, raising) and :func:`emit_evaluations` (the OTel side).

**Langfuse**: ``POST /api/public/scores`` (a batch) and ``DELETE /api/public/scores/{id}`` through the ``langfuse``
package's generated API client (``langfuse.api.LangfuseAPI``), with its own request model
``CreateScoreRequest`` (:func:`score_request`). Not ``Langfuse.create_score``: that client swallows every error
(nothing could be counted or retried) and starts an OTel tracer provider of its own inside the host.
The import is lazy: ``langfuse`` is a dependency of the Event function and the bridge server, not of the filter.

**OpenTelemetry**: per score one short span ``evaluation <score name>`` whose parent is the rated turn's span (the
derived span id, so Jaeger shows it under the turn) and which carries the semconv event ``gen_ai.evaluation.result``
(``gen_ai.evaluation.name``, ``.score.value``, ``.score.label``, ``.explanation``; the latter only when content
capture is on: it is the user's own words). The collector's Langfuse pipeline drops these spans (Langfuse gets the
score itself). Spans are immutable: an updated rating adds a new evaluation span, a deleted one removes nothing.

**What is guaranteed**: each queued request is tried up to ``max_attempts`` times (default 6) with doubling
backoff from ``retry_base_s`` (2 s, 4 s, ... capped at 60 s: about a minute of outage is bridged). Every outcome is
counted (``scores_sent``, ``scores_deleted``, ``scores_rejected`` (Langfuse refused a score: not retried),
``score_attempts_failed``, ``scores_dropped`` (gave up, or queue full)) and failures are logged rate-limited. The
queue is in memory (``capacity`` requests): a process restart loses what was queued. Scores are idempotent (derived
ids), so ``owui-otel feedback sync`` is the backstop for anything lost and a resend never duplicates.

**Visible outside the host**: with a tracer, failures are also reported as ``openwebui.feedback.delivery`` spans
(:mod:`otel_filter.feedback_delivery`; at most one per ``report_interval_s``, plus one on recovery and one at stop),
which reach Jaeger when Langfuse is down and which ``owui-otel doctor`` reads.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from opentelemetry import trace
from opentelemetry.trace import NonRecordingSpan, SpanContext, SpanKind, TraceFlags, Tracer

from otel_filter._counters import Counters
from otel_filter._settings import Settings
from otel_filter._telemetry import Telemetry
from otel_filter.feedback import Score
from otel_filter.feedback_delivery import DELIVERY_REPORT_INTERVAL_S, DeliveryReport, emit_delivery_report
from otel_filter.semconv import (
    GEN_AI_EVALUATION_EXPLANATION,
    GEN_AI_EVALUATION_NAME,
    GEN_AI_EVALUATION_RESULT,
    GEN_AI_EVALUATION_SCORE_LABEL,
    GEN_AI_EVALUATION_SCORE_VALUE,
    OPENWEBUI_FEEDBACK_ID,
)

EVALUATION_SPAN_PREFIX = "evaluation "
"""An evaluation span's name: ``evaluation user_feedback``."""
SCORE_QUEUE_CAPACITY = 1000
SCORE_MAX_ATTEMPTS = 6
SCORE_RETRY_BASE_S = 2.0
SCORE_MAX_RETRY_DELAY_S = 60.0
SCORE_REQUEST_TIMEOUT_S = 10.0
SCORE_CLIENT_NAME = "owui-otel"
# The generated client retries 429/5xx twice by itself (core/http_client.py); ours is the one bounded, counted retry.
_ONE_TRY = {"max_retries": 0}


@dataclass(frozen=True)
class LangfuseTarget:
    """Where scores go. The keys never appear in a repr, a log line or an error message."""

    host: str
    public_key: str
    secret_key: str = field(repr=False)


def score_request(score: Score) -> Any:
    """The ``langfuse`` package's own ``CreateScoreRequest`` for ``score`` (validated by its pydantic model)."""
    from langfuse.api.commons.types.score_data_type import ScoreDataType  # noqa: PLC0415
    from langfuse.api.scores.types.create_score_request import CreateScoreRequest  # noqa: PLC0415

    timestamp = datetime.fromtimestamp(score.created_at, UTC) if score.created_at is not None else None
    return CreateScoreRequest(
        id=score.score_id,
        trace_id=score.trace_id,
        observation_id=score.observation_id,
        name=score.name,
        value=score.value,
        data_type=ScoreDataType(score.data_type),
        comment=score.comment,
        metadata=dict(score.metadata),
        timestamp=timestamp,
    )


def evaluation_attributes(score: Score, *, explanation: bool) -> dict[str, str | float]:
    """The semconv ``gen_ai.evaluation.result`` attributes of ``score`` (``explanation``: include the comment)."""
    attributes: dict[str, str | float] = {GEN_AI_EVALUATION_NAME: score.name, OPENWEBUI_FEEDBACK_ID: score.feedback_id}
    if isinstance(score.value, int | float):
        attributes[GEN_AI_EVALUATION_SCORE_VALUE] = float(score.value)
    if score.label is not None:
        attributes[GEN_AI_EVALUATION_SCORE_LABEL] = score.label
    if explanation and score.comment:
        attributes[GEN_AI_EVALUATION_EXPLANATION] = score.comment
    return attributes


class LangfuseScores:
    """Langfuse's scores API, synchronous: for the sink's thread and for callers that need each outcome (the
    feedback sync records progress only for what Langfuse accepted). Errors raise (the ``langfuse`` client's
    ``ApiError`` or an ``httpx`` error); nothing is retried here.

        client = LangfuseScores(LangfuseTarget(host, public_key, secret_key))
        rejections = client.create(scores)     # [] when all were accepted; else why, one per refused score
        client.delete(score_ids)               # an id Langfuse does not know counts as deleted
        client.close()
    """

    def __init__(self, target: LangfuseTarget, *, timeout_s: float = SCORE_REQUEST_TIMEOUT_S) -> None:
        import httpx  # noqa: PLC0415  (a dependency of langfuse)
        from langfuse.api.client import LangfuseAPI  # noqa: PLC0415

        self.target = target
        self._http = httpx.Client(timeout=timeout_s)  # ours, so that close() ends its connections
        self._api = LangfuseAPI(
            base_url=target.host.rstrip("/"),
            username=target.public_key,
            password=target.secret_key,
            x_langfuse_sdk_name=SCORE_CLIENT_NAME,
            x_langfuse_public_key=target.public_key,
            httpx_client=self._http,
        )

    def create(self, scores: Sequence[Score]) -> list[str]:
        """``POST /api/public/scores``; the reasons of the scores Langfuse refused (207), [] when all were accepted.
        Langfuse asks not to retry a 207 batch: a refused score is invalid, not unlucky."""
        if not scores:
            return []
        response = self._api.scores.create(request=[score_request(score) for score in scores], request_options=_ONE_TRY)
        errors = getattr(response, "errors", None) or []
        rejected = int(getattr(response, "rejected", 0) or 0)
        reasons = [f"{scores[e.index].score_id if 0 <= e.index < len(scores) else '?'}: {e.message}" for e in errors]
        return reasons + ["(no reason given)"] * (rejected - len(reasons))

    def delete(self, score_ids: Sequence[str]) -> None:
        """``DELETE /api/public/scores/{id}`` for each id; 404 (never sent, already deleted) is success."""
        from langfuse.api.commons.errors.not_found_error import NotFoundError  # noqa: PLC0415

        for score_id in score_ids:
            try:
                self._api.scores.delete(score_id, request_options=_ONE_TRY)
            except NotFoundError:
                pass

    def close(self) -> None:
        self._http.close()


def emit_evaluations(tracer: Tracer, scores: Sequence[Score], *, explanation: bool) -> int:
    """One ``evaluation <name>`` span per score under the rated turn's span, holding the ``gen_ai.evaluation.result``
    event; returns how many were recorded (a score without an observation id has no turn span to sit under).
    Only queues: the tracer's batch processor exports."""
    recorded = 0
    for score in scores:
        if score.observation_id is None:
            continue
        parent = SpanContext(
            trace_id=int(score.trace_id, 16),
            span_id=int(score.observation_id, 16),
            is_remote=True,
            trace_flags=TraceFlags(TraceFlags.SAMPLED),
        )
        context = trace.set_span_in_context(NonRecordingSpan(parent))
        attributes = evaluation_attributes(score, explanation=explanation)
        span = tracer.start_span(
            EVALUATION_SPAN_PREFIX + score.name, context=context, kind=SpanKind.INTERNAL, attributes=attributes
        )
        span.add_event(GEN_AI_EVALUATION_RESULT, attributes=attributes)
        span.end()
        recorded += 1
    return recorded


@dataclass
class _Job:
    kind: str  # "send" | "delete"
    scores: list[Score] = field(default_factory=list)
    score_ids: list[str] = field(default_factory=list)
    attempts: int = 0
    not_before: float = 0.0


class ScoreSink:
    """See the module docstring. Thread-safe; its one daemon thread starts with the first request."""

    def __init__(
        self,
        *,
        langfuse: Callable[[], LangfuseTarget | None],
        tracer: Callable[[], Tracer | None] | None = None,
        health: Counters,
        explanation: Callable[[], bool] = lambda: True,
        capacity: int = SCORE_QUEUE_CAPACITY,
        max_attempts: int = SCORE_MAX_ATTEMPTS,
        retry_base_s: float = SCORE_RETRY_BASE_S,
        report_interval_s: float = DELIVERY_REPORT_INTERVAL_S,
    ) -> None:
        self._langfuse = langfuse
        self._tracer = tracer
        self._health = health
        self._explanation = explanation
        self._capacity = capacity
        self._max_attempts = max(1, max_attempts)
        self._retry_base_s = retry_base_s
        self._jobs: deque[_Job] = deque()
        self._cond = threading.Condition()
        self._busy = 0
        self._thread: threading.Thread | None = None
        self._stopped = False
        self._client: LangfuseScores | None = None
        self._report = DeliveryReport(interval_s=report_interval_s)

    # --- the caller's side: never blocks on I/O, never raises --------------------------------
    def send(self, scores: Sequence[Score]) -> bool:
        """Queue ``scores`` for Langfuse and OTel. False (counted) when the queue is full or the sink stopped."""
        if not scores:
            return True
        self._emit_evaluations(list(scores))
        return self._put(_Job("send", scores=list(scores)))

    def delete(self, score_ids: Sequence[str]) -> bool:
        """Queue the deletion of ``score_ids`` in Langfuse (an id Langfuse does not know counts as deleted)."""
        if not score_ids:
            return True
        return self._put(_Job("delete", score_ids=list(score_ids)))

    def pending(self) -> int:
        """Requests queued or in flight."""
        with self._cond:
            return len(self._jobs) + self._busy

    def flush(self, timeout_s: float = 10.0) -> bool:
        """Wait until nothing is queued or in flight (retries waiting for their time count as queued)."""
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while self._jobs or self._busy:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(min(remaining, 0.05))
        return True

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop the thread after at most ``timeout_s`` of draining; what is left is counted as dropped."""
        self.flush(timeout_s)
        with self._cond:
            self._stopped = True
            left = sum(len(job.scores) or len(job.score_ids) for job in self._jobs)
            if left:
                self._report.dropped(left, {s.feedback_id for job in self._jobs for s in job.scores}, "stopped")
            self._jobs.clear()
            self._cond.notify_all()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout_s)
        if thread is None or not thread.is_alive():
            self._close_client()
        if left:
            self._health.count("scores_dropped", left)
            self._health.problem("scores_dropped_at_stop", "otel_filter: %d score request(s) unsent at shutdown", left)
        self._report_if_due(now=True)

    def _put(self, job: _Job) -> bool:
        with self._cond:
            if self._stopped or len(self._jobs) >= self._capacity:
                dropped = len(job.scores) or len(job.score_ids)
                self._health.count("scores_dropped", dropped)
                self._report.dropped(dropped, _ratings(job), "score queue full")
                self._health.problem(
                    "scores_queue_full",
                    "otel_filter: score queue full (%d requests) or stopped; %d dropped (feedback sync resends them)",
                    self._capacity,
                    dropped,
                )
                return False
            self._jobs.append(job)
            self._report.queued()
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="otel_filter-scores", daemon=True)
                self._thread.start()
            self._cond.notify_all()
        return True

    def _emit_evaluations(self, scores: list[Score]) -> None:
        try:
            tracer = self._tracer() if self._tracer is not None else None
            if tracer is not None:
                self._health.count(
                    "evaluations_emitted", emit_evaluations(tracer, scores, explanation=self._explanation())
                )
        except Exception as error:  # never into the caller
            self._health.problem("evaluation_emit_failed", "otel_filter: could not record an evaluation: %r", error)

    # --- the worker thread ----------------------------------------------------------------------
    def _next(self) -> _Job | None:
        """The next job ready to try, :data:`_REPORT_DUE` when a delivery report is due, None once stopped."""
        with self._cond:
            while not self._stopped:
                now = time.monotonic()
                ready = next((job for job in self._jobs if job.not_before <= now), None)
                if ready is not None:
                    self._jobs.remove(ready)
                    self._busy += 1
                    return ready
                if self._report.due():
                    return _REPORT_DUE
                wait = min((job.not_before for job in self._jobs), default=now + 1.0) - now
                self._cond.wait(max(0.01, min(wait, 1.0)))
            return None

    def _run(self) -> None:
        while (job := self._next()) is not None:
            if job is not _REPORT_DUE:
                self._process(job)
            self._report_if_due()

    def _process(self, job: _Job) -> None:
        try:
            done = self._attempt(job)
        except Exception as error:  # a bug here must not end the thread
            self._health.problem("score_worker_error", "otel_filter: score worker: %r", error)
            done = False
        with self._cond:
            self._busy -= 1
            if not done:
                job.attempts += 1
                if job.attempts < self._max_attempts and not self._stopped:
                    delay = min(self._retry_base_s * 2 ** (job.attempts - 1), SCORE_MAX_RETRY_DELAY_S)
                    job.not_before = time.monotonic() + delay
                    self._jobs.append(job)
                else:
                    dropped = len(job.scores) or len(job.score_ids)
                    self._health.count("scores_dropped", dropped)
                    self._report.dropped(dropped, _ratings(job))
                    self._health.problem(
                        "scores_given_up",
                        "otel_filter: gave up on %d score request(s) after %d attempts (feedback sync resends)",
                        dropped,
                        job.attempts,
                    )
            self._cond.notify_all()

    def _report_if_due(self, *, now: bool = False) -> None:
        """Send the delivery report when one is due (:mod:`otel_filter.feedback_delivery`); never raises."""
        try:
            if not self._report.due(now=now):
                return
            report = self._report.take(pending=self.pending())
            tracer = self._tracer() if self._tracer is not None else None
            if tracer is not None:
                emit_delivery_report(tracer, report)
                self._health.count("delivery_reports")
        except Exception as error:  # never into the caller, never ends the thread
            self._health.problem("delivery_report_failed", "otel_filter: could not report score delivery: %r", error)

    def _api(self) -> LangfuseScores | None:
        target = self._langfuse()
        if target is None:
            return None
        if self._client is None or target != self._client.target:
            self._close_client()
            self._client = LangfuseScores(target)
        return self._client

    def _close_client(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            client.close()

    def _attempt(self, job: _Job) -> bool:
        """One try of ``job``; True when done (sent, or refused for good), False to retry."""
        try:
            api = self._api()
            if api is None:  # Langfuse not configured: the OTel evaluations are all there is
                return True
            if job.kind == "send":
                return self._send(api, job.scores)
            return self._delete(api, job.score_ids)
        except Exception as error:
            self._health.count("score_attempts_failed")
            # The error's text, never the client: its repr could hold the keys. ApiError's str holds status + body.
            self._report.attempt_failed(_short_text(error))
            self._health.problem(
                "score_request_failed",
                "otel_filter: Langfuse score request failed (attempt %d of %d): %s",
                job.attempts + 1,
                self._max_attempts,
                _short_text(error),
            )
            return False

    def _send(self, api: LangfuseScores, scores: list[Score]) -> bool:
        rejections = api.create(scores)
        if rejections:
            self._health.count("scores_rejected", len(rejections))
            self._report.rejected(len(rejections), _short_text("; ".join(rejections)))
            self._health.problem(
                "score_batch_rejected",
                "otel_filter: Langfuse rejected %d score(s): %s",
                len(rejections),
                _short_text("; ".join(rejections)),
            )
        self._health.count("scores_sent", len(scores) - len(rejections))
        self._report.sent(len(scores) - len(rejections))
        return True

    def _delete(self, api: LangfuseScores, score_ids: list[str]) -> bool:
        while score_ids:
            api.delete([score_ids[0]])
            score_ids.pop(0)  # done: a retry of this job starts at the next id
            self._health.count("scores_deleted")
            self._report.deleted()
        return True


def _ratings(job: _Job) -> set[str]:
    """The feedback ids (ratings) of a send job's scores; a delete job names score ids only."""
    return {score.feedback_id for score in job.scores}


_REPORT_DUE = _Job("report")
"""What :meth:`ScoreSink._next` hands the worker when it has no job ready but a delivery report is due."""


def _short_text(value: object, limit: int = 300) -> str:
    """An error or response for a log line: an ApiError's status and body only (its headers are not needed)."""
    status = getattr(value, "status_code", None)
    text = f"HTTP {status}: {getattr(value, 'body', None)}" if status is not None else repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


def evaluation_export(settings: Settings, counters: Counters) -> Telemetry:
    """The filter's own export path (private provider, the configured OTLP protocol, headers and request-size cap)
    for evaluation spans sent from outside a filter, e.g. ``owui-otel feedback sync``: its ``.tracer`` goes to
    :func:`emit_evaluations`; ``.shutdown()`` exports what is queued."""
    return Telemetry(settings, counters)

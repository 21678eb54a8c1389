# SPDX-License-Identifier: Apache-2.0
"""Score delivery made visible outside Open WebUI: a ``openwebui.feedback.delivery`` span whenever scores failed.

The Event function's :class:`~otel_filter.feedback_sink.ScoreSink` sends scores straight to Langfuse; when Langfuse
is down, its counters and log lines live only inside Open WebUI. So the sink also tells the OTel backends, through
the export path the evaluations already take (the filter's OTLP exporter -> the collector -> Jaeger): one short root
span per report, carrying what happened since the previous report::

    report = DeliveryReport(interval_s=60.0)
    report.queued(1)
    report.attempt_failed("HTTP 503: ...")              # will be retried
    report.dropped(2, {"feedback-1"})                   # gave up: sync resends
    if report.due():
        emit_delivery_report(tracer, report.take(pending=0))

Why a span and not a log record or a metric: every backend we run keeps traces (Jaeger has no log or metric
store), the collector has only traces pipelines, and ``owui-otel doctor`` already reads Jaeger. The collector's
Langfuse pipeline drops these spans (``collector/_backends/langfuse.py``): they describe Langfuse's own outage.

A report is sent only when something went wrong since the last one (an attempt failed, Langfuse refused a score,
scores were dropped), at most once per ``interval_s``, plus one report when delivery recovers (queue drained after
a report that left requests pending), so the last report says whether delivery works now.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from opentelemetry.context import Context
from opentelemetry.trace import SpanKind, Status, StatusCode, Tracer

from otel_filter.semconv import (
    OPENWEBUI_FEEDBACK_DELIVERY,
    OPENWEBUI_FEEDBACK_DELIVERY_DELETED,
    OPENWEBUI_FEEDBACK_DELIVERY_DROPPED,
    OPENWEBUI_FEEDBACK_DELIVERY_DROPPED_RATINGS,
    OPENWEBUI_FEEDBACK_DELIVERY_LAST_ERROR,
    OPENWEBUI_FEEDBACK_DELIVERY_PENDING,
    OPENWEBUI_FEEDBACK_DELIVERY_QUEUED,
    OPENWEBUI_FEEDBACK_DELIVERY_REJECTED,
    OPENWEBUI_FEEDBACK_DELIVERY_RETRIED,
    OPENWEBUI_FEEDBACK_DELIVERY_SENT,
    OPENWEBUI_FEEDBACK_DELIVERY_TARGET,
)

DELIVERY_REPORT_INTERVAL_S = 60.0
"""At most one report a minute while Langfuse stays down (each report sums the minute)."""
DELIVERY_TARGET_LANGFUSE = "langfuse"
"""The ``openwebui.feedback.delivery.target`` of the Langfuse scores API (doctor searches by it)."""


@dataclass
class _Window:
    started_ns: int = 0
    queued: int = 0
    sent: int = 0
    deleted: int = 0
    retried: int = 0
    rejected: int = 0
    dropped: int = 0
    dropped_ratings: set[str] = field(default_factory=set)
    last_error: str = ""

    @property
    def troubled(self) -> bool:
        return bool(self.retried or self.rejected or self.dropped)


@dataclass(frozen=True)
class DeliveryReportSpan:
    """One report: its attributes, when its window started (ns since the epoch) and whether it tells of a failure
    that is not over (scores dropped, or requests still pending after failed attempts)."""

    attributes: dict[str, str | int]
    started_ns: int
    failing: bool


class DeliveryReport:
    """Counts of one window of score deliveries (thread-safe); see the module docstring."""

    def __init__(
        self, *, interval_s: float = DELIVERY_REPORT_INTERVAL_S, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._interval_s = interval_s
        self._clock = clock
        self._lock = threading.Lock()
        self._window = _Window()
        self._last_report = -math.inf
        self._open = False  # the last report left requests pending after failures: a recovery is worth a report

    def _touch(self) -> _Window:
        if not self._window.started_ns:
            self._window.started_ns = time.time_ns()
        return self._window

    def queued(self, requests: int = 1) -> None:
        with self._lock:
            self._touch().queued += requests

    def sent(self, scores: int) -> None:
        with self._lock:
            self._touch().sent += scores

    def deleted(self, scores: int = 1) -> None:
        with self._lock:
            self._touch().deleted += scores

    def attempt_failed(self, error: str) -> None:
        """One try failed; the request is retried (or dropped, reported by :meth:`dropped`)."""
        with self._lock:
            window = self._touch()
            window.retried += 1
            window.last_error = error

    def rejected(self, scores: int, error: str) -> None:
        """Langfuse refused scores as invalid (not retried)."""
        with self._lock:
            window = self._touch()
            window.rejected += scores
            window.last_error = error

    def dropped(self, scores: int, feedback_ids: Iterable[str], error: str = "") -> None:
        """Scores (or score deletions) given up on: only ``owui-otel feedback sync`` can deliver them now."""
        with self._lock:
            window = self._touch()
            window.dropped += scores
            window.dropped_ratings.update(feedback_ids)
            if error:
                window.last_error = error

    def due(self, *, now: bool = False) -> bool:
        """Whether a report should go out (``now``: regardless of the interval, e.g. at shutdown)."""
        with self._lock:
            window = self._window
            worth = window.troubled or (self._open and bool(window.sent or window.deleted))
            return worth and (now or self._clock() - self._last_report >= self._interval_s)

    def take(self, *, pending: int) -> DeliveryReportSpan:
        """The report of the window so far (``pending``: requests queued or in flight now); starts a new window."""
        with self._lock:
            window, self._window = self._window, _Window()
            self._last_report = self._clock()
            self._open = window.troubled and pending > 0
        attributes: dict[str, str | int] = {
            OPENWEBUI_FEEDBACK_DELIVERY_TARGET: DELIVERY_TARGET_LANGFUSE,
            OPENWEBUI_FEEDBACK_DELIVERY_QUEUED: window.queued,
            OPENWEBUI_FEEDBACK_DELIVERY_SENT: window.sent,
            OPENWEBUI_FEEDBACK_DELIVERY_DELETED: window.deleted,
            OPENWEBUI_FEEDBACK_DELIVERY_RETRIED: window.retried,
            OPENWEBUI_FEEDBACK_DELIVERY_REJECTED: window.rejected,
            OPENWEBUI_FEEDBACK_DELIVERY_DROPPED: window.dropped,
            OPENWEBUI_FEEDBACK_DELIVERY_DROPPED_RATINGS: len(window.dropped_ratings),
            OPENWEBUI_FEEDBACK_DELIVERY_PENDING: pending,
        }
        if window.last_error:
            attributes[OPENWEBUI_FEEDBACK_DELIVERY_LAST_ERROR] = window.last_error
        failing = bool(window.dropped) or (window.troubled and pending > 0)
        return DeliveryReportSpan(attributes, window.started_ns or time.time_ns(), failing)


def emit_delivery_report(tracer: Tracer, report: DeliveryReportSpan) -> None:
    """One root span ``openwebui.feedback.delivery`` from the window's start to now (status ERROR while failing).
    Only queues: the tracer's batch processor exports."""
    span = tracer.start_span(
        OPENWEBUI_FEEDBACK_DELIVERY,
        context=Context(),  # a root, whatever span is current on the calling thread
        kind=SpanKind.INTERNAL,
        attributes=report.attributes,
        start_time=report.started_ns,
    )
    if report.failing:
        error = report.attributes.get(OPENWEBUI_FEEDBACK_DELIVERY_LAST_ERROR, "scores not delivered")
        span.set_status(Status(StatusCode.ERROR, str(error)))
    span.end()

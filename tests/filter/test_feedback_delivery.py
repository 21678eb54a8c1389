# SPDX-License-Identifier: Apache-2.0
"""The score delivery report (otel_filter.feedback_delivery): sent only when something failed, at most once per
interval, once more when delivery recovers, as a root span whose status says whether the failure is over."""

from __future__ import annotations

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from otel_filter.feedback_delivery import DeliveryReport, emit_delivery_report
from otel_filter.semconv import (
    OPENWEBUI_FEEDBACK_DELIVERY,
    OPENWEBUI_FEEDBACK_DELIVERY_DROPPED,
    OPENWEBUI_FEEDBACK_DELIVERY_DROPPED_RATINGS,
    OPENWEBUI_FEEDBACK_DELIVERY_LAST_ERROR,
    OPENWEBUI_FEEDBACK_DELIVERY_PENDING,
    OPENWEBUI_FEEDBACK_DELIVERY_RETRIED,
    OPENWEBUI_FEEDBACK_DELIVERY_SENT,
)

pytestmark = pytest.mark.unit


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_nothing_is_reported_while_everything_is_delivered() -> None:
    report = DeliveryReport(interval_s=0)
    report.queued(3)
    report.sent(5)
    report.deleted(2)
    assert not report.due()


def test_failures_are_reported_at_most_once_per_interval_and_summed() -> None:
    clock = _Clock()
    report = DeliveryReport(interval_s=60, clock=clock)
    report.attempt_failed("HTTP 503: down")
    assert report.due()
    first = report.take(pending=1)
    assert first.attributes[OPENWEBUI_FEEDBACK_DELIVERY_RETRIED] == 1 and first.failing
    report.attempt_failed("HTTP 503: still down")
    report.dropped(2, {"feedback-1"})
    report.dropped(1, {"feedback-1"})
    clock.now += 59
    assert not report.due() and report.due(now=True)
    clock.now += 1
    second = report.take(pending=0)
    assert second.attributes[OPENWEBUI_FEEDBACK_DELIVERY_DROPPED] == 3
    assert second.attributes[OPENWEBUI_FEEDBACK_DELIVERY_DROPPED_RATINGS] == 1
    assert second.attributes[OPENWEBUI_FEEDBACK_DELIVERY_LAST_ERROR] == "HTTP 503: still down"
    assert second.failing


def test_a_recovery_after_a_pending_failure_is_reported_once() -> None:
    report = DeliveryReport(interval_s=0)
    report.attempt_failed("ConnectError")
    assert report.take(pending=2).failing
    report.sent(2)
    assert report.due()
    recovered = report.take(pending=0)
    assert not recovered.failing and recovered.attributes[OPENWEBUI_FEEDBACK_DELIVERY_SENT] == 2
    assert recovered.attributes[OPENWEBUI_FEEDBACK_DELIVERY_PENDING] == 0
    report.sent(1)
    assert not report.due()  # delivery works again: nothing more to say


def test_the_report_is_a_root_span_with_error_status_while_failing() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("test")
    report = DeliveryReport(interval_s=0)
    report.dropped(2, {"feedback-1"}, "HTTP 401: bad keys")
    with tracer.start_as_current_span("unrelated current span"):
        emit_delivery_report(tracer, report.take(pending=0))
    (span,) = [span for span in exporter.get_finished_spans() if span.name == OPENWEBUI_FEEDBACK_DELIVERY]
    assert span.parent is None
    assert span.status.status_code == StatusCode.ERROR and span.status.description == "HTTP 401: bad keys"
    assert span.kind == trace.SpanKind.INTERNAL
    assert span.start_time is not None and span.end_time is not None and span.start_time <= span.end_time

# SPDX-License-Identifier: Apache-2.0
"""Nothing lost: spans queued for an unreachable Langfuse survive a collector crash (SIGKILL) and restart.

Delivery is at-least-once: after a crash, requests that were in flight may be sent again. Duplicates are counted
and reported, not failed. The Langfuse pipeline has no batch processor, so the receiver acknowledges a span only
once it is in the persistent queue: every acknowledged span survives.
"""

from __future__ import annotations

import collections
from collections.abc import Callable

import pytest

from tests.support.spans import SentSpan
from tests.support.stack import FAST_RETRY, Stack

pytestmark = pytest.mark.integration

N = 25


def test_queued_spans_survive_sigkill_and_arrive_exactly_once_or_more(
    stack_factory: Callable[..., Stack],
    send_spans: Callable[..., list[SentSpan]],
    capsys: pytest.CaptureFixture[str],
    record_property: Callable[[str, object], None],
) -> None:
    stack = stack_factory(langfuse=False, env=FAST_RETRY)  # Langfuse down: its port refuses connections
    sent = send_spans(stack.otlp_http_traces_url, count=N)  # returns once the collector acknowledged them
    stack.wait_metric("otelcol_receiver_accepted_spans", N, timeout=30)
    assert stack.collector_metric("otelcol_exporter_sent_spans", exporter="otlp_http/langfuse") == 0

    stack.kill_collector()
    stack.start_collector()  # same OTELCOL_QUEUE_DIR
    stack.start_langfuse()

    stack.wait_for_langfuse_spans(N, timeout=60)
    # Let a late retry or replay of an in-flight request land before counting.
    stack.wait_metric("otelcol_exporter_sent_spans", N, timeout=30, exporter="otlp_http/langfuse")
    received = stack.langfuse_received()["spans"]
    counts = collections.Counter(span["span_id"] for span in received)
    duplicates = sum(count - 1 for count in counts.values())
    record_property("durability_duplicates", duplicates)
    with capsys.disabled():
        print(f"\n[durability] sent={N} received={len(received)} distinct={len(counts)} duplicates={duplicates}")
    assert set(counts) == {span.span_id for span in sent}, "every span arrives, and only those"
    assert {span["trace_id"] for span in received} == {span.trace_id for span in sent}

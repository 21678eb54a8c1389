# SPDX-License-Identifier: Apache-2.0
"""Real collector + real Jaeger + Langfuse contract endpoint: what each backend receives.

Spans are sent with the OpenTelemetry SDK's OTLP/HTTP exporter, shaped like otel_filter's turn spans.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable
from typing import Any

import pytest
from opentelemetry.sdk.trace.export import SpanExportResult

from tests.support.spans import OUR_SCOPE, SentSpan, filter_like_attributes
from tests.support.stack import FAST_RETRY, RECEIVER_AUTH_OVERLAY, ROOT_CONFIG, Stack

pytestmark = pytest.mark.integration

CONTENT_KEYS = ("gen_ai.input.messages", "gen_ai.output.messages", "gen_ai.system_instructions")


def expected_completion_start(start_ns: int, ttft_seconds: float) -> str:
    """Independent reference: ISO-8601 UTC, microseconds truncated and trailing zeros dropped (Go's .999999)."""
    total = start_ns + round(ttft_seconds * 1_000_000_000)
    seconds, nanos = divmod(total, 1_000_000_000)
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
    fraction = f"{nanos // 1000:06d}".rstrip("0")
    return f"{stamp}.{fraction}Z" if fraction else f"{stamp}Z"


def jaeger_tags(span: dict[str, Any]) -> dict[str, Any]:
    return {tag["key"]: tag["value"] for tag in span.get("tags", [])}


def by_span_id(spans: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {span["span_id"]: span for span in spans}


def test_spans_reach_langfuse_with_extras_and_jaeger_without_content(
    stack_factory: Callable[..., Stack], send_spans: Callable[..., list[SentSpan]]
) -> None:
    stack = stack_factory(jaeger=True)
    ttfts = [0.123456, 0.00013, 2.0]
    sent = send_spans(
        stack.otlp_http_traces_url, count=3, attributes=lambda i: filter_like_attributes(i, ttft=ttfts[i])
    )
    task = send_spans(
        stack.otlp_http_traces_url,
        name="title_generation mock-gpt",
        attributes=lambda i: {**filter_like_attributes(i, ttft=None), "openwebui.task": "title_generation"},
    )
    # Open WebUI's own spans (another scope) go to Jaeger but never to Langfuse.
    foreign = send_spans(
        stack.otlp_http_traces_url,
        scope="opentelemetry.instrumentation.fastapi",
        name="POST /api/chat",
        attributes=lambda i: {"http.route": "/api/chat"},
    )

    stack.wait_for_langfuse_spans(4)
    for one in (*sent, *task, *foreign):
        stack.wait_for_jaeger_trace(one.trace_id)
    time.sleep(1.5)  # one more batch timeout: make sure nothing else (e.g. the foreign span) arrives late
    data = stack.langfuse_received()
    spans = by_span_id(data["spans"])
    assert set(spans) == {s.span_id for s in (*sent, *task)}, "exactly our spans, nothing foreign"

    expected_auth = "Basic " + base64.b64encode(b"pk-lf-test:sk-lf-test").decode()
    for request in data["requests"]:
        assert request["headers"]["authorization"] == expected_auth
        assert request["ingestion_version"] == "4"
        assert request["write_path"] == "direct"
        assert request["content_encoding"] == "gzip"
        assert request["content_type"] == "application/x-protobuf"
    assert data["rejected"] == []

    for index, one in enumerate(sent):
        got = spans[one.span_id]
        attrs = got["attributes"]
        assert got["trace_id"] == one.trace_id
        assert got["scope"]["name"] == OUR_SCOPE
        assert got["parent_span_id"] == ""  # roots stay roots
        for key, value in one.attributes.items():
            assert attrs[key] == value, key  # GenAI attributes (content included) arrive untouched
        assert attrs["langfuse.trace.name"] == "chat Mock GPT"
        assert attrs["langfuse.observation.completion_start_time"] == expected_completion_start(
            one.start_time_unix_nano, ttfts[index]
        )
    task_attrs = spans[task[0].span_id]["attributes"]
    assert task_attrs["langfuse.trace.name"] == "title_generation mock-gpt"
    assert "langfuse.observation.completion_start_time" not in task_attrs

    for one in (*sent, *task):
        stored = stack.jaeger_trace(one.trace_id)
        assert stored is not None
        assert stored["traceID"] == one.trace_id
        [jspan] = stored["spans"]
        assert jspan["spanID"] == one.span_id
        tags = jaeger_tags(jspan)
        for key in CONTENT_KEYS:
            assert key not in tags, f"{key} must be stripped for Jaeger"
        assert tags["gen_ai.request.model"] == "mock-gpt"
        assert tags["gen_ai.usage.output_tokens"] == 5
        assert tags["session.id"] == "chat-42"
        assert not any(key.startswith("langfuse.") for key in tags), "Langfuse extras stay in the Langfuse pipeline"
    foreign_trace = stack.jaeger_trace(foreign[0].trace_id)
    assert foreign_trace is not None and foreign_trace["spans"][0]["operationName"] == "POST /api/chat"


def test_without_langfuse_host_nothing_is_sent_to_langfuse(
    stack_factory: Callable[..., Stack], send_spans: Callable[..., list[SentSpan]]
) -> None:
    # LANGFUSE_HOST empty = unset for ${env:LANGFUSE_HOST:-...}; the endpoint runs, so anything sent would show.
    stack = stack_factory(jaeger=True, env={"LANGFUSE_HOST": ""})
    sent = send_spans(stack.otlp_http_traces_url, count=2)
    for one in sent:
        stack.wait_for_jaeger_trace(one.trace_id)
    time.sleep(2.5)  # longer than batch timeout + exporter flush
    data = stack.langfuse_received()
    assert data["requests"] == [] and data["rejected"] == []
    assert "langfuse.invalid" not in (stack.collector.log_tail(200) if stack.collector else "")


def test_rate_limit_is_retried_until_accepted(
    stack_factory: Callable[..., Stack], send_spans: Callable[..., list[SentSpan]]
) -> None:
    stack = stack_factory(env=FAST_RETRY)
    stack.langfuse_mode("rate_limit", retry_after=1, count=2)
    started = time.monotonic()
    [one] = send_spans(stack.otlp_http_traces_url)
    stack.wait_for_langfuse_spans(1, timeout=30)
    data = stack.langfuse_received()
    assert [r["status"] for r in data["rejected"]] == [429, 429]
    assert data["spans"][0]["span_id"] == one.span_id
    assert time.monotonic() - started >= 2.0, "Retry-After: 1 honoured twice"


def test_server_error_500_is_not_retried(
    stack_factory: Callable[..., Stack], send_spans: Callable[..., list[SentSpan]]
) -> None:
    # Documents real collector behaviour: OTLP/HTTP treats 500 as permanent and drops the batch
    # (Langfuse answers 500 on S3/Redis trouble), while 429/502/503/504 are retried.
    stack = stack_factory(env=FAST_RETRY)
    stack.langfuse_mode("error", status=500, count=1)
    [lost] = send_spans(stack.otlp_http_traces_url)
    deadline = time.monotonic() + 20
    while not stack.langfuse_received()["rejected"] and time.monotonic() < deadline:
        time.sleep(0.2)
    [kept] = send_spans(stack.otlp_http_traces_url)
    stack.wait_for_langfuse_spans(1)
    time.sleep(2.0)  # a retry of the first batch would have arrived by now (initial interval 200ms)
    data = stack.langfuse_received()
    assert [r["status"] for r in data["rejected"]] == [500]
    assert {s["span_id"] for s in data["spans"]} == {kept.span_id}
    assert lost.span_id not in {s["span_id"] for s in data["spans"]}


def test_unavailable_then_recovered(
    stack_factory: Callable[..., Stack], send_spans: Callable[..., list[SentSpan]]
) -> None:
    stack = stack_factory(env=FAST_RETRY)
    stack.langfuse_mode("unavailable", count=3)
    sent = send_spans(stack.otlp_http_traces_url, count=2)
    stack.wait_for_langfuse_spans(2, timeout=30)
    data = stack.langfuse_received()
    assert {s["span_id"] for s in data["spans"]} == {s.span_id for s in sent}
    assert [r["status"] for r in data["rejected"]] == [503, 503, 503]


def test_receiver_bearer_auth_overlay(
    stack_factory: Callable[..., Stack], send_spans: Callable[..., list[SentSpan]]
) -> None:
    stack = stack_factory(configs=[ROOT_CONFIG, RECEIVER_AUTH_OVERLAY], env={"OTEL_INGEST_TOKEN": "s3cret"})
    results: list[SpanExportResult] = []
    send_spans(stack.otlp_http_traces_url, results=results)
    send_spans(stack.otlp_http_traces_url, headers={"authorization": "Bearer wrong"}, results=results)
    [ok] = send_spans(stack.otlp_http_traces_url, headers={"authorization": "Bearer s3cret"}, results=results)
    assert results == [SpanExportResult.FAILURE, SpanExportResult.FAILURE, SpanExportResult.SUCCESS]
    stack.wait_for_langfuse_spans(1)
    time.sleep(1.5)
    assert [s["span_id"] for s in stack.langfuse_received()["spans"]] == [ok.span_id]

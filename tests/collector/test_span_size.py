# SPDX-License-Identifier: Apache-2.0
"""The per-span size bounds (transform/nested_values in the Jaeger and Langfuse pipelines, collector/_nested_values.py;
transform/jaeger_span_size, collector/_backends/jaeger.py), through the real collector, Jaeger and the Langfuse
contract endpoint: a span too large for one export request no longer takes its batch-mates along, and it still
arrives, cut; an ordinary span is untouched."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from collector._backends.jaeger import JAEGER_EXPORT_MAX_BYTES, JAEGER_STRING_MAX_BYTES
from collector._process import wait_until
from tests.support.stack import Stack

from .nested_otlp import large_request, nested_array_request, plain_request

pytestmark = pytest.mark.integration


def _post(stack: Stack, body: bytes) -> None:
    response = httpx.post(
        stack.otlp_http_traces_url, content=body, headers={"Content-Type": "application/x-protobuf"}, timeout=30
    )
    assert response.status_code == 200, response.text[:300]


def _tags(trace: dict[str, Any]) -> dict[str, Any]:
    (span,) = trace["spans"]
    return {tag["key"]: tag["value"] for tag in span["tags"]}


def test_an_oversized_span_is_cut_and_its_batch_mates_arrive_in_jaeger(stacks: Callable[..., Stack]) -> None:
    stack = stacks(jaeger=True)
    oversized, (oversized_id,) = large_request("oversized", 5_000_000)
    assert len(oversized) > JAEGER_EXPORT_MAX_BYTES  # alone larger than any request the exporter sends
    mates = [plain_request(f"mate-{index}") for index in range(5)]
    # One request, the oversized span first: without the bound the exporter drops it and every span after it
    # ("Failed to split request ... one span size is greater than max size, dropping items").
    _post(stack, oversized + b"".join(body for body, _ in mates))

    for _, trace_id in mates:
        assert _tags(stack.wait_for_jaeger_trace(trace_id, timeout=60))["test.kind"] == "ordinary"
    cut = _tags(stack.wait_for_jaeger_trace(oversized_id, timeout=60))
    assert cut["filler"] == "f" * JAEGER_STRING_MAX_BYTES
    split_failures = [line for line in stack.logs().splitlines() if "Failed to split request" in line]
    assert not [line for line in split_failures if "otlp_grpc/jaeger" in line]


def test_a_huge_nested_value_is_deleted_and_its_batch_mates_arrive_in_jaeger_and_langfuse(
    stacks: Callable[..., Stack],
) -> None:
    stack = stacks(jaeger=True)
    nested = nested_array_request(600_000)  # one attribute, 600,000 arrays deep: about 5 MB of protobuf
    assert len(nested) > JAEGER_EXPORT_MAX_BYTES
    mates = [plain_request(f"mate-of-nested-{index}") for index in range(5)]
    _post(stack, nested + b"".join(body for body, _ in mates))

    mate_ids = {trace_id for _, trace_id in mates}
    for trace_id in mate_ids:  # checked (a foreign key, test.kind), kept, and no scratch attribute left behind
        tags = _tags(stack.wait_for_jaeger_trace(trace_id, timeout=60))
        assert tags["test.kind"] == "ordinary" and not [key for key in tags if key.startswith("openwebui.collector.")]
    wait_until(
        lambda: mate_ids <= {span["trace_id"] for span in stack.langfuse_received()["spans"]},
        timeout=60,
        what="the batch-mates at the Langfuse endpoint",
    )
    at_langfuse = [span for span in stack.langfuse_received()["spans"] if span["trace_id"] in mate_ids]
    assert all(not any(key.startswith("openwebui.collector.") for key in span["attributes"]) for span in at_langfuse)
    traces = httpx.get(
        f"{stack.jaeger_query_url}/api/traces", params={"service": "bomb-test", "limit": "20"}, timeout=10
    ).json()["data"]
    (nested_span,) = [span for trace in traces for span in trace["spans"] if span["operationName"] == "nested-array"]
    assert "bomb" not in {tag["key"] for tag in nested_span["tags"]}
    assert not [line for line in stack.logs().splitlines() if "Failed to split request" in line]


def test_an_ordinary_span_is_untouched(stacks: Callable[..., Stack]) -> None:
    stack = stacks(jaeger=True)
    body, (trace_id,) = large_request("within-bounds", JAEGER_STRING_MAX_BYTES)
    _post(stack, body)
    assert _tags(stack.wait_for_jaeger_trace(trace_id, timeout=60))["filler"] == "f" * JAEGER_STRING_MAX_BYTES

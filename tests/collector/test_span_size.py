# SPDX-License-Identifier: Apache-2.0
"""The Jaeger pipeline's per-span size bound (transform/jaeger_span_size, collector/_backends/jaeger.py), through the
real collector and Jaeger: a span too large for one export request no longer takes its batch-mates along, and it
still arrives, its strings cut; an ordinary span is untouched."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from collector._backends.jaeger import JAEGER_EXPORT_MAX_BYTES, JAEGER_STRING_MAX_BYTES
from tests.support.stack import Stack

from .nested_otlp import large_request, plain_request

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


def test_an_ordinary_span_is_untouched(stacks: Callable[..., Stack]) -> None:
    stack = stacks(jaeger=True)
    body, (trace_id,) = large_request("within-bounds", JAEGER_STRING_MAX_BYTES)
    _post(stack, body)
    assert _tags(stack.wait_for_jaeger_trace(trace_id, timeout=60))["filler"] == "f" * JAEGER_STRING_MAX_BYTES

# SPDX-License-Identifier: Apache-2.0
"""Through the real collector: our cost reaches Langfuse as ``cost_details`` (so Langfuse shows our figure), Jaeger
gets the same attributes, and a turn without reported usage can no longer be tokenised by Langfuse from our JSON."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from tests.support.langfuse_mapping import langfuse_costs, to_observation
from tests.support.spans import SentSpan, filter_like_attributes
from tests.support.stack import Stack

pytestmark = pytest.mark.integration

COST = {
    "gen_ai.usage.cost": 0.0013882,
    "openwebui.cost.input": 0.0002332,
    "openwebui.cost.output": 0.00022,
    "openwebui.cost.cache_read": 0.000275,
    "openwebui.cost.reasoning": 0.00066,
    "openwebui.cost.model": "o4-mini",
    "openwebui.cost.source": "genai-prices",
}


def _without_usage(index: int) -> dict[str, Any]:
    attributes = filter_like_attributes(index)
    del attributes["gen_ai.usage.input_tokens"], attributes["gen_ai.usage.output_tokens"]
    return attributes


def test_cost_details_from_our_figures_and_no_estimate_from_json(
    stack_factory: Callable[..., Stack], send_spans: Callable[..., list[SentSpan]]
) -> None:
    stack = stack_factory(jaeger=True)
    priced = send_spans(stack.otlp_http_traces_url, attributes=lambda i: {**filter_like_attributes(i), **COST})
    unpriced = send_spans(stack.otlp_http_traces_url, attributes=filter_like_attributes)
    no_usage = send_spans(stack.otlp_http_traces_url, attributes=_without_usage)
    stack.wait_for_langfuse_spans(3)
    spans = {span["span_id"]: span for span in stack.langfuse_received()["spans"]}

    got = spans[priced[0].span_id]
    details = json.loads(got["attributes"]["langfuse.observation.cost_details"])
    assert details == pytest.approx(
        {
            "total": 0.0013882,
            "input": 0.0002332,
            "output": 0.00022,
            "input_cached_tokens": 0.000275,
            "output_reasoning_tokens": 0.00066,
        }
    )
    assert "langfuse.observation.cost_details.building" not in got["attributes"]
    costs = langfuse_costs(to_observation(got["attributes"], span_name=got["name"]))
    assert costs.total_cost == pytest.approx(0.0013882) and not costs.tokenised

    # Usage but no price of ours: nothing is added, Langfuse prices the real usage with its own table.
    got = spans[unpriced[0].span_id]
    assert "langfuse.observation.cost_details" not in got["attributes"]
    costs = langfuse_costs(to_observation(got["attributes"], span_name=got["name"]))
    assert costs.usage_details == {"input": 12, "output": 5, "total": 17} and not costs.tokenised

    # No usage: without the marker Langfuse would tokenise the JSON messages; with it, no usage and no cost.
    got = spans[no_usage[0].span_id]
    assert got["attributes"]["langfuse.observation.cost_details"] == '{"usage_not_reported":0}'
    costs = langfuse_costs(to_observation(got["attributes"], span_name=got["name"]))
    assert not costs.tokenised and costs.usage_details == {} and costs.total_cost is None
    bare = {k: v for k, v in got["attributes"].items() if k != "langfuse.observation.cost_details"}
    assert langfuse_costs(to_observation(bare, span_name=got["name"])).tokenised  # what the marker prevents

    stack.wait_for_jaeger_trace(priced[0].trace_id)
    stored = stack.jaeger_trace(priced[0].trace_id)
    assert stored is not None
    tags = {tag["key"]: tag["value"] for tag in stored["spans"][0]["tags"]}
    assert tags["gen_ai.usage.cost"] == pytest.approx(0.0013882)
    assert tags["openwebui.cost.cache_read"] == pytest.approx(0.000275)
    assert not any(key.startswith("langfuse.") for key in tags)

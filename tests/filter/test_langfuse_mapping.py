# SPDX-License-Identifier: Apache-2.0
"""Our spans, read the way Langfuse reads OTLP: one GENERATION per turn with model, usage, I/O,
session and user from standard attributes alone (so nothing Langfuse-specific is needed in the
filter; the collector adds trace name and completion start time, see tests/collector)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from tests.support.langfuse_mapping import to_observation, usage_details
from tests.support.owui_hosts import FunctionHost, load_as_function, load_as_pipelines
from tests.support.scenarios import replay_function, replay_pipelines_and_stop

pytestmark = pytest.mark.unit


def _observations(spans: Any) -> list[Any]:
    return [
        to_observation(
            dict(s.attributes or {}), span_name=s.name, status_error=s.status.status_code is StatusCode.ERROR
        )
        for s in spans
    ]


def test_each_pipelines_turn_is_one_complete_generation(
    tracer_provider: TracerProvider, span_exporter: InMemorySpanExporter
) -> None:
    pipeline = load_as_pipelines(tracer_provider=tracer_provider)
    replay_pipelines_and_stop(pipeline, "ui_stream_turn1", "ui_stream_turn2", "ui_stream_turn3")
    observations = _observations(span_exporter.get_finished_spans())
    turns = [o for o in observations if "openwebui.task" not in o.metadata_attributes]
    assert len(turns) == 3
    assert {o.type for o in turns} == {"GENERATION"}
    # Task calls are records (no model, no usage): never a GENERATION Langfuse would price on its own estimate.
    assert {o.type for o in observations if o not in turns} == {"SPAN"}
    expected_usage = [(4, 8), (15, 8), (27, 8)]
    for observation, (tokens_in, tokens_out) in zip(turns, expected_usage, strict=True):
        assert observation.model == "mock-gpt"
        assert observation.usage_details == {"input": tokens_in, "output": tokens_out, "total": tokens_in + tokens_out}
        assert observation.session_id == "5ebb5e33-e6c7-4f28-98ed-b870a4078d3f"
        assert observation.user_id == "e7ef1609-1bfc-40e9-b692-49a9cc09fe02"
        assert json.loads(observation.input)[-1]["role"] == "user"
        assert json.loads(observation.output)[0]["parts"][0]["content"].startswith("Hello from mock-gpt")
        assert observation.level == "DEFAULT"
        # The provider is not a Langfuse field; it stays visible in metadata.
        assert observation.metadata_attributes["gen_ai.provider.name"] == "openai"
    # Every observation of the chat lands in one Langfuse session, tasks included.
    assert {o.session_id for o in observations} == {"5ebb5e33-e6c7-4f28-98ed-b870a4078d3f"}


def test_functions_turn_has_the_response_model_and_parameters() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    instance, _ = load_as_function(tracer_provider=provider)
    asyncio.run(replay_function(FunctionHost(instance), "api_stream_include_usage"))
    (observation,) = _observations(exporter.get_finished_spans())
    assert observation.type == "GENERATION"
    assert observation.model == "mock-gpt"  # from gen_ai.response.model, which Langfuse prefers
    assert observation.model_parameters == {"stream": True}
    assert observation.usage_details == {"input": 4, "output": 8, "total": 12}
    assert observation.session_id is None  # API call without a chat: no session, as in Open WebUI
    assert observation.input and observation.output


def test_abandoned_turn_is_an_error_generation_without_output(
    tracer_provider: TracerProvider, span_exporter: InMemorySpanExporter
) -> None:
    pipeline = load_as_pipelines(tracer_provider=tracer_provider)
    replay_pipelines_and_stop(pipeline, "ui_stream_error")  # the server stops: no instance adopts the open turn
    turn = next(
        o for o in _observations(span_exporter.get_finished_spans()) if "openwebui.task" not in o.metadata_attributes
    )
    assert turn.type == "GENERATION" and turn.level == "ERROR"
    assert turn.output is None and turn.input is not None


def test_cache_and_reasoning_counts_are_not_double_counted_by_langfuse() -> None:
    """Semconv input includes cached tokens and output includes reasoning; Langfuse subtracts them."""
    details = usage_details(
        {
            "gen_ai.usage.input_tokens": 1212,
            "gen_ai.usage.output_tokens": 30,
            "gen_ai.usage.cache_read.input_tokens": 1000,
            "gen_ai.usage.cache_creation.input_tokens": 200,
            "gen_ai.usage.reasoning.output_tokens": 10,
        }
    )
    assert details == {
        "input": 12,
        "input_cached_tokens": 1000,
        "input_cache_creation": 200,
        "output": 20,
        "output_reasoning_tokens": 10,
        "total": 1242,
    }

# SPDX-License-Identifier: Apache-2.0
"""Filterable traces in Langfuse (issue 10 item 5): the real filter exports vendor-neutral attributes, the real
collector's Langfuse pipeline turns them into trace tags, top-level metadata, release and version, and what the
Langfuse contract endpoint receives is read with Langfuse's own rules (``tests/support/langfuse_mapping.py``, checked
against langfuse/langfuse 6275144's ``OtelIngestionProcessor.ts``)."""

from __future__ import annotations

import asyncio
import copy
import sys
import types
from collections.abc import Callable
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from otel_filter.version import __version__
from tests.support.langfuse_mapping import Observation, to_observation
from tests.support.owui_hosts import FunctionHost, load_as_function, load_as_pipelines
from tests.support.scenarios import load, replay_function
from tests.support.spans import OUR_SCOPE
from tests.support.stack import Stack

pytestmark = pytest.mark.integration

CHAT_ID = "5ebb5e33-e6c7-4f28-98ed-b870a4078d3f"  # the ui_stream_turn1 capture's chat


def _custom_model_turn() -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """ui_stream_turn1 as a turn of a workspace model "Support Bot" (id ``support-bot``) on gpt-4o-mini."""
    inlet = copy.deepcopy(load("pipelines_ui_stream_turn1_inlet.json"))
    outlet = copy.deepcopy(load("pipelines_ui_stream_turn1_outlet.json"))
    body = inlet["body"]
    body["model"] = "support-bot"
    model = body["metadata"]["model"]
    model.update(id="support-bot", name="Support Bot", preset=True, info={"base_model_id": "gpt-4o-mini"})
    outlet["body"]["model"] = "support-bot"
    return inlet["body"], outlet["body"], inlet["user"]


def _observations(stack: Stack, count: int) -> dict[str, tuple[dict[str, Any], Observation]]:
    spans = stack.wait_for_langfuse_spans(count)
    return {
        span["span_id"]: (
            span,
            to_observation(span["attributes"], span_name=span["name"], resource=span.get("resource") or {}),
        )
        for span in spans
    }


def test_turns_and_tasks_get_tags_metadata_release_and_version(
    stack_factory: Callable[..., Stack], monkeypatch: pytest.MonkeyPatch
) -> None:
    stack = stack_factory()
    valves = {"otlp_endpoint": stack.otlp_http_endpoint}

    # Pipelines: a custom-model turn, then its title task (the capture's task inlet).
    pipeline = load_as_pipelines(saved_valves=valves)
    body, outlet, user = _custom_model_turn()
    title = load("pipelines_ui_stream_turn1_title_generation_inlet.json")

    async def pipelines() -> None:
        await pipeline.inlet(body, user)
        await pipeline.outlet(outlet, user)
        await pipeline.inlet(title["body"], title["user"])
        await pipeline.on_shutdown()
        pipeline.end_parked_turns()

    asyncio.run(pipelines())

    # A Function inside a running Open WebUI 0.12.4: its version is known, and becomes the Langfuse release.
    running = types.ModuleType("open_webui.env")
    running.VERSION = "0.12.4"  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "open_webui.env", running)
    instance, _ = load_as_function()
    asyncio.run(replay_function(FunctionHost(instance, valves=valves), "api_stream_include_usage"))
    instance._core().shutdown()

    observations = _observations(stack, 3)
    by_host: dict[str, list[tuple[dict[str, Any], Observation]]] = {}
    for span, observation in observations.values():
        by_host.setdefault(span["attributes"]["openwebui.host"], []).append((span, observation))

    [turn] = [o for s, o in by_host["pipelines"] if "openwebui.task" not in s["attributes"]]
    assert turn.tags == ["open-webui", "pipelines"]
    assert turn.metadata["chat_id"] == CHAT_ID
    assert turn.metadata["model_name"] == "Support Bot"  # the display name, filterable
    assert turn.metadata["model_id"] == "support-bot"
    assert turn.metadata["host"] == "pipelines" and turn.metadata["end_reason"] == "outlet"
    assert "task" not in turn.metadata
    assert turn.trace_name == "chat Support Bot"
    assert turn.model == "gpt-4o-mini"  # priced by its base model
    assert turn.version == __version__ and turn.release is None  # the Pipelines server is not told Open WebUI's

    [(task_span, task)] = [(s, o) for s, o in by_host["pipelines"] if "openwebui.task" in s["attributes"]]
    assert task.metadata["task"] == "title_generation" and task.metadata["chat_id"] == CHAT_ID
    if task_span["parent_span_id"]:
        assert task.tags == []  # inside its turn's trace: the turn's tags stay the trace's
    else:
        assert task.tags == ["open-webui", "pipelines", "title_generation"]

    [(_, function_turn)] = by_host["functions"]
    assert function_turn.tags == ["open-webui", "functions"]
    assert function_turn.release == "0.12.4" and function_turn.metadata["openwebui_version"] == "0.12.4"
    assert function_turn.version == __version__


def test_only_trace_roots_get_tags_and_upstream_values_win(stack_factory: Callable[..., Stack]) -> None:
    """Langfuse's v4 trace view keeps the tags of the newest span that has any: a child must not bring its own."""
    stack = stack_factory()
    provider = TracerProvider(resource=Resource.create({"service.name": "open-webui"}))
    provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=stack.otlp_http_traces_url)))
    tracer = provider.get_tracer(OUR_SCOPE, __version__)
    attributes = {"gen_ai.operation.name": "chat", "openwebui.host": "bridge", "openwebui.model.name": "Mock GPT"}
    root = tracer.start_span("chat mock-gpt", attributes={**attributes, "langfuse.release": "set-upstream"})
    with trace.use_span(root, end_on_exit=True):
        child = tracer.start_span("tags_generation mock-gpt", attributes={**attributes, "openwebui.task": "tags"})
        child.end()
    provider.shutdown()

    observations = {span["parent_span_id"] == "": o for span, o in _observations(stack, 2).values()}
    assert observations[True].tags == ["open-webui", "bridge"]
    assert observations[True].release == "set-upstream"  # an existing value is never replaced
    assert observations[False].tags == []
    assert observations[False].metadata["task"] == "tags" and observations[False].metadata["host"] == "bridge"
    # No telemetry.distro.version on this resource: no version invented (Langfuse then falls back to service.version).
    assert observations[True].version is None

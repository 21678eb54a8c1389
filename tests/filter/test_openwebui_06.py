# SPDX-License-Identifier: Apache-2.0
"""Open WebUI 0.6.x payload shapes (no capture of that version exists here, so they are built
from open-webui 0.6.43's ``backend/open_webui/main.py`` (``chat_completion``), ``utils/chat.py``
(``chat_completed``) and ``src/lib/components/chat/Chat.svelte``, as released in its wheel).

0.6.x differences that matter: the browser triggers the outlet (``/api/chat/completed``), so the
outlet has no ``finish_reason`` and may come after task inlets; task inlets carry the turn's own
``message_id`` with the task model; temporary chats are ``local:<socket id>``; usage is the
provider's raw dict (Ollama's ``prompt_eval_count``/``eval_count``).
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
import types
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from tests.filter.bodies import OLLAMA_RAW_USAGE
from tests.support.owui_hosts import FunctionHost, load_as_function, load_as_pipelines
from tests.support.scenarios import load

pytestmark = pytest.mark.unit

SID = "Xk2Pq0-socket"
USER = {"id": "u-06", "email": "bob@example.com", "name": "Bob", "role": "user"}
MESSAGE_ID = "6c1b9e3e-assistant"


def _metadata(**extra: Any) -> dict[str, Any]:
    return {
        "user_id": USER["id"],
        "chat_id": f"local:{SID}",
        "message_id": MESSAGE_ID,
        "session_id": SID,
        "parent_message_id": "5a0-user",
        "parent_message": {"id": "5a0-user", "role": "user", "content": "Why is the sky blue?"},
        "tool_ids": None,
        "files": None,
        "features": {"web_search": False, "image_generation": False, "code_interpreter": False},
        "variables": {"{{USER_NAME}}": "Bob"},
        "model": {
            "id": "llama3.1:8b",
            "name": "llama3.1:8b",
            "object": "model",
            "owned_by": "ollama",
            "ollama": {"name": "llama3.1:8b", "model": "llama3.1:8b"},
            "connection_type": "local",
        },
        **extra,
    }


def test_06_temporary_chat_with_ollama_usage_and_racing_tasks(
    tracer_provider: TracerProvider, span_exporter: InMemorySpanExporter
) -> None:
    pipeline = load_as_pipelines(tracer_provider=tracer_provider)
    main_inlet = {
        "stream": True,
        "model": "llama3.1:8b",
        "messages": [{"role": "user", "content": "Why is the sky blue?"}],
        "options": {"temperature": 0.8, "num_predict": 512},
        "metadata": _metadata(),
    }
    task_inlet = {
        "model": "qwen2.5:0.5b",  # the task model
        "messages": [{"role": "user", "content": "### Task:\nGenerate a concise title..."}],
        "stream": False,
        "max_tokens": 50,
        "metadata": _metadata(task="title_generation", task_body={"chat_id": f"local:{SID}"}),
    }
    chat_completed = {  # what the browser posts to /api/chat/completed
        "model": "llama3.1:8b",
        "messages": [
            {"id": "5a0-user", "role": "user", "content": "Why is the sky blue?", "timestamp": 1700000000},
            {
                "id": MESSAGE_ID,
                "role": "assistant",
                "content": "Rayleigh scattering.",
                "timestamp": 1700000004,
                "usage": OLLAMA_RAW_USAGE,
            },
        ],
        "chat_id": f"local:{SID}",
        "session_id": SID,
        "id": MESSAGE_ID,
    }

    async def run() -> None:
        await pipeline.inlet(main_inlet, USER)
        await pipeline.inlet(task_inlet, USER)  # 0.6.x: tasks start right after "done", before the outlet
        await pipeline.outlet(chat_completed, USER)
        await pipeline.inlet(dict(task_inlet, metadata=_metadata(task="tags_generation")), USER)
        await pipeline.on_shutdown()
        pipeline.end_parked_turns()  # the server stops: no instance adopts the parked turns

    asyncio.run(run())
    spans = {span.name: span for span in span_exporter.get_finished_spans()}
    assert set(spans) == {"chat llama3.1:8b", "title_generation", "tags_generation"}
    turn = dict(spans["chat llama3.1:8b"].attributes or {})
    assert turn["gen_ai.provider.name"] == "ollama"
    assert turn["gen_ai.request.model"] == "llama3.1:8b"  # never the task model
    assert (turn["gen_ai.request.temperature"], turn["gen_ai.request.max_tokens"]) == (0.8, 512)
    assert (turn["gen_ai.usage.input_tokens"], turn["gen_ai.usage.output_tokens"]) == (26, 298)
    assert turn["gen_ai.conversation.id"] == SID
    assert turn["openwebui.chat.kind"] == "temporary"
    assert turn["openwebui.chat.id"] == f"local:{SID}"
    assert turn["openwebui.turn.end_reason"] == "outlet"
    assert "gen_ai.response.finish_reasons" not in turn  # 0.6 outlets do not say
    assert json.loads(str(turn["gen_ai.output.messages"]))[0]["finish_reason"] == "unknown"
    for name in ("title_generation", "tags_generation"):
        task = dict(spans[name].attributes or {})
        assert task["openwebui.model.id"] == "qwen2.5:0.5b"  # the task model, never the turn's
        # The same message id as the turn: in the turn's trace, under its span, even before the outlet.
        assert spans[name].context.trace_id == spans["chat llama3.1:8b"].context.trace_id
        assert spans[name].parent.span_id == spans["chat llama3.1:8b"].context.span_id  # type: ignore[union-attr]
        assert task["gen_ai.conversation.id"] == SID
        assert task["gen_ai.request.max_tokens"] == 50
        assert "gen_ai.usage.output_tokens" not in task


def test_api_call_of_unknown_shape_waits_for_its_outlet_and_ends_abandoned(
    tracer_provider: TracerProvider, span_exporter: InMemorySpanExporter
) -> None:
    """A metadata dict that shows neither era (no ``parent_message_id``, no ``user_message_id``) is assumed to get
    its outlet: a missing one is then reported (abandoned), never hidden."""
    pipeline = load_as_pipelines(tracer_provider=tracer_provider)
    body = {
        "model": "gpt-4o",
        "messages": [{"role": "user", "content": "hi"}],
        "metadata": {"user_id": "u", "chat_id": None},
    }

    async def run() -> None:
        await pipeline.inlet(body, {"id": "u"})
        await pipeline.on_shutdown()
        pipeline.end_parked_turns()  # the server stops: no instance adopts the parked turns

    asyncio.run(run())
    (span,) = span_exporter.get_finished_spans()
    assert span.attributes["error.type"] == "abandoned"  # type: ignore[index]
    assert span.attributes["gen_ai.request.model"] == "gpt-4o"  # type: ignore[index]


# --- API calls that can never get an outlet (issue 10 item 7) -------------------------------------------------------


def _api_call_metadata_06() -> dict[str, Any]:
    """``metadata`` exactly as open-webui 0.6.43 ``main.py chat_completion`` builds it for a plain API call (no
    ``chat_id``/``id``/``parent_id``/``session_id`` in the request): every identity key present, all None."""
    return {
        "user_id": "u-06",
        "chat_id": None,
        "message_id": None,
        "parent_message": None,
        "parent_message_id": None,
        "session_id": None,
        "filter_ids": [],
        "tool_ids": None,
        "tool_servers": None,
        "files": None,
        "features": {},
        "variables": {},
        "model": {"id": "gpt-4o-mini", "name": "GPT-4o mini", "object": "model", "owned_by": "openai", "openai": {}},
        "direct": False,
        "params": {"stream_delta_chunk_size": None, "reasoning_tags": None, "function_calling": "default"},
    }


def _api_body(*, stream: bool, metadata: dict[str, Any]) -> dict[str, Any]:
    return {
        "model": "gpt-4o-mini",
        "messages": [{"role": "user", "content": "hi"}],
        "stream": stream,
        "metadata": metadata,
    }


def _attributes(span: Any) -> dict[str, Any]:
    return dict(span.attributes or {})


@pytest.mark.parametrize("stream", [True, False])
def test_06_api_call_through_pipelines_ends_at_once_without_error(
    tracer_provider: TracerProvider, span_exporter: InMemorySpanExporter, stream: bool
) -> None:
    """Pipelines has no stream hook and 0.6 never sends the outlet: nothing more can come, so the turn ends at its
    inlet, honestly (end reason says why, status unset), with no turn left waiting."""
    pipeline = load_as_pipelines(tracer_provider=tracer_provider)

    async def run() -> None:
        await pipeline.inlet(_api_body(stream=stream, metadata=_api_call_metadata_06()), {"id": "u-06"})

    asyncio.run(run())
    (span,) = span_exporter.get_finished_spans()  # already ended: no shutdown, no timeout needed
    attributes = _attributes(span)
    assert attributes["openwebui.turn.end_reason"] == "no_outlet_expected"
    assert "error.type" not in attributes
    assert span.status.status_code is StatusCode.UNSET
    assert span.end_time == span.start_time  # its real end is unknown: no made-up duration
    assert attributes["gen_ai.request.model"] == "gpt-4o-mini"
    assert pipeline._core().open_turns == 0
    assert pipeline.health.get("turns_ended_no_outlet_expected") == pipeline.health.get("turns_started") == 1


def test_06_api_call_in_a_function_keeps_the_stream_usage_and_ends_at_the_last_chunk(
    tracer_provider: TracerProvider, span_exporter: InMemorySpanExporter, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In-process (a Function) the running Open WebUI's version is known; its stream hook sees the reply, so the
    turn waits for its deadline and then ends at the last chunk, with the usage the stream reported."""
    running = types.ModuleType("open_webui.env")
    running.VERSION = "0.6.43"  # type: ignore[attr-defined]  # what open_webui/env.py defines, read from package.json
    monkeypatch.setitem(sys.modules, "open_webui.env", running)
    instance, _ = load_as_function(tracer_provider=tracer_provider)
    host = FunctionHost(instance)
    recorded = load("functions_api_stream_include_usage_stream_events.json")["events"]
    metadata = _api_call_metadata_06()
    # The 0.12 capture's metadata would say "outlet expected"; here the running version decides.
    metadata.pop("parent_message_id")
    body = _api_body(stream=True, metadata=metadata)

    async def run() -> None:
        await host.call("inlet", body, {"__metadata__": metadata, "__user__": {"id": "u-06"}})
        for event in recorded:
            await host.call("stream", event, {"__metadata__": metadata})

    asyncio.run(run())
    assert span_exporter.get_finished_spans() == ()  # still streaming as far as we know
    last_chunk_ns = time.time_ns()
    assert instance._core().end_open_turns() == 1  # what the deadline sweep does, now
    (span,) = span_exporter.get_finished_spans()
    attributes = _attributes(span)
    assert attributes["openwebui.turn.end_reason"] == "no_outlet_expected"
    assert attributes["openwebui.version"] == "0.6.43"
    assert "error.type" not in attributes and span.status.status_code is StatusCode.UNSET
    usage = next(e["usage"] for e in recorded if e.get("usage"))
    assert (attributes["gen_ai.usage.input_tokens"], attributes["gen_ai.usage.output_tokens"]) == (
        usage["prompt_tokens"],
        usage["completion_tokens"],
    )
    assert span.start_time < span.end_time <= last_chunk_ns  # the last chunk, not the moment it was swept


def test_012_api_call_that_fails_is_still_an_error(
    tracer_provider: TracerProvider, span_exporter: InMemorySpanExporter
) -> None:
    """0.12 runs outlets for API calls: the provider error fixture (inlet only) must stay an abandoned ERROR."""
    pipeline = load_as_pipelines(tracer_provider=tracer_provider)
    recorded = load("pipelines_api_stream_error_inlet.json")

    async def run() -> None:
        await pipeline.inlet(recorded["body"], recorded["user"])
        assert span_exporter.get_finished_spans() == ()  # waiting for an outlet that should come
        await pipeline.on_shutdown()
        pipeline.end_parked_turns()

    asyncio.run(run())
    (span,) = span_exporter.get_finished_spans()
    assert _attributes(span)["error.type"] == "abandoned"
    assert span.status.status_code is StatusCode.ERROR


@pytest.mark.parametrize(
    ("version", "metadata_change", "expected_end"),
    [
        ("0.12.4", {}, "shutdown"),  # the running version wins over a 0.6-shaped payload
        ("0.9.0", {}, "shutdown"),  # the first release that runs API outlets
        ("0.8.5", {"parent_message_id": None, "user_message_id": None}, "no_outlet_expected"),  # version wins again
        # Open WebUI's "unknown" (env.py's fallback when started without `open-webui serve` and no package.json):
        # the payload decides, here a 0.12 API call shape.
        ("0.0.0", {"parent_message_id": None, "user_message_id": None}, "shutdown"),
        (None, {"chat_id": "c-1", "message_id": "m-1"}, "shutdown"),  # a 0.6 web UI turn: its browser sends it
        (None, {"user_message_id": None}, "shutdown"),  # both markers: not the 0.6 shape, assume an outlet
    ],
)
def test_only_api_calls_of_the_browser_outlet_era_end_without_error(
    tracer_provider: TracerProvider,
    span_exporter: InMemorySpanExporter,
    monkeypatch: pytest.MonkeyPatch,
    version: str | None,
    metadata_change: dict[str, Any],
    expected_end: str,
) -> None:
    if version is not None:
        running = types.ModuleType("open_webui.env")
        running.VERSION = version  # type: ignore[attr-defined]
        monkeypatch.setitem(sys.modules, "open_webui.env", running)
    pipeline = load_as_pipelines(tracer_provider=tracer_provider)
    metadata = _api_call_metadata_06() | metadata_change

    async def run() -> None:
        await pipeline.inlet(_api_body(stream=True, metadata=metadata), {"id": "u-06"})
        await pipeline.on_shutdown()
        pipeline.end_parked_turns()

    asyncio.run(run())
    (span,) = span_exporter.get_finished_spans()
    attributes = _attributes(span)
    assert attributes["openwebui.turn.end_reason"] == expected_end
    assert ("error.type" in attributes) is (expected_end != "no_outlet_expected")

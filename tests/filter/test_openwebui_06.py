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
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from tests.filter.bodies import OLLAMA_RAW_USAGE
from tests.support.owui_hosts import load_as_pipelines

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
    assert set(spans) == {"chat llama3.1:8b", "title_generation qwen2.5:0.5b", "tags_generation qwen2.5:0.5b"}
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
    for name in ("title_generation qwen2.5:0.5b", "tags_generation qwen2.5:0.5b"):
        task = dict(spans[name].attributes or {})
        assert task["gen_ai.conversation.id"] == SID
        assert task["gen_ai.request.max_tokens"] == 50
        assert "gen_ai.usage.output_tokens" not in task


def test_06_api_call_without_outlet_ends_as_abandoned_at_shutdown(
    tracer_provider: TracerProvider, span_exporter: InMemorySpanExporter
) -> None:
    """0.6.x never runs outlets for API calls (langfuse/langfuse#6026): the turn ends abandoned."""
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

# SPDX-License-Identifier: Apache-2.0
"""Every captured Open WebUI scenario, through the generated file's Pipeline and Filter classes.

The file is loaded the way each host loads it (tests/support/owui_hosts.py) and exports into an
in-memory exporter. Expected values below were read off the fixtures by hand.
"""

from __future__ import annotations

import asyncio
import copy
import json
from dataclasses import dataclass, field
from typing import Any

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from tests.support.owui_hosts import FunctionHost, load_as_function, load_as_pipelines
from tests.support.scenarios import (
    FUNCTION_SCENARIOS,
    SCENARIOS,
    load,
    pipelines_steps,
    replay_function,
    replay_pipelines,
)

pytestmark = pytest.mark.unit

USER_ID = "e7ef1609-1bfc-40e9-b692-49a9cc09fe02"
CHAT_PIPELINES_1 = "5ebb5e33-e6c7-4f28-98ed-b870a4078d3f"
CHAT_FUNCTIONS_1 = "2f25df48-4acf-48bd-93a2-c01c5ed9eed0"
PAUSE_S = 0.05


@dataclass
class Expected:
    """What the main turn's span must show (None: no main turn in this scenario)."""

    usage: tuple[int, int] | None
    chat_id: str | None = None
    message_id: str | None = None
    stream: bool = True
    abandoned: bool = False
    last_user_text: str = ""
    input_message_count: int = 1
    tasks: set[str] = field(default_factory=set)


def _pipelines_chat_turn(usage: tuple[int, int], message_id: str, last_user_text: str, messages: int = 1) -> Expected:
    """A turn of the recorded three-turn Pipelines chat: the first brings title, tags and follow-ups, the others
    follow-ups only (``messages``: how many input messages the turn sends)."""
    tasks = (
        {"title_generation", "tags_generation", "follow_up_generation"} if messages == 1 else {"follow_up_generation"}
    )
    return Expected(
        usage, CHAT_PIPELINES_1, message_id, last_user_text=last_user_text, input_message_count=messages, tasks=tasks
    )


def _api_calls(stream: str, nonstream: str, include_usage: str, no_usage: str) -> dict[str, Expected]:
    """The six recorded API calls: the same on both hosts but for their message ids (the failed ones have none)."""
    return {
        "api_stream": Expected((3, 8), None, stream, last_user_text="API stream hello"),
        "api_nonstream": Expected((3, 8), None, nonstream, stream=False),
        "api_stream_include_usage": Expected((4, 8), None, include_usage),
        "api_stream_no_usage": Expected(None, None, no_usage),
        "api_nonstream_error": Expected(None, None, None, stream=False, abandoned=True),
        "api_stream_error": Expected(None, None, None, abandoned=True),
    }


PIPELINES_EXPECTED: dict[str, Expected | None] = {
    "ui_stream_turn1": _pipelines_chat_turn((4, 8), "62b773af-0938-43b7-a6d2-b959b61cd457", "Hello, who are you?"),
    "ui_stream_turn2": _pipelines_chat_turn((15, 8), "46eadd94-5e43-4373-811d-f143c21afb02", "Tell me more.", 3),
    "ui_stream_turn3": _pipelines_chat_turn(
        (27, 8), "d6e8969b-20d5-40e0-ba94-4dd1c05671b6", "And a third question?", 5
    ),
    "ui_nonstream": Expected(
        (3, 8),
        "fb4e7b4a-afdc-4ebe-b996-db4174ed03aa",
        "1bbcc7f9-1604-405d-beec-3eba2bdd161e",
        stream=False,
        last_user_text="Non streaming please.",
        tasks={"title_generation", "tags_generation", "follow_up_generation"},
    ),
    "ui_stream_no_usage": Expected(
        None,
        "9c07fcd4-2e62-4dc6-aea6-90afd51f61d1",
        "73aaaeb7-4f71-4892-acbc-f1051ccca72d",
        tasks={"title_generation", "tags_generation", "follow_up_generation"},
    ),
    "ui_stream_error": Expected(
        None,
        "eaa935d1-9473-49b4-9c23-0e20197908af",
        "3a8296c1-66cf-4cd3-bf61-acb05be45896",
        abandoned=True,
        tasks={"title_generation"},
    ),
    **_api_calls(
        "msg_e3c9803b3cc84c19b614b86e",
        "msg_2cbbfd80f8554cefb888a03d",
        "msg_96be88ee6d8044a088dbaad0",
        "msg_ad09ff5ee4f841a5a64c9c18",
    ),
    "task_endpoint": None,
    "legacy": Expected(
        (3, 8), "12d0380a-3c94-4f98-b3af-cb2e0009a4d1", "ea63f2ed-2adf-4b38-9c7d-331d7ee80418", input_message_count=1
    ),
}

FUNCTIONS_EXPECTED: dict[str, Expected] = {
    "ui_stream_turn1": Expected(
        (4, 8), CHAT_FUNCTIONS_1, "68c6196e-31f3-41d5-a001-62d84f912804", last_user_text="Hello, who are you?"
    ),
    "ui_stream_turn2": Expected(
        (15, 8), CHAT_FUNCTIONS_1, "637f299f-c393-485e-8856-4b34f0a91757", input_message_count=3
    ),
    "ui_stream_turn3": Expected(
        (27, 8), CHAT_FUNCTIONS_1, "b5a309d9-1230-4da2-9d4b-c16b4abb9b02", input_message_count=5
    ),
    "ui_nonstream": Expected(
        (3, 8), "6446cb58-d287-4786-ab0d-81bb0f2ed9ca", "6592690f-0cb7-4fa8-9644-65f4c4083b12", stream=False
    ),
    "ui_stream_no_usage": Expected(
        None, "750ecdba-7d12-4715-886f-0cc3ba1020d7", "5b49041f-5e31-45e4-a341-f86e5284acaf"
    ),
    "ui_stream_error": Expected(
        None, "71f7d514-4f8a-4e3a-806d-31f8b666f5b7", "f4cfa939-45f8-4025-8e1e-d3f0f8ca8afe", abandoned=True
    ),
    **_api_calls(
        "msg_6df7cf14e75d4d008be62ecb",
        "msg_5d91e17826d1442384e58f89",
        "msg_fa7d8c376dfe42e79457a513",
        "msg_918a09505a734a9c9e698dcb",
    ),
    "legacy": Expected((3, 8), "6fde88e9-771a-49d6-8e7c-4c928ee0510b", "1f603f98-1d43-42d1-8ade-db518752f71e"),
}


def test_every_fixture_scenario_has_expectations() -> None:
    assert set(PIPELINES_EXPECTED) == set(SCENARIOS)
    assert set(FUNCTIONS_EXPECTED) == set(FUNCTION_SCENARIOS)


def _main_spans(spans: list[ReadableSpan]) -> list[ReadableSpan]:
    return [s for s in spans if s.attributes and "openwebui.task" not in s.attributes]


def _check_main_span(span: ReadableSpan, expected: Expected, host: str) -> None:
    attributes = dict(span.attributes or {})
    assert span.name == "chat mock-gpt"
    assert span.kind is SpanKind.CLIENT
    assert span.instrumentation_scope is not None
    assert span.instrumentation_scope.name == "openwebui.otel_bridge"
    assert span.instrumentation_scope.schema_url == "https://opentelemetry.io/schemas/1.41.0"
    assert span.parent is None  # every turn is the root of its own trace
    assert attributes["gen_ai.operation.name"] == "chat"
    assert attributes["gen_ai.provider.name"] == "openai"
    assert attributes["gen_ai.request.model"] == "mock-gpt"
    assert attributes["openwebui.model.id"] == "mock-gpt"
    assert attributes["openwebui.model.name"] == "mock-gpt"
    assert attributes["openwebui.host"] == host
    assert attributes["user.id"] == USER_ID
    assert "user.email" not in attributes  # only with record_user_email
    assert attributes.get("gen_ai.request.stream") is (True if expected.stream else None)
    if expected.chat_id is None:
        assert "gen_ai.conversation.id" not in attributes
        assert attributes["openwebui.chat.kind"] == "none"
    else:
        assert attributes["gen_ai.conversation.id"] == expected.chat_id
        assert attributes["session.id"] == expected.chat_id
        assert attributes["openwebui.chat.id"] == expected.chat_id
    if expected.message_id is not None:
        assert attributes["openwebui.message.id"] == expected.message_id
    else:
        assert "openwebui.message.id" not in attributes

    input_messages = json.loads(str(attributes["gen_ai.input.messages"]))
    assert len(input_messages) == expected.input_message_count
    assert input_messages[-1]["role"] == "user"
    if expected.last_user_text:
        assert input_messages[-1]["parts"] == [{"type": "text", "content": expected.last_user_text}]

    assert span.start_time is not None and span.end_time is not None
    duration_s = (span.end_time - span.start_time) / 1e9
    if expected.abandoned:
        assert span.status.status_code is StatusCode.ERROR
        assert attributes["error.type"] == "abandoned"
        assert attributes["openwebui.turn.end_reason"] == "shutdown"
        assert "gen_ai.output.messages" not in attributes
        assert not any(k.startswith("gen_ai.usage.") for k in attributes)
        return
    assert span.status.status_code is StatusCode.UNSET
    assert "error.type" not in attributes
    assert attributes["openwebui.turn.end_reason"] == "outlet"
    # The span covers the model's work: inlet -> outlet, not ~0 ms.
    assert duration_s >= PAUSE_S * 0.9
    assert attributes["gen_ai.response.finish_reasons"] == ("stop",)
    output = json.loads(str(attributes["gen_ai.output.messages"]))
    assert output == [
        {
            "role": "assistant",
            "parts": [{"type": "text", "content": output[0]["parts"][0]["content"]}],
            "finish_reason": "stop",
        }
    ]
    assert output[0]["parts"][0]["content"].startswith("Hello from mock-gpt.")
    if expected.usage is None:
        assert not any(k.startswith("gen_ai.usage.") for k in attributes)
    else:
        assert attributes["gen_ai.usage.input_tokens"] == expected.usage[0]
        assert attributes["gen_ai.usage.output_tokens"] == expected.usage[1]


def _provider() -> tuple[TracerProvider, InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider, exporter


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_pipelines_scenario(scenario: str) -> None:
    provider, exporter = _provider()
    pipeline = load_as_pipelines(tracer_provider=provider)

    async def run() -> list[tuple[Any, Any, Any]]:
        await pipeline.on_startup()
        calls = await replay_pipelines(pipeline, scenario, pause_s=PAUSE_S)
        await pipeline.on_shutdown()
        pipeline.end_parked_turns()  # the server stops: no instance adopts the parked turns
        return calls

    calls = asyncio.run(run())
    for _, sent, returned in calls:
        assert returned is sent

    spans = list(exporter.get_finished_spans())
    expected = PIPELINES_EXPECTED[scenario]
    main = _main_spans(spans)
    tasks = [s for s in spans if s not in main]
    if expected is None:
        assert main == []
        assert {s.attributes["openwebui.task"] for s in tasks} == {  # type: ignore[index]
            "title_generation",
            "tags_generation",
            "follow_up_generation",
        }
    else:
        assert len(main) == 1, [s.name for s in main]
        _check_main_span(main[0], expected, "pipelines")
        assert {s.attributes["openwebui.task"] for s in tasks} == expected.tasks  # type: ignore[index]
    for task_span in tasks:
        attributes = dict(task_span.attributes or {})
        task = attributes["openwebui.task"]
        assert task_span.name == task
        # A record of the call, not an inference: nothing a backend could price on an estimate.
        assert "gen_ai.operation.name" not in attributes and "gen_ai.request.model" not in attributes
        assert attributes["openwebui.model.id"] == "mock-gpt"
        assert attributes["openwebui.turn.end_reason"] == "task"
        # Tasks never carry the turn's figures.
        assert not any(k.startswith("gen_ai.usage.") for k in attributes)
        assert "gen_ai.output.messages" not in attributes
        if expected is not None and expected.chat_id:
            assert attributes["gen_ai.conversation.id"] == expected.chat_id
        if main:  # in its turn's trace, under the turn's span (ids derived from the chat and message ids)
            assert task_span.context.trace_id == main[0].context.trace_id
            assert task_span.parent is not None and task_span.parent.span_id == main[0].context.span_id
        else:  # sent straight to /api/v1/tasks/...: no turn, its own trace
            assert task_span.parent is None
    if scenario == "legacy":
        assert pipeline.health.get("duplicate_outlets") == 1


@pytest.mark.parametrize("scenario", FUNCTION_SCENARIOS)
def test_functions_scenario(scenario: str) -> None:
    provider, exporter = _provider()
    instance, _ = load_as_function(tracer_provider=provider)
    host = FunctionHost(instance)

    async def run() -> list[tuple[str, Any, Any]]:
        calls = await replay_function(host, scenario, pause_s=PAUSE_S)
        instance._core_instance.shutdown()
        return calls

    calls = asyncio.run(run())
    for _, sent, returned in calls:
        assert returned is sent
    spans = list(exporter.get_finished_spans())
    assert len(spans) == 1, [s.name for s in spans]  # Functions never see task calls
    expected = FUNCTIONS_EXPECTED[scenario]
    _check_main_span(spans[0], expected, "functions")
    attributes = dict(spans[0].attributes or {})
    streamed = any(hook == "stream" for hook, _, _ in calls)
    if streamed and not expected.abandoned:
        ttfc = attributes["gen_ai.response.time_to_first_chunk"]
        assert isinstance(ttfc, float) and 0 < ttfc <= (spans[0].end_time - spans[0].start_time) / 1e9  # type: ignore[operator]
        assert attributes["gen_ai.response.id"] == "chatcmpl-mock-0001"
        assert attributes["gen_ai.response.model"] == "mock-gpt"
    else:
        assert "gen_ai.response.time_to_first_chunk" not in attributes
    if scenario == "legacy":
        assert instance.health.get("duplicate_outlets") == 1


@pytest.mark.parametrize("scenario", ["ui_stream_turn2", "api_stream", "legacy"])
def test_payloads_are_not_modified(scenario: str) -> None:
    """The hooks return the very object they got, and leave its content as it was."""
    provider, _ = _provider()
    pipeline = load_as_pipelines(tracer_provider=provider)

    async def run() -> None:
        for step in pipelines_steps(scenario):
            recorded = load(step.file)
            before = copy.deepcopy(recorded)
            returned = await getattr(pipeline, step.hook)(recorded["body"], recorded["user"])
            assert returned is recorded["body"]
            assert recorded == before
        await pipeline.on_shutdown()
        pipeline.end_parked_turns()  # the server stops: no instance adopts the parked turns

    asyncio.run(run())

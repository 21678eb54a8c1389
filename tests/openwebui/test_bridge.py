# SPDX-License-Identifier: Apache-2.0
"""Bridge path, end to end: the real Open WebUI 0.12.4 gets our bridge server (``owui-otel serve``) as a Pipelines
connection; chats and a title task sent through Open WebUI arrive as correct spans at the Langfuse contract
endpoint and in Jaeger. Open WebUI's own OTel is on, so it sends a W3C ``traceparent`` with every filter call: each
turn span carries a link into Open WebUI's own request trace, which Jaeger has too.

Topology (all loopback, ports chosen at run time)::

    test ──HTTP──▶ Open WebUI ──OpenAI conn #0──▶ mock LLM
                     │        ──OpenAI conn #1──▶ bridge server ──OTLP/HTTP──▶ collector ──▶ Langfuse endpoint
                     └── its own spans (ENABLE_OTEL) ──OTLP/gRPC──▶ collector ──▶ Jaeger (not Langfuse)
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.support.stack import Stack

from .checks import (
    CONTENT_KEYS,
    by_last_user_text,
    duration_s,
    end_s,
    jaeger_service,
    jaeger_tags,
    keep,
    langfuse_auth,
    mock_request_for,
    output_text,
    start_s,
    summary,
    wait_exact_spans,
    wait_jaeger_span,
)
from .harness import (
    Bridge,
    ChatCall,
    Connection,
    MockLLM,
    OpenWebUI,
    OpenWebUIClient,
    Progress,
    UITurn,
    signup_admin,
    start_bridge,
    start_mock_llm,
    start_openwebui,
    stopping,
    ui_turn,
)

pytestmark = pytest.mark.e2e

FILTER_ID = "otel_bridge"
BACKGROUND_TASKS = ("title_generation", "tags_generation", "follow_up_generation")


@dataclass
class Instance:
    mock: MockLLM
    bridge: Bridge
    owui: OpenWebUI
    token: str
    api: OpenWebUIClient


@pytest.fixture(scope="module")
def instance(openwebui_binary: Path, workdir: Path, progress: Progress, e2e_stack: Stack) -> Iterator[Instance]:
    """Mock LLM -> bridge server -> Open WebUI (own OTel on, to the collector's gRPC port); an admin."""
    mock = start_mock_llm(workdir)
    with stopping(mock):
        bridge = start_bridge(workdir, otlp_endpoint=e2e_stack.otlp_http_endpoint)
        with stopping(bridge):
            owui = start_openwebui(
                openwebui_binary,
                workdir,
                [Connection(mock.openai_url, "mock"), Connection(bridge.url, bridge.api_key)],
                otel_grpc_endpoint=f"http://{e2e_stack.otlp_grpc_endpoint}",
                progress=progress,
            )
            with stopping(owui):
                token = signup_admin(owui.url)
                api = OpenWebUIClient(owui.url, token)
                try:
                    yield Instance(mock, bridge, owui, token, api)
                finally:
                    api.close()


def test_open_webui_takes_the_bridge_as_a_pipelines_connection_with_its_filter(instance: Instance) -> None:
    models = instance.api.models()
    # Filters are hidden from the model list; the chat model is there.
    assert [m["id"] for m in models] == ["mock-gpt"]
    pipelines = instance.api.get("/api/v1/pipelines/list")["data"]
    assert pipelines == [{"url": instance.bridge.url, "idx": 1}]
    listed = instance.api.get("/api/v1/pipelines/?urlIdx=1")["data"]
    assert [(p["id"], p["type"]) for p in listed] == [(FILTER_ID, "filter")]


@dataclass
class Chats:
    calls: list[ChatCall]
    title: dict[str, Any]
    ui: UITurn
    turns: dict[str, dict[str, Any]]  # turn spans by last user text
    tasks: list[dict[str, Any]]
    received: dict[str, Any]
    mock_requests: list[dict[str, Any]]


@pytest.fixture(scope="module")
def chats(instance: Instance, e2e_stack: Stack, openwebui_binary: Path, progress: Progress, workdir: Path) -> Chats:
    """Three API calls building one conversation (non-streaming; streaming with include_usage; streaming without),
    the explicit title task on it, then one web-UI turn in a new chat (with its background title/tags/follow-ups)."""
    api = instance.api
    api.models()  # builds the model list, and with it the filter list (Open WebUI keeps a snapshot)
    first, second, third = api.converse(
        "B1 nonstream: what is a span?", "B2 stream with usage: and a trace?", "B3 stream without usage: and a link?"
    )
    title = api.title(first.conversation)
    ui = ui_turn(
        openwebui_binary.parent / "python",
        instance.owui.url,
        instance.token,
        label="web UI turn",
        content="B4 web UI: hello from the browser",
    )
    spans = wait_exact_spans(e2e_stack, 4 + 1 + len(BACKGROUND_TASKS))
    for span in spans:
        progress(f"bridge: {summary(span)}")
    result = Chats(
        calls=[first, second, third],
        title=title,
        ui=ui,
        turns=by_last_user_text([s for s in spans if "openwebui.task" not in s["attributes"]]),
        tasks=[s for s in spans if "openwebui.task" in s["attributes"]],
        received=e2e_stack.langfuse_received(),
        mock_requests=instance.mock.requests(),
    )
    keep(workdir, "langfuse-received.json", result.received)
    keep(workdir, "llm-requests.json", result.mock_requests)
    return result


def test_replies_and_title_come_back_through_open_webui(chats: Chats) -> None:
    assert [c.reply for c in chats.calls] == [f"Hello from mock-gpt. This is reply number {n}." for n in (1, 2, 3)]
    assert "Mock Conversation" in str(chats.title)
    assert chats.ui.error is None and chats.ui.reply == "Hello from mock-gpt. This is reply number 1.", chats.ui


def test_one_turn_span_per_chat_with_model_host_content_and_ok_status(chats: Chats) -> None:
    replies = {c.user_text: c.reply for c in chats.calls} | {chats.ui.content: chats.ui.reply}
    assert sorted(chats.turns) == sorted(replies)
    for user_text, span in chats.turns.items():
        attributes = span["attributes"]
        assert span["name"] == "chat mock-gpt"
        assert span["scope"]["name"] == "openwebui.otel_bridge"
        assert attributes["gen_ai.operation.name"] == "chat"
        assert attributes["gen_ai.request.model"] == "mock-gpt"
        assert attributes["openwebui.host"] == "bridge"
        assert attributes["openwebui.turn.end_reason"] == "outlet"
        assert span["status"]["code"] != 2 and "error.type" not in attributes, span["status"]
        assert output_text(span) == replies[user_text]
        assert span["parent_span_id"] == "", "a turn span is its trace's root (the caller is a link, not a parent)"
        # Time to first chunk needs the Functions-only stream hook.
        assert "gen_ai.response.time_to_first_chunk" not in attributes
        assert "langfuse.observation.completion_start_time" not in attributes
    ui = chats.turns[chats.ui.content]["attributes"]
    assert ui["openwebui.chat.id"] == chats.ui.chat_id == ui["session.id"]
    assert ui["openwebui.message.id"] == chats.ui.message_id


def test_usage_matches_what_the_llm_reported_and_is_absent_when_it_reported_none(chats: Chats) -> None:
    first, second, third = chats.calls
    upstream = {t: mock_request_for(chats.mock_requests, t) for t in chats.turns}
    assert upstream[second.user_text]["body"]["stream_options"] == {"include_usage": True}
    for request in (upstream[third.user_text], upstream[chats.ui.content]):
        assert "stream_options" not in request["body"]
    for user_text in (first.user_text, second.user_text):
        usage = upstream[user_text]["usage"]
        attributes = chats.turns[user_text]["attributes"]
        assert attributes["gen_ai.usage.input_tokens"] == usage["prompt_tokens"], user_text
        assert attributes["gen_ai.usage.output_tokens"] == usage["completion_tokens"], user_text
    for user_text in (third.user_text, chats.ui.content):
        assert "gen_ai.usage.input_tokens" not in chats.turns[user_text]["attributes"], user_text


def test_turn_span_covers_the_llm_call(chats: Chats, instance: Instance) -> None:
    for user_text, span in chats.turns.items():
        upstream = mock_request_for(chats.mock_requests, user_text)
        assert start_s(span) <= upstream["started_at"], user_text
        assert end_s(span) >= upstream["finished_at"], user_text
        assert duration_s(span) > instance.mock.turn_delay(upstream["reply"]), user_text


def test_title_task_and_background_tasks_are_their_own_spans(chats: Chats) -> None:
    by_task: dict[str, list[dict[str, Any]]] = {}
    for span in chats.tasks:
        by_task.setdefault(span["attributes"]["openwebui.task"], []).append(span)
    # The explicit POST /api/v1/tasks/title/completions and the new web-UI chat's background title, tags and
    # follow-ups: each reached the bridge as a task inlet (never an outlet) and became one span.
    assert {task: len(spans) for task, spans in by_task.items()} == {
        "title_generation": 2,
        "tags_generation": 1,
        "follow_up_generation": 1,
    }
    for span in chats.tasks:
        task = span["attributes"]["openwebui.task"]
        assert span["name"] == f"{task} mock-gpt"
        assert span["attributes"]["openwebui.host"] == "bridge"
        assert span["attributes"]["openwebui.turn.end_reason"] == "task"
        assert span["attributes"]["langfuse.trace.name"] == f"{task} mock-gpt"
    background = [s for s in chats.tasks if s["attributes"].get("openwebui.chat.id") == chats.ui.chat_id]
    assert sorted(s["attributes"]["openwebui.task"] for s in background) == sorted(BACKGROUND_TASKS)
    # The tasks really were LLM calls, answered with their JSON.
    asked = [r["task"] for r in chats.mock_requests if r["task"]]
    assert sorted(asked) == sorted(["title_generation", *BACKGROUND_TASKS])


def test_langfuse_requests_use_basic_auth_v4_ingestion_and_only_our_spans(chats: Chats, e2e_stack: Stack) -> None:
    assert chats.received["requests"] and not chats.received["rejected"]
    for request in chats.received["requests"]:
        assert request["headers"]["authorization"] == langfuse_auth(e2e_stack)
        assert request["headers"]["x-langfuse-ingestion-version"] == "4"
    # Open WebUI's own HTTP/DB spans and the bridge server's request spans go to the same collector, but only the
    # filter's scope reaches Langfuse.
    assert {s["scope"]["name"] for s in chats.received["spans"]} == {"openwebui.otel_bridge"}
    for span in chats.turns.values():
        assert span["attributes"]["langfuse.trace.name"] == "chat mock-gpt"


def test_jaeger_has_the_same_traces_without_content(chats: Chats, e2e_stack: Stack) -> None:
    for user_text, span in [*chats.turns.items(), *((s["name"], s) for s in chats.tasks)]:
        _, stored = wait_jaeger_span(e2e_stack, span["trace_id"], span["span_id"])
        assert stored["operationName"] == span["name"]
        tags = jaeger_tags(stored)
        assert tags["openwebui.host"] == "bridge"
        for key in CONTENT_KEYS:
            assert key not in tags, (user_text, key)
        for key in ("gen_ai.usage.input_tokens", "gen_ai.usage.output_tokens", "openwebui.task"):
            assert tags.get(key) == span["attributes"].get(key), (user_text, key)


def test_turn_spans_link_to_open_webuis_own_request_trace_in_jaeger(
    chats: Chats, e2e_stack: Stack, progress: Progress
) -> None:
    """Open WebUI (ENABLE_OTEL) sends ``traceparent`` on its filter calls; the bridge turns it into a link."""
    for user_text, span in chats.turns.items():
        _, stored = wait_jaeger_span(e2e_stack, span["trace_id"], span["span_id"])
        links = [r for r in stored.get("references", []) if r["refType"] == "FOLLOWS_FROM"]
        # One from the inlet call and one from the outlet call.
        assert len(links) == 2, (user_text, stored.get("references"))
        for link in links:
            assert link["traceID"] != span["trace_id"], "a link into another trace, not a parent"
            linked_trace, linked = wait_jaeger_span(e2e_stack, link["traceID"], link["spanID"])
            # The linked span is Open WebUI's own client span of the filter call ...
            assert jaeger_service(linked_trace, linked) == "open-webui"
            assert linked["operationName"].startswith("POST http://"), linked["operationName"]
            assert "/otel_bridge/filter/" in linked["operationName"]
            # ... inside Open WebUI's request trace (its FastAPI server span), which also holds the bridge server's
            # span for the same call (service owui-otel-bridge), a child of that client span.
            services = {jaeger_service(linked_trace, s) for s in linked_trace["spans"]}
            assert {"open-webui", "owui-otel-bridge"} <= services, services
            operations = {s["operationName"] for s in linked_trace["spans"]}
            assert any(op.startswith("POST /api/chat/completions") for op in operations), operations
            progress(
                f"bridge: {user_text[:12]!r} links to {linked['operationName']!r} in Open WebUI's trace "
                f"{link['traceID']} ({len(linked_trace['spans'])} spans, services {sorted(services)})"
            )


def test_the_bridge_counted_what_it_traced(chats: Chats, instance: Instance) -> None:
    health = instance.bridge.health()
    counters = health["counters"]
    assert counters.get("turns_started") == 4, counters
    assert counters.get("turns_ended") == 4, counters
    assert counters.get("task_spans") == 4, counters
    assert health["open_turns"] == 0

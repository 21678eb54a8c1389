# SPDX-License-Identifier: Apache-2.0
"""Functions path, end to end: ``owui-otel install function`` puts the filter into the real Open WebUI 0.12.4 as
a global Function; chats sent through Open WebUI (as an API client, and as the web page does) arrive as correct
turn spans at the Langfuse contract endpoint and, content stripped, in Jaeger.

Topology (all loopback, ports chosen at run time)::

    test ──HTTP──▶ Open WebUI ──OpenAI conn──▶ mock LLM
                     └ Function otel_bridge ──OTLP/HTTP──▶ collector ──▶ Langfuse contract endpoint, Jaeger
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from collector._process import free_port
from tests.support.stack import Stack

from .checks import (
    CONTENT_KEYS,
    by_last_user_text,
    duration_s,
    end_s,
    iso_to_s,
    jaeger_tags,
    keep,
    langfuse_auth,
    messages,
    mock_request_for,
    output_text,
    start_s,
    summary,
    wait_exact_spans,
)
from .harness import (
    HOST,
    ChatCall,
    Connection,
    MockLLM,
    OpenWebUI,
    OpenWebUIClient,
    Progress,
    UITurn,
    owui_otel_argv,
    signup_admin,
    start_mock_llm,
    start_openwebui,
    stopping,
    ui_turn,
)

pytestmark = pytest.mark.e2e

FUNCTION_ID = "otel_bridge"


@dataclass
class Instance:
    mock: MockLLM
    owui: OpenWebUI
    token: str
    api: OpenWebUIClient


@pytest.fixture(scope="module")
def instance(openwebui_binary: Path, workdir: Path, progress: Progress, e2e_stack: Stack) -> Iterator[Instance]:
    """Mock LLM, then Open WebUI (its own OTel off) with the mock as its only connection; an admin.

    Depends on the stack so that the stack stops last (the Function flushes its spans when Open WebUI stops)."""
    mock = start_mock_llm(workdir)
    with stopping(mock):
        owui = start_openwebui(openwebui_binary, workdir, [Connection(mock.openai_url, "mock")], progress=progress)
        with stopping(owui):
            token = signup_admin(owui.url)
            api = OpenWebUIClient(owui.url, token)
            try:
                yield Instance(mock, owui, token, api)
            finally:
                api.close()


def run_cli(*args: str, timeout: float = 120.0) -> subprocess.CompletedProcess[str]:
    """The real ``owui-otel`` console script, as a user runs it."""
    return subprocess.run([*owui_otel_argv(), *args], capture_output=True, text=True, timeout=timeout, check=False)


@pytest.fixture(scope="module")
def installed(instance: Instance, e2e_stack: Stack) -> subprocess.CompletedProcess[str]:
    """``owui-otel install function --url --token --valve otlp_endpoint=<collector OTLP/HTTP>``."""
    return run_cli(
        "install",
        "function",
        "--url",
        instance.owui.url,
        "--token",
        instance.token,
        "--valve",
        f"otlp_endpoint={e2e_stack.otlp_http_endpoint}",
    )


def test_install_creates_a_global_active_filter_function(instance: Instance, installed: Any, e2e_stack: Stack) -> None:
    assert installed.returncode == 0, installed.stdout + installed.stderr
    assert f"created Function '{FUNCTION_ID}'" in installed.stdout
    assert "a global, active filter" in installed.stdout
    assert instance.token not in installed.stdout + installed.stderr

    record = instance.api.function(FUNCTION_ID)
    assert record is not None, "the Function is not listed by GET /api/v1/functions/"
    assert (record["type"], record["is_active"], record["is_global"]) == ("filter", True, True)
    valves = instance.api.get(f"/api/v1/functions/id/{FUNCTION_ID}/valves")
    assert valves["otlp_endpoint"] == e2e_stack.otlp_http_endpoint


def test_install_again_updates_in_place_and_keeps_it_active_and_global(
    instance: Instance, installed: Any, e2e_stack: Stack
) -> None:
    assert installed.returncode == 0
    again = run_cli("install", "function", "--url", instance.owui.url, "--token", instance.token)
    assert again.returncode == 0, again.stdout + again.stderr
    assert f"updated Function '{FUNCTION_ID}'" in again.stdout
    record = instance.api.function(FUNCTION_ID)
    assert record is not None
    # The toggles flip: a second install must not turn the filter off.
    assert (record["type"], record["is_active"], record["is_global"]) == ("filter", True, True)
    # Valves survive an update without --valve.
    assert instance.api.get(f"/api/v1/functions/id/{FUNCTION_ID}/valves")["otlp_endpoint"] == (
        e2e_stack.otlp_http_endpoint
    )


def test_install_with_a_wrong_token_fails_with_the_fix_and_without_echoing_the_token(instance: Instance) -> None:
    wrong = "not-a-real-token-e2e-4f1c9a"
    done = run_cli("install", "function", "--url", instance.owui.url, "--token", wrong)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "refused the token" in done.stderr
    assert "admin" in done.stderr and "Settings > Account" in done.stderr
    assert wrong not in done.stdout + done.stderr
    assert "Traceback" not in done.stderr


def test_install_against_an_unreachable_url_says_it_cannot_reach_it() -> None:
    url = f"http://{HOST}:{free_port(HOST)}"  # nothing listens there
    done = run_cli("install", "function", "--url", url, "--token", "whatever-token-e2e")
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"cannot reach Open WebUI at {url}" in done.stderr
    assert "is it running" in done.stderr
    assert "whatever-token-e2e" not in done.stderr
    assert "Traceback" not in done.stderr


# --- chats --------------------------------------------------------------------------------------------------------


@dataclass
class Chats:
    calls: list[ChatCall]
    ui: list[UITurn]
    spans: dict[str, dict[str, Any]]  # by last user text
    received: dict[str, Any]
    mock_requests: list[dict[str, Any]]


@pytest.fixture(scope="module")
def chats(
    instance: Instance, installed: Any, e2e_stack: Stack, openwebui_binary: Path, progress: Progress, workdir: Path
) -> Chats:
    """Three API calls (non-streaming; streaming with include_usage; streaming without) building one growing
    conversation, then two web-UI turns in one new chat (the second after giving the model the Usage capability)."""
    assert installed.returncode == 0, installed.stdout + installed.stderr
    api = instance.api
    api.models()
    calls = api.converse(
        "F1 nonstream: what is OpenTelemetry?",
        "F2 stream with usage: and Langfuse?",
        "F3 stream without usage: and Jaeger?",
    )
    python = openwebui_binary.parent / "python"
    ui1 = ui_turn(python, instance.owui.url, instance.token, label="web UI turn 1", content="F4 web UI: hello there")
    api.enable_usage_capability()
    ui2 = ui_turn(
        python,
        instance.owui.url,
        instance.token,
        label="web UI turn 2",
        content="F5 web UI: second turn",
        chat_id=ui1.chat_id,
        parent_id=ui1.message_id,
    )
    spans = wait_exact_spans(e2e_stack, 5)
    for span in spans:
        progress(f"functions: {summary(span)}")
    result = Chats(
        calls=calls,
        ui=[ui1, ui2],
        spans=by_last_user_text(spans),
        received=e2e_stack.langfuse_received(),
        mock_requests=instance.mock.requests(),
    )
    keep(workdir, "langfuse-received.json", result.received)
    keep(workdir, "llm-requests.json", result.mock_requests)
    return result


def test_replies_come_back_through_open_webui(chats: Chats) -> None:
    assert [c.reply for c in chats.calls] == [f"Hello from mock-gpt. This is reply number {n}." for n in (1, 2, 3)]
    for turn, number in zip(chats.ui, (1, 2), strict=True):
        assert turn.error is None, turn
        assert turn.reply == f"Hello from mock-gpt. This is reply number {number}.", turn
        assert turn.event_types[-1] == "chat:active", turn.event_types


def test_one_turn_span_per_chat_with_model_host_content_and_ok_status(chats: Chats) -> None:
    texts = [c.user_text for c in chats.calls] + [t.content for t in chats.ui]
    assert sorted(chats.spans) == sorted(texts)
    replies = {c.user_text: c.reply for c in chats.calls} | {t.content: t.reply for t in chats.ui}
    for user_text, span in chats.spans.items():
        attributes = span["attributes"]
        assert span["name"] == "chat mock-gpt"
        assert span["scope"]["name"] == "openwebui.otel_bridge"
        assert attributes["gen_ai.operation.name"] == "chat"
        assert attributes["gen_ai.request.model"] == "mock-gpt"
        assert attributes["openwebui.host"] == "functions"
        assert attributes["openwebui.turn.end_reason"] == "outlet"
        assert "openwebui.task" not in attributes
        assert span["status"]["code"] != 2 and "error.type" not in attributes, span["status"]
        assert output_text(span) == replies[user_text]
        assert span["parent_span_id"] == "", "a turn span is its trace's root"


def test_usage_matches_what_the_llm_reported_and_is_absent_when_it_reported_none(chats: Chats) -> None:
    first, second, third = chats.calls
    ui1, ui2 = chats.ui
    # What Open WebUI asked upstream: include_usage only when the caller sent it, or the model has the capability.
    upstream = {t: mock_request_for(chats.mock_requests, t) for t in chats.spans}
    assert "stream_options" not in upstream[first.user_text]["body"]
    assert upstream[second.user_text]["body"]["stream_options"] == {"include_usage": True}
    assert "stream_options" not in upstream[third.user_text]["body"]
    assert "stream_options" not in upstream[ui1.content]["body"]
    assert upstream[ui2.content]["body"]["stream_options"] == {"include_usage": True}

    for user_text in (first.user_text, second.user_text, ui2.content):
        usage = upstream[user_text]["usage"]
        attributes = chats.spans[user_text]["attributes"]
        assert attributes["gen_ai.usage.input_tokens"] == usage["prompt_tokens"], user_text
        assert attributes["gen_ai.usage.output_tokens"] == usage["completion_tokens"], user_text
    # The mock's counts are words: the growing history shows in the input tokens.
    assert second.usage_in_response is not None
    assert (
        chats.spans[second.user_text]["attributes"]["gen_ai.usage.input_tokens"]
        > (chats.spans[first.user_text]["attributes"]["gen_ai.usage.input_tokens"])
    )
    for user_text in (third.user_text, ui1.content):
        attributes = chats.spans[user_text]["attributes"]
        assert "gen_ai.usage.input_tokens" not in attributes and "gen_ai.usage.output_tokens" not in attributes


def test_input_messages_hold_the_whole_conversation_sent(chats: Chats) -> None:
    third = chats.calls[2]
    inputs = messages(chats.spans[third.user_text], "gen_ai.input.messages")
    assert [m["role"] for m in inputs] == ["user", "assistant", "user", "assistant", "user"]
    assert inputs[1]["parts"][0]["content"] == chats.calls[0].reply


def test_turn_span_covers_the_llm_call_and_streamed_turns_have_time_to_first_chunk(
    chats: Chats, instance: Instance
) -> None:
    streamed = {c.user_text for c in chats.calls if c.stream} | {t.content for t in chats.ui}
    for user_text, span in chats.spans.items():
        upstream = mock_request_for(chats.mock_requests, user_text)
        # The span starts at the inlet (before Open WebUI calls the LLM) and ends at the outlet (after the reply).
        assert start_s(span) <= upstream["started_at"], user_text
        assert end_s(span) >= upstream["finished_at"], user_text
        assert duration_s(span) > instance.mock.turn_delay(upstream["reply"]), user_text
        attributes = span["attributes"]
        if user_text in streamed:
            ttfc = attributes["gen_ai.response.time_to_first_chunk"]
            # The mock waits chunk_delay before the (empty) role chunk and again before the first word.
            assert instance.mock.chunk_delay <= ttfc < duration_s(span), (user_text, ttfc)
            assert attributes["gen_ai.request.stream"] is True
            completion_start = iso_to_s(attributes["langfuse.observation.completion_start_time"])
            assert completion_start == pytest.approx(start_s(span) + ttfc, abs=2e-3)
        else:
            assert "gen_ai.response.time_to_first_chunk" not in attributes
            assert "langfuse.observation.completion_start_time" not in attributes


def test_web_ui_turns_carry_chat_and_message_ids(chats: Chats) -> None:
    ui1, ui2 = chats.ui
    assert ui1.chat_id == ui2.chat_id
    for turn in chats.ui:
        attributes = chats.spans[turn.content]["attributes"]
        assert attributes["openwebui.chat.id"] == turn.chat_id
        assert attributes["gen_ai.conversation.id"] == turn.chat_id
        assert attributes["session.id"] == turn.chat_id
        assert attributes["openwebui.message.id"] == turn.message_id
        assert attributes["openwebui.user_message.id"] == turn.user_message_id
    # The web UI's background tasks reached the LLM, but Functions never see tasks: no task spans.
    tasks = {r["task"] for r in chats.mock_requests if r["task"]}
    assert {"title_generation", "tags_generation", "follow_up_generation"} <= tasks
    assert not [s for s in chats.spans.values() if "openwebui.task" in s["attributes"]]


def test_langfuse_requests_use_basic_auth_v4_ingestion_and_get_a_trace_name(chats: Chats, e2e_stack: Stack) -> None:
    requests = chats.received["requests"]
    assert requests and not chats.received["rejected"]
    for request in requests:
        assert request["headers"]["authorization"] == langfuse_auth(e2e_stack)
        assert request["headers"]["x-langfuse-ingestion-version"] == "4"
        assert request["write_path"] == "direct"
    for span in chats.spans.values():
        assert span["attributes"]["langfuse.trace.name"] == "chat mock-gpt"


def test_jaeger_has_the_same_traces_without_content(chats: Chats, e2e_stack: Stack) -> None:
    for user_text, span in chats.spans.items():
        trace = e2e_stack.wait_for_jaeger_trace(span["trace_id"])
        (stored,) = [s for s in trace["spans"] if s["spanID"] == span["span_id"]]
        assert stored["operationName"] == "chat mock-gpt"
        tags = jaeger_tags(stored)
        assert tags["openwebui.host"] == "functions"
        for key in CONTENT_KEYS:
            assert key not in tags, (user_text, key)
        for key in ("gen_ai.usage.input_tokens", "gen_ai.usage.output_tokens", "gen_ai.response.time_to_first_chunk"):
            assert tags.get(key) == span["attributes"].get(key), (user_text, key)
        assert "langfuse.trace.name" not in tags  # Langfuse-only attributes stay out of Jaeger
        # Open WebUI's own OTel is off here: no caller span to link to, and the turn span is a root.
        assert not stored.get("references"), stored.get("references")

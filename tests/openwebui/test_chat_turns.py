# SPDX-License-Identifier: Apache-2.0
"""The filter in the real Open WebUI 0.12.4, both ways it runs there: chats sent through Open WebUI (as an API
client, and as the web page does) arrive as correct turn spans at the Langfuse contract endpoint and, content
stripped, in Jaeger. Every check runs for each host (``pipelines``, ``functions``); a few check what only one host
does (``@pytest.mark.parametrize("host", [...], indirect=True)`` picks it).

- ``pipelines``: our bridge server (``owui-otel serve``) is a Pipelines connection of Open WebUI. Open WebUI's own
  OTel is on, so it sends a W3C ``traceparent`` with every filter call: each turn span carries a link into Open
  WebUI's own request trace, which Jaeger has too. Task calls (title, tags, follow-ups) reach the filter.
- ``functions``: ``owui-otel install function`` puts the filter into Open WebUI as a global Function (Open WebUI's
  own OTel off). Only Functions see the stream, so only they record the time to first chunk; they never see tasks.

Topology (all loopback, ports chosen at run time; one stack and one Open WebUI per host)::

    pipelines: test ──HTTP──▶ Open WebUI ──OpenAI conn #0──▶ mock LLM
                                │        ──OpenAI conn #1──▶ bridge server ──OTLP/HTTP──▶ collector ──▶ Langfuse
                                └── its own spans (ENABLE_OTEL) ──OTLP/gRPC──▶ collector ──▶ Jaeger (not Langfuse)
    functions: test ──HTTP──▶ Open WebUI ──OpenAI conn──▶ mock LLM
                                └ Function otel_bridge ──OTLP/HTTP──▶ collector ──▶ Langfuse endpoint, Jaeger
"""

from __future__ import annotations

import contextlib
import json
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import genai_prices
import pytest

from collector._process import free_port
from otel_filter.trace_ids import turn_trace_id
from tests.support.stack import Stack

from .checks import (
    CONTENT_KEYS,
    by_last_user_text,
    duration_s,
    end_s,
    iso_to_s,
    jaeger_service,
    jaeger_tags,
    keep,
    langfuse_auth,
    messages,
    mock_request_for,
    output_text,
    start_s,
    summary,
    wait_exact_spans,
    wait_jaeger_span,
)
from .harness import (
    HOST,
    MODEL,
    OPENWEBUI_VERSION,
    Bridge,
    ChatCall,
    Connection,
    MockLLM,
    OpenWebUI,
    OpenWebUIClient,
    Progress,
    UITurn,
    owui_otel_argv,
    signup_admin,
    start_bridge,
    start_mock_llm,
    start_openwebui,
    stopping,
    ui_turn,
)

pytestmark = pytest.mark.e2e

FILTER_ID = "otel_bridge"
"""The filter's id in both hosts: the Pipelines filter's and the Function's."""
HOST_ATTRIBUTE = {"pipelines": "bridge", "functions": "functions"}
"""``openwebui.host`` on the turn spans of each host (Pipelines filters run inside our bridge server)."""
BACKGROUND_TASKS = ("title_generation", "tags_generation", "follow_up_generation")
PIPELINES = pytest.mark.parametrize("host", ["pipelines"], indirect=True)
FUNCTIONS = pytest.mark.parametrize("host", ["functions"], indirect=True)


@pytest.fixture(scope="module", params=["pipelines", "functions"])
def host(request: pytest.FixtureRequest) -> str:
    """Which way Open WebUI runs the filter; every fixture below is built once per host."""
    name: str = request.param
    return name


@pytest.fixture(scope="module")
def host_dir(host: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp(host)


@pytest.fixture(scope="module")
def stack(host: str, collector_binary: Path, jaeger_binary: Path, host_dir: Path) -> Iterator[Stack]:
    """Collector + Jaeger + Langfuse contract endpoint for one host (so span counts are exact)."""
    with Stack(collector_binary=collector_binary, jaeger_binary=jaeger_binary, workdir=host_dir / "stack") as stack:
        yield stack


@dataclass
class Instance:
    mock: MockLLM
    owui: OpenWebUI
    token: str
    api: OpenWebUIClient
    bridge: Bridge | None = None  # pipelines only


@pytest.fixture(scope="module")
def instance(host: str, openwebui_binary: Path, host_dir: Path, progress: Progress, stack: Stack) -> Iterator[Instance]:
    """Mock LLM, (for ``pipelines``) the bridge server as a second connection with Open WebUI's own OTel sent to the
    collector's gRPC port, Open WebUI; an admin.

    Depends on the stack so that the stack stops last (the Function flushes its spans when Open WebUI stops)."""
    with contextlib.ExitStack() as running:
        mock = start_mock_llm(host_dir)
        running.enter_context(stopping(mock))
        connections = [Connection(mock.openai_url, "mock")]
        bridge, own_otel = None, None
        if host == "pipelines":
            bridge = start_bridge(host_dir, otlp_endpoint=stack.otlp_http_endpoint)
            running.enter_context(stopping(bridge))
            connections.append(Connection(bridge.url, bridge.api_key))
            own_otel = f"http://{stack.otlp_grpc_endpoint}"
        owui = start_openwebui(openwebui_binary, host_dir, connections, otel_grpc_endpoint=own_otel, progress=progress)
        running.enter_context(stopping(owui))
        token = signup_admin(owui.url)
        api = OpenWebUIClient(owui.url, token)
        running.callback(api.close)
        yield Instance(mock, owui, token, api, bridge)


def run_cli(*args: str, timeout: float = 120.0) -> subprocess.CompletedProcess[str]:
    """The real ``owui-otel`` console script, as a user runs it."""
    return subprocess.run([*owui_otel_argv(), *args], capture_output=True, text=True, timeout=timeout, check=False)


@pytest.fixture(scope="module")
def installed(host: str, instance: Instance, stack: Stack) -> subprocess.CompletedProcess[str]:
    """``owui-otel install function --url --token --valve otlp_endpoint=<collector OTLP/HTTP>`` (``functions``)."""
    assert host == "functions", "only the functions host installs the filter as a Function"
    return run_cli(
        "install",
        "function",
        "--url",
        instance.owui.url,
        "--token",
        instance.token,
        "--valve",
        f"otlp_endpoint={stack.otlp_http_endpoint}",
    )


@dataclass
class Chats:
    """What one host's chats produced, and which of them the scenario expects usage or a first chunk for."""

    calls: list[ChatCall]
    ui: list[UITurn]
    turns: dict[str, dict[str, Any]]  # turn spans by last user text
    tasks: list[dict[str, Any]]
    received: dict[str, Any]
    mock_requests: list[dict[str, Any]]
    usage_asked: set[str]  # turns for which Open WebUI asked the LLM for stream usage
    usage_reported: set[str]  # turns whose LLM answer carried usage
    first_chunk_timed: set[str]  # turns that must carry the time to first chunk
    title: dict[str, Any] = field(default_factory=dict)


@pytest.fixture(scope="module")
def chats(
    host: str,
    instance: Instance,
    stack: Stack,
    openwebui_binary: Path,
    progress: Progress,
    host_dir: Path,
    request: pytest.FixtureRequest,
) -> Chats:
    """Three API calls building one conversation (non-streaming; streaming with include_usage; streaming without).

    ``pipelines`` then asks for the title explicitly and sends one web-UI turn in a new chat (with its background
    title/tags/follow-ups); ``functions`` (once installed) sends two web-UI turns in one new chat, the second after
    giving the model the Usage capability."""
    api = instance.api
    prefix = host[0].upper()
    if host == "functions":
        installed: subprocess.CompletedProcess[str] = request.getfixturevalue("installed")
        assert installed.returncode == 0, installed.stdout + installed.stderr
    api.models()  # builds the model list, and with it the filter list (Open WebUI keeps a snapshot)
    first, second, third = calls = api.converse(
        f"{prefix}1 nonstream: what is OpenTelemetry?",
        f"{prefix}2 stream with usage: and Langfuse?",
        f"{prefix}3 stream without usage: and Jaeger?",
    )
    python = openwebui_binary.parent / "python"
    title: dict[str, Any] = {}
    if host == "pipelines":
        title = api.title(first.conversation)
    ui1 = ui_turn(python, instance.owui.url, instance.token, label="web UI turn 1", content=f"{prefix}4 web UI: hello")
    if host == "pipelines":
        ui = [ui1]
        spans = wait_exact_spans(stack, 4 + 1 + len(BACKGROUND_TASKS))
        with_usage_capability: set[str] = set()
        first_chunk_timed: set[str] = set()  # the stream hook is Functions-only
    else:
        api.enable_usage_capability()
        ui2 = ui_turn(
            python,
            instance.owui.url,
            instance.token,
            label="web UI turn 2",
            content=f"{prefix}5 web UI: second turn",
            chat_id=ui1.chat_id,
            parent_id=ui1.message_id,
        )
        ui = [ui1, ui2]
        spans = wait_exact_spans(stack, 5)
        with_usage_capability = {ui2.content}
        first_chunk_timed = {c.user_text for c in calls if c.stream} | {t.content for t in ui}
    for span in spans:
        progress(f"{host}: {summary(span)}")
    result = Chats(
        calls=calls,
        ui=ui,
        turns=by_last_user_text([s for s in spans if "openwebui.task" not in s["attributes"]]),
        tasks=[s for s in spans if "openwebui.task" in s["attributes"]],
        received=stack.langfuse_received(),
        mock_requests=instance.mock.requests(),
        usage_asked={second.user_text} | with_usage_capability,
        usage_reported={first.user_text, second.user_text} | with_usage_capability,
        first_chunk_timed=first_chunk_timed,
        title=title,
    )
    keep(host_dir, "langfuse-received.json", result.received)
    keep(host_dir, "llm-requests.json", result.mock_requests)
    return result


# --- both hosts ---------------------------------------------------------------------------------------------------


def test_replies_come_back_through_open_webui(chats: Chats) -> None:
    assert [c.reply for c in chats.calls] == [f"Hello from {MODEL}. This is reply number {n}." for n in (1, 2, 3)]
    for number, turn in enumerate(chats.ui, start=1):
        assert turn.error is None, turn
        assert turn.reply == f"Hello from {MODEL}. This is reply number {number}.", turn


def test_one_turn_span_per_chat_with_model_host_content_and_ok_status(host: str, chats: Chats) -> None:
    replies = {c.user_text: c.reply for c in chats.calls} | {t.content: t.reply for t in chats.ui}
    assert sorted(chats.turns) == sorted(replies)
    for user_text, span in chats.turns.items():
        attributes = span["attributes"]
        assert span["name"] == f"chat {MODEL}"
        assert span["scope"]["name"] == "openwebui.otel_bridge"
        assert attributes["gen_ai.operation.name"] == "chat"
        assert attributes["gen_ai.request.model"] == MODEL
        assert attributes["openwebui.host"] == HOST_ATTRIBUTE[host]
        assert attributes["openwebui.turn.end_reason"] == "outlet"
        assert span["status"]["code"] != 2 and "error.type" not in attributes, span["status"]
        assert output_text(span) == replies[user_text]
        assert span["parent_span_id"] == "", "a turn span is its trace's root (a caller is a link, not a parent)"


def test_web_ui_turns_carry_chat_and_message_ids(chats: Chats) -> None:
    for turn in chats.ui:
        attributes = chats.turns[turn.content]["attributes"]
        assert attributes["openwebui.chat.id"] == turn.chat_id == attributes["session.id"]
        assert attributes["openwebui.message.id"] == turn.message_id


def test_usage_matches_what_the_llm_reported_and_is_absent_when_it_reported_none(chats: Chats) -> None:
    upstream = {t: mock_request_for(chats.mock_requests, t) for t in chats.turns}
    # What Open WebUI asked upstream: include_usage only when the caller sent it, or the model has the capability.
    asked = {t for t, r in upstream.items() if "stream_options" in r["body"]}
    assert asked == chats.usage_asked
    for user_text in asked:
        assert upstream[user_text]["body"]["stream_options"] == {"include_usage": True}, user_text
    assert {t for t, r in upstream.items() if r["usage_sent"]} == chats.usage_reported
    for user_text, request in upstream.items():
        attributes = chats.turns[user_text]["attributes"]
        if request["usage_sent"]:
            assert attributes["gen_ai.usage.input_tokens"] == request["usage"]["prompt_tokens"], user_text
            assert attributes["gen_ai.usage.output_tokens"] == request["usage"]["completion_tokens"], user_text
        else:
            assert "gen_ai.usage.input_tokens" not in attributes, user_text
            assert "gen_ai.usage.output_tokens" not in attributes, user_text
    # The mock's counts are words: the growing history shows in the input tokens.
    first, second, _ = (chats.turns[c.user_text]["attributes"] for c in chats.calls)
    assert second["gen_ai.usage.input_tokens"] > first["gen_ai.usage.input_tokens"]


def test_turns_with_usage_cost_what_genai_prices_says_in_langfuse_and_jaeger(chats: Chats, stack: Stack) -> None:
    # The mock answers as gpt-4o-mini-2024-07-18: the price is genai-prices' own for the usage it reported, the same
    # figure on the span Jaeger stores and, as cost details, on what Langfuse receives; no usage, no cost.
    for user_text in chats.turns:
        request = mock_request_for(chats.mock_requests, user_text)
        attributes = chats.turns[user_text]["attributes"]
        if not request["usage_sent"]:
            assert "gen_ai.usage.cost" not in attributes, user_text
            continue
        usage = genai_prices.Usage(
            input_tokens=request["usage"]["prompt_tokens"], output_tokens=request["usage"]["completion_tokens"]
        )
        expected = float(genai_prices.calc_price(usage, "gpt-4o-mini").total_price)
        assert expected > 0
        assert attributes["gen_ai.usage.cost"] == pytest.approx(expected, rel=1e-9), user_text
        assert json.loads(attributes["langfuse.observation.cost_details"])["total"] == pytest.approx(expected, rel=1e-9)
        _, stored = wait_jaeger_span(stack, chats.turns[user_text]["trace_id"], chats.turns[user_text]["span_id"])
        assert jaeger_tags(stored)["gen_ai.usage.cost"] == pytest.approx(expected, rel=1e-9), user_text


def test_turn_span_covers_the_llm_call_and_first_chunk_is_timed_where_the_host_sees_the_stream(
    chats: Chats, instance: Instance
) -> None:
    for user_text, span in chats.turns.items():
        upstream = mock_request_for(chats.mock_requests, user_text)
        # The span starts at the inlet (before Open WebUI calls the LLM) and ends at the outlet (after the reply).
        assert start_s(span) <= upstream["started_at"], user_text
        assert end_s(span) >= upstream["finished_at"], user_text
        assert duration_s(span) > instance.mock.turn_delay(upstream["reply"]), user_text
        attributes = span["attributes"]
        if user_text in chats.first_chunk_timed:
            ttfc = attributes["gen_ai.response.time_to_first_chunk"]
            # The mock waits chunk_delay before the (empty) role chunk and again before the first word.
            assert instance.mock.chunk_delay <= ttfc < duration_s(span), (user_text, ttfc)
            assert attributes["gen_ai.request.stream"] is True
            completion_start = iso_to_s(attributes["langfuse.observation.completion_start_time"])
            assert completion_start == pytest.approx(start_s(span) + ttfc, abs=2e-3)
        else:
            assert "gen_ai.response.time_to_first_chunk" not in attributes, user_text
            assert "langfuse.observation.completion_start_time" not in attributes, user_text


def test_langfuse_requests_use_basic_auth_v4_ingestion_and_only_our_spans(
    host: str, chats: Chats, stack: Stack
) -> None:
    assert chats.received["requests"] and not chats.received["rejected"]
    for request in chats.received["requests"]:
        assert request["headers"]["authorization"] == langfuse_auth(stack)
        assert request["headers"]["x-langfuse-ingestion-version"] == "4"
        assert request["write_path"] == "direct"
    # With Open WebUI's own OTel on (pipelines), its HTTP/DB spans and the bridge server's request spans go to the
    # same collector, but only the filter's scope reaches Langfuse.
    assert {s["scope"]["name"] for s in chats.received["spans"]} == {"openwebui.otel_bridge"}
    for span in chats.turns.values():
        attributes = span["attributes"]
        assert attributes["langfuse.trace.name"] == f"chat {MODEL}"
        # Tags name the host (the Pipelines filter runs in our bridge server). Only in-process (a Function) does the
        # filter know the running Open WebUI's version, which becomes Langfuse's release.
        assert list(attributes["langfuse.trace.tags"]) == ["open-webui", attributes["openwebui.host"]]
        if host == "functions":
            assert attributes["openwebui.version"] == OPENWEBUI_VERSION
            assert attributes["langfuse.release"] == OPENWEBUI_VERSION
        else:
            assert "openwebui.version" not in attributes


def test_jaeger_has_the_same_traces_without_content(host: str, chats: Chats, stack: Stack) -> None:
    for user_text, span in [*chats.turns.items(), *((s["name"], s) for s in chats.tasks)]:
        _, stored = wait_jaeger_span(stack, span["trace_id"], span["span_id"])
        assert stored["operationName"] == span["name"]
        tags = jaeger_tags(stored)
        assert tags["openwebui.host"] == HOST_ATTRIBUTE[host]
        for key in CONTENT_KEYS:
            assert key not in tags, (user_text, key)
        for key in (
            "gen_ai.usage.input_tokens",
            "gen_ai.usage.output_tokens",
            "gen_ai.response.time_to_first_chunk",
            "openwebui.task",
        ):
            assert tags.get(key) == span["attributes"].get(key), (user_text, key)
        assert "langfuse.trace.name" not in tags  # Langfuse-only attributes stay out of Jaeger


# --- pipelines: the bridge server as Open WebUI's Pipelines connection ------------------------------------------


@PIPELINES
def test_open_webui_takes_the_bridge_as_a_pipelines_connection_with_its_filter(instance: Instance) -> None:
    assert instance.bridge is not None
    models = instance.api.models()
    # Filters are hidden from the model list; the chat model is there.
    assert [m["id"] for m in models] == [MODEL]
    pipelines = instance.api.get("/api/v1/pipelines/list")["data"]
    assert pipelines == [{"url": instance.bridge.url, "idx": 1}]
    listed = instance.api.get("/api/v1/pipelines/?urlIdx=1")["data"]
    assert [(p["id"], p["type"]) for p in listed] == [(FILTER_ID, "filter")]


@PIPELINES
def test_title_task_and_background_tasks_are_records_in_their_turns_trace(chats: Chats) -> None:
    assert "Mock Conversation" in str(chats.title)
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
        assert span["name"] == task
        assert span["attributes"]["openwebui.host"] == "bridge"
        assert span["attributes"]["openwebui.turn.end_reason"] == "task"
        # A record of the call, never a GENERATION Langfuse would price on its own estimate.
        assert span["attributes"]["langfuse.observation.type"] == "event"
        assert "gen_ai.request.model" not in span["attributes"] and "gen_ai.operation.name" not in span["attributes"]
    (ui,) = chats.ui
    background = [s for s in chats.tasks if s["attributes"].get("openwebui.chat.id") == ui.chat_id]
    assert sorted(s["attributes"]["openwebui.task"] for s in background) == sorted(BACKGROUND_TASKS)
    # The web-UI turn's background tasks (after its outlet) are inside its trace, under its span; the turn names it.
    ui_turn = chats.turns[ui.content]
    assert ui_turn["trace_id"] == turn_trace_id(ui.chat_id, ui.message_id)  # what a rating derives
    for span in background:
        assert (span["trace_id"], span["parent_span_id"]) == (ui_turn["trace_id"], ui_turn["span_id"])
        assert "langfuse.trace.name" not in span["attributes"]
    # The explicit title task names no assistant message: its own trace, which it names.
    [explicit] = [s for s in chats.tasks if s not in background]
    assert explicit["parent_span_id"] == "" and explicit["attributes"]["langfuse.trace.name"] == "title_generation"
    # The tasks really were LLM calls, answered with their JSON.
    asked = [r["task"] for r in chats.mock_requests if r["task"]]
    assert sorted(asked) == sorted(["title_generation", *BACKGROUND_TASKS])


@PIPELINES
def test_turn_spans_link_to_open_webuis_own_request_trace_in_jaeger(
    chats: Chats, stack: Stack, progress: Progress
) -> None:
    """Open WebUI (ENABLE_OTEL) sends ``traceparent`` on its filter calls; the bridge turns it into a link."""
    for user_text, span in chats.turns.items():
        _, stored = wait_jaeger_span(stack, span["trace_id"], span["span_id"])
        links = [r for r in stored.get("references", []) if r["refType"] == "FOLLOWS_FROM"]
        # One from the inlet call and one from the outlet call.
        assert len(links) == 2, (user_text, stored.get("references"))
        for link in links:
            assert link["traceID"] != span["trace_id"], "a link into another trace, not a parent"
            linked_trace, linked = wait_jaeger_span(stack, link["traceID"], link["spanID"])
            # The linked span is Open WebUI's own client span of the filter call ...
            assert jaeger_service(linked_trace, linked) == "open-webui"
            assert linked["operationName"].startswith("POST http://"), linked["operationName"]
            assert f"/{FILTER_ID}/filter/" in linked["operationName"]
            # ... inside Open WebUI's request trace (its FastAPI server span), which also holds the bridge server's
            # span for the same call (service owui-otel-bridge), a child of that client span.
            services = {jaeger_service(linked_trace, s) for s in linked_trace["spans"]}
            assert {"open-webui", "owui-otel-bridge"} <= services, services
            operations = {s["operationName"] for s in linked_trace["spans"]}
            assert any(op.startswith("POST /api/chat/completions") for op in operations), operations
            progress(
                f"pipelines: {user_text[:12]!r} links to {linked['operationName']!r} in Open WebUI's trace "
                f"{link['traceID']} ({len(linked_trace['spans'])} spans, services {sorted(services)})"
            )


@PIPELINES
def test_the_bridge_counted_what_it_traced(chats: Chats, instance: Instance) -> None:
    assert instance.bridge is not None
    health = instance.bridge.health()
    counters = health["counters"]
    assert counters.get("turns_started") == 4, counters
    assert counters.get("turns_ended") == 4, counters
    assert counters.get("task_spans") == 4, counters
    assert health["open_turns"] == 0


# --- functions: the filter installed as a global Function ---------------------------------------------------------


@FUNCTIONS
def test_install_creates_a_global_active_filter_function(instance: Instance, installed: Any, stack: Stack) -> None:
    assert installed.returncode == 0, installed.stdout + installed.stderr
    assert f"created Function '{FILTER_ID}'" in installed.stdout
    assert "a global, active filter" in installed.stdout
    assert instance.token not in installed.stdout + installed.stderr

    record = instance.api.function(FILTER_ID)
    assert record is not None, "the Function is not listed by GET /api/v1/functions/"
    assert (record["type"], record["is_active"], record["is_global"]) == ("filter", True, True)
    valves = instance.api.get(f"/api/v1/functions/id/{FILTER_ID}/valves")
    assert valves["otlp_endpoint"] == stack.otlp_http_endpoint


@FUNCTIONS
def test_install_again_updates_in_place_and_keeps_it_active_and_global(
    instance: Instance, installed: Any, stack: Stack
) -> None:
    assert installed.returncode == 0
    again = run_cli("install", "function", "--url", instance.owui.url, "--token", instance.token)
    assert again.returncode == 0, again.stdout + again.stderr
    assert f"updated Function '{FILTER_ID}'" in again.stdout
    record = instance.api.function(FILTER_ID)
    assert record is not None
    # The toggles flip: a second install must not turn the filter off.
    assert (record["type"], record["is_active"], record["is_global"]) == ("filter", True, True)
    # Valves survive an update without --valve.
    assert instance.api.get(f"/api/v1/functions/id/{FILTER_ID}/valves")["otlp_endpoint"] == stack.otlp_http_endpoint


@FUNCTIONS
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
    assert f"--url {url}: cannot reach Open WebUI there" in done.stderr
    assert "Fix: start it" in done.stderr
    assert "whatever-token-e2e" not in done.stderr
    assert "Traceback" not in done.stderr


@FUNCTIONS
def test_input_messages_hold_the_whole_conversation_sent(chats: Chats) -> None:
    third = chats.calls[2]
    inputs = messages(chats.turns[third.user_text], "gen_ai.input.messages")
    assert [m["role"] for m in inputs] == ["user", "assistant", "user", "assistant", "user"]
    assert inputs[1]["parts"][0]["content"] == chats.calls[0].reply


@FUNCTIONS
def test_web_ui_turns_end_active_and_carry_conversation_and_user_message_ids_but_functions_see_no_tasks(
    chats: Chats,
) -> None:
    ui1, ui2 = chats.ui
    assert ui1.chat_id == ui2.chat_id
    for turn in chats.ui:
        assert turn.event_types[-1] == "chat:active", turn.event_types
        attributes = chats.turns[turn.content]["attributes"]
        assert attributes["gen_ai.conversation.id"] == turn.chat_id
        assert attributes["openwebui.user_message.id"] == turn.user_message_id
    # The web UI's background tasks reached the LLM, but Functions never see tasks: no task spans.
    tasks = {r["task"] for r in chats.mock_requests if r["task"]}
    assert set(BACKGROUND_TASKS) <= tasks
    assert chats.tasks == []


@FUNCTIONS
def test_turn_spans_are_roots_without_links_in_jaeger(chats: Chats, stack: Stack) -> None:
    """Open WebUI's own OTel is off here: no caller span to link to."""
    for span in chats.turns.values():
        _, stored = wait_jaeger_span(stack, span["trace_id"], span["span_id"])
        assert not stored.get("references"), stored.get("references")

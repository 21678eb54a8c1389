# SPDX-License-Identifier: Apache-2.0
"""``owui-otel demo``: replay recorded Open WebUI turns through the running bridge server.

The payloads in ``demo_data/`` are real Open WebUI 0.12.4 requests (copies of
tests/fixtures/openwebui, kept equal by a test). Each run gives every chat, message and user id
a fresh uuid, so repeated demos never look like duplicate outlets, and plays the recorded model (``mock-gpt``, which
has no price) as :data:`DEMO_MODEL`, so the demo's turns carry a cost. The requests go over HTTP
exactly as Open WebUI sends them (``POST /{filter}/filter/inlet|outlet`` with ``{"body","user"}``
and the Bearer key), in Open WebUI's order.

    report = run_demo(bridge_url, api_key, jaeger_url)
    for turn in report.turns: print(turn.label, turn.summary, turn.trace_ids, turn.chat_id)
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import httpx

from otel_filter.semconv import OPENWEBUI_MESSAGE_ID, OPENWEBUI_TASK
from owui_otel import DEFAULT_FILTER_ID
from owui_otel._errors import OwuiOtelError
from owui_otel._jaeger_query import SpanNode, search_traces, span_trees
from owui_otel._traces import span_facts

_IDS = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|msg_[0-9a-f]{24}")
Progress = Callable[[str], None]


@dataclass
class Step:
    hook: str
    payload: dict[str, Any]


@dataclass
class Scenario:
    label: str
    steps: list[Step]
    stopped: bool = False  # no outlet: the demo ends it as an abandoned turn


@dataclass
class DemoTurn:
    label: str
    search: tuple[str, str]  # (attribute, value) that finds the trace in Jaeger
    chat_id: str  # `owui-otel traces --chat <chat_id>` shows the turn (API calls have one too: a fresh uuid)
    trace_ids: list[str] = field(default_factory=list)
    summary: str = ""


@dataclass
class DemoReport:
    turns: list[DemoTurn]
    jaeger_url: str
    user_ids: list[str] = field(default_factory=list)  # this run's (fresh) users: the usage report selects them


DEMO_MODEL = "gpt-4o-mini"
"""The model the demo's turns name (priced by genai-prices); the recordings say ``mock-gpt``."""


def _load(name: str) -> dict[str, Any]:
    text = resources.files("owui_otel.demo_data").joinpath(f"{name}.json").read_text(encoding="utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


def _fresh_ids(text: str, mapping: dict[str, str]) -> str:
    def replace(match: re.Match[str]) -> str:
        old = match.group(0)
        if old not in mapping:
            mapping[old] = f"msg_{uuid.uuid4().hex[:24]}" if old.startswith("msg_") else str(uuid.uuid4())
        return mapping[old]

    return _IDS.sub(replace, text)


def scenarios() -> list[Scenario]:
    """The demo's turns, with fresh ids (one mapping for the whole run keeps the 3-turn chat one chat)."""
    mapping: dict[str, str] = {}

    def step(hook: str, name: str) -> Step:
        text = _fresh_ids(json.dumps(_load(name)), mapping).replace('"mock-gpt"', json.dumps(DEMO_MODEL))
        return Step(hook, json.loads(text))

    error_outlet = step("outlet", "ui_nonstream_outlet")
    reply = error_outlet.payload["body"]["messages"][-1]
    reply["content"] = ""
    reply.pop("usage", None)
    reply.pop("info", None)
    reply["error"] = {"content": "Upstream provider answered 429: rate limit exceeded (demo)"}
    return [
        Scenario(
            "multi-turn chat, turn 1 (streaming; title, tags and follow-up tasks)",
            [
                step("inlet", "ui_stream_turn1_title_generation_inlet"),
                step("inlet", "ui_stream_turn1_inlet"),
                step("outlet", "ui_stream_turn1_outlet"),
                step("inlet", "ui_stream_turn1_follow_up_generation_inlet"),
                step("inlet", "ui_stream_turn1_tags_generation_inlet"),
            ],
        ),
        Scenario(
            "multi-turn chat, turn 2",
            [step("inlet", "ui_stream_turn2_inlet"), step("outlet", "ui_stream_turn2_outlet")],
        ),
        Scenario(
            "multi-turn chat, turn 3",
            [step("inlet", "ui_stream_turn3_inlet"), step("outlet", "ui_stream_turn3_outlet")],
        ),
        Scenario(
            "API call, streaming with usage",
            [step("inlet", "api_stream_include_usage_inlet"), step("outlet", "api_stream_include_usage_outlet")],
        ),
        Scenario("turn stopped by the user (no outlet)", [step("inlet", "ui_stream_error_inlet")], stopped=True),
        Scenario("turn that failed at the provider", [step("inlet", "ui_nonstream_inlet"), error_outlet]),
    ]


def _search_key(scenario: Scenario) -> tuple[str, str]:
    for step in scenario.steps:
        metadata = step.payload["body"].get("metadata") or {}
        if step.hook == "inlet" and not metadata.get("task") and metadata.get("message_id"):
            return OPENWEBUI_MESSAGE_ID, metadata["message_id"]
    outlet = next(s for s in scenario.steps if s.hook == "outlet")
    return OPENWEBUI_MESSAGE_ID, outlet.payload["body"]["id"]


def replay(client: httpx.Client, filter_id: str, scenario: Scenario, pause_s: float = 0.0) -> None:
    for step in scenario.steps:
        if step.hook == "outlet" and pause_s:
            time.sleep(pause_s)  # the model "answering", so the spans show a duration
        response = client.post(f"/{filter_id}/filter/{step.hook}", json=step.payload)
        if response.status_code == 401:
            raise OwuiOtelError("the bridge server refused the API key; is the stack from `owui-otel up` running?")
        response.raise_for_status()
        if response.json() != step.payload["body"]:
            raise OwuiOtelError(f"the bridge server changed a {step.hook} body: that must never happen")
    if scenario.stopped:
        key = _search_key(scenario)[1]
        client.post("/admin/end-open-turns", json={"message_ids": [key]}).raise_for_status()


def _find_turns(jaeger_url: str, service: str, attribute: str, value: str) -> list[SpanNode]:
    """The turn spans (roots) of the traces that hold ``attribute=value``; none while Jaeger is not there yet."""
    try:
        found = search_traces(jaeger_url, service=service, tags={attribute: value}, limit=20)
    except OwuiOtelError:
        return []  # polled again until the deadline; the caller reports what stays missing
    # A follow-up task names the turn's message too: keep the turn itself.
    roots = [root for trace in found for root in span_trees(trace)]
    return [root for root in roots if OPENWEBUI_TASK not in root.tags]


def _chat_id(scenario: Scenario) -> str:
    for step in scenario.steps:
        chat_id = (step.payload["body"].get("metadata") or {}).get("chat_id")
        if chat_id:
            return str(chat_id)
    return ""


def run_demo(
    bridge_url: str,
    api_key: str,
    jaeger_url: str,
    *,
    filter_id: str = DEFAULT_FILTER_ID,
    service: str = "open-webui",
    wait_s: float = 30.0,
    pause_s: float = 0.4,
    progress: Progress = print,
) -> DemoReport:
    """Replay the demo turns, then wait until Jaeger has each main turn's trace."""
    demo = scenarios()
    with httpx.Client(base_url=bridge_url, headers={"Authorization": f"Bearer {api_key}"}, timeout=10.0) as client:
        try:
            client.get("/ready").raise_for_status()
        except httpx.HTTPError as error:
            raise OwuiOtelError(
                f"cannot reach the bridge server at {bridge_url} ({error}); start it with `owui-otel up`"
            ) from error
        for scenario in demo:
            progress(f"  replaying: {scenario.label}")
            replay(client, filter_id, scenario, pause_s=pause_s)
    turns = [DemoTurn(s.label, _search_key(s), _chat_id(s)) for s in demo]
    progress("waiting for the traces in Jaeger (spans are exported in batches every few seconds) ...")
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline and not all(t.trace_ids for t in turns):
        for turn in turns:
            if not turn.trace_ids:
                found = _find_turns(jaeger_url, service, *turn.search)
                turn.trace_ids = [root.trace_id for root in found]
                turn.summary = f"{found[0].name}, {', '.join(span_facts(found[0], with_ids=False))}" if found else ""
        time.sleep(1.0)
    missing = [t.label for t in turns if not t.trace_ids]
    if missing:
        raise OwuiOtelError(
            f"Jaeger at {jaeger_url} shows no trace for: {'; '.join(missing)}. "
            "Run `owui-otel doctor` to find the broken link."
        )
    users = {
        step.payload["user"].get("id") for s in demo for step in s.steps if isinstance(step.payload.get("user"), dict)
    }
    return DemoReport(turns=turns, jaeger_url=jaeger_url, user_ids=sorted(str(user) for user in users if user))

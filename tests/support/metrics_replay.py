# SPDX-License-Identifier: Apache-2.0
"""Replay a varied set of recorded Open WebUI turns through a real filter, and total the spans that resulted.

The turns come from the recorded ``pipelines_ui_stream_turn1`` payloads (inlet, outlet, title task), each with
fresh ids and with the model, the user, the user's role and the reported usage changed per turn; some turns get no
outlet (the filter ends them as ``abandoned`` errors after ``turn_timeout_seconds``), some are followed by a title
task call. Models are priced by ``price_overrides`` (and ``gpt-4o-mini`` by genai-prices), so the filter puts a
cost on them. Ground truth for the metrics is what the spans themselves say, read back from Jaeger.

Usage::

    pipeline = make_pipeline(endpoint, **REPLAY_VALVES)
    plan = replay_plan()
    asyncio.run(replay(pipeline, plan))
    totals = wait_for_span_totals(jaeger_url, plan)          # SpanTotals: tokens / cost / turns per model and user
"""

from __future__ import annotations

import copy
import json
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx

from tests.support.scenarios import FIXTURES

__all__ = [
    "FUNCTION_SCENARIOS",
    "REPLAY_VALVES",
    "PlannedTurn",
    "SpanTotals",
    "nano_usd",
    "replay",
    "replay_plan",
    "wait_for_span_totals",
]

_INLET = "pipelines_ui_stream_turn1_inlet.json"
_OUTLET = "pipelines_ui_stream_turn1_outlet.json"
_TITLE_TASK = "pipelines_ui_stream_turn1_title_generation_inlet.json"
_RECORDED_MODEL = "mock-gpt"
_RECORDED_USER = "e7ef1609-1bfc-40e9-b692-49a9cc09fe02"
_RECORDED_IDS = (  # assistant message, user message, chat, task (as in tests.support.turns)
    "62b773af-0938-43b7-a6d2-b959b61cd457",
    "05aaf15b-cb15-40cf-87b9-51def5595aee",
    "5ebb5e33-e6c7-4f28-98ed-b870a4078d3f",
    "ed9506c6-b1e1-4b47-8aa8-b63fb2718c9c",
)
SERVICE = "open-webui"

REPLAY_VALVES: dict[str, Any] = {
    # Prices with many decimals on purpose: float sums of such costs differ by order, the metrics must not.
    "price_overrides": json.dumps(
        {"acme-large*": {"input": 3.3333, "output": 15.0007}, "acme-small*": {"input": 0.1517, "output": 0.6031}}
    ),
    "turn_timeout_seconds": 1,
}
"""Filter valves for the replay (besides ``otlp_endpoint``)."""

FUNCTION_SCENARIOS = ("ui_stream_turn1", "ui_stream_turn2")
"""Recorded streamed turns replayed through the Function host (``tests.support.scenarios.replay_function``): the
turns that know their time to first chunk (model ``mock-gpt``, unpriced; host ``functions``)."""

_MODELS = ("acme-large-1", "acme-small-2", "gpt-4o-mini")
_USERS = (("u-alice", "admin"), ("u-bob", "user"), ("u-carol", "user"))


@dataclass(frozen=True, slots=True)
class PlannedTurn:
    """One turn of the replay: who, which model, the usage the outlet reports, and what else happens."""

    model: str
    user_id: str
    role: str
    input_tokens: int
    output_tokens: int
    abandoned: bool = False
    title_task: bool = False


def replay_plan() -> list[PlannedTurn]:
    """24 turns over 3 models and 3 users (2 roles): 3 abandoned, 4 with a title task call."""
    plan = []
    for index in range(24):
        model = _MODELS[index % len(_MODELS)]
        user_id, role = _USERS[(index // 2) % len(_USERS)]
        plan.append(
            PlannedTurn(
                model=model,
                user_id=user_id,
                role=role,
                input_tokens=17 + 131 * index,
                output_tokens=5 + 977 * (index % 5) + index,
                abandoned=index % 8 == 5,
                title_task=index % 6 == 1,
            )
        )
    return plan


def _text(name: str) -> str:
    return (FIXTURES / name).read_text(encoding="utf-8")


def _fresh(text: str, turn: PlannedTurn) -> dict[str, Any]:
    for old in _RECORDED_IDS:
        text = text.replace(old, str(uuid.uuid4()))
    text = text.replace(_RECORDED_USER, turn.user_id).replace(_RECORDED_MODEL, turn.model)
    payload: dict[str, Any] = json.loads(text)
    return payload


def _with_usage(outlet: dict[str, Any], turn: PlannedTurn) -> dict[str, Any]:
    usage = {
        "prompt_tokens": turn.input_tokens,
        "completion_tokens": turn.output_tokens,
        "total_tokens": turn.input_tokens + turn.output_tokens,
    }
    reply = outlet["body"]["messages"][-1]
    reply["usage"] = copy.deepcopy(usage)
    reply["info"] = {"usage": copy.deepcopy(usage)}
    return outlet


async def replay(pipeline: Any, plan: list[PlannedTurn]) -> None:
    """Run the plan through a Pipelines-style filter (inlet, then outlet unless abandoned; title tasks after)."""
    inlet_text, outlet_text, task_text = _text(_INLET), _text(_OUTLET), _text(_TITLE_TASK)
    for turn in plan:
        # One text for both hooks, so inlet and outlet share the turn's fresh ids.
        combined = _fresh(json.dumps({"inlet": json.loads(inlet_text), "outlet": json.loads(outlet_text)}), turn)
        inlet, outlet = combined["inlet"], _with_usage(combined["outlet"], turn)
        user = {**inlet["user"], "role": turn.role}
        body = inlet["body"]
        returned = await pipeline.inlet(body, user)
        assert returned is body
        if not turn.abandoned:
            returned = await pipeline.outlet(outlet["body"], user)
            assert returned is outlet["body"]
        if turn.title_task:
            task = _fresh(task_text, turn)
            task_user = {**task["user"], "role": turn.role}
            await pipeline.inlet(task["body"], task_user)


def nano_usd(cost: float) -> int:
    """A span's ``gen_ai.usage.cost`` as the metrics record it: integer nano-USD, rounded half up."""
    return int(cost * 1_000_000_000.0 + 0.5)


@dataclass
class SpanTotals:
    """Sums over the spans Jaeger stored, keyed like the PromQL ``sum by (...)`` results."""

    turns: int = 0
    task_calls: Counter[str] = field(default_factory=Counter)
    tokens_by_model: dict[tuple[str, str], int] = field(default_factory=dict)  # (model, input|output)
    tokens_by_user: dict[tuple[str, str], int] = field(default_factory=dict)  # (user, input|output)
    nano_usd_by_model: Counter[str] = field(default_factory=Counter)
    nano_usd_by_user: Counter[str] = field(default_factory=Counter)
    turns_by_user: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    models: set[str] = field(default_factory=set)
    hosts: Counter[str] = field(default_factory=Counter)
    with_time_to_first_chunk: int = 0

    def add(self, tags: dict[str, Any]) -> None:
        """Count one span's tags (a turn: has ``gen_ai.operation.name``; a task call: has ``openwebui.task``)."""
        if "gen_ai.operation.name" not in tags:
            if "openwebui.task" in tags:
                self.task_calls[str(tags["openwebui.task"])] += 1
            return
        self.turns += 1
        model, user = str(tags.get("gen_ai.request.model", "")), str(tags.get("user.id", ""))
        self.models.add(model)
        self.turns_by_user[user] += 1
        self.hosts[str(tags.get("openwebui.host", ""))] += 1
        if "gen_ai.response.time_to_first_chunk" in tags:
            self.with_time_to_first_chunk += 1
        if "error.type" in tags:
            self.errors[str(tags["error.type"])] += 1
        for token_type in ("input", "output"):
            count = tags.get(f"gen_ai.usage.{token_type}_tokens")
            if count is not None:
                for table, key in ((self.tokens_by_model, model), (self.tokens_by_user, user)):
                    table[(key, token_type)] = table.get((key, token_type), 0) + int(count)
        cost = tags.get("gen_ai.usage.cost")
        if cost is not None:
            self.nano_usd_by_model[model] += nano_usd(float(cost))
            self.nano_usd_by_user[user] += nano_usd(float(cost))


def _jaeger_spans(jaeger_url: str) -> list[dict[str, Any]]:
    answer = httpx.get(
        f"{jaeger_url}/api/traces", params={"service": SERVICE, "limit": 1000, "lookback": "1h"}, timeout=30
    )
    answer.raise_for_status()
    return [span for trace in answer.json().get("data") or [] for span in trace["spans"]]


def wait_for_span_totals(jaeger_url: str, turns: int, plan: list[PlannedTurn], *, timeout: float = 60.0) -> SpanTotals:
    """Wait until Jaeger holds ``turns`` turns and the plan's task calls, then total their spans."""
    tasks = sum(turn.title_task for turn in plan)
    deadline = time.monotonic() + timeout
    while True:
        totals = SpanTotals()
        for span in _jaeger_spans(jaeger_url):
            totals.add({tag["key"]: tag["value"] for tag in span.get("tags") or []})
        if totals.turns >= turns and sum(totals.task_calls.values()) >= tasks:
            return totals
        if time.monotonic() > deadline:
            raise AssertionError(f"Jaeger has {totals.turns}/{turns} turns, {totals.task_calls} of {tasks} tasks")
        time.sleep(0.5)

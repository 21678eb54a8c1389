# SPDX-License-Identifier: Apache-2.0
"""Realistic chat turns from the recorded Open WebUI payloads, each with fresh ids, driven through a real filter.

    factory = TurnFactory()
    turn = factory.make(content="my key is sk-...")      # inlet + outlet payloads of one main chat turn
    stats = HookStats()
    await run_turn(pipeline, turn, stats)                 # inlet then outlet, each timed and checked
    turns = await stream_turns(pipeline, factory, stats, count=40, rate_hz=20)

A *chat failure* is a hook that raised or did not hand back the very body it was given (Open WebUI would then
abort or alter the chat); :class:`HookStats` counts them and the slowest hook call.
"""

from __future__ import annotations

import asyncio
import copy
import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from tests.support.scenarios import FIXTURES

INLET = "pipelines_ui_stream_turn1_inlet.json"
TITLE_TASK = "pipelines_ui_stream_turn1_title_generation_inlet.json"  # its prompt quotes the chat history
OUTLET = "pipelines_ui_stream_turn1_outlet.json"
USER_TEXT = "Hello, who are you?"
REPLY_TEXT = "Hello from mock-gpt. This is reply number 1."
# Ids in the recorded pair that make a turn unique: assistant message, user message, chat, task.
_RECORDED_IDS = (
    "62b773af-0938-43b7-a6d2-b959b61cd457",
    "05aaf15b-cb15-40cf-87b9-51def5595aee",
    "5ebb5e33-e6c7-4f28-98ed-b870a4078d3f",
    "ed9506c6-b1e1-4b47-8aa8-b63fb2718c9c",
)
USER_EMAIL = "admin@example.com"  # the recorded user's email (also in the inlet's metadata.variables)


@dataclass(frozen=True)
class Turn:
    message_id: str
    user: dict[str, Any]
    inlet: dict[str, Any]
    outlet: dict[str, Any]


def _json_fragment(text: str) -> str:
    """``text`` as it appears inside a JSON string literal."""
    return json.dumps(text)[1:-1]


class TurnFactory:
    """Builds turns from the recorded ``ui_stream_turn1`` inlet/outlet pair, replacing its ids (and texts)."""

    def __init__(self) -> None:
        self._inlet = (FIXTURES / INLET).read_text(encoding="utf-8")
        self._outlet = (FIXTURES / OUTLET).read_text(encoding="utf-8")
        self._task = (FIXTURES / TITLE_TASK).read_text(encoding="utf-8")
        self.made: list[Turn] = []

    def _fresh(self, text: str, ids: list[str], content: str | None, reply: str | None) -> Any:
        for old, new in zip(_RECORDED_IDS, ids, strict=True):
            text = text.replace(old, new)
        if content is not None:
            text = text.replace(_json_fragment(USER_TEXT), _json_fragment(content))
        if reply is not None:
            text = text.replace(_json_fragment(REPLY_TEXT), _json_fragment(reply))
        return json.loads(text)

    def make(self, *, content: str | None = None, reply: str | None = None) -> Turn:
        """A new turn; ``content``/``reply`` replace the user's message and the model's reply."""
        fresh = [str(uuid.uuid4()) for _ in _RECORDED_IDS]
        inlet, outlet = (self._fresh(text, fresh, content, reply) for text in (self._inlet, self._outlet))
        turn = Turn(message_id=fresh[0], user=inlet["user"], inlet=inlet["body"], outlet=outlet["body"])
        self.made.append(turn)
        return turn

    def title_task(self, *, content: str | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
        """(body, user) of a title-generation task call whose prompt quotes ``content`` as the chat history."""
        recorded = self._fresh(self._task, [str(uuid.uuid4()) for _ in _RECORDED_IDS], content, None)
        return recorded["body"], recorded["user"]


@dataclass
class HookStats:
    """What the chat would have seen: failures and the slowest hook call."""

    calls: int = 0
    failures: list[str] = field(default_factory=list)
    max_latency_s: float = 0.0

    def record(self, hook: str, started: float, sent: object, returned: object, error: BaseException | None) -> None:
        self.calls += 1
        self.max_latency_s = max(self.max_latency_s, time.perf_counter() - started)
        if error is not None:
            self.failures.append(f"{hook} raised {error!r}")
        elif returned is not sent:
            self.failures.append(f"{hook} did not return the body it was given")


async def run_turn(pipeline: Any, turn: Turn, stats: HookStats) -> None:
    """Inlet then outlet of one turn, as Open WebUI calls a Pipelines filter (each on a copy it owns)."""
    for hook, payload in (("inlet", turn.inlet), ("outlet", turn.outlet)):
        body = copy.deepcopy(payload)
        user = copy.deepcopy(turn.user)
        started = time.perf_counter()
        returned: object = None
        error: BaseException | None = None
        try:
            returned = await getattr(pipeline, hook)(body, user)
        except Exception as exc:  # a chat failure: recorded, asserted by the test
            error = exc
        stats.record(hook, started, body, returned, error)


async def stream_turns(
    pipeline: Any,
    factory: TurnFactory,
    stats: HookStats,
    *,
    count: int | None = None,
    duration_s: float | None = None,
    rate_hz: float = 20.0,
    content: str | None = None,
) -> list[Turn]:
    """Run turns at ``rate_hz`` until ``count`` turns or ``duration_s`` seconds; returns the turns sent."""
    if count is None and duration_s is None:
        raise ValueError("give count or duration_s")
    sent: list[Turn] = []
    interval = 1.0 / rate_hz
    start = time.monotonic()
    while True:
        if count is not None and len(sent) >= count:
            break
        if duration_s is not None and time.monotonic() - start >= duration_s:
            break
        turn = factory.make(content=content)
        await run_turn(pipeline, turn, stats)
        sent.append(turn)
        # Pace by schedule, not by sleep after work: a slow hook does not lower the rate.
        delay = start + len(sent) * interval - time.monotonic()
        await asyncio.sleep(max(delay, 0.0))
    return sent

# SPDX-License-Identifier: Apache-2.0
"""Replay the captured Open WebUI 0.12.4 scenarios (tests/fixtures/openwebui) through a host.

The order of calls follows what Open WebUI 0.12 does: a new chat's title task runs before the
main inlet; the outlet runs inline when the reply is done, before follow-up and tag tasks; the
legacy ``/api/chat/completed`` outlet comes after the inline one. Functions get the recorded
dunder parameters, and one ``__metadata__`` object shared by inlet, stream and outlet of a
request (Open WebUI passes ``ctx['metadata']`` to all three).
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.support.owui_hosts import FunctionHost

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "openwebui"
INDEX: dict[str, dict[str, Any]] = json.loads((FIXTURES / "index.json").read_text())

SCENARIOS = sorted(
    {meta["scenario"] for name, meta in INDEX.items() if name.startswith("pipelines_") and "scenario" in meta}
)
FUNCTION_SCENARIOS = sorted(
    {
        meta["scenario"]
        for name, meta in INDEX.items()
        if name.startswith("functions_") and meta.get("phase") in ("inlet", "outlet", "stream")
    }
)
_BEFORE_MAIN_TASKS = ("title_generation",)


def load(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


@dataclass
class Step:
    hook: str  # inlet | outlet | stream
    file: str
    task: str | None = None


def pipelines_steps(scenario: str) -> list[Step]:
    files = {n: m for n, m in INDEX.items() if n.startswith("pipelines_") and m.get("scenario") == scenario}
    main_inlets = [n for n, m in files.items() if m["phase"] == "inlet" and not m.get("task")]
    tasks = sorted(n for n, m in files.items() if m["phase"] == "inlet" and m.get("task"))
    outlets = sorted(
        (n for n, m in files.items() if m["phase"] == "outlet"), key=lambda n: "chat_completed" in n
    )  # inline outlet first, the deprecated /api/chat/completed one after
    steps = [Step("inlet", n, files[n]["task"]) for n in tasks if files[n]["task"] in _BEFORE_MAIN_TASKS]
    steps += [Step("inlet", n) for n in main_inlets]
    steps += [Step("outlet", n) for n in outlets]
    steps += [Step("inlet", n, files[n]["task"]) for n in tasks if files[n]["task"] not in _BEFORE_MAIN_TASKS]
    return steps


async def replay_pipelines(pipeline: Any, scenario: str, pause_s: float = 0.0) -> list[tuple[Step, Any, Any]]:
    """Run one scenario; returns (step, payload sent, object returned) per call."""
    calls = []
    for step in pipelines_steps(scenario):
        recorded = load(step.file)
        body, user = recorded["body"], recorded["user"]
        if step.hook == "outlet" and pause_s:
            await asyncio.sleep(pause_s)  # the model "generating"
        returned = await getattr(pipeline, step.hook)(body, user)
        calls.append((step, body, returned))
    return calls


def replay_pipelines_and_stop(pipeline: Any, *scenarios: str) -> None:
    """Run ``scenarios`` one after the other through a Pipelines ``pipeline``, then stop the server: its
    ``on_shutdown`` parks the open turns and no instance adopts them, so every span is written (those turns as
    abandoned) before this returns."""

    async def run() -> None:
        for scenario in scenarios:
            await replay_pipelines(pipeline, scenario)
        await pipeline.on_shutdown()
        pipeline.end_parked_turns()

    asyncio.run(run())


def function_files(scenario: str) -> dict[str, str]:
    """phase -> file for a Functions scenario (keys: inlet, stream, outlet, chat_completed)."""
    result: dict[str, str] = {}
    for name, meta in INDEX.items():
        if not name.startswith("functions_") or meta.get("scenario") != scenario:
            continue
        phase = meta["phase"]
        result["chat_completed" if "chat_completed" in name else phase] = name
    return result


_DUNDERS_FROM_FIXTURE = ("__user__", "__model__", "__chat_id__", "__message_id__", "__oauth_token__", "__request__")


async def replay_function(host: FunctionHost, scenario: str, pause_s: float = 0.0) -> list[tuple[str, Any, Any]]:
    """Run one Functions scenario through ``host``; returns (hook, payload sent, object returned)."""
    files = function_files(scenario)
    calls: list[tuple[str, Any, Any]] = []
    inlet = load(files["inlet"])
    metadata = inlet["__metadata__"]  # one object per request, as in Open WebUI
    extra = {k: inlet[k] for k in _DUNDERS_FROM_FIXTURE if k in inlet} | {"__metadata__": metadata}
    calls.append(("inlet", inlet["body"], await host.call("inlet", inlet["body"], extra)))
    if "stream" in files:
        recorded = load(files["stream"])
        for event in recorded["events"]:
            if pause_s:
                await asyncio.sleep(pause_s / max(len(recorded["events"]), 1))
            calls.append(("stream", event, await host.call("stream", event, extra)))
    elif pause_s:
        await asyncio.sleep(pause_s)
    for phase in ("outlet", "chat_completed"):
        if phase not in files:
            continue
        recorded = load(files[phase])
        outlet_extra = {"__user__": recorded["__user__"], "__model__": recorded.get("__model__")}
        # The inline outlet shares the request's metadata; /api/chat/completed is a new request.
        outlet_extra["__metadata__"] = metadata if phase == "outlet" else recorded["__metadata__"]
        calls.append((phase, recorded["body"], await host.call("outlet", recorded["body"], outlet_extra)))
    return calls

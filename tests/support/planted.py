# SPDX-License-Identifier: Apache-2.0
"""Payloads with a unique marker planted in every content field, for "nothing leaves" tests.

Two sources: every recorded Open WebUI fixture (tests/fixtures/openwebui), with a marker added to
every string that is not an identifier (``plant_fixture``), and hand-built turns that hold every
message, reply, tool-call and error shape the filter reads (``all_shapes_turns``). A marker is
``MRK<4 digits>Q``: ``MARKER_PATTERN`` as a redaction pattern matches all of them, and
``find_markers`` says which leaked and from which field.

    planter = Planter()
    inlet, outlet = all_shapes_turns(planter)[0]
    ...
    assert find_markers(exported_text) == set()
    planter.fields["MRK0007Q"]        # "inlet.messages[3].tool_calls[0].function.arguments.query"
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from typing import Any

from tests.support.scenarios import SCENARIOS, load, pipelines_steps

MARKER_PATTERN = r"MRK\d{4}Q"
_MARKER = re.compile(MARKER_PATTERN)

# Identifiers and metadata (exported as they are, see otel_filter/_redact.py): no marker goes there, so
# the payload stays what Open WebUI would send (ids still correlate, models still resolve).
IDENTIFIER_KEYS = frozenset(
    {
        "id",
        "chat_id",
        "message_id",
        "user_id",
        "user_message_id",
        "assistant_message_id",
        "regeneration_message_id",
        "parent_message_id",
        "parentId",
        "childrenIds",
        "session_id",
        "task_id",
        "model",
        "models",
        "base_model_id",
        "owned_by",
        "role",
        "type",
        "task",
        "finish_reason",
        "object",
        "connection_type",
    }
)
# Subtrees that describe the model (its name is an identifier exported as openwebui.model.name).
_MODEL_SUBTREES = frozenset({"model", "__model__"})


@dataclass
class Planter:
    """Hands out unique markers and remembers where each went. The same original text gets the same
    marker wherever it appears, so an outlet still repeats its inlet's conversation."""

    fields: dict[str, str] = field(default_factory=dict)
    never_exported: set[str] = field(default_factory=set)  # markers in fields no span ever carries
    _by_text: dict[str, str] = field(default_factory=dict)

    def marker(self, where: str, *, exported: bool = True) -> str:
        marker = f"MRK{len(self.fields):04d}Q"
        self.fields[marker] = where
        if not exported:
            self.never_exported.add(marker)
        return marker

    def text(self, where: str, original: str | None = None, *, exported: bool = True) -> str:
        """A text with a marker inside: ``original`` (the same marker for the same original text),
        or a text of its own for the field ``where``."""
        key = f"{where if original is None else original}\x00{exported}"
        if key not in self._by_text:
            self._by_text[key] = self.marker(where, exported=exported)
        return f"{original or 'text'} {self._by_text[key]} end"


def find_markers(text: str) -> set[str]:
    return set(_MARKER.findall(text))


# --- fixtures, planted ---------------------------------------------------------------------------------------------


def plant_fixture(value: Any, planter: Planter, path: str = "") -> Any:
    """A copy of a recorded payload with a marker added to every string that is not an identifier."""
    if isinstance(value, dict):
        result: dict[str, Any] = {}
        for key, item in value.items():
            where = f"{path}.{key}" if path else str(key)
            if key in IDENTIFIER_KEYS or (key in _MODEL_SUBTREES and isinstance(item, dict)):
                result[key] = copy.deepcopy(item)
            elif key == "features" and isinstance(item, dict):
                result[key] = dict(item) | {planter.marker(f"{where} (unknown key)", exported=False): True}
            else:
                result[key] = plant_fixture(item, planter, where)
        return result
    if isinstance(value, list):
        return [plant_fixture(item, planter, f"{path}[{index}]") for index, item in enumerate(value)]
    if isinstance(value, str):
        return planter.text(path, value)
    return value


@dataclass
class PlantedCall:
    hook: str  # inlet | outlet
    body: Any
    user: Any
    source: str


def planted_fixture_calls(planter: Planter) -> list[PlantedCall]:
    """Every Pipelines scenario's calls (in Open WebUI's order), each payload planted."""
    calls: list[PlantedCall] = []
    for scenario in SCENARIOS:
        for step in pipelines_steps(scenario):
            recorded = load(step.file)
            body = plant_fixture(recorded["body"], planter, f"{step.file}:body")
            user = copy.deepcopy(recorded["user"])
            calls.append(PlantedCall(step.hook, body, user, step.file))
    return calls


# --- every shape the filter reads ----------------------------------------------------------------------------------


def _inlet_messages(p: Planter) -> list[dict[str, Any]]:
    return [
        {"role": "system", "content": p.text("system string content")},
        {"role": "system", "content": [{"type": "text", "text": p.text("system list content")}]},
        {"role": "user", "content": p.text("user string content"), "name": p.text("user message name")},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": p.text("user text part")},
                {"type": "input_text", "text": p.text("user input_text part")},
                {"type": "image_url", "image_url": {"url": "https://img.example/" + p.marker("image url")}},
                {"type": "image_url", "image_url": "https://img.example/" + p.marker("image url as a string")},
                {"type": "input_image", "image_url": "https://img.example/" + p.marker("input_image url")},
                {
                    "type": "image_url",
                    "image_url": {
                        "url": f"data:image/{p.marker('data url mime type')};base64,"
                        + p.marker("data url payload", exported=False)
                        + "A" * 400
                    },
                },
                {"type": "input_audio", "input_audio": {"data": "AAAA", "format": p.marker("audio format")}},
                {"type": "file", "file": {"file_id": p.marker("file part file_id")}},
                {"type": "input_file", "file_id": p.marker("input_file file_id")},
                {"type": p.marker("unknown part type")},
            ],
        },
        {
            "role": "assistant",
            "content": p.text("assistant content"),
            "reasoning_content": p.text("assistant reasoning_content"),
            "name": p.text("assistant name"),
            "tool_calls": [
                {
                    "id": p.marker("tool call id"),
                    "type": "function",
                    "function": {"name": p.marker("tool call name"), "arguments": p.text("string arguments")},
                },
                {
                    "id": "call_2",
                    "type": "function",
                    "function": {
                        "name": "search",
                        "arguments": {
                            "query": p.text("object arguments value"),
                            p.marker("object arguments key"): 1,
                            "nested": {"list": [p.text("object arguments nested list item"), 2, None, True]},
                        },
                    },
                },
                "not a call",
                {"call_id": p.marker("tool call call_id"), "name": "flat", "arguments": {"a": p.text("flat args")}},
            ],
        },
        {
            "role": "tool",
            "tool_call_id": p.marker("tool message tool_call_id"),
            "name": p.text("tool message name"),
            "content": p.text("tool result"),
        },
        {"role": "tool", "tool_call_id": "call_2", "content": [{"type": "text", "text": p.text("tool list result")}]},
        {"role": p.marker("unknown role"), "content": p.text("content of an unknown role")},
        "not a message",
    ]


def _reply(p: Planter, variant: str) -> dict[str, Any]:
    if variant == "list":
        return {
            "role": "assistant",
            "content": [{"type": "output_text", "text": p.text("reply list content")}],
            "tool_calls": [
                {
                    "id": p.marker("reply tool call id"),
                    "type": "function",
                    "function": {
                        "name": p.marker("reply tool call name"),
                        "arguments": {"q": p.text("reply tool call object arguments")},
                    },
                }
            ],
            "finish_reason": "tool_calls",
        }
    if variant == "output_items":
        return {
            "role": "assistant",
            "content": "",
            "output": [
                {"type": "reasoning", "summary": [{"type": "summary_text", "text": p.text("reasoning summary")}]},
                {"type": "reasoning", "content": p.text("reasoning content string")},
                {
                    "type": "function_call",
                    "call_id": p.marker("function_call call_id"),
                    "name": p.marker("function_call name"),
                    "arguments": p.text("function_call string arguments"),
                },
                {
                    "type": "function_call",
                    "call_id": "fc2",
                    "name": "lookup",
                    "arguments": {"where": [p.text("function_call object arguments")]},
                },
            ],
        }
    if variant == "message_items":
        return {
            "role": "assistant",
            "output": [
                {"type": "message", "content": [{"type": "output_text", "text": p.text("output message item")}]}
            ],
        }
    if variant == "error_string":
        return {"role": "assistant", "content": "", "error": p.text("error as a string")}
    if variant == "error_content":
        return {"role": "assistant", "content": "", "error": {"content": p.text("error.content")}}
    if variant == "error_message":
        return {"role": "assistant", "content": "", "error": {"message": p.text("error.message")}}
    return {"role": "assistant", "content": p.text("reply string content"), "finish_reason": "stop"}


REPLY_VARIANTS = ("string", "list", "output_items", "message_items", "error_string", "error_content", "error_message")


def all_shapes_turns(planter: Planter, user: dict[str, Any]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(inlet body, outlet body) pairs covering every shape, one turn per reply variant (stop as a list
    in some, as a string in others; a task inlet is part of ``all_shapes_task``)."""
    turns = []
    for index, variant in enumerate(REPLY_VARIANTS):
        message_id = f"planted-{index}"
        messages = _inlet_messages(planter)
        stop: Any = (
            [planter.text(f"stop list item ({variant})"), 7] if index % 2 else planter.text(f"stop string ({variant})")
        )
        inlet = {
            "model": "gpt-4o",
            "stream": bool(index % 2),
            "messages": messages,
            "stop": stop,
            "features": {
                "web_search": True,
                "memory": False,
                planter.marker(f"unknown feature key ({variant})", exported=False): True,
            },
            "tool_ids": [planter.marker(f"tool_ids item ({variant})"), "web_tool"],
            "files": [{"id": "file-1", "name": planter.text("file name", exported=False)}],
            "metadata": {
                "chat_id": "chat-planted",
                "message_id": message_id,
                "user_id": user["id"],
                "user_message": {"content": planter.text("metadata.user_message.content", exported=False)},
                "variables": {"{{USER_NAME}}": planter.text("metadata.variables", exported=False)},
            },
        }
        reply = _reply(planter, variant)
        reply["id"] = message_id
        outlet = {"model": "gpt-4o", "id": message_id, "chat_id": "chat-planted", "messages": [*messages, reply]}
        turns.append((inlet, outlet))
    return turns


def all_shapes_task(planter: Planter, user: dict[str, Any]) -> dict[str, Any]:
    """A title-generation task inlet (traced at once) whose prompt quotes the chat."""
    return {
        "model": "gpt-4o",
        "stream": False,
        "messages": [{"role": "user", "content": planter.text("task prompt")}],
        "stop": [planter.text("task stop")],
        "metadata": {"chat_id": "chat-planted", "task": "title_generation", "user_id": user["id"]},
    }

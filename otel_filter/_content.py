# SPDX-License-Identifier: Apache-2.0
"""Message content -> GenAI semconv JSON (``gen_ai.input.messages`` & co.), redacted and size-bounded.

Shapes follow ``gen-ai-input-messages.json``, ``gen-ai-output-messages.json`` and
``gen-ai-system-instructions.json`` (semconv v1.41): ``{"role", "parts": [...]}`` with ``text``,
``tool_call``, ``tool_call_response``, ``reasoning``, ``uri``, ``blob`` and ``file`` parts.
Redaction runs on every text before anything is serialized; truncation shortens texts (and
drops the oldest messages when that is not enough) so the result is always valid JSON.

    redactor = Redactor([re.compile(r"sk-[A-Za-z0-9]+")])
    system, inputs = input_content(body["messages"], redactor, max_chars=20_000)
    output = output_content(reply, "stop", redactor, max_chars=20_000)
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from otel_filter._extract import message_text, normalize_finish_reason
from otel_filter._values import as_str

TRUNCATION_MARK = "…[truncated]"
_DATA_URL = re.compile(r"^data:([\w.+-]+/[\w.+-]+)?(;[^,]*)?,", re.ASCII)

Part = dict[str, Any]
Message = dict[str, Any]


class Redactor:
    """Replaces every match of the patterns with ``replacement``; a no-op without patterns."""

    __slots__ = ("_patterns", "_replacement")

    def __init__(self, patterns: Sequence[re.Pattern[str]] = (), replacement: str = "[REDACTED]") -> None:
        self._patterns = tuple(patterns)
        self._replacement = replacement

    def __bool__(self) -> bool:
        return bool(self._patterns)

    def __call__(self, text: str) -> str:
        for pattern in self._patterns:
            text = pattern.sub(self._replacement, text)
        return text


def clean_text(text: str) -> str:
    """Drop lone surrogates: OTLP strings must be valid UTF-8, and one bad string fails a whole batch."""
    if text.isascii():
        return text
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-8", "replace").decode("utf-8")


# --- parts ------------------------------------------------------------------------------


def _media_part(url: str, modality: str, redact: Callable[[str], str]) -> Part:
    match = _DATA_URL.match(url)
    if match is None:
        return {"type": "uri", "modality": modality, "uri": redact(url)}
    # Inline base64 payloads (images pasted into the chat) can be megabytes: keep the type and
    # size, not the bytes, so a screenshot never pushes the span past an exporter's size limit.
    part: Part = {"type": "blob", "modality": modality, "content": ""}
    if match.group(1):
        part["mime_type"] = match.group(1)
    part["omitted_chars"] = len(url) - match.end()
    return part


def _content_parts(content: object, redact: Callable[[str], str]) -> list[Part]:
    if isinstance(content, str):
        return [{"type": "text", "content": redact(content)}] if content else []
    if not isinstance(content, list):
        return []
    parts: list[Part] = []
    for item in content:
        if isinstance(item, str):
            parts.append({"type": "text", "content": redact(item)})
            continue
        if not isinstance(item, dict):
            continue
        kind = item.get("type")
        if kind in ("text", "input_text", "output_text") and isinstance(item.get("text"), str):
            parts.append({"type": "text", "content": redact(item["text"])})
        elif kind in ("image_url", "input_image"):
            image = item.get("image_url")
            url = image.get("url") if isinstance(image, dict) else image
            if isinstance(url, str) and url:
                parts.append(_media_part(url, "image", redact))
        elif kind == "input_audio":
            part: Part = {"type": "blob", "modality": "audio", "content": ""}
            audio = item.get("input_audio")
            if isinstance(audio, dict) and isinstance(audio.get("format"), str):
                part["mime_type"] = f"audio/{audio['format']}"
            parts.append(part)
        elif kind == "file":
            file = item.get("file")
            file_id = file.get("file_id") if isinstance(file, dict) else None
            parts.append({"type": "file", "modality": "file", "file_id": file_id if isinstance(file_id, str) else ""})
        elif isinstance(kind, str):
            parts.append({"type": kind})
    return parts


def _tool_call_parts(tool_calls: object, redact: Callable[[str], str]) -> list[Part]:
    if not isinstance(tool_calls, list):
        return []
    parts: list[Part] = []
    for call in tool_calls:
        if not isinstance(call, dict):
            continue
        function = call.get("function")
        function = function if isinstance(function, dict) else call
        part: Part = {"type": "tool_call", "name": as_str(function.get("name")) or ""}
        if as_str(call.get("id")) or as_str(call.get("call_id")):
            part["id"] = as_str(call.get("id")) or as_str(call.get("call_id"))
        arguments = function.get("arguments")
        if isinstance(arguments, str):
            part["arguments"] = redact(arguments)
        elif arguments is not None:
            # A copy: the size bound below edits our parts in place, never the caller's body.
            part["arguments"] = json.loads(dumps(arguments))
        parts.append(part)
    return parts


def _message(message: Mapping[str, Any], redact: Callable[[str], str]) -> Message | None:
    role = as_str(message.get("role")) or "user"
    content = message.get("content")
    if type(content) is str and len(message) <= 2:
        # The usual chat message, {"role", "content": "..."}: nothing else to look at.
        return {"role": role, "parts": [{"type": "text", "content": redact(content)}] if content else []}
    if role == "tool":
        part: Part = {"type": "tool_call_response", "response": redact(message_text(message))}
        if as_str(message.get("tool_call_id")):
            part["id"] = message["tool_call_id"]
        parts = [part]
    else:
        parts = []
        reasoning = message.get("reasoning_content")
        if isinstance(reasoning, str) and reasoning:
            parts.append({"type": "reasoning", "content": redact(reasoning)})
        parts.extend(_content_parts(content, redact))
        parts.extend(_tool_call_parts(message.get("tool_calls"), redact))
    result: Message = {"role": role, "parts": parts}
    if as_str(message.get("name")):
        result["name"] = message["name"]
    return result


def _output_items_parts(output: object, redact: Callable[[str], str]) -> list[Part]:
    """Open WebUI 0.12 keeps Responses-style ``output`` items on the reply: reasoning and tool calls."""
    if not isinstance(output, list):
        return []
    parts: list[Part] = []
    for item in output:
        if not isinstance(item, dict):
            continue
        if item.get("type") == "reasoning":
            summary = item.get("summary") or item.get("content")
            text = message_text({"content": summary}) if not isinstance(summary, str) else summary
            if text:
                parts.append({"type": "reasoning", "content": redact(text)})
        elif item.get("type") == "function_call":
            parts.extend(_tool_call_parts([item], redact))
    return parts


# --- snapshots -------------------------------------------------------------------------


def snapshot_messages(messages: object) -> list[Any] | None:
    """A shallow copy of a message list, taken while the hook runs; the JSON is built later, off the
    request path. Open WebUI may replace messages or their keys after a Function's hook returns (the
    payload is its live request); a copy of each message dict keeps what the hook saw."""
    if not isinstance(messages, list):
        return None
    return [dict(message) if isinstance(message, dict) else message for message in messages]


def snapshot_reply(reply: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """A shallow copy of the assistant reply (and of its ``output`` item list), see :func:`snapshot_messages`."""
    if reply is None:
        return None
    copy = dict(reply)
    if isinstance(copy.get("output"), list):
        copy["output"] = list(copy["output"])
    return copy


# --- public builders --------------------------------------------------------------------


def input_content(
    messages: object, redact: Callable[[str], str], max_chars: int
) -> tuple[str | None, str | None, bool]:
    """Inlet ``messages`` -> (``gen_ai.system_instructions``, ``gen_ai.input.messages``, truncated?)."""
    if not isinstance(messages, list):
        return None, None, False
    system_parts: list[Part] = []
    converted: list[Message] = []
    for message in messages:
        if not isinstance(message, dict):
            continue
        if message.get("role") == "system":
            system_parts.extend(_content_parts(message.get("content"), redact))
            continue
        item = _message(message, redact)
        if item is not None:
            converted.append(item)
    system_json, system_cut = bounded_json(system_parts, max_chars) if system_parts else (None, False)
    input_json, input_cut = bounded_json(converted, max_chars) if converted else (None, False)
    return system_json, input_json, system_cut or input_cut


def output_content(
    reply: Mapping[str, Any] | None,
    finish_reason: str | None,
    redact: Callable[[str], str],
    max_chars: int,
) -> tuple[str | None, bool]:
    """The assistant reply -> (``gen_ai.output.messages``, truncated?)."""
    if reply is None:
        return None, False
    parts = _output_items_parts(reply.get("output"), redact)
    content_parts = _content_parts(reply.get("content"), redact)
    if not content_parts and not parts and isinstance(reply.get("output"), list):
        text = message_text({"content": _output_text_items(reply["output"])})
        content_parts = [{"type": "text", "content": redact(text)}] if text else []
    reasoning = [p for p in parts if p["type"] == "reasoning"]
    tool_calls = [p for p in parts if p["type"] != "reasoning"]
    tool_calls += _tool_call_parts(reply.get("tool_calls"), redact)
    message: Message = {
        "role": "assistant",
        "parts": reasoning + content_parts + tool_calls,
        # The schema requires a finish reason; "unknown" marks outlets (0.6.x) that carry none.
        "finish_reason": finish_reason or normalize_finish_reason(reply.get("finish_reason")) or "unknown",
    }
    return bounded_json([message], max_chars)


def _output_text_items(output: list[Any]) -> list[Any]:
    texts: list[Any] = []
    for item in output:
        if isinstance(item, dict) and item.get("type") == "message" and isinstance(item.get("content"), list):
            texts.extend(item["content"])
    return texts


def dumps(value: object) -> str:
    """Compact JSON, the one serialization for structured attribute values."""
    return clean_text(json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str))


# --- size bound -------------------------------------------------------------------------


def _text_slots(items: list[Message] | list[Part]) -> list[tuple[dict[str, Any], str]]:
    """Every (dict, key) that holds free text, in document order."""
    slots: list[tuple[dict[str, Any], str]] = []

    def visit(node: object) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key in ("content", "response", "arguments", "uri") and isinstance(value, str):
                    slots.append((node, key))
                else:
                    visit(value)
        elif isinstance(node, list):
            for child in node:
                visit(child)

    visit(items)
    return slots


def _dump_capped(items: list[Any], slots: list[tuple[dict[str, Any], str]], originals: list[str], cap: int) -> str:
    for (node, key), original in zip(slots, originals, strict=True):
        node[key] = original if len(original) <= cap else original[:cap] + TRUNCATION_MARK
    return dumps(items)


def bounded_json(items: list[Any], max_chars: int) -> tuple[str, bool]:
    """Serialize ``items`` to at most ``max_chars`` characters of valid JSON; (json, truncated?).

    The oldest items are dropped first (each turn's input repeats the whole conversation, and
    the earlier turns' spans already hold the old messages); if the newest item alone is still
    too long, its texts are cut to the longest common length that fits, marked with
    ``…[truncated]``.
    """
    text = dumps(items)
    if len(text) <= max_chars:
        return text, False
    sizes = [len(dumps(item)) for item in items]
    total = 2 + sum(sizes) + max(len(items) - 1, 0)  # brackets and commas
    start = 0
    while start < len(items) - 1 and total > max_chars:
        total -= sizes[start] + 1
        start += 1
    if total <= max_chars:
        return dumps(items[start:]), True
    newest = [items[-1]]
    slots = _text_slots(newest)
    originals = [node[key] for node, key in slots]
    if len(_dump_capped(newest, slots, originals, 0)) > max_chars:
        return "[]", True
    low, high = 0, max((len(o) for o in originals), default=0)
    while low < high:
        middle = (low + high + 1) // 2
        if len(_dump_capped(newest, slots, originals, middle)) <= max_chars:
            low = middle
        else:
            high = middle - 1
    return _dump_capped(newest, slots, originals, low), True

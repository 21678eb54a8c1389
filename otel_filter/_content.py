# SPDX-License-Identifier: Apache-2.0
"""Message content -> GenAI semconv JSON (``gen_ai.input.messages`` & co.), redacted and size-bounded.

Shapes follow ``gen-ai-input-messages.json``, ``gen-ai-output-messages.json`` and
``gen-ai-system-instructions.json`` (semconv v1.41): ``{"role", "parts": [...]}`` with ``text``,
``tool_call``, ``tool_call_response``, ``reasoning``, ``uri``, ``blob`` and ``file`` parts.
Redaction runs on every string taken from the payload before anything is serialized: texts,
tool-call names, ids and arguments (every key and string value of argument objects), message
names, file ids, URLs (see ``_redact.py`` for what is content and what is an identifier).
Truncation shortens texts (and drops the oldest messages when that is not enough) so the result
is always valid JSON.

Work and memory are bounded before any of that: the hook keeps a *snapshot* (newest messages
first, each string cut to ``max_chars`` plus a margin, inline data URLs reduced to their type and
size), so neither an open turn nor the worker ever holds or serializes a 50 MB text.

    >>> from otel_filter._redact import Redactor, compile_pattern
    >>> redact = Redactor([compile_pattern(r"sk-[A-Za-z0-9]+")]).bounded()   # see _redact.py
    >>> messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "key sk-abc123"}]
    >>> snapshot = snapshot_messages(messages, max_chars=20_000)              # on the hook
    >>> system, inputs, cut = input_content(snapshot, redact, max_chars=20_000)  # on the worker
    >>> system
    '[{"type":"text","content":"Be brief."}]'
    >>> inputs
    '[{"role":"user","parts":[{"type":"text","content":"key [REDACTED]"}]}]'
    >>> output_content(snapshot_reply({"content": "Hi"}, 20_000), "stop", redact, max_chars=20_000)
    ('[{"role":"assistant","parts":[{"type":"text","content":"Hi"}],"finish_reason":"stop"}]', False)
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator, Mapping
from typing import Any

from otel_filter._counters import Counters
from otel_filter._extract import message_text, normalize_finish_reason
from otel_filter._limits import REDACTION_MARGIN_CHARS
from otel_filter._redact import Redact
from otel_filter._values import as_str

TRUNCATION_MARK = "…[truncated]"
_DATA_URL = re.compile(r"^data:([\w.+-]+/[\w.+-]+)?(;[^,]*)?,", re.ASCII)
# Where a data URL's header (type and parameters, up to the comma) must end; real ones are under 100 characters.
# Matching is limited to it: on the hook a "data:aaaa..." of 50 MB would otherwise be scanned whole (0.4 s), and a
# header as long as the text would be kept whole in the snapshot. A longer one is treated as plain text.
_DATA_URL_HEADER_CHARS = 512
# What every open turn's snapshots may hold together (characters); beyond it a new turn's
# messages are not kept (counted as content_dropped_memory). About 32-128 MB.
OPEN_SNAPSHOTS_MAX_CHARS = 32 * 1024 * 1024
# Identifiers taken from the payload (tool names and ids, file ids, message names) in the JSON.
_IDENT_CHARS = 256
_MAX_DEPTH = 24
_NODE_COST = 16  # charged per copied dict/list/scalar: a million empty messages are not free either
_PLAIN_MESSAGE_COST = 3 * _NODE_COST  # a {"role", "content"} dict and its two strings, beyond the text
_KNOWN_ROLES = frozenset({"system", "user", "assistant", "tool", "developer", "function"})
# The message and reply keys the builders below read; snapshots copy nothing else.
_MESSAGE_KEYS = ("role", "content", "name", "tool_calls", "tool_call_id", "reasoning_content")
_REPLY_KEYS = ("role", "content", "output", "tool_calls", "finish_reason", "reasoning_content")

Part = dict[str, Any]
Message = dict[str, Any]


def clean_text(text: str) -> str:
    """Drop lone surrogates: OTLP strings must be valid UTF-8, and one bad string fails a whole batch."""
    if text.isascii():
        return text
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-8", "replace").decode("utf-8")


# --- snapshots (on the hook thread: bounded work, bounded memory) ----------------------------


class ElidedDataUrl(str):
    """A data URL whose payload was dropped at snapshot time; ``omitted_chars`` is how long the payload was."""

    omitted_chars: int


class Snapshot(list[Any]):
    """A bounded copy of a message list; ``chars`` is roughly what it holds (for the open-turns budget)."""

    chars: int = 0
    # The SnapshotBudget that counted it, until released: only that budget releases it, and only once
    # (task and orphan-outlet snapshots are never counted, an adopted turn's was counted by the core it left).
    counted_by: object = None


def _copied_as_is(content: str, role: str, limit: int) -> bool:
    """Whether a ``{"role", "content": "..."}`` message is copied as it is: neither string needs a cut, the text is
    no data URL."""
    return len(content) <= limit and len(role) <= 256 and not content.startswith("data:")


class _Copier:
    """Copies payload values with every string cut to ``limit`` until ``budget`` characters are used."""

    __slots__ = ("limit", "budget", "used")

    def __init__(self, limit: int, budget: int) -> None:
        self.limit = limit
        self.budget = budget
        self.used = 0

    @property
    def exhausted(self) -> bool:
        return self.used >= self.budget

    def text(self, text: str) -> str:
        size = len(text)
        if size > 256 and text.startswith("data:"):
            match = _DATA_URL.match(text, 0, _DATA_URL_HEADER_CHARS)
            if match is not None:
                elided = ElidedDataUrl(text[: match.end()])
                elided.omitted_chars = size - match.end()
                self.used += _NODE_COST + match.end()
                return elided
        if size > self.limit:
            text = text[: self.limit]
            size = self.limit
        self.used += _NODE_COST + size
        return text

    def value(self, value: object, depth: int = 0) -> Any:
        # Exact type checks first: this runs for every string and container of every message.
        if type(value) is str:
            if len(value) <= 256:  # short: neither a data URL worth eliding nor over the limit
                self.used += _NODE_COST + len(value)
                return value
            return self.text(value)
        if type(value) is dict or isinstance(value, dict):
            if depth >= _MAX_DEPTH:
                self.used += _NODE_COST
                return None
            copy: dict[Any, Any] = {}
            for key, item in value.items():
                if self.used >= self.budget:
                    break
                copy[self.text(key) if type(key) is str else key] = self.value(item, depth + 1)
            self.used += _NODE_COST
            return copy
        if type(value) is list or isinstance(value, list | tuple):
            if depth >= _MAX_DEPTH:
                self.used += _NODE_COST
                return None
            items = []
            for item in value:
                if self.used >= self.budget:
                    break
                items.append(self.value(item, depth + 1))
            self.used += _NODE_COST
            return items
        self.used += _NODE_COST
        if isinstance(value, str):  # a str subclass: a plain, bounded copy
            return self.text(str.__str__(value))
        return value

    def message(self, message: object, keys: tuple[str, ...]) -> object:
        if type(message) is not dict and not isinstance(message, dict):
            self.used += _NODE_COST
            return None
        if len(message) == 2 and type(content := message.get("content")) is str and type(message.get("role")) is str:
            # The usual {"role", "content": "..."}: a plain copy when neither string needs a cut or is a data URL.
            if _copied_as_is(content, message["role"], self.limit):
                self.used += _PLAIN_MESSAGE_COST + len(content)
                return dict(message)
        copy: dict[str, Any] = {}
        for key in keys:
            if key in message:
                if self.used >= self.budget:
                    break
                copy[key] = self.value(message[key], 1)
        self.used += _NODE_COST
        return copy


def snapshot_messages(messages: object, max_chars: int, *, without: object = None) -> Snapshot | None:
    """What :func:`input_content` needs of a message list, taken while the hook runs (Open WebUI may
    change the live payload after a Function's hook returns), and no more: the newest messages
    first, up to about ``max_chars`` plus a margin, each string cut there, data URLs reduced to
    type and size. Leading system messages get a budget of their own. Cost and size do not depend
    on how big the body is. ``without``: a message left out (an outlet's reply), found by identity."""
    if not isinstance(messages, list):
        return None
    limit = max_chars + REDACTION_MARGIN_CHARS
    newest_copier = _Copier(limit, limit)
    newest: list[Any] = []
    used = 0
    oldest_read = len(messages)  # the loop reads messages[oldest_read:], newest first
    for message in reversed(messages):
        if used >= limit:
            break
        oldest_read -= 1
        if without is not None and message is without:
            continue
        # The usual {"role", "content": "..."} (nearly every message) inline, in the tightest loop this hook can run:
        # a plain copy when neither string needs a cut and the text is no data URL; anything else goes through the
        # copier (whose own plain path is this one, for the messages it copies on its own).
        if type(message) is dict and len(message) == 2:
            content, role = message.get("content"), message.get("role")
            if type(content) is str and type(role) is str and _copied_as_is(content, role, limit):
                used += _PLAIN_MESSAGE_COST + len(content)
                newest.append(dict(message))
                continue
        newest_copier.used = used
        newest.append(newest_copier.message(message, _MESSAGE_KEYS))
        used = newest_copier.used
    newest_copier.used = used
    system_copier = _Copier(limit, limit)
    leading: list[Any] = []
    for index in range(oldest_read):
        message = messages[index]
        if system_copier.exhausted or not (isinstance(message, dict) and message.get("role") == "system"):
            break
        leading.append(system_copier.message(message, _MESSAGE_KEYS))
    newest.reverse()
    snapshot = Snapshot(leading + newest)
    snapshot.chars = newest_copier.used + system_copier.used
    return snapshot


class ReplySnapshot(dict[str, Any]):
    """A bounded copy of an assistant reply (see :func:`snapshot_reply`)."""

    __slots__ = ()


def _plain_reply(reply: Mapping[str, Any], content: object, output: object, limit: int) -> ReplySnapshot | None:
    """The usual text reply (short strings, no tool calls or reasoning, ``output`` holding only the ``message``
    items that repeat the text) without the copier: what it would copy, or None for anything else."""
    if type(content) is not str or not content or len(content) > limit or content.startswith("data:"):
        return None
    if "tool_calls" in reply or "reasoning_content" in reply:
        return None
    copy = ReplySnapshot()
    for key in ("role", "finish_reason"):
        if key in reply:
            value = reply[key]
            if type(value) is not str or len(value) > 256:  # the copier's business (cut, data URL, structure)
                return None
            copy[key] = value
    copy["content"] = content
    if output is not None:
        # Bounded: a reply with more items than this goes through the copier (which bounds it too).
        if type(output) is not list or len(output) > 8:
            return None
        for item in output:
            if not (type(item) is dict and item.get("type") == "message"):
                return None
        copy["output"] = []
    return copy


def snapshot_reply(reply: Mapping[str, Any] | None, max_chars: int) -> ReplySnapshot | None:
    """The assistant reply as :func:`output_content` needs it, bounded like :func:`snapshot_messages`."""
    if reply is None:
        return None
    output = reply.get("output")
    content = reply.get("content")
    limit = max_chars + REDACTION_MARGIN_CHARS
    plain = _plain_reply(reply, content, output, limit)
    if plain is not None:
        return plain
    if type(content) is str and content and type(output) is list:
        # 0.12 repeats the reply text in "message" output items; they are read only when "content" is empty.
        # Bounded like the copy below (which keeps no more than limit // _NODE_COST items): this runs on the hook.
        most = limit // _NODE_COST
        kept: list[Any] = []
        for item in output[: 2 * most]:
            if not (type(item) is dict and item.get("type") == "message"):
                kept.append(item)
                if len(kept) >= most:
                    break
        reply = dict(reply)
        reply["output"] = kept
    copy = _Copier(limit, limit).message(reply, _REPLY_KEYS)
    return ReplySnapshot(copy) if isinstance(copy, dict) else None


class SnapshotBudget:
    """The characters all open turns' snapshots may hold together; thread-safe.

    budget = SnapshotBudget()
    turn.input_messages = budget.take(body["messages"], max_chars=20_000, health=health)  # None if over
    budget.release(turn.input_messages)                                                  # when it ends
    """

    __slots__ = ("_max_chars", "_used", "_lock")

    def __init__(self, max_chars: int = OPEN_SNAPSHOTS_MAX_CHARS) -> None:
        self._max_chars = max_chars
        self._used = 0
        self._lock = threading.Lock()

    @property
    def used(self) -> int:
        return self._used

    def take(self, messages: object, max_chars: int, health: Counters) -> Snapshot | None:
        snapshot = snapshot_messages(messages, max_chars)
        if snapshot is None:
            return None
        with self._lock:
            if self._used + snapshot.chars > self._max_chars:
                over = True
            else:
                over = False
                self._used += snapshot.chars
                snapshot.counted_by = self
        if over:
            health.problem(
                "content_dropped_memory",
                "otel_filter: open turns already hold %s million characters of messages, so a new turn's "
                "messages are not recorded (its span has everything else); many long turns are waiting for outlets",
                f"{self._max_chars / 1e6:g}",
            )
            return None
        return snapshot

    def release(self, snapshot: object) -> None:
        """Give back what :meth:`take` counted for ``snapshot``; a no-op for anything this budget did not count
        (or already released), so every turn end may call it."""
        if getattr(snapshot, "counted_by", None) is not self:
            return
        with self._lock:
            if isinstance(snapshot, Snapshot) and snapshot.counted_by is self:
                snapshot.counted_by = None
                self._used -= snapshot.chars


# --- parts ------------------------------------------------------------------------------


def _short(text: str) -> str:
    return text if len(text) <= _IDENT_CHARS else text[:_IDENT_CHARS] + TRUNCATION_MARK


def _ident(value: object, redact: Redact) -> str | None:
    """An identifier-like string from the payload (tool name or id, file id, name), redacted and short."""
    text = as_str(value)
    return _short(redact(text)) if text else None


def redact_value(value: object, redact: Redact) -> Any:
    """A copy of a JSON-like value with every string (keys too) redacted; numbers, bools, None kept."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {(redact(k) if isinstance(k, str) else str(k)): redact_value(v, redact) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact_value(item, redact) for item in value]
    if value is None or isinstance(value, bool | int | float):
        return value
    return redact(str(value))


def _media_part(url: str, modality: str, redact: Redact) -> Part:
    omitted = getattr(url, "omitted_chars", None)
    match = _DATA_URL.match(url, 0, _DATA_URL_HEADER_CHARS)
    if match is None:
        return {"type": "uri", "modality": modality, "uri": redact(url)}
    # Inline base64 payloads (images pasted into the chat) can be megabytes: keep the type and
    # size, not the bytes, so a screenshot never pushes the span past an exporter's size limit.
    part: Part = {"type": "blob", "modality": modality, "content": ""}
    if match.group(1):
        part["mime_type"] = redact(match.group(1))
    part["omitted_chars"] = omitted if isinstance(omitted, int) else len(url) - match.end()
    return part


def _content_parts(content: object, redact: Redact) -> list[Part]:
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
                part["mime_type"] = f"audio/{_short(redact(audio['format']))}"
            parts.append(part)
        elif kind in ("file", "input_file"):
            file = item.get("file") if kind == "file" else item
            file_id = _ident(file.get("file_id"), redact) if isinstance(file, dict) else None
            parts.append({"type": "file", "modality": "file", "file_id": file_id or ""})
        elif isinstance(kind, str):
            parts.append({"type": _short(redact(kind))})
    return parts


def _dict_items(value: object) -> Iterator[dict[str, Any]]:
    """The dicts in ``value`` when it is a list (tool calls, output items); anything else in it is skipped."""
    if isinstance(value, list):
        for item in value:
            if isinstance(item, dict):
                yield item


def _tool_call_parts(tool_calls: object, redact: Redact) -> list[Part]:
    parts: list[Part] = []
    for call in _dict_items(tool_calls):
        function = call.get("function")
        function = function if isinstance(function, dict) else call
        part: Part = {"type": "tool_call", "name": _ident(function.get("name"), redact) or ""}
        call_id = _ident(call.get("id"), redact) or _ident(call.get("call_id"), redact)
        if call_id:
            part["id"] = call_id
        arguments = function.get("arguments")
        if isinstance(arguments, str):
            part["arguments"] = redact(arguments)
        elif arguments is not None:
            # Every string of an argument object is content too (keys included); the structure stays.
            part["arguments"] = redact_value(arguments, redact)
        parts.append(part)
    return parts


def _role(message: Mapping[str, Any], redact: Redact) -> str:
    role = as_str(message.get("role")) or "user"
    return role if role in _KNOWN_ROLES else _short(redact(role))


def _message(message: Mapping[str, Any], redact: Redact) -> Message | None:
    content = message.get("content")
    role = message.get("role")
    if type(content) is str and len(message) <= 2 and type(role) is str and role in _KNOWN_ROLES:
        # The usual chat message, {"role", "content": "..."}: nothing else to look at.
        return {"role": role, "parts": [{"type": "text", "content": redact(content)}] if content else []}
    role = _role(message, redact)
    if role == "tool":
        part: Part = {"type": "tool_call_response", "response": redact(message_text(message))}
        tool_call_id = _ident(message.get("tool_call_id"), redact)
        if tool_call_id:
            part["id"] = tool_call_id
        parts = [part]
    else:
        parts = []
        reasoning = message.get("reasoning_content")
        if isinstance(reasoning, str) and reasoning:
            parts.append({"type": "reasoning", "content": redact(reasoning)})
        parts.extend(_content_parts(content, redact))
        parts.extend(_tool_call_parts(message.get("tool_calls"), redact))
    result: Message = {"role": role, "parts": parts}
    name = _ident(message.get("name"), redact)
    if name:
        result["name"] = name
    return result


def _output_items_parts(output: object, redact: Redact) -> list[Part]:
    """Open WebUI 0.12 keeps Responses-style ``output`` items on the reply: reasoning and tool calls."""
    parts: list[Part] = []
    for item in _dict_items(output):
        if item.get("type") == "reasoning":
            summary = item.get("summary") or item.get("content")
            text = message_text({"content": summary}) if not isinstance(summary, str) else summary
            if text:
                parts.append({"type": "reasoning", "content": redact(text)})
        elif item.get("type") == "function_call":
            parts.extend(_tool_call_parts([item], redact))
    return parts


# --- public builders --------------------------------------------------------------------


def input_content(messages: object, redact: Redact, max_chars: int) -> tuple[str | None, str | None, bool]:
    """Inlet ``messages`` (a :class:`Snapshot`, or a list that is snapshotted first) ->
    (``gen_ai.system_instructions``, ``gen_ai.input.messages``, truncated?)."""
    if not isinstance(messages, Snapshot):
        messages = snapshot_messages(messages, max_chars)
        if messages is None:
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
    redact: Redact,
    max_chars: int,
) -> tuple[str | None, bool]:
    """The assistant reply (a :class:`ReplySnapshot`, or a mapping that is snapshotted first) ->
    (``gen_ai.output.messages``, truncated?)."""
    if not isinstance(reply, ReplySnapshot):
        reply = snapshot_reply(reply, max_chars)
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


# One encoder for every call: json.dumps builds a new JSONEncoder on each call given any option.
_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), default=str).encode


def dumps(value: object) -> str:
    """Compact JSON, the one serialization for structured attribute values."""
    return clean_text(_encode(value))


# --- size bound -------------------------------------------------------------------------


_TEXT_KEYS = frozenset({"content", "response", "arguments", "uri"})
Slot = tuple[Any, Any]  # (dict, key) or (list, index)


def _text_slots(items: list[Message] | list[Part]) -> list[Slot]:
    """Every (container, key) that holds free text, in document order: texts, and every string
    inside an argument object."""
    slots: list[Slot] = []

    def visit(node: object, in_arguments: bool) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if isinstance(value, str) and (in_arguments or key in _TEXT_KEYS):
                    slots.append((node, key))
                else:
                    visit(value, in_arguments or key == "arguments")
        elif isinstance(node, list):
            for index, child in enumerate(node):
                if isinstance(child, str) and in_arguments:
                    slots.append((node, index))
                else:
                    visit(child, in_arguments)

    visit(items, False)
    return slots


def _dump_capped(items: list[Any], slots: list[Slot], originals: list[str], cap: int) -> str:
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

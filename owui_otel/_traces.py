# SPDX-License-Identifier: Apache-2.0
"""``owui-otel traces``: recent chat turns from Jaeger as a summary tree in the terminal (no browser needed).

Each turn (a trace whose root is the ``chat {model}`` span) is one header line (time, span name, trace id) and one
line of facts (user, chat, tokens, cost, duration, how it ended); under it, as a tree, its task records
(title/tags/follow-up generation) and evaluations (``evaluation user_feedback``)::

    roots = recent_turns("http://127.0.0.1:16686", last=10, chat_id="")
    print(render_turns(roots))

    >>> from owui_otel._jaeger_query import SpanNode
    >>> turn = SpanNode("chat gpt-4o", "4bf92f3577b34da6a3ce929d0e0e4736", "1", 1_780_000_000_000_000, 1_250_000,
    ...     {"user.id": "alice", "openwebui.chat.id": "c-1", "gen_ai.usage.input_tokens": 12,
    ...      "gen_ai.usage.output_tokens": 30, "gen_ai.usage.cost": 0.00042, "openwebui.turn.end_reason": "outlet"},
    ...     [SpanNode("evaluation user_feedback", "4bf9", "2", 1_780_000_060_000_000, 1_000,
    ...               {"gen_ai.evaluation.score.value": 1.0, "gen_ai.evaluation.score.label": "thumbs up"})])
    >>> print(render_turns([turn]))
    2026-05-28 20:26:40 UTC  chat gpt-4o  trace 4bf92f3577b34da6a3ce929d0e0e4736
    │ user alice · chat c-1 · 12 in / 30 out tokens · $0.000420 · 1.25 s · ended: outlet
    └─ evaluation user_feedback  score 1 (thumbs up)
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from otel_filter.semconv import (
    ERROR_TYPE,
    GEN_AI_CONVERSATION_ID,
    GEN_AI_EVALUATION_SCORE_LABEL,
    GEN_AI_EVALUATION_SCORE_VALUE,
    GEN_AI_USAGE_COST,
    GEN_AI_USAGE_INPUT_TOKENS,
    GEN_AI_USAGE_OUTPUT_TOKENS,
    OPENWEBUI_CHAT_ID,
    OPENWEBUI_TURN_END_REASON,
    USER_ID,
)
from owui_otel._jaeger_query import DEFAULT_SERVICE, SpanNode, search_traces, span_trees

DEFAULT_LOOKBACK_S = 7 * 24 * 3600.0
"""How far back ``traces`` searches (a week: the local stack keeps traces on disk across `down`/`up`)."""

_OTEL_STATUS_DESCRIPTION = "otel.status_description"  # how Jaeger shows an OTLP span's error status message
_JAEGER_ERROR_FLAG = "error"  # Jaeger's tag for a span with status ERROR


def recent_turns(
    jaeger_url: str,
    *,
    last: int = 10,
    chat_id: str = "",
    service: str = DEFAULT_SERVICE,
    lookback_s: float = DEFAULT_LOOKBACK_S,
) -> list[SpanNode]:
    """The ``last`` most recent root spans (turns) of ``service``, oldest first; only chat ``chat_id``'s if given.

    A chat is found by either attribute that carries its id (``openwebui.chat.id``, ``gen_ai.conversation.id``).
    Raises OwuiOtelError when Jaeger does not answer.
    """
    # Jaeger's search returns up to `limit` traces, not necessarily the newest ones first: ask for more, sort here.
    limit = max(last * 4, 100)
    searches = [{OPENWEBUI_CHAT_ID: chat_id}, {GEN_AI_CONVERSATION_ID: chat_id}] if chat_id else [{}]
    traces: dict[str, dict[str, Any]] = {}
    for tags in searches:
        for trace in search_traces(jaeger_url, service=service, tags=tags, lookback_s=lookback_s, limit=limit):
            traces[trace["traceID"]] = trace
    roots = [root for trace in traces.values() for root in span_trees(trace)]
    roots.sort(key=lambda root: root.start_us)
    return roots[-last:] if last > 0 else roots


def _number(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _error(node: SpanNode) -> str:
    if ERROR_TYPE in node.tags:
        description = node.tags.get(_OTEL_STATUS_DESCRIPTION)
        return f"error: {node.tags[ERROR_TYPE]}" + (f" ({description})" if description else "")
    if node.tags.get(_JAEGER_ERROR_FLAG) is True:
        return f"error: {node.tags.get(_OTEL_STATUS_DESCRIPTION) or 'span status ERROR'}"
    return ""


def span_facts(node: SpanNode, *, with_ids: bool = True) -> list[str]:
    """What a span says about its turn, in words, leaving out what it does not carry.

    >>> span_facts(SpanNode("chat m", "t", "s", 0, 2_000, {"error.type": "abandoned"}), with_ids=False)
    ['no usage', '2 ms', 'error: abandoned']
    """
    tags = node.tags
    facts: list[str] = []
    if with_ids:
        if USER_ID in tags:
            facts.append(f"user {tags[USER_ID]}")
        chat = tags.get(OPENWEBUI_CHAT_ID) or tags.get(GEN_AI_CONVERSATION_ID)
        if chat:
            facts.append(f"chat {chat}")
    if GEN_AI_EVALUATION_SCORE_VALUE in tags or GEN_AI_EVALUATION_SCORE_LABEL in tags:
        score = _number(tags.get(GEN_AI_EVALUATION_SCORE_VALUE, "-"))
        label = tags.get(GEN_AI_EVALUATION_SCORE_LABEL)
        return [*facts, f"score {score}" + (f" ({label})" if label else "")]
    if GEN_AI_USAGE_INPUT_TOKENS in tags or GEN_AI_USAGE_OUTPUT_TOKENS in tags:
        tokens_in = tags.get(GEN_AI_USAGE_INPUT_TOKENS, "?")
        tokens_out = tags.get(GEN_AI_USAGE_OUTPUT_TOKENS, "?")
        facts.append(f"{tokens_in} in / {tokens_out} out tokens")
    else:
        facts.append("no usage")
    if GEN_AI_USAGE_COST in tags:
        facts.append(f"${float(tags[GEN_AI_USAGE_COST]):.6f}")
    duration_ms = node.duration_us / 1000
    facts.append(f"{duration_ms / 1000:.2f} s" if duration_ms >= 1000 else f"{duration_ms:.0f} ms")
    if OPENWEBUI_TURN_END_REASON in tags:
        facts.append(f"ended: {tags[OPENWEBUI_TURN_END_REASON]}")
    error = _error(node)
    if error:
        facts.append(error)
    return facts


def _tree(children: list[SpanNode], prefix: str) -> Iterable[str]:
    for index, child in enumerate(children):
        last = index == len(children) - 1
        yield f"{prefix}{'└─' if last else '├─'} {child.name}  {' · '.join(span_facts(child, with_ids=False))}"
        yield from _tree(child.children, prefix + ("   " if last else "│  "))


def render_turns(roots: list[SpanNode]) -> str:
    """The turns as text: a header and a facts line per turn, its child spans as a tree under it."""
    blocks = []
    for root in roots:
        when = datetime.fromtimestamp(root.start_us / 1_000_000, tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        lines = [f"{when}  {root.name}  trace {root.trace_id}"]
        lines.append(f"{'│' if root.children else ' '} {' · '.join(span_facts(root))}")
        lines.extend(_tree(root.children, ""))
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)

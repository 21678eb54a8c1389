# SPDX-License-Identifier: Apache-2.0
"""`owui-otel traces` rendering: Jaeger's trace JSON -> span trees -> the terminal tree, without processes."""

from __future__ import annotations

from typing import Any

import pytest

from owui_otel._jaeger_query import span_trees
from owui_otel._traces import render_turns

pytestmark = pytest.mark.unit

T0 = 1_780_000_000_000_000  # 2026-05-28 20:26:40 UTC, in µs as Jaeger gives it


def _span(span_id: str, name: str, start: int, duration: int, parent: str = "", **tags: Any) -> dict[str, Any]:
    return {
        "spanID": span_id,
        "operationName": name,
        "startTime": T0 + start,
        "duration": duration,
        "references": [{"refType": "CHILD_OF", "traceID": "t", "spanID": parent}] if parent else [],
        "tags": [{"key": key.replace("__", "."), "type": "string", "value": value} for key, value in tags.items()],
    }


def test_a_turn_with_tasks_and_an_evaluation_renders_as_a_tree() -> None:
    trace = {
        "traceID": "4bf92f3577b34da6a3ce929d0e0e4736",
        "spans": [  # Jaeger's order is not the tree's: children first, out of time order
            _span(
                "e",
                "evaluation user_feedback",
                90_000_000,
                800,
                "a",
                gen_ai__evaluation__score__value=0.0,
                gen_ai__evaluation__score__label="negative",
            ),
            _span("c", "tags_generation", 3_000_000, 400_000, "a", openwebui__turn__end_reason="task"),
            _span(
                "b",
                "title_generation",
                2_000_000,
                300_000,
                "a",
                gen_ai__usage__input_tokens=50,
                gen_ai__usage__output_tokens=6,
                openwebui__turn__end_reason="task",
            ),
            _span(
                "a",
                "chat gpt-4o",
                0,
                1_500_000,
                **{
                    "user.id": "alice",
                    "openwebui.chat.id": "c-9",
                    "gen_ai.usage.input_tokens": 12,
                    "gen_ai.usage.output_tokens": 30,
                    "gen_ai.usage.cost": 0.00042,
                    "openwebui.turn.end_reason": "outlet",
                },
            ),
        ],
    }
    assert render_turns(span_trees(trace)) == (
        "2026-05-28 20:26:40 UTC  chat gpt-4o  trace 4bf92f3577b34da6a3ce929d0e0e4736\n"
        "│ user alice · chat c-9 · 12 in / 30 out tokens · $0.000420 · 1.50 s · ended: outlet\n"
        "├─ title_generation  50 in / 6 out tokens · 300 ms · ended: task\n"
        "├─ tags_generation  no usage · 400 ms · ended: task\n"
        "└─ evaluation user_feedback  score 0 (negative)"
    )


def test_failed_and_abandoned_turns_say_why_and_turns_are_separated() -> None:
    failed = {
        "traceID": "f" * 32,
        "spans": [
            _span(
                "a",
                "chat m",
                0,
                90_000,
                **{
                    "error.type": "response_error",
                    "error": True,
                    "otel.status_description": "Upstream provider answered 429",
                    "gen_ai.conversation.id": "c-1",
                },
            )
        ],
    }
    abandoned = {
        "traceID": "a" * 32,
        "spans": [
            _span(
                "a",
                "chat m",
                5_000_000,
                300_000_000,
                **{"error.type": "abandoned", "openwebui.turn.end_reason": "timeout"},
            )
        ],
    }
    orphan_child = {  # its parent span is not in Jaeger (yet): shown as a root, not dropped
        "traceID": "b" * 32,
        "spans": [_span("x", "evaluation user_feedback", 9_000_000, 1, "missing", error=True)],
    }
    roots = [root for trace in (failed, abandoned, orphan_child) for root in span_trees(trace)]
    assert render_turns(roots).split("\n\n") == [
        f"2026-05-28 20:26:40 UTC  chat m  trace {'f' * 32}\n"
        "  chat c-1 · no usage · 90 ms · error: response_error (Upstream provider answered 429)",
        f"2026-05-28 20:26:45 UTC  chat m  trace {'a' * 32}\n  no usage · 300.00 s · ended: timeout · error: abandoned",
        f"2026-05-28 20:26:49 UTC  evaluation user_feedback  trace {'b' * 32}\n"
        "  no usage · 0 ms · error: span status ERROR",
    ]

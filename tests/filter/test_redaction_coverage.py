# SPDX-License-Identifier: Apache-2.0
"""Redaction covers every place content can appear; capture off exports none of it; snapshots are bounded.

A unique marker is planted in every content field of every shape the filter reads (tests/support/planted.py)
and in every non-identifier string of every recorded fixture. Each span is then searched whole: name,
attributes, status description, events and links.
"""

from __future__ import annotations

import asyncio
import json
import logging
import tracemalloc
from collections.abc import Sequence
from typing import Any

import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import StatusCode

from otel_filter import Pipeline
from otel_filter._content import OPEN_SNAPSHOTS_MAX_CHARS, SnapshotBudget, snapshot_messages
from otel_filter._counters import Counters
from otel_filter._extract import conversation_fingerprints
from otel_filter._limits import REDACTION_MARGIN_CHARS
from otel_filter._redact import ERROR_WITHOUT_CONTENT, TIMEOUT_MARK, Redactor, compile_pattern
from tests.support.in_memory import make_pipeline
from tests.support.planted import (
    MARKER_PATTERN,
    Planter,
    all_shapes_task,
    all_shapes_turns,
    find_markers,
    planted_fixture_calls,
)

pytestmark = pytest.mark.unit

USER = {"id": "u-1", "email": "ada@example.com", "name": "Ada", "role": "user"}
CONTENT_KEYS = ("gen_ai.input.messages", "gen_ai.output.messages", "gen_ai.system_instructions")


def span_text(span: ReadableSpan) -> str:
    """Everything a span carries that an exporter sends, as one searchable text."""
    parts = [span.name, json.dumps(dict(span.attributes or {}), default=str), span.status.description or ""]
    for event in span.events:
        parts += [event.name, json.dumps(dict(event.attributes or {}), default=str)]
    for link in span.links:
        parts.append(json.dumps(dict(link.attributes or {}), default=str))
    return "\n".join(parts)


def run_all_shapes(**valves: Any) -> tuple[Sequence[ReadableSpan], Planter, Pipeline]:
    planter = Planter()
    pipeline, exporter = make_pipeline(**valves)

    async def run() -> None:
        for inlet, outlet in all_shapes_turns(planter, USER):
            await pipeline.inlet(inlet, USER)
            await pipeline.outlet(outlet, USER)
        await pipeline.inlet(all_shapes_task(planter, USER), USER)

    asyncio.run(run())
    return exporter.get_finished_spans(), planter, pipeline


def run_fixtures(**valves: Any) -> tuple[Sequence[ReadableSpan], Planter]:
    planter = Planter()
    pipeline, exporter = make_pipeline(**valves)

    async def run() -> None:
        for call in planted_fixture_calls(planter):
            await getattr(pipeline, call.hook)(call.body, call.user)

    asyncio.run(run())
    return exporter.get_finished_spans(), planter


def leaks(spans: Sequence[ReadableSpan], planter: Planter) -> dict[str, str]:
    """marker -> the field it was planted in, for every marker found in any span."""
    found: set[str] = set()
    for span in spans:
        found |= find_markers(span_text(span))
    return {marker: planter.fields[marker] for marker in sorted(found)}


def test_without_patterns_every_content_field_is_exported() -> None:
    """The control: each planted field really reaches a span, so the tests below would see a leak."""
    spans, planter, _ = run_all_shapes()
    assert len(spans) == 8  # 7 turns and a task
    exported = leaks(spans, planter)
    expected = set(planter.fields) - planter.never_exported
    missing = {marker: planter.fields[marker] for marker in expected - set(exported)}
    assert missing == {}, "planted fields that never reach a span (the planting does not test them)"
    assert not set(exported) & planter.never_exported, "fields that must never be exported, capture on or off"


def log_markers(caplog: pytest.LogCaptureFixture) -> set[str]:
    return find_markers(caplog.text + " ".join(f"{r.getMessage()} {r.args!r}" for r in caplog.records))


def test_a_pattern_redacts_every_content_field(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    spans, planter, pipeline = run_all_shapes(redact_patterns=[MARKER_PATTERN])
    assert len(spans) == 8
    assert leaks(spans, planter) == {}
    assert log_markers(caplog) == set()
    assert all(any(key in (span.attributes or {}) for key in CONTENT_KEYS) for span in spans), "content kept"
    errors = [span for span in spans if span.status.status_code is StatusCode.ERROR]
    assert len(errors) == 3
    assert all("[REDACTED]" in (span.status.description or "") for span in errors)
    assert all(span.attributes["error.type"] == "response_error" for span in errors)  # type: ignore[index]
    # Argument objects keep their structure; only their strings are replaced.
    inputs = json.loads(str(spans[0].attributes["gen_ai.input.messages"]))  # type: ignore[index]
    calls = [p for m in inputs for p in m["parts"] if p["type"] == "tool_call"]
    assert calls[1]["arguments"] == {
        "query": "text [REDACTED] end",
        "[REDACTED]": 1,
        "nested": {"list": ["text [REDACTED] end", 2, None, True]},
    }
    stop = spans[0].attributes["gen_ai.request.stop_sequences"]  # type: ignore[index]
    assert stop == ("text [REDACTED] end",)
    assert pipeline.health.get("redaction_timeouts") == 0


def test_capture_off_exports_no_content_at_all(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    spans, planter, _ = run_all_shapes(capture_message_content=False)
    assert len(spans) == 8
    assert leaks(spans, planter) == {}
    assert log_markers(caplog) == set()
    for span in spans:
        attributes = span.attributes or {}
        assert not set(attributes) & {*CONTENT_KEYS, "gen_ai.request.stop_sequences", "openwebui.tool_ids"}
    turns = [span for span in spans if "openwebui.task" not in (span.attributes or {})]
    assert all(span.attributes["openwebui.tool_ids.count"] == 2 for span in turns)  # type: ignore[index]
    assert all(span.attributes["openwebui.features"] == ("web_search",) for span in turns)  # type: ignore[index]
    assert all(span.attributes["openwebui.features.unknown_count"] == 1 for span in turns)  # type: ignore[index]
    errors = [span for span in spans if span.status.status_code is StatusCode.ERROR]
    assert [span.status.description for span in errors] == [ERROR_WITHOUT_CONTENT] * 3
    assert all(span.attributes["error.type"] == "response_error" for span in errors)  # type: ignore[index]


@pytest.mark.parametrize(
    "valves", [{"redact_patterns": [MARKER_PATTERN]}, {"capture_message_content": False}], ids=["redacted", "off"]
)
def test_no_marker_from_any_recorded_fixture_leaves(valves: dict[str, Any]) -> None:
    spans, planter = run_fixtures(**valves)
    assert len(spans) >= 20
    assert leaks(spans, planter) == {}


def test_fixture_planting_reaches_spans_without_patterns() -> None:
    spans, planter = run_fixtures()
    exported = leaks(spans, planter)
    assert len(exported) >= 20, "the planted fixtures must put markers where spans carry content"
    assert not set(exported) & planter.never_exported


# --- time-bounded patterns -----------------------------------------------------------------------------------------


def test_a_catastrophic_pattern_times_out_and_fails_closed() -> None:
    health = Counters()
    adversarial = "a" * 5000 + "!"
    redact = Redactor([compile_pattern(r"(\w+\s?)+$"), compile_pattern(r"sk-\w+")]).bounded(health)
    assert redact(adversarial) == TIMEOUT_MARK
    assert health.get("redaction_timeouts") == 1
    assert redact("key sk-abc!") == "key [REDACTED]!"  # short texts still redact within the bound


def test_a_slow_pattern_in_a_turn_exports_the_mark_never_the_text() -> None:
    secret_tail = "a" * 5000 + "!"
    pipeline, exporter = make_pipeline(redact_patterns=[r"(\w+\s?)+$"])

    async def run() -> None:
        body = {"model": "m", "messages": [{"role": "user", "content": secret_tail}], "metadata": {"message_id": "x"}}
        await pipeline.inlet(body, USER)
        reply = {"id": "x", "role": "assistant", "content": "fine"}
        await pipeline.outlet({"id": "x", "messages": [*body["messages"], reply]}, USER)

    asyncio.run(run())
    (span,) = exporter.get_finished_spans()
    inputs = str(span.attributes["gen_ai.input.messages"])  # type: ignore[index]
    assert TIMEOUT_MARK in inputs and "aaaaaaaa" not in span_text(span)
    assert pipeline.health.get("redaction_timeouts") >= 1


def test_the_replacement_is_literal() -> None:
    redact = Redactor([compile_pattern(r"(\d+)")], r"<\1>").bounded()
    assert redact("pin 1234") == r"pin <\1>"


# --- bounded snapshots and fingerprints ----------------------------------------------------------------------------


def test_snapshots_keep_the_newest_messages_cut_with_a_margin_and_data_urls_as_type_and_size() -> None:
    big = "x" * 10_000_000
    messages: list[Any] = [{"role": "system", "content": "sys " + big}]
    messages += [{"role": "user", "content": f"old {i}", "info": {"big": big}} for i in range(1000)]
    messages.append({"role": "user", "content": "long " + big})
    messages.append(
        {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "data:image/png;base64," + big}}]}
    )
    snapshot = snapshot_messages(messages, max_chars=20_000)
    assert snapshot is not None
    limit = 20_000 + REDACTION_MARGIN_CHARS
    assert snapshot[0]["content"] == ("sys " + big)[:limit]  # the leading system prompt has its own budget
    assert snapshot[-2]["content"] == ("long " + big)[:limit]
    url = snapshot[-1]["content"][0]["image_url"]["url"]
    assert url == "data:image/png;base64," and url.omitted_chars == len(big)
    assert len(snapshot) < 10 and snapshot.chars < 3 * limit  # old messages beyond the budget are not kept
    assert all("info" not in message for message in snapshot)  # only what the content attributes read


def test_open_turns_hold_bounded_bytes_and_beyond_the_budget_content_is_dropped_and_counted() -> None:
    pipeline, exporter = make_pipeline()
    big = "y" * 10_000_000

    async def inlets(count: int, prefix: str) -> None:
        for i in range(count):
            body = {
                "model": "m",
                "messages": [{"role": "user", "content": big}],
                "metadata": {"message_id": f"{prefix}{i}"},
            }
            await pipeline.inlet(body, USER)

    tracemalloc.start()
    try:
        before, _ = tracemalloc.get_traced_memory()
        asyncio.run(inlets(40, "m"))  # the finding: 40 x 10 MB inlets held 440 MB
        held, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert held - before < 40 * 200_000, f"{(held - before) / 1e6:.1f} MB held by 40 open turns"
    assert pipeline._core().open_turns == 40

    budget = SnapshotBudget(max_chars=100_000)
    health = Counters()
    kept = [budget.take([{"role": "user", "content": big}], 20_000, health) for _ in range(10)]
    assert sum(s is not None for s in kept) == 4 and health.get("content_dropped_memory") == 6
    for snapshot in kept:
        budget.release(snapshot)
    assert budget.used == 0
    assert OPEN_SNAPSHOTS_MAX_CHARS >= 1000 * (20_000 + REDACTION_MARGIN_CHARS)  # a thousand long turns fit
    asyncio.run(pipeline.on_shutdown())
    assert len(exporter.get_finished_spans()) == 40


def test_only_snapshots_the_budget_counted_are_released() -> None:
    budget = SnapshotBudget(max_chars=100_000)
    health = Counters()
    counted = budget.take([{"role": "user", "content": "a" * 20_000}], 20_000, health)
    assert counted is not None and budget.used == counted.chars > 0
    # Task spans and orphan outlets end with a snapshot the budget never counted: releasing it changes nothing.
    budget.release(snapshot_messages([{"role": "user", "content": "b" * 20_000}], 20_000))
    budget.release(SnapshotBudget().take([{"role": "user", "content": "c"}], 20_000, health))  # another budget's
    assert budget.used == counted.chars
    budget.release(counted)
    budget.release(counted)  # twice: once only
    assert budget.used == 0


def test_task_spans_do_not_free_the_open_turns_budget() -> None:
    pipeline, _ = make_pipeline(capture_message_content=True)
    core = pipeline._core()
    open_turn = {"model": "m", "messages": [{"role": "user", "content": "q" * 10_000}], "metadata": {"message_id": "a"}}
    asyncio.run(pipeline.inlet(open_turn, USER))
    held = core._snapshots.used
    assert held > 10_000
    for i in range(5):  # each chat turn brings title, tags and follow-up tasks: they end at once
        task = {
            "model": "m",
            "messages": [{"role": "user", "content": "t" * 10_000}],
            "metadata": {"task": "title_generation", "message_id": f"t{i}"},
        }
        asyncio.run(pipeline.inlet(task, USER))
    assert core._snapshots.used == held
    asyncio.run(pipeline.on_shutdown())
    assert core._snapshots.used == 0


def test_fingerprints_of_huge_texts_still_tell_conversations_apart() -> None:
    base = "z" * 5_000_000

    def fingerprint(text: str) -> tuple[int | None, int | None]:
        return conversation_fingerprints([{"role": "user", "content": text}])

    variants = [base, base + "!", "!" + base[1:], base[:2_500_000] + "!" + base[2_500_001:] + "z", base[:-1]]
    prints = [fingerprint(v) for v in variants]
    assert prints[0] == fingerprint("z" * 5_000_000)
    # Head, tail and length differences are seen; a same-length change deep in the middle is not (bounded cost).
    assert len({p[0] for p in prints[:3]} | {prints[4][0]}) == 4

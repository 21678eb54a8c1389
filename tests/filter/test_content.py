# SPDX-License-Identifier: Apache-2.0
"""Content in the semconv JSON shape: parts, redaction, size bound that keeps valid JSON."""

from __future__ import annotations

import json

import pytest
import regex
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from otel_filter._content import (
    TRUNCATION_MARK,
    bounded_json,
    clean_text,
    input_content,
    output_content,
    snapshot_messages,
    snapshot_reply,
)
from otel_filter._limits import REDACTION_MARGIN_CHARS
from otel_filter._redact import Redactor

pytestmark = pytest.mark.unit

NO_REDACTION = Redactor()


def test_messages_become_semconv_parts() -> None:
    messages = [
        {"role": "system", "content": "You are helpful."},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "What is in this image?"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64," + "A" * 5000}},
                {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}},
            ],
        },
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "Rainy, 14°C"},
    ]
    system, inputs, truncated = input_content(messages, NO_REDACTION, 100_000)
    assert not truncated
    assert json.loads(system or "") == [{"type": "text", "content": "You are helpful."}]
    assert json.loads(inputs or "") == [
        {
            "role": "user",
            "parts": [
                {"type": "text", "content": "What is in this image?"},
                # base64 payloads are not copied into spans; their size is kept
                {"type": "blob", "modality": "image", "content": "", "mime_type": "image/png", "omitted_chars": 5000},
                {"type": "uri", "modality": "image", "uri": "https://example.com/cat.png"},
            ],
        },
        {
            "role": "assistant",
            "parts": [{"type": "tool_call", "name": "get_weather", "id": "call_1", "arguments": '{"city":"Paris"}'}],
        },
        {"role": "tool", "parts": [{"type": "tool_call_response", "response": "Rainy, 14°C", "id": "call_1"}]},
    ]
    assert "°" in (inputs or "")  # readable, not \u escapes


def test_output_message_with_reasoning_and_tool_calls_from_0_12_output_items() -> None:
    reply = {
        "role": "assistant",
        "content": "Let me check.",
        "output": [
            {"type": "reasoning", "summary": [{"type": "summary_text", "text": "User wants weather."}]},
            {"type": "function_call", "call_id": "c7", "name": "get_weather", "arguments": "{}"},
        ],
    }
    output, truncated = output_content(reply, "tool_call", NO_REDACTION, 100_000)
    assert not truncated
    assert json.loads(output or "") == [
        {
            "role": "assistant",
            "parts": [
                {"type": "reasoning", "content": "User wants weather."},
                {"type": "text", "content": "Let me check."},
                {"type": "tool_call", "name": "get_weather", "id": "c7", "arguments": "{}"},
            ],
            "finish_reason": "tool_call",
        }
    ]


def test_redaction_runs_before_serialization() -> None:
    redactor = Redactor([regex.compile(r"sk-[A-Za-z0-9]{8,}"), regex.compile(r"\b\d{3}-\d{2}-\d{4}\b")], "[X]")
    messages = [{"role": "user", "content": "my key sk-abcdef123456 and ssn 123-45-6789"}]
    _, inputs, _ = input_content(messages, redactor, 10_000)
    assert inputs is not None
    assert "sk-abcdef123456" not in inputs and "123-45-6789" not in inputs
    assert json.loads(inputs)[0]["parts"][0]["content"] == "my key [X] and ssn [X]"
    output, _ = output_content({"content": "here: sk-zzzzzzzzzz"}, "stop", redactor, 10_000)
    assert "sk-zzzzzzzzzz" not in (output or "")


def test_oversized_content_is_cut_to_the_limit_and_stays_valid_json() -> None:
    messages = [{"role": "user", "content": "earlier"}, {"role": "user", "content": "x" * 50_000}]
    _, inputs, truncated = input_content(messages, NO_REDACTION, 1_000)
    assert truncated and inputs is not None
    assert len(inputs) <= 1_000
    parsed = json.loads(inputs)
    assert len(parsed) == 1  # the newest message, cut; the older one dropped
    content = parsed[0]["parts"][0]["content"]
    assert content.endswith(TRUNCATION_MARK) and content.startswith("xxxx")
    assert len(inputs) > 900  # cut to the limit, not far below it


def test_many_messages_drop_the_oldest_first() -> None:
    messages = [{"role": "user", "content": f"message {i}"} for i in range(500)]
    _, inputs, truncated = input_content(messages, NO_REDACTION, 300)
    assert truncated and inputs is not None and len(inputs) <= 300
    parsed = json.loads(inputs)
    assert parsed[-1]["parts"][0]["content"] == "message 499"  # the newest survives whole
    assert 1 < len(parsed) < 500


def test_lone_surrogates_never_reach_an_exporter() -> None:
    text = clean_text("bad \ud800 surrogate")
    text.encode("utf-8")  # would raise with the surrogate left in
    _, inputs, _ = input_content([{"role": "user", "content": "x\udfff"}], NO_REDACTION, 1_000)
    assert inputs is not None
    inputs.encode("utf-8")


def test_a_snapshot_leaves_out_the_message_it_is_told_to_by_identity() -> None:
    reply = {"role": "assistant", "content": "same"}
    messages = [{"role": "system", "content": "s"}, {"role": "assistant", "content": "same"}, reply]
    snapshot = snapshot_messages(messages, 1_000, without=reply)
    assert snapshot == [{"role": "system", "content": "s"}, {"role": "assistant", "content": "same"}]
    many = [{"role": "user", "content": "x" * 100} for _ in range(10_000)] + [reply]
    snapshot = snapshot_messages(many, 1_000, without=reply)
    assert snapshot is not None and 0 < len(snapshot) < 100 and all(m["role"] == "user" for m in snapshot)


def test_a_reply_snapshot_reads_a_bounded_number_of_output_items() -> None:
    call = {"type": "function_call", "name": "f", "call_id": "c", "arguments": "{}"}
    message = {"type": "message", "content": [{"type": "output_text", "text": "hi"}]}
    reply = {"role": "assistant", "content": "hi", "output": [message, call] + [message, call] * 500_000}
    snapshot = snapshot_reply(reply, 1_000)
    assert snapshot is not None
    kept = snapshot["output"]
    assert 0 < len(kept) <= (1_000 + REDACTION_MARGIN_CHARS) // 16
    # Message items left out (the text is in "content"); the copy may cut the last item short.
    assert kept[0] == call and all(item["type"] == "function_call" for item in kept)


def test_a_data_url_header_is_bounded_like_any_text() -> None:
    # "data:" followed by 5 MB and no comma (or a comma only at the very end): treated as text and cut, not
    # scanned whole on the hook nor kept whole as an elided data URL's header.
    for url in ("data:" + "a" * 5_000_000, "data:text/plain;" + "a" * 5_000_000 + ",x"):
        message = {"role": "user", "content": [{"type": "image_url", "image_url": {"url": url}}]}
        snapshot = snapshot_messages([message], 1_000)
        assert snapshot is not None
        kept = snapshot[0]["content"][0]["image_url"]["url"]
        assert len(kept) <= 1_000 + REDACTION_MARGIN_CHARS
        assert snapshot.chars < 2 * (1_000 + REDACTION_MARGIN_CHARS)
        _, inputs, _ = input_content(snapshot, NO_REDACTION, 1_000)
        assert inputs is not None and len(inputs) <= 1_000
    # A real data URL still becomes a blob part with its type and size.
    image = "data:image/png;base64," + "A" * 100_000
    _, inputs, _ = input_content(
        [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": image}}]}], NO_REDACTION, 1_000
    )
    assert inputs is not None
    part = json.loads(inputs)[0]["parts"][0]
    assert part["type"] == "blob" and part["mime_type"] == "image/png" and part["omitted_chars"] == 100_000


@settings(
    max_examples=300, deadline=None, derandomize=True, database=None, suppress_health_check=[HealthCheck.too_slow]
)
@given(
    items=st.lists(
        st.fixed_dictionaries(
            {
                "role": st.sampled_from(["user", "assistant"]),
                "parts": st.lists(st.fixed_dictionaries({"type": st.just("text"), "content": st.text()}), max_size=4),
            }
        ),
        max_size=20,
    ),
    limit=st.integers(min_value=2, max_value=5_000),
)
def test_bounded_json_is_always_valid_and_within_the_limit(items: list[dict[str, object]], limit: int) -> None:
    text, truncated = bounded_json(items, limit)
    assert len(text) <= max(limit, 2)
    parsed = json.loads(text)
    assert isinstance(parsed, list)
    if not truncated:
        assert parsed == json.loads(json.dumps(items))

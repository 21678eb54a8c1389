# SPDX-License-Identifier: Apache-2.0
"""Reading what arrived: spans at the Langfuse contract endpoint (decoded OTLP records) and traces in Jaeger.

spans = wait_exact_spans(stack, 5)                  # exactly 5 spans, none more after a settle period
span = by_last_user_text(spans)["What is OTel?"]
assert output_text(span) == "Hello from gpt-4o-mini. ..."
"""

from __future__ import annotations

import base64
import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from collector._process import wait_until
from tests.support.stack import Stack

SETTLE_S = 3.0  # after the expected spans arrived: long enough for a stray extra span to show up too
# Message content: at the Langfuse endpoint only (the collector strips it from what goes to Jaeger).
CONTENT_KEYS = ("gen_ai.input.messages", "gen_ai.output.messages", "gen_ai.system_instructions")


def wait_exact_spans(stack: Stack, count: int, *, timeout: float = 60.0) -> list[dict[str, Any]]:
    """Wait for ``count`` distinct spans at the Langfuse endpoint, then make sure no more arrive."""
    stack.wait_for_langfuse_spans(count, timeout=timeout)
    time.sleep(SETTLE_S)
    spans: list[dict[str, Any]] = stack.langfuse_received()["spans"]
    distinct = {span["span_id"]: span for span in spans}
    if len(distinct) != count:
        summary = [(s["name"], s["attributes"].get("openwebui.task"), last_user_text(s)) for s in distinct.values()]
        raise AssertionError(f"expected exactly {count} spans at the Langfuse endpoint, got {len(distinct)}: {summary}")
    return list(distinct.values())


def messages(span: dict[str, Any], key: str) -> list[dict[str, Any]]:
    raw = span["attributes"].get(key)
    if raw is None:
        return []
    parsed: list[dict[str, Any]] = json.loads(raw)
    return parsed


def text(message: dict[str, Any]) -> str:
    return "".join(str(part.get("content", "")) for part in message.get("parts", []) if part.get("type") == "text")


def last_user_text(span: dict[str, Any]) -> str | None:
    users = [m for m in messages(span, "gen_ai.input.messages") if m.get("role") == "user"]
    return text(users[-1]) if users else None


def output_text(span: dict[str, Any]) -> str | None:
    outputs = messages(span, "gen_ai.output.messages")
    return text(outputs[-1]) if outputs else None


def by_last_user_text(spans: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    result: dict[str, dict[str, Any]] = {}
    for span in spans:
        key = last_user_text(span)
        assert key is not None, f"span {span['name']} has no user message"
        assert key not in result, f"two spans for the user text {key!r}"
        result[key] = span
    return result


def start_s(span: dict[str, Any]) -> float:
    return int(span["start_time_unix_nano"]) / 1e9


def end_s(span: dict[str, Any]) -> float:
    return int(span["end_time_unix_nano"]) / 1e9


def duration_s(span: dict[str, Any]) -> float:
    return end_s(span) - start_s(span)


def iso_to_s(value: str) -> float:
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC).timestamp()


def langfuse_auth(stack: Stack) -> str:
    """The ``Authorization`` header the stack's Langfuse endpoint expects from the collector, computed
    here by hand from Langfuse's documented rule, not by the code under test."""
    return "Basic " + base64.b64encode(f"{stack.public_key}:{stack.secret_key}".encode()).decode()


def mock_request_for(requests: list[dict[str, Any]], user_text: str) -> dict[str, Any]:
    """The one chat request (not a task) whose last user message is ``user_text``."""
    found = []
    for request in requests:
        if request["task"] is not None:
            continue
        users = [m for m in request["body"].get("messages", []) if m.get("role") == "user"]
        if users and users[-1].get("content") == user_text:
            found.append(request)
    assert len(found) == 1, f"expected one upstream request for {user_text!r}, got {len(found)}"
    return found[0]


def jaeger_tags(span: dict[str, Any]) -> dict[str, Any]:
    return {tag["key"]: tag["value"] for tag in span.get("tags", [])}


def jaeger_service(trace: dict[str, Any], span: dict[str, Any]) -> str:
    service: str = trace["processes"][span["processID"]]["serviceName"]
    return service


def jaeger_span(trace: dict[str, Any], span_id: str) -> dict[str, Any] | None:
    return next((s for s in trace["spans"] if s["spanID"] == span_id), None)


def wait_jaeger_span(
    stack: Stack, trace_id: str, span_id: str, *, timeout: float = 60.0
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Wait until Jaeger has span ``span_id`` of trace ``trace_id``; return the trace and that span."""
    found: list[tuple[dict[str, Any], dict[str, Any]]] = []

    def stored() -> bool:
        trace = stack.jaeger_trace(trace_id)
        span = jaeger_span(trace, span_id) if trace is not None else None
        if trace is None or span is None:
            return False
        found.append((trace, span))
        return True

    wait_until(stored, timeout=timeout, interval=0.5, what=f"span {span_id} of trace {trace_id} in Jaeger")
    return found[0]


def keep(directory: Path, name: str, data: object) -> None:
    """Write what a scenario saw next to its process logs, for a look after a failure."""
    (directory / name).write_text(json.dumps(data, indent=1, default=str), encoding="utf-8")


def summary(span: dict[str, Any]) -> str:
    """One line per span for the test log: name, usage, duration, time to first chunk."""
    attributes = span["attributes"]
    ttfc = attributes.get("gen_ai.response.time_to_first_chunk")
    return (
        f"{span['name']!r} task={attributes.get('openwebui.task', '-')} "
        f"in={attributes.get('gen_ai.usage.input_tokens', '-')} "
        f"out={attributes.get('gen_ai.usage.output_tokens', '-')} "
        f"duration={duration_s(span):.3f}s ttfc={'-' if ttfc is None else f'{ttfc:.3f}s'} "
        f"user={(last_user_text(span) or '')[:40]!r}"
    )

# SPDX-License-Identifier: Apache-2.0
"""Direct export (filter -> Langfuse's /api/public/otel, no collector) against the collector path (issue 10 item 6).

The same captured turn is exported both ways by the real filter to the Langfuse contract endpoint and read with
Langfuse's rules: the GENERATION itself is the same; what differs is exactly what the doctor lists."""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import pytest

from owui_otel._doctor import DoctorInputs, check_direct_langfuse
from tests.support.langfuse_mapping import Observation, to_observation
from tests.support.owui_hosts import load_as_pipelines
from tests.support.scenarios import replay_pipelines_and_stop
from tests.support.stack import Stack

pytestmark = pytest.mark.integration


def _export_turn(valves: dict[str, Any]) -> None:
    replay_pipelines_and_stop(load_as_pipelines(saved_valves=valves), "ui_stream_turn1")


def _task_types(spans: list[dict[str, Any]]) -> set[str]:
    return {
        to_observation(s["attributes"], span_name=s["name"]).type for s in spans if "openwebui.task" in s["attributes"]
    }


def _turn(spans: list[dict[str, Any]]) -> Observation:
    [span] = [s for s in spans if "openwebui.task" not in s["attributes"]]
    return to_observation(span["attributes"], span_name=span["name"], resource=span.get("resource") or {})


def test_direct_export_loses_exactly_what_the_doctor_says(stack_factory: Callable[..., Stack]) -> None:
    stack = stack_factory()
    direct_endpoint = f"{stack.langfuse_url}/api/public/otel"
    basic = base64.b64encode(f"{stack.public_key}:{stack.secret_key}".encode()).decode()
    headers = f"Authorization={quote('Basic ' + basic)}"

    _export_turn({"otlp_endpoint": direct_endpoint, "otlp_headers": headers})
    direct_spans = stack.wait_for_langfuse_spans(4)  # the turn and its three task calls
    assert {r["write_path"] for r in stack.langfuse_received()["requests"]} == {"dual_write"}  # no v4 header
    _export_turn({"otlp_endpoint": stack.otlp_http_endpoint})
    # The same turn again: its span id is derived from its chat and message ids (otel_filter.trace_ids), so the
    # second export repeats it; the spans are told apart by arrival order.
    all_spans: list[dict[str, Any]] = []

    def second_export_arrived() -> bool:
        nonlocal all_spans
        all_spans = stack.langfuse_received()["spans"]
        return len(all_spans) >= 2 * len(direct_spans)

    stack._wait(second_export_arrived, timeout=60.0, interval=0.25, what="the collector path's spans")
    direct = _turn(all_spans[: len(direct_spans)])
    collected = _turn(all_spans[len(direct_spans) :])

    # The same GENERATION either way.
    for field in ("type", "name", "model", "usage_details", "session_id", "user_id", "input", "output", "level"):
        assert getattr(direct, field) == getattr(collected, field), field
    assert direct.type == "GENERATION" and direct.usage_details

    # What only the collector's Langfuse pipeline adds.
    assert collected.trace_name == "chat mock-gpt" and direct.trace_name is None
    assert collected.tags == ["open-webui", "pipelines"] and direct.tags == []
    assert collected.metadata["chat_id"] and direct.metadata == {}
    assert collected.version and direct.version is None
    # Task calls: unpriced either way (no model); only the collector makes them EVENTs.
    assert _task_types(all_spans[: len(direct_spans)]) == {"SPAN"}
    assert _task_types(all_spans[len(direct_spans) :]) == {"EVENT"}
    # (The Pipelines capture has no stream hook, so neither path has a completion start time to compare here;
    # tests/collector/test_stack_e2e.py covers the collector's.)

    (check,) = check_direct_langfuse(
        DoctorInputs(otlp_endpoint=direct_endpoint, otlp_headers=(("Authorization", "x"),))
    )
    for lost in (
        "trace name",
        "trace tags",
        "filterable metadata",
        "release and version",
        "task calls as EVENTs",
        "x-langfuse-ingestion",
    ):
        assert lost in check.says

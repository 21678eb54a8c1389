# SPDX-License-Identifier: Apache-2.0
"""The user_identity setting (valve ``user_identity``, ``OWUI_OTEL_USER_IDENTITY``) decides ``user.id`` everywhere.

Recorded Open WebUI payloads are replayed through the generated file, loaded as each host loads it; the user in
them is ``admin@example.com``, display name ``Harness Admin``, no username (Open WebUI 0.12.4 leaves it null).
"""

from __future__ import annotations

import asyncio
import copy
from typing import Any

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from otel_filter import FilterCore
from otel_filter.settings import resolve_settings
from tests.support.owui_hosts import FunctionHost, load_as_function, load_as_pipelines
from tests.support.scenarios import load, replay_function, replay_pipelines

pytestmark = pytest.mark.unit

USER_ID = "e7ef1609-1bfc-40e9-b692-49a9cc09fe02"
EMAIL = "admin@example.com"
DISPLAY_NAME = "Harness Admin"
SCENARIO = "ui_stream_turn1"  # a chat turn plus its title, tags and follow-up task calls (Pipelines)
EXPECTED_USER = {"": USER_ID, "id": USER_ID, "email": EMAIL, "username": DISPLAY_NAME}


def _provider() -> tuple[TracerProvider, InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider, exporter


def _pipelines_spans(valves: dict[str, Any]) -> list[ReadableSpan]:
    provider, exporter = _provider()
    pipeline = load_as_pipelines(tracer_provider=provider, saved_valves=valves)

    async def run() -> None:
        await pipeline.on_startup()
        await replay_pipelines(pipeline, SCENARIO)
        await pipeline.on_shutdown()

    asyncio.run(run())
    return list(exporter.get_finished_spans())


def _function_spans(valves: dict[str, Any]) -> list[ReadableSpan]:
    provider, exporter = _provider()
    instance, _ = load_as_function(tracer_provider=provider)

    async def run() -> None:
        await replay_function(FunctionHost(instance, valves=valves), SCENARIO)
        instance._core_instance.shutdown()

    asyncio.run(run())
    return list(exporter.get_finished_spans())


def _email_anywhere(spans: list[ReadableSpan]) -> bool:
    return any(EMAIL in str(value) for span in spans for value in (span.attributes or {}).values())


@pytest.mark.parametrize("identity", sorted(EXPECTED_USER))
@pytest.mark.parametrize("replay", [_pipelines_spans, _function_spans], ids=["pipelines", "functions"])
def test_user_id_follows_the_setting(identity: str, replay: Any) -> None:
    spans = replay({"user_identity": identity})
    assert len(spans) == (4 if replay is _pipelines_spans else 1)  # Pipelines: the turn and its three task calls
    assert {span.attributes["user.id"] for span in spans} == {EXPECTED_USER[identity]}  # type: ignore[index]
    # The email leaves only when it is the chosen identity.
    assert _email_anywhere(spans) is (identity == "email")
    assert all("user.email" not in (span.attributes or {}) for span in spans)


@pytest.mark.parametrize("replay", [_pipelines_spans, _function_spans], ids=["pipelines", "functions"])
def test_record_user_email_still_adds_user_email(replay: Any) -> None:
    """The older valve keeps its meaning: user.email next to whatever identifies the user."""
    spans = replay({"record_user_email": True, "user_identity": "username"})
    for span in spans:
        attributes = span.attributes or {}
        assert (attributes["user.id"], attributes["user.email"]) == (DISPLAY_NAME, EMAIL)


def test_the_environment_sets_it_when_the_valve_is_empty() -> None:
    provider, exporter = _provider()
    environ = {"OWUI_OTEL_USER_IDENTITY": "email"}
    core = FilterCore({"user_identity": ""}, host="library", tracer_provider=provider, environ=environ)
    recorded = load("pipelines_ui_nonstream_inlet.json")
    core.inlet(recorded["body"], recorded["user"])
    core.shutdown()
    (span,) = exporter.get_finished_spans()
    assert span.attributes["user.id"] == EMAIL  # type: ignore[index]
    core = FilterCore({"user_identity": "id"}, host="library", tracer_provider=provider, environ=environ)
    assert core.settings.user_identity == "id"  # the valve wins
    core.shutdown()


@pytest.mark.parametrize(("identity", "missing"), [("email", "email"), ("username", "name")])
def test_a_user_without_the_chosen_field_is_identified_by_their_id(identity: str, missing: str) -> None:
    provider, exporter = _provider()
    core = FilterCore({"user_identity": identity}, host="library", tracer_provider=provider, environ={})
    recorded = copy.deepcopy(load("pipelines_ui_nonstream_inlet.json"))
    del recorded["user"][missing]  # "username" is already null in the fixture
    core.inlet(recorded["body"], recorded["user"])
    core.shutdown()
    (span,) = exporter.get_finished_spans()
    assert span.attributes["user.id"] == USER_ID  # type: ignore[index]  # never dropped
    assert core.health.get("user_identity_fallbacks") == 1


def test_a_present_field_is_not_counted_as_a_fallback() -> None:
    provider, _ = _provider()
    core = FilterCore({"user_identity": "email"}, host="library", tracer_provider=provider, environ={})
    recorded = load("pipelines_ui_nonstream_inlet.json")
    core.inlet(recorded["body"], recorded["user"])
    core.shutdown()
    assert core.health.get("user_identity_fallbacks") == 0


@pytest.mark.parametrize(
    ("valves", "environ", "setting"),
    [
        ({"user_identity": "uuid"}, {}, "valve user_identity: 'uuid'"),
        ({}, {"OWUI_OTEL_USER_IDENTITY": "Name"}, "OWUI_OTEL_USER_IDENTITY: 'Name'"),
    ],
)
def test_a_bad_value_names_the_setting_and_the_allowed_values(
    valves: dict[str, Any], environ: dict[str, str], setting: str
) -> None:
    settings, problems = resolve_settings(valves, environ)
    assert settings.user_identity == "id"
    (problem,) = problems
    message = problem.message()
    assert message.startswith(setting)
    assert all(f"'{allowed}'" in message.split("Fix:", 1)[1] for allowed in ("id", "email", "username"))
    provider, _ = _provider()
    core = FilterCore(valves, host="library", tracer_provider=provider, environ=environ)  # at startup
    assert core.health.get("config_problems") == 1
    core.shutdown()

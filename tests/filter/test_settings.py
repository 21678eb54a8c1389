# SPDX-License-Identifier: Apache-2.0
"""Valves over environment over defaults; every bad value named with its fix."""

from __future__ import annotations

import logging

import pytest

from otel_filter import Valves
from otel_filter._settings import display_url, parse_capture_mode, resolve_settings

pytestmark = pytest.mark.unit


def test_defaults_with_empty_environment() -> None:
    settings, problems = resolve_settings({}, {})
    assert problems == []
    assert settings.export.endpoint == "http://localhost:4318/v1/traces"
    assert settings.export.protocol == "http/protobuf"
    assert settings.export.headers == ()
    assert settings.service_name == "open-webui"
    assert settings.capture_content is True
    assert (settings.turn_timeout_s, settings.max_open_turns, settings.max_content_chars) == (600.0, 10_000, 20_000)
    assert settings.record_tasks is True and settings.record_user_email is False


def test_standard_environment_variables_are_the_defaults() -> None:
    env = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318/",
        "OTEL_EXPORTER_OTLP_HEADERS": "authorization=Bearer%20abc,x-tenant=t1",
        "OTEL_SERVICE_NAME": "owui-prod",
    }
    settings, problems = resolve_settings({}, env)
    assert problems == []
    assert settings.export.endpoint == "http://collector:4318/v1/traces"
    assert settings.export.headers == (("authorization", "Bearer abc"), ("x-tenant", "t1"))
    assert settings.service_name == "owui-prod"

    traces_url = resolve_settings({}, {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "https://x.example/custom/path"})[0]
    assert traces_url.export.endpoint == "https://x.example/custom/path"  # signal-specific: used as is

    grpc = resolve_settings({}, {"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"})[0]
    assert (grpc.export.protocol, grpc.export.endpoint, grpc.export.insecure) == (
        "grpc",
        "http://localhost:4317",
        True,
    )

    from_resource = resolve_settings({}, {"OTEL_RESOURCE_ATTRIBUTES": "service.name=svc,team=ai"})[0]
    assert from_resource.service_name == "svc"


def test_valves_override_the_environment() -> None:
    env = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://env:4318", "OTEL_SERVICE_NAME": "from-env"}
    valves = {
        "otlp_endpoint": "https://cloud.langfuse.com/api/public/otel",
        "otlp_headers": "Authorization=Basic%20cGs6c2s=",
        "service_name": "from-valve",
        "resource_attributes": "deployment.environment.name=prod",
    }
    settings, problems = resolve_settings(valves, env)
    assert problems == []
    assert settings.export.endpoint == "https://cloud.langfuse.com/api/public/otel/v1/traces"
    assert settings.export.headers == (("Authorization", "Basic cGs6c2s="),)
    assert settings.service_name == "from-valve"
    assert settings.resource_attributes == (("deployment.environment.name", "prod"),)


def test_grpc_metadata_keys_are_lower_cased() -> None:
    settings, _ = resolve_settings({"otlp_protocol": "grpc", "otlp_headers": "Authorization=Bearer%20x"}, {})
    assert settings.export.headers == (("authorization", "Bearer x"),)


@pytest.mark.parametrize(
    ("valves", "env", "valve_named", "fix_mentions"),
    [
        ({"otlp_protocol": "grcp"}, {}, "otlp_protocol", "'grpc'"),
        ({"otlp_protocol": "http/json"}, {}, "otlp_protocol", "http/protobuf"),
        ({}, {"OTEL_EXPORTER_OTLP_PROTOCOL": "thrift"}, "OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
        ({"otlp_endpoint": "localhost:4318"}, {}, "otlp_endpoint", "http://localhost:4318"),
        ({"otlp_endpoint": "http://host:notaport"}, {}, "otlp_endpoint", "URL"),
        ({"otlp_headers": "novalue"}, {}, "otlp_headers", "key=value"),
        ({"resource_attributes": "a=1,broken"}, {}, "resource_attributes", "key=value"),
        ({"redact_patterns": ["(unclosed"]}, {}, "redact_patterns", "correct the pattern"),
        ({"max_content_chars": 10}, {}, "max_content_chars", "20000"),
        ({"turn_timeout_seconds": 0}, {}, "turn_timeout_seconds", "600"),
        ({"max_open_turns": -5}, {}, "max_open_turns", "10000"),
    ],
)
def test_bad_values_name_the_setting_and_the_fix(
    valves: dict[str, object], env: dict[str, str], valve_named: str, fix_mentions: str
) -> None:
    settings, problems = resolve_settings(valves, env)
    assert len(problems) == 1
    message = problems[0].message()
    kind = "environment variable" if valve_named.isupper() else "valve"
    assert message.startswith(f"{kind} {valve_named}=")
    assert "Fix:" in message and fix_mentions in message.split("Fix:", 1)[1]
    assert settings.export.endpoint.startswith("http")  # a usable fallback, never a crash


def test_secret_headers_are_not_echoed_in_problems() -> None:
    _, problems = resolve_settings({"otlp_headers": "Authorization=Basic%20SECRET,junk"}, {})
    assert problems and "SECRET" not in problems[0].message()


def test_invalid_redaction_pattern_fails_closed() -> None:
    settings, _ = resolve_settings({"redact_patterns": [r"\d{4}", "(bad"], "capture_message_content": True}, {})
    assert settings.capture_content is False  # never record unredacted content


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("true", True),
        ("TRUE", True),
        ("1", True),
        ("false", False),
        ("0", False),
        ("NO_CONTENT", False),
        ("SPAN_ONLY", True),
        ("event_only", True),
        ("SPAN_AND_EVENT", True),
        ("maybe", None),
        (None, None),
    ],
)
def test_capture_content_vocabularies(raw: str | None, expected: bool | None) -> None:
    assert parse_capture_mode(raw) is expected


def test_valve_defaults_follow_the_environment(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "NO_CONTENT")
    monkeypatch.setenv("OWUI_OTEL_TURN_TIMEOUT_SECONDS", "42")
    monkeypatch.setenv("OWUI_OTEL_REDACT_PATTERNS", '["a+", "b{2,3}"]')
    monkeypatch.setenv("OWUI_OTEL_RECORD_TASKS", "false")
    valves = Valves()
    assert valves.capture_message_content is False
    assert valves.turn_timeout_seconds == 42
    assert valves.redact_patterns == ["a+", "b{2,3}"]
    assert valves.record_tasks is False

    monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "sometimes")
    monkeypatch.setenv("OWUI_OTEL_MAX_OPEN_TURNS", "lots")
    with caplog.at_level(logging.WARNING, logger="otel_filter"):
        valves = Valves()
    assert valves.capture_message_content is False  # unknown value: off, with a warning
    assert valves.max_open_turns == 10_000
    assert "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT" in caplog.text
    assert "OWUI_OTEL_MAX_OPEN_TURNS" in caplog.text


def test_every_valve_has_a_description() -> None:
    schema = Valves.model_json_schema()
    for name, field in schema["properties"].items():
        assert field.get("description"), name
    assert Valves().pipelines == ["*"] and Valves().priority == 0


def test_credentials_in_an_endpoint_url_are_masked_for_logs() -> None:
    assert display_url("https://user:s3cret@collector.example:4318/v1/traces") == (
        "https://***@collector.example:4318/v1/traces"
    )
    assert display_url("http://localhost:4318/v1/traces") == "http://localhost:4318/v1/traces"
    _, problems = resolve_settings({"otlp_endpoint": "ftp://user:s3cret@host"}, {})
    assert problems and "s3cret" not in problems[0].message()

# SPDX-License-Identifier: Apache-2.0
"""Valves over environment over defaults; every bad value named with its fix."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider

from otel_filter import FilterCore, Pipeline, Valves, environment_variables
from otel_filter._pricing import PriceOverride
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
        ({"turn_timeout_seconds": -1}, {}, "turn_timeout_seconds", "600"),
        ({"max_open_turns": -5}, {}, "max_open_turns", "10000"),
        ({}, {"OWUI_OTEL_MAX_OPEN_TURNS": "lots"}, "OWUI_OTEL_MAX_OPEN_TURNS", "10000"),
        ({}, {"OWUI_OTEL_TURN_TIMEOUT_SECONDS": "999999"}, "OWUI_OTEL_TURN_TIMEOUT_SECONDS", "86400"),
        ({"record_tasks": "maybe"}, {}, "record_tasks", "'true'"),
        ({"user_identity": "name"}, {}, "user_identity", "'id'"),
        ({}, {"OWUI_OTEL_USER_IDENTITY": "nickname"}, "OWUI_OTEL_USER_IDENTITY", "'username'"),
    ],
)
def test_bad_values_name_the_setting_and_the_fix(
    valves: dict[str, object], env: dict[str, str], valve_named: str, fix_mentions: str
) -> None:
    settings, problems = resolve_settings(valves, env)
    assert len(problems) == 1
    message = problems[0].message()
    label = valve_named if valve_named.isupper() else f"valve {valve_named}"
    assert message.startswith(f"{label}: ")
    assert "valve" not in message.split("Fix:", 1)[0] or not valve_named.isupper()  # env problems never say valve
    assert "Until then: " in message
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


def test_unset_valves_defer_to_the_environment() -> None:
    """A fresh install's valves (all at their empty value) follow the given environment, then the defaults."""
    environ = {
        "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": "NO_CONTENT",
        "OWUI_OTEL_TURN_TIMEOUT_SECONDS": "42",
        "OWUI_OTEL_REDACT_PATTERNS": '["a+", "b{2,3}"]',
        "OWUI_OTEL_RECORD_TASKS": "false",
    }
    settings, problems = resolve_settings(Valves().model_dump(), environ)
    assert problems == []
    assert settings.capture_content is False
    assert settings.turn_timeout_s == 42
    assert [p.pattern for p in settings.redact_patterns] == ["a+", "b{2,3}"]
    assert settings.record_tasks is False
    assert settings.max_open_turns == 10_000  # not in the environment: the default

    environ["OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"] = "sometimes"
    settings, problems = resolve_settings(Valves().model_dump(), environ)
    assert settings.capture_content is False  # unknown value: off, reported as a problem (logged by the filter)
    (problem,) = problems
    assert problem.message().startswith("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT: 'sometimes' is not")
    assert "Until then: recording no message content" in problem.message()


def test_set_valves_win_over_the_environment() -> None:
    environ = {
        "OWUI_OTEL_MAX_CONTENT_CHARS": "5000",
        "OWUI_OTEL_RECORD_TASKS": "false",
        "OWUI_OTEL_USER_IDENTITY": "email",
    }
    valves = Valves(max_content_chars=30_000, record_tasks="true", user_identity="username").model_dump()
    settings, problems = resolve_settings(valves, environ)
    assert problems == []
    assert (settings.max_content_chars, settings.record_tasks, settings.user_identity) == (30_000, True, "username")


def test_valves_saved_as_switches_keep_their_value() -> None:
    """Installs that saved the true/false valves as booleans (Pipelines valves.json, Open WebUI DB) keep them."""
    valves = Valves(**{"capture_message_content": False, "record_tasks": True, "record_user_email": True})
    assert (valves.capture_message_content, valves.record_tasks, valves.record_user_email) == ("false", "true", "true")
    environ = {"OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": "true", "OWUI_OTEL_RECORD_TASKS": "false"}
    settings, _ = resolve_settings(valves.model_dump(), environ)
    assert (settings.capture_content, settings.record_tasks, settings.record_user_email) == (False, True, True)


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


# Every variable the filter reads: a value differing from its default, and the settings field it must reach.
ENVIRONMENT_REACHES: dict[str, tuple[str, str, Any]] = {
    "OTEL_EXPORTER_OTLP_ENDPOINT": ("http://collector:4318", "export.endpoint", "http://collector:4318/v1/traces"),
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": ("http://c:9/traces", "export.endpoint", "http://c:9/traces"),
    "OTEL_EXPORTER_OTLP_PROTOCOL": ("grpc", "export.protocol", "grpc"),
    "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": ("grpc", "export.protocol", "grpc"),
    "OTEL_EXPORTER_OTLP_HEADERS": ("a=1", "export.headers", (("a", "1"),)),
    "OTEL_EXPORTER_OTLP_TRACES_HEADERS": ("b=2", "export.headers", (("b", "2"),)),
    "OTEL_SERVICE_NAME": ("chat-prod", "service_name", "chat-prod"),
    "OTEL_RESOURCE_ATTRIBUTES": (
        "deployment.environment.name=prod",
        "resource_attributes",
        (("deployment.environment.name", "prod"),),
    ),
    "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": ("NO_CONTENT", "capture_content", False),
    "OWUI_OTEL_REDACT_PATTERNS": ('["sk-[a-z]+"]', "redact_patterns", ("sk-[a-z]+",)),
    "OWUI_OTEL_MAX_CONTENT_CHARS": ("5000", "max_content_chars", 5000),
    "OWUI_OTEL_TURN_TIMEOUT_SECONDS": ("42", "turn_timeout_s", 42.0),
    "OWUI_OTEL_MAX_OPEN_TURNS": ("7", "max_open_turns", 7),
    "OWUI_OTEL_RECORD_TASKS": ("false", "record_tasks", False),
    "OWUI_OTEL_RECORD_USER_EMAIL": ("true", "record_user_email", True),
    "OWUI_OTEL_USER_IDENTITY": ("username", "user_identity", "username"),
    "OWUI_OTEL_PRICE_OVERRIDES": (
        '{"m*": {"input": 1, "output": 2}}',
        "price_overrides",
        (PriceOverride(pattern="m*", input_mtok=Decimal(1), output_mtok=Decimal(2)),),
    ),
}


def _field(settings: object, path: str) -> Any:
    for part in path.split("."):
        settings = getattr(settings, part)
    if path == "redact_patterns":
        return tuple(pattern.pattern for pattern in settings)  # type: ignore[attr-defined]
    return settings


def test_every_environment_variable_has_a_case() -> None:
    declared = {name for name in vars(environment_variables) if name.isupper() and not name.startswith("_")}
    # LANGFUSE_*: the Event function's (no Settings field), covered in tests/filter/test_event_function.py
    assert declared - {"LANGFUSE_HOST", "LANGFUSE_PUBLIC_KEY", "LANGFUSE_SECRET_KEY"} == set(ENVIRONMENT_REACHES)


@pytest.mark.parametrize("variable", sorted(ENVIRONMENT_REACHES))
def test_filter_core_environ_decides_every_setting(variable: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """``FilterCore(environ=...)`` reaches every setting, with a fresh install's valves (all empty); the process
    environment, set to something else, plays no part."""
    value, path, expected = ENVIRONMENT_REACHES[variable]
    monkeypatch.setenv(variable, "")  # os.environ holds nothing for it: only the given mapping can decide
    core = FilterCore(
        Valves().model_dump(), host="library", tracer_provider=TracerProvider(), environ={variable: value}
    )
    try:
        assert _field(core.settings, path) == expected
        assert core.health.get("config_problems") == 0
    finally:
        core.shutdown()
    default = FilterCore(Valves().model_dump(), host="library", tracer_provider=TracerProvider(), environ={})
    try:
        assert _field(default.settings, path) != expected  # the case tests something: the default differs
    finally:
        default.shutdown()


def test_the_environment_keeps_applying_after_pipelines_saves_the_valves(monkeypatch: pytest.MonkeyPatch) -> None:
    """The Pipelines server saves every valve (model_dump) on any change; empty ones still defer to the environment."""
    monkeypatch.setenv("OWUI_OTEL_MAX_CONTENT_CHARS", "5000")
    pipeline = Pipeline(tracer_provider=TracerProvider())
    saved = Valves(**{**pipeline.valves.model_dump(), "priority": 3}).model_dump()  # what valves.json now holds
    pipeline.valves = Valves(**saved)
    core = pipeline._core()
    try:
        assert core.settings.max_content_chars == 5000
    finally:
        core.shutdown()

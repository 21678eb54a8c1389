# SPDX-License-Identifier: Apache-2.0
"""Settings an attacker or a careless admin can send (issue 8, findings 3, 8 and 10).

- The environment's OTLP headers (the collector's token) only go to the environment's endpoint.
- URLs are logged without credentials, query string or fragment; ``/v1/traces`` goes into the path.
- Every numeric valve is bounded; NaN, infinities and absurd numbers get a Problem and a safe value.
- ``end_open_turns`` refuses an age that is not a finite number >= 0.
"""

from __future__ import annotations

import math
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import grpc  # type: ignore[import-untyped]  # no stubs unless types-grpcio is installed
import pytest

from otel_filter import FilterCore, Valves
from otel_filter._settings import (
    MAX_MAX_CONTENT_CHARS,
    MAX_MAX_OPEN_TURNS,
    MAX_TURN_TIMEOUT_S,
    display_url,
    http_traces_url,
    resolve_settings,
)
from tests.support.otlp_sink import OtlpSink

pytestmark = pytest.mark.unit

ENV_TOKEN = "Bearer%20env-s3cret"
ENV = {
    "OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318",
    "OTEL_EXPORTER_OTLP_HEADERS": f"authorization={ENV_TOKEN}",
}
TASK = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "metadata": {"task": "tags_generation"}}


# --- environment headers belong to the environment's endpoint -------------------------------


def test_env_headers_are_not_sent_to_a_valve_endpoint_elsewhere() -> None:
    settings, problems = resolve_settings({"otlp_endpoint": "https://attacker.example/collect"}, ENV)
    assert settings.export.endpoint == "https://attacker.example/collect/v1/traces"
    assert settings.export.headers == ()
    (problem,) = problems
    message = problem.message()
    assert message.startswith("valve otlp_endpoint: 'https://attacker.example/collect'")
    assert "OTEL_EXPORTER_OTLP_HEADERS" in message and "not sent" in message
    fix = message.split("Fix:", 1)[1]
    assert "otlp_headers" in fix and "leave otlp_endpoint empty" in fix
    assert "Until then: no headers are sent" in message
    assert "env-s3cret" not in message


@pytest.mark.parametrize(
    "endpoint",
    [
        "http://collector:4318",  # the very endpoint
        "http://COLLECTOR:4318/",  # same origin, other spelling
        "http://collector:4318/other/path",  # same origin, other path
    ],
)
def test_env_headers_still_go_to_the_env_endpoint(endpoint: str) -> None:
    settings, problems = resolve_settings({"otlp_endpoint": endpoint}, ENV)
    assert problems == []
    assert settings.export.headers == (("authorization", "Bearer env-s3cret"),)


@pytest.mark.parametrize(
    "endpoint",
    ["http://collector:4317", "https://collector:4318", "http://collector.evil:4318", "http://127.0.0.1:4318"],
)
def test_another_port_scheme_or_host_is_another_endpoint(endpoint: str) -> None:
    settings, problems = resolve_settings({"otlp_endpoint": endpoint}, ENV)
    assert settings.export.headers == ()
    assert [p.setting for p in problems] == ["otlp_endpoint"]


def test_default_endpoint_counts_as_the_environments() -> None:
    env = {"OTEL_EXPORTER_OTLP_TRACES_HEADERS": "x-token=t"}
    settings, problems = resolve_settings({"otlp_endpoint": "http://localhost:4318"}, env)
    assert problems == [] and settings.export.headers == (("x-token", "t"),)
    settings, problems = resolve_settings({"otlp_endpoint": "http://elsewhere:4318"}, env)
    assert settings.export.headers == ()
    assert "OTEL_EXPORTER_OTLP_TRACES_HEADERS" in problems[0].message()


def test_valve_headers_go_with_a_valve_endpoint() -> None:
    valves = {"otlp_endpoint": "https://cloud.example/otel", "otlp_headers": "authorization=Basic%20abc"}
    settings, problems = resolve_settings(valves, ENV)
    assert problems == []
    assert settings.export.headers == (("authorization", "Basic abc"),)


def _sent_headers(monkeypatch: pytest.MonkeyPatch, valves: dict[str, Any], env_endpoint: str | None) -> dict[str, str]:
    """The headers an OTLP request carried, with OTEL_EXPORTER_OTLP_HEADERS set in the real environment
    (the SDK's exporter reads it itself)."""
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", "authorization=Bearer%20env-s3cret,x-env=1")
    with OtlpSink() as sink:
        if env_endpoint == "sink":
            monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", sink.endpoint)
        else:
            valves = {**valves, "otlp_endpoint": sink.endpoint}
        core = FilterCore(valves, host="library")
        try:
            core.inlet(TASK)  # a task call: one span at once
            assert core.force_flush(5.0)
            sink.wait_for(1)
        finally:
            core.shutdown()
        return sink.requests[0]


def test_the_exporter_sends_no_env_header_to_a_valve_endpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    sent = _sent_headers(monkeypatch, {}, env_endpoint=None)
    assert "authorization" not in sent and "x-env" not in sent


def test_the_exporter_sends_only_valve_headers_with_a_valve_endpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    # The SDK's exporter (1.4x) would merge the environment's headers under the given ones.
    sent = _sent_headers(monkeypatch, {"otlp_headers": "x-valve=v"}, env_endpoint=None)
    assert sent.get("x-valve") == "v"
    assert "authorization" not in sent and "x-env" not in sent


def test_the_exporter_sends_env_headers_to_the_env_endpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    sent = _sent_headers(monkeypatch, {}, env_endpoint="sink")
    assert sent.get("authorization") == "Bearer env-s3cret" and sent.get("x-env") == "1"


class _GrpcMetadataSink:
    """An OTLP/gRPC trace endpoint on 127.0.0.1 that records the metadata of every export (and answers OK)."""

    def __init__(self) -> None:
        self.metadata: list[dict[str, str]] = []
        self._arrived = threading.Event()
        handler = grpc.method_handlers_generic_handler(
            "opentelemetry.proto.collector.trace.v1.TraceService",
            {"Export": grpc.unary_unary_rpc_method_handler(self._export)},
        )
        self._server = grpc.server(ThreadPoolExecutor(max_workers=2))
        self._server.add_generic_rpc_handlers((handler,))
        self.endpoint = f"http://127.0.0.1:{self._server.add_insecure_port('127.0.0.1:0')}"

    def _export(self, request: bytes, context: Any) -> bytes:
        self.metadata.append({key: value for key, value in context.invocation_metadata()})
        self._arrived.set()
        return b""  # an empty ExportTraceServiceResponse

    def __enter__(self) -> _GrpcMetadataSink:
        self._server.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._server.stop(grace=1).wait()

    def wait(self, timeout_s: float = 10.0) -> dict[str, str]:
        assert self._arrived.wait(timeout_s), "no export arrived"
        return self.metadata[0]


def _sent_grpc_metadata(monkeypatch: pytest.MonkeyPatch, *, env_endpoint: bool) -> dict[str, str]:
    """The gRPC metadata an export carried, OTEL_EXPORTER_OTLP_HEADERS set in the real environment (the SDK's
    gRPC exporter falls back to it by itself when it is given no headers)."""
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", "authorization=Bearer%20env-s3cret,x-env=1")
    with _GrpcMetadataSink() as sink:
        valves: dict[str, Any] = {"otlp_protocol": "grpc"}
        if env_endpoint:
            monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", sink.endpoint)
        else:
            monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector.invalid:4317")
            valves["otlp_endpoint"] = sink.endpoint
        core = FilterCore(valves, host="library")
        try:
            core.inlet(TASK)
            core.force_flush(5.0)
            return sink.wait()
        finally:
            core.shutdown()


def test_the_grpc_exporter_sends_no_env_header_to_a_valve_endpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    sent = _sent_grpc_metadata(monkeypatch, env_endpoint=False)
    assert "authorization" not in sent and "x-env" not in sent


def test_the_grpc_exporter_sends_env_headers_to_the_env_endpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    sent = _sent_grpc_metadata(monkeypatch, env_endpoint=True)
    assert sent.get("authorization") == "Bearer env-s3cret" and sent.get("x-env") == "1"


# --- URLs in logs, URLs built -------------------------------------------------------------


def test_display_url_hides_credentials_query_and_fragment() -> None:
    assert display_url("https://u:pw@c.example:4318/v1/traces?api_key=s3cret#tok") == (
        "https://***@c.example:4318/v1/traces?***#***"
    )
    assert display_url("http://c:4318/v1/traces?") == "http://c:4318/v1/traces"
    assert display_url("http://localhost:4318/v1/traces") == "http://localhost:4318/v1/traces"


def test_problems_and_export_logs_never_show_a_query_string(caplog: pytest.LogCaptureFixture) -> None:
    _, problems = resolve_settings({"otlp_endpoint": "https://c.example/otel?api_key=s3cret"}, ENV)
    assert problems and all("s3cret" not in p.message() for p in problems)
    core = FilterCore({"otlp_endpoint": "http://127.0.0.1:9/otel?api_key=s3cret"}, host="library")
    try:
        assert core._telemetry.endpoint == "http://127.0.0.1:9/otel/v1/traces?***"
    finally:
        core.shutdown(timeout_s=2.0)
    assert "s3cret" not in caplog.text


@pytest.mark.parametrize(
    ("base", "expected"),
    [
        ("http://c:4318", "http://c:4318/v1/traces"),
        ("http://c:4318/", "http://c:4318/v1/traces"),
        ("http://c:4318/v1/traces", "http://c:4318/v1/traces"),
        ("https://c.example/api/public/otel", "https://c.example/api/public/otel/v1/traces"),
        ("https://c.example/otel?tenant=a", "https://c.example/otel/v1/traces?tenant=a"),
        ("https://c.example/otel/?tenant=a#x", "https://c.example/otel/v1/traces?tenant=a#x"),
    ],
)
def test_http_traces_url_puts_the_path_before_the_query(base: str, expected: str) -> None:
    assert http_traces_url(base) == expected


# --- numeric valves -----------------------------------------------------------------------

NUMERIC = {
    "turn_timeout_seconds": (600, MAX_TURN_TIMEOUT_S),
    "max_open_turns": (10_000, MAX_MAX_OPEN_TURNS),
    "max_content_chars": (20_000, MAX_MAX_CONTENT_CHARS),
}
RESOLVED = {"turn_timeout_seconds": "turn_timeout_s", "max_open_turns": "max_open_turns"}


def _resolved(settings: Any, name: str) -> float:
    return float(getattr(settings, RESOLVED.get(name, name)))


@pytest.mark.parametrize("name", sorted(NUMERIC))
@pytest.mark.parametrize("bad", [math.inf, -math.inf, math.nan, 1.5, True, "abc", "1" * 50, [600]])
def test_a_numeric_valve_that_is_no_whole_number_falls_back_to_its_default(name: str, bad: object) -> None:
    default, maximum = NUMERIC[name]
    settings, problems = resolve_settings({name: bad}, {})
    assert _resolved(settings, name) == default
    (problem,) = problems
    message = problem.message()
    assert message.startswith(f"valve {name}: ")
    assert f"to {maximum}" in message and "Fix:" in message and f"Until then: using {default}" in message
    assert len(message) < 400  # a 50-digit value is shortened, not echoed


@pytest.mark.parametrize("name", sorted(NUMERIC))
@pytest.mark.parametrize("unset", [None, 0, "", "0"])
def test_a_numeric_valve_left_empty_uses_the_environment_then_the_default(name: str, unset: object) -> None:
    default, _ = NUMERIC[name]
    settings, problems = resolve_settings({name: unset}, {})
    assert (_resolved(settings, name), problems) == (default, [])
    variable = f"OWUI_OTEL_{name.upper()}"
    settings, problems = resolve_settings({name: unset}, {variable: "300"})
    assert (_resolved(settings, name), problems) == (300, [])


@pytest.mark.parametrize("name", sorted(NUMERIC))
@pytest.mark.parametrize("huge", [10**400, 1e300, "99999999999999999999"])
def test_a_numeric_valve_above_its_bound_uses_the_bound(name: str, huge: object) -> None:
    _, maximum = NUMERIC[name]
    settings, problems = resolve_settings({name: huge}, {})
    assert _resolved(settings, name) == maximum
    (problem,) = problems
    assert f"is more than {maximum}" in problem.message() and f"using {maximum}" in problem.message()


def test_whole_numbers_in_other_forms_are_accepted() -> None:
    settings, problems = resolve_settings({"turn_timeout_seconds": 30.0, "max_open_turns": " 50 "}, {})
    assert problems == []
    assert (settings.turn_timeout_s, settings.max_open_turns) == (30.0, 50)


def test_valves_schema_states_the_bounds() -> None:
    properties = Valves.model_json_schema()["properties"]
    assert properties["turn_timeout_seconds"]["maximum"] == MAX_TURN_TIMEOUT_S
    assert properties["max_open_turns"]["maximum"] == MAX_MAX_OPEN_TURNS
    # 0 is the empty value (use the environment), so the schema allows it; the real lower bound is in the text.
    assert properties["max_content_chars"]["minimum"] == 0
    assert "From 256 to" in properties["max_content_chars"]["description"]


def test_an_absurd_timeout_never_leaves_valves_stuck() -> None:
    core = FilterCore({}, host="library", tracer_provider=_provider())
    try:
        core.update_valves({"turn_timeout_seconds": 10**400})  # used to raise OverflowError inside update_valves
        assert core.settings.turn_timeout_s == MAX_TURN_TIMEOUT_S
        assert core.health.get("reconfigure_failed") == 0 and core.health.get("config_problems") == 1
        core.update_valves({"turn_timeout_seconds": 5})
        assert core.settings.turn_timeout_s == 5.0
    finally:
        core.shutdown()


def test_valves_that_failed_to_apply_are_tried_again(monkeypatch: pytest.MonkeyPatch) -> None:
    core = FilterCore({}, host="library")
    try:
        real_apply = core._telemetry.apply
        calls: list[object] = []

        def apply_failing_once(settings: object) -> None:
            calls.append(settings)
            if len(calls) == 1:
                raise RuntimeError("simulated failure")
            real_apply(settings)  # type: ignore[arg-type]

        monkeypatch.setattr(core._telemetry, "apply", apply_failing_once)
        valves = {"turn_timeout_seconds": 42, "service_name": "changed"}
        core.update_valves(valves)
        assert core.health.get("reconfigure_failed") == 1
        assert core.settings.turn_timeout_s == 600.0  # nothing half-applied
        core.update_valves(dict(valves))  # the same valves again: not mistaken for "unchanged"
        assert core.settings.turn_timeout_s == 42.0 and core.settings.service_name == "changed"
    finally:
        core.shutdown(timeout_s=2.0)


# --- end_open_turns ------------------------------------------------------------------------


def _provider() -> Any:
    from opentelemetry.sdk.trace import TracerProvider  # noqa: PLC0415

    return TracerProvider()


@pytest.mark.parametrize("age", [math.nan, math.inf, -math.inf, -1, "NaN", "10", True, None])
def test_end_open_turns_refuses_an_age_that_is_not_a_finite_number(age: object) -> None:
    core = FilterCore({}, host="library", tracer_provider=_provider())
    try:
        core.inlet({"model": "m", "messages": [{"role": "user", "content": "q"}], "metadata": {"message_id": "m1"}})
        with pytest.raises(ValueError, match="finite number of seconds >= 0"):
            core.end_open_turns(older_than_s=age)  # type: ignore[arg-type]
        assert core.open_turns == 1  # never "end every turn"
        assert core.end_open_turns(older_than_s=3600) == 0
        assert core.end_open_turns(older_than_s=0) == 1
    finally:
        core.shutdown()

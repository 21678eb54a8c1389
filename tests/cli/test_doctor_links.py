# SPDX-License-Identifier: Apache-2.0
"""`owui-otel doctor`'s link checks one by one, each broken on purpose, with real processes: our collector, Jaeger,
the Langfuse-contract endpoint and the bridge server (uvicorn, in a thread). Open WebUI is the contract double
tests/support/openwebui_admin.py. The synthetic turn is left out here (--no-synthetic-turn) unless the test is about
it: tests/cli/test_doctor.py proves the chain with it."""

from __future__ import annotations

import base64
import importlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from collector._process import wait_until
from otel_filter import _pricing
from owui_otel._doctor import DoctorInputs, run_checks
from tests.cli.test_doctor import (
    BRIDGE_KEY,
    _bridge,
    _bridge_flags,
    _langfuse_env,
    _line,
    _problem,
    _snapshot,
    _turn_through_bridge,
    _verdict,
    _wait_for_turns_in_jaeger,
    chain,
    doctor,
    quiet_shell,
)
from tests.support.openwebui_admin import openwebui_admin
from tests.support.servers import ThreadServer
from tests.support.stack import FAST_RETRY, Stack

pytestmark = pytest.mark.integration
__all__ = ["chain", "doctor", "quiet_shell"]  # fixtures, found by name

LINKS_ONLY = "--no-synthetic-turn"


def _secrets_absent(output: str, stack: Stack) -> None:
    basic = base64.b64encode(f"{stack.public_key}:{stack.secret_key}".encode()).decode()
    for secret in (BRIDGE_KEY, stack.secret_key, basic):
        assert secret not in output


def test_wrong_keys_are_named_with_the_fix(
    chain: tuple[Stack, ThreadServer],
    doctor: Callable[..., Any],  # noqa: F811
    tmp_path: Path,
) -> None:
    stack, bridge = chain
    env = {**_langfuse_env(stack), "LANGFUSE_SECRET_KEY": "sk-lf-wrong"}
    code, output = doctor(stack, LINKS_ONLY, *_bridge_flags(bridge), **env)
    assert code == 1
    _snapshot("wrong_langfuse_keys", output, tmp_path)
    _problem(output, "LANGFUSE_PUBLIC_KEY / LANGFUSE_SECRET_KEY", "rejects the key pair (401)", "Settings > API Keys")
    code, output = doctor(stack, LINKS_ONLY, *_bridge_flags(bridge, "not-the-key"))
    assert code == 1
    _snapshot("wrong_bridge_key", output, tmp_path)
    _problem(output, "OWUI_OTEL_API_KEY", "refuses the API key")
    assert "not-the-key" not in output and "sk-lf-wrong" not in output
    _verdict(output)


def test_a_filter_pointed_at_langfuses_base_url_is_named_with_the_fix(
    chain: tuple[Stack, ThreadServer],
    doctor: Callable[..., Any],  # noqa: F811
    tmp_path: Path,
) -> None:
    stack, bridge = chain
    code, output = doctor(stack, LINKS_ONLY, *_bridge_flags(bridge), "--otlp-endpoint", stack.langfuse_url)
    assert code == 1
    _snapshot("langfuse_base_url_as_endpoint", output, tmp_path)
    _problem(output, "OTEL_EXPORTER_OTLP_ENDPOINT", "not an OTLP/HTTP traces endpoint", "http://localhost:4318")


def test_collector_down_is_reported(
    chain: tuple[Stack, ThreadServer],
    doctor: Callable[..., Any],  # noqa: F811
    tmp_path: Path,
) -> None:
    stack, bridge = chain
    stack.kill_collector()
    code, output = doctor(stack, *_bridge_flags(bridge))
    assert code == 1
    _snapshot("collector_down", output, tmp_path)
    _problem(output, "collector", "no healthy collector", ".venv/bin/owui-otel up")
    _problem(output, "OTEL_EXPORTER_OTLP_ENDPOINT", "nothing listens at")
    _problem(output, "synthetic turn in Jaeger", "Jaeger did not have it")
    _verdict(output)


def test_streamed_turns_without_usage_point_at_the_usage_capability(
    chain: tuple[Stack, ThreadServer],
    doctor: Callable[..., Any],  # noqa: F811
    tmp_path: Path,
) -> None:
    stack, bridge = chain
    _turn_through_bridge(bridge, "ui_stream_no_usage")
    _wait_for_turns_in_jaeger(stack, 1)
    code, output = doctor(stack, LINKS_ONLY, *_bridge_flags(bridge))
    assert code == 1  # a warning is a problem too: the last line counts it
    _snapshot("streamed_turns_without_usage", output, tmp_path)
    _problem(output, "token usage", "1 of 1 recent streamed turns carry no token usage", "Usage capability")
    assert _verdict(output) == (1, 0, 1)


def test_unpriced_models_are_named_with_an_override_example(
    quiet_shell: None,  # noqa: F811
    stack_factory: Callable[..., Stack],  # noqa: F811
    doctor: Callable[..., Any],  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    monkeypatch.delenv("OWUI_OTEL_PRICE_OVERRIDES")  # the bridge resolves it at start: mock-gpt has no price
    stack = stack_factory(jaeger=True)
    with _bridge(tmp_path, stack.otlp_http_endpoint) as bridge:
        _turn_through_bridge(bridge, "ui_stream_turn1")
        _wait_for_turns_in_jaeger(stack, 1)
        code, output = doctor(stack, LINKS_ONLY, *_bridge_flags(bridge))
    assert code == 1
    _snapshot("unpriced_model", output, tmp_path)
    line = _problem(output, "OWUI_OTEL_PRICE_OVERRIDES", "1 turn(s) of model mock-gpt had no price")
    assert 'e.g. {"mock-gpt": {"input"' in line
    assert output.count("had no price") == 1  # from the bridge's counters, not again from Jaeger
    # Without a bridge (a Function or Pipelines host) the same line comes from the turns in Jaeger.
    code, output = doctor(stack, LINKS_ONLY)
    _problem(output, "OWUI_OTEL_PRICE_OVERRIDES", "1 turn(s) of model mock-gpt had no price")
    _secrets_absent(output, stack)


def test_turns_unpriced_for_lack_of_genai_prices_name_that_fix_not_an_override(
    chain: tuple[Stack, ThreadServer],
    doctor: Callable[..., Any],  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    # The bridge runs in this process: make genai-prices unimportable for the filter in it.
    def missing(name: str) -> Any:
        raise ImportError(name)

    monkeypatch.setattr(_pricing, "_library", None)
    monkeypatch.setattr(_pricing, "_library_missing", False)
    monkeypatch.setattr(importlib, "import_module", missing)
    stack, bridge = chain
    _turn_through_bridge(bridge, "ui_stream_turn1")
    _wait_for_turns_in_jaeger(stack, 1)
    code, output = doctor(stack, LINKS_ONLY)  # no bridge: judged from the spans in Jaeger
    assert code == 1, output
    _snapshot("genai_prices_missing", output, tmp_path)
    _problem(output, "turn prices", "cannot import genai-prices", "pip install genai-prices")
    assert "had no price" not in output and "price_overrides" not in output


@pytest.mark.parametrize(
    ("settings", "key", "expected"),
    [
        ({}, BRIDGE_KEY, "is a filter host, set up right"),
        ({"prefix_id": "otel"}, BRIDGE_KEY, "has Prefix ID 'otel'"),
        ({}, "", "has an empty API key"),
        ({"model_ids": ["otel_bridge"]}, BRIDGE_KEY, "lists explicit model ids"),
    ],
)
def test_open_webui_connection_pitfalls(
    chain: tuple[Stack, ThreadServer],
    doctor: Callable[..., Any],  # noqa: F811
    settings: dict[str, Any],
    key: str,
    expected: str,
    tmp_path: Path,
) -> None:
    stack, bridge = chain
    connections = [("http://127.0.0.1:1/v1", "sk-upstream", {}), (bridge.url, key, settings)]
    with ThreadServer(openwebui_admin("admin-jwt", connections=connections)) as openwebui:
        code, output = doctor(
            stack,
            LINKS_ONLY,
            *_bridge_flags(bridge),
            "--openwebui-url",
            openwebui.url,
            "--openwebui-token",
            "admin-jwt",
        )
    assert expected in _line(output, "Open WebUI connection")
    assert code == (0 if "set up right" in expected else 1), output
    _snapshot(f"connection_{'_'.join(expected.split()[:3])}", output, tmp_path)
    assert "admin-jwt" not in output


def test_spans_the_collector_could_not_deliver_are_reported(
    quiet_shell: None,  # noqa: F811
    stack_factory: Callable[..., Stack],  # noqa: F811
    doctor: Callable[..., Any],  # noqa: F811
    tmp_path: Path,
) -> None:
    """The filter sees 200 from the collector; only the collector knows Langfuse refused the spans."""
    wrong_auth = base64.b64encode(b"pk-lf-test:not-the-secret").decode()
    stack = stack_factory(jaeger=True, env={"LANGFUSE_AUTH_B64": wrong_auth})
    with _bridge(tmp_path, stack.otlp_http_endpoint) as bridge:
        _turn_through_bridge(bridge, "ui_stream_turn1")
        stack.wait_metric("otelcol_exporter_send_failed_spans", 1, timeout=60, exporter="otlp_http/langfuse")
        _wait_for_turns_in_jaeger(stack, 1)
        code, output = doctor(stack, LINKS_ONLY, *_bridge_flags(bridge))
    line = _problem(output, "collector exports to otlp_http/langfuse", "1 span(s) failed to send and were dropped")
    assert "401/403 means wrong Langfuse keys" in line
    assert code == 1
    _snapshot("undelivered_spans", output, tmp_path)


def test_a_backend_that_is_down_shows_as_queued_and_retried(
    quiet_shell: None,  # noqa: F811
    stack_factory: Callable[..., Stack],  # noqa: F811
    doctor: Callable[..., Any],  # noqa: F811
    tmp_path: Path,
) -> None:
    """Langfuse down: the collector keeps the spans queued and retries; its metrics and log say so."""
    stack = stack_factory(jaeger=True, env=FAST_RETRY)
    stack.stop_langfuse()
    with _bridge(tmp_path, stack.otlp_http_endpoint) as bridge:
        _turn_through_bridge(bridge, "ui_stream_turn1")
        _wait_for_turns_in_jaeger(stack, 1)
        assert stack.collector is not None
        log = Path(stack.collector.log_path)
        wait_until(lambda: "Will retry" in log.read_text(errors="replace"), timeout=60, interval=0.5, what="a retry")
        report = run_checks(
            DoctorInputs(collector_metrics=f"http://127.0.0.1:{stack.ports.metrics}/metrics", collector_log=str(log))
        )
    (check,) = [c for c in report.checks if c.link == "collector exports to otlp_http/langfuse"]
    assert check.status == "warn"
    assert "failed export(s) to retry" in check.says and "connection refused" in check.says, check.says
    assert "queued" in check.says or "failed export(s)" in check.says

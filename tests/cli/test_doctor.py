# SPDX-License-Identifier: Apache-2.0
"""`owui-otel doctor` on a healthy chain and on each broken link, with real processes: our collector,
Jaeger, the Langfuse-contract endpoint and the bridge server (uvicorn, in a thread)."""

from __future__ import annotations

import base64
import importlib
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from otel_filter import _pricing
from owui_otel.cli import main
from owui_otel.server import ServerConfig, create_app
from tests.support.scenarios import load
from tests.support.servers import ThreadServer
from tests.support.stack import Stack

pytestmark = pytest.mark.integration

BRIDGE_KEY = "doctor-bridge-key-8d1f"


@pytest.fixture
def chain(
    stack_factory: Callable[..., Stack],  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[tuple[Stack, ThreadServer]]:
    stack = stack_factory(jaeger=True)
    (tmp_path / "bridge").mkdir()
    # The bridge exports to this stack's collector, in 200 ms batches so the test need not wait long.
    monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "200")
    (tmp_path / "bridge" / "valves.json").write_text(json.dumps({"otlp_endpoint": stack.otlp_http_endpoint}))
    app = create_app(ServerConfig(api_key=BRIDGE_KEY, data_dir=tmp_path / "bridge"))
    with ThreadServer(app) as bridge:
        yield stack, bridge


@pytest.fixture
def doctor(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> Callable[..., tuple[int, str]]:
    monkeypatch.setenv("OWUI_OTEL_STATE_DIR", str(tmp_path / "no-stack"))  # never read a developer's own stack
    for variable in ("LANGFUSE_HOST", "LANGFUSE_PUBLIC_KEY", "LANGFUSE_SECRET_KEY", "OTEL_EXPORTER_OTLP_HEADERS"):
        monkeypatch.delenv(variable, raising=False)

    def run(stack: Stack, bridge: ThreadServer | None, *extra: str, **env: str) -> tuple[int, str]:
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        args = [
            "doctor",
            "--collector-health",
            f"http://127.0.0.1:{stack.ports.health}",
            "--collector-metrics",
            f"http://127.0.0.1:{stack.ports.metrics}/metrics",
            "--otlp-endpoint",
            stack.otlp_http_endpoint,
            "--jaeger-url",
            stack.jaeger_query_url,
        ]
        if bridge is not None:
            args += ["--bridge-url", bridge.url, "--api-key", BRIDGE_KEY]
        capsys.readouterr()
        code = main([*args, *extra])
        return code, capsys.readouterr().out

    return run


def _langfuse_env(stack: Stack, *, host: str = "", secret: str = "") -> dict[str, str]:
    return {
        "LANGFUSE_HOST": host or stack.langfuse_url,
        "LANGFUSE_PUBLIC_KEY": stack.public_key,
        "LANGFUSE_SECRET_KEY": secret or stack.secret_key,
    }


def _turn_through_bridge(bridge: ThreadServer, scenario: str) -> None:
    for phase in ("inlet", "outlet"):
        recorded = load(f"pipelines_{scenario}_{phase}.json")
        response = httpx.post(
            f"{bridge.url}/otel_bridge/filter/{phase}", json=recorded, headers={"Authorization": f"Bearer {BRIDGE_KEY}"}
        )
        response.raise_for_status()


def _wait_for_turns_in_jaeger(stack: Stack, count: int) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        found = httpx.get(
            f"{stack.jaeger_query_url}/api/traces", params={"service": "open-webui", "lookback": "1h"}, timeout=5
        ).json()
        if len(found.get("data") or []) >= count:
            return
        time.sleep(0.5)
    raise AssertionError(f"Jaeger never showed {count} turns")


def _line(output: str, link: str) -> str:
    return next(line for line in output.splitlines() if f"] {link}:" in line)


def _secrets_absent(output: str, stack: Stack) -> None:
    basic = base64.b64encode(f"{stack.public_key}:{stack.secret_key}".encode()).decode()
    for secret in (BRIDGE_KEY, stack.secret_key, basic):
        assert secret not in output


def test_healthy_chain_passes_every_check(chain: tuple[Stack, ThreadServer], doctor: Callable[..., Any]) -> None:
    stack, bridge = chain
    _turn_through_bridge(bridge, "ui_stream_turn1")  # a streamed turn with usage
    _wait_for_turns_in_jaeger(stack, 1)
    code, output = doctor(stack, bridge, **_langfuse_env(stack))
    assert code == 0, output
    assert "[  ok] bridge server: up at" in output
    assert "[  ok] collector: healthy" in output
    assert "[  ok] collector receiver: accepts OTLP" in output
    assert "[  ok] collector exports: no span failed" in output
    assert "[  ok] Langfuse keys: accepted for project" in output
    assert "[  ok] Langfuse OTLP endpoint:" in output
    assert "[  ok] token usage: all 1 recent streamed turns carry token usage" in output
    # The fixture's model (mock-gpt) has no price: the doctor names it and how to add one.
    assert "[warn] turn prices: 1 turn(s) of model mock-gpt had no price" in output
    assert 'OWUI_OTEL_PRICE_OVERRIDES (USD per million tokens), e.g. {"mock-gpt": {"input"' in output
    assert output.count("turn prices:") == 1  # from the bridge's counters, not again from Jaeger
    # Without a bridge (a Function or Pipelines host) the same line comes from the turns in Jaeger.
    code, output = doctor(stack, None, **_langfuse_env(stack))
    assert code == 0, output
    assert "[warn] turn prices: 1 turn(s) of model mock-gpt had no price" in output
    assert "every checked link works" in output
    _secrets_absent(output, stack)


def test_wrong_keys_are_named_with_the_fix(chain: tuple[Stack, ThreadServer], doctor: Callable[..., Any]) -> None:
    stack, bridge = chain
    code, output = doctor(stack, bridge, **_langfuse_env(stack, secret="sk-lf-wrong"))
    assert code == 1
    assert "rejects the key pair (401)" in _line(output, "Langfuse keys")
    assert "Settings > API Keys" in output
    code, output = doctor(stack, None, "--bridge-url", bridge.url, "--api-key", "not-the-key")
    assert code == 1
    assert "refuses the API key" in _line(output, "bridge server")
    assert "not-the-key" not in output and "sk-lf-wrong" not in output


def test_wrong_paths_are_named_with_the_fix(chain: tuple[Stack, ThreadServer], doctor: Callable[..., Any]) -> None:
    stack, bridge = chain
    code, output = doctor(stack, bridge, **_langfuse_env(stack, host=f"{stack.langfuse_url}/api/public/otel"))
    assert code == 1
    assert "includes an API path" in _line(output, "Langfuse host")
    assert "base URL only" in output
    # A common slip: the filter pointed at Langfuse's base URL instead of the collector.
    code, output = doctor(stack, bridge, "--otlp-endpoint", stack.langfuse_url)
    assert code == 1
    assert "not an OTLP/HTTP traces endpoint" in _line(output, "collector receiver")


def test_collector_down_is_reported(chain: tuple[Stack, ThreadServer], doctor: Callable[..., Any]) -> None:
    stack, bridge = chain
    stack.kill_collector()
    code, output = doctor(stack, bridge)
    assert code == 1
    assert "no healthy collector" in _line(output, "collector")
    assert "nothing listens at" in _line(output, "collector receiver")
    assert "owui-otel up" in output


def test_streamed_turns_without_usage_point_at_the_usage_capability(
    chain: tuple[Stack, ThreadServer], doctor: Callable[..., Any]
) -> None:
    stack, bridge = chain
    _turn_through_bridge(bridge, "ui_stream_no_usage")
    _wait_for_turns_in_jaeger(stack, 1)
    code, output = doctor(stack, bridge)
    assert code == 0  # a warning, not a broken link
    line = _line(output, "token usage")
    assert line.startswith("[warn]") and "1 of 1 recent streamed turns carry no token usage" in line
    assert "Usage capability" in output


def test_turns_unpriced_for_lack_of_genai_prices_name_that_fix_not_an_override(
    chain: tuple[Stack, ThreadServer], doctor: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
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
    # Without a bridge (a Function or Pipelines host) the doctor judges from the spans in Jaeger.
    code, output = doctor(stack, None)
    assert code == 0, output
    line = _line(output, "turn prices")
    assert line.startswith("[warn]") and "cannot import genai-prices" in line, output
    assert "pip install genai-prices" in output
    assert "had no price" not in output and "price_overrides" not in output


def _fake_openwebui(config: dict[str, Any]) -> FastAPI:
    """Open WebUI's documented ``GET /openai/config`` (routers/openai.py, admin only) and nothing else."""
    app = FastAPI()

    @app.get("/openai/config")
    async def openai_config() -> dict[str, Any]:
        return config

    return app


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
    chain: tuple[Stack, ThreadServer], doctor: Callable[..., Any], settings: dict[str, Any], key: str, expected: str
) -> None:
    stack, bridge = chain
    config = {
        "ENABLE_OPENAI_API": True,
        "OPENAI_API_BASE_URLS": ["http://127.0.0.1:1/v1", bridge.url],
        "OPENAI_API_KEYS": ["sk-upstream", key],
        "OPENAI_API_CONFIGS": {"1": settings},
    }
    with ThreadServer(_fake_openwebui(config)) as openwebui:
        code, output = doctor(stack, bridge, "--openwebui-url", openwebui.url, "--openwebui-token", "admin-jwt")
    assert expected in _line(output, "Open WebUI connection")
    assert code == (0 if "set up right" in expected else 1)
    assert "admin-jwt" not in output


def test_spans_the_collector_could_not_deliver_are_reported(
    stack_factory: Callable[..., Stack],  # noqa: F811
    doctor: Callable[..., Any],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    """The filter sees 200 from the collector; only the collector knows Langfuse refused the spans."""
    wrong_auth = base64.b64encode(b"pk-lf-test:not-the-secret").decode()
    stack = stack_factory(env={"LANGFUSE_AUTH_B64": wrong_auth})
    monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "200")
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "valves.json").write_text(json.dumps({"otlp_endpoint": stack.otlp_http_endpoint}))
    with ThreadServer(create_app(ServerConfig(api_key=BRIDGE_KEY, data_dir=tmp_path / "b"))) as bridge:
        _turn_through_bridge(bridge, "ui_stream_turn1")
        stack.wait_metric("otelcol_exporter_send_failed_spans", 1, timeout=60, exporter="otlp_http/langfuse")
        code, output = doctor(stack, bridge)
    line = _line(output, "collector exports")
    assert line.startswith("[warn]") and "1 span(s) to otlp_http/langfuse" in line
    assert "401/403 means wrong Langfuse keys" in output
    assert code == 0

# SPDX-License-Identifier: Apache-2.0
"""`owui-otel doctor` against the real Open WebUI 0.12.4: the bridge connection with a wrong key, then right, then a
double install (the filter Function installed beside the bridge connection), each read through Open WebUI's own
admin API (``GET /openai/config``, ``GET /api/v1/functions/``) -- the API the contract double
tests/support/openwebui_admin.py stands in for in tests/cli."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from owui_otel._install import install_function
from owui_otel.cli import main
from tests.support.stack import Stack

from .harness import (
    Bridge,
    Connection,
    OpenWebUI,
    Progress,
    signup_admin,
    start_bridge,
    start_mock_llm,
    start_openwebui,
    stopping,
)

pytestmark = pytest.mark.e2e

BRIDGE_KEY = "doctor-e2e-bridge-key"
STALE_KEY = "owui-otel-stale-key"


@dataclass
class Setup:
    stack: Stack
    bridge: Bridge
    owui: OpenWebUI
    token: str


@pytest.fixture
def setup(
    openwebui_binary: Path,
    stack_factory: Callable[..., Stack],
    tmp_path: Path,
    progress: Progress,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Setup]:
    monkeypatch.setenv("OWUI_OTEL_STATE_DIR", str(tmp_path / "state"))  # never a developer's own `up` stack
    for variable in ("LANGFUSE_HOST", "OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_PROTOCOL", "OWUI_TOKEN"):
        monkeypatch.delenv(variable, raising=False)
    stack = stack_factory(jaeger=True)
    with contextlib.ExitStack() as running:
        mock = start_mock_llm(tmp_path)
        running.enter_context(stopping(mock))
        bridge = start_bridge(tmp_path, otlp_endpoint=stack.otlp_http_endpoint, api_key=BRIDGE_KEY)
        running.enter_context(stopping(bridge))
        connections = [Connection(mock.openai_url, "mock"), Connection(bridge.url, STALE_KEY)]
        owui = start_openwebui(openwebui_binary, tmp_path, connections, progress=progress)
        running.enter_context(stopping(owui))
        yield Setup(stack, bridge, owui, signup_admin(owui.url))


def _doctor(setup: Setup, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    capsys.readouterr()
    code = main(
        [
            "doctor",
            *("--bridge-url", setup.bridge.url, "--api-key", BRIDGE_KEY),
            *("--collector-health", f"http://127.0.0.1:{setup.stack.ports.health}"),
            *("--collector-metrics", f"http://127.0.0.1:{setup.stack.ports.metrics}/metrics"),
            *("--otlp-endpoint", setup.stack.otlp_http_endpoint, "--jaeger-url", setup.stack.jaeger_query_url),
            *("--openwebui-url", setup.owui.url, "--openwebui-token", setup.token),
        ]
    )
    return code, capsys.readouterr().out


def _line(output: str, link: str) -> str:
    return next(line for line in output.splitlines() if f"] {link}:" in line)


def test_the_doctor_reads_the_real_open_webuis_connections_and_functions(
    setup: Setup, capsys: pytest.CaptureFixture[str]
) -> None:
    # 1. The bridge connection carries a stale key: Open WebUI's inlet calls would get 401.
    code, output = _doctor(setup, capsys)
    assert code == 1, output
    line = _line(output, "Open WebUI connection")
    assert line.startswith("[FAIL]") and "connection 1" in line and "an API key the bridge refuses" in line, output
    assert ". Fix: paste the bridge's key" in line
    assert STALE_KEY not in output and setup.token not in output and BRIDGE_KEY not in output
    assert output.rstrip().splitlines()[-1].startswith("1 problem (1 failed")

    # 2. The admin pastes the right key (Admin Settings > Connections saves through this endpoint).
    headers = {"Authorization": f"Bearer {setup.token}"}
    config = httpx.get(f"{setup.owui.url}/openai/config", headers=headers, timeout=30).json()
    config["OPENAI_API_KEYS"][1] = BRIDGE_KEY
    httpx.post(f"{setup.owui.url}/openai/config/update", json=config, headers=headers, timeout=30).raise_for_status()
    code, output = _doctor(setup, capsys)
    assert "[  ok] Open WebUI connection: connection 1" in output and "set up right" in output, output
    assert "double install" not in output
    assert code == 0, output

    # 3. The filter Function installed as well: every turn would be recorded twice.
    install_function(setup.owui.url, setup.token, valves={"otlp_endpoint": setup.stack.otlp_http_endpoint})
    code, output = _doctor(setup, capsys)
    assert code == 1, output
    line = _line(output, "double install")
    assert line.startswith("[FAIL]") and "the active Function otel_bridge (global)" in line, output
    assert ". Fix: keep one" in line and ". Until then: every turn is recorded twice" in line

# SPDX-License-Identifier: Apache-2.0
"""`owui-otel doctor` proves the chain with a synthetic turn, and catches each broken setup of issue 12 on purpose.

Real processes: our collector, Jaeger and the Langfuse-contract endpoint (tests/support/stack.py), the bridge server
(uvicorn, in a thread). Open WebUI's admin API is the documented contract double tests/support/openwebui_admin.py
(the real Open WebUI takes a minute to start; the doctor reads only those two endpoints; the same checks against the
real Open WebUI 0.12.4 are in tests/openwebui/test_doctor_openwebui.py). The "running stack" of
the tests is an `owui-otel up` state file whose supervisor status names the real collector process of the test
stack, so the doctor reads that collector's real environment from /proc, as it does for `up`.

Every output is compared with its snapshot in tests/cli/snapshots/doctor/ (OWUI_OTEL_UPDATE_SNAPSHOTS=1 rewrites).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from collector._process import free_port
from otel_filter import FilterCore
from owui_otel._stack import ProcessRecord, StackState
from owui_otel._supervisor import RUNNING, ChildStatus, SupervisorStatus
from owui_otel.cli import main
from owui_otel.server import ServerConfig, create_app
from tests.support.bridge_process import running_bridge
from tests.support.openwebui_admin import filter_function, openwebui_admin
from tests.support.scenarios import load
from tests.support.servers import ThreadServer
from tests.support.snapshots import SNAPSHOTS, assert_snapshot
from tests.support.stack import Stack

pytestmark = pytest.mark.integration

BRIDGE_KEY = "doctor-bridge-key-8d1f"
ADMIN_TOKEN = "admin-jwt-5c2e"
PRICES = json.dumps({"mock-gpt": {"input": 0.15, "output": 0.6}})
SHELL_VARIABLES = (
    "LANGFUSE_HOST",
    "LANGFUSE_PUBLIC_KEY",
    "LANGFUSE_SECRET_KEY",
    "OTEL_EXPORTER_OTLP_HEADERS",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_PROTOCOL",
    "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OWUI_OTEL_API_KEY",
    "OWUI_TOKEN",
)
PROBLEMS = re.compile(r"^(\d+) problems? \((\d+) failed, (\d+) warned\): each line above says its fix$")


def _bridge(tmp_path: Path, endpoint: str, valves: dict[str, Any] | None = None) -> ThreadServer:
    folder = tmp_path / f"bridge{len(list(tmp_path.glob('bridge*')))}"
    folder.mkdir()
    (folder / "valves.json").write_text(json.dumps({"otlp_endpoint": endpoint, **(valves or {})}))
    return ThreadServer(create_app(ServerConfig(api_key=BRIDGE_KEY, data_dir=folder)))


@pytest.fixture
def quiet_shell(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No developer's variables or stack leak in; spans batched every 200 ms; mock-gpt has a price."""
    for variable in SHELL_VARIABLES:
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("OWUI_OTEL_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "200")
    monkeypatch.setenv("OWUI_OTEL_PRICE_OVERRIDES", PRICES)


@pytest.fixture
def chain(
    quiet_shell: None,
    stack_factory: Callable[..., Stack],  # noqa: F811
    tmp_path: Path,
) -> Iterator[tuple[Stack, ThreadServer]]:
    stack = stack_factory(jaeger=True)
    with _bridge(tmp_path, stack.otlp_http_endpoint) as bridge:
        yield stack, bridge


@pytest.fixture
def doctor(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Callable[..., tuple[int, str]]:
    def run(stack: Stack, *extra: str, stack_flags: bool = True, **env: str) -> tuple[int, str]:
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        args = ["doctor", "--wait", "15"]
        if stack_flags:
            args += [
                "--collector-health",
                f"http://127.0.0.1:{stack.ports.health}",
                "--collector-metrics",
                f"http://127.0.0.1:{stack.ports.metrics}/metrics",
                "--otlp-endpoint",
                stack.otlp_http_endpoint,
                "--jaeger-url",
                stack.jaeger_query_url,
            ]
        capsys.readouterr()
        code = main([*args, *extra])
        return code, capsys.readouterr().out

    return run


def _bridge_flags(bridge: ThreadServer, key: str = BRIDGE_KEY) -> list[str]:
    return ["--bridge-url", bridge.url, "--api-key", key]


def _langfuse_env(stack: Stack, *, host: str = "") -> dict[str, str]:
    return {
        "LANGFUSE_HOST": host or stack.langfuse_url,
        "LANGFUSE_PUBLIC_KEY": stack.public_key,
        "LANGFUSE_SECRET_KEY": stack.secret_key,
    }


def _verdict(output: str) -> tuple[int, int, int]:
    last = output.rstrip("\n").splitlines()[-1]
    match = PROBLEMS.match(last)
    assert match, f"last line is not 'N problems ...': {last!r}\n{output}"
    problems, failed, warned = (int(group) for group in match.groups())
    assert problems == failed + warned
    return problems, failed, warned


def _line(output: str, link: str) -> str:
    return next(line for line in output.splitlines() if f"] {link}:" in line)


def _problem(output: str, link: str, *parts: str) -> str:
    """The problem line of ``link``: in the message voice, containing ``parts``."""
    line = _line(output, link)
    assert line.startswith(("[FAIL]", "[warn]")), line
    assert ". Fix: " in line and ". Until then: " in line, line
    for part in parts:
        assert part in line, f"{part!r} not in {line!r}"
    return line


def _turn_through_bridge(bridge: ThreadServer, scenario: str) -> None:
    for phase in ("inlet", "outlet"):
        recorded = load(f"pipelines_{scenario}_{phase}.json")
        response = httpx.post(
            f"{bridge.url}/otel_bridge/filter/{phase}", json=recorded, headers={"Authorization": f"Bearer {BRIDGE_KEY}"}
        )
        response.raise_for_status()


def _wait_for_turns_in_jaeger(stack: Stack, count: int) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        found = httpx.get(
            f"{stack.jaeger_query_url}/api/traces", params={"service": "open-webui", "lookback": "1h"}, timeout=5
        ).json()
        if len(found.get("data") or []) >= count:
            return list(found["data"])
        time.sleep(0.5)
    raise AssertionError(f"Jaeger never showed {count} turns")


def _snapshot(name: str, output: str, tmp_path: Path) -> None:
    assert_snapshot(SNAPSHOTS / "doctor", name, output, tmp_path)


# --- a healthy chain -------------------------------------------------------------------------------------------


def test_a_healthy_chain_ends_with_the_synthetic_turn_found_in_each_backend(
    chain: tuple[Stack, ThreadServer], doctor: Callable[..., Any], tmp_path: Path
) -> None:
    stack, bridge = chain
    _turn_through_bridge(bridge, "ui_stream_turn1")  # a user's streamed turn with usage (priced by the override)
    _wait_for_turns_in_jaeger(stack, 1)
    code, output = doctor(stack, *_bridge_flags(bridge), **_langfuse_env(stack))
    assert code == 0, output
    assert output.rstrip().splitlines()[-1] == "no problems: the synthetic turn reached Jaeger and Langfuse"
    line = _line(output, "synthetic turn")
    assert line.startswith("[  ok] synthetic turn: sent through the bridge as chat owui-otel-doctor-"), line
    assert "[  ok] token usage: all 1 recent streamed turns carry token usage" in output  # synthetic turn not judged
    _snapshot("healthy_bridge", output, tmp_path)
    # The synthetic turn is marked: its chat id, user and model say so, in Jaeger and in Langfuse.
    chat_id = re.search(r"chat (owui-otel-doctor-[0-9a-f]+) \(trace ([0-9a-f]{32})\)", line)
    assert chat_id is not None
    trace = stack.wait_for_jaeger_trace(chat_id.group(2))
    (span,) = [s for s in trace["spans"] if s["operationName"].startswith("chat ")]
    tags = {tag["key"]: tag["value"] for tag in span["tags"]}
    assert tags["gen_ai.conversation.id"] == chat_id.group(1)
    assert tags["user.id"] == "owui-otel-doctor" and tags["gen_ai.request.model"] == "owui-otel-doctor"
    assert "gen_ai.usage.output_tokens" not in tags  # no usage: no cost, no unpriced count
    assert any(s["trace_id"] == chat_id.group(2) for s in stack.langfuse_received()["spans"])


def test_without_a_bridge_the_turn_goes_through_the_filters_own_settings_and_is_marked_synthetic(
    chain: tuple[Stack, ThreadServer], doctor: Callable[..., Any], tmp_path: Path
) -> None:
    stack, _ = chain
    code, output = doctor(stack, OTEL_EXPORTER_OTLP_ENDPOINT=stack.otlp_http_endpoint)
    assert code == 0, output
    assert output.rstrip().splitlines()[-1] == "no problems: the synthetic turn reached Jaeger"
    line = _line(output, "synthetic turn")
    assert "sent through the filter settings as chat owui-otel-doctor-" in line
    _snapshot("healthy_filter_settings", output, tmp_path)
    trace_id = re.search(r"\(trace ([0-9a-f]{32})\)", line)
    assert trace_id is not None
    trace = stack.wait_for_jaeger_trace(trace_id.group(1))
    process = next(iter(trace["processes"].values()))
    resource = {tag["key"]: tag["value"] for tag in process["tags"]}
    assert resource["openwebui.synthetic"] == "owui-otel-doctor"


def test_json_output_has_the_documented_shape(chain: tuple[Stack, ThreadServer], doctor: Callable[..., Any]) -> None:
    stack, bridge = chain
    code, output = doctor(stack, "--json", *_bridge_flags(bridge), **_langfuse_env(stack))
    report = json.loads(output)
    assert code == 0 and report["ok"] is True, output
    assert set(report) == {
        "version",
        "ok",
        "problems",
        "failed",
        "warned",
        "logs",
        "synthetic_turn",
        "checks",
        "verdict",
    }
    assert report["version"] == 1 and report["problems"] == report["failed"] == report["warned"] == 0
    synthetic = report["synthetic_turn"]
    assert synthetic["path"] == "bridge" and synthetic["chat_id"].startswith("owui-otel-doctor-")
    assert synthetic["found_in"] == ["Jaeger", "Langfuse"] and synthetic["missing_in"] == []
    assert len(synthetic["trace_id"]) == 32
    for check in report["checks"]:
        assert set(check) == {"link", "status", "says", "fix", "until"}
        assert check["status"] in ("ok", "warn", "FAIL", "skip")
    # A broken run: ok false, the counts match the statuses, exit 1.
    code, output = doctor(stack, "--json", *_bridge_flags(bridge, "not-the-key"))
    report = json.loads(output)
    statuses = [check["status"] for check in report["checks"]]
    assert code == 1 and report["ok"] is False
    assert report["failed"] == statuses.count("FAIL") >= 1 and report["warned"] == statuses.count("warn")
    assert report["verdict"].startswith(f"{report['problems']} problem")
    assert "not-the-key" not in output


# --- the four broken setups of issue 12 ------------------------------------------------------------------------


def _running_stack(
    state_dir: Path,
    stack: Stack,
    bridge: ThreadServer | None,
    supervisor: int,
    bridge_process: tuple[str, int, list[str]] | None = None,
) -> None:
    """An `owui-otel up` state whose supervisor status names the test stack's real collector process (and, when
    given, a real bridge process: url, pid, argv)."""
    assert stack.collector is not None and stack.collector.pid is not None
    collector_log = str(stack.collector.log_path)
    folder = state_dir / "stack"
    folder.mkdir(parents=True)
    children = [ChildStatus("collector", stack.collector.pid, stack.collector.argv, collector_log, running=True)]
    if bridge_process is not None:
        _, pid, argv = bridge_process
        children.append(ChildStatus("bridge", pid, argv, str(Path(collector_log).parent / "bridge.log"), running=True))
    status = SupervisorStatus(pid=supervisor, state=RUNNING, children=children)
    (folder / "supervisor.json").write_text(
        json.dumps({**status.__dict__, "children": [child.__dict__ for child in status.children]})
    )
    state = StackState(
        processes=[ProcessRecord("supervisor", supervisor, ["sleep", "300"], "", 0.0)],
        urls={
            "jaeger": stack.jaeger_query_url,
            "collector_otlp_http": stack.otlp_http_endpoint,
            "collector_health": f"http://127.0.0.1:{stack.ports.health}",
            "collector_metrics": f"http://127.0.0.1:{stack.ports.metrics}/metrics",
            "bridge": bridge_process[0] if bridge_process else bridge.url if bridge else "",
        },
        api_key=BRIDGE_KEY,
        langfuse=True,
        status_file=str(folder / "supervisor.json"),
    )
    (folder / "stack.json").write_text(state.to_json())


@pytest.fixture
def supervisor() -> Iterator[int]:
    """A live process standing in for the `up` supervisor (the doctor checks only that it runs)."""
    process = subprocess.Popen(["sleep", "300"])
    try:
        yield process.pid
    finally:
        process.kill()
        process.wait()


def test_langfuse_host_with_a_path_in_the_running_stack_is_caught_whatever_the_shell_says(
    quiet_shell: None,
    stack_factory: Callable[..., Stack],  # noqa: F811
    doctor: Callable[..., Any],
    supervisor: int,
    tmp_path: Path,
) -> None:
    stack = stack_factory(jaeger=True, start=False)
    stack.extra_env["LANGFUSE_HOST"] = f"{stack.langfuse_url}/api/public/otel"  # as an older `up` started it
    stack.start()
    with _bridge(tmp_path, stack.otlp_http_endpoint) as bridge:
        _running_stack(tmp_path / "state", stack, bridge, supervisor)
        _turn_through_bridge(bridge, "ui_stream_turn1")  # user traffic the collector fails to deliver to Langfuse
        stack.wait_metric("otelcol_exporter_send_failed_spans", 1, timeout=60, exporter="otlp_http/langfuse")
        _wait_for_turns_in_jaeger(stack, 1)
        # The shell holds a correct host: the doctor must judge what the running collector uses.
        code, output = doctor(stack, stack_flags=False, **_langfuse_env(stack))
    assert code == 1
    _problem(output, "LANGFUSE_HOST", "includes an API path (/api/public/otel)", "the running collector runs with it")
    _problem(output, "LANGFUSE_HOST", "base URL only", "owui-otel down && .venv/bin/owui-otel up")
    _problem(output, "collector exports to otlp_http/langfuse", "failed to send and were dropped")
    _problem(output, "synthetic turn in Langfuse", "Langfuse did not have it")
    assert "Logs: " + str(Path(stack.collector.log_path).parent) in output if stack.collector else False
    problems, failed, _ = _verdict(output)
    assert failed >= 2
    _snapshot("langfuse_host_with_a_path", output, tmp_path)


def test_a_stray_grpc_protocol_sending_to_the_http_port_is_caught(
    chain: tuple[Stack, ThreadServer], doctor: Callable[..., Any], tmp_path: Path
) -> None:
    stack, _ = chain
    code, output = doctor(
        stack, OTEL_EXPORTER_OTLP_ENDPOINT=stack.otlp_http_endpoint, OTEL_EXPORTER_OTLP_PROTOCOL="grpc"
    )
    assert code == 1
    _problem(
        output, "OTEL_EXPORTER_OTLP_PROTOCOL", "sends gRPC to", "OTLP/HTTP port", "unset OTEL_EXPORTER_OTLP_PROTOCOL"
    )
    _problem(output, "synthetic turn", "could not send it (grpc to")
    _verdict(output)
    _snapshot("grpc_to_the_http_port", output, tmp_path)


def test_a_wrong_key_on_the_open_webui_connection_is_caught(
    chain: tuple[Stack, ThreadServer], doctor: Callable[..., Any], tmp_path: Path
) -> None:
    stack, bridge = chain
    connections: list[tuple[str, str, dict[str, Any]]] = [
        ("http://127.0.0.1:1/v1", "sk-upstream", {}),
        (bridge.url, "owui-otel-stale-key", {}),
    ]
    with ThreadServer(openwebui_admin(ADMIN_TOKEN, connections=connections)) as openwebui:
        code, output = doctor(
            stack, *_bridge_flags(bridge), "--openwebui-url", openwebui.url, "--openwebui-token", ADMIN_TOKEN
        )
    assert code == 1
    _problem(output, "Open WebUI connection", "connection 1", "an API key the bridge refuses", "paste the bridge's key")
    _verdict(output)
    assert "owui-otel-stale-key" not in output and ADMIN_TOKEN not in output and BRIDGE_KEY not in output
    _snapshot("wrong_key_on_the_connection", output, tmp_path)


def test_each_config_problem_of_the_filter_is_reported_by_its_setting(
    quiet_shell: None,
    stack_factory: Callable[..., Stack],  # noqa: F811
    doctor: Callable[..., Any],
    tmp_path: Path,
) -> None:
    stack = stack_factory(jaeger=True)
    bad = {"otlp_protocol": "grcp", "max_content_chars": 5, "capture_message_content": "maybe"}
    with _bridge(tmp_path, stack.otlp_http_endpoint, bad) as bridge:
        health = httpx.get(f"{bridge.url}/health").json()
        assert health["counters"]["config_problems"] == 3  # what /health says, and nothing more
        code, output = doctor(stack, *_bridge_flags(bridge))
    assert code == 1
    _problem(output, "valve otlp_protocol", "'grcp' is not a supported protocol", "'http/protobuf' or 'grpc'")
    _problem(
        output, "valve max_content_chars", "from 256 to 200000", "Until then: the filter keeps tracing: using 20000"
    )
    _problem(output, "valve capture_message_content", "is not true or false")
    _, _, warned = _verdict(output)
    assert warned >= 3
    _snapshot("config_problems", output, tmp_path)


def _pid_running(argv: list[str]) -> int:
    """The pid of the process running exactly ``argv`` (a child of this test)."""
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes().split(b"\0")[:-1]
            except OSError:
                continue
            if [part.decode() for part in cmdline] == argv:
                return int(entry.name)
    raise AssertionError(f"no process runs {argv}")


def test_the_running_bridges_own_environment_is_judged_each_problem_named_by_its_variable(
    quiet_shell: None,
    stack_factory: Callable[..., Stack],  # noqa: F811
    doctor: Callable[..., Any],
    supervisor: int,
    tmp_path: Path,
) -> None:
    """The bridge as `up` starts it (`serve --otlp-endpoint`), with a stray OTEL_EXPORTER_OTLP_PROTOCOL=grpc and a bad
    OWUI_OTEL_MAX_CONTENT_CHARS in its environment (an `up` of an older version passed the shell's on); the doctor's
    shell has neither."""
    stack = stack_factory(jaeger=True)
    port = free_port()
    argv = [sys.executable, "-m", "owui_otel.cli", "serve", "--host", "127.0.0.1", "--port", str(port)]
    argv += ["--otlp-endpoint", stack.otlp_http_endpoint, "--data-dir", str(tmp_path / "bridge-data")]
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "OWUI_OTEL_"))},
        "OWUI_OTEL_API_KEY": BRIDGE_KEY,
        "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
        "OWUI_OTEL_MAX_CONTENT_CHARS": "lots",
    }
    with running_bridge("bridge", argv, port=port, env=env, log_path=tmp_path / "bridge.log") as url:
        _running_stack(tmp_path / "state", stack, None, supervisor, (url, _pid_running(argv), argv))
        code, output = doctor(stack, stack_flags=False)
    assert code == 1
    _problem(output, "OWUI_OTEL_MAX_CONTENT_CHARS", "'lots' must be a whole number", "(the bridge's filter)")
    _problem(
        output, "OTEL_EXPORTER_OTLP_PROTOCOL", "the bridge's filter sends gRPC to", "unset OTEL_EXPORTER_OTLP_PROTOCOL"
    )
    _problem(output, "synthetic turn in Jaeger", "sent through the bridge", "Jaeger did not have it")
    _verdict(output)
    _snapshot("running_bridge_environment", output, tmp_path)


# --- a double install ------------------------------------------------------------------------------------------


def test_the_bridge_connection_and_the_function_both_active_is_a_double_install(
    chain: tuple[Stack, ThreadServer], doctor: Callable[..., Any], tmp_path: Path
) -> None:
    stack, bridge = chain
    connections: list[tuple[str, str, dict[str, Any]]] = [(bridge.url, BRIDGE_KEY, {})]
    app = openwebui_admin(ADMIN_TOKEN, connections=connections, functions=[filter_function()])
    with ThreadServer(app) as openwebui:
        code, output = doctor(
            stack, *_bridge_flags(bridge), "--openwebui-url", openwebui.url, "--openwebui-token", ADMIN_TOKEN
        )
    assert code == 1
    assert "[  ok] Open WebUI connection: connection 0" in output
    _problem(output, "double install", "the filter runs twice", "otel_bridge (global)", "keep one")
    _verdict(output)
    _snapshot("double_install_from_open_webui", output, tmp_path)


def test_a_turn_recorded_by_two_hosts_in_jaeger_is_a_double_install(
    chain: tuple[Stack, ThreadServer], doctor: Callable[..., Any], tmp_path: Path
) -> None:
    stack, bridge = chain
    _turn_through_bridge(bridge, "ui_stream_turn1")
    # The same turn as an in-process Function would record it, to the same collector.
    function = FilterCore({"otlp_endpoint": stack.otlp_http_endpoint}, host="function")
    for phase in ("inlet", "outlet"):
        recorded = load(f"pipelines_ui_stream_turn1_{phase}.json")
        getattr(function, phase)(recorded["body"], recorded["user"])
    function.shutdown()
    _wait_for_turns_in_jaeger(stack, 1)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        code, output = doctor(stack, *_bridge_flags(bridge), "--no-synthetic-turn")
        if "double install" in output:
            break
        time.sleep(1)
    assert code == 1
    _problem(output, "double install", "1 recent turn(s) were recorded twice, by bridge and function", "keep one")
    _verdict(output)
    _snapshot("double_install_from_jaeger", output, tmp_path)

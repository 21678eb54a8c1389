# SPDX-License-Identifier: Apache-2.0
"""Every CLI message, in snapshot form: wording changes are deliberate, and each problem line keeps the one voice.

Each case runs the real ``owui-otel`` (or ``python -m collector``) in a subprocess, from the repository checkout
(so hints spell ``.venv/bin/owui-otel`` as a user of the README's commands would paste them), with a broken input:
a missing key, a bad value, a damaged file, a port taken, a stale ``OWUI_OTEL_API_KEY``. What it printed (exit
code, stdout, stderr) is compared exactly with ``tests/cli/snapshots/<case>.txt`` after normalising what changes
from run to run (the temp dir, free ports, the venv's location, connection error names). Every problem line is also
checked for the voice: it names its setting (env var, flag, valve or file), then ``Fix:``, and the setting comes
before the fix.

To change a message on purpose, change it in the code, then rewrite the snapshots and review the diff::

    UPDATE_SNAPSHOTS=1 .venv/bin/pytest tests/cli/test_message_snapshots.py
    git diff tests/cli/snapshots/

A case without a snapshot file fails (it is written when ``UPDATE_SNAPSHOTS=1``); a snapshot no case produces is
reported by ``test_every_snapshot_belongs_to_a_case``.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import httpx
import pytest

from collector._process import free_port
from otel_filter import Valves
from otel_filter.settings import resolve_settings
from owui_otel._stack import ProcessRecord, StackOptions, StackState, _urls, requested_settings
from tests.cli import test_cli_errors
from tests.cli.test_cli_errors import OWUI_OTEL, PYTHON_M_COLLECTOR, REPO, Sandbox
from tests.support.loopback_http import LoopbackHTTPServer

pytestmark = pytest.mark.unit

SNAPSHOTS = Path(__file__).parent / "snapshots"
UPDATE = os.environ.get("UPDATE_SNAPSHOTS", "") == "1"
BIN = Path(sys.executable).parent

box = test_cli_errors.sandbox
"""The CLI error tests' fixture: tmp state/data/cache dirs, no settings from the caller's shell, a port taken."""

BRIDGE_KEY = "bridge-key"


# --- snapshots ---------------------------------------------------------------------------------------------------


def normalise(text: str, box: Sandbox, ports: dict[int, str]) -> str:
    """The run-to-run parts of ``text`` replaced by stable names."""
    text = text.replace(str(box.root), "<tmp>")
    for absolute in {str(BIN), os.path.realpath(BIN)}:
        text = text.replace(absolute, "<repo>/.venv/bin")
    text = text.replace(str(REPO), "<repo>").replace(os.path.relpath(BIN, REPO), ".venv/bin")
    text = re.sub(r"\.venv/bin/python3?(\.\d+)?\b", ".venv/bin/python", text)
    for port, name in sorted(ports.items(), key=lambda item: -len(str(item[0]))):
        text = re.sub(rf"\b{port}\b", name, text)
    # How a refused or garbled connection is named depends on timing (ConnectError, RemoteProtocolError, ...).
    text = re.sub(r"\((?:httpx\.)?[A-Z]\w*(?:Error|Timeout)\b(?::[^()]*(?:\([^()]*\))?[^()]*)?\)", "(<error>)", text)
    return text


def check_snapshot(name: str, actual: str) -> None:
    path = SNAPSHOTS / f"{name}.txt"
    if UPDATE:
        path.parent.mkdir(exist_ok=True)
        path.write_text(actual, encoding="utf-8")
        return
    assert path.exists(), f"no snapshot {path.name}: run with UPDATE_SNAPSHOTS=1, then review `git diff`"
    expected = path.read_text(encoding="utf-8")
    assert actual == expected, f"{path.name} differs (a deliberate change? UPDATE_SNAPSHOTS=1, review git diff)"


def assert_voice(line: str, setting: str) -> None:
    """``<setting>: <what is wrong>. Fix: <fix>``: the setting named before the fix, a fix given."""
    assert "Fix: " in line, f"no 'Fix:' in: {line}"
    problem, _, fix = line.partition("Fix: ")
    assert setting in problem, f"{setting!r} not named before the fix in: {line}"
    assert fix.strip(), line


# --- doubles -----------------------------------------------------------------------------------------------------


class _BridgeAndJaeger(BaseHTTPRequestHandler):
    """The bridge's demo routes (taking only ``BRIDGE_KEY``) and a Jaeger query API that has no traces."""

    def _answer(self, code: int, body: object) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        self._answer(200, {"data": []} if self.path.startswith("/api/") else {"status": True})

    def do_POST(self) -> None:  # noqa: N802
        payload = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
        if self.headers.get("Authorization") != f"Bearer {BRIDGE_KEY}":
            self._answer(401, {"detail": "Invalid API key"})
        elif self.path.endswith(("/filter/inlet", "/filter/outlet")):
            self._answer(200, payload["body"])
        else:
            self._answer(200, {})

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 (the base class's name)
        pass


@pytest.fixture
def fake_bridge() -> Iterator[str]:
    with LoopbackHTTPServer(_BridgeAndJaeger, name="fake-bridge") as server:
        yield server.url


def write_stack_state(box: Sandbox, *, supervisor_pid: int, urls: dict[str, str] | None = None) -> None:
    """A stack.json as `up` writes it (default ports), its supervisor ``supervisor_pid`` running ``sleep``."""
    options = StackOptions()
    state = StackState(
        processes=[ProcessRecord("supervisor", supervisor_pid, ["sleep", "300"], "", 0.0)],
        urls={**_urls(options), **(urls or {})},
        api_key=BRIDGE_KEY,
        langfuse=False,
        ingest_token="stack-token",
        settings=requested_settings(options),
    )
    stack = Path(box.env["OWUI_OTEL_STATE_DIR"]) / "stack"
    stack.mkdir(parents=True, exist_ok=True)
    (stack / "stack.json").write_text(state.to_json(), encoding="utf-8")


@pytest.fixture
def sleeper() -> Iterator[int]:
    """A live process standing in for a running stack's supervisor."""
    process = subprocess.Popen(["sleep", "300"])
    try:
        yield process.pid
    finally:
        process.kill()
        process.wait()


# --- the cases ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """One command with a broken input: ``setting`` is what its last stderr line must name before ``Fix:``
    (None: the command succeeds, its output is the snapshot)."""

    name: str
    argv: list[str]
    setting: str | None
    code: int
    env: dict[str, str] = field(default_factory=dict)
    setup: str = ""  # damaged-state, damaged-valves, partly-running, running-stack, fake-stack


URL = "http://127.0.0.1:{taken}"
OTHER_PORTS_FREE = "{other-ports-free}"
"""Expands to a free port for each `up` port flag but --bridge-port (not shown in the snapshot's command line)."""


def _other_ports_free() -> list[str]:
    flags = [f"--{name.replace('_', '-')}" for name in StackOptions().ports() if name != "bridge_port"]
    return [word for flag in flags for word in (flag, str(free_port()))]


CASES = [
    # up
    Case("up-langfuse-host-without-keys", ["up"], "LANGFUSE_PUBLIC_KEY", 1, {"LANGFUSE_HOST": "https://lf.test"}),
    Case(
        "up-langfuse-host-with-a-path",
        ["up"],
        "LANGFUSE_HOST",
        2,
        {"LANGFUSE_HOST": "https://cloud.langfuse.com/api/public/otel"},
    ),
    # Every other port is a free one, so the line names the taken port only (even with a demo stack up).
    Case("up-port-taken", ["up", "--bridge-port", "{taken}", OTHER_PORTS_FREE], "bridge_port=", 1),
    Case("up-partly-running", ["up"], "stack.json", 1, setup="partly-running"),
    Case("up-running-with-other-settings", ["up", "--bridge-port", "9100"], "--bridge-port 9100", 1, setup="running"),
    Case("up-running-describes-the-stack", ["up"], None, 0, setup="running"),
    Case("down-damaged-state", ["down"], "stack.json", 1, setup="damaged-state"),
    # usage errors (argparse's own, in the same form)
    Case("usage-bad-flag-value", ["up", "--bridge-port", "x"], "--bridge-port", 2),
    Case("usage-unknown-flag", ["down", "--force"], "--force", 2),
    # demo
    Case("demo-no-stack", ["demo"], "stack.json", 1),
    Case("demo-damaged-state", ["demo"], "stack.json", 1, setup="damaged-state"),
    Case(
        "demo-not-a-bridge",
        ["demo", "--bridge-url", URL, "--jaeger-url", URL, "--api-key", "k", "--wait", "1"],
        "--bridge-url",
        1,
    ),
    Case(
        "demo-stale-api-key-in-the-shell",
        ["demo", "--bridge-url", "{fake}", "--jaeger-url", "{fake}", "--wait", "1"],
        "OWUI_OTEL_API_KEY",
        1,
        {"OWUI_OTEL_API_KEY": "left-over-from-serve"},
    ),
    Case(
        # The `up` stack's own bridge gets the stack's key: the stale one in the shell is not used (the replay
        # succeeds; the fake Jaeger then has no trace to show).
        "demo-stale-api-key-ignored-for-the-up-stack",
        ["demo", "--wait", "1"],
        "stack.json",
        1,
        {"OWUI_OTEL_API_KEY": "left-over-from-serve"},
        setup="fake-stack",
    ),
    # traces
    Case("traces-no-stack", ["traces"], "stack.json", 1),
    Case("traces-last-zero", ["traces", "--last", "0", "--jaeger-url", URL], "--last 0", 2),
    Case("traces-not-jaeger", ["traces", "--jaeger-url", URL], "Jaeger query API at", 1),
    # serve
    Case("serve-no-api-key", ["serve", "--no-server-spans"], "OWUI_OTEL_API_KEY", 2),
    Case(
        "serve-bad-max-body-bytes",
        ["serve", "--api-key", "k", "--no-server-spans"],
        "OWUI_OTEL_MAX_BODY_BYTES",
        2,
        {"OWUI_OTEL_MAX_BODY_BYTES": "lots"},
    ),
    Case(
        "serve-bad-allow-widening-valves",
        ["serve", "--api-key", "k", "--no-server-spans"],
        "OWUI_OTEL_ALLOW_WIDENING_VALVES",
        2,
        {"OWUI_OTEL_ALLOW_WIDENING_VALVES": "perhaps"},
    ),
    Case(
        "serve-damaged-valves",
        ["serve", "--api-key", "k", "--port", "0", "--no-server-spans"],
        "valves.json",
        1,
        setup="damaged-valves",
    ),
    Case("serve-port-taken", ["serve", "--api-key", "k", "--port", "{taken}", "--no-server-spans"], "--port", 1),
    Case(
        "serve-feedback-without-token",
        ["serve", "--api-key", "k", "--openwebui-url", "http://localhost:3000", "--no-server-spans"],
        "$OWUI_TOKEN",
        2,
    ),
    # install
    Case("install-function-no-token", ["install", "function", "--url", URL], "OWUI_TOKEN", 2),
    Case(
        "install-function-valve-typo",
        ["install", "function", "--url", URL, "--token", "t", "--valve", "otlp_endpont=http://localhost:4318"],
        "valve otlp_endpont",
        2,
    ),
    Case(
        "install-function-valve-not-a-url",
        ["install", "function", "--url", URL, "--token", "t", "--valve", "otlp_endpoint=garbage"],
        "valve otlp_endpoint",
        2,
    ),
    Case(
        "install-function-valve-without-value",
        ["install", "function", "--url", URL, "--token", "t", "--valve", "novalue"],
        "--valve 'novalue'",
        2,
    ),
    Case("install-function-nothing-there", ["install", "function", "--url", URL, "--token", "t"], "--url", 1),
    Case("install-pipelines-no-api-key", ["install", "pipelines", "--url", URL], "PIPELINES_API_KEY", 2),
    Case(
        "install-event-function-langfuse-host-with-a-path",
        [
            *("install", "event-function", "--url", URL, "--token", "t"),
            *("--valve", "langfuse_host=https://cloud.langfuse.com/api/public/otel"),
        ],
        "langfuse_host",
        2,
    ),
    # feedback sync
    Case("feedback-sync-nothing-set", ["feedback", "sync"], "--openwebui-url", 2),
    Case(
        "feedback-sync-nothing-there",
        ["feedback", "sync", "--openwebui-url", URL, "--token", "t", "--langfuse-host", "https://lf.test"],
        "--openwebui-url",
        1,
        {"LANGFUSE_PUBLIC_KEY": "pk-lf-1", "LANGFUSE_SECRET_KEY": "sk-lf-2"},
    ),
    Case("feedback-sync-every-zero", ["feedback", "sync", "--every", "0"], "--every", 2),
    # collector (through owui-otel; `python -m collector` prints the same lines under its own name)
    Case("collector-config-unknown-exporter", ["collector", "config"], "zipkin", 2, {"OWUI_OTEL_EXPORTERS": "zipkin"}),
    Case("collector-validate-no-binary", ["collector", "validate", "--binary", "/nonexistent/otelcol"], "--binary", 2),
    Case("collector-langfuse-auth-no-keys", ["collector", "langfuse-auth"], "LANGFUSE_PUBLIC_KEY", 2),
    Case(
        "collector-config-langfuse-host-with-a-path",
        ["collector", "config"],
        "LANGFUSE_HOST",
        2,
        {"LANGFUSE_HOST": "https://cloud.langfuse.com/api/public/otel"},
    ),
]


def _prepare(case: Case, box: Sandbox, pids: Callable[[], int], fake_url: Callable[[], str]) -> None:
    state_dir = Path(box.env["OWUI_OTEL_STATE_DIR"]) / "stack"
    if case.setup == "damaged-state":
        state_dir.mkdir(parents=True)
        (state_dir / "stack.json").write_text("{not json", encoding="utf-8")
    elif case.setup == "damaged-valves":
        bridge = Path(box.env["OWUI_OTEL_DATA_DIR"]) / "bridge"
        bridge.mkdir(parents=True)
        (bridge / "valves.json").write_text("{not json", encoding="utf-8")
    elif case.setup == "partly-running":
        write_stack_state(box, supervisor_pid=2**22 + 1)  # above pid_max's default: no such process
    elif case.setup == "running":
        write_stack_state(box, supervisor_pid=pids())
    elif case.setup == "fake-stack":
        url = fake_url()
        write_stack_state(box, supervisor_pid=pids(), urls={"bridge": url, "jaeger": url})


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.name)
def test_message(case: Case, box: Sandbox, request: pytest.FixtureRequest) -> None:
    fake = (
        request.getfixturevalue("fake_bridge") if "{fake}" in " ".join(case.argv) or case.setup == "fake-stack" else ""
    )
    _prepare(case, box, lambda: request.getfixturevalue("sleeper"), lambda: fake)
    argv = [word.format(taken=box.taken_port, fake=fake) for word in case.argv if word != OTHER_PORTS_FREE]
    extra = _other_ports_free() if OTHER_PORTS_FREE in case.argv else []
    env = {**box.env, **case.env}
    proc = subprocess.run(
        [*OWUI_OTEL, *argv, *extra], env=env, cwd=REPO, capture_output=True, text=True, timeout=120, check=False
    )
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.returncode == case.code, (proc.returncode, proc.stdout, proc.stderr)
    if case.setting is not None:
        assert_voice(proc.stderr.splitlines()[-1], case.setting)
    ports = {box.taken_port: "<port>"}
    if fake:
        ports[int(fake.rsplit(":", 1)[1])] = "<fake-port>"
    shown = " ".join(["owui-otel", *argv])
    text = f"$ {shown}\n[exit {proc.returncode}]\n--- stdout\n{proc.stdout}--- stderr\n{proc.stderr}"
    check_snapshot(case.name, normalise(text, box, ports))


def test_the_collector_cli_says_the_same_under_its_own_name(box: Sandbox) -> None:
    argv = ["validate", "--binary", "/nonexistent/otelcol"]
    proc = subprocess.run(
        [*PYTHON_M_COLLECTOR, *argv], env=box.env, cwd=REPO, capture_output=True, text=True, timeout=60, check=False
    )
    snapshot = (SNAPSHOTS / "collector-validate-no-binary.txt").read_text(encoding="utf-8")
    line = normalise(proc.stderr, box, {}).removeprefix("python -m collector")
    assert line and line in snapshot.replace("owui-otel collector", ""), (line, snapshot)


# --- the filter's own problem lines ------------------------------------------------------------------------------

BAD_ENVIRONMENT = {
    "OTEL_EXPORTER_OTLP_ENDPOINT": "garbage",
    "OTEL_EXPORTER_OTLP_PROTOCOL": "grcp",
    "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": "sometimes",
    "OWUI_OTEL_MAX_OPEN_TURNS": "lots",
    "OWUI_OTEL_TURN_TIMEOUT_SECONDS": "999999",
    "OWUI_OTEL_RECORD_TASKS": "maybe",
    "OWUI_OTEL_USER_IDENTITY": "nickname",
    "OWUI_OTEL_PRICE_OVERRIDES": "{not json",
    "OWUI_OTEL_REDACT_PATTERNS": "(unclosed",
    "OTEL_EXPORTER_OTLP_HEADERS": "novalue",
}
BAD_VALVES = {
    "otlp_endpoint": "garbage",
    "otlp_protocol": "grcp",
    "otlp_headers": "novalue",
    "resource_attributes": "a=1,broken",
    "capture_message_content": "sometimes",
    "max_content_chars": 10,
    "turn_timeout_seconds": -1,
    "max_open_turns": 10**9,
    "record_tasks": "maybe",
    "user_identity": "nickname",
    "price_overrides": "{not json",
    "redact_patterns": ["(unclosed"],
}


def test_the_bridge_logs_each_setting_problem_once_in_the_voice(box: Sandbox) -> None:
    """The real bridge server started with a bad environment: each problem is one log line naming the variable
    (never "valve"), its fix and its fallback, and ``otel_filter:`` appears once (the bridge's log format adds
    the logger's name only when the line lacks it)."""
    port = free_port()
    argv = [*OWUI_OTEL, "serve", "--api-key", "k", "--port", str(port), "--no-server-spans"]
    env = {**box.env, **BAD_ENVIRONMENT}
    with subprocess.Popen(argv, env=env, cwd=REPO, stderr=subprocess.PIPE, text=True) as bridge:
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                try:
                    if httpx.get(f"http://127.0.0.1:{port}/ready", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.2)
            # The filter resolves its settings when the first valves arrive: the startup load does it.
            assert httpx.get(f"http://127.0.0.1:{port}/health", timeout=5).status_code == 200
        finally:
            bridge.terminate()
            _, stderr = bridge.communicate(timeout=30)
    lines = [line.split(" ", 3)[3] for line in stderr.splitlines() if " otel_filter" in line]
    assert lines, stderr
    assert not any("otel_filter: otel_filter:" in line for line in lines), stderr
    for line in lines:
        assert "valve" not in line.partition("Fix:")[0], line
        setting = line.removeprefix("otel_filter: ").split(":", 1)[0]
        assert setting in BAD_ENVIRONMENT, line
        assert_voice(line, setting)
        assert "Until then: " in line, line
    check_snapshot("bridge-log-bad-environment", "\n".join(lines) + "\n")


def test_every_valve_problem_names_the_valve_its_fix_and_its_fallback() -> None:
    _, problems = resolve_settings({**Valves().model_dump(), **BAD_VALVES}, {})
    lines = [problem.message() for problem in problems]
    assert {problem.setting for problem in problems} >= set(BAD_VALVES) - {"capture_message_content"}
    for problem, line in zip(problems, lines, strict=True):
        assert_voice(line, f"valve {problem.setting}")
        assert "Until then: " in line
    check_snapshot("filter-valve-problems", "\n".join(lines) + "\n")


def test_every_environment_problem_names_the_variable_never_a_valve() -> None:
    _, problems = resolve_settings({}, BAD_ENVIRONMENT)
    lines = [problem.message() for problem in problems]
    assert {problem.setting for problem in problems} == set(BAD_ENVIRONMENT)
    for problem, line in zip(problems, lines, strict=True):
        assert line.startswith(f"{problem.setting}: "), line
        assert "valve" not in line.partition("Fix:")[0], line
        assert_voice(line, problem.setting)
    check_snapshot("filter-environment-problems", "\n".join(lines) + "\n")


def test_every_snapshot_belongs_to_a_case() -> None:
    names = {case.name for case in CASES} | {
        "install-pipelines-uploaded",  # tests/cli/test_install_pipelines.py (a Pipelines server double)
        "bridge-log-bad-environment",
        "filter-valve-problems",
        "filter-environment-problems",
    }
    assert {path.stem for path in SNAPSHOTS.glob("*.txt")} <= names

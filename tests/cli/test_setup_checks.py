# SPDX-License-Identifier: Apache-2.0
"""Setup rejects what cannot work (issue 12, item 2), each through the real command line where it is met.

* a Langfuse host with an API path: ``up``, ``collector config`` and the doctor, one check (``langfuse_base_url``);
* ``install ... --valve``: unknown names (with the closest valid one) and bad values, checked by the filter's own
  rules before anything is uploaded (the URLs here answer nothing: a check that ran late would fail differently);
* ``up`` on a running stack asked for other settings: exit 1 naming each difference and how to apply it;
* the shell's ``OTEL_EXPORTER_OTLP_*`` variables: not passed on to the stack's processes, and listed by ``up``.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from collector import UsageError, langfuse_base_url
from owui_otel._doctor import FAIL, DoctorInputs, check_langfuse
from owui_otel._stack import (
    ProcessRecord,
    StackOptions,
    StackState,
    _bridge_env,
    _plan,
    _urls,
    ignored_shell_variables,
    requested_settings,
    settings_differences,
)
from tests.cli import test_cli_errors
from tests.cli.test_cli_errors import (  # the CLI error tests' sandbox: no settings from the caller's shell
    COLLECTOR_ENTRIES,
    OWUI_OTEL,
    REPO,
    Sandbox,
    _run,
    assert_one_error_line,
)

pytestmark = pytest.mark.unit

box = test_cli_errors.sandbox
"""The CLI error tests' fixture, here as ``box``: a tmp state/data/cache and no settings from the caller's shell."""

PATH_HOST = "https://cloud.langfuse.com/api/public/otel"
KEYS = {"LANGFUSE_PUBLIC_KEY": "pk-lf-1", "LANGFUSE_SECRET_KEY": "sk-lf-2"}
BASE_URL_FIX = (
    "LANGFUSE_HOST=",
    "includes an API path (/api/public/otel)",
    "base URL only",
    "https://cloud.langfuse.com",
)

# --- the Langfuse host -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("https://cloud.langfuse.com", "https://cloud.langfuse.com"),
        (" https://cloud.langfuse.com/ ", "https://cloud.langfuse.com"),
        ("http://localhost:3000", "http://localhost:3000"),
        ("https://example.com/langfuse", "https://example.com/langfuse"),  # behind a reverse-proxy prefix
    ],
)
def test_base_urls_are_accepted_without_their_trailing_slash(host: str, expected: str) -> None:
    assert langfuse_base_url(host) == expected


@pytest.mark.parametrize(
    ("host", "reason"),
    [
        (PATH_HOST, "includes an API path (/api/public/otel)"),
        ("https://cloud.langfuse.com/api/public/otel/v1/traces", "includes an API path"),
        ("https://example.com/langfuse/api/public", "includes an API path (/langfuse/api/public)"),
        ("https://cloud.langfuse.com/v1/traces", "includes an API path"),
        ("cloud.langfuse.com", "is not an http(s) URL"),
        ("garbage", "is not an http(s) URL"),
        ("https://cloud.langfuse.com?project=x", "has a query or fragment"),
    ],
)
def test_hosts_the_collector_could_never_send_to_are_rejected_in_one_line(host: str, reason: str) -> None:
    with pytest.raises(UsageError) as raised:
        langfuse_base_url(host)
    message = str(raised.value)
    assert message.startswith("LANGFUSE_HOST=") and reason in message and "\n" not in message
    assert "set it to the base URL only, e.g. https://cloud.langfuse.com" in message


def test_up_rejects_a_langfuse_host_with_a_path_before_starting_anything(box: Sandbox) -> None:
    env = {**box.env, "LANGFUSE_HOST": PATH_HOST, **KEYS}
    proc = _run([*OWUI_OTEL, "up"], env, box.root)
    assert_one_error_line(proc, "owui-otel up", 2, *BASE_URL_FIX)
    assert not (Path(box.env["OWUI_OTEL_STATE_DIR"]) / "stack" / "stack.json").exists()


@pytest.mark.parametrize("entry", COLLECTOR_ENTRIES)
def test_collector_config_rejects_a_langfuse_host_with_a_path(box: Sandbox, entry: tuple[list[str], str]) -> None:
    argv, prog = entry
    proc = _run([*argv, "config"], {**box.env, "LANGFUSE_HOST": PATH_HOST}, REPO)
    assert_one_error_line(proc, f"{prog} config", 2, *BASE_URL_FIX)
    assert proc.stdout == ""  # no config printed that would retry .../api/public/otel/api/public/otel forever


def test_collector_config_with_a_base_url_still_renders(box: Sandbox) -> None:
    proc = _run([*OWUI_OTEL, "collector", "config"], {**box.env, "LANGFUSE_HOST": "https://cloud.langfuse.com"}, REPO)
    assert proc.returncode == 0, proc.stderr
    assert "otlp_http/langfuse" in proc.stdout


def test_the_doctor_reports_the_host_with_the_same_words_and_fix() -> None:
    (check,) = check_langfuse(DoctorInputs(langfuse_host=PATH_HOST, **{k.lower(): v for k, v in KEYS.items()}))
    assert check.status == FAIL
    assert check.says == f"LANGFUSE_HOST={PATH_HOST} includes an API path (/api/public/otel)"
    assert check.fix.startswith("set it to the base URL only, e.g. https://cloud.langfuse.com")


# --- install --valve ---------------------------------------------------------------------------------------------

UNANSWERED = "http://127.0.0.1:9"  # nothing listens: an upload attempt would end in "cannot reach"
INSTALLS = {
    "function": ["install", "function", "--url", UNANSWERED, "--token", "t"],
    "pipelines": ["install", "pipelines", "--url", UNANSWERED, "--api-key", "k"],
    "event-function": ["install", "event-function", "--url", UNANSWERED, "--token", "t"],
}


@pytest.mark.parametrize(
    ("target", "valve", "fix"),
    [
        (
            "function",
            "otlp_endpont=http://localhost:4318",
            ("no such valve: otlp_endpont", "did you mean otlp_endpoint?"),
        ),
        (
            "pipelines",
            "otlp_endpont=http://localhost:4318",
            ("no such valve: otlp_endpont", "did you mean otlp_endpoint?"),
        ),
        ("event-function", "langfuse_hots=https://cloud.langfuse.com", ("did you mean langfuse_host?",)),
        ("event-function", "max_content_chars=5000", ("no such valve: max_content_chars", "use one of langfuse_host")),
        (
            "function",
            "max_content_chars=5",
            ("valve max_content_chars='5' must be a whole number", "Fix: set it to 20000"),
        ),
        ("function", "max_open_turns=many", ("valve max_open_turns: Input should be a valid integer", "type int")),
        ("pipelines", "otlp_protocol=grpcx", ("valve otlp_protocol='grpcx' is not a supported protocol", "'grpc'")),
        ("function", "otlp_endpoint=garbage", ("valve otlp_endpoint='garbage'", "http://localhost:4318")),
        ("event-function", "user_identity=mail", ("valve user_identity='mail'", "'email' or 'username'")),
        (
            "event-function",
            f"langfuse_host={PATH_HOST}",
            ("valve langfuse_host=", "includes an API path", "base URL only"),
        ),
    ],
)
def test_install_checks_valves_before_uploading(box: Sandbox, target: str, valve: str, fix: tuple[str, ...]) -> None:
    proc = _run([*OWUI_OTEL, *INSTALLS[target], "--valve", valve], box.env, box.root)
    line = assert_one_error_line(proc, f"owui-otel install {target}", 2, *fix, "nothing was uploaded")
    assert "cannot reach" not in line


def test_install_with_valid_valves_gets_as_far_as_the_server(box: Sandbox) -> None:
    # The check lets good valves through: the command then fails only on the unreachable URL.
    argv = [
        *INSTALLS["function"],
        "--valve",
        "otlp_endpoint=http://localhost:4318",
        "--valve",
        "max_content_chars=4000",
    ]
    proc = _run([*OWUI_OTEL, *argv], box.env, box.root)
    assert proc.returncode == 1 and "--valve" not in proc.stderr, proc.stderr


# --- up on a running stack ---------------------------------------------------------------------------------------


@pytest.fixture
def running_stack(box: Sandbox) -> Iterator[Sandbox]:
    """A stack.json as `up` writes it, its supervisor a live process of ours (`up` only checks it runs)."""
    supervisor = subprocess.Popen(["sleep", "300"])
    try:
        options = StackOptions()
        state = StackState(
            processes=[ProcessRecord("supervisor", supervisor.pid, ["sleep", "300"], "", 0.0)],
            urls=_urls(options),
            api_key="bridge-key",
            langfuse=False,
            ingest_token="stack-token",
            settings=requested_settings(options),
        )
        stack = Path(box.env["OWUI_OTEL_STATE_DIR"]) / "stack"
        stack.mkdir(parents=True)
        (stack / "stack.json").write_text(state.to_json(), encoding="utf-8")
        yield box
    finally:
        supervisor.kill()
        supervisor.wait()


def test_up_with_the_running_settings_describes_the_stack(running_stack: Sandbox) -> None:
    proc = _run([*OWUI_OTEL, "up"], running_stack.env, running_stack.root)
    assert proc.returncode == 0, proc.stderr
    assert "the stack is already running" in proc.stderr
    assert "off (to add it: set LANGFUSE_HOST + keys, then `owui-otel down && owui-otel up`)" in proc.stdout
    assert "Not passed on" not in proc.stdout


@pytest.mark.parametrize(
    ("argv", "env", "differences"),
    [
        (
            [],
            {"LANGFUSE_HOST": "https://cloud.langfuse.com", **KEYS},
            "LANGFUSE_HOST https://cloud.langfuse.com (running: unset)",
        ),
        (["--bridge-port", "9100"], {}, "--bridge-port 9100 (running: 9099)"),
        (
            ["--otlp-http-port", "4320", "--jaeger-ui-port", "16700"],
            {},
            "--otlp-http-port 4320 (running: 4318); --jaeger-ui-port 16700 (running: 16686)",
        ),
    ],
)
def test_up_with_other_settings_says_what_differs_and_how_to_apply_it(
    running_stack: Sandbox, argv: list[str], env: dict[str, str], differences: str
) -> None:
    proc = _run([*OWUI_OTEL, "up", *argv], {**running_stack.env, **env}, running_stack.root)
    line = assert_one_error_line(proc, "owui-otel up", 1, differences, "`owui-otel down && owui-otel up`")
    assert line == (
        f"owui-otel up: error: the running stack has other settings: {differences}; apply them with "
        "`owui-otel down && owui-otel up` (same flags and variables), or run `owui-otel up` as it was started"
    )


def test_changed_langfuse_keys_are_a_difference_that_never_shows_a_key() -> None:
    with_langfuse = StackOptions(
        langfuse_host="https://cloud.langfuse.com", langfuse_public_key="pk-1", langfuse_secret_key="sk-old"
    )
    running = requested_settings(with_langfuse)
    assert "sk-old" not in str(running)
    rotated = StackOptions(
        langfuse_host="https://cloud.langfuse.com/", langfuse_public_key="pk-1", langfuse_secret_key="sk-new"
    )
    assert settings_differences(running, requested_settings(rotated)) == [
        "LANGFUSE_PUBLIC_KEY / LANGFUSE_SECRET_KEY changed"
    ]
    assert settings_differences(running, requested_settings(with_langfuse)) == []
    # A stack started by an older version recorded nothing to compare: it is taken as it is.
    assert settings_differences({}, requested_settings(rotated)) == []


# --- the shell's OTEL_* variables --------------------------------------------------------------------------------

STRAY = {
    "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
    "OTEL_EXPORTER_OTLP_ENDPOINT": "https://vendor.example",
    "OTEL_EXPORTER_OTLP_CERTIFICATE": "/etc/vendor.pem",
    "OTEL_TRACES_EXPORTER": "console",
}


def test_export_variables_of_the_shell_are_not_passed_to_the_bridge(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in STRAY.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("OTEL_SERVICE_NAME", "my-webui")  # describes the spans, sends nothing elsewhere: kept
    env = _bridge_env(StackOptions(), "bridge-key", "stack-token")
    assert not set(STRAY) & set(env)
    assert env["OTEL_EXPORTER_OTLP_HEADERS"] == "authorization=Bearer%20stack-token"
    assert env["OTEL_SERVICE_NAME"] == "my-webui"
    assert ignored_shell_variables() == sorted(STRAY)


def test_no_process_of_the_stack_inherits_them(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("OWUI_OTEL_DATA_DIR", str(tmp_path / "data"))
    for name, value in STRAY.items():
        monkeypatch.setenv(name, value)
    options = StackOptions()
    binaries = (Path("/nonexistent/otelcol"), Path("/nonexistent/jaeger"), Path("/nonexistent/prometheus"))
    plan = _plan(options, binaries, tmp_path, _urls(options), ("k", "t"))
    assert [child.name for child in plan.children] == ["jaeger", "prometheus", "collector", "bridge"]
    for child in plan.children:
        assert not set(STRAY) & set(child.env), child.name


def test_up_lists_the_shell_variables_it_did_not_pass_on(running_stack: Sandbox) -> None:
    proc = _run([*OWUI_OTEL, "up"], {**running_stack.env, **STRAY}, running_stack.root)
    assert proc.returncode == 0, proc.stderr
    assert (
        "  Not passed on       OTEL_EXPORTER_OTLP_CERTIFICATE, OTEL_EXPORTER_OTLP_ENDPOINT, "
        "OTEL_EXPORTER_OTLP_PROTOCOL, "
        "OTEL_TRACES_EXPORTER (your shell's; the bridge exports to this stack's collector)"
    ) in proc.stdout


def test_feedback_sync_rejects_a_langfuse_host_with_a_path(box: Sandbox) -> None:
    argv = ["feedback", "sync", "--openwebui-url", "http://127.0.0.1:9", "--token", "t", "--langfuse-host", PATH_HOST]
    proc = _run([*OWUI_OTEL, *argv], {**box.env, **KEYS}, box.root)
    assert_one_error_line(proc, "owui-otel feedback sync", 2, *BASE_URL_FIX)

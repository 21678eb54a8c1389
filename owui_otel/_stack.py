# SPDX-License-Identifier: Apache-2.0
"""``owui-otel up`` / ``down``: the whole local stack without Docker.

``up`` builds our collector, Jaeger and Prometheus once and installs Phoenix, the trace UI (:mod:`owui_otel._phoenix`),
all cached outside the repo, with progress; renders the collector config (receiver authenticated with a bearer token
generated once and kept 0600 in the data dir), then starts a supervisor (:mod:`owui_otel._supervisor`, its own
session) that starts Jaeger, Phoenix (its SQLite data in the data dir: kept across ``down``/``up``), Prometheus (the
usage metrics; its data in the data dir too), the collector and the bridge server in that order, waits until each is
healthy, and from then on restarts any of them that dies (bounded backoff, logged, visible in ``owui-otel doctor``).
``up`` returns once the supervisor reports the stack running and writes ``stack.json`` (0600, in
0700 folders: it holds the keys). ``down`` stops the supervisor, which stops its children; any
child still running after that (the supervisor was killed) is stopped by its recorded pid, after
checking that the pid still runs the program we started (a recycled pid is never signalled).

    stack = start_stack(StackOptions())        # returns the running stack's description
    stop_stack()                               # -> list of what was stopped
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from collector import langfuse_base_url, open_private_log
from otel_filter.environment_variables import (
    OTEL_EXPORTER_OTLP_HEADERS,
)
from owui_otel._command import command
from owui_otel._errors import OwuiOtelError
from owui_otel._paths import data_dir, private_dir, state_dir, tighten_file, write_private
from owui_otel._phoenix import PHOENIX_READY_PATH, ensure_phoenix, phoenix_argv, phoenix_env
from owui_otel._supervisor import (
    FAILED,
    RUNNING,
    STOP_TIMEOUT_S,
    Backoff,
    ChildPlan,
    SupervisorPlan,
    SupervisorStatus,
    read_status,
)
from owui_otel.environment_variables import LANGFUSE_HOST, OWUI_OTEL_API_KEY

HOST = "127.0.0.1"
STATE_FILE = "stack.json"
LANGFUSE_KEYS = "Langfuse keys"
STATUS_FILE = "supervisor.json"
SUPERVISOR = "supervisor"
Progress = Callable[[str], None]


@dataclass(frozen=True)
class StackOptions:
    """Ports and backends of the local stack (defaults are the well-known ports)."""

    otlp_grpc_port: int = 4317
    otlp_http_port: int = 4318
    collector_health_port: int = 13133
    collector_metrics_port: int = 8888
    jaeger_ui_port: int = 16686
    jaeger_grpc_query_port: int = 16685
    jaeger_otlp_grpc_port: int = 14317
    jaeger_otlp_http_port: int = 14318
    phoenix_port: int = 6006
    prometheus_port: int = 9090
    bridge_port: int = 9099
    langfuse_host: str = ""
    langfuse_public_key: str = ""
    langfuse_secret_key: str = ""
    extra_env: Mapping[str, str] = field(default_factory=dict)
    backoff: Backoff = field(default_factory=Backoff)
    metrics_settings: Mapping[str, str] = field(default_factory=dict)
    """The collector's per-user metrics settings from ``up``'s shell (:func:`metrics_settings`)."""

    def ports(self) -> dict[str, int]:
        return {k: v for k, v in asdict(self).items() if k.endswith("_port")}


@dataclass
class ProcessRecord:
    name: str
    pid: int
    argv: list[str]
    log: str
    started: float


@dataclass
class StackState:
    """What ``up`` started; written to ``<state dir>/stack.json``."""

    processes: list[ProcessRecord]
    urls: dict[str, str]
    api_key: str
    langfuse: bool
    started: float = field(default_factory=time.time)
    ingest_token: str = ""
    status_file: str = ""
    settings: dict[str, str] = field(default_factory=dict)
    """:func:`requested_settings` of the ``up`` that started it (empty in stacks started by older versions)."""

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)

    @classmethod
    def from_json(cls, text: str) -> StackState:
        data = json.loads(text)
        data["processes"] = [ProcessRecord(**p) for p in data["processes"]]
        return cls(**data)

    def supervisor(self) -> ProcessRecord | None:
        return next((p for p in self.processes if p.name == SUPERVISOR), None)

    def supervisor_status(self) -> SupervisorStatus | None:
        return read_status(Path(self.status_file)) if self.status_file else None


def _quiet(_: str) -> None:
    pass


def stack_dir() -> Path:
    return state_dir() / "stack"


def load_state() -> StackState | None:
    path = stack_dir() / STATE_FILE
    try:
        return StackState.from_json(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (ValueError, TypeError, KeyError) as error:
        raise OwuiOtelError(
            f"{path}: the stack's state file is damaged ({error}). Fix: stop the processes it lists by hand (kill "
            f"<pid>), delete the file, then {command('up')}. Until then: up, down, demo, traces and doctor cannot "
            "find the stack"
        ) from error


def _private_secret(path: Path, prefix: str) -> str:
    """A random secret generated once and kept in ``path`` (0600, folder 0700); an existing one is reused
    (and tightened, should an older version have written it readable by others).

    Written in full to a temporary file, then linked into place: a crash never leaves an empty secret (an empty
    ingest token would be a valid empty password), and of two ``up`` at once the second reuses the first's."""
    private_dir(path.parent)
    if path.exists():
        tighten_file(path)
        existing = path.read_text(encoding="utf-8").strip()
        if existing:
            return existing
        path.unlink()  # empty: written by an older version that crashed between creating and writing it
    secret = prefix + secrets.token_urlsafe(24)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    write_private(temporary, secret + "\n")
    try:
        os.link(temporary, path)  # fails if another `up` got there first
    except FileExistsError:
        return path.read_text(encoding="utf-8").strip()
    finally:
        temporary.unlink()
    return secret


def bridge_api_key() -> str:
    """The bridge server's key: generated once, kept in the data dir (0600) so Open WebUI's
    connection keeps working across ``down``/``up``."""
    return _private_secret(data_dir() / "bridge" / "api_key", "owui-otel-")


def ingest_token() -> str:
    """The collector receiver's bearer token (``OTEL_INGEST_TOKEN``): generated once, kept in the data dir
    (0600) so a filter configured with it keeps working across ``down``/``up``."""
    return _private_secret(data_dir() / "collector" / "ingest_token", "owui-otel-ingest-")


def otlp_headers_value(token: str) -> str:
    """``OTEL_EXPORTER_OTLP_HEADERS`` / ``otlp_headers`` valve value that sends ``token``: lower-case key
    (gRPC metadata rejects upper case), the space URL-encoded as the variable's format requires."""
    return f"authorization=Bearer%20{token}"


# --- process control ----------------------------------------------------------------------


def _cmdline(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def is_ours(record: ProcessRecord) -> bool:
    """True while ``record.pid`` runs the very program we started (pids get recycled)."""
    cmdline = _cmdline(record.pid)
    return cmdline is not None and cmdline[: len(record.argv)] == record.argv


def _stop(record: ProcessRecord, timeout_s: float = 15.0) -> bool:
    """SIGTERM, wait until it has exited, SIGKILL after ``timeout_s``. False if the pid no longer runs our program
    (nothing signalled). Returns only once the process is gone (or a zombie), so a caller can rely on it."""
    if not is_ours(record):
        return False
    os.kill(record.pid, signal.SIGTERM)
    if _wait_exited(record, timeout_s):
        return True
    os.kill(record.pid, signal.SIGKILL)
    _wait_exited(record, 5.0)
    return True


def _wait_exited(record: ProcessRecord, timeout_s: float) -> bool:
    """Wait until ``record``'s process is gone or a zombie; True if it happened within ``timeout_s``.

    A process that is exiting has already released its memory, so its ``/proc/<pid>/cmdline`` reads empty before it
    becomes a zombie: that still counts as ours, still exiting. A non-empty command line that is not ours means the pid
    was reused by another program (ours is long gone): done, and that program is never signalled.
    """
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if _is_zombie(record.pid):  # gone, or a zombie
            return True
        cmdline = _cmdline(record.pid)
        if cmdline and not is_ours(record):
            return True
        time.sleep(0.05)
    return False


def _is_zombie(pid: int) -> bool:
    try:
        os.waitpid(pid, os.WNOHANG)  # reap it if it is our own child (`up --foreground`, tests)
    except ChildProcessError:
        pass
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] == "Z"
    except (OSError, IndexError):
        return True


def _port_free(port: int) -> bool:
    import socket  # noqa: PLC0415

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((HOST, port))
        except OSError:
            return False
    return True


# --- up / down ----------------------------------------------------------------------------


def _collector_config(options: StackOptions) -> str:
    from collector import render_config  # noqa: PLC0415

    exporters = ["jaeger", "phoenix"] + (["langfuse"] if options.langfuse_host else [])
    return render_config(exporters, receiver_auth=True)


def _jaeger_config(options: StackOptions) -> dict[str, Any]:
    from collector import jaeger_config  # noqa: PLC0415

    return jaeger_config(
        otlp_grpc_port=options.jaeger_otlp_grpc_port,
        otlp_http_port=options.jaeger_otlp_http_port,
        query_port=options.jaeger_ui_port,
        query_grpc_port=options.jaeger_grpc_query_port,
        host=HOST,
    )


def _collector_env(options: StackOptions, queue_dir: Path, token: str) -> dict[str, str]:
    from collector import CollectorAddresses, collector_env  # noqa: PLC0415

    addresses = CollectorAddresses(
        host=HOST,
        otlp_grpc_port=options.otlp_grpc_port,
        otlp_http_port=options.otlp_http_port,
        health_port=options.collector_health_port,
        metrics_port=options.collector_metrics_port,
        jaeger_otlp_endpoint=f"{HOST}:{options.jaeger_otlp_grpc_port}",
    )
    return collector_env(
        addresses,
        queue_dir=queue_dir,
        ingest_token=token,
        langfuse_host=options.langfuse_host,
        langfuse_public_key=options.langfuse_public_key,
        langfuse_secret_key=options.langfuse_secret_key,
        inherited=_inherited_env(),
        overrides={
            "PHOENIX_OTLP_ENDPOINT": f"http://{HOST}:{options.phoenix_port}",
            **_metrics_env(options),
            **options.extra_env,
        },
    )


METRICS_SETTINGS = ("OWUI_OTEL_METRICS_PER_USER", "OWUI_OTEL_METRICS_MAX_USER_SERIES")
"""The metrics settings `up` passes from its shell to the collector (collector_env passes on no config variable)."""


def metrics_settings(environ: Mapping[str, str]) -> dict[str, str]:
    """The :data:`METRICS_SETTINGS` set (non-empty) in ``environ``, for :attr:`StackOptions.metrics_settings`."""
    return {name: environ[name].strip() for name in METRICS_SETTINGS if environ.get(name, "").strip()}


def _metrics_env(options: StackOptions) -> dict[str, str]:
    """Where the collector sends the usage metrics (our Prometheus), and the per-user metrics settings."""
    from collector import PROMETHEUS_OTLP_PATH  # noqa: PLC0415

    endpoint = f"http://{HOST}:{options.prometheus_port}{PROMETHEUS_OTLP_PATH}"
    return {"PROMETHEUS_OTLP_ENDPOINT": endpoint, **options.metrics_settings}


_SHELL_EXPORT_ROUTING_PREFIXES = ("OTEL_EXPORTER_OTLP_", "OTEL_TRACES_EXPORTER", "OTEL_SDK_DISABLED")
"""Variables of the user's shell that would send the bridge's spans elsewhere (another endpoint, gRPC to the HTTP
port, another token or certificate, another exporter, none at all). The stack's processes do not inherit them: the
bridge exports to the stack's collector (`serve --otlp-endpoint`, the token in OTEL_EXPORTER_OTLP_HEADERS), and
`up` lists what it left out (:func:`ignored_shell_variables`)."""


def ignored_shell_variables(environ: Mapping[str, str] | None = None) -> list[str]:
    """The names of ``environ``'s (default: this shell's) export variables that ``up`` does not pass on."""
    source = os.environ if environ is None else environ
    return sorted(name for name in source if name.startswith(_SHELL_EXPORT_ROUTING_PREFIXES))


def _inherited_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(_SHELL_EXPORT_ROUTING_PREFIXES)}


def _bridge_env(options: StackOptions, api_key: str, token: str) -> dict[str, str]:
    # The filter's otlp_headers valve and the server's own span exporter both default to the standard variable.
    headers = {OTEL_EXPORTER_OTLP_HEADERS: otlp_headers_value(token)}
    return {**_inherited_env(), OWUI_OTEL_API_KEY: api_key, **headers, **options.extra_env}


class StackSettingsChanged(OwuiOtelError):
    """``up`` asked for other settings than the running stack has; the message lists each and how to apply them."""


def requested_settings(options: StackOptions) -> dict[str, str]:
    """What ``up`` was asked for, by the flag or variable that sets it (keys only as a digest), e.g.
    ``{"--bridge-port": "9099", ..., "LANGFUSE_HOST": "", "Langfuse keys": ""}``."""
    settings = {f"--{name.replace('_', '-')}": str(port) for name, port in options.ports().items()}
    settings[LANGFUSE_HOST] = langfuse_base_url(options.langfuse_host) if options.langfuse_host else ""
    keys = f"{options.langfuse_public_key}:{options.langfuse_secret_key}" if options.langfuse_host else ""
    settings[LANGFUSE_KEYS] = hashlib.sha256(keys.encode()).hexdigest()[:16] if keys else ""
    settings.update({name: options.metrics_settings.get(name, "") for name in METRICS_SETTINGS})
    return settings


def settings_differences(running: Mapping[str, str], requested: Mapping[str, str]) -> list[str]:
    """One phrase per setting that differs, e.g. ``--bridge-port 9100 (running: 9099)``; never shows a key."""
    differences = []
    for name, wanted in requested.items():
        if name not in running or running[name] == wanted:
            continue  # a stack started by an older version did not record it
        if name == LANGFUSE_KEYS:
            if not (wanted and running[name]):
                continue  # Langfuse on or off: LANGFUSE_HOST's difference says it
            differences.append("LANGFUSE_PUBLIC_KEY / LANGFUSE_SECRET_KEY changed")
        else:
            differences.append(f"{name} {wanted or 'unset'} (running: {running[name] or 'unset'})")
    return differences


def _check_running_matches(existing: StackState, options: StackOptions) -> None:
    differences = settings_differences(existing.settings, requested_settings(options))
    if differences:
        raise StackSettingsChanged(
            f"{'; '.join(differences)}: the running stack was started with other settings. Fix: "
            f"{command('down && up')} with these flags and variables applies them. Until then: the running stack "
            f"keeps its own settings ({command('up')} as it was started reports it running)"
        )


def _check_can_start(options: StackOptions, progress: Progress) -> StackState | None:
    """The running stack if there is one; raises if starting now would clash with something."""
    if options.langfuse_host:
        langfuse_base_url(options.langfuse_host)  # a host the collector could never send to fails before anything
    existing = load_state()
    if existing is not None:
        supervisor = existing.supervisor()
        if supervisor is not None and is_ours(supervisor):
            _check_running_matches(existing, options)
            progress(f"the stack is already running ({command('down')} stops it)")
            return existing
        alive = [p for p in _children_records(existing) if is_ours(p)]
        names = ", ".join(p.name for p in alive) or "nothing"
        raise OwuiOtelError(
            f"{stack_dir() / STATE_FILE}: a previous stack is partly running ({names} alive, its supervisor is not). "
            f"Fix: {command('down')}, then {command('up')}. Until then: nothing new is started"
        )
    if options.langfuse_host and not (options.langfuse_public_key and options.langfuse_secret_key):
        raise OwuiOtelError(
            "LANGFUSE_PUBLIC_KEY / LANGFUSE_SECRET_KEY: not set, but LANGFUSE_HOST (or --langfuse-host) is. Fix: "
            "export both keys (Langfuse > Settings > API Keys), or drop LANGFUSE_HOST to run without Langfuse. Until "
            "then: nothing is started"
        )
    busy = [f"{name}={port}" for name, port in options.ports().items() if not _port_free(port)]
    if busy:
        raise OwuiOtelError(
            f"{', '.join(busy)}: port(s) already in use on {HOST}. Fix: stop what uses them (another "
            f"{command('up')} stack: {command('down')}), or pick others with the matching --*-port flags "
            f"({command('up --help')} lists them). Until then: nothing is started"
        )
    return None


def _urls(options: StackOptions) -> dict[str, str]:
    return {
        "jaeger": f"http://{HOST}:{options.jaeger_ui_port}",
        "phoenix": f"http://{HOST}:{options.phoenix_port}",
        "prometheus": f"http://{HOST}:{options.prometheus_port}",
        "collector_otlp_http": f"http://{HOST}:{options.otlp_http_port}",
        "collector_otlp_grpc": f"{HOST}:{options.otlp_grpc_port}",
        "collector_health": f"http://{HOST}:{options.collector_health_port}",
        "collector_metrics": f"http://{HOST}:{options.collector_metrics_port}/metrics",
        "bridge": f"http://{HOST}:{options.bridge_port}",
    }


def _plan(
    options: StackOptions,
    binaries: tuple[Path, Path, Path, Path],
    directory: Path,
    urls: Mapping[str, str],
    secrets_: tuple[str, str],
) -> SupervisorPlan:
    """What the supervisor runs: Jaeger, Phoenix, Prometheus, the collector, the bridge (each waits for the one
    before). ``binaries``: the collector, Jaeger, Phoenix's Python, Prometheus."""
    collector_binary, jaeger_binary, phoenix_python, prometheus_binary = binaries
    api_key, token = secrets_
    logs = private_dir(directory / "logs")
    collector_config = directory / "otel-collector.yaml"
    write_private(collector_config, _collector_config(options))
    jaeger_file = directory / "jaeger.yaml"
    import yaml  # noqa: PLC0415 (the [cli] extra)

    write_private(jaeger_file, yaml.safe_dump(_jaeger_config(options), sort_keys=False))
    queue_dir = private_dir(data_dir() / "collector-queue")
    private_dir(data_dir() / "bridge")  # valves.json lives there
    bridge_argv = [sys.executable, "-m", "owui_otel.cli", "serve", "--host", HOST, "--port", str(options.bridge_port)]
    bridge_argv += ["--otlp-endpoint", urls["collector_otlp_http"]]
    return SupervisorPlan(
        status_file=str(directory / STATUS_FILE),
        backoff=options.backoff,
        children=[
            ChildPlan(
                "jaeger",
                [str(jaeger_binary), "--config", str(jaeger_file)],
                _inherited_env(),
                str(logs / "jaeger.log"),
                f"{urls['jaeger']}/api/services",
                120,
            ),
            ChildPlan(
                "phoenix",
                phoenix_argv(phoenix_python),
                phoenix_env(
                    private_dir(data_dir() / "phoenix"), host=HOST, port=options.phoenix_port, base=_inherited_env()
                ),
                str(logs / "phoenix.log"),
                f"{urls['phoenix']}{PHOENIX_READY_PATH}",
                120,
            ),
            _prometheus_child(prometheus_binary, directory, options, str(logs / "prometheus.log")),
            ChildPlan(
                "collector",
                [str(collector_binary), f"--config={collector_config}"],
                _collector_env(options, queue_dir, token),
                str(logs / "collector.log"),
                urls["collector_health"],
                60,
            ),
            ChildPlan(
                "bridge",
                bridge_argv,
                _bridge_env(options, api_key, token),
                str(logs / "bridge.log"),
                f"{urls['bridge']}/ready",
                60,
            ),
        ],
    )


def _prometheus_child(binary: Path, directory: Path, options: StackOptions, log: str) -> ChildPlan:
    """Prometheus with its OTLP receiver on, loopback only; its samples persist across `down`/`up` (data dir)."""
    from collector import prometheus_command, write_prometheus_config  # noqa: PLC0415

    config = write_prometheus_config(directory / "prometheus.yml")
    samples = private_dir(data_dir() / "prometheus")
    argv = prometheus_command(binary, config=config, data_dir=samples, port=options.prometheus_port, host=HOST)
    return ChildPlan("prometheus", argv, _inherited_env(), log, f"http://{HOST}:{options.prometheus_port}/-/ready", 120)


_DETACHED: list[subprocess.Popen[bytes]] = []
"""Supervisors started by this process: kept referenced so that Popen never warns that one "is still running"
(it is meant to outlive us; `down` stops it by its recorded pid)."""


def _start_supervisor(plan: SupervisorPlan, log: Path) -> tuple[ProcessRecord, subprocess.Popen[bytes]]:
    argv = [sys.executable, "-m", "owui_otel._supervisor"]
    with open_private_log(log) as handle:
        handle.write(f"\n=== start supervisor: {' '.join(argv)}\n".encode())
        handle.flush()
        # A session of its own: the stack outlives this command and ignores the terminal's Ctrl-C. The plan goes
        # through stdin: the children's environments hold keys and never touch the disk.
        process = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE,
            stdout=handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    _DETACHED.append(process)
    assert process.stdin is not None
    process.stdin.write(plan.to_json().encode())
    process.stdin.close()
    record = ProcessRecord(name=SUPERVISOR, pid=process.pid, argv=argv, log=str(log), started=time.time())
    return record, process


def _stop_supervisor(process: subprocess.Popen[bytes], timeout_s: float = STOP_TIMEOUT_S) -> None:
    """SIGTERM the supervisor this process started (it stops its children), wait, SIGKILL; reaped either way.
    By its Popen, not by pid: right after exec its /proc cmdline can still read empty (see :func:`is_ours`)."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_running(
    supervisor: tuple[ProcessRecord, subprocess.Popen[bytes]],
    status_file: Path,
    plan: SupervisorPlan,
    progress: Progress,
) -> None:
    """Until the supervisor reports every child ready; raises with its error otherwise (the caller stops it)."""
    record, process = supervisor
    deadline = time.monotonic() + sum(child.ready_timeout_s for child in plan.children) + 60
    phase = ""
    while time.monotonic() < deadline:
        status = read_status(status_file)
        if status is not None and status.phase and status.phase != phase:
            phase = status.phase
            progress(f"{phase} ...")
        if status is not None and status.state == RUNNING:
            return
        if status is not None and status.state == FAILED:
            raise OwuiOtelError(status.error)
        if process.poll() is not None:  # not /proc: right after exec its cmdline can still read empty
            raise OwuiOtelError(
                f"the supervisor exited before the stack was ready. Fix: read {record.log} (and the other logs "
                f"in {Path(record.log).parent}), fix the cause, then {command('up')}. Until then: nothing runs"
            )
        time.sleep(0.2)
    raise OwuiOtelError(
        f"the stack was not ready in time. Fix: read the logs in {Path(record.log).parent} (one per process), fix "
        f"the cause, then {command('up')}. Until then: nothing runs (what had started was stopped)"
    )


def start_stack(options: StackOptions, progress: Progress = _quiet) -> StackState:
    """Start Jaeger, Phoenix, Prometheus, the collector and the bridge server under a supervisor (building or
    installing them if needed)."""
    existing = _check_can_start(options, progress)
    if existing is not None:
        return existing

    from collector import build_collector, build_jaeger, build_prometheus  # noqa: PLC0415

    progress("collector binary: built once, then reused from the cache ...")
    collector_binary = build_collector(progress=progress)
    progress("Jaeger binary: built once, then reused from the cache ...")
    jaeger_binary = build_jaeger(progress=progress)
    phoenix_python = ensure_phoenix(progress=progress)
    progress("Prometheus binary: built once, then reused from the cache ...")
    prometheus_binary = build_prometheus(progress=progress)

    directory = private_dir(stack_dir())
    for old_log in (directory / "logs").glob("*.log"):
        tighten_file(old_log)  # written 0644 by older versions
    api_key, token = bridge_api_key(), ingest_token()
    urls = _urls(options)
    binaries = (collector_binary, jaeger_binary, phoenix_python, prometheus_binary)
    plan = _plan(options, binaries, directory, urls, (api_key, token))
    status_file = Path(plan.status_file)
    status_file.unlink(missing_ok=True)
    supervisor = _start_supervisor(plan, directory / "logs" / "supervisor.log")
    try:
        _wait_running(supervisor, status_file, plan, progress)
    except BaseException:
        # Ctrl-C (or any error) before stack.json exists: nothing else could find this supervisor to stop it
        # (`down` reads stack.json, and `up` would then only say that the ports are busy).
        _stop_supervisor(supervisor[1])
        raise
    status = read_status(status_file)
    assert status is not None
    children = [
        ProcessRecord(name=c.name, pid=c.pid or 0, argv=c.argv, log=c.log, started=c.started) for c in status.children
    ]
    state = StackState(
        processes=[supervisor[0], *children],
        urls=urls,
        api_key=api_key,
        langfuse=bool(options.langfuse_host),
        ingest_token=token,
        status_file=str(status_file),
        settings=requested_settings(options),
    )
    write_private(directory / STATE_FILE, state.to_json())
    return state


def _children_records(state: StackState) -> list[ProcessRecord]:
    """Every child pid we know of: as started, and as the supervisor last reported them (after restarts)."""
    records = [p for p in state.processes if p.name != SUPERVISOR]
    status = state.supervisor_status()
    if status is not None:
        records += [
            ProcessRecord(name=c.name, pid=c.pid, argv=c.argv, log=c.log, started=c.started)
            for c in status.children
            if c.pid is not None
        ]
    return records


def stop_stack(progress: Progress = _quiet) -> list[str]:
    """Stop what ``up`` started: the supervisor (which stops its children, the bridge first, so its open turns
    are flushed to a live collector), then any child it left behind."""
    state = load_state()
    if state is None:
        return []
    stopped: list[str] = []
    before = state.supervisor_status()
    supervisor = state.supervisor()
    if supervisor is not None and _stop(supervisor, timeout_s=STOP_TIMEOUT_S):
        progress(f"stopped the supervisor (pid {supervisor.pid}) and its processes")
        stopped.append(SUPERVISOR)
        stopped += [c.name for c in (before.children if before else []) if c.running]
    seen: set[int] = set()
    for record in reversed(_children_records(state)):
        if record.pid in seen:
            continue
        seen.add(record.pid)
        if _stop(record):
            progress(f"stopped {record.name} (pid {record.pid}), which the supervisor had left running")
            stopped += [record.name] if record.name not in stopped else []
    (stack_dir() / STATE_FILE).unlink(missing_ok=True)
    return stopped

# SPDX-License-Identifier: Apache-2.0
"""``owui-otel up`` / ``down``: the whole local stack without Docker.

``up`` builds our collector and Jaeger once (cached outside the repo, with progress), renders the
collector config, then starts collector, Jaeger and the bridge server as background processes
(their own session, logs in the state directory), waits until each is healthy and writes
``stack.json``. ``down`` stops exactly the processes listed there, after checking that each pid
still runs the program it started (a recycled pid is never signalled), and nothing else.

    stack = start_stack(StackOptions())        # returns the running stack's description
    stop_stack()                               # -> list of what was stopped
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from collector._process import ManagedProcess, ProcessError, http_ok
from owui_otel._errors import OwuiOtelError
from owui_otel._paths import data_dir, state_dir

HOST = "127.0.0.1"
STATE_FILE = "stack.json"
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
    bridge_port: int = 9099
    langfuse_host: str = ""
    langfuse_public_key: str = ""
    langfuse_secret_key: str = ""
    extra_env: Mapping[str, str] = field(default_factory=dict)

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

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)

    @classmethod
    def from_json(cls, text: str) -> StackState:
        data = json.loads(text)
        data["processes"] = [ProcessRecord(**p) for p in data["processes"]]
        return cls(**data)


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
        raise OwuiOtelError(f"{path} is damaged ({error}); stop the processes by hand and delete the file") from error


def bridge_api_key() -> str:
    """The bridge server's key: generated once, kept in the data dir (0600) so Open WebUI's
    connection keeps working across ``down``/``up``."""
    path = data_dir() / "bridge" / "api_key"
    if path.exists():
        return path.read_text(encoding="utf-8").strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    key = "owui-otel-" + secrets.token_urlsafe(24)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(key + "\n")
    return key


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


def _launch(name: str, argv: list[str], env: Mapping[str, str], logs: Path) -> ManagedProcess:
    # A session of its own: the stack outlives this command and ignores the terminal's Ctrl-C.
    process = ManagedProcess(name, argv, env=env, log_path=logs / f"{name}.log", new_session=True)
    process.start()
    return process


def _record(process: ManagedProcess) -> ProcessRecord:
    assert process.pid is not None
    return ProcessRecord(
        name=process.name, pid=process.pid, argv=process.argv, log=str(process.log_path), started=time.time()
    )


def _stop(record: ProcessRecord, timeout_s: float = 15.0) -> bool:
    """SIGTERM, wait, SIGKILL. False if the pid no longer runs our program (nothing signalled)."""
    if not is_ours(record):
        return False
    os.kill(record.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not is_ours(record) or _is_zombie(record.pid):
            return True
        time.sleep(0.1)
    os.kill(record.pid, signal.SIGKILL)
    return True


def _is_zombie(pid: int) -> bool:
    try:
        os.waitpid(pid, os.WNOHANG)  # reap it if it is our own child (`up --foreground`, tests)
    except ChildProcessError:
        pass
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] == "Z"
    except (OSError, IndexError):
        return True


def _wait_ready(process: ManagedProcess, url: str, timeout_s: float) -> None:
    try:
        process.wait_ready(lambda: http_ok(url), timeout=timeout_s)
    except ProcessError as error:
        raise OwuiOtelError(f"{error}\n(full log: {process.log_path}; checked {url})") from error


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

    exporters = ["jaeger"] + (["langfuse"] if options.langfuse_host else [])
    return render_config(exporters)


def _jaeger_config(options: StackOptions) -> dict[str, Any]:
    from collector import jaeger_config  # noqa: PLC0415

    return jaeger_config(
        otlp_grpc_port=options.jaeger_otlp_grpc_port,
        otlp_http_port=options.jaeger_otlp_http_port,
        query_port=options.jaeger_ui_port,
        query_grpc_port=options.jaeger_grpc_query_port,
        host=HOST,
    )


def _collector_env(options: StackOptions, queue_dir: Path) -> dict[str, str]:
    from collector import langfuse_basic_auth  # noqa: PLC0415

    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTELCOL_", "LANGFUSE_"))}
    env.update(
        {
            "OTELCOL_RECEIVER_HOST": HOST,
            "OTELCOL_GRPC_PORT": str(options.otlp_grpc_port),
            "OTELCOL_HTTP_PORT": str(options.otlp_http_port),
            "OTELCOL_HEALTH_ENDPOINT": f"{HOST}:{options.collector_health_port}",
            "OTELCOL_METRICS_HOST": HOST,
            "OTELCOL_METRICS_PORT": str(options.collector_metrics_port),
            "OTELCOL_QUEUE_DIR": str(queue_dir),
            "JAEGER_OTLP_ENDPOINT": f"{HOST}:{options.jaeger_otlp_grpc_port}",
        }
    )
    if options.langfuse_host:
        env["LANGFUSE_HOST"] = options.langfuse_host.rstrip("/")
        env["LANGFUSE_AUTH_B64"] = langfuse_basic_auth(options.langfuse_public_key, options.langfuse_secret_key)
    env.update(options.extra_env)
    return env


def start_stack(options: StackOptions, progress: Progress = _quiet) -> StackState:
    """Start collector, Jaeger and the bridge server (building binaries if needed)."""
    existing = load_state()
    if existing is not None:
        alive = [p for p in existing.processes if is_ours(p)]
        if len(alive) == len(existing.processes):
            progress("the stack is already running (owui-otel down stops it)")
            return existing
        raise OwuiOtelError(
            f"a previous stack is partly running ({', '.join(p.name for p in alive) or 'nothing'} alive); "
            "run `owui-otel down` first"
        )
    if options.langfuse_host and not (options.langfuse_public_key and options.langfuse_secret_key):
        raise OwuiOtelError(
            "Langfuse host given without keys: set LANGFUSE_PUBLIC_KEY and LANGFUSE_SECRET_KEY (Langfuse > Settings > "
            "API Keys), or drop LANGFUSE_HOST to run with Jaeger only"
        )
    busy = [f"{name}={port}" for name, port in options.ports().items() if not _port_free(port)]
    if busy:
        raise OwuiOtelError(
            f"port(s) already in use: {', '.join(busy)}; stop what uses them or pick others "
            "(owui-otel up --help lists the --*-port options)"
        )

    from collector import build_collector, build_jaeger  # noqa: PLC0415

    progress("collector binary: built once, then reused from the cache ...")
    collector_binary = build_collector(progress=progress)
    progress("Jaeger binary: built once, then reused from the cache ...")
    jaeger_binary = build_jaeger(progress=progress)

    directory = stack_dir()
    logs = directory / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    collector_config = directory / "otel-collector.yaml"
    collector_config.write_text(_collector_config(options), encoding="utf-8")
    jaeger_file = directory / "jaeger.yaml"
    import yaml  # noqa: PLC0415 (the [cli] extra)

    jaeger_file.write_text(yaml.safe_dump(_jaeger_config(options), sort_keys=False), encoding="utf-8")
    api_key = bridge_api_key()
    urls = {
        "jaeger": f"http://{HOST}:{options.jaeger_ui_port}",
        "collector_otlp_http": f"http://{HOST}:{options.otlp_http_port}",
        "collector_otlp_grpc": f"{HOST}:{options.otlp_grpc_port}",
        "collector_health": f"http://{HOST}:{options.collector_health_port}",
        "collector_metrics": f"http://{HOST}:{options.collector_metrics_port}/metrics",
        "bridge": f"http://{HOST}:{options.bridge_port}",
    }
    started: list[ManagedProcess] = []
    try:
        progress("starting Jaeger ...")
        jaeger = _launch("jaeger", [str(jaeger_binary), "--config", str(jaeger_file)], os.environ, logs)
        started.append(jaeger)
        _wait_ready(jaeger, f"{urls['jaeger']}/api/services", 120)
        progress("starting the collector ...")
        collector = _launch(
            "collector",
            [str(collector_binary), f"--config={collector_config}"],
            _collector_env(options, data_dir() / "collector-queue"),
            logs,
        )
        started.append(collector)
        _wait_ready(collector, urls["collector_health"], 60)
        progress("starting the bridge server ...")
        bridge_env = {**os.environ, "OWUI_OTEL_API_KEY": api_key, **options.extra_env}
        bridge = _launch(
            "bridge",
            [
                sys.executable,
                "-m",
                "owui_otel.cli",
                "serve",
                "--host",
                HOST,
                "--port",
                str(options.bridge_port),
                "--otlp-endpoint",
                urls["collector_otlp_http"],
            ],
            bridge_env,
            logs,
        )
        started.append(bridge)
        _wait_ready(bridge, f"{urls['bridge']}/ready", 60)
    except BaseException:
        for process in reversed(started):
            process.stop(timeout=15)
        raise
    for process in started:
        process.detach()  # they outlive this command; `down` stops them by their recorded pid
    state = StackState(
        processes=[_record(process) for process in started],
        urls=urls,
        api_key=api_key,
        langfuse=bool(options.langfuse_host),
    )
    (directory / STATE_FILE).write_text(state.to_json(), encoding="utf-8")
    return state


def stop_stack(progress: Progress = _quiet) -> list[str]:
    """Stop what ``up`` started (bridge first, so its open turns are flushed to a live collector)."""
    state = load_state()
    if state is None:
        return []
    stopped = []
    for record in reversed(state.processes):
        if _stop(record):
            stopped.append(record.name)
            progress(f"stopped {record.name} (pid {record.pid})")
        else:
            progress(f"{record.name} (pid {record.pid}) was not running")
    (stack_dir() / STATE_FILE).unlink(missing_ok=True)
    return stopped

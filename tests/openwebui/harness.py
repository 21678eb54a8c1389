# SPDX-License-Identifier: Apache-2.0
"""Processes and clients for the end-to-end tests: the real Open WebUI (PyPI, its own cached venv), the mock LLM,
the bridge server, and Open WebUI's chat API as a web page or an API client uses it.

Every process is a :class:`~collector._process.ManagedProcess` bound to 127.0.0.1 on a port chosen at run time,
logging to a file; ``stop()`` sends SIGTERM, waits, then SIGKILLs it, so nothing is left behind.

    binary = ensure_openwebui_venv(path, progress=print)        # create/complete the Open WebUI venv (cached)
    mock = start_mock_llm(workdir)                               # tests/openwebui/mock_llm.py on a free port
    owui = start_openwebui(binary, workdir, [Connection(mock.openai_url, "mock")])
    token = signup_admin(owui.url)
    api = OpenWebUIClient(owui.url, token)
    call = api.chat(ChatCall("hi", [{"role": "user", "content": "Hi"}], stream=True, include_usage=True))
    first, second, third = api.converse("Hi", "And then?", "Why?")   # one chat, the three ways an API client calls
    turn = ui_turn(venv_python, owui.url, token, label="ui", content="Hi")    # the web page's socket.io flow
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from collector import cache_dir
from collector._cache import repo_root
from collector._process import ManagedProcess, free_port, http_ok

from .mock_llm import MODEL_ID

HERE = Path(__file__).resolve().parent
HOST = "127.0.0.1"
OPENWEBUI_VERSION = "0.12.4"
OPENWEBUI_VENV_ENV = "OWUI_OTEL_OPENWEBUI_VENV"
# JWT signing key of the throwaway instances (not a credential); >= 32 bytes, or PyJWT warns on every token.
SECRET_KEY = "owui-otel-e2e-jwt-signing-key-0123456789"
ADMIN = {"name": "E2E Admin", "email": "admin@example.com", "password": "e2e-password-1"}
MODEL = MODEL_ID
# Bounds. Open WebUI 0.12.4 takes ~31 s to /health on a fresh DATA_DIR (2 vCPU); a slow CI box gets 10x.
OPENWEBUI_READY_TIMEOUT_S = 300.0
OPENWEBUI_PIP_TIMEOUT_S = 45 * 60.0
SMALL_PIP_TIMEOUT_S = 10 * 60.0
# pytest-timeout for e2e tests while the venv still has to be built (the first test's setup builds it).
COLD_TEST_TIMEOUT_S = OPENWEBUI_PIP_TIMEOUT_S + SMALL_PIP_TIMEOUT_S + 15 * 60.0

Progress = Callable[[str], None]


# --- processes ---------------------------------------------------------------------------------------------------

# Bounded SIGTERM wait before SIGKILL: Open WebUI flushes the Function's spans on the way down.
STOP_TIMEOUT_S = 15.0


def _launch(process: ManagedProcess, probe: Callable[[], bool], *, timeout: float) -> float:
    """Start ``process`` and wait until ``probe`` is true; stop it again when it never gets there.

    Returns:
        The seconds it took to become ready.
    """
    process.start()
    started = time.monotonic()
    try:
        process.wait_ready(probe, timeout=timeout)
    except BaseException:
        process.stop(STOP_TIMEOUT_S)
        raise
    return time.monotonic() - started


def _openwebui_healthy(url: str) -> bool:
    """Open WebUI is up: its /health answers 200 with ``{"status": true}``."""
    try:
        response = httpx.get(f"{url}/health", timeout=2.0)
    except httpx.HTTPError:
        return False
    return response.status_code == 200 and response.json().get("status") is True


def base_env() -> dict[str, str]:
    """Our environment without anything that would steer a child's telemetry or proxies."""
    drop = ("OTEL_", "OWUI_OTEL_", "LANGFUSE_", "http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY")
    env = {key: value for key, value in os.environ.items() if not key.startswith(drop)}
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
    env["PYTHONUNBUFFERED"] = "1"
    return env


# --- the Open WebUI venv -----------------------------------------------------------------------------------------


def default_openwebui_venv() -> Path:
    """``$OWUI_OTEL_OPENWEBUI_VENV``, else ``<cache>/openwebui-<version>-py<major><minor>`` (outside the repo)."""
    explicit = os.environ.get(OPENWEBUI_VENV_ENV, "").strip()
    if explicit:
        return Path(explicit).expanduser().resolve()
    return cache_dir() / f"openwebui-{OPENWEBUI_VERSION}-py{sys.version_info.major}{sys.version_info.minor}"


# Modules the filter (Function) and Open WebUI's own OTel setup (open_webui/utils/telemetry/{setup,instrumentors,
# metrics,logs}.py, imported when ENABLE_OTEL=true) need, and the distribution that provides each. Open WebUI 0.12.4
# ships the SDK and the gRPC exporter (through chromadb) but none of the instrumentations and not the HTTP exporter.
SDK_MODULES = {
    "opentelemetry.sdk": "opentelemetry-sdk",
    "opentelemetry.exporter.otlp.proto.http": "opentelemetry-exporter-otlp-proto-http",
    "opentelemetry.exporter.otlp.proto.grpc": "opentelemetry-exporter-otlp-proto-grpc",
}
CONTRIB_MODULES = {
    "opentelemetry.instrumentation.fastapi": "opentelemetry-instrumentation-fastapi",
    "opentelemetry.instrumentation.sqlalchemy": "opentelemetry-instrumentation-sqlalchemy",
    "opentelemetry.instrumentation.redis": "opentelemetry-instrumentation-redis",
    "opentelemetry.instrumentation.requests": "opentelemetry-instrumentation-requests",
    "opentelemetry.instrumentation.logging": "opentelemetry-instrumentation-logging",
    "opentelemetry.instrumentation.httpx": "opentelemetry-instrumentation-httpx",
    "opentelemetry.instrumentation.aiohttp_client": "opentelemetry-instrumentation-aiohttp-client",
    "opentelemetry.instrumentation.system_metrics": "opentelemetry-instrumentation-system-metrics",
}
# One complete OpenTelemetry release, pinned: contrib releases are not always complete (0.66b2 has the fastapi
# instrumentation but not aiohttp-client), and letting pip find a consistent set by itself backtracked for ~10 min.
# 1.45.1/0.66b1 is the newest release with every package above; pip moves the venv's SDK to it (1.45.2 -> 1.45.1).
OTEL_CORE_VERSION = "1.45.1"
OTEL_CONTRIB_VERSION = "0.66b1"
OTEL_PINS = (
    f"opentelemetry-api=={OTEL_CORE_VERSION}",
    f"opentelemetry-semantic-conventions=={OTEL_CONTRIB_VERSION}",
    *(f"{dist}=={OTEL_CORE_VERSION}" for dist in SDK_MODULES.values()),
    *(f"{dist}=={OTEL_CONTRIB_VERSION}" for dist in CONTRIB_MODULES.values()),
)

# The filter prices turns with genai-prices (a requirement of the Function) and the Event function sends scores with
# langfuse (its requirement), which Open WebUI with OFFLINE_MODE does not install; the versions are the ones
# constraints.txt pins for our own venv.
PRICING_MODULES = {"genai_prices": "genai-prices", "langfuse": "langfuse"}


def _pinned(distribution: str) -> str:
    """``distribution==version`` as constraints.txt pins it."""
    for line in (repo_root() / "constraints.txt").read_text().splitlines():
        if line.split("==")[0].strip().lower() == distribution:
            return line.strip()
    raise RuntimeError(f"constraints.txt pins no {distribution}")


_PROBE = """
import importlib.metadata as md, importlib.util, json, sys
def version(name):
    try:
        return md.version(name)
    except md.PackageNotFoundError:
        return None
def importable(module):
    try:
        return importlib.util.find_spec(module) is not None
    except ImportError:
        return False
modules = json.loads(sys.argv[1])
print(json.dumps({
    "open-webui": version("open-webui"),
    "opentelemetry-sdk": version("opentelemetry-sdk"),
    "opentelemetry-semantic-conventions": version("opentelemetry-semantic-conventions"),
    "missing": [m for m in modules if not importable(m)],
}))
"""


def _probe(python: Path) -> dict[str, Any]:
    modules = [*SDK_MODULES, *CONTRIB_MODULES, *PRICING_MODULES]
    done = subprocess.run(
        [str(python), "-c", _PROBE, json.dumps(modules)], capture_output=True, text=True, timeout=120, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"cannot inspect the Open WebUI venv with {python}: {done.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _pip(python: Path, args: Sequence[str], *, log_path: Path, timeout: float, progress: Progress) -> None:
    """``python -m pip install ...`` with its output in ``log_path``; progress lines for the interesting steps."""
    argv = [str(python), "-m", "pip", "install", "--disable-pip-version-check", "--progress-bar", "off", *args]
    progress(f"$ {' '.join(argv[1:])}   (log: {log_path})")
    started = time.monotonic()
    last_note = started
    with log_path.open("a", encoding="utf-8") as log:
        proc = subprocess.Popen(
            argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=base_env(), bufsize=1
        )
        watchdog = threading.Timer(timeout, proc.kill)  # also when pip hangs without printing
        watchdog.start()
        assert proc.stdout is not None
        try:
            for line in proc.stdout:
                log.write(line)
                now = time.monotonic()
                if line.startswith(("Installing collected", "Successfully installed", "ERROR")) or (
                    now - last_note > 30 and line.startswith(("Collecting", "Downloading", "Using cached"))
                ):
                    last_note = now
                    progress(f"  [{now - started:5.0f}s] {line.strip()[:160]}")
            code = proc.wait(timeout=30)
        finally:
            watchdog.cancel()
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)
            proc.stdout.close()
    if time.monotonic() - started >= timeout:
        raise TimeoutError(f"pip install did not finish within {timeout:.0f}s and was stopped; see {log_path}")
    if code != 0:
        tail = "\n".join(log_path.read_text(encoding="utf-8", errors="replace").splitlines()[-30:])
        raise RuntimeError(f"pip install failed with code {code} (log {log_path}):\n{tail}")
    progress(f"  pip done in {time.monotonic() - started:.0f}s")


def openwebui_venv_ready(path: Path) -> bool:
    """True when :func:`ensure_openwebui_venv` has nothing to do (one quick probe)."""
    python = path / "bin" / "python"
    if not python.exists():
        return False
    try:
        state = _probe(python)
    except (RuntimeError, OSError, ValueError, subprocess.SubprocessError):
        return False
    return state["open-webui"] == OPENWEBUI_VERSION and not state["missing"]


def ensure_openwebui_venv(path: Path, *, progress: Progress) -> Path:
    """Create (once) and complete the Open WebUI venv at ``path``; return its ``bin/open-webui``.

    Idempotent and cheap when complete (one ``python -c`` probe). Steps, each only when needed:
    ``python -m venv``; ``pip install open-webui==<version>`` (~7 GB, ~6 min with a warm pip cache, bounded by
    ``OPENWEBUI_PIP_TIMEOUT_S``); the filter's runtime deps and Open WebUI's own OTel instrumentations, as one
    pinned OpenTelemetry release (``OTEL_PINS``; Open WebUI with ``OFFLINE_MODE`` does not pip-install a Function's
    requirements, and its ``ENABLE_OTEL`` setup imports instrumentations it does not depend on). A file lock keeps
    two test sessions from installing at once. pip's own output goes to ``<path>.pip.log``.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    log_path = path.with_name(path.name + ".pip.log")
    python = path / "bin" / "python"
    with path.with_name(path.name + ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if not python.exists():
                if not ((3, 11) <= sys.version_info[:2] < (3, 13)):
                    raise RuntimeError(
                        f"open-webui {OPENWEBUI_VERSION} needs Python 3.11 or 3.12 (this is {sys.version.split()[0]}); "
                        f"create the venv yourself and set {OPENWEBUI_VENV_ENV}"
                    )
                progress(f"creating the Open WebUI venv at {path} (once; it is cached outside the repository)")
                subprocess.run([sys.executable, "-m", "venv", str(path)], check=True, timeout=300)
            state = _probe(python)
            if state["open-webui"] != OPENWEBUI_VERSION:
                progress(
                    f"installing open-webui=={OPENWEBUI_VERSION} into {path} (found {state['open-webui']}): "
                    "~7 GB, about 6-10 minutes"
                )
                _pip(
                    python,
                    [f"open-webui=={OPENWEBUI_VERSION}"],
                    log_path=log_path,
                    timeout=OPENWEBUI_PIP_TIMEOUT_S,
                    progress=progress,
                )
                state = _probe(python)
                if state["open-webui"] != OPENWEBUI_VERSION:
                    raise RuntimeError(f"open-webui is still {state['open-webui']} after pip install (see {log_path})")
            if state["missing"]:
                progress(f"adding packages to {path} (missing: {', '.join(state['missing'])})")
                otel_missing = [m for m in state["missing"] if m not in PRICING_MODULES]
                pins = [*(OTEL_PINS if otel_missing else ()), *(_pinned(PRICING_MODULES[m]) for m in PRICING_MODULES)]
                _pip(python, pins, log_path=log_path, timeout=SMALL_PIP_TIMEOUT_S, progress=progress)
                after = _probe(python)
                if after["missing"]:
                    raise RuntimeError(
                        f"still not importable in {path} after pip install: {after['missing']} (see {log_path})"
                    )
                progress(
                    f"OTel in the Open WebUI venv: sdk {after['opentelemetry-sdk']}, "
                    f"semantic-conventions {after['opentelemetry-semantic-conventions']}"
                )
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    binary = path / "bin" / "open-webui"
    if not binary.exists():
        raise RuntimeError(f"{binary} is missing although open-webui {OPENWEBUI_VERSION} is installed")
    return binary


# --- the mock LLM and the bridge server --------------------------------------------------------------------------


@dataclass
class MockLLM:
    child: ManagedProcess
    port: int
    chunk_delay: float

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def openai_url(self) -> str:
        """What Open WebUI gets as the connection URL (it appends /models and /chat/completions)."""
        return f"{self.url}/v1"

    def requests(self) -> list[dict[str, Any]]:
        response = httpx.get(f"{self.url}/_requests", timeout=10.0)
        response.raise_for_status()
        result: list[dict[str, Any]] = response.json()
        return result

    def turn_delay(self, reply: str) -> float:
        """Seconds the mock waits in total for one reply: role chunk + one per word + finish chunk."""
        return self.chunk_delay * (len(reply.split(" ")) + 2)

    def stop(self) -> None:
        self.child.stop(STOP_TIMEOUT_S)


def start_mock_llm(workdir: Path, *, chunk_delay: float = 0.05) -> MockLLM:
    port = free_port(HOST)
    child = ManagedProcess(
        "mock-llm",
        [
            sys.executable,
            "-m",
            "tests.openwebui.mock_llm",
            "--host",
            HOST,
            "--port",
            str(port),
            "--chunk-delay",
            str(chunk_delay),
        ],
        env=base_env(),
        log_path=workdir / "mock-llm.log",
        cwd=repo_root(),
        new_session=True,
    )
    mock = MockLLM(child, port, chunk_delay)
    _launch(child, lambda: http_ok(f"{mock.url}/_health", timeout=2.0), timeout=60)
    return mock


def owui_otel_argv() -> list[str]:
    """The installed ``owui-otel`` console script of this interpreter (``python -m owui_otel.cli`` without it)."""
    script = Path(sys.executable).with_name("owui-otel")
    return [str(script)] if script.exists() else [sys.executable, "-m", "owui_otel.cli"]


@dataclass
class Bridge:
    child: ManagedProcess
    port: int
    api_key: str

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def health(self) -> dict[str, Any]:
        result: dict[str, Any] = httpx.get(f"{self.url}/health", timeout=10.0).json()
        return result

    def stop(self) -> None:
        self.child.stop(STOP_TIMEOUT_S)


def start_bridge(workdir: Path, *, otlp_endpoint: str, api_key: str = "e2e-bridge-key") -> Bridge:
    """``owui-otel serve`` exactly as documented, exporting to ``otlp_endpoint`` (OTLP/HTTP base URL)."""
    port = free_port(HOST)
    env = base_env()
    env["OTEL_BSP_SCHEDULE_DELAY"] = "500"  # export within ~0.5 s instead of 5 s: shorter waits, same path
    child = ManagedProcess(
        "bridge",
        [
            *owui_otel_argv(),
            "serve",
            "--host",
            HOST,
            "--port",
            str(port),
            "--api-key",
            api_key,
            "--otlp-endpoint",
            otlp_endpoint,
            "--data-dir",
            str(workdir / "bridge-data"),
        ],
        env=env,
        log_path=workdir / "bridge.log",
        cwd=workdir,
        new_session=True,
    )
    bridge = Bridge(child, port, api_key)
    _launch(child, lambda: http_ok(f"{bridge.url}/ready", timeout=2.0), timeout=60)
    return bridge


# --- Open WebUI --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Connection:
    """One OpenAI-API connection of Open WebUI (the mock LLM, or our bridge server as a Pipelines connection)."""

    url: str
    key: str


@dataclass
class OpenWebUI:
    child: ManagedProcess
    port: int
    startup_s: float = 0.0

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def stop(self) -> None:
        self.child.stop(STOP_TIMEOUT_S)


def openwebui_env(
    venv: Path,
    data_dir: Path,
    connections: Sequence[Connection],
    *,
    otel_grpc_endpoint: str | None = None,
) -> dict[str, str]:
    """Offline, loopback-only settings (open-webui ``backend/open_webui/env.py`` and ``config.py``); Open WebUI's
    own OTel on when ``otel_grpc_endpoint`` (``http://host:port`` of an OTLP/gRPC receiver) is given."""
    env = base_env()
    env.pop("VIRTUAL_ENV", None)
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    embedding_url = connections[0].url
    env.update(
        {
            "DATA_DIR": str(data_dir),
            "WEBUI_AUTH": "True",
            "WEBUI_SECRET_KEY": SECRET_KEY,
            "ENABLE_OPENAI_API": "true",
            "OPENAI_API_BASE_URLS": ";".join(c.url for c in connections),
            "OPENAI_API_KEYS": ";".join(c.key for c in connections),
            "ENABLE_OLLAMA_API": "false",
            "OFFLINE_MODE": "true",
            "HF_HUB_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1",
            "RAG_EMBEDDING_ENGINE": "openai",
            "RAG_OPENAI_API_BASE_URL": embedding_url,
            "RAG_OPENAI_API_KEY": "mock",
            "RAG_EMBEDDING_MODEL_AUTO_UPDATE": "false",
            "RAG_RERANKING_MODEL_AUTO_UPDATE": "false",
            "ENABLE_VERSION_UPDATE_CHECK": "false",
            "ANONYMIZED_TELEMETRY": "false",
            "DO_NOT_TRACK": "true",
            "SCARF_NO_ANALYTICS": "true",
            "ENABLE_WEB_SEARCH": "false",
            "ENABLE_IMAGE_GENERATION": "false",
            "ENABLE_CODE_INTERPRETER": "false",
            "ENABLE_API_OUTLET_FILTERS": "true",
            "ENABLE_PERSISTENT_CONFIG": "false",
            "GLOBAL_LOG_LEVEL": "INFO",
            # The in-process Function exports with the SDK's BatchSpanProcessor: 0.5 s instead of 5 s.
            "OTEL_BSP_SCHEDULE_DELAY": "500",
        }
    )
    if otel_grpc_endpoint is not None:
        env.update(
            {
                "ENABLE_OTEL": "true",
                "ENABLE_OTEL_TRACES": "true",
                "ENABLE_OTEL_METRICS": "false",
                "ENABLE_OTEL_LOGS": "false",
                "OTEL_EXPORTER_OTLP_ENDPOINT": otel_grpc_endpoint,
                "OTEL_EXPORTER_OTLP_INSECURE": "true",
                "OTEL_SERVICE_NAME": "open-webui",
            }
        )
    return env


def start_openwebui(
    binary: Path,
    workdir: Path,
    connections: Sequence[Connection],
    *,
    otel_grpc_endpoint: str | None = None,
    progress: Progress | None = None,
) -> OpenWebUI:
    """``open-webui serve`` on a free loopback port, fresh DATA_DIR, scratch cwd; waits for ``/health``."""
    port = free_port(HOST)
    data_dir = workdir / "data"
    scratch = workdir / "cwd"
    data_dir.mkdir(parents=True, exist_ok=True)
    scratch.mkdir(parents=True, exist_ok=True)
    venv = binary.parent.parent
    child = ManagedProcess(
        "open-webui",
        [str(binary), "serve", "--host", HOST, "--port", str(port)],
        env=openwebui_env(venv, data_dir, connections, otel_grpc_endpoint=otel_grpc_endpoint),
        log_path=workdir / "open-webui.log",
        cwd=scratch,
        new_session=True,
    )
    owui = OpenWebUI(child, port)
    if progress is not None:
        progress(f"starting Open WebUI {OPENWEBUI_VERSION} on {owui.url} (log {child.log_path})")
    owui.startup_s = _launch(
        child,
        lambda: _openwebui_healthy(owui.url),
        timeout=OPENWEBUI_READY_TIMEOUT_S,
    )
    if progress is not None:
        progress(f"Open WebUI ready in {owui.startup_s:.1f}s")
    return owui


def signup_admin(url: str) -> str:
    """The first signup becomes admin; returns its JWT."""
    response = httpx.post(f"{url}/api/v1/auths/signup", json=ADMIN, timeout=60.0)
    response.raise_for_status()
    body = response.json()
    assert body["role"] == "admin", body
    token: str = body["token"]
    return token


# --- chatting through Open WebUI's API ---------------------------------------------------------------------------


@dataclass
class ChatCall:
    """One call to Open WebUI's ``POST /api/chat/completions`` as an API client makes it."""

    label: str
    messages: list[dict[str, Any]]
    stream: bool
    include_usage: bool
    reply: str = ""
    chunks: list[dict[str, Any]] = field(default_factory=list)
    response: dict[str, Any] = field(default_factory=dict)

    @property
    def user_text(self) -> str:
        return str(self.messages[-1]["content"])

    @property
    def conversation(self) -> list[dict[str, Any]]:
        """The messages sent, then the reply: the history the next call of the same chat sends."""
        return [*self.messages, {"role": "assistant", "content": self.reply}]

    @property
    def usage_in_response(self) -> dict[str, Any] | None:
        if not self.stream:
            usage = self.response.get("usage")
            return usage if isinstance(usage, dict) else None
        for chunk in self.chunks:
            if isinstance(chunk.get("usage"), dict):
                return dict(chunk["usage"])
        return None


# (label, stream, include_usage) of each call of :meth:`OpenWebUIClient.converse`
API_CALL_WAYS = (
    ("api non-streaming", False, False),
    ("api streaming, include_usage", True, True),
    ("api streaming, no include_usage", True, False),
)


class OpenWebUIClient:
    """Open WebUI's REST API with an admin token."""

    def __init__(self, url: str, token: str) -> None:
        self.http = httpx.Client(
            base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=httpx.Timeout(120.0, connect=10.0)
        )

    def close(self) -> None:
        self.http.close()

    def get(self, path: str) -> Any:
        response = self.http.get(path)
        response.raise_for_status()
        return response.json()

    def post(self, path: str, body: Any) -> Any:
        response = self.http.post(path, json=body)
        assert response.status_code == 200, f"POST {path}: {response.status_code} {response.text[:1000]}"
        return response.json()

    def models(self) -> list[dict[str, Any]]:
        """``GET /api/models``: also rebuilds Open WebUI's model list, and with it the Pipelines filter list."""
        data: list[dict[str, Any]] = self.get("/api/models")["data"]
        return data

    def chat(self, call: ChatCall) -> ChatCall:
        body: dict[str, Any] = {"model": MODEL, "messages": call.messages, "stream": call.stream}
        if call.include_usage:
            body["stream_options"] = {"include_usage": True}
        if call.stream:
            with self.http.stream("POST", "/api/chat/completions", json=body) as response:
                if response.status_code != 200:
                    response.read()
                    raise AssertionError(f"{call.label}: HTTP {response.status_code} {response.text[:1000]}")
                for line in response.iter_lines():
                    if not line.startswith("data:"):
                        continue
                    data = line[5:].strip()
                    if data == "[DONE]":
                        break
                    chunk = json.loads(data)
                    call.chunks.append(chunk)
                    for choice in chunk.get("choices") or []:
                        call.reply += (choice.get("delta") or {}).get("content") or ""
        else:
            call.response = self.post("/api/chat/completions", body)
            call.reply = call.response["choices"][0]["message"]["content"]
        return call

    def converse(self, *questions: str) -> list[ChatCall]:
        """One growing conversation, a call per question (each sends the history before it), in the three ways an
        API client calls: non-streaming; streaming with ``include_usage``; streaming without."""
        calls: list[ChatCall] = []
        history: list[dict[str, Any]] = []
        for question, (label, stream, include_usage) in zip(questions, API_CALL_WAYS, strict=True):
            call = ChatCall(label, [*history, {"role": "user", "content": question}], stream, include_usage)
            calls.append(self.chat(call))
            history = call.conversation
        return calls

    def title(self, messages: list[dict[str, Any]], chat_id: str = "") -> dict[str, Any]:
        """The explicit title task endpoint, as the web UI calls it on demand."""
        result: dict[str, Any] = self.post(
            "/api/v1/tasks/title/completions", {"model": MODEL, "messages": messages, "chat_id": chat_id}
        )
        return result

    def function(self, function_id: str) -> dict[str, Any] | None:
        listing: list[dict[str, Any]] = self.get("/api/v1/functions/")
        return next((item for item in listing if item.get("id") == function_id), None)

    def enable_usage_capability(self) -> None:
        """Give the mock model the Usage capability (Workspace > Models), so Open WebUI asks for stream usage."""
        self.post(
            "/api/v1/models/create",
            {
                "id": MODEL,
                "base_model_id": None,
                "name": MODEL,
                "meta": {"capabilities": {"usage": True}},
                "params": {},
            },
        )
        self.models()


# --- the web-UI flow (socket.io), driven with the Open WebUI venv's python-socketio ------------------------------


@dataclass
class UITurn:
    """One web-UI turn: what the driver sent and what the socket told it."""

    label: str
    content: str
    chat_id: str
    message_id: str
    user_message_id: str
    reply: str
    event_types: list[str]
    error: str | None
    started: float
    finished: float
    usage: dict[str, Any] | None


def ui_turn(
    python: Path,
    url: str,
    token: str,
    *,
    label: str,
    content: str,
    chat_id: str | None = None,
    parent_id: str | None = None,
    timeout: float = 90.0,
) -> UITurn:
    """Run ``ui_driver.py`` with the Open WebUI venv's python: one turn exactly as the 0.12 web UI sends it."""
    argv = [str(python), str(HERE / "ui_driver.py"), "--url", url, "--model", MODEL, "--content", content]
    argv += ["--timeout", str(timeout)]
    if chat_id:
        argv += ["--chat-id", chat_id, "--parent-id", parent_id or ""]
    env = base_env()
    env["OWUI_E2E_TOKEN"] = token  # not on the command line
    done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout + 30, env=env, check=False)
    if done.returncode != 0:
        output = done.stdout[-3000:] + done.stderr[-3000:]
        raise AssertionError(f"{label}: ui_driver failed ({done.returncode}):\n{output}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    return UITurn(label=label, **result)


@contextlib.contextmanager
def stopping(*things: Any) -> Iterator[None]:
    """Stop each thing (in the order given) on the way out, whatever happened."""
    try:
        yield
    finally:
        for thing in things:
            if thing is not None:
                with contextlib.suppress(Exception):
                    thing.stop()

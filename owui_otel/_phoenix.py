# SPDX-License-Identifier: Apache-2.0
"""Arize Phoenix, the local stack's trace UI: installed once into its own venv, started by ``owui-otel up``.

Phoenix comes from PyPI (``arize-phoenix``; no registry ships Jaeger's UI assets, see the README). It has many
dependencies of its own, so it gets a venv of its own in the cache (``~/.cache/owui-otel/phoenix-<version>-py311-
<pins>``), installed with the exact versions of ``phoenix-constraints.txt`` (a fresh install measured ~80 s with an
empty pip cache, ~860 MB). Its data (SQLite) lives in the data dir, so traces survive ``down``/``up``.

    python = ensure_phoenix(progress=print)          # the venv's python (Phoenix installed on first use)
    env = phoenix_env(data_dir() / "phoenix", host="127.0.0.1", port=6006, base=os.environ)
    phoenix_argv(python)                            # `phoenix serve` without its gRPC receiver; ready at /healthz
    phoenix_trace_url("http://127.0.0.1:6006", trace_id)   # opens the trace in Phoenix's UI
    phoenix_has_trace("http://127.0.0.1:6006", trace_id)   # True once that link leads to the trace

Example:

    >>> phoenix_trace_url("http://127.0.0.1:6006", "0af7651916cd43dd8448eb211c80319c")
    'http://127.0.0.1:6006/redirects/traces/0af7651916cd43dd8448eb211c80319c'
"""

from __future__ import annotations

import fcntl
import hashlib
import shutil
import subprocess
import sys
from collections.abc import Callable, Mapping
from importlib import resources
from pathlib import Path

from collector import cache_dir
from owui_otel._command import command
from owui_otel._errors import OwuiOtelError

__all__ = [
    "PHOENIX_READY_PATH",
    "ensure_phoenix",
    "phoenix_has_trace",
    "phoenix_argv",
    "phoenix_constraints",
    "phoenix_env",
    "phoenix_trace_url",
    "phoenix_venv_dir",
    "phoenix_version",
]

Progress = Callable[[str], None]

CONSTRAINTS_FILE = "phoenix-constraints.txt"
PHOENIX_DISTRIBUTION = "arize-phoenix"
PHOENIX_READY_PATH = "/healthz"
"""Phoenix answers 200 here once it serves the UI and OTLP."""
PIP_TIMEOUT_S = 1200
_INSTALLED_STAMP = ".owui-otel-installed"


def phoenix_constraints() -> str:
    """The text of ``phoenix-constraints.txt`` (shipped in the package)."""
    return resources.files("owui_otel").joinpath(CONSTRAINTS_FILE).read_text(encoding="utf-8")


def phoenix_version(constraints: str | None = None) -> str:
    """The ``arize-phoenix`` version the constraints pin."""
    for line in (constraints if constraints is not None else phoenix_constraints()).splitlines():
        name, _, version = line.strip().partition("==")
        if name == PHOENIX_DISTRIBUTION:
            return version
    raise OwuiOtelError(f"{CONSTRAINTS_FILE} pins no {PHOENIX_DISTRIBUTION}: the package is damaged; reinstall it")


def phoenix_venv_dir() -> Path:
    """Where the Phoenix venv lives: one per Phoenix version, Python version and set of pins."""
    constraints = phoenix_constraints()
    pins = hashlib.sha256(constraints.encode()).hexdigest()[:8]
    python = f"py{sys.version_info.major}{sys.version_info.minor}"
    return cache_dir() / f"phoenix-{phoenix_version(constraints)}-{python}-{pins}"


def ensure_phoenix(progress: Progress) -> Path:
    """Install Phoenix into its venv unless it is there already; return the venv's ``bin/python``.

    A file lock keeps two ``up`` (or test sessions) from installing at once; a half-done install (no stamp file)
    is removed and redone. pip's output goes to ``<venv>.pip.log``.

    Raises:
        OwuiOtelError: pip failed or timed out (the message names the log).
    """
    venv = phoenix_venv_dir()
    binary = venv / "bin" / "phoenix"
    python = venv / "bin" / "python"
    venv.parent.mkdir(parents=True, exist_ok=True)
    with venv.with_name(venv.name + ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (venv / _INSTALLED_STAMP).exists() and binary.exists():
            return python
        shutil.rmtree(venv, ignore_errors=True)
        constraints = phoenix_constraints()
        version = phoenix_version(constraints)
        progress(f"installing Phoenix {version} (the trace UI) into {venv}: once, about 1-3 minutes, ~900 MB")
        log = venv.with_name(venv.name + ".pip.log")
        pins = venv.with_name(venv.name + ".constraints.txt")
        pins.write_text(constraints, encoding="utf-8")
        steps = [
            [sys.executable, "-m", "venv", str(venv)],
            [str(python), "-m", "pip", "install", "--disable-pip-version-check", "-c", str(pins)]
            + [f"{PHOENIX_DISTRIBUTION}=={version}"],
        ]
        with log.open("w", encoding="utf-8") as output:
            for step in steps:
                try:
                    subprocess.run(step, stdout=output, stderr=subprocess.STDOUT, check=True, timeout=PIP_TIMEOUT_S)
                except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as error:
                    raise OwuiOtelError(
                        f"{venv}: installing Phoenix failed ({error}); see {log}. Fix: check that PyPI is "
                        f"reachable, then run {command('up')} again. Until then: nothing is started"
                    ) from error
        if not binary.exists():
            raise OwuiOtelError(
                f"{binary}: missing after installing {PHOENIX_DISTRIBUTION}=={version}. Fix: read {log}, delete "
                f"{venv} and run {command('up')} again. Until then: nothing is started"
            )
        (venv / _INSTALLED_STAMP).touch()
    return python


# `phoenix serve` always starts an OTLP/gRPC receiver bound to every interface ([::]:PHOENIX_GRPC_PORT, no
# setting changes the address: phoenix/server/grpc_server.py), unauthenticated. The stack sends over HTTP on
# loopback only, so the receiver is switched off before Phoenix starts: nothing of the stack listens beyond
# 127.0.0.1 (tests/collector/test_collector_hardening.py checks every port). GrpcServer.__aexit__ copes with a
# server that never started.
_SERVE_WITHOUT_GRPC = """
import sys
import phoenix.server.grpc_server as grpc_server
from phoenix.server.main import main

async def _no_grpc_receiver(self):
    return None

grpc_server.GrpcServer.__aenter__ = _no_grpc_receiver
sys.argv[0] = "phoenix"
sys.exit(main())
"""


def phoenix_argv(python: Path) -> list[str]:
    """The command that runs ``phoenix serve`` (UI and OTLP/HTTP on ``PHOENIX_HOST``) without its gRPC receiver."""
    return [str(python), "-c", _SERVE_WITHOUT_GRPC, "serve"]


def phoenix_env(working_dir: Path, *, host: str, port: int, base: Mapping[str, str]) -> dict[str, str]:
    """The Phoenix process's environment: ``base`` plus where it keeps its data and listens, nothing phoned home."""
    return {
        **base,
        "PHOENIX_WORKING_DIR": str(working_dir),  # its SQLite database: kept across down/up
        "PHOENIX_HOST": host,
        "PHOENIX_PORT": str(port),  # UI, GraphQL and OTLP/HTTP
        "PHOENIX_TELEMETRY_ENABLED": "false",
        "PHOENIX_ALLOW_EXTERNAL_RESOURCES": "false",
    }


def phoenix_trace_url(base_url: str, trace_id: str) -> str:
    """The page of one trace: Phoenix's ``/redirects/traces/<otel trace id>`` forwards to it in its project."""
    return f"{base_url.rstrip('/')}/redirects/traces/{trace_id}"


_TRACE_QUERY = "query($id: String!) { getTraceByOtelId(traceId: $id) { project { name } } }"
"""What the UI's trace redirect asks Phoenix's GraphQL API (its ``traceRedirectLoaderQuery``)."""


def phoenix_has_trace(base_url: str, trace_id: str, timeout_s: float = 5.0) -> bool:
    """Whether Phoenix stores the trace, i.e. :func:`phoenix_trace_url` opens it (False while Phoenix is not up).

    Raises:
        OwuiOtelError: Phoenix refused the query (another Phoenix version than ``phoenix-constraints.txt`` pins).
    """
    import httpx  # noqa: PLC0415 (the [cli] extra; `up` itself does not need it)

    try:
        response = httpx.post(
            f"{base_url.rstrip('/')}/graphql",
            json={"query": _TRACE_QUERY, "variables": {"id": trace_id}},
            timeout=timeout_s,
        )
        response.raise_for_status()
        answer = response.json()
    except (httpx.HTTPError, ValueError):
        return False
    if answer.get("errors"):
        raise OwuiOtelError(
            f"Phoenix at {base_url}: refused the trace lookup ({answer['errors'][0].get('message')}). Fix: run the "
            f"Phoenix that {command('up')} installs ({PHOENIX_DISTRIBUTION}=={phoenix_version()})"
        )
    return bool((answer.get("data") or {}).get("getTraceByOtelId"))


if __name__ == "__main__":  # `make build`: install it ahead of the first `up` (and of the tests that start it)
    print(ensure_phoenix(progress=print))

# SPDX-License-Identifier: Apache-2.0
"""The bridge server (``owui_otel``) as a real child process, with its log in the test's directory.

    with bridge_server(tmp_path / "bridge", api_key=key, otlp_endpoint=stack.otlp_http_endpoint) as bridge:
        httpx.post(f"{bridge.url}/otel_bridge/filter/inlet", headers=bridge.auth, json={"body": ..., "user": ...})

Started through ``owui_otel._serve.serve`` (what ``owui-otel serve`` runs) with the key in the environment
(``OWUI_OTEL_API_KEY``), never on the command line: the command line is visible to every local user and is
echoed into the log by the process helper.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from collector._cache import repo_root
from collector._process import ManagedProcess, free_port, http_ok

FILTER_ID = "otel_bridge"
_LAUNCH = (
    "import os, sys\n"
    "from pathlib import Path\n"
    "from owui_otel._serve import serve\n"
    "sys.exit(serve(host='127.0.0.1', port=int(sys.argv[1]), api_key=os.environ['OWUI_OTEL_API_KEY'],\n"
    "    data_dir=Path(sys.argv[2]), filter_id=sys.argv[3], otlp_endpoint=sys.argv[4], server_spans=True,\n"
    "    log_level='debug'))\n"
)


@dataclass(frozen=True)
class Bridge:
    url: str
    api_key: str
    log_path: Path
    data_dir: Path

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"}


@contextmanager
def running_bridge(name: str, argv: list[str], *, port: int, env: Mapping[str, str], log_path: Path) -> Iterator[str]:
    """Start a bridge server child process (``argv`` serves on ``port``, in the checkout), wait until it answers
    ``/ready``, yield its URL; SIGTERM on the way out (uvicorn's lifespan shutdown flushes the filter)."""
    process = ManagedProcess(name, argv, env=env, log_path=log_path, cwd=repo_root())
    process.start()
    try:
        url = f"http://127.0.0.1:{port}"
        process.wait_ready(lambda: http_ok(f"{url}/ready"), timeout=60)
        yield url
    finally:
        process.stop()


@contextmanager
def bridge_server(
    workdir: Path, *, api_key: str, otlp_endpoint: str, env: Mapping[str, str] | None = None
) -> Iterator[Bridge]:
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    data_dir = workdir / "data"
    child_env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "OWUI_OTEL_"))}
    child_env.update({"OWUI_OTEL_API_KEY": api_key, "OTEL_BSP_SCHEDULE_DELAY": "500", **(env or {})})
    argv = [sys.executable, "-c", _LAUNCH, str(port), str(data_dir), FILTER_ID, otlp_endpoint]
    with running_bridge("owui-otel-bridge", argv, port=port, env=child_env, log_path=workdir / "bridge.log") as url:
        yield Bridge(url=url, api_key=api_key, log_path=workdir / "bridge.log", data_dir=data_dir)

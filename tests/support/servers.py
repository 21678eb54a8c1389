# SPDX-License-Identifier: Apache-2.0
"""Run an ASGI app on a free loopback port in a thread, for tests that need a real HTTP server.

with ThreadServer(app) as server:
    httpx.get(f"{server.url}/health")
"""

from __future__ import annotations

import threading

import uvicorn
from fastapi import FastAPI

from collector._process import free_port, wait_until


class ThreadServer:
    """A uvicorn server on a free loopback port, in a thread of this process."""

    def __init__(self, app: FastAPI) -> None:
        self.port = free_port()
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> ThreadServer:
        self.thread.start()
        wait_until(lambda: self.server.started, timeout=20, interval=0.05, what="test server start")
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=20)

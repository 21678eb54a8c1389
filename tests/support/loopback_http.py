# SPDX-License-Identifier: Apache-2.0
"""Serve an ``http.server`` handler on a free loopback port, in a daemon thread, for the length of a ``with``.

The plain-HTTP test doubles derive from it (:class:`tests.support.otlp_sink.OtlpSink`,
:class:`tests.support.http_capture.RecordingProxy`); standard library only, so ``tests/filter`` may use it.

    with LoopbackHTTPServer(Handler, name="my-double") as server:
        httpx.post(f"{server.url}/v1/traces", content=b"...")
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Self


class LoopbackHTTPServer:
    """``handler`` served on ``127.0.0.1`` while in a ``with`` block (a thread per request)."""

    def __init__(self, handler: type[BaseHTTPRequestHandler], *, name: str) -> None:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._thread = threading.Thread(target=self._server.serve_forever, name=name, daemon=True)

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>``: the port is bound from construction on."""
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

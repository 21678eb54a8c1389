# SPDX-License-Identifier: Apache-2.0
"""A recording HTTP proxy: keeps the raw bytes of every request it forwards, to check payloads on the wire.

with RecordingProxy(target="http://127.0.0.1:4318") as proxy:
    send_to(proxy.url)      # requests reach the target unchanged; responses come back unchanged
    proxy.bodies()          # decoded request bodies (gunzipped when Content-Encoding: gzip)
"""

from __future__ import annotations

import gzip
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler

import httpx

from tests.support.loopback_http import LoopbackHTTPServer

_HOP_BY_HOP = {"host", "content-length", "connection", "keep-alive", "transfer-encoding", "te", "upgrade"}


@dataclass(frozen=True)
class Captured:
    method: str
    path: str
    content_encoding: str
    raw: bytes  # exactly the bytes on the wire
    body: bytes  # decoded (gunzipped) when the encoding is gzip, else ``raw``


class RecordingProxy(LoopbackHTTPServer):
    def __init__(self, target: str) -> None:
        self.target = target.rstrip("/")
        self.captured: list[Captured] = []
        self._lock = threading.Lock()
        self._client = httpx.Client(timeout=30.0)
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _forward(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length", "0") or 0))
                encoding = self.headers.get("Content-Encoding", "").strip().lower()
                try:
                    body = gzip.decompress(raw) if encoding == "gzip" else raw
                except (OSError, EOFError):
                    body = raw
                with proxy._lock:
                    proxy.captured.append(Captured(self.command, self.path, encoding, raw, body))
                headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
                try:
                    upstream = proxy._client.request(
                        self.command, proxy.target + self.path, headers=headers, content=raw
                    )
                except httpx.HTTPError:
                    self.send_response(502)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(upstream.status_code)
                for key, value in upstream.headers.items():
                    if key.lower() not in _HOP_BY_HOP and key.lower() != "content-encoding":
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(upstream.content)))
                self.end_headers()
                self.wfile.write(upstream.content)

            do_POST = _forward  # noqa: N815 (http.server API)
            do_GET = _forward  # noqa: N815

            def log_message(self, *args: object) -> None:
                pass

        super().__init__(Handler, name="recording-proxy")

    def bodies(self) -> list[bytes]:
        with self._lock:
            return [item.body for item in self.captured]

    def __exit__(self, *exc: object) -> None:
        super().__exit__(*exc)
        self._client.close()

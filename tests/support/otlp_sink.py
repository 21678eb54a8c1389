# SPDX-License-Identifier: Apache-2.0
"""Tiny OTLP/HTTP receivers for tests: a recording sink, a blackhole and a dead port.

with OtlpSink() as sink:
    ...export to sink.endpoint (http://127.0.0.1:<port>)...
    spans = sink.wait_for(3)          # decoded spans: name, attributes, trace id

with Blackhole() as hole: ...         # accepts TCP connections, never answers
dead_endpoint()                       # a port nothing listens on
"""

from __future__ import annotations

import gzip
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from tests.support.loopback_http import LoopbackHTTPServer
from tests.support.otlp_decode import decode_attributes


@dataclass
class ReceivedSpan:
    name: str
    trace_id: str
    span_id: str
    parent_span_id: str
    attributes: dict[str, Any]
    resource: dict[str, Any]
    scope: str
    start_ns: int
    end_ns: int
    status_code: int
    links: list[tuple[str, str]] = field(default_factory=list)


class OtlpSink(LoopbackHTTPServer):
    """Records every span POSTed to ``/v1/traces``; can be told to answer with an error status."""

    def __init__(self) -> None:
        self.spans: list[ReceivedSpan] = []
        self.requests: list[dict[str, str]] = []
        self.fail_with: int | None = None
        self._lock = threading.Lock()
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server API)
                data = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                if self.headers.get("Content-Encoding") == "gzip":
                    data = gzip.decompress(data)
                with sink._lock:
                    sink.requests.append({k.lower(): v for k, v in self.headers.items()})
                if sink.fail_with is not None:
                    self.send_response(sink.fail_with)
                    self.end_headers()
                    return
                request = ExportTraceServiceRequest()
                request.ParseFromString(data)
                received = []
                for resource_spans in request.resource_spans:
                    resource = decode_attributes(resource_spans.resource.attributes)
                    for scope_spans in resource_spans.scope_spans:
                        for span in scope_spans.spans:
                            received.append(
                                ReceivedSpan(
                                    name=span.name,
                                    trace_id=span.trace_id.hex(),
                                    span_id=span.span_id.hex(),
                                    parent_span_id=span.parent_span_id.hex(),
                                    attributes=decode_attributes(span.attributes),
                                    resource=resource,
                                    scope=scope_spans.scope.name,
                                    start_ns=span.start_time_unix_nano,
                                    end_ns=span.end_time_unix_nano,
                                    status_code=span.status.code,
                                    links=[(link.trace_id.hex(), link.span_id.hex()) for link in span.links],
                                )
                            )
                with sink._lock:
                    sink.spans.extend(received)
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        super().__init__(Handler, name="otlp-sink")

    @property
    def endpoint(self) -> str:
        """What the exporter is given: the sink's base URL (``/v1/traces`` is appended by the filter)."""
        return self.url

    def wait_for(self, count: int, timeout_s: float = 10.0) -> list[ReceivedSpan]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with self._lock:
                if len(self.spans) >= count:
                    return list(self.spans)
            time.sleep(0.02)
        with self._lock:
            raise AssertionError(f"expected {count} spans, got {len(self.spans)}")


class Blackhole:
    """A TCP port whose connections are accepted by the kernel and then never answered."""

    def __init__(self) -> None:
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.bind(("127.0.0.1", 0))
        self._socket.listen(1024)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self._socket.getsockname()[1]}"

    def __enter__(self) -> Blackhole:
        return self

    def __exit__(self, *exc: object) -> None:
        self._socket.close()


def dead_endpoint() -> str:
    """An endpoint on a port that was free a moment ago: connections are refused."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"

# SPDX-License-Identifier: Apache-2.0
"""A recording OTLP/gRPC proxy: keeps the exact bytes of every trace export it forwards (the collector -> Jaeger hop).

with GrpcRecordingProxy(target="127.0.0.1:14317") as proxy:
    collector_env["JAEGER_OTLP_ENDPOINT"] = proxy.address      # the collector exports here
    proxy.bodies()      # serialized ExportTraceServiceRequest messages, as the collector sent them
    proxy.span_count()  # spans in them

The handler takes and returns raw bytes (no (de)serializer), so what is recorded is the protobuf message on the
wire after gRPC's own framing and compression, and what the target receives is the same bytes.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from types import TracebackType
from typing import Any

import grpc  # type: ignore[import-untyped]  # no stubs unless types-grpcio is installed
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

_SERVICE = "opentelemetry.proto.collector.trace.v1.TraceService"
_EXPORT = f"/{_SERVICE}/Export"


class GrpcRecordingProxy:
    def __init__(self, target: str) -> None:
        self._lock = threading.Lock()
        self._bodies: list[bytes] = []
        self._channel = grpc.insecure_channel(target)
        self._forward = self._channel.unary_unary(_EXPORT)  # bytes in, bytes out
        handler = grpc.method_handlers_generic_handler(
            _SERVICE, {"Export": grpc.unary_unary_rpc_method_handler(self._export)}
        )
        self._server = grpc.server(ThreadPoolExecutor(max_workers=4))
        self._server.add_generic_rpc_handlers((handler,))
        self._port = self._server.add_insecure_port("127.0.0.1:0")

    def _export(self, request: bytes, context: Any) -> bytes:
        with self._lock:
            self._bodies.append(request)
        try:
            response: bytes = self._forward(request, timeout=10)
        except grpc.RpcError as error:
            context.abort(error.code(), error.details() or "upstream failed")
        return response

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self._port}"

    def bodies(self) -> list[bytes]:
        with self._lock:
            return list(self._bodies)

    def span_count(self) -> int:
        count = 0
        for body in self.bodies():
            request = ExportTraceServiceRequest.FromString(body)
            count += sum(len(scope.spans) for rs in request.resource_spans for scope in rs.scope_spans)
        return count

    def __enter__(self) -> GrpcRecordingProxy:
        self._server.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._server.stop(grace=2).wait()
        self._channel.close()

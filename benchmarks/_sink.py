# SPDX-License-Identifier: Apache-2.0
"""A minimal OTLP/HTTP trace sink for benchmarks: answers every POST at once and counts distinct span ids.

A separate process (its CPU is not charged to the process under test) on a loopback port. It speaks just enough
HTTP/1.1 (keep-alive, Content-Length or chunked bodies, gzip) for the Python OTLP exporter, the Langfuse SDK's
exporter and the collector's ``otlp_http`` exporter. Any POST path is accepted as a trace export
(``/v1/traces``, ``/api/public/otel/v1/traces``); auth is not checked.

    python -m benchmarks._sink --port 4318          # prints "ready <port>" when listening
    GET    /_count   -> {"requests": n, "spans": n, "distinct": n, "bytes": n, "errors": n}
    DELETE /_count   -> resets the counters

The Langfuse-contract endpoint (``tests.support.langfuse_contract``) would also do, but it keeps every decoded span
as Python dicts and its FastAPI stack costs more per request: the seed's flush-per-outlet waits for the sink,
so a slow sink would make the seed look slower than it is.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import zlib

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

_OK_PROTO = b"HTTP/1.1 200 OK\r\nContent-Type: application/x-protobuf\r\nContent-Length: 0\r\n\r\n"


class _Counts:
    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.requests = 0
        self.spans = 0
        self.bytes = 0
        self.errors = 0
        self.ids: set[bytes] = set()

    def as_json(self) -> bytes:
        return json.dumps(
            {
                "requests": self.requests,
                "spans": self.spans,
                "distinct": len(self.ids),
                "bytes": self.bytes,
                "errors": self.errors,
            }
        ).encode()

    def record(self, body: bytes, encoding: str) -> None:
        self.requests += 1
        self.bytes += len(body)
        try:
            if encoding == "gzip":
                body = gzip.decompress(body)
            elif encoding == "deflate":
                body = zlib.decompress(body)
            request = ExportTraceServiceRequest.FromString(body)
        except Exception:
            self.errors += 1
            return
        ids = self.ids
        for resource_spans in request.resource_spans:
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    self.spans += 1
                    ids.add(span.trace_id + span.span_id)


async def _read_body(reader: asyncio.StreamReader, headers: dict[str, str]) -> bytes:
    if headers.get("transfer-encoding", "").lower() == "chunked":
        parts: list[bytes] = []
        while True:
            size = int((await reader.readline()).split(b";", 1)[0].strip() or b"0", 16)
            if size == 0:
                while (await reader.readline()) not in (b"\r\n", b"\n", b""):
                    pass
                return b"".join(parts)
            parts.append(await reader.readexactly(size))
            await reader.readline()
    length = int(headers.get("content-length", "0") or 0)
    return await reader.readexactly(length) if length else b""


def _json_response(payload: bytes) -> bytes:
    head = f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {len(payload)}\r\n\r\n"
    return head.encode() + payload


async def _serve_connection(counts: _Counts, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            line = await reader.readline()
            if not line:
                return
            parts = line.decode("latin-1").split()
            if len(parts) < 2:
                return
            method, path = parts[0], parts[1]
            headers: dict[str, str] = {}
            while True:
                header = await reader.readline()
                if header in (b"\r\n", b"\n", b""):
                    break
                key, _, value = header.decode("latin-1").partition(":")
                headers[key.strip().lower()] = value.strip()
            body = await _read_body(reader, headers)
            if path.startswith("/_count"):
                if method == "DELETE":
                    counts.reset()
                writer.write(_json_response(counts.as_json()))
            elif method == "POST":
                counts.record(body, headers.get("content-encoding", "").strip().lower())
                writer.write(_OK_PROTO)
            else:
                writer.write(_json_response(b"{}"))
            await writer.drain()
            if headers.get("connection", "").lower() == "close":
                return
    except (ConnectionError, asyncio.IncompleteReadError, ValueError):
        return
    finally:
        writer.close()


async def _main(host: str, port: int) -> None:
    counts = _Counts()
    server = await asyncio.start_server(
        lambda r, w: _serve_connection(counts, r, w), host=host, port=port, reuse_address=True
    )
    bound = server.sockets[0].getsockname()[1]
    print(f"ready {bound}", flush=True)
    async with server:
        await server.serve_forever()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks._sink", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    try:
        asyncio.run(_main(args.host, args.port))
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

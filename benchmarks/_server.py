# SPDX-License-Identifier: Apache-2.0
"""The bridge server under load: the real app vs the same app with a no-op filter, side by side.

Two servers run at once, each ``owui_otel.server.create_app`` under uvicorn in its own child process:

* ``filter``: as shipped; valves ``otlp_endpoint`` = the local sink (content capture at its default, on);
* ``noop``: the very same app (routes, API-key check, pydantic body validation, ``traceparent`` link extraction,
  JSON response) with ``FilterCore`` replaced by a core whose hooks do nothing. That isolates what the filter adds
  to a request (extraction, turn state, span, export thread) from what any Pipelines-compatible server costs.

The load generator (this process) is a minimal asyncio HTTP/1.1 client on keep-alive connections (an httpx
``AsyncClient`` costs several times more CPU per request than the server work being measured, so the client, not
the server, would set the pace on two cores). Each worker posts an inlet then its outlet for a fresh message id,
as fast as the server answers. The two servers are loaded in turn, A B B A, for a fixed time per phase; the
server's CPU (from ``/proc``) is read around each phase.

    python -m benchmarks._server --mode filter|noop --otlp-endpoint URL --data-dir DIR   # prints "ready <port>"
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import socket
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks._common import HOST, Child, Sink, abba, median, message_id, percentile, quiet_logging, short_chat

API_KEY = "bench-key"
_PLACEHOLDER = b"ffffffff-ffff-4fff-8fff-ffffffffffff"


# --- server child -----------------------------------------------------------------------------


class NoopCore:
    """Stands in for ``FilterCore`` in the ``noop`` server: same interface, no work."""

    def __init__(self, valves: object = None, *, host: str, tracer_provider: object = None, **_: object) -> None:
        from otel_filter import Counters  # noqa: PLC0415

        self.health = Counters()
        self.open_turns = 0

    def inlet(self, *args: object, **kwargs: object) -> None:
        pass

    def outlet(self, *args: object, **kwargs: object) -> None:
        pass

    def update_valves(self, valves: object) -> None:
        pass

    def end_open_turns(self, older_than_s: float = 0.0) -> int:
        return 0

    def shutdown(self, timeout_s: float = 10.0) -> None:
        pass


def serve(mode: str, otlp_endpoint: str, data_dir: Path) -> None:
    import uvicorn  # noqa: PLC0415

    from owui_otel import server  # noqa: PLC0415

    if mode == "noop":
        setattr(server, "FilterCore", NoopCore)  # noqa: B010 (create_app's lifespan looks the name up at start)
    data_dir.mkdir(parents=True, exist_ok=True)
    (data_dir / "valves.json").write_text(json.dumps({"otlp_endpoint": otlp_endpoint}), encoding="utf-8")
    app = server.create_app(server.ServerConfig(api_key=API_KEY, data_dir=data_dir))
    # proto=IPPROTO_TCP: asyncio only sets TCP_NODELAY on accepted sockets whose proto says TCP (as uvicorn's own
    # getaddrinfo-made socket does); with proto 0 every response would wait ~40 ms for a delayed ACK (Nagle).
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((HOST, 0))
    sock.listen(1024)
    print(f"ready {sock.getsockname()[1]}", flush=True)
    uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on")).run(sockets=[sock])


# --- load generator ---------------------------------------------------------------------------


def _request(port: int, path: str, payload: dict[str, Any]) -> bytes:
    body = json.dumps(payload).encode()
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {HOST}:{port}\r\nAuthorization: Bearer {API_KEY}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


def _templates(port: int) -> tuple[bytes, bytes]:
    inlet, inlet_user, outlet, outlet_user = short_chat().turn(_PLACEHOLDER.decode())
    return (
        _request(port, "/otel_bridge/filter/inlet", {"body": inlet, "user": inlet_user}),
        _request(port, "/otel_bridge/filter/outlet", {"body": outlet, "user": outlet_user}),
    )


async def _exchange(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes) -> int:
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n"):
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
            break
    if length:
        await reader.readexactly(length)
    return status


async def _load(port: int, seconds: float, connections: int, ids: itertools.count[int]) -> dict[str, Any]:
    inlet_template, outlet_template = _templates(port)
    latencies: list[int] = []
    errors = 0
    pairs = 0
    perf = time.perf_counter_ns

    async def worker() -> None:
        nonlocal errors, pairs
        reader, writer = await asyncio.open_connection(HOST, port)
        try:
            while perf() < deadline:
                turn_id = message_id(next(ids)).encode()
                for template in (inlet_template, outlet_template):
                    start = perf()
                    status = await _exchange(reader, writer, template.replace(_PLACEHOLDER, turn_id))
                    latencies.append(perf() - start)
                    if status != 200:
                        errors += 1
                pairs += 1
        finally:
            writer.close()

    start = perf()
    deadline = start + int(seconds * 1e9)
    await asyncio.gather(*(worker() for _ in range(connections)))
    elapsed = (perf() - start) / 1e9
    return {"pairs": pairs, "seconds": elapsed, "latencies": latencies, "errors": errors}


def run(*, quick: bool, log: Callable[[str], None]) -> dict[str, Any]:
    phase_seconds = 1.0 if quick else 3.0
    rounds = 2 if quick else 8
    connections = 8
    ids = itertools.count(1)
    stats: dict[str, dict[str, list[Any]]] = {
        name: {"rps": [], "cpu_ms": [], "latencies": [], "errors": [], "pairs": []} for name in ("filter", "noop")
    }
    with tempfile.TemporaryDirectory(prefix="owui-otel-bench-server-") as tmp, Sink() as span_sink:
        servers: dict[str, Child] = {}
        try:
            for mode in ("filter", "noop"):
                servers[mode] = Child(
                    "benchmarks._server",
                    "--mode",
                    mode,
                    "--otlp-endpoint",
                    span_sink.url,
                    "--data-dir",
                    str(Path(tmp) / mode),
                )
            warm_up_pairs = 0
            for mode, child in servers.items():  # warm-up: first requests, imports, connections
                warm = asyncio.run(_load(child.port, 0.5 if quick else 1.0, connections, ids))
                warm_up_pairs += warm["pairs"] if mode == "filter" else 0
            for _, mode in abba(["filter", "noop"], rounds):
                child = servers[mode]
                cpu_before = child.cpu_seconds()
                phase = asyncio.run(_load(child.port, phase_seconds, connections, ids))
                cpu = child.cpu_seconds() - cpu_before
                entry = stats[mode]
                entry["rps"].append(phase["pairs"] * 2 / phase["seconds"])
                entry["cpu_ms"].append(cpu * 1000 / max(phase["pairs"], 1))
                entry["latencies"].extend(phase["latencies"])
                entry["errors"].append(phase["errors"])
                entry["pairs"].append(phase["pairs"])
        finally:
            for child in servers.values():
                child.stop()  # SIGTERM: uvicorn runs the lifespan shutdown, the filter flushes its spans
        filter_pairs = sum(stats["filter"]["pairs"]) + warm_up_pairs
        received = span_sink.wait_for(filter_pairs, timeout=30.0)["distinct"]
    result: dict[str, Any] = {}
    for mode, entry in stats.items():
        result[f"server_{mode}_rps"] = median(entry["rps"])
        result[f"server_{mode}_p50_ms"] = percentile(entry["latencies"], 50) / 1e6
        result[f"server_{mode}_p99_ms"] = percentile(entry["latencies"], 99) / 1e6
        result[f"server_{mode}_cpu_ms_per_pair"] = median(entry["cpu_ms"])
        result[f"server_{mode}_errors"] = sum(entry["errors"])
    f, n = stats["filter"], stats["noop"]
    result["server_rps_ratio"] = median([a / b for a, b in zip(f["rps"], n["rps"], strict=True)])
    result["server_p99_ratio"] = result["server_filter_p99_ms"] / result["server_noop_p99_ms"]
    result["server_p50_ratio"] = result["server_filter_p50_ms"] / result["server_noop_p50_ms"]
    result["server_cpu_per_pair_ratio"] = median([a / b for a, b in zip(f["cpu_ms"], n["cpu_ms"], strict=True)])
    result["server_spans_sent"] = filter_pairs
    result["server_spans_lost"] = filter_pairs - received
    log(
        f"  requests/s: filter {result['server_filter_rps']:.0f}, no-op {result['server_noop_rps']:.0f}; "
        f"p99 ms: {result['server_filter_p99_ms']:.1f} vs {result['server_noop_p99_ms']:.1f}; "
        f"server CPU ms/pair: {result['server_filter_cpu_ms_per_pair']:.2f} vs "
        f"{result['server_noop_cpu_ms_per_pair']:.2f}; spans lost {result['server_spans_lost']}"
    )
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks._server")
    parser.add_argument("--mode", choices=("filter", "noop"), required=True)
    parser.add_argument("--otlp-endpoint", required=True)
    parser.add_argument("--data-dir", type=Path, required=True)
    args = parser.parse_args(argv)
    quiet_logging()
    serve(args.mode, args.otlp_endpoint, args.data_dir)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

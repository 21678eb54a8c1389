# SPDX-License-Identifier: Apache-2.0
"""Finding 1 of issue 8: one request must not kill the collector of the local stack.

The request is an OTLP span whose attribute nests ``AnyValue.kvlist_value`` 1,000,000 levels deep (14.5 MB of
protobuf, 4.8 MB gzipped): pdata decodes it recursively and the collector dies with ``fatal error: stack
overflow`` (open-telemetry/opentelemetry-collector#15301; ~950,000 levels are enough at v0.161.0). The stack is
started exactly as ``owui-otel up`` starts it (supervisor, rendered config with receiver auth, generated token),
on free ports with its state and data in a temporary directory, and with the Langfuse-contract endpoint as its
Langfuse, so that "no acknowledged span is lost" is checked where the collector keeps spans on disk.

* without the token: HTTP answers 401 before reading the body; gRPC refuses by size (it decodes before it
  authenticates, so its 4 MiB limit is the guard) -- and the largest nested message gRPC lets through does not
  crash the collector, even unauthenticated;
* with the token over HTTP it is refused by size: the receiver's 8 MiB limit applies to the body as sent and after
  gzip decoding, and the crash needs more (~14 MB as kvlists, ~11.5 MB as arrays, and tens of MB as OTLP/JSON, whose
  decoder has no depth limit in any release, #15603). The deepest values that do fit in 8 MiB (protobuf arrays,
  OTLP/JSON arrays) are decoded, forwarded and survived. Same pid, no restart; spans before and after delivered
  (the filter itself never sends more than 3 MiB in one request: tests/filter/test_request_size.py);
* the collector's batches for Jaeger are split by bytes: 50 acknowledged 300 KB spans within one second used to
  make one 15 MB batch that Jaeger's 8 MiB receiver refused whole (ResourceExhausted, dropped);
* SIGKILL: restarted within the backoff, and ``owui-otel doctor`` reports the restart.
"""

from __future__ import annotations

import gzip
import os
import signal
import stat
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import httpx
import pytest

from collector._components import RECEIVER_HTTP_MAX_BODY_BYTES
from collector._process import ManagedProcess, free_port, http_ok, wait_until
from owui_otel._stack import StackOptions, StackState, otlp_headers_value, start_stack, stop_stack
from owui_otel._supervisor import Backoff, ChildStatus
from owui_otel.cli import main
from tests.support.stack import FAST_RETRY, REPO_ROOT

from .nested_otlp import (
    large_request,
    nested_array_request,
    nested_json_request,
    nested_kvlist_request,
    plain_request,
)

pytestmark = [pytest.mark.integration, pytest.mark.faults]

CRASH_DEPTH = 1_000_000
HTTP_LIMIT = RECEIVER_HTTP_MAX_BODY_BYTES  # max_request_body_size of the receiver
# The deepest nesting that fits in HTTP_LIMIT, in the form with the fewest bytes per level (checked below).
DEEPEST_PROTOBUF_ARRAYS = 891_967
DEEPEST_JSON_ARRAYS = 299_578
JSON_CRASH_DEPTH = 3_000_000  # 80 MiB of OTLP/JSON: measured to crash v0.161.0 when let through (1,000,000 do not)
GRPC_EXPORT = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
PUBLIC_KEY, SECRET_KEY = "pk-lf-hardening", "sk-lf-hardening"
BACKOFF = Backoff(initial_s=0.5, max_s=4.0, stable_after_s=60.0, give_up_after=5)


@dataclass
class LocalStack:
    state: StackState
    root: Path
    langfuse_url: str
    options: StackOptions

    @property
    def token(self) -> str:
        return self.state.ingest_token

    @property
    def traces_url(self) -> str:
        return f"{self.state.urls['collector_otlp_http']}/v1/traces"

    def collector(self) -> ChildStatus:
        return self.child("collector")

    def child(self, name: str) -> ChildStatus:
        status = self.state.supervisor_status()
        assert status is not None
        return next(child for child in status.children if child.name == name)

    def post(self, body: bytes, *, token: bool, gzipped: bool = False, json: bool = False) -> int | str:
        headers = {"Content-Type": "application/json" if json else "application/x-protobuf"}
        if gzipped:
            headers["Content-Encoding"] = "gzip"
        if token:
            headers["authorization"] = f"Bearer {self.token}"
        try:
            return httpx.post(self.traces_url, content=body, headers=headers, timeout=60).status_code
        except httpx.HTTPError as error:  # the collector died while reading or decoding
            return type(error).__name__

    def grpc_export(self, body: bytes, *, token: bool) -> grpc.StatusCode:
        metadata = (("authorization", f"Bearer {self.token}"),) if token else ()
        with grpc.insecure_channel(
            self.state.urls["collector_otlp_grpc"], options=[("grpc.max_send_message_length", 64 << 20)]
        ) as channel:
            export = channel.unary_unary(GRPC_EXPORT)  # bytes in, bytes out: no protobuf runtime involved
            try:
                export(body, metadata=metadata, timeout=60, compression=grpc.Compression.Gzip)
            except grpc.RpcError as error:
                code: grpc.StatusCode = error.code()  # type: ignore[attr-defined]
                return code
            return grpc.StatusCode.OK

    def healthy(self) -> bool:
        return http_ok(self.state.urls["collector_health"])

    def langfuse_trace_ids(self) -> set[str]:
        received = httpx.get(f"{self.langfuse_url}/_control/received", timeout=10).json()
        return {span["trace_id"] for span in received["spans"]}


BATCH_WINDOW_S = 3.0
"""Longer than the collector's batch timeout plus its exporters' flush timeout (1 s each)."""


def _wait_delivered_to_both(local_stack: LocalStack, acknowledged: set[str], *, after: str) -> None:
    """Spans acknowledged after ``after`` reach Jaeger (one of them, looked up by id) and all reach Langfuse."""
    jaeger = local_stack.state.urls["jaeger"]
    last_trace_id = max(acknowledged)
    wait_until(
        lambda: httpx.get(f"{jaeger}/api/traces/{last_trace_id}", timeout=5).status_code == 200,
        timeout=60,
        what=f"a span sent after {after} in Jaeger",
    )
    wait_until(
        lambda: acknowledged <= local_stack.langfuse_trace_ids(),
        timeout=90,
        what=f"every span acknowledged after {after} at the Langfuse endpoint",
    )


@pytest.fixture(scope="module")
def bomb() -> bytes:
    return gzip.compress(nested_kvlist_request(CRASH_DEPTH), 1)


@pytest.fixture(scope="module")
def local_stack(
    collector_binary: Path,
    jaeger_binary: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[LocalStack]:
    root = tmp_path_factory.mktemp("up")
    with pytest.MonkeyPatch.context() as environment:  # `owui-otel up` keeps its state and data under root
        environment.setenv("OWUI_OTEL_STATE_DIR", str(root / "state"))
        environment.setenv("OWUI_OTEL_DATA_DIR", str(root / "data"))
        langfuse_port = free_port()
        langfuse = ManagedProcess(
            "langfuse-contract",
            [
                sys.executable,
                "-m",
                "tests.support.langfuse_contract",
                "--host",
                "127.0.0.1",
                "--port",
                str(langfuse_port),
            ],
            env={**os.environ, "LANGFUSE_PUBLIC_KEY": PUBLIC_KEY, "LANGFUSE_SECRET_KEY": SECRET_KEY},
            log_path=root / "langfuse-contract.log",
            cwd=REPO_ROOT,  # `tests` is importable from the checkout only (it is not in the wheel)
        )
        langfuse.start()
        try:
            langfuse_url = f"http://127.0.0.1:{langfuse_port}"
            langfuse.wait_ready(lambda: http_ok(f"{langfuse_url}/_control/health"), timeout=60)
            ports = {name: free_port() for name in StackOptions().ports()}
            keys = {"langfuse_public_key": PUBLIC_KEY, "langfuse_secret_key": SECRET_KEY}
            options = StackOptions(**ports, **keys, langfuse_host=langfuse_url, extra_env=FAST_RETRY, backoff=BACKOFF)
            try:
                yield LocalStack(start_stack(options), root, langfuse_url, options)
            finally:
                stop_stack()
        finally:
            langfuse.stop()


def _listening_sockets() -> dict[int, set[str]]:
    """TCP port -> the addresses it listens on, from /proc/net/tcp{,6} ("::" / "0.0.0.0" = every interface)."""
    found: dict[int, set[str]] = {}
    for table, width in (("/proc/net/tcp", 8), ("/proc/net/tcp6", 32)):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            if state != "0A":  # LISTEN
                continue
            address, port = local.split(":")
            if width == 8:
                shown = ".".join(str(b) for b in reversed(bytes.fromhex(address)))
            else:
                shown = "::1" if address == "00000000000000000000000001000000" else f"v6:{address}"
            found.setdefault(int(port, 16), set()).add(shown)
    return found


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_stack_files_holding_keys_are_private(local_stack: LocalStack) -> None:
    state_dir, data_dir = local_stack.root / "state", local_stack.root / "data"
    stack = state_dir / "stack"
    for folder in (state_dir, stack, stack / "logs", data_dir, data_dir / "bridge", data_dir / "collector"):
        assert _mode(folder) == 0o700, folder
    for path in [stack / "stack.json", stack / "supervisor.json", *sorted((stack / "logs").glob("*.log"))]:
        assert _mode(path) == 0o600, path
    assert {p.name for p in (stack / "logs").glob("*.log")} >= {"supervisor.log", "collector.log", "bridge.log"}
    assert _mode(data_dir / "collector" / "ingest_token") == 0o600
    # The token lives in the data dir and the state; never in a config file or a command line.
    assert local_stack.token not in (stack / "otel-collector.yaml").read_text()
    assert all(local_stack.token not in " ".join(p.argv) for p in local_stack.state.processes)


def test_receiver_requires_the_token_and_binds_loopback(local_stack: LocalStack) -> None:
    body, _ = plain_request("auth-check")
    assert local_stack.post(body, token=False) == 401
    assert local_stack.post(body, token=True) == 200
    assert local_stack.grpc_export(body, token=False) == grpc.StatusCode.UNAUTHENTICATED
    assert local_stack.grpc_export(body, token=True) == grpc.StatusCode.OK
    # Every port of the stack listens on loopback only (what the kernel says, not what the config meant).
    listening = _listening_sockets()
    for name, port in local_stack.options.ports().items():
        assert listening.get(port) == {"127.0.0.1"}, f"{name} port {port} listens on {listening.get(port)}"
    config = (local_stack.root / "state" / "stack" / "otel-collector.yaml").read_text()
    assert "bearertokenauth/ingest" in config and f"max_request_body_size: {HTTP_LIMIT}" in config


def test_unauthenticated_nested_request_is_refused_and_the_collector_stays_up(
    local_stack: LocalStack, bomb: bytes
) -> None:
    before = local_stack.collector()
    assert local_stack.post(bomb, token=False, gzipped=True) == 401  # auth reads the headers, never the body
    # gRPC decodes before its auth interceptor: the message-size limit is what refuses it, token or not.
    raw = nested_kvlist_request(CRASH_DEPTH)
    assert local_stack.grpc_export(raw, token=False) == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert local_stack.grpc_export(raw, token=True) == grpc.StatusCode.RESOURCE_EXHAUSTED
    # The deepest value that fits in gRPC's 4 MiB limit is decoded (then refused for want of a token) and the
    # collector survives it: the limit sits well below the depth that overflows the stack.
    largest = nested_kvlist_request(314_000)
    assert 4_100_000 < len(largest) <= 4 * 1024 * 1024
    assert local_stack.grpc_export(largest, token=False) == grpc.StatusCode.UNAUTHENTICATED
    assert local_stack.healthy()
    after = local_stack.collector()
    assert (after.pid, after.restarts) == (before.pid, before.restarts)


def test_jaegers_own_receiver_refuses_the_nested_request_by_size(local_stack: LocalStack, bomb: bytes) -> None:
    # Jaeger's OTLP receiver (loopback, no token: only the collector sends to it) decodes with the same pdata.
    before = local_stack.child("jaeger")
    answer = httpx.post(
        f"http://127.0.0.1:{local_stack.options.jaeger_otlp_http_port}/v1/traces",
        content=bomb,
        headers={"Content-Type": "application/x-protobuf", "Content-Encoding": "gzip"},
        timeout=60,
    )
    assert answer.status_code in (400, 413)  # the decoded body passes 8 MiB: refused before pdata sees it
    assert http_ok(f"{local_stack.state.urls['jaeger']}/api/services")
    after = local_stack.child("jaeger")
    assert (after.pid, after.restarts) == (before.pid, before.restarts)


def _send_ordinary_spans(stack: LocalStack, label: str, count: int) -> set[str]:
    acknowledged: set[str] = set()
    for index in range(count):
        body, trace_id = plain_request(f"{label}-{index}")
        assert stack.post(body, token=True) == 200
        acknowledged.add(trace_id)
    return acknowledged


def _assert_still_the_same_collector(stack: LocalStack, before: ChildStatus) -> None:
    assert stack.healthy()
    after = stack.collector()
    assert (after.pid, after.restarts, after.running) == (before.pid, before.restarts, True)
    log = (stack.root / "state" / "stack" / "logs" / "collector.log").read_text()
    assert "fatal error" not in log and "stack overflow" not in log


def test_authenticated_nested_requests_are_refused_by_size_and_no_span_is_lost(
    local_stack: LocalStack, bomb: bytes
) -> None:
    before = local_stack.collector()
    acknowledged = _send_ordinary_spans(local_stack, "before-bombs", 20)

    raw = nested_kvlist_request(CRASH_DEPTH)
    assert len(raw) > HTTP_LIMIT and len(bomb) < HTTP_LIMIT  # 14.5 MB as sent; 4.8 MB gzipped, 14.5 MB decoded
    # As sent: the body passes 8 MiB while being read. The receiver answers 400 "request body too large"; it may
    # close the connection before the client has written the rest of its 14.5 MB (then the client sees that).
    assert local_stack.post(raw, token=True) in (400, 413, "WriteError", "RemoteProtocolError", "ReadError")
    # gzip: 4.8 MB on the wire, refused once the *decoded* body passes 8 MiB -- before pdata sees a byte of it.
    assert local_stack.post(bomb, token=True, gzipped=True) == 400
    # OTLP/JSON (#15603: no depth limit in any release): 3,000,000 levels, 80 MiB decoded, ~240 KB gzipped.
    json_bomb = gzip.compress(nested_json_request(JSON_CRASH_DEPTH), 9)
    assert len(json_bomb) < HTTP_LIMIT // 8
    assert local_stack.post(json_bomb, token=True, gzipped=True, json=True) == 400
    _assert_still_the_same_collector(local_stack, before)

    acknowledged |= _send_ordinary_spans(local_stack, "after-bombs", 10)
    _wait_delivered_to_both(local_stack, acknowledged, after="the refused requests")
    _assert_still_the_same_collector(local_stack, before)


@pytest.mark.parametrize(
    ("build", "depth", "json"),
    [(nested_array_request, DEEPEST_PROTOBUF_ARRAYS, False), (nested_json_request, DEEPEST_JSON_ARRAYS, True)],
    ids=["protobuf-arrays", "json-arrays"],
)
def test_the_deepest_value_the_limit_lets_through_does_not_crash_the_collector(
    local_stack: LocalStack, build: Callable[[int], bytes], depth: int, json: bool
) -> None:
    body = build(depth)
    assert len(body) <= HTTP_LIMIT < len(build(depth + 1))  # the deepest that fits, in its cheapest form
    before = local_stack.collector()
    jaeger_before = local_stack.child("jaeger")
    # Decoded, and forwarded to Jaeger (whose own receiver also takes 8 MiB) and the Langfuse pipeline.
    assert local_stack.post(gzip.compress(body, 6), token=True, gzipped=True, json=json) == 200
    # Known loss, not what this test is about (does the collector survive?): a span larger than the exporters' max
    # batch bytes is dropped with everything sharing its batch ("Failed to split request ... one span size is greater
    # than max size, dropping items"). Let that batch go before the ordinary spans. Open follow-up: a per-span size
    # policy on the Jaeger path.
    time.sleep(BATCH_WINDOW_S)
    acknowledged = _send_ordinary_spans(local_stack, f"after-deepest-{'json' if json else 'protobuf'}", 5)
    _wait_delivered_to_both(local_stack, acknowledged, after="the deepest value")
    _assert_still_the_same_collector(local_stack, before)
    jaeger_after = local_stack.child("jaeger")
    assert (jaeger_after.pid, jaeger_after.restarts) == (jaeger_before.pid, jaeger_before.restarts)


def test_jaeger_gets_every_span_when_the_collectors_batches_outgrow_its_receiver(local_stack: LocalStack) -> None:
    # Two requests of 25 spans of 300 KB (7.5 MB each, under the receiver's 8 MiB) within the batch processor's 1 s:
    # a 15 MB batch for Jaeger, whose receiver takes 8 MiB. The exporter's byte-sized batches (4 MB) must split it,
    # or Jaeger refuses it whole and 50 acknowledged spans are lost on that path.
    trace_ids: set[str] = set()
    for part in range(2):
        body, ids = large_request(f"large-{part}", 300_000, spans=25)
        assert local_stack.post(body, token=True) == 200
        trace_ids.update(ids)
    jaeger = local_stack.state.urls["jaeger"]

    def missing() -> set[str]:
        return {t for t in trace_ids if httpx.get(f"{jaeger}/api/traces/{t}", timeout=5).status_code != 200}

    wait_until(lambda: not missing(), timeout=60, what="every large span in Jaeger")


def test_sigkill_is_restarted_within_the_backoff_and_doctor_reports_it(
    local_stack: LocalStack, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    before = local_stack.collector()
    assert before.pid is not None
    os.kill(before.pid, signal.SIGKILL)
    wait_until(
        lambda: (c := local_stack.collector()).restarts == before.restarts + 1 and c.running,
        timeout=BACKOFF.max_s + 5,
        what="the supervisor restarted the collector",
    )
    assert local_stack.collector().last_exit == "killed by SIGKILL"
    wait_until(local_stack.healthy, timeout=60, what="the restarted collector is healthy")

    # doctor reads the stack's token from its state, not from the shell (which here holds a wrong one).
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", otlp_headers_value("not-the-token"))
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT", raising=False)
    monkeypatch.delenv("LANGFUSE_HOST", raising=False)
    main(["doctor"])
    output = capsys.readouterr().out
    collector_line = next(line for line in output.splitlines() if "] supervisor: collector:" in line)
    assert collector_line.startswith("[warn]")
    assert f"restarted {before.restarts + 1} time(s)" in collector_line and "killed by SIGKILL" in collector_line
    assert "[  ok] supervisor: jaeger: running" in output
    assert "[  ok] collector receiver: accepts OTLP" in output


def test_down_stops_the_supervisor_and_every_child_it_ever_ran(local_stack: LocalStack) -> None:
    status = local_stack.state.supervisor_status()
    assert status is not None
    pids = [p.pid for p in local_stack.state.processes] + [c.pid for c in status.children if c.pid]
    stopped = stop_stack()
    assert stopped[0] == "supervisor" and set(stopped) == {"supervisor", "jaeger", "prometheus", "collector", "bridge"}
    for pid in pids:
        cmdline = Path(f"/proc/{pid}/cmdline")
        assert not cmdline.exists() or cmdline.read_bytes() == b"", f"pid {pid} still runs"
    assert not (local_stack.root / "state" / "stack" / "stack.json").exists()

# SPDX-License-Identifier: Apache-2.0
"""What the running ``owui-otel up`` stack was started with, and what its collector says about delivery.

The doctor judges the stack by what its processes actually run with, not by the shell it is started from: the
collector's and the bridge's environments are read from ``/proc/<pid>/environ`` (same user, after checking that
the pid still runs the program the supervisor started), the collector's delivery from its own Prometheus metrics
(queue size, send and enqueue failures per exporter) and its retries from its log::

    running = read_running_stack(load_state())     # None without an `up` stack
    running.collector_env["LANGFUSE_HOST"]         # what the collector really sends to
    exporter_stats(metrics_text)["otlp_http/langfuse"].queue_size
    exporter_retries(Path(running.collector_log))  # {"otlp_http/langfuse": Retries(count=12, last_error="...")}
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, field
from pathlib import Path

from collector import metric_samples
from owui_otel._stack import ProcessRecord, StackState, is_ours

COLLECTOR, BRIDGE = "collector", "bridge"
LOG_TAIL_BYTES = 512 * 1024
"""How much of the collector's log is read for retries: recent enough to matter, small enough to be quick."""


@dataclass(frozen=True)
class RunningStack:
    """The ``up`` stack's processes as they run now (empty environments when a process is not running)."""

    urls: dict[str, str]
    api_key: str
    ingest_token: str
    collector_env: dict[str, str]
    bridge_env: dict[str, str]
    collector_log: str
    logs: str


def process_environ(record: ProcessRecord) -> dict[str, str]:
    """The environment ``record``'s process runs with; empty when it is not running our program any more."""
    if not is_ours(record):
        return {}
    try:
        raw = Path(f"/proc/{record.pid}/environ").read_bytes()
    except OSError:
        return {}
    pairs = (entry.decode(errors="replace").partition("=") for entry in raw.split(b"\0") if entry)
    return {name: value for name, _, value in pairs}


def _current_records(state: StackState) -> dict[str, ProcessRecord]:
    """Each child as last started: the supervisor's status (after restarts) over what ``up`` first recorded."""
    records = {record.name: record for record in state.processes}
    status = state.supervisor_status()
    for child in status.children if status else []:
        if child.pid is not None:
            records[child.name] = ProcessRecord(child.name, child.pid, child.argv, child.log, child.started)
    return records


def _bridge_filter_environ(record: ProcessRecord) -> dict[str, str]:
    """What the bridge's filter resolves its settings against: its environment with ``serve --otlp-endpoint``."""
    from owui_otel._serve import filter_environ  # noqa: PLC0415 (the server's dependencies)

    environ = process_environ(record)
    if not environ:
        return {}
    argv = record.argv
    endpoint = argv[argv.index("--otlp-endpoint") + 1] if "--otlp-endpoint" in argv[:-1] else None
    return dict(filter_environ(endpoint, environ))


def read_running_stack(state: StackState) -> RunningStack:
    records = _current_records(state)
    collector, bridge = records.get(COLLECTOR), records.get(BRIDGE)
    collector_log = collector.log if collector else ""
    logs = str(Path(collector_log).parent) if collector_log else ""
    return RunningStack(
        urls=dict(state.urls),
        api_key=state.api_key,
        ingest_token=state.ingest_token,
        collector_env=process_environ(collector) if collector else {},
        bridge_env=_bridge_filter_environ(bridge) if bridge else {},
        collector_log=collector_log,
        logs=logs,
    )


def langfuse_keys_from_auth(auth_b64: str) -> tuple[str, str]:
    """``LANGFUSE_AUTH_B64`` (what the collector sends: base64 of ``pk:sk``) back to the key pair; empty if bad."""
    try:
        public_key, _, secret_key = base64.b64decode(auth_b64, validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return "", ""
    return public_key, secret_key


# --- delivery ----------------------------------------------------------------------------------------------------


@dataclass
class ExporterStats:
    """One collector exporter's self-metrics (spans, except ``queue_size``: batches or bytes, per the queue)."""

    queue_size: float = 0.0
    queue_capacity: float = 0.0
    sent: float = 0.0
    send_failed: float = 0.0
    enqueue_failed: float = 0.0


_METRICS = {
    "otelcol_exporter_queue_size": "queue_size",
    "otelcol_exporter_queue_capacity": "queue_capacity",
    "otelcol_exporter_sent_spans": "sent",
    "otelcol_exporter_send_failed_spans": "send_failed",
    "otelcol_exporter_enqueue_failed_spans": "enqueue_failed",
}


def exporter_stats(metrics_text: str) -> dict[str, ExporterStats]:
    """Per exporter (``otlp_http/langfuse``, ``otlp_grpc/jaeger``...), from the collector's Prometheus text.
    Raises ``ValueError`` for text that is not Prometheus'."""
    stats: dict[str, ExporterStats] = {}
    for name, attribute in _METRICS.items():
        for labels, value in metric_samples(metrics_text, (name,)):
            if labels.get("data_type", "traces") != "traces":
                continue
            entry = stats.setdefault(labels.get("exporter", "?"), ExporterStats())
            setattr(entry, attribute, getattr(entry, attribute) + value)
    return stats


@dataclass
class Retries:
    count: int = 0
    last_error: str = ""
    last_at: str = ""


@dataclass
class _LogLine:
    at: str
    message: str
    fields: dict[str, object] = field(default_factory=dict)


def _parse(line: str) -> _LogLine | None:
    """The collector's console log: ``time<TAB>level<TAB>caller<TAB>message<TAB>{json fields}``."""
    parts = line.rstrip("\n").split("\t")
    if len(parts) < 4:
        return None
    fields: dict[str, object] = {}
    if len(parts) >= 5:
        try:
            loaded = json.loads(parts[4])
        except ValueError:
            loaded = {}
        fields = loaded if isinstance(loaded, dict) else {}
    return _LogLine(parts[0], parts[3], fields)


def exporter_retries(log: Path) -> dict[str, Retries]:
    """Per exporter: how often the tail of the collector's log says an export failed and will be retried, and the
    last error it gave (e.g. ``Permanent error: ... 404 ...`` or ``connection refused``)."""
    try:
        with log.open("rb") as handle:
            size = handle.seek(0, 2)
            handle.seek(max(0, size - LOG_TAIL_BYTES))
            text = handle.read().decode(errors="replace")
    except OSError:
        return {}
    retries: dict[str, Retries] = {}
    for raw in text.splitlines():
        line = _parse(raw)
        if line is None or "failed" not in line.message.lower() or "retry" not in line.message.lower():
            continue
        exporter = str(line.fields.get("otelcol.component.id", "?"))
        entry = retries.setdefault(exporter, Retries())
        entry.count += 1
        entry.last_error = str(line.fields.get("error", ""))[:300]
        entry.last_at = line.at
    return retries

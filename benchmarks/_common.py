# SPDX-License-Identifier: Apache-2.0
"""Shared pieces of the benchmarks: recorded payloads, fresh turn ids, child processes, statistics."""

from __future__ import annotations

import copy
import itertools
import json
import logging
import os
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "tests" / "fixtures" / "openwebui"
HOST = "127.0.0.1"

# --- payloads ---------------------------------------------------------------------------------

_WORDS = (
    "latency span collector export batch queue trace token model reply prompt context window stream chunk usage "
    "budget cache socket thread buffer sample metric attribute resource scope session history summary answer"
).split()


def _text(seed: int, chars: int) -> str:
    words = []
    size = 0
    i = seed
    while size < chars:
        word = _WORDS[(i * 7 + size) % len(_WORDS)]
        words.append(word)
        size += len(word) + 1
        i += 1
    return " ".join(words)[:chars]


def _load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / name).read_text(encoding="utf-8"))
    return data


@dataclass
class Scenario:
    """One recorded (or recorded-and-extended) turn; :meth:`turn` gives it a fresh message id."""

    name: str
    inlet: dict[str, Any]
    outlet: dict[str, Any]
    content_chars: int

    def __post_init__(self) -> None:
        self._ids = itertools.count(1)

    def turn(self) -> tuple[dict[str, Any], dict[str, Any] | None, dict[str, Any], dict[str, Any] | None]:
        """(inlet body, user, outlet body, user) with a new assistant message id, mutated in place (cheap)."""
        message_id = f"00000000-0000-4000-8000-{next(self._ids):012d}"
        inlet_body = self.inlet["body"]
        outlet_body = self.outlet["body"]
        inlet_body["metadata"]["message_id"] = message_id
        outlet_body["id"] = message_id
        outlet_body["messages"][-1]["id"] = message_id
        return inlet_body, self.inlet.get("user"), outlet_body, self.outlet.get("user")

    def fresh_copy(self) -> Scenario:
        return Scenario(self.name, copy.deepcopy(self.inlet), copy.deepcopy(self.outlet), self.content_chars)


def short_chat() -> Scenario:
    """Open WebUI 0.12 UI turn 1 (one user message, streamed reply with usage), as recorded."""
    inlet = _load("pipelines_ui_stream_turn1_inlet.json")
    outlet = _load("pipelines_ui_stream_turn1_outlet.json")
    chars = sum(len(m.get("content") or "") for m in outlet["body"]["messages"])
    return Scenario("short", inlet, outlet, chars)


def long_chat(messages: int = 20, total_chars: int = 8000) -> Scenario:
    """The recorded turn-3 payloads with the history extended to ``messages`` messages of ~``total_chars`` chars.

    Inlet: ``messages - 1`` messages ending with the user's; outlet: the same plus the assistant reply (with usage),
    in the shape Open WebUI 0.12 sends (ids, ``info``, ``timestamp``, ``output``, ``usage`` on the reply).
    """
    inlet = _load("pipelines_ui_stream_turn3_inlet.json")
    outlet = _load("pipelines_ui_stream_turn3_outlet.json")
    per_message = total_chars // messages
    history = [
        {"role": "user" if i % 2 == 0 else "assistant", "content": _text(i, per_message)} for i in range(messages - 1)
    ]
    inlet["body"]["messages"] = copy.deepcopy(history)
    template_user, template_reply = outlet["body"]["messages"][0], outlet["body"]["messages"][-1]
    outlet_messages = []
    for i, message in enumerate(history):
        entry = copy.deepcopy(template_user if message["role"] == "user" else template_reply)
        entry["id"] = f"00000000-0000-4000-9000-{i:012d}"
        entry["content"] = message["content"]
        entry.pop("finish_reason", None)
        for part in entry.get("output") or []:
            for piece in part.get("content") or []:
                piece["text"] = message["content"]
        outlet_messages.append(entry)
    reply = copy.deepcopy(template_reply)
    reply["content"] = _text(messages, per_message)
    for part in reply.get("output") or []:
        for piece in part.get("content") or []:
            piece["text"] = reply["content"]
    reply["usage"] = {"prompt_tokens": 1900, "completion_tokens": 95, "total_tokens": 1995}
    reply["info"] = {"usage": dict(reply["usage"])}
    reply["finish_reason"] = "stop"
    outlet_messages.append(reply)
    outlet["body"]["messages"] = outlet_messages
    chars = sum(len(m["content"]) for m in outlet_messages)
    return Scenario("long", inlet, outlet, chars)


# --- exporters --------------------------------------------------------------------------------


class NoopExporter(SpanExporter):
    """Accepts and forgets every span (the memory benchmarks' cheap exporter). Counts what it saw."""

    def __init__(self) -> None:
        self.exported = 0

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.exported += len(spans)
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        pass

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return True


def quiet_logging() -> None:
    """Route every log record to a NullHandler: records are still created (same cost on the hot path), but the
    filter's rate-limited warnings and the SDK's export retries do not flood the benchmark's output."""
    root = logging.getLogger()
    if not any(isinstance(h, logging.NullHandler) for h in root.handlers):
        root.addHandler(logging.NullHandler())


# --- child processes --------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


class Child:
    """A child process started with ``python -m <module>`` from the repo root; it prints ``ready <port>``."""

    def __init__(self, module: str, *args: str, env: dict[str, str] | None = None, timeout: float = 30.0) -> None:
        child_env = dict(os.environ)
        child_env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), child_env.get("PYTHONPATH")]))
        child_env.update(env or {})
        self.proc = subprocess.Popen(
            [sys.executable, "-m", module, *args],
            cwd=REPO,
            env=child_env,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        deadline = time.monotonic() + timeout
        line = ""
        assert self.proc.stdout is not None
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if line.startswith("ready") or not line:
                break
        if not line.startswith("ready"):
            self.stop()
            raise RuntimeError(f"{module} did not start (exit code {self.proc.poll()})")
        self.port = int(line.split()[1])
        self.pid = self.proc.pid

    def cpu_seconds(self) -> float:
        """user+system CPU of the child so far (from /proc; 0.0 where unavailable)."""
        try:
            fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return 0.0
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()


class Sink(Child):
    """``benchmarks._sink`` in a child process."""

    def __init__(self) -> None:
        super().__init__("benchmarks._sink")
        self.url = f"http://{HOST}:{self.port}"

    def counts(self) -> dict[str, int]:
        result: dict[str, int] = httpx.get(f"{self.url}/_count", timeout=30.0).json()
        return result

    def reset(self) -> None:
        httpx.delete(f"{self.url}/_count", timeout=30.0)

    def wait_for(self, distinct: int, timeout: float, settle: float = 2.0) -> dict[str, int]:
        """Wait until ``distinct`` span ids arrived, or the count stopped moving for ``settle`` s, or ``timeout``."""
        deadline = time.monotonic() + timeout
        last = -1
        last_change = time.monotonic()
        counts = self.counts()
        while time.monotonic() < deadline:
            counts = self.counts()
            if counts["distinct"] >= distinct:
                return counts
            if counts["distinct"] != last:
                last, last_change = counts["distinct"], time.monotonic()
            elif time.monotonic() - last_change > settle:
                return counts
            time.sleep(0.2)
        return counts


@contextmanager
def sink() -> Iterator[Sink]:
    server = Sink()
    try:
        yield server
    finally:
        server.stop()


# --- measurement ------------------------------------------------------------------------------


def rss_bytes() -> int:
    """Resident set size of this process."""
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE")


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (``q`` in 0..100)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def abba(names: Sequence[str], rounds: int) -> Iterator[tuple[int, str]]:
    """Round-robin order that reverses every other round (A B C, C B A, ...): cancels linear drift."""
    for r in range(rounds):
        order = names if r % 2 == 0 else list(reversed(names))
        for name in order:
            yield r, name


def timed_ns(fn: Callable[[], object]) -> int:
    start = time.perf_counter_ns()
    fn()
    return time.perf_counter_ns() - start

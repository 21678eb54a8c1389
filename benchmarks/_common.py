# SPDX-License-Identifier: Apache-2.0
"""Shared pieces of the benchmarks: recorded payloads, fresh turn ids, child processes, statistics."""

from __future__ import annotations

import contextlib
import copy
import itertools
import json
import logging
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol, Self

import httpx
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

from collector import ManagedProcess, ProcessError, wait_until
from otel_filter.settings import DEFAULT_MAX_QUEUE_SIZE
from tests.support.scenarios import load

REPO = Path(__file__).resolve().parent.parent
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


def message_id(number: int) -> str:
    """The ``number``-th assistant message id of a benchmark (a valid UUID, distinct per number)."""
    return f"00000000-0000-4000-8000-{number:012d}"


_MESSAGE_NUMBERS = itertools.count(1)


class Hooks(Protocol):
    """What a turn is played through: :class:`otel_filter.FilterCore` or the seed's filter."""

    def inlet(self, body: dict[str, Any], user: dict[str, Any] | None = None, /) -> object: ...

    def outlet(self, body: dict[str, Any], user: dict[str, Any] | None = None, /) -> object: ...


@dataclass
class Scenario:
    """One recorded (or recorded-and-extended) turn; :meth:`turn` gives it a fresh message id."""

    name: str
    inlet: dict[str, Any]
    outlet: dict[str, Any]
    content_chars: int

    def __post_init__(self) -> None:
        # One numbering for every scenario and copy in the process: a turn's trace and span ids derive from its
        # chat and message ids, so two contenders replaying the same chat must not reuse message ids (the sink
        # counts distinct span ids).
        self._ids = _MESSAGE_NUMBERS

    def turn(
        self, assistant_id: str | None = None
    ) -> tuple[dict[str, Any], dict[str, Any] | None, dict[str, Any], dict[str, Any] | None]:
        """(inlet body, user, outlet body, user) with a new assistant message id (or ``assistant_id``), mutated in
        place (cheap)."""
        assigned = assistant_id or message_id(next(self._ids))
        inlet_body = self.inlet["body"]
        outlet_body = self.outlet["body"]
        inlet_body["metadata"]["message_id"] = assigned
        outlet_body["id"] = assigned
        outlet_body["messages"][-1]["id"] = assigned
        return inlet_body, self.inlet.get("user"), outlet_body, self.outlet.get("user")

    def play(self, hooks: Hooks) -> None:
        """One turn (fresh message id) through ``hooks``: inlet, then outlet."""
        inlet_body, inlet_user, outlet_body, outlet_user = self.turn()
        hooks.inlet(inlet_body, inlet_user)
        hooks.outlet(outlet_body, outlet_user)

    def fresh_copy(self) -> Scenario:
        return Scenario(self.name, copy.deepcopy(self.inlet), copy.deepcopy(self.outlet), self.content_chars)


PRICED_MODEL = "gpt-4o-mini"
"""The recorded turns' model (``mock-gpt``, which has no price) is replaced by this one, so every turn is priced and the
per-turn figures include pricing."""


def _recorded(name: str) -> Any:
    """A recorded payload whose model is :data:`PRICED_MODEL`."""
    return json.loads(json.dumps(load(name)).replace('"mock-gpt"', json.dumps(PRICED_MODEL)))


def short_chat() -> Scenario:
    """Open WebUI 0.12 UI turn 1 (one user message, streamed reply with usage), as recorded, on a priced model."""
    inlet = _recorded("pipelines_ui_stream_turn1_inlet.json")
    outlet = _recorded("pipelines_ui_stream_turn1_outlet.json")
    chars = sum(len(m.get("content") or "") for m in outlet["body"]["messages"])
    return Scenario("short", inlet, outlet, chars)


def long_chat(messages: int = 20, total_chars: int = 8000) -> Scenario:
    """The recorded turn-3 payloads with the history extended to ``messages`` messages of ~``total_chars`` chars.

    Inlet: ``messages - 1`` messages ending with the user's; outlet: the same plus the assistant reply (with usage),
    in the shape Open WebUI 0.12 sends (ids, ``info``, ``timestamp``, ``output``, ``usage`` on the reply).
    """
    inlet = _recorded("pipelines_ui_stream_turn3_inlet.json")
    outlet = _recorded("pipelines_ui_stream_turn3_outlet.json")
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


def noop_provider(exporter: SpanExporter | None = None) -> TracerProvider:
    """A provider whose BatchSpanProcessor (the filter's queue size) feeds ``exporter`` (a new no-op one if None):
    the SDK's span path in full, without network encoding."""
    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(exporter or NoopExporter(), max_queue_size=DEFAULT_MAX_QUEUE_SIZE))
    return provider


def quiet_logging() -> None:
    """Route every log record to a NullHandler: records are still created (same cost on the hot path), but the
    filter's rate-limited warnings and the SDK's export retries do not flood the benchmark's output."""
    root = logging.getLogger()
    if not any(isinstance(h, logging.NullHandler) for h in root.handlers):
        root.addHandler(logging.NullHandler())


# --- child processes --------------------------------------------------------------------------


class Child:
    """``python -m <module>`` from the repo root as a :class:`collector._process.ManagedProcess`; the module prints
    ``ready <port>`` once it listens. Its output goes to a log in a private directory, removed by :meth:`stop`."""

    def __init__(self, module: str, *args: str, timeout: float = 30.0) -> None:
        self._logs = tempfile.TemporaryDirectory(prefix="owui-otel-bench-child-")
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
        self.process = ManagedProcess(
            module,
            [sys.executable, "-m", module, *args],
            env=env,
            log_path=Path(self._logs.name) / f"{module}.log",
            cwd=REPO,
        )
        self.port = 0
        self.process.start()
        try:
            self.process.wait_ready(self._announced, timeout=timeout)
        except ProcessError:
            self.stop()
            raise

    def _announced(self) -> bool:
        """True once the child printed ``ready <port>`` (``port`` is then set)."""
        for line in self.process.log_text().splitlines():
            if line.startswith("ready "):
                self.port = int(line.split()[1])
                return True
        return False

    def cpu_seconds(self) -> float:
        """user+system CPU of the child so far (from /proc; 0.0 where unavailable)."""
        try:
            fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return 0.0
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        """SIGTERM, bounded wait, SIGKILL (see :meth:`ManagedProcess.stop`); then remove the log."""
        self.process.stop()
        self._logs.cleanup()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


class Sink(Child):
    """``benchmarks._sink`` in a child process; ``with Sink() as sink:`` stops it on exit."""

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
        counts: dict[str, int] = {}
        last, last_change = -1, time.monotonic()

        def arrived_or_settled() -> bool:
            nonlocal last, last_change
            counts.update(self.counts())
            if counts["distinct"] >= distinct:
                return True
            if counts["distinct"] != last:
                last, last_change = counts["distinct"], time.monotonic()
                return False
            return time.monotonic() - last_change > settle

        with contextlib.suppress(TimeoutError):
            wait_until(arrived_or_settled, timeout=timeout, interval=0.2)
        return counts


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

# SPDX-License-Identifier: Apache-2.0
"""What reached the Langfuse contract endpoint, counted per chat turn; waits shared by the fault tests.

got = Delivery.of(stack)                        # our turn spans at the endpoint right now
got.distinct, got.duplicates, got.missing(turns)
wait_delivered(stack, turns, timeout=30)        # every turn arrived (at least once)
"""

from __future__ import annotations

import collections
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from collector._process import http_ok, wait_until
from tests.support.spans import OUR_SCOPE
from tests.support.stack import Stack
from tests.support.turns import Turn

MESSAGE_ID = "openwebui.message.id"


def exporter_timeout_overlay(directory: Path, timeout: str) -> Path:
    """A config layered after otel-collector.yaml that shortens the Langfuse exporter's 30 s request timeout.

    The timeout is not an env var in otel-collector.yaml, and a "slower than the timeout" fault must not take 30 s.
    """
    path = directory / f"langfuse-timeout-{timeout}.yaml"
    path.write_text(f"exporters:\n  otlp_http/langfuse:\n    timeout: {timeout}\n", encoding="utf-8")
    return path


@dataclass(frozen=True)
class Delivery:
    """Our turn spans as recorded by the endpoint (at-least-once: a span may arrive more than once)."""

    per_message: collections.Counter[str]
    span_ids: collections.Counter[str]
    spans: list[dict[str, Any]]

    @classmethod
    def of(cls, stack: Stack) -> Delivery:
        spans = [span for span in stack.langfuse_received()["spans"] if span["scope"]["name"] == OUR_SCOPE]
        return cls(
            per_message=collections.Counter(str(span["attributes"].get(MESSAGE_ID)) for span in spans),
            span_ids=collections.Counter(span["span_id"] for span in spans),
            spans=spans,
        )

    @property
    def distinct(self) -> int:
        return len(self.span_ids)

    @property
    def duplicates(self) -> int:
        return sum(count - 1 for count in self.span_ids.values())

    def missing(self, turns: Iterable[Turn]) -> list[str]:
        return [turn.message_id for turn in turns if turn.message_id not in self.per_message]

    def unexpected(self, turns: Iterable[Turn]) -> set[str]:
        return set(self.per_message) - {turn.message_id for turn in turns}


def wait_delivered(stack: Stack, turns: list[Turn], *, timeout: float) -> Delivery:
    """Poll until every turn reached the endpoint; on timeout, return what did (the test asserts and reports)."""
    deadline = time.monotonic() + timeout
    while True:
        got = Delivery.of(stack)
        if not got.missing(turns) or time.monotonic() >= deadline:
            return got
        time.sleep(0.25)


def settle(stack: Stack, *, quiet_s: float = 2.5, timeout: float = 20.0) -> Delivery:
    """Wait until the endpoint received nothing new for ``quiet_s`` (late retries and replays have landed)."""
    deadline = time.monotonic() + timeout
    last = Delivery.of(stack)
    quiet_since = time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.25)
        now = Delivery.of(stack)
        if len(now.spans) != len(last.spans):
            last, quiet_since = now, time.monotonic()
        elif time.monotonic() - quiet_since >= quiet_s:
            break
    return last


def collector_healthy(stack: Stack) -> bool:
    return http_ok(f"http://127.0.0.1:{stack.ports.health}/", timeout=2.0)  # 2 s: the gzip-bomb test loads 2 cores


def collector_log(stack: Stack) -> str:
    """The collector's whole log ("" if it never started)."""
    return stack.collector.log_text() if stack.collector else ""


def wait_persisted(stack: Stack, *, timeout: float = 20.0) -> None:
    """Wait until the collector has accepted spans. The Langfuse pipeline has no in-memory batch processor, so
    the receiver acknowledges a span only once the exporter's disk queue holds it: from then on a SIGKILL
    loses nothing."""
    stack.wait_metric("otelcol_receiver_accepted_spans", 1, timeout=timeout)


def wait_for(predicate: Callable[[], bool], *, timeout: float, what: str, interval: float = 0.1) -> float:
    """:func:`collector._process.wait_until` that returns the seconds it took."""
    start = time.monotonic()
    wait_until(predicate, timeout=timeout, interval=interval, what=what)
    return time.monotonic() - start

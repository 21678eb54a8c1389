# SPDX-License-Identifier: Apache-2.0
"""Langfuse misbehaving (429, 503, slow, down, 500) plus a collector SIGKILL: what is delivered, exactly.

Each scenario drives real chat turns through the real filter into the real collector, with the Langfuse contract
endpoint faulty; the collector is SIGKILLed and restarted in the middle, after the first half of the turns reached
its disk queue. Delivery is at-least-once: span ids are compared as sets, duplicates are counted and reported.

The collector's OTLP/HTTP exporter (v0.161.0) retries 429 (honouring Retry-After), 502, 503, 504, timeouts and
connection errors, and drops everything else as a permanent error. Langfuse answers 500 when its S3 or Redis has
trouble, so a 500 loses the batch: ``test_langfuse_500_drops_the_batch_and_says_so`` pins that down.
"""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.support.delivery import (
    collector_log,
    exporter_timeout_overlay,
    settle,
    wait_delivered,
    wait_for,
    wait_persisted,
)
from tests.support.fixtures import FaultRig
from tests.support.stack import FAST_RETRY, ROOT_CONFIG, Stack
from tests.support.turns import HookStats, stream_turns

pytestmark = [pytest.mark.integration, pytest.mark.faults, pytest.mark.timeout(120)]

HALF = 20
RATE_HZ = 20.0
EXPORTER_TIMEOUT = "2s"


@dataclass(frozen=True)
class Fault:
    name: str
    mode: dict[str, Any] = field(default_factory=dict)  # contract endpoint fault; empty = endpoint stopped
    rejected_status: int | None = None  # status the endpoint answered while faulty
    collector_log: str | None = None  # what the collector's log must show for this fault

    def apply(self, stack: Stack) -> None:
        if self.mode:
            stack.langfuse_mode(**self.mode)
        else:
            stack.stop_langfuse()

    def clear(self, stack: Stack) -> None:
        if self.mode:
            stack.langfuse_mode("ok")
        else:
            stack.start_langfuse()


FAULTS = [
    Fault("429_retry_after", {"mode": "rate_limit", "retry_after": 1}, 429, "Status Code 429"),
    Fault("503_unavailable", {"mode": "unavailable"}, 503, "Status Code 503"),
    Fault("slow_within_timeout", {"mode": "slow", "delay": 1.0}),
    Fault("slow_beyond_timeout", {"mode": "slow", "delay": 3.0}, None, "Client.Timeout exceeded"),
    Fault("down", {}, None, "connection refused"),
]


def _exported(pipeline: Any) -> int:
    return int(pipeline.health.get("spans_exported"))


@pytest.mark.parametrize("fault", FAULTS, ids=[fault.name for fault in FAULTS])
def test_langfuse_fault_and_collector_sigkill_lose_no_turn(
    fault: Fault,
    tmp_path: Path,
    rig: FaultRig,
) -> None:
    overlay = exporter_timeout_overlay(tmp_path, EXPORTER_TIMEOUT)
    stack = rig.stacks(env=FAST_RETRY, configs=[ROOT_CONFIG, overlay])
    pipeline = rig.pipelines(stack.otlp_http_endpoint)
    stats = HookStats()
    started = time.monotonic()

    fault.apply(stack)
    first = asyncio.run(stream_turns(pipeline, rig.turns, stats, count=HALF, rate_hz=RATE_HZ))
    wait_for(lambda: _exported(pipeline) >= HALF, timeout=20, what="first half exported by the filter")
    wait_persisted(stack)
    stack.kill_collector()  # SIGKILL: no flush, no goodbye
    stack.start_collector()  # same disk queue
    second = asyncio.run(stream_turns(pipeline, rig.turns, stats, count=HALF, rate_hz=RATE_HZ))
    wait_for(lambda: _exported(pipeline) >= 2 * HALF, timeout=20, what="second half exported by the filter")
    time.sleep(1.0)  # let the fault meet the replayed queue and the new turns
    if fault.mode:
        rejected = [r for r in stack.langfuse_received()["rejected"] if r["reason"] == "injected"]
    fault.clear(stack)
    cleared = time.monotonic()

    sent = first + second
    got = wait_delivered(stack, sent, timeout=60)
    drained_s = time.monotonic() - cleared
    got = settle(stack)
    counters = pipeline.health.snapshot()
    log = collector_log(stack)
    rig.report(
        f"langfuse-{fault.name}",
        sent=len(sent),
        delivered_distinct=got.distinct,
        duplicates=got.duplicates,
        missing=len(got.missing(sent)),
        injected_rejections=len(rejected) if fault.mode else "n/a",
        filter_export_failed=counters.get("spans_export_failed", 0),
        delivered_after_clear_s=round(drained_s, 1),
        total_s=round(time.monotonic() - started, 1),
        chat_failures=len(stats.failures),
    )

    assert stats.failures == []
    assert got.missing(sent) == [], f"{len(got.missing(sent))} of {len(sent)} turns lost\n{stack.logs()}"
    assert got.unexpected(sent) == set()
    assert counters.get("spans_export_failed", 0) == 0
    if fault.rejected_status is not None:
        assert rejected and {r["status"] for r in rejected} == {fault.rejected_status}
    if fault.collector_log is not None:
        assert fault.collector_log in log, f"the collector log does not show the fault ({fault.collector_log!r})"


def test_langfuse_500_drops_the_batch_and_says_so(
    rig: FaultRig,
) -> None:
    """The truth about 500: the exporter treats it as permanent; the batch is dropped, counted and logged.

    Full delivery is impossible with the stock otlp_http exporter (no setting makes 500 retryable at v0.161.0);
    the 503 scenario above shows that the same outage answered with 503 loses nothing.
    """
    stack = rig.stacks(env=FAST_RETRY)
    pipeline = rig.pipelines(stack.otlp_http_endpoint)
    stats = HookStats()

    stack.langfuse_mode("error", status=500)
    during = asyncio.run(stream_turns(pipeline, rig.turns, stats, count=HALF, rate_hz=RATE_HZ))
    failed_metric = {"exporter": "otlp_http/langfuse"}
    stack.wait_metric("otelcol_exporter_send_failed_spans", HALF, timeout=30, **failed_metric)
    stack.langfuse_mode("ok")
    after = asyncio.run(stream_turns(pipeline, rig.turns, stats, count=HALF, rate_hz=RATE_HZ))
    got = wait_delivered(stack, after, timeout=30)
    got = settle(stack)
    dropped = stack.collector_metric("otelcol_exporter_send_failed_spans", **failed_metric)
    log = collector_log(stack)
    injected = [r for r in stack.langfuse_received()["rejected"] if r["status"] == 500]
    rig.report(
        "langfuse-500",
        sent_during_500=len(during),
        delivered_during_500=len(during) - len(got.missing(during)),
        collector_send_failed_spans=int(dropped),
        rejected_requests=len(injected),
        sent_after=len(after),
        delivered_after=len(after) - len(got.missing(after)),
        chat_failures=len(stats.failures),
    )

    assert stats.failures == []
    assert pipeline.health.get("spans_export_failed") == 0, "the collector accepted every span"
    assert got.missing(during) == [t.message_id for t in during], "a 500 is not retried: that batch never arrives"
    assert dropped == len(during), "every dropped span is counted in the collector's own metrics"
    assert "Status Code 500" in log and "Dropping data" in log, "the drop is logged with its cause"
    assert got.missing(after) == [], "delivery resumes as soon as Langfuse answers 200"
    assert got.duplicates == 0


def test_collector_sigkill_mid_stream_loses_no_acknowledged_turn(
    rig: FaultRig,
) -> None:
    """A crash while turns flow: every span the collector acknowledged (HTTP 200 to the filter) must arrive.

    The SIGKILL lands right after the collector acknowledged an export, as a real crash can. The Langfuse pipeline
    has no in-memory ``batch`` processor in front of the exporter's disk queue (the exporter's own
    ``sending_queue.batch`` batches after it), so "200" means "on disk".
    """
    stack = rig.stacks(env=FAST_RETRY)
    pipeline = rig.pipelines(stack.otlp_http_endpoint)
    stats = HookStats()
    at_kill: dict[str, float] = {}

    def crash() -> None:
        time.sleep(1.5)
        acknowledged = stack.collector_metric("otelcol_receiver_accepted_spans")
        deadline = time.monotonic() + 10
        # Kill right after the collector acknowledged the filter's next export.
        while stack.collector_metric("otelcol_receiver_accepted_spans") <= acknowledged and time.monotonic() < deadline:
            time.sleep(0.02)
        at_kill["accepted"] = stack.collector_metric("otelcol_receiver_accepted_spans")
        stack.kill_collector()
        stack.start_collector()

    crasher = threading.Thread(target=crash, name="crash-collector")
    crasher.start()
    sent = asyncio.run(stream_turns(pipeline, rig.turns, stats, duration_s=4.0, rate_hz=RATE_HZ))
    crasher.join(timeout=60)
    health = pipeline.health
    wait_for(
        lambda: health.get("spans_exported") + health.get("spans_export_failed") >= len(sent),
        timeout=30,
        what="filter queue drained",
    )
    got = settle(stack, quiet_s=3.0)
    exported = health.get("spans_exported")
    failed = health.get("spans_export_failed")
    acknowledged_lost = exported - (len(sent) - len(got.missing(sent)))
    rig.report(
        "collector-sigkill-mid-stream",
        sent=len(sent),
        filter_exported=exported,
        filter_export_failed=failed,
        delivered_distinct=got.distinct,
        duplicates=got.duplicates,
        accepted_before_kill=int(at_kill.get("accepted", -1)),
        acknowledged_but_lost=acknowledged_lost,
        chat_failures=len(stats.failures),
    )

    assert stats.failures == []
    assert at_kill, "the collector was not killed mid-stream"
    assert failed == 0, "the collector was back within the filter's retry window"
    assert acknowledged_lost == 0, (
        f"{acknowledged_lost} spans were acknowledged by the collector and then lost in the crash "
        "(in-memory batch processor in front of the disk queue)"
    )
    assert got.missing(sent) == []

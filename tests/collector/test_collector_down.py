# SPDX-License-Identifier: Apache-2.0
"""Collector down for a while during a stream of chat turns: chats never notice, losses are counted, flow resumes.

The real filter (``Pipeline`` with its OTLP/HTTP exporter) sends turns to the real collector, which forwards them
to the Langfuse contract endpoint. The collector is stopped for ``DOWN_S`` seconds while turns keep coming.

What is lost and why: the filter's BatchSpanProcessor keeps spans in memory (queue of 8192) while its exporter
retries one batch (backoff 1 s, 2 s, 4 s, then gives up: the SDK's 10 s export deadline). A batch whose retries run
out while the collector is down is dropped and counted as ``spans_export_failed``; spans queued behind it wait and
go out once the collector is back. So the loss is about one batch, the turns of the first moments of the outage.
"""

from __future__ import annotations

import asyncio
import logging
import time

import pytest

from tests.support.delivery import Delivery, settle, wait_delivered, wait_for
from tests.support.fixtures import FaultRig
from tests.support.stack import FAST_RETRY
from tests.support.turns import HookStats, stream_turns

pytestmark = [pytest.mark.integration, pytest.mark.faults, pytest.mark.timeout(150)]

RATE_HZ = 20.0
BEFORE_S = 1.5
DOWN_S = 8.0
AFTER_S = 3.0
RECOVERY_LIMIT_S = 10.0
MAX_HOOK_LATENCY_S = 0.25


def test_collector_down_during_turn_stream_breaks_no_chat_and_counts_every_lost_span(
    caplog: pytest.LogCaptureFixture,
    rig: FaultRig,
) -> None:
    caplog.set_level(logging.WARNING, logger="otel_filter")
    stack = rig.stacks(env=FAST_RETRY)
    pipeline = rig.pipelines(stack.otlp_http_endpoint)
    health = pipeline.health  # type: ignore[attr-defined]
    stats = HookStats()

    before = asyncio.run(stream_turns(pipeline, rig.turns, stats, duration_s=BEFORE_S, rate_hz=RATE_HZ))
    got = wait_delivered(stack, before, timeout=30)
    assert not got.missing(before), f"baseline: {len(got.missing(before))} turns missing\n{stack.logs()}"

    assert stack.collector is not None
    stack.collector.stop()  # SIGTERM: a planned restart or an outage
    down_at = time.monotonic()
    during = asyncio.run(stream_turns(pipeline, rig.turns, stats, duration_s=DOWN_S, rate_hz=RATE_HZ))
    restart_at = time.monotonic()
    stack.start_collector()
    up_at = time.monotonic()

    # Recovery: how long until a turn sent right after the collector is back reaches Langfuse.
    probe = asyncio.run(stream_turns(pipeline, rig.turns, stats, count=1, rate_hz=RATE_HZ))
    recovery_s = wait_for(
        lambda: not Delivery.of(stack).missing(probe), timeout=RECOVERY_LIMIT_S + 20, what="first turn after recovery"
    )
    after = probe + asyncio.run(stream_turns(pipeline, rig.turns, stats, duration_s=AFTER_S, rate_hz=RATE_HZ))
    got = wait_delivered(stack, after, timeout=30)
    assert not got.missing(after), f"{len(got.missing(after))} post-recovery turns missing\n{stack.logs()}"
    got = settle(stack)

    counters = health.snapshot()
    sent = len(before) + len(during) + len(after)
    exported = counters.get("spans_exported", 0)
    failed = counters.get("spans_export_failed", 0)
    dropped = counters.get("spans_dropped_queue_full", 0)
    lost = [turn.message_id for turn in (*before, *during, *after) if turn.message_id not in got.per_message]
    during_delivered = len(during) - len(got.missing(during))
    rig.report(
        "collector-down",
        down_s=round(up_at - down_at, 1),
        restart_s=round(up_at - restart_at, 1),
        sent=sent,
        sent_while_down=len(during),
        delivered_distinct=got.distinct,
        delivered_while_down=during_delivered,
        duplicates=got.duplicates,
        filter_exported=exported,
        filter_export_failed=failed,
        filter_dropped_queue_full=dropped,
        recovery_s=round(recovery_s, 1),
        hook_calls=stats.calls,
        chat_failures=len(stats.failures),
        max_hook_ms=round(stats.max_latency_s * 1000, 1),
    )

    # Chats: every hook returned its body at once, whatever the collector did.
    assert stats.failures == []
    assert stats.calls == 2 * sent
    assert stats.max_latency_s < MAX_HOOK_LATENCY_S, "a hook waited for the network"
    # Flow resumes within seconds of the collector being back.
    assert recovery_s <= RECOVERY_LIMIT_S
    # Every span is accounted for by the filter: exported or counted as failed (nothing silently vanished), and
    # the collector delivered exactly what it acknowledged (its graceful stop flushes into the disk queue).
    assert exported + failed == sent, counters
    assert got.distinct == exported, f"collector acknowledged {exported}, Langfuse got {got.distinct}"
    assert len(lost) == failed
    assert got.unexpected((*before, *during, *after)) == set()
    # Losses only come from the outage, and are reported to the operator.
    assert set(lost) <= {turn.message_id for turn in during}
    if failed:
        assert any("could not export" in record.getMessage() for record in caplog.records), "loss not logged"
    assert dropped == 0, "at 20 turns/s the 8192-span queue must not overflow"

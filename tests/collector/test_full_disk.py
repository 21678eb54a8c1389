# SPDX-License-Identifier: Apache-2.0
"""The persistent queue's disk fills up: a clear error, no crash, chats unaffected, recovery once space is back.

The queue directory (``OTELCOL_QUEUE_DIR``) is a small tmpfs (or loop-mounted ext4) that the test fills. Langfuse
is down, so everything the collector accepts has to be kept in that queue until the disk is full.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from collector._process import ProcessError
from tests.support.delivery import Delivery, collector_healthy, collector_log, settle, wait_delivered, wait_for
from tests.support.fixtures import FaultRig
from tests.support.spans import send_spans_impl
from tests.support.stack import FAST_RETRY
from tests.support.turns import HookStats, stream_turns

from .smallfs import ENOSPC, MountNotPermitted, SmallFs, small_filesystem

pytestmark = [pytest.mark.integration, pytest.mark.faults, pytest.mark.timeout(150)]

QUEUE_FILE = "exporter_otlp_http_langfuse_traces"
LANGFUSE = {"exporter": "otlp_http/langfuse"}
BIG_MESSAGE = "The quarterly numbers, line by line. " * 250  # ~9 KB of prompt per turn


@pytest.fixture
def queue_disk(tmp_path: Path) -> Iterator[SmallFs]:
    """A 2 MiB filesystem for the queue. Tests stop their collector before this unmounts it."""
    try:
        with small_filesystem(tmp_path / "queue", size_kib=2048) as disk:
            yield disk
    except MountNotPermitted as exc:
        pytest.skip(f"a full disk needs a small mounted filesystem: {exc}")


def test_queue_disk_full_while_running_rejects_clearly_stays_up_and_recovers(
    queue_disk: SmallFs,
    rig: FaultRig,
) -> None:
    stack = rig.stacks(env={**FAST_RETRY, "OTELCOL_QUEUE_DIR": str(queue_disk.path)}, langfuse=False)
    pipeline = rig.pipelines(stack.otlp_http_endpoint)
    stats = HookStats()
    try:
        queue_disk.fill(leave_kib=384)
        sent: list[Any] = []
        deadline = time.monotonic() + 60
        while stack.collector_metric("otelcol_exporter_enqueue_failed_spans", **LANGFUSE) == 0:
            assert time.monotonic() < deadline, f"the queue never hit the full disk\n{stack.logs()}"
            sent += asyncio.run(stream_turns(pipeline, rig.turns, stats, count=10, rate_hz=50, content=BIG_MESSAGE))
            time.sleep(0.5)
        # No batch processor in front of the disk queue: a failed enqueue reaches the receiver, which answers the
        # filter 503; the filter retries, then counts the spans as failed. Every span ends up on one side.
        health = pipeline.health
        wait_for(
            lambda: health.get("spans_exported") + health.get("spans_export_failed") >= len(sent),
            timeout=60,
            what="filter settled every export",
        )
        rejected = int(stack.collector_metric("otelcol_exporter_enqueue_failed_spans", **LANGFUSE))
        exported = health.get("spans_exported")
        export_failed = health.get("spans_export_failed")
        log = collector_log(stack)

        assert stack.collector is not None and stack.collector.running(), "the collector crashed on a full disk"
        assert collector_healthy(stack)
        assert f"{queue_disk.path}/{QUEUE_FILE}: {ENOSPC}" in log, "the error names the queue file and the cause"
        assert "Exporting failed. Rejecting data." in log

        # A supervisor restart while the disk is still full: the collector comes back and stays up.
        stack.collector.stop()
        stack.start_collector()
        time.sleep(2.0)
        assert stack.collector.running() and collector_healthy(stack), f"restart on a full disk failed\n{stack.logs()}"

        # Space and Langfuse come back: what the queue held is delivered, new turns flow.
        queue_disk.free()
        stack.start_langfuse()
        after = asyncio.run(stream_turns(pipeline, rig.turns, stats, count=10, rate_hz=20))
        wait_delivered(stack, after, timeout=30)
        persisted = exported  # the collector acknowledged these only once they were on disk
        try:
            wait_for(lambda: Delivery.of(stack).distinct >= persisted + len(after), timeout=30, what="queue drained")
        except TimeoutError:
            pass  # upstream may have dropped queued items silently: measured and reported below
        got = settle(stack)
        delivered_before = len(sent) - len(got.missing(sent))
        rig.report(
            "full-disk-running",
            fs=queue_disk.kind,
            sent_while_filling=len(sent),
            filter_exported=exported,
            filter_export_failed=export_failed,
            collector_rejected_disk_full=rejected,
            persisted=persisted,
            delivered_of_persisted=delivered_before,
            silently_lost=persisted - delivered_before,
            sent_after_recovery=len(after),
            delivered_after_recovery=len(after) - len(got.missing(after)),
            duplicates=got.duplicates,
            chat_failures=len(stats.failures),
        )
        assert stats.failures == []
        assert rejected > 0
        assert export_failed > 0, "the collector's refusal reaches the filter, which counts it (not silent)"
        assert exported + export_failed == len(sent), "every span is either on disk or counted as failed"
        assert got.unexpected([*sent, *after]) == set()
        # Not asserted equal: the upstream persistent queue drops an item whose read fails on a full disk and logs
        # that only at debug ("Failed to dispatch item", exporterhelper v0.161.0 persistent_queue.go getNextItem),
        # so requests already queued may vanish while the disk is full. ``silently_lost`` above shows how many.
        assert delivered_before <= persisted
        assert got.missing(after) == [], "once space is back, new turns flow"
    finally:
        asyncio.run(pipeline.on_shutdown())
        stack.stop()  # before the fixture unmounts the queue


def test_collector_start_on_full_queue_disk_fails_fast_with_a_clear_error_then_starts_once_space_is_back(
    queue_disk: SmallFs,
    rig: FaultRig,
) -> None:
    """Truth at v0.161.0: with no space for the queue file the collector refuses to start (exit 1).

    Under a restart policy that is a crash loop until space is freed; the error says exactly what is wrong.
    """
    stack = rig.stacks(env={**FAST_RETRY, "OTELCOL_QUEUE_DIR": str(queue_disk.path)}, start=False)
    try:
        queue_disk.fill_completely()
        stack.start_langfuse()
        began = time.monotonic()
        with pytest.raises(ProcessError, match="exited with code 1"):
            stack.start_collector()
        failed_after_s = time.monotonic() - began
        assert stack.collector is not None
        stack.collector.stop()  # reap it and close its log handle (ManagedProcess keeps it open after an early exit)
        log = collector_log(stack)
        assert (
            f'cannot start pipelines: failed to start "otlp_http/langfuse" exporter: '
            f"write {queue_disk.path}/{QUEUE_FILE}: {ENOSPC}"
        ) in log

        queue_disk.free()
        stack.start_collector()  # no cleanup needed: it starts as soon as there is space
        one = send_spans_impl(stack.otlp_http_traces_url, count=3)
        stack.wait_for_langfuse_spans(3, timeout=30)
        got = Delivery.of(stack)
        rig.report(
            "full-disk-at-start",
            fs=queue_disk.kind,
            exit_code=1,
            collector_exited_after_s=round(failed_after_s, 1),
            delivered_after_free=got.distinct,
        )
        assert set(got.span_ids) == {span.span_id for span in one}
    finally:
        stack.stop()

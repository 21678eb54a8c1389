# SPDX-License-Identifier: Apache-2.0
"""Smoke test: ``benchmarks/run.py --quick`` runs every section and reports every figure, losing no span.

Asserts behaviour only (the run completes, the JSON line is complete, nothing is lost), never timings: the
figures themselves are for BENCHMARKS.md, measured on a quiet machine. Needs the collector binary (``make build``).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

RUN = Path(__file__).resolve().parent / "run.py"
REQUIRED = (
    "overhead_vs_floor",
    "overhead_vs_langfuse_sdk",
    "isolation_p99_ratio",
    "turns_per_s",
    "lost",
    "bytes_per_open_turn",
    "rss_growth_pct",
    "server_rps_ratio",
)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]


@pytest.fixture(scope="module")
def summary() -> dict[str, object]:
    completed = subprocess.run(
        [sys.executable, str(RUN), "--quick"], capture_output=True, text=True, timeout=170, check=False
    )
    assert completed.returncode == 0, completed.stderr[-4000:]
    last = completed.stdout.strip().splitlines()[-1]
    result: dict[str, object] = json.loads(last)
    return result


def test_quick_run_reports_every_required_figure(summary: dict[str, object]) -> None:
    missing = [key for key in REQUIRED if summary.get(key) is None]
    assert not missing, f"figures missing from the JSON line: {missing}"
    assert all(isinstance(summary[key], int | float) for key in REQUIRED)


def test_quick_run_loses_no_span_end_to_end(summary: dict[str, object]) -> None:
    assert summary["lost"] == 0  # filter -> collector -> sink
    assert summary["server_spans_lost"] == 0  # bridge server -> sink
    assert summary["sink_received_spans"] == summary["sink_expected_spans"]  # overhead contenders -> sink


def test_quick_run_exercised_the_filter(summary: dict[str, object]) -> None:
    assert summary["rss_spans_exported"] == summary["rss_turns"]  # one span per turn, none dropped
    assert summary["server_filter_errors"] == 0
    assert summary["server_noop_errors"] == 0


def test_quick_run_measured_the_metrics_cost_and_counted_every_turn(summary: dict[str, object]) -> None:
    assert summary["metrics_lost"] == 0  # both collectors delivered every span to the sink
    assert summary["metrics_turns_in_prometheus"] == summary["metrics_turns_sent_with_metrics_on"]
    for key in ("metrics_on_cores_per_1000_tps", "metrics_off_cores_per_1000_tps", "metrics_on_rss_mib"):
        assert isinstance(summary[key], int | float) and summary[key] > 0, key
    assert isinstance(summary["metrics_users_run_dropped_at_bound"], int | float)

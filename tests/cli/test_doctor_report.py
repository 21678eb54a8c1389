# SPDX-License-Identifier: Apache-2.0
"""The doctor's report in words and in JSON: the message voice, the "N problems" last line, the exit rule; and the
readers of the running stack (the collector's log, its exporter metrics, its Langfuse credentials)."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from owui_otel._doctor import FAIL, OK, SKIP, WARN, Check, DoctorInputs, Report, check_langfuse, render, to_json
from owui_otel._doctor_running import exporter_retries, exporter_stats, langfuse_keys_from_auth
from tests.support.snapshots import SNAPSHOTS, assert_snapshot

pytestmark = pytest.mark.unit

BROKEN = Report(
    checks=[
        Check("collector", OK, "healthy (http://127.0.0.1:13133)"),
        Check("Langfuse", SKIP, "LANGFUSE_HOST is not set: traces do not go to Langfuse (the other backends get them)"),
        Check(
            "LANGFUSE_HOST",
            FAIL,
            "https://cloud.langfuse.com/api/public/otel includes an API path (/api/public/otel)",
            "set it to the base URL only",
            "no span reaches Langfuse",
        ),
        Check("token usage", WARN, "1 of 2 recent streamed turns carry no token usage.", "enable Usage", "no cost."),
    ],
    logs="/home/me/.local/state/owui-otel/stack/logs",
)


def test_problem_lines_speak_in_one_voice_and_the_last_line_counts_them() -> None:
    text = render(BROKEN)
    assert (
        "[FAIL] LANGFUSE_HOST: https://cloud.langfuse.com/api/public/otel includes an API path (/api/public/otel). "
        "Fix: set it to the base URL only. Until then: no span reaches Langfuse." in text
    )
    assert (
        "[warn] token usage: 1 of 2 recent streamed turns carry no token usage. Fix: enable Usage. Until then: no cost."
        in text
    )
    assert "[  ok] collector: healthy (http://127.0.0.1:13133)" in text
    assert "Logs: /home/me/.local/state/owui-otel/stack/logs" in text
    assert text.splitlines()[-1] == "2 problems (1 failed, 1 warned): each line above says its fix"
    assert_snapshot(SNAPSHOTS / "doctor", "render_broken", text)


def test_a_single_warning_is_one_problem_never_a_success_line() -> None:
    report = Report([Check("x", OK, "fine"), Check("y", WARN, "odd", "do z", "nothing lost")])
    assert render(report).splitlines()[-1] == "1 problem (0 failed, 1 warned): each line above says its fix"
    assert report.problems == 1


def test_a_healthy_report_names_where_the_synthetic_turn_arrived() -> None:
    found = {"chat_id": "owui-otel-doctor-1", "trace_id": "ab" * 16, "path": "bridge", "found_in": ["Jaeger"]}
    report = Report([Check("synthetic turn", OK, "found", data={**found, "missing_in": []})])
    assert render(report).splitlines()[-1] == "no problems: the synthetic turn reached Jaeger"
    assert render(Report([Check("x", OK, "fine")])).splitlines()[-1] == "no problems in the links checked"


def test_json_is_the_documented_document() -> None:
    document = json.loads(to_json(BROKEN))
    assert document["version"] == 1 and document["ok"] is False
    assert (document["problems"], document["failed"], document["warned"]) == (2, 1, 1)
    assert document["logs"] == BROKEN.logs and document["synthetic_turn"] is None
    assert document["checks"][2] == {
        "link": "LANGFUSE_HOST",
        "status": "FAIL",
        "says": "https://cloud.langfuse.com/api/public/otel includes an API path (/api/public/otel)",
        "fix": "set it to the base URL only",
        "until": "no span reaches Langfuse",
    }
    assert document["verdict"] == render(BROKEN).splitlines()[-1]


COLLECTOR_LOG = (
    '2026-12-06T13:07:30.516Z\tinfo\tservice@v0.161.0/service.go:294\tStarting shutdown...\t{"resource": {}}\n'
    "2026-12-06T13:08:01.002Z\tinfo\tinternal/retry_sender.go:133\tExporting failed. Will retry the request after "
    'interval.\t{"otelcol.component.id": "otlp_http/langfuse", "error": "failed to make an HTTP request: Post '
    '\\"http://127.0.0.1:1/api/public/otel/v1/traces\\": dial tcp 127.0.0.1:1: connect: connection refused", '
    '"interval": "5.1s"}\n'
    "2026-12-06T13:08:06.210Z\tinfo\tinternal/retry_sender.go:133\tExporting failed. Will retry the request after "
    'interval.\t{"otelcol.component.id": "otlp_http/langfuse", "error": "Permanent? no: 503", "interval": "9s"}\n'
    "not a log line\n"
)


def test_retries_are_read_from_the_collectors_log(tmp_path: Path) -> None:
    log = tmp_path / "collector.log"
    log.write_text(COLLECTOR_LOG)
    retries = exporter_retries(log)
    assert list(retries) == ["otlp_http/langfuse"]
    assert retries["otlp_http/langfuse"].count == 2
    assert retries["otlp_http/langfuse"].last_error == "Permanent? no: 503"
    assert retries["otlp_http/langfuse"].last_at == "2026-12-06T13:08:06.210Z"
    assert exporter_retries(tmp_path / "missing.log") == {}


def test_exporter_metrics_are_summed_per_exporter() -> None:
    text = (
        "# TYPE otelcol_exporter_queue_size gauge\n"
        'otelcol_exporter_queue_size{data_type="traces",exporter="otlp_http/langfuse"} 3\n'
        "# TYPE otelcol_exporter_send_failed_spans counter\n"
        'otelcol_exporter_send_failed_spans_total{exporter="otlp_http/langfuse",x="1"} 2\n'
        'otelcol_exporter_send_failed_spans_total{exporter="otlp_http/langfuse",x="2"} 5\n'
        "# TYPE otelcol_exporter_sent_spans counter\n"
        'otelcol_exporter_sent_spans_total{exporter="otlp_grpc/jaeger"} 9\n'
    )
    stats = exporter_stats(text)
    assert stats["otlp_http/langfuse"].queue_size == 3 and stats["otlp_http/langfuse"].send_failed == 7
    assert stats["otlp_grpc/jaeger"].sent == 9


def test_the_collectors_langfuse_credentials_read_back_as_the_key_pair() -> None:
    auth = base64.b64encode(b"pk-lf-1:sk-lf-2").decode()
    assert langfuse_keys_from_auth(auth) == ("pk-lf-1", "sk-lf-2")
    assert langfuse_keys_from_auth("not base64!") == ("", "")


def test_langfuse_set_in_the_shell_but_not_in_the_running_stack_is_a_problem() -> None:
    inputs = DoctorInputs(
        langfuse_source="the running collector", filter_environ={"LANGFUSE_HOST": "https://x.example"}
    )
    (check,) = check_langfuse(inputs)
    assert (check.link, check.status) == ("LANGFUSE_HOST", WARN)
    assert "the running collector was started without Langfuse" in check.says
    assert (
        "owui-otel down && .venv/bin/owui-otel up" in check.fix
        and check.until == "traces do not go to Langfuse (the other backends get them)"
    )
    # Without a running stack the shell is all there is: no Langfuse is simply not checked.
    (skipped,) = check_langfuse(DoctorInputs(filter_environ={"LANGFUSE_HOST": "https://x.example"}))
    assert skipped.status == SKIP

# SPDX-License-Identifier: Apache-2.0
"""``owui-otel doctor``: prove the whole chain works, or say in plain words what to fix.

It reads the running ``owui-otel up`` stack's own settings (what its collector and bridge run with, from
``/proc``) and the collector's delivery metrics, checks each link in the order data flows (supervisor, bridge,
the filter's settings, collector, Langfuse, Jaeger, Open WebUI's connections and Functions), then sends a
synthetic turn the way the admin configured it and looks for it in every enabled backend. Every problem line says
the setting, what is wrong, the fix and what happens meanwhile; the last line counts the problems. A check whose
inputs are not given is skipped, not failed. Secrets are never printed.

    report = run_checks(DoctorInputs(collector_health="http://127.0.0.1:13133", ...))
    print(render(report)); exit(1 if report.problems else 0)

Each check lives in its own module (``owui_otel._doctor_*``) and is registered in :data:`CHECKS`.
"""

from __future__ import annotations

from collections.abc import Callable

from owui_otel._doctor_base import FAIL, OK, SKIP, WARN, Check, DoctorInputs, Report
from owui_otel._doctor_chain import check_synthetic_turn
from owui_otel._doctor_feedback import check_feedback_delivery
from owui_otel._doctor_langfuse import check_direct_langfuse, check_langfuse
from owui_otel._doctor_links import check_bridge, check_collector, check_supervisor, check_usage, price_checks
from owui_otel._doctor_metrics import check_metrics
from owui_otel._doctor_openwebui import check_duplicate_turns, check_openwebui
from owui_otel._doctor_report import render, to_json
from owui_otel._doctor_settings import check_filter_settings

__all__ = [
    "CHECKS",
    "FAIL",
    "OK",
    "SKIP",
    "WARN",
    "Check",
    "DoctorInputs",
    "Report",
    "check_bridge",
    "check_collector",
    "check_direct_langfuse",
    "check_duplicate_turns",
    "check_feedback_delivery",
    "check_filter_settings",
    "check_langfuse",
    "check_metrics",
    "check_openwebui",
    "check_supervisor",
    "check_synthetic_turn",
    "check_usage",
    "price_checks",
    "render",
    "run_checks",
    "to_json",
]

CHECKS: list[Callable[[DoctorInputs], list[Check]]] = [
    check_supervisor,
    check_bridge,
    check_filter_settings,
    check_direct_langfuse,
    check_collector,
    check_langfuse,
    check_usage,
    check_metrics,
    check_duplicate_turns,
    check_openwebui,
    check_feedback_delivery,
    check_synthetic_turn,
]


def run_checks(inputs: DoctorInputs) -> Report:
    report = Report(logs=inputs.logs)
    for check in CHECKS:
        report.checks.extend(check(inputs))
    return report

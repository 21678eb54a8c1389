# SPDX-License-Identifier: Apache-2.0
"""``owui-otel doctor``: did ratings fail to reach Langfuse? Read from the Event function's delivery reports.

The Event function sends scores straight to Langfuse. When that fails, it reports it as
``openwebui.feedback.delivery`` spans (:mod:`otel_filter.feedback_delivery`) through the collector to Jaeger,
which works while Langfuse is down. This check reads the reports of the last :data:`LOOKBACK_S` seconds::

    checks = check_feedback_delivery(DoctorInputs(jaeger_url="http://127.0.0.1:16686"))
    # [Check("rating delivery", FAIL, "3 rating(s) (5 score request(s)) could not be delivered to Langfuse since ...")]
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from otel_filter.feedback_delivery import DELIVERY_TARGET_LANGFUSE
from otel_filter.semconv import (
    OPENWEBUI_FEEDBACK_DELIVERY,
    OPENWEBUI_FEEDBACK_DELIVERY_DROPPED,
    OPENWEBUI_FEEDBACK_DELIVERY_DROPPED_RATINGS,
    OPENWEBUI_FEEDBACK_DELIVERY_LAST_ERROR,
    OPENWEBUI_FEEDBACK_DELIVERY_PENDING,
    OPENWEBUI_FEEDBACK_DELIVERY_REJECTED,
    OPENWEBUI_FEEDBACK_DELIVERY_RETRIED,
    OPENWEBUI_FEEDBACK_DELIVERY_SYNCED,
    OPENWEBUI_FEEDBACK_DELIVERY_TARGET,
)
from owui_otel._doctor_base import FAIL, OK, SKIP, WARN, Check, DoctorInputs
from owui_otel._errors import OwuiOtelError
from owui_otel._jaeger_query import search_traces, span_tags

LINK = "rating delivery"
LOOKBACK_S = 24 * 3600
"""How far back doctor reads delivery reports (Jaeger's local store is in memory: at most since `up`)."""
REPORTS_READ = 1000
"""At most this many reports are read (one a minute at most per Open WebUI process: 16 hours of outage)."""
SYNC_COMMAND = ".venv/bin/owui-otel feedback sync --openwebui-url {url} --token $OWUI_TOKEN"
"""The backstop, as pasted from the repository (the admin's token in ``$OWUI_TOKEN``)."""


@dataclass(frozen=True)
class _Report:
    started_s: float
    ended_s: float
    tags: Mapping[str, Any]

    def count(self, name: str) -> int:
        value = self.tags.get(name, 0)
        return value if isinstance(value, int) else 0


def _reports(inputs: DoctorInputs) -> list[_Report]:
    traces = search_traces(
        inputs.jaeger_url,
        service=inputs.service_name,
        tags={OPENWEBUI_FEEDBACK_DELIVERY_TARGET: DELIVERY_TARGET_LANGFUSE},
        lookback_s=LOOKBACK_S,
        limit=REPORTS_READ,
        timeout_s=5.0,
    )
    reports = [
        _Report(
            int(span.get("startTime", 0)) / 1e6,
            (int(span.get("startTime", 0)) + int(span.get("duration", 0))) / 1e6,
            span_tags(span),
        )
        for trace in traces
        for span in trace.get("spans") or []
        if span.get("operationName") == OPENWEBUI_FEEDBACK_DELIVERY
    ]
    return sorted(reports, key=lambda report: report.started_s)


def _when(epoch_s: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(epoch_s))


def _setting_to_fix(last_error: str) -> str:
    """Which setting the last error points at, for the Fix line."""
    if "HTTP 401" in last_error or "HTTP 403" in last_error:
        return (
            "the Event function's valves langfuse_public_key / langfuse_secret_key (or LANGFUSE_PUBLIC_KEY / "
            "LANGFUSE_SECRET_KEY where Open WebUI runs): use the keys of the Langfuse project"
        )
    return (
        "the Event function's valve langfuse_host (or LANGFUSE_HOST where Open WebUI runs): make that Langfuse "
        "reachable from Open WebUI's host"
    )


def check_feedback_delivery(inputs: DoctorInputs) -> list[Check]:
    """Ratings the Event function could not deliver to Langfuse, and whether delivery is failing now."""
    if not inputs.jaeger_url:
        return [Check(LINK, SKIP, "no Jaeger URL to read the Event function's delivery reports from")]
    try:
        reports = _reports(inputs)
    except OwuiOtelError:
        return [Check(LINK, SKIP, f"Jaeger at {inputs.jaeger_url} did not answer the search")]
    syncs = [report for report in reports if OPENWEBUI_FEEDBACK_DELIVERY_SYNCED in report.tags]
    synced_from = syncs[-1].started_s if syncs else None  # a complete `feedback sync` resent what was dropped before
    reports = [
        report for report in reports if report not in syncs and (synced_from is None or report.ended_s > synced_from)
    ]
    if not reports:
        since = f"since `feedback sync` ran at {_when(synced_from)}" if synced_from else "in the last 24 hours"
        return [Check(LINK, OK, f"no rating failed to reach Langfuse {since} (no failure reported to Jaeger)")]
    dropped = [report for report in reports if report.count(OPENWEBUI_FEEDBACK_DELIVERY_DROPPED)]
    rejected = sum(report.count(OPENWEBUI_FEEDBACK_DELIVERY_REJECTED) for report in reports)
    latest = reports[-1]
    errors = [str(report.tags.get(OPENWEBUI_FEEDBACK_DELIVERY_LAST_ERROR, "")) for report in reports]
    last_error = next((error for error in reversed(errors) if error), "none recorded")
    failing_now = latest.count(OPENWEBUI_FEEDBACK_DELIVERY_PENDING) > 0 and bool(
        latest.count(OPENWEBUI_FEEDBACK_DELIVERY_RETRIED) or latest.count(OPENWEBUI_FEEDBACK_DELIVERY_DROPPED)
    )
    sync = SYNC_COMMAND.format(url=inputs.openwebui_url.rstrip("/") or "http://localhost:3000")
    checks: list[Check] = []
    if dropped:
        ratings = sum(report.count(OPENWEBUI_FEEDBACK_DELIVERY_DROPPED_RATINGS) for report in dropped)
        requests = sum(report.count(OPENWEBUI_FEEDBACK_DELIVERY_DROPPED) for report in dropped)
        checks.append(
            Check(
                LINK,
                FAIL,
                f"{ratings} rating(s) ({requests} score(s) or score deletion(s)) could not be delivered to Langfuse "
                f"since {_when(dropped[0].started_s)} (last error: {last_error})",
                f"{_setting_to_fix(last_error)}; then `{sync}` sends what Langfuse lacks (the sync is the "
                "backstop: score ids make a resend an overwrite). Until then: the ratings are kept in Open WebUI "
                "only, and nothing else retries them.",
            )
        )
    elif failing_now:
        checks.append(
            Check(
                LINK,
                FAIL,
                f"Langfuse is not taking scores since {_when(latest.started_s)}: "
                f"{latest.count(OPENWEBUI_FEEDBACK_DELIVERY_PENDING)} request(s) waiting for a retry "
                f"(last error: {last_error})",
                f"{_setting_to_fix(last_error)}. Until then: the Event function retries each request for about a "
                f"minute, then drops it; `{sync}` sends what was dropped.",
            )
        )
    else:
        retried = sum(report.count(OPENWEBUI_FEEDBACK_DELIVERY_RETRIED) for report in reports)
        if retried:
            checks.append(
                Check(
                    LINK,
                    OK,
                    f"every rating reached Langfuse; {retried} attempt(s) failed and were retried since "
                    f"{_when(reports[0].started_s)} (last error: {last_error})",
                )
            )
    if rejected:
        checks.append(
            Check(
                LINK,
                WARN,
                f"Langfuse refused {rejected} score(s) as invalid in the last 24 hours (last error: {last_error})",
                "read the Event function's log in Open WebUI's log for the refused score ids (a refused score is "
                "not retried). Until then: those ratings are missing from Langfuse.",
            )
        )
    return checks or [Check(LINK, OK, "no rating failed to reach Langfuse in the last 24 hours")]

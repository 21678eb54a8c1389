# SPDX-License-Identifier: Apache-2.0
"""``owui-otel doctor``'s metrics link: collector -> Prometheus (the usage metrics derived from the turn spans).

Three things, each from the running processes, not from this shell: Prometheus answers; the collector delivered
its metric points to it (its own counters ``otelcol_exporter_sent/send_failed_metric_points`` for
``otlp_http/prometheus``); the per-user series stayed under their bound (``otelcol_deltatocumulative_datapoints``
with ``error="limit"``). Then the proof: Prometheus holds turns (``openwebui_turns_total``).

    checks = check_metrics(inputs)      # inputs.prometheus_url from the `up` stack; [] when there is none
"""

from __future__ import annotations

import httpx

from collector import METRICS_EXPORTER as EXPORTER
from collector import metric_samples
from owui_otel._command import command
from owui_otel._doctor_base import FAIL, OK, WARN, Check, DoctorInputs

__all__ = ["check_metrics"]

LINK = "metrics (Prometheus)"
_TIMEOUT = httpx.Timeout(5.0, connect=3.0)
_BOUND = "OWUI_OTEL_METRICS_MAX_USER_SERIES"


def _collector_counts(metrics_url: str) -> dict[str, float] | None:
    """The collector's own counters this check reads (None when its metrics cannot be read)."""
    try:
        text = httpx.get(metrics_url, timeout=_TIMEOUT).text

        def total(name: str, label: str, value: str) -> float:
            return sum(found for labels, found in metric_samples(text, [name]) if labels.get(label) == value)

        return {
            "sent": total("otelcol_exporter_sent_metric_points", "exporter", EXPORTER),
            "failed": total("otelcol_exporter_send_failed_metric_points", "exporter", EXPORTER),
            "limited": total("otelcol_deltatocumulative_datapoints", "error", "limit"),
        }
    except (httpx.HTTPError, ValueError):
        return None


def _turns_stored(prometheus_url: str) -> float:
    answer = httpx.get(
        f"{prometheus_url}/api/v1/query",
        params={"query": "sum(last_over_time(openwebui_turns_total[30d]))"},
        timeout=_TIMEOUT,
    )
    answer.raise_for_status()
    result = answer.json()["data"]["result"]
    return float(result[0]["value"][1]) if result else 0.0


def check_metrics(inputs: DoctorInputs) -> list[Check]:
    """The metrics link's checks; none when no Prometheus is known (``inputs.prometheus_url`` empty)."""
    url = inputs.prometheus_url
    if not url:
        return []
    logs = inputs.logs or "the stack's logs folder"
    try:
        httpx.get(f"{url}/-/ready", timeout=_TIMEOUT).raise_for_status()
    except httpx.HTTPError as error:
        return [
            Check(
                LINK,
                FAIL,
                f"Prometheus at {url} does not answer ({type(error).__name__})",
                f"restart the stack: {command('down', '&&', 'up')}; Prometheus' log: {logs}/prometheus.log",
                "the collector retries the usage metrics for 5 minutes, then drops them (traces are not affected)",
            )
        ]
    checks = []
    counts = _collector_counts(inputs.collector_metrics) if inputs.collector_metrics else None
    if counts is not None and counts["failed"]:
        checks.append(
            Check(
                LINK,
                WARN,
                f"the collector could not deliver {int(counts['failed'])} metric point(s) to Prometheus "
                f"({int(counts['sent'])} delivered) since it started",
                f"read {logs}/collector.log for the reason",
                "a later delivery carries the running totals again",
            )
        )
    if counts is not None and counts["limited"]:
        checks.append(
            Check(
                _BOUND,
                WARN,
                f"the per-user series reached their bound; {int(counts['limited'])} per-user data point(s) were "
                "dropped (per-model metrics are complete)",
                f"raise it, e.g. {_BOUND}=50000, then {command('down', '&&', 'up')}, or turn per-user metrics off: "
                "OWUI_OTEL_METRICS_PER_USER=false",
                "new users are missing from per-user views",
            )
        )
    try:
        turns = _turns_stored(url)
    except (httpx.HTTPError, KeyError, ValueError, IndexError) as error:
        return [
            *checks,
            Check(
                LINK,
                WARN,
                f"Prometheus at {url} did not answer a query ({error})",
                f"read {logs}/prometheus.log",
                "usage views may be empty",
            ),
        ]
    if turns:
        checks.append(Check(LINK, OK, f"Prometheus at {url} holds the usage of {int(turns)} turn(s)"))
    else:
        checks.append(
            Check(
                LINK,
                OK,
                f"Prometheus at {url} answers; no turn recorded yet (they appear seconds after a turn ends)",
            )
        )
    return checks

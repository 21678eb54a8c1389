# SPDX-License-Identifier: Apache-2.0
"""The doctor's link checks, in the order data flows: the ``up`` stack's supervisor, the bridge server, the
collector (health, OTLP receiver, what it could not deliver) and Jaeger (do recent streamed turns carry token usage
and prices?); Langfuse's are in :mod:`owui_otel._doctor_langfuse`. Also the small HTTP helpers every check uses.

    checks = check_collector(DoctorInputs(collector_health="http://127.0.0.1:13133"))
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import httpx

from otel_filter.semconv import (
    COST_SOURCE_UNAVAILABLE,
    END_OUTLET,
    GEN_AI_OPERATION_CHAT,
    GEN_AI_OPERATION_NAME,
    GEN_AI_REQUEST_MODEL,
    GEN_AI_REQUEST_STREAM,
    GEN_AI_USAGE_COST,
    GEN_AI_USAGE_OUTPUT_TOKENS,
    OPENWEBUI_CHAT_ID,
    OPENWEBUI_COST_SOURCE,
    OPENWEBUI_TASK,
    OPENWEBUI_TURN_END_REASON,
)
from otel_filter.settings import PRICING_UNAVAILABLE_COUNTER, UNPRICED_COUNTER, display_url, http_traces_url
from owui_otel._doctor_base import FAIL, OK, OWUI_OTEL, RESTART, SKIP, WARN, Check, DoctorInputs
from owui_otel._doctor_running import exporter_retries, exporter_stats
from owui_otel._doctor_synthetic import SYNTHETIC_PREFIX
from owui_otel._errors import OwuiOtelError
from owui_otel._jaeger_query import search_traces, span_tags
from owui_otel._supervisor import RUNNING, STARTING

TIMEOUT = httpx.Timeout(5.0, connect=3.0)
EMPTY_EXPORT = b""  # an ExportTraceServiceRequest with no spans serializes to zero bytes
LOST_TURNS = "no turn is traced meanwhile (chats work as usual)"


def get(url: str, **kwargs: Any) -> httpx.Response | str:
    """The response, or the name of the error that kept it from coming."""
    try:
        return httpx.get(url, timeout=TIMEOUT, **kwargs)
    except httpx.HTTPError as error:
        return f"{type(error).__name__}"


def post(url: str, **kwargs: Any) -> httpx.Response | str:
    """The response, or the name of the error that kept it from coming."""
    try:
        return httpx.post(url, timeout=TIMEOUT, **kwargs)
    except httpx.HTTPError as error:
        return f"{type(error).__name__}"


def post_empty_export(url: str, headers: dict[str, str] | None = None) -> httpx.Response | str:
    """An OTLP/HTTP export with no spans: what a receiver answers to it tells what it is, and nothing is recorded."""
    return post(url, content=EMPTY_EXPORT, headers={"Content-Type": "application/x-protobuf", **(headers or {})})


def answer_text(response: httpx.Response | str) -> str:
    """The status code, or the error's name."""
    return response if isinstance(response, str) else str(response.status_code)


def check_supervisor(inputs: DoctorInputs) -> list[Check]:
    """The `up` stack's supervisor: is it running, did it restart anything, did it give up on something?"""
    status = inputs.supervisor
    if status is None:
        return [Check("supervisor", SKIP, "no `owui-otel up` stack (or one started by an older version)")]
    if inputs.supervisor_alive and status.state == STARTING:
        return [
            Check(
                "supervisor",
                WARN,
                f"the `owui-otel up` stack is still starting ({status.phase or 'no phase yet'})",
                f"wait for `{OWUI_OTEL} up` to finish, then run `{OWUI_OTEL} doctor` again",
                "the stack's processes may not answer yet",
            )
        ]
    if not inputs.supervisor_alive or status.state != RUNNING:
        return [
            Check(
                "supervisor",
                FAIL,
                f"the `owui-otel up` supervisor is not running (last state: {status.state})",
                RESTART,
                "nothing restarts the stack's processes when one dies",
            )
        ]
    checks: list[Check] = []
    for child in status.children:
        exit_at = time.strftime("%H:%M:%S", time.localtime(child.last_exit_at)) if child.last_exit_at else ""
        last = f"last exit: {child.last_exit} at {exit_at}" if child.last_exit else "never exited"
        if child.given_up:
            checks.append(
                Check(
                    f"supervisor: {child.name}",
                    FAIL,
                    f"gave up restarting it after {child.restarts} restart(s) that each failed quickly ({last})",
                    f"read {child.log}, fix the cause, then {RESTART}",
                    f"{child.name} is not running",
                )
            )
        elif child.restarts:
            checks.append(
                Check(
                    f"supervisor: {child.name}",
                    WARN,
                    f"restarted {child.restarts} time(s), {'running' if child.running else 'restarting'} "
                    f"(pid {child.pid}; {last})",
                    f"read {child.log} for why it exited",
                    "the supervisor keeps restarting it",
                )
            )
        else:
            checks.append(Check(f"supervisor: {child.name}", OK, f"running (pid {child.pid}), 0 restarts"))
    return checks


def check_bridge(inputs: DoctorInputs) -> list[Check]:
    if not inputs.bridge_url:
        return [Check("bridge server", SKIP, "no bridge URL (not using the bridge, or pass --bridge-url)")]
    health = get(f"{inputs.bridge_url}/health")
    if isinstance(health, str) or health.status_code != 200:
        return [
            Check(
                "bridge server",
                FAIL,
                f"nothing healthy answers at {inputs.bridge_url} ({answer_text(health)})",
                f"start it: `{OWUI_OTEL} up` (or `{OWUI_OTEL} serve`), or correct --bridge-url",
                LOST_TURNS,
            )
        ]
    models = get(f"{inputs.bridge_url}/models", headers={"Authorization": f"Bearer {inputs.bridge_api_key}"})
    if isinstance(models, str) or models.status_code == 401:
        return [
            Check(
                "OWUI_OTEL_API_KEY",
                FAIL,
                f"the bridge at {inputs.bridge_url} is up but refuses the API key the doctor was given",
                f"pass the key it was started with (`{OWUI_OTEL} up` prints it) as --api-key or OWUI_OTEL_API_KEY",
                "the doctor cannot send its synthetic turn through the bridge",
            )
        ]
    status = health.json()
    failures = {k: v for k, v in status.get("counters", {}).items() if k.endswith("_failed") and v}
    checks = [
        Check(
            "bridge server", OK, f"up at {inputs.bridge_url}, key accepted, {status.get('open_turns', 0)} turn(s) open"
        )
    ]
    if failures:
        log = str(Path(inputs.logs) / "bridge.log") if inputs.logs else "the bridge's log"
        checks.append(
            Check(
                "bridge exports",
                WARN,
                "the filter in the bridge counted failures: "
                + ", ".join(f"{k}={v}" for k, v in sorted(failures.items())),
                f"read {log}: span export failures mean the collector was unreachable at some point, feedback_* "
                f"failures that Langfuse or Open WebUI was (`{OWUI_OTEL} feedback sync` catches up)",
                "failed spans are lost; the counters keep counting",
            )
        )
    return checks + price_checks(status.get("counters", {}))


def price_checks(counters: dict[str, int], most: int = 5) -> list[Check]:
    """The filter's ``unpriced_turns.<model>`` and ``pricing_unavailable`` counters (from the bridge's ``/health``,
    or counted in Jaeger's recent turns), in words."""
    checks = []
    if counters.get(PRICING_UNAVAILABLE_COUNTER):
        checks.append(
            Check(
                "turn prices",
                WARN,
                "the filter cannot import genai-prices, so no turn gets a cost",
                "install it where the filter runs (pip install genai-prices)",
                "turns carry token counts but no cost",
            )
        )
    unpriced = {
        k.removeprefix(f"{UNPRICED_COUNTER}."): v for k, v in counters.items() if k.startswith(UNPRICED_COUNTER)
    }
    for model, turns in sorted(unpriced.items(), key=lambda item: -item[1])[:most]:
        example = json.dumps({model: {"input": 0.15, "output": 0.6}})
        checks.append(
            Check(
                "OWUI_OTEL_PRICE_OVERRIDES",
                WARN,
                f"{turns} turn(s) of model {model} had no price, so they carry no cost",
                f"add one with OWUI_OTEL_PRICE_OVERRIDES or the price_overrides valve (USD per million tokens), "
                f"e.g. {example}",
                f"turns of {model} carry token counts but no cost",
            )
        )
    return checks


def check_collector(inputs: DoctorInputs) -> list[Check]:
    checks: list[Check] = []
    if inputs.collector_health:
        health = get(inputs.collector_health)
        if isinstance(health, str) or health.status_code != 200:
            log = str(Path(inputs.logs) / "collector.log") if inputs.logs else "its log"
            checks.append(
                Check(
                    "collector",
                    FAIL,
                    f"no healthy collector at {inputs.collector_health} ({answer_text(health)})",
                    f"start it: `{OWUI_OTEL} up` (local) or `docker compose up -d otel-collector`; read {log}",
                    "the filter retries, then drops spans: " + LOST_TURNS,
                )
            )
        else:
            checks.append(Check("collector", OK, f"healthy ({inputs.collector_health})"))
    checks.extend(check_collector_exports(inputs))
    if not inputs.otlp_endpoint:
        checks.append(Check("collector receiver", SKIP, "no OTLP endpoint given"))
        return checks
    url = http_traces_url(inputs.otlp_endpoint)
    shown = display_url(url)  # credentials in a user:password@ part or the query string stay out of the report
    headers = dict(inputs.otlp_headers)
    answer = post_empty_export(url, headers)
    endpoint = "OTEL_EXPORTER_OTLP_ENDPOINT"
    if isinstance(answer, str):
        checks.append(
            Check(
                endpoint,
                FAIL,
                f"nothing listens at {shown} ({answer})",
                "point the filter's otlp_endpoint / OTEL_EXPORTER_OTLP_ENDPOINT at the collector's OTLP/HTTP port "
                "(4318)",
                LOST_TURNS,
            )
        )
    elif answer.status_code in (401, 403):
        checks.append(
            Check(
                "OTEL_EXPORTER_OTLP_HEADERS",
                FAIL,
                f"{shown} requires a token and the one sent was {'refused' if headers else 'missing'}",
                "give the filter the collector's token: "
                "OTEL_EXPORTER_OTLP_HEADERS=authorization=Bearer%20<OTEL_INGEST_TOKEN> (or the otlp_headers valve)",
                "the collector refuses every span: " + LOST_TURNS,
            )
        )
    elif answer.status_code == 404:
        checks.append(
            Check(
                endpoint,
                FAIL,
                f"{shown} is not an OTLP/HTTP traces endpoint (404)",
                "use the collector's base URL, e.g. http://localhost:4318 (the filter appends /v1/traces)",
                LOST_TURNS,
            )
        )
    elif answer.status_code >= 300:
        checks.append(
            Check(endpoint, FAIL, f"{shown} answered {answer.status_code}", "read the collector's log", LOST_TURNS)
        )
    else:
        checks.append(Check("collector receiver", OK, f"accepts OTLP at {shown}"))
    return checks


def check_collector_exports(inputs: DoctorInputs) -> list[Check]:
    """What the collector failed to deliver, queued, or keeps retrying: the filter never sees it (the collector
    already answered 200), so only the collector's own metrics and log tell."""
    if not inputs.collector_metrics:
        return []
    answer = get(inputs.collector_metrics)
    if isinstance(answer, str) or answer.status_code != 200:
        return [Check("collector exports", SKIP, f"no metrics at {inputs.collector_metrics}")]
    try:
        stats = exporter_stats(answer.text)
    except ValueError:
        return [Check("collector exports", SKIP, f"{inputs.collector_metrics} is not Prometheus text")]
    retries = exporter_retries(Path(inputs.collector_log)) if inputs.collector_log else {}
    log = inputs.collector_log or "the collector's log"
    checks = []
    for exporter in sorted(set(stats) | set(retries)):
        stat, retried = stats.get(exporter), retries.get(exporter)
        facts = []
        if stat is not None and stat.send_failed:
            facts.append(f"{int(stat.send_failed)} span(s) failed to send and were dropped")
        if stat is not None and stat.enqueue_failed:
            facts.append(f"{int(stat.enqueue_failed)} span(s) found the queue full and were dropped")
        # A few queued items with nothing failing are just in flight; a queue filling up or held by retries is not.
        backlog = (
            stat is not None and stat.queue_size and (facts or retried or stat.queue_size >= stat.queue_capacity / 2)
        )
        if stat is not None and backlog:
            facts.append(f"{stat.queue_size:g} queued (capacity {stat.queue_capacity:g})")
        if retried is not None:
            facts.append(
                f"its log shows {retried.count} failed export(s) to retry, the last at {retried.last_at}: "
                f"{retried.last_error or '(no error text)'}"
            )
        if not facts:
            continue
        checks.append(
            Check(
                f"collector exports to {exporter}",
                WARN,
                "; ".join(facts),
                f"read {log}: 401/403 means wrong Langfuse keys (LANGFUSE_PUBLIC_KEY / LANGFUSE_SECRET_KEY), 404 a "
                f"wrong LANGFUSE_HOST, refused connections a backend that is down; then {RESTART} if a setting changed",
                "the collector retries with backoff while its queue holds; what it cannot deliver is dropped",
            )
        )
    if not checks:
        sent = ", ".join(f"{int(s.sent)} to {e}" for e, s in sorted(stats.items()) if s.sent) or "none yet"
        checks.append(Check("collector exports", OK, f"nothing failed, queued or retried (spans sent: {sent})"))
    return checks


def recent_turn_traces(inputs: DoctorInputs) -> list[dict[str, Any]] | None:
    """Jaeger's traces of turns that ended in the last 2 hours (at most 200); None when Jaeger does not answer."""
    try:
        return search_traces(
            inputs.jaeger_url,
            service=inputs.service_name,
            tags={OPENWEBUI_TURN_END_REASON: END_OUTLET},
            lookback_s=2 * 3600,
            limit=200,
            timeout_s=5.0,
        )
    except OwuiOtelError:
        return None


def check_usage(inputs: DoctorInputs) -> list[Check]:
    """Do recent streamed turns carry token usage? Open WebUI asks providers for stream usage only
    when the model's Usage capability is on. (The doctor's own synthetic turns are not judged.)"""
    if not inputs.jaeger_url:
        return [Check("token usage", SKIP, "no Jaeger URL to look at recent turns")]
    traces = recent_turn_traces(inputs)
    if traces is None:
        return [Check("token usage", SKIP, f"Jaeger at {inputs.jaeger_url} did not answer the search")]
    streamed, without_usage = 0, 0
    unpriced: dict[str, int] = {}  # model -> turns with usage but no cost (the bridge's counters, for any host)
    for trace in traces:
        for span in trace.get("spans", []):
            tags = span_tags(span)
            if str(tags.get(OPENWEBUI_CHAT_ID, "")).startswith(SYNTHETIC_PREFIX):
                continue
            if GEN_AI_USAGE_OUTPUT_TOKENS in tags and GEN_AI_USAGE_COST not in tags:
                # genai-prices missing where the filter runs is one fix for every model, not a price per model.
                if tags.get(OPENWEBUI_COST_SOURCE) == COST_SOURCE_UNAVAILABLE:
                    key = PRICING_UNAVAILABLE_COUNTER
                else:
                    key = f"{UNPRICED_COUNTER}.{tags.get(GEN_AI_REQUEST_MODEL, '(no model)')}"
                unpriced[key] = unpriced.get(key, 0) + 1
            if (
                tags.get(GEN_AI_OPERATION_NAME) != GEN_AI_OPERATION_CHAT
                or OPENWEBUI_TASK in tags
                or not tags.get(GEN_AI_REQUEST_STREAM)
            ):
                continue
            streamed += 1
            if GEN_AI_USAGE_OUTPUT_TOKENS not in tags:
                without_usage += 1
    # With a bridge its own counters said this already (check_bridge); Functions and Pipelines hosts have none.
    prices = [] if inputs.bridge_url else price_checks(unpriced)
    if streamed == 0:
        return [Check("token usage", SKIP, "no streamed turn in the last 2 hours to judge by"), *prices]
    if without_usage:
        return [
            Check(
                "token usage",
                WARN,
                f"{without_usage} of {streamed} recent streamed turns carry no token usage",
                "in Open WebUI enable the model's Usage capability (Workspace > Models > edit > Capabilities > "
                "Usage) so it asks the provider for usage in streams; some providers never report it",
                "those turns carry no token counts and no cost",
            ),
            *prices,
        ]
    return [Check("token usage", OK, f"all {streamed} recent streamed turns carry token usage"), *prices]

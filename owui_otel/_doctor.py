# SPDX-License-Identifier: Apache-2.0
"""``owui-otel doctor``: check each link of the chain, and say in plain words what to fix.

First the local stack's supervisor (``owui-otel up``: restarts, last exit, given up), then the links,
in the order data flows: the bridge server (if used) -> the collector (health, then the
OTLP receiver with the filter's headers) -> Langfuse (host form, keys via the ``langfuse``
package's own ``auth_check()``, the OTLP endpoint path) -> Jaeger (do recent streamed turns
carry token usage?) -> Open WebUI's connection settings (Prefix ID, empty key). A check whose
inputs are not given is skipped, not failed. Secrets are never printed.

    report = run_checks(DoctorInputs(collector_health="http://127.0.0.1:13133", ...))
    print(render(report)); exit(1 if report.failed else 0)
"""

from __future__ import annotations

import gzip
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx

from collector import (
    LANGFUSE_INGESTION_HEADERS,
    LANGFUSE_OTLP_PATH,
    langfuse_base_url,
    langfuse_basic_auth,
    metric_samples,
)
from otel_filter.semconv import (
    COST_SOURCE_UNAVAILABLE,
    END_OUTLET,
    GEN_AI_OPERATION_CHAT,
    GEN_AI_OPERATION_NAME,
    GEN_AI_REQUEST_MODEL,
    GEN_AI_REQUEST_STREAM,
    GEN_AI_USAGE_COST,
    GEN_AI_USAGE_OUTPUT_TOKENS,
    OPENWEBUI_COST_SOURCE,
    OPENWEBUI_TASK,
    OPENWEBUI_TURN_END_REASON,
)
from otel_filter.settings import PRICING_UNAVAILABLE_COUNTER, UNPRICED_COUNTER, display_url, http_traces_url
from owui_otel._doctor_metrics import check_metrics
from owui_otel._errors import OwuiOtelError, UsageError
from owui_otel._jaeger_query import search_traces, span_tags
from owui_otel._langfuse import LangfuseKeysRejected, langfuse_project
from owui_otel._supervisor import RUNNING, STARTING, SupervisorStatus

OK, WARN, FAIL, SKIP = "ok", "warn", "FAIL", "skip"
TIMEOUT = httpx.Timeout(5.0, connect=3.0)
_EMPTY_EXPORT = b""  # an ExportTraceServiceRequest with no spans serializes to zero bytes


@dataclass(frozen=True)
class DoctorInputs:
    collector_health: str = ""
    collector_metrics: str = ""
    otlp_endpoint: str = ""
    otlp_headers: tuple[tuple[str, str], ...] = ()
    bridge_url: str = ""
    bridge_api_key: str = ""
    langfuse_host: str = ""
    langfuse_public_key: str = ""
    langfuse_secret_key: str = ""
    jaeger_url: str = ""
    service_name: str = "open-webui"
    openwebui_url: str = ""
    openwebui_token: str = ""
    supervisor: SupervisorStatus | None = None
    supervisor_alive: bool = False
    prometheus_url: str = ""


@dataclass
class Check:
    link: str
    status: str
    says: str
    fix: str = ""


@dataclass
class Report:
    checks: list[Check] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return any(check.status == FAIL for check in self.checks)


def render(report: Report) -> str:
    lines = []
    for check in report.checks:
        lines.append(f"[{check.status:>4}] {check.link}: {check.says}")
        if check.fix:
            lines.append(f"       fix: {check.fix}")
    verdict = "some links are broken (see fix: lines)" if report.failed else "every checked link works"
    return "\n".join([*lines, "", verdict])


def _get(url: str, **kwargs: Any) -> httpx.Response | str:
    try:
        return httpx.get(url, timeout=TIMEOUT, **kwargs)
    except httpx.HTTPError as error:
        return f"{type(error).__name__}"


def _post(url: str, **kwargs: Any) -> httpx.Response | str:
    try:
        return httpx.post(url, timeout=TIMEOUT, **kwargs)
    except httpx.HTTPError as error:
        return f"{type(error).__name__}"


# --- the links ------------------------------------------------------------------------------


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
                "wait for `owui-otel up` to finish, then run doctor again",
            )
        ]
    if not inputs.supervisor_alive or status.state != RUNNING:
        return [
            Check(
                "supervisor",
                FAIL,
                f"the `owui-otel up` supervisor is not running (last state: {status.state})",
                "nothing restarts the stack's processes now: `owui-otel down && owui-otel up`",
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
                    f"read {child.log}, fix the cause, then `owui-otel down && owui-otel up`",
                )
            )
        elif child.restarts:
            checks.append(
                Check(
                    f"supervisor: {child.name}",
                    WARN,
                    f"restarted {child.restarts} time(s), {'running' if child.running else 'restarting'} "
                    f"(pid {child.pid}; {last})",
                    f"see {child.log} for why it exited",
                )
            )
        else:
            checks.append(Check(f"supervisor: {child.name}", OK, f"running (pid {child.pid}), 0 restarts"))
    return checks


def check_bridge(inputs: DoctorInputs) -> list[Check]:
    if not inputs.bridge_url:
        return [Check("bridge server", SKIP, "no bridge URL (not using the bridge, or pass --bridge-url)")]
    health = _get(f"{inputs.bridge_url}/health")
    if isinstance(health, str) or health.status_code != 200:
        return [
            Check(
                "bridge server",
                FAIL,
                f"nothing healthy answers at {inputs.bridge_url} "
                f"({health if isinstance(health, str) else health.status_code})",
                "start it: `owui-otel up` (or `owui-otel serve`), or correct --bridge-url",
            )
        ]
    models = _get(f"{inputs.bridge_url}/models", headers={"Authorization": f"Bearer {inputs.bridge_api_key}"})
    if isinstance(models, str) or models.status_code == 401:
        return [
            Check(
                "bridge server",
                FAIL,
                "it is up but refuses the API key",
                "use the key it was started with (printed by `owui-otel up`; OWUI_OTEL_API_KEY) here and in Open WebUI",
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
        checks.append(
            Check(
                "bridge exports",
                WARN,
                f"the filter reports failures: {', '.join(f'{k}={v}' for k, v in sorted(failures.items()))}",
                "see the bridge log; span export failures mean the collector was unreachable at some point, "
                "feedback_* failures that Langfuse or Open WebUI was (`owui-otel feedback sync` catches up)",
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
            )
        )
    unpriced = {
        k.removeprefix(f"{UNPRICED_COUNTER}."): v for k, v in counters.items() if k.startswith(UNPRICED_COUNTER)
    }
    for model, turns in sorted(unpriced.items(), key=lambda item: -item[1])[:most]:
        example = json.dumps({model: {"input": 0.15, "output": 0.6}})
        checks.append(
            Check(
                "turn prices",
                WARN,
                f"{turns} turn(s) of model {model} had no price, so they carry no cost",
                f"add one with the price_overrides valve or OWUI_OTEL_PRICE_OVERRIDES (USD per million tokens), "
                f"e.g. {example}",
            )
        )
    return checks


# What the collector's Langfuse pipeline (collector/_backends/langfuse.py) gives Langfuse and a filter exporting
# straight to Langfuse's OTLP endpoint cannot: the filter emits vendor-neutral attributes only, by design.
DIRECT_LANGFUSE_LOSES = (
    "the trace name (Langfuse's v4 ingestion reads it only from langfuse.trace.name: lists fall back to the span "
    "name, filters on trace name match nothing)",
    "the completion start time (time to first token)",
    "trace tags (open-webui, the host, the task)",
    "filterable metadata (chat_id, model_name, model_id, task, host, end_reason, openwebui_version)",
    "release and version",
    "the cost breakdown (only the total, gen_ai.usage.cost, arrives) and, for turns without token usage, the marker "
    "that stops Langfuse counting tokens in the JSON-encoded messages itself (about 3x too many)",
    "task calls as EVENTs (they arrive as SPANs; without a model neither is priced)",
    "the on-disk queue (spans are lost when Langfuse is unreachable longer than the filter retries)",
)


def check_direct_langfuse(inputs: DoctorInputs) -> list[Check]:
    """The filter exporting to Langfuse's own OTLP endpoint (``.../api/public/otel``) instead of the collector works,
    but Langfuse then shows less: say exactly what, and how to go through the collector."""
    if LANGFUSE_OTLP_PATH not in urlsplit(inputs.otlp_endpoint).path:
        return []
    lost = list(DIRECT_LANGFUSE_LOSES)
    if not any(name.lower() in LANGFUSE_INGESTION_HEADERS for name, _ in inputs.otlp_headers):
        lost.append("real-time ingestion (without x-langfuse-ingestion-version: 4 a trace may take 10 minutes)")
    return [
        Check(
            "direct export to Langfuse",
            WARN,
            f"the filter sends straight to Langfuse ({display_url(inputs.otlp_endpoint)}); Langfuse then lacks: "
            + "; ".join(lost),
            "send through the collector, which adds them: `owui-otel up` (or `docker compose up -d otel-collector`) "
            "with LANGFUSE_HOST, LANGFUSE_PUBLIC_KEY and LANGFUSE_SECRET_KEY set, and the filter's otlp_endpoint / "
            "OTEL_EXPORTER_OTLP_ENDPOINT at the collector (http://<collector>:4318)",
        )
    ]


def check_collector(inputs: DoctorInputs) -> list[Check]:
    checks: list[Check] = []
    if inputs.collector_health:
        health = _get(inputs.collector_health)
        if isinstance(health, str) or health.status_code != 200:
            checks.append(
                Check(
                    "collector",
                    FAIL,
                    f"no healthy collector at {inputs.collector_health} "
                    f"({health if isinstance(health, str) else health.status_code})",
                    "start it: `owui-otel up` (local) or `docker compose up -d otel-collector`; check its log",
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
    headers = {"Content-Type": "application/x-protobuf", **dict(inputs.otlp_headers)}
    answer = _post(url, content=_EMPTY_EXPORT, headers=headers)
    if isinstance(answer, str):
        checks.append(
            Check(
                "collector receiver",
                FAIL,
                f"nothing listens at {shown} ({answer})",
                "point the filter's otlp_endpoint / OTEL_EXPORTER_OTLP_ENDPOINT at the collector's OTLP/HTTP port "
                "(4318)",
            )
        )
    elif answer.status_code in (401, 403):
        checks.append(
            Check(
                "collector receiver",
                FAIL,
                f"{shown} requires a token and the one sent was {'missing' if len(headers) == 1 else 'refused'}",
                "give the filter the collector's token: "
                "OTEL_EXPORTER_OTLP_HEADERS=authorization=Bearer%20<OTEL_INGEST_TOKEN> (or the otlp_headers valve)",
            )
        )
    elif answer.status_code == 404:
        checks.append(
            Check(
                "collector receiver",
                FAIL,
                f"{shown} is not an OTLP/HTTP traces endpoint (404)",
                "use the collector's base URL, e.g. http://localhost:4318 (the filter appends /v1/traces)",
            )
        )
    elif answer.status_code >= 300:
        checks.append(
            Check("collector receiver", FAIL, f"{shown} answered {answer.status_code}", "see the collector's log")
        )
    else:
        checks.append(Check("collector receiver", OK, f"accepts OTLP at {shown}"))
    return checks


def _metric_totals(text: str, names: tuple[str, ...]) -> dict[str, float]:
    """Sum Prometheus samples of ``names`` per ``exporter`` label."""
    totals: dict[str, float] = {}
    try:
        for labels, value in metric_samples(text, names):
            exporter = labels.get("exporter", "?")
            totals[exporter] = totals.get(exporter, 0.0) + value
    except ValueError:
        pass  # not Prometheus text: nothing (more) to report
    return totals


def check_collector_exports(inputs: DoctorInputs) -> list[Check]:
    """What the collector failed to deliver: the filter never sees it (the collector already answered 200)."""
    if not inputs.collector_metrics:
        return []
    answer = _get(inputs.collector_metrics)
    if isinstance(answer, str) or answer.status_code != 200:
        return [Check("collector exports", SKIP, f"no metrics at {inputs.collector_metrics}")]
    failed = _metric_totals(
        answer.text, ("otelcol_exporter_send_failed_spans", "otelcol_exporter_enqueue_failed_spans")
    )
    lost = {exporter: int(count) for exporter, count in failed.items() if count}
    if not lost:
        return [Check("collector exports", OK, "no span failed to send or queue since the collector started")]
    return [
        Check(
            "collector exports",
            WARN,
            "the collector could not deliver: " + ", ".join(f"{n} span(s) to {e}" for e, n in sorted(lost.items())),
            "see the collector's log: 401/403 means wrong Langfuse keys, other 4xx and 500 are dropped by the "
            "exporter, a full queue means the backend was down longer than the queue could hold",
        )
    ]


def _langfuse_project_url(inputs: DoctorInputs) -> tuple[Check, str | None]:
    """The keys, checked the way Langfuse's own SDK checks them."""
    try:
        project = langfuse_project(inputs.langfuse_host, inputs.langfuse_public_key, inputs.langfuse_secret_key)
    except LangfuseKeysRejected as rejected:
        return (
            Check(
                "Langfuse keys",
                FAIL,
                str(rejected),
                "copy LANGFUSE_PUBLIC_KEY (pk-lf-...) and LANGFUSE_SECRET_KEY (sk-lf-...) from this project's "
                "Settings > API Keys; keys of another region (cloud vs us.cloud) fail the same way",
            ),
            None,
        )
    except OwuiOtelError as error:
        return Check("Langfuse keys", FAIL, str(error), "check LANGFUSE_HOST"), None
    return Check("Langfuse keys", OK, f"accepted for project {project.name!r}"), project.url


def check_langfuse(inputs: DoctorInputs) -> list[Check]:
    if not inputs.langfuse_host:
        return [Check("Langfuse", SKIP, "LANGFUSE_HOST is not set: traces go to Jaeger only")]
    try:
        host = langfuse_base_url(inputs.langfuse_host)
    except UsageError as error:
        problem, _, fix = str(error).partition("; ")
        return [Check("Langfuse host", FAIL, problem, fix)]
    if not (inputs.langfuse_public_key and inputs.langfuse_secret_key):
        return [
            Check(
                "Langfuse keys",
                FAIL,
                "LANGFUSE_PUBLIC_KEY / LANGFUSE_SECRET_KEY are not set",
                "set both (Langfuse > Settings > API Keys)",
            )
        ]
    reachable = _get(f"{host}/api/public/health")
    if isinstance(reachable, str):
        return [
            Check("Langfuse host", FAIL, f"cannot reach {host} ({reachable})", "check LANGFUSE_HOST and the network")
        ]
    checks = [Check("Langfuse host", OK, f"{host} answers")]
    keys, project_url = _langfuse_project_url(DoctorInputs(**{**inputs.__dict__, "langfuse_host": host}))
    checks.append(keys)
    if keys.status != OK:
        return checks
    token = langfuse_basic_auth(inputs.langfuse_public_key, inputs.langfuse_secret_key)
    path = http_traces_url(host + LANGFUSE_OTLP_PATH)
    answer = _post(  # what the collector's exporter sends
        path,
        content=gzip.compress(_EMPTY_EXPORT),
        headers={
            "Authorization": f"Basic {token}",
            "Content-Type": "application/x-protobuf",
            "Content-Encoding": "gzip",
            **LANGFUSE_INGESTION_HEADERS,
        },
    )
    if isinstance(answer, str) or answer.status_code != 200:
        code = answer if isinstance(answer, str) else answer.status_code
        checks.append(
            Check(
                "Langfuse OTLP endpoint",
                FAIL,
                f"{path} answered {code}",
                "Langfuse >= 3.22 serves OTLP at /api/public/otel/v1/traces (HTTP only, not gRPC); "
                "upgrade a self-hosted Langfuse, or check the host",
            )
        )
    else:
        checks.append(Check("Langfuse OTLP endpoint", OK, f"{path} accepts OTLP (ingestion version 4)"))
        if project_url:
            checks.append(Check("Langfuse project", OK, f"traces appear at {project_url}/traces"))
    return checks


def check_usage(inputs: DoctorInputs) -> list[Check]:
    """Do recent streamed turns carry token usage? Open WebUI asks providers for stream usage only
    when the model's Usage capability is on."""
    if not inputs.jaeger_url:
        return [Check("token usage", SKIP, "no Jaeger URL to look at recent turns")]
    try:
        traces = search_traces(
            inputs.jaeger_url,
            service=inputs.service_name,
            tags={OPENWEBUI_TURN_END_REASON: END_OUTLET},
            lookback_s=2 * 3600,
            limit=200,
            timeout_s=5.0,
        )
    except OwuiOtelError:
        return [Check("token usage", SKIP, f"Jaeger at {inputs.jaeger_url} did not answer the search")]
    streamed, without_usage = 0, 0
    unpriced: dict[str, int] = {}  # model -> turns with usage but no cost (the bridge's counters, for any host)
    for trace in traces:
        for span in trace.get("spans", []):
            tags = span_tags(span)
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
            ),
            *prices,
        ]
    return [Check("token usage", OK, f"all {streamed} recent streamed turns carry token usage"), *prices]


def check_openwebui(inputs: DoctorInputs) -> list[Check]:
    if not (inputs.openwebui_url and inputs.openwebui_token):
        return [Check("Open WebUI connection", SKIP, "no --openwebui-url/--openwebui-token to read its connections")]
    base = inputs.openwebui_url.rstrip("/")
    answer = _get(f"{base}/openai/config", headers={"Authorization": f"Bearer {inputs.openwebui_token}"})
    if isinstance(answer, str):
        return [
            Check(
                "Open WebUI connection", FAIL, f"cannot reach Open WebUI at {base} ({answer})", "check --openwebui-url"
            )
        ]
    if answer.status_code in (401, 403):
        return [Check("Open WebUI connection", FAIL, "Open WebUI refused the token", "use an admin's token")]
    config = answer.json()
    urls: list[str] = config.get("OPENAI_API_BASE_URLS") or []
    keys: list[str] = config.get("OPENAI_API_KEYS") or []
    configs: dict[str, Any] = config.get("OPENAI_API_CONFIGS") or {}
    checks = []
    bridge = inputs.bridge_url.rstrip("/")
    for index, url in enumerate(urls):
        is_filter_host = bool(bridge) and url.rstrip("/") == bridge
        if not is_filter_host:
            probe = _get(
                f"{url.rstrip('/')}/models",
                headers={"Authorization": f"Bearer {keys[index] if index < len(keys) else ''}"},
            )
            is_filter_host = (
                not isinstance(probe, str) and probe.status_code == 200 and probe.json().get("pipelines") is True
            )
        if not is_filter_host:
            continue
        settings = configs.get(str(index)) or {}
        shown = display_url(url)
        if not (keys[index] if index < len(keys) else ""):
            checks.append(
                Check(
                    "Open WebUI connection",
                    FAIL,
                    f"connection {index} ({shown}) has an empty API key: Open WebUI silently skips its filters",
                    "set the key (the bridge's key from `owui-otel up`, or PIPELINES_API_KEY) on that connection",
                )
            )
        elif settings.get("prefix_id"):
            checks.append(
                Check(
                    "Open WebUI connection",
                    FAIL,
                    f"connection {index} ({shown}) has Prefix ID {settings['prefix_id']!r}: filter URLs then use the "
                    "prefixed id, which the server does not know, and no turn is traced",
                    "clear the Prefix ID on that connection (Admin Settings > Connections)",
                )
            )
        elif settings.get("model_ids"):
            checks.append(
                Check(
                    "Open WebUI connection",
                    FAIL,
                    f"connection {index} ({shown}) lists explicit model ids, so Open WebUI never reads its /models and "
                    "never learns the filter",
                    "clear the model id list on that connection",
                )
            )
        else:
            checks.append(
                Check("Open WebUI connection", OK, f"connection {index} ({shown}) is a filter host, set up right")
            )
    if not checks:
        checks.append(
            Check(
                "Open WebUI connection",
                WARN,
                "no OpenAI connection points at a Pipelines server or the bridge",
                "add one (URL + key), or install the filter as a Function: `owui-otel install function`",
            )
        )
    return checks


CHECKS: list[Callable[[DoctorInputs], list[Check]]] = [
    check_supervisor,
    check_bridge,
    check_direct_langfuse,
    check_collector,
    check_langfuse,
    check_usage,
    check_metrics,
    check_openwebui,
]


def run_checks(inputs: DoctorInputs) -> Report:
    report = Report()
    for check in CHECKS:
        report.checks.extend(check(inputs))
    return report

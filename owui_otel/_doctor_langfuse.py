# SPDX-License-Identifier: Apache-2.0
"""The doctor's Langfuse checks: the host's form (a base URL, no API path), the keys (checked the way the
``langfuse`` SDK's own ``auth_check()`` does), the OTLP endpoint, and what a filter exporting straight to Langfuse
instead of through the collector loses. Settings come from the running collector when there is one
(``DoctorInputs.langfuse_source``), else from the shell or the flags.

    checks = check_langfuse(DoctorInputs(langfuse_host="https://cloud.langfuse.com", langfuse_public_key=..., ...))
"""

from __future__ import annotations

import gzip
from urllib.parse import urlsplit

from collector import LANGFUSE_INGESTION_HEADERS, LANGFUSE_OTLP_PATH, langfuse_base_url, langfuse_basic_auth
from otel_filter.settings import display_url, http_traces_url
from owui_otel._doctor_base import FAIL, OK, OWUI_OTEL, RESTART, SKIP, WARN, Check, DoctorInputs
from owui_otel._doctor_links import EMPTY_EXPORT, answer_text, get, post
from owui_otel._errors import OwuiOtelError, UsageError
from owui_otel._langfuse import LangfuseKeysRejected, langfuse_project

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
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            WARN,
            f"the filter sends straight to Langfuse ({display_url(inputs.otlp_endpoint)}); Langfuse then lacks: "
            + "; ".join(lost),
            f"send through the collector, which adds them: `{OWUI_OTEL} up` (or `docker compose up -d otel-collector`)"
            " with LANGFUSE_HOST, LANGFUSE_PUBLIC_KEY and LANGFUSE_SECRET_KEY set, and the filter's otlp_endpoint / "
            "OTEL_EXPORTER_OTLP_ENDPOINT at the collector (http://<collector>:4318)",
            "Langfuse shows turns without the parts listed",
        )
    ]


def _langfuse_project_url(inputs: DoctorInputs, host: str) -> tuple[Check, str | None]:
    """The keys, checked the way Langfuse's own SDK checks them."""
    try:
        project = langfuse_project(host, inputs.langfuse_public_key, inputs.langfuse_secret_key)
    except LangfuseKeysRejected as rejected:
        return (
            Check(
                "LANGFUSE_PUBLIC_KEY / LANGFUSE_SECRET_KEY",
                FAIL,
                str(rejected),
                "copy both (pk-lf-..., sk-lf-...) from this project's Settings > API Keys (keys of another region, "
                f"cloud vs us.cloud, fail the same way), then {RESTART}",
                "Langfuse refuses every span (Jaeger still gets every turn)",
            ),
            None,
        )
    except OwuiOtelError as error:
        return Check(
            "LANGFUSE_HOST", FAIL, str(error), "check LANGFUSE_HOST and the network", "no span reaches Langfuse"
        ), None
    return Check("Langfuse keys", OK, f"accepted for project {project.name!r}"), project.url


def check_langfuse(inputs: DoctorInputs) -> list[Check]:
    source = f" ({inputs.langfuse_source} runs with it)" if inputs.langfuse_source else ""
    then = f", then {RESTART}" if inputs.langfuse_source else ""
    if not inputs.langfuse_host and inputs.langfuse_source and inputs.filter_environ.get("LANGFUSE_HOST"):
        return [
            Check(
                "LANGFUSE_HOST",
                WARN,
                f"this shell sets it ({inputs.filter_environ['LANGFUSE_HOST']}), but {inputs.langfuse_source} was "
                "started without Langfuse",
                f"apply it: {RESTART} (with LANGFUSE_HOST, LANGFUSE_PUBLIC_KEY and LANGFUSE_SECRET_KEY set)",
                "traces do not go to Langfuse (the other backends get them)",
            )
        ]
    if not inputs.langfuse_host:
        return [
            Check(
                "Langfuse", SKIP, "LANGFUSE_HOST is not set: traces do not go to Langfuse (the other backends get them)"
            )
        ]
    try:
        host = langfuse_base_url(inputs.langfuse_host)
    except UsageError as error:
        problem, _, fix = str(error).partition(". Fix: ")
        problem = problem.split(": ", 1)[-1]
        return [
            Check(
                "LANGFUSE_HOST",
                FAIL,
                problem + source,
                fix + then,
                f"spans go to {inputs.langfuse_host.rstrip('/')}{LANGFUSE_OTLP_PATH}/v1/traces, which Langfuse does "
                "not serve: none reaches Langfuse and the collector retries them (Jaeger still gets every turn)",
            )
        ]
    if not (inputs.langfuse_public_key and inputs.langfuse_secret_key):
        return [
            Check(
                "LANGFUSE_PUBLIC_KEY / LANGFUSE_SECRET_KEY",
                FAIL,
                "LANGFUSE_HOST is set but the keys are not",
                f"set both (Langfuse > Settings > API Keys){then}",
                "no span reaches Langfuse",
            )
        ]
    reachable = get(f"{host}/api/public/health")
    if isinstance(reachable, str):
        return [
            Check(
                "LANGFUSE_HOST",
                FAIL,
                f"cannot reach {host} ({reachable}){source}",
                "check LANGFUSE_HOST and the network",
                "the collector queues spans for Langfuse and retries",
            )
        ]
    checks = [Check("Langfuse host", OK, f"{host} answers")]
    keys, project_url = _langfuse_project_url(inputs, host)
    checks.append(keys)
    if keys.status != OK:
        return checks
    token = langfuse_basic_auth(inputs.langfuse_public_key, inputs.langfuse_secret_key)
    path = http_traces_url(host + LANGFUSE_OTLP_PATH)
    answer = post(  # what the collector's exporter sends
        path,
        content=gzip.compress(EMPTY_EXPORT),
        headers={
            "Authorization": f"Basic {token}",
            "Content-Type": "application/x-protobuf",
            "Content-Encoding": "gzip",
            **LANGFUSE_INGESTION_HEADERS,
        },
    )
    if isinstance(answer, str) or answer.status_code != 200:
        checks.append(
            Check(
                "LANGFUSE_HOST",
                FAIL,
                f"{path} answered {answer_text(answer)}",
                "Langfuse >= 3.22 serves OTLP at /api/public/otel/v1/traces (HTTP only, not gRPC); "
                "upgrade a self-hosted Langfuse, or check the host",
                "no span reaches Langfuse",
            )
        )
    else:
        checks.append(Check("Langfuse OTLP endpoint", OK, f"{path} accepts OTLP (ingestion version 4)"))
        if project_url:
            checks.append(Check("Langfuse project", OK, f"traces appear at {project_url}/traces"))
    return checks

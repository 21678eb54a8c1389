# SPDX-License-Identifier: Apache-2.0
"""The filter's settings on the path the admin configured, resolved by the filter's own resolver
(``otel_filter.settings.resolve_settings``: valve, else environment, else default), so every config problem the
filter logs is reported here by name with its fix, and a protocol that cannot work with its port is caught before
a turn is lost.

* A bridge is configured: its valves (``GET /{filter_id}/valves``) against its own environment (the running
  ``up`` stack's, read from ``/proc``); without that environment only the valves are judged, and the bridge's
  ``config_problems`` counter says whether its environment holds more.
* No bridge: the valves given and the environment the doctor runs in (run it where the filter runs).

    checks = check_filter_settings(DoctorInputs(filter_environ=dict(os.environ)))
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from otel_filter.environment_variables import (
    OTEL_EXPORTER_OTLP_PROTOCOL,
    OTEL_EXPORTER_OTLP_TRACES_PROTOCOL,
)
from otel_filter.settings import http_traces_url, resolve_settings
from owui_otel._doctor_base import FAIL, OK, SKIP, WARN, Check, DoctorInputs
from owui_otel._doctor_links import get, post_empty_export

GRPC, HTTP = "grpc", "http/protobuf"
OTLP_HTTP_PORT, OTLP_GRPC_PORT = 4318, 4317


def bridge_filter_id(inputs: DoctorInputs) -> str:
    """The id the bridge (or a Pipelines server) serves our filter under (``GET /pipelines``), or "" when it does not
    say."""
    answer = get(f"{inputs.bridge_url}/pipelines", headers={"Authorization": f"Bearer {inputs.bridge_api_key}"})
    if isinstance(answer, str) or answer.status_code != 200:
        return ""
    filters = [item for item in answer.json().get("data") or [] if item.get("type", "filter") == "filter"]
    # A Pipelines server may host other filters too: ours is the one named otel... (otel_bridge, otel_filter_pipeline).
    ours = [item for item in filters if str(item.get("id", "")).startswith("otel")] or filters
    return str(ours[0].get("id", "")) if ours else ""


def _bridge_valves(inputs: DoctorInputs, filter_id: str) -> dict[str, Any] | None:
    answer = get(
        f"{inputs.bridge_url}/{filter_id}/valves", headers={"Authorization": f"Bearer {inputs.bridge_api_key}"}
    )
    if isinstance(answer, str) or answer.status_code != 200:
        return None
    valves = answer.json()
    return valves if isinstance(valves, dict) else None


def _setting_name(setting: str) -> str:
    return setting if setting.isupper() else f"valve {setting}"


def _protocol_source(valves: dict[str, Any], environ: dict[str, str]) -> str:
    if str(valves.get("otlp_protocol") or "").strip():
        return "valve otlp_protocol"
    return (
        OTEL_EXPORTER_OTLP_TRACES_PROTOCOL
        if environ.get(OTEL_EXPORTER_OTLP_TRACES_PROTOCOL)
        else (OTEL_EXPORTER_OTLP_PROTOCOL)
    )


def _collector_ports(inputs: DoctorInputs) -> tuple[int, int]:
    env = inputs.collector_env or {}
    return int(env.get("OTELCOL_HTTP_PORT", OTLP_HTTP_PORT)), int(env.get("OTELCOL_GRPC_PORT", OTLP_GRPC_PORT))


def _serves_otlp_http(endpoint: str) -> bool:
    """Does ``endpoint`` answer an (empty) OTLP/HTTP export the way an OTLP/HTTP receiver does?"""
    answer = post_empty_export(http_traces_url(endpoint))
    return not isinstance(answer, str) and answer.status_code in (200, 401, 403)


def _misrouted(protocol: str, endpoint: str, inputs: DoctorInputs, source: str, where: str) -> Check | None:
    """gRPC sent to an OTLP/HTTP receiver (or HTTP to the gRPC port): every export fails."""
    try:
        parts = urlsplit(endpoint)
        port = parts.port
    except ValueError:
        return None
    http_port, grpc_port = _collector_ports(inputs)
    if protocol == GRPC and _serves_otlp_http(endpoint):
        right = f"{parts.scheme}://{parts.hostname}:{grpc_port}"
        return Check(
            source,
            FAIL,
            f"{where} sends gRPC to {endpoint}, an OTLP/HTTP port (it answers OTLP/HTTP), which cannot read it",
            f"unset {source.removeprefix('valve ')} (the default, http/protobuf, is what that port serves), "
            f"or point the endpoint at the collector's gRPC port (e.g. {right})",
            "every export fails: no turn reaches the collector (chats work as usual)",
        )
    if protocol == HTTP and port == grpc_port:
        return Check(
            source,
            FAIL,
            f"{where} sends OTLP/HTTP to {endpoint}, the collector's gRPC port ({grpc_port})",
            f"point the endpoint at the OTLP/HTTP port ({http_port}), or set {source.removeprefix('valve ')}=grpc",
            "every export fails: no turn reaches the collector (chats work as usual)",
        )
    return None


def check_filter_settings(inputs: DoctorInputs) -> list[Check]:
    if inputs.bridge_url:
        filter_id = bridge_filter_id(inputs)
        valves = _bridge_valves(inputs, filter_id) if filter_id else None
        if valves is None:
            return [Check("filter settings", SKIP, "the bridge did not show its valves (is the API key right?)")]
        environ = inputs.bridge_env
        where = "the bridge's filter"
    else:
        valves, environ, where = dict(inputs.filter_valves), inputs.filter_environ, "the filter (this shell's settings)"
    settings, problems = resolve_settings(valves, environ or {})
    checks = [
        Check(
            _setting_name(problem.setting),
            WARN,
            f"{problem.value!r} {problem.reason} ({where})",
            problem.fix,
            f"the filter keeps tracing: {problem.fallback[:1].lower()}{problem.fallback[1:]}",
        )
        for problem in problems
    ]
    misrouted = _misrouted(
        settings.export.protocol, settings.export.endpoint, inputs, _protocol_source(valves, environ or {}), where
    )
    if misrouted is not None:
        checks.append(misrouted)
    if inputs.bridge_url and environ is None:
        reported = _bridge_config_problems(inputs)
        if reported > len(problems):
            checks.append(
                Check(
                    "bridge environment",
                    WARN,
                    f"the bridge counts {reported} config problem(s), {len(problems)} of them in its valves: the rest "
                    "come from its environment, which the doctor cannot read (not an `owui-otel up` stack)",
                    "read the bridge's log: each problem names its variable and fix",
                    "the filter uses the safe fallback each problem names",
                )
            )
    unknown = bool(inputs.bridge_url) and environ is None
    if not checks:
        checks.append(
            Check(
                "filter settings",
                OK,
                f"{where} sends {settings.export.protocol} to {settings.export.endpoint}, no config problem"
                + (
                    " (judged by its valves: its environment is readable only in an `owui-otel up` stack)"
                    if unknown
                    else ""
                ),
            )
        )
    return checks


def _bridge_config_problems(inputs: DoctorInputs) -> int:
    answer = get(f"{inputs.bridge_url}/health")
    if isinstance(answer, str) or answer.status_code != 200:
        return 0
    return int((answer.json().get("counters") or {}).get("config_problems", 0))

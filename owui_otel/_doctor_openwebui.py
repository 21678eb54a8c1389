# SPDX-License-Identifier: Apache-2.0
"""Open WebUI's side, read through its admin API (``--openwebui-url`` + ``--openwebui-token``) and Jaeger:

* each OpenAI connection that is a filter host (the bridge, or a Pipelines server): empty key, a key the bridge
  refuses (Open WebUI then gets 401 from every inlet and no turn is traced), Prefix ID, explicit model ids;
* a double install: the bridge/Pipelines connection **and** our filter Function both active, so every turn is
  recorded twice -- from the API (``GET /openai/config`` + ``GET /api/v1/functions/``) and from Jaeger (one turn's
  trace holding two turn spans from different hosts).

    checks = check_openwebui(DoctorInputs(openwebui_url="http://localhost:3000", openwebui_token=token))
"""

from __future__ import annotations

from typing import Any

from otel_filter.hosts import FILTER_NAME
from otel_filter.semconv import (
    GEN_AI_OPERATION_CHAT,
    GEN_AI_OPERATION_NAME,
    OPENWEBUI_HOST,
    OPENWEBUI_TASK,
)
from otel_filter.settings import display_url
from owui_otel import DEFAULT_FILTER_ID
from owui_otel._doctor_base import FAIL, OK, OWUI_OTEL, SKIP, WARN, Check, DoctorInputs
from owui_otel._doctor_links import get, recent_turn_traces
from owui_otel._jaeger_query import span_tags

CONNECTION = "Open WebUI connection"
DOUBLE_INSTALL = "double install"
PICK_ONE = (
    "keep one: delete the Function (Admin Panel > Functions) to keep the bridge, or remove the bridge connection "
    "(Admin Settings > Connections) to keep the Function"
)


def _is_our_bridge(url: str, key: str) -> tuple[bool, bool]:
    """(is a filter host, refuses this key): a Pipelines-compatible server says ``"pipelines": true`` in its
    ``/models``; our bridge also answers ``/health`` without a key, so a refused key still tells it apart."""
    base = url.rstrip("/")
    probe = get(f"{base}/models", headers={"Authorization": f"Bearer {key}"})
    if not isinstance(probe, str) and probe.status_code == 200:
        try:
            return probe.json().get("pipelines") is True, False
        except ValueError:
            return False, False
    if isinstance(probe, str) or probe.status_code not in (401, 403):
        return False, False
    health = get(f"{base}/health")
    try:
        is_bridge = not isinstance(health, str) and health.status_code == 200 and "counters" in health.json()
    except ValueError:
        is_bridge = False
    return is_bridge, is_bridge


def _connection_check(index: int, url: str, key: str, settings: dict[str, Any], inputs: DoctorInputs) -> Check | None:
    shown = display_url(url)
    bridge = inputs.bridge_url.rstrip("/")
    points_at_bridge = bool(bridge) and url.rstrip("/") in (bridge, f"{bridge}/v1")
    is_host, refused = _is_our_bridge(url, key) if key else (points_at_bridge, False)
    if points_at_bridge and inputs.bridge_api_key and key and key != inputs.bridge_api_key:
        is_host, refused = True, True
    if not (is_host or points_at_bridge):
        return None
    if not key:
        return Check(
            CONNECTION,
            FAIL,
            f"connection {index} ({shown}) has an empty API key: Open WebUI silently skips its filters",
            "set the key on that connection (Admin Settings > Connections) to the bridge's key: "
            f"`{OWUI_OTEL} up` prints it (or PIPELINES_API_KEY for a Pipelines server)",
            "no turn is traced through it (chats work as usual)",
        )
    if refused:
        return Check(
            CONNECTION,
            FAIL,
            f"connection {index} ({shown}) sends an API key the bridge refuses (401): every inlet and outlet fails",
            "paste the bridge's key into that connection (Admin Settings > Connections > edit): "
            f"`{OWUI_OTEL} up` prints it; OWUI_OTEL_API_KEY if you started `{OWUI_OTEL} serve` yourself",
            "no turn is traced through it (chats work as usual)",
        )
    if settings.get("prefix_id"):
        return Check(
            CONNECTION,
            FAIL,
            f"connection {index} ({shown}) has Prefix ID {settings['prefix_id']!r}: filter URLs then use the "
            "prefixed id, which the server does not know, and no turn is traced",
            "clear the Prefix ID on that connection (Admin Settings > Connections)",
            "no turn is traced through it",
        )
    if settings.get("model_ids"):
        return Check(
            CONNECTION,
            FAIL,
            f"connection {index} ({shown}) lists explicit model ids, so Open WebUI never reads its /models and "
            "never learns the filter",
            "clear the model id list on that connection (Admin Settings > Connections)",
            "no turn is traced through it",
        )
    return Check(CONNECTION, OK, f"connection {index} ({shown}) is a filter host, set up right")


def _our_functions(base: str, headers: dict[str, str]) -> list[dict[str, Any]] | None:
    answer = get(f"{base}/api/v1/functions/", headers=headers)
    if isinstance(answer, str) or answer.status_code != 200:
        return None
    return [
        item
        for item in answer.json()
        if item.get("type") == "filter"
        and item.get("is_active")
        and (item.get("id") == DEFAULT_FILTER_ID or item.get("name") == FILTER_NAME)
    ]


def check_openwebui(inputs: DoctorInputs) -> list[Check]:
    if not (inputs.openwebui_url and inputs.openwebui_token):
        return [Check(CONNECTION, SKIP, "no --openwebui-url/--openwebui-token to read its connections")]
    base = inputs.openwebui_url.rstrip("/")
    headers = {"Authorization": f"Bearer {inputs.openwebui_token}"}
    answer = get(f"{base}/openai/config", headers=headers)
    if isinstance(answer, str):
        return [
            Check(
                "--openwebui-url",
                FAIL,
                f"cannot reach Open WebUI at {base} ({answer})",
                "pass Open WebUI's address, e.g. --openwebui-url http://localhost:3000",
                "its connections and Functions are not checked",
            )
        ]
    if answer.status_code in (401, 403):
        return [
            Check(
                "--openwebui-token",
                FAIL,
                f"Open WebUI refused the token ({answer.status_code})",
                "use an admin's token (Settings > Account: the JWT, or an API key when ENABLE_API_KEYS is on)",
                "its connections and Functions are not checked",
            )
        ]
    config = answer.json()
    urls: list[str] = config.get("OPENAI_API_BASE_URLS") or []
    keys: list[str] = config.get("OPENAI_API_KEYS") or []
    configs: dict[str, Any] = config.get("OPENAI_API_CONFIGS") or {}
    checks = []
    for index, url in enumerate(urls):
        key = keys[index] if index < len(keys) else ""
        found = _connection_check(index, url, key, configs.get(str(index)) or {}, inputs)
        if found is not None:
            checks.append(found)
    functions = _our_functions(base, headers)
    if checks and functions:
        names = ", ".join(
            f"{item.get('id')} ({'global' if item.get('is_global') else 'on some models'})" for item in functions
        )
        checks.append(
            Check(
                DOUBLE_INSTALL,
                FAIL,
                f"the filter runs twice: behind connection(s) to a filter host and as the active Function {names}",
                PICK_ONE,
                "every turn is recorded twice (two turn spans in one trace, costs counted twice)",
            )
        )
    elif not checks and not functions:
        unread = "" if functions is not None else " (its Function list was not readable)"
        checks.append(
            Check(
                CONNECTION,
                WARN,
                f"no OpenAI connection points at a Pipelines server or the bridge, and no filter Function is active"
                f"{unread}",
                f"add the bridge as a connection (URL + key from `{OWUI_OTEL} up`), or install the filter as a "
                f"Function: `{OWUI_OTEL} install function --url http://localhost:3000 --token <admin token>`",
                "no turn is traced",
            )
        )
    elif functions:
        checks.append(Check("filter Function", OK, f"{functions[0].get('id')} is active (and no filter connection)"))
    return checks


def check_duplicate_turns(inputs: DoctorInputs) -> list[Check]:
    """One turn recorded by two hosts (same trace, two turn spans): the filter is installed twice."""
    if not inputs.jaeger_url:
        return []
    traces = recent_turn_traces(inputs)
    if traces is None:
        return []
    doubled, hosts = 0, set()
    for trace in traces:
        turn_hosts = []
        for span in trace.get("spans", []):
            tags = span_tags(span)
            if tags.get(GEN_AI_OPERATION_NAME) == GEN_AI_OPERATION_CHAT and OPENWEBUI_TASK not in tags:
                turn_hosts.append(str(tags.get(OPENWEBUI_HOST, "?")))
        if len(turn_hosts) > 1:
            doubled += 1
            hosts.update(turn_hosts)
    if not doubled:
        return []
    return [
        Check(
            DOUBLE_INSTALL,
            FAIL,
            f"{doubled} recent turn(s) were recorded twice, by {' and '.join(sorted(hosts))}: the filter is "
            "installed two ways",
            PICK_ONE,
            "every turn is recorded twice (two turn spans in one trace, costs counted twice)",
        )
    ]

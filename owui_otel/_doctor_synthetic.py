# SPDX-License-Identifier: Apache-2.0
"""The doctor's synthetic turn: one made-up chat turn sent the way the admin configured, then looked for in every
backend, so a healthy run proves the whole chain rather than each link on its own.

* **Bridge** (one is configured): ``POST /{filter_id}/filter/inlet`` then ``.../outlet`` with its API key, exactly
  as Open WebUI calls it, so the turn leaves through the bridge's own settings and exporter.
* **Filter settings** (no bridge): a :class:`otel_filter.FilterCore` built from the same valves and environment the
  filter resolves (``resolve_settings``), through the filter's own export code (``Telemetry``).

How it is marked, so nobody takes it for user traffic: chat id ``owui-otel-doctor-<12 hex>``, message id
``owui-otel-doctor-msg-<12 hex>``, user id and model ``owui-otel-doctor``, no token usage (so no cost and no
"unpriced" count), and on the filter path the resource attribute ``openwebui.synthetic=owui-otel-doctor`` and
``openwebui.host=doctor``. Its trace id is the one every turn gets (:func:`otel_filter.trace_ids.turn_trace_id`), so
Jaeger (``GET /api/traces/{id}``) and Langfuse (the ``langfuse`` SDK's real-time observations API) are asked for it
by id::

    turn = SyntheticTurn.new()
    problem = send_through_bridge("http://127.0.0.1:9099", key, "otel_bridge", turn)   # None when accepted
    found = find_turn(turn, jaeger_url="http://127.0.0.1:16686", langfuse=None, wait_s=20)
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from otel_filter import FilterCore
from otel_filter.environment_variables import OTEL_RESOURCE_ATTRIBUTES
from otel_filter.semconv import OPENWEBUI_SYNTHETIC
from otel_filter.trace_ids import turn_span_id, turn_trace_id
from owui_otel._errors import OwuiOtelError
from owui_otel._jaeger_query import fetch_trace
from owui_otel._phoenix import phoenix_has_trace

SYNTHETIC_PREFIX = "owui-otel-doctor-"
SYNTHETIC_NAME = "owui-otel-doctor"
JAEGER, LANGFUSE, PHOENIX = "Jaeger", "Langfuse", "Phoenix"
_EXPORT_TIMEOUT_S = "5"
"""The synthetic filter's OTLP export timeout (``OTEL_EXPORTER_OTLP_TIMEOUT``): a dead endpoint costs seconds, not
the SDK's 10 s per retry."""


@dataclass(frozen=True)
class SyntheticTurn:
    chat_id: str
    message_id: str
    trace_id: str
    span_id: str

    @classmethod
    def new(cls) -> SyntheticTurn:
        token = uuid.uuid4().hex[:12]
        chat_id, message_id = f"{SYNTHETIC_PREFIX}{token}", f"{SYNTHETIC_PREFIX}msg-{token}"
        trace_id, span_id = turn_trace_id(chat_id, message_id), turn_span_id(chat_id, message_id)
        assert trace_id is not None and span_id is not None  # both ids are given
        return cls(chat_id, message_id, trace_id, span_id)

    @property
    def user(self) -> dict[str, str]:
        return {"id": SYNTHETIC_NAME, "name": "owui-otel doctor", "role": "admin"}

    def inlet_body(self) -> dict[str, Any]:
        question = {"role": "user", "content": "owui-otel doctor: synthetic turn, not user traffic"}
        return {
            "model": SYNTHETIC_NAME,
            "stream": False,
            "messages": [question],
            "metadata": {"chat_id": self.chat_id, "message_id": self.message_id, "user_id": SYNTHETIC_NAME},
        }

    def outlet_body(self) -> dict[str, Any]:
        reply = {"id": self.message_id, "role": "assistant", "content": "the chain works"}
        return {
            "model": SYNTHETIC_NAME,
            "chat_id": self.chat_id,
            "id": self.message_id,
            "messages": [*self.inlet_body()["messages"], reply],
        }


def send_through_bridge(bridge_url: str, api_key: str, filter_id: str, turn: SyntheticTurn) -> str | None:
    """Inlet and outlet through the bridge's Pipelines API; what went wrong, or None when both were accepted."""
    headers = {"Authorization": f"Bearer {api_key}"}
    for hook, body in (("inlet", turn.inlet_body()), ("outlet", turn.outlet_body())):
        try:
            answer = httpx.post(
                f"{bridge_url}/{filter_id}/filter/{hook}",
                json={"body": body, "user": turn.user},
                headers=headers,
                timeout=10.0,
            )
        except httpx.HTTPError as error:
            return f"the bridge did not answer its {hook} ({type(error).__name__})"
        if answer.status_code != 200:
            return f"the bridge answered {answer.status_code} to its {hook}"
    return None


def send_through_filter(valves: Mapping[str, Any], environ: Mapping[str, str], turn: SyntheticTurn) -> dict[str, int]:
    """The turn through the filter's own code and export path, with these valves and this environment (plus the
    synthetic mark); the filter's counters afterwards (``spans_exported``, ``spans_export_failed``...)."""
    resource = environ.get(OTEL_RESOURCE_ATTRIBUTES, "")
    marked = {
        **environ,
        OTEL_RESOURCE_ATTRIBUTES: ",".join(filter(None, [resource, f"{OPENWEBUI_SYNTHETIC}={SYNTHETIC_NAME}"])),
        "OTEL_EXPORTER_OTLP_TIMEOUT": _EXPORT_TIMEOUT_S,
    }
    core = FilterCore(valves, host="doctor", environ=marked)
    try:
        core.inlet(turn.inlet_body(), turn.user)
        core.outlet(turn.outlet_body(), turn.user)
        core.force_flush(timeout_s=15.0)
    finally:
        core.shutdown(timeout_s=5.0)
    return core.health.snapshot()


@dataclass(frozen=True)
class LangfuseReader:
    host: str
    public_key: str
    secret_key: str


def _in_jaeger(jaeger_url: str, turn: SyntheticTurn) -> bool:
    trace = fetch_trace(jaeger_url, turn.trace_id)
    return trace is not None and any(span.get("spanID") == turn.span_id for span in trace.get("spans", []))


def _in_langfuse(client: Any, turn: SyntheticTurn) -> bool:
    try:
        answer = client.api.observations.get_many(trace_id=turn.trace_id, fields="core,basic", limit=50)
    except Exception:  # the SDK raises its own typed error per status; any of them means "not (yet) readable"
        return False
    return any(observation.id == turn.span_id for observation in answer.data)


def _in_phoenix(phoenix_url: str, turn: SyntheticTurn) -> bool:
    try:
        return phoenix_has_trace(phoenix_url, turn.trace_id)
    except OwuiOtelError:  # another Phoenix than the pinned one: the turn counts as not found, the line says where
        return False


def find_turn(
    turn: SyntheticTurn,
    *,
    jaeger_url: str,
    langfuse: LangfuseReader | None,
    wait_s: float,
    phoenix_url: str = "",
) -> dict[str, bool]:
    """Ask each backend for the turn until all have it or ``wait_s`` passed: ``{"Jaeger": True, "Langfuse": False}``."""
    found: dict[str, bool] = {}
    if jaeger_url:
        found[JAEGER] = False
    if phoenix_url:
        found[PHOENIX] = False
    client, http = None, httpx.Client(timeout=5.0)
    if langfuse is not None:
        from langfuse import Langfuse  # noqa: PLC0415 (the [cli] extra)
        from langfuse._client.resource_manager import LangfuseResourceManager  # noqa: PLC0415

        LangfuseResourceManager.reset()  # one client per public key per process: see owui_otel._langfuse
        client = Langfuse(
            public_key=langfuse.public_key,
            secret_key=langfuse.secret_key,
            base_url=langfuse.host,
            tracing_enabled=False,
            httpx_client=http,
        )
        found[LANGFUSE] = False
    deadline = time.monotonic() + wait_s
    try:
        while True:
            if JAEGER in found and not found[JAEGER]:
                found[JAEGER] = _in_jaeger(jaeger_url, turn)
            if PHOENIX in found and not found[PHOENIX]:
                found[PHOENIX] = _in_phoenix(phoenix_url, turn)
            if client is not None and not found[LANGFUSE]:
                found[LANGFUSE] = _in_langfuse(client, turn)
            if all(found.values()) or time.monotonic() >= deadline:
                return found
            time.sleep(0.5)
    finally:
        if client is not None:
            client.shutdown()
        http.close()

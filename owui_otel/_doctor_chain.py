# SPDX-License-Identifier: Apache-2.0
"""The end-to-end check: send the synthetic turn (:mod:`owui_otel._doctor_synthetic`) the way the admin configured
and look for it in every enabled backend. A healthy stack ends with it found in each; a turn that went missing
names the backend and points at the lines above that say why.

    checks = check_synthetic_turn(DoctorInputs(bridge_url=..., bridge_api_key=..., jaeger_url=...))
"""

from __future__ import annotations

from collector import LANGFUSE_OTLP_PATH
from otel_filter.settings import resolve_settings
from owui_otel._doctor_base import FAIL, OK, OWUI_OTEL, SKIP, SYNTHETIC_TURN, Check, DoctorInputs
from owui_otel._doctor_settings import bridge_filter_id
from owui_otel._doctor_synthetic import (
    JAEGER,
    LANGFUSE,
    PHOENIX,
    LangfuseReader,
    SyntheticTurn,
    find_turn,
    send_through_bridge,
    send_through_filter,
)


def _langfuse_reader(inputs: DoctorInputs) -> LangfuseReader | None:
    """Where to read Langfuse back: its base URL (a host given with an API path is cut there, so the doctor can
    show that nothing arrived), when keys are set."""
    if not (inputs.langfuse_host and inputs.langfuse_public_key and inputs.langfuse_secret_key):
        return None
    base = inputs.langfuse_host.rstrip("/").split(LANGFUSE_OTLP_PATH)[0].split("/api/public")[0]
    return LangfuseReader(base, inputs.langfuse_public_key, inputs.langfuse_secret_key)


def _send(inputs: DoctorInputs, turn: SyntheticTurn) -> tuple[str, Check | None]:
    """(the path taken, a failure when the turn could not even be handed over)."""
    if inputs.bridge_url:
        filter_id = bridge_filter_id(inputs)
        problem = (
            send_through_bridge(inputs.bridge_url, inputs.bridge_api_key, filter_id, turn)
            if filter_id
            else "the bridge did not name its filter (GET /pipelines refused: wrong API key?)"
        )
        if problem:
            return "bridge", Check(
                SYNTHETIC_TURN,
                FAIL,
                f"not sent: {problem}",
                "fix the bridge problems above",
                "nothing proves that turns reach the backends",
            )
        return "bridge", None
    counters = send_through_filter(inputs.filter_valves, inputs.filter_environ, turn)
    if counters.get("spans_export_failed") or not counters.get("spans_exported"):
        settings, _ = resolve_settings(inputs.filter_valves, inputs.filter_environ)
        export = settings.export
        return "filter settings", Check(
            SYNTHETIC_TURN,
            FAIL,
            f"the filter's own exporter could not send it ({export.protocol} to {export.endpoint})",
            "fix the filter settings the lines above name (where the filter runs: its valves and environment)",
            "turns the filter records with these settings are lost",
        )
    return "filter settings", None


def check_synthetic_turn(inputs: DoctorInputs) -> list[Check]:
    if not inputs.synthetic_turn:
        return [Check(SYNTHETIC_TURN, SKIP, "not sent (--no-synthetic-turn): the links were checked one by one only")]
    turn = SyntheticTurn.new()
    path, failure = _send(inputs, turn)
    langfuse = _langfuse_reader(inputs)
    backends = (
        ([JAEGER] if inputs.jaeger_url else [])
        + ([PHOENIX] if inputs.phoenix_url else [])
        + ([LANGFUSE] if langfuse else [])
    )
    found = (
        find_turn(
            turn, jaeger_url=inputs.jaeger_url, langfuse=langfuse, wait_s=inputs.wait_s, phoenix_url=inputs.phoenix_url
        )
        if failure is None and backends
        else dict.fromkeys(backends, False)
    )
    data = {
        "chat_id": turn.chat_id,
        "trace_id": turn.trace_id,
        "path": path,
        "found_in": [name for name, here in found.items() if here],
        "missing_in": [name for name, here in found.items() if not here],
    }
    sent = f"sent through the {path} as chat {turn.chat_id} (trace {turn.trace_id})"
    if failure is not None:
        failure.data = data
        return [failure]
    if not backends:
        return [Check(SYNTHETIC_TURN, SKIP, f"{sent}; no Jaeger URL or Langfuse keys to look for it", data=data)]
    checks = []
    for name in data["missing_in"]:
        checks.append(
            Check(
                f"{SYNTHETIC_TURN} in {name}",
                FAIL,
                f"{sent}, but {name} did not have it after {inputs.wait_s:g} s",
                f"fix the problems above, then run `{OWUI_OTEL} doctor` again"
                + (f" (logs: {inputs.logs})" if inputs.logs else ""),
                f"turns do not reach {name}",
            )
        )
    if data["found_in"]:
        checks.append(Check(SYNTHETIC_TURN, OK, f"{sent}; found in {' and '.join(data['found_in'])}", data=data))
    else:
        checks[0].data = data
    return checks

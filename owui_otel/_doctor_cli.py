# SPDX-License-Identifier: Apache-2.0
"""``owui-otel doctor``'s command line: the flags, and the inputs they resolve to.

Every default comes from the running ``owui-otel up`` stack first (its URLs, its keys, and what its collector and
bridge actually run with), then from this shell's variables; a flag always wins. ``--json`` prints
:func:`owui_otel._doctor_report.to_json`'s document instead of the text. Exit code 1 whenever anything failed or
warned (the last line then says "N problems").

    add_doctor(subparsers)      # owui-otel doctor [--json] [--wait S] [--no-synthetic-turn] ...
"""

from __future__ import annotations

import argparse
import os
from typing import TYPE_CHECKING

from otel_filter.environment_variables import OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_EXPORTER_OTLP_HEADERS
from owui_otel.environment_variables import (
    LANGFUSE_HOST,
    LANGFUSE_PUBLIC_KEY,
    LANGFUSE_SECRET_KEY,
    OTEL_SERVICE_NAME,
    OWUI_OTEL_API_KEY,
    OWUI_TOKEN,
)

if TYPE_CHECKING:
    from owui_otel._doctor import DoctorInputs
    from owui_otel._doctor_running import RunningStack
    from owui_otel._stack import StackState

RUNNING_COLLECTOR = "the running collector"


def _langfuse(args: argparse.Namespace, running: RunningStack | None) -> tuple[str, str, str, str]:
    """(host, public key, secret key, source): the flag, else what the running collector sends with, else the shell."""
    if args.langfuse_host:
        host = args.langfuse_host
        return host, os.environ.get(LANGFUSE_PUBLIC_KEY, ""), os.environ.get(LANGFUSE_SECRET_KEY, ""), ""
    if running is not None and running.collector_env:
        from owui_otel._doctor_running import langfuse_keys_from_auth  # noqa: PLC0415 (doctor only)

        public_key, secret_key = langfuse_keys_from_auth(running.collector_env.get("LANGFUSE_AUTH_B64", ""))
        return running.collector_env.get(LANGFUSE_HOST, ""), public_key, secret_key, RUNNING_COLLECTOR
    return (
        os.environ.get(LANGFUSE_HOST, ""),
        os.environ.get(LANGFUSE_PUBLIC_KEY, ""),
        os.environ.get(LANGFUSE_SECRET_KEY, ""),
        "",
    )


def _running(state: StackState | None) -> RunningStack | None:
    from owui_otel._doctor_running import read_running_stack  # noqa: PLC0415 (doctor only)
    from owui_otel._stack import is_ours  # noqa: PLC0415

    supervisor = state.supervisor() if state else None
    if state is None or supervisor is None or not is_ours(supervisor):
        return None
    return read_running_stack(state)


def doctor_inputs(args: argparse.Namespace) -> DoctorInputs:
    from otel_filter.settings import parse_key_values  # noqa: PLC0415 (doctor only: keeps `owui-otel` quick)
    from owui_otel._doctor import DoctorInputs  # noqa: PLC0415
    from owui_otel._stack import load_state, otlp_headers_value  # noqa: PLC0415

    state = load_state()
    running = _running(state)
    urls = state.urls if state else {}
    otlp_endpoint = (
        args.otlp_endpoint
        or os.environ.get(OTEL_EXPORTER_OTLP_ENDPOINT, "")
        or urls.get("collector_otlp_http", "http://127.0.0.1:4318")
    )
    header_text = args.otlp_headers
    if not header_text and state is not None and state.ingest_token and otlp_endpoint == urls["collector_otlp_http"]:
        # The `up` stack's receiver wants the stack's token, whatever the shell's variables say.
        header_text = otlp_headers_value(state.ingest_token)
    headers, _ = parse_key_values(header_text or os.environ.get(OTEL_EXPORTER_OTLP_HEADERS, ""))
    host, public_key, secret_key, source = _langfuse(args, running)
    filter_environ = dict(os.environ)
    if state is not None and state.ingest_token and OTEL_EXPORTER_OTLP_HEADERS not in filter_environ:
        # A filter pointed at the `up` stack needs its token; the doctor's synthetic turn uses the same.
        filter_environ.setdefault(OTEL_EXPORTER_OTLP_ENDPOINT, urls.get("collector_otlp_http", ""))
        if filter_environ[OTEL_EXPORTER_OTLP_ENDPOINT] == urls.get("collector_otlp_http"):
            filter_environ[OTEL_EXPORTER_OTLP_HEADERS] = otlp_headers_value(state.ingest_token)
    return DoctorInputs(
        collector_health=args.collector_health or urls.get("collector_health", "http://127.0.0.1:13133"),
        collector_metrics=args.collector_metrics or urls.get("collector_metrics", "http://127.0.0.1:8888/metrics"),
        otlp_endpoint=otlp_endpoint,
        otlp_headers=headers,
        supervisor=state.supervisor_status() if state else None,
        supervisor_alive=running is not None,
        bridge_url=args.bridge_url or urls.get("bridge", ""),
        bridge_api_key=args.api_key or os.environ.get(OWUI_OTEL_API_KEY, "") or (state.api_key if state else ""),
        langfuse_host=host,
        langfuse_public_key=public_key,
        langfuse_secret_key=secret_key,
        langfuse_source=source,
        jaeger_url=args.jaeger_url or urls.get("jaeger", ""),
        prometheus_url=args.prometheus_url or urls.get("prometheus", ""),
        phoenix_url=args.phoenix_url or urls.get("phoenix", ""),
        service_name=os.environ.get(OTEL_SERVICE_NAME, "open-webui"),
        openwebui_url=args.openwebui_url,
        openwebui_token=args.openwebui_token or os.environ.get(OWUI_TOKEN, ""),
        collector_env=running.collector_env if running and running.collector_env else None,
        bridge_env=running.bridge_env if running and running.bridge_env else None,
        collector_log=running.collector_log if running else "",
        logs=running.logs if running else "",
        filter_environ=filter_environ,
        synthetic_turn=not args.no_synthetic_turn,
        wait_s=args.wait,
    )


def cmd_doctor(args: argparse.Namespace) -> int:
    from owui_otel._doctor import render, run_checks, to_json  # noqa: PLC0415

    report = run_checks(doctor_inputs(args))
    print(to_json(report) if args.json else render(report))
    return 1 if report.problems else 0


def add_doctor(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    doctor = commands.add_parser(
        "doctor",
        help="prove the chain works end to end (a synthetic turn), or say what to fix",
        description="Reads the `owui-otel up` stack's own settings (what its collector and bridge run with) and the "
        "collector's delivery metrics, checks each link in the order data flows (supervisor, bridge, the filter's "
        "settings, collector, Langfuse, Jaeger, Open WebUI's connections and Functions), then sends a synthetic "
        "turn (chat id owui-otel-doctor-...) through the bridge, or the filter's own settings when no bridge is "
        "configured, and looks for it in Jaeger, in Phoenix (the `up` stack's trace UI) and, with Langfuse keys, in "
        "Langfuse; it also checks the usage metrics in Prometheus. Each problem line names the "
        "setting, the fix and what happens meanwhile; the last line says 'N problems'. Exit code 1 then.",
    )
    doctor.add_argument("--json", action="store_true", help="print a JSON report (for CI) instead of text")
    doctor.add_argument("--wait", type=float, default=20.0, help="seconds to wait for the synthetic turn (20)")
    doctor.add_argument("--no-synthetic-turn", action="store_true", help="check the links only, send nothing")
    doctor.add_argument("--collector-health", default="", help="collector health_check URL (default: the `up` stack's)")
    doctor.add_argument(
        "--collector-metrics", default="", help="collector Prometheus metrics URL (default: the `up` stack's, :8888)"
    )
    doctor.add_argument(
        "--otlp-endpoint", default="", help="the filter's OTLP endpoint (default: OTEL_EXPORTER_OTLP_ENDPOINT)"
    )
    doctor.add_argument(
        "--otlp-headers",
        default="",
        help="the filter's OTLP headers (default: the `up` stack's token, else OTEL_EXPORTER_OTLP_HEADERS)",
    )
    doctor.add_argument("--bridge-url", default="", help="bridge server URL (default: the `up` stack's)")
    doctor.add_argument(
        "--api-key", default="", help=f"bridge API key (default: ${OWUI_OTEL_API_KEY} or the `up` stack's)"
    )
    doctor.add_argument(
        "--langfuse-host", default="", help="default: what the running collector sends to, else $LANGFUSE_HOST"
    )
    doctor.add_argument("--jaeger-url", default="", help="Jaeger query URL (default: the `up` stack's)")
    doctor.add_argument("--phoenix-url", default="", help="Phoenix (trace UI) URL (default: the `up` stack's)")
    doctor.add_argument("--prometheus-url", default="", help="Prometheus URL (default: the `up` stack's)")
    doctor.add_argument("--openwebui-url", default="", help="Open WebUI address, to check its connections/Functions")
    doctor.add_argument("--openwebui-token", default="", help=f"an admin token for it (default: ${OWUI_TOKEN})")
    doctor.set_defaults(handler=cmd_doctor)

# SPDX-License-Identifier: Apache-2.0
"""``owui-otel``: one entry point for the whole product. Every command has ``--help``.

    owui-otel up              # build (once) and start collector + Jaeger + bridge server, in the background
    owui-otel demo            # replay recorded chat turns through the running stack; print where to look
    owui-otel down            # stop what `up` started, and nothing else
    owui-otel serve           # the bridge server alone, in the foreground
    owui-otel install ...     # put the filter (or the Event function) into Open WebUI, or into Pipelines
    owui-otel doctor          # check each link of the chain, in plain words
    owui-otel traces          # recent turns from Jaeger as a tree in the terminal (--chat ID, --last N)
    owui-otel feedback sync   # Open WebUI's ratings -> Langfuse scores on their turns (new and changed only)
    owui-otel collector ...   # build/render/validate the collector (same as `python -m collector`)

Exit codes: 0 ok, 1 failure (the message says what to fix), 2 usage error. Every expected error -- a bad flag or
setting, no Go, a port in use, a server that cannot be reached -- is one line
``owui-otel <command>: error: <problem and fix>`` on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from collector.cli import OneLineErrorParser, report_errors
from owui_otel import DEFAULT_FILTER_ID
from owui_otel._command import command, program
from owui_otel._doctor_cli import add_doctor
from owui_otel._errors import OwuiOtelError, UsageError
from owui_otel._paths import data_dir
from owui_otel._phoenix import phoenix_trace_url
from owui_otel._stack import (
    STATE_FILE,
    StackOptions,
    StackState,
    ignored_shell_variables,
    is_ours,
    load_state,
    metrics_settings,
    otlp_headers_value,
    stack_dir,
    start_stack,
    stop_stack,
)
from owui_otel.environment_variables import (
    LANGFUSE_HOST,
    LANGFUSE_PUBLIC_KEY,
    LANGFUSE_SECRET_KEY,
    OTEL_EXPORTER_OTLP_ENDPOINT,
    OWUI_OTEL_ALLOW_WIDENING_VALVES,
    OWUI_OTEL_API_KEY,
    OWUI_OTEL_MAX_BODY_BYTES,
    OWUI_OTEL_MAX_RECORDED_BODY_BYTES,
    OWUI_OTEL_OPENWEBUI_URL,
    OWUI_TOKEN,
    PIPELINES_API_KEY,
)

if TYPE_CHECKING:
    from owui_otel._feedback_sync import FeedbackWorker

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 9099
API_KEY_ENV = OWUI_OTEL_API_KEY

Command = Callable[[argparse.Namespace], int]
# What the [cli] extra adds: the filter itself needs none of it.
_EXTRA_MODULES = {"fastapi", "uvicorn", "httpx", "yaml", "langfuse", "starlette"}


def _cmd_serve(args: argparse.Namespace) -> int:
    # Imported here: the server needs the [server] extra, the other commands mostly do not.
    from owui_otel._serve import serve  # noqa: PLC0415

    return serve(
        host=args.host,
        port=args.port,
        api_key=args.api_key or os.environ.get(API_KEY_ENV, ""),
        data_dir=Path(args.data_dir),
        filter_id=args.filter_id,
        otlp_endpoint=args.otlp_endpoint,
        server_spans=not args.no_server_spans,
        log_level=args.log_level,
        max_body_bytes=args.max_body_bytes,
        max_recorded_body_bytes=args.max_recorded_body_bytes,
        allow_widening_valves=args.allow_widening_valves,
        feedback=_feedback_worker(args),
    )


def _feedback_worker(args: argparse.Namespace) -> FeedbackWorker | None:
    """The bridge's feedback worker when ``serve`` was given an Open WebUI to read ratings from, else None."""
    openwebui_url = args.openwebui_url or os.environ.get(OWUI_OTEL_OPENWEBUI_URL, "")
    if not openwebui_url:
        if args.feedback_sync_every is not None:
            raise UsageError(
                f"--feedback-sync-every: given without --openwebui-url. Fix: add --openwebui-url (or export "
                f"{OWUI_OTEL_OPENWEBUI_URL}), or drop --feedback-sync-every"
            )
        return None
    if args.feedback_sync_every is not None and args.feedback_sync_every <= 0:
        raise UsageError(
            f"--feedback-sync-every: {args.feedback_sync_every:g} is not a positive number of seconds. Fix: give one, "
            "e.g. --feedback-sync-every 300"
        )
    from owui_otel._feedback_sync import EvaluationSpans, FeedbackWorker, feedback_sync  # noqa: PLC0415

    sync = feedback_sync(
        openwebui_url,
        os.environ.get(OWUI_TOKEN, ""),
        langfuse_host=args.langfuse_host,
        public_key=os.environ.get(LANGFUSE_PUBLIC_KEY, ""),
        secret_key=os.environ.get(LANGFUSE_SECRET_KEY, ""),
        evaluations=EvaluationSpans(args.otlp_endpoint),  # where the bridge's filter exports
        command="serve --openwebui-url",
        token_flag="",
    )
    return FeedbackWorker(sync, every_s=args.feedback_sync_every)


def _cmd_collector(args: argparse.Namespace) -> int:
    from collector.cli import main as collector_main  # noqa: PLC0415

    return collector_main(args.collector_args, prog="owui-otel collector")


def _add_serve(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "serve",
        help="run the bridge server (Pipelines-compatible, hosts the filter) in the foreground",
        description="Run the bridge server. Add it in Open WebUI under Admin Settings > Connections > OpenAI API "
        "as URL http://<host>:<port> with the API key; leave its Prefix ID empty.",
    )
    parser.add_argument(
        "--host", default=DEFAULT_HOST, help=f"address to bind (default {DEFAULT_HOST}; 0.0.0.0 in a container)"
    )
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT})")
    parser.add_argument(
        "--api-key",
        default="",
        help=f"key Open WebUI must send (default: ${API_KEY_ENV}, preferred: a command line is visible in ps)",
    )
    parser.add_argument(
        "--data-dir",
        default=str(data_dir() / "bridge"),
        help="where valves.json is kept (default: %(default)s)",
    )
    parser.add_argument(
        "--filter-id", default=DEFAULT_FILTER_ID, help="id Open WebUI sees for the filter (default %(default)s)"
    )
    parser.add_argument(
        "--otlp-endpoint",
        default=None,
        help="collector OTLP endpoint for the filter and the server's own spans "
        "(default: OTEL_EXPORTER_OTLP_ENDPOINT, else http://localhost:4318)",
    )
    parser.add_argument("--no-server-spans", action="store_true", help="do not trace the server's own HTTP requests")
    parser.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    # Imported here, like the server itself: the names and defaults are defined once, there.
    from owui_otel import _bridge_settings as limits  # noqa: PLC0415

    parser.add_argument(
        "--max-body-bytes",
        default=None,
        help="refuse (413) requests larger than this, e.g. 256MiB "
        f"(default: ${OWUI_OTEL_MAX_BODY_BYTES}, else {limits.DEFAULT_MAX_BODY_BYTES // 2**20}MiB)",
    )
    parser.add_argument(
        "--max-recorded-body-bytes",
        default=None,
        help="echo larger filter requests without tracing them (counted as bodies_too_large in /health) "
        f"(default: ${OWUI_OTEL_MAX_RECORDED_BODY_BYTES}, else "
        f"{limits.DEFAULT_MAX_RECORDED_BODY_BYTES // 2**20}MiB)",
    )
    parser.add_argument(
        "--allow-widening-valves",
        action="store_true",
        help="let valve updates over the API widen what leaves the machine: another export scheme, host or port, "
        "content capture on, a redaction pattern removed, email or task recording on, users identified by email, "
        "max_content_chars raised, pipelines tracing more models "
        f"(default: ${OWUI_OTEL_ALLOW_WIDENING_VALVES}, else refused with 403)",
    )
    parser.add_argument(
        "--openwebui-url",
        default="",
        help="Open WebUI's address: turns on the feedback Event webhook at /events/openwebui (ratings -> Langfuse "
        f"scores), reading records with ${OWUI_TOKEN} (an admin's key) and Langfuse's host and keys "
        f"(default: ${OWUI_OTEL_OPENWEBUI_URL}; off without it)",
    )
    parser.add_argument(
        "--langfuse-host",
        default=os.environ.get(LANGFUSE_HOST, ""),
        help=f"with --openwebui-url: where scores go (default: ${LANGFUSE_HOST}; keys: ${LANGFUSE_PUBLIC_KEY}, "
        f"${LANGFUSE_SECRET_KEY})",
    )
    parser.add_argument(
        "--feedback-sync-every",
        type=float,
        default=None,
        metavar="SECONDS",
        help="with --openwebui-url: also run `owui-otel feedback sync` inside the server this often",
    )
    parser.set_defaults(handler=_cmd_serve)


def _stack_options(args: argparse.Namespace) -> StackOptions:
    return StackOptions(
        **{name: getattr(args, name) for name in StackOptions().ports()},  # one --*-port option each
        langfuse_host=args.langfuse_host,
        langfuse_public_key=os.environ.get(LANGFUSE_PUBLIC_KEY, ""),
        langfuse_secret_key=os.environ.get(LANGFUSE_SECRET_KEY, ""),
        metrics_settings=metrics_settings(os.environ),
    )


def _langfuse_off() -> str:
    return f"off (to add it: export LANGFUSE_HOST + keys, then {command('down && up')})"


def _ignored_shell_line() -> str:
    ignored = ignored_shell_variables()
    if not ignored:
        return ""
    return f"\n  Not passed on       {', '.join(ignored)} (your shell's; the bridge exports to this stack's collector)"


def _print_stack(state: StackState) -> None:
    urls = state.urls
    headers = otlp_headers_value(state.ingest_token)
    owui_otel = program()
    print(
        f"""
The owui-otel stack is running (supervised: a process that dies is restarted; `{owui_otel} doctor` shows restarts).
  Trace UI (Phoenix)  {urls.get("phoenix", "(not in this stack: down, then up)")}    traces kept across down/up
  Jaeger (query API)  {urls["jaeger"]}    e.g. {urls["jaeger"]}/api/traces?service=open-webui
  Collector OTLP      {urls["collector_otlp_http"]} (HTTP), {urls["collector_otlp_grpc"]} (gRPC); bearer token required
  Bridge server       {urls["bridge"]}
  Prometheus          {urls.get("prometheus", "-")} (usage metrics; HTTP API only: /api/v1/query?query=...)
  Langfuse            {"on (LANGFUSE_HOST)" if state.langfuse else _langfuse_off()}{_ignored_shell_line()}
  Logs                {stack_dir() / "logs"}  (one log per process, the supervisor's too)
  State               {stack_dir()}  (pids, generated configs; `down` clears it)
  Data                {data_dir()}  (bridge key and valves, collector token and queue; kept)

Connect Open WebUI one way, not both (both record every turn twice):
  a) Admin Settings > Connections > OpenAI API > +:
       URL  {urls["bridge"]}      (from a container: http://host.docker.internal:{urls["bridge"].rsplit(":", 1)[1]})
       Key  {state.api_key}
     Leave "Prefix ID" empty (it breaks filters).
  b) Install the filter as a global Function, exporting to this collector with its token:
       {owui_otel} install function --url http://localhost:3000 --token <admin token> \\
         --valve otlp_endpoint={urls["collector_otlp_http"]} --valve otlp_headers={headers}
     (or set OTEL_EXPORTER_OTLP_HEADERS={headers} on the Open WebUI process instead of the valve)

Next: {owui_otel} demo      (recorded chats -> traces you can look at)
Stop: {owui_otel} down"""
    )


def _cmd_up(args: argparse.Namespace) -> int:
    state = start_stack(_stack_options(args), progress=_progress)
    _print_stack(state)
    if not args.foreground:
        return 0
    print("\nRunning in the foreground: Ctrl-C stops everything.")
    supervisor = state.supervisor()
    try:
        while supervisor is not None and is_ours(supervisor):
            status = state.supervisor_status()
            if status is not None and any(child.given_up for child in status.children):
                break
            time.sleep(1.0)
        print(
            f"a process of the stack exited and was not restarted: read its log in {stack_dir() / 'logs'}, fix the "
            f"cause, then {command('up')}; stopping the rest",
            file=sys.stderr,
        )
        return_code = 1
    except KeyboardInterrupt:
        return_code = 0
    stop_stack(progress=_progress)
    return return_code


def _cmd_down(args: argparse.Namespace) -> int:
    stopped = stop_stack(progress=_progress)
    print("stopped: " + ", ".join(stopped) if stopped else "nothing was running")
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from owui_otel._demo import KeyRefused, run_demo  # noqa: PLC0415

    state = load_state()
    stack = f"{stack_dir() / STATE_FILE} (the `up` stack)"
    bridge_url = args.bridge_url or (state.urls["bridge"] if state else "")
    jaeger_url = args.jaeger_url or (state.urls["jaeger"] if state else "")
    # The `up` stack's own bridge takes the stack's key: a key left in the shell for `serve` must not break it.
    key_sources = [("--api-key", args.api_key)]
    if state is not None and not args.bridge_url:
        key_sources.append((stack, state.api_key))
    key_sources.append((API_KEY_ENV, os.environ.get(API_KEY_ENV, "")))
    key_setting, api_key = next(((name, key) for name, key in key_sources if key), ("", ""))
    phoenix_url = state.urls.get("phoenix", "") if state and not args.jaeger_url else ""
    if not (bridge_url and jaeger_url and api_key):
        raise OwuiOtelError(
            f"{stack_dir() / STATE_FILE}: no running stack found. Fix: {command('up')} starts one (or pass "
            "--bridge-url, --api-key and --jaeger-url of yours). Until then: nothing was replayed"
        )
    print(f"Replaying recorded Open WebUI turns through {bridge_url} ...")
    import httpx  # noqa: PLC0415 (the [cli] extra, like the demo itself)

    try:
        report = run_demo(
            bridge_url,
            api_key,
            jaeger_url,
            wait_s=args.wait,
            bridge_setting="--bridge-url" if args.bridge_url else stack,
            jaeger_setting="--jaeger-url" if args.jaeger_url else stack,
            phoenix_url=phoenix_url,
        )
    except KeyRefused as error:
        fix = (
            f"`unset {API_KEY_ENV}` (left over from `serve`?), or pass the bridge's key with --api-key"
            if key_setting == API_KEY_ENV
            else "pass the key the bridge was started with (`serve --api-key` or its $" + API_KEY_ENV + ")"
        )
        raise OwuiOtelError(f"{key_setting}: {error}. Fix: {fix}. Until then: nothing was replayed") from error
    except httpx.HTTPError as error:
        # The bridge answered /ready, then failed or went away in the middle of the replay.
        raise OwuiOtelError(
            f"the bridge server at {bridge_url} failed during the replay ({type(error).__name__}: {error}). Fix: "
            f"{command('doctor')} finds the broken link; its log is in {stack_dir() / 'logs'} (the `up` stack). "
            "Until then: the turns replayed so far are traced"
        ) from error
    # Our Jaeger build has no UI (a source build; its assets come from an npm build): Phoenix is the trace UI, and
    # the terminal view and Jaeger's query API are there for a server without a browser.
    print("\nTraces in Jaeger:")
    print(
        f"  (open a turn in the trace UI with its Phoenix link; {command('traces')} shows them in the terminal; "
        "the Jaeger links are its query API's JSON)"
    )
    for turn in report.turns:
        for trace_id in turn.trace_ids[:1]:
            look = f"{program()} traces --chat {turn.chat_id}" if turn.chat_id else f"trace {trace_id}"
            print(f"  {turn.label}\n    {turn.summary}\n    {look}")
            if report.phoenix_url:
                print(f"    Phoenix: {phoenix_trace_url(report.phoenix_url, trace_id)}")
            print(f"    {jaeger_url}/api/traces/{trace_id}")
    print(f"\nAll of them, as a tree: {program()} traces --last {len(report.turns)}")
    if state is not None and "prometheus" in state.urls:
        from owui_otel._usage_report import usage_lines  # noqa: PLC0415

        print(f"\nUsage of this demo, read back from Prometheus ({state.urls['prometheus']}, PromQL):")
        print("\n".join(usage_lines(state.urls["prometheus"], report.user_ids, turns=len(report.turns))))
    langfuse_host = os.environ.get(LANGFUSE_HOST, "")
    if state is not None and state.langfuse and langfuse_host:
        from owui_otel._langfuse import langfuse_project  # noqa: PLC0415

        try:
            project = langfuse_project(
                langfuse_host, os.environ.get(LANGFUSE_PUBLIC_KEY, ""), os.environ.get(LANGFUSE_SECRET_KEY, "")
            )
        except OwuiOtelError as error:
            print(f"\nLangfuse: {error}; {command('doctor')} checks the whole Langfuse link")
        else:
            print(f"\nLangfuse project {project.name!r}: {project.url}/traces (the 3-turn chat is one session)")
    return 0


def _add_stack_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    defaults = StackOptions()
    up = commands.add_parser(
        "up",
        help="build (once) and start collector + Jaeger + bridge server locally, no Docker",
        description="Build our collector and Jaeger (first run only; cached in ~/.cache/owui-otel), then start "
        "them and the bridge server in the background on 127.0.0.1 under a supervisor that restarts any of them "
        "that dies (`owui-otel doctor` shows restarts), wait until healthy, and print what to paste into Open "
        "WebUI. The collector's receiver requires a bearer token, generated once and kept (0600) in the data dir; "
        "the bridge gets it by itself. Langfuse is added when LANGFUSE_HOST, LANGFUSE_PUBLIC_KEY and "
        "LANGFUSE_SECRET_KEY are set.",
    )
    up.add_argument("--foreground", action="store_true", help="stay attached; Ctrl-C stops everything")
    up.add_argument(
        "--langfuse-host",
        default=os.environ.get(LANGFUSE_HOST, ""),
        help="Langfuse base URL, e.g. https://cloud.langfuse.com (default: $LANGFUSE_HOST; empty = no Langfuse)",
    )
    for name, value in defaults.ports().items():
        up.add_argument(f"--{name.replace('_', '-')}", type=int, default=value, help=f"default {value}")
    up.set_defaults(handler=_cmd_up)
    down = commands.add_parser("down", help="stop what `owui-otel up` started, and nothing else")
    down.set_defaults(handler=_cmd_down)
    demo = commands.add_parser(
        "demo",
        help="replay recorded chat turns through the running stack and print the traces",
        description="Replays real Open WebUI requests (a 3-turn chat with title/tags/follow-up tasks, an API call "
        "streaming with usage, a stopped turn, a failed turn) through the bridge server, then prints the Jaeger "
        "links of the resulting traces.",
    )
    demo.add_argument("--bridge-url", default="", help="default: the stack started by `up`")
    demo.add_argument(
        "--api-key", default="", help=f"default: the `up` stack's key for its own bridge, else ${API_KEY_ENV}"
    )
    demo.add_argument("--jaeger-url", default="", help="default: the stack started by `up`")
    demo.add_argument("--wait", type=float, default=60.0, help="seconds to wait for traces in Jaeger (default 60)")
    demo.set_defaults(handler=_cmd_demo)


def _cmd_install(args: argparse.Namespace) -> int:
    from owui_otel._install import (  # noqa: PLC0415
        filter_source,
        install_event_function,
        install_function,
        install_pipelines,
        parse_valves,
    )

    valves = parse_valves(args.valve)
    source = filter_source(Path(args.file)) if args.file else None  # None: each target's generated file
    if args.target == "event-function":
        token = args.token or os.environ.get(OWUI_TOKEN, "")
        ids = {"function_id": args.id} if args.id else {}  # else the Event function's own id
        result = install_event_function(args.url, token, valves=valves, source=source, **ids)
        verb = "created" if result.created else "updated"
        print(
            f"{verb} Event function {result.id!r} in Open WebUI {result.details['open_webui']} at {args.url}: active; "
            "every rating now becomes scores on its turn (Langfuse: set the langfuse_* valves or LANGFUSE_HOST, "
            "LANGFUSE_PUBLIC_KEY, LANGFUSE_SECRET_KEY on the Open WebUI process)"
        )
    elif args.target == "function":
        token = args.token or os.environ.get(OWUI_TOKEN, "")
        result = install_function(args.url, token, function_id=args.id, valves=valves, source=source)
        verb = "created" if result.created else "updated"
        where = f"Open WebUI {result.details['open_webui']} at {args.url}"
        print(
            f"{verb} Function {result.id!r} in {where}: a global, active filter. Install one way, not two: with this "
            "Function, do not also connect the bridge or a Pipelines filter (each turn would be recorded twice)"
        )
        if not valves:
            print(
                "no valves given: it exports to OTEL_EXPORTER_OTLP_ENDPOINT of the Open WebUI process, else "
                "http://localhost:4318"
            )
        state = load_state()
        if state is not None and state.ingest_token and "otlp_headers" not in valves:
            print(
                "valve otlp_headers: not given, but the `up` stack's collector requires its token. Fix, if this filter "
                "exports to it: "
                + command(
                    f"install function --url {args.url} --token <admin token> --valve "
                    f"otlp_headers={otlp_headers_value(state.ingest_token)}"
                )
                + " (or set OTEL_EXPORTER_OTLP_HEADERS to that on the Open WebUI process). Until then: that collector "
                "refuses its spans (401)"
            )
    else:
        api_key = args.api_key or os.environ.get(PIPELINES_API_KEY, "")
        result = install_pipelines(args.url, api_key, valves=valves, source=source)
        print(
            f"uploaded {result.id!r} to the Pipelines server at {args.url}; it is listed as a filter. Open WebUI uses "
            "it only once it refreshes its model list: reload the Open WebUI page in the browser (or GET /api/models). "
            "Install one way, not two: with this filter in Pipelines, do not also install the Function or connect the "
            "bridge (each turn would be recorded twice)"
        )
    return 0


def _add_install(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    install = commands.add_parser(
        "install",
        help="put the filter (or the ratings Event function) into a running Open WebUI, or the filter into a "
        "Pipelines server",
        description="Install the generated single-file filter without copying it by hand.",
    )
    targets = install.add_subparsers(dest="target", metavar="TARGET", required=True)
    function = targets.add_parser(
        "function",
        help="create/update it as a global, active Open WebUI Function (admin token)",
        description="Create or update the filter as an Open WebUI Function through its REST API, make it active and "
        "global, and merge the given valves. Works with Open WebUI 0.6 and 0.12.",
    )
    function.add_argument("--url", required=True, help="Open WebUI's address, e.g. http://localhost:3000")
    function.add_argument("--token", default="", help="an admin's token (default: $OWUI_TOKEN); Settings > Account")
    function.add_argument("--id", default=DEFAULT_FILTER_ID, help="Function id (default %(default)s)")
    event_function = targets.add_parser(
        "event-function",
        help="create/update the Event function that turns ratings into scores (Open WebUI >= 0.10; admin token)",
        description="Create or update the Event function (every rating becomes scores on its turn in Langfuse and a "
        "gen_ai.evaluation.result in the turn's trace) through Open WebUI's REST API and make it active. Needs Open "
        "WebUI 0.10 or later; for older versions use `owui-otel feedback sync`.",
    )
    event_function.add_argument("--url", required=True, help="Open WebUI's address, e.g. http://localhost:3000")
    event_function.add_argument("--token", default="", help="an admin's token (default: $OWUI_TOKEN)")
    event_function.add_argument("--id", default="", help="Function id (default: otel_evaluations)")
    pipelines = targets.add_parser(
        "pipelines",
        help="upload it to a Pipelines server (its API key) and set its valves",
        description="Upload the filter to an Open WebUI Pipelines server and merge the given valves.",
    )
    pipelines.add_argument("--url", required=True, help="the Pipelines server's address, e.g. http://localhost:9099")
    pipelines.add_argument("--api-key", default="", help="its PIPELINES_API_KEY (default: $PIPELINES_API_KEY)")
    for parser in (function, event_function, pipelines):
        parser.add_argument(
            "--valve",
            action="append",
            default=[],
            metavar="KEY=VALUE",
            help="set a valve, e.g. --valve otlp_endpoint=http://collector:4318 (repeatable; JSON values allowed)",
        )
        parser.add_argument(
            "--file", default="", help="install this file instead of the one generated from the package"
        )
        parser.set_defaults(handler=_cmd_install)


def _cmd_feedback_sync(args: argparse.Namespace) -> int:
    from owui_otel._feedback_sync import EvaluationSpans, feedback_sync  # noqa: PLC0415

    if args.every is not None and args.every <= 0:
        raise UsageError(f"--every: {args.every:g} is not a positive number of seconds. Fix: give one, e.g. --every 60")
    otlp_endpoint = args.otlp_endpoint or os.environ.get(OTEL_EXPORTER_OTLP_ENDPOINT, "")
    evaluations = EvaluationSpans(args.otlp_endpoint) if otlp_endpoint and not args.dry_run else None
    sync = feedback_sync(
        args.openwebui_url or os.environ.get(OWUI_OTEL_OPENWEBUI_URL, ""),
        args.token or os.environ.get(OWUI_TOKEN, ""),
        langfuse_host=args.langfuse_host,
        public_key=os.environ.get(LANGFUSE_PUBLIC_KEY, ""),
        secret_key=os.environ.get(LANGFUSE_SECRET_KEY, ""),
        dry_run=args.dry_run,
        evaluations=evaluations,
    )
    with sync:
        while True:
            try:
                report = sync.run()
            except OwuiOtelError as error:
                if args.every is None:
                    raise
                # Periodic: Open WebUI restarting is no reason to stop; say it, try again next time.
                print(f"owui-otel feedback sync: error: {error} (trying again in {args.every:g}s)", file=sys.stderr)
            else:
                print(("dry run (nothing sent): " if args.dry_run else "") + report.summary(), flush=True)
                if args.every is None:
                    return 1 if report.failed else 0
            time.sleep(args.every)


def _add_feedback(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    feedback = commands.add_parser(
        "feedback", help="Open WebUI's ratings (thumbs, 1-10, reason, comment) as Langfuse scores"
    )
    actions = feedback.add_subparsers(dest="target", metavar="ACTION", required=True)
    sync = actions.add_parser(
        "sync",
        help="send every new or changed rating to Langfuse as scores on its turn, delete the deleted ones",
        description="Reads Open WebUI's feedback API with an admin token and sends only what changed since the "
        "last run (progress kept in the state dir, per Open WebUI URL). A run killed mid-way resumes without "
        "loss or duplicates; concurrent runs wait for each other. Exit code 1 when some feedback could not be "
        "delivered (it is retried on the next run).",
    )
    sync.add_argument("--openwebui-url", default="", help=f"Open WebUI's address (default: ${OWUI_OTEL_OPENWEBUI_URL})")
    sync.add_argument(
        "--token", default="", help=f"an admin's API key or JWT (default: ${OWUI_TOKEN}, preferred: ps shows flags)"
    )
    sync.add_argument(
        "--langfuse-host",
        default=os.environ.get(LANGFUSE_HOST, ""),
        help=f"default: ${LANGFUSE_HOST}; keys from ${LANGFUSE_PUBLIC_KEY} and ${LANGFUSE_SECRET_KEY}",
    )
    sync.add_argument(
        "--otlp-endpoint",
        default="",
        help="also record each delivered score as gen_ai.evaluation.result in its turn's trace, over OTLP/HTTP to this "
        f"collector (default: ${OTEL_EXPORTER_OTLP_ENDPOINT}; neither: Langfuse scores only)",
    )
    sync.add_argument("--dry-run", action="store_true", help="say what would be sent and deleted; send nothing")
    sync.add_argument(
        "--every", type=float, default=None, metavar="SECONDS", help="run again every SECONDS, until Ctrl-C"
    )
    sync.set_defaults(handler=_cmd_feedback_sync)


def _progress(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _cmd_traces(args: argparse.Namespace) -> int:
    from owui_otel._traces import recent_turns, render_turns  # noqa: PLC0415

    if args.last < 1:
        raise UsageError(f"--last {args.last}: not a number of turns. Fix: give 1 or more, e.g. --last 10")
    jaeger_url = args.jaeger_url
    if not jaeger_url:  # a stack's state is read only when needed: --jaeger-url works whatever it holds
        state = load_state()
        jaeger_url = state.urls["jaeger"] if state else ""
    if not jaeger_url:
        raise OwuiOtelError(
            f"{stack_dir() / STATE_FILE}: no running stack found. Fix: {command('up')} starts one (or pass "
            "--jaeger-url of yours). Until then: there is nothing to read traces from"
        )
    turns = recent_turns(jaeger_url, last=args.last, chat_id=args.chat, service=args.service)
    if not turns:
        where = f"for chat {args.chat} " if args.chat else ""
        print(
            f"no turns {where}in Jaeger at {jaeger_url} (service {args.service!r}, last 7 days); "
            f"{command('demo')} sends some, {command('doctor')} finds a broken link"
        )
        return 0
    print(render_turns(turns))
    return 0


def _add_traces(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from owui_otel._jaeger_query import DEFAULT_SERVICE  # noqa: PLC0415

    traces = commands.add_parser(
        "traces",
        help="recent chat turns from Jaeger as a tree in the terminal",
        description="Reads Jaeger's query API (the `up` stack's, or --jaeger-url) and prints the most recent turns, "
        "oldest first: time, span name, trace id, user, chat, tokens, cost, duration and how the turn ended; under "
        "each, its task calls (title/tags/follow-ups) and evaluations. No browser needed.",
    )
    traces.add_argument("--last", type=int, default=10, help="how many turns (default 10)")
    traces.add_argument("--chat", default="", help="only this chat's turns (its openwebui.chat.id)")
    traces.add_argument("--jaeger-url", default="", help="Jaeger query URL (default: the `up` stack's)")
    traces.add_argument(
        "--service", default=DEFAULT_SERVICE, help=f"the filter's service.name (default {DEFAULT_SERVICE})"
    )
    traces.set_defaults(handler=_cmd_traces)


def _add_collector(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "collector",
        help="build, configure and validate the OpenTelemetry Collector (see `owui-otel collector --help`)",
        add_help=False,
    )
    parser.add_argument("collector_args", nargs=argparse.REMAINDER)
    parser.set_defaults(handler=_cmd_collector)


class _Parser(OneLineErrorParser):
    """Usage errors point at the help the way it pastes (``.venv/bin/owui-otel up --help`` from a checkout)."""

    def help_command(self) -> str:
        return command(self.prog.removeprefix("owui-otel").strip(), "--help")


def build_parser() -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = _Parser(
        prog="owui-otel",
        description="OpenTelemetry GenAI tracing for Open WebUI: every chat turn as a GenAI trace in Langfuse, "
        "Jaeger or any OTLP backend.",
        epilog="Exit codes: 0 ok, 1 failure, 2 usage error. Start with: owui-otel up && owui-otel demo",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    _add_stack_commands(commands)
    _add_install(commands)
    add_doctor(commands)
    _add_serve(commands)
    _add_feedback(commands)
    _add_traces(commands)
    _add_collector(commands)
    return parser


def _run(handler: Command, args: argparse.Namespace) -> int:
    """The handler, with the expected errors that are not ours turned into ours (one line each)."""
    try:
        return handler(args)
    except ModuleNotFoundError as error:
        if error.name is None or error.name.split(".")[0] not in _EXTRA_MODULES:
            raise
        raise OwuiOtelError(
            f"this command needs {error.name!r}, which this installation lacks. Fix: pip install 'owui-otel[cli]' "
            "(from a checkout: `make setup`)"
        ) from error
    except Exception as error:
        # A URL option httpx cannot parse (e.g. --url http://[::1): httpx.InvalidURL is no httpx.HTTPError, so the
        # commands' own handlers miss it. Looked up lazily: httpx comes with the [cli] extra, and `down` needs none.
        httpx = sys.modules.get("httpx")
        if httpx is None or not isinstance(error, httpx.InvalidURL):
            raise
        raise UsageError(
            f"invalid URL option ({error}). Fix: give it as http://host:port, e.g. http://localhost:3000"
        ) from error


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    if arguments[:1] == ["collector"]:
        # Handed over whole (options included, --help too) to the collector tooling's own CLI.
        return _cmd_collector(argparse.Namespace(collector_args=arguments[1:]))
    parser = build_parser()
    args = parser.parse_args(arguments)
    handler: Command | None = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return 2
    label = f"owui-otel {args.command}" + (f" {args.target}" if args.command in ("install", "feedback") else "")
    return report_errors(label, lambda: _run(handler, args))


if __name__ == "__main__":
    raise SystemExit(main())

# SPDX-License-Identifier: Apache-2.0
"""``owui-otel``: one entry point for the whole product. Every command has ``--help``.

    owui-otel up              # build (once) and start collector + Jaeger + bridge server, in the background
    owui-otel demo            # replay recorded chat turns through the running stack; print where to look
    owui-otel down            # stop what `up` started, and nothing else
    owui-otel serve           # the bridge server alone, in the foreground
    owui-otel install ...     # put the filter into a running Open WebUI or Pipelines server
    owui-otel doctor          # check each link of the chain, in plain words
    owui-otel collector ...   # build/render/validate the collector (same as `python -m collector`)

Exit codes: 0 ok, 1 failure (the message says what to fix), 2 usage error.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from owui_otel._errors import OwuiOtelError
from owui_otel._paths import data_dir

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 9099
API_KEY_ENV = "OWUI_OTEL_API_KEY"

Command = Callable[[argparse.Namespace], int]


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
    )


def _cmd_collector(args: argparse.Namespace) -> int:
    from collector.cli import main as collector_main  # noqa: PLC0415

    return collector_main(args.collector_args)


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
    parser.add_argument("--api-key", default="", help=f"key Open WebUI must send (default: ${API_KEY_ENV}; required)")
    parser.add_argument(
        "--data-dir",
        default=str(data_dir() / "bridge"),
        help="where valves.json is kept (default: %(default)s)",
    )
    parser.add_argument(
        "--filter-id", default="otel_bridge", help="id Open WebUI sees for the filter (default %(default)s)"
    )
    parser.add_argument(
        "--otlp-endpoint",
        default=None,
        help="collector OTLP endpoint for the filter and the server's own spans "
        "(default: OTEL_EXPORTER_OTLP_ENDPOINT, else http://localhost:4318)",
    )
    parser.add_argument("--no-server-spans", action="store_true", help="do not trace the server's own HTTP requests")
    parser.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    parser.set_defaults(handler=_cmd_serve)


def _add_collector(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "collector",
        help="build, configure and validate the OpenTelemetry Collector (see `owui-otel collector --help`)",
        add_help=False,
    )
    parser.add_argument("collector_args", nargs=argparse.REMAINDER)
    parser.set_defaults(handler=_cmd_collector)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="owui-otel",
        description="OpenTelemetry bridge for Open WebUI: every chat turn as a GenAI trace in Langfuse, Jaeger or "
        "any OTLP backend.",
        epilog="Exit codes: 0 ok, 1 failure, 2 usage error. Start with: owui-otel up && owui-otel demo",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    _add_serve(commands)
    _add_collector(commands)
    for register in _EXTRA_COMMANDS:
        register(commands)
    return parser


_EXTRA_COMMANDS: list[Callable[[argparse._SubParsersAction[argparse.ArgumentParser]], None]] = []


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Command | None = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return 2
    try:
        return handler(args)
    except OwuiOtelError as error:
        print(f"owui-otel {args.command}: error: {error}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    raise SystemExit(main())

# SPDX-License-Identifier: Apache-2.0
"""``python -m collector``: build the collector and Jaeger, render and validate configs, compute Langfuse auth.

Commands (each has ``--help``)::

    python -m collector build [--force] [--manifest FILE] [--quiet]      # path of owui-otelcol on the last line
    python -m collector build-jaeger [--force] [--quiet]                 # path of jaeger on the last line
    python -m collector config [--exporters NAME,...] [--otlp SPEC]... [--receiver-auth]
                               [--<name>-keep-content] [--debug-verbosity basic|normal|detailed]
                               [-o FILE] [--validate [--binary PATH]]
    python -m collector validate [--config FILE]... [--binary PATH]
    python -m collector langfuse-auth                                    # base64 of LANGFUSE_PUBLIC_KEY:SECRET_KEY

Progress goes to stderr, results to stdout. Exit codes: 0 ok, 1 failure, 2 usage error. Every expected error (a bad
flag or setting, no Go, a failed build) is one line ``<prog> <command>: error: <problem and fix>``, never a traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NoReturn

from otel_filter.environment_variables import LANGFUSE_HOST

from ._auth import LANGFUSE_PUBLIC_KEY, LANGFUSE_SECRET_KEY, langfuse_base_url, langfuse_basic_auth_from_env
from ._backends import BACKENDS, BUILTIN_EXPORTERS, content_stripping
from ._backends.debug import VERBOSITIES
from ._build import MANIFEST, build_collector
from ._cache import OWUI_OTEL_CACHE
from ._config import OWUI_OTEL_EXPORTERS, OWUI_OTEL_OTLP, OWUI_OTEL_RECEIVER_AUTH, render_config, spec_from_env
from ._errors import OwuiOtelError, UsageError
from ._jaeger import JAEGER_VERSION, build_jaeger
from ._prometheus import PROMETHEUS_VERSION, build_prometheus
from ._targets import parse_exporter_names, parse_otlp_target
from ._validate import validate_config

__all__ = ["OneLineErrorParser", "build_parser", "main", "report_errors"]

PROG = "python -m collector"

_EPILOG = (
    f"Built binaries are cached in ${OWUI_OTEL_CACHE}, else $XDG_CACHE_HOME/owui-otel, else ~/.cache/owui-otel. "
    "Exit codes: 0 ok, 1 failure, 2 usage error."
)


class OneLineErrorParser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose usage errors are one line naming the fix (exit code 2), like every other error.

    Subparsers inherit it (``add_subparsers`` makes its parsers of the parent's class)::

        parser = OneLineErrorParser(prog="owui-otel")
        parser.parse_args(["up", "--bridge-port", "x"])
        # stderr: owui-otel up: error: argument --bridge-port: invalid int value: 'x'; see `owui-otel up --help`
    """

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}; see `{self.prog} --help`\n")


def report_errors(label: str, command: Callable[[], int]) -> int:
    """Run ``command``; an :class:`OwuiOtelError` becomes one line ``<label>: error: <message>`` on stderr and its
    exit code (2 for :class:`UsageError`, else 1), a file that cannot be read or written exit code 1, Ctrl-C exit
    code 130. Anything else is a bug: it propagates, with its traceback."""
    try:
        return command()
    except OwuiOtelError as error:
        print(f"{label}: error: {error}", file=sys.stderr)
        return error.exit_code
    except OSError as error:
        # A file or folder that cannot be read or written (permissions, a full disk, a missing parent). Other
        # OSErrors (sockets) are expected only where ports are bound, and reported there with their option.
        if error.filename is None:
            raise
        print(
            f"{label}: error: {error.strerror or error} ({error.filename}): check that the path exists and is "
            "writable (the OWUI_OTEL_STATE_DIR, OWUI_OTEL_DATA_DIR and OWUI_OTEL_CACHE variables move the folders) "
            "and that the disk has space",
            file=sys.stderr,
        )
        return 1
    except KeyboardInterrupt:
        print(f"{label}: interrupted", file=sys.stderr)
        return 130


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _cmd_build(args: argparse.Namespace) -> int:
    binary = build_collector(Path(args.manifest), force=args.force, progress=None if args.quiet else _stderr)
    print(binary)
    return 0


def _cmd_build_jaeger(args: argparse.Namespace) -> int:
    binary = build_jaeger(version=args.jaeger_version, force=args.force, progress=None if args.quiet else _stderr)
    print(binary)
    return 0


def _cmd_build_prometheus(args: argparse.Namespace) -> int:
    binary = build_prometheus(force=args.force, progress=None if args.quiet else _stderr)
    print(binary)
    return 0


def _resolve_binary(binary: str | None) -> Path:
    if binary:
        path = Path(binary)
        if not path.is_file():
            raise UsageError(f"--binary {binary} does not exist; build one with `python -m collector build`")
        return path
    _stderr("==> locating owui-otelcol (builds it on first use; pass --binary to use another collector)")
    return build_collector(progress=_stderr)


def _cmd_config(args: argparse.Namespace) -> int:
    env_spec = spec_from_env(os.environ)
    if os.environ.get(LANGFUSE_HOST, "").strip():
        # The rendered config reads it only when the collector starts: a host with an API path would show up then,
        # as a retry loop to .../api/public/otel/api/public/otel/v1/traces.
        langfuse_base_url(os.environ[LANGFUSE_HOST])
    exporters = parse_exporter_names(args.exporters) if args.exporters is not None else env_spec.exporters
    otlp = tuple(parse_otlp_target(spec) for spec in args.otlp) if args.otlp else env_spec.otlp
    text = render_config(
        exporters,
        otlp,
        receiver_auth=args.receiver_auth or env_spec.receiver_auth,
        keep_content=[entry.name for entry in content_stripping() if getattr(args, f"{entry.name}_keep_content")],
        debug_verbosity=args.debug_verbosity,
        metrics=env_spec.metrics and not args.no_metrics,
    )
    if args.validate:
        # Validate a temporary copy first, so an invalid config never overwrites a working file.
        binary = _resolve_binary(args.binary)
        with tempfile.TemporaryDirectory(prefix="owui-otel-config-") as tmp:
            candidate = Path(tmp) / "collector.yaml"
            candidate.write_text(text, encoding="utf-8")
            validate_config(binary, [candidate])
        _stderr("==> config is valid")
    if args.output and args.output != "-":
        target = Path(args.output)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
        print(target.resolve())
    else:
        sys.stdout.write(text)
    return 0


def _cmd_validate(args: argparse.Namespace) -> int:
    configs = [Path(config) for config in (args.config or ["otel-collector.yaml"])]
    binary = _resolve_binary(args.binary)
    output = validate_config(binary, configs)
    if output:
        _stderr(output)
    print("valid: " + " + ".join(str(config) for config in configs))
    return 0


def _cmd_langfuse_auth(_args: argparse.Namespace) -> int:
    print(langfuse_basic_auth_from_env())
    return 0


def _default_exporters_help() -> str:
    """ "jaeger, plus langfuse when LANGFUSE_HOST is set", from the registry."""
    always = ", ".join(entry.name for entry in BACKENDS if entry.default)
    when_set = "".join(
        f", plus {entry.name} when {entry.default_if_set} is set" for entry in BACKENDS if entry.default_if_set
    )
    return always + when_set


def _builtins_help() -> str:
    return "; ".join(f"{entry.name}: {entry.help}" for entry in BACKENDS)


def _command(
    sub: argparse._SubParsersAction[OneLineErrorParser],
    name: str,
    func: Callable[[argparse.Namespace], int],
    *,
    help: str,  # noqa: A002 (argparse's own name)
    description: str,
    epilog: str = _EPILOG,
) -> argparse.ArgumentParser:
    """A subcommand that runs ``func``."""
    command = sub.add_parser(name, help=help, description=description, epilog=epilog)
    command.set_defaults(func=func)
    return command


def _cached_build_flags(command: argparse.ArgumentParser) -> None:
    """The flags of a command that builds a binary into the cache."""
    command.add_argument("--force", action="store_true", help="rebuild even if a cached binary exists")
    command.add_argument("--quiet", action="store_true", help="no progress output on stderr")


def build_parser(prog: str = PROG) -> argparse.ArgumentParser:
    """The argument parser (exposed for tests and for embedding in a larger CLI under another ``prog``)."""
    parser = OneLineErrorParser(
        prog=prog,
        description="Build and configure owui-otelcol, the OpenTelemetry Collector of owui-otel.",
        epilog=_EPILOG,
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    build = _command(
        sub,
        "build",
        _cmd_build,
        help="build owui-otelcol with the OpenTelemetry Collector Builder (cached)",
        description="Build owui-otelcol from the OCB manifest, or reuse the cached binary when the manifest and "
        "Go version are unchanged. Needs Go >= 1.25. Prints the binary's absolute path as the last line.",
    )
    _cached_build_flags(build)
    build.add_argument("--manifest", default=str(MANIFEST), help="OCB manifest (default: collector/manifest.yaml)")

    jaeger = _command(
        sub,
        "build-jaeger",
        _cmd_build_jaeger,
        help="build the Jaeger v2 all-in-one binary from its Go module (cached)",
        description="Build Jaeger v2 (no UI assets; the query API on 16686 works) in a scratch Go module, or reuse "
        "the cached binary. Prints the binary's absolute path as the last line.",
    )
    _cached_build_flags(jaeger)
    jaeger.add_argument(
        "--jaeger-version",
        default=JAEGER_VERSION,
        help=f"Go module version (default {JAEGER_VERSION} = Jaeger v2.13.0)",
    )

    prometheus = _command(
        sub,
        "build-prometheus",
        _cmd_build_prometheus,
        help="build the Prometheus server from its Go module (cached); it stores the usage metrics",
        description=f"Build Prometheus ({PROMETHEUS_VERSION} = v3.16.0, no UI assets: the HTTP API works) in a scratch "
        "Go module, or reuse the cached binary. Prints the binary's absolute path as the last line.",
    )
    _cached_build_flags(prometheus)

    config = _command(
        sub,
        "config",
        _cmd_config,
        help="render a collector config for a choice of exporters",
        description="Render a collector config (YAML) for the chosen exporters. Flags override env: "
        f"{OWUI_OTEL_EXPORTERS} (comma list), {OWUI_OTEL_OTLP} (';'-separated specs), {OWUI_OTEL_RECEIVER_AUTH}. "
        f"Default exporters: {_default_exporters_help()}. Built-ins: {_builtins_help()}.",
        epilog="OTLP target spec: name=NAME,endpoint=URL[,protocol=http|grpc][,header=KEY=VALUE]...[,insecure=true]"
        "[,content=strip|keep][,compression=gzip|zstd|snappy|none]; values are percent-decoded (%2C = comma). "
        "Keep secrets in env vars: header=authorization=Bearer%20${env:TEMPO_TOKEN}. " + _EPILOG,
    )
    config.add_argument(
        "--exporters", "-e", metavar="LIST", help=f"comma list of built-ins: {', '.join(BUILTIN_EXPORTERS)}"
    )
    config.add_argument(
        "--otlp", action="append", default=[], metavar="SPEC", help="add a generic OTLP target (repeatable)"
    )
    config.add_argument(
        "--receiver-auth", action="store_true", help="require Authorization: Bearer $OTEL_INGEST_TOKEN on the receiver"
    )
    for entry in content_stripping():
        config.add_argument(
            f"--{entry.name}-keep-content",
            action="store_true",
            help=f"send prompts/replies to {entry.title} too (stripped by default)",
        )
    config.add_argument("--debug-verbosity", default="basic", choices=VERBOSITIES, help="debug exporter verbosity")
    config.add_argument(
        "--no-metrics",
        action="store_true",
        help="leave out the usage metrics and their export to Prometheus (PROMETHEUS_OTLP_ENDPOINT); also "
        "OWUI_OTEL_METRICS=false",
    )
    config.add_argument("--output", "-o", metavar="FILE", help="write here (and print its path) instead of stdout")
    config.add_argument("--validate", action="store_true", help="check the result with the collector binary")
    config.add_argument("--binary", metavar="PATH", help="collector binary for --validate (default: cached build)")

    validate = _command(
        sub,
        "validate",
        _cmd_validate,
        help="validate config files with the collector binary",
        description="Run `<binary> validate --config=F...`. Several --config files are merged like the collector "
        "does (maps merge, arrays are replaced).",
    )
    validate.add_argument(
        "--config", "-c", action="append", metavar="FILE", help="config file (repeatable; default otel-collector.yaml)"
    )
    validate.add_argument("--binary", metavar="PATH", help="collector binary (default: cached build of owui-otelcol)")

    _command(
        sub,
        "langfuse-auth",
        _cmd_langfuse_auth,
        help="print the base64 Basic-auth value for LANGFUSE_AUTH_B64",
        description=f"Print base64('{LANGFUSE_PUBLIC_KEY}:{LANGFUSE_SECRET_KEY}') from those env vars, e.g. "
        'export LANGFUSE_AUTH_B64="$(python -m collector langfuse-auth)". Keys are read from the environment only, '
        "never from flags, so they stay out of shell history and process lists.",
    )
    return parser


def main(argv: Sequence[str] | None = None, *, prog: str = PROG) -> int:
    """Entry point; returns the exit code. ``prog`` names the command in messages (``owui-otel collector``)."""
    args = build_parser(prog).parse_args(argv)
    return report_errors(f"{prog} {args.command}", lambda: int(args.func(args)))

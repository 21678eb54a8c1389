# SPDX-License-Identifier: Apache-2.0
"""Render a complete collector config from a choice of exporters (no hand-editing of YAML).

One ``otlp`` receiver feeds one traces pipeline per destination, so each backend gets its own policy:

==================  ==================================================================  =======================
pipeline            processors                                                          exporter
==================  ==================================================================  =======================
traces/langfuse     memory_limiter, filter/langfuse, transform/langfuse, batch          otlp_http/langfuse
traces/jaeger       memory_limiter, transform/strip_content (unless kept), batch        otlp_grpc/jaeger
traces/debug        memory_limiter, batch                                               debug
traces/file         memory_limiter, batch                                               file
traces/<name>       memory_limiter, transform/strip_content (unless kept), batch        otlp_<proto>/<name>
==================  ==================================================================  =======================

``render_config(EXPORTERS_FULL)`` is, component for component, the repository's ``otel-collector.yaml``; a test
keeps the two equal.

Usage::

    from collector import render_config, parse_otlp_target
    text = render_config(["jaeger", "debug"], otlp=[parse_otlp_target("name=tempo,endpoint=http://tempo:4318")])
    spec = spec_from_env(os.environ)           # OWUI_OTEL_EXPORTERS, OWUI_OTEL_OTLP, OWUI_OTEL_RECEIVER_AUTH
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

from . import _components as c
from ._errors import UsageError
from ._targets import BUILTIN_EXPORTERS, OtlpTarget, parse_bool, parse_exporter_names, parse_otlp_targets

__all__ = [
    "EXPORTERS_FULL",
    "OWUI_OTEL_EXPORTERS",
    "OWUI_OTEL_OTLP",
    "OWUI_OTEL_RECEIVER_AUTH",
    "ConfigSpec",
    "config_dict",
    "default_exporters",
    "env_vars_used",
    "render_config",
    "spec_from_env",
]

OWUI_OTEL_EXPORTERS = "OWUI_OTEL_EXPORTERS"
"""Comma list of built-in exporters (langfuse, jaeger, debug, file) for ``python -m collector config``."""
OWUI_OTEL_OTLP = "OWUI_OTEL_OTLP"
"""``;``-separated generic OTLP target specs (see :mod:`collector._targets`)."""
OWUI_OTEL_RECEIVER_AUTH = "OWUI_OTEL_RECEIVER_AUTH"
"""``true`` to require ``Authorization: Bearer $OTEL_INGEST_TOKEN`` on the receiver."""

EXPORTERS_FULL = ("langfuse", "jaeger")
"""The selection that ``otel-collector.yaml`` describes."""

_VERBOSITIES = ("basic", "normal", "detailed")
_ENV_REF = re.compile(r"\$\{env:([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


@dataclass(frozen=True, slots=True)
class ConfigSpec:
    """What to render. ``exporters`` are built-in names; ``otlp`` generic targets."""

    exporters: tuple[str, ...] = ("jaeger",)
    otlp: tuple[OtlpTarget, ...] = field(default_factory=tuple)
    receiver_auth: bool = False
    jaeger_keep_content: bool = False
    debug_verbosity: str = "basic"


def default_exporters(env: Mapping[str, str]) -> tuple[str, ...]:
    """Local default: Jaeger only; Langfuse too when ``LANGFUSE_HOST`` is set."""
    return ("langfuse", "jaeger") if env.get("LANGFUSE_HOST", "").strip() else ("jaeger",)


def spec_from_env(env: Mapping[str, str]) -> ConfigSpec:
    """Build a :class:`ConfigSpec` from ``OWUI_OTEL_EXPORTERS``, ``OWUI_OTEL_OTLP``, ``OWUI_OTEL_RECEIVER_AUTH``."""
    raw = env.get(OWUI_OTEL_EXPORTERS)
    otlp = parse_otlp_targets(env.get(OWUI_OTEL_OTLP, ""))
    exporters = parse_exporter_names(raw) if raw is not None else default_exporters(env)
    auth = parse_bool(env.get(OWUI_OTEL_RECEIVER_AUTH, ""), what=OWUI_OTEL_RECEIVER_AUTH)
    return ConfigSpec(exporters=exporters, otlp=otlp, receiver_auth=auth)


def _check(spec: ConfigSpec) -> None:
    unknown = [name for name in spec.exporters if name not in BUILTIN_EXPORTERS]
    if unknown:
        raise UsageError(f"unknown exporter(s) {', '.join(unknown)}; choose from {', '.join(BUILTIN_EXPORTERS)}")
    if not spec.exporters and not spec.otlp:
        raise UsageError("no exporter selected: pass --exporters (langfuse,jaeger,debug,file) and/or --otlp SPEC")
    if spec.debug_verbosity not in _VERBOSITIES:
        raise UsageError(f"debug verbosity must be one of {', '.join(_VERBOSITIES)}, not {spec.debug_verbosity!r}")
    names = [target.name for target in spec.otlp]
    if len(set(names)) != len(names):
        raise UsageError("OTLP target names must be unique")


def _pipeline(processors: list[str], exporter: str, *, batch: bool = True) -> dict[str, Any]:
    # memory_limiter first (sheds load before anything buffers), batch last (after filtering, so batches are
    # made of what is actually exported). A pipeline whose exporter has a persistent queue has no batch
    # processor: it would acknowledge spans that are still only in memory, and a crash would lose them; the
    # exporter's sending_queue.batch batches after the disk instead.
    tail = ["batch"] if batch else []
    return {"receivers": ["otlp"], "processors": [c.MEMORY_LIMITER, *processors, *tail], "exporters": [exporter]}


def _content_processors(keep_content: bool) -> list[str]:
    """Message content is stripped before a destination unless it is marked to keep it."""
    return [] if keep_content else [c.TRANSFORM_STRIP_CONTENT]


def _spec(
    exporters: Iterable[str],
    otlp: Iterable[OtlpTarget],
    *,
    receiver_auth: bool,
    jaeger_keep_content: bool,
    debug_verbosity: str,
) -> ConfigSpec:
    """The public functions' arguments as one spec (exporter names: order kept, duplicates dropped)."""
    return ConfigSpec(
        exporters=tuple(dict.fromkeys(exporters)),
        otlp=tuple(otlp),
        receiver_auth=receiver_auth,
        jaeger_keep_content=jaeger_keep_content,
        debug_verbosity=debug_verbosity,
    )


def _config(spec: ConfigSpec) -> dict[str, Any]:
    """Validate ``spec`` and build the config dict (one pipeline per destination, see the module table)."""
    _check(spec)
    extensions: dict[str, Any] = {c.HEALTH_CHECK: c.health_check_extension()}
    processors: dict[str, Any] = {c.MEMORY_LIMITER: c.memory_limiter_processor()}
    exporters_block: dict[str, Any] = {}
    pipelines: dict[str, Any] = {}
    if "langfuse" in spec.exporters:
        extensions[c.FILE_STORAGE] = c.file_storage_extension()
        processors[c.FILTER_LANGFUSE] = c.filter_langfuse_processor()
        processors[c.TRANSFORM_LANGFUSE] = c.transform_langfuse_processor()
        exporters_block["otlp_http/langfuse"] = c.langfuse_exporter()
        pipelines["traces/langfuse"] = _pipeline(
            [c.FILTER_LANGFUSE, c.TRANSFORM_LANGFUSE], "otlp_http/langfuse", batch=False
        )
    if "jaeger" in spec.exporters:
        exporters_block["otlp_grpc/jaeger"] = c.jaeger_exporter()
        pipelines["traces/jaeger"] = _pipeline(_content_processors(spec.jaeger_keep_content), "otlp_grpc/jaeger")
    if "debug" in spec.exporters:
        exporters_block["debug"] = c.debug_exporter(spec.debug_verbosity)
        pipelines["traces/debug"] = _pipeline([], "debug")
    if "file" in spec.exporters:
        exporters_block["file"] = c.file_exporter()
        pipelines["traces/file"] = _pipeline([], "file")
    for target in spec.otlp:
        exporters_block[target.exporter_id] = target.exporter_config()
        pipelines[f"traces/{target.name}"] = _pipeline(_content_processors(target.keep_content), target.exporter_id)
    # Processors shared by several pipelines are defined once, and only when a pipeline uses them.
    used = {name for pipeline in pipelines.values() for name in pipeline["processors"]}
    if c.TRANSFORM_STRIP_CONTENT in used:
        processors[c.TRANSFORM_STRIP_CONTENT] = c.strip_content_processor()
    if "batch" in used:
        processors["batch"] = c.batch_processor()
    if spec.receiver_auth:
        extensions[c.BEARER_AUTH] = c.bearer_auth_extension()
    return {
        "extensions": extensions,
        "receivers": {"otlp": c.otlp_receiver(auth=spec.receiver_auth)},
        "processors": processors,
        "exporters": exporters_block,
        "service": {"extensions": list(extensions), "telemetry": c.telemetry(), "pipelines": pipelines},
    }


def config_dict(
    exporters: Iterable[str] = ("jaeger",),
    otlp: Iterable[OtlpTarget] = (),
    *,
    receiver_auth: bool = False,
    jaeger_keep_content: bool = False,
    debug_verbosity: str = "basic",
) -> dict[str, Any]:
    """The config as a dict (see :func:`render_config` for the arguments)."""
    return _config(
        _spec(
            exporters,
            otlp,
            receiver_auth=receiver_auth,
            jaeger_keep_content=jaeger_keep_content,
            debug_verbosity=debug_verbosity,
        )
    )


def env_vars_used(config: Mapping[str, Any]) -> dict[str, str | None]:
    """Every ``${env:VAR[:-default]}`` referenced in ``config`` (first default seen wins; None = no default)."""
    found: dict[str, str | None] = {}

    def walk(node: Any) -> None:
        if isinstance(node, Mapping):
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)
        elif isinstance(node, str):
            for match in _ENV_REF.finditer(node):
                found.setdefault(match.group(1), match.group(2))

    walk(config)
    return found


def _header(spec_args: str, config: Mapping[str, Any]) -> str:
    lines = [
        "# SPDX-License-Identifier: Apache-2.0",
        f"# Generated by `python -m collector config{spec_args}`. Do not edit: re-render instead.",
        "# Requires collector >= v0.144.0 (otlp_grpc/otlp_http exporter names); validate with",
        "# `python -m collector validate --config <this file>`. Secrets come only from env vars.",
        "# Env vars read by this file (default after '='; (required) = no default):",
    ]
    for name, default in sorted(env_vars_used(config).items()):
        shown = "(required)" if default is None else f"={default}" if default else "=(empty)"
        lines.append(f"#   {name}{shown}")
    return "\n".join(lines) + "\n"


def _describe(spec: ConfigSpec) -> str:
    parts = [f" --exporters {','.join(spec.exporters)}"] if spec.exporters else []
    parts += [f" --otlp name={target.name},..." for target in spec.otlp]
    if spec.receiver_auth:
        parts.append(" --receiver-auth")
    if spec.jaeger_keep_content:
        parts.append(" --jaeger-keep-content")
    if spec.debug_verbosity != "basic":
        parts.append(f" --debug-verbosity {spec.debug_verbosity}")
    return "".join(parts)


def render_config(
    exporters: Iterable[str] = ("jaeger",),
    otlp: Iterable[OtlpTarget] = (),
    *,
    receiver_auth: bool = False,
    jaeger_keep_content: bool = False,
    debug_verbosity: str = "basic",
) -> str:
    """Render a collector config as YAML text.

    Args:
        exporters: built-in exporters to enable: any of ``langfuse``, ``jaeger``, ``debug``, ``file``.
        otlp: generic OTLP targets (:func:`collector.parse_otlp_target`).
        receiver_auth: require a bearer token (``OTEL_INGEST_TOKEN``) on the OTLP receiver.
        jaeger_keep_content: send message content to Jaeger too (stripped by default).
        debug_verbosity: ``basic``, ``normal`` or ``detailed`` for the debug exporter.

    Returns:
        YAML with a header listing every env var the file reads.

    Raises:
        UsageError: no exporter selected, unknown names, duplicate target names.
    """
    spec = _spec(
        exporters,
        otlp,
        receiver_auth=receiver_auth,
        jaeger_keep_content=jaeger_keep_content,
        debug_verbosity=debug_verbosity,
    )
    config = _config(spec)
    body = yaml.safe_dump(config, sort_keys=False, width=1000, default_flow_style=False)
    return _header(_describe(spec), config) + body

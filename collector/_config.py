# SPDX-License-Identifier: Apache-2.0
"""Render a complete collector config from a choice of exporters (no hand-editing of YAML).

One ``otlp`` receiver feeds one traces pipeline per destination, so each backend gets its own policy. Every
pipeline ``traces/<name>`` is built the same way from the backend's registry entry (:mod:`collector._backends`;
generic ``--otlp`` targets through :meth:`OtlpTarget.backend`):

    memory_limiter, <its own processors>, transform/strip_content (if it strips content and the render does not
    keep it), batch (unless its exporter queues on disk) -> <its exporter>

so ``traces/langfuse`` is ``memory_limiter, filter/langfuse, transform/langfuse -> otlp_http/langfuse`` and
``traces/jaeger`` is ``memory_limiter, transform/strip_content, batch -> otlp_grpc/jaeger``. Components shared by
several pipelines are defined once, and only when a pipeline uses them.

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
from typing import Any, TypedDict, Unpack

import yaml

from . import _components as c
from ._backends import BACKENDS, BUILTIN_EXPORTERS, Backend, content_stripping, default_selection
from ._backends.metrics import metrics_blocks
from ._errors import UsageError
from ._targets import OtlpTarget, parse_bool, parse_exporter_names, parse_otlp_targets

__all__ = [
    "EXPORTERS_FULL",
    "OWUI_OTEL_EXPORTERS",
    "OWUI_OTEL_OTLP",
    "OWUI_OTEL_METRICS",
    "OWUI_OTEL_RECEIVER_AUTH",
    "ConfigSpec",
    "config_dict",
    "default_exporters",
    "env_vars_used",
    "render_config",
    "spec_from_env",
]

OWUI_OTEL_EXPORTERS = "OWUI_OTEL_EXPORTERS"
"""Comma list of built-in exporters (``collector._backends.BUILTIN_EXPORTERS``) for ``python -m collector config``."""
OWUI_OTEL_OTLP = "OWUI_OTEL_OTLP"
"""``;``-separated generic OTLP target specs (see :mod:`collector._targets`)."""
OWUI_OTEL_RECEIVER_AUTH = "OWUI_OTEL_RECEIVER_AUTH"
"""``true`` to require ``Authorization: Bearer $OTEL_INGEST_TOKEN`` on the receiver."""
OWUI_OTEL_METRICS = "OWUI_OTEL_METRICS"
"""``false`` to render without the usage metrics (:mod:`collector._backends.metrics`); on by default."""

EXPORTERS_FULL = ("langfuse", "jaeger")
"""The selection that ``otel-collector.yaml`` describes."""
_ENV_REF = re.compile(r"\$\{env:([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


@dataclass(frozen=True, slots=True)
class ConfigSpec:
    """What to render. ``exporters`` are built-in names; ``otlp`` generic targets; ``keep_content`` names built-ins
    that strip content by default and should keep it (``--jaeger-keep-content``); ``metrics`` adds the usage metrics
    and their Prometheus export (``--no-metrics`` leaves them out)."""

    exporters: tuple[str, ...] = ("jaeger",)
    otlp: tuple[OtlpTarget, ...] = field(default_factory=tuple)
    receiver_auth: bool = False
    keep_content: tuple[str, ...] = ()
    debug_verbosity: str = "basic"
    metrics: bool = True


def default_exporters(env: Mapping[str, str]) -> tuple[str, ...]:
    """Local default: Jaeger only; Langfuse too when ``LANGFUSE_HOST`` is set (each entry's ``default*`` fields)."""
    return default_selection(env)


def spec_from_env(env: Mapping[str, str]) -> ConfigSpec:
    """Build a :class:`ConfigSpec` from ``OWUI_OTEL_EXPORTERS``, ``OWUI_OTEL_OTLP``, ``OWUI_OTEL_RECEIVER_AUTH``."""
    raw = env.get(OWUI_OTEL_EXPORTERS)
    otlp = parse_otlp_targets(env.get(OWUI_OTEL_OTLP, ""))
    exporters = parse_exporter_names(raw) if raw is not None else default_exporters(env)
    auth = parse_bool(env.get(OWUI_OTEL_RECEIVER_AUTH, ""), what=OWUI_OTEL_RECEIVER_AUTH)
    metrics = parse_bool(env.get(OWUI_OTEL_METRICS, "") or "true", what=OWUI_OTEL_METRICS)
    return ConfigSpec(exporters=exporters, otlp=otlp, receiver_auth=auth, metrics=metrics)


def _check(spec: ConfigSpec) -> None:
    unknown = [name for name in spec.exporters if name not in BUILTIN_EXPORTERS]
    if unknown:
        raise UsageError(f"unknown exporter(s) {', '.join(unknown)}; choose from {', '.join(BUILTIN_EXPORTERS)}")
    if not spec.exporters and not spec.otlp:
        raise UsageError(f"no exporter selected: pass --exporters ({','.join(BUILTIN_EXPORTERS)}) and/or --otlp SPEC")
    strippers = [entry.name for entry in content_stripping()]
    not_stripped = [name for name in spec.keep_content if name not in strippers]
    if not_stripped:
        raise UsageError(
            f"keep content: {', '.join(not_stripped)} never strip(s) content; "
            f"only {', '.join(strippers)} can keep it (generic targets: content=keep)"
        )
    for entry in BACKENDS:
        if entry.check is not None:
            entry.check(spec)
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


def _selected(spec: ConfigSpec) -> list[Backend]:
    """The built-ins in registry order (whatever order they were named in), then the generic targets."""
    return [entry for entry in BACKENDS if entry.name in spec.exporters] + [target.backend() for target in spec.otlp]


class ConfigOptions(TypedDict, total=False):
    """The keyword options of :func:`render_config` and :func:`config_dict` (documented there)."""

    receiver_auth: bool
    keep_content: Iterable[str]
    debug_verbosity: str
    metrics: bool


def _spec(exporters: Iterable[str], otlp: Iterable[OtlpTarget], options: ConfigOptions) -> ConfigSpec:
    """The public functions' arguments as one spec (names: order kept, duplicates dropped)."""
    unknown = set(options) - set(ConfigOptions.__annotations__)
    if unknown:  # what a plain keyword signature would say (mypy catches it before)
        raise TypeError(f"unexpected keyword argument(s): {', '.join(sorted(unknown))}")
    defaults = ConfigSpec()
    return ConfigSpec(
        exporters=tuple(dict.fromkeys(exporters)),
        otlp=tuple(otlp),
        receiver_auth=options.get("receiver_auth", defaults.receiver_auth),
        keep_content=tuple(dict.fromkeys(options.get("keep_content", defaults.keep_content))),
        debug_verbosity=options.get("debug_verbosity", defaults.debug_verbosity),
        metrics=options.get("metrics", defaults.metrics),
    )


def _config(spec: ConfigSpec) -> dict[str, Any]:
    """Validate ``spec`` and build the config dict (one pipeline per destination, see the module docstring)."""
    _check(spec)
    extensions: dict[str, Any] = {c.HEALTH_CHECK: c.health_check_extension()}
    processors: dict[str, Any] = {c.MEMORY_LIMITER: c.memory_limiter_processor()}
    exporters_block: dict[str, Any] = {}
    pipelines: dict[str, Any] = {}
    for entry in _selected(spec):
        for extension in entry.extensions:
            extensions[extension.id] = extension.config()
        own = []
        for processor in entry.processors:
            processors[processor.id] = processor.config()
            own.append(processor.id)
        if entry.strips_content and entry.name not in spec.keep_content:
            own.append(c.TRANSFORM_STRIP_CONTENT)
        exporters_block[entry.exporter_id] = entry.exporter(spec)
        pipelines[entry.pipeline_id] = _pipeline(own, entry.exporter_id, batch=not entry.persistent_queue)
    connectors: dict[str, Any] = {}
    if spec.metrics:
        blocks = metrics_blocks()
        connectors = blocks["connectors"]
        processors.update(blocks["processors"])
        exporters_block.update(blocks["exporters"])
        pipelines.update(blocks["pipelines"])
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
        **({"connectors": connectors} if connectors else {}),
        "exporters": exporters_block,
        "service": {"extensions": list(extensions), "telemetry": c.telemetry(), "pipelines": pipelines},
    }


def config_dict(
    exporters: Iterable[str] = ("jaeger",), otlp: Iterable[OtlpTarget] = (), **options: Unpack[ConfigOptions]
) -> dict[str, Any]:
    """The config as a dict (see :func:`render_config` for the arguments)."""
    return _config(_spec(exporters, otlp, options))


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
    parts += [f" --{name}-keep-content" for name in spec.keep_content]
    if spec.debug_verbosity != "basic":
        parts.append(f" --debug-verbosity {spec.debug_verbosity}")
    if not spec.metrics:
        parts.append(" --no-metrics")
    return "".join(parts)


def render_config(
    exporters: Iterable[str] = ("jaeger",), otlp: Iterable[OtlpTarget] = (), **options: Unpack[ConfigOptions]
) -> str:
    """Render a collector config as YAML text.

    Args:
        exporters: built-in exporters to enable (:data:`~collector._backends.BUILTIN_EXPORTERS`).
        otlp: generic OTLP targets (:func:`collector.parse_otlp_target`).
        receiver_auth: require a bearer token (``OTEL_INGEST_TOKEN``) on the OTLP receiver.
        keep_content: built-ins that strip message content by default but should keep it (``["jaeger"]``).
        debug_verbosity: ``basic``, ``normal`` or ``detailed`` for the debug exporter.
        metrics: add the usage metrics and their export to Prometheus (default True).
        (The last four are :class:`ConfigOptions`, shared with :func:`config_dict`.)

    Returns:
        YAML with a header listing every env var the file reads.

    Raises:
        UsageError: no exporter selected, unknown names, a backend that cannot keep content, a bad option,
            duplicate target names.
    """
    spec = _spec(exporters, otlp, options)
    config = _config(spec)
    body = yaml.safe_dump(config, sort_keys=False, width=1000, default_flow_style=False)
    return _header(_describe(spec), config) + body

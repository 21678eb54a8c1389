# SPDX-License-Identifier: Apache-2.0
"""Parse exporter choices: built-in names and generic OTLP targets, from flags or environment variables.

Built-ins: the registry's names (``langfuse``, ``jaeger``, ``debug``, ``file``; see :mod:`collector._backends`).
Any other OTLP backend is a target spec: comma-separated ``key=value`` pairs, values percent-decoded (write ``%2C``
for a comma, ``%20`` for a space)::

    name=tempo,endpoint=http://tempo:4318
    name=honeycomb,endpoint=https://api.honeycomb.io,header=x-honeycomb-team=${env:HONEYCOMB_KEY},content=keep
    name=otelcol2,endpoint=otelcol2:4317,protocol=grpc,insecure=true

Keys: ``name`` (required; lower-case letters, digits, ``_``), ``endpoint`` (required; for ``http`` the base URL,
the exporter appends ``/v1/traces``), ``protocol`` (``http``, default, or ``grpc``), ``header=KEY=VALUE``
(repeatable; put secrets in env vars and write ``${env:VAR}``, the collector expands it at start), ``insecure``
(``true`` for plaintext gRPC), ``content`` (``strip``, default, or ``keep``: keep prompts and replies),
``compression`` (``gzip``, default, ``zstd``, ``snappy`` or ``none``).

Usage:

    >>> target = parse_otlp_target("name=tempo,endpoint=http://tempo:4318")
    >>> target.exporter_id
    'otlp_http/tempo'
    >>> target.backend().pipeline_id    # rendered like a built-in backend
    'traces/tempo'
    >>> parse_exporter_names("langfuse, jaeger")
    ('langfuse', 'jaeger')
"""

from __future__ import annotations

import re
import urllib.parse
from dataclasses import dataclass
from typing import Any

from otel_filter.settings import parse_bool as parse_boolean

from ._backends import BUILTIN_EXPORTERS, Backend, backend
from ._components import retry_on_failure
from ._errors import UsageError

__all__ = [
    "OTLP_TARGET_GOMOD",
    "OtlpTarget",
    "parse_bool",
    "parse_exporter_names",
    "parse_otlp_target",
    "parse_otlp_targets",
]

OTLP_TARGET_GOMOD = (
    "go.opentelemetry.io/collector/exporter/otlpexporter",
    "go.opentelemetry.io/collector/exporter/otlphttpexporter",
)
"""OCB manifest modules (path, no version) generic targets need: ``otlp_grpc`` and ``otlp_http``."""
_NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
_HEADER_RE = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]+$")
_COMPRESSIONS = ("gzip", "zstd", "snappy", "none")
_EXAMPLE = "name=tempo,endpoint=http://tempo:4318"


def parse_bool(value: str, *, what: str) -> bool:
    """:func:`otel_filter.settings.parse_bool`, blank meaning false, else a :class:`UsageError` naming ``what``."""
    parsed = parse_boolean(value) if value.strip() else False
    if parsed is not None:
        return parsed
    raise UsageError(f"{what}: {value!r} is not true or false. Fix: set it to true or false")


@dataclass(frozen=True, slots=True)
class OtlpTarget:
    """One generic OTLP destination; becomes exporter ``otlp_<protocol>/<name>`` in pipeline ``traces/<name>``."""

    name: str
    endpoint: str
    protocol: str = "http"
    headers: tuple[tuple[str, str], ...] = ()
    insecure: bool = False
    keep_content: bool = False
    compression: str = "gzip"

    @property
    def exporter_id(self) -> str:
        """Collector component id, e.g. ``otlp_http/tempo``."""
        return f"otlp_{self.protocol}/{self.name}"

    def exporter_config(self) -> dict[str, Any]:
        """The exporter block for the collector config."""
        block: dict[str, Any] = {"endpoint": self.endpoint, "compression": self.compression}
        if self.headers:
            block["headers"] = dict(self.headers)
        if self.protocol == "grpc" and self.insecure:
            block["tls"] = {"insecure": True}
        block["retry_on_failure"] = retry_on_failure()
        block["sending_queue"] = {"enabled": True, "queue_size": 1000}
        return block

    def backend(self) -> Backend:
        """This target as a backend (its exporter block, content stripped unless ``content=keep``)."""
        protocol = "OTLP/gRPC" if self.protocol == "grpc" else "OTLP/HTTP"
        return Backend(
            name=self.name,
            title=self.name,
            help=f"{protocol} to {self.endpoint}",
            exporter_id=self.exporter_id,
            exporter=lambda _spec: self.exporter_config(),
            strips_content=not self.keep_content,
            gomod=OTLP_TARGET_GOMOD,
        )


def _fail(spec: str, problem: str) -> UsageError:
    return UsageError(f"--otlp / OWUI_OTEL_OTLP {spec!r}: {problem}. Fix: write it as {_EXAMPLE}")


def parse_otlp_target(spec: str) -> OtlpTarget:
    """Parse one target spec (see module docstring).

    Raises:
        UsageError: unknown key, missing name/endpoint, bad value; the message shows a valid example.
    """
    fields: dict[str, str] = {}
    headers: list[tuple[str, str]] = []
    for item in (part.strip() for part in spec.split(",")):
        if not item:
            continue
        key, sep, raw = item.partition("=")
        key = key.strip().lower()
        if not sep:
            raise _fail(spec, f"{item!r} is not key=value")
        value = urllib.parse.unquote(raw.strip())
        if key == "header":
            hname, hsep, hvalue = value.partition("=")
            if not hsep or not _HEADER_RE.match(hname.strip()):
                raise _fail(spec, f"header {value!r} must be header=NAME=VALUE with a valid header name")
            # gRPC metadata rejects upper-case keys; HTTP headers are case-insensitive, so lower-case both.
            headers.append((hname.strip().lower(), hvalue))
        elif key in ("name", "endpoint", "protocol", "insecure", "content", "compression"):
            if key in fields:
                raise _fail(spec, f"{key} given twice")
            fields[key] = value
        else:
            raise _fail(
                spec, f"unknown key {key!r} (known: name, endpoint, protocol, header, insecure, content, compression)"
            )
    name = fields.get("name", "")
    if not _NAME_RE.match(name):
        raise _fail(spec, "name must be 1-32 characters: a lower-case letter, then letters, digits or _")
    if name in BUILTIN_EXPORTERS:
        raise _fail(spec, f"name {name!r} is reserved for the built-in exporter; choose another name")
    endpoint = fields.get("endpoint", "")
    if not endpoint:
        raise _fail(spec, "endpoint is required")
    protocol = fields.get("protocol", "http").lower()
    if protocol not in ("http", "grpc"):
        raise _fail(spec, f"protocol must be http or grpc, not {protocol!r}")
    if protocol == "http" and not endpoint.startswith(("http://", "https://", "${env:")):
        raise _fail(spec, "an http endpoint must start with http:// or https://")
    content = fields.get("content", "strip").lower()
    if content not in ("strip", "keep"):
        raise _fail(spec, f"content must be strip or keep, not {content!r}")
    compression = fields.get("compression", "gzip").lower()
    if compression not in _COMPRESSIONS:
        raise _fail(spec, f"compression must be one of {', '.join(_COMPRESSIONS)}")
    try:
        insecure = parse_bool(fields.get("insecure", "false"), what="insecure")
    except UsageError as exc:
        raise _fail(spec, str(exc).partition(". Fix:")[0]) from exc
    return OtlpTarget(
        name=name,
        endpoint=endpoint,
        protocol=protocol,
        headers=tuple(headers),
        insecure=insecure,
        keep_content=content == "keep",
        compression=compression,
    )


def parse_otlp_targets(value: str) -> tuple[OtlpTarget, ...]:
    """Parse ``;``-separated target specs (the ``OWUI_OTEL_OTLP`` form); rejects duplicate names."""
    targets = tuple(parse_otlp_target(part) for part in value.split(";") if part.strip())
    names = [target.name for target in targets]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise UsageError(
            f"--otlp / OWUI_OTEL_OTLP: target names must be unique; duplicated: {', '.join(duplicates)}. Fix: give "
            "each target its own name="
        )
    return targets


def parse_exporter_names(value: str) -> tuple[str, ...]:
    """Parse a comma list of built-in exporter names (order kept, duplicates dropped).

    Raises:
        UsageError: a name outside :data:`~collector._backends.BUILTIN_EXPORTERS`.
    """
    names: list[str] = []
    for raw in value.split(","):
        name = raw.strip().lower()
        if not name:
            continue
        backend(name)  # raises for an unknown name, listing the built-ins
        if name not in names:
            names.append(name)
    return tuple(names)

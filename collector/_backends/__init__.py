# SPDX-License-Identifier: Apache-2.0
"""The built-in collector backends, one registry entry each (:class:`~collector._backends.base.Backend`).

The registry drives everything that names a backend: ``--exporters`` validation and its messages, the CLI help
(one line per backend, a ``--<name>-keep-content`` flag for each backend that strips content), the rendered
pipelines (``collector._config``), the env vars listed in a rendered file's header, and the OCB manifest, which a
test checks against every entry's ``gomod`` (tests/collector/test_manifest.py). Generic OTLP targets
(``--otlp``) are backends built on the fly (:meth:`collector.OtlpTarget.backend`).

Add a backend (one place):
    1. Write ``collector/_backends/<name>.py`` with its exporter block and a ``Backend(...)`` entry (copy
       ``file.py``; ``langfuse.py`` shows own processors, a persistent queue and its extension).
    2. Append the entry to :data:`BACKENDS` below. Order matters: it is the order of pipelines in every config.
    3. If its ``gomod`` names a module the manifest lacks, add that module to ``collector/manifest.yaml`` (the
       manifest test fails until you do; every change to that file rebuilds the collector).

Usage:

    >>> from collector._backends import BACKENDS, backend
    >>> [b.name for b in BACKENDS]
    ['langfuse', 'jaeger', 'debug', 'file']
    >>> backend("jaeger").exporter_id
    'otlp_grpc/jaeger'
"""

from __future__ import annotations

from collections.abc import Mapping

from collector._components import ENV_DEFAULTS
from collector._errors import UsageError

from .base import Backend, Component
from .debug import DEBUG
from .file import FILE
from .jaeger import JAEGER
from .langfuse import LANGFUSE
from .metrics import ENV as METRICS_ENV

__all__ = [
    "BACKENDS",
    "BUILTIN_EXPORTERS",
    "Backend",
    "Component",
    "backend",
    "content_stripping",
    "default_selection",
    "env_defaults",
]

BACKENDS: tuple[Backend, ...] = (LANGFUSE, JAEGER, DEBUG, FILE)
"""Every built-in backend, in the order their pipelines appear in a config."""

BUILTIN_EXPORTERS = tuple(entry.name for entry in BACKENDS)
"""The names ``--exporters`` accepts: ``("langfuse", "jaeger", "debug", "file")``."""

_BY_NAME = {entry.name: entry for entry in BACKENDS}


def backend(name: str) -> Backend:
    """The built-in backend called ``name``.

    Raises:
        UsageError: no such backend; the message lists the built-ins and points to ``--otlp`` for the rest.
    """
    try:
        return _BY_NAME[name]
    except KeyError:
        raise UsageError(
            f"unknown exporter {name!r}; choose from {', '.join(BUILTIN_EXPORTERS)} "
            "(any other backend: --otlp name=...,endpoint=...)"
        ) from None


def content_stripping() -> tuple[Backend, ...]:
    """The built-ins whose content is stripped unless kept (each gets a ``--<name>-keep-content`` flag)."""
    return tuple(entry for entry in BACKENDS if entry.strips_content)


def default_selection(environ: Mapping[str, str]) -> tuple[str, ...]:
    """The built-ins selected when none are named: Jaeger, plus Langfuse when ``LANGFUSE_HOST`` is set."""
    return tuple(entry.name for entry in BACKENDS if entry.selected_by_default(environ))


def env_defaults() -> dict[str, str | None]:
    """Every env var a rendered config can read, with its default (shared components, each backend, the metrics)."""
    merged = dict(ENV_DEFAULTS)
    for entry in BACKENDS:
        merged.update(entry.env)
    merged.update(METRICS_ENV)
    return merged

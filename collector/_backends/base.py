# SPDX-License-Identifier: Apache-2.0
"""What a backend is: the small interface every registry entry fills in (see :mod:`collector._backends`).

A backend is one destination with its own traces pipeline ``traces/<name>``: ``memory_limiter``, its own
processors, ``transform/strip_content`` when it must not store message content, ``batch`` unless its exporter has a
persistent queue, then its exporter. Everything the config renderer, the CLI and the manifest test need to know
about it is a field here, so nothing else names a backend.

Usage:

    >>> from collector._backends.base import Backend, Component
    >>> DEBUG = Backend(
    ...     name="debug",
    ...     title="the debug exporter",
    ...     help="spans in the collector's log",
    ...     exporter_id="debug",
    ...     exporter=lambda spec: {"verbosity": spec.debug_verbosity},
    ...     gomod=("go.opentelemetry.io/collector/exporter/debugexporter",),
    ... )
    >>> DEBUG.pipeline_id
    'traces/debug'
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collector._config import ConfigSpec

__all__ = ["Backend", "Component"]


@dataclass(frozen=True, slots=True)
class Component:
    """A collector component id (``type/name``) and the function that builds its config block."""

    id: str
    config: Callable[[], dict[str, Any]]


@dataclass(frozen=True, slots=True)
class Backend:
    """One destination: how it is chosen, described, rendered and built.

    Attributes:
        name: the ``--exporters`` name and the pipeline's name (``traces/<name>``); lower-case.
        title: how messages and help refer to it (``"Jaeger"``).
        help: one line for ``python -m collector config --help``.
        exporter_id: the exporter's component id (``otlp_grpc/jaeger``).
        exporter: builds the exporter block from the render's :class:`~collector._config.ConfigSpec`.
        check: validates the render's options that concern it (raises ``UsageError``); run for every built-in,
            selected or not, so a bad flag fails even when its backend is off.
        processors: its own processors, in pipeline order (after ``memory_limiter``, before content stripping).
        strips_content: message content is deleted before it, unless the render keeps it
            (``--<name>-keep-content``; generic OTLP targets: ``content=keep``).
        persistent_queue: its exporter queues on disk, so its pipeline has no ``batch`` processor (which would
            acknowledge spans still only in memory); the exporter's ``sending_queue.batch`` batches instead.
        extensions: extensions it needs (the persistent queue's ``file_storage``), started by the service.
        default: selected when neither ``--exporters`` nor ``OWUI_OTEL_EXPORTERS`` is given.
        default_if_set: selected by default when this environment variable is set (non-empty).
        env: environment variables its blocks read, with the default written into the config (None: required).
        gomod: the OCB manifest modules (path, no version) it needs; a test checks each is in the manifest.
    """

    name: str
    title: str
    help: str
    exporter_id: str
    exporter: Callable[[ConfigSpec], dict[str, Any]]
    check: Callable[[ConfigSpec], None] | None = None
    processors: tuple[Component, ...] = ()
    strips_content: bool = False
    persistent_queue: bool = False
    extensions: tuple[Component, ...] = ()
    default: bool = False
    default_if_set: str | None = None
    env: Mapping[str, str | None] = field(default_factory=dict)
    gomod: tuple[str, ...] = ()

    def selected_by_default(self, environ: Mapping[str, str]) -> bool:
        """Whether the default selection (no ``--exporters``) includes it, given the environment."""
        return self.default or bool(self.default_if_set and environ.get(self.default_if_set, "").strip())

    @property
    def pipeline_id(self) -> str:
        """The traces pipeline it gets, e.g. ``traces/jaeger``."""
        return f"traces/{self.name}"

# SPDX-License-Identifier: Apache-2.0
"""The file exporter: OTLP-JSON lines appended to ``$OTELCOL_FILE_PATH``, rotated at 100 MiB.

Usage:

    >>> from collector._backends.file import FILE
    >>> FILE.exporter_id
    'file'
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from collector._components import env_ref

from .base import Backend

if TYPE_CHECKING:
    from collector._config import ConfigSpec

__all__ = ["FILE", "file_exporter"]

ENV: dict[str, str | None] = {"OTELCOL_FILE_PATH": "/tmp/owui-otel/traces.jsonl"}
"""The env vars only this backend reads, with their defaults."""


def file_exporter(_spec: ConfigSpec | None = None) -> dict[str, Any]:
    """OTLP-JSON lines appended to a local file, rotated at 100 MiB."""
    path = env_ref("OTELCOL_FILE_PATH", ENV["OTELCOL_FILE_PATH"])
    return {"path": path, "format": "json", "rotation": {"max_megabytes": 100, "max_backups": 3}}


FILE = Backend(
    name="file",
    title="the file exporter",
    help="OTLP-JSON lines in a local file (OTELCOL_FILE_PATH)",
    exporter_id="file",
    exporter=file_exporter,
    env=ENV,
    gomod=("github.com/open-telemetry/opentelemetry-collector-contrib/exporter/fileexporter",),
)

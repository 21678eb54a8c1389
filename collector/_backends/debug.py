# SPDX-License-Identifier: Apache-2.0
"""The debug exporter: spans written to the collector's own log (``--debug-verbosity``).

Usage:

    >>> from collector._backends.debug import DEBUG
    >>> DEBUG.exporter_id
    'debug'
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from collector._errors import UsageError

from .base import Backend

if TYPE_CHECKING:
    from collector._config import ConfigSpec

__all__ = ["DEBUG", "VERBOSITIES", "check_verbosity", "debug_exporter"]

VERBOSITIES = ("basic", "normal", "detailed")
"""basic: counts only; normal: one line per span; detailed: every attribute, content included."""


def debug_exporter(spec: ConfigSpec) -> dict[str, Any]:
    """Writes spans to the collector's log at the render's ``debug_verbosity``."""
    return {"verbosity": spec.debug_verbosity}


def check_verbosity(spec: ConfigSpec) -> None:
    """Reject a ``debug_verbosity`` the exporter does not know, naming the valid ones."""
    if spec.debug_verbosity not in VERBOSITIES:
        raise UsageError(
            f"--debug-verbosity: {spec.debug_verbosity!r} is not a debug verbosity. Fix: use one of "
            f"{', '.join(VERBOSITIES)}"
        )


DEBUG = Backend(
    name="debug",
    title="the debug exporter",
    help="the collector's log (--debug-verbosity)",
    exporter_id="debug",
    exporter=debug_exporter,
    check=check_verbosity,
    gomod=("go.opentelemetry.io/collector/exporter/debugexporter",),
)

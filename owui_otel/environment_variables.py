# SPDX-License-Identifier: Apache-2.0
"""Environment variables the ``owui-otel`` commands read, each named once here.

A command-line flag, where there is one, wins over its variable. The filter's own variables (what the bridge's
filter exports, where to) are in :mod:`otel_filter.environment_variables`; the ones the CLI also reads are
re-exported below. Nothing in ``owui_otel`` writes the environment: what a command decides (``serve
--otlp-endpoint``) reaches the filter through the ``environ`` mapping it is given.

    >>> from owui_otel.environment_variables import OWUI_OTEL_API_KEY
    >>> OWUI_OTEL_API_KEY
    'OWUI_OTEL_API_KEY'
"""

from __future__ import annotations

from collector import LANGFUSE_PUBLIC_KEY, LANGFUSE_SECRET_KEY
from otel_filter.environment_variables import (
    OTEL_EXPORTER_OTLP_ENDPOINT,
    OTEL_EXPORTER_OTLP_HEADERS,
    OTEL_SERVICE_NAME,
)

__all__ = [
    "LANGFUSE_HOST",
    "LANGFUSE_PUBLIC_KEY",
    "LANGFUSE_SECRET_KEY",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_HEADERS",
    "OTEL_SERVICE_NAME",
    "OWUI_OTEL_ALLOW_WIDENING_VALVES",
    "OWUI_OTEL_API_KEY",
    "OWUI_OTEL_DATA_DIR",
    "OWUI_OTEL_MAX_BODY_BYTES",
    "OWUI_OTEL_MAX_RECORDED_BODY_BYTES",
    "OWUI_OTEL_OPENWEBUI_URL",
    "OWUI_OTEL_STATE_DIR",
    "OWUI_TOKEN",
    "PIPELINES_API_KEY",
    "XDG_DATA_HOME",
    "XDG_STATE_HOME",
]

OWUI_OTEL_API_KEY = "OWUI_OTEL_API_KEY"
"""The bridge server's API key (``serve --api-key``), and the key ``demo``/``doctor`` send to it. No default:
``serve`` refuses to start without one; ``up`` generates one and keeps it in its state."""

OWUI_OTEL_MAX_BODY_BYTES = "OWUI_OTEL_MAX_BODY_BYTES"
"""Hard limit of a request body to the bridge (``serve --max-body-bytes``): above it the bridge answers 413 (it
never holds more than this per request). Default 256 MiB."""

OWUI_OTEL_MAX_RECORDED_BODY_BYTES = "OWUI_OTEL_MAX_RECORDED_BODY_BYTES"
"""Recording limit (``serve --max-recorded-body-bytes``): a filter request above it is echoed exactly but not
parsed or traced (counted as ``bodies_too_large`` in ``/health``). Default 8 MiB (at most the hard limit)."""

OWUI_OTEL_ALLOW_WIDENING_VALVES = "OWUI_OTEL_ALLOW_WIDENING_VALVES"
"""``true``: valve changes over the bridge's API may widen what leaves the machine (``serve
--allow-widening-valves``; see :mod:`owui_otel._valve_policy`). Default ``false``."""

OWUI_OTEL_STATE_DIR = "OWUI_OTEL_STATE_DIR"
"""Run-time state of ``owui-otel up`` (process ids, logs, the generated collector config). Default
``$XDG_STATE_HOME/owui-otel``."""

OWUI_OTEL_DATA_DIR = "OWUI_OTEL_DATA_DIR"
"""Data worth keeping (the bridge's valves and key, the collector's token and queue). Default
``$XDG_DATA_HOME/owui-otel``."""

XDG_STATE_HOME = "XDG_STATE_HOME"
"""The XDG base directory for state, used when ``OWUI_OTEL_STATE_DIR`` is unset. Default ``~/.local/state``."""

XDG_DATA_HOME = "XDG_DATA_HOME"
"""The XDG base directory for data, used when ``OWUI_OTEL_DATA_DIR`` is unset. Default ``~/.local/share``."""

LANGFUSE_HOST = "LANGFUSE_HOST"
"""Langfuse's base URL (``up``, ``doctor --langfuse-host``); with the two keys it adds the Langfuse backend.
No default."""

OWUI_TOKEN = "OWUI_TOKEN"
"""An Open WebUI API key or JWT of an admin (``install --token``, ``doctor --openwebui-token``). No default."""

PIPELINES_API_KEY = "PIPELINES_API_KEY"
"""The Pipelines server's API key (``install pipelines --api-key``); the Pipelines server reads the same variable.
No default here (the Pipelines server's own default is ``0p3n-w3bu!``)."""

OWUI_OTEL_OPENWEBUI_URL = "OWUI_OTEL_OPENWEBUI_URL"
"""Open WebUI's address for ``feedback sync --openwebui-url`` and the bridge's feedback webhook (``serve
--openwebui-url``), which read its feedback API with an admin token (``OWUI_TOKEN``). No default."""

# SPDX-License-Identifier: Apache-2.0
"""The filter's settings helpers that other packages use: URLs shown and derived, header lists, the resolver.

The bridge server, the doctor and the CLI read the filter's settings the way the filter does, through these names;
the modules behind them are private to ``otel_filter``.

Usage::

    >>> from otel_filter.settings import http_traces_url, parse_key_values
    >>> http_traces_url("http://localhost:4318")
    'http://localhost:4318/v1/traces'
    >>> parse_key_values("a=1,b=2")
    ((('a', '1'), ('b', '2')), [])
"""

from __future__ import annotations

from otel_filter._pricing import PRICING_UNAVAILABLE_COUNTER, UNPRICED_COUNTER
from otel_filter._settings import (
    USER_IDENTITY_EMAIL,
    USER_IDENTITY_USERNAME,
    display_url,
    http_traces_url,
    parse_bool,
    parse_key_values,
    resolve_settings,
)
from otel_filter._telemetry import DEFAULT_MAX_QUEUE_SIZE

__all__ = [
    "DEFAULT_MAX_QUEUE_SIZE",
    "PRICING_UNAVAILABLE_COUNTER",
    "UNPRICED_COUNTER",
    "USER_IDENTITY_EMAIL",
    "USER_IDENTITY_USERNAME",
    "display_url",
    "http_traces_url",
    "parse_bool",
    "parse_key_values",
    "resolve_settings",
]

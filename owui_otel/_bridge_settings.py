# SPDX-License-Identifier: Apache-2.0
"""The bridge server's operator settings: names, defaults and parsing, defined once.

Each is a ``owui-otel serve`` flag and an environment variable (the flag wins). Bad values stop the server at
startup with a message naming the setting and the fix.

    >>> body_limits(max_body=None, max_recorded=None, environ={})   # flags not given, nothing set: the defaults
    (268435456, 8388608)
    >>> body_limits(max_body=None, max_recorded="1MiB", environ={"OWUI_OTEL_MAX_BODY_BYTES": "2MiB"})
    (2097152, 1048576)
    >>> parse_size("64MiB", "--max-body-bytes")
    67108864
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from otel_filter.settings import parse_bool
from owui_otel.environment_variables import (
    OWUI_OTEL_ALLOW_WIDENING_VALVES,
    OWUI_OTEL_MAX_BODY_BYTES,
    OWUI_OTEL_MAX_RECORDED_BODY_BYTES,
)

DEFAULT_MAX_BODY_BYTES = 256 * 1024 * 1024
"""Generous on purpose: Open WebUI fails the chat turn on a 413 (see NOTES-C.md), and chats carrying images as
base64 data URLs are large. Memory per request above the recording limit stays about the body's size: it is gathered
in one growing buffer and echoed from that same buffer (``owui_otel.server.read_body``), never joined or copied."""
DEFAULT_MAX_RECORDED_BODY_BYTES = 8 * 1024 * 1024
"""Long text conversations stay well below it; parsing (on the event loop, GIL held) stays bounded."""
MAX_SETTINGS_REQUEST_BYTES = 1024 * 1024
"""Valve updates and admin requests are small; anything larger is refused with 413 before parsing."""

_SIZE = re.compile(r"^\s*(\d+)\s*(b|k|kb|kib|m|mb|mib|g|gb|gib)?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "b": 1, "k": 1024, "m": 1024**2, "g": 1024**3}


def parse_size(text: str, setting: str) -> int:
    """Bytes from ``"8388608"``, ``"8MiB"``, ``"8M"`` or ``"512k"`` (units are powers of 1024)."""
    match = _SIZE.match(text)
    if not match or int(match.group(1)) <= 0:
        raise ValueError(
            f"{setting}: {text!r} is not a size. Fix: give a positive number of bytes, e.g. 8388608 or 8MiB. Until "
            "then: the bridge server does not start"
        )
    unit = (match.group(2) or "").lower()[:1]
    return int(match.group(1)) * _UNITS[unit]


def parse_flag(text: str, setting: str) -> bool:
    """:func:`otel_filter.settings.parse_bool`, blank meaning false; raises ``ValueError`` naming ``setting``."""
    value = parse_bool(text) if text.strip() else False
    if value is not None:
        return value
    raise ValueError(
        f"{setting}: {text!r} is not true or false. Fix: set it to true or false. Until then: the bridge server does "
        "not start"
    )


def body_limits(max_body: str | None, max_recorded: str | None, environ: Mapping[str, str]) -> tuple[int, int]:
    """``(max_body_bytes, max_recorded_body_bytes)`` from flags (``None``: not given), else the environment, else
    the defaults. Raises ``ValueError`` naming the setting."""
    body = _size(max_body, "--max-body-bytes", OWUI_OTEL_MAX_BODY_BYTES, DEFAULT_MAX_BODY_BYTES, environ)
    recorded = _size(
        max_recorded,
        "--max-recorded-body-bytes",
        OWUI_OTEL_MAX_RECORDED_BODY_BYTES,
        min(DEFAULT_MAX_RECORDED_BODY_BYTES, body),
        environ,
    )
    return body, recorded


def allow_widening(flag: bool, environ: Mapping[str, str]) -> bool:
    return flag or parse_flag(environ.get(OWUI_OTEL_ALLOW_WIDENING_VALVES, ""), OWUI_OTEL_ALLOW_WIDENING_VALVES)


def _size(flag: str | None, flag_name: str, variable: str, default: int, environ: Mapping[str, str]) -> int:
    if flag is not None:
        return parse_size(flag, flag_name)
    if environ.get(variable, "").strip():
        return parse_size(environ[variable], variable)
    return default

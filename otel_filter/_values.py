# SPDX-License-Identifier: Apache-2.0
"""Defensive readers of payload values: the right type, or ``None``; never an exception.

as_str(body.get("model"))            # "gpt-4o", or None for "", 3, None, [...]
as_count(usage.get("prompt_tokens")) # 12, or None for -1, True, "x"
dig(metadata, "model", "info", "base_model_id")
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

# Payloads are parsed JSON, so mappings are plain dicts: `isinstance(x, dict)` is a C-level check,
# while the ABC check `isinstance(x, Mapping)` costs ~0.3 us and ran ~100 times per turn.


def as_dict(value: object) -> dict[str, Any] | None:
    return value if isinstance(value, dict) else None


def as_str(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def as_count(value: object) -> int | None:
    """A token count: a non-negative integer (or integral float / digit string), never a bool."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value >= 0 else None
    if isinstance(value, float) and math.isfinite(value) and value >= 0 and value == int(value):
        return int(value)
    if isinstance(value, str) and value.isdigit() and len(value) < 19:
        return int(value)
    return None


def as_float(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    result = float(value)
    return result if math.isfinite(result) else None


def as_int(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if -(2**63) <= value < 2**63 else None
    if isinstance(value, float) and math.isfinite(value) and value == int(value):
        return int(value)
    return None


def dig(mapping: Mapping[str, Any] | None, *path: str) -> object:
    current: object = mapping
    for key in path:
        if not isinstance(current, dict):
            return None
        current = current.get(key)
    return current

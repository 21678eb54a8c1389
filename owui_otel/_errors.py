# SPDX-License-Identifier: Apache-2.0
"""The project's errors, defined once in :mod:`collector` (the lower layer) and re-exported for ``owui_otel``.

    OwuiOtelError         something failed; the message says what to fix (exit 1)
    └── UsageError        the command line or a setting is wrong (exit 2)

``owui-otel`` turns each into one line ``owui-otel <command>: error: <message>`` and its exit code.
"""

from __future__ import annotations

from collector import OwuiOtelError, UsageError

__all__ = ["OwuiOtelError", "UsageError"]

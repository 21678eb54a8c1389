# SPDX-License-Identifier: Apache-2.0
"""Errors the CLI turns into a one-line message and an exit code (1 failure, 2 usage).

OwuiOtelError         something failed; the message says what to fix (exit 1)
└── UsageError        the command line itself is wrong (exit 2)
"""

from __future__ import annotations


class OwuiOtelError(Exception):
    """A failure the user can act on; ``str(error)`` names the fix."""

    exit_code = 1


class UsageError(OwuiOtelError):
    exit_code = 2

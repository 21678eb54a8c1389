# SPDX-License-Identifier: Apache-2.0
"""Exceptions raised by the collector tooling.

Every message names the fix, so the CLI can print ``str(error)`` as is. The CLI maps :class:`UsageError` to exit
code 2 and every other :class:`CollectorToolError` to exit code 1::

    CollectorToolError
    ├── UsageError            bad flags or env values (exit 2)
    ├── GoNotFoundError       no usable Go toolchain
    ├── BuildError            builder / go build / go get failed
    └── ValidationError       `<binary> validate` rejected a config
"""

from __future__ import annotations

__all__ = ["BuildError", "CollectorToolError", "GoNotFoundError", "UsageError", "ValidationError"]


class CollectorToolError(Exception):
    """Base class of every error the collector tooling raises on purpose."""


class UsageError(CollectorToolError):
    """A flag, argument or environment variable has an invalid value."""


class GoNotFoundError(CollectorToolError):
    """Go is missing or older than the builder needs."""


class BuildError(CollectorToolError):
    """A build step (builder, ``go get``, ``go build``) failed; the message carries the tail of its output."""


class ValidationError(CollectorToolError):
    """The collector binary rejected a configuration file."""

# SPDX-License-Identifier: Apache-2.0
"""The project's one error hierarchy: every error raised on purpose, in ``collector`` and in ``owui_otel``.

It lives here, in the lowest package that raises such errors (the layer order is ``otel_filter`` <- ``collector``
<- ``owui_otel``); ``owui_otel`` re-exports it. Every message names the problem and the fix, so a CLI prints
``str(error)`` as is, on one line, and exits with :attr:`OwuiOtelError.exit_code`::

    OwuiOtelError             something failed; the message says what to fix (exit 1)
    ├── UsageError            a bad flag, argument or environment value (exit 2)
    ├── GoNotFoundError       no usable Go toolchain
    ├── BuildError            builder / go build / go get failed
    ├── ValidationError       `<binary> validate` rejected a config
    └── ProcessError          a managed process exited early or never became ready (collector/_process.py)

Usage::

    from collector import OwuiOtelError, UsageError

    try:
        ...
    except OwuiOtelError as error:
        print(f"owui-otel up: error: {error}", file=sys.stderr)
        raise SystemExit(error.exit_code)
"""

from __future__ import annotations

__all__ = ["BuildError", "GoNotFoundError", "OwuiOtelError", "UsageError", "ValidationError"]


class OwuiOtelError(Exception):
    """Base class of every error the project raises on purpose; ``str(error)`` names the fix."""

    exit_code = 1


class UsageError(OwuiOtelError):
    """A flag, argument or environment variable has an invalid value."""

    exit_code = 2


class GoNotFoundError(OwuiOtelError):
    """Go is missing or older than the builder needs."""


class BuildError(OwuiOtelError):
    """A build step (builder, ``go get``, ``go build``) failed; the message carries the tail of its output."""


class ValidationError(OwuiOtelError):
    """The collector binary rejected a configuration file."""

# SPDX-License-Identifier: Apache-2.0
"""Where built binaries and the builder live: a per-user cache directory, never inside the repository.

Resolution order: ``$OWUI_OTEL_CACHE``, else ``$XDG_CACHE_HOME/owui-otel``, else ``~/.cache/owui-otel``.

Layout (created on demand)::

    <cache>/bin/builder                      OCB, installed with GOBIN=<cache>/bin
    <cache>/collector/<key>/owui-otelcol     one directory per manifest hash (+ Go version)
    <cache>/jaeger/<key>/jaeger              one directory per Jaeger version (+ Go version)

Usage::

    from collector._cache import cache_dir
    binary = cache_dir() / "collector"
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from ._errors import UsageError

__all__ = ["OWUI_OTEL_CACHE", "cache_dir", "repo_root"]

OWUI_OTEL_CACHE = "OWUI_OTEL_CACHE"
"""Environment variable overriding the cache directory (absolute path recommended)."""


def repo_root() -> Path:
    """The source tree this package was loaded from (the directory above ``collector/``)."""
    return Path(__file__).resolve().parent.parent


def _is_within(path: Path, parent: Path) -> bool:
    try:
        path.relative_to(parent)
    except ValueError:
        return False
    return True


def cache_dir(env: Mapping[str, str] | None = None) -> Path:
    """Return the absolute cache directory (not created).

    Args:
        env: environment to read; defaults to ``os.environ``.

    Raises:
        UsageError: the resolved directory lies inside the source tree. Build output there would be picked up
            by git and by the wheel build; point ``OWUI_OTEL_CACHE`` somewhere else.
    """
    environ = os.environ if env is None else env
    explicit = environ.get(OWUI_OTEL_CACHE, "").strip()
    if explicit:
        path = Path(explicit).expanduser()
    else:
        xdg = environ.get("XDG_CACHE_HOME", "").strip()
        # XDG spec: a relative XDG_CACHE_HOME is invalid and must be ignored.
        base = Path(xdg) if xdg and Path(xdg).is_absolute() else Path.home() / ".cache"
        path = base / "owui-otel"
    path = path.resolve()
    root = repo_root()
    if (root / ".git").exists() and _is_within(path, root):
        raise UsageError(
            f"{OWUI_OTEL_CACHE}: {path} is inside the repository {root}. "
            f"Fix: set {OWUI_OTEL_CACHE} to a directory outside it (e.g. ~/.cache/owui-otel)"
        )
    return path

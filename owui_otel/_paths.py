# SPDX-License-Identifier: Apache-2.0
"""Where the product keeps its files, all outside the repository.

state_dir()   # $OWUI_OTEL_STATE_DIR, else $XDG_STATE_HOME/owui-otel, else ~/.local/state/owui-otel
data_dir()    # $OWUI_OTEL_DATA_DIR,  else $XDG_DATA_HOME/owui-otel,  else ~/.local/share/owui-otel
"""

from __future__ import annotations

import os
from pathlib import Path


def _xdg(variable: str, override: str, fallback: str) -> Path:
    if os.environ.get(override):
        return Path(os.environ[override]).expanduser()
    base = os.environ.get(variable)
    return (Path(base).expanduser() if base else Path.home() / fallback) / "owui-otel"


def state_dir() -> Path:
    """Run-time state of ``owui-otel up``: process ids, logs, the generated collector config."""
    return _xdg("XDG_STATE_HOME", "OWUI_OTEL_STATE_DIR", ".local/state")


def data_dir() -> Path:
    """Data worth keeping: the bridge server's valves, the collector's persistent queue."""
    return _xdg("XDG_DATA_HOME", "OWUI_OTEL_DATA_DIR", ".local/share")

# SPDX-License-Identifier: Apache-2.0
"""Where the product keeps its files, all outside the repository, readable by the owner only.

state_dir()   # $OWUI_OTEL_STATE_DIR, else $XDG_STATE_HOME/owui-otel, else ~/.local/state/owui-otel
data_dir()    # $OWUI_OTEL_DATA_DIR,  else $XDG_DATA_HOME/owui-otel,  else ~/.local/share/owui-otel

Both hold secrets (the bridge key, the collector's ingest token, logs that may quote requests), so the
folders we create are 0700 and the files 0600; :func:`private_dir` also tightens folders an older version
created 0755::

    logs = private_dir(state_dir() / "stack" / "logs")    # created 0700 (parents too), or tightened
    write_private(logs.parent / "stack.json", text)       # 0600, replaced atomically
"""

from __future__ import annotations

import os
from pathlib import Path

from owui_otel.environment_variables import OWUI_OTEL_DATA_DIR, OWUI_OTEL_STATE_DIR, XDG_DATA_HOME, XDG_STATE_HOME

PRIVATE_DIR_MODE = 0o700
PRIVATE_FILE_MODE = 0o600


def _xdg(variable: str, override: str, fallback: str) -> Path:
    if os.environ.get(override):
        return Path(os.environ[override]).expanduser()
    base = os.environ.get(variable)
    return (Path(base).expanduser() if base else Path.home() / fallback) / "owui-otel"


def state_dir() -> Path:
    """Run-time state of ``owui-otel up``: process ids, logs, the generated collector config."""
    return _xdg(XDG_STATE_HOME, OWUI_OTEL_STATE_DIR, ".local/state")


def data_dir() -> Path:
    """Data worth keeping: the bridge server's valves and key, the collector's token and persistent queue."""
    return _xdg(XDG_DATA_HOME, OWUI_OTEL_DATA_DIR, ".local/share")


def _product_root(path: Path) -> Path | None:
    """The state or data dir that ``path`` lies in (folders above it, like ~/.local, are not ours to change)."""
    for root in (state_dir(), data_dir()):
        if path == root or root in path.parents:
            return root
    return None


def private_dir(path: Path) -> Path:
    """Create ``path`` (and its missing parents) as 0700, and tighten it and every folder of ours above it.

    Folders outside the state/data dirs (``~/.local/state`` itself, a tmp dir) are created when missing but
    their mode is left alone, except the ones between the product root and ``path``.
    """
    path.mkdir(mode=PRIVATE_DIR_MODE, parents=True, exist_ok=True)
    root = _product_root(path)
    folders = [path]
    if root is not None:
        folders += [parent for parent in path.parents if parent == root or root in parent.parents]
    for folder in folders:
        if folder.stat().st_mode & 0o777 != PRIVATE_DIR_MODE:
            folder.chmod(PRIVATE_DIR_MODE)
    return path


def write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` as a 0600 file (in a 0700 folder), replacing it atomically."""
    private_dir(path.parent)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE_FILE_MODE)
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.chmod(temporary, PRIVATE_FILE_MODE)  # O_CREAT's mode is masked by umask; 0600 either way
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def tighten_file(path: Path) -> None:
    """Make an existing file 0600 (a log or key an older version wrote 0644); a missing file is fine."""
    try:
        if path.stat().st_mode & 0o777 != PRIVATE_FILE_MODE:
            path.chmod(PRIVATE_FILE_MODE)
    except FileNotFoundError:
        pass

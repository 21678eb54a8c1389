# SPDX-License-Identifier: Apache-2.0
"""How a hint spells an ``owui-otel`` command so that it works as pasted, wherever the CLI was run from.

The console script lives next to the running interpreter (``<venv>/bin/owui-otel``). A hint says plain
``owui-otel`` only when that very script is what the shell's ``PATH`` finds (an activated venv, pipx); else the
script's path, relative to the current directory when it lies under it (``.venv/bin/owui-otel`` in a repo checkout,
the README's way), absolute otherwise; without a script (a bare ``python -m owui_otel.cli``), that::

    command("down")            # '`.venv/bin/owui-otel down`' when run as .venv/bin/owui-otel from the checkout
    command("down", "&&", "up")  # '`.venv/bin/owui-otel down && .venv/bin/owui-otel up`'
    program()                  # '.venv/bin/owui-otel'
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

SCRIPT = "owui-otel"


def program() -> str:
    """The shortest spelling of the ``owui-otel`` command that runs this installation (see the module docstring)."""
    script = Path(sys.executable).parent / SCRIPT
    if not script.exists():
        return f"{sys.executable} -m owui_otel.cli"
    found = shutil.which(SCRIPT)
    if found is not None and Path(found).resolve() == script.resolve():
        return SCRIPT
    absolute = Path(os.path.abspath(script))
    try:
        return str(absolute.relative_to(Path.cwd()))
    except ValueError:
        return str(absolute)


def command(*words: str) -> str:
    """A pasteable command in backticks; ``&&`` starts another ``owui-otel`` command (``command("down", "&&",
    "up")``)."""
    parts = " ".join(word for word in words if word).split(" && ")
    return "`" + " && ".join(f"{program()} {part}".rstrip() for part in parts) + "`"

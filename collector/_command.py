# SPDX-License-Identifier: Apache-2.0
"""How a hint spells a ``python -m collector`` command so that it works as pasted: with the interpreter that runs
this one, relative to the current directory when it lies under it (``.venv/bin/python`` in a repo checkout), else
absolute (a bare ``python`` may be another interpreter, without this package)::

    collector_command("build")   # '`.venv/bin/python -m collector build`' when run from the checkout
"""

from __future__ import annotations

import os
import sys
from pathlib import Path


def collector_command(*words: str) -> str:
    """``python -m collector <words>`` in backticks, spelled with this interpreter's path."""
    python = Path(os.path.abspath(sys.executable))
    try:
        shown = str(python.relative_to(Path.cwd()))
    except ValueError:
        shown = str(python)
    return f"`{' '.join([shown, '-m', 'collector', *words])}`"

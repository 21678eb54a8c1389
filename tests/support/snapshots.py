# SPDX-License-Identifier: Apache-2.0
"""Snapshot files for CLI output, so a wording change is a deliberate, reviewed diff.

Output is normalised first (loopback ports, temporary paths, hex ids, times, pids), then compared exactly with
``<folder>/<name>.txt``. To accept new wording, run the tests with ``OWUI_OTEL_UPDATE_SNAPSHOTS=1`` (that rewrites
the files; review them with ``git diff``)::

    assert_snapshot(SNAPSHOTS / "doctor", "healthy_bridge", output, tmp_path)

A missing snapshot fails (it is never created silently).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

UPDATE = "OWUI_OTEL_UPDATE_SNAPSHOTS"
SNAPSHOTS = Path(__file__).resolve().parents[1] / "cli" / "snapshots"

_RULES = (
    (re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z?"), "<time>"),
    (re.compile(r"\b\d\d:\d\d:\d\d\b"), "<time>"),
    (re.compile(r"(127\.0\.0\.1|localhost):\d+"), r"\1:<port>"),
    (re.compile(r"\b[0-9a-f]{12,32}\b"), "<id>"),
    (re.compile(r"\bpid \d+"), "pid <pid>"),
    (re.compile(r"(spans sent: )[^)]*"), r"\1<counts>"),
    (re.compile(r"port \(\d{4,5}\)"), "port (<port>)"),
)


def normalise(text: str, *paths: Path) -> str:
    for path in paths:
        text = text.replace(str(path), "<tmp>")
    for pattern, replacement in _RULES:
        text = pattern.sub(replacement, text)
    return text


def assert_snapshot(folder: Path, name: str, text: str, *paths: Path) -> None:
    """``text`` (normalised) must equal ``folder/name.txt``; rewritten instead under ``$OWUI_OTEL_UPDATE_SNAPSHOTS``."""
    actual = normalise(text, *paths).rstrip("\n") + "\n"
    path = folder / f"{name}.txt"
    if os.environ.get(UPDATE):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(actual, encoding="utf-8")
        return
    assert path.exists(), f"no snapshot {path}: run with {UPDATE}=1 to create it, then review it"
    expected = path.read_text(encoding="utf-8")
    assert actual == expected, f"output differs from {path} (run with {UPDATE}=1 to accept):\n{actual}"

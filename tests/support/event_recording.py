# SPDX-License-Identifier: Apache-2.0
"""The recording of a real Open WebUI 0.12.4 session's events and feedback records (tests/fixtures/openwebui-events),
read one way by every test that replays it. Standard library only: tests/filter imports it.

    for line in events_received("02_chat_turn2"):
        line["event_name"], line["event"]
    records_file("07_update_comment")["admin_export"]["body"]
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

EVENTS = Path(__file__).resolve().parents[1] / "fixtures" / "openwebui-events"
"""One ``{step}.events.json`` (what the Event function received) and, for feedback steps, ``{step}.records.json``."""


def steps(kind: str = "events") -> list[str]:
    """The recorded steps with a ``{step}.{kind}.json`` file, in recording order."""
    return sorted(path.name.removesuffix(f".{kind}.json") for path in EVENTS.glob(f"*.{kind}.json"))


def events_received(step: str) -> list[dict[str, Any]]:
    """The events Open WebUI delivered in ``step``, in order (``event_name``, ``event``, ...)."""
    return json.loads((EVENTS / f"{step}.events.json").read_text(encoding="utf-8"))["events_received"]  # type: ignore[no-any-return]


def records_file(step: str) -> dict[str, Any]:
    """The feedback records Open WebUI held after ``step`` (admin export and per-id reads)."""
    return json.loads((EVENTS / f"{step}.records.json").read_text(encoding="utf-8"))  # type: ignore[no-any-return]

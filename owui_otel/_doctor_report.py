# SPDX-License-Identifier: Apache-2.0
"""What ``owui-otel doctor`` found, as text for people and as JSON for CI.

Every problem line speaks in one voice: ``<setting>: <what is wrong>. Fix: <exact fix>. Until then: <fallback>.``,
the setting being the environment variable or ``valve <name>`` the value came from (or the link, when no single
setting is at fault). The last line counts the problems (failed + warned checks), so a run that warns never ends
on a success line::

    report = Report([Check("LANGFUSE_HOST", FAIL, "it holds an API path", "set the base URL", "no span arrives")])
    print(render(report))        # ... then "1 problem (1 failed, 0 warned): each line above says its fix"
    json.loads(to_json(report))["problems"]     # 1
"""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

from owui_otel._doctor_base import Check, Report

JSON_VERSION = 1
"""Bumped when a key of :func:`to_json`'s output changes meaning or disappears (new keys do not bump it)."""


def _sentence(text: str) -> str:
    text = text.strip()
    return text if text.endswith((".", "!", "?")) else f"{text}."


def problem_line(check: Check) -> str:
    """``<setting>: <what>. Fix: <fix>. Until then: <fallback>.`` (the parts that are known)."""
    parts = [f"{check.link}: {_sentence(check.says)}"]
    if check.fix:
        parts.append(f"Fix: {_sentence(check.fix)}")
    if check.until:
        parts.append(f"Until then: {_sentence(check.until)}")
    return " ".join(parts)


def verdict(report: Report) -> str:
    """The last line: ``N problems ...`` whenever anything failed or warned."""
    if report.problems:
        noun = "problem" if report.problems == 1 else "problems"
        return (
            f"{report.problems} {noun} ({report.failed} failed, {report.warned} warned): each line above says its fix"
        )
    synthetic = report.synthetic
    if synthetic is not None and synthetic["found_in"]:
        return f"no problems: the synthetic turn reached {' and '.join(synthetic['found_in'])}"
    return "no problems in the links checked"


def render(report: Report) -> str:
    lines = []
    for check in report.checks:
        text = problem_line(check) if check.is_problem else f"{check.link}: {check.says}"
        lines.append(f"[{check.status:>4}] {text}")
    if report.logs:
        lines += ["", f"Logs: {report.logs}"]
    return "\n".join([*lines, "", verdict(report)])


def to_json(report: Report) -> str:
    """The report for CI. Shape (``version`` 1)::

        {"version": 1, "ok": false, "problems": 2, "failed": 1, "warned": 1, "logs": "/path/to/logs",
         "synthetic_turn": {"chat_id": "owui-otel-doctor-...", "trace_id": "...", "path": "bridge",
                            "found_in": ["Jaeger"], "missing_in": ["Langfuse"]} | null,
         "checks": [{"link": "LANGFUSE_HOST", "status": "FAIL", "says": "...", "fix": "...", "until": "..."}, ...],
         "verdict": "2 problems (...)"}

    ``ok`` is true exactly when ``problems`` is 0 (the exit code is then 0).
    """
    document: dict[str, Any] = {
        "version": JSON_VERSION,
        "ok": report.problems == 0,
        "problems": report.problems,
        "failed": report.failed,
        "warned": report.warned,
        "logs": report.logs,
        "synthetic_turn": report.synthetic,
        "checks": [{k: v for k, v in asdict(check).items() if k != "data"} for check in report.checks],
        "verdict": verdict(report),
    }
    return json.dumps(document, indent=2)

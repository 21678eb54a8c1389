# SPDX-License-Identifier: Apache-2.0
"""What each model and each user used and cost, read back from Prometheus with PromQL (``owui-otel demo``).

The collector derives the usage metrics from the turn spans (collector/_backends/metrics.py) and pushes them to
the stack's Prometheus. The demo's users are fresh ids every run, so the per-user series restricted to them hold
exactly the demo's turns, per model and per user, whatever earlier runs stored.

    lines = usage_lines("http://127.0.0.1:9090", ["3f2c...", ...], turns=6, wait_s=20)
    print("\\n".join(lines))
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from dataclasses import dataclass

import httpx

__all__ = ["Usage", "query_usage", "usage_lines"]

_NANO = 1_000_000_000
_SETTING = "OWUI_OTEL_METRICS_PER_USER"


@dataclass
class Usage:
    """One row: tokens in and out, cost in nano-USD, turns."""

    input_tokens: int = 0
    output_tokens: int = 0
    cost_nano_usd: int = 0
    turns: int = 0

    def describe(self) -> str:
        cost = f"${self.cost_nano_usd / _NANO:.6f}" if self.cost_nano_usd else "no cost"
        return f"{self.turns} turn(s), {self.input_tokens:,} input + {self.output_tokens:,} output tokens, {cost}"


def _query(prometheus_url: str, expr: str) -> list[tuple[dict[str, str], float]]:
    answer = httpx.get(f"{prometheus_url}/api/v1/query", params={"query": expr}, timeout=10.0)
    answer.raise_for_status()
    return [(row["metric"], float(row["value"][1])) for row in answer.json()["data"]["result"]]


def query_usage(prometheus_url: str, user_ids: Sequence[str], by: str) -> dict[str, Usage]:
    """``{label value: Usage}`` of ``user_ids``' turns, grouped by the label ``by`` (``gen_ai_request_model`` or
    ``user_id``). Raises ``httpx.HTTPError`` when Prometheus does not answer."""
    # A regex of the exact ids, inside a PromQL string literal (whose own escapes need the backslashes doubled).
    users = "|".join(re.escape(user) for user in user_ids).replace("\\", "\\\\").replace('"', '\\"')
    selector = f'{{user_id=~"{users}"}}'
    rows: dict[str, Usage] = {}
    for labels, value in _query(
        prometheus_url, f"sum by ({by}, gen_ai_token_type) (openwebui_user_token_usage_total{selector})"
    ):
        usage = rows.setdefault(labels.get(by, "?"), Usage())
        if labels.get("gen_ai_token_type") == "input":
            usage.input_tokens = int(value)
        else:
            usage.output_tokens = int(value)
    for labels, value in _query(prometheus_url, f"sum by ({by}) (openwebui_user_cost_nUSD_total{selector})"):
        rows.setdefault(labels.get(by, "?"), Usage()).cost_nano_usd = int(value)
    for labels, value in _query(prometheus_url, f"sum by ({by}) (openwebui_user_turns_total{selector})"):
        rows.setdefault(labels.get(by, "?"), Usage()).turns = int(value)
    return rows


def usage_lines(prometheus_url: str, user_ids: Sequence[str], *, turns: int, wait_s: float = 20.0) -> list[str]:
    """The report's lines: per model, then per user; waits up to ``wait_s`` for all ``turns`` to be counted.

    Never raises: when Prometheus cannot be read, or the turns do not show up, the lines say so and how to check.
    """
    deadline = time.monotonic() + wait_s
    try:
        while True:
            by_user = query_usage(prometheus_url, user_ids, "user_id")
            counted = sum(usage.turns for usage in by_user.values())
            if counted >= turns or time.monotonic() > deadline:
                break
            time.sleep(1.0)
        by_model = query_usage(prometheus_url, user_ids, "gen_ai_request_model")
    except (httpx.HTTPError, KeyError, ValueError) as error:
        return [f"  Prometheus at {prometheus_url} could not be read ({error}); run `owui-otel doctor`"]
    if not by_user:
        return [
            f"  Prometheus at {prometheus_url} has no per-user usage for this demo yet: the per-user metrics are off "
            f"({_SETTING}=false) or the collector could not deliver them; run `owui-otel doctor`"
        ]
    lines = ["  per model:"]
    lines += [f"    {model:<24} {usage.describe()}" for model, usage in sorted(by_model.items())]
    lines.append("  per user:")
    lines += [f"    {user:<36} {usage.describe()}" for user, usage in sorted(by_user.items())]
    if counted < turns:
        lines.append(f"  ({counted} of {turns} demo turns counted so far: the rest are still on their way)")
    return lines

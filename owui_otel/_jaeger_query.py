# SPDX-License-Identifier: Apache-2.0
"""Read traces back from Jaeger's HTTP query API, as span trees (shared by ``owui-otel demo`` and ``traces``).

Jaeger's ``GET /api/traces`` answers ``{"data": [trace, ...]}``; a trace is a flat list of spans whose
``references`` name their parent. :func:`span_trees` turns one into trees with the tags as a dict::

    traces = search_traces("http://127.0.0.1:16686", tags={"openwebui.chat.id": chat_id}, limit=20)
    for root in span_trees(traces[0]):
        print(root.name, root.tags.get("gen_ai.usage.input_tokens"), [child.name for child in root.children])

    >>> trace = {"traceID": "ab", "spans": [
    ...     {"spanID": "2", "operationName": "title_generation", "startTime": 20, "duration": 5,
    ...      "references": [{"refType": "CHILD_OF", "spanID": "1"}], "tags": []},
    ...     {"spanID": "1", "operationName": "chat m", "startTime": 10, "duration": 50, "references": [],
    ...      "tags": [{"key": "gen_ai.usage.input_tokens", "type": "int64", "value": 12}]}]}
    >>> [(root.name, root.tags, [child.name for child in root.children]) for root in span_trees(trace)]
    [('chat m', {'gen_ai.usage.input_tokens': 12}, ['title_generation'])]
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from owui_otel._command import command
from owui_otel._errors import OwuiOtelError

DEFAULT_SERVICE = "open-webui"
"""The filter's default ``service.name`` (``OTEL_SERVICE_NAME`` changes it)."""


@dataclass
class SpanNode:
    """One span of a trace, with its children (ordered by start time)."""

    name: str
    trace_id: str
    span_id: str
    start_us: int
    duration_us: int
    tags: dict[str, Any]
    children: list[SpanNode] = field(default_factory=list)


def search_traces(
    jaeger_url: str,
    *,
    service: str = DEFAULT_SERVICE,
    tags: Mapping[str, str] | None = None,
    lookback_s: float = 3600.0,
    limit: int = 20,
    timeout_s: float = 5.0,
) -> list[dict[str, Any]]:
    """Jaeger's traces of ``service`` in the last ``lookback_s`` seconds that have a span with all ``tags``.

    Raises:
        OwuiOtelError: Jaeger did not answer, or answered with an error (the message names the URL and the fix).
    """
    end_us = int(time.time() * 1_000_000)
    params = {
        "service": service,
        "start": str(end_us - int(lookback_s * 1_000_000)),
        "end": str(end_us),
        "limit": str(limit),
    }
    if tags:
        params["tags"] = json.dumps(dict(tags))
    try:
        response = httpx.get(f"{jaeger_url}/api/traces", params=params, timeout=timeout_s)
    except httpx.HTTPError as error:
        raise OwuiOtelError(
            f"Jaeger query API at {jaeger_url}: does not answer ({type(error).__name__}). Fix: "
            f"{command('up')} starts the local stack, or pass --jaeger-url of yours. Until then: no traces to show"
        ) from error
    if response.status_code != 200:
        raise OwuiOtelError(
            f"Jaeger query API at {jaeger_url}: answered {response.status_code} to a trace search "
            f"({response.text[:200].strip()}). Fix: give Jaeger's query port (16686 by default). Until then: no "
            "traces to show"
        )
    data: list[dict[str, Any]] = response.json().get("data") or []
    return data


def span_tags(span: Mapping[str, Any]) -> dict[str, Any]:
    """A Jaeger span's tags (its attributes) as a dict."""
    return {tag["key"]: tag["value"] for tag in span.get("tags") or []}


def _parent_id(span: Mapping[str, Any]) -> str | None:
    for reference in span.get("references") or []:
        if reference.get("refType") == "CHILD_OF":
            parent: str = reference["spanID"]
            return parent
    return None


def span_trees(trace: Mapping[str, Any]) -> list[SpanNode]:
    """The trace's root spans (spans whose parent is not in the trace count as roots), each with its subtree."""
    nodes: dict[str, SpanNode] = {}
    parents: dict[str, str | None] = {}
    for span in trace.get("spans") or []:
        node = SpanNode(
            name=span["operationName"],
            trace_id=trace["traceID"],
            span_id=span["spanID"],
            start_us=int(span.get("startTime", 0)),
            duration_us=int(span.get("duration", 0)),
            tags=span_tags(span),
        )
        nodes[node.span_id] = node
        parents[node.span_id] = _parent_id(span)
    roots: list[SpanNode] = []
    for span_id, node in nodes.items():
        parent = parents[span_id]
        (nodes[parent].children if parent in nodes else roots).append(node)
    for node in nodes.values():
        node.children.sort(key=lambda child: child.start_us)
    return sorted(roots, key=lambda root: root.start_us)

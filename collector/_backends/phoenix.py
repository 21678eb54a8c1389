# SPDX-License-Identifier: Apache-2.0
"""Arize Phoenix: OTLP/HTTP to ``$PHOENIX_OTLP_ENDPOINT/v1/traces``, only our spans, in the ``open-webui`` project.

Phoenix (PyPI ``arize-phoenix``, embedded SQLite storage) is the trace UI ``owui-otel up`` starts locally. It reads
the filter's ``gen_ai.*`` attributes itself (``phoenix/trace/gen_ai/conversion.py``: ``gen_ai.request.model`` ->
model, ``gen_ai.usage.*`` -> token counts, ``gen_ai.input.messages`` / ``gen_ai.output.messages`` /
``gen_ai.system_instructions`` -> the LLM span's messages, ``gen_ai.conversation.id`` -> session), so nothing is
translated here. What only Phoenix needs stays in this pipeline:

- ``filter/phoenix`` keeps only the filter's scope: Phoenix is a GenAI view, and other spans sent to the same
  collector (the bridge server's own ``POST /{filter_id}/filter/inlet`` HTTP spans, Open WebUI's FastAPI/httpx
  spans) would each show up as a trace of their own among the chat turns. Jaeger still gets them.
- ``transform/phoenix`` names the Phoenix project (``openinference.project.name``, which Phoenix reads from the
  resource; without it everything lands in ``default``).

Prompts and replies are kept: showing them is what this UI is for (Phoenix runs on loopback, data in the
stack's data dir). ``--exporters phoenix`` selects it; it is not in the default selection.

Usage:

    >>> from collector._backends.phoenix import PHOENIX, PHOENIX_PROJECT
    >>> PHOENIX.exporter_id, PHOENIX_PROJECT
    ('otlp_http/phoenix', 'open-webui')
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from collector._components import OUR_SCOPE, local_otlp_http_exporter

from .base import Backend, Component

if TYPE_CHECKING:
    from collector._config import ConfigSpec

__all__ = [
    "FILTER_PHOENIX",
    "PHOENIX",
    "PHOENIX_PROJECT",
    "PHOENIX_PROJECT_ATTRIBUTE",
    "TRANSFORM_PHOENIX",
    "filter_phoenix_processor",
    "phoenix_exporter",
    "transform_phoenix_processor",
]

FILTER_PHOENIX = "filter/phoenix"
TRANSFORM_PHOENIX = "transform/phoenix"

PHOENIX_PROJECT = "open-webui"
"""The Phoenix project our turns land in."""
PHOENIX_PROJECT_ATTRIBUTE = "openinference.project.name"
"""The resource attribute Phoenix files spans under (openinference-semantic-conventions ``ResourceAttributes``)."""

ENV: dict[str, str | None] = {"PHOENIX_OTLP_ENDPOINT": "http://localhost:6006"}
"""The env vars only this backend reads, with their defaults (Phoenix's HTTP port serves OTLP at /v1/traces)."""

_PROJECT = f'resource.attributes["{PHOENIX_PROJECT_ATTRIBUTE}"]'


def filter_phoenix_processor() -> dict[str, Any]:
    """Drops every scope but the filter's (a true condition drops the data)."""
    return {
        "error_mode": "ignore",
        "trace_conditions": [{"context": "scope", "conditions": [f'scope.name != "{OUR_SCOPE}"']}],
    }


def transform_phoenix_processor() -> dict[str, Any]:
    """Files our spans under the ``open-webui`` project unless the sender named one."""
    statement = f'set({_PROJECT}, "{PHOENIX_PROJECT}") where {_PROJECT} == nil'
    return {"error_mode": "ignore", "trace_statements": [{"context": "resource", "statements": [statement]}]}


def phoenix_exporter(_spec: ConfigSpec | None = None) -> dict[str, Any]:
    """OTLP/HTTP (protobuf, gzip) to Phoenix; an in-memory queue (Phoenix is local: a restart loses little)."""
    return local_otlp_http_exporter("PHOENIX_OTLP_ENDPOINT", ENV["PHOENIX_OTLP_ENDPOINT"])


PHOENIX = Backend(
    name="phoenix",
    title="Phoenix",
    help="Arize Phoenix over OTLP/HTTP (PHOENIX_OTLP_ENDPOINT); only our spans, prompts and replies kept",
    exporter_id="otlp_http/phoenix",
    exporter=phoenix_exporter,
    processors=(
        Component(FILTER_PHOENIX, filter_phoenix_processor),
        Component(TRANSFORM_PHOENIX, transform_phoenix_processor),
    ),
    env=ENV,
    gomod=(
        "go.opentelemetry.io/collector/exporter/otlphttpexporter",
        "github.com/open-telemetry/opentelemetry-collector-contrib/processor/filterprocessor",
        "github.com/open-telemetry/opentelemetry-collector-contrib/processor/transformprocessor",
    ),
)

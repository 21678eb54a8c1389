# SPDX-License-Identifier: Apache-2.0
"""The two host shims: ``Pipeline`` (Open WebUI Pipelines server) and ``Filter`` (Open WebUI Functions).

Valves, guards and delegation only; all the work is in :class:`FilterCore`. Every hook returns
the very object it was given, even when tracing fails.

Pipelines (``pipelines/otel_filter_pipeline.py``, or ``from otel_filter import Pipeline``)::

    pipeline = Pipeline()
    await pipeline.on_startup()
    body = await pipeline.inlet(body, user)
    body = await pipeline.outlet(body, user)
    await pipeline.on_shutdown()          # ends open turns, flushes

Functions (paste the same file as a Filter function): Open WebUI calls ``inlet``, ``stream`` and
``outlet`` with the dunder parameters they declare, and rebuilds ``valves`` before every call,
so changes are detected here rather than in a lifecycle hook (Functions have none).
"""

from __future__ import annotations

import asyncio
import os
import sys
import types
from collections.abc import Mapping
from typing import Any

from opentelemetry.sdk.trace import TracerProvider
from pydantic import BaseModel, Field

from otel_filter._core import FilterCore, current_span_links
from otel_filter._health import Health
from otel_filter._settings import (
    DEFAULT_MAX_CONTENT_CHARS,
    DEFAULT_MAX_OPEN_TURNS,
    DEFAULT_TURN_TIMEOUT_S,
    env_bool,
    env_capture_content,
    env_int,
    env_patterns,
)
from otel_filter.environment_variables import (
    OWUI_OTEL_MAX_CONTENT_CHARS,
    OWUI_OTEL_MAX_OPEN_TURNS,
    OWUI_OTEL_RECORD_TASKS,
    OWUI_OTEL_RECORD_USER_EMAIL,
    OWUI_OTEL_TURN_TIMEOUT_SECONDS,
)

FILTER_NAME = "OpenTelemetry GenAI bridge"


class Valves(BaseModel):
    """Admin settings. Empty strings defer to the standard OTel environment variables.

    Plain scalar and list types only: the Pipelines admin page edits them as text, and the
    module may be loaded without being registered in ``sys.modules``, where pydantic could not
    resolve any other annotation.
    """

    pipelines: list[str] = Field(
        default_factory=lambda: ["*"],
        description="Pipelines server only: the model ids this filter runs for; ['*'] means every model.",
    )
    priority: int = Field(
        default=0,
        description="Order among filters, lowest first. Keep it low so the turn is traced before other "
        "filters change the messages, or high to trace what the model finally receives.",
    )
    otlp_endpoint: str = Field(
        default="",
        description="OTLP endpoint of the collector, e.g. http://localhost:4318 (HTTP; /v1/traces is appended) "
        "or http://localhost:4317 (gRPC). Empty: OTEL_EXPORTER_OTLP_TRACES_ENDPOINT / OTEL_EXPORTER_OTLP_ENDPOINT, "
        "else http://localhost:4318.",
    )
    otlp_protocol: str = Field(
        default="",
        description="'http/protobuf' or 'grpc'. Empty: OTEL_EXPORTER_OTLP_PROTOCOL, else http/protobuf.",
        json_schema_extra={"enum": ["", "http/protobuf", "grpc"]},
    )
    otlp_headers: str = Field(
        default="",
        description="Headers for the OTLP exporter as key=value pairs separated by commas, values URL-encoded "
        "(authorization=Bearer%20<token>). Empty: OTEL_EXPORTER_OTLP_HEADERS. Prefer the environment variable "
        "for secrets: the Pipelines server shows valves to anyone who can reach it.",
    )
    service_name: str = Field(
        default="",
        description="service.name of the spans. Empty: OTEL_SERVICE_NAME, else 'open-webui'.",
    )
    resource_attributes: str = Field(
        default="",
        description="Extra resource attributes as key=value pairs separated by commas, added to "
        "OTEL_RESOURCE_ATTRIBUTES (e.g. deployment.environment.name=prod).",
    )
    capture_message_content: bool = Field(
        default_factory=lambda: env_capture_content(os.environ),
        description="Record prompts and replies (gen_ai.input.messages, gen_ai.output.messages, "
        "gen_ai.system_instructions). On by default because Langfuse shows conversations from them; "
        "default follows OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT when set.",
    )
    redact_patterns: list[str] = Field(
        default_factory=lambda: env_patterns(os.environ),
        description="Regular expressions (Python syntax) whose matches are replaced in every message before "
        "it is recorded. An invalid pattern turns content capture off until fixed. "
        "Default: OWUI_OTEL_REDACT_PATTERNS.",
    )
    redact_replacement: str = Field(default="[REDACTED]", description="Text that replaces each redacted match.")
    max_content_chars: int = Field(
        default_factory=lambda: env_int(os.environ, OWUI_OTEL_MAX_CONTENT_CHARS, DEFAULT_MAX_CONTENT_CHARS),
        description="Size limit of each content attribute, in characters of JSON (texts are shortened, oldest "
        "messages dropped, the JSON stays valid). At least 256.",
    )
    turn_timeout_seconds: int = Field(
        default_factory=lambda: env_int(os.environ, OWUI_OTEL_TURN_TIMEOUT_SECONDS, DEFAULT_TURN_TIMEOUT_S),
        description="A turn with no outlet after this many seconds (Stop, provider error, closed tab) is ended "
        "with error.type=abandoned.",
    )
    max_open_turns: int = Field(
        default_factory=lambda: env_int(os.environ, OWUI_OTEL_MAX_OPEN_TURNS, DEFAULT_MAX_OPEN_TURNS),
        description="Most turns waiting for their outlet; beyond it the oldest is ended as abandoned.",
    )
    record_tasks: bool = Field(
        default_factory=lambda: env_bool(os.environ, OWUI_OTEL_RECORD_TASKS, True),
        description="Record title/tags/follow-up/query generation calls as their own spans (named after the "
        "task) in the chat's session. Off: skip them.",
    )
    record_user_email: bool = Field(
        default_factory=lambda: env_bool(os.environ, OWUI_OTEL_RECORD_USER_EMAIL, False),
        description="Add the user's email as user.email. Off: only the user's id is recorded.",
    )


def _valve_dict(valves: object) -> dict[str, Any]:
    if isinstance(valves, BaseModel):
        return valves.model_dump()
    return dict(valves) if isinstance(valves, Mapping) else {}


def _live_cores() -> dict[str, FilterCore]:
    """Cores by Function id, kept outside this module: Open WebUI re-executes an edited Function into
    a fresh module, and the new instance must find the old one to take over its open turns."""
    registry = sys.modules.get("_owui_otel_live_cores")
    if registry is None:
        registry = types.ModuleType("_owui_otel_live_cores")
        registry.cores = {}  # type: ignore[attr-defined]
        sys.modules["_owui_otel_live_cores"] = registry
    cores: dict[str, FilterCore] = registry.cores
    return cores


class _Host:
    """What both shims share: a lazily built core that follows valve changes."""

    Valves = Valves
    _host = "library"

    def __init__(self, tracer_provider: TracerProvider | None = None) -> None:
        self.valves = self.Valves()
        self._tracer_provider = tracer_provider
        self._core_instance: FilterCore | None = None
        self._valves_seen: object = None
        self._guard_health = Health()

    @property
    def health(self) -> Health:
        """Counters of what was traced, dropped or failed (see README, Troubleshooting)."""
        return self._core_instance.health if self._core_instance is not None else self._guard_health

    def _core(self) -> FilterCore:
        valves = self.valves
        core = self._core_instance
        if core is None:
            core = FilterCore(_valve_dict(valves), host=self._host, tracer_provider=self._tracer_provider)
            self._core_instance = core
        elif valves is not self._valves_seen:
            core.update_valves(_valve_dict(valves))
        self._valves_seen = valves
        return core

    def _failed(self, hook: str) -> None:
        self._guard_health.problem(f"{hook}_failed", "otel_filter: %s hook failed before tracing", hook, exc_info=True)


class Pipeline(_Host):
    """Open WebUI Pipelines filter (``type = "filter"``)."""

    _host = "pipelines"

    def __init__(self, tracer_provider: TracerProvider | None = None) -> None:
        super().__init__(tracer_provider)
        self.type = "filter"
        self.name = FILTER_NAME

    async def on_startup(self) -> None:
        try:
            self._core()
        except Exception:
            self._failed("on_startup")

    async def on_shutdown(self) -> None:
        core = self._core_instance
        if core is not None:
            # Flushing is network I/O: off the event loop, which keeps serving other requests.
            await asyncio.to_thread(core.shutdown)

    async def on_valves_updated(self) -> None:
        try:
            self._core()
        except Exception:
            self._failed("on_valves_updated")

    async def inlet(self, body: dict[str, Any], user: dict[str, Any] | None = None) -> dict[str, Any]:
        try:
            self._core().inlet(body, user)
        except Exception:
            self._failed("inlet")
        return body

    async def outlet(self, body: dict[str, Any], user: dict[str, Any] | None = None) -> dict[str, Any]:
        try:
            self._core().outlet(body, user)
        except Exception:
            self._failed("outlet")
        return body


class Filter(_Host):
    """Open WebUI Functions filter. Sync hooks: Open WebUI calls them directly, with no thread hop."""

    _host = "functions"

    def _function_core(self, function_id: object) -> FilterCore:
        core = self._core()
        if isinstance(function_id, str) and function_id:
            cores = _live_cores()
            previous = cores.get(function_id)
            if previous is not core:
                if previous is not None:
                    core.take_over(previous)
                cores[function_id] = core
        return core

    def inlet(
        self,
        body: dict[str, Any],
        __user__: dict[str, Any] | None = None,
        __metadata__: dict[str, Any] | None = None,
        __model__: dict[str, Any] | None = None,
        __message_id__: str | None = None,
        __chat_id__: str | None = None,
        __id__: str | None = None,
    ) -> dict[str, Any]:
        try:
            self._function_core(__id__).inlet(
                body,
                __user__,
                metadata=__metadata__,
                model=__model__,
                message_id=__message_id__,
                chat_id=__chat_id__,
                links=current_span_links(),
            )
        except Exception:
            self._failed("inlet")
        return body

    def stream(
        self,
        event: dict[str, Any],
        __metadata__: dict[str, Any] | None = None,
        __message_id__: str | None = None,
        __id__: str | None = None,
    ) -> dict[str, Any]:
        try:
            self._function_core(__id__).stream(event, metadata=__metadata__, message_id=__message_id__)
        except Exception:
            self._failed("stream")
        return event

    def outlet(
        self,
        body: dict[str, Any],
        __user__: dict[str, Any] | None = None,
        __metadata__: dict[str, Any] | None = None,
        __id__: str | None = None,
    ) -> dict[str, Any]:
        try:
            self._function_core(__id__).outlet(body, __user__, metadata=__metadata__)
        except Exception:
            self._failed("outlet")
        return body

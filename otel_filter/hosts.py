# SPDX-License-Identifier: Apache-2.0
"""The two host shims: ``Pipeline`` (Open WebUI Pipelines server) and ``Filter`` (Open WebUI Functions).

Valves, guards and delegation only; all the work is in :class:`FilterCore`. Every hook returns
the very object it was given, even when tracing fails.

Pipelines (``pipelines/otel_filter_pipeline.py``, or ``from otel_filter import Pipeline``)::

    pipeline = Pipeline()
    await pipeline.on_startup()
    body = await pipeline.inlet(body, user)
    body = await pipeline.outlet(body, user)
    await pipeline.on_shutdown()          # hands open turns to the next instance (see below), or ends them

A Pipelines server reloads every filter file on any upload, add, delete or reload (``on_shutdown``
on every instance, re-import, ``on_startup``). ``on_shutdown`` of a file the server loaded
therefore *parks* its open turns in a process-wide registry (keyed by the file's module name,
which is its stem); the next instance of the same file adopts them when it starts, so a turn
whose inlet came before a reload and whose outlet after is one span. Turns nobody adopts within
``handover_grace_s`` (the file was deleted, or the server is stopping) are ended as abandoned
(``end_reason=shutdown``) and flushed, at the latest at process exit.

Functions (paste the same file as a Filter function): Open WebUI calls ``inlet``, ``stream`` and
``outlet`` with the dunder parameters they declare, and rebuilds ``valves`` before every call,
so changes are detected here rather than in a lifecycle hook (Functions have none).
"""

from __future__ import annotations

import asyncio
import atexit
import sys
import threading
import types
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from opentelemetry.sdk.trace import TracerProvider
from pydantic import BaseModel, Field, field_validator

from otel_filter._core import FilterCore, current_span_links
from otel_filter._counters import Counters
from otel_filter._extract import HostParams
from otel_filter._settings import (
    DEFAULT_MAX_CONTENT_CHARS,
    DEFAULT_MAX_OPEN_TURNS,
    DEFAULT_TURN_TIMEOUT_S,
    MAX_MAX_CONTENT_CHARS,
    MAX_MAX_OPEN_TURNS,
    MAX_TURN_TIMEOUT_S,
    MIN_MAX_CONTENT_CHARS,
    USER_IDENTITIES,
)

FILTER_NAME = "OpenTelemetry GenAI tracing"
# How long parked turns wait for the next instance of their Pipelines file. A reload pip-installs each
# file's requirements before it instantiates anything, which takes seconds per file.
HANDOVER_GRACE_S = 120.0
SWITCH_CHOICES: dict[str, Any] = {"enum": ["", "true", "false"]}
"""The choices of an on/off valve: empty defers to its environment variable (a switch could not say "unset")."""


def _switch_valve(description: str) -> Any:
    """An on/off valve: ``"true"``, ``"false"``, or empty (the default) to defer to its environment variable."""
    return Field(default="", description=description, json_schema_extra=SWITCH_CHOICES)


def _number_valve(description: str, maximum: int) -> Any:
    """A whole-number valve: 0 (the default; no such setting may be 0) defers to its environment variable.

    The bounds are shown, not enforced here: a stored value out of range must not make the host fail to build the
    valves (which would fail the chat); the filter reports it and uses a safe value instead.
    """
    return Field(default=0, description=description, json_schema_extra={"minimum": 0, "maximum": maximum})


class Valves(BaseModel):
    """Admin settings. A valve left empty (``""``, ``0``, ``[]``) defers to its environment variable, then to the
    default (``_settings.resolve_settings``; names in :mod:`otel_filter.environment_variables`), so the environment
    keeps applying after a save. A saved concrete value wins over the environment.

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
    capture_message_content: str = _switch_valve(
        "Record prompts and replies (gen_ai.input.messages, gen_ai.output.messages, "
        "gen_ai.system_instructions): 'true' or 'false'. Empty: OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT, "
        "else on (Langfuse shows conversations from them).",
    )
    redact_patterns: list[str] = Field(
        default_factory=list,
        description="Regular expressions (Python syntax) whose matches are replaced in every message before "
        "it is recorded. An invalid pattern turns content capture off until fixed. "
        "Empty: OWUI_OTEL_REDACT_PATTERNS.",
    )
    redact_replacement: str = Field(default="[REDACTED]", description="Text that replaces each redacted match.")
    max_content_chars: int = _number_valve(
        "Size limit of each content attribute, in characters of JSON (texts are shortened, oldest "
        f"messages dropped, the JSON stays valid). From {MIN_MAX_CONTENT_CHARS} to {MAX_MAX_CONTENT_CHARS}, so that "
        f"a turn's span always fits in one export request. 0: OWUI_OTEL_MAX_CONTENT_CHARS, else "
        f"{DEFAULT_MAX_CONTENT_CHARS}.",
        MAX_MAX_CONTENT_CHARS,
    )
    turn_timeout_seconds: int = _number_valve(
        "A turn with no outlet after this many seconds (Stop, provider error, closed tab) is ended "
        f"with error.type=abandoned. From 1 to {MAX_TURN_TIMEOUT_S}. 0: OWUI_OTEL_TURN_TIMEOUT_SECONDS, else "
        f"{DEFAULT_TURN_TIMEOUT_S}.",
        MAX_TURN_TIMEOUT_S,
    )
    max_open_turns: int = _number_valve(
        "Most turns waiting for their outlet; beyond it the oldest is ended as abandoned. "
        f"From 1 to {MAX_MAX_OPEN_TURNS}. 0: OWUI_OTEL_MAX_OPEN_TURNS, else {DEFAULT_MAX_OPEN_TURNS}.",
        MAX_MAX_OPEN_TURNS,
    )
    record_tasks: str = _switch_valve(
        "Record title/tags/follow-up/query generation calls as records (named after the task) in "
        "their turn's trace, never billed: 'true' or 'false' (skip them). Empty: OWUI_OTEL_RECORD_TASKS, else true.",
    )
    record_user_email: str = _switch_valve(
        "Add the user's email as user.email: 'true' or 'false'. Empty: OWUI_OTEL_RECORD_USER_EMAIL, "
        "else false. Independent of user_identity (which may itself put the email in user.id).",
    )
    user_identity: str = Field(
        default="",
        description="What identifies a user in user.id (Langfuse's user, cost by user): 'id' (Open WebUI's user "
        "id), 'email' or 'username' (the Open WebUI username, else the display name). A user without it is "
        "identified by their id. Empty: OWUI_OTEL_USER_IDENTITY, else id.",
        json_schema_extra={"enum": ["", *USER_IDENTITIES]},
    )
    price_overrides: str = Field(
        default="",
        description="Your own prices (self-hosted or negotiated), winning over the genai-prices table: a JSON "
        'object of model pattern (glob) -> USD per million tokens, e.g. {"llama3*": {"input": 0, "output": 0}, '
        '"gpt-4o-mini": {"input": 0.12, "output": 0.48, "cache_read": 0.06}}. Empty: OWUI_OTEL_PRICE_OVERRIDES.',
    )

    @field_validator("capture_message_content", "record_tasks", "record_user_email", mode="before")
    @classmethod
    def _saved_switch(cls, value: object) -> object:
        """Valves saved as true/false switches (before the empty "use the environment" choice) keep their value."""
        return str(value).lower() if isinstance(value, bool) else value


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


def _handover_registry() -> types.ModuleType:
    """Parked Pipelines cores, kept outside this module (the Pipelines server re-imports the file on every
    reload) and shared by every version of it: ``parked`` maps a handover key to (core, grace timer)."""
    registry = sys.modules.get("_owui_otel_pipelines_handover")
    if registry is None:
        fresh = types.ModuleType("_owui_otel_pipelines_handover")
        fresh.lock = threading.Lock()  # type: ignore[attr-defined]
        fresh.parked = {}  # type: ignore[attr-defined]
        registry = sys.modules.setdefault("_owui_otel_pipelines_handover", fresh)
        if registry is fresh:
            atexit.register(end_parked_turns)
    return registry


def _park(key: str, core: FilterCore, grace_s: float) -> None:
    registry = _handover_registry()
    timer = threading.Timer(grace_s, _end_parked, args=(key, core))
    timer.name = "otel_filter-handover-grace"
    timer.daemon = True
    with registry.lock:
        earlier = registry.parked.pop(key, None)
        registry.parked[key] = (core, timer)
    if earlier is not None:  # parked twice with no instance in between: one core keeps all turns
        earlier[1].cancel()
        core.take_over(earlier[0])
    timer.start()


def _adopt(key: str, core: FilterCore) -> None:
    registry = _handover_registry()
    with registry.lock:
        earlier = registry.parked.pop(key, None)
    if earlier is not None:
        earlier[1].cancel()
        core.take_over(earlier[0])


def _end_parked(key: str, core: FilterCore) -> None:
    """The grace period is over and no instance adopted ``core``: end its turns as abandoned, flush."""
    registry = _handover_registry()
    with registry.lock:
        entry = registry.parked.get(key)
        if entry is None or entry[0] is not core:
            return  # adopted (or parked again) meanwhile
        del registry.parked[key]
    core.shutdown()


def end_parked_turns() -> int:
    """End, as abandoned, every turn still parked by a Pipelines ``on_shutdown``, and flush; returns how
    many cores were ended. Runs at process exit; call it to stop waiting for a successor instance."""
    registry = _handover_registry()
    with registry.lock:
        entries = list(registry.parked.values())
        registry.parked.clear()
    for core, timer in entries:
        timer.cancel()
        core.shutdown()
    return len(entries)


class _Host:
    """What both shims share: a lazily built core that follows valve changes."""

    Valves = Valves
    _host = "library"

    def __init__(self, tracer_provider: TracerProvider | None = None) -> None:
        self.valves = self.Valves()
        self._tracer_provider = tracer_provider
        self._core_instance: FilterCore | None = None
        self._parked_core: FilterCore | None = None  # after a Pipelines on_shutdown: its counters stay readable
        self._valves_seen: object = None
        self._guard_health = Counters()

    @property
    def health(self) -> Counters:
        """Counters of what was traced, dropped or failed (see README, Troubleshooting)."""
        core = self._core_instance or self._parked_core
        return core.health if core is not None else self._guard_health

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

    @contextmanager
    def _guarded(self, hook: str) -> Iterator[None]:
        """``with self._guarded("inlet"): ...``: an exception is counted and logged, never raised (a hook never
        breaks a chat)."""
        try:
            yield
        except Exception:
            self._guard_health.problem(
                f"{hook}_failed", "otel_filter: %s hook failed before tracing", hook, exc_info=True
            )


class Pipeline(_Host):
    """Open WebUI Pipelines filter (``type = "filter"``). See the module docstring for reloads."""

    _host = "pipelines"
    handover_grace_s = HANDOVER_GRACE_S
    end_parked_turns = staticmethod(end_parked_turns)  # reachable from a file the server loaded

    def __init__(self, tracer_provider: TracerProvider | None = None) -> None:
        super().__init__(tracer_provider)
        self.type = "filter"
        self.name = FILTER_NAME

    def _handover_key(self) -> str | None:
        """The key the next instance of the same filter file finds parked turns under, or None.

        Only for a file loaded the way the Pipelines server loads it (``spec_from_file_location``,
        never registered in ``sys.modules``; its module name is the file's stem). A class imported
        normally (``from otel_filter import Pipeline``: the bridge, embedding apps, tests) belongs
        to a caller who owns its lifecycle: ``on_shutdown`` then ends open turns at once.
        """
        module = type(self).__module__
        if module in sys.modules:
            return None
        return f"{module}/{getattr(self, 'id', '')}"

    def _core(self) -> FilterCore:
        fresh = self._core_instance is None
        core = super()._core()
        key = self._handover_key() if fresh else None
        if key is not None:
            _adopt(key, core)
        return core

    async def on_startup(self) -> None:
        with self._guarded("on_startup"):
            self._core()

    async def on_shutdown(self) -> None:
        # Never raises: the Pipelines server awaits every filter's on_shutdown in one loop on each reload, so an
        # exception here would stop the reload of every other pipeline too.
        with self._guarded("on_shutdown"):
            await self._shut_down()

    async def _shut_down(self) -> None:
        core = self._core_instance
        if core is None:
            return
        key = self._handover_key()
        if key is None:
            # Flushing is network I/O: off the event loop, which keeps serving other requests.
            await asyncio.to_thread(core.shutdown)
            return
        # A hook that still reaches this instance builds a new core, which re-adopts the parked turns.
        self._core_instance, self._parked_core = None, core
        try:
            await asyncio.to_thread(core.park)  # finished turns to the export queue; no network I/O
        finally:
            _park(key, core, self.handover_grace_s)

    async def on_valves_updated(self) -> None:
        with self._guarded("on_valves_updated"):
            self._core()

    async def inlet(self, body: dict[str, Any], user: dict[str, Any] | None = None) -> dict[str, Any]:
        with self._guarded("inlet"):
            self._core().inlet(body, user)
        return body

    async def outlet(self, body: dict[str, Any], user: dict[str, Any] | None = None) -> dict[str, Any]:
        with self._guarded("outlet"):
            self._core().outlet(body, user)
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
        with self._guarded("inlet"):
            params = HostParams(metadata=__metadata__, model=__model__, message_id=__message_id__, chat_id=__chat_id__)
            self._function_core(__id__).inlet(body, __user__, params=params, links=current_span_links())
        return body

    def stream(
        self,
        event: dict[str, Any],
        __metadata__: dict[str, Any] | None = None,
        __message_id__: str | None = None,
        __id__: str | None = None,
    ) -> dict[str, Any]:
        with self._guarded("stream"):
            self._function_core(__id__).stream(event, metadata=__metadata__, message_id=__message_id__)
        return event

    def outlet(
        self,
        body: dict[str, Any],
        __user__: dict[str, Any] | None = None,
        __metadata__: dict[str, Any] | None = None,
        __id__: str | None = None,
    ) -> dict[str, Any]:
        with self._guarded("outlet"):
            self._function_core(__id__).outlet(body, __user__, metadata=__metadata__)
        return body

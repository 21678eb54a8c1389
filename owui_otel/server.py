# SPDX-License-Identifier: Apache-2.0
"""The bridge server: a Pipelines-compatible endpoint that hosts ``otel_filter``.

Open WebUI adds it as an OpenAI-API connection (URL + key), lists its ``/models``, sees one
entry marked ``pipeline.type == "filter"``, and from then on POSTs every chat's inlet and outlet
to ``/{filter_id}/filter/inlet|outlet`` with ``{"body": ..., "user": ...}``.

What it does that the upstream Pipelines server does not:
- checks the API key on **every** route (upstream leaves valves and filter routes open, and
  valves can hold exporter credentials), except ``/health`` and ``/ready``, which reveal nothing;
- continues the caller's W3C ``traceparent`` (Open WebUI sends one when its own OTel is on):
  the turn span gets a **link** to the caller's span. Not a parent: Open WebUI answers its HTTP
  request long before the turn ends, its HTTP spans are not sent to Langfuse, and a GenAI span
  whose parent never arrives is not a root there, which breaks the trace in Langfuse
  (langfuse/langfuse#6976). With a link each turn stays one complete trace in every backend,
  and Jaeger still shows the way back to Open WebUI's trace;
- persists valves to ``<data dir>/valves.json`` (mode 0600: they may hold headers).

    app = create_app(ServerConfig(api_key="s3cret", data_dir=Path("/var/lib/owui-otel")))
    uvicorn.run(app, host="127.0.0.1", port=9099)
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import Link
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from pydantic import BaseModel, ConfigDict, ValidationError

from otel_filter import FilterCore, Valves, __version__
from otel_filter.hosts import FILTER_NAME
from owui_otel import DEFAULT_FILTER_ID

_PROPAGATOR = TraceContextTextMapPropagator()


@dataclass(frozen=True)
class ServerConfig:
    """How the server runs. ``api_key`` is required: there is no default key."""

    api_key: str
    data_dir: Path
    filter_id: str = DEFAULT_FILTER_ID
    priority: int | None = None

    def __post_init__(self) -> None:
        if not self.api_key:
            raise ValueError("the bridge server needs an API key: pass --api-key or set OWUI_OTEL_API_KEY")
        if not self.filter_id.isidentifier():
            raise ValueError(f"filter id {self.filter_id!r} must be a Python identifier (letters, digits, _)")


class FilterForm(BaseModel):
    """What Open WebUI POSTs to a filter route (extra keys allowed, as upstream)."""

    model_config = ConfigDict(extra="allow")
    body: dict[str, Any]
    user: dict[str, Any] | None = None


class EndTurnsForm(BaseModel):
    older_than_seconds: float = 0.0
    message_ids: list[str] | None = None


class ValveStore:
    """Valves in a JSON file, written atomically with owner-only permissions."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as error:
            raise RuntimeError(f"cannot read valves from {self.path}: {error}; fix or delete the file") from error
        return data if isinstance(data, dict) else {}

    def save(self, valves: dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_suffix(".tmp")
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            json.dump(valves, handle, indent=2)
        os.replace(temporary, self.path)


def _echo(body: dict[str, Any]) -> JSONResponse:
    """The body back as JSON, straight: a plain dict from JSON needs none of FastAPI's recursive
    ``jsonable_encoder`` pass, which costs more than the filter on a long conversation."""
    return JSONResponse(body)


def caller_links(request: Request) -> tuple[Link, ...]:
    """A link to the caller's span from its ``traceparent`` header, if it sent a valid one."""
    context = _PROPAGATOR.extract(dict(request.headers))
    span_context = trace.get_current_span(context).get_span_context()
    return (Link(span_context),) if span_context.is_valid else ()


def create_app(config: ServerConfig, *, tracer_provider: TracerProvider | None = None) -> FastAPI:
    """The FastAPI app. ``tracer_provider`` (tests) replaces the filter's own OTLP export."""
    store = ValveStore(config.data_dir / "valves.json")
    state: dict[str, Any] = {}

    def current_valves() -> Valves:
        valves: Valves = state["valves"]
        return valves

    def core() -> FilterCore:
        filter_core: FilterCore = state["core"]
        return filter_core

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        saved = store.load()
        valves = Valves(**saved)
        if config.priority is not None and "priority" not in saved:
            valves.priority = config.priority
        state["valves"] = valves
        state["core"] = FilterCore(valves.model_dump(), host="bridge", tracer_provider=tracer_provider)
        state["started"] = time.time()
        yield
        # Ends open turns as abandoned and flushes: network I/O, so off the event loop.
        await asyncio.to_thread(core().shutdown)

    app = FastAPI(title="owui-otel bridge", version=__version__, lifespan=lifespan, docs_url=None, redoc_url=None)

    def require_key(request: Request) -> None:
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if not header or scheme.lower() != "bearer" or not token:
            raise HTTPException(
                status_code=401,
                detail="missing API key: send 'Authorization: Bearer <key>' "
                "(the key given to `owui-otel serve --api-key` or OWUI_OTEL_API_KEY)",
                headers={"WWW-Authenticate": "Bearer"},
            )
        if not secrets.compare_digest(token.encode(), config.api_key.encode()):
            raise HTTPException(
                status_code=401,
                detail="wrong API key: use the key the bridge server was started with",
                headers={"WWW-Authenticate": "Bearer"},
            )

    def require_filter(filter_id: str) -> None:
        if filter_id != config.filter_id:
            detail = f"Filter {filter_id} not found (this server hosts {config.filter_id!r})"
            raise HTTPException(status_code=404, detail=detail)

    authorized = [Depends(require_key)]

    # --- health (no key: they reveal nothing) ---------------------------------------------

    @app.get("/health", include_in_schema=False)
    async def health() -> dict[str, Any]:
        filter_core: FilterCore | None = state.get("core")
        if filter_core is None:
            return {"status": "starting"}
        counters = filter_core.health.snapshot()
        return {"status": "ok", "version": __version__, "open_turns": filter_core.open_turns, "counters": counters}

    @app.get("/ready", include_in_schema=False)
    async def ready() -> JSONResponse:
        is_ready = "core" in state
        return JSONResponse({"ready": is_ready}, status_code=200 if is_ready else 503)

    # --- the Pipelines contract -----------------------------------------------------------

    for prefix in ("", "/v1"):

        @app.get(prefix + "/", dependencies=authorized)
        async def status() -> dict[str, bool]:
            return {"status": True}

        @app.get(prefix + "/models", dependencies=authorized)
        async def models() -> dict[str, Any]:
            valves = current_valves()
            return {
                "data": [
                    {
                        "id": config.filter_id,
                        "name": FILTER_NAME,
                        "object": "model",
                        "created": int(state["started"]),
                        "owned_by": "openai",
                        "pipeline": {
                            "type": "filter",
                            "pipelines": valves.pipelines,
                            "priority": valves.priority,
                            "valves": True,
                        },
                    }
                ],
                "object": "list",
                "pipelines": True,  # how Open WebUI recognises a Pipelines connection
            }

        @app.get(prefix + "/pipelines", dependencies=authorized)
        async def pipelines() -> dict[str, Any]:
            return {"data": [{"id": config.filter_id, "name": config.filter_id, "type": "filter", "valves": True}]}

        @app.post(prefix + "/{filter_id}/filter/inlet", dependencies=authorized)
        async def inlet(filter_id: str, form: FilterForm, request: Request) -> JSONResponse:
            require_filter(filter_id)
            core().inlet(form.body, form.user, links=caller_links(request))
            return _echo(form.body)

        @app.post(prefix + "/{filter_id}/filter/outlet", dependencies=authorized)
        async def outlet(filter_id: str, form: FilterForm, request: Request) -> JSONResponse:
            require_filter(filter_id)
            core().outlet(form.body, form.user, links=caller_links(request))
            return _echo(form.body)

        @app.get(prefix + "/{filter_id}/valves", dependencies=authorized)
        async def get_valves(filter_id: str) -> dict[str, Any]:
            require_filter(filter_id)
            return current_valves().model_dump()

        @app.get(prefix + "/{filter_id}/valves/spec", dependencies=authorized)
        async def valves_spec(filter_id: str) -> dict[str, Any]:
            require_filter(filter_id)
            return Valves.model_json_schema()

        @app.post(prefix + "/{filter_id}/valves/update", dependencies=authorized)
        async def update_valves(filter_id: str, request: Request) -> dict[str, Any]:
            require_filter(filter_id)
            try:
                form = await request.json()
                valves = Valves(**{**current_valves().model_dump(), **form})
            except ValidationError as error:
                # Field and problem only: the submitted value may be a secret (otlp_headers).
                problems = "; ".join(
                    f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in error.errors(include_input=False)
                )
                raise HTTPException(status_code=422, detail=f"invalid valves: {problems}") from error
            except (ValueError, TypeError) as error:
                raise HTTPException(
                    status_code=422, detail="invalid valves: send a JSON object of valve values"
                ) from error
            store.save(valves.model_dump())
            state["valves"] = valves
            core().update_valves(valves.model_dump())
            return valves.model_dump()

        @app.post(prefix + "/pipelines/{action}", dependencies=authorized)
        async def manage(action: str) -> JSONResponse:
            return JSONResponse(
                {"detail": f"'{action}' is not supported: this server hosts only the OpenTelemetry bridge filter"},
                status_code=501,
            )

    @app.post("/admin/end-open-turns", dependencies=authorized)
    async def end_open_turns(form: EndTurnsForm) -> dict[str, int]:
        """End, as abandoned, the listed turns, or those waiting at least ``older_than_seconds``."""
        return {"ended": core().end_open_turns(form.older_than_seconds, form.message_ids)}

    return app

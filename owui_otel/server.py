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
- persists valves to ``<data dir>/valves.json`` (mode 0600: they may hold headers), never shows a secret valve
  and refuses valve changes that widen what leaves the machine unless its operator allowed them
  (:mod:`owui_otel._valve_policy`);
- echoes the exact bytes of every ``body`` it is sent, whatever they hold (lone surrogates, ``NaN``, huge numbers,
  deep nesting: :mod:`owui_otel._filter_form`); bodies above the recording limit are echoed without being traced,
  above the hard limit refused (413), and big bodies are read in steps that never hold the event loop;
- serves no OpenAPI schema and no slash redirects: an unknown path without the key is a 401, like every route;
- takes Open WebUI's Event webhooks at ``POST /events/openwebui`` (``feedback.*`` become Langfuse scores through a
  :class:`~owui_otel._feedback_sync.FeedbackWorker`, off the request path; other events are ignored).

    app = create_app(ServerConfig(api_key="s3cret", data_dir=Path("/var/lib/owui-otel")))
    uvicorn.run(app, host="127.0.0.1", port=9099)
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import JSONResponse, Response
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import Link
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from pydantic import BaseModel, Field, ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import Receive, Scope, Send

from otel_filter import FilterCore, Valves, __version__
from otel_filter.hosts import FILTER_NAME
from owui_otel import DEFAULT_FILTER_ID
from owui_otel._bridge_settings import (
    DEFAULT_MAX_BODY_BYTES,
    DEFAULT_MAX_RECORDED_BODY_BYTES,
    MAX_SETTINGS_REQUEST_BYTES,
)
from owui_otel._errors import OwuiOtelError
from owui_otel._filter_form import FilterForm, InvalidForm, read_filter_form
from owui_otel._paths import write_private
from owui_otel._valve_check import unknown_valves, valve_problems
from owui_otel._valve_policy import merge_update, public_view, widening_changes
from owui_otel.environment_variables import (
    OWUI_OTEL_ALLOW_WIDENING_VALVES,
    OWUI_OTEL_API_KEY,
    OWUI_OTEL_MAX_BODY_BYTES,
    OWUI_OTEL_MAX_RECORDED_BODY_BYTES,
)

if TYPE_CHECKING:
    from owui_otel._feedback_sync import FeedbackWorker

_PROPAGATOR = TraceContextTextMapPropagator()
EVENTS_PATH = "/events/openwebui"
"""Where Open WebUI's Event webhooks go (Admin Settings > General > Events)."""
MAX_EVENT_BYTES = 1 << 20
"""An event body is small (Open WebUI cuts every string in it to 1,000 characters)."""
VALVES_FILE = "valves.json"
"""The file in the data dir that keeps the valves."""


@dataclass(frozen=True)
class ServerConfig:
    """How the server runs. ``api_key`` is required: there is no default key."""

    api_key: str
    data_dir: Path
    filter_id: str = DEFAULT_FILTER_ID
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    """Hard limit (413 above it): ``--max-body-bytes`` / ``OWUI_OTEL_MAX_BODY_BYTES``."""
    max_recorded_body_bytes: int = DEFAULT_MAX_RECORDED_BODY_BYTES
    """Echoed but not traced above it: ``--max-recorded-body-bytes`` / ``OWUI_OTEL_MAX_RECORDED_BODY_BYTES``."""
    allow_widening_valves: bool = False
    """``--allow-widening-valves`` / ``OWUI_OTEL_ALLOW_WIDENING_VALVES``: see :mod:`owui_otel._valve_policy`."""
    environ: Mapping[str, str] = field(default_factory=lambda: os.environ)
    """What the filter's settings are resolved against (the valve, else this, else the default): ``os.environ``,
    with what ``serve``'s flags decided (``--otlp-endpoint``) laid over it."""
    feedback: FeedbackWorker | None = None
    """Turns ``feedback.*`` Event webhooks (and, periodically, Open WebUI's feedback API) into scores; started and
    stopped with the app. None: the webhook route answers 503 saying how to turn it on."""

    def __post_init__(self) -> None:
        if not self.api_key:
            raise ValueError(
                f"--api-key / {OWUI_OTEL_API_KEY}: not set, and the bridge server needs a key. Fix: export "
                f"{OWUI_OTEL_API_KEY}=<a long random key> (or pass --api-key; ps shows flags) and give Open WebUI the "
                "same key. Until then: the bridge server does not start"
            )
        if not self.filter_id.isidentifier():
            raise ValueError(
                f"--filter-id {self.filter_id!r}: not letters, digits and _ only. Fix: e.g. --filter-id otel_bridge"
            )
        if self.max_body_bytes <= 0 or self.max_recorded_body_bytes <= 0:
            raise ValueError(
                f"--max-body-bytes ({OWUI_OTEL_MAX_BODY_BYTES}) / --max-recorded-body-bytes "
                f"({OWUI_OTEL_MAX_RECORDED_BODY_BYTES}): not positive. Fix: give a size such as 8MiB"
            )
        if self.max_recorded_body_bytes > self.max_body_bytes:
            raise ValueError(
                f"--max-recorded-body-bytes ({OWUI_OTEL_MAX_RECORDED_BODY_BYTES}): {self.max_recorded_body_bytes} is "
                f"above --max-body-bytes ({self.max_body_bytes}). Fix: lower it, or raise --max-body-bytes "
                f"({OWUI_OTEL_MAX_BODY_BYTES}). Until then: the bridge server does not start"
            )


class EndTurnsForm(BaseModel):
    """``older_than_seconds`` must be a finite number >= 0 (``NaN`` would compare as "older" than every turn)."""

    older_than_seconds: float = Field(default=0.0, ge=0.0, allow_inf_nan=False)
    message_ids: list[str] | None = None


async def read_body(request: Request, limit: int, setting: str) -> bytearray:
    """The request body, refused with 413 as soon as it is known to exceed ``limit`` bytes.

    Gathered in a ``bytearray`` as it arrives, not joined at the end: one copy of 50 MB into fresh memory costs
    ~50 ms of page faults on the loop, while growing a large bytearray is a ``realloc`` (``mremap``, no copy)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise _too_large(int(declared), limit, setting)
    body = bytearray()
    async for chunk in request.stream():
        if len(body) + len(chunk) > limit:
            raise _too_large(len(body) + len(chunk), limit, setting)
        body += chunk
    return body


def _too_large(size: int, limit: int, setting: str) -> HTTPException:
    return HTTPException(
        status_code=413,
        detail=f"request body of {size} bytes or more is above this bridge's limit of {limit} bytes ({setting})",
    )


async def read_json(request: Request) -> Any:
    """A small JSON request (valves, admin) parsed, or a 4xx saying what is wrong (never the content)."""
    raw = await read_body(request, MAX_SETTINGS_REQUEST_BYTES, "fixed for settings requests")
    try:
        return json.loads(raw)
    except RecursionError:
        raise HTTPException(status_code=422, detail="the request JSON is nested too deeply") from None
    except ValueError as error:  # also undecodable bytes, and integers past the str-digits limit
        where = f" at position {error.pos}" if isinstance(error, json.JSONDecodeError) else ""
        raise HTTPException(status_code=422, detail=f"the request is not valid JSON{where}") from None


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
            raise OwuiOtelError(
                f"{self.path}: cannot read valves from it ({error}). Fix: correct the JSON, or delete the file (the "
                "valves start empty: the environment and defaults apply; set them again in Open WebUI). Until then: "
                "the bridge server does not start"
            ) from error
        return data if isinstance(data, dict) else {}

    def save(self, valves: dict[str, Any]) -> None:
        # 0600 in a 0700 folder, like every file of ours holding a secret (otlp_headers may).
        write_private(self.path, json.dumps(valves, indent=2))


ECHO_CHUNK_BYTES = 1024 * 1024
"""Larger answers are written in pieces of this size: the server copies each piece it writes (into its output
and the socket's buffer), and one copy of a 50 MB body would hold the loop for tens of ms."""


class _PiecewiseEcho(Response):
    """``body`` written in pieces of :data:`ECHO_CHUNK_BYTES`, with its Content-Length (the same framing Open WebUI
    gets for small answers). Not Starlette's ``StreamingResponse``: no task group is needed to send a buffer."""

    def __init__(self, body: bytes | memoryview) -> None:
        super().__init__(media_type="application/json", headers={"content-length": str(len(body))})
        self.pieces = body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
        for start in range(0, len(self.pieces), ECHO_CHUNK_BYTES):
            piece = self.pieces[start : start + ECHO_CHUNK_BYTES]
            await send({"type": "http.response.body", "body": piece, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})


def _echo(form: FilterForm) -> Response:
    """The body back as the very bytes it came in: nothing is re-encoded, so nothing can fail to be."""
    if len(form.echo) <= ECHO_CHUNK_BYTES:
        return Response(form.echo, media_type="application/json")
    return _PiecewiseEcho(form.echo)


def caller_links(request: Request) -> tuple[Link, ...]:
    """A link to the caller's span from its ``traceparent`` header, if it sent a valid one."""
    context = _PROPAGATOR.extract(dict(request.headers))
    span_context = trace.get_current_span(context).get_span_context()
    return (Link(span_context),) if span_context.is_valid else ()


def create_app(config: ServerConfig, *, tracer_provider: TracerProvider | None = None) -> FastAPI:
    """The FastAPI app. ``tracer_provider`` (tests) replaces the filter's own OTLP export."""
    store = ValveStore(config.data_dir / VALVES_FILE)
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
        state["valves"] = valves
        state["core"] = FilterCore(
            valves.model_dump(), host="bridge", tracer_provider=tracer_provider, environ=config.environ
        )
        state["started"] = time.time()
        if config.feedback is not None:
            config.feedback.start()
        yield
        if config.feedback is not None:
            await asyncio.to_thread(config.feedback.stop)
        # Ends open turns as abandoned and flushes: network I/O, so off the event loop.
        await asyncio.to_thread(core().shutdown)

    # No schema, no docs: the route list is for key holders only. No slash redirects: Starlette would answer them
    # before any route's auth runs, with a Location built from the caller's Host header.
    app = FastAPI(
        title="owui-otel bridge",
        version=__version__,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        redirect_slashes=False,
    )

    def key_problem(request: Request) -> HTTPException | None:
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if not header or scheme.lower() != "bearer" or not token:
            return HTTPException(
                status_code=401,
                detail="missing API key: send 'Authorization: Bearer <key>' "
                "(the key given to `owui-otel serve --api-key` or OWUI_OTEL_API_KEY)",
                headers={"WWW-Authenticate": "Bearer"},
            )
        if not secrets.compare_digest(token.encode(), config.api_key.encode()):
            return HTTPException(
                status_code=401,
                detail="wrong API key: use the key the bridge server was started with",
                headers={"WWW-Authenticate": "Bearer"},
            )
        return None

    async def require_key(request: Request) -> None:
        # async: FastAPI runs a plain-def dependency in its thread pool, a thread hop per request (and, the first
        # time, anyio's backend import on the loop).
        problem = key_problem(request)
        if problem is not None:
            raise problem

    @app.exception_handler(StarletteHTTPException)
    async def unknown_paths_need_the_key_too(request: Request, error: StarletteHTTPException) -> Response:
        """A 404/405 without the key would tell a stranger which paths exist: answer 401 like every route."""
        if error.status_code in (404, 405) and request.url.path not in ("/health", "/ready"):
            error = key_problem(request) or error
        return await http_exception_handler(request, error)

    async def read_form(request: Request, hook: str) -> FilterForm:
        try:
            raw = await read_body(
                request,
                config.max_body_bytes,
                f"--max-body-bytes / {OWUI_OTEL_MAX_BODY_BYTES}; raise it to accept more",
            )
        except HTTPException:
            # Open WebUI fails the chat turn on a non-2xx inlet: the operator must see this one.
            core().health.problem(
                "bodies_refused",
                "owui-otel bridge: --max-body-bytes / %s: refused a %s request above the hard limit of %d bytes "
                "(413). Fix: raise it. Until then: Open WebUI fails such chat turns",
                OWUI_OTEL_MAX_BODY_BYTES,
                hook,
                config.max_body_bytes,
            )
            raise
        try:
            form = await read_filter_form(raw, max_recorded_bytes=config.max_recorded_body_bytes)
        except InvalidForm as error:
            raise HTTPException(status_code=422, detail=str(error)) from None
        health = core().health
        if form.body is None:
            health.problem(
                "bodies_too_large",
                "owui-otel bridge: --max-recorded-body-bytes / %s: a %s request of %d bytes is above the recording "
                "limit of %d bytes. Fix: raise it to trace such turns. Until then: they are echoed unchanged but not "
                "traced (counted as bodies_too_large)",
                OWUI_OTEL_MAX_RECORDED_BODY_BYTES,
                hook,
                form.size,
                config.max_recorded_body_bytes,
            )
        elif form.not_parsed:
            health.problem(
                "body_values_not_parsed",
                "owui-otel bridge: %d value(s) of a %s body were traced as placeholders or floats (nested deeper "
                "than Python's JSON parser goes, or integers past its digit limit); they were echoed unchanged",
                form.not_parsed,
                hook,
            )
        return form

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
        if config.feedback is not None:
            counters = {**counters, **config.feedback.counters()}
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

        def filter_hook(base: str, hook: str) -> None:
            """``POST <base>/{filter_id}/filter/<hook>``: the body echoed as sent; the filter's ``hook`` records it."""

            async def run_hook(filter_id: str, request: Request) -> Response:
                require_filter(filter_id)
                form = await read_form(request, hook)
                if form.body is not None:
                    getattr(core(), hook)(form.body, form.user, links=caller_links(request))
                return _echo(form)

            run_hook.__name__ = hook  # the route's name (and OpenAPI operation id), as before
            app.post(base + f"/{{filter_id}}/filter/{hook}", dependencies=authorized)(run_hook)

        filter_hook(prefix, "inlet")
        filter_hook(prefix, "outlet")

        @app.get(prefix + "/{filter_id}/valves", dependencies=authorized)
        async def get_valves(filter_id: str) -> dict[str, Any]:
            require_filter(filter_id)
            return public_view(current_valves().model_dump())

        @app.get(prefix + "/{filter_id}/valves/spec", dependencies=authorized)
        async def valves_spec(filter_id: str) -> dict[str, Any]:
            require_filter(filter_id)
            return Valves.model_json_schema()

        @app.post(prefix + "/{filter_id}/valves/update", dependencies=authorized)
        async def update_valves(filter_id: str, request: Request) -> dict[str, Any]:
            require_filter(filter_id)
            form = await read_json(request)
            if not isinstance(form, dict):
                raise HTTPException(status_code=422, detail="invalid valves: send a JSON object of valve values")
            unknown = unknown_valves(Valves, form)
            if unknown:
                # Refused, not dropped: a typo would otherwise look saved while the valve keeps its old value.
                raise HTTPException(
                    status_code=422,
                    detail=f"invalid valves: no such valve: {', '.join(unknown)}; nothing was changed. "
                    f"Fix: send only {', '.join(Valves.model_fields)}",
                )
            stored = current_valves().model_dump()
            try:
                valves = Valves(**merge_update(stored, form))
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
            # Values the filter would only log and replace (a URL that is none, a number out of range): refused here,
            # by the filter's own rules, so that the admin sees which one and why (the install command's check).
            submitted = {name: value for name, value in valves.model_dump().items() if name in form}
            bad_values = valve_problems(Valves, submitted)
            if bad_values:
                raise HTTPException(
                    status_code=422, detail=f"invalid valves: {' | '.join(bad_values)}; nothing was changed"
                )
            widening = widening_changes(stored, valves.model_dump(), config.environ)
            if widening and not config.allow_widening_valves:
                raise HTTPException(
                    status_code=403,
                    detail="valve change refused, it widens what leaves this machine: "
                    + "; ".join(widening)
                    + ". The bridge accepts such changes over its API only when its operator starts it with "
                    f"--allow-widening-valves ({OWUI_OTEL_ALLOW_WIDENING_VALVES}=true), or edits valves.json in its "
                    "data directory and restarts it. Narrowing changes (capture off, more redact_patterns) are "
                    "always accepted.",
                )
            store.save(valves.model_dump())
            state["valves"] = valves
            core().update_valves(valves.model_dump())
            return public_view(valves.model_dump())

        @app.post(prefix + "/pipelines/{action}", dependencies=authorized)
        async def manage(action: str) -> JSONResponse:
            return JSONResponse(
                {"detail": f"'{action}' is not supported: this server hosts only the OpenTelemetry bridge filter"},
                status_code=501,
            )

    # --- Open WebUI's Event webhooks ----------------------------------------------------------

    @app.post(EVENTS_PATH)
    async def openwebui_event(request: Request) -> JSONResponse:
        """One Event-webhook POST: answered at once, the work queued for the feedback worker.

        Open WebUI's webhook settings hold a URL and nothing else (no headers), so besides the bearer key the key is
        accepted as ``?token=<key>``: the URL is kept in Open WebUI's admin settings (like this connection's key),
        the bridge writes no access log, and its own server spans drop query strings."""
        token = request.query_params.get("token", "")
        if not (token and secrets.compare_digest(token.encode(), config.api_key.encode())):
            await require_key(request)
        if config.feedback is None:
            detail = (
                "feedback webhooks are off: start `owui-otel serve` with --openwebui-url and $OWUI_TOKEN (to read "
                "the rated record) and Langfuse's host and keys"
            )
            return JSONResponse({"detail": detail}, status_code=503)
        try:
            event = json.loads(await read_body(request, MAX_EVENT_BYTES, "an Open WebUI event"))
        except ValueError:
            raise HTTPException(status_code=422, detail="the event body is not JSON") from None
        if not isinstance(event, dict):
            raise HTTPException(status_code=422, detail="the event body is not a JSON object")
        queued = config.feedback.submit(event)
        return JSONResponse({"queued": queued}, status_code=202)

    @app.post("/admin/end-open-turns", dependencies=authorized)
    async def end_open_turns(request: Request) -> dict[str, int]:
        """End, as abandoned, the listed turns, or those waiting at least ``older_than_seconds``."""
        try:
            form = EndTurnsForm.model_validate(await read_json(request))
        except ValidationError as error:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'request'}: {e['msg']}"
                for e in error.errors(include_input=False)
            )
            raise HTTPException(status_code=422, detail=f"invalid request: {problems}") from None
        return {"ended": core().end_open_turns(form.older_than_seconds, form.message_ids)}

    return app

# SPDX-License-Identifier: Apache-2.0
"""A stand-in for Langfuse's OTLP endpoint that follows its wire contract, for tests and local runs.

It accepts exactly what Langfuse accepts (langfuse/langfuse ``web/src/pages/api/public/otel/v1/traces/index.ts``
and ``web/src/features/public-api/server/apiAuth.ts`` at commit 6275144) and records it:

* ``POST /api/public/otel/v1/traces`` only (other paths 404, other methods 405); ``.../v1/metrics`` answers
  200 and discards, like Langfuse.
* ``Authorization: Basic base64(pk:sk)``: missing or wrong -> 401 ``{"message": ...}``; ``Bearer <pk>`` -> 403.
* ``Content-Encoding``: ``gzip`` or none; anything else -> 400. ``Content-Type`` must contain
  ``application/x-protobuf`` or ``application/json`` -> else 400. Unparseable body / span without ids -> 400.
* ``x-langfuse-ingestion-version``: parsed like JavaScript ``parseInt``; non-numeric or > 4 -> 400; ``4`` is the
  direct (real-time) write path; missing or lower is accepted but recorded as ``write_path: "dual_write"``.
* Success: 200 with a JSON body (``{}``, ``application/json; charset=utf-8``), never an OTLP response.
* ``POST /api/public/scores`` (same auth): a JSON array of scores (the ``langfuse`` v5 client's batch form) or one
  score object; each item must validate as the ``langfuse`` package's own ``CreateScoreRequest`` with ``name``,
  ``value`` (a number for NUMERIC/BOOLEAN, BOOLEAN only 0/1; a string for CATEGORICAL/TEXT) -> 202
  ``{"message": "Accepted"}``; some invalid -> 207 ``{"accepted", "rejected", "errors"}``; a score sent again with
  the same ``id`` replaces it (Langfuse's upsert). ``DELETE /api/public/scores/{id}``: 200, or 404 for an unknown id.
  Fault injection applies to these requests too.
* ``GET /api/public/v2/observations`` (same auth): the real-time read path the ``langfuse`` SDK's
  ``api.observations.get_many(trace_id=...)`` calls: every recorded span as an observation (``id`` = span id,
  ``traceId``, ``startTime``/``endTime`` ISO 8601, ``parentObservationId``, ``type``: ``GENERATION`` when it has
  ``gen_ai.request.model``, else ``SPAN``; ``name``), filtered by ``traceId``, ``limit`` (default 50), as
  ``{"data": [...], "meta": {"cursor": null}}``. Only the ``core``/``basic`` fields; no pagination.
* ``GET /api/public/projects`` (same auth): the key pair's project, as the ``langfuse`` SDK's ``auth_check()``
  reads it (``{"data": [{"id", "name", "organization", "metadata"}]}``).

Control API (no auth; test use only):

* ``GET /_control/health`` -> ``{"ok": true}``
* ``GET /_control/received`` -> ``{"requests": [...], "spans": [...], "rejected": [...], "scores": {id: score},
  "score_requests": [{"method", "ids", "received_at"}...]}`` (``scores``: what is stored now, after upserts and
  deletes)
* ``DELETE /_control/received`` -> forget everything recorded
* ``GET|POST /_control/mode`` -> fault injection: ``{"mode": "ok" | "error" | "rate_limit" | "unavailable" |
  "slow", "status": 500, "retry_after": 1, "delay": 2.0, "count": null, "path": ""}``; ``count`` = apply to the
  next N trace requests, then back to ``ok``; ``path`` = only to requests whose path starts with it (e.g.
  ``/api/public/scores``: the scores API fails, the OTLP endpoint works). A *down* endpoint is a stopped
  process (see :mod:`tests.support.stack`).

Usage::

    app = create_app(public_key="pk-lf-test", secret_key="sk-lf-test")     # ASGI app (httpx.ASGITransport works)
    $ python -m tests.support.langfuse_contract --port 3000 --public-key pk-lf-test --secret-key sk-lf-test
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import binascii
import dataclasses
import gzip
import os
import re
import threading
import time
import zlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from tests.support.otlp_decode import PayloadError, decode_json, decode_protobuf

__all__ = ["ContractState", "FaultMode", "create_app", "main"]

TRACES_PATH = "/api/public/otel/v1/traces"
METRICS_PATH = "/api/public/otel/v1/metrics"
PROJECTS_PATH = "/api/public/projects"
SCORES_PATH = "/api/public/scores"
OBSERVATIONS_PATH = "/api/public/v2/observations"
PROJECT_ID = "contract-project"
_MODES = ("ok", "error", "rate_limit", "unavailable", "slow")
_PARSE_INT = re.compile(r"^\s*([+-]?\d+)")
_JSON_MEDIA = "application/json; charset=utf-8"


def _js_parse_int(value: str) -> int | None:
    """JavaScript ``parseInt(value, 10)``: leading digits, else None (NaN)."""
    match = _PARSE_INT.match(value)
    return int(match.group(1)) if match else None


@dataclass(slots=True)
class FaultMode:
    """Current fault injection; ``remaining`` None = until changed."""

    mode: str = "ok"
    status: int = 500
    retry_after: int = 1
    delay: float = 0.0
    remaining: int | None = None
    path: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "status": self.status,
            "retry_after": self.retry_after,
            "delay": self.delay,
            "count": self.remaining,
            "path": self.path,
        }


@dataclass(slots=True)
class ContractState:
    """Everything the endpoint recorded; guarded by a lock because tests may read it from another thread."""

    public_key: str
    secret_key: str
    fault: FaultMode = field(default_factory=FaultMode)
    requests: list[dict[str, Any]] = field(default_factory=list)
    rejected: list[dict[str, Any]] = field(default_factory=list)
    scores: dict[str, dict[str, Any]] = field(default_factory=dict)
    score_requests: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def reject(self, request: Request, status: int, reason: str) -> None:
        with self.lock:
            self.rejected.append(
                {"path": request.url.path, "status": status, "reason": reason, "received_at": time.time()}
            )

    def take_fault(self, path: str = "") -> FaultMode:
        """The fault to apply to a request to ``path`` (consumes one ``count``)."""
        with self.lock:
            if not path.startswith(self.fault.path):
                return FaultMode()
            current = dataclasses.replace(self.fault)
            if self.fault.mode != "ok" and self.fault.remaining is not None:
                self.fault.remaining -= 1
                if self.fault.remaining <= 0:
                    self.fault = FaultMode()
            return current


def _reply(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> JSONResponse:
    """A JSON answer with Langfuse's content type (its success body is ``{}``)."""
    return JSONResponse(body, status_code=status, headers=headers, media_type=_JSON_MEDIA)


def _check_auth(state: ContractState, request: Request) -> JSONResponse | None:
    """None when the request carries the project's Basic credentials, else Langfuse's 401/403 answer."""
    header = request.headers.get("authorization")
    if not header:
        return _reply(401, {"message": "Unauthorized: no authorization header provided"})
    scheme, _, credentials = header.partition(" ")
    scheme = scheme.lower()
    credentials = credentials.strip()
    if scheme == "bearer":
        # Langfuse: a bearer public key has "scores" access only; this route needs project access.
        if credentials == state.public_key:
            return _reply(403, {"message": "Access denied: requires Basic auth with the secret key"})
        return _reply(401, {"message": "Unauthorized: invalid bearer token"})
    if scheme != "basic":
        return _reply(401, {"message": "Unauthorized: unsupported authorization scheme"})
    try:
        decoded = base64.b64decode(credentials, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return _reply(401, {"message": "Unauthorized: invalid base64 in basic auth"})
    public_key, _, secret_key = decoded.partition(":")
    if public_key != state.public_key or secret_key != state.secret_key:
        return _reply(401, {"message": "Invalid credentials. Confirm that you've configured the correct host."})
    return None


def _decompress(body: bytes, encoding: str) -> bytes:
    if encoding in ("", "identity"):
        return body
    if encoding == "gzip":
        try:
            return gzip.decompress(body)
        except (OSError, EOFError, zlib.error) as exc:
            raise PayloadError("Failed to decompress request body") from exc
    # Langfuse only gunzips; zstd/deflate/snappy bodies then fail to parse -> 400.
    raise PayloadError(f"Unsupported content encoding {encoding!r}: only gzip is decoded")


async def _apply_fault(fault: FaultMode) -> JSONResponse | None:
    if fault.mode == "slow":
        await asyncio.sleep(fault.delay)
        return None
    if fault.mode == "error":
        return _reply(fault.status, {"error": "Injected failure"})
    if fault.mode == "unavailable":
        return _reply(503, {"message": "Service unavailable (injected)"})
    if fault.mode == "rate_limit":
        return _reply(429, {"message": "Rate limit exceeded"}, headers={"Retry-After": str(fault.retry_after)})
    return None


def _score_problem(item: object) -> str | None:
    """Why Langfuse would refuse this score, or None. The shape is the ``langfuse`` package's own request model."""
    from langfuse.api.core.pydantic_utilities import parse_obj_as  # noqa: PLC0415
    from langfuse.api.core.serialization import convert_and_respect_annotation_metadata  # noqa: PLC0415
    from langfuse.api.scores.types.create_score_request import CreateScoreRequest  # noqa: PLC0415
    from pydantic import ValidationError  # noqa: PLC0415

    if not isinstance(item, dict):
        return "a score must be a JSON object"
    try:
        # The client's own read path: wire names (traceId) -> fields (trace_id), then pydantic validation.
        wire = convert_and_respect_annotation_metadata(object_=item, annotation=CreateScoreRequest, direction="read")
        score = parse_obj_as(CreateScoreRequest, wire)
    except ValidationError as error:
        return f"Invalid request data: {error.errors()[0]['msg']}"
    data_type = str(score.data_type or "NUMERIC")
    value = item.get("value")
    if data_type in ("NUMERIC", "BOOLEAN") and (isinstance(value, bool) or not isinstance(value, int | float)):
        return f"value must be a number for data type {data_type}"
    if data_type == "BOOLEAN" and value not in (0, 1):
        return "BOOLEAN score values must be 0 or 1"
    if data_type in ("CATEGORICAL", "TEXT") and not isinstance(value, str):
        return f"value must be a string for data type {data_type}"
    if not (score.trace_id or score.session_id or score.dataset_run_id):
        return "a score needs a traceId, sessionId or datasetRunId"
    if score.observation_id and not score.trace_id:
        return "observationId needs a traceId"
    return None


async def _refuse(state: ContractState, request: Request) -> JSONResponse | None:
    """The injected fault, else Langfuse's auth answer, else None (serve the request); recorded as rejected."""
    fault_response = await _apply_fault(state.take_fault(request.url.path))
    if fault_response is not None:
        state.reject(request, fault_response.status_code, "injected")
        return fault_response
    denied = _check_auth(state, request)
    if denied is not None:
        state.reject(request, denied.status_code, "auth")
        return denied
    return None


def _iso(unix_nano: int) -> str:
    return datetime.fromtimestamp(unix_nano / 1e9, tz=UTC).isoformat().replace("+00:00", "Z")


def _observation(span: dict[str, Any]) -> dict[str, Any]:
    """A recorded span as Langfuse's v2 observations API shows it (``core`` and ``basic`` field groups)."""
    return {
        "id": span["span_id"],
        "traceId": span["trace_id"],
        "startTime": _iso(span["start_time_unix_nano"]),
        "endTime": _iso(span["end_time_unix_nano"]),
        "projectId": PROJECT_ID,
        "parentObservationId": span["parent_span_id"] or None,
        "type": "GENERATION" if "gen_ai.request.model" in span["attributes"] else "SPAN",
        "name": span["name"],
    }


def create_app(*, public_key: str, secret_key: str) -> FastAPI:
    """Build the ASGI app. The :class:`ContractState` is available as ``app.state.contract``."""
    state = ContractState(public_key=public_key, secret_key=secret_key)
    app = FastAPI(title="Langfuse OTLP contract endpoint", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.contract = state

    @app.post(TRACES_PATH)
    async def traces(request: Request) -> Response:
        refused = await _refuse(state, request)
        if refused is not None:
            return refused
        raw = await request.body()
        encoding = request.headers.get("content-encoding", "").strip().lower()
        content_type = request.headers.get("content-type", "").lower()
        try:
            body = _decompress(raw, encoding)
            if "application/x-protobuf" in content_type:
                spans = decode_protobuf(body)
            elif "application/json" in content_type:
                spans = decode_json(body)
            else:
                state.reject(request, 400, "content-type")
                return _reply(400, {"error": f"Invalid content type: {content_type or '(none)'}"})
        except PayloadError as exc:
            state.reject(request, 400, "payload")
            return _reply(400, {"error": str(exc)})
        if not spans:
            return _reply(200, {})
        version_header = request.headers.get("x-langfuse-ingestion-version") or request.headers.get(
            "x_langfuse_ingestion_version"
        )
        version = _js_parse_int(version_header) if version_header is not None else None
        if version_header is not None and (version is None or version > 4):
            state.reject(request, 400, "ingestion-version")
            return _reply(
                400, {"error": f'Unsupported x-langfuse-ingestion-version: "{version_header}". Maximum supported: "4".'}
            )
        with state.lock:
            state.requests.append(
                {
                    "seq": len(state.requests) + 1,
                    "received_at": time.time(),
                    "headers": {key.lower(): value for key, value in request.headers.items()},
                    "content_type": content_type,
                    "content_encoding": encoding,
                    "body_bytes": len(raw),
                    "ingestion_version": version_header,
                    # Langfuse: >= 4 goes to the real-time direct path; otherwise the slow dual-write path.
                    "write_path": "direct" if version is not None and version >= 4 else "dual_write",
                    "spans": spans,
                }
            )
        return _reply(200, {})

    @app.post(SCORES_PATH)
    async def create_scores(request: Request) -> Response:
        refused = await _refuse(state, request)
        if refused is not None:
            return refused
        try:
            payload = await request.json()
        except ValueError:
            state.reject(request, 400, "payload")
            return _reply(400, {"message": "Invalid request data: body is not JSON"})
        items = payload if isinstance(payload, list) else [payload]
        accepted: list[dict[str, Any]] = []
        errors: list[dict[str, Any]] = []
        for index, item in enumerate(items):
            problem = _score_problem(item)
            if problem is None:
                accepted.append(item)
            else:
                errors.append({"index": index, "message": problem})
        with state.lock:
            for item in accepted:
                score_id = item.get("id") or f"generated-{len(state.scores) + 1}"
                state.scores[score_id] = dict(item, id=score_id)
            state.score_requests.append(
                {"method": "POST", "ids": [item.get("id") for item in accepted], "received_at": time.time()}
            )
        if errors and not accepted and not isinstance(payload, list):
            return _reply(400, {"message": errors[0]["message"]})
        if errors:
            return _reply(207, {"accepted": len(accepted), "rejected": len(errors), "errors": errors})
        return _reply(202, {"message": "Accepted"})

    @app.delete(SCORES_PATH + "/{score_id}")
    async def delete_score(score_id: str, request: Request) -> Response:
        refused = await _refuse(state, request)
        if refused is not None:
            return refused
        with state.lock:
            state.score_requests.append({"method": "DELETE", "ids": [score_id], "received_at": time.time()})
            found = state.scores.pop(score_id, None)
        if found is None:
            return _reply(404, {"message": "Score not found"})
        return _reply(200, {"message": "Score deleted successfully"})

    @app.post(METRICS_PATH)
    async def metrics(request: Request) -> Response:
        denied = _check_auth(state, request)
        if denied is not None:
            return denied
        # Langfuse's metrics handler does nothing: 200, data discarded.
        await request.body()
        return _reply(200, {})

    @app.get(OBSERVATIONS_PATH)
    async def observations(request: Request) -> Response:
        denied = _check_auth(state, request)
        if denied is not None:
            return denied
        trace_id = request.query_params.get("traceId")
        limit = int(request.query_params.get("limit") or 50)
        with state.lock:
            spans = [span for req in state.requests for span in req["spans"]]
        found = [_observation(span) for span in spans if trace_id is None or span["trace_id"] == trace_id]
        return _reply(200, {"data": found[:limit], "meta": {"cursor": None}})

    @app.get(PROJECTS_PATH)
    async def projects(request: Request) -> Response:
        # What the langfuse SDK's auth_check() reads: the project of a project-scoped key pair.
        denied = _check_auth(state, request)
        if denied is not None:
            return denied
        project = {
            "id": PROJECT_ID,
            "name": "owui-otel contract project",
            "organization": {"id": "org-contract", "name": "owui-otel contract org"},
            "metadata": {},
        }
        return _reply(200, {"data": [project]})

    @app.get("/_control/health")
    async def health() -> dict[str, bool]:
        return {"ok": True}

    @app.get("/_control/received")
    async def received() -> dict[str, Any]:
        with state.lock:
            requests = list(state.requests)
            rejected = list(state.rejected)
            scores = dict(state.scores)
            score_requests = list(state.score_requests)
        spans = [dict(span, request_seq=req["seq"]) for req in requests for span in req["spans"]]
        return {
            "requests": requests,
            "spans": spans,
            "rejected": rejected,
            "scores": scores,
            "score_requests": score_requests,
        }

    @app.delete("/_control/received")
    async def reset() -> dict[str, bool]:
        with state.lock:
            state.requests.clear()
            state.rejected.clear()
            state.scores.clear()
            state.score_requests.clear()
        return {"ok": True}

    @app.get("/_control/mode")
    async def get_mode() -> dict[str, Any]:
        with state.lock:
            return state.fault.as_dict()

    @app.post("/_control/mode")
    async def set_mode(request: Request) -> Response:
        try:
            payload = await request.json()
            mode = str(payload.get("mode", "ok"))
            count = payload.get("count")
            fault = FaultMode(
                mode=mode,
                status=int(payload.get("status", 500)),
                retry_after=int(payload.get("retry_after", 1)),
                delay=float(payload.get("delay", 0.0)),
                remaining=None if count is None else int(count),
                path=str(payload.get("path", "")),
            )
        except (ValueError, TypeError, AttributeError) as exc:
            return _reply(400, {"error": f"bad mode payload: {exc}"})
        if mode not in _MODES:
            return _reply(400, {"error": f"mode must be one of {', '.join(_MODES)}"})
        with state.lock:
            state.fault = fault
            return JSONResponse(state.fault.as_dict())

    return app


def main(argv: list[str] | None = None) -> int:
    """Run the endpoint with uvicorn until SIGINT/SIGTERM."""
    parser = argparse.ArgumentParser(
        prog="python -m tests.support.langfuse_contract",
        description="Serve a Langfuse-compatible OTLP endpoint that records what it receives (tests, local runs).",
    )
    parser.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=3000, help="port (default 3000, like a self-hosted Langfuse)")
    # Keys from the environment by default: a command line is visible to every user (ps) and lands in logs.
    parser.add_argument(
        "--public-key",
        default=os.environ.get("LANGFUSE_PUBLIC_KEY", "pk-lf-test"),
        help="accepted public key (default $LANGFUSE_PUBLIC_KEY, else pk-lf-test)",
    )
    parser.add_argument(
        "--secret-key",
        default=os.environ.get("LANGFUSE_SECRET_KEY", "sk-lf-test"),
        help="accepted secret key (default $LANGFUSE_SECRET_KEY, else sk-lf-test)",
    )
    parser.add_argument("--log-level", default="warning", help="uvicorn log level (default warning)")
    args = parser.parse_args(argv)
    uvicorn.run(
        create_app(public_key=args.public_key, secret_key=args.secret_key),
        host=args.host,
        port=args.port,
        log_level=args.log_level,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

# SPDX-License-Identifier: Apache-2.0
"""A fake of Open WebUI 0.12.4's admin feedback API, serving real feedback records, and a recorder of Langfuse's
scores API, for the ``owui-otel feedback sync`` tests.

Open WebUI's routes, as ``open_webui/routers/evaluations.py`` (0.12.4) defines them (admin token required, else
401; an unknown feedback id 404 with Open WebUI's own detail)::

    GET /api/v1/evaluations/feedbacks/all/ids       [{"id", "user_id", "created_at", "updated_at"}], newest first
    GET /api/v1/evaluations/feedbacks/all/export    [FeedbackModel], newest first
    GET /api/v1/evaluations/feedback/{id}           FeedbackModel

``FakeOpenWebUI(records, with_ids_route=False)`` answers 404 on ``/feedbacks/all/ids``, like an Open WebUI from
before that route. Tests change ``fake.records`` (a dict by id) between runs.

``ScoresRecorder`` takes ``POST /api/public/scores`` (a list of ``CreateScoreRequest``, validated with the
``langfuse`` package's own model; Basic auth) and ``DELETE /api/public/scores/{id}``, answers 202 / 204 like
Langfuse, and records every call in order. ``fail_after`` makes it answer 503 once that many creates went through;
``hold_after`` makes later creates wait (unanswered) until ``release`` is set: a client killed meanwhile never
learns whether they were taken.

    fake = FakeOpenWebUI(fixture_records("07_update_comment"), token="admin-token")
    with ThreadServer(fake.app()) as openwebui, ThreadServer(scores.app()) as langfuse: ...
"""

from __future__ import annotations

import asyncio
import base64
import json
import threading
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from langfuse.api.scores.types.create_score_request import CreateScoreRequest
from pydantic import TypeAdapter, ValidationError

EVENT_FIXTURES = Path("/work/shared/fixtures/openwebui-events")
_LOCAL_EVENT_FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "openwebui-events"
_SCORE_REQUESTS = TypeAdapter(list[CreateScoreRequest])


def event_fixtures() -> Path:
    """The folder with the real Open WebUI 0.12.4 event and feedback fixtures (the repository's copy first)."""
    return _LOCAL_EVENT_FIXTURES if _LOCAL_EVENT_FIXTURES.is_dir() else EVENT_FIXTURES


def fixture_records(step: str) -> dict[str, dict[str, Any]]:
    """The admin export after a fixture step (e.g. ``"07_update_comment"``), by feedback id."""
    export = json.loads((event_fixtures() / f"{step}.records.json").read_text())["admin_export"]["body"]
    return {record["id"]: record for record in export}


def fixture_webhook_bodies(prefix: str = "feedback.") -> list[dict[str, Any]]:
    """The real Event-webhook bodies Open WebUI 0.12.4 POSTed, for events whose name starts with ``prefix``."""
    bodies = json.loads((event_fixtures() / "webhook_bodies.json").read_text())
    return [entry["body"] for entry in bodies if str(entry["body"].get("event", "")).startswith(prefix)]


def fixture_steps() -> list[tuple[str, list[dict[str, Any]], dict[str, dict[str, Any]]]]:
    """The fixture steps that touched feedback, in order: (step, its ``feedback.*`` events as Open WebUI sent them,
    the feedback records after it)."""
    steps = []
    for records_file in sorted(event_fixtures().glob("*.records.json")):
        step = records_file.name.removesuffix(".records.json")
        received = json.loads((event_fixtures() / f"{step}.events.json").read_text())["events_received"]
        events = [entry["event"] for entry in received if str(entry["event_name"]).startswith("feedback.")]
        steps.append((step, events, fixture_records(step)))
    return steps


class FakeOpenWebUI:
    def __init__(self, records: dict[str, dict[str, Any]], *, token: str, with_ids_route: bool = True) -> None:
        self.records = dict(records)
        self.token = token
        self.with_ids_route = with_ids_route
        self.requests: list[str] = []

    def _newest_first(self) -> list[dict[str, Any]]:
        return sorted(self.records.values(), key=lambda record: record["updated_at"], reverse=True)

    def app(self) -> FastAPI:
        app = FastAPI()
        base = "/api/v1/evaluations"

        def refused(request: Request) -> JSONResponse | None:
            self.requests.append(request.url.path)
            if request.headers.get("authorization") != f"Bearer {self.token}":
                return JSONResponse({"detail": "Not authenticated"}, status_code=401)
            return None

        @app.get(base + "/feedbacks/all/ids", response_model=None)
        async def ids(request: Request) -> Any:
            if (answer := refused(request)) is not None:
                return answer
            if not self.with_ids_route:
                return JSONResponse({"detail": "Not Found"}, status_code=404)
            fields = ("id", "user_id", "created_at", "updated_at")
            return [{name: record[name] for name in fields} for record in self._newest_first()]

        @app.get(base + "/feedbacks/all/export", response_model=None)
        async def export(request: Request) -> Any:
            return refused(request) or self._newest_first()

        @app.get(base + "/feedback/{feedback_id}", response_model=None)
        async def one(feedback_id: str, request: Request) -> Any:
            if (answer := refused(request)) is not None:
                return answer
            if feedback_id not in self.records:
                return JSONResponse({"detail": "We could not find what you're looking for :/"}, status_code=404)
            return self.records[feedback_id]

        return app


class ScoresRecorder:
    def __init__(self, public_key: str = "pk-lf-test", secret_key: str = "sk-lf-test") -> None:
        self._auth = "Basic " + base64.b64encode(f"{public_key}:{secret_key}".encode()).decode()
        self.created: list[dict[str, Any]] = []  # every accepted score body, in order
        self.deleted: list[str] = []
        self.fail_after: int | None = None
        self.hold_after: int | None = None
        self.release = threading.Event()
        self.lock = threading.Lock()

    def live(self) -> dict[str, dict[str, Any]]:
        """The scores Langfuse would hold now: by id, the last write wins, deletes remove."""
        state: dict[str, dict[str, Any]] = {}
        events = [(body["_seq"], "create", body) for body in self.created]
        events += [(seq, "delete", {"id": score_id}) for seq, score_id in self._deletes]
        for _, kind, body in sorted(events, key=lambda event: event[0]):
            if kind == "create":
                state[body["id"]] = body
            else:
                state.pop(body["id"], None)
        return state

    def app(self) -> FastAPI:
        app = FastAPI()
        self._deletes: list[tuple[int, str]] = []
        sequence = iter(range(10**9))

        @app.post("/api/public/scores", response_model=None)
        async def create(request: Request) -> Response:
            if request.headers.get("authorization") != self._auth:
                return JSONResponse({"message": "Invalid credentials"}, status_code=401)
            body = await request.json()
            try:
                _SCORE_REQUESTS.validate_python(body)
            except ValidationError as error:
                return JSONResponse({"message": str(error)}, status_code=400)
            if self.hold_after is not None and len(self.created) >= self.hold_after:
                while not self.release.is_set():
                    await asyncio.sleep(0.05)
            with self.lock:
                if self.fail_after is not None and len(self.created) >= self.fail_after:
                    return JSONResponse({"message": "unavailable"}, status_code=503)
                for score in body:
                    self.created.append({**score, "_seq": next(sequence)})
            return JSONResponse({"message": "Accepted"}, status_code=202)

        @app.delete("/api/public/scores/{score_id}", response_model=None)
        async def delete(score_id: str, request: Request) -> Response:
            if request.headers.get("authorization") != self._auth:
                return JSONResponse({"message": "Invalid credentials"}, status_code=401)
            with self.lock:
                self.deleted.append(score_id)
                self._deletes.append((next(sequence), score_id))
            return Response(status_code=204)

        return app

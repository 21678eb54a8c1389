# SPDX-License-Identifier: Apache-2.0
"""A fake of Open WebUI 0.12.4's admin feedback API, serving real feedback records, for the ``owui-otel feedback
sync`` and feedback-webhook tests (scores go to the Langfuse contract endpoint, :mod:`tests.support.langfuse_contract`;
:func:`live_scores` and :func:`score_calls` read what it took).

Open WebUI's routes, as ``open_webui/routers/evaluations.py`` (0.12.4) defines them (admin token required, else
401; an unknown feedback id 404 with Open WebUI's own detail)::

    GET /api/v1/evaluations/feedbacks/all/ids       [{"id", "user_id", "created_at", "updated_at"}], newest first
    GET /api/v1/evaluations/feedbacks/all/export    [FeedbackModel], newest first
    GET /api/v1/evaluations/feedback/{id}           FeedbackModel

``FakeOpenWebUI(records, with_ids_route=False)`` answers 404 on ``/feedbacks/all/ids``, like an Open WebUI from
before that route. Tests change ``fake.records`` (a dict by id) between runs.

    fake = FakeOpenWebUI(fixture_records("07_update_comment"), token="admin-token")
    with ThreadServer(fake.app()) as openwebui: ...
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from tests.support.event_recording import EVENTS
from tests.support.langfuse_contract import ContractState

EVENT_FIXTURES = EVENTS
"""The real Open WebUI 0.12.4 event and feedback fixtures."""


def event_fixtures() -> Path:
    return EVENT_FIXTURES


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
    def __init__(
        self,
        records: dict[str, dict[str, Any]],
        *,
        token: str,
        with_ids_route: bool = True,
        users: dict[str, dict[str, Any]] | None = None,
    ) -> None:
        self.records = dict(records)
        self.token = token
        self.with_ids_route = with_ids_route
        self.users = dict(users or {})
        """``GET /api/v1/users/{id}``: id -> the user (Open WebUI 0.12.4 answers 400 for an unknown id)."""
        self.users_status = 200
        """Set e.g. 403 to make the users API refuse (a token that may read feedbacks but not users)."""
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

        @app.get("/api/v1/users/{user_id}", response_model=None)
        async def user(user_id: str, request: Request) -> Any:
            if (answer := refused(request)) is not None:
                return answer
            if self.users_status != 200:
                return JSONResponse({"detail": "Access prohibited"}, status_code=self.users_status)
            if user_id not in self.users:
                return JSONResponse({"detail": "We could not find what you're looking for :/"}, status_code=400)
            return {**self.users[user_id], "groups": [], "is_active": False}

        return app


def live_scores(contract: ContractState) -> dict[str, Any]:
    """What the Langfuse contract endpoint holds now (after upserts and deletes): score id -> value."""
    with contract.lock:
        return {score_id: score["value"] for score_id, score in contract.scores.items()}


def score_calls(contract: ContractState, method: str) -> list[str]:
    """The score ids of every ``POST`` (created or overwritten) or ``DELETE`` it took, in order."""
    with contract.lock:
        return [score_id for call in contract.score_requests if call["method"] == method for score_id in call["ids"]]

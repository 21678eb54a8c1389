# SPDX-License-Identifier: Apache-2.0
"""The Open WebUI Event function (Open WebUI >= 0.10): every rating becomes scores on the rated turn, in real time.

Generated into one file, ``pipelines/otel_feedback_event.py`` (``python -m otel_filter.bundle``), installed in
*Admin Panel > Functions* (paste, or ``owui-otel install event-function``) and switched on: Open WebUI calls
:meth:`Event.event` for every event of its bus; this one acts on ``feedback.created/updated/deleted/deleted_all``.

- **created / updated**: the event carries only the feedback id, so the record is read in-process
  (``open_webui.models.feedbacks.Feedbacks.get_feedback_by_id``), turned into scores (:mod:`otel_filter.feedback`),
  and queued (:class:`~otel_filter.feedback_sink.ScoreSink`): Langfuse scores on the turn's trace and GENERATION,
  and a ``gen_ai.evaluation.result`` under the turn for every OTel backend. Scores an update no longer produces
  (a 1-10 rating reset by a re-rating with the other thumb) are deleted.
- **deleted**: the record is gone; its score ids are derived from the feedback id alone, so they are deleted.
- **deleted_all**: the event names no feedback ids. The ids this process has seen since it started (bounded) are
  deleted: the user's own for a user's delete-all, all of them for the admin's. Older ones stay in Langfuse until
  ``owui-otel feedback sync`` (which compares with Open WebUI's feedback list) removes them.

It never blocks or breaks Open WebUI: the handler only reads one record and queues; the network I/O runs on the
sink's thread; every failure is counted (``self.counters``) and logged rate-limited, never raised.

Settings (valve > environment variable > default): ``langfuse_host`` / ``LANGFUSE_HOST``, ``langfuse_public_key`` /
``LANGFUSE_PUBLIC_KEY``, ``langfuse_secret_key`` / ``LANGFUSE_SECRET_KEY`` (no Langfuse when any is missing), and
the filter's ``otlp_endpoint``, ``otlp_protocol``, ``otlp_headers``, ``user_identity``, ``capture_message_content``
(with their ``OTEL_*`` / ``OWUI_OTEL_*`` variables). Function valves are visible to admins only; the keys are
never logged.

    event_function = Event()
    await event_function.event({"event": "feedback.updated", "subject": {"type": "feedback", "id": "..."}, ...})
"""

from __future__ import annotations

import atexit
import inspect
import os
import sys
import threading
import types
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from pydantic import BaseModel, Field

from otel_filter._counters import Counters, logger
from otel_filter._settings import Settings, log_problems, resolve_settings
from otel_filter._telemetry import Telemetry
from otel_filter.environment_variables import LANGFUSE_HOST, LANGFUSE_PUBLIC_KEY, LANGFUSE_SECRET_KEY
from otel_filter.feedback import FEEDBACK_EVENTS, score_ids_for_feedback, scores_for_feedback, stale_score_ids
from otel_filter.feedback_sink import LangfuseTarget, ScoreSink

EVENT_FUNCTION_NAME = "OpenTelemetry evaluations"
EVENT_FUNCTION_ID = "otel_evaluations"
"""The id ``owui-otel install event-function`` gives the function."""
REMEMBERED_FEEDBACKS = 100_000
"""Feedback ids (with their rater) kept for ``feedback.deleted_all``, which names none."""

FeedbackReader = Callable[[str], Awaitable[Mapping[str, Any] | None]]


async def read_feedback_in_process(feedback_id: str) -> Mapping[str, Any] | None:
    """Open WebUI's own record (equal to ``GET /api/v1/evaluations/feedback/{id}``), or None when it is gone."""
    from open_webui.models.feedbacks import Feedbacks  # type: ignore[import-not-found]  # noqa: PLC0415

    record = Feedbacks.get_feedback_by_id(feedback_id)
    if inspect.isawaitable(record):  # async since 0.10's async database layer; sync before
        record = await record
    return record.model_dump() if record is not None else None


def langfuse_target(valves: Mapping[str, object], environ: Mapping[str, str]) -> tuple[LangfuseTarget | None, str]:
    """Langfuse host and keys (valve > variable), or (None, why not) when not all three are set."""

    def setting(valve: str, variable: str) -> str:
        value = valves.get(valve)
        text = value.strip() if isinstance(value, str) else ""
        return text or environ.get(variable, "").strip()

    host_valve = valves.get("langfuse_host")
    host_setting = "valve langfuse_host" if isinstance(host_valve, str) and host_valve.strip() else LANGFUSE_HOST
    host = setting("langfuse_host", LANGFUSE_HOST)
    public_key = setting("langfuse_public_key", LANGFUSE_PUBLIC_KEY)
    secret_key = setting("langfuse_secret_key", LANGFUSE_SECRET_KEY)
    missing = [
        name
        for name, value in (
            (f"valve langfuse_host / {LANGFUSE_HOST}", host),
            (f"valve langfuse_public_key / {LANGFUSE_PUBLIC_KEY}", public_key),
            (f"valve langfuse_secret_key / {LANGFUSE_SECRET_KEY}", secret_key),
        )
        if not value
    ]
    if missing:
        return None, (
            f"{', '.join(missing)}: not set. Fix: set the Event function's valves (Admin Panel > Functions), or the "
            "variables on the Open WebUI process. Until then: ratings become no Langfuse scores"
        )
    if not host.startswith(("http://", "https://")):
        return None, (
            f"{host_setting}: {host!r} is not a URL (it needs http:// or https:// and a host). Fix: set it to "
            "Langfuse's base URL, e.g. https://cloud.langfuse.com. Until then: ratings become no Langfuse scores"
        )
    return LangfuseTarget(host, public_key, secret_key), ""


class Event:
    """Open WebUI Event function: ratings -> scores (see the module docstring)."""

    class Valves(BaseModel):
        """Admin settings; an empty valve defers to its environment variable. Plain types only (the module is
        loaded without registering it in ``sys.modules``)."""

        langfuse_host: str = Field(default="", description="Langfuse base URL. Empty: LANGFUSE_HOST.")
        langfuse_public_key: str = Field(default="", description="Langfuse public key. Empty: LANGFUSE_PUBLIC_KEY.")
        langfuse_secret_key: str = Field(
            default="",
            description="Langfuse secret key. Empty: LANGFUSE_SECRET_KEY (preferred: never stored in the database).",
            json_schema_extra={"input": {"type": "password"}},
        )
        otlp_endpoint: str = Field(
            default="",
            description="OTLP endpoint of the collector for the evaluation events, as the filter's valve. Empty: "
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT / OTEL_EXPORTER_OTLP_ENDPOINT, else http://localhost:4318.",
        )
        otlp_protocol: str = Field(default="", description="'http/protobuf' or 'grpc'. Empty: the variable.")
        otlp_headers: str = Field(default="", description="OTLP headers, key=value,... Empty: the variable.")
        user_identity: str = Field(
            default="",
            description="Who the rater is in score metadata: 'id', 'email' or 'username', as the filter's valve. "
            "Empty: OWUI_OTEL_USER_IDENTITY, else id.",
        )
        capture_message_content: str = Field(
            default="",
            description="'true'/'false': put the user's reason and comment in the OTel evaluation event "
            "(Langfuse always gets them as the score's comment). Empty: "
            "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT, else true.",
        )

    def __init__(
        self,
        *,
        environ: Mapping[str, str] | None = None,
        read_feedback: FeedbackReader | None = None,
        telemetry: Telemetry | None = None,
    ) -> None:
        self.valves = self.Valves()
        self.counters = Counters()
        self._environ = environ if environ is not None else os.environ
        self._read_feedback = read_feedback or read_feedback_in_process
        self._telemetry = telemetry
        self._owns_telemetry = telemetry is None
        self._settings: Settings | None = None
        self._settings_key: object = None
        self._target: LangfuseTarget | None = None
        self._raters: OrderedDict[str, str] = OrderedDict()  # feedback id -> rater's user id (for deleted_all)
        self.sink = ScoreSink(
            langfuse=lambda: self._target,
            tracer=lambda: self._telemetry.tracer if self._telemetry is not None else None,
            health=self.counters,
            explanation=lambda: self._settings.capture_content if self._settings is not None else True,
        )

    async def event(
        self, event: dict[str, Any], __event_name__: str | None = None, __id__: str | None = None, **_: Any
    ) -> None:
        """Called by Open WebUI for every event; acts on the feedback ones. Never raises."""
        try:
            name = __event_name__ or (event.get("event") if isinstance(event, Mapping) else None)
            if name not in FEEDBACK_EVENTS:
                return
            if __id__:
                _take_over(__id__, self)
            self.counters.count("feedback_events")
            self._configure()
            await self._handle(str(name), event)
        except Exception as error:  # never into Open WebUI
            self.counters.problem("feedback_event_failed", "otel_filter: feedback event failed: %r", error)

    def _configure(self) -> None:
        valves = self.valves.model_dump()
        key = tuple(sorted((k, str(v)) for k, v in valves.items()))
        if key == self._settings_key:
            return
        settings, problems = resolve_settings(valves, self._environ)
        log_problems(problems)
        target, why = langfuse_target(valves, self._environ)
        if target is None:
            logger.warning("otel_filter: %s", why)
        self._target, self._settings, self._settings_key = target, settings, key
        if self._telemetry is None:
            self._telemetry = Telemetry(settings, self.counters)
        elif self._owns_telemetry:
            self._telemetry.apply(settings)

    async def _handle(self, name: str, event: Mapping[str, Any]) -> None:
        raw_subject = event.get("subject")
        subject: Mapping[str, Any] = raw_subject if isinstance(raw_subject, Mapping) else {}
        subject_id = subject.get("id") if isinstance(subject.get("id"), str) else None
        if name == "feedback.deleted_all":
            self._delete_all(subject.get("type"), subject_id)
            return
        if not subject_id:
            self.counters.problem("feedback_skipped", "otel_filter: %s without a feedback id", name)
            return
        if name == "feedback.deleted":
            self._raters.pop(subject_id, None)
            self.sink.delete(score_ids_for_feedback(subject_id))
            return
        record = await self._read_feedback(subject_id)
        if record is None:  # deleted in between: the deleted event follows (or came first)
            self.counters.problem("feedback_unreadable", "otel_filter: feedback %s is gone; not scored", subject_id)
            return
        record = self._with_rater(record, event.get("actor"))
        assert self._settings is not None  # set by _configure
        scores, reason = scores_for_feedback(record, user_identity=self._settings.user_identity)
        user_id = record.get("user_id")
        if scores and isinstance(user_id, str):
            self._remember(subject_id, user_id)
        else:  # nothing in Langfuse to delete later (an update's stale scores are deleted below)
            self._raters.pop(subject_id, None)
        if reason is not None:
            self.counters.problem("feedback_skipped", "otel_filter: feedback %s not scored: %s", subject_id, reason)
        self.sink.send(scores)
        if name == "feedback.updated":
            self.sink.delete(stale_score_ids(subject_id, scores))

    @staticmethod
    def _with_rater(record: Mapping[str, Any], actor: object) -> Mapping[str, Any]:
        """The record with ``user`` from the event's actor when the actor is the rater (so ``user_identity`` can
        name them by email or name); an admin editing someone else's rating is not the rater."""
        if "user" in record or not isinstance(actor, Mapping) or actor.get("id") != record.get("user_id"):
            return record
        return {**record, "user": {key: actor.get(key) for key in ("id", "name", "email")}}

    def _remember(self, feedback_id: str, user_id: str) -> None:
        self._raters[feedback_id] = user_id
        self._raters.move_to_end(feedback_id)
        while len(self._raters) > REMEMBERED_FEEDBACKS:
            self._raters.popitem(last=False)

    def _delete_all(self, subject_type: object, subject_id: str | None) -> None:
        if subject_type == "user" and subject_id:
            feedback_ids = [fid for fid, uid in self._raters.items() if uid == subject_id]
        else:  # the admin's delete-all: {"type": "feedback", "id": "all"}
            feedback_ids = list(self._raters)
        for feedback_id in feedback_ids:
            self._raters.pop(feedback_id, None)
            self.sink.delete(score_ids_for_feedback(feedback_id))
        self.counters.problem(
            "feedback_deleted_all",
            "otel_filter: all feedback deleted; deleted the scores of the %d seen by this process "
            "(run `owui-otel feedback sync` to remove older ones)",
            len(feedback_ids),
        )

    async def on_shutdown(self) -> None:
        """Send what is queued (bounded), then stop."""
        self.retire()

    def retire(self, timeout_s: float = 5.0) -> None:
        """Send what is queued (at most ``timeout_s``), stop the sink's thread and the own exporter."""
        self.sink.stop(timeout_s)
        if self._owns_telemetry and self._telemetry is not None:
            self._telemetry.shutdown(timeout_s)


def _live_event_functions() -> dict[str, Event]:
    """The acting instance per Function id, kept outside this module: Open WebUI re-executes an edited Function into
    a fresh module and instance, and the old one must then stop its thread (after sending what it queued). At exit,
    every live instance sends what it queued (bounded)."""
    registry = sys.modules.get("_owui_otel_live_event_functions")
    if registry is None:
        fresh = types.ModuleType("_owui_otel_live_event_functions")
        fresh.instances = {}  # type: ignore[attr-defined]
        registry = sys.modules.setdefault("_owui_otel_live_event_functions", fresh)
        if registry is fresh:
            atexit.register(lambda: [instance.retire(2.0) for instance in list(fresh.instances.values())])
    instances: dict[str, Event] = registry.instances
    return instances


def _take_over(function_id: str, instance: Event) -> None:
    instances = _live_event_functions()
    previous = instances.get(function_id)
    if previous is instance:
        return
    instances[function_id] = instance
    if previous is not None:  # retired off the event loop: stopping waits for its last sends
        threading.Thread(target=previous.retire, name="otel_filter-retire", daemon=True).start()

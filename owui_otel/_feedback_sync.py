# SPDX-License-Identifier: Apache-2.0
"""``owui-otel feedback sync``: Open WebUI's ratings, read over its admin API, become Langfuse scores.

The catch-up path for everything the real-time Event function cannot see (Open WebUI < 0.10, ratings given while
Langfuse or the collector was down, deployments that cannot install functions) and the bridge's Event webhook::

    source = OpenWebUIFeedbacks("http://localhost:3000", token)         # admin API key or JWT
    delivery = LangfuseScoreDelivery("https://cloud.langfuse.com", public_key, secret_key)
    with FeedbackSync(source, delivery, SyncProgress.for_openwebui(url)) as sync:
        report = sync.run()                                              # SyncReport(sent=..., deleted=..., ...)

What it guarantees:

- **Only what changed is sent.** Open WebUI has no "since" cursor, so a run lists every feedback's id and
  ``updated_at`` (``GET /api/v1/evaluations/feedbacks/all/ids``; Open WebUI versions without it: the full
  ``/feedbacks/all/export``) and compares them with what the last run delivered, kept on disk. Recently updated
  ones are read again and compared by content (:data:`RECHECK_WINDOW_S`); unchanged scores are not resent.
- **Nothing lost, nothing duplicated.** A feedback is recorded as done only after Langfuse accepted its scores, one
  journal line per feedback (appended and fsynced), so a run killed mid-way resumes where it stopped. Score ids are
  derived from the feedback id and score name, so the one feedback that may be resent after a kill overwrites
  its scores instead of adding new ones.
- **Deletes follow.** A feedback that was synced and is gone from Open WebUI (deleted one by one, or by "delete
  all", whose event names no ids) gets its scores deleted; a score a feedback no longer has (the 1-10 rating
  cleared by re-rating with the other thumb) is deleted too.
- **Safe to run twice or concurrently.** A run holds an exclusive lock on its progress file; a second run waits
  for it, then finds nothing left to do.
- **Bad records never stop a run**: a feedback that cannot be scored (no message id, no rating) is counted with
  its reason and not retried until it changes; one that Langfuse refuses is retried on the next run.
"""

from __future__ import annotations

import fcntl
import functools
import hashlib
import json
import logging
import os
import queue
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import httpx

from collector import langfuse_base_url
from owui_otel._errors import OwuiOtelError, UsageError
from owui_otel._paths import PRIVATE_FILE_MODE, private_dir, state_dir, write_private

if TYPE_CHECKING:
    from otel_filter.feedback import Score

__all__ = [
    "DeliveryFailed",
    "FeedbackSync",
    "FeedbackWorker",
    "LangfuseScoreDelivery",
    "OpenWebUIFeedbacks",
    "ScoreDelivery",
    "SyncProgress",
    "SyncReport",
]

FEEDBACK_API = "/api/v1/evaluations"
RECHECK_WINDOW_S = 120
"""Open WebUI's ``updated_at`` is in whole seconds: a rating changed again in the second the sync read it keeps
its ``updated_at``. A feedback updated less than this long ago (wide enough for clock skew between the hosts) is
read again by the next run and compared by content (sent only if its scores differ)."""
_log = logging.getLogger("owui_otel.feedback")
_TIMEOUT_S = 30.0

ScoreFeedback = Callable[[Mapping[str, Any]], "tuple[list[Score], str | None]"]
ScoreIdsOf = Callable[[str], list[str]]


class DeliveryFailed(OwuiOtelError):
    """Langfuse did not take a feedback's scores (down, refused, timed out); the next run sends them again."""


class ScoreDelivery(Protocol):
    """Delivers scores and deletes them, **blocking until the backend answered**; raises
    :class:`DeliveryFailed` when it did not take them (the sync then keeps the feedback for the next run).
    ``deliver`` returns how many scores the backend refused for good (invalid: not worth sending again)."""

    def deliver(self, scores: Sequence[Score]) -> int: ...

    def delete(self, score_ids: Sequence[str]) -> None: ...


class LangfuseScoreDelivery:
    """Scores to Langfuse over its public scores API (``POST /api/public/scores``, ``DELETE .../{id}``), with the
    filter's synchronous :class:`~otel_filter.feedback_sink.LangfuseScores` (the ``langfuse`` package's generated
    client and request models, one try per request: the next run is the retry).

    Not the SDK's batched ``create_score``: that queues and answers before Langfuse did, and the sync may record a
    feedback as done only once it was delivered."""

    def __init__(self, host: str, public_key: str, secret_key: str) -> None:
        from otel_filter.feedback_sink import LangfuseScores, LangfuseTarget  # noqa: PLC0415 (needs langfuse)

        self.host = host.rstrip("/")
        self._client = LangfuseScores(LangfuseTarget(self.host, public_key, secret_key))

    def deliver(self, scores: Sequence[Score]) -> int:
        try:
            rejections = self._client.create(scores)
        except Exception as error:  # the generated client raises one typed error per status, httpx its own
            raise DeliveryFailed(f"Langfuse at {self.host} did not take the scores: {_describe(error)}") from error
        if rejections:  # a 207: Langfuse says not to retry it, the refused scores are invalid for good
            _log.warning("owui-otel: Langfuse at %s rejected %d score(s): %s", self.host, len(rejections), rejections)
        return len(rejections)

    def delete(self, score_ids: Sequence[str]) -> None:
        try:
            self._client.delete(score_ids)
        except Exception as error:
            raise DeliveryFailed(f"Langfuse at {self.host} did not delete a score: {_describe(error)}") from error

    def close(self) -> None:
        self._client.close()


def _describe(error: Exception) -> str:
    status = getattr(error, "status_code", None)
    return f"HTTP {status}" if status is not None else type(error).__name__


class OpenWebUIFeedbacks:
    """Open WebUI's feedback records, read with an admin's API key or JWT (never logged, never in a message)."""

    def __init__(self, url: str, token: str, *, timeout_s: float = _TIMEOUT_S) -> None:
        self.url = url.rstrip("/")
        self._http = httpx.Client(
            base_url=self.url + FEEDBACK_API, headers={"Authorization": f"Bearer {token}"}, timeout=timeout_s
        )
        self._export: dict[str, dict[str, Any]] | None = None

    def versions(self) -> dict[str, int]:
        """Every feedback id with its ``updated_at``: ``/feedbacks/all/ids``, or the full export where that
        route does not exist (Open WebUI before it was added)."""
        answer = self._get("/feedbacks/all/ids", missing_ok=True)
        if answer is None:
            export = self._get("/feedbacks/all/export")
            self._export = {str(record["id"]): record for record in _records(export, "/feedbacks/all/export")}
            return {feedback_id: _updated_at(record) for feedback_id, record in self._export.items()}
        return {str(row["id"]): _updated_at(row) for row in _records(answer, "/feedbacks/all/ids")}

    def record(self, feedback_id: str) -> dict[str, Any] | None:
        """The full record (``GET /feedback/{id}``), or None when it was deleted meanwhile."""
        if self._export is not None:
            return self._export.get(feedback_id)
        answer = self._get(f"/feedback/{feedback_id}", missing_ok=True)
        return answer if isinstance(answer, dict) else None

    def _get(self, path: str, *, missing_ok: bool = False) -> Any:
        where = f"{self.url}{FEEDBACK_API}{path}"
        try:
            response = self._http.get(path)
        except httpx.HTTPError as error:
            raise OwuiOtelError(
                f"--openwebui-url {self.url}: cannot reach Open WebUI there ({type(error).__name__}). Fix: start it, "
                "or check --openwebui-url (e.g. http://localhost:3000). Until then: nothing is synced (the next run "
                "catches up)"
            ) from error
        if response.status_code in (401, 403):
            raise OwuiOtelError(
                f"--token / OWUI_TOKEN: Open WebUI refused the token ({response.status_code} at {where}). Fix: pass an "
                "admin's API key or JWT (Settings > Account > API keys). Until then: nothing is synced"
            )
        if response.status_code in (404, 405) and missing_ok:
            return None
        if response.status_code != 200:
            raise OwuiOtelError(
                f"--openwebui-url {self.url}: answered {response.status_code} at {where}. Fix: give Open WebUI's "
                "address (is this Open WebUI?). Until then: nothing is synced"
            )
        try:
            return response.json()
        except ValueError as error:
            raise OwuiOtelError(
                f"--openwebui-url {self.url}: answered with no JSON at {where}. Fix: give Open WebUI's address (is "
                "this Open WebUI?). Until then: nothing is synced"
            ) from error

    def close(self) -> None:
        self._http.close()


def _records(answer: Any, path: str) -> list[dict[str, Any]]:
    if not isinstance(answer, list) or not all(isinstance(row, dict) and "id" in row for row in answer):
        raise OwuiOtelError(f"Open WebUI's {path} answered something else than a list of feedbacks")
    return answer


def _updated_at(row: Mapping[str, Any]) -> int:
    value = row.get("updated_at")
    return value if isinstance(value, int) else 0


@dataclass
class _Done:
    """What the last delivery of one feedback left in Langfuse."""

    updated_at: int
    score_ids: list[str]
    skipped: str | None = None  # the reason it could not be scored (kept so it is not retried until it changes)
    digest: str = ""  # of the scores sent: a record that changed without changing them is not sent again
    recheck: bool = False  # updated too recently to trust updated_at alone (see RECHECK_WINDOW_S)


class SyncProgress:
    """What was delivered, per feedback, on disk: a snapshot (``<name>.json``) plus a journal of the feedbacks
    delivered since (``<name>.journal``, one JSON line each, fsynced), folded into the snapshot at the start and
    end of each run. Both files are 0600; the snapshot is replaced atomically; a torn last journal line (a kill
    while writing it) is ignored, which resends that one feedback (its score ids make that an overwrite)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.journal = path.with_suffix(".journal")
        self.lock_path = path.with_suffix(".lock")
        self.done: dict[str, _Done] = {}

    @classmethod
    def for_openwebui(cls, openwebui_url: str, directory: Path | None = None) -> SyncProgress:
        """One progress file per Open WebUI (by URL) in ``<state dir>/feedback-sync/``."""
        name = hashlib.sha256(openwebui_url.rstrip("/").encode()).hexdigest()[:16]
        return cls((directory or state_dir() / "feedback-sync") / f"{name}.json")

    @contextmanager
    def locked(self) -> Iterator[SyncProgress]:
        """Hold the exclusive lock (waiting for another run to finish), with the progress loaded and compacted."""
        private_dir(self.path.parent)
        descriptor = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, PRIVATE_FILE_MODE)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX)
            self._load()
            self._compact()
            yield self
            self._compact()
        finally:
            os.close(descriptor)  # closing releases the lock

    def record(self, feedback_id: str, done: _Done | None) -> None:
        """Remember one feedback as delivered (``None``: its scores were deleted) before going on to the next."""
        line = {"id": feedback_id, "done": None if done is None else done.__dict__}
        descriptor = os.open(self.journal, os.O_WRONLY | os.O_CREAT | os.O_APPEND, PRIVATE_FILE_MODE)
        try:
            os.write(descriptor, (json.dumps(line) + "\n").encode())
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
        self._apply(feedback_id, line["done"])

    def _apply(self, feedback_id: str, done: Any) -> None:
        if done is None:
            self.done.pop(feedback_id, None)
        else:
            self.done[feedback_id] = _Done(**done)

    def _load(self) -> None:
        self.done = {}
        if self.path.exists():
            try:
                snapshot = json.loads(self.path.read_text(encoding="utf-8"))
                for feedback_id, done in snapshot["feedbacks"].items():
                    self._apply(feedback_id, done)
            except (ValueError, KeyError, TypeError) as error:
                raise OwuiOtelError(
                    f"{self.path}: the sync progress file is damaged ({type(error).__name__}). Fix: delete it and run "
                    "again (everything is sent once more; score ids make that an overwrite, not a duplicate). Until "
                    "then: nothing is synced"
                ) from error
        if self.journal.exists():
            for line in self.journal.read_text(encoding="utf-8").splitlines():
                try:
                    entry = json.loads(line)
                    self._apply(str(entry["id"]), entry["done"])
                except (ValueError, KeyError, TypeError):
                    continue  # a torn line from a kill mid-write: that feedback is sent again

    def _compact(self) -> None:
        snapshot = {"feedbacks": {feedback_id: done.__dict__ for feedback_id, done in sorted(self.done.items())}}
        write_private(self.path, json.dumps(snapshot, indent=1) + "\n")
        self.journal.unlink(missing_ok=True)


@dataclass
class SyncReport:
    """What one run did. ``skipped`` counts feedbacks that cannot be scored, by reason."""

    seen: int = 0
    sent: int = 0
    scores_sent: int = 0
    deleted: int = 0
    scores_deleted: int = 0
    unchanged: int = 0
    failed: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)

    def summary(self) -> str:
        parts = [
            f"{self.seen} feedback(s) in Open WebUI",
            f"{self.sent} sent ({self.scores_sent} score(s))",
            f"{self.deleted} deleted ({self.scores_deleted} score(s))",
            f"{self.unchanged} unchanged",
        ]
        if self.skipped:
            parts.append("skipped: " + ", ".join(f"{count} {reason}" for reason, count in sorted(self.skipped.items())))
        if self.failed:
            parts.append(f"{self.failed} failed, retried on the next run ({self.errors[0]})")
        return "; ".join(parts)


def _scoring(user_identity: str | None = None) -> tuple[ScoreFeedback, ScoreIdsOf]:
    """The filter's scoring, the rater identified per the ``user_identity`` setting (the environment's when None)."""
    from otel_filter.feedback import score_ids_for_feedback, scores_for_feedback  # noqa: PLC0415
    from otel_filter.settings import resolve_settings  # noqa: PLC0415

    identity = user_identity or resolve_settings({}, os.environ)[0].user_identity
    return functools.partial(scores_for_feedback, user_identity=identity), score_ids_for_feedback


class FeedbackSync:
    """One Open WebUI, one Langfuse, one progress file. :meth:`run` syncs everything; :meth:`sync_one` and
    :meth:`forget` serve the bridge's Event webhook (one feedback created/updated, deleted)."""

    def __init__(
        self,
        source: OpenWebUIFeedbacks,
        delivery: ScoreDelivery,
        progress: SyncProgress,
        *,
        dry_run: bool = False,
        scoring: tuple[ScoreFeedback, ScoreIdsOf] | None = None,
        evaluations: Callable[[Sequence[Score]], object] | None = None,
    ) -> None:
        self.source = source
        self.evaluations = evaluations  # OTel gen_ai.evaluation.result for each delivered score (ScoreSink.send)
        self.delivery = delivery
        self.progress = progress
        self.dry_run = dry_run
        self._score, self._score_ids = scoring or _scoring()
        self._in_process = threading.Lock()  # flock is per open file: threads of one process need their own lock

    def run(self) -> SyncReport:
        """Send what is new or changed since the last run, delete what is gone; see the module docs."""
        report = SyncReport()
        with self._in_process, self.progress.locked() as progress:
            versions = self.source.versions()
            report.seen = len(versions)
            for feedback_id, updated_at in versions.items():
                done = progress.done.get(feedback_id)
                if done is not None and done.updated_at == updated_at and not done.recheck:
                    report.unchanged += 1
                    if done.skipped:
                        report.skipped[done.skipped] += 1
                    continue
                self._sync(feedback_id, self.source.record(feedback_id), report)
            for feedback_id in [known for known in progress.done if known not in versions]:
                self._forget(feedback_id, report)
        return report

    def sync_one(self, feedback_id: str) -> SyncReport:
        """Send one feedback now (an Event webhook said it was created or updated)."""
        report = SyncReport(seen=1)
        with self._in_process, self.progress.locked():
            self._sync(feedback_id, self.source.record(feedback_id), report)
        return report

    def forget(self, feedback_ids: Iterable[str]) -> SyncReport:
        """Delete the scores of feedbacks Open WebUI deleted (an Event webhook said so)."""
        report = SyncReport()
        with self._in_process, self.progress.locked():
            for feedback_id in feedback_ids:
                self._forget(feedback_id, report)
        return report

    def _sync(self, feedback_id: str, record: Mapping[str, Any] | None, report: SyncReport) -> None:
        if record is None:  # deleted between the listing and now
            self._forget(feedback_id, report)
            return
        scores, reason = self._score(record)
        previous = self.progress.done.get(feedback_id)
        updated_at, digest = _updated_at(record), _digest(scores, reason)
        recheck = updated_at >= time.time() - RECHECK_WINDOW_S
        if previous is not None and previous.digest == digest:  # e.g. created, then updated with the same rating
            if not self.dry_run and (previous.updated_at, previous.recheck) != (updated_at, recheck):
                self.progress.record(feedback_id, replace(previous, updated_at=updated_at, recheck=recheck))
            report.unchanged += 1
            if reason:
                report.skipped[reason] += 1
            return
        # Only what we know we sent: a score this feedback no longer has (the 1-10 rating cleared by re-rating).
        stale = sorted(set(previous.score_ids if previous else ()) - _ids(scores))
        if self.dry_run:
            report.sent += 1 if scores else 0
            report.scores_sent += len(scores)
            if reason:
                report.skipped[reason] += 1
            return
        rejected = 0
        try:
            if scores:
                rejected = self.delivery.deliver(scores)
            if stale:
                self.delivery.delete(stale)
        except DeliveryFailed as error:
            report.failed += 1
            report.errors.append(str(error))
            return
        done = _Done(updated_at, sorted(_ids(scores)), reason, digest, recheck)
        self.progress.record(feedback_id, done)
        if scores:
            report.sent += 1
            report.scores_sent += len(scores) - rejected
            if self.evaluations is not None:
                self.evaluations(scores)
        if rejected:
            report.skipped["scores Langfuse rejected"] += rejected
        if reason:
            report.skipped[reason] += 1
        report.scores_deleted += len(stale)

    def _forget(self, feedback_id: str, report: SyncReport) -> None:
        previous = self.progress.done.get(feedback_id)
        score_ids = self._owned(feedback_id, previous)
        if self.dry_run:
            report.deleted += 1
            report.scores_deleted += len(score_ids)
            return
        try:
            self.delivery.delete(score_ids)
        except DeliveryFailed as error:
            report.failed += 1
            report.errors.append(str(error))
            return
        self.progress.record(feedback_id, None)
        report.deleted += 1
        report.scores_deleted += len(score_ids)

    def _owned(self, feedback_id: str, previous: _Done | None) -> list[str]:
        """Every score id this feedback may have in Langfuse: what we sent, and what any path could have sent
        (the Event function sends without telling the sync)."""
        known = set(previous.score_ids) if previous else set()
        return sorted(known | set(self._score_ids(feedback_id)))

    def close(self) -> None:
        self.source.close()
        for part in (self.delivery, self.evaluations):
            close = getattr(part, "close", None)
            if callable(close):
                close()

    def __enter__(self) -> FeedbackSync:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _ids(scores: Sequence[Score]) -> set[str]:
    return {score.score_id for score in scores}


def _digest(scores: Sequence[Score], reason: str | None) -> str:
    """What a score carries to Langfuse, hashed: equal digests, nothing to send."""
    parts = [
        [s.score_id, s.trace_id, s.observation_id, s.name, s.value, s.data_type, s.comment, s.metadata]
        for s in sorted(scores, key=lambda score: score.score_id)
    ]
    return hashlib.sha256(json.dumps([parts, reason], sort_keys=True, default=str).encode()).hexdigest()


class EvaluationSpans:
    """``gen_ai.evaluation.result`` for every delivered score, in the rated turn's trace (the filter's
    :func:`~otel_filter.feedback_sink.emit_evaluations`; Langfuse drops these spans, it gets the scores). Exported
    through the filter's own export path, where the filter would export (``otlp_endpoint``, else
    ``OTEL_EXPORTER_OTLP_*``, any protocol), with its service name and headers; the comment goes along as the
    explanation only when content capture is on, as in the filter."""

    def __init__(self, otlp_endpoint: str | None, environ: Mapping[str, str] = os.environ) -> None:
        from otel_filter import Counters  # noqa: PLC0415
        from otel_filter.feedback_sink import evaluation_export  # noqa: PLC0415
        from otel_filter.settings import http_traces_url, resolve_settings  # noqa: PLC0415

        settings, _ = resolve_settings({"otlp_endpoint": otlp_endpoint} if otlp_endpoint else {}, environ)
        self.settings = settings
        self.endpoint = http_traces_url(settings.export.endpoint)
        self._telemetry = evaluation_export(settings, Counters())

    def __call__(self, scores: Sequence[Score]) -> None:
        from otel_filter.feedback_sink import emit_evaluations  # noqa: PLC0415

        try:
            emit_evaluations(self._telemetry.tracer, scores, explanation=self.settings.capture_content)
        except Exception as error:  # the scores are in Langfuse already: an evaluation span never fails the sync
            _log.warning("owui-otel: could not record evaluation spans: %s", type(error).__name__)

    def close(self) -> None:
        self._telemetry.shutdown()  # exports what is queued


def feedback_sync(
    openwebui_url: str,
    token: str,
    *,
    langfuse_host: str,
    public_key: str,
    secret_key: str,
    dry_run: bool = False,
    progress_dir: Path | None = None,
    evaluations: EvaluationSpans | None = None,
    command: str = "feedback sync",
    token_flag: str = "--token or ",
) -> FeedbackSync:
    """A :class:`FeedbackSync` from the command line's settings, each missing one refused with its fix (``command``
    and ``token_flag`` say where the settings come from: ``serve`` reads the token from the environment only)."""
    from owui_otel.environment_variables import (  # noqa: PLC0415
        LANGFUSE_HOST,
        LANGFUSE_PUBLIC_KEY,
        LANGFUSE_SECRET_KEY,
        OWUI_OTEL_OPENWEBUI_URL,
        OWUI_TOKEN,
    )

    missing = [
        fix
        for value, fix in (
            (openwebui_url, f"--openwebui-url or ${OWUI_OTEL_OPENWEBUI_URL} (e.g. http://localhost:3000)"),
            (token, f"{token_flag}${OWUI_TOKEN} (an admin's API key or JWT)"),
            (langfuse_host, f"--langfuse-host or ${LANGFUSE_HOST}"),
            (public_key, f"${LANGFUSE_PUBLIC_KEY}"),
            (secret_key, f"${LANGFUSE_SECRET_KEY}"),
        )
        if not value
    ]
    if missing:
        raise UsageError(
            f"{', '.join(missing)}: not set. Fix: {command} needs each of them (flags, or export the variables). "
            "Until then: nothing is synced"
        )
    langfuse_host = langfuse_base_url(langfuse_host)  # the score API's base, as the collector's
    return FeedbackSync(
        OpenWebUIFeedbacks(openwebui_url, token),
        LangfuseScoreDelivery(langfuse_host, public_key, secret_key),
        SyncProgress.for_openwebui(openwebui_url, progress_dir),
        dry_run=dry_run,
        scoring=_scoring(evaluations.settings.user_identity if evaluations else None),
        evaluations=evaluations,
    )


class FeedbackWorker:
    """The bridge's feedback work, off the request path: Open WebUI's Event webhooks (``feedback.*``) and, with
    ``every_s``, a full sync that often. One thread, a bounded queue; it never raises, it counts::

        worker = FeedbackWorker(feedback_sync(url, token, ...), every_s=300)
        worker.start()
        worker.submit(event)        # False when it is not a feedback event or the queue is full (counted)
        worker.counters()           # {"feedback_events": 3, "feedback_synced": 2, ...} -> the bridge's /health
        worker.stop()

    ``feedback.created``/``.updated`` sync that one feedback (the event holds only its id: the record is read from
    Open WebUI), ``feedback.deleted`` deletes its scores, ``feedback.deleted_all`` (no ids in it) runs a full sync,
    which finds what is gone. Open WebUI never retries a webhook: whatever fails here is left to the next sync.
    """

    EVENTS = ("feedback.created", "feedback.updated", "feedback.deleted", "feedback.deleted_all")

    def __init__(self, sync: FeedbackSync, *, every_s: float | None = None, max_pending: int = 1000) -> None:
        self.sync = sync
        self.every_s = every_s
        self._queue: queue.Queue[tuple[str, str] | None] = queue.Queue(maxsize=max_pending)
        self._counts: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._work, name="owui-otel-feedback", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        """Finish the work at hand (not the queue), then end the thread and close the clients."""
        self._drain()
        self._queue.put(None)
        self._thread.join(timeout=timeout_s)
        self.sync.close()

    def submit(self, event: Mapping[str, Any]) -> bool:
        """Queue the work one Event-webhook body asks for; never blocks."""
        name = event.get("event")
        subject = event.get("subject")
        feedback_id = subject.get("id") if isinstance(subject, Mapping) else None
        if name not in self.EVENTS or (name != "feedback.deleted_all" and not isinstance(feedback_id, str)):
            self._count("feedback_events_ignored")
            return False
        self._count("feedback_events")
        work = ("run", "") if name == "feedback.deleted_all" else (str(name), str(feedback_id))
        try:
            self._queue.put_nowait(work)
        except queue.Full:
            self._count("feedback_events_enqueue_failed")
            _log.warning("owui-otel bridge: feedback work queue full, %s dropped (the next sync catches up)", name)
            return False
        return True

    def counters(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counts)

    def _count(self, name: str, amount: int = 1) -> None:
        with self._lock:
            self._counts[name] += amount

    def _drain(self) -> None:
        while True:
            try:
                self._queue.get_nowait()
            except queue.Empty:
                return

    def _work(self) -> None:
        while True:
            try:
                work = self._queue.get(timeout=self.every_s)
            except queue.Empty:
                work = ("run", "")  # the periodic sync
            if work is None:
                return
            self._do(*work)

    def _do(self, kind: str, feedback_id: str) -> None:
        try:
            if kind == "run":
                report = self.sync.run()
                self._count("feedback_syncs")
            elif kind == "feedback.deleted":
                report = self.sync.forget([feedback_id])
            else:
                report = self.sync.sync_one(feedback_id)
        except Exception as error:  # never let the thread die: Open WebUI down, a damaged progress file, a bug
            self._count("feedback_delivery_failed")
            _log.warning(
                "owui-otel bridge: feedback %s failed: %s",
                kind,
                error if isinstance(error, OwuiOtelError) else type(error).__name__,
            )
            return
        self._count("feedback_sent", report.sent)
        self._count("feedback_deleted", report.deleted)
        self._count("feedback_delivery_failed", report.failed)
        self._count("feedback_skipped", sum(report.skipped.values()))
        if report.failed:
            _log.warning("owui-otel bridge: feedback %s: %s", kind, report.summary())

# SPDX-License-Identifier: Apache-2.0
"""The bridge's Event-webhook route, over real HTTP: Open WebUI 0.12.4's real ``feedback.*`` webhook bodies, replayed
step by step against a fake Open WebUI feedback API holding that step's real records, become exactly the scores
Langfuse should hold; the key is required; the answer comes before the delivery."""

from __future__ import annotations

import copy
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from opentelemetry.sdk.trace import TracerProvider

from collector._process import free_port, wait_until
from otel_filter.feedback import scores_for_feedback
from owui_otel._doctor import DoctorInputs, check_bridge
from owui_otel._feedback_sync import FeedbackWorker, feedback_sync
from owui_otel.server import EVENTS_PATH, ServerConfig, create_app
from tests.support.bridge_process import running_bridge
from tests.support.langfuse_contract import ContractState, FaultMode
from tests.support.langfuse_contract import create_app as langfuse_contract
from tests.support.openwebui_feedback import (
    FakeOpenWebUI,
    fixture_records,
    fixture_steps,
    fixture_webhook_bodies,
    live_scores,
    score_calls,
)
from tests.support.otlp_sink import OtlpSink
from tests.support.servers import ThreadServer

pytestmark = pytest.mark.integration

KEY = "bridge-webhook-key-0123456789"
TOKEN = "openwebui-admin-token"
PUBLIC_KEY, SECRET_KEY = "pk-lf-test", "sk-lf-test"


def expected_live(records: dict[str, dict[str, Any]]) -> dict[str, Any]:
    return {score.score_id: score.value for record in records.values() for score in scores_for_feedback(record)[0]}


class Bridge:
    def __init__(self, url: str, openwebui: FakeOpenWebUI, langfuse: ContractState, worker: FeedbackWorker) -> None:
        self.url, self.openwebui, self.langfuse, self.worker = url, openwebui, langfuse, worker

    def post(self, event: Any, *, headers: dict[str, str] | None = None, query: str = "") -> httpx.Response:
        auth = {"Authorization": f"Bearer {KEY}"} if headers is None else headers
        return httpx.post(f"{self.url}{EVENTS_PATH}{query}", json=event, headers=auth, timeout=10)

    def live_values(self) -> dict[str, Any]:
        return live_scores(self.langfuse)

    def wait_for_scores(self, expected: dict[str, Any], what: str) -> None:
        wait_until(lambda: self.live_values() == expected, timeout=30, interval=0.05, what=what)

    def fault(self, mode: str, **options: Any) -> None:
        with self.langfuse.lock:
            self.langfuse.fault = FaultMode(mode=mode, **options)


@pytest.fixture
def bridge(tmp_path: Path, tracer_provider: TracerProvider) -> Iterator[Bridge]:
    yield from _bridge(tmp_path, tracer_provider, every_s=None)


def _bridge(tmp_path: Path, tracer_provider: TracerProvider, *, every_s: float | None) -> Iterator[Bridge]:
    openwebui = FakeOpenWebUI({}, token=TOKEN)
    langfuse = langfuse_contract(public_key=PUBLIC_KEY, secret_key=SECRET_KEY)
    with ThreadServer(openwebui.app()) as openwebui_server, ThreadServer(langfuse) as langfuse_server:
        sync = feedback_sync(
            openwebui_server.url,
            TOKEN,
            langfuse_host=langfuse_server.url,
            public_key=PUBLIC_KEY,
            secret_key=SECRET_KEY,
            progress_dir=tmp_path / "progress",
        )
        worker = FeedbackWorker(sync, every_s=every_s)
        config = ServerConfig(api_key=KEY, data_dir=tmp_path / "bridge", feedback=worker)
        with ThreadServer(create_app(config, tracer_provider=tracer_provider)) as bridge_server:
            yield Bridge(bridge_server.url, openwebui, langfuse.state.contract, worker)


@pytest.mark.parametrize(
    ("headers", "query"),
    [
        ({}, ""),
        ({"Authorization": "Bearer wrong"}, ""),
        ({}, "?token=wrong"),
        ({"Authorization": f"Bearer {KEY}"[:-1]}, "?token="),
    ],
)
def test_events_without_the_key_are_refused(bridge: Bridge, headers: dict[str, str], query: str) -> None:
    (event, *_) = fixture_webhook_bodies()
    response = bridge.post(event, headers=headers, query=query)
    assert response.status_code == 401
    assert bridge.worker.counters() == {}, "nothing was queued"


def test_real_webhook_bodies_step_by_step_leave_exactly_the_scores_open_webui_has(bridge: Bridge) -> None:
    for step, events, records in fixture_steps():
        bridge.openwebui.records = records  # what Open WebUI holds once the step's events fire
        for event in events:
            response = bridge.post(event)
            assert response.status_code == 202, (step, response.text)
            assert response.json() == {"queued": True}
        bridge.wait_for_scores(expected_live(records), f"scores after {step}")
    assert bridge.live_values() == {}, "the admin's delete-all (an event without ids) deleted every score"
    assert bridge.worker.counters()["feedback_events"] == len(fixture_webhook_bodies())


def test_the_key_as_a_query_token_works_because_open_webui_webhooks_send_no_headers(bridge: Bridge) -> None:
    records = fixture_records("03_thumbs_up")
    bridge.openwebui.records = records
    (created, *_) = fixture_webhook_bodies()
    assert bridge.post(created, headers={}, query=f"?token={KEY}").status_code == 202
    bridge.wait_for_scores(expected_live(records), "the score")


def test_the_answer_does_not_wait_for_langfuse(bridge: Bridge) -> None:
    records = fixture_records("03_thumbs_up")
    bridge.openwebui.records = records
    bridge.fault("slow", delay=3.0, remaining=1)  # Langfuse takes 3 s to answer
    (created, *_) = fixture_webhook_bodies()
    assert bridge.post(created).status_code == 202
    assert score_calls(bridge.langfuse, "POST") == [], "answered while the delivery is still pending"
    bridge.wait_for_scores(expected_live(records), "the score")


def test_other_events_and_bad_bodies_are_answered_and_counted(bridge: Bridge) -> None:
    chat_finished = fixture_webhook_bodies("chat.finished")[0]
    assert bridge.post(chat_finished).json() == {"queued": False}
    no_subject = copy.deepcopy(fixture_webhook_bodies()[0])
    no_subject["subject"] = None
    assert bridge.post(no_subject).json() == {"queued": False}
    bad = httpx.post(f"{bridge.url}{EVENTS_PATH}", content=b"{not json", headers={"Authorization": f"Bearer {KEY}"})
    assert bad.status_code == 422
    assert bridge.worker.counters() == {"feedback_events_ignored": 2}
    health = httpx.get(f"{bridge.url}/health").json()
    assert health["counters"]["feedback_events_ignored"] == 2


def test_open_webui_unreachable_is_counted_and_the_worker_goes_on(bridge: Bridge) -> None:
    bridge.openwebui.token = "rotated"  # our token is refused now
    (created, *_) = fixture_webhook_bodies()
    assert bridge.post(created).status_code == 202
    wait_until(lambda: bridge.worker.counters().get("feedback_delivery_failed") == 1, timeout=30, what="the failure")
    doctor = check_bridge(DoctorInputs(bridge_url=bridge.url, bridge_api_key=KEY))
    assert any("feedback_delivery_failed=1" in check.says for check in doctor), "`owui-otel doctor` shows it"
    bridge.openwebui.token = TOKEN
    records = fixture_records("03_thumbs_up")
    bridge.openwebui.records = records
    assert bridge.post(created).status_code == 202
    bridge.wait_for_scores(expected_live(records), "the score")


def test_periodic_sync_inside_the_bridge_catches_up_without_any_webhook(
    tmp_path: Path, tracer_provider: TracerProvider
) -> None:
    for bridge in _bridge(tmp_path, tracer_provider, every_s=0.2):
        records = fixture_records("17_arena_rating")
        bridge.openwebui.records = records
        bridge.wait_for_scores(expected_live(records), "a periodic sync")
        assert bridge.worker.counters()["feedback_syncs"] >= 1


def test_webhook_ratings_name_the_rater_per_user_identity_from_open_webuis_users_api(
    tmp_path: Path, tracer_provider: TracerProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OWUI_OTEL_USER_IDENTITY", "email")
    for bridge in _bridge(tmp_path, tracer_provider, every_s=None):
        _rate_twice_first_unknown_then_known(bridge)


def _rate_twice_first_unknown_then_known(bridge: Bridge) -> None:
    records = fixture_records("03_thumbs_up")
    ((feedback_id, record),) = records.items()
    assert "user" not in record, "Open WebUI's records name the rater by id only"
    bridge.openwebui.records = records
    (created, *_) = fixture_webhook_bodies()
    assert created["subject"]["id"] == feedback_id

    # Unknown to Open WebUI's users API: the id, counted; known: the email (the scores are resent with it)
    assert bridge.post(created).status_code == 202
    wait_until(lambda: bridge.worker.counters().get("feedback_rater_by_id") == 1, timeout=30, what="the fallback")
    bridge.openwebui.users = {record["user_id"]: {"id": record["user_id"], "email": "rater@example.com"}}
    assert bridge.post(created).status_code == 202

    def raters() -> set[str]:
        with bridge.langfuse.lock:
            return {score["metadata"]["rater"] for score in bridge.langfuse.scores.values()}

    wait_until(lambda: raters() == {"rater@example.com"}, timeout=30, what="the rater's email on the score")
    assert bridge.worker.counters()["feedback_rater_by_id"] == 1


def test_without_feedback_settings_the_route_says_how_to_turn_it_on(tmp_path: Path) -> None:
    with ThreadServer(create_app(ServerConfig(api_key=KEY, data_dir=tmp_path))) as server:
        response = httpx.post(
            f"{server.url}{EVENTS_PATH}", json=fixture_webhook_bodies()[0], headers={"Authorization": f"Bearer {KEY}"}
        )
        assert response.status_code == 503 and "--openwebui-url" in response.json()["detail"]
        assert httpx.post(f"{server.url}{EVENTS_PATH}", json={}).status_code == 401


def test_owui_otel_serve_with_openwebui_url_takes_webhooks_and_records_evaluations(tmp_path: Path) -> None:
    """The real command: ``owui-otel serve --openwebui-url ...`` (token and keys from the environment)."""
    openwebui = FakeOpenWebUI(fixture_records("03_thumbs_up"), token=TOKEN)
    langfuse = langfuse_contract(public_key=PUBLIC_KEY, secret_key=SECRET_KEY)
    port = free_port()
    with (
        ThreadServer(openwebui.app()) as openwebui_server,
        ThreadServer(langfuse) as langfuse_server,
        OtlpSink() as sink,
    ):
        argv = [
            sys.executable, "-m", "owui_otel.cli", "serve", "--port", str(port), "--data-dir", str(tmp_path / "data"),
            "--no-server-spans", "--otlp-endpoint", sink.endpoint, "--openwebui-url", openwebui_server.url,
            "--langfuse-host", langfuse_server.url,
        ]  # fmt: skip
        env = {
            **os.environ,
            "OWUI_OTEL_API_KEY": KEY,
            "OWUI_TOKEN": TOKEN,
            "LANGFUSE_PUBLIC_KEY": PUBLIC_KEY,
            "LANGFUSE_SECRET_KEY": SECRET_KEY,
            "OWUI_OTEL_STATE_DIR": str(tmp_path / "state"),
        }
        with running_bridge("bridge", argv, port=port, env=env, log_path=tmp_path / "bridge.log") as url:
            (created, *_) = fixture_webhook_bodies()
            answer = httpx.post(f"{url}{EVENTS_PATH}?token={KEY}", json=created, timeout=10)
            assert answer.status_code == 202
            expected = expected_live(openwebui.records)
            wait_until(lambda: live_scores(langfuse.state.contract) == expected, timeout=30, what="the score")
            (span,) = sink.wait_for(1)
            assert span.attributes["gen_ai.evaluation.name"] == "user_feedback"
            assert httpx.get(f"{url}/health").json()["counters"]["feedback_sent"] == 1
        log = (tmp_path / "bridge.log").read_text()
        assert TOKEN not in log and KEY not in log

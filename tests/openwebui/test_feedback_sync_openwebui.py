# SPDX-License-Identifier: Apache-2.0
"""``owui-otel feedback sync`` against the real Open WebUI 0.12.4: ratings created, changed and deleted through its
own ``/api/v1/evaluations`` API (the web UI's request bodies) reach the Langfuse contract endpoint as exactly the
scores Open WebUI's export says they should be. First run sends everything, a second nothing, a changed rating
exactly its scores, a delete its deletes; a run killed mid-way and rerun loses nothing and duplicates nothing."""

from __future__ import annotations

import os
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from collector._process import wait_until
from otel_filter.feedback import score_ids_for_feedback, scores_for_feedback
from tests.support.langfuse_contract import ContractState, FaultMode
from tests.support.langfuse_contract import create_app as langfuse_contract
from tests.support.openwebui_feedback import live_scores, score_calls
from tests.support.servers import ThreadServer

from .harness import Connection, OpenWebUIClient, owui_otel_argv, signup_admin, start_mock_llm, start_openwebui

pytestmark = pytest.mark.e2e

PUBLIC_KEY, SECRET_KEY = "pk-lf-e2e", "sk-lf-e2e"
CHAT_ID = "5f0c1f0e-0000-4000-8000-00000000c4a7"


def ui_feedback(number: int, *, thumb: int = -1, details: int | None = 3) -> dict[str, Any]:
    """The body the 0.12.4 web UI posts for a rating (comment box saved), on answer ``number`` of one chat."""
    return {
        "type": "rating",
        "data": {
            "rating": thumb,
            "model_id": "mock-gpt",
            "sibling_model_ids": None,
            "reason": "not_helpful" if thumb < 0 else "accurate_information",
            "comment": f"comment on answer {number}",
            "details": {"rating": details} if details is not None else None,
            "tags": ["General"],
        },
        "meta": {
            "model_id": "mock-gpt",
            "message_id": f"5f0c1f0e-0000-4000-8000-{number:012d}",
            "message_index": 2 * number,
            "chat_id": CHAT_ID,
            "base_models": {"mock-gpt": None},
        },
        "snapshot": {"chat": {}},
    }


class Setup:
    def __init__(self, openwebui_url: str, token: str, langfuse_url: str, contract: ContractState, state: Path):
        self.openwebui_url, self.token, self.langfuse_url, self.contract = openwebui_url, token, langfuse_url, contract
        self.api = OpenWebUIClient(openwebui_url, token)
        self.state = state

    def argv(self) -> list[str]:
        return [
            *owui_otel_argv(), "feedback", "sync", "--openwebui-url", self.openwebui_url,
            "--langfuse-host", self.langfuse_url,
        ]  # fmt: skip

    def environ(self) -> dict[str, str]:
        return {
            **os.environ,
            "OWUI_TOKEN": self.token,
            "LANGFUSE_PUBLIC_KEY": PUBLIC_KEY,
            "LANGFUSE_SECRET_KEY": SECRET_KEY,
            "OWUI_OTEL_STATE_DIR": str(self.state),
        }

    def sync(self) -> subprocess.CompletedProcess[str]:
        run = subprocess.run(self.argv(), env=self.environ(), capture_output=True, text=True, timeout=300)
        assert run.returncode == 0, run.stdout + run.stderr
        assert self.token not in run.stdout + run.stderr
        return run

    def expected(self) -> dict[str, Any]:
        """What Langfuse must hold, computed from Open WebUI's own admin export."""
        export = self.api.get("/api/v1/evaluations/feedbacks/all/export")
        return {score.score_id: score.value for record in export for score in scores_for_feedback(record)[0]}

    def created(self) -> list[str]:
        return score_calls(self.contract, "POST")


@pytest.fixture(scope="module")
def setup(openwebui_binary: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    workdir = tmp_path_factory.mktemp("feedback-sync")
    mock = start_mock_llm(workdir)
    owui = start_openwebui(openwebui_binary, workdir, [Connection(mock.openai_url, "mock")])
    langfuse = langfuse_contract(public_key=PUBLIC_KEY, secret_key=SECRET_KEY)
    try:
        token = signup_admin(owui.url)
        with ThreadServer(langfuse) as langfuse_server:
            setup = Setup(owui.url, token, langfuse_server.url, langfuse.state.contract, workdir / "state")
            yield setup
            setup.api.close()
    finally:
        owui.stop()
        mock.stop()


def test_first_run_sends_everything_second_nothing_then_exactly_the_change_and_the_delete(setup: Setup) -> None:
    ids = [setup.api.post("/api/v1/evaluations/feedback", ui_feedback(number))["id"] for number in range(1, 5)]
    first = setup.sync()
    assert "4 sent (8 score(s))" in first.stdout, first.stdout
    assert live_scores(setup.contract) == setup.expected()

    second = setup.sync()
    assert "0 sent" in second.stdout and "4 unchanged" in second.stdout, second.stdout
    assert len(setup.created()) == 8

    # Re-rated with the other thumb (the web UI clears the 1-10 rating then): exactly that thumb, and the
    # 1-10 score it lost is deleted.
    # (Likely within the second of the last run, which kept updated_at: the sync re-reads recent ones.)
    changed = setup.api.post(f"/api/v1/evaluations/feedback/{ids[0]}", ui_feedback(1, thumb=1, details=None))
    thumb_id, rating_id = score_ids_for_feedback(changed["id"])
    setup.sync()
    assert setup.created()[8:] == [thumb_id]
    assert score_calls(setup.contract, "DELETE") == [rating_id]
    assert live_scores(setup.contract) == setup.expected()

    response = setup.api.http.delete(f"/api/v1/evaluations/feedback/{ids[1]}")
    assert response.status_code == 200
    setup.sync()
    assert set(score_calls(setup.contract, "DELETE")[1:]) == set(score_ids_for_feedback(ids[1]))
    assert live_scores(setup.contract) == setup.expected()


def test_killed_mid_run_and_rerun_loses_nothing_and_duplicates_nothing(setup: Setup) -> None:
    for number in range(10, 22):
        setup.api.post("/api/v1/evaluations/feedback", ui_feedback(number))
    before = len(setup.created())
    run = subprocess.Popen(setup.argv(), env=setup.environ(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until(lambda: len(setup.created()) >= before + 8, timeout=120, interval=0.01, what="four deliveries")
        with setup.contract.lock:
            setup.contract.fault = FaultMode(mode="slow", delay=2.0)  # Langfuse stops answering in time
        time.sleep(0.5)
    finally:
        run.kill()
        run.wait(timeout=30)
    assert len(setup.created()) < before + 24, "killed mid-run"
    with setup.contract.lock:
        setup.contract.fault = FaultMode()
    setup.sync()
    assert live_scores(setup.contract) == setup.expected(), "nothing lost"
    resent = [score_id for score_id, count in Counter(setup.created()[before:]).items() if count > 1]
    assert len(resent) <= 2, "at most the feedback in flight at the kill is sent again (an overwrite)"
    assert "0 sent" in setup.sync().stdout


def test_the_admin_delete_all_deletes_every_score(setup: Setup) -> None:
    assert live_scores(setup.contract), "earlier tests left scores"
    assert (
        httpx.delete(
            f"{setup.openwebui_url}/api/v1/evaluations/feedbacks/all",
            headers={"Authorization": f"Bearer {setup.token}"},
        ).json()
        is True
    )
    setup.sync()
    assert live_scores(setup.contract) == {} == setup.expected()


@pytest.mark.parametrize("identity", ["email", "username"])
def test_the_rater_is_named_per_user_identity_from_open_webuis_users_api(setup: Setup, identity: str) -> None:
    feedback = setup.api.post("/api/v1/evaluations/feedback", ui_feedback(40 + len(identity)))
    user = setup.api.get(f"/api/v1/users/{feedback['user_id']}")  # the admin who rated, as Open WebUI knows them
    expected = user["email"] if identity == "email" else user.get("username") or user["name"]
    assert expected and expected != feedback["user_id"]
    environ = {
        **setup.environ(),
        "OWUI_OTEL_USER_IDENTITY": identity,
        "OWUI_OTEL_STATE_DIR": str(setup.state / identity),
    }
    run = subprocess.run(setup.argv(), env=environ, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0 and "rater named by user id" not in run.stdout, run.stdout + run.stderr
    with setup.contract.lock:
        raters = {
            score["metadata"]["rater"]
            for score in setup.contract.scores.values()
            if score["metadata"]["feedback_id"] == feedback["id"]
        }
    assert raters == {expected}

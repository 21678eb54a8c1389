# SPDX-License-Identifier: Apache-2.0
"""``owui-otel feedback sync`` against a fake Open WebUI feedback API serving real 0.12.4 records, over real HTTP, to
the Langfuse contract endpoint's scores API: only what changed is sent, deletes follow, a killed run resumes
without loss or duplicates, concurrent runs do each thing once, bad records are counted, never fatal."""

from __future__ import annotations

import copy
import os
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from collector._process import wait_until
from otel_filter.feedback import score_ids_for_feedback, scores_for_feedback
from otel_filter.trace_ids import turn_span_id, turn_trace_id
from owui_otel._feedback_sync import FeedbackSync, feedback_sync
from tests.support.langfuse_contract import ContractState, FaultMode
from tests.support.langfuse_contract import create_app as langfuse_contract
from tests.support.openwebui_feedback import FakeOpenWebUI, fixture_records, live_scores, score_calls
from tests.support.otlp_sink import OtlpSink
from tests.support.servers import ThreadServer

pytestmark = pytest.mark.integration

TOKEN = "admin-token-never-printed"
PUBLIC_KEY, SECRET_KEY = "pk-lf-test", "sk-lf-test"
ADMIN_ID = "fa546203-aaeb-4009-9904-d8aa1c1ad202"


def many_records(count: int) -> dict[str, dict[str, Any]]:
    """``count`` feedbacks made from the real step-07 record (thumb, reason, comment, 1-10), each on its own turn."""
    (template,) = [record for record in fixture_records("07_update_comment").values() if record["data"]["details"]]
    records = {}
    for number in range(count):
        record = copy.deepcopy(template)
        record["id"] = f"feedback-{number:04d}"
        record["meta"]["message_id"] = f"message-{number:04d}"
        record["updated_at"] += number
        records[record["id"]] = record
    return records


def expected_live(records: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The scores Langfuse must hold for these records: id -> value."""
    live = {}
    for record in records.values():
        scores, _ = scores_for_feedback(record)
        live.update({score.score_id: score.value for score in scores})
    return live


class World:
    """A fake Open WebUI and the Langfuse contract endpoint, both on real loopback ports, and a state dir."""

    def __init__(self, records: dict[str, dict[str, Any]], state: Path, *, with_ids_route: bool = True) -> None:
        self.openwebui = FakeOpenWebUI(records, token=TOKEN, with_ids_route=with_ids_route)
        self.langfuse_app = langfuse_contract(public_key=PUBLIC_KEY, secret_key=SECRET_KEY)
        self.langfuse: ContractState = self.langfuse_app.state.contract
        self.state = state
        self.openwebui_url = ""
        self.langfuse_url = ""

    def sync(self, *, dry_run: bool = False) -> FeedbackSync:
        return feedback_sync(
            self.openwebui_url,
            TOKEN,
            langfuse_host=self.langfuse_url,
            public_key=PUBLIC_KEY,
            secret_key=SECRET_KEY,
            dry_run=dry_run,
            progress_dir=self.state,
        )

    def live_values(self) -> dict[str, Any]:
        return live_scores(self.langfuse)

    def created(self) -> list[str]:
        return score_calls(self.langfuse, "POST")

    def deleted(self) -> list[str]:
        return score_calls(self.langfuse, "DELETE")

    def fault(self, mode: str, **options: Any) -> None:
        with self.langfuse.lock:
            self.langfuse.fault = FaultMode(mode=mode, **options)

    def environ(self) -> dict[str, str]:
        return {
            **os.environ,
            "OWUI_OTEL_STATE_DIR": str(self.state.parent),
            "LANGFUSE_PUBLIC_KEY": PUBLIC_KEY,
            "LANGFUSE_SECRET_KEY": SECRET_KEY,
            "OWUI_TOKEN": TOKEN,
        }

    def cli(self, *extra: str) -> list[str]:
        return [
            sys.executable, "-m", "owui_otel.cli", "feedback", "sync",
            "--openwebui-url", self.openwebui_url, "--langfuse-host", self.langfuse_url, *extra,
        ]  # fmt: skip


@pytest.fixture
def make_world(tmp_path: Path) -> Iterator[Any]:
    servers: list[ThreadServer] = []

    def make(records: dict[str, dict[str, Any]], **options: Any) -> World:
        world = World(records, tmp_path / "state" / "feedback-sync", **options)
        for attribute, app in (("openwebui_url", world.openwebui.app()), ("langfuse_url", world.langfuse_app)):
            server = ThreadServer(app).__enter__()
            servers.append(server)
            setattr(world, attribute, server.url)
        return world

    yield make
    for server in servers:
        server.__exit__()


def test_first_run_sends_every_score_on_its_turn_and_the_second_run_sends_nothing(make_world: Any) -> None:
    records = fixture_records("17_arena_rating")  # a thumbs-up with 1-10, and an arena rating
    world = make_world(records)
    with world.sync() as sync:
        first = sync.run()
    assert (first.seen, first.sent, first.scores_sent, first.failed) == (2, 2, 4, 0)
    assert world.live_values() == expected_live(records)
    for body in world.langfuse.scores.values():  # on the turn's trace and its GENERATION, ids as Jaeger shows them
        record = records[body["metadata"]["feedback_id"]]
        chat_id, message_id = record["meta"]["chat_id"], record["meta"]["message_id"]
        assert body["traceId"] == turn_trace_id(chat_id, message_id)
        assert body["observationId"] == turn_span_id(chat_id, message_id)

    with world.sync() as sync:
        second = sync.run()
    assert (second.sent, second.deleted, second.unchanged) == (0, 0, 2)
    assert len(world.created()) == 4, "a second run sends nothing"
    assert world.deleted() == []


def test_a_changed_rating_sends_exactly_its_scores_and_deletes_the_score_it_lost(make_world: Any) -> None:
    world = make_world(fixture_records("05_thumbs_down_details"))  # thumbs down, reason, comment, 1-10 = 3
    with world.sync() as sync:
        sync.run()
    before = len(world.created())
    world.openwebui.records = fixture_records("06_update_flip_thumb")  # re-rated thumbs up: 1-10 cleared
    changed = world.openwebui.records["a8aabaa8-5e84-44b8-afae-b647367c9457"]
    with world.sync() as sync:
        report = sync.run()
    assert world.created()[before:] == [score.score_id for score in scores_for_feedback(changed)[0]]
    thumb_id, rating_id = score_ids_for_feedback(changed["id"])
    assert world.deleted() == [rating_id], "the 1-10 score the re-rating cleared is deleted, nothing else"
    assert world.live_values()[thumb_id] == 1
    assert (report.sent, report.unchanged, report.scores_deleted) == (1, 1, 1)


def test_a_change_within_the_same_second_as_the_last_run_is_still_sent(make_world: Any) -> None:
    records = fixture_records("05_thumbs_down_details")
    now = int(time.time())
    for record in records.values():
        record["updated_at"] = now  # Open WebUI's updated_at has whole seconds
    world = make_world(records)
    with world.sync() as sync:
        sync.run()
    changed = world.openwebui.records["a8aabaa8-5e84-44b8-afae-b647367c9457"]
    changed["data"]["details"]["rating"] = 9  # changed again in that same second: updated_at stays
    with world.sync() as sync:
        report = sync.run()
    assert (report.sent, report.unchanged) == (1, 1)
    assert world.live_values() == expected_live(world.openwebui.records)
    with world.sync() as sync:
        assert sync.run().sent == 0, "read again while recent, but sent only when it differs"


def test_feedbacks_gone_from_open_webui_have_their_scores_deleted(make_world: Any) -> None:
    world = make_world(fixture_records("07_update_comment"))
    with world.sync() as sync:
        sync.run()
    world.openwebui.records = fixture_records("08_delete_one")  # the admin deleted the thumbs-up
    with world.sync() as sync:
        report = sync.run()
    assert report.deleted == 1
    assert world.live_values() == expected_live(fixture_records("08_delete_one"))
    world.openwebui.records = {}  # "delete all": its event names no ids, the sync still finds them gone
    with world.sync() as sync:
        sync.run()
    assert world.live_values() == {}


def test_older_open_webui_without_the_ids_route_is_read_from_the_export(make_world: Any) -> None:
    records = fixture_records("11_user_thumbs_down_details")
    world = make_world(records, with_ids_route=False)
    with world.sync() as sync:
        report = sync.run()
    assert report.sent == 2
    assert world.live_values() == expected_live(records)
    assert not any(path.startswith("/api/v1/evaluations/feedback/") for path in world.openwebui.requests)


def test_bad_records_are_counted_with_their_reason_and_never_stop_the_run(make_world: Any) -> None:
    records = fixture_records("18_api_feedback_without_rating")  # one API feedback without any rating
    no_message = copy.deepcopy(next(iter(fixture_records("07_update_comment").values())))
    no_message["id"], no_message["meta"] = "no-message-id", {"chat_id": "c"}
    garbage = {
        "id": "garbage",
        "user_id": ADMIN_ID,
        "type": "rating",
        "data": None,
        "meta": None,
        "created_at": 1,
        "updated_at": 1,
    }
    records |= {"no-message-id": no_message, "garbage": garbage}
    world = make_world(records)
    with world.sync() as sync:
        report = sync.run()
    assert report.failed == 0
    assert sum(report.skipped.values()) == 3, report.skipped
    assert any("rating" in reason for reason in report.skipped)
    assert world.live_values() == expected_live(records), "the good records are all sent"
    with world.sync() as sync:
        again = sync.run()
    assert again.sent == 0 and sum(again.skipped.values()) == 3, "skipped ones are not retried until they change"


def test_langfuse_down_mid_run_loses_nothing_and_the_next_run_sends_the_rest(make_world: Any) -> None:
    records = many_records(10)
    world = make_world(records)
    world.fault("unavailable", remaining=6)  # six requests get a 503 (the langfuse client retries some itself)
    with world.sync() as sync:
        report = sync.run()
    failed = report.failed
    assert 0 < failed < 10 and report.sent == 10 - failed
    with world.sync() as sync:
        report = sync.run()
    assert (report.sent, report.unchanged, report.failed) == (failed, 10 - failed, 0)
    assert world.live_values() == expected_live(records)
    assert Counter(world.created()).most_common(1)[0][1] == 1, "nothing sent twice"


def test_a_run_killed_mid_way_resumes_without_loss_or_duplicates(make_world: Any) -> None:
    records = many_records(12)
    world = make_world(records)
    run = subprocess.Popen(world.cli(), env=world.environ(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until(lambda: len(world.created()) >= 10, timeout=60, interval=0.01, what="five deliveries")
        world.fault("slow", delay=2.0)  # Langfuse stops answering: the run hangs on its next delivery
        time.sleep(0.5)
    finally:
        run.kill()
        run.wait(timeout=30)
    delivered_before_kill = len(world.created())
    assert delivered_before_kill < 24, "killed mid-run"
    world.fault("ok")  # the killed run's last request may still be taken (after the delay), as with Langfuse
    rerun = subprocess.run(world.cli(), env=world.environ(), capture_output=True, text=True, timeout=120)
    assert rerun.returncode == 0, rerun.stderr
    assert world.live_values() == expected_live(records), "nothing lost"
    sent_twice = [score_id for score_id, count in Counter(world.created()).items() if count > 1]
    assert len(sent_twice) <= 2, "at most the one feedback in flight at the kill is sent again (an overwrite)"
    assert TOKEN not in rerun.stdout + rerun.stderr
    assert f"{12 - delivered_before_kill // 2} sent" in rerun.stdout or sent_twice, rerun.stdout


def test_concurrent_runs_send_each_score_once(make_world: Any) -> None:
    records = many_records(15)
    world = make_world(records)
    runs = [
        subprocess.Popen(world.cli(), env=world.environ(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(3)
    ]
    outputs = [run.communicate(timeout=120) for run in runs]
    assert [run.returncode for run in runs] == [0, 0, 0], outputs
    assert world.live_values() == expected_live(records)
    assert len(world.created()) == 30, "each of the 30 scores exactly once"


def test_threads_of_one_process_share_one_sync_safely(make_world: Any) -> None:
    records = many_records(6)
    world = make_world(records)
    with world.sync() as sync:
        threads = [threading.Thread(target=sync.run) for _ in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
    assert sorted(world.created()) == sorted(expected_live(records)), "each score once"


def test_dry_run_sends_nothing_and_remembers_nothing(make_world: Any) -> None:
    records = fixture_records("07_update_comment")
    world = make_world(records)
    with world.sync(dry_run=True) as sync:
        report = sync.run()
    assert (report.sent, report.scores_sent) == (2, 3)
    assert world.created() == []
    with world.sync() as sync:
        assert sync.run().sent == 2


def test_progress_files_are_private(make_world: Any) -> None:
    world = make_world(fixture_records("07_update_comment"))
    with world.sync() as sync:
        sync.run()
    files = list(world.state.iterdir())
    assert files and all(path.stat().st_mode & 0o777 == 0o600 for path in files), files
    assert world.state.stat().st_mode & 0o777 == 0o700
    assert not any(TOKEN in path.read_text() for path in files if path.is_file())


def test_cli_errors_are_one_line_and_never_show_the_token(make_world: Any) -> None:
    world = make_world(fixture_records("07_update_comment"))
    wrong = subprocess.run(
        world.cli("--token", "wrong-token-xyz"), env=world.environ(), capture_output=True, text=True, timeout=60
    )
    assert wrong.returncode == 1
    assert (
        wrong.stderr.count("\n") == 1
        and "owui-otel feedback sync: error: --token / OWUI_TOKEN: Open WebUI refused the token" in wrong.stderr
    )
    assert "wrong-token-xyz" not in wrong.stderr + wrong.stdout
    environ = {k: v for k, v in world.environ().items() if not k.startswith("LANGFUSE_")}
    missing = subprocess.run(world.cli(), env=environ, capture_output=True, text=True, timeout=60)
    assert missing.returncode == 2 and "$LANGFUSE_PUBLIC_KEY" in missing.stderr
    down = subprocess.run(
        world.cli()[:-2] + ["--langfuse-host", "http://127.0.0.1:9"],
        env=world.environ(), capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert down.returncode == 1 and "retried on the next run" in down.stdout, down.stdout + down.stderr


def test_with_an_otlp_endpoint_each_delivered_score_is_an_evaluation_in_its_turns_trace(make_world: Any) -> None:
    records = fixture_records("17_arena_rating")
    world = make_world(records)
    with OtlpSink() as sink:
        run = subprocess.run(
            world.cli("--otlp-endpoint", sink.endpoint), env=world.environ(), capture_output=True, text=True, timeout=60
        )
        assert run.returncode == 0, run.stderr
        spans = sink.wait_for(4)
    assert len(spans) == 4
    expected = {
        (turn_trace_id(r["meta"]["chat_id"], r["meta"]["message_id"]), turn_span_id(r["meta"]["chat_id"],
         r["meta"]["message_id"]), score.name, score.value)
        for r in records.values() for score in scores_for_feedback(r)[0]
    }  # fmt: skip
    got = {
        (span.trace_id, span.parent_span_id, span.attributes["gen_ai.evaluation.name"],
         span.attributes["gen_ai.evaluation.score.value"])
        for span in spans
    }  # fmt: skip
    assert got == expected
    assert all(span.resource["service.name"] == "open-webui" for span in spans)
    with OtlpSink() as sink:  # a second run delivers nothing, so it records no evaluation either
        subprocess.run(world.cli("--otlp-endpoint", sink.endpoint), env=world.environ(), check=True, timeout=60)
        assert sink.spans == [], "(the run flushed its spans before it exited)"


def test_every_keeps_syncing_and_outlives_an_open_webui_outage(make_world: Any) -> None:
    records = fixture_records("03_thumbs_up")
    world = make_world(records)
    run = subprocess.Popen(
        world.cli("--every", "0.2"), env=world.environ(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        wait_until(lambda: world.live_values() == expected_live(records), timeout=60, what="the first sync")
        world.openwebui.token = "rotated"  # refused for a while: reported, not fatal
        wait_until(lambda: world.openwebui.requests.count("/api/v1/evaluations/feedbacks/all/ids") >= 4, timeout=60)
        world.openwebui.token = TOKEN
        world.openwebui.records = fixture_records("07_update_comment")
        wait_until(
            lambda: world.live_values() == expected_live(world.openwebui.records), timeout=60, what="a later sync"
        )
        assert run.poll() is None, "still running"
    finally:
        run.terminate()
        out, err = run.communicate(timeout=30)
    assert "Open WebUI refused the token" in err and "trying again" in err
    assert TOKEN not in out + err


def test_every_must_be_positive(make_world: Any) -> None:
    world = make_world({})
    run = subprocess.run(world.cli("--every", "0"), env=world.environ(), capture_output=True, text=True, timeout=60)
    assert run.returncode == 2 and "--every: 0 is not a positive number" in run.stderr

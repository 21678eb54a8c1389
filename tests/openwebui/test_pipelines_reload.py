# SPDX-License-Identifier: Apache-2.0
"""A Pipelines reload never splits or loses a turn in flight (issue 8, finding 9).

Upstream's ``reload()`` (upload, add-from-URL, delete, reload through Open WebUI's Admin >
Pipelines) awaits ``on_shutdown`` on every instance, re-imports every file and awaits
``on_startup``. The contract double (tests/support/pipelines_double.py) reloads the same way and
loads the generated file as upstream does (not registered in ``sys.modules``).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.responses import Response

from tests.support.otlp_sink import OtlpSink, ReceivedSpan
from tests.support.owui_hosts import BUNDLE
from tests.support.pipelines_double import create_app
from tests.support.scenarios import load
from tests.support.servers import ThreadServer

pytestmark = pytest.mark.integration

API_KEY = "pipelines-key-reload"
AUTH = {"Authorization": f"Bearer {API_KEY}"}
FILTER_ID = BUNDLE.stem
PAUSE_S = 0.5  # between inlet and outlet: the span must cover it, not be a 0-ms orphan
INLET = load("pipelines_ui_stream_turn1_inlet.json")
OUTLET = load("pipelines_ui_stream_turn1_outlet.json")
MESSAGE_ID = INLET["body"]["metadata"]["message_id"]


@pytest.fixture(autouse=True)
def _fast_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "100")


@pytest.fixture
def sink() -> Iterator[OtlpSink]:
    with OtlpSink() as receiver:
        yield receiver


@pytest.fixture
def directory(tmp_path: Path, sink: OtlpSink) -> Path:
    """A PIPELINES_DIR holding the generated filter, its valves saved pointing at the sink."""
    directory = tmp_path / "pipelines"
    (directory / FILTER_ID).mkdir(parents=True)
    shutil.copy(BUNDLE, directory / BUNDLE.name)
    (directory / FILTER_ID / "valves.json").write_text(json.dumps({"otlp_endpoint": sink.endpoint}))
    return directory


def _threads(prefix: str) -> int:
    return sum(1 for thread in threading.enumerate() if thread.name.startswith(prefix))


def _wait(condition: Any, what: str, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def _main_spans(sink: OtlpSink) -> list[ReceivedSpan]:
    return [s for s in sink.spans if s.attributes.get("openwebui.message.id") == MESSAGE_ID]


def _hook(server: ThreadServer, hook: str, recorded: dict[str, Any]) -> None:
    response = httpx.post(f"{server.url}/{FILTER_ID}/filter/{hook}", json=recorded, timeout=10)
    assert response.status_code == 200 and response.json() == recorded["body"]


def _reload_by(how: str, server: ThreadServer, directory: Path) -> None:
    if how == "reload":
        response = httpx.post(f"{server.url}/pipelines/reload", headers=AUTH, timeout=30)
    elif how == "upload":  # the same file again: what an upgrade or `owui-otel install pipelines` does
        files = {"file": (BUNDLE.name, BUNDLE.read_bytes(), "text/x-python")}
        response = httpx.post(f"{server.url}/pipelines/upload", headers=AUTH, files=files, timeout=30)
    else:  # add from URL: another filter file arrives, and every file is reloaded
        host = FastAPI()

        @host.get("/other_filter.py")
        def other() -> Response:
            return Response(BUNDLE.read_bytes(), media_type="text/x-python")

        with ThreadServer(host) as files_server:
            response = httpx.post(
                f"{server.url}/pipelines/add", headers=AUTH, json={"url": f"{files_server.url}/other_filter.py"}
            )
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("how", ["reload", "upload", "add"])
def test_a_reload_between_inlet_and_outlet_keeps_one_whole_turn(how: str, directory: Path, sink: OtlpSink) -> None:
    batch_threads = _threads("OtelBatch")
    grace_threads = _threads("otel_filter-handover-grace")  # other tests' timers may still run out in this process
    app = create_app(api_key=API_KEY, directory=directory)
    with ThreadServer(app) as server:
        before = app.state.pipelines[FILTER_ID]
        _hook(server, "inlet", INLET)
        time.sleep(PAUSE_S)
        _reload_by(how, server, directory)
        after = app.state.pipelines[FILTER_ID]
        assert after is not before and type(after) is not type(before)  # a fresh import of the file
        _hook(server, "outlet", OUTLET)

        (span,) = sink.wait_for(1)
        assert _main_spans(sink) == [span]
        assert span.attributes["openwebui.turn.end_reason"] == "outlet"
        assert "error.type" not in span.attributes
        assert (span.end_ns - span.start_ns) / 1e9 >= PAUSE_S  # inlet to outlet, not a 0-ms orphan
        assert span.attributes["gen_ai.usage.output_tokens"] == 8  # the outlet's figures on the inlet's turn
        assert after.health.get("orphan_outlets") == 0 and after.health.get("turns_ended") == 1
        assert before.health.get("turns_abandoned_shutdown") == 0
        # The replaced instance's core is retired: no grace timer, no exporter thread left behind.
        live = len(app.state.pipelines)  # one core (and one batch thread) per loaded filter, once started
        _wait(lambda: _threads("otel_filter-handover-grace") <= grace_threads, "the grace timer was not cancelled")
        _wait(lambda: _threads("OtelBatch") <= batch_threads + live, "an old exporter thread is left")
        _wait(lambda: _threads("otel_filter-retire") == 0, "the retiring thread did not finish")
    # The server stopped (on_shutdown parked the live cores): nothing adopts them; end them as a process exit does.
    after.end_parked_turns()
    time.sleep(0.5)
    assert len(_main_spans(sink)) == 1  # and nothing more came of the turn


def test_a_deleted_filter_ends_its_open_turn_once_after_the_grace_period(directory: Path, sink: OtlpSink) -> None:
    grace_s = 3.0
    grace_threads = _threads("otel_filter-handover-grace")  # other tests' timers may still run out in this process
    app = create_app(api_key=API_KEY, directory=directory)
    with ThreadServer(app) as server:
        pipeline = app.state.pipelines[FILTER_ID]
        pipeline.handover_grace_s = grace_s
        _hook(server, "inlet", INLET)
        deleted_at = time.monotonic()
        response = httpx.request(
            "DELETE", f"{server.url}/pipelines/delete", headers=AUTH, json={"id": FILTER_ID}, timeout=30
        )
        assert response.status_code == 200, response.text
        assert FILTER_ID not in app.state.pipelines
        if time.monotonic() - deleted_at < grace_s - 0.5:
            assert _main_spans(sink) == []  # parked: a new instance could still adopt it
        (span,) = sink.wait_for(1, timeout_s=grace_s + 15)
        assert time.monotonic() - deleted_at >= grace_s - 0.1
        assert span.attributes["openwebui.turn.end_reason"] == "shutdown"
        assert span.attributes["error.type"] == "abandoned"
        assert span.status_code == 2  # STATUS_CODE_ERROR
        assert pipeline.health.get("turns_abandoned_shutdown") == 1
        _wait(lambda: _threads("otel_filter-handover-grace") <= grace_threads, "the grace timer thread is left")
        assert pipeline.end_parked_turns() == 0  # nothing parked any more
        time.sleep(0.5)
        assert len(_main_spans(sink)) == 1  # exactly once


def test_turns_parked_at_process_exit_are_ended_and_flushed(sink: OtlpSink, tmp_path: Path) -> None:
    """A real shutdown of the Pipelines server: on_shutdown parks, the process exits before the grace period."""
    script = textwrap.dedent(
        f"""
        import asyncio, importlib.util, json
        spec = importlib.util.spec_from_file_location("otel_filter_pipeline", {str(BUNDLE)!r})
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        pipeline = module.Pipeline()
        pipeline.valves = pipeline.Valves(otlp_endpoint={sink.endpoint!r})
        recorded = json.loads({json.dumps(json.dumps(INLET))})

        async def main():
            await pipeline.on_startup()
            await pipeline.inlet(recorded["body"], recorded["user"])
            await pipeline.on_shutdown()

        asyncio.run(main())
        """
    )
    completed = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False
    )
    assert completed.returncode == 0, completed.stderr
    (span,) = sink.wait_for(1)
    assert span.attributes["openwebui.message.id"] == MESSAGE_ID
    assert span.attributes["openwebui.turn.end_reason"] == "shutdown"
    assert span.attributes["error.type"] == "abandoned"

# SPDX-License-Identifier: Apache-2.0
"""`owui-otel traces` against a real collector + Jaeger (as `owui-otel up` runs it): the demo's
3-turn chat sent through the bridge server, a thumbs-up on its first turn, then the terminal tree, before and
after a Jaeger restart; and the one-line error when Jaeger is not there."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from otel_filter.feedback import THUMB_SCORE, Score
from otel_filter.feedback_sink import emit_evaluations
from otel_filter.trace_ids import turn_span_id, turn_trace_id
from owui_otel import DEFAULT_FILTER_ID
from owui_otel._command import command
from owui_otel._demo import DEMO_MODEL, replay, scenarios
from owui_otel._traces import recent_turns
from owui_otel.cli import main
from owui_otel.server import ServerConfig, create_app
from tests.support.servers import ThreadServer
from tests.support.stack import Stack

pytestmark = pytest.mark.integration

BRIDGE_KEY = "traces-bridge-key-51c0"


def _rate(stack: Stack, chat_id: str, message_id: str) -> None:
    """A thumbs-up on the turn, as the Event function / `feedback sync` records it: a span under the turn's span."""
    provider = TracerProvider(resource=Resource.create({"service.name": "open-webui"}))
    provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=stack.otlp_http_traces_url)))
    score = Score(
        score_id="s-1",
        trace_id=turn_trace_id(chat_id, message_id),
        observation_id=turn_span_id(chat_id, message_id),
        name=THUMB_SCORE,
        value=1,
        data_type="NUMERIC",
        comment=None,
        metadata={},
        feedback_id="f-1",
        updated_at=None,
    )
    assert emit_evaluations(provider.get_tracer("test"), [score], explanation=False) == 1
    provider.shutdown()


def _traces(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(["traces", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_a_chat_shows_as_a_tree_with_its_tasks_and_rating(
    stack_factory: Callable[..., Stack],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("OWUI_OTEL_STATE_DIR", str(tmp_path / "no-stack"))  # never read a developer's own stack
    monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "200")
    stack = stack_factory(jaeger=True)
    (tmp_path / "bridge").mkdir()
    (tmp_path / "bridge" / "valves.json").write_text(json.dumps({"otlp_endpoint": stack.otlp_http_endpoint}))
    chat = scenarios()[:3]  # the demo's 3-turn chat (turn 1 with its title/tags/follow-up tasks)
    outlets = [next(s.payload for s in scenario.steps if s.hook == "outlet") for scenario in chat]
    chat_id = outlets[0]["body"]["chat_id"]
    message_ids = [outlet["body"]["id"] for outlet in outlets]
    app = create_app(ServerConfig(api_key=BRIDGE_KEY, data_dir=tmp_path / "bridge"))
    with ThreadServer(app) as bridge:
        with httpx.Client(base_url=bridge.url, headers={"Authorization": f"Bearer {BRIDGE_KEY}"}) as client:
            for scenario in chat:
                replay(client, DEFAULT_FILTER_ID, scenario)
        _rate(stack, chat_id, message_ids[0])
        expected = {turn_trace_id(chat_id, message_id) for message_id in message_ids}
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            roots = recent_turns(stack.jaeger_query_url, chat_id=chat_id, last=50)
            rated = [r for r in roots if any(c.name.startswith("evaluation ") for c in r.children)]
            if expected <= {r.trace_id for r in roots if r.name.startswith("chat ")} and rated:
                break
            time.sleep(0.5)
        else:
            raise AssertionError(f"Jaeger never showed the chat's 3 rated turns\n{stack.logs()}")

    code, before, _ = _traces(capsys, "--jaeger-url", stack.jaeger_query_url, "--chat", chat_id, "--last", "50")
    assert code == 0
    for trace_id in expected:
        assert f"trace {trace_id}" in before
    turn_lines = [line for line in before.splitlines() if f"  chat {DEMO_MODEL}  trace " in line]
    assert len(turn_lines) == 3, before
    facts = before.splitlines()[before.splitlines().index(turn_lines[0]) + 1]
    assert f"chat {chat_id}" in facts and "out tokens" in facts and "ended: outlet" in facts, before
    assert "user " in facts, before
    assert f"└─ evaluation {THUMB_SCORE}  score 1 (positive)" in before, before

    code, other, _ = _traces(capsys, "--jaeger-url", stack.jaeger_query_url, "--chat", "no-such-chat")
    assert code == 0
    assert other.startswith("no turns for chat no-such-chat in Jaeger at"), other


def test_errors_are_one_line_naming_the_url_or_setting_and_the_fix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("OWUI_OTEL_STATE_DIR", str(tmp_path / "no-stack"))
    code, _, err = _traces(capsys, "--last", "0", "--jaeger-url", "http://127.0.0.1:9")
    assert (code, err) == (
        2,
        "owui-otel traces: error: --last 0: not a number of turns. Fix: give 1 or more, e.g. --last 10\n",
    )
    code, out, err = _traces(capsys, "--jaeger-url", "http://127.0.0.1:9")
    assert code == 1 and out == ""
    assert err == (
        "owui-otel traces: error: Jaeger query API at http://127.0.0.1:9: does not answer (ConnectError). Fix: "
        f"{command('up')} starts the local stack, or pass --jaeger-url of yours. Until then: no traces to show\n"
    )
    code, out, err = _traces(capsys)
    assert code == 1
    assert err == (
        f"owui-otel traces: error: {tmp_path}/no-stack/stack/stack.json: no running stack found. Fix: "
        f"{command('up')} starts one (or pass --jaeger-url of yours). Until then: there is nothing to read traces "
        "from\n"
    )

    # Something answers HTTP there, but it is not Jaeger's query API.
    with ThreadServer(create_app(ServerConfig(api_key=BRIDGE_KEY, data_dir=tmp_path / "bridge"))) as not_jaeger:
        code, out, err = _traces(capsys, "--jaeger-url", not_jaeger.url)
    assert code == 1 and out == ""
    assert err.startswith(f"owui-otel traces: error: Jaeger query API at {not_jaeger.url}: answered 40"), err
    assert "Fix: give Jaeger's query port (16686 by default)" in err, err

    # A damaged stack state is named with its fix; --jaeger-url does not need it.
    (tmp_path / "no-stack" / "stack").mkdir(parents=True)
    (tmp_path / "no-stack" / "stack" / "stack.json").write_text("{not json", encoding="utf-8")
    code, _, err = _traces(capsys)
    assert code == 1 and "stack.json: the stack's state file is damaged" in err and "delete the file" in err, err
    code, _, err = _traces(capsys, "--jaeger-url", "http://127.0.0.1:9")
    assert code == 1 and "does not answer" in err, err

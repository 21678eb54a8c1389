# SPDX-License-Identifier: Apache-2.0
"""The README's first command, exactly as a newcomer types it: `make demo`.

It must end with the stack running and the demo's traces readable from Jaeger's API; `make down`
must then leave no process of the stack behind. State and data go to a temporary directory and
every port is a free one (``UP_ARGS``), so a developer's own stack, say the one the README's
`make demo` left running, is untouched (the binaries come from the normal cache).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from collector._process import free_port
from owui_otel._demo import DEMO_MODEL
from owui_otel._stack import StackOptions

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
README = (REPO / "README.md").read_text(encoding="utf-8")


def _quickstart_commands() -> list[str]:
    """The two commands in the README's quick start block (first: main job, second: tests)."""
    block = re.search(r"## Quick start.*?```(?:bash|sh)?\n(.*?)```", README, re.S)
    assert block, "README has no '## Quick start' code block"
    commands = [line.split("#", 1)[0].strip() for line in block.group(1).splitlines()]
    return [c for c in commands if c]


def test_readme_quick_start_names_the_main_job_and_the_test_command() -> None:
    commands = _quickstart_commands()
    assert commands[:2] == ["make demo", "make test"]
    assert "make test" in (REPO / ".ci" / "run").read_text()  # CI runs the README's test command


@pytest.fixture
def isolated_env(tmp_path: Path) -> Iterator[dict[str, str]]:
    env = {**os.environ, "OWUI_OTEL_STATE_DIR": str(tmp_path / "state"), "OWUI_OTEL_DATA_DIR": str(tmp_path / "data")}
    env.pop("LANGFUSE_HOST", None)
    yield env
    subprocess.run(["make", "down"], cwd=REPO, env=env, capture_output=True, timeout=120)


def test_first_command_leaves_a_running_stack_with_demo_traces_and_down_cleans_up(
    isolated_env: dict[str, str], tmp_path: Path
) -> None:
    main_job = _quickstart_commands()[0]
    ports = " ".join(f"--{name.replace('_', '-')} {free_port()}" for name in StackOptions().ports())
    done = subprocess.run(
        [*main_job.split(), f"UP_ARGS={ports}"],
        cwd=REPO,
        env=isolated_env,
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "Traces in Jaeger:" in done.stdout

    state = json.loads((tmp_path / "state" / "stack" / "stack.json").read_text())
    pids = [p["pid"] for p in state["processes"]]
    assert {p["name"] for p in state["processes"]} == {"supervisor", "jaeger", "prometheus", "collector", "bridge"}
    assert all(Path(f"/proc/{pid}").exists() for pid in pids)  # still running after the command returned

    # Every trace link the demo printed is readable from Jaeger's API, with the GenAI span in it.
    links = re.findall(r"(http://127\.0\.0\.1:\d+/api/traces/[0-9a-f]{32})", done.stdout)
    assert len(links) == 6
    operations = set()
    for link in links:
        trace = httpx.get(link, timeout=10).json()["data"][0]
        # The turn's span is the root; turn 1's title/tags/follow-up tasks are its children in the same trace.
        (span,) = [s for s in trace["spans"] if not s.get("references")]
        tags = {t["key"]: t["value"] for t in span["tags"]}
        assert tags["gen_ai.operation.name"] == "chat"
        assert "gen_ai.input.messages" not in tags  # content is stripped on the way to Jaeger
        if "gen_ai.usage.output_tokens" in tags:  # a turn with usage is priced (the demo plays gpt-4o-mini)
            assert tags["gen_ai.usage.cost"] > 0, tags
        operations.add(span["operationName"])
    assert operations == {f"chat {DEMO_MODEL}"}
    assert len(re.findall(r" tokens, \$0\.\d+, ", done.stdout)) == 4, done.stdout  # the summaries show the cost

    # The demo's usage, read back from Prometheus with PromQL: one model, one (fresh) user, all 6 turns, and the
    # tokens the turn summaries (from Jaeger) show.
    shown_tokens = [(int(i), int(o)) for i, o in re.findall(r"(\d+) in / (\d+) out tokens", done.stdout)]
    rows = re.findall(r"^    (\S+) +(\d+) turn\(s\), ([\d,]+) input \+ ([\d,]+) output tokens, \$", done.stdout, re.M)
    usage = [(name, *(int(n.replace(",", "")) for n in numbers)) for name, *numbers in rows]
    totals = (6, sum(i for i, _ in shown_tokens), sum(o for _, o in shown_tokens))
    assert [row[1:] for row in usage] == [totals, totals], done.stdout[-2000:]  # per model, then per user
    assert usage[0][0] == DEMO_MODEL, usage

    # The printed `owui-otel traces` commands work as pasted (from the venv) and show the demo's turns.
    trace_ids = [link.rsplit("/", 1)[1] for link in links]
    chat_commands = re.findall(r"owui-otel traces --chat \S+", done.stdout)
    assert len(chat_commands) == 5, done.stdout  # every turn but the API call's (it has no chat id)
    three_turn_chat = max(set(chat_commands), key=chat_commands.count)
    shown = _owui_otel(isolated_env, three_turn_chat.split()[1:])
    assert len(re.findall(rf"  chat {DEMO_MODEL}  trace ", shown)) == 3, shown
    assert all(f"trace {trace_id}" in shown for trace_id in trace_ids[:3]), shown  # the chat's turns: printed first

    down = subprocess.run(["make", "down"], cwd=REPO, env=isolated_env, capture_output=True, text=True, timeout=120)
    assert down.returncode == 0, down.stderr
    for pid in pids:
        cmdline = Path(f"/proc/{pid}/cmdline")
        assert not cmdline.exists() or cmdline.read_bytes() == b"", f"pid {pid} still runs"
    assert not (tmp_path / "state" / "stack" / "stack.json").exists()


def _owui_otel(env: dict[str, str], args: list[str]) -> str:
    done = subprocess.run(
        [str(REPO / ".venv" / "bin" / "owui-otel"), *args], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout

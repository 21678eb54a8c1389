# SPDX-License-Identifier: Apache-2.0
"""The local trace UI (Phoenix, started by `owui-otel up`), looked at the way a person does: in a browser.

One real stack (`start_stack`: Jaeger, Phoenix, the collector, the bridge; state, data and ports of its own) gets the
demo's turns (`run_demo`, the recorded Open WebUI requests through the bridge). Debian's headless Chromium
(`make browser`; driven by selenium) opens the link the demo prints for the first turn and must find the turn's
model, its token usage (the numbers Jaeger got) and its messages on the page. The screenshot it takes is the
README's: `OWUI_OTEL_UPDATE_SCREENSHOT=1 .venv/bin/pytest tests/cli/test_trace_ui.py` writes docs/trace-ui.png.
Then the stack goes `down` and `up`: Phoenix still has the turn.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait

from collector._backends.phoenix import PHOENIX_PROJECT
from collector._process import free_port
from otel_filter.semconv import GEN_AI_REQUEST_MODEL, GEN_AI_USAGE_INPUT_TOKENS, GEN_AI_USAGE_OUTPUT_TOKENS
from owui_otel._demo import DemoReport, run_demo, scenarios
from owui_otel._doctor import OK, DoctorInputs, check_synthetic_turn
from owui_otel._phoenix import phoenix_has_trace, phoenix_trace_url
from owui_otel._stack import StackOptions, StackState, start_stack, stop_stack

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
SCREENSHOT = REPO / "docs" / "trace-ui.png"
UPDATE_SCREENSHOT = "OWUI_OTEL_UPDATE_SCREENSHOT"
CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
PAGE_TIMEOUT_S = 90


@dataclass
class TraceUiStack:
    options: StackOptions
    state: StackState
    demo: DemoReport


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TraceUiStack]:
    root = tmp_path_factory.mktemp("trace-ui")
    with pytest.MonkeyPatch.context() as environment:  # `up` keeps its state and data under root
        environment.setenv("OWUI_OTEL_STATE_DIR", str(root / "state"))
        environment.setenv("OWUI_OTEL_DATA_DIR", str(root / "data"))
        environment.delenv("LANGFUSE_HOST", raising=False)
        ports: dict[str, Any] = {name: free_port() for name in StackOptions().ports()}
        options = StackOptions(**ports)
        state = start_stack(options, progress=print)
        try:
            urls = state.urls
            demo = run_demo(urls["bridge"], state.api_key, urls["jaeger"], phoenix_url=urls["phoenix"], progress=print)
            yield TraceUiStack(options, state, demo)
        finally:
            stop_stack()


@pytest.fixture
def browser() -> Iterator[WebDriver]:
    missing = [str(path) for path in (CHROMIUM, CHROMEDRIVER) if not path.exists()]
    assert not missing, f"{', '.join(missing)} missing: run `make browser` (Debian's chromium and chromium-driver)"
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1600,900"):
        options.add_argument(argument)  # --no-sandbox: CI runs as root, where Chromium's sandbox refuses to start
    driver = webdriver.Chrome(options=options, service=Service(str(CHROMEDRIVER)))
    try:
        yield driver
    finally:
        driver.quit()


def _jaeger_turn(jaeger_url: str, trace_id: str) -> tuple[str, dict[str, str]]:
    """The turn span's id and tags (as text) as Jaeger stores them (the root of its trace)."""
    trace = httpx.get(f"{jaeger_url}/api/traces/{trace_id}", timeout=10).json()["data"][0]
    (root,) = [span for span in trace["spans"] if not span.get("references")]
    return root["spanID"], {tag["key"]: str(tag["value"]) for tag in root["tags"]}


def _first_turn_messages() -> tuple[str, str]:
    """The user's message and the model's reply of the demo's first turn, as the recorded requests carry them."""
    steps = scenarios()[0].steps
    inlet = next(s for s in steps if s.hook == "inlet" and not (s.payload["body"].get("metadata") or {}).get("task"))
    outlet = next(s for s in steps if s.hook == "outlet")
    return inlet.payload["body"]["messages"][-1]["content"], outlet.payload["body"]["messages"][-1]["content"]


def _text(driver: WebDriver, xpath: str) -> str:
    return "\n".join(element.text for element in driver.find_elements(By.XPATH, xpath))


def test_a_demo_turn_opens_in_phoenix_with_its_model_usage_and_messages(
    stack: TraceUiStack, browser: WebDriver, tmp_path: Path
) -> None:
    turn = stack.demo.turns[0]
    trace_id = turn.trace_ids[0]
    span_id, facts = _jaeger_turn(stack.state.urls["jaeger"], trace_id)
    model, input_tokens, output_tokens = (
        facts[GEN_AI_REQUEST_MODEL],
        facts[GEN_AI_USAGE_INPUT_TOKENS],
        facts[GEN_AI_USAGE_OUTPUT_TOKENS],
    )
    question, reply = _first_turn_messages()

    browser.get(phoenix_trace_url(stack.state.urls["phoenix"], trace_id))  # the link `make demo` prints
    WebDriverWait(browser, PAGE_TIMEOUT_S).until(lambda driver: reply in _text(driver, "//*[@role='tabpanel']"))
    assert browser.current_url.split("?")[0].endswith(f"/traces/{trace_id}"), browser.current_url
    assert PHOENIX_PROJECT in _text(browser, "//body")  # the project the collector's transform/phoenix names

    # The span's Info view: the model, the user's message and the reply.
    info = next(panel.text for panel in browser.find_elements(By.XPATH, "//*[@role='tabpanel']") if reply in panel.text)
    assert model in info and question in info, info
    # The span's header (kind, name, status, id, time, latency, total tokens, cost) shows the turn's token total.
    header = _text(browser, f"//*[text()='{span_id}']/../../../..").split("\n")
    assert f"chat {model}" in header and str(int(input_tokens) + int(output_tokens)) in header, header
    screenshot = tmp_path / "trace-ui.png"
    assert browser.save_screenshot(str(screenshot)) and screenshot.stat().st_size > 10_000

    # Its Attributes tab: what Phoenix made of the filter's gen_ai.* attributes (prompt and completion tokens).
    next(tab for tab in browser.find_elements(By.XPATH, "//*[@role='tab']") if tab.text == "Attributes").click()
    WebDriverWait(browser, PAGE_TIMEOUT_S).until(
        lambda driver: "llm.token_count.prompt" in _text(driver, "//*[@role='tabpanel']")
    )
    lines = _text(browser, "//*[@role='tabpanel']").split("\n")
    assert lines[lines.index("llm.model_name") + 1] == model
    assert lines[lines.index("llm.token_count.prompt") + 1] == str(input_tokens)
    assert lines[lines.index("llm.token_count.completion") + 1] == str(output_tokens)

    if os.environ.get(UPDATE_SCREENSHOT) == "1":
        SCREENSHOT.parent.mkdir(exist_ok=True)
        shutil.copyfile(screenshot, SCREENSHOT)


def _phoenix_projects(phoenix_url: str) -> dict[str, int]:
    query = "{ projects { edges { node { name traceCount } } } }"
    answer = httpx.post(f"{phoenix_url}/graphql", json={"query": query}, timeout=10).json()
    return {edge["node"]["name"]: edge["node"]["traceCount"] for edge in answer["data"]["projects"]["edges"]}


def test_phoenix_gets_the_turns_and_not_the_bridges_own_http_spans(stack: TraceUiStack) -> None:
    urls = stack.state.urls
    # The bridge's own server spans (`POST /{filter_id}/filter/inlet`, service owui-otel-bridge) reach Jaeger ...
    bridge = httpx.get(f"{urls['jaeger']}/api/traces", params={"service": "owui-otel-bridge", "limit": 5}, timeout=10)
    assert any(
        span["operationName"] == "POST /{filter_id}/filter/inlet"
        for trace in bridge.json()["data"]
        for span in trace["spans"]
    )
    # ... but not Phoenix (filter/phoenix): its one project with traces holds exactly the demo's turns.
    projects = {name: count for name, count in _phoenix_projects(urls["phoenix"]).items() if count}
    assert projects == {PHOENIX_PROJECT: len(stack.demo.turns)}


def _listening_addresses(pid: int) -> set[str]:
    """The ``address:port`` (hex, as /proc/net/tcp{,6} shows it) of every TCP socket the process listens on."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        target = os.readlink(fd) if fd.is_symlink() else ""
        if target.startswith("socket:["):
            inodes.add(target[len("socket:[") : -1])
    listening = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A" and fields[9] in inodes:  # LISTEN
                listening.add(fields[1])
    return listening


def test_phoenix_listens_on_loopback_only(stack: TraceUiStack) -> None:
    status = stack.state.supervisor_status()
    assert status is not None
    (phoenix,) = [child for child in status.children if child.name == "phoenix"]
    assert phoenix.pid is not None
    # Its UI/OTLP-HTTP port on 127.0.0.1 (0100007F), and nothing else: its gRPC receiver would bind [::].
    assert _listening_addresses(phoenix.pid) == {f"0100007F:{stack.options.phoenix_port:04X}"}


def test_the_doctors_synthetic_turn_is_found_in_phoenix_too(stack: TraceUiStack) -> None:
    urls = stack.state.urls
    inputs = DoctorInputs(
        bridge_url=urls["bridge"],
        bridge_api_key=stack.state.api_key,
        jaeger_url=urls["jaeger"],
        phoenix_url=urls["phoenix"],
        synthetic_turn=True,
    )
    (check,) = check_synthetic_turn(inputs)
    assert check.status == OK, check
    assert check.data["found_in"] == ["Jaeger", "Phoenix"] and check.data["missing_in"] == []
    assert phoenix_has_trace(urls["phoenix"], check.data["trace_id"])


def test_phoenix_keeps_the_traces_across_down_and_up(stack: TraceUiStack) -> None:
    trace_ids = [turn.trace_ids[0] for turn in stack.demo.turns]
    assert all(phoenix_has_trace(stack.state.urls["phoenix"], trace_id) for trace_id in trace_ids)
    stop_stack()
    assert not phoenix_has_trace(stack.state.urls["phoenix"], trace_ids[0])  # it is down
    state = start_stack(stack.options)
    assert all(phoenix_has_trace(state.urls["phoenix"], trace_id) for trace_id in trace_ids)

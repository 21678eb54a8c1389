# SPDX-License-Identifier: Apache-2.0
"""The Event function's single file (pipelines/otel_feedback_event.py): generated, current, and an Open WebUI
Function of type ``event`` when loaded the way Open WebUI 0.12.4 loads one."""

from __future__ import annotations

import ast
import asyncio
import inspect
import re
import sys
import types
import uuid
from typing import Any

import pytest

import otel_filter
from otel_filter import bundle
from otel_filter.event_function import EVENT_FUNCTION_NAME
from tests.support.owui_hosts import openwebui_frontmatter

pytestmark = pytest.mark.unit

TEXT = bundle.EVENT_OUTPUT.read_text(encoding="utf-8")


def _load() -> types.ModuleType:
    """As Open WebUI's load_function_module_by_id: exec in a fresh module, removed from sys.modules after."""
    name = f"function_otel_evaluations_{uuid.uuid4().hex}"
    module = types.ModuleType(name)
    sys.modules[name] = module
    try:
        exec(compile(TEXT, str(bundle.EVENT_OUTPUT), "exec"), module.__dict__)
    finally:
        sys.modules.pop(name, None)
    return module


def test_committed_file_is_what_the_generator_produces(tmp_path: Any) -> None:
    assert TEXT == bundle.render_event_function(), "stale: run `python -m otel_filter.bundle` and commit"
    assert bundle.main(["--check"]) == 0
    stale = tmp_path / "event.py"
    stale.write_text(TEXT.replace(EVENT_FUNCTION_NAME, "hand edited", 1))
    assert bundle.main(["--check", "--event-output", str(stale)]) == 1


def test_frontmatter_lists_the_filters_requirements_and_langfuse() -> None:
    frontmatter = openwebui_frontmatter(TEXT)
    assert frontmatter["title"] == EVENT_FUNCTION_NAME
    assert frontmatter["version"] == otel_filter.__version__
    requirements = [r.strip() for r in frontmatter["requirements"].split(",")]
    assert requirements == [*bundle.REQUIREMENTS, "langfuse>=5.0"] == list(bundle.event_function_requirements())


def test_open_webui_sees_an_event_function_only() -> None:
    tree = ast.parse(TEXT)
    classes = {node.name for node in tree.body if isinstance(node, ast.ClassDef)}
    # Open WebUI checks Pipe, Filter and Action before Event (utils/plugin.py): none of them may be here.
    assert "Event" in classes and not classes & {"Pipe", "Filter", "Action", "Pipeline"}
    assert not re.search(r"^\s*(from|import) otel_filter\b", TEXT, re.MULTILINE)  # self-contained
    for phrase in bundle.FORBIDDEN_PHRASES:
        assert phrase not in TEXT


def test_loaded_like_open_webui_it_handles_an_event_and_never_raises() -> None:
    module = _load()
    instance = module.Event()
    assert isinstance(instance.valves, module.Event.Valves)
    handler = instance.event
    assert inspect.iscoroutinefunction(handler)
    parameters = inspect.signature(handler).parameters
    assert "event" in parameters and "__event_name__" in parameters
    assert any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())  # gets every injected name
    schema = module.Event.Valves.model_json_schema()["properties"]
    assert all(field.get("description") for field in schema.values())
    assert schema["langfuse_secret_key"]["input"] == {"type": "password"}
    # Outside Open WebUI the record cannot be read: counted, not raised.
    event = {"event": "feedback.created", "subject": {"type": "feedback", "id": "f-1"}, "data": {"rating": 1}}
    instance._telemetry = None  # noqa: SLF001
    instance.valves = module.Event.Valves(otlp_endpoint="http://127.0.0.1:9")
    assert asyncio.run(handler(event, __event_name__="feedback.created")) is None
    assert instance.counters.get("feedback_event_failed") == 1
    asyncio.run(instance.on_shutdown())

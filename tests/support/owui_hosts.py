# SPDX-License-Identifier: Apache-2.0
"""Load and call the generated filter file exactly as its two hosts do.

Written from the hosts' behaviour as read in open-webui 0.12.4 (``utils/plugin.py``, ``utils/filter.py``) and
open-webui/pipelines (``main.py``); no upstream code is copied.

- Pipelines server: ``spec_from_file_location`` + ``exec_module`` with the module **not** in
  ``sys.modules``; ``module.Pipeline()``; valves overlaid from ``valves.json`` by rebuilding
  ``pipeline.valves.__class__(**{**defaults, **saved})``; hooks awaited with ``(body, user)``.
- Open WebUI Functions: frontmatter parsed (line 1 must be ``\"\"\"``), ``replace_imports`` applied
  to the whole text, exec into a fresh ``types.ModuleType`` registered in ``sys.modules`` only
  while executing, ``module.Filter()``; before **every** hook call ``valves`` is rebuilt from the
  stored dict; a hook receives only the dunder parameters its signature declares; sync or async.
"""

from __future__ import annotations

import importlib.util
import inspect
import re
import sys
import types
import uuid
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
BUNDLE = REPO / "pipelines" / "otel_filter_pipeline.py"

_FRONTMATTER_LINE = re.compile(r"^\s*([a-z_]+):\s*(.*)\s*$", re.IGNORECASE)
_REPLACED_IMPORTS = {
    "from utils": "from open_webui.utils",
    "from apps": "from open_webui.apps",
    "from main": "from open_webui.main",
    "from config": "from open_webui.config",
}


def openwebui_frontmatter(content: str) -> dict[str, str]:
    """Open WebUI's reading: line 1 exactly ``\"\"\"``, then ``key: value`` lines until the next ``\"\"\"``."""
    lines = content.splitlines()
    if not lines or lines[0].strip() != '"""':
        return {}
    result: dict[str, str] = {}
    for line in lines[1:]:
        if '"""' in line:
            break
        match = _FRONTMATTER_LINE.match(line)
        if match:
            result[match.group(1).strip()] = match.group(2).strip()
    return result


def pipelines_frontmatter(content: str) -> dict[str, str]:
    """The Pipelines server's reading: text between the first two ``\"\"\"``, every line with ':'."""
    if not content.startswith('"""'):
        return {}
    end = content.find('"""', 3)
    result: dict[str, str] = {}
    for line in content[3:end].split("\n"):
        if ":" in line:
            key, value = line.split(":", 1)
            result[key.strip().lower()] = value.strip()
    return result


def load_as_pipelines(path: Path = BUNDLE, saved_valves: dict[str, Any] | None = None, **init: Any) -> Any:
    """The ``Pipeline`` instance as the Pipelines server creates it (module not in sys.modules).

    ``init`` (tests only: an in-memory ``tracer_provider``) is passed to ``Pipeline()``.
    """
    name = f"otel_filter_pipeline_{uuid.uuid4().hex[:8]}"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert name not in sys.modules
    pipeline = module.Pipeline(**init)
    if saved_valves is not None:
        valves_model = pipeline.valves.__class__
        pipeline.valves = valves_model(**{**pipeline.valves.model_dump(), **saved_valves})
    return pipeline


def load_as_function(
    path: Path = BUNDLE, function_id: str = "otel_bridge", **init: Any
) -> tuple[Any, types.ModuleType]:
    """The ``Filter`` instance (and module) as Open WebUI creates a Function from stored content.

    ``init`` (tests only: an in-memory ``tracer_provider``) is passed to ``Filter()``.
    """
    content = path.read_text(encoding="utf-8")
    for old, new in _REPLACED_IMPORTS.items():
        content = content.replace(old, new)
    module_name = f"function_{function_id}_{uuid.uuid4().hex}"
    module = types.ModuleType(module_name)
    sys.modules[module_name] = module
    try:
        module.__dict__["__file__"] = str(path)
        exec(compile(content, str(path), "exec"), module.__dict__)
        assert not hasattr(module, "Pipe"), "Open WebUI would load a Pipe class first"
        instance = module.Filter(**init)
    finally:
        sys.modules.pop(module_name, None)
    return instance, module


class FunctionHost:
    """Calls a ``Filter`` like Open WebUI's ``process_filter_function`` (0.12.4)."""

    def __init__(self, instance: Any, function_id: str = "otel_bridge", valves: dict[str, Any] | None = None):
        self.instance = instance
        self.function_id = function_id
        self.stored_valves: dict[str, Any] = dict(valves or {})

    async def call(self, hook: str, payload: Any, extra_params: dict[str, Any]) -> Any:
        handler = getattr(self.instance, hook, None)
        if not callable(handler):
            return payload
        # Valves are rebuilt from the database before every call.
        self.instance.valves = self.instance.Valves(**self.stored_valves)
        signature = inspect.signature(handler)
        params: dict[str, Any] = {"event": payload} if hook == "stream" else {"body": payload}
        params |= {k: v for k, v in {**extra_params, "__id__": self.function_id}.items() if k in signature.parameters}
        if inspect.iscoroutinefunction(handler):
            return await handler(**params)
        return handler(**params)

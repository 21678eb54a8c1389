# SPDX-License-Identifier: Apache-2.0
"""Fixtures for the end-to-end tests against the real Open WebUI (PyPI ``open-webui``).

Open WebUI lives in its own venv, cached outside the repository: ``$OWUI_OTEL_OPENWEBUI_VENV`` if set, else
``<cache>/openwebui-0.12.4-py311`` (``<cache>`` = ``collector.cache_dir()``). When it is missing or incomplete, the
session creates/completes it (``openwebui_binary``, with progress on the terminal): a fresh CI machine needs
PyPI and ~7 GB for that, once. ``OWUI_OTEL_SKIP_E2E=1`` skips these tests instead.

The collector and Jaeger binaries come from the same cached builds as ``tests/collector``
(tests/support/fixtures.py).

    def test_x(openwebui_binary, collector_binary, jaeger_binary, progress): ...

Select or deselect with ``-m e2e`` / ``-m "not e2e"``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from tests.support.fixtures import *  # noqa: F403 (the shared process fixtures, found by name)

from .harness import (
    COLD_TEST_TIMEOUT_S,
    Progress,
    default_openwebui_venv,
    ensure_openwebui_venv,
    openwebui_venv_ready,
)

SKIP_ENV = "OWUI_OTEL_SKIP_E2E"


def _skip_requested() -> bool:
    return os.environ.get(SKIP_ENV, "").strip().lower() in ("1", "true", "yes")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """While the Open WebUI venv still has to be built, the first e2e test's setup builds it: give e2e tests the
    time for that instead of the suite's 600 s (every step inside has its own bound)."""
    e2e = [item for item in items if item.get_closest_marker("e2e") is not None]
    if not e2e or _skip_requested():
        return
    try:
        ready = openwebui_venv_ready(default_openwebui_venv())
    except Exception:  # a bad cache setting: the fixture reports it
        ready = False
    if not ready:
        for item in e2e:
            item.add_marker(pytest.mark.timeout(COLD_TEST_TIMEOUT_S))


@pytest.fixture(scope="session")
def progress(pytestconfig: pytest.Config) -> Progress:
    """Print a line on the terminal now, past pytest's output capture (long steps say what they are doing)."""
    capture = pytestconfig.pluginmanager.getplugin("capturemanager")

    def say(line: str) -> None:
        if capture is None:
            print(f"[e2e] {line}", file=sys.stderr, flush=True)
            return
        with capture.global_and_fixture_disabled():
            print(f"[e2e] {line}", file=sys.stderr, flush=True)

    return say


@pytest.fixture(scope="session")
def openwebui_binary(progress: Progress) -> Path:
    """``bin/open-webui`` of the cached Open WebUI venv, created or completed first when needed."""
    if _skip_requested():
        pytest.skip(f"{SKIP_ENV} is set")
    venv = default_openwebui_venv()
    try:
        return ensure_openwebui_venv(venv, progress=progress)
    except (RuntimeError, TimeoutError, OSError) as error:
        pytest.fail(f"the Open WebUI venv at {venv} is not usable: {error}", pytrace=False)

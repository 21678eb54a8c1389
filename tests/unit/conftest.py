# SPDX-License-Identifier: Apache-2.0
"""Unit-test hygiene: a test that starts an OTLP exporter must also stop it.

A leftover exporter thread keeps retrying in the background (using ``random`` for backoff
jitter, which Hypothesis reports as flaky generation in whatever test runs next).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

_EXPORTER_THREAD_PREFIXES = ("OtelBatch", "otel_filter-retire", "otel_filter-shutdown")


@pytest.fixture(autouse=True)
def exporter_threads_are_stopped() -> Iterator[None]:
    before = {thread.ident for thread in threading.enumerate()}
    yield
    deadline = time.monotonic() + 15
    while True:
        leaked = [
            t.name
            for t in threading.enumerate()
            if t.ident not in before and t.name.startswith(_EXPORTER_THREAD_PREFIXES) and t.is_alive()
        ]
        if not leaked or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert not leaked, f"exporter threads still running after the test: {leaked}"

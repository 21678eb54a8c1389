# SPDX-License-Identifier: Apache-2.0
"""The real collector path for the benchmarks: owui-otelcol with the production Langfuse pipeline -> local sink.

The collector runs the config ``python -m collector config --exporters langfuse`` renders (the same components as
``otel-collector.yaml`` without the Jaeger half): OTLP receiver, ``memory_limiter``, ``filter/langfuse``,
``transform/langfuse``, ``batch``, and the ``otlp_http/langfuse`` exporter (gzip, persistent file-backed sending
queue) pointed at ``benchmarks._sink`` through ``LANGFUSE_HOST``. The sink counts distinct span ids.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from benchmarks._common import Sink
from collector import build_collector, render_config
from tests.support.stack import Stack


@contextmanager
def collector_to_sink() -> Iterator[tuple[Stack, Sink]]:
    """Start the sink and the collector (built or taken from the cache); stop both on exit."""
    binary = build_collector()
    with tempfile.TemporaryDirectory(prefix="owui-otel-bench-") as tmp, Sink() as server:
        workdir = Path(tmp)
        config = workdir / "collector.yaml"
        # Without the usage metrics: these sections measure the traces path (the metrics section compares both).
        config.write_text(render_config(["langfuse"], metrics=False), encoding="utf-8")
        stack = Stack(
            collector_binary=binary,
            workdir=workdir,
            configs=[config],
            langfuse=False,
            env={"LANGFUSE_HOST": server.url, "OTELCOL_LOG_LEVEL": "warn"},
        )
        with stack:
            yield stack, server

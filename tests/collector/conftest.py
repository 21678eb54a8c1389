# SPDX-License-Identifier: Apache-2.0
"""The collector's tests use the shared process fixtures (tests/support/fixtures.py): built binaries, stacks
(collector + optional Jaeger + Langfuse contract endpoint), filter-shaped spans, real filters for the fault tests.

    def test_x(stack_factory, send_spans):
        stack = stack_factory(jaeger=True)                 # started; stopped at teardown
        ids = send_spans(stack.otlp_http_traces_url, count=3)
        stack.wait_for_langfuse_spans(3)
"""

from __future__ import annotations

from tests.support.fixtures import *  # noqa: F403 (the shared process fixtures, found by name)

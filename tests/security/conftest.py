# SPDX-License-Identifier: Apache-2.0
"""The security tests use the shared process fixtures (tests/support/fixtures.py): stacks, real filters, fresh
secret values and measured-number reports."""

from __future__ import annotations

from tests.support.fixtures import (  # noqa: F401 (fixtures, found by name)
    collector_binary,
    jaeger_binary,
    pipelines,
    report,
    rig,
    secret,
    stack_factory,
    stacks,
    turns,
)

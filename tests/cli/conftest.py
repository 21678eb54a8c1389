# SPDX-License-Identifier: Apache-2.0
"""The CLI's tests: ``owui-otel doctor`` runs against real stacks (tests/support/fixtures.py)."""

from __future__ import annotations

from tests.support.fixtures import collector_binary, jaeger_binary, stack_factory  # noqa: F401 (fixtures)

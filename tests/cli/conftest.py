# SPDX-License-Identifier: Apache-2.0
"""The CLI's tests: ``owui-otel doctor`` runs against real stacks (tests/support/fixtures.py)."""

from __future__ import annotations

from tests.support.fixtures import *  # noqa: F403 (the shared process fixtures, found by name)

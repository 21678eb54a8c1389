# SPDX-License-Identifier: Apache-2.0
"""The bridge server's tests: the loop-lag test reports its measured stalls (tests/support/fixtures.py)."""

from __future__ import annotations

from tests.support.fixtures import *  # noqa: F403 (the shared process fixtures, found by name)

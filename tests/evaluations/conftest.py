# SPDX-License-Identifier: Apache-2.0
"""Evaluation tests that start real processes use the shared process fixtures (tests/support/fixtures.py)."""

from __future__ import annotations

from tests.support.fixtures import *  # noqa: F403 (the shared process fixtures, found by name)

# SPDX-License-Identifier: Apache-2.0
"""The security tests use the shared process fixtures (tests/support/fixtures.py): stacks, real filters, fresh
secret values and measured-number reports."""

from __future__ import annotations

from tests.support.fixtures import *  # noqa: F403 (the shared process fixtures, found by name)

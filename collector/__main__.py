# SPDX-License-Identifier: Apache-2.0
"""``python -m collector``: see :mod:`collector.cli`."""

from __future__ import annotations

from .cli import main

raise SystemExit(main())

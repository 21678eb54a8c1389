# SPDX-License-Identifier: Apache-2.0
"""Runs the usage examples in the shipped packages' docstrings as doctests, as unit tests; every test has one tier.

``testpaths`` (pyproject.toml) lists the three packages; this hook collects their modules as doctest modules
(pytest's own ``--doctest-modules`` would also re-collect every test module under ``tests/`` and ``benchmarks/``).
Examples that need processes, the network or Open WebUI are ``::`` blocks without ``>>>`` and are not run.

Test folders are subjects (``tests/filter``, ``tests/collector``...); the tier is a mark the test file sets, e.g.
``pytestmark = pytest.mark.unit`` (``[tool.pytest.ini_options] markers`` lists them). A test with no tier mark, or
two, stops the run at collection: ``pytest -m unit`` would silently skip or double-count it otherwise.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from _pytest.doctest import DoctestItem, DoctestModule

ROOT = Path(__file__).resolve().parent
SHIPPED_PACKAGES = tuple(ROOT / name for name in ("otel_filter", "collector", "owui_otel"))
TIERS = ("unit", "integration", "e2e")


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> DoctestModule | None:
    """Each ``.py`` module of a shipped package (not ``__main__.py``, which runs when imported)."""
    if file_path.suffix == ".py" and file_path.name != "__main__.py":
        if any(file_path.is_relative_to(package) for package in SHIPPED_PACKAGES):
            module: DoctestModule = DoctestModule.from_parent(parent, path=file_path)
            return module
    return None


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Doctests start no process: they are ``unit`` tests (``make test-unit`` runs them). Every other test carries
    exactly one tier mark (``TIERS``) from its file; the error names the files to fix."""
    for item in items:
        if isinstance(item, DoctestItem):
            item.add_marker(pytest.mark.unit)
    wrong = sorted(
        {
            f"{item.nodeid.split('::')[0]}: {tiers or 'none'}"
            for item in items
            if len(tiers := [tier for tier in TIERS if item.get_closest_marker(tier)]) != 1
        }
    )
    if wrong:
        raise pytest.UsageError(
            "each test needs exactly one tier mark of "
            + ", ".join(TIERS)
            + " (e.g. `pytestmark = pytest.mark.unit` in the test file); found: "
            + "; ".join(wrong)
        )

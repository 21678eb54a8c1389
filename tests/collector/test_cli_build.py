# SPDX-License-Identifier: Apache-2.0
"""`python -m collector build` / `build-jaeger` as a user runs them: path on the last stdout line, cache reuse."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from collector._cache import repo_root

pytestmark = pytest.mark.integration


@pytest.mark.parametrize(
    ("command", "fixture", "name"),
    [("build", "collector_binary", "owui-otelcol"), ("build-jaeger", "jaeger_binary", "jaeger")],
)
def test_cached_build_prints_the_path_last_and_is_quick(
    command: str, fixture: str, name: str, request: pytest.FixtureRequest
) -> None:
    built: Path = request.getfixturevalue(fixture)  # ensures the cache is warm (or skips if Go is missing)
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "collector", command],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=repo_root(),
        check=False,
    )
    elapsed = time.monotonic() - started
    assert proc.returncode == 0, proc.stderr
    path = Path(proc.stdout.strip().splitlines()[-1])
    assert path.is_absolute() and path.name == name and path.is_file()
    if built.name == name and "owui-otel" in str(built):
        assert path == built
    assert not path.is_relative_to(repo_root()), "build output never lands in the repository"
    assert "cached" in proc.stderr
    assert elapsed < 30, f"a cached build took {elapsed:.1f}s"
    version_args = ["--version"] if name == "owui-otelcol" else ["version"]
    version = subprocess.run([str(path), *version_args], capture_output=True, text=True, timeout=30, check=False)
    assert version.returncode == 0

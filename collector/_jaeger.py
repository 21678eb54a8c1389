# SPDX-License-Identifier: Apache-2.0
"""Build a Jaeger v2 all-in-one binary from its Go module, cached like the collector.

Why a scratch module and ``go get -tool`` instead of ``go install``: the Jaeger module path has no ``/v2``, so
v2 releases are only reachable through the v1.x tag of the same commit (v1.76.0 = Jaeger v2.13.0), and
``go install ...@v1.76.0`` refuses that module because its go.mod contains a ``replace`` directive. As a
dependency of our own throw-away module the replace is ignored and the build works.

A source build has no UI assets (they come from an npm build of jaeger-ui); the HTTP query API on port 16686
(``/api/traces/{id}``, ``/api/v3/...``) is complete, which is all the tests use.

Usage::

    from collector import build_jaeger
    jaeger = build_jaeger(progress=print)     # Path(".../jaeger/<key>/jaeger")
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from pathlib import Path

from ._artifact import cache_key, finished_artifact, staging_dir, write_stamp
from ._cache import cache_dir
from ._errors import BuildError
from ._go import Progress, find_go, run_streaming

__all__ = ["JAEGER_MODULE", "JAEGER_PACKAGE", "JAEGER_VERSION", "build_jaeger"]

JAEGER_MODULE = "github.com/jaegertracing/jaeger"
JAEGER_PACKAGE = f"{JAEGER_MODULE}/cmd/jaeger"
JAEGER_VERSION = "v1.76.0"
"""Go module version; the same commit as the Jaeger v2.13.0 release."""

_SCRATCH_MODULE = "owui-otel.local/jaeger-tool"


def _quiet(_line: str) -> None:
    """Default progress sink: discard."""


def build_jaeger(
    *,
    version: str = JAEGER_VERSION,
    force: bool = False,
    progress: Progress | None = None,
    cache: Path | None = None,
    env: Mapping[str, str] | None = None,
) -> Path:
    """Build (or reuse) the Jaeger all-in-one binary and return its absolute path.

    Args:
        version: module version of ``github.com/jaegertracing/jaeger``.
        force: rebuild even if cached.
        progress: receives stage lines and Go's output; silent by default.
        cache: cache directory; defaults to :func:`collector._cache.cache_dir`.
        env: environment for Go (defaults to ``os.environ``).

    Raises:
        GoNotFoundError: Go missing or too old.
        BuildError: ``go get`` or ``go build`` failed.
    """
    say = progress or _quiet
    go = find_go(env)
    root = cache or cache_dir(None if env is None else dict(env))
    key = cache_key(JAEGER_PACKAGE.encode(), version.encode(), go.version_string.encode())
    parent = root / "jaeger"
    done = finished_artifact(parent / key, "jaeger")
    if done is not None and not force:
        say(f"==> cached jaeger {version} ({go.version_string}): {done}")
        return done
    child_env = dict(os.environ if env is None else env)
    # CGO off: a static binary that runs anywhere, and no C toolchain needed.
    child_env.setdefault("CGO_ENABLED", "0")
    started = time.monotonic()
    with staging_dir(parent, key) as tmp:
        src = tmp / "src"
        src.mkdir()
        gobin = str(go.path)
        say(f"==> creating scratch Go module in {src}")
        run_streaming([gobin, "mod", "init", _SCRATCH_MODULE], progress=say, cwd=src, env=child_env, what="go mod init")
        say(f"==> resolving {JAEGER_PACKAGE}@{version} (first run downloads several hundred modules)")
        run_streaming(
            [gobin, "get", "-tool", f"{JAEGER_PACKAGE}@{version}"],
            progress=say,
            cwd=src,
            env=child_env,
            what="go get -tool jaeger",
        )
        say(f"==> compiling jaeger with {go.version_string} (cold builds take several minutes)")
        run_streaming(
            [gobin, "build", "-trimpath", "-ldflags=-s -w", "-o", str(tmp / "jaeger"), JAEGER_PACKAGE],
            progress=say,
            cwd=src,
            env=child_env,
            what="go build jaeger",
        )
        elapsed = round(time.monotonic() - started, 1)
        write_stamp(
            tmp,
            {
                "binary": "jaeger",
                "module": f"{JAEGER_PACKAGE}@{version}",
                "go": go.version_string,
                "key": key,
                "seconds": elapsed,
            },
        )
        say(f"==> built jaeger in {elapsed}s")
    done = finished_artifact(parent / key, "jaeger")
    if done is None:
        raise BuildError(f"build finished but {parent / key / 'jaeger'} is not usable; rerun with --force")
    return done

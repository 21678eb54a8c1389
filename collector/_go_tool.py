# SPDX-License-Identifier: Apache-2.0
"""Build one command of a Go module from the Go module proxy into the cache (Jaeger, Prometheus).

Why a scratch module and ``go get -tool`` instead of ``go install``: ``go install pkg@version`` refuses a module
whose go.mod has ``replace`` directives (Jaeger's does); as a dependency of a throw-away module the replace is
ignored and the build works. CGO is off: a static binary that runs anywhere, and no C toolchain needed.

Usage::

    from collector._go_tool import GoTool, build_go_tool
    tool = GoTool(package="github.com/prometheus/prometheus/cmd/prometheus", version="v0.316.0", binary="prometheus",
                  tags=("remove_all_sd",))
    path = build_go_tool(tool, kind="prometheus", progress=print)    # ~/.cache/owui-otel/prometheus/<key>/prometheus
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Unpack

from ._artifact import BuildOptions, cache_key, reuse_or_build
from ._cache import cache_dir
from ._go import find_go, quiet, run_streaming

__all__ = ["GoTool", "build_go_tool"]


@dataclass(frozen=True, slots=True)
class GoTool:
    """A Go command to build: ``package`` at module ``version``, written as ``binary``, with build ``tags``."""

    package: str
    version: str
    binary: str
    tags: tuple[str, ...] = ()


def build_go_tool(tool: GoTool, *, kind: str, **options: Unpack[BuildOptions]) -> Path:
    """Build (or reuse) ``tool`` under ``<cache>/<kind>/<key>/`` and return the binary's absolute path.

    The key covers the package, version, tags and Go version, so a change to any of them builds anew.

    Raises:
        GoNotFoundError: Go missing or too old.
        BuildError: ``go get`` or ``go build`` failed.
    """
    env = options.get("env")
    say = options.get("progress") or quiet
    go = find_go(env)
    root = options.get("cache") or cache_dir(env)
    parts = [tool.package, tool.version, go.version_string, *tool.tags]
    key = cache_key(*(part.encode() for part in parts))
    child_env = dict(os.environ if env is None else env)
    child_env.setdefault("CGO_ENABLED", "0")
    tags = ["-tags", ",".join(tool.tags)] if tool.tags else []

    def build(tmp: Path) -> dict[str, object]:
        src = tmp / "src"
        src.mkdir()
        gobin = str(go.path)
        say(f"==> creating scratch Go module in {src}")
        scratch = f"owui-otel.local/{kind}-tool"
        run_streaming([gobin, "mod", "init", scratch], progress=say, cwd=src, env=child_env, what="go mod init")
        say(f"==> resolving {tool.package}@{tool.version} (first run downloads several hundred modules)")
        target = f"{tool.package}@{tool.version}"
        run_streaming(
            [gobin, "get", "-tool", target], progress=say, cwd=src, env=child_env, what=f"go get -tool {kind}"
        )
        say(f"==> compiling {kind} with {go.version_string} (cold builds take several minutes)")
        command = [gobin, "build", "-trimpath", "-ldflags=-s -w", *tags, "-o", str(tmp / tool.binary), tool.package]
        run_streaming(command, progress=say, cwd=src, env=child_env, what=f"go build {kind}")
        return {"module": target, "go": go.version_string, "tags": list(tool.tags)}

    what = f"{kind} {tool.version} ({go.version_string})"
    return reuse_or_build(
        root / kind, key, tool.binary, build, force=options.get("force", False), progress=say, what=what
    )

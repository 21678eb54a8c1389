# SPDX-License-Identifier: Apache-2.0
"""Build ``owui-otelcol`` from ``collector/manifest.yaml`` with the OpenTelemetry Collector Builder (OCB).

Steps: check Go, install the builder into the cache (``GOBIN=<cache>/bin``) unless present at the right
version, copy the manifest with ``dist.output_path`` pointing into the cache, run the builder (its output is
streamed to ``progress``), stamp the result. The artifact directory is keyed by the manifest bytes, the Go
version and the builder version, so an unchanged manifest returns the cached binary in milliseconds.

Usage::

    from collector import build_collector
    binary = build_collector(progress=print)      # Path(".../collector/<key>/owui-otelcol")
    binary = build_collector(force=True)          # rebuild even when cached
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Unpack

import yaml

from ._artifact import BuildOptions, cache_key, reuse_or_build
from ._cache import cache_dir
from ._errors import BuildError, UsageError
from ._go import GoToolchain, Progress, find_go, quiet, run_streaming

__all__ = ["BUILDER_MODULE", "BUILDER_VERSION", "MANIFEST", "build_collector", "builder_path"]

BUILDER_MODULE = "go.opentelemetry.io/collector/cmd/builder"
BUILDER_VERSION = "v0.161.0"
"""Must equal the manifest's collector release: the builder writes ``otelcol`` at its own version into go.mod."""

MANIFEST = Path(__file__).resolve().parent / "manifest.yaml"


def _load_manifest(manifest: Path) -> tuple[bytes, dict[str, Any]]:
    """The manifest's bytes (part of the cache key) and its parsed content."""
    try:
        raw = manifest.read_bytes()
        data = yaml.safe_load(raw.decode("utf-8"))
    except OSError as exc:
        raise UsageError(
            f"--manifest {manifest}: cannot be read ({exc.strerror or exc}). Fix: pass an existing OCB manifest file"
        ) from exc
    except yaml.YAMLError as exc:
        raise UsageError(f"--manifest {manifest}: not valid YAML ({exc}). Fix: correct it") from exc
    if not isinstance(data, dict) or not isinstance(data.get("dist"), dict) or not data["dist"].get("name"):
        raise UsageError(f"--manifest {manifest}: has no dist.name. Fix: follow collector/manifest.yaml's shape")
    return raw, data


def _builder_version(path: Path) -> str | None:
    try:
        proc = subprocess.run([str(path), "version"], capture_output=True, text=True, timeout=60, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    # Prints "ocb version v0.161.0", on stderr.
    out = proc.stdout + proc.stderr
    return out.strip().rsplit(" ", 1)[-1] if out.strip() else None


def builder_path(go: GoToolchain, *, cache: Path, progress: Progress, env: Mapping[str, str] | None = None) -> Path:
    """Return the cached builder, installing it with ``go install`` if it is missing or another version."""
    bin_dir = cache / "bin"
    builder = bin_dir / "builder"
    if builder.is_file() and _builder_version(builder) == BUILDER_VERSION:
        return builder
    progress(f"==> installing {BUILDER_MODULE}@{BUILDER_VERSION} into {bin_dir}")
    bin_dir.mkdir(parents=True, exist_ok=True)
    child_env = dict(os.environ if env is None else env)
    child_env["GOBIN"] = str(bin_dir)
    run_streaming(
        [str(go.path), "install", f"{BUILDER_MODULE}@{BUILDER_VERSION}"],
        progress=progress,
        env=child_env,
        what="go install builder",
    )
    if _builder_version(builder) != BUILDER_VERSION:
        raise BuildError(
            f"{builder}: does not report {BUILDER_VERSION} after go install. Fix: delete {bin_dir} and retry"
        )
    return builder


def build_collector(manifest: Path | None = None, **options: Unpack[BuildOptions]) -> Path:
    """Build (or reuse) the collector binary and return its absolute path.

    Args:
        manifest: OCB manifest; defaults to ``collector/manifest.yaml``.
        **options: :class:`~collector._artifact.BuildOptions` (force, progress, cache, env).

    Raises:
        GoNotFoundError: Go missing or too old.
        BuildError: the builder failed (message carries its last output lines).
        UsageError: unreadable manifest or a cache directory inside the repo.
    """
    env = options.get("env")
    say = options.get("progress") or quiet
    manifest_path = (manifest or MANIFEST).resolve()
    raw, data = _load_manifest(manifest_path)
    name = str(data["dist"]["name"])
    go = find_go(env)
    root = options.get("cache") or cache_dir(env)
    key = cache_key(raw, go.version_string.encode(), BUILDER_VERSION.encode())

    def build(tmp: Path) -> dict[str, object]:
        builder = builder_path(go, cache=root, progress=say, env=env)
        # Our copy of the manifest decides where the builder writes: the repo's output_path is never used.
        data["dist"]["output_path"] = str(tmp)
        effective = tmp / "manifest.yaml"
        effective.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
        say(f"==> building {name} with OCB {BUILDER_VERSION} and {go.version_string} (cold builds take minutes)")
        child_env = dict(os.environ if env is None else env)
        # The builder looks up "go" on PATH; make sure it finds the toolchain we checked.
        child_env["PATH"] = f"{go.path.parent}{os.pathsep}{child_env.get('PATH', '')}"
        run_streaming(
            [str(builder), f"--config={effective}"], progress=say, cwd=tmp, env=child_env, what="collector builder"
        )
        if not (tmp / name).is_file():
            raise BuildError(f"{tmp / name}: missing although the builder succeeded. Fix: rerun with --force")
        return {
            "builder": f"{BUILDER_MODULE}@{BUILDER_VERSION}",
            "go": go.version_string,
            "manifest": str(manifest_path),
        }

    what = f"{name} for this manifest ({go.version_string})"
    return reuse_or_build(
        root / "collector", key, name, build, force=options.get("force", False), progress=say, what=what
    )

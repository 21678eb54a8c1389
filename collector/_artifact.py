# SPDX-License-Identifier: Apache-2.0
"""Cached build artifacts: content-addressed directories that appear atomically and carry a stamp file.

A build writes into ``<kind>/<key>.partial-<pid>/`` and is renamed to ``<kind>/<key>/`` only after it
succeeded, so an interrupted build never looks finished and two concurrent builds of the same key cannot
corrupt each other (the loser's directory is discarded).

Usage::

    key = cache_key(manifest_bytes, b"go1.26.8")
    done = finished_artifact(root / "collector" / key, "owui-otelcol")
    if done is None:
        done = publish_build(root / "collector", key, "owui-otelcol", build_into_tmp, progress=print)

    # publish_build is staging_dir + write_stamp + a final check; by hand:
    with staging_dir(root / "collector", key) as tmp:
        ...build into tmp...
        write_stamp(tmp, {"manifest_sha256": ...})
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import TypedDict

from ._errors import BuildError
from ._go import Progress

__all__ = [
    "STAMP_FILE",
    "cache_key",
    "finished_artifact",
    "publish_build",
    "reuse_or_build",
    "staging_dir",
    "write_stamp",
]


class BuildOptions(TypedDict, total=False):
    """The keyword options every build (:func:`collector.build_collector`, :func:`collector.build_jaeger`) takes.

    Attributes:
        force: rebuild even if a finished build for the same inputs exists (default False).
        progress: receives stage lines and the tools' output; silent by default.
        cache: cache directory; defaults to :func:`collector._cache.cache_dir`.
        env: environment for Go (defaults to ``os.environ``).
    """

    force: bool
    progress: Progress | None
    cache: Path | None
    env: Mapping[str, str] | None


STAMP_FILE = "build.json"
"""Written last inside an artifact directory; its presence marks a complete build."""


def cache_key(*parts: bytes) -> str:
    """Short, stable hash of the inputs that determine a build (16 hex chars)."""
    digest = hashlib.sha256()
    for part in parts:
        # Length prefix: ("ab", "c") and ("a", "bc") must not collide.
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()[:16]


def finished_artifact(directory: Path, binary_name: str) -> Path | None:
    """The binary inside ``directory`` if that build completed (stamp present, file executable), else None."""
    binary = directory / binary_name
    if (directory / STAMP_FILE).is_file() and binary.is_file() and os.access(binary, os.X_OK):
        return binary
    return None


def write_stamp(directory: Path, info: dict[str, object]) -> None:
    """Record how an artifact was built; must be the last write into the staging directory."""
    (directory / STAMP_FILE).write_text(json.dumps(info, indent=2, sort_keys=True) + "\n", encoding="utf-8")


@contextlib.contextmanager
def staging_dir(parent: Path, key: str) -> Iterator[Path]:
    """Yield an empty private directory; on success move it to ``parent/key`` (replacing a stale one).

    On an exception the staging directory is removed and the exception propagates.
    """
    parent.mkdir(parents=True, exist_ok=True)
    tmp = parent / f"{key}.partial-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    final = parent / key
    if final.exists():
        # A --force rebuild, or an incomplete earlier build without a stamp: replace it.
        shutil.rmtree(final, ignore_errors=True)
    try:
        tmp.rename(final)
    except OSError:
        # Another process finished the same key first; its result is equivalent, keep it.
        shutil.rmtree(tmp, ignore_errors=True)


def publish_build(
    parent: Path, key: str, binary_name: str, build: Callable[[Path], dict[str, object]], *, progress: Progress
) -> Path:
    """Run ``build`` in a staging directory, stamp and publish it as ``parent/key``; return the finished binary.

    Args:
        parent: the artifact kind's directory (``<cache>/collector``).
        key: :func:`cache_key` of the build inputs.
        binary_name: the file ``build`` writes into the directory it is given.
        build: builds into the given directory and returns what the stamp records about it; the stamp also gets
            ``binary``, ``key`` and the build's wall time in ``seconds``.
        progress: receives the closing ``built ... in ...s`` line.

    Raises:
        BuildError: the published directory holds no usable binary (and whatever ``build`` raises).
    """
    started = time.monotonic()
    with staging_dir(parent, key) as tmp:
        info = build(tmp)
        elapsed = round(time.monotonic() - started, 1)
        write_stamp(tmp, {**info, "binary": binary_name, "key": key, "seconds": elapsed})
        progress(f"==> built {binary_name} in {elapsed}s")
    done = finished_artifact(parent / key, binary_name)
    if done is None:
        raise BuildError(
            f"{parent / key / binary_name}: not usable although the build finished. Fix: rerun with --force"
        )
    return done


def reuse_or_build(
    parent: Path,
    key: str,
    binary_name: str,
    build: Callable[[Path], dict[str, object]],
    *,
    force: bool,
    progress: Progress,
    what: str,
) -> Path:
    """The finished binary ``parent/key/binary_name`` if there is one (unless ``force``), else
    :func:`publish_build`'s. ``what`` describes the build inputs in the ``cached ...`` progress line."""
    done = finished_artifact(parent / key, binary_name)
    if done is not None and not force:
        progress(f"==> cached {what}: {done}")
        return done
    return publish_build(parent, key, binary_name, build, progress=progress)

# SPDX-License-Identifier: Apache-2.0
"""Find the Go toolchain and run build commands with their output streamed as progress.

Usage::

    from collector._go import find_go, run_streaming
    go = find_go()                       # GoToolchain(path=..., version=(1, 26, 8))
    run_streaming([str(go.path), "version"], progress=print)
"""

from __future__ import annotations

import collections
import os
import re
import shutil
import subprocess
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from ._errors import BuildError, GoNotFoundError

__all__ = ["MIN_GO", "GoToolchain", "Progress", "find_go", "quiet", "run_streaming"]

Progress = Callable[[str], None]
"""Receives one line of human-readable progress (no trailing newline)."""

MIN_GO = (1, 25, 0)
"""The builder v0.161.0 and the contrib modules declare ``go 1.25`` in their go.mod files."""

_INSTALL_HINT = (
    f"Fix: install Go >= {'.'.join(str(part) for part in MIN_GO)} (https://go.dev/doc/install: unpack the tarball to "
    "/usr/local/go and add /usr/local/go/bin to PATH), or, with an older Go >= 1.21, export GOTOOLCHAIN=go1.25.0 so "
    "that go fetches a newer toolchain from the Go module proxy"
)
_FALLBACK_GO = Path("/usr/local/go/bin/go")
_VERSION_RE = re.compile(r"go(\d+)\.(\d+)(?:\.(\d+))?")


@dataclass(frozen=True, slots=True)
class GoToolchain:
    """A usable Go toolchain."""

    path: Path
    version: tuple[int, int, int]

    @property
    def version_string(self) -> str:
        """``"go1.26.8"``, the form used in cache keys."""
        return "go" + ".".join(str(part) for part in self.version)


def quiet(_line: str) -> None:
    """Default progress sink: discard."""


def find_go(env: Mapping[str, str] | None = None) -> GoToolchain:
    """Locate ``go`` on PATH (or ``/usr/local/go/bin/go``) and check its version.

    Raises:
        GoNotFoundError: no Go, or Go older than :data:`MIN_GO`; the message says how to install it.
    """
    environ = dict(os.environ if env is None else env)
    found = shutil.which("go", path=environ.get("PATH"))
    if found is None and _FALLBACK_GO.is_file():
        # The official tarball location, often missing from PATH in non-login shells and CI.
        found = str(_FALLBACK_GO)
    if found is None:
        raise GoNotFoundError("Go: not found on PATH. " + _INSTALL_HINT)
    try:
        out = subprocess.run(
            [found, "env", "GOVERSION"], capture_output=True, text=True, timeout=120, env=environ, check=True
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError) as exc:
        raise GoNotFoundError(f"Go: {found} env GOVERSION failed ({exc}). " + _INSTALL_HINT) from exc
    match = _VERSION_RE.match(out)
    if match is None:
        raise GoNotFoundError(f"Go: cannot parse the version {out!r} of {found}. " + _INSTALL_HINT)
    version = (int(match.group(1)), int(match.group(2)), int(match.group(3) or 0))
    if version < MIN_GO:
        raise GoNotFoundError(f"Go: {found} is {out}, too old. " + _INSTALL_HINT)
    return GoToolchain(path=Path(found), version=version)


def run_streaming(
    argv: Sequence[str],
    *,
    progress: Progress,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    what: str,
    tail_lines: int = 30,
) -> None:
    """Run ``argv``, passing each output line (stdout and stderr merged) to ``progress``.

    Args:
        argv: command and arguments.
        progress: line sink, e.g. a function writing to stderr.
        cwd: working directory.
        env: full environment for the child (defaults to ``os.environ``).
        what: short description used in the error message (``"go build jaeger"``).
        tail_lines: how many trailing lines to keep for the error message.

    Raises:
        BuildError: the command could not start or exited non-zero; carries the last ``tail_lines`` lines.
    """
    tail: collections.deque[str] = collections.deque(maxlen=tail_lines)
    try:
        proc = subprocess.Popen(
            list(argv),
            cwd=cwd,
            env=dict(os.environ if env is None else env),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
        )
    except OSError as exc:
        raise BuildError(f"{what}: cannot start {argv[0]}: {exc}") from exc
    with proc:
        for raw in proc.stdout or ():
            line = raw.rstrip("\n")
            tail.append(line)
            progress(line)
        code = proc.wait()
    if code != 0:
        joined = "\n".join(tail)
        raise BuildError(f"{what} failed with exit code {code}; last output:\n{joined}")

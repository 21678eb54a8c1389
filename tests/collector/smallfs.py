# SPDX-License-Identifier: Apache-2.0
"""A small, fillable filesystem for the collector's persistent queue; always unmounted afterwards.

Tried in order (``OWUI_OTEL_FAULTS_SMALLFS=tmpfs|loop`` forces one): a size-limited ``tmpfs``, then a loop-mounted
ext4 image. Both need root (CAP_SYS_ADMIN); without it :func:`small_filesystem` raises :class:`MountNotPermitted`
and the test skips with that reason. RLIMIT_FSIZE (``ulimit -f``) is not a substitute: it also caps the collector's
own log file (its stdout), so the error we want to see could not be written.

    with small_filesystem(tmp_path / "queue", size_kib=2048) as disk:
        stack = stacks(env={"OTELCOL_QUEUE_DIR": str(disk.path)})
        disk.fill(leave_kib=256)     # almost no space left
        disk.fill_completely()       # none at all
        disk.free()                  # space again
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

FORCE_ENV = "OWUI_OTEL_FAULTS_SMALLFS"
ENOSPC = "no space left on device"  # how the collector reports it (Go's syscall.ENOSPC text)
_FILLERS = ("filler", "filler-tail")


class MountNotPermitted(RuntimeError):
    """Neither a tmpfs nor a loop mount could be made here (not root?)."""


def _run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)


@dataclass
class SmallFs:
    kind: str
    path: Path
    size_kib: int

    def free_kib(self) -> int:
        stats = os.statvfs(self.path)
        return stats.f_bavail * stats.f_frsize // 1024

    def fill(self, leave_kib: int) -> None:
        """Leave about ``leave_kib`` KiB free."""
        with (self.path / _FILLERS[0]).open("ab") as handle:
            handle.write(b"\0" * max(self.free_kib() - leave_kib, 0) * 1024)

    def fill_completely(self) -> None:
        """Leave nothing, down to the last block."""
        for name, chunk in zip(_FILLERS, (65536, 512), strict=True):
            try:
                with (self.path / name).open("ab", buffering=0) as handle:
                    while True:
                        handle.write(b"\0" * chunk)
            except OSError:
                pass

    def free(self) -> None:
        for name in _FILLERS:
            (self.path / name).unlink(missing_ok=True)


def _mount(kind: str, path: Path, size_kib: int) -> bool:
    if kind == "tmpfs":
        return _run("mount", "-t", "tmpfs", "-o", f"size={size_kib}k,mode=0700", "tmpfs", str(path)).returncode == 0
    image = path.parent / f"{path.name}.ext4"
    if _run("dd", "if=/dev/zero", f"of={image}", "bs=1024", f"count={size_kib}", "status=none").returncode != 0:
        return False
    if _run("mkfs.ext4", "-q", "-F", str(image)).returncode != 0:
        return False
    return _run("mount", "-o", "loop", str(image), str(path)).returncode == 0  # the loop device goes with umount


def _unmount(path: Path) -> None:
    if _run("umount", str(path)).returncode != 0:
        _run("umount", "-l", str(path))  # still busy: detach now, released when the last file closes


@contextmanager
def small_filesystem(path: Path, *, size_kib: int) -> Iterator[SmallFs]:
    path.mkdir(parents=True, exist_ok=True)
    forced = os.environ.get(FORCE_ENV, "").strip()
    kinds = [forced] if forced else ["tmpfs", "loop"]
    kind = next((k for k in kinds if _mount(k, path, size_kib)), None)
    if kind is None:
        raise MountNotPermitted(f"could not mount a {size_kib} KiB filesystem ({' or '.join(kinds)}); needs root")
    try:
        yield SmallFs(kind=kind, path=path, size_kib=size_kib)
    finally:
        _unmount(path)

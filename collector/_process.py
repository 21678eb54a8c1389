# SPDX-License-Identifier: Apache-2.0
"""Child processes for tests and local stacks: loopback ports, readiness waits, bounded shutdown.

Usage::

    port = free_port()
    proc = ManagedProcess("jaeger", [str(binary), "--config", str(cfg)], env=env, log_path=tmp / "jaeger.log")
    proc.start()
    proc.wait_ready(lambda: http_ok(f"http://127.0.0.1:{port}/api/services"), timeout=60)
    proc.stop()          # SIGTERM, up to 10 s, then SIGKILL; never leaves the process behind

With ``new_session=True`` the child (and whatever it forks) gets a process group of its own: it
ignores the terminal's Ctrl-C, and stop/kill signal the whole group.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import IO

from ._errors import OwuiOtelError

__all__ = ["ManagedProcess", "ProcessError", "free_port", "http_ok", "open_private_log", "wait_until"]


class ProcessError(OwuiOtelError, RuntimeError):
    """A managed process exited early or never became ready; the message carries its log tail."""


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free a moment ago (bind to port 0, read it, release it).

    There is a small window in which another process could take it; tests choose all ports up front and start
    their servers right away.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def http_ok(url: str, *, timeout: float = 1.0, headers: Mapping[str, str] | None = None) -> bool:
    """True when ``GET url`` answers 200 (a readiness probe); False on any error or other status."""
    import httpx  # noqa: PLC0415 (the server extra; the build tooling needs none of this)

    try:
        return httpx.get(url, timeout=timeout, headers=dict(headers or {})).status_code == 200
    except httpx.HTTPError:
        return False


def wait_until(
    predicate: Callable[[], bool], *, timeout: float, interval: float = 0.2, what: str = "condition"
) -> None:
    """Poll ``predicate`` until it returns True.

    Raises:
        TimeoutError: not true within ``timeout`` seconds.
    """
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return
        if time.monotonic() >= deadline:
            raise TimeoutError(f"{what} not reached within {timeout:.0f}s")
        time.sleep(interval)


def open_private_log(path: Path) -> IO[bytes]:
    """Open ``path`` for appending, readable by its owner only (0600; a new folder 0700).

    Logs can quote requests, URLs and settings: a log an older version created 0644 is tightened too.
    """
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.fchmod(descriptor, 0o600)
    return os.fdopen(descriptor, "ab")


class ManagedProcess:
    """One child process with its output in a log file."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        *,
        env: Mapping[str, str],
        log_path: Path,
        cwd: Path | None = None,
        new_session: bool = False,
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.env = dict(env)
        self.log_path = log_path
        self.cwd = cwd
        self.new_session = new_session
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def pid(self) -> int | None:
        """Process id while running."""
        return self._proc.pid if self._proc is not None else None

    def running(self) -> bool:
        """True while the child has not exited."""
        return self._proc is not None and self._proc.poll() is None

    @property
    def returncode(self) -> int | None:
        """The exit status once the child has exited (negative: killed by that signal), else None."""
        return self._proc.poll() if self._proc is not None else None

    def start(self) -> None:
        """Start the child (appending to the log, so restarts keep earlier output)."""
        if self.running():
            raise ProcessError(f"{self.name} is already running (pid {self.pid})")
        self._close_log()  # a previous run that exited on its own left its log open
        self._log = open_private_log(self.log_path)
        self._log.write(f"\n=== start {self.name}: {' '.join(self.argv)}\n".encode())
        self._log.flush()
        self._proc = subprocess.Popen(
            self.argv,
            env=self.env,
            cwd=self.cwd,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=self.new_session,
        )

    def log_text(self) -> str:
        """The whole log ("" while there is none)."""
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""

    def log_tail(self, lines: int = 40) -> str:
        """Last ``lines`` lines of the log (for error messages)."""
        return "\n".join(self.log_text().splitlines()[-lines:])

    def wait_ready(self, probe: Callable[[], bool], *, timeout: float = 60.0) -> None:
        """Poll ``probe`` until True; fail fast if the child exits.

        Raises:
            ProcessError: exited or not ready in time (with the log tail).
        """
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.running():
                code = self._proc.returncode if self._proc is not None else None
                raise ProcessError(f"{self.name} exited with code {code} before it was ready:\n{self.log_tail()}")
            if probe():
                return
            time.sleep(0.1)
        raise ProcessError(f"{self.name} not ready within {timeout:.0f}s:\n{self.log_tail()}")

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None

    def _signal(self, signum: int) -> None:
        assert self._proc is not None
        try:
            if self.new_session:
                os.killpg(self._proc.pid, signum)  # the whole group: workers the child forked too
            else:
                self._proc.send_signal(signum)
        except ProcessLookupError:
            pass

    def kill(self) -> None:
        """SIGKILL (a crash, for durability tests) and reap."""
        if self._proc is not None and self._proc.poll() is None:
            self._signal(signal.SIGKILL)
            self._proc.wait(timeout=10)
        self._close_log()

    def stop(self, timeout: float = 10.0) -> int | None:
        """SIGTERM, wait up to ``timeout`` s, then SIGKILL. Returns the exit code (None if never started)."""
        if self._proc is None:
            return None
        if self._proc.poll() is None:
            self._signal(signal.SIGTERM)
            try:
                self._proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self._signal(signal.SIGKILL)
                self._proc.wait(timeout=10)
        self._close_log()
        return self._proc.returncode

    def __del__(self) -> None:
        # Last resort: never leave a child behind if the owner forgot to stop it.
        proc = getattr(self, "_proc", None)
        if proc is not None and proc.poll() is None:
            try:
                self._signal(signal.SIGKILL)
                proc.wait(timeout=5)
            except (OSError, subprocess.TimeoutExpired):
                pass

# SPDX-License-Identifier: Apache-2.0
"""The process that owns the local stack's children and restarts the ones that die.

``owui-otel up`` starts it detached (``python -m owui_otel._supervisor``) and hands it the plan on stdin as JSON,
so the children's environments (Langfuse keys, the ingest token) never touch the disk. It starts the children in
order, each after the previous one answers its readiness URL, then watches them: a child that exits is restarted
after a bounded exponential backoff (each exit logged with its exit code or signal); after ``give_up_after`` quick
failures in a row (each run shorter than ``stable_after_s``) it stops trying and says so. Its status, rewritten
atomically (0600) at every change, is what ``owui-otel doctor`` and ``up`` read. SIGTERM (``owui-otel down``)
stops the children in reverse order (the bridge first, so its open turns reach a live collector) and exits.

    plan = SupervisorPlan(status_file=..., children=[ChildPlan("jaeger", argv, env, log, ready_url)])
    # python -m owui_otel._supervisor < plan.to_json()
    status = read_status(path)          # -> SupervisorStatus, or None while there is none
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import FrameType

from collector import ManagedProcess, ProcessError, http_ok
from owui_otel._paths import write_private

STARTING, RUNNING, FAILED, STOPPED = "starting", "running", "failed", "stopped"
_POLL_S = 0.2
CHILD_STOP_GRACE_S = 15.0
"""How long a child gets after SIGTERM before SIGKILL (then up to 10 s more to be reaped)."""
STOP_TIMEOUT_S = 4 * (CHILD_STOP_GRACE_S + 10.0) + 5.0
"""The longest the supervisor can take to stop its four children: what ``down`` waits before SIGKILL."""


@dataclass(frozen=True)
class ChildPlan:
    """One child: how to start it and how to tell it is ready."""

    name: str
    argv: list[str]
    env: dict[str, str]
    log: str
    ready_url: str
    ready_timeout_s: float = 60.0


@dataclass(frozen=True)
class Backoff:
    """Restart delays: ``initial_s`` doubling up to ``max_s``; give up after ``give_up_after`` quick failures
    in a row, a failure being quick when the run lasted less than ``stable_after_s``."""

    initial_s: float = 1.0
    max_s: float = 30.0
    stable_after_s: float = 60.0
    give_up_after: int = 5

    def delay(self, quick_failures: int) -> float:
        return float(min(self.max_s, self.initial_s * 2 ** max(0, quick_failures - 1)))


@dataclass(frozen=True)
class SupervisorPlan:
    status_file: str
    children: list[ChildPlan]
    backoff: Backoff = field(default_factory=Backoff)

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> SupervisorPlan:
        data = json.loads(text)
        return cls(
            status_file=data["status_file"],
            children=[ChildPlan(**child) for child in data["children"]],
            backoff=Backoff(**data.get("backoff", {})),
        )


@dataclass
class ChildStatus:
    name: str
    pid: int | None
    argv: list[str]
    log: str
    running: bool = False
    started: float = 0.0
    restarts: int = 0
    last_exit: str = ""
    last_exit_at: float = 0.0
    given_up: bool = False


@dataclass
class SupervisorStatus:
    pid: int
    state: str
    phase: str = ""
    error: str = ""
    updated: float = 0.0
    children: list[ChildStatus] = field(default_factory=list)

    @classmethod
    def from_json(cls, text: str) -> SupervisorStatus:
        data = json.loads(text)
        data["children"] = [ChildStatus(**child) for child in data.get("children", [])]
        return cls(**data)


def read_status(path: Path) -> SupervisorStatus | None:
    """The supervisor's last written status (None while there is none, or if it is unreadable)."""
    try:
        return SupervisorStatus.from_json(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, TypeError, KeyError):
        return None


def describe_exit(returncode: int | None) -> str:
    """``exit code 2`` or ``killed by SIGKILL``."""
    if returncode is None:
        return "still running"
    if returncode < 0:
        try:
            return f"killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"killed by signal {-returncode}"
    return f"exit code {returncode}"


def _log(line: str) -> None:
    print(f"{time.strftime('%Y-%m-%dT%H:%M:%S')} supervisor: {line}", flush=True)


class _Child:
    def __init__(self, plan: ChildPlan) -> None:
        self.plan = plan
        self.process = ManagedProcess(plan.name, plan.argv, env=plan.env, log_path=Path(plan.log), new_session=True)
        self.status = ChildStatus(name=plan.name, pid=None, argv=plan.argv, log=plan.log)
        self.quick_failures = 0
        self.restart_at: float | None = None

    def start(self) -> None:
        self.process.start()
        self.status.pid = self.process.pid
        self.status.started = time.time()
        self.status.running = True

    def wait_ready(self, cancelled: Callable[[], bool]) -> None:
        """Until the child answers its readiness URL, or ``cancelled()`` (SIGTERM: `down` must not wait for it)."""
        self.process.wait_ready(lambda: cancelled() or http_ok(self.plan.ready_url), timeout=self.plan.ready_timeout_s)


class Supervisor:
    """Starts, watches and restarts the children of one plan (see the module docstring)."""

    def __init__(self, plan: SupervisorPlan) -> None:
        self.plan = plan
        self.children = [_Child(child) for child in plan.children]
        self.status = SupervisorStatus(pid=os.getpid(), state=STARTING, children=[c.status for c in self.children])
        self.stopping = False

    def write_status(self) -> None:
        self.status.updated = time.time()
        write_private(Path(self.plan.status_file), json.dumps(asdict(self.status), indent=2))

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        _log(f"{signal.Signals(signum).name} received: stopping the stack")
        self.stopping = True

    def run(self) -> int:
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        try:
            if not self._start_all():
                return 1
            while not self.stopping:
                if self._watch():
                    self.write_status()
                time.sleep(_POLL_S)
            return 0
        finally:
            self._stop_all()

    def _start_all(self) -> bool:
        self.write_status()
        for child in self.children:
            if self.stopping:
                return False
            self.status.phase = f"starting {child.plan.name}"
            self.write_status()
            _log(self.status.phase)
            try:
                child.start()
                self.write_status()
                child.wait_ready(cancelled=lambda: self.stopping)
            except (ProcessError, OSError) as error:
                child.status.running = child.process.running()
                self.status.state = FAILED
                self.status.error = f"{error}\n(full log: {child.plan.log}; checked {child.plan.ready_url})"
                _log(f"{child.plan.name} did not start: {error}")
                self.write_status()
                return False
        if self.stopping:
            return False
        self.status.state, self.status.phase = RUNNING, ""
        self.write_status()
        _log("every process is ready: " + ", ".join(f"{c.plan.name} (pid {c.status.pid})" for c in self.children))
        return True

    def _watch(self) -> bool:
        """One pass over the children; True when the status changed."""
        changed = False
        now = time.time()
        backoff = self.plan.backoff
        for child in self.children:
            status = child.status
            if status.given_up:
                continue
            if child.restart_at is not None:
                if now >= child.restart_at:
                    child.restart_at = None
                    status.restarts += 1
                    try:
                        child.start()
                        _log(f"restarted {status.name} (pid {status.pid}, restart {status.restarts})")
                    except OSError as error:  # e.g. the binary was removed: a quick failure like any other
                        child.quick_failures += 1
                        status.last_exit, status.last_exit_at = f"could not start: {error}", now
                        status.given_up = child.quick_failures > backoff.give_up_after
                        _log(f"could not restart {status.name}: {error}" + ("; giving up" if status.given_up else ""))
                        if not status.given_up:
                            child.restart_at = now + backoff.delay(child.quick_failures)
                    changed = True
                continue
            if status.running and not child.process.running():
                status.running = False
                status.last_exit = describe_exit(child.process.returncode)
                status.last_exit_at = now
                ran_s = now - status.started
                child.quick_failures = 0 if ran_s >= backoff.stable_after_s else child.quick_failures
                child.quick_failures += 1
                changed = True
                if child.quick_failures > backoff.give_up_after:
                    status.given_up = True
                    _log(
                        f"{status.name} exited ({status.last_exit}) after {ran_s:.1f}s; it failed "
                        f"{child.quick_failures} times in a row within {backoff.stable_after_s:.0f}s of starting: "
                        f"giving up. See {status.log}, fix the cause, then `owui-otel down && owui-otel up`"
                    )
                    continue
                delay = backoff.delay(child.quick_failures)
                child.restart_at = now + delay
                _log(f"{status.name} exited ({status.last_exit}) after {ran_s:.1f}s; restarting in {delay:.1f}s")
        return changed

    def _stop_all(self) -> None:
        for child in reversed(self.children):
            if child.process.running():
                code = child.process.stop(timeout=CHILD_STOP_GRACE_S)
                _log(f"stopped {child.plan.name} ({describe_exit(code)})")
            child.status.running = False
        if self.status.state != FAILED:
            self.status.state = STOPPED
        self.write_status()


def main() -> int:
    plan = SupervisorPlan.from_json(sys.stdin.read())
    return Supervisor(plan).run()


if __name__ == "__main__":
    raise SystemExit(main())

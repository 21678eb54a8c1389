# SPDX-License-Identifier: Apache-2.0
"""The supervisor of `owui-otel up` (owui_otel._supervisor) with real child processes: a small HTTP server that
becomes ready, and optionally exits on its own after a while. Started exactly as `up` starts it: detached,
the plan on stdin, the status in a 0600 file."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import collector
from collector._process import free_port, wait_until
from owui_otel import _stack
from owui_otel._doctor import FAIL, WARN, DoctorInputs, check_supervisor, render
from owui_otel._doctor import Report as DoctorReport
from owui_otel._paths import write_private
from owui_otel._stack import (
    ProcessRecord,
    StackOptions,
    StackState,
    _is_zombie,
    _start_supervisor,
    _stop,
    _stop_supervisor,
    is_ours,
    stack_dir,
    start_stack,
    stop_stack,
)
from owui_otel._supervisor import RUNNING, STOPPED, Backoff, ChildPlan, SupervisorPlan, SupervisorStatus, read_status

pytestmark = pytest.mark.integration

# A child that answers HTTP once it runs, and exits with code 3 after LIFETIME seconds (never, by default).
SERVER = (
    "import http.server, os, sys, threading, time\n"
    "server = http.server.HTTPServer(('127.0.0.1', int(sys.argv[1])), http.server.SimpleHTTPRequestHandler)\n"
    "threading.Thread(target=server.serve_forever, daemon=True).start()\n"
    "time.sleep(float(os.environ.get('LIFETIME', '1e9')))\n"
    "os._exit(3)\n"
)
FAST = Backoff(initial_s=0.2, max_s=0.8, stable_after_s=30.0, give_up_after=3)


def _child(name: str, tmp_path: Path, **env: str) -> ChildPlan:
    port = free_port()
    return ChildPlan(
        name=name,
        argv=[sys.executable, "-c", SERVER, str(port)],
        env={**os.environ, **env},
        log=str(tmp_path / "logs" / f"{name}.log"),
        ready_url=f"http://127.0.0.1:{port}/",
        ready_timeout_s=30,
    )


@pytest.fixture
def supervise(tmp_path: Path) -> Iterator[Callable[[list[ChildPlan]], tuple[ProcessRecord, Path]]]:
    started: list[tuple[ProcessRecord, Path]] = []

    def start(children: list[ChildPlan]) -> tuple[ProcessRecord, Path]:
        status_file = tmp_path / "supervisor.json"
        plan = SupervisorPlan(status_file=str(status_file), children=children, backoff=FAST)
        record, _ = _start_supervisor(plan, tmp_path / "logs" / "supervisor.log")
        started.append((record, status_file))
        wait_until(lambda: _state(status_file) == RUNNING, timeout=60, what="supervisor running")
        return record, status_file

    yield start
    for record, status_file in started:
        _stop(record, timeout_s=60)
        status = read_status(status_file)
        for child in status.children if status else []:
            if child.pid and is_ours(ProcessRecord(child.name, child.pid, child.argv, child.log, 0)):
                os.kill(child.pid, signal.SIGKILL)


def _state(status_file: Path) -> str:
    status = read_status(status_file)
    return status.state if status else ""


def _status(status_file: Path) -> SupervisorStatus:
    status = read_status(status_file)
    assert status is not None
    return status


def test_a_killed_child_is_restarted_logged_and_down_stops_everything(
    supervise: Callable[[list[ChildPlan]], tuple[ProcessRecord, Path]], tmp_path: Path
) -> None:
    record, status_file = supervise([_child("jaeger", tmp_path), _child("collector", tmp_path)])
    first = {child.name: child.pid for child in _status(status_file).children}
    assert all(first.values())
    assert oct(status_file.stat().st_mode & 0o777) == "0o600"

    assert first["collector"] is not None
    os.kill(first["collector"], signal.SIGKILL)
    wait_until(
        lambda: (c := _status(status_file).children[1]).restarts == 1 and c.running and c.pid != first["collector"],
        timeout=10,
        what="collector restarted",
    )
    jaeger, collector = _status(status_file).children
    assert collector.last_exit == "killed by SIGKILL"
    assert jaeger.restarts == 0 and jaeger.pid == first["jaeger"]  # the others are left alone
    log = (tmp_path / "logs" / "supervisor.log").read_text()
    assert "collector exited (killed by SIGKILL)" in log and "restarted collector" in log

    # What doctor says about it.
    checks = check_supervisor(DoctorInputs(supervisor=_status(status_file), supervisor_alive=True))
    by_link = {check.link: check for check in checks}
    assert by_link["supervisor: collector"].status == WARN
    assert "restarted 1 time(s)" in by_link["supervisor: collector"].says
    assert "killed by SIGKILL" in by_link["supervisor: collector"].says
    assert by_link["supervisor: jaeger"].status == "ok"

    # SIGTERM (what `down` sends) stops the children too, the current collector included.
    pids = [child.pid for child in _status(status_file).children]
    assert _stop(record, timeout_s=60)
    for pid in pids:
        assert pid is not None
        assert _is_zombie(pid) or not Path(f"/proc/{pid}").exists(), f"pid {pid} still runs"
    assert _status(status_file).state == STOPPED
    (gone,) = check_supervisor(DoctorInputs(supervisor=_status(status_file), supervisor_alive=is_ours(record)))
    assert gone.status == FAIL and "supervisor is not running" in gone.says


def test_a_child_that_keeps_failing_is_given_up_with_a_clear_message(
    supervise: Callable[[list[ChildPlan]], tuple[ProcessRecord, Path]], tmp_path: Path
) -> None:
    # Lives 3 s: long enough to answer the first readiness probe even on a loaded machine (with 1 s, a slow
    # interpreter start failed the whole start instead), short of stable_after_s (30 s), so each exit is quick.
    record, status_file = supervise([_child("collector", tmp_path, LIFETIME="3.0")])
    wait_until(lambda: _status(status_file).children[0].given_up, timeout=120, what="supervisor gives up")
    (child,) = _status(status_file).children
    assert child.restarts == FAST.give_up_after  # the first run + 3 restarts all failed quickly
    assert child.last_exit == "exit code 3"
    assert not child.running
    assert is_ours(record)  # the supervisor itself stays up, so doctor can tell
    log = (tmp_path / "logs" / "supervisor.log").read_text()
    assert "giving up" in log and str(tmp_path / "logs" / "collector.log") in log

    inputs = DoctorInputs(supervisor=_status(status_file), supervisor_alive=True)
    checks = check_supervisor(inputs)
    assert [check.status for check in checks] == [FAIL]
    assert "gave up restarting it" in render(DoctorReport(checks))


def test_backoff_doubles_up_to_its_bound() -> None:
    backoff = Backoff(initial_s=1.0, max_s=30.0)
    assert [backoff.delay(n) for n in range(1, 8)] == [1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0]


def test_a_child_that_never_gets_ready_fails_the_start_with_its_log(tmp_path: Path) -> None:
    child = ChildPlan(
        name="collector",
        argv=[sys.executable, "-c", "import sys; print('bad config: receivers.otlp'); sys.exit(1)"],
        env=dict(os.environ),
        log=str(tmp_path / "collector.log"),
        ready_url=f"http://127.0.0.1:{free_port()}/",
        ready_timeout_s=10,
    )
    plan = SupervisorPlan(status_file=str(tmp_path / "status.json"), children=[child], backoff=FAST)
    done = subprocess.run(
        [sys.executable, "-m", "owui_otel._supervisor"],
        input=plan.to_json(),
        text=True,
        timeout=60,
        capture_output=True,
    )
    assert done.returncode == 1
    status = _status(tmp_path / "status.json")
    assert status.state == "failed"
    assert "bad config: receivers.otlp" in status.error and "exited with code 1" in status.error


def test_down_stops_children_a_killed_supervisor_left_behind(
    supervise: Callable[[list[ChildPlan]], tuple[ProcessRecord, Path]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    record, status_file = supervise([_child("jaeger", tmp_path), _child("collector", tmp_path)])
    children = _status(status_file).children
    os.kill(record.pid, signal.SIGKILL)  # no chance to stop its children
    wait_until(lambda: not is_ours(record) or _is_zombie(record.pid), timeout=10, what="supervisor gone")
    assert all(child.pid and Path(f"/proc/{child.pid}").exists() for child in children)

    monkeypatch.setenv("OWUI_OTEL_STATE_DIR", str(tmp_path / "state"))
    state = StackState(
        processes=[record], urls={}, api_key="k", langfuse=False, ingest_token="t", status_file=str(status_file)
    )
    write_private(stack_dir() / "stack.json", state.to_json())
    assert stop_stack() == ["collector", "jaeger"]  # reverse start order, like the supervisor
    for child in children:
        assert child.pid is not None
        assert _is_zombie(child.pid) or not Path(f"/proc/{child.pid}").exists(), f"{child.name} still runs"


def test_a_child_that_can_no_longer_be_started_is_given_up(
    supervise: Callable[[list[ChildPlan]], tuple[ProcessRecord, Path]], tmp_path: Path
) -> None:
    plan = _child("collector", tmp_path)
    script = tmp_path / "collector.sh"  # stands in for a binary that is removed while the stack runs
    script.write_text(f'#!/bin/sh\nexec {sys.executable} -c "$@"\n')
    script.chmod(0o700)
    plan = ChildPlan(plan.name, [str(script), SERVER, plan.argv[-1]], plan.env, plan.log, plan.ready_url, 30)
    _, status_file = supervise([plan])
    script.unlink()
    pid = _status(status_file).children[0].pid
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    wait_until(lambda: _status(status_file).children[0].given_up, timeout=30, what="supervisor gives up")
    (child,) = _status(status_file).children
    assert child.last_exit.startswith("could not start:") and "collector.sh" in child.last_exit
    assert "could not restart collector" in (tmp_path / "logs" / "supervisor.log").read_text()


def _never_ready(name: str, tmp_path: Path) -> ChildPlan:
    """A child that runs but never answers its readiness URL (a slow first start of Jaeger, say)."""
    return ChildPlan(
        name=name,
        argv=[sys.executable, "-c", "import time; time.sleep(1e9)"],
        env=dict(os.environ),
        log=str(tmp_path / "logs" / f"{name}.log"),
        ready_url=f"http://127.0.0.1:{free_port()}/",
        ready_timeout_s=300,
    )


def _started_child_pid(status_file: Path) -> int:
    wait_until(
        lambda: (status := read_status(status_file)) is not None and bool(status.children[0].pid),
        timeout=60,
        what="the supervisor started its first child",
    )
    pid = _status(status_file).children[0].pid
    assert pid is not None
    return pid


def test_sigterm_while_a_child_is_getting_ready_stops_at_once(tmp_path: Path) -> None:
    # `down` (SIGTERM) during `up`'s start must not wait out the child's readiness timeout (300 s here): `down`
    # gives the supervisor 60 s, then SIGKILLs it, and the child would be left running.
    status_file = tmp_path / "supervisor.json"
    plan = SupervisorPlan(status_file=str(status_file), children=[_never_ready("jaeger", tmp_path)], backoff=FAST)
    _, process = _start_supervisor(plan, tmp_path / "logs" / "supervisor.log")
    child_pid = _started_child_pid(status_file)
    _stop_supervisor(process, timeout_s=120)
    assert process.returncode != -signal.SIGKILL, "the supervisor had to be killed"
    assert _is_zombie(child_pid) or not Path(f"/proc/{child_pid}").exists(), "the child still runs"


def test_up_interrupted_before_the_stack_is_ready_leaves_nothing_running(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Ctrl-C while `up` waits: stack.json is not written yet, so nothing else could find the supervisor later.
    monkeypatch.setenv("OWUI_OTEL_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("OWUI_OTEL_DATA_DIR", str(tmp_path / "data"))
    sleeper = tmp_path / "sleeper.sh"  # stands in for Jaeger and the collector: runs, never gets ready
    sleeper.write_text("#!/bin/sh\nexec sleep 1000000\n")
    sleeper.chmod(0o700)
    monkeypatch.setattr(collector, "build_collector", lambda progress: sleeper)
    monkeypatch.setattr(collector, "build_jaeger", lambda progress: sleeper)
    started: list[tuple[ProcessRecord, subprocess.Popen[bytes]]] = []
    child_pids: list[int] = []

    def interrupted(supervisor: tuple[ProcessRecord, subprocess.Popen[bytes]], status_file: Path, *_: object) -> None:
        started.append(supervisor)
        child_pids.append(_started_child_pid(status_file))
        raise KeyboardInterrupt

    monkeypatch.setattr(_stack, "_wait_running", interrupted)
    options = StackOptions(**{name: free_port() for name in StackOptions().ports()})
    with pytest.raises(KeyboardInterrupt):
        start_stack(options)
    ((record, process),) = started
    assert process.poll() is not None and not is_ours(record), "the supervisor still runs"
    assert _is_zombie(child_pids[0]) or not Path(f"/proc/{child_pids[0]}").exists(), "its child still runs"
    assert not (stack_dir() / "stack.json").exists()


def test_doctor_says_starting_while_the_stack_starts_not_that_the_supervisor_is_gone() -> None:
    status = SupervisorStatus(pid=os.getpid(), state="starting", phase="starting collector")
    (check,) = check_supervisor(DoctorInputs(supervisor=status, supervisor_alive=True))
    assert check.status == WARN and "still starting (starting collector)" in check.says
    (gone,) = check_supervisor(DoctorInputs(supervisor=status, supervisor_alive=False))
    assert gone.status == FAIL and "not running" in gone.says

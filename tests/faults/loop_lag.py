# SPDX-License-Identifier: Apache-2.0
"""The bridge server in a child process with an event-loop stall monitor inside it.

    python -m tests.faults.loop_lag <port> <data dir>      # valves come from <data dir>/valves.json

The monitor is a task on the server's own loop that sleeps 5 ms at a time and records how late each wake-up is.
A late wake-up counts as a *stall* only for the part the process spent on the CPU meanwhile (``min(late, CPU
time of the process during the tick)``): a loop held by Python code (or by another thread holding the GIL)
burns CPU, while a process the OS merely did not schedule (two cores shared by several test processes) does
not. Both numbers are reported; the test asserts on the stall.

``GET /_loop_lag`` answers ``{"max_stall_ms", "max_late_ms", "ticks"}`` and ``POST /_loop_lag/reset`` starts or
restarts the measurement. These two routes exist only in this test server.
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path
from typing import Any

TICK_S = 0.005


class LoopMonitor:
    def __init__(self) -> None:
        self.max_stall_s = 0.0
        self.max_late_s = 0.0
        self.ticks = 0
        self._task: asyncio.Task[None] | None = None

    def reset(self) -> None:
        self.max_stall_s = self.max_late_s = 0.0
        self.ticks = 0
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        wall, cpu = time.perf_counter, time.process_time
        while True:
            wall_before, cpu_before = wall(), cpu()
            await asyncio.sleep(TICK_S)
            late = wall() - wall_before - TICK_S
            busy = cpu() - cpu_before
            self.ticks += 1
            self.max_late_s = max(self.max_late_s, late)
            self.max_stall_s = max(self.max_stall_s, min(late, busy))

    def report(self) -> dict[str, Any]:
        return {"max_stall_ms": self.max_stall_s * 1000, "max_late_ms": self.max_late_s * 1000, "ticks": self.ticks}


def main(port: int, data_dir: Path) -> None:
    import uvicorn  # noqa: PLC0415

    from owui_otel.server import ServerConfig, create_app  # noqa: PLC0415

    app = create_app(ServerConfig(api_key="loop-lag-key", data_dir=data_dir))
    monitor = LoopMonitor()

    async def report() -> dict[str, Any]:
        return monitor.report()

    async def reset() -> dict[str, Any]:
        monitor.reset()
        return monitor.report()

    app.add_api_route("/_loop_lag", report, methods=["GET"])
    app.add_api_route("/_loop_lag/reset", reset, methods=["POST"])
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main(int(sys.argv[1]), Path(sys.argv[2]))

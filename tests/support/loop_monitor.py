# SPDX-License-Identifier: Apache-2.0
"""How long an event loop was stalled, measured on the loop itself (the issue's 50 ms bound).

A task sleeps ``TICK_S`` at a time and records how late each wake-up is. A late wake-up counts as a *stall* only
for the part the process spent on the CPU meanwhile (``min(late, CPU time of the process during the tick)``): a
loop held by Python code (or by another thread holding the GIL) burns CPU, while a process the OS merely did not
schedule (two cores shared by several test processes) does not. Both numbers are kept; tests assert on the stall.

    monitor = LoopMonitor()
    monitor.reset()                     # on the running loop: starts the task, or restarts the measurement
    ...the workload...
    monitor.stop()                      # optional: ends the task
    monitor.report()                    # {"max_stall_ms": ..., "max_late_ms": ..., "ticks": ...}
"""

from __future__ import annotations

import asyncio
import time
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

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

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

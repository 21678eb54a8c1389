# SPDX-License-Identifier: Apache-2.0
"""The bridge server in a child process with an event-loop stall monitor inside it.

    python -m tests.bridge.loop_lag <port> <data dir>      # valves come from <data dir>/valves.json

The monitor (``tests.support.loop_monitor``) is a task on the server's own loop; see there how a stall is told
from a process the OS merely did not schedule.

``GET /_loop_lag`` answers ``{"max_stall_ms", "max_late_ms", "ticks"}`` and ``POST /_loop_lag/reset`` starts or
restarts the measurement. These two routes exist only in this test server.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from tests.support.loop_monitor import LoopMonitor


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

# SPDX-License-Identifier: Apache-2.0
"""Counters and rate-limited logging: nothing the filter drops or fails at goes unseen.

The hooks never raise (a raised error aborts the user's chat), so every swallowed error and
every dropped item is counted here under a short key and logged, at most once per key per
``interval`` seconds (the OTel SDK uses the same 20 s bucket for its duplicate-log filter).

    >>> health = Counters()
    >>> health.count("turns_started")
    >>> health.problem("export_failed", "export to %s failed: %s", "http://collector:4318", "refused")  # logged
    >>> health.snapshot()
    {'turns_started': 1, 'export_failed': 1}
"""

from __future__ import annotations

import logging
import threading
import time

logger = logging.getLogger("otel_filter")


class Counters:
    """Thread-safe counters plus a warning log rate-limited per key."""

    def __init__(self, interval_s: float = 20.0) -> None:
        self._interval_s = interval_s
        self._counts: dict[str, int] = {}
        self._last_logged: dict[str, float] = {}
        self._suppressed: dict[str, int] = {}
        self._lock = threading.Lock()

    def count(self, key: str, n: int = 1) -> None:
        with self._lock:
            self._counts[key] = self._counts.get(key, 0) + n

    def problem(
        self, key: str, message: str, *args: object, level: int = logging.WARNING, exc_info: bool = False
    ) -> None:
        """Count ``key`` and log ``message % args`` unless ``key`` was logged less than ``interval`` ago."""
        now = time.monotonic()
        with self._lock:
            self._counts[key] = self._counts.get(key, 0) + 1
            last = self._last_logged.get(key)
            if last is not None and now - last < self._interval_s:
                self._suppressed[key] = self._suppressed.get(key, 0) + 1
                return
            self._last_logged[key] = now
            suppressed = self._suppressed.pop(key, 0)
        if suppressed:
            message = f"{message} (and {suppressed} more like it since the last report)"
        # exc_info only at debug: a stack per failed chat turn would flood the host's log.
        logger.log(level, message, *args, exc_info=exc_info and logger.isEnabledFor(logging.DEBUG))

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counts)

    def get(self, key: str) -> int:
        with self._lock:
            return self._counts.get(key, 0)

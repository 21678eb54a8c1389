# SPDX-License-Identifier: Apache-2.0
"""One daemon thread per core: writes the spans the hooks hand over, and ends expired turns on time.

Building a span (its ~30 attributes, the SDK's validation of each) is the larger part of what a
turn costs; a hook only captures what needs the payload and hands the rest over here, so the chat
waits for neither. When the hand-over queue is full (the thread cannot keep up), :meth:`submit`
says so and the caller writes inline: slower, never lost. The same thread wakes at least every
``interval()`` seconds to run ``tick`` (the expiry sweep), so an idle server still ends stopped
turns.

    worker = BackgroundWorker(write=write_span, tick=core.sweep, interval=lambda: 5.0, health=health)
    if not worker.submit(end):
        write_span(end)
    worker.flush()      # write everything handed over so far (valve change, tests)
    worker.stop()       # at shutdown: the rest is written before this returns
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from typing import Generic, TypeVar

from otel_filter._counters import Counters

Item = TypeVar("Item")
DEFAULT_CAPACITY = 10_000


class BackgroundWorker(Generic[Item]):
    """See the module docstring. Thread-safe; the thread starts on the first :meth:`start`."""

    def __init__(
        self,
        *,
        write: Callable[[Item], None],
        tick: Callable[[], None],
        interval: Callable[[], float],
        health: Counters,
        capacity: int = DEFAULT_CAPACITY,
    ) -> None:
        self._write = write
        self._tick = tick
        self._interval = interval
        self._health = health
        self._capacity = capacity
        self._items: deque[Item] = deque()
        self._wake = threading.Event()
        self._writing = threading.Lock()  # held while items are written: flush() waits for a drain in progress
        self._start_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stopped = False

    def start(self) -> None:
        if self._thread is not None or self._stopped:
            return
        with self._start_lock:
            if self._thread is None and not self._stopped:
                self._thread = threading.Thread(target=self._run, name="otel_filter-worker", daemon=True)
                self._thread.start()

    def submit(self, item: Item) -> bool:
        """Hand ``item`` over; False when the caller must write it itself (stopped, or queue full)."""
        if self._stopped or self._thread is None or len(self._items) >= self._capacity:
            return False
        self._items.append(item)
        if not self._wake.is_set():
            self._wake.set()
        return True

    def flush(self) -> None:
        """Write everything handed over so far, in the calling thread if the worker is not at it."""
        self._drain()

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop the thread; whatever it had not written yet is written before this returns."""
        self._stopped = True
        self._wake.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout_s)
        self._drain()

    def _run(self) -> None:
        while True:
            self._wake.wait(self._interval())
            self._wake.clear()
            self._drain()
            if self._stopped:
                return
            self._tick()

    def _drain(self) -> None:
        with self._writing:
            while self._items:
                item = self._items.popleft()
                try:
                    self._write(item)
                except Exception:  # one bad item must not stop the others, nor the thread
                    self._health.problem("write_failed", "otel_filter: could not write a span", exc_info=True)

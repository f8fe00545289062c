"""One thread that fires timeout callbacks at their deadlines (no thread per timed run)."""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from collections.abc import Callable


class Watchdog:
    """Runs ``callback`` after ``delay`` seconds unless cancelled. Sleeps until the earliest
    deadline; idle when nothing is pending."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._heap: list[tuple[float, int, Callable[[], None]]] = []
        self._cancelled: set[int] = set()
        self._ids = itertools.count()
        self._thread: threading.Thread | None = None
        self._stopping = False

    def start(self) -> None:
        with self._cond:
            if self._thread is not None:
                return
            self._stopping = False
            self._thread = threading.Thread(target=self._loop, name="fastscheduler-watchdog", daemon=True)
            self._thread.start()

    def after(self, delay: float, callback: Callable[[], None]) -> Callable[[], None]:
        """Schedule ``callback``; returns a function that cancels it."""
        self.start()
        with self._cond:
            ident = next(self._ids)
            heapq.heappush(self._heap, (time.monotonic() + delay, ident, callback))
            self._cond.notify()

        def cancel() -> None:
            with self._cond:
                self._cancelled.add(ident)

        return cancel

    def _loop(self) -> None:
        while True:
            with self._cond:
                while not self._stopping:
                    if not self._heap:
                        self._cond.wait()
                        continue
                    deadline = self._heap[0][0]
                    now = time.monotonic()
                    if deadline <= now:
                        break
                    self._cond.wait(deadline - now)
                if self._stopping:
                    return
                _, ident, callback = heapq.heappop(self._heap)
                if ident in self._cancelled:
                    self._cancelled.discard(ident)
                    continue
            callback()

    def stop(self) -> None:
        with self._cond:
            self._stopping = True
            self._heap.clear()
            self._cancelled.clear()
            self._cond.notify()
            thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=5)

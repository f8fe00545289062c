"""Sync jobs on a bounded set of worker threads (``max_workers``).

Submitting a run is one put on a C-level queue, and each worker takes runs off it in a loop:
no future, no work item, no callback list per run, and a run without a timeout executes in one
call into the Rust extension (``run.execute``: context, call, timing, outcome, report). When
10,000 jobs fall due at once, handing them over costs a few microseconds each instead of the tens
that ``concurrent.futures`` spends.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable

from fastscheduler._core import Run
from fastscheduler.executors.base import Done, Executor, Once, RunOutcome
from fastscheduler.executors.watchdog import Watchdog


class ThreadPoolExecutor(Executor):
    """Runs sync callables on ``max_workers`` threads, in submission order.

    Timeouts: Python cannot interrupt a running thread, so at the deadline the run is reported as
    timed out (``done`` is called then, not when the code finally returns) and whatever it returns
    later is discarded. Use ``.timeout(s, kill=True)`` to run a job in a process that is killed.

    ``shutdown`` lets the workers finish every run already submitted (the work queue is drained
    before they exit); with ``wait`` it waits for that, up to ``timeout`` seconds.
    """

    def __init__(self, max_workers: int, clock: Callable[[], float] = time.time) -> None:
        if max_workers < 1:
            raise ValueError(f"max_workers must be at least 1, got {max_workers}")
        self._max_workers = max_workers
        self._clock = clock
        self._queue: queue.SimpleQueue[Run | None] = queue.SimpleQueue()
        self._workers: list[threading.Thread] = []
        self._watchdog = Watchdog()
        self._lock = threading.Lock()

    def start(self) -> None:
        with self._lock:
            self._workers = [w for w in self._workers if w.is_alive()]
            for i in range(len(self._workers), self._max_workers):
                worker = threading.Thread(target=self._work, name=f"fastscheduler-worker_{i}", daemon=True)
                worker.start()
                self._workers.append(worker)
        self._watchdog.start()

    def submit(self, run: Run) -> None:
        if not self._workers:
            self.start()
        self._queue.put(run)

    def _work(self) -> None:
        get, clock = self._queue.get, self._clock
        while True:
            run = get()
            if run is None:
                return
            timeout = run.timeout
            if timeout is None:
                run.execute(clock)
                continue
            report = Once(run.report)
            cancel = self._watchdog.after(timeout, self._timed_out(report, clock(), timeout))
            run.execute(clock, report)
            cancel()

    def _timed_out(self, report: Done, started: float, timeout: float) -> Callable[[], None]:
        """What the watchdog calls at a run's deadline: report it timed out (once)."""

        def fire() -> None:
            report(
                RunOutcome(
                    started_at=started,
                    finished_at=self._clock(),
                    error=TimeoutError(f"timed out after {timeout:g} s"),
                    timed_out=True,
                )
            )

        return fire

    def shutdown(self, wait: bool, timeout: float | None) -> None:
        with self._lock:
            workers, self._workers = self._workers, []
        for _ in workers:
            self._queue.put(None)  # after every run already queued
        if wait:
            end = None if timeout is None else time.monotonic() + timeout
            for worker in workers:
                if worker is threading.current_thread():
                    continue  # stop() called from a job: that worker ends when the job returns
                worker.join(None if end is None else max(0.0, end - time.monotonic()))
        self._watchdog.stop()

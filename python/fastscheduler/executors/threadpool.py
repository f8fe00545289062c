"""Sync jobs in a bounded thread pool (``max_workers``)."""

from __future__ import annotations

import concurrent.futures
import threading
import time
from collections.abc import Callable
from typing import Any

from fastscheduler.executors.base import Done, Executor, RunOutcome
from fastscheduler.executors.watchdog import Watchdog


class ThreadPoolExecutor(Executor):
    """Runs sync callables on at most ``max_workers`` threads.

    Timeouts: Python cannot interrupt a running thread, so at the deadline the run is reported as
    timed out (``done`` is called then, not when the code finally returns) and whatever it returns
    later is discarded. Use ``.timeout(s, kill=True)`` to run a job in a process that is killed.
    """

    def __init__(self, max_workers: int, clock: Callable[[], float] = time.time) -> None:
        if max_workers < 1:
            raise ValueError(f"max_workers must be at least 1, got {max_workers}")
        self._max_workers = max_workers
        self._clock = clock
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None
        self._watchdog = Watchdog()
        self._inflight: set[concurrent.futures.Future[None]] = set()
        self._lock = threading.Lock()

    def start(self) -> None:
        if self._pool is None:
            self._pool = concurrent.futures.ThreadPoolExecutor(
                max_workers=self._max_workers, thread_name_prefix="fastscheduler-worker"
            )
        self._watchdog.start()

    def submit(
        self,
        func: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        timeout: float | None,
        done: Done,
    ) -> None:
        if self._pool is None:
            self.start()
        assert self._pool is not None
        once = _Once(done)
        started = self._clock()

        def run() -> None:
            error: BaseException | None = None
            try:
                func(*args, **kwargs)
            except BaseException as exc:  # a job's SystemExit is a failed run, not ours
                error = exc
            once(RunOutcome(started_at=started, finished_at=self._clock(), error=error))

        future = self._pool.submit(run)
        with self._lock:
            self._inflight.add(future)
        future.add_done_callback(self._forget)
        if timeout is not None:
            cancel = self._watchdog.after(
                timeout,
                lambda: once(
                    RunOutcome(
                        started_at=started,
                        finished_at=self._clock(),
                        error=TimeoutError(f"timed out after {timeout:g} s"),
                        timed_out=True,
                    )
                ),
            )
            future.add_done_callback(lambda _f: cancel())

    def _forget(self, future: concurrent.futures.Future[None]) -> None:
        with self._lock:
            self._inflight.discard(future)

    def shutdown(self, wait: bool, timeout: float | None) -> None:
        pool, self._pool = self._pool, None
        if pool is None:
            return
        pool.shutdown(wait=False, cancel_futures=not wait)
        if wait:
            with self._lock:
                pending = set(self._inflight)
            concurrent.futures.wait(pending, timeout=timeout)
        self._watchdog.stop()


class _Once:
    """Calls ``done`` for the first outcome only (a timeout and a late finish race)."""

    def __init__(self, done: Done) -> None:
        self._done: Done | None = done
        self._lock = threading.Lock()

    def __call__(self, outcome: RunOutcome) -> None:
        with self._lock:
            done, self._done = self._done, None
        if done is not None:
            done(outcome)

"""The saver: one background thread that writes the scheduler's changes to its storage backend.

Changes are *marked* (a job id is dirty, a history entry was added ...) from any thread at the cost
of a set insertion; the saver thread turns them into one :class:`~fastscheduler.stores.Changes`
batch and hands it to the backend. While a write is in progress, new changes accumulate into the
next batch, so at most one save is ever pending however fast changes arrive (10,000 job adds are
one or two writes, not 10,000). Job records are read when the batch is built, so a job changed a
thousand times between two writes is written once, as it is then.

Writes can be paced (``min_interval``: the JSON backend rewrites its whole file, so it waits at
least ``StorageBackend.min_write_interval`` seconds between writes, letting changes gather); a
flush or a stop never waits for the pace.

A write that fails (a database that went away) is kept, merged with newer changes, and retried with
exponential backoff (0.5 s doubling to 30 s) until it succeeds; jobs keep running from memory
meanwhile. :meth:`Saver.status` reports the outage; :meth:`Saver.flush` (called by ``stop()``) waits
for everything marked so far to be written.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from fastscheduler.stores.base import Changes, StorageBackend

log = logging.getLogger("fastscheduler")

JobRecords = Callable[[set[str]], tuple[dict[str, dict[str, Any]], set[str]]]
"""``records(ids) -> (records by id, ids to delete)``: the current record of each dirty job id
(ids of jobs that no longer exist come back in the delete set)."""


class Saver:
    """Coalescing background writer for one backend (see the module documentation)."""

    def __init__(
        self,
        backend: StorageBackend,
        job_records: JobRecords,
        stats_record: Callable[[], dict[str, Any] | None],
        clock: Callable[[], float],
        on_saved: Callable[[Changes], None] | None = None,
        min_retry: float = 0.5,
        max_retry: float = 30.0,
        min_interval: float = 0.0,
    ) -> None:
        self._backend = backend
        self._job_records = job_records
        self._stats_record = stats_record
        self._clock = clock
        self._on_saved = on_saved
        self._min_retry = min_retry
        self._min_interval = min_interval
        self._next_write_at = 0.0
        self._flushing = 0
        self._max_retry = max_retry
        self._cond = threading.Condition()
        self._dirty_jobs: set[str] = set()
        self._marked = Changes()  # history, dead letters, clear flag (jobs and stats are dirty flags)
        self._stats_dirty = False
        self._failed: Changes | None = None  # a batch whose write failed, to retry first
        self._writing = False
        self._generation = 0  # bumped by every mark; flush waits for the one it saw to be written
        self._written = 0
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._last_error: str | None = None
        self._error_since: float | None = None
        self._writes = 0

    # ------------------------------------------------------------------ marking (any thread)

    def job(self, job_id: str) -> None:
        """Job ``job_id`` changed (or was removed): write its current record (or delete it)."""
        with self._cond:
            self._dirty_jobs.add(job_id)
            self._bump()

    def jobs(self, job_ids: list[str]) -> None:
        """Several jobs changed."""
        with self._cond:
            self._dirty_jobs.update(job_ids)
            self._bump()

    def history(self, entry: dict[str, Any]) -> None:
        with self._cond:
            self._marked.history.append(entry)
            self._stats_dirty = True
            self._bump()

    def dead_letter(self, entry: dict[str, Any]) -> None:
        with self._cond:
            self._marked.dead_letters.append(entry)
            self._bump()

    def clear_dead_letters(self) -> None:
        with self._cond:
            self._marked.merge(Changes(clear_dead_letters=True))
            self._bump()

    def _bump(self) -> None:
        self._generation += 1
        self._cond.notify_all()

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        with self._cond:
            if self._thread is not None:
                return
            self._stopping = False
            self._thread = threading.Thread(target=self._loop, name="fastscheduler-saver", daemon=True)
            self._thread.start()

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until everything marked before this call is written; False if ``timeout`` passed
        first (for instance while the database is down)."""
        end = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            target = self._generation
            self._flushing += 1
            self._cond.notify_all()
            try:
                return self._wait_written(target, end)
            finally:
                self._flushing -= 1

    def _wait_written(self, target: int, end: float | None) -> bool:
        while True:
            if self._written >= target:
                return True
            if self._thread is None:
                return False
            remaining = None if end is None else end - time.monotonic()
            if remaining is not None and remaining <= 0:
                return False
            self._cond.wait(remaining)

    def stop(self, timeout: float | None = None) -> bool:
        """Flush (up to ``timeout``), then end the thread. True if everything was written."""
        flushed = self.flush(timeout)
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
            thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=5)
        return flushed

    @property
    def alive(self) -> bool:
        """Whether the saver thread runs."""
        thread = self._thread
        return thread is not None and thread.is_alive()

    def status(self) -> dict[str, Any]:
        """``ok``, ``last_error`` and ``error_since`` (epoch seconds) of the current outage, if any,
        ``writes`` so far and whether changes are ``pending``."""
        with self._cond:
            return {
                "ok": self._last_error is None,
                "last_error": self._last_error,
                "error_since": self._error_since,
                "writes": self._writes,
                "pending": self._written < self._generation,
            }

    # ------------------------------------------------------------------ the thread

    def _take(self) -> tuple[Changes, set[str], bool]:
        """Everything marked so far (lock held): the batch of history, dead letters and a failed
        batch, plus the dirty job ids and whether stats are dirty. Records are read after the lock
        is released (reading them takes the scheduler's lock, which markers hold while marking)."""
        batch = self._failed or Changes()
        self._failed = None
        ids, self._dirty_jobs = self._dirty_jobs, set()
        stats, self._stats_dirty = self._stats_dirty, False
        marked, self._marked = self._marked, Changes()
        batch.merge(marked)
        return batch, ids, stats

    def _complete(self, batch: Changes, ids: set[str], stats: bool) -> Changes:
        """Add the current job records and stats to ``batch`` (no lock of ours held)."""
        if ids:
            records, deleted = self._job_records(ids)
            batch.merge(Changes(jobs=records, deleted_jobs=deleted))
        if stats:
            batch.stats = self._stats_record()
        return batch

    def _wait_for_work(self, retry_at: float) -> bool:
        """Wait (lock held) until there is something to write and, after a failure, until
        ``retry_at`` (monotonic; marks do not cut a backoff short, a stop does). False: stop now."""
        while True:
            if self._failed is not None:
                wait = retry_at - time.monotonic()
                if wait <= 0 or self._stopping:
                    return True
                self._cond.wait(wait)
            elif self._written < self._generation:
                wait = self._next_write_at - time.monotonic()
                if wait <= 0 or self._stopping or self._flushing:
                    return True
                self._cond.wait(wait)  # pacing: let changes gather (flush and stop cut it short)
            elif self._stopping:
                return False
            else:
                self._cond.wait()

    def _loop(self) -> None:
        delay = self._min_retry
        retry_at = 0.0
        while True:
            with self._cond:
                if not self._wait_for_work(retry_at):
                    return
                target = self._generation
                taken = self._take()
            batch = taken[0]
            try:
                batch = self._complete(*taken)
                if batch:
                    self._backend.write(batch, self._clock())
            except Exception as exc:
                with self._cond:
                    if self._last_error is None:
                        self._error_since = self._clock()
                        log.warning("fastscheduler: saving state failed, will retry: %s", exc)
                    self._last_error = f"{type(exc).__name__}: {exc}"
                    # Keep the batch; newer marks are merged into it on the next try, and its jobs
                    # and stats are read afresh then.
                    self._failed = batch
                    self._dirty_jobs |= taken[1]
                    self._stats_dirty |= taken[2]
                    if self._stopping:
                        return  # stop() reports the unwritten changes (flush returned False)
                retry_at = time.monotonic() + delay
                delay = min(delay * 2, self._max_retry)
                continue
            delay = self._min_retry
            with self._cond:
                if self._last_error is not None:
                    log.warning("fastscheduler: saving state works again")
                self._last_error = None
                self._error_since = None
                self._writes += 1
                self._written = target
                self._next_write_at = time.monotonic() + self._min_interval
                self._cond.notify_all()
            if self._on_saved is not None and batch:
                self._on_saved(batch)

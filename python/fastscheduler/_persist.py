"""Persistence sync: load the store at ``start()``, keep it current while running, flush at ``stop()``.

The store (:class:`~fastscheduler.stores.StorageBackend`) is locked and loaded by :meth:`Persistence.open`:
history, dead letters and counts go to the run log, job records to the job state (re-attached when
their job is armed). While open, changes are *marked* by the job state and the run log and written
by the :class:`~fastscheduler._saver.Saver` thread, which reads the current records when it writes.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any, cast

from fastscheduler._jobstate import JobState
from fastscheduler._runlog import RunLog
from fastscheduler._saver import JobRows, Saver
from fastscheduler.stores import Changes, Limits, StorageBackend
from fastscheduler.stores._loaded import LoadedJobs
from fastscheduler.stores._records import check_state

__all__ = ["Persistence"]

log = logging.getLogger("fastscheduler")


class Persistence:
    """Owns the store's lifecycle and the saver (see the module doc)."""

    def __init__(
        self,
        storage: StorageBackend,
        limits: Limits,
        *,
        persist: bool,
        shared_counts: bool,
        jobs: JobState,
        runlog: RunLog,
        clock: Callable[[], float],
        on_saved: Callable[[Changes], None],
    ) -> None:
        self.storage = storage
        self._limits = limits
        # storage="memory" promises only that nothing persists: state is not even copied.
        self._persist = persist
        self._shared_counts = shared_counts
        self._jobs = jobs
        self._runlog = runlog
        self._clock = clock
        self._on_saved = on_saved
        self._open = False
        self._loaded = False
        self.saver: Saver | None = None
        #: Called after each write to the store, on the saver's thread, with its duration in seconds
        #: and whether it worked; must not raise. Set by :func:`fastscheduler.metrics.instrument`.
        self.on_write: Callable[[float, bool], None] | None = None

    def open(self) -> None:
        """Lock and load the store. The first time, load history, dead letters, statistics and job
        records; later starts only take the lock again. All or nothing: if it raises (a damaged
        record: :class:`~fastscheduler.stores.StorageFormatError`), the store is closed again and
        nothing of it was taken in."""
        if self._open:
            return
        state = self.storage.open(self._limits)
        try:
            if not self._loaded:
                if not self.storage.validates_records:
                    check_state(state, f"The store {type(self.storage).__name__}")
                self._runlog.load(state, shared=self._shared_counts)  # converts, then keeps
                # (a SQL store's records stay texts until read: kept as they are)
                self._jobs.stored = state.jobs if isinstance(state.jobs, LoadedJobs) else dict(state.jobs)
                self._loaded = True
            saver = None
            if self._persist:  # storage="memory": nothing to write, so no saver and no records built
                saver = Saver(
                    cast(StorageBackend, _Observed(self)),  # the store, its writes timed for metrics
                    lock=self._jobs.lock,
                    job_records=self._jobs.store_records,
                    job_states=self._jobs.store_states if self.storage.accepts_states else None,
                    job_lines=self._jobs.store_record_lines if self.storage.accepts_states else None,
                    job_rows=self._job_rows() if not self.storage.accepts_states else None,
                    unsaved=self._runlog.unsaved,
                    stats_record=self._runlog.store_record,
                    clock=self._clock,
                    on_saved=self._on_saved,
                    min_interval=self.storage.min_write_interval,
                )
                saver.start()
        except BaseException:
            self.storage.close()
            raise
        self._open = True
        self.saver = self._jobs.saver = self._runlog.saver = saver

    def _job_rows(self) -> JobRows | None:
        """The saver's row builder, for a store that takes rows (sorted by job id for a shared
        database, whose writers then lock rows in one order)."""
        if not self.storage.accepts_rows:
            return None
        ordered, longest = self.storage.multi_instance, self.storage.max_job_id_length
        size = self.storage.rows_array_bytes
        store_rows = self._jobs.store_rows
        return lambda ids: store_rows(ids, ordered=ordered, max_id_length=longest, max_bytes=size)

    def jobs_changed(self, job_ids: list[str]) -> None:
        if self.saver is not None:
            self.saver.jobs(job_ids)

    def close(self, timeout: float | None) -> None:
        """Flush and close the store. ``timeout`` bounds the wait only while writes fail (a
        database that is down); a write that is merely slow (the first save of a million jobs to
        a JSON file) is waited for, since giving up on it would lose the state."""
        saver, self.saver = self.saver, None
        self._jobs.saver = self._runlog.saver = None
        if saver is not None:
            flushed = saver.flush(timeout)
            while not flushed and saver.alive and saver.status()["ok"]:
                # Working, not done: past ``timeout`` too (``timeout`` may be 0: stop()'s deadline
                # is spent), in steps of a second, saying so after each.
                flushed = saver.flush(1.0)
                if not flushed:
                    log.warning(
                        "fastscheduler: still saving state to %s before stopping", type(self.storage).__name__
                    )
            if not saver.stop(0):
                log.warning("fastscheduler: stopped with unsaved changes: %s", saver.status()["last_error"])
        if self._open:
            self._open = False
            self.storage.close()

    def status(self) -> dict[str, Any]:
        """The store's health: ``ok``, ``last_error`` and ``error_since`` of an outage, ``writes``,
        ``pending`` (changes not written yet) and the backend's class name."""
        saver = self.saver
        status = (
            saver.status()
            if saver is not None
            else {"ok": True, "last_error": None, "error_since": None, "writes": 0, "pending": False}
        )
        return {"backend": type(self.storage).__name__, **status}


class _Observed:
    """The store as the saver sees it: each write timed for ``Persistence.on_write`` (when set);
    everything else is the store's own."""

    def __init__(self, persistence: Persistence) -> None:
        self._persistence = persistence

    def write(self, changes: Changes, now: float) -> None:
        store, observe = self._persistence.storage, self._persistence.on_write
        if observe is None:
            store.write(changes, now)
            return
        began = time.perf_counter()
        try:
            store.write(changes, now)
        except BaseException:
            observe(time.perf_counter() - began, False)
            raise
        observe(time.perf_counter() - began, True)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._persistence.storage, name)

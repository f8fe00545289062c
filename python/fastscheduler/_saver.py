"""The saver: one background thread that writes the scheduler's changes to its storage backend.

Changes are *marked* by the threads that make them, with the scheduler's lock held (they hold it
anyway): a job whose record is new (:meth:`Saver.job`), a job whose state changed
(:meth:`Saver.state`: a set insertion, nothing built), history or dead letters added
(:meth:`Saver.poke`: the run log keeps them and counts what is unsaved). Only the first mark after
a write wakes the saver thread. The thread then waits out the flush interval (``min_interval``:
changes gather, one write and one fsync carry all of them), takes the marks, builds one
:class:`~fastscheduler.stores.Changes` batch and hands it to the backend. What a batch holds is
read when it is built, so a job that ran a hundred times since the last write is written once,
as it is then, and history is read from the run log's bounded buffer (at most ``max_history``
entries per write, however many runs there were).

For a backend that takes job states (``StorageBackend.accepts_states``: the JSON journal), a job
whose full record is stored is written as a state line serialised in Rust (``docs/persistence.md``).
A backend that takes rows (``StorageBackend.accepts_rows``: SQL) gets every changed job's whole
record as a row serialised in Rust, and history as rows (JSON arrays: one statement each). Other
backends get records as dicts. A flush or a stop never waits for the pace.

A write that fails (a database that went away) is kept, merged with newer changes, and retried with
exponential backoff (0.5 s doubling to 30 s) until it succeeds; jobs keep running from memory
meanwhile. :meth:`Saver.status` reports the outage; :meth:`Saver.flush` (called by ``stop()``) waits
for everything marked so far to be written.
"""

from __future__ import annotations

import itertools
import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, Final

from fastscheduler._core import encode_record_rows, encode_records
from fastscheduler._runlog import HISTORY_NAMES, record
from fastscheduler.stores.base import FORMAT_VERSION, Changes, StorageBackend

if TYPE_CHECKING:
    from fastscheduler._core import Job
    from fastscheduler.models import DeadLetter, HistoryEntry

log = logging.getLogger("fastscheduler")

#: The history fields a SQL store's rows lead with (its indexed columns), before the record.
_HISTORY_COLUMNS: Final = ("job_id", "status", "timestamp")

#: Most whole job records in one write (the rest follow at once, in further writes).
FULL_SLICE = 50_000

JobRecords = Callable[[set[str]], tuple[dict[str, dict[str, Any]], set[str]]]
"""``records(ids) -> (records by id, ids to delete)``: the current record of each dirty job id
(ids of jobs that no longer exist come back in the delete set)."""

JobStates = Callable[[list["Job"]], tuple[bytes, int, dict[str, dict[str, Any]], set[str]]]
"""``states(jobs) -> (state lines, how many, full records, ids to delete)``: the journal state
lines of the jobs still registered (full records of those whose state is not in the engine), and
the ids of those that are not."""

JobLines = Callable[[set[str]], tuple[bytes, int, dict[str, dict[str, Any]], set[str]]]
"""``lines(ids) -> (job lines, how many, full records, ids to delete)``: the whole records of the
dirty job ids as journal lines (those it cannot serialise as dicts), and the ids to delete."""

JobRows = Callable[[set[str]], tuple[list[bytes], int, dict[str, dict[str, Any]], set[str]]]
"""``rows(ids) -> (row arrays, how many rows, full records, ids to delete)``: the whole records of
the dirty job ids as SQL rows made in Rust (those it leaves to Python as dicts), and the ids to
delete."""

Unsaved = Callable[[], tuple[list["HistoryEntry"], list["DeadLetter"], bool]]
"""``unsaved() -> (history entries, dead letters, cleared)``: what the run log added (and whether
it cleared its dead letters) since the last call; called with the scheduler's lock held."""


class Saver:
    """Coalescing background writer for one backend (see the module documentation). ``lock`` is
    the scheduler's lock, held by every caller of the marking methods."""

    def __init__(
        self,
        backend: StorageBackend,
        *,
        lock: threading.RLock,
        job_records: JobRecords,
        job_states: JobStates | None,
        job_lines: JobLines | None = None,
        job_rows: JobRows | None = None,
        unsaved: Unsaved,
        stats_record: Callable[[], dict[str, Any] | None],
        clock: Callable[[], float],
        on_saved: Callable[[Changes], None] | None = None,
        min_retry: float = 0.5,
        max_retry: float = 30.0,
        min_interval: float = 0.0,
    ) -> None:
        self._backend = backend
        self._lock = lock
        self._job_records = job_records
        self._job_states = job_states
        self._job_lines = job_lines
        self._job_rows = job_rows
        self._unsaved = unsaved
        self._stats_record = stats_record
        self._clock = clock
        self._on_saved = on_saved
        self._min_retry = min_retry
        self._max_retry = max_retry
        self._min_interval = min_interval
        self._next_write_at = 0.0
        self._flushing = 0
        self._cond = threading.Condition(threading.Lock())
        # Marks (scheduler lock held): ids needing a full record, jobs whose state changed.
        self._full: set[str] = set()
        self._states: set[Job] = set()
        self._stats_dirty = False
        self._poked = False  # a mark since the thread last took them (it was woken)
        self._generation = 0  # bumped by every mark; flush waits for the one it saw to be written
        # (saver thread and cond)
        self._failed: Changes | None = None  # a batch whose write failed, to retry first
        # Ids whose whole record is still to write (saver thread): iterators over id sets, each
        # with how many ids it has left.
        self._backlog: list[tuple[Iterator[str], list[int]]] = []
        self._written = 0
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._last_error: str | None = None
        self._error_since: float | None = None
        self._writes = 0

    # ------------------------------------------------------------------ marking (scheduler lock held)

    def job(self, job_id: str) -> None:
        """Job ``job_id`` is new, changed its definition, or was removed: write its whole record
        (or delete it)."""
        self._full.add(job_id)
        self.poke(stats=False)

    def jobs(self, job_ids: list[str]) -> None:
        """Several jobs are new (``start()``: every registered job)."""
        self._full.update(job_ids)
        self.poke(stats=False)

    def state(self, job: Job) -> None:
        """The state of ``job`` (counters, next run, pause, recent outcomes) changed, or it was
        removed. Costs a set insertion."""
        self._states.add(job)
        self._generation += 1
        if not self._poked:
            self._wake()

    def poke(self, stats: bool = True) -> None:
        """Something the saver reads when it writes changed (``stats``: the statistics too; the
        run log added history or dead letters)."""
        self._generation += 1
        if stats:
            self._stats_dirty = True
        if not self._poked:
            self._wake()

    def stats(self) -> None:
        self.poke()

    def _wake(self) -> None:
        with self._cond:
            self._poked = True
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
        with self._lock:
            target = self._generation
        with self._cond:
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

    def _take(
        self,
    ) -> tuple[int, tuple[list[HistoryEntry], list[DeadLetter], bool], set[str], set[Job], bool]:
        """Everything marked so far (scheduler lock held, briefly): the generation it reaches,
        the run log's new history and dead letters, the dirty ids and jobs, and whether the
        statistics changed. Records are built afterwards, outside the lock."""
        with self._cond:
            self._poked = False
        target = self._generation
        full, self._full = self._full, set()
        states, self._states = self._states, set()
        stats, self._stats_dirty = self._stats_dirty, False
        return target, self._unsaved(), full, states, stats

    def _next_slice(self) -> set[str]:
        """The next FULL_SLICE ids of the backlog (saver thread)."""
        ids: set[str] = set()
        backlog = self._backlog
        while backlog and len(ids) < FULL_SLICE:
            it, left = backlog[0]
            n = min(left[0], FULL_SLICE - len(ids))
            ids.update(itertools.islice(it, n))
            left[0] -= n
            if left[0] <= 0:
                backlog.pop(0)
        return ids

    def _log_changes(self, history: list[HistoryEntry], dead: list[DeadLetter], cleared: bool) -> Changes:
        """History and dead letters as a batch: for a store that takes journal lines or rows,
        history as lines or rows serialised in Rust (a dict per record otherwise, or for values
        only Python writes)."""
        changes = Changes(dead_letters=[record(d) for d in dead], clear_dead_letters=cleared)
        if history and self._job_rows is not None:
            try:
                changes.history_rows = encode_record_rows(
                    history,
                    list(HISTORY_NAMES),
                    FORMAT_VERSION,
                    list(_HISTORY_COLUMNS),
                    self._backend.rows_array_bytes,
                )
                changes.history_row_count = len(history)
                return changes
            except (ValueError, TypeError, OverflowError):
                pass  # NaN, a lone surrogate, a huge int: as dicts, which json writes
        if history and self._job_states is not None:
            try:
                changes.history_lines = encode_records(
                    "history", history, list(HISTORY_NAMES), FORMAT_VERSION
                )
                changes.history_count = len(history)
                return changes
            except (ValueError, TypeError, OverflowError):
                pass  # NaN, a lone surrogate, a huge int: as dicts, which json writes
        changes.history = [record(h) for h in history]
        return changes

    def _complete(self, batch: Changes, full: set[str], states: set[Job], stats: bool) -> Changes:
        """Add the current job records, job states and statistics to ``batch`` (scheduler lock
        not held: the builders take it in chunks)."""
        if states and self._job_states is None:
            full |= {job.job_id for job in states}
            states = set()
        if full and self._job_rows is not None:
            rows, count, records, deleted = self._job_rows(full)
            batch.merge(Changes(jobs=records, deleted_jobs=deleted, job_rows=rows, job_row_count=count))
        elif full and self._job_lines is not None:
            lines, count, records, deleted = self._job_lines(full)
            batch.merge(Changes(jobs=records, deleted_jobs=deleted, job_lines=lines, job_line_count=count))
        elif full:
            records, deleted = self._job_records(full)
            batch.merge(Changes(jobs=records, deleted_jobs=deleted))
        if states:
            assert self._job_states is not None
            lines, count, records, deleted = self._job_states(list(states))
            deleted -= batch.jobs.keys()
            if deleted or records:
                batch.merge(Changes(jobs=records, deleted_jobs=deleted))
            batch.states, batch.state_count = lines, count
        if stats:
            batch.stats = self._stats_record()
        return batch

    def _wait_for_work(self, retry_at: float) -> bool:
        """Wait (cond held) until there is something to write and, after a failure, until
        ``retry_at`` (monotonic; marks do not cut a backoff short, a stop does). False: stop now."""
        while True:
            if self._failed is not None:
                wait = retry_at - time.monotonic()
                if wait <= 0 or self._stopping:
                    return True
                self._cond.wait(wait)
            elif self._backlog:
                return True
            elif self._poked:
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
            with self._lock:
                target, log_entries, full, states, stats = self._take()
            # Whole records wait in a backlog and go FULL_SLICE per write: the first save of a
            # million jobs never holds a million record dicts (the collector would scan them all).
            backlog = self._backlog
            if full:  # (an iterator over the set: a million ids are not copied)
                backlog.append((iter(full), [len(full)]))
            now_ids = self._next_slice()
            with self._cond:
                batch, self._failed = self._failed or Changes(), None
            try:
                marked = self._log_changes(*log_entries)
                if marked.history and (batch.history_lines or batch.history_rows):  # records follow
                    batch = _history_as_records(batch)
                batch.merge(marked)
                batch = self._complete(batch, now_ids, states, stats)
                if batch:
                    self._backend.write(batch, self._clock())
            except Exception as exc:
                # Job records and states are read afresh on the next try: their ids go back; the
                # batch keeps what cannot be read again (history, dead letters).
                retry = {*now_ids, *batch.jobs, *batch.deleted_jobs}  # (rows: of now_ids)
                backlog.append((iter(retry), [len(retry)]))
                batch.jobs, batch.deleted_jobs = {}, set()
                batch.job_rows, batch.job_row_count = [], 0
                batch.states, batch.state_count = b"", 0
                batch.job_lines, batch.job_line_count = b"", 0
                with self._lock:
                    self._states |= states
                    self._stats_dirty |= stats
                with self._cond:
                    if self._last_error is None:
                        self._error_since = self._clock()
                        log.warning("fastscheduler: saving state failed, will retry: %s", exc)
                    self._last_error = f"{type(exc).__name__}: {exc}"
                    self._failed = batch
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
                if not backlog:  # (with a backlog, the next slice goes at once)
                    self._written = target
                    self._next_write_at = time.monotonic() + self._min_interval
                self._cond.notify_all()
            if self._on_saved is not None and batch:
                self._on_saved(batch)
            del batch  # (freed here, a slice at a time)


def _history_as_records(batch: Changes) -> Changes:
    """``batch`` with its history lines or rows turned back into records, after its records (so
    that newer records can follow)."""
    lines = batch.history_lines.decode("utf-8").splitlines()
    # (a batch's records come before its lines or rows: records never follow them in a merge)
    batch.history = (
        batch.history
        + [json.loads(line)["history"] for line in lines]
        + [json.loads(row[3]) for rows in batch.history_rows for row in json.loads(rows)]
    )
    batch.history_lines, batch.history_count = b"", 0
    batch.history_rows, batch.history_row_count = [], 0
    return batch

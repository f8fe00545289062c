"""Job state and its views: which jobs exist, where each sits in the engine, what they look like.

The Rust side owns the state of a job (one owner per piece of state): the registry
(``fastscheduler._core.Registry``) its identity, spec and run state (running, last run, recent
outcomes, finished), and the engine (``fastscheduler._core.Engine``) its next fire, pause flag and
counters, under ``job.key``. :class:`JobState` is the one place that puts jobs into the engine and
takes them out, and it builds every view of a job from those two owners: the records
``get_jobs()`` and the dashboard show, and the record a store keeps. It also holds what is not a
registered job's state yet: stored records that no code registered (orphans) and the shared rows
of a cluster (re-attached when a job is armed), and the retries waiting in the engine.
"""

from __future__ import annotations

import functools
import json
import threading
import time
from collections.abc import Callable, MutableMapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, Literal

from fastscheduler._core import (
    ClusterRows,
    CronExpr,
    Engine,
    Job,
    Trigger,
    encode_job_records,
    encode_job_rows,
    encode_job_states,
    restore_jobs,
)
from fastscheduler._registry import new_registry
from fastscheduler.models import JobStatus, readable
from fastscheduler.stores import FORMAT_VERSION
from fastscheduler.stores._loaded import LoadedJobs, Saved
from fastscheduler.stores._records import too_deep

if TYPE_CHECKING:
    from fastscheduler._saver import Saver
    from fastscheduler.coordination.base import Claim, Rows, ScheduleRow

__all__ = ["InFlight", "JobState", "Retry"]

_SLOT_MASK: Final = 0xFFFF_FFFF
Armed = Literal["armed", "paused", "missed"]
_PLAIN: Final = frozenset({str, int, float, bool, type(None)})


@dataclass(slots=True)
class Retry:
    """A retry waiting in the engine (a date trigger): the attempt it will be, of which fire."""

    job: Job
    attempt: int
    scheduled: float
    first_attempt_at: float
    claim: Claim | None = None


class InFlight:
    """How many runs (and claims being made) are in flight; ``stop()`` and a manual clock wait
    until there are none."""

    def __init__(self, lock: threading.RLock) -> None:
        self.count = 0
        self._idle = threading.Condition(lock)

    def done(self) -> None:
        """One fewer (lock held)."""
        self.count -= 1
        self._idle.notify_all()

    def wait(self, timeout: float | None) -> bool:
        """Wait until nothing is in flight; False if ``timeout`` passed first."""
        with self._idle:
            return self._idle.wait_for(lambda: not self.count, timeout)


class JobState:
    """Registered jobs and their place in the engine (see the module doc). Every method that
    changes state is called with ``lock`` held."""

    def __init__(self, engine: Engine, clock: Callable[[], float], lock: threading.RLock) -> None:
        self.engine = engine
        self.lock = lock
        self._clock = clock
        self.registry = new_registry()
        #: Where changed jobs are written (set while a store is open).
        self.saver: Saver | None = None
        # Jobs by engine slot (the low 32 bits of an engine key; the high bits are its generation).
        self._by_slot: list[Job | None] = []
        #: Stored job records no registered job has claimed yet: re-attached when a job with that
        #: id is registered, shown as orphaned (and never run) meanwhile.
        self.stored: MutableMapping[str, dict[str, Any]] = {}
        #: Shared rows (a cluster's) of jobs not armed yet: the truth for time, pause and counters.
        self.rows: Rows = {}
        #: Retries waiting in the engine, by their engine key.
        self.retries: dict[int, Retry] = {}
        #: ``(runs, failures, retries)`` of finished one-shot jobs restored from a store (they are
        #: never armed, so the engine holds no counters for them).
        self.finished_counters: dict[str, tuple[int, int, int]] = {}
        #: While ``start()`` arms the jobs (else None): the ids of those whose whole record the
        #: store must be given (new jobs, changed definitions, a cluster row that moved on); the
        #: others are stored as they are, and a restart writes nothing for them.
        self.to_write: list[str] | None = None
        # During that arming: the new interval jobs armed at each time (their first fire is one
        # interval later), the stored form of each spec (by ``id``) and function (by ``id``).
        self._fresh: dict[float, list[Job]] = {}
        self._shortest = float("inf")  # the shortest interval among them
        self._spec_records: dict[int, dict[str, Any]] = {}
        self._func_paths: dict[int, str] = {}

    # ------------------------------------------------------------------ lookups

    def get(self, job_id: str) -> Job | None:
        return self.registry.get(job_id)

    def by_key(self, key: int) -> Job | None:
        """The job armed under engine ``key`` (None: removed or re-armed since)."""
        job = self._by_slot[key & _SLOT_MASK]
        return job if job is not None and job.key == key else None

    def __iter__(self) -> Any:
        return iter(self.registry)

    def __len__(self) -> int:
        return len(self.registry)

    # ------------------------------------------------------------------ arming

    def trigger(self, job: Job, now: float, anchor: float | None = None) -> Trigger:
        spec = job.spec
        if spec.kind == "interval":
            assert spec.interval is not None
            return Trigger.interval(spec.interval, now + spec.interval if anchor is None else anchor)
        if spec.kind == "cron":
            assert spec.cron is not None
            return Trigger.cron(CronExpr(spec.cron, tz=spec.tz))
        assert spec.at is not None
        return Trigger.date(spec.at)

    def arm(self, job: Job, now: float, triggers: dict[int, Trigger] | None = None) -> Armed:
        """Put a job into the engine. ``triggers`` caches the trigger of each spec (by ``id``)
        while many jobs are armed at one ``now``: equal inputs, one trigger. Returns "missed" for
        a one-shot job whose time passed before start() under ``.no_catch_up()`` (the caller
        records the missed fire), "paused" for a job paused before start(), else "armed"."""
        if job.key is not None or job.finished:
            if self.to_write is not None:
                self.to_write.append(job.job_id)
            return "armed"
        spec = job.spec
        saved = self._take_stored(job) if self.stored else None
        row = self.rows.pop(job.job_id, None) if self.rows else None
        if self.to_write is not None and (
            saved is None
            or (job.has_run_state and job.run.paused)  # paused before start(): the record must say so
            or not self._as_stored(saved, row, spec.kind)
        ):
            self.to_write.append(job.job_id)
        if saved is not None or row is not None:
            key = self._restore(job, saved, row, now)
            if key is None:
                return "armed"
        elif spec.kind == "date" and spec.at is not None and spec.at <= now:
            # A one-shot whose time passed before start(): a late fire like any other, due at
            # once (catch-up) or, under .no_catch_up(), skipped and recorded as missed.
            if not spec.catch_up:
                job.run_state().finished = True
                return "missed"
            key = self.engine.add(Trigger.date(spec.at), spec.at, inclusive=True)
        else:
            if triggers is None:
                trigger = self.trigger(job, now)
            else:
                trigger = triggers.get(id(spec))  # type: ignore[assignment]
                if trigger is None:
                    trigger = triggers[id(spec)] = self.trigger(job, now)
            key = self.engine.add(trigger, now)
            if spec.kind == "interval" and self.to_write is not None:
                fresh = self._fresh.get(now)
                if fresh is None:
                    fresh = self._fresh[now] = []
                fresh.append(job)
                if spec.interval < self._shortest:
                    self._shortest = spec.interval
        self._place(job, key)
        run = job.run
        if run.paused:  # paused before start(): the engine owns the flag from here
            run.paused = False
            self.engine.pause(key)
            return "paused"
        return "armed"

    def arm_stored(self, jobs: list[Job], now: float) -> tuple[list[Job], list[Job]]:
        """During ``start()``: arm in Rust (``_core.restore_jobs``) those of ``jobs`` whose state
        is restored from a record a SQL store loaded (vouched for in Rust) or a cluster row, and
        that need nothing of Python (interval jobs, no run state yet, a next fire to restore), as
        :meth:`arm` would; returns the jobs left for :meth:`arm` (all of them when the records or
        rows are dicts) and those armed that had no cluster row."""
        stored, rows = self.stored, self.rows
        texts = stored.texts if type(stored) is LoadedJobs else None
        table = rows if type(rows) is ClusterRows else None
        if (texts is None and stored) or (table is None and rows) or (not stored and not rows):
            return jobs, []
        keys, flags = restore_jobs(self.engine, jobs, texts, table, self.to_write is not None)
        left: list[Job] = []
        rowless: list[Job] = []
        to_write = self.to_write
        for job, key, flag in zip(jobs, keys, flags, strict=True):
            if key is None:
                left.append(job)
                continue
            self._place(job, key)
            if flag & 1 and to_write is not None:
                to_write.append(job.job_id)
            if flag & 2:
                rowless.append(job)
        return left, rowless

    def _take_stored(self, job: Job) -> Saved | None:
        """Take the stored record of ``job`` out of :attr:`stored` (None: there is none), as what
        arming needs of it (:data:`~fastscheduler.stores._loaded.Saved`). A SQL store's records
        come from Rust as that tuple, the definition compared there; a record held as a dict is
        compared here (only during ``start()``'s arming, which decides what to write)."""
        stored, compare = self.stored, self.to_write is not None
        if type(stored) is LoadedJobs:
            taken = stored.take(job, compare)
            if type(taken) is not dict:
                return taken  # type: ignore[return-value]
            record: dict[str, Any] | None = taken
        else:
            record = stored.pop(job.job_id, None)
        if record is None:
            return None
        get = record.get
        return (
            compare and self._same_definition(job, record),
            get("v"),
            get("next_run"),
            get("last_run"),
            int(get("run_count", 0)),
            int(get("failure_count", 0)),
            int(get("retry_count", 0)),
            get("paused"),
            get("finished"),
            tuple(get("recent") or ()),
        )

    @staticmethod
    def _as_stored(saved: Saved, row: ScheduleRow | None, kind: str) -> bool:
        """Whether the stored record, ``saved``, is what the store would be given for its job
        once armed: the same definition (``saved[0]``), a next fire to restore and, in a cluster,
        the state of its ``row``."""
        same, version, next_run, last_run, runs, failures, retries, paused, finished, _ = saved
        if not same or version != FORMAT_VERSION:
            return False
        if row is not None:
            if (
                row.next_run != next_run
                or row.paused != paused
                or row.run_count != runs
                or row.failure_count != failures
                or row.retry_count != retries
                or row.last_run != last_run
            ):
                return False
            next_run, stored_finished = row.next_run, finished
            finished = row.next_run is None and kind == "date"
            if finished is not stored_finished:
                return False
        # (False: the engine plans a next fire the record does not have)
        return isinstance(next_run, (int, float)) or bool(finished)

    def _same_definition(self, job: Job, stored: dict[str, Any]) -> bool:
        """Whether the definition in ``stored`` (a record dict) is what :meth:`store_record`
        makes for ``job`` (arguments compared with their types). The definition fields are
        named here a second time (no record is built per job at start()); a test fails if
        ``store_record`` writes one that is not compared."""
        spec = job.spec
        get = stored.get
        spec_record = self._spec_records.get(id(spec))
        if spec_record is None:
            spec_record = self._spec_records[id(spec)] = _spec_record(spec)
        func_path = self._func_paths.get(id(job.func))
        if func_path is None:
            func_path = self._func_paths[id(job.func)] = _func_path(job.func)
        return (
            get("name") == job.name
            and get("func_name") == job.func_name
            and get("func") == func_path
            and get("kind") == spec.kind
            and get("schedule") == spec.schedule
            and get("spec") == spec_record
            and _same_json(get("args"), jsonable(job.args))
            and _same_json(get("kwargs"), jsonable(job.kwargs))
        )

    def rearm_fresh(self, end: float) -> None:
        """Near the end of ``start()``'s arming, at ``end`` (before :meth:`arming_done`): a new
        interval job whose first fire (one interval after it was armed) is not after ``end`` is
        armed again from ``end`` (a pause kept), so a long arming (a million jobs take seconds)
        does not make a short-interval job's first run late; a restored job keeps its stored
        time."""
        triggers: dict[int, Trigger] = {}  # one trigger per spec, as while arming
        for at, jobs in self._fresh.items():
            if at + self._shortest > end:
                continue
            for job in jobs:
                spec, key = job.spec, job.key
                assert spec.interval is not None  # (an interval job)
                if key is None or at + spec.interval > end:
                    continue
                paused = self.engine.is_paused(key)
                self._unplace(job)
                trigger = triggers.get(id(spec))
                if trigger is None:
                    trigger = triggers[id(spec)] = self.trigger(job, end)
                key = self.engine.add(trigger, end)
                self._place(job, key)
                if paused:
                    self.engine.pause(key)

    def arming_done(self) -> list[str]:
        """End of ``start()``'s arming: the ids :attr:`to_write` gathered."""
        to_write, self.to_write = self.to_write or [], None
        if type(self.stored) is LoadedJobs:
            self.stored.compact()
        if type(self.rows) is ClusterRows:
            self.rows.forget_taken()
        self._fresh.clear()
        self._shortest = float("inf")
        self._spec_records.clear()
        self._func_paths.clear()
        return to_write

    def _restore(
        self,
        job: Job,
        saved: Saved | None,
        row: ScheduleRow | None,
        now: float,
        counters: tuple[int, int, int] | None = None,
    ) -> int | None:
        """Re-attach a stored job's state: counters, pause, last run and next fire time, from its
        ``saved`` record or, in a cluster, from its shared ``row`` (the truth for all but the
        recent outcomes, which only the record holds: without one the job keeps its own);
        ``counters`` overrides both. A next fire in the past is due at once, and the engine
        coalesces the fires missed since into that one run (or skips it under
        ``.no_catch_up()``). Returns the engine key, or None for a one-shot job that already ran."""
        recent: tuple[str, ...] = ()
        if row is None:
            assert saved is not None
            _, _, next_run, last_run, runs, failures, retries, paused, finished, recent = saved
            if counters is None:
                counters = (runs, failures, retries)
        else:
            if saved is not None:
                recent = saved[9]
            last_run, next_run, paused = row.last_run, row.next_run, row.paused
            finished = next_run is None and job.spec.kind == "date"
            if counters is None:
                counters = (row.run_count, row.failure_count, row.retry_count)
        if last_run is not None or recent or job.has_run_state:
            # (a job that never ran keeps no run state: a million restored idle jobs, no object each)
            run = job.run_state()
            run.last_run = last_run
            if saved is not None:  # (a row has no outcomes: following a peer's keeps this one's)
                run.recent = recent[-5:]
        if finished:
            job.run_state().finished = True
            self.finished_counters[job.job_id] = counters
            return None
        if isinstance(next_run, (int, float)):
            trigger = self.trigger(job, now, anchor=float(next_run))
            key = self.engine.add(trigger, float(next_run), inclusive=True)
        else:
            key = self.engine.add(self.trigger(job, now), now)
        if counters != (0, 0, 0):  # (a new engine entry counts from zero)
            self.engine.set_counters(key, *counters)
        if paused:
            self.engine.pause(key)
        return key

    def _place(self, job: Job, key: int) -> None:
        job.key = key
        slot = key & _SLOT_MASK
        if slot >= len(self._by_slot):
            self._by_slot.extend([None] * (slot + 1 - len(self._by_slot)))
        self._by_slot[slot] = job

    def _unplace(self, job: Job) -> None:
        if job.key is not None:
            self.engine.remove(job.key)
            self._by_slot[job.key & _SLOT_MASK] = None
            job.key = None

    def adopt(self, job: Job, row: ScheduleRow) -> None:
        """Follow a shared row (a peer's) for a job armed here: its time, pause and counters."""
        if job.key is None:
            return
        state = self.engine.state(job.key)
        runs, failures, retries = state[2:] if state else (0, 0, 0)
        self._unplace(job)
        key = self._restore(job, None, row, self._clock(), (runs, failures, retries))
        if key is not None:
            self._place(job, key)

    def remove(self, job: Job) -> bool:
        """Unregister ``job``: out of the engine, its pending retries dropped."""
        if not self.registry.remove(job):
            return False
        self._unplace(job)
        self.finished_counters.pop(job.job_id, None)
        for key, retry in list(self.retries.items()):
            if retry.job is job:
                self.engine.remove(key)
                del self.retries[key]
        self.mark(job)  # not registered any more: the saver deletes its record
        return True

    # ------------------------------------------------------------------ pause

    def pause(self, job: Job) -> None:
        if job.key is not None:
            self.engine.pause(job.key)
        else:
            job.run_state().paused = True
        self.mark(job)

    def resume(self, job: Job) -> float | None:
        """Resume from the next scheduled time; returns that time (None before start())."""
        self.mark(job)
        if job.key is None:
            job.run.paused = False  # (a fresh state that belongs to nobody, if it never ran)
            return None
        self.engine.resume(job.key, self._clock())
        return self.engine.next_fire(job.key)

    def is_paused(self, job: Job) -> bool:
        if job.key is not None:
            return bool(self.engine.is_paused(job.key))
        return job.run.paused

    # ------------------------------------------------------------------ retries

    def add_retry(self, retry: Retry, at: float, now: float) -> None:
        """Fire ``retry`` at ``at`` (a date trigger in the engine)."""
        key = self.engine.add(Trigger.date(at), now)
        self.retries[key] = retry

    def take_retry(self, key: int) -> Retry | None:
        """The retry behind engine ``key`` (which then leaves the engine), or None."""
        retry = self.retries.pop(key, None) if self.retries else None
        if retry is not None:
            self.engine.remove(key)
        return retry

    # ------------------------------------------------------------------ persistence

    def mark(self, job: Job, *, new: bool = False) -> None:
        """The job's stored state is out of date (cheap: a set insertion; the saver writes it).
        ``new``: a job registered while running, whose whole record the store does not have."""
        if self.saver is not None:
            if new:
                self.saver.job(job.job_id)
            else:
                self.saver.state(job)

    def store_record(self, job: Job) -> dict[str, Any]:
        """What a store keeps of a job."""
        run = job.run
        state = self.engine.state(job.key) if job.key is not None else None
        next_run, paused, runs, failures, retries = state or (None, self.is_paused(job), *self.counters(job))
        spec = job.spec
        return {
            "v": FORMAT_VERSION,
            "job_id": job.job_id,
            "name": job.name,
            "func_name": job.func_name,
            "func": _func_path(job.func),
            "kind": spec.kind,
            "schedule": spec.schedule,
            "spec": _spec_record(spec),
            "next_run": None if run.finished else next_run,
            "last_run": run.last_run,
            "run_count": runs,
            "failure_count": failures,
            "retry_count": retries,
            "paused": paused,
            "finished": run.finished,
            "recent": list(run.recent),
            "args": jsonable(job.args),
            "kwargs": jsonable(job.kwargs),
        }

    def store_record_lines(self, ids: set[str]) -> tuple[bytes, int, dict[str, dict[str, Any]], set[str]]:
        """The saver's view of jobs whose whole record is to be written, for a store that takes
        journal lines: the records of registered jobs as journal ``job`` lines serialised in Rust
        (no dict made per job), how many, the records of the jobs Rust leaves to Python (keyword
        arguments, arguments that are not plain values, not in the engine) as dicts, and the ids
        to delete. In chunks (taking the lock itself), so the lock is never held for long."""
        parts: list[bytes] = []
        count = 0
        records: dict[str, dict[str, Any]] = {}
        deleted: set[str] = set()
        pending = list(ids)
        for start in range(0, len(pending), 1000):
            with self.lock:
                jobs = []
                for job_id in pending[start : start + 1000]:
                    job = self.registry.get(job_id)
                    if job is not None:
                        jobs.append(job)
                    elif job_id not in self.stored:  # an orphan keeps its record
                        deleted.add(job_id)
                if jobs:
                    lines, others = encode_job_records(self.engine, jobs)
                    parts.append(lines)
                    count += len(jobs) - len(others)
                    for i in others:
                        records[jobs[i].job_id] = self.store_record(jobs[i])
            time.sleep(0.001)  # a thread waiting for the lock (a due fire) gets it: locks are not fair
        return b"".join(parts), count, records, deleted

    def store_rows(
        self, ids: set[str], *, ordered: bool, max_id_length: int | None, max_bytes: int
    ) -> tuple[list[bytes], int, dict[str, dict[str, Any]], set[str]]:
        """The saver's view of dirty jobs for a store that takes rows (SQL): the whole records of
        registered jobs as JSON arrays of ``[job_id, record JSON text, next_run]`` rows serialised
        in Rust (at most ``max_bytes`` each; in job id order if ``ordered``: a shared database's
        writers then lock rows in one order, and sorting 100,000 ids holds the GIL for about
        20 ms), how many rows, the records of the jobs Rust leaves to Python and of jobs whose id
        is longer than ``max_id_length`` as dicts (see :meth:`store_record_lines`), and the ids to
        delete. 1,000 ids at a time under the lock (taking it itself), so it is never held long."""
        arrays: list[bytes] = []
        count = 0
        records: dict[str, dict[str, Any]] = {}
        deleted: set[str] = set()
        pending = sorted(ids) if ordered else list(ids)
        registry = self.registry
        longest = max_id_length if max_id_length is not None else float("inf")
        for start in range(0, len(pending), 1000):
            with self.lock:
                jobs = []
                for job_id in pending[start : start + 1000]:
                    job = registry.get(job_id)
                    if job is None:
                        if job_id not in self.stored:  # an orphan keeps its record
                            deleted.add(job_id)
                    elif len(job_id) > longest:
                        records[job_id] = self.store_record(job)
                    else:
                        jobs.append(job)
                if jobs:
                    chunk, others = encode_job_rows(self.engine, jobs, max_bytes)
                    arrays += chunk
                    count += len(jobs) - len(others)
                    for i in others:
                        records[jobs[i].job_id] = self.store_record(jobs[i])
            time.sleep(0.001)  # a thread waiting for the lock (a due fire) gets it: locks are not fair
        return arrays, count, records, deleted

    def store_states(self, jobs: list[Job]) -> tuple[bytes, int, dict[str, dict[str, Any]], set[str]]:
        """The saver's view of jobs whose state changed, for a store that takes job states: the
        journal state lines of those still registered and in the engine (serialised in Rust), how
        many, full records of the others still registered (their counters live here, not in the
        engine), and the ids of those cancelled. In chunks (taking the lock itself), so the lock
        is never held for long."""
        parts: list[bytes] = []
        count = 0
        records: dict[str, dict[str, Any]] = {}
        deleted: set[str] = set()
        registry = self.registry
        for start in range(0, len(jobs), 2000):
            with self.lock:
                live = []
                for job in jobs[start : start + 2000]:
                    if registry.has(job):
                        if job.key is not None:
                            live.append(job)
                        else:
                            records[job.job_id] = self.store_record(job)
                    else:
                        job_id = job.job_id
                        if registry.get(job_id) is None and job_id not in self.stored:
                            deleted.add(job_id)
                if live:
                    try:
                        parts.append(encode_job_states(self.engine, live))
                        count += len(live)
                    except UnicodeError:  # a lone surrogate in an id: Python writes them
                        for job in live:
                            records[job.job_id] = self.store_record(job)
            time.sleep(0.001)  # a thread waiting for the lock (a due fire) gets it: locks are not fair
        return b"".join(parts), count, records, deleted

    def store_records(self, ids: set[str]) -> tuple[dict[str, dict[str, Any]], set[str]]:
        """The saver's view of dirty jobs: current records, and ids to delete (cancelled jobs).
        Built in chunks (taking the lock itself) so the lock is never held for long."""
        records: dict[str, dict[str, Any]] = {}
        deleted: set[str] = set()
        pending = list(ids)
        for start in range(0, len(pending), 1000):
            with self.lock:
                for job_id in pending[start : start + 1000]:
                    job = self.registry.get(job_id)
                    if job is not None:
                        records[job_id] = self.store_record(job)
                    elif job_id not in self.stored:  # an orphan keeps its record
                        deleted.add(job_id)
            time.sleep(0.001)  # a thread waiting for the lock (a due fire) gets it: locks are not fair
        return records, deleted

    # ------------------------------------------------------------------ views

    def counters(self, job: Job) -> tuple[int, int, int]:
        """``(runs, failures, retries)`` of a job (see the README's definitions)."""
        if job.key is None:
            return self.finished_counters.get(job.job_id, (0, 0, 0)) if self.finished_counters else (0, 0, 0)
        return self.engine.counters(job.key) or (0, 0, 0)

    def view(self, job: Job) -> dict[str, Any]:
        """A registered job as ``get_jobs()`` shows it."""
        now = self._clock()
        run = job.run
        if run.finished:
            next_ts = None
        elif job.key is not None:
            next_ts = self.engine.next_fire(job.key)
        else:  # not armed (before start()): when it would fire if started now, as 0.2.x showed
            next_ts = planned_next(job.spec, now)
        runs, failures, retries = self.counters(job)
        paused = self.is_paused(job)
        if run.running:
            status = JobStatus.RUNNING
        elif paused:
            status = JobStatus.PAUSED
        elif run.finished:
            status = JobStatus(run.recent[-1]) if run.recent else JobStatus.COMPLETED
        else:
            status = JobStatus.SCHEDULED
        return {
            "job_id": job.job_id,
            "func_name": job.func_name,
            "name": job.name,
            "status": status.value,
            "schedule": job.spec.schedule,
            "next_run": readable(next_ts),
            "next_run_in": None if next_ts is None else max(0.0, next_ts - now),
            "next_run_timestamp": next_ts,
            "run_count": runs,
            "failure_count": failures,
            "retry_count": retries,
            "paused": paused,
            "running": run.running > 0,
            "last_run": readable(run.last_run),
            "last_run_timestamp": run.last_run,
            "last_results": list(run.recent),
            "kind": job.spec.kind,
            "tz": job.spec.tz,
            "cron": job.spec.cron,
            "interval": job.spec.interval,
            "at": job.spec.at,
            "retries": job.spec.retries,
            "catch_up": job.spec.catch_up,
            "orphaned": False,
        }

    @staticmethod
    def orphan_view(stored: dict[str, Any]) -> dict[str, Any]:
        """A stored job no code registers: listed with status ``orphaned``; it never runs."""
        spec = stored.get("spec") or {}
        last_run = stored.get("last_run")
        return {
            "job_id": stored.get("job_id"),
            "func_name": stored.get("func_name"),
            "name": stored.get("name") or stored.get("func_name"),
            "status": JobStatus.ORPHANED.value,
            "schedule": stored.get("schedule"),
            "next_run": None,
            "next_run_in": None,
            "next_run_timestamp": None,
            "run_count": stored.get("run_count", 0),
            "failure_count": stored.get("failure_count", 0),
            "retry_count": stored.get("retry_count", 0),
            "paused": bool(stored.get("paused")),
            "running": False,
            "last_run": readable(last_run),
            "last_run_timestamp": last_run,
            "last_results": list(stored.get("recent") or ()),
            "kind": stored.get("kind"),
            "tz": spec.get("tz"),
            "cron": spec.get("cron"),
            "interval": spec.get("interval"),
            "at": spec.get("at"),
            "retries": spec.get("retries"),
            "catch_up": spec.get("catch_up"),
            "orphaned": True,
        }

    def views(self) -> list[dict[str, Any]]:
        """Every job, soonest next run first; orphans last."""
        with self.lock:
            records = [self.view(j) for j in self.registry]
            records += [self.orphan_view(r) for r in self.stored.values()]
        return sorted(records, key=lambda r: (r["next_run_timestamp"] is None, r["next_run_timestamp"] or 0))

    def find(self, job_id: str) -> dict[str, Any] | None:
        """One job's view (with ``timeout``), an orphan's, or None."""
        with self.lock:
            job = self.registry.get(job_id)
            if job is None:
                stored = self.stored.get(job_id)
                return None if stored is None else self.orphan_view(stored)
            record = self.view(job)
        record["timeout"] = job.spec.timeout
        record["timeout_kill"] = job.spec.timeout_kill
        return record


def planned_next(spec: Any, now: float) -> float | None:
    """When a job on ``spec`` would first fire if armed at ``now`` (None: never)."""
    if spec.kind == "interval":
        return float(now + spec.interval)
    if spec.kind == "cron":
        times = _cron(spec.cron, spec.tz).next_timestamps(now, 1)
        return times[0] if times else None
    return float(spec.at)


@functools.lru_cache(maxsize=256)
def _cron(expr: str, tz: str) -> CronExpr:
    return CronExpr(expr, tz=tz)


def _func_path(func: Any) -> str:
    """How a store names a job's function: ``module.qualname``."""
    return f"{getattr(func, '__module__', '?')}.{getattr(func, '__qualname__', '?')}"


def _spec_record(spec: Any) -> dict[str, Any]:
    """A job spec as a store keeps it."""
    return {
        "interval": spec.interval,
        "cron": spec.cron,
        "at": spec.at,
        "tz": spec.tz,
        "timeout": spec.timeout,
        "timeout_kill": spec.timeout_kill,
        "retries": spec.retries,
        "catch_up": spec.catch_up,
    }


def _same_json(stored: Any, current: Any) -> bool:
    """Equal, types included (``[1]`` is not ``[True]``, ``1.0`` is not ``1``)."""
    if stored is current:
        return True
    if not bool(stored == current):
        return False
    if not current and type(current) in (list, dict):  # (no arguments, the common case: no repr)
        return type(stored) is type(current)
    return repr(stored) == repr(current)


def jsonable(value: Any) -> Any:
    """``value`` if it survives a JSON round trip unchanged (tuples become lists), else None."""
    if type(value) is tuple and all(type(v) in _PLAIN for v in value):
        return list(value)  # the common case, without the round trip
    if not value:
        return [] if isinstance(value, tuple) else ({} if isinstance(value, dict) else value)
    try:
        result = json.loads(json.dumps(value))
    except (TypeError, ValueError, RecursionError):
        return None
    # Nested deeper than a store accepts on load (stores/_records.py): left out like the rest.
    return None if isinstance(result, (list, dict)) and too_deep(result) else result

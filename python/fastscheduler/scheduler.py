"""``FastScheduler``: the decorator API on the Rust engine.

The engine (``fastscheduler._core.Engine``) owns the timer wheel, the waiting and the per-job
counters; it calls ``_dispatch`` once per batch of due jobs. This module owns what runs where
(executors), retries and dead letters, history, statistics and events.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import gc
import importlib
import json
import logging
import queue
import signal
import threading
import time
import traceback as tb
import weakref
from collections.abc import Awaitable, Callable, Generator
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final, Literal

from fastscheduler._builders import At, Cron, Daily, Every, Hourly, JobSpec, Once, Weekly
from fastscheduler._clock import ManualClock, SystemClock
from fastscheduler._core import Backoff, CronExpr, Engine, Run, Trigger
from fastscheduler._localzone import local_zone_name
from fastscheduler._registry import Job, new_registry
from fastscheduler._saver import Saver
from fastscheduler.events import Event, EventBroker, EventType, LocalEventBroker, Subscriber
from fastscheduler.executors import (
    AsyncioExecutor,
    Executor,
    RunOutcome,
    SubprocessExecutor,
    ThreadPoolExecutor,
)
from fastscheduler.models import DeadLetter, HistoryEntry, JobStatus, readable
from fastscheduler.stores import (
    FORMAT_VERSION,
    Changes,
    Limits,
    MemoryStorageBackend,
    StorageBackend,
    StorageFormatError,
    StoredState,
)
from fastscheduler.stores._records import check_state, cluster_row_problem, too_deep

if TYPE_CHECKING:
    from fastscheduler.cluster import Claim, ClusterConfig, SQLCluster

log = logging.getLogger("fastscheduler")

_SLOT_MASK: Final = 0xFFFF_FFFF

#: Schedulers started in this process (weakly held): test suites stop the ones a test left running.
_STARTED: weakref.WeakSet[FastScheduler] = weakref.WeakSet()
_AT_EXIT_REGISTERED = False
_COLLECTED = False


def _collect_once() -> None:
    """One full garbage collection, at the first ``start()`` of the process, before its jobs are
    armed (so it delays no fire): the collector's first full pass over what the program made while
    starting up otherwise tends to fall into the first burst of runs (10,000 simultaneous starts
    in a small process: last start 72-79 ms after T without it, 41-64 ms with it). It costs ~10 ms
    in a small script and ~120 ms in a process that imported FastAPI and SQLAlchemy, so it is done
    once per process, not at every start()."""
    global _COLLECTED
    if not _COLLECTED:
        _COLLECTED = True
        gc.collect()


def _serve_at_exit() -> None:
    """Register (once per process, from the main thread) :func:`_serve_until_stopped` to run when
    the main thread's script ends, before Python joins threads. It holds no scheduler: it finds
    them in ``_STARTED`` then, so a scheduler that was stopped and dropped can be freed."""
    global _AT_EXIT_REGISTERED
    if not _AT_EXIT_REGISTERED:
        threading._register_atexit(_serve_until_stopped)  # type: ignore[attr-defined]
        _AT_EXIT_REGISTERED = True


def _serve_until_stopped() -> None:
    """A script whose last statement is ``scheduler.start()`` keeps running its jobs: wait until
    every scheduler started from the main thread and still running is stopped; Ctrl-C or SIGTERM
    stops them gracefully (waiting for their runs), with no traceback."""
    serving = [s for s in list(_STARTED) if s.running and s._serve_at_exit]
    if not serving:
        return
    previous = {}

    def handle(signum: int, _frame: object) -> None:
        for scheduler in serving:
            scheduler.stop(wait=True)

    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(ValueError, OSError):  # not the main thread, or unsupported
            previous[sig] = signal.signal(sig, handle)
    try:
        for scheduler in serving:
            scheduler._stopped.wait()
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


Clock = SystemClock | ManualClock


@dataclass(slots=True)
class _Retry:
    job: Job
    attempt: int
    scheduled: float
    first_attempt_at: float
    claim: Claim | None = None


class RunLostError(RuntimeError):
    """A run's attempt was lost: the cluster instance running it stopped renewing its lease
    (killed, frozen or cut off from the database). It counts as a failed attempt."""


class _StopHandle:
    """What ``stop()`` returns: already finished when ``stop()`` was called from sync code, and
    awaitable in both cases, so ``scheduler.stop()`` and ``await scheduler.stop()`` both work."""

    def __init__(self, finish: Callable[[], Awaitable[None]] | None = None) -> None:
        self._finish = finish

    def __await__(self) -> Generator[Any, None, None]:
        if self._finish is not None:
            finish, self._finish = self._finish, None
            yield from finish().__await__()


class FastScheduler:
    """A job scheduler with a decorator API (the names of fastscheduler 0.2.x).

    ``timezone`` is the zone of wall-clock schedules written without one (default: this machine's
    local zone, as the product docs promise). ``start()`` returns at once; jobs then run on a
    bounded thread pool (sync functions) or on an event loop (``async def``: the loop ``start()``
    was called from, else one owned by the scheduler). ``clock`` is for tests: a
    :class:`~fastscheduler.ManualClock` makes time move only when advanced.

    Logging goes to the ``fastscheduler`` logger (``fastscheduler.cluster`` for the cluster), which
    has no handler of its own: where lines go is the application's logging configuration
    (without one, Python prints WARNING and above to stderr). Each failed attempt is a WARNING
    line, each dead letter an ERROR with its traceback, a store outage a WARNING when it starts
    and when it ends. ``quiet=True`` moves the scheduler's informational lines (started, stopped,
    missed fires, stored jobs no code registers) to DEBUG; it changes no logger's level, so
    neither other schedulers nor the application's logging are affected, and failures are
    logged whatever it says.

    ``cluster``: with a PostgreSQL or MySQL/MariaDB ``database_url`` (default ``None`` = on),
    several processes running the same code share the jobs and each fire runs once
    (:mod:`fastscheduler.cluster`; a :class:`~fastscheduler.cluster.ClusterConfig` tunes it,
    ``False`` turns it off). ``True`` with a JSON file, SQLite or memory store is a ``ValueError``.
    """

    def __init__(
        self,
        state_file: str = "fastscheduler_state.json",
        storage: str | StorageBackend | None = None,
        database_url: str | None = None,
        auto_start: bool = False,
        quiet: bool = False,
        max_history: int = 10000,
        max_workers: int = 10,
        history_retention_days: float = 7,
        max_dead_letters: int = 500,
        *,
        timezone: str | None = None,
        clock: Clock | None = None,
        events: EventBroker | None = None,
        remove_orphaned: bool = False,
        cluster: bool | ClusterConfig | None = None,
    ) -> None:
        if storage not in (None, "json", "sqlmodel", "memory") and not isinstance(storage, StorageBackend):
            raise ValueError(
                "storage must be None, 'json', 'sqlmodel', 'memory' or a StorageBackend instance, "
                f"got {storage!r}"
            )
        for label, value in (
            ("max_history", max_history),
            ("max_workers", max_workers),
            ("max_dead_letters", max_dead_letters),
        ):
            least = 1 if label == "max_workers" else 0
            if not isinstance(value, int) or isinstance(value, bool) or value < least:
                raise ValueError(f"{label} must be an int >= {least}, got {value!r}")
        if history_retention_days <= 0:
            raise ValueError(f"history_retention_days must be positive, got {history_retention_days!r}")
        #: Zone of wall-clock schedules given without one (``daily.at("14:30")`` is local time).
        self.timezone = CronExpr("* * * * *", tz=timezone or local_zone_name()).tz
        self.state_file = state_file
        self.database_url = database_url
        self.quiet = quiet
        self.max_history = max_history
        self.max_workers = max_workers
        self.history_retention_days = history_retention_days
        self.max_dead_letters = max_dead_letters
        self.remove_orphaned = remove_orphaned
        #: Where state persists; opened (locked, loaded) by ``start()``, closed by ``stop()``.
        self.storage: StorageBackend = _storage_backend(storage, state_file, database_url)
        # storage="memory" promises only that nothing persists: state is not even copied.
        self._persist = storage != "memory"
        shared = bool(self.storage.multi_instance) and hasattr(self.storage, "engine")
        if cluster is None:
            cluster = shared
        if cluster is not False and not shared:
            raise ValueError(
                "cluster mode needs a PostgreSQL or MySQL/MariaDB database shared by the instances "
                f"(storage={type(self.storage).__name__}; JSON files and SQLite are single-instance)"
            )
        if cluster is True:
            from fastscheduler.cluster import ClusterConfig

            cluster = ClusterConfig()
        #: How this scheduler coordinates with others on its database (None: it runs alone).
        self.cluster_config: ClusterConfig | None = cluster or None
        self._cluster: SQLCluster | None = None
        # Cluster rows (next fire, pause, counters) of jobs not armed yet, from the database.
        self._schedule: dict[str, dict[str, Any]] = {}
        # Jobs registered here because a peer added them while running (see cluster_command).
        self._from_peer: set[str] = set()
        self._store_open = False
        self._loaded = False
        self._saver: Saver | None = None
        # Stored job records no registered job has claimed yet: re-attached when a job with that
        # id is registered, shown as orphaned (and never run) meanwhile.
        self._stored: dict[str, dict[str, Any]] = {}
        self._clock: Clock = clock or SystemClock()
        self.events: EventBroker = events or LocalEventBroker()
        self._engine = Engine(self._dispatch)
        self._threads = ThreadPoolExecutor(max_workers, clock=self._clock.now)
        self._asyncio = AsyncioExecutor(clock=self._clock.now)
        self._processes = SubprocessExecutor(max_workers, clock=self._clock.now)  # .timeout(kill=True)
        self._backoff = Backoff()
        self._lock = threading.RLock()
        self._jobs = new_registry()
        # Jobs by engine slot (the low 32 bits of an engine key; the high bits are its generation).
        self._by_slot: list[Job | None] = []
        self._retries: dict[int, _Retry] = {}
        self._every_cache: dict[object, Every] = {}  # by n (an int) or (type(n), n)
        self._history: collections.deque[HistoryEntry] = collections.deque(maxlen=max_history or None)
        self._dead: collections.deque[DeadLetter] = collections.deque(maxlen=max_dead_letters or None)
        self._totals = {"runs": 0, "failures": 0, "retries": 0, "missed": 0}
        self._per_job: dict[str, dict[str, int]] = {}
        # In a cluster: the stored statistics (every instance's) this instance started from.
        self._stats_base: tuple[dict[str, int], dict[str, dict[str, int]]] | None = None
        self._inflight = 0
        # Run outcomes, from executor threads to the finisher thread (None: stop()'s wake-up call).
        self._outcomes: queue.SimpleQueue[tuple[Run, RunOutcome] | None] = queue.SimpleQueue()
        self._put_outcome = self._outcomes.put  # bound once: each run's report calls it
        # Records outcomes while runs can start; ends once stopped with nothing in flight (so a
        # stopped scheduler holds no thread and can be freed), started again by the next run.
        self._finisher: threading.Thread | None = None
        self._idle = threading.Condition(self._lock)
        self._running = False
        self._start_time: float | None = None
        self._stopped = threading.Event()
        self._serve_at_exit = False  # started from the main thread: keep serving when its script ends
        self._paused_before_start: set[str] = set()
        if isinstance(self._clock, ManualClock):
            self._clock.attach(self._advance_manual)
        if isinstance(self.events, LocalEventBroker):
            self.events.watch(self._update_quiet)
        self._update_quiet()
        if auto_start:
            self.start()

    # ------------------------------------------------------------------ builders

    def every(self, n: float) -> Every:
        """``@scheduler.every(10).seconds`` (also minutes, hours, days, weeks)."""
        # Builders are immutable values, so equal ones can be shared: a loop registering many jobs
        # on one interval reuses one chain (and the spec it caches).
        key = n if type(n) is int else (type(n), n)  # ints, the common case, without a tuple
        try:
            return self._every_cache[key]
        except (KeyError, TypeError):  # TypeError: an unhashable n, which Every() rejects
            builder = Every(
                self._register, self._clock.now, n, default_tz=self.timezone, quick=self._jobs.try_add
            )
        if len(self._every_cache) >= 256:
            self._every_cache.clear()
        self._every_cache[key] = builder
        return builder

    @property
    def daily(self) -> Daily:
        """``@scheduler.daily.at("14:30")`` (``tz=`` or ``.tz()`` for a zone)."""
        return Daily(self._register, self._clock.now, default_tz=self.timezone, quick=self._jobs.try_add)

    @property
    def hourly(self) -> Hourly:
        """``@scheduler.hourly.at(":15")``."""
        return Hourly(self._register, self._clock.now, default_tz=self.timezone, quick=self._jobs.try_add)

    @property
    def weekly(self) -> Weekly:
        """``@scheduler.weekly.monday.at("10:00")``; ``.weekdays``, ``.weekends``, ``.on([...])``."""
        return Weekly(self._register, self._clock.now, default_tz=self.timezone, quick=self._jobs.try_add)

    def cron(self, expr: str, tz: str | None = None) -> Cron:
        """``@scheduler.cron("0 9 * * MON-FRI")``, optionally in a zone."""
        return Cron(
            self._register, self._clock.now, expr, tz=tz, default_tz=self.timezone, quick=self._jobs.try_add
        )

    def once(self, delay: float) -> Once:
        """``@scheduler.once(60)``: one run ``delay`` seconds after registration."""
        return Once(
            self._register, self._clock.now, delay, default_tz=self.timezone, quick=self._jobs.try_add
        )

    def at(self, when: datetime | str) -> At:
        """``@scheduler.at(datetime(...))``: one run at that time (must be in the future)."""
        return At(self._register, self._clock.now, when, default_tz=self.timezone, quick=self._jobs.try_add)

    # ------------------------------------------------------------------ registration

    def _update_quiet(self) -> None:
        """Tell the registry whether registering a job involves nothing else: the scheduler is
        stopped, no peer's job awaits replacement and nobody listens to events (known only of the
        built-in broker, which reports subscriptions). Builders then register through
        ``Registry.try_add`` without this lock; otherwise through :meth:`_register`."""
        with self._lock:
            events = self.events
            self._jobs.quiet = (
                not self._running
                and not self._from_peer
                and isinstance(events, LocalEventBroker)
                and not events.has_subscribers()
            )

    def _register(
        self,
        spec: JobSpec,
        func: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        *,
        broadcast: bool = True,
    ) -> str:
        if self._from_peer and broadcast and spec.job_id is not None and spec.job_id in self._from_peer:
            # This process's own code registers a job it had taken from a peer: the code's wins.
            self._from_peer.discard(spec.job_id)
            self._cancel(spec.job_id, broadcast=False)
        with self._lock:
            job = self._jobs.add(func, args, kwargs, spec)
            if self._running:
                self._arm(job, self._clock.now())
                self._mark(job)
                if self._cluster is not None and job.key is not None:
                    # Its row, unless a peer made one first (then the engine follows the row).
                    self._cluster.ensure_later(job.job_id, self._engine.next_fire(job.key))
                    if broadcast and spec.job_id is not None:
                        # Peers that can import the function register it too (only with an
                        # explicit id: an automatic one depends on each process's registrations).
                        self._cluster.command("add", job.job_id, payload=_added_job(job))
        if self.events.has_subscribers():
            self._publish(EventType.JOB_ADDED, job, schedule=spec.schedule)
        return job.job_id

    def _trigger(self, spec: JobSpec, now: float, anchor: float | None = None) -> Trigger:
        if spec.kind == "interval":
            assert spec.interval is not None
            return Trigger.interval(spec.interval, now + spec.interval if anchor is None else anchor)
        if spec.kind == "cron":
            assert spec.cron is not None
            return Trigger.cron(CronExpr(spec.cron, tz=spec.tz))
        assert spec.at is not None
        return Trigger.date(spec.at)

    def _restore(self, job: Job, stored: dict[str, Any], now: float) -> int | None:
        """Re-attach a stored job's state (lock held): counters, pause, last run and next fire time.
        A next fire in the past is due at once, and the engine coalesces the fires missed since
        into that one run (or skips it under ``.no_catch_up()``). Returns the engine key, or None
        for a one-shot job that already ran."""
        run = job.run_state()
        run.last_run = stored.get("last_run")
        run.recent = tuple(stored.get("recent") or ())[-5:]
        if stored.get("finished"):
            run.finished = True
            return None
        next_run = stored.get("next_run")
        if isinstance(next_run, (int, float)):
            trigger = self._trigger(job.spec, now, anchor=float(next_run))
            key = self._engine.add(trigger, float(next_run), inclusive=True)
        else:
            key = self._engine.add(self._trigger(job.spec, now), now)
        self._engine.set_counters(
            key,
            int(stored.get("run_count", 0)),
            int(stored.get("failure_count", 0)),
            int(stored.get("retry_count", 0)),
        )
        if stored.get("paused"):
            self._engine.pause(key)
        return key

    def _arm(self, job: Job, now: float, triggers: dict[int, Trigger] | None = None) -> None:
        """Put a job into the engine (called with the lock held). ``triggers`` caches the trigger of
        each spec (by ``id``) while many jobs are armed at one ``now``: equal inputs, one trigger."""
        if job.key is not None or job.finished:
            return
        spec = job.spec
        stored = self._stored.pop(job.job_id, None) if self._stored else None
        row = self._schedule.pop(job.job_id, None) if self._schedule else None
        if row is not None:  # the cluster's row is the truth for time, pause and counters
            stored = {**(stored or {}), **row, "finished": row["next_run"] is None and spec.kind == "date"}
        if stored is not None:
            key = self._restore(job, stored, now)
            if key is None:
                return
        elif spec.kind == "date" and spec.at is not None and spec.at <= now:
            # A one-shot whose time passed before start(): a late fire like any other, due at
            # once (catch-up) or, under .no_catch_up(), skipped and recorded as missed.
            if not spec.catch_up:
                reason = "the scheduler was not running at its time, and catch-up is off for this job"
                self._record_missed(job, spec.at, 1, reason)
                job.run_state().finished = True
                return
            key = self._engine.add(Trigger.date(spec.at), spec.at, inclusive=True)
        else:
            if triggers is None:
                trigger = self._trigger(spec, now)
            else:
                trigger = triggers.get(id(spec))  # type: ignore[assignment]
                if trigger is None:
                    trigger = triggers[id(spec)] = self._trigger(spec, now)
            key = self._engine.add(trigger, now)
        self._place(job, key)
        if self._paused_before_start and job.job_id in self._paused_before_start:
            self._paused_before_start.discard(job.job_id)
            self._engine.pause(key)
            if self._cluster is not None:
                self._cluster.command("pause", job.job_id)

    def _place(self, job: Job, key: int) -> None:
        """Make ``key`` the job's engine key (lock held)."""
        job.key = key
        slot = key & _SLOT_MASK
        if slot >= len(self._by_slot):
            self._by_slot.extend([None] * (slot + 1 - len(self._by_slot)))
        self._by_slot[slot] = job

    # ------------------------------------------------------------------ running

    def _dispatch(self, batch: list[tuple[int, float, int]]) -> None:
        """Called by the engine, once per batch of due jobs, with the GIL held: hand each to
        its executor and return quickly. The lock is taken once for the batch: runs that end
        meanwhile wait, rather than trading the lock with the dispatch 10,000 times."""
        with self._lock:
            now = self._clock.now()
            fires: list[tuple[str, float]] = []
            retries = self._retries
            for key, scheduled, missed in batch:
                retry = retries.pop(key, None) if retries else None
                if retry is not None:
                    self._engine.remove(key)
                    if self._jobs.has(retry.job):
                        self._start(
                            retry.job, retry.attempt, retry.scheduled, retry.first_attempt_at, retry.claim
                        )
                    elif retry.claim is not None and self._cluster is not None:
                        self._cluster.finished(retry.claim, "failed", retry.attempt - 1, now, 1, 1, 0)
                    continue
                job = self._by_slot[key & _SLOT_MASK]
                if job is None or job.key != key:
                    continue
                if self._cluster is not None:
                    # In a cluster the database decides who runs it, and counts what was missed.
                    fires.append((job.job_id, scheduled))
                    continue
                if missed:
                    if not job.spec.catch_up:
                        # .no_catch_up(): the late fire is skipped too, in the same record.
                        reason = "the scheduler was not running on time, and catch-up is off for this job"
                        self._record_missed(job, scheduled, missed + 1, reason)
                        continue
                    self._record_missed(job, scheduled, missed, "the scheduler was not running on time")
                if job.running:
                    self._record_missed(job, scheduled, 1, "the previous run was still running")
                    continue
                self._start(job, 1, scheduled, now)
            if fires and self._cluster is not None:
                self._inflight += 1  # until the claim was tried: stop() and a manual clock wait for it
                self._cluster.fired(fires, self._claims_served)

    def _claims_served(self) -> None:
        with self._lock:
            self._inflight -= 1
            self._idle.notify_all()

    def _start(
        self, job: Job, attempt: int, scheduled: float, first_attempt_at: float, claim: Claim | None = None
    ) -> None:
        """Submit one attempt (lock held). ``claim``: the cluster's run row it belongs to."""
        if job.spec.timeout_kill:
            executor: Executor = self._processes
        else:
            executor = self._asyncio if job.is_async else self._threads
        run = self._begin(job, scheduled, attempt, first_attempt_at, claim)
        if self.events.has_subscribers():
            self._publish(EventType.JOB_STARTED, job, attempt=attempt, scheduled_time=scheduled)
        try:
            executor.submit(run)
        except BaseException as exc:  # e.g. an executor already shut down
            now = self._clock.now()
            run.report(RunOutcome(started_at=now, finished_at=now, error=exc))

    def _begin(
        self, job: Job, scheduled: float, attempt: int, first_attempt_at: float, claim: Claim | None
    ) -> Run:
        """A new attempt of ``job`` (lock held): one Run, counted in flight and as running until
        the finisher records its outcome (what the executor runs, what current_run() reads and
        what comes back with the outcome)."""
        self._inflight += 1
        if self._finisher is None:
            finisher = threading.Thread(target=self._finish_loop, name="fastscheduler-finisher", daemon=True)
            self._finisher = finisher
            finisher.start()
        cluster = self._cluster
        instance_id = None if cluster is None else cluster.instance_id
        return job.start_run(self._put_outcome, scheduled, attempt, instance_id, first_attempt_at, claim)

    def _finish_loop(self) -> None:
        """The finisher thread: records outcomes, in batches, so that executor threads only run
        jobs and never wait for the scheduler's lock (10,000 simultaneous runs otherwise spend
        most of their time handing that lock around). Ends once the scheduler is stopped and
        every run has been recorded; ``_begin`` starts a new one for the next run."""
        get, get_nowait = self._outcomes.get, self._outcomes.get_nowait
        while True:
            batch = [get()]
            while True:
                try:
                    batch.append(get_nowait())
                except queue.Empty:
                    break
            for item in batch:
                if item is None:
                    continue  # stop()'s wake-up call
                try:
                    self._finished(*item)
                except Exception:  # never lose the thread: log and go on
                    log.exception("fastscheduler: recording a run's outcome failed")
            with self._lock:
                if not self._running and self._inflight == 0 and self._outcomes.empty():
                    self._finisher = None
                    return

    def _finished(self, attempt_run: Run, outcome: RunOutcome) -> None:
        job, scheduled, attempt = attempt_run.job, attempt_run.scheduled, attempt_run.attempt
        first_attempt_at = attempt_run.first_attempt_at
        claim: Claim | None = attempt_run.claim
        now = outcome.finished_at
        cluster = self._cluster if claim is not None else None
        then = ""  # a failed attempt: what happens next, for its log line
        with self._lock:
            run = job.run_state()
            run.running -= 1
            run.last_run = now
            key = job.key
            stats = self._per_job.setdefault(job.name, {"completed": 0, "failed": 0, "total_runs": 0})
            stats["total_runs"] += 1
            self._totals["runs"] += 1
            if outcome.ok:
                stats["completed"] += 1
                if key is not None:
                    self._engine.record_run(key, True)
                if cluster is not None:
                    cluster.finished(claim, "succeeded", attempt, now, 1, 0, 0)  # type: ignore[arg-type]
                self._history_add(job, JobStatus.COMPLETED, now, None, scheduled, attempt, outcome)
                event: tuple[EventType, dict[str, Any]] = (EventType.JOB_SUCCEEDED, {"attempt": attempt})
            else:
                error = outcome.error
                assert error is not None
                message = f"{type(error).__name__}: {error}"
                stats["failed"] += 1
                self._totals["failures"] += 1
                self._history_add(job, JobStatus.FAILED, now, message, scheduled, attempt, outcome)
                if attempt <= job.spec.retries and self._jobs.has(job):
                    # A run lost with its instance did not fail by itself: re-run it at once (a
                    # date trigger fires strictly after the time it is added at, hence 1 ms).
                    delay = 0.001 if isinstance(error, RunLostError) else self._backoff.delay(attempt)
                    self._totals["retries"] += 1
                    if key is not None:
                        self._engine.record_retry(key)
                    retry_key = self._engine.add(Trigger.date(now + delay), now)
                    self._retries[retry_key] = _Retry(job, attempt + 1, scheduled, first_attempt_at, claim)
                    if cluster is not None:  # the run stays leased to this instance until it ends
                        cluster.finished(claim, "running", attempt + 1, now, 0, 0, 1)  # type: ignore[arg-type]
                    event = (EventType.JOB_RETRYING, {"attempt": attempt, "delay": delay, "error": message})
                    then = f"retrying in {delay:g} s"
                else:
                    if key is not None:
                        self._engine.record_run(key, False)
                    if cluster is not None:
                        cluster.finished(claim, "failed", attempt, now, 1, 1, 0)  # type: ignore[arg-type]
                    letter = DeadLetter(
                        job_id=job.job_id,
                        func_name=job.func_name,
                        error_type=type(error).__name__,
                        error_message=str(error),
                        traceback="".join(tb.format_exception(type(error), error, error.__traceback__)),
                        attempts=attempt,
                        executed_at=now,
                        first_attempt_at=first_attempt_at,
                        scheduled_time=scheduled,
                        name=job.name,
                    )
                    self._dead.append(letter)
                    if self._saver is not None:
                        self._saver.dead_letter(_record(letter))
                    event = (EventType.JOB_DEAD_LETTERED, {"attempts": attempt, "error": message})
                    self._publish(EventType.JOB_FAILED, job, attempt=attempt, error=message)
                    then = "dead-lettered"
            if job.spec.kind == "date" and event[0] is not EventType.JOB_RETRYING:
                run.finished = True
            self._mark(job)
            self._inflight -= 1
            self._idle.notify_all()
        if then:  # logged without the lock: a handler may write to a slow stream
            error = outcome.error
            assert error is not None
            line = _one_line(f"{type(error).__name__}: {error}")
            log.warning(
                "fastscheduler: job %s failed (attempt %d of %d): %s; %s",
                job.job_id,
                attempt,
                job.spec.retries + 1,
                line,
                then,
            )
            if event[0] is EventType.JOB_DEAD_LETTERED:
                log.error(
                    "fastscheduler: job %s dead-lettered after %d attempt(s): %s",
                    job.job_id,
                    attempt,
                    line,
                    exc_info=(type(error), error, error.__traceback__),
                )
        self._publish(event[0], job, **event[1])

    def _record_missed(self, job: Job, scheduled: float, count: int, reason: str) -> None:
        self._totals["missed"] += count
        now = self._clock.now()
        if count:  # one history line for the occurrence, carrying the count
            error = f"{count} run(s) missed: {reason}"
            self._history_add(job, JobStatus.MISSED, now, error, scheduled, 0, None)
            self._mark(job)
            self._note(logging.INFO, "fastscheduler: job %s: %s", job.job_id, error)
        self._publish(EventType.JOB_MISSED, job, count=count, reason=reason, scheduled_time=scheduled)

    def _history_add(
        self,
        job: Job,
        status: JobStatus,
        now: float,
        error: str | None,
        scheduled: float | None,
        attempt: int,
        outcome: RunOutcome | None,
    ) -> None:
        counters = self._engine.counters(job.key) if job.key is not None else None
        runs, _failures, retries = counters or (0, 0, 0)
        entry = HistoryEntry(
            job_id=job.job_id,
            func_name=job.func_name,
            status=status.value,
            timestamp=now,
            error=error,
            run_count=runs,
            retry_count=retries,
            execution_time=(outcome.finished_at - outcome.started_at) if outcome else None,
            scheduled_time=scheduled,
            attempt=attempt,
            name=job.name,
        )
        self._history.append(entry)
        if self._saver is not None:
            self._saver.history(_record(entry))
        run = job.run_state()
        run.recent = (*run.recent[-4:], status.value)

    # ------------------------------------------------------------------ persistence

    def _mark(self, job: Job) -> None:
        """The job's stored record is out of date (cheap: a set insertion; the saver writes it)."""
        if self._saver is not None:
            self._saver.job(job.job_id)

    def _job_state_record(self, job: Job) -> dict[str, Any]:
        """What the store keeps of a job (lock held)."""
        run = job.run
        state = self._engine.state(job.key) if job.key is not None else None
        next_run, paused, runs, failures, retries = state or (None, self._is_paused(job), 0, 0, 0)
        spec = job.spec
        return {
            "v": FORMAT_VERSION,
            "job_id": job.job_id,
            "name": job.name,
            "func_name": job.func_name,
            "func": f"{getattr(job.func, '__module__', '?')}.{getattr(job.func, '__qualname__', '?')}",
            "kind": spec.kind,
            "schedule": spec.schedule,
            "spec": {
                "interval": spec.interval,
                "cron": spec.cron,
                "at": spec.at,
                "tz": spec.tz,
                "timeout": spec.timeout,
                "timeout_kill": spec.timeout_kill,
                "retries": spec.retries,
                "catch_up": spec.catch_up,
            },
            "next_run": None if run.finished else next_run,
            "last_run": run.last_run,
            "run_count": runs,
            "failure_count": failures,
            "retry_count": retries,
            "paused": paused,
            "finished": run.finished,
            "recent": list(run.recent),
            "args": _jsonable(job.args),
            "kwargs": _jsonable(job.kwargs),
        }

    def _job_records(self, ids: set[str]) -> tuple[dict[str, dict[str, Any]], set[str]]:
        """The saver's view of dirty jobs: current records, and ids to delete (cancelled jobs).
        Built in chunks so the scheduler lock is never held for long."""
        records: dict[str, dict[str, Any]] = {}
        deleted: set[str] = set()
        pending = list(ids)
        for start in range(0, len(pending), 1000):
            with self._lock:
                for job_id in pending[start : start + 1000]:
                    job = self._jobs.get(job_id)
                    if job is not None:
                        records[job_id] = self._job_state_record(job)
                    elif job_id not in self._stored:  # an orphan keeps its record
                        deleted.add(job_id)
        return records, deleted

    def _stats_record(self) -> dict[str, Any] | None:
        with self._lock:
            totals = dict(self._totals)
            per_job = {k: dict(v) for k, v in self._per_job.items()}
        if self._stats_base is not None:
            # A cluster instance stores only its own counts (its row); loading sums every row.
            base_totals, base_per_job = self._stats_base
            totals = {k: n - base_totals.get(k, 0) for k, n in totals.items()}
            for name, counts in per_job.items():
                base = base_per_job.get(name, {})
                per_job[name] = {k: n - base.get(k, 0) for k, n in counts.items()}
        return {"v": FORMAT_VERSION, "totals": totals, "per_job": per_job}

    def _open_store(self) -> None:
        """Lock and load the store (``start()``, lock held). The first time, load history, dead
        letters, statistics and job records; later starts only take the lock again. All or
        nothing: if it raises, the store is closed again and nothing of it was taken in."""
        if self._store_open:
            return
        state = self.storage.open(
            Limits(
                max_history=self.max_history,
                history_retention_days=self.history_retention_days,
                max_dead_letters=self.max_dead_letters,
            )
        )
        saver = None
        try:
            if not self._loaded:
                self._take_in(state)
            if self._persist:  # storage="memory": nothing to write, so no saver and no records built
                saver = Saver(
                    self.storage,
                    self._job_records,
                    self._stats_record,
                    self._clock.now,
                    on_saved=self._saved,
                    min_interval=self.storage.min_write_interval,
                )
                saver.start()
        except BaseException:
            self.storage.close()
            raise
        self._store_open = True
        self._saver = saver

    def _take_in(self, state: StoredState) -> None:
        """Keep what the store held (the first open; lock held): history, dead letters, statistics
        and job records. Everything is checked and converted before any of it is kept, so a bad
        record (:class:`~fastscheduler.stores.StorageFormatError`) leaves the scheduler as it was."""
        if not self.storage.validates_records:
            check_state(state, f"The store {type(self.storage).__name__}")
        history = [_history_entry(h) for h in state.history]
        dead = [_dead_letter(d) for d in state.dead_letters]
        totals = dict(self._totals)
        stored_totals = state.stats.get("totals") or {}
        for k in totals:
            totals[k] += int(stored_totals.get(k, 0))
        per_job = {k: dict(v) for k, v in self._per_job.items()}
        for name, counts in (state.stats.get("per_job") or {}).items():
            mine = per_job.setdefault(name, {"completed": 0, "failed": 0, "total_runs": 0})
            for k in mine:
                mine[k] += int(counts.get(k, 0))
        self._history.extend(history)
        self._dead.extend(dead)
        self._totals, self._per_job = totals, per_job
        if self.cluster_config is not None:
            self._stats_base = (dict(self._totals), {k: dict(v) for k, v in self._per_job.items()})
        self._stored = dict(state.jobs)
        self._loaded = True

    def _join_cluster(self) -> None:
        """Join the cluster on the store's database (``start()``, lock held): register this
        instance and read every job's row (the truth for next fire, pause and counters)."""
        from fastscheduler.cluster import SQLCluster
        from fastscheduler.stores import StorageError

        assert self.cluster_config is not None
        url = self.storage.engine.url  # type: ignore[attr-defined]
        cluster = SQLCluster(url, self.cluster_config, self, self._clock.now)
        self.storage.stats_key = f"stats:{cluster.instance_id}"  # type: ignore[attr-defined]
        try:
            self._schedule = cluster.join()
        except Exception as exc:
            cluster.engine.dispose()
            self._close_store(0)
            raise StorageError(
                f"cannot join the cluster on {url.render_as_string(hide_password=True)}: {exc}"
            ) from exc
        self._cluster = cluster  # from here on, a failed start() leaves the cluster (_undo_start)
        bad = cluster_row_problem(self._schedule)
        if bad is not None:
            raise StorageFormatError(f"The database {url.render_as_string(hide_password=True)} {bad}")

    def _cluster_rows_for_new_jobs(self, job_ids: list[str]) -> None:
        """Create the rows of ``job_ids`` (armed, no row yet; lock held). A peer may create the
        same row at the same moment: then its row wins and the engine follows it."""
        cluster = self._cluster
        assert cluster is not None
        first: dict[str, float | None] = {}
        for job_id in job_ids:
            job = self._jobs.get(job_id)
            if job is not None and job.key is not None:
                first[job_id] = self._engine.next_fire(job.key)
        if not first:
            return
        rows = cluster.ensure(first)
        for job_id, mine in first.items():
            row = rows.get(job_id)
            if row is not None and (row["next_run"] != mine or row["paused"]):
                self.cluster_adopt(job_id, row["next_run"], row["paused"])

    def _saved(self, changes: Changes) -> None:
        """After each durable write: a ``state_saved`` event saying what it held (and the total
        runs the stored statistics count, when it wrote them)."""
        totals = (changes.stats or {}).get("totals") or {}
        self._publish(
            EventType.STATE_SAVED,
            None,
            total_runs=totals.get("runs"),
            jobs=len(changes.jobs),
            deleted=len(changes.deleted_jobs),
            history=len(changes.history),
            dead_letters=len(changes.dead_letters),
        )

    def _close_store(self, timeout: float | None) -> None:
        """Flush and close the store. ``timeout`` bounds the wait only while writes fail (a
        database that is down); a write that is merely slow (the first save of a million jobs to
        a JSON file) is waited for, since giving up on it would lose the state."""
        cluster, self._cluster = self._cluster, None
        if cluster is not None:
            cluster.leave()
        saver, self._saver = self._saver, None
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
        if self._store_open:
            self._store_open = False
            self.storage.close()

    def storage_status(self) -> dict[str, Any]:
        """The store's health: ``ok``, ``last_error`` and ``error_since`` of an outage, ``writes``,
        ``pending`` (changes not written yet) and the backend's class name."""
        saver = self._saver
        status = (
            saver.status()
            if saver is not None
            else {"ok": True, "last_error": None, "error_since": None, "writes": 0, "pending": False}
        )
        return {"backend": type(self.storage).__name__, **status}

    def _publish(self, kind: EventType, job: Job | None, **data: Any) -> None:
        if not self.events.has_subscribers():
            return
        job_id = job.job_id if job else None
        self.events.publish(Event(type=kind, job_id=job_id, timestamp=time.time(), data=data))

    def subscribe(self, callback: Subscriber) -> Callable[[], None]:
        """Receive every scheduler :class:`~fastscheduler.events.Event`; returns an unsubscribe function."""
        return self.events.subscribe(callback)

    # ------------------------------------------------------------------ manual clock

    def _advance_manual(self, target: float) -> None:
        """ManualClock hook: run everything due up to ``target``, in order, one due time at a time,
        waiting for each batch (and the retries it schedules) to finish."""
        if not self._running:
            return
        assert isinstance(self._clock, ManualClock)
        while True:
            deadline = self._engine.next_deadline()
            if deadline is None or deadline > target:
                break
            # Due times already behind the clock (a restored job that was due while the process
            # was down) are run at the clock's time, so the engine coalesces them as it would.
            step = max(deadline, self._clock.now())
            self._clock.set(step)
            self._engine.run_due(step)
            if self._clock.wait_for_runs:
                self._wait_idle(timeout=30)

    def _wait_idle(self, timeout: float | None) -> bool:
        """Wait until no run is in flight; False if ``timeout`` passed first."""
        end = None if timeout is None else time.monotonic() + timeout
        with self._idle:
            while self._inflight:
                remaining = None if end is None else end - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                self._idle.wait(remaining)
        return True

    # ------------------------------------------------------------------ lifecycle

    @property
    def running(self) -> bool:
        return self._running

    def start(self) -> None:
        """Start running jobs and return at once (in scripts, in FastAPI lifespans, in Flask).

        A script whose last statement is ``scheduler.start()`` keeps running its jobs until
        Ctrl-C or SIGTERM, then stops gracefully.

        If it fails (the store is locked by another process, damaged, unreachable ...), it raises
        and leaves the scheduler stopped, holding nothing it took (no store lock, connection or
        thread): fix the cause and call ``start()`` again.
        """
        try:
            started = self._start_under_lock()
        except BaseException:
            self._undo_start()
            raise
        if not started:
            return
        if threading.current_thread() is threading.main_thread():
            self._serve_at_exit = True
            _serve_at_exit()
        self._publish(EventType.SCHEDULER_STARTED, None)
        self._note(logging.INFO, "fastscheduler started with %d job(s)", len(self._jobs))

    def _start_under_lock(self) -> bool:
        """What :meth:`start` does under the lock; False if the scheduler was running already."""
        with self._lock:
            if self._running:
                return False
            try:
                app_loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
            except RuntimeError:
                app_loop = None
            # First, so a store another process holds (or a damaged one) fails start() cleanly.
            self._open_store()
            if self.cluster_config is not None:
                self._join_cluster()
            self._threads.start()
            self._processes.start()
            self._asyncio.start(app_loop)
            _collect_once()
            self._running = True
            self._update_quiet()  # from here on, registrations take the lock and arm their job
            _STARTED.add(self)
            self._stopped.clear()
            self._start_time = self._clock.now()
            now = self._clock.now()
            triggers: dict[int, Trigger] = {}
            new_rows = []
            if self._cluster is not None:
                new_rows = [j.job_id for j in self._jobs if j.key is None and j.job_id not in self._schedule]
            for job in self._jobs:
                self._arm(job, now, triggers)
            if self._cluster is not None:
                self._cluster_rows_for_new_jobs(new_rows)
                self._cluster.start()
            # What is left of the stored jobs no code registered: orphans (kept, shown, never run).
            orphans = list(self._stored)
            if self.remove_orphaned:
                self._stored.clear()
            if self._saver is not None:
                self._saver.jobs([j.job_id for j in self._jobs] + (orphans if self.remove_orphaned else []))
            if orphans:
                self._note(
                    logging.WARNING,
                    "fastscheduler: %d stored job(s) are not registered by this code (orphaned%s): %s",
                    len(orphans),
                    ", removed" if self.remove_orphaned else "; kept, not run",
                    ", ".join(orphans[:5]) + (" ..." if len(orphans) > 5 else ""),
                )
            if not isinstance(self._clock, ManualClock):
                self._engine.start()
        return True

    def _undo_start(self) -> None:
        """Release what a failed :meth:`start` took, so it can be called again: the engine and the
        executors are stopped, the cluster left, what the saver holds written and the store
        closed (its lock released). Without the scheduler's lock, which the saver needs to write.
        A failure here is logged, never raised over the one that made ``start()`` fail."""
        with self._lock:
            self._running = False
            _STARTED.discard(self)
        steps: list[tuple[str, Callable[[], object]]] = [
            ("registration mode", self._update_quiet),
            ("engine", self._engine.stop),
            ("thread pool", lambda: self._threads.shutdown(False, 0)),
            ("process pool", lambda: self._processes.shutdown(False, 0)),
            ("event loop", lambda: self._asyncio.shutdown(False, 0)),
            ("store", lambda: self._close_store(5)),
        ]
        for what, step in steps:
            try:
                step()
            except Exception:
                log.exception("fastscheduler: start() failed, and releasing its %s failed too", what)
        self._stopped.set()

    def stop(self, wait: bool = True, timeout: float | None = 30) -> _StopHandle:
        """Stop dispatching; with ``wait``, let running jobs finish, for up to ``timeout`` seconds
        in all (None: no limit), then return. Runs still going then: ``async def`` runs and
        ``.timeout(kill=True)`` processes are cancelled (recorded as failed attempts); a sync run
        cannot be stopped, so it goes on in its thread and is recorded when it ends. Without
        ``wait`` that happens at once. Saving the state afterwards uses what is left of
        ``timeout`` while the store fails, but a save that is working is always finished.

        From sync code this returns when done. Inside a running event loop (a FastAPI lifespan)
        ``await scheduler.stop(wait=True)`` waits without blocking the loop.
        """
        # One deadline for every stage, not ``timeout`` for each in turn.
        deadline = None if timeout is None else time.monotonic() + timeout

        def left() -> float | None:
            return None if deadline is None else max(0.0, deadline - time.monotonic())

        with self._lock:
            if not self._running:
                return _StopHandle()
            self._running = False
            self._update_quiet()
        # Jobs stay in the engine (counters, pause state, the interval grid); a job that falls due
        # while stopped runs after the next start() under its catch-up policy.
        self._engine.stop()

        def finish_sync() -> None:
            if self._cluster is not None:  # the claim being made still starts its runs
                self._cluster.stop_claiming()
            self._threads.shutdown(wait, left())
            self._processes.shutdown(wait, left())
            self._asyncio.shutdown(wait, left())
            if wait:
                self._wait_idle(left())
            self._after_stop(left())
            self._outcomes.put(None)  # the finisher ends once every run in flight is recorded

        if self._asyncio.on_app_loop_thread():

            async def finish_async() -> None:
                pending = [asyncio.wrap_future(f) for f in self._asyncio.pending()]
                if wait and pending:
                    await asyncio.wait(pending, timeout=left())
                await asyncio.get_running_loop().run_in_executor(None, finish_sync)

            return _StopHandle(finish_async)
        finish_sync()
        return _StopHandle()

    def _after_stop(self, timeout: float | None = 30) -> None:
        self._close_store(timeout)
        self._stopped.set()
        self._publish(EventType.SCHEDULER_STOPPED, None)
        self._note(logging.INFO, "fastscheduler stopped")

    def _note(self, level: int, msg: str, *args: object) -> None:
        """Log one of the scheduler's own informational lines (started, stopped, missed fires,
        orphaned stored jobs): at ``level``, or at DEBUG when ``quiet``. Failures are logged
        with ``log`` directly, whatever ``quiet`` says."""
        log.log(logging.DEBUG if self.quiet else level, msg, *args, stacklevel=2)

    def __enter__(self) -> FastScheduler:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop(wait=True)

    # ------------------------------------------------------------------ control

    def _job(self, job_id: str) -> Job | None:
        return self._jobs.get(job_id)

    def run_job_now(self, job_id: str) -> bool:
        """Start one extra run now; the job's schedule (and every other job's) is untouched. In a
        cluster the run gets a fire of its own (run-now at this microsecond) and runs here."""
        with self._lock:
            job = self._job(job_id)
            if job is None:
                return False
            now = self._clock.now()
            if self._cluster is not None:
                self._cluster.run_now(job_id, now)
            else:
                self._start(job, 1, now, now)
        return True

    def _act_if_allowed(self, job_id: str, action: Literal["run", "pause", "resume"]) -> str | None:
        """For the dashboard: check the job's state and act in one step (the scheduler's lock is
        held across both), so two requests racing cannot both pass the check (a double-clicked
        Run starting two runs). None when done; "missing" for an unknown job; otherwise why the
        job's state forbids it."""
        with self._lock:
            record = self.get_job(job_id)
            if record is None:
                return "missing"
            if action == "run":
                if not self._running:
                    return "the scheduler is not running"
                if record["running"]:
                    return "the job is running already"
                done = self.run_job_now(job_id)
            elif action == "pause":
                if record["paused"]:
                    return "the job is paused already"
                done = self.pause_job(job_id)
            else:
                if not record["paused"]:
                    return "the job is not paused"
                done = self.resume_job(job_id)
        return None if done else "missing"

    def pause_job(self, job_id: str) -> bool:
        """Stop firing; the schedule is kept (resume continues at the next scheduled time). In a
        cluster every instance stops firing it."""
        return self._pause(job_id, broadcast=True)

    def resume_job(self, job_id: str) -> bool:
        """Fire again from the next scheduled time (not immediately); cluster-wide in a cluster."""
        return self._resume(job_id, broadcast=True)

    def cancel_job(self, job_id: str) -> bool:
        """Remove a job (a run in progress finishes; it is not retried). In a cluster every
        instance removes it (until code registers it again, e.g. at an instance's restart)."""
        return self._cancel(job_id, broadcast=True)

    def _pause(self, job_id: str, broadcast: bool) -> bool:
        with self._lock:
            job = self._job(job_id)
            if job is None:
                return False
            if job.key is not None:
                self._engine.pause(job.key)
            else:
                self._paused_before_start.add(job_id)
            self._mark(job)
            if broadcast and self._cluster is not None and job.key is not None:
                self._cluster.command("pause", job_id)
        self._publish(EventType.JOB_PAUSED, job)
        return True

    def _resume(self, job_id: str, broadcast: bool) -> bool:
        with self._lock:
            job = self._job(job_id)
            if job is None:
                return False
            if job.key is not None:
                self._engine.resume(job.key, self._clock.now())
                if broadcast and self._cluster is not None:
                    self._cluster.command("resume", job_id, self._engine.next_fire(job.key))
            else:
                self._paused_before_start.discard(job_id)
            self._mark(job)
        self._publish(EventType.JOB_RESUMED, job)
        return True

    def _cancel(self, job_id: str, broadcast: bool) -> bool:
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None or not self._jobs.remove(job):
                return False
            if job.key is not None:
                self._engine.remove(job.key)
                self._by_slot[job.key & _SLOT_MASK] = None
            for key, retry in list(self._retries.items()):
                if retry.job is job:
                    self._engine.remove(key)
                    del self._retries[key]
            self._mark(job)  # not registered any more: the saver deletes its record
            if broadcast and self._cluster is not None:
                self._cluster.command("cancel", job_id)
        self._publish(EventType.JOB_REMOVED, job)
        return True

    # ------------------------------------------------------------------ cluster (ClusterHost)

    def cluster_status(self) -> dict[str, Any] | None:
        """In a running cluster: this instance's id, the live instances, fires claimed, fires and
        runs taken over from other instances, and the last database error; else None."""
        cluster = self._cluster
        return None if cluster is None else cluster.status()

    def cluster_job(self, job_id: str) -> tuple[JobSpec, bool] | None:
        """ClusterHost: the job's spec and whether it is running here (None: not registered)."""
        job = self._jobs.get(job_id)
        if job is None:
            return None
        return job.spec, job.running > 0

    def cluster_run(self, claims: list[Claim]) -> None:
        """ClusterHost: run fires this instance claimed (or record the ones it must skip)."""
        cluster = self._cluster
        with self._lock:
            now = self._clock.now()
            for claim in claims:
                job = self._jobs.get(claim.job_id)
                if job is None or cluster is None:  # cancelled meanwhile
                    if cluster is not None:
                        cluster.finished(claim, "skipped", claim.attempt, now, 0, 0, 0)
                    continue
                if claim.lost_with is not None:
                    # The attempt died with its instance: a failed attempt, retried per the job.
                    error = RunLostError(
                        f"attempt {claim.attempt} ran on instance {claim.lost_with}, which stopped "
                        f"renewing its lease; {cluster.instance_id} took the run over"
                    )
                    run = self._begin(job, claim.scheduled, claim.attempt, claim.scheduled, claim)
                    run.report(RunOutcome(started_at=now, finished_at=now, error=error))
                    continue
                if claim.skip is not None:
                    self._record_missed(job, claim.scheduled, claim.missed + 1, claim.skip)
                    continue
                if claim.missed:
                    self._record_missed(
                        job, claim.scheduled, claim.missed, "the scheduler was not running on time"
                    )
                self._start(job, claim.attempt, claim.scheduled, now, claim)

    def cluster_command(self, command: str, job_id: str, payload: dict[str, Any] | None = None) -> None:
        """ClusterHost: a peer paused, resumed, cancelled or added a job."""
        if command == "add":
            self._add_from_peer(job_id, payload)
        elif command == "pause":
            self._pause(job_id, broadcast=False)
        elif command == "resume":
            self._resume(job_id, broadcast=False)
        elif command == "cancel":
            self._cancel(job_id, broadcast=False)

    def _add_from_peer(self, job_id: str, payload: dict[str, Any] | None) -> None:
        """Register a job a peer added while running, if this process can import its function and
        its arguments came through JSON intact; otherwise only the peer runs it (logged)."""
        if self._jobs.get(job_id) is not None:
            return
        try:
            if payload is None or payload.get("args") is None or payload.get("kwargs") is None:
                raise ValueError("its arguments are not JSON-serialisable")
            module_name, _, qualname = str(payload["func"]).partition(":")
            if "<" in qualname:
                raise ValueError(f"{module_name}.{qualname} is not importable (a lambda or a local function)")
            func: Any = importlib.import_module(module_name)
            for part in qualname.split("."):
                func = getattr(func, part)
            if payload.get("bound"):
                raise ValueError(f"{module_name}.{qualname} is a bound method")
            spec = JobSpec(**{**payload["spec"], "job_id": job_id})
            self._register(spec, func, tuple(payload["args"]), dict(payload["kwargs"]), broadcast=False)
            self._from_peer.add(job_id)
        except Exception as exc:  # an import error, a changed function, bad data: not ours to run
            log.warning(
                "fastscheduler cluster: job %s added on another instance runs only there: %s", job_id, exc
            )

    def cluster_adopt(self, job_id: str, next_run: float | None, paused: bool) -> None:
        """ClusterHost: a job registered while running already had a row (a peer's): follow it."""
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None or job.key is None:
                return
            state = self._engine.state(job.key)
            runs, failures, retries = state[2:] if state else (0, 0, 0)
            self._engine.remove(job.key)
            self._by_slot[job.key & _SLOT_MASK] = None
            job.key = None
            stored = {
                "next_run": next_run,
                "paused": paused,
                "run_count": runs,
                "failure_count": failures,
                "retry_count": retries,
                "finished": next_run is None and job.spec.kind == "date",
            }
            key = self._restore(job, stored, self._clock.now())
            if key is not None:
                self._place(job, key)

    def cancel_job_by_name(self, name: str) -> int:
        """Cancel every job whose name is ``name`` (``.name()``, else the function's name);
        returns how many."""
        with self._lock:
            ids = [j.job_id for j in self._jobs if j.name == name]
        return sum(self.cancel_job(i) for i in ids)

    # ------------------------------------------------------------------ queries

    def _is_paused(self, job: Job) -> bool:
        if job.key is not None:
            return bool(self._engine.is_paused(job.key))
        return job.job_id in self._paused_before_start

    def _job_record(self, job: Job) -> dict[str, Any]:
        now = self._clock.now()
        run = job.run
        next_ts = self._engine.next_fire(job.key) if job.key is not None and not run.finished else None
        counters = self._engine.counters(job.key) if job.key is not None else None
        runs, failures, retries = counters or (0, 0, 0)
        paused = self._is_paused(job)
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
            "retries": job.spec.retries,
            "catch_up": job.spec.catch_up,
            "orphaned": False,
        }

    def _orphan_record(self, stored: dict[str, Any]) -> dict[str, Any]:
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
            "retries": spec.get("retries"),
            "catch_up": spec.get("catch_up"),
            "orphaned": True,
        }

    def get_jobs(self) -> list[dict[str, Any]]:
        """Every job (running ones included), soonest next run first; stored jobs that no code
        registers come last, with status ``orphaned``."""
        with self._lock:
            records = [self._job_record(j) for j in self._jobs]
            records += [self._orphan_record(r) for r in self._stored.values()]
        return sorted(records, key=lambda r: (r["next_run_timestamp"] is None, r["next_run_timestamp"] or 0))

    def get_job(self, job_id: str) -> dict[str, Any] | None:
        """One job's record (with ``timeout``), or None."""
        with self._lock:
            job = self._job(job_id)
            if job is None:
                stored = self._stored.get(job_id)
                return None if stored is None else self._orphan_record(stored)
            record = self._job_record(job)
        record["timeout"] = job.spec.timeout
        record["timeout_kill"] = job.spec.timeout_kill
        return record

    def _prune_history(self) -> None:
        horizon = self._clock.now() - self.history_retention_days * 86400
        while self._history and self._history[0].timestamp < horizon:
            self._history.popleft()

    def get_history(self, func_name: str | None = None, limit: int = 50) -> list[HistoryEntry]:
        """The newest ``limit`` finished runs, newest first, optionally for one function."""
        with self._lock:
            self._prune_history()
            entries = [e for e in reversed(self._history) if func_name is None or e.func_name == func_name]
        return entries[: max(0, limit)]

    def get_statistics(self) -> dict[str, Any]:
        """Totals, uptime and per-job counts (``success_rate`` is in percent, 0-100)."""
        with self._lock:
            now = self._clock.now()
            uptime = (now - self._start_time) if self._start_time is not None else 0.0
            runs, failures = self._totals["runs"], self._totals["failures"]
            return {
                "total_runs": runs,
                "total_failures": failures,
                "total_retries": self._totals["retries"],
                "total_missed": self._totals["missed"],
                "success_rate": 100.0 * (runs - failures) / runs if runs else 100.0,
                "start_time": readable(self._start_time),
                "uptime_seconds": uptime,
                "uptime_readable": _duration(uptime),
                "per_job": {k: dict(v) for k, v in self._per_job.items()},
                "active_jobs": sum(1 for j in self._jobs if not j.finished and not self._is_paused(j)),
                "total_jobs": len(self._jobs),
                "running_jobs": sum(1 for j in self._jobs if j.running),
                "dead_letters": len(self._dead),
            }

    def get_dead_letters(self, limit: int = 100) -> list[DeadLetter]:
        """Executions that failed on every attempt, newest first."""
        with self._lock:
            return list(reversed(self._dead))[: max(0, limit)]

    def clear_dead_letters(self) -> int:
        """Remove every dead letter; returns how many were removed (and publishes a
        ``dead_letters_cleared`` event saying so, so other dashboards update at once)."""
        with self._lock:
            n = len(self._dead)
            self._dead.clear()
            if self._saver is not None:
                self._saver.clear_dead_letters()
        self._publish(EventType.DEAD_LETTERS_CLEARED, None, cleared=n)
        return n


def _one_line(text: str) -> str:
    """``text`` on one log line (an error message may span several)."""
    return text.replace("\r", "\\r").replace("\n", "\\n")


def _storage_backend(
    storage: str | StorageBackend | None, state_file: str, database_url: str | None
) -> StorageBackend:
    """The backend the constructor's arguments name (see ``FastScheduler``)."""
    if isinstance(storage, StorageBackend):
        return storage
    if storage == "memory":
        return MemoryStorageBackend()
    if storage == "sqlmodel" or (storage is None and database_url is not None):
        from fastscheduler.stores.sql import SQLModelStorageBackend

        return SQLModelStorageBackend(database_url or "sqlite:///fastscheduler.db")
    from fastscheduler.stores.json_file import JSONStorageBackend

    return JSONStorageBackend(state_file)


def _record(entry: HistoryEntry | DeadLetter) -> dict[str, Any]:
    """A history entry or dead letter as a stored record (its fields and the format version)."""
    names = _HISTORY_NAMES if type(entry) is HistoryEntry else _DEAD_NAMES
    record = {name: getattr(entry, name) for name in names}
    record["v"] = FORMAT_VERSION
    return record


def _history_entry(record: dict[str, Any]) -> HistoryEntry:
    return HistoryEntry(**{k: v for k, v in record.items() if k in _HISTORY_FIELDS})


def _dead_letter(record: dict[str, Any]) -> DeadLetter:
    return DeadLetter(**{k: v for k, v in record.items() if k in _DEAD_FIELDS})


_HISTORY_NAMES: Final = tuple(f.name for f in dataclasses.fields(HistoryEntry))
_DEAD_NAMES: Final = tuple(f.name for f in dataclasses.fields(DeadLetter))
_HISTORY_FIELDS: Final = frozenset(_HISTORY_NAMES)
_DEAD_FIELDS: Final = frozenset(_DEAD_NAMES)
_PLAIN: Final = frozenset({str, int, float, bool, type(None)})


def _added_job(job: Job) -> dict[str, Any]:
    """What a peer needs to register ``job`` too (the payload of a cluster "add" command)."""
    func = job.func
    return {
        "func": f"{getattr(func, '__module__', '?')}:{getattr(func, '__qualname__', '?')}",
        "args": _jsonable(job.args),
        "kwargs": _jsonable(job.kwargs),
        "spec": dataclasses.asdict(job.spec),
        "bound": getattr(func, "__self__", None) is not None,
    }


def _jsonable(value: Any) -> Any:
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


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{days}d"] if days else []
    parts.append(f"{hours:02d}:{minutes:02d}:{secs:02d}")
    return " ".join(parts)


__all__ = ["FastScheduler", "Job", "RunLostError"]

"""``FastScheduler``: the decorator API and the wiring of the runtime.

The runtime lives in modules named for what they do; data flows one way (docs/architecture.md
walks one fire through them):

- :mod:`fastscheduler._jobstate`: registered jobs, their place in the Rust engine, their views;
- :mod:`fastscheduler._dispatch`: due fires to the coordinator, claimed fires to executors;
- :mod:`fastscheduler.coordination`: who runs a fire (alone, or one instance of a cluster);
- :mod:`fastscheduler._finish`: outcomes to counters, retries, dead letters and history;
- :mod:`fastscheduler._runlog`: history, dead letters and statistics;
- :mod:`fastscheduler._persist`: the store, loaded at start and kept current by the saver;
- :mod:`fastscheduler._control`: registration, pause, resume, cancel, run now, peers' commands;
- :mod:`fastscheduler._compat`: what 0.2.x programs use (``scheduler.jobs``, ``print_status()``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fastscheduler._builders import At, Cron, Daily, Every, Hourly, JobSpec, Once, Weekly
from fastscheduler._clock import ManualClock, SystemClock
from fastscheduler._compat import CompatViews, retention_days, storage_backend
from fastscheduler._control import Action
from fastscheduler._core import CronExpr
from fastscheduler._dispatch import RunLostError
from fastscheduler._localzone import local_zone_name
from fastscheduler._runtime import Runtime
from fastscheduler._serving import StopHandle
from fastscheduler.events import EventBroker, EventType, LocalEventBroker, Subscriber
from fastscheduler.models import DeadLetter, HistoryEntry, Job
from fastscheduler.stores import Limits, StorageBackend

if TYPE_CHECKING:
    from fastscheduler.cluster import ClusterConfig
    from fastscheduler.storage import StorageBackend as LegacyStorageBackend

log = logging.getLogger("fastscheduler")

Clock = SystemClock | ManualClock


class FastScheduler(CompatViews):
    """A job scheduler with a decorator API (the names of fastscheduler 0.2.x; its attributes
    ``jobs``, ``history``, ``dead_letters`` and ``stats`` are read-only views, docs/migrating.md).

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
        storage: str | StorageBackend | LegacyStorageBackend | None = None,
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
        for label, value in (
            ("max_history", max_history),
            ("max_workers", max_workers),
            ("max_dead_letters", max_dead_letters),
        ):
            least = 1 if label == "max_workers" else 0
            if not isinstance(value, int) or isinstance(value, bool) or value < least:
                raise ValueError(f"{label} must be an int >= {least}, got {value!r}")
        retention = retention_days(history_retention_days)  # 0: no age limit, as in 0.2.x
        #: Zone of wall-clock schedules given without one (``daily.at("14:30")`` is local time).
        self.timezone = CronExpr("* * * * *", tz=timezone or local_zone_name()).tz
        self.state_file = Path(state_file)  # a Path, as in 0.2.x
        self.database_url = database_url
        self.max_history = max_history
        self.max_workers = max_workers
        self.history_retention_days = history_retention_days
        self.max_dead_letters = max_dead_letters
        #: Where state persists; opened (locked, loaded) by ``start()``, closed by ``stop()``.
        self.storage: StorageBackend = storage_backend(storage, state_file, database_url)
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
        self._clock: Clock = clock or SystemClock()
        self.events: EventBroker = events or LocalEventBroker()
        self._rt = Runtime(
            storage=self.storage,
            persist=storage != "memory",  # "memory" promises only that nothing persists
            cluster=self.cluster_config,
            clock=self._clock,
            events=self.events,
            limits=Limits(
                max_history=max_history,
                history_retention_days=retention,
                max_dead_letters=max_dead_letters,
            ),
            max_workers=max_workers,
            quiet=quiet,
            remove_orphaned=remove_orphaned,
        )
        self._jobs = self._rt.jobs  # the registry (builders add to it directly when they can)
        self._every_cache: dict[object, Every] = {}  # by n (an int) or (type(n), n)
        if auto_start:
            self.start()

    @property
    def quiet(self) -> bool:
        """Whether the scheduler's informational log lines go to DEBUG (see the class doc)."""
        return self._rt.quiet

    @quiet.setter
    def quiet(self, value: bool) -> None:
        self._rt.quiet = value

    @property
    def remove_orphaned(self) -> bool:
        """Whether ``start()`` deletes stored jobs no code registers (else kept and shown)."""
        return self._rt.remove_orphaned

    @remove_orphaned.setter
    def remove_orphaned(self, value: bool) -> None:
        self._rt.remove_orphaned = value

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

    def _register(
        self, spec: JobSpec, func: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> str:
        return self._rt.control.register(spec, func, args, kwargs)

    # ------------------------------------------------------------------ lifecycle

    @property
    def running(self) -> bool:
        """Whether the scheduler is started (and not stopped since)."""
        return self._rt.running

    def start(self) -> None:
        """Start running jobs and return at once (in scripts, in FastAPI lifespans, in Flask).

        A script whose last statement is ``scheduler.start()`` keeps running its jobs until
        Ctrl-C or SIGTERM, then stops gracefully. If it raises (a store another process holds, a
        damaged store, an unreachable database), everything it took is released and the scheduler
        stays stopped and startable.
        """
        self._rt.start()

    def stop(self, wait: bool = True, timeout: float | None = 30) -> StopHandle:
        """Stop dispatching; with ``wait``, let running jobs finish, for up to ``timeout`` seconds
        in all (None: no limit), then return. Runs still going then: ``async def`` runs and
        ``.timeout(kill=True)`` processes are cancelled (recorded as failed attempts); a sync run
        cannot be stopped, so it goes on in its thread and is recorded when it ends. Without
        ``wait`` that happens at once. Saving the state afterwards uses what is left of
        ``timeout`` while the store fails, but a save that is working is always finished.

        From sync code this returns when done. Inside a running event loop (a FastAPI lifespan)
        ``await scheduler.stop(wait=True)`` waits without blocking the loop.
        """
        return self._rt.stop(wait, timeout)

    def __enter__(self) -> FastScheduler:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop(wait=True)

    def _wait_idle(self, timeout: float | None) -> bool:
        """Wait until no run is in flight; False if ``timeout`` passed first."""
        return self._rt.inflight.wait(timeout)

    # ------------------------------------------------------------------ control

    def run_job_now(self, job_id: str) -> bool:
        """Start one extra run now; the job's schedule (and every other job's) is untouched. In a
        cluster the run gets a fire of its own (run-now at this microsecond) and runs here."""
        return self._rt.control.run_now(job_id)

    def pause_job(self, job_id: str) -> bool:
        """Stop firing; the schedule is kept (resume continues at the next scheduled time). In a
        cluster every instance stops firing it."""
        return self._rt.control.pause(job_id)

    def resume_job(self, job_id: str) -> bool:
        """Fire again from the next scheduled time (not immediately); cluster-wide in a cluster."""
        return self._rt.control.resume(job_id)

    def cancel_job(self, job_id: str) -> bool:
        """Remove a job (a run in progress finishes; it is not retried). In a cluster every
        instance removes it (until code registers it again, e.g. at an instance's restart)."""
        return self._rt.control.cancel(job_id)

    def cancel_job_by_name(self, name: str) -> int:
        """Cancel every job whose name is ``name`` (``.name()``, else the function's name);
        returns how many."""
        with self._rt.lock:
            ids = [j.job_id for j in self._jobs if j.name == name]
        return sum(self.cancel_job(i) for i in ids)

    def job_action(self, job_id: str, action: Action) -> str | None:
        """Run, pause or resume a job only if its state allows it, checked and done in one step
        (two racing requests cannot both pass the check: a double-clicked Run starts one run).
        Returns None when done, ``"missing"`` for an unknown job, else why its state forbids it."""
        return self._rt.control.act_if_allowed(job_id, action, self.get_job)

    # ------------------------------------------------------------------ queries

    def get_jobs(self) -> list[dict[str, Any]]:
        """Every job (running ones included), soonest next run first; stored jobs that no code
        registers come last, with status ``orphaned``."""
        return self._rt.state.views()

    def get_job(self, job_id: str) -> dict[str, Any] | None:
        """One job's record (with ``timeout``), or None."""
        return self._rt.state.find(job_id)

    def get_history(self, func_name: str | None = None, limit: int = 50) -> list[HistoryEntry]:
        """The newest ``limit`` history entries (runs' attempts and missed fires), newest first,
        optionally for one function."""
        return self._rt.runlog.history(func_name, limit)

    def get_statistics(self) -> dict[str, Any]:
        """Totals, uptime and per-job counts (``success_rate`` is in percent, 0-100). Runs,
        attempts, failures, retries and missed fires are defined in the README; the totals agree
        with the jobs' own counters."""
        with self._rt.lock:
            stats = self._rt.runlog.statistics(self._rt.start_time)
            jobs, paused = list(self._jobs), self._rt.state.is_paused
            stats["active_jobs"] = sum(1 for j in jobs if not j.finished and not paused(j))
            stats["total_jobs"] = len(jobs)
            stats["running_jobs"] = sum(1 for j in jobs if j.running)
        return stats

    def get_dead_letters(self, limit: int = 100) -> list[DeadLetter]:
        """Executions that failed on every attempt, newest first."""
        return self._rt.runlog.dead_letters(limit)

    def clear_dead_letters(self) -> int:
        """Remove every dead letter; returns how many were removed (and publishes a
        ``dead_letters_cleared`` event saying so, so other dashboards update at once)."""
        n = self._rt.runlog.clear_dead_letters()
        self._rt.publish(EventType.DEAD_LETTERS_CLEARED, None, cleared=n)
        return n

    def storage_status(self) -> dict[str, Any]:
        """The store's health: ``ok``, ``last_error`` and ``error_since`` of an outage, ``writes``,
        ``pending`` (changes not written yet) and the backend's class name."""
        return self._rt.persistence.status()

    def cluster_status(self) -> dict[str, Any] | None:
        """In a running cluster: this instance's id, the live instances, fires claimed, fires and
        runs taken over from other instances, and the last database error; else None."""
        return self._rt.coordinator.status() if self._rt.running else None

    # ------------------------------------------------------------------ events

    def subscribe(self, callback: Subscriber) -> Callable[[], None]:
        """Receive every scheduler :class:`~fastscheduler.events.Event`; returns an unsubscribe function."""
        return self.events.subscribe(callback)


__all__ = ["FastScheduler", "Job", "RunLostError"]

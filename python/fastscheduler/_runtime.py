"""The runtime of one scheduler: its parts, wired so data flows one way, and their lifecycle.

engine → :mod:`~fastscheduler._dispatch` → coordinator → executors → :mod:`~fastscheduler._finish`
→ job state (:mod:`~fastscheduler._jobstate`) and run log (:mod:`~fastscheduler._runlog`) → store
(:mod:`~fastscheduler._persist`). :mod:`~fastscheduler._control` changes jobs on request. This module
builds them and starts and stops them in order; ``FastScheduler`` is the public face.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from fastscheduler._clock import ManualClock, SystemClock
from fastscheduler._control import Controller
from fastscheduler._core import ClusterRows, DueBatch, Engine, Job, Trigger
from fastscheduler._dispatch import LATE_ONE_SHOT, Dispatcher
from fastscheduler._finish import Finisher
from fastscheduler._jobstate import InFlight, JobState
from fastscheduler._persist import Persistence
from fastscheduler._runlog import RunLog
from fastscheduler._serving import STARTED, StopHandle, collect_once, serve_at_exit
from fastscheduler.coordination import Coordinator, LocalCoordinator, make_coordinator
from fastscheduler.events import Event, EventBroker, EventType, LocalEventBroker
from fastscheduler.stores import Changes, Limits, StorageBackend

if TYPE_CHECKING:
    from fastscheduler.coordination.sql import ClusterConfig

__all__ = ["Runtime"]

log = logging.getLogger("fastscheduler")

Clock = SystemClock | ManualClock


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """The cyclic garbage collector paused (if it runs) while ``start()`` loads and arms: a million
    stored jobs make millions of objects that all stay alive until armed, and the collector would
    walk the growing heap again and again (the JSON records of 1,000,000 jobs decode in 4.7 s
    without it and 15 s with it). ``start()`` ends with one full pass (``collect_once``)."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


class Runtime:
    """One scheduler's parts and lifecycle (see the module doc). ``quiet`` and ``remove_orphaned``
    are the scheduler's options of those names."""

    def __init__(
        self,
        *,
        storage: StorageBackend,
        persist: bool,
        cluster: ClusterConfig | None,
        clock: Clock,
        events: EventBroker,
        limits: Limits,
        max_workers: int,
        quiet: bool,
        remove_orphaned: bool,
    ) -> None:
        self.storage = storage
        self.cluster = cluster
        self.clock = clock
        self.events = events
        self.quiet = quiet
        self.remove_orphaned = remove_orphaned
        self.running = False
        self.start_time: float | None = None
        self.stopped = threading.Event()
        self.serve_at_exit = False  # started from the main thread: keep serving when its script ends
        self._joined = False  # the coordinator of this start() joined (a failed start leaves it)
        self.metrics: object | None = None  # fastscheduler.metrics' collector, once instrumented
        now = clock.now
        lock = self.lock = threading.RLock()
        self.engine = Engine(self._on_due)
        state = self.state = JobState(self.engine, now, lock)
        self.jobs = state.registry
        self.inflight = InFlight(lock)
        self.runlog = RunLog(
            lock,
            now,
            max_history=limits.max_history,
            max_dead_letters=limits.max_dead_letters,
            history_retention_days=limits.history_retention_days,
        )
        self.coordinator: Coordinator = LocalCoordinator()
        has_subscribers = events.has_subscribers
        self.dispatcher = Dispatcher(
            jobs=state,
            runlog=self.runlog,
            inflight=self.inflight,
            coordinator=self.coordinator,
            clock=now,
            publish=self.publish,
            has_subscribers=has_subscribers,
            max_workers=max_workers,
            note=self.note,
        )
        self.finisher = self.dispatcher.finisher = Finisher(
            jobs=state,
            runlog=self.runlog,
            inflight=self.inflight,
            dispatcher=self.dispatcher,
            coordinator=self.coordinator,
            publish=self.publish,
            has_subscribers=has_subscribers,
            is_running=self._is_running,
        )
        self.control = Controller(
            jobs=state,
            dispatcher=self.dispatcher,
            coordinator=self.coordinator,
            clock=now,
            publish=self.publish,
            has_subscribers=has_subscribers,
            is_running=self._is_running,
            on_peer_jobs=self.update_quiet,
        )
        self.dispatcher.on_command = self.control.apply
        self.persistence = Persistence(
            storage,
            limits,
            persist=persist,
            shared_counts=cluster is not None,
            jobs=state,
            runlog=self.runlog,
            clock=now,
            on_saved=self._saved,
        )
        if isinstance(clock, ManualClock):
            clock.attach(self.advance_manual)
        if isinstance(events, LocalEventBroker):
            events.watch(self.update_quiet)
        self.update_quiet()

    def _use(self, coordinator: Coordinator) -> None:
        """Make ``coordinator`` the one every part talks to (at ``start()``)."""
        self.coordinator = self.dispatcher.coordinator = self.control.coordinator = coordinator
        self.finisher.coordinator = coordinator

    def _on_due(self, batch: DueBatch) -> None:
        self.dispatcher.dispatch(batch)

    def _is_running(self) -> bool:
        return self.running

    def update_quiet(self) -> None:
        """Tell the registry whether registering a job involves nothing else: the scheduler is
        stopped, no peer's job awaits replacement and nobody listens to events (known only of the
        built-in broker, which reports subscriptions). Builders then register through
        ``Registry.try_add`` without the lock; otherwise through the controller."""
        with self.lock:
            events = self.events
            self.jobs.quiet = (
                not self.running
                and not self.control.from_peer
                and isinstance(events, LocalEventBroker)
                and not events.has_subscribers()
            )

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        """See ``FastScheduler.start``. All or nothing: if it raises, what it took is released
        (outside the lock, which the saver needs to finish writing) and it can be called again."""
        try:
            with _collector_paused():
                started = self._start_locked()
        except BaseException:
            self._undo_start()
            raise
        if not started:
            return
        if threading.current_thread() is threading.main_thread():
            self.serve_at_exit = True
            serve_at_exit()
        self.publish(EventType.SCHEDULER_STARTED, None)
        self.note(logging.INFO, "fastscheduler started with %d job(s)", len(self.jobs))

    def _start_locked(self) -> bool:
        """What :meth:`start` does under the lock; False if it was running already."""
        with self.lock:
            if self.running:
                return False
            try:
                app_loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
            except RuntimeError:
                app_loop = None
            self._joined = False
            coordinator = make_coordinator(self.storage, self.cluster, self.clock.now)
            # First, so a store another process holds (or a damaged one) fails start() cleanly.
            self.persistence.open()
            rows = coordinator.join(self.dispatcher)
            self._joined = True
            self._use(coordinator)
            state = self.state
            state.rows = rows
            # (arming takes the rows out of state.rows; a ClusterRows still knows the ids it had)
            had_row = rows.__contains__ if isinstance(rows, ClusterRows) else set(rows).__contains__
            self.dispatcher.start_executors(app_loop)
            self.running = True
            self.update_quiet()  # from here on, registrations take the lock and arm their job
            STARTED.add(self)
            self.stopped.clear()
            now = self.start_time = self.clock.now()
            triggers: dict[int, Trigger] = {}
            paused: list[str] = []
            # Armed jobs the coordinator has no row of (alone: none to collect, it keeps no rows).
            unrowed: list[Job] | None = None if isinstance(coordinator, LocalCoordinator) else []
            state.to_write = []
            # A new interval job first fires one interval after it is armed. Arming a million
            # jobs takes seconds, so the time read moves on every 1,024 jobs, and a new job whose
            # first fire came before the arming ended is armed again from its end (rearm_fresh).
            # Jobs restored from a record or a row are armed in Rust a chunk at a time
            # (JobState.arm_stored); the others (new, cron, paused before start()...) one by one.
            at = now
            jobs = list(self.jobs)
            for begin in range(0, len(jobs), 1024):
                if begin:
                    at = self.clock.now()
                    triggers.clear()  # (a new interval trigger starts from ``at``)
                left, rowless = state.arm_stored(jobs[begin : begin + 1024], at)
                if unrowed is not None:
                    unrowed += rowless
                for job in left:
                    armed = state.arm(job, at, triggers)
                    if armed == "missed":
                        assert job.spec.at is not None
                        self.dispatcher.record_missed(job, job.spec.at, 1, LATE_ONE_SHOT)
                    elif armed == "paused":
                        paused.append(job.job_id)
                    if unrowed is not None and job.key is not None and not had_row(job.job_id):
                        unrowed.append(job)
            del jobs
            state.rearm_fresh(self.clock.now())
            to_write = state.arming_done()
            coordinator.register(unrowed or (), wait=True)
            self.control.paused_at_start(paused)
            # After arming, which freed the loaded records and rows: the pass walks what stays.
            collect_once()
            coordinator.start()
            self._adopt_orphans(to_write)
            if not isinstance(self.clock, ManualClock):
                self.engine.start()
        return True

    def _undo_start(self) -> None:
        """Release what a failed :meth:`start` took: the engine and the executors stopped, the
        cluster left, what the saver holds written and the store closed (its lock released). A
        failure here is logged, never raised over the one that made ``start()`` fail."""
        with self.lock:
            self.running = False
            STARTED.discard(self)
            self.state.arming_done()
        steps: list[tuple[str, Callable[[], object]]] = [
            ("registration mode", self.update_quiet),
            ("engine", self.engine.stop),
            ("executors", lambda: self.dispatcher.shutdown(False, lambda: 0.0)),
        ]
        if self._joined:
            steps.append(("cluster membership", lambda: self.coordinator.leave(5.0)))
        steps.append(("store", lambda: self.persistence.close(5.0)))
        for what, step in steps:
            try:
                step()
            except Exception:
                log.exception("fastscheduler: start() failed, and releasing its %s failed too", what)
        self._joined = False
        self.stopped.set()

    def _adopt_orphans(self, to_write: list[str]) -> None:
        """What is left of the stored jobs no code registered: orphans (kept, shown, never run).
        The store is given the records of ``to_write`` (the jobs whose stored record is missing
        or out of date) and, when orphans are removed, their deletion."""
        orphans = list(self.state.stored)
        if self.remove_orphaned:
            self.state.stored.clear()
        self.persistence.jobs_changed(to_write + (orphans if self.remove_orphaned else []))
        if orphans:
            self.note(
                logging.WARNING,
                "fastscheduler: %d stored job(s) are not registered by this code (orphaned%s): %s",
                len(orphans),
                ", removed" if self.remove_orphaned else "; kept, not run",
                ", ".join(orphans[:5]) + (" ..." if len(orphans) > 5 else ""),
            )

    def stop(self, wait: bool, timeout: float | None) -> StopHandle:
        """See ``FastScheduler.stop``."""
        with self.lock:
            if not self.running:
                return StopHandle()
            self.running = False
            self.update_quiet()
        # Jobs stay in the engine (counters, pause state, the interval grid); a job that falls due
        # while stopped runs after the next start() under its catch-up policy.
        self.engine.stop()
        # One deadline for every stage, not ``timeout`` for each in turn.
        deadline = None if timeout is None else time.monotonic() + timeout

        def left() -> float | None:
            return None if deadline is None else max(0.0, deadline - time.monotonic())

        def finish_sync() -> None:
            # The claim being made still starts its runs, and a cluster instance's last outcomes
            # are written before it leaves (each bounded by 10 s of its own, like a working save).
            self.coordinator.stop_claiming(10.0)
            self.dispatcher.shutdown(wait, left)
            if wait:
                self.inflight.wait(left())
            self.coordinator.leave(10.0)
            self.persistence.close(left())
            self.stopped.set()
            self.publish(EventType.SCHEDULER_STOPPED, None)
            self.note(logging.INFO, "fastscheduler stopped")
            self.finisher.wake()  # it ends once every run in flight is recorded

        if self.dispatcher.on_app_loop_thread():

            async def finish_async() -> None:
                pending = [asyncio.wrap_future(f) for f in self.dispatcher.pending_async()]
                if wait and pending:
                    await asyncio.wait(pending, timeout=left())
                await asyncio.get_running_loop().run_in_executor(None, finish_sync)

            return StopHandle(finish_async)
        finish_sync()
        return StopHandle()

    def advance_manual(self, target: float) -> None:
        """ManualClock hook: run everything due up to ``target``, in order, one due time at a time,
        waiting for each batch (and the retries it schedules) to finish."""
        if not self.running:
            return
        assert isinstance(self.clock, ManualClock)
        while True:
            deadline = self.engine.next_deadline()
            if deadline is None or deadline > target:
                break
            # Due times already behind the clock (a restored job that was due while the process
            # was down) are run at the clock's time, so the engine coalesces them as it would.
            step = max(deadline, self.clock.now())
            self.clock.set(step)
            self.engine.run_due(step)
            if self.clock.wait_for_runs:
                self.inflight.wait(30)

    def note(self, level: int, msg: str, *args: object) -> None:
        """Log one of the scheduler's own informational lines (started, stopped, missed fires,
        orphaned stored jobs): at ``level``, or at DEBUG when ``quiet``. Failures are logged
        with ``log`` directly, whatever ``quiet`` says."""
        log.log(logging.DEBUG if self.quiet else level, msg, *args, stacklevel=2)

    def publish(self, kind: EventType, job: Job | None, **data: Any) -> None:
        if not self.events.has_subscribers():
            return
        job_id = job.job_id if job else None
        self.events.publish(Event(type=kind, job_id=job_id, timestamp=time.time(), data=data))

    def _saved(self, changes: Changes) -> None:
        """After each durable write: a ``state_saved`` event saying what it held (and the total
        runs the stored statistics count, when it wrote them)."""
        totals = (changes.stats or {}).get("totals") or {}
        self.publish(
            EventType.STATE_SAVED,
            None,
            total_runs=totals.get("runs"),
            jobs=len(changes.jobs) + changes.job_line_count + changes.state_count + changes.job_row_count,
            deleted=len(changes.deleted_jobs),
            history=len(changes.history) + changes.history_count + changes.history_row_count,
            dead_letters=len(changes.dead_letters),
        )

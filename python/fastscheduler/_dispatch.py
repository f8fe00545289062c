"""Dispatch: from "the engine says this is due" to "an executor runs it".

One fire's path: the Rust engine calls :meth:`Dispatcher.dispatch` with a batch of due engine keys;
retries (date triggers of their own) start their next attempt at once, and the jobs' fires go to
the coordinator (:mod:`fastscheduler.coordination`), which hands back the fires this process runs
through :meth:`Dispatcher.run_claims` (at once when alone; from its claimer thread in a cluster).
Each run becomes a Rust ``Run`` (``Job.start_run``) submitted to its executor; the executor reports
its outcome to the finisher (:mod:`fastscheduler._finish`).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from fastscheduler._core import Job, Run, untracked_record
from fastscheduler._jobstate import InFlight, JobState, Retry
from fastscheduler._runlog import RunLog
from fastscheduler.coordination.base import Claim, ClaimState, Command, Coordinator, Finish, ScheduleRow
from fastscheduler.events import EventType
from fastscheduler.executors import (
    AsyncioExecutor,
    Executor,
    RunOutcome,
    SubprocessExecutor,
    ThreadPoolExecutor,
)
from fastscheduler.models import HistoryEntry, JobStatus

if TYPE_CHECKING:
    from fastscheduler._finish import Finisher

__all__ = ["LATE_ONE_SHOT", "NOT_ON_TIME", "Dispatcher", "Publish", "RunLostError"]

log = logging.getLogger("fastscheduler")

#: Why fires passed over were missed.
NOT_ON_TIME = "the scheduler was not running on time"
#: Why a one-shot job whose time passed before ``start()`` did not run.
LATE_ONE_SHOT = "the scheduler was not running at its time, and catch-up is off for this job"

Publish = Callable[..., None]
"""``publish(event_type, job_or_None, **data)``: an event for the subscribers, if there are any."""


class RunLostError(RuntimeError):
    """A run's attempt was lost: the cluster instance running it stopped renewing its lease
    (killed, frozen or cut off from the database). It counts as a failed attempt."""


class Dispatcher:
    """Starts runs (see the module doc); the coordinator's :class:`FireSink`."""

    def __init__(
        self,
        *,
        jobs: JobState,
        runlog: RunLog,
        inflight: InFlight,
        coordinator: Coordinator,
        clock: Callable[[], float],
        publish: Publish,
        has_subscribers: Callable[[], bool],
        max_workers: int,
        note: Callable[..., None],
    ) -> None:
        self._jobs = jobs
        self._lock = jobs.lock
        self._runlog = runlog
        self._inflight = inflight
        self.coordinator = coordinator
        self._clock = clock
        self._publish = publish
        self._has_subscribers = has_subscribers
        self._note = note
        self.threads = ThreadPoolExecutor(max_workers, clock=clock)
        self.asyncio = AsyncioExecutor(clock=clock)
        self.processes = SubprocessExecutor(max_workers, clock=clock)  # .timeout(kill=True)
        #: Set by the scheduler's wiring: records outcomes (made lazily, see ``Finisher.ensure``).
        self.finisher: Finisher | None = None
        #: Set by the scheduler's wiring: applies a peer's command (``Controller.apply``).
        self.on_command: Callable[[Command], None] | None = None
        self._served = self._claims_served  # bound once
        #: Fires that started a run (its first attempt; run-now included), for fastscheduler.metrics.
        self.fires = 0

    # ------------------------------------------------------------------ executors

    def start_executors(self, app_loop: Any) -> None:
        self.threads.start()
        self.processes.start()
        self.asyncio.start(app_loop)

    def executors(self) -> tuple[Executor, ...]:
        return (self.threads, self.processes, self.asyncio)

    # ------------------------------------------------------------------ from the engine

    def dispatch(self, batch: Iterable[tuple[int, float, int]]) -> None:
        """Called by the engine, once per batch of due keys, with the GIL held: hand the fires to
        the coordinator and return quickly. The lock is taken once for the batch: runs that end
        meanwhile wait, rather than trading the lock with the dispatch 10,000 times."""
        with self._lock:
            self._inflight.count += 1  # until the claim was tried: stop() and a manual clock wait
            self.coordinator.fired(self._due(batch), self._served)

    def _due(self, batch: Iterable[tuple[int, float, int]]) -> Iterator[tuple[Job, float, int]]:
        """The batch's fires, as the coordinator takes them (lazily: alone, the first one starts
        before the last one is looked up); a retry's next attempt starts here and now."""
        jobs = self._jobs
        by_key = jobs.by_key
        for key, scheduled, missed in batch:
            if jobs.retries:
                retry = jobs.take_retry(key)
                if retry is not None:
                    self._retry(retry)
                    continue
            job = by_key(key)
            if job is not None:
                yield job, scheduled, missed

    def _retry(self, retry: Retry) -> None:
        if self._jobs.registry.has(retry.job):
            self.start(retry.job, retry.attempt, retry.scheduled, retry.first_attempt_at, retry.claim)
        elif retry.claim is not None:  # cancelled while waiting: the run failed
            finish = Finish(ClaimState.FAILED, retry.attempt - 1, self._clock(), 1, 1, 0)
            self.coordinator.record(retry.claim, finish)

    def _claims_served(self) -> None:
        with self._lock:
            self._inflight.done()

    # ------------------------------------------------------------------ FireSink

    def lookup(self, job_id: str) -> Job | None:
        return self._jobs.get(job_id)

    def run_claims(self, claims: Sequence[Claim]) -> None:
        """Start the claimed fires: a skipped one is recorded as missed, a lost one (its instance
        died) fails its attempt and is retried per the job, a cancelled job's is skipped."""
        coordinator = self.coordinator
        with self._lock:
            now = self._clock()
            for claim in claims:
                job = claim.job or self._jobs.get(claim.job_id)
                if job is None:  # cancelled meanwhile
                    coordinator.record(claim, Finish(ClaimState.SKIPPED, claim.attempt, now))
                    continue
                if claim.lost_with is not None:
                    error = RunLostError(
                        f"attempt {claim.attempt} ran on instance {claim.lost_with}, which stopped "
                        f"renewing its lease; {coordinator.instance_id or 'this instance'} took the run over"
                    )
                    run = self._begin(job, claim.scheduled, claim.attempt, claim.scheduled, claim)
                    run.report(RunOutcome(started_at=now, finished_at=now, error=error))
                    continue
                if claim.skip is not None:
                    # (a coordinator that records claims wrote this one as skipped when it made it)
                    self.record_missed(job, claim.scheduled, claim.missed + 1, claim.skip)
                    continue
                if claim.missed:
                    self.record_missed(job, claim.scheduled, claim.missed, NOT_ON_TIME)
                self.start(job, claim.attempt, claim.scheduled, now, claim if coordinator.records else None)

    def run_fire(self, job: Job, scheduled: float, missed: int, skip: str | None, now: float) -> None:
        """See ``FireSink.run_fire`` (called with the lock held, from ``dispatch``)."""
        if skip is not None:
            self.record_missed(job, scheduled, missed + 1, skip)
            return
        if missed:
            self.record_missed(job, scheduled, missed, NOT_ON_TIME)
        self.start(job, 1, scheduled, now)

    def starter(self, now: float) -> Callable[[Job, float], None]:
        """See ``FireSink.starter`` (called with the lock held, from ``dispatch``): ``start(job,
        scheduled)`` is :meth:`start` of a fire's first attempt, with what is the same for the
        whole batch (the finisher, the instance, whether anyone listens) looked up once, so that
        a burst of 100,000 fires pays for it once rather than 100,000 times."""
        start = self.start
        finisher = self.finisher
        if finisher is None or self._has_subscribers():  # events to publish: the general path
            return lambda job, scheduled: start(job, 1, scheduled, now)
        finisher.ensure()
        put, instance_id, inflight = finisher.put, self.coordinator.instance_id, self._inflight
        submit = self.threads.submit

        def start_fire(job: Job, scheduled: float) -> None:
            if job.is_async or job.spec.timeout_kill:
                start(job, 1, scheduled, now)
                return
            inflight.count += 1
            self.fires += 1
            run = job.start_run(put, scheduled, 1, instance_id, now, None)
            try:
                submit(run)
            except BaseException as exc:  # e.g. no worker thread could be started
                run.report(RunOutcome(started_at=now, finished_at=now, error=exc))

        return start_fire

    def now(self) -> float:
        return self._clock()

    def apply(self, command: Command) -> None:
        assert self.on_command is not None
        self.on_command(command)

    def next_fire(self, job: Job) -> float | None:
        return None if job.key is None else self._jobs.engine.next_fire(job.key)

    def adopt(self, job_id: str, row: ScheduleRow) -> None:
        with self._lock:
            job = self._jobs.get(job_id)
            if job is not None:
                self._jobs.adopt(job, row)

    # ------------------------------------------------------------------ runs

    def start(
        self, job: Job, attempt: int, scheduled: float, first_attempt_at: float, claim: Claim | None = None
    ) -> None:
        """Submit one attempt (lock held). ``claim``: the coordinator's fire it belongs to."""
        if job.spec.timeout_kill:
            executor: Executor = self.processes
        else:
            executor = self.asyncio if job.is_async else self.threads
        run = self._begin(job, scheduled, attempt, first_attempt_at, claim)
        self.fires += attempt == 1  # metrics: read at scrape time (fastscheduler.metrics)
        if self._has_subscribers():
            self._publish(EventType.JOB_STARTED, job, attempt=attempt, scheduled_time=scheduled)
        try:
            executor.submit(run)
        except BaseException as exc:  # e.g. an executor already shut down
            now = self._clock()
            run.report(RunOutcome(started_at=now, finished_at=now, error=exc))

    def _begin(
        self, job: Job, scheduled: float, attempt: int, first_attempt_at: float, claim: Claim | None
    ) -> Run:
        """A new attempt of ``job`` (lock held): one Run, counted in flight and as running until
        the finisher records its outcome."""
        self._inflight.count += 1
        finisher = self.finisher
        assert finisher is not None
        finisher.ensure()
        instance_id = self.coordinator.instance_id
        return job.start_run(finisher.put, scheduled, attempt, instance_id, first_attempt_at, claim)

    def record_missed(self, job: Job, scheduled: float, count: int, reason: str) -> None:
        """``count`` fires of ``job`` up to ``scheduled`` were not run, for ``reason`` (lock held)."""
        self._runlog.missed(count)
        now = self._clock()
        if count:  # one history line for the occurrence, carrying the count
            error = f"{count} run(s) missed: {reason}"
            self.history(job, JobStatus.MISSED, now, error, scheduled, 0, None)
            self._jobs.mark(job)
            self._note(logging.INFO, "fastscheduler: job %s: %s", job.job_id, error)
        self._publish(EventType.JOB_MISSED, job, count=count, reason=reason, scheduled_time=scheduled)

    def history(
        self,
        job: Job,
        status: JobStatus,
        now: float,
        error: str | None,
        scheduled: float | None,
        attempt: int,
        outcome: RunOutcome | None,
    ) -> None:
        """Add a history entry for ``job`` and note the result in its recent outcomes (lock held)."""
        runs, _failures, retries = self._jobs.counters(job)
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
        self._runlog.add(untracked_record(entry))
        job.run_state().add_recent(status.value)

    def shutdown(self, wait: bool, left: Callable[[], float | None]) -> None:
        """Stop the executors; with ``wait``, let their runs finish for what is ``left`` of the
        deadline (each executor gets what the ones before it left)."""
        for executor in self.executors():
            executor.shutdown(wait, left())

    def on_app_loop_thread(self) -> bool:
        return self.asyncio.on_app_loop_thread()

    def pending_async(self) -> list[Any]:
        return list(self.asyncio.pending())

    def wait_idle(self, timeout: float | None) -> bool:
        return self._inflight.wait(timeout)

    def lock(self) -> threading.RLock:
        return self._lock

"""Finishing runs: one thread that records each attempt's outcome.

Executors report outcomes into a queue (``Run.report``); the finisher thread takes them in batches
and, for each: moves the job's counters in the engine, schedules a retry (a date trigger in the
engine, with :class:`~fastscheduler.Backoff`'s delay) or writes a dead letter, adds the history
entry, tells the coordinator (which records the outcome of a claimed fire), and publishes the
event. Executor threads thus only run jobs and never wait for the scheduler's lock (10,000
simultaneous runs otherwise spend most of their time handing that lock around).
"""

from __future__ import annotations

import logging
import queue
import threading
import traceback as tb
from collections.abc import Callable
from typing import Any

from fastscheduler._core import Backoff, Run
from fastscheduler._dispatch import Dispatcher, Publish, RunLostError
from fastscheduler._jobstate import InFlight, JobState, Retry
from fastscheduler._runlog import RunLog
from fastscheduler.coordination.base import ClaimState, Coordinator, Finish
from fastscheduler.events import EventType
from fastscheduler.executors import RunOutcome
from fastscheduler.models import DeadLetter, JobStatus

__all__ = ["Finisher"]

log = logging.getLogger("fastscheduler")


class Finisher:
    """Records outcomes (see the module doc). The thread runs while runs can start and ends once
    the scheduler is stopped with nothing in flight (so a stopped scheduler holds no thread and
    can be freed); :meth:`ensure`, called for each new run, starts it again."""

    def __init__(
        self,
        *,
        jobs: JobState,
        runlog: RunLog,
        inflight: InFlight,
        dispatcher: Dispatcher,
        coordinator: Coordinator,
        publish: Publish,
        has_subscribers: Callable[[], bool],
        is_running: Callable[[], bool],
    ) -> None:
        self._jobs = jobs
        self._lock = jobs.lock
        self._runlog = runlog
        self._inflight = inflight
        self._dispatcher = dispatcher
        self.coordinator = coordinator
        self._publish = publish
        self._has_subscribers = has_subscribers
        self._is_running = is_running
        self._backoff = Backoff()
        # Run outcomes, from executor threads (None: stop()'s wake-up call).
        self._outcomes: queue.SimpleQueue[tuple[Run, RunOutcome] | None] = queue.SimpleQueue()
        #: What a run reports its outcome to (bound once: every run's report calls it).
        self.put = self._outcomes.put
        #: How many outcomes wait to be recorded (read by fastscheduler.metrics).
        self.queued = self._outcomes.qsize
        self._thread: threading.Thread | None = None
        #: Sees each batch of outcomes before it is recorded, on this thread; must not raise. Set
        #: by :func:`fastscheduler.metrics.instrument` (one call per batch: nothing per run without it).
        self.observe: Callable[[list[tuple[Run, RunOutcome] | None]], None] | None = None

    def ensure(self) -> None:
        """Make sure the thread runs (lock held)."""
        if self._thread is None:
            thread = threading.Thread(target=self._loop, name="fastscheduler-finisher", daemon=True)
            self._thread = thread
            thread.start()

    def wake(self) -> None:
        """Let the thread look again whether it may end (``stop()`` calls it)."""
        self._outcomes.put(None)

    def _loop(self) -> None:
        get, get_nowait = self._outcomes.get, self._outcomes.get_nowait
        while True:
            batch = [get()]
            while True:
                try:
                    batch.append(get_nowait())
                except queue.Empty:
                    break
            if self.observe is not None:  # metrics: run timings (fastscheduler.metrics)
                self.observe(batch)
            for item in batch:
                if item is None:
                    continue  # stop()'s wake-up call
                try:
                    self.record(*item)
                except Exception:  # never lose the thread: log and go on
                    log.exception("fastscheduler: recording a run's outcome failed")
            with self._lock:
                if not self._is_running() and self._inflight.count == 0 and self._outcomes.empty():
                    self._thread = None
                    return

    def record(self, attempt_run: Run, outcome: RunOutcome) -> None:
        """Record one attempt's outcome (see the module doc)."""
        job, scheduled, attempt = attempt_run.job, attempt_run.scheduled, attempt_run.attempt
        first_attempt_at = attempt_run.first_attempt_at
        claim = attempt_run.claim
        now = outcome.finished_at
        jobs, runlog, engine = self._jobs, self._runlog, self._jobs.engine
        then = ""  # a failed attempt: what happens next, for its log line
        publish = self._has_subscribers()
        with self._lock:
            run = job.run_state()
            run.running -= 1
            run.last_run = now
            key = job.key
            finish: Finish | None = None
            if outcome.ok:
                runlog.attempt_ended(retried=False)
                if key is not None:
                    engine.record_run(key, True)
                runlog.run_ended(job.name, True)
                if claim is not None:
                    finish = Finish(ClaimState.SUCCEEDED, attempt, now, runs=1)
                self._dispatcher.history(job, JobStatus.COMPLETED, now, None, scheduled, attempt, outcome)
                event: tuple[EventType, dict[str, Any]] = (EventType.JOB_SUCCEEDED, {"attempt": attempt})
            else:
                error = outcome.error
                assert error is not None
                message = f"{type(error).__name__}: {error}"
                retry = attempt <= job.spec.retries and jobs.registry.has(job)
                runlog.attempt_ended(retried=retry)
                if retry:
                    # A run lost with its instance did not fail by itself: re-run it at once (a
                    # date trigger fires strictly after the time it is added at, hence 1 ms).
                    delay = 0.001 if isinstance(error, RunLostError) else self._backoff.delay(attempt)
                    if key is not None:
                        engine.record_retry(key)
                    jobs.add_retry(
                        Retry(job, attempt + 1, scheduled, first_attempt_at, claim), now + delay, now
                    )
                    if claim is not None:  # the run stays with this instance until it ends
                        finish = Finish(ClaimState.RUNNING, attempt + 1, now, retries=1)
                    self._dispatcher.history(job, JobStatus.FAILED, now, message, scheduled, attempt, outcome)
                    event = (
                        EventType.JOB_RETRYING,
                        {"attempt": attempt, "delay": delay, "error": message, "exception": error},
                    )
                    then = f"retrying in {delay:g} s"
                else:
                    if key is not None:
                        engine.record_run(key, False)
                    runlog.run_ended(job.name, False)
                    if claim is not None:
                        finish = Finish(ClaimState.FAILED, attempt, now, runs=1, failures=1)
                    self._dispatcher.history(job, JobStatus.FAILED, now, message, scheduled, attempt, outcome)
                    runlog.add_dead_letter(
                        DeadLetter(
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
                            run_count=jobs.counters(job)[0],
                            execution_time=outcome.finished_at - outcome.started_at,
                        )
                    )
                    event = (
                        EventType.JOB_DEAD_LETTERED,
                        {"attempt": attempt, "attempts": attempt, "error": message, "exception": error},
                    )
                    self._publish(EventType.JOB_FAILED, job, attempt=attempt, error=message, exception=error)
                    then = "dead-lettered"
            if finish is not None:
                self.coordinator.record(claim, finish)
            if job.spec.kind == "date" and event[0] is not EventType.JOB_RETRYING:
                run.finished = True
            jobs.mark(job)
            if not then and not publish:
                self._inflight.done()
        # Logged and published without the lock (a handler or subscriber may be slow), before the
        # run stops counting as in flight: whoever waits for it (stop()) then sees its line and
        # its event too (the span of a run that ended before stop() returned is made).
        if then:
            _log_failure(job, attempt, outcome.error, then)
        if publish:  # with the attempt's times: spans (fastscheduler.otel), logs
            self._publish(
                event[0],
                job,
                scheduled_time=scheduled,
                started_at=outcome.started_at,
                finished_at=now,
                **event[1],
            )
        if then or publish:
            with self._lock:
                self._inflight.done()


def _log_failure(job: Any, attempt: int, error: BaseException | None, then: str) -> None:
    """A failed attempt: one WARNING line; a dead letter: an ERROR with its traceback too."""
    assert error is not None
    line = f"{type(error).__name__}: {error}".replace("\r", "\\r").replace("\n", "\\n")
    log.warning(
        "fastscheduler: job %s failed (attempt %d of %d): %s; %s",
        job.job_id,
        attempt,
        job.spec.retries + 1,
        line,
        then,
    )
    if then == "dead-lettered":
        log.error(
            "fastscheduler: job %s dead-lettered after %d attempt(s): %s",
            job.job_id,
            attempt,
            line,
            exc_info=(type(error), error, error.__traceback__),
        )

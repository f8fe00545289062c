"""Prometheus metrics of a scheduler (the ``metrics`` extra: ``pip install "fastscheduler[metrics]"``).

::

    from fastscheduler.metrics import instrument

    instrument(scheduler)                       # into prometheus_client's default registry
    instrument(scheduler, registry=my_registry) # or a registry of your own

The dashboard serves the same collector at ``{prefix}/metrics`` (see
:func:`~fastscheduler.fastapi_integration.create_scheduler_routes`). docs/observability.md lists
every metric; counts use the definitions of run, attempt, failure, retry and missed fire of
:mod:`fastscheduler._runlog`.

What it costs: the counters and gauges are read at scrape time from counts the scheduler keeps
anyway (the run log's totals, the dispatcher's fires, the jobs' run state, the queues, the
coordinator's status), so they cost nothing per run. Only the two histograms (attempt duration
and lateness) need each attempt: the finisher hands every batch of outcomes to
:meth:`SchedulerCollector._observe` once (one call per batch, a few hundred nanoseconds per
attempt), and store writes are timed one call per write. No event subscription: subscribing
would make every run build and publish events, and registration take the slow path.
"""

from __future__ import annotations

import bisect
import logging
import math
import threading
import weakref
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Final

try:
    from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
    from prometheus_client.registry import REGISTRY, Collector, CollectorRegistry
    from prometheus_client.utils import floatToGoString as _go_float
except ImportError as exc:  # pragma: no cover - exercised only without the extra installed
    raise ImportError(
        'fastscheduler.metrics needs prometheus_client: pip install "fastscheduler[metrics]"'
    ) from exc

from fastscheduler._core import Run, __version__
from fastscheduler._dispatch import RunLostError
from fastscheduler.executors import RunOutcome

if TYPE_CHECKING:
    from fastscheduler._runtime import Runtime
    from fastscheduler.scheduler import FastScheduler

__all__ = [
    "DURATION_BUCKETS",
    "LATENESS_BUCKETS",
    "PER_JOB_MAX_JOBS",
    "STORE_WRITE_BUCKETS",
    "SchedulerCollector",
    "instrument",
]

log = logging.getLogger("fastscheduler")

#: Upper bounds (seconds) of the attempt duration histograms: from a millisecond to an hour.
DURATION_BUCKETS: Final = (
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0,
)  # fmt: skip
#: Upper bounds (seconds) of the lateness histogram: a healthy scheduler starts within a millisecond.
LATENESS_BUCKETS: Final = (
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0,
)  # fmt: skip
#: Upper bounds (seconds) of the store write histogram.
STORE_WRITE_BUCKETS: Final = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
#: With ``per_job=None`` (the default), per-job series are exported while the scheduler has at
#: most this many jobs (each job adds about 25 series).
PER_JOB_MAX_JOBS: Final = 100

_STATES: Final = ("scheduled", "running", "paused", "finished", "orphaned")
Batch = list[tuple[Run, RunOutcome] | None]
Samples = tuple[list[tuple[str, float]], float]


class _Histogram:
    """Bucket counts and sum of one histogram. Not locked: the collector's lock guards it."""

    __slots__ = ("bounds", "counts", "sum")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)  # the last one: above every bound (+Inf)
        self.sum = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(self.bounds, value)] += 1
        self.sum += value

    def samples(self) -> Samples:
        """Cumulative ``(le, count)`` pairs ending with ``+Inf``, and the sum (a copy)."""
        out, total = [], 0
        for bound, n in zip((*self.bounds, math.inf), self.counts, strict=True):
            total += n
            out.append((_le(bound), float(total)))
        return out, self.sum


class _JobSeries:
    """One job's per-job series (only while per-job labels are on)."""

    __slots__ = ("duration", "failed", "last_success", "succeeded")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.succeeded = 0
        self.failed = 0
        self.last_success: float | None = None
        self.duration = _Histogram(bounds)

    def snapshot(self) -> tuple[int, int, float | None, Samples]:
        return self.succeeded, self.failed, self.last_success, self.duration.samples()


class SchedulerCollector(Collector):
    """The metrics of one scheduler, read at scrape time (see the module doc). Made by
    :func:`instrument`; register it in any number of registries."""

    def __init__(
        self,
        runtime: Runtime,
        *,
        per_job: bool | None,
        duration_buckets: Sequence[float],
        lateness_buckets: Sequence[float],
    ) -> None:
        self._rt = runtime
        self._lock = threading.Lock()  # the histograms: written by the finisher and the saver
        self._store_writes = _Histogram(STORE_WRITE_BUCKETS)
        self._store_failures = 0
        self._broken = False  # _observe failed once (logged once; metrics then go on without it)
        self._duration = _Histogram(_bounds(duration_buckets))
        self._lateness = _Histogram(_bounds(lateness_buckets))
        self._jobs: dict[str, _JobSeries] = {}  # per-job series, by job id
        self.per_job_option = per_job
        self._per_job = self._per_job_on()
        #: The registries :func:`instrument` registered this collector in.
        self.registries: weakref.WeakSet[CollectorRegistry] = weakref.WeakSet()
        runtime.finisher.observe = self._observe
        runtime.persistence.on_write = self._on_write

    def configure(
        self, *, per_job: bool | None, duration_buckets: Sequence[float], lateness_buckets: Sequence[float]
    ) -> None:
        """Set the options (see :func:`instrument`). A histogram whose buckets change starts again
        from zero."""
        durations, lateness = _bounds(duration_buckets), _bounds(lateness_buckets)
        with self._lock:
            self.per_job_option = per_job
            if self._duration.bounds != durations:
                self._duration = _Histogram(durations)
                self._jobs.clear()
            if self._lateness.bounds != lateness:
                self._lateness = _Histogram(lateness)
        self._per_job = self._per_job_on()

    def _per_job_on(self) -> bool:
        option = self.per_job_option
        return option if option is not None else len(self._rt.jobs) <= PER_JOB_MAX_JOBS

    # ------------------------------------------------------------------ per attempt (finisher thread)

    def _observe(self, batch: Batch) -> None:
        """The finisher's batch of outcomes, before it records them: the histograms. Never raises
        (the finisher's thread must go on): a failure is logged once and the batch skipped."""
        try:
            self._count(batch)
        except Exception:
            if not self._broken:
                self._broken = True
                log.exception("fastscheduler: metrics could not count run timings (skipped)")

    def _count(self, batch: Batch) -> None:
        # The hot loop of metrics (every attempt passes here): locals, no calls but bisect.
        find = bisect.bisect_left
        with self._lock:
            duration, lateness = self._duration, self._lateness
            d_bounds, d_counts = duration.bounds, duration.counts
            l_bounds, l_counts = lateness.bounds, lateness.counts
            jobs = self._jobs if self._per_job else None
            d_sum = l_sum = 0.0
            for item in batch:
                if item is None:
                    continue  # the finisher's wake-up call
                run, (started, finished, error, _timed_out) = item
                if error is not None and type(error) is RunLostError:
                    continue  # ran (for however long) on an instance that died: not timed
                took = finished - started
                d_counts[find(d_bounds, took)] += 1
                d_sum += took
                if run.attempt == 1:  # a retry's scheduled time is its fire's, not its own
                    late = started - run.scheduled
                    l_counts[find(l_bounds, late)] += 1
                    l_sum += late
                if jobs is not None:
                    job_id = run.job.job_id
                    series = jobs.get(job_id)
                    if series is None:
                        series = jobs[job_id] = _JobSeries(d_bounds)
                    series.duration.observe(took)
                    if error is None:
                        series.succeeded += 1
                        series.last_success = finished
                    else:
                        series.failed += 1
            duration.sum += d_sum
            lateness.sum += l_sum

    def _on_write(self, seconds: float, ok: bool) -> None:
        """One write to the store (saver thread)."""
        with self._lock:
            self._store_writes.observe(seconds)
            if not ok:
                self._store_failures += 1

    # ------------------------------------------------------------------ scrape

    def describe(self) -> Iterable[Metric]:
        """Every family this collector may export (registries check names with it), with values
        that were not read: no job is scanned."""
        return [family for family, _ in self._families(read=False)]

    def collect(self) -> Iterable[Metric]:
        return [family for family, export in self._families(read=True) if export]

    def _families(self, *, read: bool) -> Iterator[tuple[Metric, bool]]:
        """Every family and whether to export it now; without ``read``, zeros instead of values."""
        rt = self._rt
        # First: the scan also drops the per-job series of jobs that are gone.
        states, in_progress = self._job_states() if read else ({}, 0)

        # Runs (the definitions of fastscheduler._runlog): this scheduler's own, since it was made.
        totals = rt.runlog.own_totals() if read else {}
        fires = rt.dispatcher.fires  # read after the totals: never fewer fires than runs
        runs, failures = totals.get("runs", 0), totals.get("failures", 0)
        attempts, succeeded = totals.get("attempts", 0), runs - failures
        yield _counter("fires", "Fires that started a run (its first attempt; run-now included).", fires)
        yield _counter(
            "runs",
            "Runs ended (a fire and its retries), by outcome (failed: its last attempt failed).",
            by=("outcome", {"succeeded": succeeded, "failed": failures}),
        )
        yield _counter(
            "attempts",
            "Attempts ended (calls of a job's function), by outcome.",
            by=("outcome", {"succeeded": succeeded, "failed": attempts - succeeded}),
        )
        yield _counter("retries", "Attempts that failed and were retried.", totals.get("retries", 0))
        yield _counter("missed_fires", "Fires not run.", totals.get("missed", 0))
        yield _counter("dead_letters", "Runs dead-lettered (their last attempt failed).", failures)
        yield _gauge("dead_letters_held", "Dead letters held now.", len(rt.runlog) if read else 0)

        # Timings, since instrument().
        with self._lock:
            duration, lateness = self._duration.samples(), self._lateness.samples()
            store, store_failures = self._store_writes.samples(), self._store_failures
            jobs = {k: v.snapshot() for k, v in self._jobs.items()} if read else {}
        yield _histogram("attempt_duration_seconds", "Duration of each attempt, start to end.", duration)
        yield _histogram(
            "lateness_seconds", "Start of each fire's first attempt minus its scheduled time.", lateness
        )

        # Jobs and work in flight, now.
        yield _gauge("jobs", "Jobs by state.", by=("state", {s: states.get(s, 0) for s in _STATES}))
        yield _gauge(
            "attempts_in_progress", "Attempts started and not finished (queued ones included).", in_progress
        )
        queues = {"workers": _workers_queue(rt) if read else 0, "finisher": rt.finisher.queued()}
        yield _gauge(
            "queue_depth",
            "Runs waiting for a worker thread (workers); outcomes waiting to be recorded (finisher).",
            by=("queue", queues),
        )
        yield _gauge("scheduler_running", "1 while the scheduler is started.", int(rt.running))
        yield _gauge("build_info", "The fastscheduler version.", by=("version", {__version__: 1}))

        # The store.
        healthy = rt.persistence.status()["ok"] if read else True
        yield _histogram("store_write_duration_seconds", "Duration of each write to the store.", store)
        yield _counter("store_write_failures", "Writes to the store that failed.", store_failures)
        yield _gauge("store_healthy", "0 while writes to the store fail, else 1.", int(healthy))

        # A cluster's, only in one.
        cluster = rt.coordinator.status() if read and rt.running else None
        c, export = cluster or {}, cluster is not None or not read
        for family, _ in (
            _counter("cluster_claims", "Fires this instance claimed.", c.get("claimed", 0)),
            _counter(
                "cluster_takeovers",
                "Fires and lost runs this instance took over from others.",
                c.get("taken_over", 0),
            ),
            _counter(
                "cluster_lease_renewals",
                "Leases of running runs this instance renewed.",
                c.get("lease_renewals", 0),
            ),
            _gauge("cluster_instances", "Live instances as this one sees them.", len(c.get("instances", []))),
        ):
            yield family, export

        # Per job, while on (see PER_JOB_MAX_JOBS).
        export = self._per_job or not read
        attempts_by_job = CounterMetricFamily(
            "fastscheduler_job_attempts", "Attempts of a job ended, by outcome.", labels=("job_id", "outcome")
        )
        durations_by_job = HistogramMetricFamily(
            "fastscheduler_job_attempt_duration_seconds", "Duration of a job's attempts.", labels=("job_id",)
        )
        last_success = GaugeMetricFamily(
            "fastscheduler_job_last_success_timestamp_seconds",
            "When an attempt of the job last succeeded (epoch seconds).",
            labels=("job_id",),
        )
        for job_id, (ok, failed, last, (buckets, total)) in jobs.items():
            attempts_by_job.add_metric((job_id, "succeeded"), ok)
            attempts_by_job.add_metric((job_id, "failed"), failed)
            durations_by_job.add_metric((job_id,), buckets, total)
            if last is not None:
                last_success.add_metric((job_id,), last)
        yield attempts_by_job, export
        yield durations_by_job, export
        yield last_success, export

    def _job_states(self) -> tuple[dict[str, int], int]:
        """Jobs by state (as ``get_jobs()`` names them) and attempts in progress: a scan of the jobs
        (about 0.2 s for a million), outside the scheduler's lock but for taking the list. Also
        decides whether per-job series are on, and drops those of jobs that are gone."""
        rt = self._rt
        with rt.lock:
            jobs = list(rt.jobs)
            orphans = len(rt.state.stored)
        running = paused = finished = attempts = 0
        is_paused = rt.state.is_paused
        for job in jobs:
            n = job.running
            if n:
                running += 1
                attempts += n
            elif is_paused(job):
                paused += 1
            elif job.finished:
                finished += 1
        self._per_job = per_job = self._per_job_on()
        with self._lock:
            if not per_job:
                self._jobs.clear()
            elif len(self._jobs) > len(jobs):
                alive = {j.job_id for j in jobs}
                for job_id in [k for k in self._jobs if k not in alive]:
                    del self._jobs[job_id]
        states = {
            "scheduled": len(jobs) - running - paused - finished,
            "running": running,
            "paused": paused,
            "finished": finished,
            "orphaned": orphans,
        }
        return states, attempts


def _counter(
    name: str, doc: str, value: float = 0, *, by: tuple[str, Mapping[str, float]] | None = None
) -> tuple[Metric, bool]:
    """``fastscheduler_<name>_total``: one value, or one per value of the label ``by[0]``."""
    return _fill(CounterMetricFamily, name, doc, value, by)


def _gauge(
    name: str, doc: str, value: float = 0, *, by: tuple[str, Mapping[str, float]] | None = None
) -> tuple[Metric, bool]:
    """``fastscheduler_<name>``: one value, or one per value of the label ``by[0]``."""
    return _fill(GaugeMetricFamily, name, doc, value, by)


def _fill(
    kind: type[CounterMetricFamily | GaugeMetricFamily],
    name: str,
    doc: str,
    value: float,
    by: tuple[str, Mapping[str, float]] | None,
) -> tuple[Metric, bool]:
    if by is None:
        return kind(f"fastscheduler_{name}", doc, value=value), True
    label, values = by
    family = kind(f"fastscheduler_{name}", doc, labels=(label,))
    for label_value, v in values.items():
        family.add_metric((label_value,), v)
    return family, True


def _histogram(name: str, doc: str, samples: Samples) -> tuple[Metric, bool]:
    buckets, total = samples
    return HistogramMetricFamily(f"fastscheduler_{name}", doc, buckets=buckets, sum_value=total), True


def _le(bound: float) -> str:
    """A bucket bound as Prometheus writes it (``0.005``, ``1.0``, ``+Inf``)."""
    text: str = _go_float(bound)  # type: ignore[no-untyped-call]
    return text


def _workers_queue(rt: Runtime) -> int:
    """Runs waiting for a worker thread (the thread pool's queue, read only: executors do not
    report it otherwise)."""
    return rt.dispatcher.threads._queue.qsize()


def _bounds(buckets: Sequence[float]) -> tuple[float, ...]:
    bounds = tuple(float(b) for b in buckets)
    if not bounds or any(not math.isfinite(b) for b in bounds) or list(bounds) != sorted(set(bounds)):
        raise ValueError(f"buckets must be finite, increasing upper bounds, got {list(buckets)!r}")
    return bounds


def instrument(
    scheduler: FastScheduler,
    *,
    registry: CollectorRegistry | None = REGISTRY,
    per_job: bool | None = None,
    duration_buckets: Sequence[float] = DURATION_BUCKETS,
    lateness_buckets: Sequence[float] = LATENESS_BUCKETS,
) -> SchedulerCollector:
    """Export ``scheduler``'s metrics: returns its :class:`SchedulerCollector`, registered in
    ``registry`` (prometheus_client's default one unless given; ``None``: not registered, for
    registering it yourself). Call it before ``start()`` for the histograms to see every attempt.

    ``per_job``: series labelled by ``job_id`` (attempts by outcome, attempt duration, last
    success) on or off; ``None`` (the default): on while the scheduler has at most
    :data:`PER_JOB_MAX_JOBS` jobs, so that label cardinality stays bounded. The bucket options
    are the histograms' upper bounds, in seconds.

    A scheduler has one collector: calling this again returns it (registered in ``registry``
    too, if not yet), with the options of this call.
    """
    runtime: Runtime = scheduler._rt  # the facade's runtime: the one place metrics reach into
    collector = runtime.metrics
    if collector is None:
        collector = runtime.metrics = SchedulerCollector(
            runtime, per_job=per_job, duration_buckets=duration_buckets, lateness_buckets=lateness_buckets
        )
    else:
        assert isinstance(collector, SchedulerCollector)
        collector.configure(
            per_job=per_job, duration_buckets=duration_buckets, lateness_buckets=lateness_buckets
        )
    if registry is not None and registry not in collector.registries:
        registry.register(collector)
        collector.registries.add(registry)
    return collector


def collector_of(scheduler: FastScheduler) -> SchedulerCollector:
    """``scheduler``'s collector, made with the default options if it has none yet (registered
    nowhere; the dashboard serves it from a registry of its own)."""
    collector = scheduler._rt.metrics
    if isinstance(collector, SchedulerCollector):
        return collector
    return instrument(scheduler, registry=None)

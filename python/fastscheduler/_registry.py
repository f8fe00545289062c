"""The job registry: every registered :class:`Job`, by id, kept small for a million jobs.

Ids are ``module.qualname:schedule`` for the first registration of a function on a schedule and
``...#2``, ``...#3`` for the next ones (registration order), unless ``.id()`` gave one. A job of such a
series stores its series and number, not its id text, and lives in its series' list rather than in a
dict keyed by a million distinct strings; the id is spelled out when someone reads it.
"""

from __future__ import annotations

import inspect
import types
from collections.abc import Callable, Iterator
from typing import Any, Final

from fastscheduler._builders import JobSpec
from fastscheduler._core import JobRecord


class RunState:
    """The part of a job that only exists once it has run (most registered jobs never need it)."""

    __slots__ = ("finished", "last_run", "recent", "running")

    def __init__(self) -> None:
        self.running = 0
        self.last_run: float | None = None
        self.finished = False  # a one-shot job that has run
        self.recent: tuple[str, ...] = ()  # the last 5 outcomes


_NEVER_RUN: Final = RunState()


class Series:
    """Registrations of one function on one schedule: they number their ids."""

    __slots__ = ("base", "jobs")

    def __init__(self, base: str) -> None:
        self.base = base
        self.jobs: list[Job | None] = []  # job n is jobs[n - 1]; None once cancelled


class Job(JobRecord):
    """A registered job. Its counters, pause flag and next fire time live in the Rust engine, under
    ``key``; schedule and options are a :class:`JobSpec` shared by every job built from one builder.

    The fields are a :class:`fastscheduler._core.JobRecord` (func, args, kwargs, spec, is_async,
    series, n, key), an object Python's cycle collector does not track: with a million jobs the
    collector otherwise took more time than registering them. Create jobs with :meth:`create`.
    """

    __slots__ = ()

    @classmethod
    def create(
        cls,
        func: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        spec: JobSpec,
        is_async: bool,
        series: Series | None,
        n: int,
        job_id: str | None,
    ) -> Job:
        job = cls(func, args, kwargs, spec, is_async, series, n, job_id)
        job._untrack()
        return job

    @property
    def job_id(self) -> str:
        if self._id is not None:
            return self._id
        base: str = self.series.base
        return base if self.n == 1 else f"{base}#{self.n}"

    @property
    def func_name(self) -> str:
        return getattr(self.func, "__name__", None) or repr(self.func)

    @property
    def name(self) -> str:
        return self.spec.name or self.func_name

    @property
    def run(self) -> RunState:
        """Run state (a shared all-zero one, not to be changed, until :meth:`run_state`)."""
        return self._run or _NEVER_RUN

    def run_state(self) -> RunState:
        """This job's own run state, created on first use (to be changed)."""
        run: RunState | None = self._run
        if run is None:
            run = self._run = RunState()
        return run

    def __repr__(self) -> str:
        return f"<Job {self.job_id!r} {self.spec.schedule!r}>"


class Registry:
    """Jobs by id. Not thread-safe: the scheduler calls it under its lock."""

    def __init__(self) -> None:
        self._named: dict[str, Job] = {}  # ids given with .id()
        self._series: dict[str, Series] = {}  # by base id
        self._by_func: dict[tuple[Callable[..., Any], str], Series] = {}  # (func, schedule key)
        self._len = 0

    def __len__(self) -> int:
        return self._len

    def __iter__(self) -> Iterator[Job]:
        """Every job: named ones, then each series in registration order."""
        yield from list(self._named.values())
        for series in list(self._series.values()):
            yield from (j for j in list(series.jobs) if j is not None)

    def get(self, job_id: str) -> Job | None:
        """The job with this id, or None."""
        job = self._named.get(job_id)
        if job is not None:
            return job
        series = self._series.get(job_id)
        n = 1
        if series is None:
            base, sep, number = job_id.rpartition("#")
            if not sep or not number.isdigit() or number.startswith("0"):
                return None
            series, n = self._series.get(base), int(number)
            if series is None or n < 2:
                return None
        return series.jobs[n - 1] if n <= len(series.jobs) else None

    def has(self, job: Job) -> bool:
        """Whether ``job`` is still registered (not cancelled)."""
        if job._id is not None:
            return self._named.get(job._id) is job
        assert job.series is not None
        return job.series.jobs[job.n - 1] is job

    def add(
        self, func: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any], spec: JobSpec
    ) -> Job:
        """Register a job; ``ValueError`` if ``spec.job_id`` is already taken."""
        is_async = _is_async(func)
        if spec.job_id is not None:
            if self.get(spec.job_id) is not None:
                raise ValueError(f"job id {spec.job_id!r} is already registered; ids must be unique")
            job = Job.create(func, args, kwargs, spec, is_async, None, 0, spec.job_id)
            self._named[spec.job_id] = job
        else:
            series = self._series_for(func, spec)
            n = len(series.jobs) + 1
            while self._named and (series.base if n == 1 else f"{series.base}#{n}") in self._named:
                series.jobs.append(None)  # an explicit id took this number
                n += 1
            job = Job.create(func, args, kwargs, spec, is_async, series, n, None)
            series.jobs.append(job)
        self._len += 1
        return job

    def remove(self, job: Job) -> bool:
        """Unregister ``job``; False if it was not registered."""
        if not self.has(job):
            return False
        if job._id is not None:
            del self._named[job._id]
        else:
            assert job.series is not None
            job.series.jobs[job.n - 1] = None
        self._len -= 1
        return True

    def _series_for(self, func: Callable[..., Any], spec: JobSpec) -> Series:
        try:
            key = (func, spec.schedule_key)
            series = self._by_func.get(key)
        except TypeError:  # an unhashable callable
            key, series = None, None
        if series is None:
            module = getattr(func, "__module__", None) or "?"
            qualname = getattr(func, "__qualname__", None) or getattr(func, "__name__", None) or repr(func)
            base = f"{module}.{qualname}:{spec.schedule_key}"
            series = self._series.get(base)
            if series is None:
                series = self._series[base] = Series(base)
            if key is not None:
                self._by_func[key] = series
        return series


def _is_async(func: Callable[..., Any]) -> bool:
    """Whether calling ``func`` returns a coroutine (``async def``, also behind methods and partials)."""
    if type(func) is types.FunctionType:  # the common case, without inspect's unwrapping
        return bool(func.__code__.co_flags & inspect.CO_COROUTINE)
    return inspect.iscoroutinefunction(func)

"""Records the scheduler hands out: job status, run history entries, dead letters and jobs.

History entries and dead letters are objects with attributes that also answer the original
fastscheduler 0.2.x dict keys (``entry["error"]``, ``entry.get("timestamp")``), so code written
for either keeps working. :class:`Job` is a job as ``scheduler.jobs`` shows it, with the 0.2.x
attribute names (docs/migrating.md).
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterator
from dataclasses import FrozenInstanceError, asdict, dataclass, field, fields
from datetime import datetime
from typing import Any, ClassVar, Final, TypeVar


class JobStatus(str, enum.Enum):
    """State of a job or the outcome of one run (the original's values, plus ``paused``)."""

    SCHEDULED = "scheduled"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    MISSED = "missed"
    PAUSED = "paused"
    ORPHANED = "orphaned"


def readable(ts: float | None) -> str | None:
    """Local-time text of an epoch timestamp (``None`` stays ``None``)."""
    if ts is None:
        return None
    return datetime.fromtimestamp(ts).astimezone().strftime("%Y-%m-%d %H:%M:%S %Z")


class _Record:
    """Mapping-style read access to a dataclass record: ``r["key"]``, ``r.get``, ``keys()``."""

    _aliases: ClassVar[dict[str, str]] = {}

    def __getitem__(self, key: str) -> Any:
        name = self._aliases.get(key, key)
        try:
            return getattr(self, name)
        except AttributeError:
            raise KeyError(key) from None

    def get(self, key: str, default: Any = None) -> Any:
        try:
            return self[key]
        except KeyError:
            return default

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self.get(key, _MISSING) is not _MISSING

    def keys(self) -> list[str]:
        return [f.name for f in fields(self)] + list(self._aliases)  # type: ignore[arg-type]

    def __iter__(self) -> Iterator[str]:
        return iter(self.keys())

    def to_dict(self) -> dict[str, Any]:
        """A plain dict with every field and alias (JSON-friendly)."""
        d = asdict(self)  # type: ignore[call-overload]
        for alias, name in self._aliases.items():
            d[alias] = getattr(self, name)
        return d  # type: ignore[no-any-return]


_MISSING = object()


@dataclass(slots=True)
class HistoryEntry(_Record):
    """One finished run (or a missed one). ``timestamp`` is when it ended, in epoch seconds."""

    job_id: str
    func_name: str
    status: str
    timestamp: float
    error: str | None = None
    run_count: int = 0
    retry_count: int = 0
    execution_time: float | None = None
    scheduled_time: float | None = None
    attempt: int = 1
    name: str = ""
    """The job's name, as ``get_jobs()`` gives it: ``.name()``, else the function's name."""

    def __post_init__(self) -> None:
        if not self.name:  # a record stored before names were filled in for unnamed jobs
            self.name = self.func_name

    @property
    def timestamp_readable(self) -> str | None:
        return readable(self.timestamp)

    _aliases: ClassVar[dict[str, str]] = {"timestamp_readable": "timestamp_readable"}


@dataclass(slots=True)
class DeadLetter(_Record):
    """An execution that failed on every attempt. Recorded once, when its retries ran out.

    It also answers the keys of a 0.2.x dead letter (a history entry there): ``status``
    (``"failed"``), ``timestamp`` and ``timestamp_readable`` (when it was dead-lettered),
    ``retry_count`` (``attempts - 1``) and ``error``, which reads as in 0.2.x: ``"Max retries
    exceeded: ValueError: x"``. ``run_count`` is the job's run count then (this run included) and
    ``execution_time`` the last attempt's duration in seconds (None in records made before 0.3).
    """

    job_id: str
    func_name: str
    error_type: str
    error_message: str
    traceback: str
    attempts: int
    executed_at: float
    first_attempt_at: float
    scheduled_time: float | None = None
    name: str = ""
    """The job's name, as ``get_jobs()`` gives it: ``.name()``, else the function's name."""
    run_count: int = 0
    execution_time: float | None = None

    def __post_init__(self) -> None:
        if not self.name:  # a record stored before names were filled in for unnamed jobs
            self.name = self.func_name

    @property
    def status(self) -> str:
        return JobStatus.FAILED.value

    @property
    def timestamp(self) -> float:
        return self.executed_at

    @property
    def timestamp_readable(self) -> str | None:
        return readable(self.executed_at)

    @property
    def retry_count(self) -> int:
        return max(0, self.attempts - 1)

    @property
    def error(self) -> str:
        return f"Max retries exceeded: {self.error_type}: {self.error_message}"

    _aliases: ClassVar[dict[str, str]] = {
        name: name for name in ("error", "status", "timestamp", "timestamp_readable", "retry_count")
    }


_R = TypeVar("_R", bound=_Record)
_READ_ONLY: dict[type, type] = {}


def read_only(record: _R) -> _R:
    """A copy of ``record`` whose attributes cannot be set (what ``scheduler.history`` and
    ``scheduler.dead_letters`` hand out: changing a record there would change nothing)."""
    cls = type(record)
    frozen = _READ_ONLY.get(cls)
    if frozen is None:
        frozen = _READ_ONLY[cls] = type(
            cls.__name__,
            (cls,),
            {"__slots__": (), "__setattr__": _refuse, "__delattr__": _refuse, "__module__": cls.__module__},
        )
    copy: _R = object.__new__(frozen)
    for f in fields(record):  # type: ignore[arg-type]
        object.__setattr__(copy, f.name, getattr(record, f.name))
    return copy


def _refuse(self: object, name: str, value: object = None) -> None:
    raise FrozenInstanceError(
        f"{type(self).__name__}.{name} is read-only: records are what happened, and changing a copy "
        "changes nothing (scheduler.clear_dead_letters() removes dead letters)"
    )


@dataclass(frozen=True, slots=True)
class Job:
    """A job as ``scheduler.jobs`` shows it: a read-only snapshot with the attribute names of
    fastscheduler 0.2.x's ``Job`` (and ``name`` and ``schedule``). Change a job through the
    scheduler: ``pause_job``, ``resume_job``, ``cancel_job``, ``run_job_now``.

    ``next_run`` and ``last_run`` are epoch seconds (``next_run`` is None for a finished one-shot
    job); ``schedule_type`` is ``interval``, ``daily``, ``weekly``, ``hourly``, ``cron`` or
    ``once``; ``schedule_days`` are weekday numbers, Monday 0; ``timezone`` is the zone the job's
    wall-clock times are read in; ``run_count`` counts runs (a fire and its retries, once) and
    ``retry_count`` the retries, as ``get_jobs()`` does. ``func`` is None for a stored job that no
    code registers (``status`` orphaned).
    """

    job_id: str
    func_name: str
    next_run: float | None
    status: JobStatus
    name: str = ""
    schedule: str = ""
    func: Callable[..., Any] | None = field(default=None, repr=False)
    func_module: str = ""
    args: tuple[Any, ...] = field(default=(), repr=False)
    kwargs: dict[str, Any] = field(default_factory=dict, repr=False)
    interval: float | None = None
    repeat: bool = True
    created_at: float | None = None
    last_run: float | None = None
    run_count: int = 0
    max_retries: int = 3
    retry_count: int = 0
    catch_up: bool = True
    schedule_type: str = "interval"
    schedule_time: str | None = None
    schedule_days: list[int] | None = None
    timeout: float | None = None
    paused: bool = False
    timezone: str | None = None
    cron_expression: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The 0.2.x ``Job.to_dict()`` keys (and ``name``, ``schedule``)."""
        d = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in ("func", "args", "kwargs")}
        d["status"] = self.status.value
        return d

    def get_schedule_description(self) -> str:
        """The schedule in words (``"Every 10 seconds"``, ``"Daily at 14:30"``)."""
        return self.schedule


_JOB_READ_ONLY: Final = {
    "": "Job.{name} is read-only: scheduler.jobs is a snapshot of the scheduler's state; change a "
    "job with scheduler.pause_job(), resume_job(), cancel_job() or run_job_now()",
    "paused": "Job.paused is read-only: use scheduler.pause_job(job_id) or scheduler.resume_job(job_id)",
    "next_run": "Job.next_run is read-only: use scheduler.run_job_now(job_id) for an extra run now",
}


def _job_setattr(self: Job, name: str, value: object = None) -> None:
    raise FrozenInstanceError(_JOB_READ_ONLY.get(name, _JOB_READ_ONLY[""]).format(name=name))


# After the decorator (a frozen dataclass may not define them): the messages say what to do instead.
Job.__setattr__ = _job_setattr  # type: ignore[method-assign, assignment]
Job.__delattr__ = _job_setattr  # type: ignore[method-assign, assignment]

JobHistory = HistoryEntry
"""0.2.x's name for a history entry."""

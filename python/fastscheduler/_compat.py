"""What fastscheduler 0.2.x programs use that the runtime has no other reason to have.

- ``scheduler.jobs``, ``scheduler.history``, ``scheduler.dead_letters`` and ``scheduler.stats``
  (public attributes in 0.2.x): read-only views, with the 0.2.x attribute names
  (:class:`~fastscheduler.models.Job`, :class:`~fastscheduler.models.HistoryEntry`,
  :class:`~fastscheduler.models.DeadLetter`). Changing them is refused with a message that says
  what to call instead; in 0.2.x it changed private state behind the scheduler's back.
- ``scheduler.print_status()``.
- The constructor's ``storage`` argument as 0.2.x read it (a 0.2.x-style ``StorageBackend``
  subclass is wrapped in an adapter; an unknown name is "Unknown storage backend ...") and
  ``history_retention_days=0`` (age-based pruning off).

docs/migrating.md lists what differs from 0.2.x and why.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, Final, NoReturn, TypeVar, overload

from fastscheduler.models import DeadLetter, HistoryEntry, Job, JobStatus, read_only

if TYPE_CHECKING:
    from fastscheduler._runtime import Runtime
    from fastscheduler.stores import StorageBackend

__all__ = ["CompatViews", "retention_days", "storage_backend"]

_T = TypeVar("_T")

#: ``history_retention_days=0`` (0.2.x: no age limit) as the stores' limits read it: finite, as a
#: database compares it, and longer than any history.
NO_AGE_LIMIT_DAYS: Final = 1_000_000.0

_HINTS: Final = {
    "jobs": "add jobs with the decorators; remove one with scheduler.cancel_job(job_id), pause it "
    "with scheduler.pause_job(job_id)",
    "history": "the scheduler keeps it (max_history=, history_retention_days=)",
    "dead_letters": "scheduler.clear_dead_letters() empties it",
    "stats": "the scheduler counts (scheduler.get_statistics() has every count)",
}


def _refuse(name: str) -> NoReturn:
    raise TypeError(
        f"scheduler.{name} is a read-only view of the scheduler's state (in fastscheduler 0.2.x it "
        f"was its private list): {_HINTS[name]}"
    )


class _View(Sequence[_T]):
    """A read-only sequence taken from the scheduler when first read (``scheduler.jobs`` makes a
    new one each time it is read: keep it in a variable to look at one moment's state)."""

    _name = ""

    def __init__(self, take: Callable[[], list[_T]]) -> None:
        self._take = take
        self._items: list[_T] | None = None

    def _all(self) -> list[_T]:
        if self._items is None:
            self._items = self._take()
        return self._items

    def _out(self, item: _T) -> _T:
        return item

    @overload
    def __getitem__(self, index: int) -> _T: ...
    @overload
    def __getitem__(self, index: slice) -> list[_T]: ...
    def __getitem__(self, index: int | slice) -> _T | list[_T]:
        if isinstance(index, slice):
            return [self._out(i) for i in self._all()[index]]
        return self._out(self._all()[index])

    def __len__(self) -> int:
        return len(self._all())

    def __iter__(self) -> Iterator[_T]:
        return (self._out(i) for i in self._all())

    def __eq__(self, other: object) -> bool:
        if isinstance(other, (list, tuple, _View)):
            return list(self) == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"<scheduler.{self._name}: {len(self)} item(s), read-only>"

    # Mutators of a list: refused, saying what to do instead.
    def append(self, item: object) -> NoReturn:
        _refuse(self._name)

    def extend(self, items: object) -> NoReturn:
        _refuse(self._name)

    def insert(self, index: int, item: object) -> NoReturn:
        _refuse(self._name)

    def remove(self, item: object) -> NoReturn:
        _refuse(self._name)

    def pop(self, index: int = -1) -> NoReturn:
        _refuse(self._name)

    def clear(self) -> NoReturn:
        _refuse(self._name)

    def sort(self, *args: object, **kwargs: object) -> NoReturn:
        _refuse(self._name)

    def reverse(self) -> NoReturn:
        _refuse(self._name)

    def __setitem__(self, index: object, value: object) -> NoReturn:
        _refuse(self._name)

    def __delitem__(self, index: object) -> NoReturn:
        _refuse(self._name)

    def __iadd__(self, other: object) -> NoReturn:
        _refuse(self._name)


class JobsView(_View[Job]):
    """``scheduler.jobs``: every job as a :class:`~fastscheduler.models.Job`, soonest next run
    first (the order of ``get_jobs()``), stored jobs no code registers last."""

    _name = "jobs"

    def __init__(self, rt: Runtime) -> None:
        super().__init__(lambda: job_snapshots(rt))
        self._rt = rt

    def __len__(self) -> int:  # without building the snapshots
        if self._items is not None:
            return len(self._items)
        state = self._rt.state
        with state.lock:
            return len(state.registry) + len(state.stored)


class _RecordsView(_View[_T]):
    def _out(self, item: _T) -> _T:
        return read_only(item)  # type: ignore[type-var]


class HistoryView(_RecordsView[HistoryEntry]):
    """``scheduler.history``: the run history, oldest first (as 0.2.x kept it)."""

    _name = "history"


class DeadLettersView(_RecordsView[DeadLetter]):
    """``scheduler.dead_letters``: the dead letters, oldest first (as 0.2.x kept them)."""

    _name = "dead_letters"


def job_snapshots(rt: Runtime) -> list[Job]:
    """Every job of ``rt`` as a :class:`Job`, in the order of ``get_jobs()``."""
    state = rt.state
    with state.lock:
        pairs: list[tuple[dict[str, Any], Any]] = [(state.view(j), j) for j in state.registry]
        pairs += [(state.orphan_view(r), r) for r in state.stored.values()]
    pairs.sort(key=lambda p: (p[0]["next_run_timestamp"] is None, p[0]["next_run_timestamp"] or 0))
    return [_job(view, source) for view, source in pairs]


def _job(view: dict[str, Any], source: Any) -> Job:
    """One :class:`Job` from its ``get_jobs()`` record and the registered job (or stored record)."""
    if isinstance(source, dict):  # an orphan: a stored record no code registers
        spec = source.get("spec") or {}
        kind, key, func = source.get("kind"), str(source.get("job_id", "")).partition(":")[2], None
        args, kwargs = tuple(source.get("args") or ()), dict(source.get("kwargs") or {})
        retries, timeout = spec.get("retries"), spec.get("timeout")
        status = JobStatus.ORPHANED
    else:
        spec = source.spec
        kind, key, func = spec.kind, spec.schedule_key, source.func
        args, kwargs = tuple(source.args), dict(source.kwargs)
        retries, timeout = spec.retries, spec.timeout
        status = JobStatus(view["status"])
        if status is JobStatus.PAUSED:  # 0.2.x: paused is a flag of a scheduled job
            status = JobStatus.SCHEDULED
    schedule_type, schedule_time, days = _schedule_parts(kind, key)
    return Job(
        job_id=view["job_id"],
        func_name=view["func_name"],
        next_run=view["next_run_timestamp"],
        status=status,
        name=view["name"],
        schedule=view["schedule"] or "",
        func=func,
        func_module=getattr(func, "__module__", "") or "",
        args=args,
        kwargs=kwargs,
        interval=view.get("interval"),
        repeat=kind != "date",
        last_run=view["last_run_timestamp"],
        run_count=view["run_count"],
        max_retries=3 if retries is None else retries,
        retry_count=view["retry_count"],
        catch_up=bool(view["catch_up"]) if view["catch_up"] is not None else True,
        schedule_type=schedule_type,
        schedule_time=schedule_time,
        schedule_days=days,
        timeout=timeout,
        paused=view["paused"],
        timezone=view["tz"],
        cron_expression=view.get("cron") if schedule_type == "cron" else None,
    )


_WEEKDAYS: Final = ("MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN")


def _schedule_parts(kind: Any, key: str) -> tuple[str, str | None, list[int] | None]:
    """0.2.x's ``schedule_type``, ``schedule_time`` and ``schedule_days`` of a job, from its kind
    and schedule key (``daily:14:30:00@zone``, ``weekly:MON,FRI:10:00:00@zone``, ...)."""
    head, _, rest = key.partition(":")
    rest = rest.rpartition("@")[0] or rest
    if head == "daily" and kind == "cron":
        return "daily", _clock(rest), None
    if head == "hourly" and kind == "cron":
        m, _, s = rest.partition(":")
        return "hourly", f":{m}" + (f":{s}" if s and s != "00" else ""), None
    if head == "weekly" and kind == "cron":
        days, _, clock = rest.partition(":")
        return "weekly", _clock(clock), [_WEEKDAYS.index(d) for d in days.split(",") if d in _WEEKDAYS]
    if kind == "date":
        return "once", None, None
    return ("cron" if kind == "cron" else "interval"), None, None


def _clock(hms: str) -> str:
    """``"14:30:00"`` as 0.2.x wrote it, ``"14:30"`` (seconds only when there are some)."""
    return hms[:-3] if hms.endswith(":00") and hms.count(":") == 2 else hms


class CompatViews:
    """The 0.2.x attributes of ``FastScheduler`` (see the module doc)."""

    _rt: Runtime

    @property
    def jobs(self) -> JobsView:
        """Every job, read-only, with 0.2.x's ``Job`` attributes (``job_id``, ``func_name``,
        ``next_run``, ``timeout``, ``max_retries``, ``paused``, ``timezone``, ...)."""
        return JobsView(self._rt)

    @jobs.setter
    def jobs(self, value: object) -> NoReturn:
        _refuse("jobs")

    @property
    def history(self) -> HistoryView:
        """The run history, oldest first, read-only (``get_history()`` filters and limits)."""
        rt = self._rt
        return HistoryView(lambda: rt.runlog.history(None, 2**62)[::-1])

    @history.setter
    def history(self, value: object) -> NoReturn:
        _refuse("history")

    @property
    def dead_letters(self) -> DeadLettersView:
        """The dead letters, oldest first, read-only (``get_dead_letters()`` is newest first)."""
        rt = self._rt
        return DeadLettersView(lambda: rt.runlog.dead_letters(2**62)[::-1])

    @dead_letters.setter
    def dead_letters(self, value: object) -> NoReturn:
        _refuse("dead_letters")

    @property
    def stats(self) -> dict[str, Any]:
        """0.2.x's counters (a copy): ``total_runs``, ``total_failures``, ``total_retries`` and
        ``start_time`` (epoch seconds, None before ``start()``)."""
        stats = self.get_statistics()
        keys = ("total_runs", "total_failures", "total_retries")
        return {**{k: stats[k] for k in keys}, "start_time": self._rt.start_time}

    @stats.setter
    def stats(self, value: object) -> NoReturn:
        _refuse("stats")

    if TYPE_CHECKING:  # the facade's

        def get_statistics(self) -> dict[str, Any]: ...
        def get_jobs(self) -> list[dict[str, Any]]: ...

    def print_status(self) -> None:
        """Print a short status: running or not, uptime, counts and the first 5 jobs (0.2.x's)."""
        stats, jobs = self.get_statistics(), self.get_jobs()
        print(f"\nFastScheduler [{'RUNNING' if self._rt.running else 'STOPPED'}]")
        if self._rt.start_time is not None:
            print(f"Uptime: {stats['uptime_readable']}")
        print(f"Jobs: {len(jobs)} | Runs: {stats['total_runs']} | Failures: {stats['total_failures']}")
        if jobs:
            print("\nActive jobs:")
            marks = {"running": ">", "completed": "+", "failed": "x"}
            for job in jobs[:5]:
                print(
                    f"  [{marks.get(job['status'], ' ')}] {job['name']:<20} {job['schedule']:<20} "
                    f"next: {_next_in(job['next_run_in'])}"
                )
            if len(jobs) > 5:
                print(f"      ... and {len(jobs) - 5} more")
        print()


def _next_in(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    for size, unit in ((86400, "d"), (3600, "h"), (60, "m")):
        if seconds > size:
            return f"{int(seconds / size)}{unit}"
    return f"{int(seconds)}s" if seconds > 0 else "now"


def retention_days(value: float) -> float:
    """``history_retention_days`` as the limits take it: 0 turns age-based pruning off (as in
    0.2.x); a negative number, or not a number, is a ``ValueError``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
        raise ValueError(f"history_retention_days must be a number >= 0 (0: no age limit), got {value!r}")
    return NO_AGE_LIMIT_DAYS if value == 0 else float(value)


def storage_backend(storage: object, state_file: str, database_url: str | None) -> StorageBackend:
    """The backend the constructor's arguments name: ``None``/``"json"`` (the JSON file
    ``state_file``, or the database ``database_url`` if one is given with ``None``), ``"sqlmodel"``
    (``database_url``, default ``sqlite:///fastscheduler.db``), ``"memory"``, a
    :class:`~fastscheduler.stores.StorageBackend`, or a 0.2.x-style
    :class:`fastscheduler.storage.StorageBackend` (through its adapter)."""
    from fastscheduler.stores import MemoryStorageBackend, StorageBackend

    if isinstance(storage, StorageBackend):
        return storage
    from fastscheduler.storage.base import LegacyStorageAdapter
    from fastscheduler.storage.base import StorageBackend as LegacyStorageBackend

    if isinstance(storage, LegacyStorageBackend):
        return LegacyStorageAdapter(storage)
    if storage == "memory":
        return MemoryStorageBackend()
    if storage == "sqlmodel" or (storage is None and database_url is not None):
        from fastscheduler.stores.sql import SQLModelStorageBackend

        return SQLModelStorageBackend(database_url or "sqlite:///fastscheduler.db")
    if storage is None or storage == "json":
        from fastscheduler.stores.json_file import JSONStorageBackend

        return JSONStorageBackend(state_file)
    raise ValueError(
        f"Unknown storage backend: {storage!r}. Use 'json', 'sqlmodel', 'memory', or provide a "
        "StorageBackend instance."
    )

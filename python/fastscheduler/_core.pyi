"""Type stubs for the compiled core, ``fastscheduler._core`` (checked by ``mypy.stubtest``)."""

import contextvars
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from typing import Any, ClassVar, Literal, TypeVar, final

from typing_extensions import Self

_T = TypeVar("_T")

__all__ = [
    "TZDB_VERSION",
    "Backoff",
    "ClusterRows",
    "CronError",
    "CronExpr",
    "DueBatch",
    "Engine",
    "Job",
    "JobRecordCheck",
    "Registry",
    "Run",
    "RunState",
    "StoredJobs",
    "Trigger",
    "UnknownTimeZoneError",
    "__version__",
    "_bundled_tzif",
    "_cron_expr",
    "_tzif_agrees_from",
    "compact_state",
    "encode_job_records",
    "encode_job_rows",
    "encode_job_states",
    "encode_record_rows",
    "encode_records",
    "restore_jobs",
    "run_context_var",
    "untracked_record",
]

__version__: str
TZDB_VERSION: str

class CronError(ValueError):
    """A cron expression that does not parse or can never fire; the message names the field and text."""

class UnknownTimeZoneError(ValueError):
    """A time-zone name that is not in the bundled IANA tz database."""

@final
class CronExpr:
    """A cron expression in a time zone (frozen, hashable, picklable)."""

    def __new__(cls, expr: str, /, *, tz: str | None = "UTC") -> CronExpr: ...
    @property
    def expression(self) -> str: ...
    @property
    def tz(self) -> str: ...
    @property
    def is_fixed_time(self) -> bool: ...
    def next(self, after: datetime) -> datetime: ...
    def prev(self, before: datetime) -> datetime: ...
    def matches(self, dt: datetime) -> bool: ...
    def next_n(self, after: datetime, n: int) -> list[datetime]: ...
    def next_timestamps(self, after: float, n: int) -> list[float]: ...
    def __eq__(self, value: object, /) -> bool: ...
    def __hash__(self) -> int: ...
    def __reduce__(self) -> tuple[Any, tuple[str, str]]: ...

def _cron_expr(expr: str, tz: str) -> CronExpr: ...
def _bundled_tzif(name: str) -> tuple[str, bytes]: ...
def _tzif_agrees_from(name: str, data: bytes) -> int | None: ...

@final
class Backoff:
    """Exponential retry delays (frozen, hashable, picklable).

    The delay before retry ``attempt`` (1 for the first) is ``min(max, base * factor ** (attempt - 1))``;
    ``jitter="full"`` draws it uniformly from ``[0, d)``, ``jitter="equal"`` from ``[d / 2, d)``.
    """

    def __new__(
        cls,
        base: float = 2.0,
        factor: float = 2.0,
        max: float = 3600.0,
        jitter: Literal["full", "equal"] | None = None,
    ) -> Backoff: ...
    @property
    def base(self) -> float: ...
    @property
    def factor(self) -> float: ...
    @property
    def max(self) -> float: ...
    @property
    def jitter(self) -> Literal["full", "equal"] | None: ...
    def delay(self, attempt: int, /) -> float: ...
    def delays(self, n: int) -> list[float]: ...
    def __eq__(self, value: object, /) -> bool: ...
    def __hash__(self) -> int: ...
    def __reduce__(
        self,
    ) -> tuple[type[Backoff], tuple[float, float, float, Literal["full", "equal"] | None]]: ...

@final
class Trigger:
    """When a job fires: an interval grid, a cron expression or one instant (frozen).

    Times are epoch seconds (floats), rounded to the microsecond.
    """

    @staticmethod
    def interval(seconds: float, anchor: float) -> Trigger: ...
    @staticmethod
    def cron(expr: CronExpr) -> Trigger: ...
    @staticmethod
    def date(at: float) -> Trigger: ...
    MISSED_CAP: ClassVar[int]
    """The most fires :meth:`advance` counts as missed for one late fire (1,000,000)."""

    def next_after(self, t: float) -> float | None: ...
    def advance(self, scheduled: float, now: float) -> tuple[float | None, int]:
        """The fire scheduled at ``scheduled``, taken at ``now``: ``(next, missed)``.

        The engine's own rule for every fire it pops (one implementation, in the core), so a
        cluster reports the same missed counts as one scheduler. If the first fire after
        ``scheduled`` is after ``now`` (on time, or late by less than one period), ``next`` is
        that fire and ``missed`` is 0. Otherwise every fire in ``(scheduled, now]`` (one exactly
        at ``now`` included) is coalesced into this one and counted in ``missed`` (at most
        ``MISSED_CAP``), and ``next`` is the first fire strictly after ``now``. ``next`` is None
        when no fire is left (a date trigger). Fixed-rate: ``next`` stays on the trigger's own
        grid, whatever ``now`` is. Times are epoch seconds, rounded to the microsecond.
        """
    @property
    def kind(self) -> Literal["interval", "cron", "date"]: ...

@final
class DueBatch:
    """One batch of due jobs, as ``Engine`` hands it to ``dispatch``: a read-only sequence of
    ``(key, scheduled_time, missed)`` tuples, each made when it is read."""

    def __len__(self) -> int: ...
    def __getitem__(self, index: int, /) -> tuple[int, float, int]: ...
    def __iter__(self) -> Iterator[tuple[int, float, int]]: ...

@final
class Engine:
    """A table of jobs and one background thread calling ``dispatch`` with each batch of due jobs.

    A batch is a :class:`DueBatch` of ``(key, scheduled_time, missed)``; times are epoch seconds.
    """

    def __new__(cls, dispatch: Callable[[DueBatch], object]) -> Engine: ...
    def add(self, trigger: Trigger, after: float, *, inclusive: bool = False) -> int: ...
    def remove(self, key: int) -> bool: ...
    def pause(self, key: int) -> bool: ...
    def resume(self, key: int, now: float) -> bool: ...
    def next_fire(self, key: int) -> float | None: ...
    def is_paused(self, key: int) -> bool | None: ...
    def record_run(self, key: int, ok: bool) -> bool: ...
    def record_retry(self, key: int) -> bool: ...
    def set_counters(self, key: int, runs: int, failures: int, retries: int) -> bool: ...
    def state(self, key: int) -> tuple[float | None, bool, int, int, int] | None: ...
    def counters(self, key: int) -> tuple[int, int, int] | None: ...
    def next_deadline(self) -> float | None: ...
    def run_due(self, now: float) -> int: ...
    def start(self) -> None: ...
    def stop(self) -> None: ...
    @property
    def running(self) -> bool: ...
    @property
    def wakeups(self) -> int: ...
    @staticmethod
    def max_wait() -> float | None: ...
    def __len__(self) -> int: ...

@final
class RunState:
    """The part of a job that only exists once it has run."""

    running: int
    last_run: float | None
    finished: bool
    paused: bool
    recent: tuple[str, ...]
    def __new__(cls) -> Self: ...
    def add_recent(self, status: str) -> None:
        """Add an outcome (a status value) to ``recent``, which keeps the last five."""

@final
class Job:
    """A registered job (made by :meth:`Registry.add`); not tracked by the cycle collector."""

    @property
    def func(self) -> Callable[..., Any]: ...
    @property
    def args(self) -> tuple[Any, ...]: ...
    @property
    def kwargs(self) -> dict[str, Any]: ...
    @property
    def spec(self) -> Any: ...
    @property
    def is_async(self) -> bool: ...
    @property
    def n(self) -> int: ...
    @property
    def _id(self) -> str | None: ...
    @property
    def job_id(self) -> str: ...
    @property
    def func_name(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def running(self) -> int: ...
    @property
    def finished(self) -> bool: ...
    @property
    def has_run_state(self) -> bool: ...
    @property
    def run(self) -> RunState: ...
    key: int | None
    def run_state(self) -> RunState: ...
    def start_run(
        self,
        put: Callable[[tuple[Run, Any]], object],
        scheduled: float,
        attempt: int,
        instance_id: str | None,
        first_attempt_at: float,
        claim: Any,
    ) -> Run: ...

@final
class Registry:
    """Jobs by id; ``is_async(func)`` says whether ``func`` returns a coroutine."""

    def __new__(cls, is_async: Callable[[Callable[..., Any]], bool]) -> Self: ...
    def __len__(self) -> int: ...
    def __iter__(self) -> Iterator[Job]: ...
    def get(self, job_id: str) -> Job | None: ...
    def has(self, job: Job) -> bool: ...
    def add(
        self, func: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any], spec: Any
    ) -> Job: ...
    def try_add(
        self, func: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any], spec: Any
    ) -> str | None: ...
    def remove(self, job: Job) -> bool: ...
    quiet: bool

@final
class Run:
    """One attempt of a job (made by :meth:`Job.start_run`); not tracked by the cycle collector."""

    @property
    def job(self) -> Job: ...
    @property
    def scheduled(self) -> float: ...
    @property
    def attempt(self) -> int: ...
    @property
    def instance_id(self) -> str | None: ...
    @property
    def first_attempt_at(self) -> float: ...
    @property
    def claim(self) -> Any: ...
    @property
    def timeout(self) -> float | None: ...
    @property
    def is_async(self) -> bool: ...
    def call(self) -> Any: ...
    def execute(self, clock: Callable[[], float], report: Callable[[Any], object] | None = None) -> None: ...
    def report(self, outcome: Any) -> None: ...

def run_context_var() -> contextvars.ContextVar[Run | None]: ...
def untracked_record(obj: _T) -> _T:
    """``obj``, taken out of the cycle collector: for records of plain values kept by the
    thousand (history entries)."""

# -- the JSON store's journal (docs/persistence.md) -----------------------------------------------

def encode_job_states(engine: Engine, jobs: list[Job]) -> bytes:
    """The journal's ``state`` lines of ``jobs`` (one per job), from ``engine`` and their run
    states; fields at their default are left out."""

def compact_state(
    snapshot: str | None,
    segments: list[tuple[int, str]],
    out: str,
    *,
    max_history: int,
    history_retention_days: float,
    max_dead_letters: int,
    now: float,
    max_bytes: int,
) -> tuple[int, int, int, int, int]:
    """Fold a snapshot and journal segments into a new snapshot at ``out`` (fsynced); returns
    ``(covers, jobs, history, dead_letters, bytes)``. ValueError: damaged, newer or too large;
    OSError: I/O."""

def encode_records(kind: str, records: list[Any], fields: list[str], version: int) -> bytes:
    """Journal lines ``{kind: {"v": version, field: value, ...}}`` of ``records``' plain fields;
    ValueError for a value that is not None, a bool, an int, a finite float or a str."""

def encode_job_records(engine: Engine, jobs: list[Job]) -> tuple[bytes, list[int]]:
    """The journal's ``job`` lines of ``jobs`` (whole records, defaults left out) and the
    positions of the jobs left to the caller (keyword arguments, arguments that are not plain
    values, not in the engine)."""

def encode_job_rows(engine: Engine, jobs: list[Job], max_bytes: int) -> tuple[list[bytes], list[int]]:
    """A SQL store's rows of ``jobs`` as JSON arrays of at most ``max_bytes`` each (a longer row
    alone): ``["<job_id>", "<record JSON text>", <next_run or null>]`` (the records as
    ``encode_job_records`` writes them, with ``"defaults": 1``), and the positions of the jobs
    left to the caller."""

def encode_record_rows(
    records: list[Any], fields: list[str], version: int, columns: list[str], max_bytes: int
) -> list[bytes]:
    """A SQL store's rows of ``records`` as JSON arrays of at most ``max_bytes`` each (a longer
    row alone): the ``columns`` fields' values, then the JSON text
    ``{"v": version, field: value, ...}``; ValueError as for ``encode_records``."""

@final
class StoredJobs:
    """A SQL store's job records as loaded: JSON texts by job id, checked in Rust (the fast path
    of ``stores._records``), in the order they were added (``stores._loaded.LoadedJobs``)."""

    def __new__(cls, max_version: int, min_time: float, max_time: float, statuses: list[str]) -> Self: ...
    def add_rows(self, rows: list[tuple[str, str]]) -> list[str]:
        """Add ``(job_id, text)`` rows (a later one replaces an earlier one of the same id); the
        ids, in order, of the records the fast path does not vouch for. ``TypeError`` (nothing
        added) if a value is not a str."""
    def insert(self, job_id: str, text: str | None = None) -> None:
        """Add or replace a record Python holds (its text, if any, is not vouched for)."""
    def text(self, job_id: str) -> str | None:
        """The record's text (None: no record, or one only Python holds)."""
    def discard(self, job_id: str) -> bool:
        """Remove a record; whether there was one."""
    def ids(self) -> list[str]:
        """The ids, in the order they were added."""
    def clear(self) -> None: ...
    def __len__(self) -> int: ...
    def __contains__(self, key: str, /) -> bool: ...
    def take(
        self, job: Job, compare: bool
    ) -> (
        tuple[bool, int, float | None, float | None, int, int, int, bool, bool, tuple[str, ...]] | str | None
    ):
        """Remove the record of ``job``: None if none; its text if not vouched for; else
        ``(same_definition, v, next_run, last_run, run_count, failure_count, retry_count,
        paused, finished, recent)``, ``same_definition`` (only if ``compare``) saying the stored
        definition is byte for byte what the record writer writes for ``job`` now."""
    def compact(self) -> None:
        """End of an arming: drop the definition parts ``take`` cached (and the objects they
        hold), and give back the memory of the records taken."""

@final
class ClusterRows:
    """A cluster's shared rows by job id, held in Rust (``SQLCoordinator.join``)."""

    def __new__(cls, row_type: Callable[..., Any], min_time: float, max_time: float) -> Self: ...
    def add_rows(self, rows: Sequence[Sequence[Any]]) -> bool:
        """Add ``(job_id, next_run, paused, run_count, failure_count, retry_count, last_run)``
        rows; all or nothing: False (none added) if a value is one the validator might refuse."""
    def pop(self, job_id: str, default: Any = None) -> Any:
        """Take the row of ``job_id`` as ``row_type(next_run, paused, run_count, failure_count,
        retry_count, last_run)``, or return ``default`` (None unless given: never KeyError)."""
    def __contains__(self, key: str, /) -> bool:
        """Whether a row of ``job_id`` was read (taken since or not)."""
    def __len__(self) -> int:
        """Rows not taken yet."""
    def forget_taken(self) -> None:
        """Forget the ids of the rows taken, and give back their memory."""

def restore_jobs(
    engine: Engine, jobs: list[Job], stored: StoredJobs | None, rows: ClusterRows | None, compare: bool
) -> tuple[list[int | None], list[int]]:
    """Arm in Rust the jobs restored from a vouched-for record or a row that need nothing of
    Python (interval jobs, no run state, a next fire to restore): each job's engine key (None:
    left to Python, nothing taken) and flags (1: the store must be given its record, only if
    ``compare``; 2: it had no row)."""

@final
class JobRecordCheck:
    """The fast path of loading stored job records (``stores._records`` stays the definition)."""

    def __new__(
        cls,
        job_defaults: dict[str, Any],
        spec_defaults: dict[str, Any],
        defaults_key: str,
        statuses: list[str],
        max_version: int,
        min_time: float,
        max_time: float,
        max_depth: int,
    ) -> Self: ...
    def complete(self, jobs: dict[str, Any]) -> list[str]:
        """Put back the defaults of the compact records of ``jobs`` in place; the ids, in order,
        of the records this check cannot vouch for (valid and not newer than ``max_version``)."""

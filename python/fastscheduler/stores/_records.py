"""What a stored record may hold: the one validator every store runs when it loads, and the CLI
through the stores.

A record is valid when the scheduler can use it as it is: each field it knows has the type this
fastscheduler writes (times are finite epoch seconds a date can show, from year 1 to 9999;
counters are integers from 0 to 2**63-1, what the engine and a BIGINT column hold; statuses are
:class:`~fastscheduler.models.JobStatus` values), the fields it needs are there, and fields it
does not know (from a later release of the same format version) are kept if they are JSON nested
at most :data:`MAX_DEPTH` levels. The checks return a reason (``None``: valid) rather than raise,
so a store can name the record in its own terms (``jobs['a']``, ``fastscheduler_history row 7``)
and decide what a bad record means for it (the JSON file is moved aside; a database row is
reported and left alone).
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Final

from fastscheduler import _core
from fastscheduler.models import JobStatus
from fastscheduler.stores.base import FORMAT_VERSION, StorageFormatError, StoredState

#: A job record that leaves out fields at their default says so with this key (the writer drops
#: them from a complete record; the loader puts them back: :func:`with_defaults`). A record that a
#: JSON journal ``state`` line changed gets it too: the line leaves out what is at its default.
DEFAULTS_KEY: Final = "defaults"
JOB_DEFAULTS: Final[dict[str, Any]] = {
    "v": 1,
    "next_run": None,
    "last_run": None,
    "run_count": 0,
    "failure_count": 0,
    "retry_count": 0,
    "paused": False,
    "finished": False,
    "recent": [],
    "args": [],
    "kwargs": {},
}
SPEC_DEFAULTS: Final[dict[str, Any]] = {
    "interval": None,
    "cron": None,
    "at": None,
    "tz": None,
    "timeout": None,
    "timeout_kill": False,
    "retries": 3,
    "catch_up": True,
}


def complete_jobs(jobs: dict[str, Any]) -> list[str]:
    """Put back the defaults of every compact record in ``jobs`` (as :func:`with_defaults` does)
    and return the ids, in order, of the records that need :func:`job_problem` and
    :func:`newer_version`: every other record is valid and not newer than this code (a check in
    Rust, ``_core.JobRecordCheck``, vouches for them; it hands back anything unusual, so the
    verdicts and messages stay this module's)."""
    return _RECORD_CHECK.complete(jobs)


def with_defaults(record: dict[str, Any]) -> None:
    """Put back, in place, what a compact job record (one with :data:`DEFAULTS_KEY`: the JSON
    store's journal and snapshot, the SQL store's rows) left out, and drop the key."""
    del record[DEFAULTS_KEY]
    for key, default in JOB_DEFAULTS.items():
        if key not in record:
            record[key] = copy.copy(default)
    if "name" not in record:
        record["name"] = record.get("func_name")
    spec = record.get("spec")
    if type(spec) is dict:
        for key, default in SPEC_DEFAULTS.items():
            spec.setdefault(key, default)


__all__ = [
    "DEFAULTS_KEY",
    "JOB_DEFAULTS",
    "MAX_COUNT",
    "MAX_DEPTH",
    "MAX_TIME",
    "MIN_TIME",
    "SPEC_DEFAULTS",
    "check_state",
    "cluster_row_problem",
    "complete_jobs",
    "dead_letter_problem",
    "history_problem",
    "in_words",
    "job_problem",
    "newer_format_message",
    "newer_version",
    "state_newer_version",
    "state_problem",
    "stats_problem",
    "too_deep",
    "with_defaults",
]

MIN_TIME: Final = -62135510400.0
"""Earliest stored time: 0001-01-02T00:00:00Z (a day inside what ``datetime`` shows in any zone)."""
MAX_TIME: Final = 253402214400.0
"""Latest stored time: 9999-12-31T00:00:00Z."""
MAX_COUNT: Final = 2**63 - 1
"""Largest stored counter (run, failure, retry and attempt counts, statistics)."""
MAX_DEPTH: Final = 64
"""Deepest nesting of a free-form value (``.do()`` arguments, unknown fields). The scheduler
stores no deeper arguments (they are left out, like arguments that are not JSON)."""

_STATUSES: Final = frozenset(s.value for s in JobStatus)
_KINDS: Final = frozenset({"interval", "cron", "date"})
_NUMBER: Final = (int, float)

Check = Callable[[Any], "str | None"]
"""A field's check: why the value is not usable (see :func:`_at` for the form), or None."""
Fields = dict[str, tuple[frozenset[type], Check]]
"""A record's field table: each field's check and the types it accepts without calling it."""
_NONE: Final = type(None)


def _show(value: Any) -> str:
    """``value`` for a message: its repr, cut short, and its type when that is not obvious."""
    if isinstance(value, (dict, list)):
        return f"a JSON {'object' if isinstance(value, dict) else 'array'}"
    text = repr(value)
    return text if len(text) <= 60 else f"{text[:57]}..."


def _number(value: Any) -> bool:
    return isinstance(value, _NUMBER) and not isinstance(value, bool)


def _time(value: Any) -> str | None:
    if _number(value) and MIN_TIME <= value <= MAX_TIME:  # NaN fails both comparisons
        return None
    return f"{_show(value)}, not a time (epoch seconds from year 1 to 9999)"


def _opt_time(value: Any) -> str | None:
    return None if value is None else _time(value)


def _count(value: Any) -> str | None:
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_COUNT:
        return None
    return f"{_show(value)}, not an integer from 0 to 2**63-1"


def _opt_count(value: Any) -> str | None:
    return None if value is None else _count(value)


def _seconds(value: Any) -> str | None:
    """A duration: seconds from 0 to MAX_TIME (some 8,000 years), or None."""
    if value is None or (_number(value) and 0 <= value <= MAX_TIME):
        return None
    return f"{_show(value)}, not a number of seconds from 0 to {MAX_TIME:.0f}"


def _interval(value: Any) -> str | None:
    if value is None or (_number(value) and 0 < value <= MAX_TIME):
        return None
    return f"{_show(value)}, not a number of seconds > 0 and at most {MAX_TIME:.0f}"


def _str(value: Any) -> str | None:
    return None if isinstance(value, str) else f"{_show(value)}, not a string"


def _opt_str(value: Any) -> str | None:
    return None if value is None or isinstance(value, str) else f"{_show(value)}, not a string or null"


def _bool(value: Any) -> str | None:
    return None if isinstance(value, bool) else f"{_show(value)}, not true or false"


def _status(value: Any) -> str | None:
    if isinstance(value, str) and value in _STATUSES:
        return None
    return f"{_show(value)}, not a status ({', '.join(sorted(_STATUSES))})"


def _kind(value: Any) -> str | None:
    if isinstance(value, str) and value in _KINDS:
        return None
    return f"{_show(value)}, not a kind of schedule (interval, cron or date)"


def _version(value: Any) -> str | None:
    if isinstance(value, int) and not isinstance(value, bool) and value >= 1:
        return None
    return f"{_show(value)}, not a format version (a positive integer)"


def _recent(value: Any) -> str | None:
    if not isinstance(value, list):
        return f"{_show(value)}, not a list of statuses"
    with contextlib.suppress(TypeError):  # an unhashable item: found below
        if _STATUSES.issuperset(value):
            return None
    for i, item in enumerate(value):
        reason = _status(item)
        if reason is not None:
            return f"[{i}] is {reason}"
    return None


def _opt_list(value: Any) -> str | None:
    if value is None or (isinstance(value, list) and not too_deep(value)):
        return None
    return _free_form(value) if isinstance(value, list) else f"{_show(value)}, not a list or null"


def _opt_object(value: Any) -> str | None:
    if value is None or (isinstance(value, dict) and not too_deep(value)):
        return None
    return _free_form(value) if isinstance(value, dict) else f"{_show(value)}, not an object or null"


def _free_form(value: Any) -> str | None:
    """Any JSON value nested at most MAX_DEPTH levels (the JSON codecs recurse on nesting)."""
    if isinstance(value, (dict, list)) and too_deep(value):
        return f"nested more than {MAX_DEPTH} levels deep"
    return None


def _counts(value: Any) -> str | None:
    """An object of counters (``{"runs": 3, ...}``)."""
    if not isinstance(value, dict):
        return f"{_show(value)}, not an object of counters"
    for key, n in value.items():
        reason = _count(n)
        if reason is not None:
            return f"[{key!r}] is {reason}"
    return None


def _per_job(value: Any) -> str | None:
    if not isinstance(value, dict):
        return f"{_show(value)}, not an object of counters per job"
    for key, counts in value.items():
        reason = _counts(counts)
        if reason is not None:
            return _at(f"[{key!r}]", reason)
    return None


def _object(fields: Fields) -> Check:
    """A check for an object whose known ``fields`` are checked and the rest free-form."""

    def check(value: Any) -> str | None:
        if not isinstance(value, dict):
            return f"{_show(value)}, not an object"
        return _fields(value, fields, ())

    return check


def _opt(check: Check) -> Check:
    return lambda value: None if value is None else check(value)


def _table(**checks: Check) -> Fields:
    """A field table: each field's check, and the types it accepts without calling it (the fast
    path: most fields of most records are a string, a bool or null)."""
    fast: dict[Check, frozenset[type]] = {
        _str: frozenset({str}),
        _opt_str: frozenset({str, _NONE}),
        _bool: frozenset({bool}),
        _opt_time: frozenset({_NONE}),
        _seconds: frozenset({_NONE}),
    }
    return {name: (fast.get(check, frozenset()), check) for name, check in checks.items()}


_SPEC: Final = _table(
    interval=_interval,
    cron=_opt_str,
    at=_opt_time,
    tz=_opt_str,
    timeout=_seconds,
    timeout_kill=_bool,
    retries=_opt_count,
    catch_up=_bool,
)

_JOB: Final = _table(
    v=_version,
    job_id=_str,
    name=_opt_str,
    func_name=_opt_str,
    func=_opt_str,
    kind=_kind,
    schedule=_opt_str,
    spec=_opt(_object(_SPEC)),
    next_run=_opt_time,
    last_run=_opt_time,
    run_count=_count,
    failure_count=_count,
    retry_count=_count,
    paused=_bool,
    finished=_bool,
    recent=_recent,
    args=_opt_list,
    kwargs=_opt_object,
)
_JOB_REQUIRED: Final = ("job_id",)

_HISTORY: Final = _table(
    v=_version,
    job_id=_str,
    func_name=_str,
    status=_status,
    timestamp=_time,
    error=_opt_str,
    run_count=_count,
    retry_count=_count,
    execution_time=_seconds,
    scheduled_time=_opt_time,
    attempt=_count,
    name=_opt_str,
)
_HISTORY_REQUIRED: Final = ("job_id", "func_name", "status", "timestamp")

_DEAD_LETTER: Final = _table(
    v=_version,
    job_id=_str,
    func_name=_str,
    error_type=_str,
    error_message=_str,
    traceback=_str,
    attempts=_count,
    executed_at=_time,
    first_attempt_at=_time,
    scheduled_time=_opt_time,
    name=_opt_str,
)
_DEAD_LETTER_REQUIRED: Final = (
    "job_id",
    "func_name",
    "error_type",
    "error_message",
    "traceback",
    "attempts",
    "executed_at",
    "first_attempt_at",
)

_STATS: Final = _table(v=_version, totals=_counts, per_job=_per_job)


def _fields(record: dict[str, Any], fields: Fields, required: tuple[str, ...]) -> str | None:
    """The first problem of ``record`` (known fields checked, others free-form, ``required`` present)."""
    for name in required:
        if name not in record:
            return f".{name} is missing"
    for name, value in record.items():
        entry = fields.get(name)
        if entry is None:
            reason = _free_form(value)
        elif type(value) in entry[0]:
            continue
        else:
            reason = entry[1](value)
        if reason is not None:
            return _at(f".{name}", reason)
    return None


def _at(path: str, reason: str) -> str:
    """``reason`` about the value at ``path``: ``path is <reason>``, or ``path<reason>`` when the
    reason is about something inside it (it starts with ``[`` or ``.``)."""
    return f"{path}{reason}" if reason[0] in "[." else f"{path} is {reason}"


def job_problem(job_id: str, record: Any) -> str | None:
    """Why the job record stored under ``job_id`` is not usable, or None if it is: a path in the
    record and what is wrong there (``.run_count is 'lots', not ...``), or what the record itself
    is (``7, not an object``); :func:`in_words` makes either a clause."""
    if not isinstance(record, dict):
        return f"{_show(record)}, not an object"
    reason = _fields(record, _JOB, _JOB_REQUIRED)
    if reason is None and record["job_id"] != job_id:
        return f".job_id is {_show(record['job_id'])}, not the id it is stored under ({job_id!r})"
    return reason


def history_problem(record: Any) -> str | None:
    """Why a run history record is not usable, or None if it is."""
    if not isinstance(record, dict):
        return f"{_show(record)}, not an object"
    return _fields(record, _HISTORY, _HISTORY_REQUIRED)


def dead_letter_problem(record: Any) -> str | None:
    """Why a dead-letter record is not usable, or None if it is."""
    if not isinstance(record, dict):
        return f"{_show(record)}, not an object"
    return _fields(record, _DEAD_LETTER, _DEAD_LETTER_REQUIRED)


def stats_problem(record: Any) -> str | None:
    """Why a statistics record is not usable, or None if it is."""
    if not isinstance(record, dict):
        return f"{_show(record)}, not an object"
    return _fields(record, _STATS, ())


def newer_version(record: Any) -> int | None:
    """The record's format version if it is newer than :data:`FORMAT_VERSION` (this code cannot
    judge such a record: it is not damaged, only new), else None."""
    version = record.get("v") if isinstance(record, dict) else None
    if isinstance(version, int) and not isinstance(version, bool) and version > FORMAT_VERSION:
        return version
    return None


def newer_format_message(where: str, version: int, reads: int = FORMAT_VERSION) -> str:
    """The message for data written by a newer fastscheduler than this one (``reads``: the newest
    version of that format this code reads: the records', unless a file format says otherwise)."""
    return (
        f"{where} was written by a newer fastscheduler (format v{version}; this version reads "
        f"v{reads}): upgrade fastscheduler to use it; nothing was changed"
    )


def _records(state: StoredState, job_ids: Iterable[str] | None = None) -> Iterator[tuple[str, Any]]:
    """Every record of ``state`` with its kind (``jobs``, ``history``, ``dead_letters``, ``stats``);
    of the jobs, only those of ``job_ids`` if given."""
    jobs = state.jobs
    for record in jobs.values() if job_ids is None else (jobs[i] for i in job_ids):
        yield "jobs", record
    for record in state.history:
        yield "history", record
    for record in state.dead_letters:
        yield "dead_letters", record
    if state.stats:
        yield "stats", state.stats


def state_newer_version(state: StoredState, job_ids: Iterable[str] | None = None) -> int | None:
    """The newest format version among the records of ``state`` if it is newer than this code's
    (of the jobs, only those of ``job_ids`` if given: the ones :func:`complete_jobs` returned)."""
    newest = None
    for _, record in _records(state, job_ids):
        version = newer_version(record)
        if version is not None and (newest is None or version > newest):
            newest = version
    return newest


def state_problem(state: StoredState, job_ids: Iterable[str] | None = None) -> str | None:
    """What is wrong with the first record of ``state`` that is not usable, as a path in a JSON
    state file and a reason (``jobs['a'].run_count is 'lots', not an integer from 0 to 2**63-1``,
    ``history[3].timestamp is missing``), or None if every record is usable. Of the jobs, only
    those of ``job_ids`` (in order) are checked if it is given: the ones :func:`complete_jobs`
    returned."""
    jobs = state.jobs
    for job_id in jobs if job_ids is None else job_ids:
        record = jobs[job_id]
        reason = job_problem(job_id, record)
        if reason is not None:
            return _at(f"jobs[{job_id!r}]", reason)
    for i, record in enumerate(state.history):
        reason = history_problem(record)
        if reason is not None:
            return _at(f"history[{i}]", reason)
    for i, record in enumerate(state.dead_letters):
        reason = dead_letter_problem(record)
        if reason is not None:
            return _at(f"dead_letters[{i}]", reason)
    if state.stats:
        reason = stats_problem(state.stats)
        if reason is not None:
            return _at("stats", reason)
    return None


def in_words(reason: str) -> str:
    """A record's problem (what the ``*_problem`` checks return) as a clause about that record:
    ``run_count is 'lots', ...`` or ``it is 7, not an object``."""
    return reason[1:] if reason.startswith(".") else f"it is {reason}"


def cluster_row_problem(rows: dict[str, dict[str, Any]]) -> str | None:
    """What is wrong with the first bad cluster row (``next_run``, ``paused``, counters and
    ``last_run`` of a job, by job id, from ``fastscheduler.cluster.read_rows``), as ``holds a
    damaged cluster row for job 'a': ...``, or None. The row is checked as the job record it is
    merged into."""
    for job_id, row in rows.items():
        reason = job_problem(job_id, {**row, "job_id": job_id})
        if reason is not None:
            return (
                f"holds a damaged cluster row (fastscheduler_schedule, fastscheduler_job_counts) for job "
                f"{job_id!r}: {in_words(reason)}; nothing was changed: fix or delete that row"
            )
    return None


def check_state(state: StoredState, where: str) -> None:
    """Raise :class:`StorageFormatError` naming ``where`` if a record of ``state`` is newer than
    this code or not usable (for stores that have no file to move aside)."""
    version = state_newer_version(state)
    if version is not None:
        raise StorageFormatError(newer_format_message(where, version))
    problem = state_problem(state)
    if problem is not None:
        raise StorageFormatError(f"{where} holds a damaged record: {problem}")


_RECORD_CHECK: Final = _core.JobRecordCheck(
    JOB_DEFAULTS,
    SPEC_DEFAULTS,
    DEFAULTS_KEY,
    sorted(_STATUSES),
    FORMAT_VERSION,
    MIN_TIME,
    MAX_TIME,
    MAX_DEPTH,
)


def too_deep(value: Any, limit: int = MAX_DEPTH) -> bool:
    """Whether ``value`` (lists and dicts of JSON values) nests more than ``limit`` levels."""
    for child in value.values() if isinstance(value, dict) else value:
        if isinstance(child, (dict, list)):
            break
    else:
        return False  # flat: the usual arguments
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item
        for child in children:
            if isinstance(child, (dict, list)):
                if depth >= limit:
                    return True
                stack.append((child, depth + 1))
    return False

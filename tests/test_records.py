"""The record validator (fastscheduler/stores/_records.py): every field of every record kind, with
wrong types, huge values and NaN, names the field and says what it should be; what a real
scheduler writes always passes; nesting is bounded on write as on load."""

from __future__ import annotations

import copy
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fastscheduler import FastScheduler, ManualClock
from fastscheduler.stores import Limits, StorageFormatError, StoredState
from fastscheduler.stores._records import (
    DEFAULTS_KEY,
    JOB_DEFAULTS,
    MAX_DEPTH,
    MAX_TIME,
    MIN_TIME,
    SPEC_DEFAULTS,
    check_state,
    cluster_row_problem,
    complete_jobs,
    dead_letter_problem,
    history_problem,
    in_words,
    job_problem,
    newer_version,
    state_newer_version,
    state_problem,
    stats_problem,
    too_deep,
    with_defaults,
)
from fastscheduler.stores.base import FORMAT_VERSION
from fastscheduler.stores.json_file import JSONStorageBackend

T0 = 1_780_000_000.0
NAN, INF = float("nan"), float("inf")
COUNT = "not an integer from 0 to 2**63-1"
TIME = "not a time (epoch seconds from year 1 to 9999)"

JOB: dict[str, Any] = {
    "v": 1,
    "job_id": "tasks.f:every:10s",
    "name": "f",
    "func_name": "f",
    "func": "tasks.f",
    "kind": "interval",
    "schedule": "every 10 seconds",
    "spec": {
        "interval": 10,
        "cron": None,
        "at": None,
        "tz": "UTC",
        "timeout": None,
        "timeout_kill": False,
        "retries": 3,
        "catch_up": True,
    },
    "next_run": T0 + 10,
    "last_run": T0,
    "run_count": 1,
    "failure_count": 0,
    "retry_count": 0,
    "paused": False,
    "finished": False,
    "recent": ["completed"],
    "args": [1, "x"],
    "kwargs": {"flag": True},
}
HISTORY: dict[str, Any] = {
    "v": 1,
    "job_id": "tasks.f:every:10s",
    "func_name": "f",
    "status": "completed",
    "timestamp": T0,
    "error": None,
    "run_count": 1,
    "retry_count": 0,
    "execution_time": 0.01,
    "scheduled_time": T0,
    "attempt": 1,
    "name": "f",
}
DEAD: dict[str, Any] = {
    "v": 1,
    "job_id": "tasks.f:every:10s",
    "func_name": "f",
    "error_type": "RuntimeError",
    "error_message": "boom",
    "traceback": "Traceback ...",
    "attempts": 4,
    "executed_at": T0,
    "first_attempt_at": T0 - 30,
    "scheduled_time": T0 - 30,
    "name": "f",
}
STATS: dict[str, Any] = {
    "v": 1,
    "totals": {"runs": 3, "failures": 1, "retries": 2, "missed": 0},
    "per_job": {"f": {"completed": 2, "failed": 1, "total_runs": 3}},
}


def deep(levels: int) -> Any:
    value: Any = []
    for _ in range(levels - 1):
        value = [value]
    return value


def problem(kind: str, record: Any) -> str | None:
    if kind == "job":
        return job_problem(JOB["job_id"], record)
    return {"history": history_problem, "dead_letter": dead_letter_problem, "stats": stats_problem}[kind](
        record
    )


def test_the_sample_records_are_valid() -> None:
    assert [
        problem(k, r)
        for k, r in [("job", JOB), ("history", HISTORY), ("dead_letter", DEAD), ("stats", STATS)]
    ] == [None] * 4


BAD: list[tuple[str, str, Any, str]] = [
    # (record kind, field, bad value, the problem reported)
    ("job", "run_count", "lots", f".run_count is 'lots', {COUNT}"),
    ("job", "run_count", -3, f".run_count is -3, {COUNT}"),
    ("job", "run_count", 2**70, f".run_count is 1180591620717411303424, {COUNT}"),
    ("job", "run_count", 1.5, f".run_count is 1.5, {COUNT}"),
    ("job", "run_count", True, f".run_count is True, {COUNT}"),
    ("job", "run_count", None, f".run_count is None, {COUNT}"),
    ("job", "failure_count", [], f".failure_count is a JSON array, {COUNT}"),
    ("job", "retry_count", {}, f".retry_count is a JSON object, {COUNT}"),
    ("job", "next_run", NAN, f".next_run is nan, {TIME}"),
    ("job", "next_run", INF, f".next_run is inf, {TIME}"),
    ("job", "next_run", -INF, f".next_run is -inf, {TIME}"),
    ("job", "next_run", 1e300, f".next_run is 1e+300, {TIME}"),
    ("job", "next_run", 10**30, f".next_run is 1000000000000000000000000000000, {TIME}"),
    ("job", "next_run", "soon", f".next_run is 'soon', {TIME}"),
    ("job", "last_run", "x", f".last_run is 'x', {TIME}"),
    ("job", "last_run", False, f".last_run is False, {TIME}"),
    ("job", "recent", 7, ".recent is 7, not a list of statuses"),
    ("job", "recent", "completed", ".recent is 'completed', not a list of statuses"),
    (
        "job",
        "recent",
        ["completed", "x"],
        ".recent[1] is 'x', not a status (completed, failed, missed, orphaned, paused, running, scheduled)",
    ),
    (
        "job",
        "recent",
        [["completed"]],
        ".recent[0] is a JSON array, not a status (completed, failed, missed, "
        "orphaned, paused, running, scheduled)",
    ),
    ("job", "paused", "no", ".paused is 'no', not true or false"),
    ("job", "finished", 1, ".finished is 1, not true or false"),
    ("job", "job_id", 7, ".job_id is 7, not a string"),
    ("job", "job_id", "other", ".job_id is 'other', not the id it is stored under ('tasks.f:every:10s')"),
    ("job", "name", 3, ".name is 3, not a string or null"),
    ("job", "func_name", [], ".func_name is a JSON array, not a string or null"),
    ("job", "func", 1.0, ".func is 1.0, not a string or null"),
    ("job", "schedule", {}, ".schedule is a JSON object, not a string or null"),
    ("job", "kind", "weekly", ".kind is 'weekly', not a kind of schedule (interval, cron or date)"),
    ("job", "spec", 3, ".spec is 3, not an object"),
    (
        "job",
        "spec",
        {"interval": 0},
        ".spec.interval is 0, not a number of seconds > 0 and at most 253402214400",
    ),
    (
        "job",
        "spec",
        {"interval": NAN},
        ".spec.interval is nan, not a number of seconds > 0 and at most 253402214400",
    ),
    ("job", "spec", {"at": INF}, f".spec.at is inf, {TIME}"),
    ("job", "spec", {"tz": 1}, ".spec.tz is 1, not a string or null"),
    ("job", "spec", {"cron": []}, ".spec.cron is a JSON array, not a string or null"),
    ("job", "spec", {"timeout": -1}, ".spec.timeout is -1, not a number of seconds from 0 to 253402214400"),
    ("job", "spec", {"timeout_kill": "yes"}, ".spec.timeout_kill is 'yes', not true or false"),
    ("job", "spec", {"retries": -1}, f".spec.retries is -1, {COUNT}"),
    ("job", "spec", {"catch_up": None}, ".spec.catch_up is None, not true or false"),
    ("job", "spec", {"new": deep(MAX_DEPTH + 1)}, ".spec.new is nested more than 64 levels deep"),
    ("job", "args", "x", ".args is 'x', not a list or null"),
    ("job", "args", deep(MAX_DEPTH + 1), ".args is nested more than 64 levels deep"),
    ("job", "kwargs", [], ".kwargs is a JSON array, not an object or null"),
    ("job", "kwargs", {"k": deep(MAX_DEPTH)}, ".kwargs is nested more than 64 levels deep"),
    ("job", "v", 0, ".v is 0, not a format version (a positive integer)"),
    ("job", "v", "1", ".v is '1', not a format version (a positive integer)"),
    ("job", "v", True, ".v is True, not a format version (a positive integer)"),
    ("job", "unknown", deep(MAX_DEPTH + 1), ".unknown is nested more than 64 levels deep"),
    ("history", "job_id", None, ".job_id is None, not a string"),
    ("history", "func_name", 1, ".func_name is 1, not a string"),
    (
        "history",
        "status",
        "done",
        ".status is 'done', not a status (completed, failed, missed, orphaned, paused, running, scheduled)",
    ),
    ("history", "timestamp", NAN, f".timestamp is nan, {TIME}"),
    ("history", "timestamp", None, f".timestamp is None, {TIME}"),
    ("history", "error", 500, ".error is 500, not a string or null"),
    ("history", "run_count", "1", f".run_count is '1', {COUNT}"),
    ("history", "retry_count", -1, f".retry_count is -1, {COUNT}"),
    (
        "history",
        "execution_time",
        -0.5,
        ".execution_time is -0.5, not a number of seconds from 0 to 253402214400",
    ),
    (
        "history",
        "execution_time",
        INF,
        ".execution_time is inf, not a number of seconds from 0 to 253402214400",
    ),
    ("history", "scheduled_time", 1e300, f".scheduled_time is 1e+300, {TIME}"),
    ("history", "attempt", 2.0, f".attempt is 2.0, {COUNT}"),
    ("history", "name", [], ".name is a JSON array, not a string or null"),
    ("dead_letter", "job_id", 1, ".job_id is 1, not a string"),
    ("dead_letter", "func_name", None, ".func_name is None, not a string"),
    ("dead_letter", "error_type", None, ".error_type is None, not a string"),
    ("dead_letter", "error_message", {}, ".error_message is a JSON object, not a string"),
    ("dead_letter", "traceback", 0, ".traceback is 0, not a string"),
    ("dead_letter", "attempts", "3", f".attempts is '3', {COUNT}"),
    ("dead_letter", "executed_at", "now", f".executed_at is 'now', {TIME}"),
    ("dead_letter", "first_attempt_at", -1e20, f".first_attempt_at is -1e+20, {TIME}"),
    ("dead_letter", "scheduled_time", NAN, f".scheduled_time is nan, {TIME}"),
    ("dead_letter", "name", 1, ".name is 1, not a string or null"),
    ("stats", "totals", [], ".totals is a JSON array, not an object of counters"),
    ("stats", "totals", {"runs": "lots"}, f".totals['runs'] is 'lots', {COUNT}"),
    ("stats", "totals", {"runs": NAN}, f".totals['runs'] is nan, {COUNT}"),
    ("stats", "totals", {"missed": -1}, f".totals['missed'] is -1, {COUNT}"),
    ("stats", "per_job", 7, ".per_job is 7, not an object of counters per job"),
    ("stats", "per_job", {"f": 7}, ".per_job['f'] is 7, not an object of counters"),
    (
        "stats",
        "per_job",
        {"f": {"completed": 2**64}},
        f".per_job['f']['completed'] is 18446744073709551616, {COUNT}",
    ),
    ("stats", "v", -1, ".v is -1, not a format version (a positive integer)"),
]


@pytest.mark.parametrize(
    ("kind", "field", "value", "expected"), BAD, ids=[f"{b[0]}.{b[1]}-{i}" for i, b in enumerate(BAD)]
)
def test_every_bad_field_is_named_with_what_it_should_be(
    kind: str, field: str, value: Any, expected: str
) -> None:
    sample = {"job": JOB, "history": HISTORY, "dead_letter": DEAD, "stats": STATS}[kind]
    assert problem(kind, {**sample, field: value}) == expected


@pytest.mark.parametrize(
    ("kind", "field"),
    [("job", "job_id")]
    + [("history", f) for f in ("job_id", "func_name", "status", "timestamp")]
    + [
        ("dead_letter", f)
        for f in (
            "job_id",
            "func_name",
            "error_type",
            "error_message",
            "traceback",
            "attempts",
            "executed_at",
            "first_attempt_at",
        )
    ],
)
def test_a_missing_required_field_is_named(kind: str, field: str) -> None:
    sample = {"job": JOB, "history": HISTORY, "dead_letter": DEAD}[kind]
    assert problem(kind, {k: v for k, v in sample.items() if k != field}) == f".{field} is missing"


@pytest.mark.parametrize("value", [7, "x", None, [], 1.5])
def test_a_record_that_is_not_an_object_is_named(value: Any) -> None:
    for kind in ("job", "history", "dead_letter", "stats"):
        reason = problem(kind, value)
        assert reason is not None and reason.endswith(", not an object")


def test_optional_fields_may_be_missing_or_null_and_unknown_ones_are_kept() -> None:
    assert job_problem("a", {"job_id": "a"}) is None
    nulls = {k: None for k in ("name", "func_name", "next_run", "last_run", "args", "kwargs", "spec")}
    assert job_problem("a", {"job_id": "a", **nulls}) is None
    assert job_problem("a", {"job_id": "a", "from_a_later_release": {"x": [1, 2]}}) is None
    assert stats_problem({}) is None and stats_problem({"v": 1, "runs": 2}) is None
    assert history_problem({**HISTORY, "error": None, "name": None, "execution_time": None}) is None


def test_times_span_year_1_to_9999_and_counters_fill_63_bits() -> None:
    for t in (-62135510400, 0, T0, 253402214400):
        assert job_problem("a", {"job_id": "a", "next_run": t}) is None
    for t in (-62135510401, 253402214401):
        assert job_problem("a", {"job_id": "a", "next_run": t}) is not None
    assert job_problem("a", {"job_id": "a", "run_count": 2**63 - 1}) is None
    assert job_problem("a", {"job_id": "a", "run_count": 2**63}) is not None


def test_nesting_is_bounded_at_max_depth() -> None:
    assert not too_deep(deep(MAX_DEPTH)) and too_deep(deep(MAX_DEPTH + 1))
    assert not too_deep({"a": [1, {"b": 2}]}, 3) and too_deep({"a": [1, {"b": [2]}]}, 3)
    assert job_problem("a", {"job_id": "a", "args": deep(MAX_DEPTH)}) is None


def test_state_problem_names_the_record_as_in_a_state_file() -> None:
    assert state_problem(StoredState(jobs={"a": {"job_id": "a", "recent": 7}})) == (
        "jobs['a'].recent is 7, not a list of statuses"
    )
    state = StoredState(history=[HISTORY, {**HISTORY, "timestamp": "x"}])
    assert state_problem(state) == f"history[1].timestamp is 'x', {TIME}"
    assert state_problem(StoredState(dead_letters=[5])) == "dead_letters[0] is 5, not an object"
    assert (
        state_problem(StoredState(stats={"totals": {"runs": -1}})) == f"stats.totals['runs'] is -1, {COUNT}"
    )
    assert (
        in_words(".run_count is -1") == "run_count is -1"
        and in_words("5, not an object") == "it is 5, not an object"
    )
    with pytest.raises(
        StorageFormatError,
        match=r"^The store X holds a damaged record: jobs\['a'\]\.paused is 1, not true or false$",
    ):
        check_state(StoredState(jobs={"a": {"job_id": "a", "paused": 1}}), "The store X")
    with pytest.raises(
        StorageFormatError, match=r"^The store X was written by a newer fastscheduler \(format v7"
    ):
        check_state(StoredState(jobs={"a": {"v": 7, "paused": 1}}), "The store X")


def test_cluster_rows_are_checked_as_the_job_records_they_update() -> None:
    good = {
        "next_run": T0,
        "paused": False,
        "run_count": 1,
        "failure_count": 0,
        "retry_count": 0,
        "last_run": None,
    }
    assert cluster_row_problem({"a": good}) is None
    assert cluster_row_problem({"a": good, "b": {**good, "next_run": NAN}}) == (
        "holds a damaged cluster row (fastscheduler_schedule, fastscheduler_job_counts) for job 'b': "
        f"next_run is nan, {TIME}; nothing was changed: fix or delete that row"
    )


def tick(*args: Any, **kwargs: Any) -> None:
    pass


def boom() -> None:
    raise RuntimeError("boom")


def test_everything_a_scheduler_writes_passes(tmp_path: Path) -> None:
    """Never refuse what we wrote: every kind of job, paused, finished, failed into dead letters,
    missed, with arguments, passes the validator when read back."""
    path = tmp_path / "state.json"
    clock = ManualClock(T0)
    s = FastScheduler(state_file=str(path), quiet=True, clock=clock, timezone="UTC")
    s.every(10).seconds.do(tick, 1, "x", [1.5, None], flag={"a": [True]})
    s.every(10).seconds.retries(1).do(boom)
    s.cron("*/5 * * * *", tz="Europe/Paris").timeout(30).no_catch_up().do(tick)
    s.once(5).do(tick)
    paused = s.daily.at("09:00").do(tick, 2)
    s.at(datetime.fromtimestamp(T0 + 3600, timezone.utc)).do(tick, 3)
    s.start()
    s.pause_job(paused)
    clock.advance(65)
    s.stop()
    stored = JSONStorageBackend(path).read(Limits())  # the records as stored, not the file's layout
    assert len(stored.jobs) == 6 and stored.history and stored.dead_letters and stored.stats
    assert state_problem(stored) is None
    assert any(j["finished"] for j in stored.jobs.values()) and any(j["paused"] for j in stored.jobs.values())


def test_arguments_nested_deeper_than_a_store_reads_are_left_out(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    s = FastScheduler(state_file=str(path), quiet=True, clock=ManualClock(T0))
    ok = s.every(10).seconds.do(tick, deep(MAX_DEPTH - 1))
    too = s.every(11).seconds.do(tick, deep(MAX_DEPTH))
    very = s.every(12).seconds.do(tick, deep(5000))  # the JSON encoder itself would give up
    s.start()
    s.stop()
    jobs = JSONStorageBackend(path).read(Limits()).jobs
    assert jobs[ok]["args"] == [deep(MAX_DEPTH - 1)]
    assert jobs[too]["args"] is None and jobs[very]["args"] is None  # like arguments that are not JSON
    s2 = FastScheduler(state_file=str(path), quiet=True, clock=ManualClock(T0))
    s2.start()  # and the file loads again
    assert {j["job_id"] for j in s2.get_jobs()} == {ok, too, very}
    s2.stop()


# --------------------------------------------------------------------------------------------------
# complete_jobs: the Rust fast path of loading (defaults put back, the records it vouches for). It
# must never vouch for a record the Python check refuses or finds newer, and must put back exactly
# what with_defaults puts back.


def _unsure(records: dict[str, Any]) -> list[str]:
    return complete_jobs(copy.deepcopy(records))


def test_the_fast_path_vouches_for_valid_records_and_compact_ones_get_their_defaults() -> None:
    nulls = {k: None for k in ("name", "func_name", "next_run", "last_run", "args", "kwargs", "spec")}
    valid = {
        JOB["job_id"]: JOB,
        "a": {"job_id": "a"},
        "b": {"job_id": "b", **nulls},
        "c": {"job_id": "c", "from_a_later_release": {"x": [1, 2]}, "args": deep(MAX_DEPTH)},
        "d": {"job_id": "d", "next_run": MIN_TIME, "last_run": MAX_TIME, "run_count": 2**63 - 1},
    }
    assert _unsure(valid) == []
    compact = {"job_id": "e", DEFAULTS_KEY: 1, "func_name": "f", "spec": {"interval": 5}}
    jobs = {"e": dict(compact, spec=dict(compact["spec"])), "f": {**compact, "job_id": "f"}}
    expected = copy.deepcopy(jobs)
    for record in expected.values():
        with_defaults(record)
    assert complete_jobs(jobs) == [] and jobs == expected
    assert jobs["e"]["name"] == "f" and jobs["e"]["spec"]["retries"] == 3
    assert jobs["e"]["recent"] is not jobs["f"]["recent"]  # fresh lists and dicts, as copy.copy
    assert jobs["e"]["kwargs"] is not JOB_DEFAULTS["kwargs"]


@pytest.mark.parametrize(
    ("field", "value"),
    [(b[1], b[2]) for b in BAD if b[0] == "job"],
    ids=[f"{b[1]}-{i}" for i, b in enumerate(BAD) if b[0] == "job"],
)
def test_the_fast_path_never_vouches_for_a_damaged_record(field: str, value: Any) -> None:
    record = {**JOB, field: value}
    assert job_problem(JOB["job_id"], record) is not None
    assert _unsure({"ok": {"job_id": "ok"}, JOB["job_id"]: record}) == [JOB["job_id"]]


def test_the_fast_path_hands_back_newer_odd_and_missing_records_in_order() -> None:
    jobs: dict[str, Any] = {
        "newer": {"job_id": "newer", "v": FORMAT_VERSION + 1, "next_run": "whatever"},
        "fine": {"job_id": "fine"},
        "no id": {"name": "x"},
        "list": [1, 2],
        "big": {"job_id": "big", "run_count": 2**70},
        "sub": {"job_id": "sub", "paused": 1},
    }
    assert _unsure(jobs) == ["newer", "no id", "list", "big", "sub"]
    state = StoredState(jobs=copy.deepcopy(jobs))
    unsure = complete_jobs(state.jobs)
    assert state_newer_version(state, unsure) == FORMAT_VERSION + 1
    assert state_problem(state, unsure) == state_problem(StoredState(jobs=copy.deepcopy(jobs)))


_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**65), max_value=2**65),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([MIN_TIME, MAX_TIME, MIN_TIME - 1, MAX_TIME + 1, 0.0, -0.0, 2**63 - 1, 2**63]),
    st.text(max_size=3),
    st.sampled_from(["completed", "failed", "interval", "cron", "date", "k"]),
)
_VALUES = st.recursive(
    _SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=2), inner, max_size=3),
    max_leaves=6,
)
_FIELDS = st.sampled_from([*JOB_DEFAULTS, *JOB, "other"])
_SPEC_FIELDS = st.sampled_from([*SPEC_DEFAULTS, "other"])


@st.composite
def _records(draw: st.DrawFn) -> dict[str, Any]:
    record: dict[str, Any] = {"job_id": "j"} if draw(st.booleans()) else {}
    if draw(st.booleans()):
        record.update(copy.deepcopy(JOB), job_id="j")
    for name in draw(st.lists(_FIELDS, max_size=4)):
        record[name] = draw(_VALUES)
    if draw(st.booleans()):
        spec = record["spec"] if isinstance(record.get("spec"), dict) else {}
        for name in draw(st.lists(_SPEC_FIELDS, max_size=3)):
            spec[name] = draw(_VALUES)
        record["spec"] = spec
    if draw(st.booleans()):
        record["recent"] = draw(st.lists(st.sampled_from(["completed", "failed", "x", 1]), max_size=3))
    if draw(st.booleans()):
        record[DEFAULTS_KEY] = 1
    return record


@settings(max_examples=600, deadline=None)
@given(_records())
def test_the_fast_path_agrees_with_the_python_check(record: dict[str, Any]) -> None:
    fast = {"j": copy.deepcopy(record)}
    unsure = complete_jobs(fast)
    slow = copy.deepcopy(record)
    if DEFAULTS_KEY in slow:
        with_defaults(slow)
    assert repr(fast["j"]) == repr(slow)  # (NaN is not equal to itself: the reprs are compared)
    if job_problem("j", slow) is not None or newer_version(slow) is not None:
        assert unsure == ["j"]


def test_the_fast_path_refuses_an_unbounded_depth_and_survives_deep_values() -> None:
    from fastscheduler import _core

    with pytest.raises(ValueError, match="max_depth must be at most 1024, got 100000"):
        _core.JobRecordCheck({}, {}, DEFAULTS_KEY, [], 1, MIN_TIME, MAX_TIME, 100_000)
    check = _core.JobRecordCheck({}, {}, DEFAULTS_KEY, [], 1, MIN_TIME, MAX_TIME, 1024)
    assert check.complete({"a": {"job_id": "a", "args": deep(200_000)}}) == ["a"]
    assert complete_jobs({"a": {"job_id": "a", "args": deep(200_000)}}) == ["a"]

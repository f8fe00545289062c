"""A SQL store's job records as loaded (issue 14): texts checked in Rust (``_core.StoredJobs``),
dicts only when read (``stores._loaded.LoadedJobs``), and arming that takes a job's state as one
tuple. The Python validator stays the definition of a valid record: the Rust check must never
vouch for a record it refuses, and what it hands arming must be what the record says."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import given, settings
from hypothesis import strategies as st

from fastscheduler import FastScheduler, ManualClock, _core
from fastscheduler.stores import Limits, StorageFormatError
from fastscheduler.stores._loaded import LoadedJobs
from fastscheduler.stores._records import DEFAULTS_KEY, job_problem, newer_version, with_defaults
from fastscheduler.stores.sql import SQLModelStorageBackend

T0 = 1_780_000_000.0


def tick(*args: Any, **kwargs: Any) -> None:
    pass


def _job(job_id: str = "j", *args: Any) -> _core.Job:
    s = FastScheduler(storage="memory", quiet=True)
    s.every(5).seconds.id(job_id).do(tick, *args)
    job = s._rt.state.get(job_id)
    assert job is not None
    return job


def _written_line(job_id: str = "j", *args: Any) -> str:
    """The record the Rust writer writes for a job armed at T0 (the store's own layout)."""
    s = FastScheduler(storage="memory", quiet=True, clock=ManualClock(T0))
    s.every(5).seconds.id(job_id).do(tick, *args)
    s.start()
    try:
        state = s._rt.state
        job = state.get(job_id)
        assert job is not None
        with state.lock:
            rows, others = _core.encode_job_rows(state.engine, [job], 1 << 20)
        assert others == []
        return str(json.loads(rows[0])[0][1])
    finally:
        s.stop()


# ----------------------------------------------------------------------------------- the check


_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**65), max_value=2**65),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([-62135510400.0, 253402214400.0, 2**63 - 1, 2**63, 0.0, -0.0]),
    st.text(max_size=3),
    st.sampled_from(["completed", "failed", "interval", "date", "x"]),
    st.lists(st.sampled_from([1, "completed", "failed", [1]]), max_size=3),
    st.dictionaries(st.sampled_from(["a", "interval", "tz"]), st.integers(0, 5), max_size=2),
)
_FIELDS = st.sampled_from(
    [
        "v",
        "name",
        "func_name",
        "func",
        "kind",
        "schedule",
        "spec",
        "next_run",
        "last_run",
        "run_count",
        "failure_count",
        "retry_count",
        "paused",
        "finished",
        "recent",
        "args",
        "kwargs",
        "other",
        DEFAULTS_KEY,
        "job_id",
    ]
)


@st.composite
def _texts(draw: st.DrawFn) -> str:
    """Record texts: the writer's own, changed a field at a time (or anything else)."""
    record: dict[str, Any] = json.loads(_WRITTEN)
    for name in draw(st.lists(_FIELDS, max_size=3)):
        if draw(st.booleans()):
            record.pop(name, None)
        else:
            record[name] = draw(_VALUES)
    if draw(st.booleans()):
        spec = record.get("spec")
        if isinstance(spec, dict):
            spec[draw(st.sampled_from(["interval", "retries", "catch_up", "at", "timeout", "x"]))] = draw(
                _VALUES
            )
    return json.dumps(record, separators=(",", ":"))


_WRITTEN = _written_line("j", 7, "x")


@settings(max_examples=500, deadline=None)
@given(_texts())
def test_the_rust_check_vouches_only_for_what_the_python_check_accepts_and_reads_it_alike(
    text: str,
) -> None:
    jobs = LoadedJobs()
    unsure = jobs.add_rows([("j", text)])
    python = json.loads(text)
    if isinstance(python, dict) and DEFAULTS_KEY in python:
        with_defaults(python)
    if unsure:
        return
    assert job_problem("j", python) is None and newer_version(python) is None
    assert jobs["j"] == python  # (a read decodes the text as the Python loader does)
    taken = LoadedJobs()
    taken.add_rows([("j", text)])
    saved = taken.take(_job("j", 7, "x"), True)
    assert isinstance(saved, tuple)
    same, v, next_run, last_run, runs, failures, retries, paused, finished, recent = saved
    assert (v, next_run, last_run) == (python["v"], python["next_run"], python["last_run"])
    assert (runs, failures, retries) == (python["run_count"], python["failure_count"], python["retry_count"])
    assert (paused, finished, list(recent)) == (python["paused"], python["finished"], python["recent"])
    if same:  # the same definition: what the writer writes for this job
        written = json.loads(_WRITTEN)
        with_defaults(written)
        for field in ("name", "func_name", "func", "kind", "schedule", "spec", "args", "kwargs"):
            assert repr(python[field]) == repr(written[field]), field


def test_the_writers_record_is_vouched_for_and_compared_byte_for_byte() -> None:
    jobs = LoadedJobs()
    assert jobs.add_rows([("j", _WRITTEN), ("k", _written_line("k"))]) == []
    saved = jobs.take(_job("j", 7, "x"), True)
    assert isinstance(saved, tuple) and saved[0] is True and saved[2] == T0 + 5
    assert "j" not in jobs and len(jobs) == 1
    # Other arguments, another type (True is not 1), or not compared: not the same.
    written = _written_line("k", 1)
    for args, compare, same in (
        ((1,), True, True),
        ((2,), True, False),
        ((True,), True, False),
        ((1,), False, False),
    ):
        jobs = LoadedJobs()
        jobs.add_rows([("k", written)])
        saved = jobs.take(_job("k", *args), compare)
        assert isinstance(saved, tuple) and saved[0] is same, (args, compare)
    # A definition field after the marker: valid, but the definition is not the writer's.
    moved = _WRITTEN.replace('"func_name":"tick",', "").replace(
        '"defaults":1', '"defaults":1,"func_name":"tick"'
    )
    jobs = LoadedJobs()
    assert jobs.add_rows([("j", moved)]) == []
    saved = jobs.take(_job("j", 7, "x"), True)
    assert isinstance(saved, tuple) and saved[0] is False
    # Keyword arguments: the writer leaves the job to Python, so never the same here.
    s = FastScheduler(storage="memory", quiet=True)
    s.every(5).seconds.id("j").do(tick, 7, "x", k=1)
    job = s._rt.state.get("j")
    jobs = LoadedJobs()
    jobs.add_rows([("j", _WRITTEN)])
    assert job is not None and jobs.take(job, True)[0] is False  # type: ignore[index]


def test_records_it_does_not_vouch_for_are_handed_back_in_order() -> None:
    jobs = LoadedJobs()
    rows = [
        ("a", '{"job_id":"a","defaults":1}'),
        ("b", '{"job_id":"b","v":1}'),  # no "defaults": a Python-written record
        ("c", "not json"),
        ("d", '{"job_id":"d","defaults":1,"run_count":1.5}'),
        ("e", '{"job_id":"x","defaults":1}'),  # stored under another id
        ("f", '{"job_id":"f","defaults":1,"v":2}'),  # newer
        ("g", '{"job_id":"g","defaults":1,"args":[[1]]}'),  # nested arguments
        ("h", '{"job_id":"h","defaults":1,"recent":["completed","failed"]}'),
    ]
    assert jobs.add_rows(rows) == ["b", "c", "d", "e", "f", "g"]
    assert list(jobs) == list("abcdefgh")
    with pytest.raises(TypeError):
        jobs.add_rows([("i", b"{}")])  # type: ignore[list-item]
    assert "i" not in jobs


def test_loaded_jobs_is_a_mapping_of_record_dicts() -> None:
    jobs = LoadedJobs()
    jobs.add_rows([("a", '{"job_id":"a","defaults":1,"run_count":2}'), ("b", '{"job_id":"b","defaults":1}')])
    record = jobs["a"]
    assert record["run_count"] == 2 and record["name"] is None and record["recent"] == [] and record["v"] == 1
    record["run_count"] = 3  # a read is kept: changes to it stay
    assert jobs["a"]["run_count"] == 3
    jobs["c"] = {"job_id": "c"}
    assert list(jobs) == ["a", "b", "c"] and len(jobs) == 3 and "c" in jobs and 3 not in jobs
    assert jobs.text("c") is None and jobs.text("b") == '{"job_id":"b","defaults":1}'
    assert jobs.take(_job("a"), True) is record  # the dict read before is what arming gets
    del jobs["b"]
    with pytest.raises(KeyError):
        del jobs["b"]
    with pytest.raises(KeyError):
        jobs["b"]
    assert dict(jobs) == {"c": {"job_id": "c"}}
    assert jobs.take(_job("zz"), True) is None
    jobs.clear()
    assert len(jobs) == 0 and list(jobs) == [] and not jobs


@settings(max_examples=2000, deadline=None)
@given(st.floats(min_value=-62135510400.0, max_value=253402214400.0))
def test_every_stored_time_is_read_as_json_loads_reads_it(t: float) -> None:
    """A run's last time is ``time.time()`` to the last bit: Rust must read it back exactly as
    ``json.loads`` does (else a restored job's last run moves, and a cluster restart rewrites
    every record whose row holds the exact value)."""
    text = json.dumps({"job_id": "t", "defaults": 1, "next_run": t, "last_run": t})
    jobs = LoadedJobs()
    assert jobs.add_rows([("t", text)]) == []
    saved = jobs.take(_job("t"), False)
    assert isinstance(saved, tuple) and saved[2] == t and saved[3] == t == json.loads(text)["last_run"]


def test_a_stored_float_is_read_exactly() -> None:
    """serde's float parser and Python's agree on every stored time (the shortest repr)."""
    jobs = LoadedJobs()
    times = [T0 + 0.1, 1796589454.814207, 253402214400.0, -62135510400.0, math.nextafter(T0, 0)]
    times += [1799087017.4183881]  # (read one bit off without serde_json's float_roundtrip)
    jobs.add_rows(
        [
            (f"t{i}", json.dumps({"job_id": f"t{i}", "defaults": 1, "next_run": t}))
            for i, t in enumerate(times)
        ]
    )
    for i, t in enumerate(times):
        saved = jobs.take(_job(f"t{i}"), False)
        assert isinstance(saved, tuple) and saved[2] == t


# ------------------------------------------------------------------------ the store and arming


def _sqlite(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'state.db'}"


def test_a_sqlite_restart_restores_from_the_texts_and_rewrites_only_what_changed(tmp_path: Path) -> None:
    url = _sqlite(tmp_path)
    clock = ManualClock(T0)
    s1 = FastScheduler(database_url=url, quiet=True, clock=clock)
    s1.every(10).seconds.id("same").do(tick, 1)
    s1.every(10).seconds.id("args").do(tick, 2)
    s1.every(10).seconds.id("kw").do(tick, 1, k=2)  # a record Python writes (a dict on load)
    s1.every(10).seconds.id("paused").do(tick)
    s1.every(10).seconds.id("orphan").do(tick)
    s1.start()
    clock.advance(10)
    s1.pause_job("paused")
    s1.stop()
    engine = sa.create_engine(url)

    def updated() -> dict[str, float]:
        with engine.connect() as conn:
            return dict(conn.execute(sa.text("SELECT job_id, updated_at FROM fastscheduler_jobs")).all())

    before = updated()
    clock2 = ManualClock(T0 + 12)
    s2 = FastScheduler(database_url=url, quiet=True, clock=clock2)
    s2.every(10).seconds.id("same").do(tick, 1)
    s2.every(10).seconds.id("args").do(tick, 3)
    s2.every(10).seconds.id("kw").do(tick, 1, k=2)
    s2.every(10).seconds.id("paused").do(tick)
    stored = s2._rt.persistence
    s2.start()
    try:
        assert isinstance(s2._rt.state.stored, LoadedJobs) and stored is not None
        same = s2.get_job("same")
        assert same is not None and same["run_count"] == 1 and same["next_run_timestamp"] == T0 + 20
        assert s2.get_job("kw")["run_count"] == 1  # type: ignore[index]
        assert s2.get_job("paused")["status"] == "paused"  # type: ignore[index]
        orphan = s2.get_job("orphan")
        assert orphan is not None and orphan["status"] == "orphaned"
        assert len(s2._rt.state.stored) == 1
    finally:
        s2.stop()
    after = updated()
    rewritten = {job_id for job_id in after if after[job_id] != before.get(job_id)}
    assert rewritten == {"args"}
    engine.dispose()


def _with_row(tmp_path: Path, job_id_sql: str, record: str) -> str:
    """A SQLite store holding job "a" (registered, started, stopped) and a row inserted by hand:
    its job id as the SQL expression ``job_id_sql``, its record text ``record``; the URL."""
    url = _sqlite(tmp_path)
    s = FastScheduler(database_url=url, quiet=True, clock=ManualClock(T0))
    s.every(10).seconds.id("a").do(tick)
    s.start()
    s.stop()
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                f"INSERT INTO fastscheduler_jobs (job_id, record, updated_at) VALUES ({job_id_sql}, :r, 0)"
            ),
            {"r": record},
        )
    engine.dispose()
    return url


def test_a_damaged_row_is_still_named_and_changes_nothing(tmp_path: Path) -> None:
    url = _with_row(tmp_path, "'b'", '{"job_id":"b","defaults":1,"run_count":"lots"}')
    backend = SQLModelStorageBackend(url)
    with pytest.raises(
        StorageFormatError,
        match=r"fastscheduler_jobs row 'b': run_count is 'lots', not an integer from 0 to 2\*\*63-1; "
        r"nothing was changed",
    ):
        backend.open(Limits())
    backend.close()


# ------------------------------------------------------------------ arming in Rust = in Python


_TIMES = st.one_of(st.none(), st.sampled_from([T0 - 7.5, T0 + 3.0, T0 + 5.0, T0 + 1e6]))
_COUNTS = st.sampled_from([0, 1, 7])


@st.composite
def _stored_job(draw: st.DrawFn) -> tuple[Any, Any]:
    """One job's stored record text (or None) and cluster row (or None)."""
    text = None
    if draw(st.booleans()):
        record: dict[str, Any] = json.loads(_written_line("j", 1))
        record.pop("next_run", None)
        for name, value in (
            ("next_run", draw(_TIMES)),
            ("last_run", draw(_TIMES)),
            ("run_count", draw(_COUNTS)),
            ("failure_count", draw(_COUNTS)),
            ("paused", draw(st.booleans())),
            ("finished", draw(st.sampled_from([False, False, True]))),
            ("recent", draw(st.lists(st.sampled_from(["completed", "failed"]), max_size=7))),
        ):
            if value not in (None, 0, False, []):
                record[name] = value
        change = draw(st.sampled_from(["none", "none", "args", "v", "python", "schedule"]))
        if change == "args":
            record["args"] = [2]
        elif change == "v":
            record = {"v": 1, **record}  # (valid, not the writer's layout)
        elif change == "python":
            del record[DEFAULTS_KEY]  # a record Python decodes and checks
            with_defaults_free = {"v": 1, "next_run": None, "paused": False, "finished": False}
            record = {**with_defaults_free, **record, "recent": record.get("recent", [])}
        elif change == "schedule":
            record["schedule"] = "Every 6 seconds"
        text = json.dumps(record, separators=(",", ":"))
    row = None
    if draw(st.booleans()):
        row = ("j", draw(_TIMES), draw(st.booleans()), draw(_COUNTS), draw(_COUNTS), 0, draw(_TIMES))
    return text, row


def _armed(stored: list[tuple[Any, Any]], kinds: list[str], in_rust: bool) -> list[Any]:
    """Arm jobs j0, j1, ... (their records and rows as given) the way start() does, in Rust where
    it can (in_rust), or all in Python from records decoded by ``json.loads`` and rows as
    ``ScheduleRow``s (the reference: nothing of it read by Rust); what each job ends with."""
    from fastscheduler.coordination.base import ScheduleRow
    from fastscheduler.stores._records import MAX_TIME, MIN_TIME

    s = FastScheduler(storage="memory", quiet=True, clock=ManualClock(T0))
    for i, kind in enumerate(kinds):
        builder = s.every(5).seconds if kind == "interval" else s.cron("*/5 * * * *")
        builder.id(f"j{i}").do(tick, 1)
    state = s._rt.state
    jobs = LoadedJobs()
    rows = _core.ClusterRows(ScheduleRow, MIN_TIME, MAX_TIME)
    records: dict[str, dict[str, Any]] = {}
    row_dicts: dict[str, ScheduleRow] = {}
    for i, (text, row) in enumerate(stored):
        if text is not None:
            text = text.replace('"job_id":"j"', f'"job_id":"j{i}"')
            record = records[f"j{i}"] = json.loads(text)
            if DEFAULTS_KEY in record:
                with_defaults(record)
            if jobs.add_rows([(f"j{i}", text)]):
                jobs[f"j{i}"] = record  # (as the store does: decoded and checked in Python)
        if row is not None:
            assert rows.add_rows([(f"j{i}", *row[1:])])
            row_dicts[f"j{i}"] = ScheduleRow(*row[1:])
    with state.lock:
        if in_rust:
            state.stored, state.rows, state.to_write = jobs, rows, []
        else:
            state.stored, state.rows, state.to_write = records, row_dicts, []
        had_row = {f"j{i}" for i, (_, row) in enumerate(stored) if row is not None}
        registered = list(state.registry)
        left, rowless = state.arm_stored(registered, T0) if in_rust else (registered, [])
        unrowed = [j.job_id for j in rowless]
        for job in left:
            state.arm(job, T0, {})
            if job.key is not None and job.job_id not in had_row:
                unrowed.append(job.job_id)
        to_write = state.arming_done()
        out = []
        for job in registered:
            run = job.run
            engine = state.engine.state(job.key) if job.key is not None else None
            out.append(
                (
                    job.job_id,
                    engine,
                    run.last_run,
                    tuple(run.recent),
                    run.finished,
                    state.finished_counters.get(job.job_id),
                    job.job_id in to_write,
                    job.job_id in unrowed,
                )
            )
    return out


@settings(max_examples=300, deadline=None)
@given(
    st.lists(_stored_job(), min_size=1, max_size=4),
    st.lists(st.sampled_from(["interval", "interval", "cron"]), min_size=4, max_size=4),
)
def test_arming_in_rust_ends_where_arming_in_python_does(stored: list[Any], kinds: list[str]) -> None:
    kinds = kinds[: len(stored)]
    rust, python = _armed(stored, kinds, in_rust=True), _armed(stored, kinds, in_rust=False)
    for (text, _), r, p in zip(stored, rust, python, strict=True):
        # Whether the store is given the record again: the same, except that Rust compares a
        # definition byte for byte with what the writer writes, so a valid record in another
        # layout (here: a leading "v") is rewritten (the safe way; the writer's own never is).
        if text is not None and text.startswith('{"v"'):
            assert r[6] >= p[6]
            r, p = r[:6] + r[7:], p[:6] + p[7:]
        assert r == p


def test_arming_in_rust_restores_what_the_record_and_the_row_say() -> None:
    record = json.loads(_written_line("j", 1))
    record.update(next_run=T0 - 7.5, last_run=T0 - 10, run_count=3, recent=["failed"] * 3 + ["completed"] * 4)
    text = json.dumps(record, separators=(",", ":"))
    (only,) = _armed([(text, None)], ["interval"], in_rust=True)
    _, engine, last_run, recent, finished, _, write, _ = only
    # Due at once (its fire passed), on its own grid; counters and the last 5 outcomes back.
    assert engine == (T0 - 7.5, False, 3, 0, 0) and last_run == T0 - 10 and not finished
    assert recent == ("failed",) + ("completed",) * 4 and not write
    row = ("j", T0 + 5.0, True, 4, 1, 0, T0 - 1)
    (only,) = _armed([(text, row)], ["interval"], in_rust=True)
    _, engine, last_run, recent, _, _, write, unrowed = only
    # The row is the truth for time, pause and counters; the record, out of date, is rewritten.
    assert engine == (T0 + 5.0, True, 4, 1, 0) and last_run == T0 - 1 and write and not unrowed
    assert recent == ("failed",) + ("completed",) * 4


def test_a_job_id_that_is_not_text_is_named_not_a_crash(tmp_path: Path) -> None:
    """SQLite stores what it is given: a BLOB job id (or record) is a damaged row, refused by name
    like any other, never a TypeError out of start()."""
    url = _with_row(tmp_path, "CAST('q' AS BLOB)", '{"job_id":"q","defaults":1}')
    s2 = FastScheduler(database_url=url, quiet=True, clock=ManualClock(T0))
    s2.every(10).seconds.id("a").do(tick)
    with pytest.raises(
        StorageFormatError,
        match=r"holds a damaged record in fastscheduler_jobs row b'q': its job id is not text; "
        r"nothing was changed: fix or delete that row$",
    ):
        s2.start()
    assert not s2.running

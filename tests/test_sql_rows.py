"""The SQL store's batched writes (issue 14) on SQLite, PostgreSQL and MariaDB: job and history
rows serialised in Rust and unpacked by the server in one statement per array
(``fastscheduler/stores/_bulk.py``) store exactly what the record dicts stored, whatever the
flush interval or batch size, and the ``executemany`` fallback stores the same rows."""

from __future__ import annotations

import contextlib
import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from stores_support import SQL_KINDS, dispose_admin_engines, server_database

from fastscheduler import EventType, FastScheduler, ManualClock
from fastscheduler.stores import Changes, Limits, StoredState
from fastscheduler.stores._bulk import BulkRows
from fastscheduler.stores.json_file import JSONStorageBackend
from fastscheduler.stores.sql import SQLModelStorageBackend

NOW = 1_780_000_000.0
LIMITS = Limits(max_history=50)


@pytest.fixture(scope="module", autouse=True)
def _admin_engines() -> Iterator[None]:
    yield
    dispose_admin_engines()


@contextlib.contextmanager
def database(kind: str, tmp_path: Path, name: str) -> Iterator[str]:
    """A fresh database of ``kind``: its URL."""
    if kind in ("sqlite", "json"):
        yield f"sqlite:///{tmp_path / name}.db"
        return
    with server_database(kind) as url:
        yield url


class DictsOnly(SQLModelStorageBackend):
    """The SQL store taking every job and history record as a dict (the path before rows)."""

    accepts_rows = False


def tick(*args: Any, **kwargs: Any) -> None:
    pass


def boom() -> None:
    raise RuntimeError("boom ✗")


class Opaque:
    """An argument that is not a plain value (stored by its JSON-able form, made in Python)."""

    def __repr__(self) -> str:
        return "Opaque()"


def run_workload(store: SQLModelStorageBackend, url: str) -> StoredState:
    """Jobs of every shape (plain and non-plain arguments, keyword arguments, a unicode id, a
    paused job, a job that fails and is retried, a finished one-shot) run for a while on a
    manual clock; then what ``store`` holds after ``stop()``."""
    clock = ManualClock(NOW)
    s = FastScheduler(storage=store, quiet=True, clock=clock, max_history=50, timezone="UTC")
    for i in range(40):
        s.every(10 + i % 4).seconds.do(tick, i, f"arg-{i}", 1.5, None, True)
    s.every(10).seconds.id("kwargs").do(tick, 1, flag="on")
    s.every(11).seconds.id("not-plain").do(tick, [1, {"a": 2}])
    s.every(12).seconds.id("größe-🙂-job").name("Größe 🙂").do(tick)
    s.every(13).seconds.id("paused").do(tick)
    s.every(15).seconds.id("fails").retries(1).do(boom)
    s.once(20).seconds.id("one-shot").do(tick)
    s.start()
    s.pause_job("paused")
    for _ in range(12):
        clock.advance(7)
    s.stop()
    reader = SQLModelStorageBackend(url)
    try:
        return reader.read(LIMITS)
    finally:
        reader.close()


def _comparable(state: StoredState) -> tuple[Any, ...]:
    # (runs of one instant finish in any order on the worker threads: history as a multiset)
    history = sorted(
        json.dumps({k: v for k, v in h.items() if k != "execution_time"}, sort_keys=True)
        for h in state.history
    )
    dead = [
        {k: v for k, v in d.items() if k not in ("execution_time", "traceback")} for d in state.dead_letters
    ]
    return state.jobs, history, dead, state.stats


@pytest.mark.parametrize("kind", SQL_KINDS)
def test_rows_from_rust_store_what_the_record_dicts_stored(kind: str, tmp_path: Path) -> None:
    with database(kind, tmp_path, "rows") as rows_url, database(kind, tmp_path, "dicts") as dicts_url:
        rows = run_workload(SQLModelStorageBackend(rows_url, flush_interval=0), rows_url)
        dicts = run_workload(DictsOnly(dicts_url, flush_interval=0), dicts_url)
        # In the database the rows made in Rust leave the defaults out (the loader puts them back).
        with contextlib.closing(SQLModelStorageBackend(rows_url)) as store, store.engine.connect() as conn:
            text = conn.execute(
                sa.text("SELECT record FROM fastscheduler_jobs WHERE job_id = 'paused'")
            ).scalar_one()
    assert json.loads(text)["defaults"] == 1 and "kwargs" not in json.loads(text)
    assert _comparable(rows) == _comparable(dicts)
    assert len(rows.jobs) == 46 and rows.jobs["paused"]["paused"] is True
    assert rows.jobs["kwargs"]["kwargs"] == {"flag": "on"}
    assert rows.jobs["größe-🙂-job"]["name"] == "Größe 🙂"
    assert rows.jobs["fails"]["failure_count"] >= 1 and rows.dead_letters
    assert rows.jobs["one-shot"]["finished"] is True and rows.jobs["one-shot"]["next_run"] is None
    assert len(rows.history) == 50


@pytest.mark.parametrize("kind", SQL_KINDS)
def test_the_stored_state_is_the_same_whatever_the_flush_interval(kind: str, tmp_path: Path) -> None:
    """Each change written as it comes, or everything in the one write stop() makes: the same."""
    with database(kind, tmp_path, "each") as each_url, database(kind, tmp_path, "once") as once_url:
        each = run_workload(SQLModelStorageBackend(each_url, flush_interval=0), each_url)
        once = run_workload(SQLModelStorageBackend(once_url, flush_interval=3600), once_url)
    assert _comparable(each) == _comparable(once)


def _doc(rows: list[list[Any]]) -> bytes:
    return json.dumps(rows, ensure_ascii=False).encode()


def _job_rows(n: int, k: int) -> list[list[Any]]:
    return [
        [
            f"job-{i}-ü🙂",
            json.dumps({"job_id": f"job-{i}-ü🙂", "k": k, "text": "a\"b\n'c"}),
            None if i % 3 == 0 else NOW + i + k,
        ]
        for i in range(n)
    ]


def _history_rows(n: int, k: int) -> list[list[Any]]:
    return [
        [
            "h" * 600 if i == 0 else f"job-{i}",
            "s" * 100 if i == 1 else "completed",
            NOW + k + i / 1000,
            json.dumps({"i": i, "k": k}),
        ]
        for i in range(n)
    ]


def _tables(store: SQLModelStorageBackend) -> tuple[Any, Any]:
    with store.engine.connect() as conn:
        jobs = sorted(
            conn.execute(sa.text("SELECT job_id, record, next_run, updated_at FROM fastscheduler_jobs")).all()
        )
        history = conn.execute(
            sa.text('SELECT job_id, status, "timestamp", record FROM fastscheduler_history ORDER BY id')
            if store.engine.dialect.name != "mysql"
            else sa.text("SELECT job_id, status, `timestamp`, record FROM fastscheduler_history ORDER BY id")
        ).all()
    return [tuple(r) for r in jobs], [tuple(r) for r in history]


@pytest.mark.parametrize("kind", SQL_KINDS)
def test_one_statement_per_array_stores_what_executemany_stores(kind: str, tmp_path: Path) -> None:
    """The server unpacks a JSON array of rows (unicode, quotes, null next runs, upserts, history
    order, over-long history ids and statuses cut to their columns) into exactly the rows that
    the ``executemany`` fallback writes."""
    tables = []
    with database(kind, tmp_path, "unpack") as a_url, database(kind, tmp_path, "fallback") as b_url:
        for url, unpack in ((a_url, True), (b_url, False)):
            store = SQLModelStorageBackend(url)
            store.open(Limits(max_history=10_000))
            assert store._bulk.unpack, "every server fastscheduler tests can unpack JSON arrays"
            store._bulk = BulkRows(store._bulk.dialect, unpack=unpack)
            for k in range(3):  # the second and third upsert what the first inserted
                store.write(
                    Changes(
                        job_rows=[_doc(_job_rows(300, k)), _doc(_job_rows(50, k + 10))],
                        job_row_count=350,
                        history_rows=[_doc(_history_rows(200, k))],
                        history_row_count=200,
                    ),
                    NOW + k,
                )
            tables.append(_tables(store))
            store.close()
    (jobs_a, history_a), (jobs_b, history_b) = tables
    assert jobs_a == jobs_b and history_a == history_b
    assert len(jobs_a) == 300 and len(history_a) == 600
    assert history_a[0][0] == "h" * 512 and history_a[1][1] == "s" * 64
    assert [json.loads(h[3])["i"] for h in history_a[:200]] == list(range(200))
    by_id = {j[0]: j for j in jobs_a}
    assert by_id["job-0-ü🙂"][2] is None and json.loads(by_id["job-5-ü🙂"][1])["k"] == 12
    assert json.loads(by_id["job-5-ü🙂"][1])["text"] == "a\"b\n'c"


@pytest.mark.parametrize("kind", SQL_KINDS)
@pytest.mark.parametrize("size", [1, 3, 10])
def test_any_batch_size_gives_the_same_rows(kind: str, size: int, tmp_path: Path) -> None:
    """Batches of rows merged ``size`` at a time (what the saver does while a write is pending or
    failed) give the same tables as one write per batch."""
    batches = [
        Changes(
            job_rows=[_doc(_job_rows(20 + k, k))],
            job_row_count=20 + k,
            history_rows=[_doc(_history_rows(5, k))],
            history_row_count=5,
        )
        for k in range(10)
    ]
    tables = []
    with database(kind, tmp_path, "one") as a_url, database(kind, tmp_path, "merged") as b_url:
        store = SQLModelStorageBackend(a_url)
        store.open(Limits(max_history=10_000))
        for batch in batches:
            store.write(copy.deepcopy(batch), NOW)
        tables.append(_tables(store))
        store.close()
        store = SQLModelStorageBackend(b_url)
        store.open(Limits(max_history=10_000))
        for start in range(0, len(batches), size):
            group = copy.deepcopy(batches[start])
            for later in batches[start + 1 : start + size]:
                group.merge(copy.deepcopy(later))
            store.write(group, NOW)
        tables.append(_tables(store))
        store.close()
    assert tables[0] == tables[1]


def test_job_rows_cannot_be_followed_by_older_records_in_a_merge() -> None:
    batch = Changes(job_rows=[_doc(_job_rows(2, 0))], job_row_count=2)
    with pytest.raises(ValueError, match="job rows cannot be followed by job records or deletions"):
        batch.merge(Changes(deleted_jobs={"job-0-ü🙂"}))


@pytest.mark.parametrize("bad", [-1, 3601, "1", True, float("nan")])
def test_a_bad_flush_interval_is_refused(bad: Any) -> None:
    with pytest.raises(ValueError, match="flush_interval must be a number of seconds from 0 to 3600, got"):
        SQLModelStorageBackend("sqlite://", flush_interval=bad)


def _named(name: str) -> Any:
    def job() -> None:
        pass

    job.__qualname__ = job.__name__ = name
    return job


@pytest.mark.parametrize("kind", ["json", *SQL_KINDS])
def test_a_name_rust_cannot_encode_is_written_by_python_and_the_others_still_are(
    kind: str, tmp_path: Path
) -> None:
    """A lone surrogate in a job's name (Rust's strings are valid Unicode) leaves that job's
    record to Python; it does not stop the saver writing every other job."""
    with database(kind, tmp_path, "sur") as url:
        store: Any = (
            JSONStorageBackend(tmp_path / "state.json", flush_interval=0)
            if kind == "json"
            else SQLModelStorageBackend(url, flush_interval=0)
        )
        s = FastScheduler(storage=store, quiet=True, clock=ManualClock(NOW), timezone="UTC")
        s.every(10).seconds.id("named").name("n\ud800").do(tick)
        s.every(10).seconds.id("plain").do(tick)
        s.start()
        s.run_job_now("plain")
        assert s.stop(wait=True, timeout=10) is not False
        reader: Any = (
            JSONStorageBackend(tmp_path / "state.json") if kind == "json" else SQLModelStorageBackend(url)
        )
        state = reader.read(LIMITS)
        reader.close()
    assert set(state.jobs) == {"named", "plain"}
    assert state.jobs["named"]["name"] == "n\ud800"


def test_a_control_character_in_a_function_name_becomes_a_question_mark_in_its_id() -> None:
    s = FastScheduler(storage="memory", quiet=True)
    job_id = s.every(10).seconds.do(_named("nul\x00a\tb"))
    assert job_id == f"{__name__}.nul?a?b:every:10s"


@pytest.mark.parametrize("kind", SQL_KINDS)
def test_state_saved_counts_the_rows_it_wrote(kind: str, tmp_path: Path) -> None:
    seen: list[dict[str, Any]] = []
    with database(kind, tmp_path, "ev") as url:
        clock = ManualClock(NOW)
        s = FastScheduler(
            storage=SQLModelStorageBackend(url, flush_interval=0), quiet=True, clock=clock, timezone="UTC"
        )
        s.subscribe(lambda e: seen.append(e.data) if e.type is EventType.STATE_SAVED else None)
        for i in range(6):
            s.every(5).seconds.do(tick, i)
        s.start()
        for _ in range(5):
            clock.advance(5)
            s._rt.persistence.saver.flush()  # type: ignore[union-attr]
        s.stop()
    assert sum(d["jobs"] for d in seen) >= 6 * 6  # every job's record at start, then each run's state
    assert sum(d["history"] for d in seen) == 30


@pytest.mark.parametrize("kind", SQL_KINDS)
def test_arrays_are_cut_at_the_store_size_and_everything_arrives(kind: str, tmp_path: Path) -> None:
    """Rows made in Rust and in Python go in arrays of at most ``rows_array_bytes`` (MySQL's
    packet limit): many statements, every row stored, history in order."""
    with database(kind, tmp_path, "cut") as url:
        store = SQLModelStorageBackend(url, flush_interval=3600)
        store.rows_array_bytes = 3000
        statements: list[str] = []
        sa.event.listen(store.engine, "before_cursor_execute", lambda c, cur, st, *a: statements.append(st))
        clock = ManualClock(NOW)
        s = FastScheduler(storage=store, quiet=True, clock=clock, timezone="UTC", max_history=1000)
        for i in range(200):
            s.every(5).seconds.do(tick, i, "x" * 50)
        s.every(5).seconds.id("kw").do(tick, big="y" * 5000)  # a record made in Python, alone
        s.every(5).seconds.id("fails").retries(0).do(_fails_long)
        s.start()
        clock.advance(5)
        s.stop()
        state = SQLModelStorageBackend(url).read(Limits(max_history=1000))
    inserts = [st for st in statements if st.lstrip().upper().startswith("INSERT INTO FASTSCHEDULER_JOBS")]
    assert len(inserts) > 10
    assert len(state.jobs) == 202 and state.jobs["kw"]["kwargs"] == {"big": "y" * 5000}
    assert len(state.history) == 202 and any(h["status"] == "failed" for h in state.history)


def _fails_long() -> None:
    raise RuntimeError("e" * 2000)


def test_history_records_kept_from_a_failed_batch_stay_before_newer_rows() -> None:
    from fastscheduler._saver import _history_as_records

    older = Changes(history=[{"v": 1, "job_id": "h1"}])
    older.merge(
        Changes(history_rows=[_doc([["h2", "completed", NOW, json.dumps({"v": 1, "job_id": "h2"})]])])
    )
    merged = _history_as_records(older)
    merged.merge(Changes(history=[{"v": 1, "job_id": "h3"}]))
    assert [h["job_id"] for h in merged.history] == ["h1", "h2", "h3"]

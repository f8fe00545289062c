"""Issue 14: a cluster's first start creates many rows at once, a restart writes none, and start()
keeps the garbage collector out of its way (benches/cluster_scale_report.py measures 1,000,000).

``SQLCoordinator.ensure`` sends a batch of at least ``_COPY_MIN`` new jobs with ``COPY`` on
PostgreSQL (psycopg); a batch that meets rows already there (a peer was first) goes through
``INSERT ... ON CONFLICT DO NOTHING`` instead and follows those rows. MariaDB takes the portable
path (``INSERT IGNORE`` of many rows per statement).
"""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from stores_support import SERVER_KINDS, server_database

from fastscheduler import FastScheduler, ManualClock
from fastscheduler.cluster import COUNTS, SCHEDULE, ClusterConfig
from fastscheduler.coordination import sql as coordination_sql
from fastscheduler.stores import Limits, StoredState
from fastscheduler.stores.memory import MemoryStorageBackend
from fastscheduler.stores.schema import create_schema
from fastscheduler.stores.sql import normalize_database_url

T0 = 1_780_000_000.123457  # a fraction: the rows must hold each time exactly
N = coordination_sql._COPY_MIN + 200
# Ids COPY's text format must escape (backslashes; ids hold no control characters), and some it
# need not (quotes, a comma, non-ASCII, the text of a NULL).
ODD_IDS = ["back\\slash", "\\N", "\\t not a tab", "quote'\"", "comma,x", "ünï—код", "sp ace"]


def noop() -> None:
    pass


def _ids() -> list[str]:
    return [f"job-{i:05d}" for i in range(N - len(ODD_IDS))] + ODD_IDS


def _scheduler(url: str, name: str) -> FastScheduler:
    s = FastScheduler(
        database_url=url, quiet=True, clock=ManualClock(T0), cluster=ClusterConfig(instance_id=name)
    )
    for i, job_id in enumerate(_ids()):
        s.every(i + 1).seconds.id(job_id).do(noop)
    return s


def _rows(engine: sa.Engine) -> dict[str, tuple[object, ...]]:
    with engine.connect() as conn:
        schedule = {
            r[0]: tuple(r[1:])
            for r in conn.execute(
                sa.select(SCHEDULE.c.job_id, SCHEDULE.c.next_run, SCHEDULE.c.paused, SCHEDULE.c.updated_at)
            )
        }
        counts = {
            r[0]: tuple(r[1:])
            for r in conn.execute(
                sa.select(COUNTS.c.job_id, COUNTS.c.run_count, COUNTS.c.failure_count, COUNTS.c.retry_count)
            )
        }
    return {job_id: (*row, *counts.get(job_id, ())) for job_id, row in schedule.items()}


@pytest.fixture(params=SERVER_KINDS)
def url(request: pytest.FixtureRequest) -> Iterator[str]:
    with server_database(request.param) as made:
        yield made


@pytest.fixture
def copies(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Each COPY ensure() sends: its table, and " refused" when the server refused it."""
    seen: list[str] = []
    inner = coordination_sql._copy

    def spy(cursor: object, table: str, *args: object) -> None:
        try:
            inner(cursor, table, *args)  # type: ignore[arg-type]
        except Exception:
            seen.append(f"{table} refused")
            raise
        seen.append(table)

    monkeypatch.setattr(coordination_sql, "_copy", spy)
    return seen


def test_a_first_start_creates_every_row_and_a_restart_writes_none(url: str, copies: list[str]) -> None:
    first = _scheduler(url, "a")
    first.start()
    first.stop()
    if url.startswith("postgresql"):
        assert copies == ["fastscheduler_schedule", "fastscheduler_job_counts"]
    engine = sa.create_engine(normalize_database_url(url))
    rows = _rows(engine)
    assert sorted(rows) == sorted(_ids())  # odd ids too, byte for byte
    for i, job_id in enumerate(_ids()):
        assert rows[job_id] == (T0 + i + 1, False, T0, 0, 0, 0), job_id

    again = _scheduler(url, "b")
    again.start()
    mine, theirs = again.get_job("back\\slash"), first.get_job("back\\slash")
    assert mine is not None and theirs is not None
    assert mine["next_run_timestamp"] == theirs["next_run_timestamp"]
    again.stop()
    assert _rows(engine) == rows  # not even updated_at moved
    assert len(copies) == (2 if url.startswith("postgresql") else 0)  # nothing sent on restart
    engine.dispose()


def test_new_jobs_meeting_rows_of_a_peer_follow_those_rows(url: str, copies: list[str]) -> None:
    """The batch meets rows a peer made (COPY refuses them on PostgreSQL: the batch is sent again
    with ON CONFLICT DO NOTHING): those jobs take the peer's next fire, pause and counters; a job
    whose counters were there without a schedule row gets one; every other job gets its own rows."""
    engine = sa.create_engine(normalize_database_url(url))
    create_schema(engine, "the test database")
    peer_next = T0 + 5000.0
    with engine.begin() as conn:
        conn.execute(
            sa.insert(SCHEDULE),
            [
                {"job_id": "job-00007", "next_run": peer_next, "paused": True, "updated_at": 1.0},
                {"job_id": "back\\slash", "next_run": peer_next, "paused": False, "updated_at": 1.0},
            ],
        )
        conn.execute(
            sa.insert(COUNTS),
            [
                {
                    "job_id": "job-00007",
                    "run_count": 7,
                    "failure_count": 2,
                    "retry_count": 1,
                    "last_run": T0 - 9,
                },
                {
                    "job_id": "back\\slash",
                    "run_count": 3,
                    "failure_count": 0,
                    "retry_count": 0,
                    "last_run": None,
                },
                # Counters left without a schedule row: the schedule row is made, the counters kept.
                {
                    "job_id": "job-00900",
                    "run_count": 4,
                    "failure_count": 0,
                    "retry_count": 0,
                    "last_run": None,
                },
            ],
        )
    s = _scheduler(url, "late")
    s.start()
    if url.startswith("postgresql"):
        assert copies == ["fastscheduler_schedule", "fastscheduler_job_counts refused"]
    try:
        paused = s.get_job("job-00007")
        assert paused is not None
        assert (paused["paused"], paused["next_run_timestamp"], paused["run_count"]) == (True, peer_next, 7)
        odd = s.get_job("back\\slash")
        assert odd is not None and (odd["next_run_timestamp"], odd["run_count"]) == (peer_next, 3)
        fresh = s.get_job("job-00008")
        assert fresh is not None and fresh["next_run_timestamp"] == T0 + 9
    finally:
        s.stop()
    rows = _rows(engine)
    assert len(rows) == N
    assert rows["job-00007"] == (peer_next, True, 1.0, 7, 2, 1)
    assert rows["back\\slash"] == (peer_next, False, 1.0, 3, 0, 0)
    assert rows["job-00900"] == (T0 + 901, False, T0, 4, 0, 0)
    assert rows["job-00008"] == (T0 + 9, False, T0, 0, 0, 0)
    engine.dispose()


def test_rows_are_checked_in_bulk_as_the_validator_would() -> None:
    ok = ("a", T0, False, 0, 0, 0, None)
    assert coordination_sql._plausible([ok, ("b", None, True, 3, 1, 0, T0)])
    assert coordination_sql._plausible([])
    for bad in [
        ("b", float("nan"), False, 0, 0, 0, None),
        ("b", float("inf"), False, 0, 0, 0, None),
        ("b", T0, False, 0, 0, 0, -1e12),  # before year 1
        ("b", "soon", False, 0, 0, 0, None),
        ("b", T0, False, -5, 0, 0, None),
        ("b", T0, False, 0, 2**63, 0, None),
        ("b", T0, False, 0, 0, 1.5, None),
    ]:
        assert not coordination_sql._plausible([ok, bad]), bad  # the validator then names the row


class _Probe(MemoryStorageBackend):
    """A store that records whether the collector ran while start() opened it, and may fail."""

    def __init__(self, fail: bool = False) -> None:
        super().__init__()
        self.fail = fail
        self.collector_enabled: bool | None = None

    def open(self, limits: Limits) -> StoredState:
        self.collector_enabled = gc.isenabled()
        if self.fail:
            raise OSError("no store today")
        return super().open(limits)


def test_start_pauses_the_garbage_collector_and_gives_it_back() -> None:
    assert gc.isenabled()
    store = _Probe()
    s = FastScheduler(storage=store, quiet=True, clock=ManualClock(T0))
    s.every(10).seconds.do(noop)
    s.start()
    assert store.collector_enabled is False
    assert gc.isenabled()
    s.stop()

    failing = FastScheduler(storage=_Probe(fail=True), quiet=True, clock=ManualClock(T0))
    with pytest.raises(OSError, match="no store today"):
        failing.start()
    assert gc.isenabled()

    gc.disable()  # the program's own choice stays
    try:
        s.start()
        assert not gc.isenabled()
        s.stop()
    finally:
        gc.enable()


@pytest.mark.parametrize("path", ["fast", "portable"])
def test_ensure_returns_the_rows_a_peer_made_meanwhile(url: str, copies: list[str], path: str) -> None:
    """Rows made by a peer between join() and ensure() (the race of instances starting together):
    ensure() leaves them as they are, returns them, and creates the others. ``fast``: COPY and
    arrays on PostgreSQL, JSON_TABLE on MariaDB; ``portable``: executemany (any other driver)."""
    engine = sa.create_engine(normalize_database_url(url))
    create_schema(engine, "the test database")
    ids = _ids()
    peer: dict[str, tuple[float | None, bool, int]] = {
        "job-00003": (T0 + 50, True, 5),
        "\\N": (None, False, 0),
        "job-01000": (T0 + 60, False, 2),
    }
    with engine.begin() as conn:
        for job_id, (next_run, paused, runs) in peer.items():
            conn.execute(
                sa.insert(SCHEDULE).values(job_id=job_id, next_run=next_run, paused=paused, updated_at=1.0)
            )
            conn.execute(
                sa.insert(COUNTS).values(
                    job_id=job_id, run_count=runs, failure_count=0, retry_count=0, last_run=None
                )
            )
    coordinator = coordination_sql.SQLCoordinator(engine, ClusterConfig(instance_id="x"), lambda: T0)
    postgresql = url.startswith("postgresql")
    if path == "portable":
        coordinator._json_table = False
        coordinator._ensure_psycopg = lambda *args: None  # type: ignore[method-assign,assignment]
    first: dict[str, float | None] = {job_id: T0 + i + 1 for i, job_id in enumerate(ids)}
    rows = coordinator.ensure(first)
    for job_id, (next_run, paused, runs) in peer.items():
        assert (rows[job_id].next_run, rows[job_id].paused, rows[job_id].run_count) == (
            next_run,
            paused,
            runs,
        )
    for job_id, row in rows.items():  # anything else returned is a row as this call made it
        assert job_id in peer or (row.next_run, row.paused, row.run_count) == (first[job_id], False, 0)
    if path == "fast":
        if postgresql:  # only those: RETURNING says which rows this call made
            assert sorted(rows) == sorted(peer)
        assert copies == (["fastscheduler_schedule refused"] if postgresql else [])
        assert coordinator._json_table is (None if postgresql else True)
    else:
        assert copies == []
    stored = _rows(engine)
    assert len(stored) == len(ids)
    assert stored["job-00003"] == (T0 + 50, True, 1.0, 5, 0, 0)
    assert stored["job-00004"] == (T0 + 5, False, T0, 0, 0, 0)
    again = coordinator.ensure(first)  # every row there now: each returned as stored
    assert len(again) == len(ids) and again["job-00003"].paused and again["job-00004"].next_run == T0 + 5
    engine.dispose()


@pytest.mark.parametrize("many", [False, True])
def test_a_failing_ensure_raises_sqlalchemys_error_and_writes_nothing(many: bool) -> None:
    """What psycopg refuses (an id longer than the column) comes out as SQLAlchemy's error, which
    the maintenance loop retries, whatever path the batch took (COPY for many jobs); the
    transaction is rolled back whole. (MariaDB's INSERT IGNORE cuts such an id short instead, as
    the cluster's inserts always did there.)"""
    with server_database("postgresql") as url:
        _fails_whole(url, many)


def _fails_whole(url: str, many: bool) -> None:
    engine = sa.create_engine(normalize_database_url(url))
    create_schema(engine, "the test database")
    coordinator = coordination_sql.SQLCoordinator(engine, ClusterConfig(instance_id="x"), lambda: T0)
    first: dict[str, float | None] = {f"job-{i:05d}": T0 for i in range(N if many else 3)}
    first["y" * 600] = T0
    with pytest.raises(sa.exc.SQLAlchemyError):
        coordinator.ensure(first)
    assert _rows(engine) == {}
    engine.dispose()

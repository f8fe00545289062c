"""State that survives restarts and crashes, for every backend (memory, JSON, SQLite, PostgreSQL,
MariaDB): restore on registration, catch-up, orphans, damaged files, single-instance locks,
coalesced writes, outages, and SIGKILL at random moments."""

from __future__ import annotations

import json
import os
import random
import re
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from stores_support import ALL_KINDS, admin_engine, server_database

from fastscheduler import FastScheduler, ManualClock
from fastscheduler._core import encode_job_records
from fastscheduler.stores import (
    Changes,
    Limits,
    MemoryStorageBackend,
    StorageFormatError,
    StorageLockedError,
)
from fastscheduler.stores._records import with_defaults
from fastscheduler.stores.json_file import JSONStorageBackend

T0 = 1_780_000_000.0  # 2026-05-28T20:26:40Z
DAY = 86400.0

Make = Callable[..., FastScheduler]


def tick() -> None:
    pass


def other() -> None:
    pass


def boom() -> None:
    raise RuntimeError("boom")


@pytest.fixture(params=ALL_KINDS)
def make(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Make]:
    """``make(clock, **kwargs)``: a scheduler on this test's store (each call a new scheduler on the
    same storage, as a restarted process would make)."""
    kind: str = request.param
    made: list[FastScheduler] = []
    with _location(kind, tmp_path) as location:
        memory = MemoryStorageBackend()

        def factory(clock: ManualClock, **kwargs: Any) -> FastScheduler:
            if kind == "memory":
                kwargs["storage"] = memory
            elif kind == "json":
                kwargs["state_file"] = location
            else:
                kwargs.update(storage="sqlmodel", database_url=location)
            s = FastScheduler(quiet=True, clock=clock, timezone="UTC", **kwargs)
            made.append(s)
            return s

        yield factory
        for s in made:
            s.stop(wait=True, timeout=5)


class _location:
    def __init__(self, kind: str, tmp_path: Path) -> None:
        self.kind, self.tmp_path = kind, tmp_path
        self._db: Any = None

    def __enter__(self) -> str:
        if self.kind in ("memory", "json"):
            return str(self.tmp_path / "state.json")
        if self.kind == "sqlite":
            return f"sqlite:///{self.tmp_path / 'state.db'}"
        self._db = server_database(self.kind)
        url: str = self._db.__enter__()
        return url

    def __exit__(self, *exc: object) -> None:
        if self._db is not None:
            self._db.__exit__(*exc)


def test_restart_restores_counters_pause_history_and_statistics(make: Make) -> None:
    clock = ManualClock(T0)
    s1 = make(clock)
    job_id = s1.every(10).seconds.do(tick)
    s1.every(10).seconds.retries(0).do(boom)
    s1.start()
    clock.advance(30)
    assert s1.get_job(job_id)["run_count"] == 3  # type: ignore[index]
    assert s1.pause_job(job_id)
    s1.stop()

    clock = ManualClock(T0 + 35)
    s2 = make(clock)
    assert s2.every(10).seconds.do(tick) == job_id
    s2.every(10).seconds.retries(0).do(boom)
    s2.start()
    record = s2.get_job(job_id)
    assert record is not None
    assert record["paused"] is True and record["status"] == "paused"
    assert record["run_count"] == 3
    assert record["last_run_timestamp"] == T0 + 30
    assert record["last_results"] == ["completed"] * 3
    stats = s2.get_statistics()
    assert (stats["total_runs"], stats["total_failures"]) == (6, 3)
    assert [e.status for e in s2.get_history(func_name="tick")] == ["completed"] * 3
    assert len(s2.get_dead_letters()) == 3
    assert s2.get_dead_letters()[0].error_message == "boom"
    # Paused stays paused: no run of tick while time passes.
    clock.advance(60)
    assert s2.get_job(job_id)["run_count"] == 3  # type: ignore[index]


def test_catch_up_coalesces_missed_runs_and_no_catch_up_skips_them(make: Make) -> None:
    clock = ManualClock(T0)
    s1 = make(clock)
    interval = s1.every(10).seconds.do(tick)
    skipper = s1.every(10).seconds.no_catch_up().do(other)
    daily = s1.cron("0 9 * * *", tz="UTC").do(tick)
    s1.start()
    clock.advance(10)  # one run each of the interval jobs, at T0 + 10
    s1.stop()

    # Down for two days and a bit: the interval jobs missed many fires, the daily one two.
    clock = ManualClock(T0 + 2 * DAY + 65)
    s2 = make(clock)
    assert s2.every(10).seconds.do(tick) == interval
    assert s2.every(10).seconds.no_catch_up().do(other) == skipper
    assert s2.cron("0 9 * * *", tz="UTC").do(tick) == daily
    s2.start()
    clock.advance(0)  # what is due now runs now
    runs = {j["job_id"]: j["run_count"] for j in s2.get_jobs()}
    assert runs == {interval: 2, skipper: 1, daily: 1}
    missed = {e.job_id: e.error for e in s2.get_history(limit=100) if e.status == "missed"}
    fires = int((2 * DAY + 65 - 20) // 10) + 1  # T0+20 ... T0+2d+60
    assert missed[interval] == f"{fires - 1} run(s) missed: the scheduler was not running on time"
    assert missed[skipper] == (
        f"{fires} run(s) missed: the scheduler was not running on time, and catch-up is off for this job"
    )
    assert missed[daily] == "1 run(s) missed: the scheduler was not running on time"
    # The grid is kept: the next interval fire is on the old 10 s grid.
    assert s2.get_job(interval)["next_run_timestamp"] == T0 + 2 * DAY + 70  # type: ignore[index]


def test_orphans_are_kept_shown_never_run_and_removable(make: Make) -> None:
    clock = ManualClock(T0)
    s1 = make(clock)
    keep = s1.every(10).seconds.do(tick)
    gone = s1.every(10).seconds.do(other)
    s1.start()
    clock.advance(10)
    s1.stop()

    clock = ManualClock(T0 + 15)
    s2 = make(clock)
    s2.every(10).seconds.do(tick)
    s2.start()
    clock.advance(30)
    orphan = s2.get_job(gone)
    assert orphan is not None and orphan["status"] == "orphaned" and orphan["orphaned"] is True
    assert orphan["run_count"] == 1  # never run since
    assert [j["job_id"] for j in s2.get_jobs()] == [keep, gone]
    assert not s2.run_job_now(gone) and not s2.pause_job(gone)
    s2.stop()

    s3 = make(ManualClock(T0 + 50), remove_orphaned=True)
    s3.every(10).seconds.do(tick)
    s3.start()
    assert s3.get_job(gone) is None
    s3.stop()
    s4 = make(ManualClock(T0 + 60))
    s4.start()
    assert [j["job_id"] for j in s4.get_jobs()] == [keep]  # tick unregistered here: an orphan
    assert s4.get_jobs()[0]["status"] == "orphaned"


def test_args_and_kwargs_are_stored_when_json_serialisable(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    s = FastScheduler(state_file=str(path), quiet=True, clock=ManualClock(T0))
    a = s.every(10).seconds.do(tick_with, 1, "x", flag=True)
    b = s.every(10).seconds.do(tick_with, object())
    s.start()
    s.stop()
    jobs = JSONStorageBackend(path).read(Limits()).jobs  # the records, not the file's layout
    assert (jobs[a]["args"], jobs[a]["kwargs"]) == ([1, "x"], {"flag": True})
    assert jobs[b]["args"] is None  # not serialisable: not stored, the code passes it again
    assert jobs[a]["v"] == 1 and jobs[a]["spec"]["interval"] == 10


def tick_with(*args: Any, **kwargs: Any) -> None:
    pass


def test_a_damaged_state_file_is_an_error_naming_it_and_is_kept_aside(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    damaged = b'{"v": 1, "jobs": {"a": '
    path.write_bytes(damaged)
    s = FastScheduler(state_file=str(path), quiet=True, clock=ManualClock(T0))
    with pytest.raises(StorageFormatError, match=str(path)):
        s.start()
    assert not s.running
    kept = [p for p in tmp_path.iterdir() if p.name.startswith("state.json.corrupt-")]
    assert len(kept) == 1 and kept[0].read_bytes() == damaged


def test_a_newer_format_is_refused_and_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    text = json.dumps({"v": 99, "jobs": {}, "history": [], "dead_letters": [], "stats": {}})
    path.write_text(text)
    s = FastScheduler(state_file=str(path), quiet=True, clock=ManualClock(T0))
    with pytest.raises(StorageFormatError, match="newer fastscheduler"):
        s.start()
    assert path.read_text() == text


_HOLDER = textwrap.dedent(
    """
    import sys, time
    from fastscheduler import FastScheduler
    s = FastScheduler(state_file=sys.argv[1], quiet=True)
    s.start()
    print("started", flush=True)
    time.sleep(60)
    """
)


@pytest.mark.parametrize("kind", ["json", "sqlite"])
def test_a_second_process_on_the_same_file_refuses_to_start(tmp_path: Path, kind: str) -> None:
    location = str(tmp_path / "state.json") if kind == "json" else f"sqlite:///{tmp_path / 'state.db'}"
    script = (
        _HOLDER
        if kind == "json"
        else _HOLDER.replace("state_file=sys.argv[1]", 'storage="sqlmodel", database_url=sys.argv[1]')
    )
    holder = subprocess.Popen([sys.executable, "-c", script, location], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "started"
        s = (
            FastScheduler(state_file=location, quiet=True)
            if kind == "json"
            else FastScheduler(storage="sqlmodel", database_url=location, quiet=True)
        )
        with pytest.raises(StorageLockedError, match="single-instance"):
            s.start()
        assert not s.running
    finally:
        holder.kill()
        holder.wait()
        assert holder.stdout is not None
        holder.stdout.close()
    s.start()  # the lock went with the process
    s.stop()


class _SlowCountingBackend(MemoryStorageBackend):
    def __init__(self, delay: float) -> None:
        super().__init__()
        self.delay = delay
        self.writes: list[Changes] = []

    def write(self, changes: Changes, now: float) -> None:
        time.sleep(self.delay)
        super().write(changes, now)
        self.writes.append(changes)


def test_changes_are_coalesced_into_few_writes() -> None:
    backend = _SlowCountingBackend(delay=0.2)
    s = FastScheduler(storage=backend, quiet=True, clock=ManualClock(T0))
    s.start()
    ids = [s.every(10).seconds.do(tick_with, i) for i in range(10_000)]
    s.stop()
    # 10,000 adds while a write takes 0.2 s: a handful of writes, not 10,000 (the original
    # fastscheduler queued 9,726 full saves here).
    assert 1 <= len(backend.writes) <= 5, len(backend.writes)
    stored = backend.open(Limits()).jobs
    assert set(stored) == set(ids)


def _add(a: int, *, b: int = 0) -> int:
    return a + b


def test_a_restart_compares_every_definition_field_a_stored_record_holds() -> None:
    """``JobState._same_definition`` names the definition fields of a record a second time (to compare
    them without building a record per job at start()). Any field ``store_record`` writes that
    is not state must be one of them: a changed value makes the record out of date, so the
    restart rewrites it. A field added to the record but not to the comparison fails here."""
    s = FastScheduler(storage="memory", quiet=True, clock=ManualClock(T0))
    s.every(10).seconds.id("j").name("named").retries(2).do(_add, 1, b=2)
    s.every(10).seconds.id("plain").name("named").retries(2).do(_add, 1)
    s.start()
    try:
        state = s._rt.state
        job = state.get("j")
        assert job is not None
        with state.lock:
            record = state.store_record(job)
            assert state._same_definition(job, dict(record))
            state_fields = {"next_run", "last_run", "run_count", "failure_count", "retry_count"}
            state_fields |= {"paused", "finished", "recent"}
            # (job_id is the key the record is stored under, not compared; the version is
            # compared with the state, by _as_stored)
            for field in record.keys() - state_fields - {"job_id", "v"}:
                assert not state._same_definition(job, {**record, field: "changed"}), field
            saved = (True, record["v"], 5.0, None, 0, 0, 0, False, False, ())
            assert state._as_stored(saved, None, "interval")
            assert not state._as_stored((True, "changed", *saved[2:]), None, "interval")
            assert not state._as_stored((False, *saved[1:]), None, "interval")
            state.arming_done()
            # The saver writes records from Rust (of jobs without keyword arguments): the same
            # fields once its defaults are back.
            plain = state.get("plain")
            assert plain is not None
            lines, others = encode_job_records(state.engine, [plain])
            assert others == []
            written = json.loads(lines)["job"]
            with_defaults(written)
            assert written.keys() == state.store_record(plain).keys() == record.keys()
    finally:
        s.stop()


@pytest.mark.parametrize(
    ("stored", "current", "same"),
    [
        ([1], [1], True),
        ([1], [True], False),
        ([1.0], [1], False),
        ([], [], True),
        ({}, {}, True),
        ({}, [], False),
        (None, [], False),
        ([[1]], [[True]], False),
        ({"a": 1}, {"a": 1.0}, False),
        (0.0, -0.0, False),
        (0, False, False),
        (None, None, True),
    ],
)
def test_a_stored_argument_is_the_same_only_with_the_same_types(
    stored: Any, current: Any, same: bool
) -> None:
    """A restart rewrites a record whose arguments changed type (``True`` where ``1`` was stored):
    equal is not enough."""
    from fastscheduler._jobstate import _same_json

    assert _same_json(stored, current) is same


def test_a_restart_writes_only_the_jobs_whose_stored_record_changed() -> None:
    """Persistence costs what changed: a restart gives the store the records of new jobs and of
    jobs whose definition changed (arguments compared with their types), not of the others."""
    backend = _SlowCountingBackend(delay=0)
    clock = ManualClock(T0)
    s1 = FastScheduler(storage=backend, quiet=True, clock=clock)
    s1.every(10).seconds.id("same").do(tick_with, 1)
    s1.every(10).seconds.id("args").do(tick_with, 2)
    s1.every(10).seconds.id("type").do(tick_with, True)
    s1.every(10).seconds.id("every").do(tick)
    s1.every(10).seconds.id("paused").do(tick)
    s1.start()
    clock.advance(10)
    s1.stop()

    def written(s: FastScheduler) -> set[str]:
        backend.writes.clear()
        s.start()
        s.stop()
        return {job_id for changes in backend.writes for job_id in changes.jobs}

    s2 = FastScheduler(storage=backend, quiet=True, clock=ManualClock(T0 + 15))
    s2.every(10).seconds.id("same").do(tick_with, 1)
    s2.every(10).seconds.id("args").do(tick_with, 3)
    s2.every(10).seconds.id("type").do(tick_with, 1)  # 1 is not True
    s2.every(20).seconds.id("every").do(tick)
    s2.every(10).seconds.id("paused").do(tick)
    s2.pause_job("paused")  # before start()
    s2.every(10).seconds.id("new").do(tick)
    assert written(s2) == {"args", "type", "every", "paused", "new"}
    stored = backend.open(Limits()).jobs
    assert stored["same"]["run_count"] == 1 and stored["same"]["args"] == [1]
    assert stored["args"]["args"] == [3] and stored["type"]["args"] == [1]
    assert stored["every"]["spec"]["interval"] == 20 and stored["paused"]["paused"] is True

    s3 = FastScheduler(storage=backend, quiet=True, clock=ManualClock(T0 + 16))
    for job_id, args in (("same", 1), ("args", 3), ("type", 1)):
        s3.every(10).seconds.id(job_id).do(tick_with, args)
    s3.every(20).seconds.id("every").do(tick)
    s3.every(10).seconds.id("paused").do(tick)
    s3.every(10).seconds.id("new").do(tick)
    assert written(s3) == set()  # nothing changed, nothing written
    assert s3.get_job("same")["run_count"] == 1  # type: ignore[index]


def test_a_pause_before_start_of_a_finished_one_shot_is_written() -> None:
    backend = _SlowCountingBackend(delay=0)
    clock = ManualClock(T0)
    s1 = FastScheduler(storage=backend, quiet=True, clock=clock)
    s1.once(5).id("once").do(tick)
    s1.start()
    clock.advance(10)
    s1.stop()
    assert backend.open(Limits()).jobs["once"]["finished"] is True
    s2 = FastScheduler(storage=backend, quiet=True, clock=ManualClock(T0 + 20))
    s2.once(5).id("once").do(tick)
    s2.pause_job("once")
    s2.start()
    s2.stop()
    assert backend.open(Limits()).jobs["once"]["paused"] is True


def test_a_driver_error_while_reading_job_rows_is_a_sqlalchemy_error(tmp_path: Path) -> None:
    """The job rows are read through the driver's cursor; its errors still reach the store's
    handling (``StorageError``) as SQLAlchemy's."""
    from fastscheduler.stores._bulk import driver_batches

    engine = sa.create_engine(f"sqlite:///{tmp_path / 'x.db'}")
    with engine.connect() as conn, pytest.raises(sa.exc.DBAPIError, match="no such table: nope"):
        list(driver_batches(conn, sa.select(sa.table("nope", sa.column("x")))))
    engine.dispose()


class _FlakyBackend(MemoryStorageBackend):
    def __init__(self) -> None:
        super().__init__()
        self.down = threading.Event()
        self.failures = 0

    def write(self, changes: Changes, now: float) -> None:
        if self.down.is_set():
            self.failures += 1
            raise ConnectionError("server closed the connection unexpectedly")
        super().write(changes, now)


def _wait(predicate: Callable[[], bool], timeout: float = 10) -> None:
    end = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < end, "timed out"
        time.sleep(0.01)


def test_an_outage_is_retried_reported_and_loses_nothing() -> None:
    backend = _FlakyBackend()
    clock = ManualClock(T0)
    s = FastScheduler(storage=backend, quiet=True, clock=clock)
    job_id = s.every(10).seconds.do(tick)
    s.start()
    _wait(lambda: job_id in backend.open(Limits()).jobs)
    backend.down.set()
    clock.advance(50)  # jobs keep running from memory meanwhile
    assert s.get_job(job_id)["run_count"] == 5  # type: ignore[index]
    _wait(lambda: backend.failures >= 2)  # retried, with backoff
    status = s.storage_status()
    assert status["ok"] is False and status["pending"] is True
    assert status["last_error"] == "ConnectionError: server closed the connection unexpectedly"
    backend.down.clear()
    _wait(lambda: s.storage_status()["ok"])
    s.stop()
    state = backend.open(Limits())
    assert state.jobs[job_id]["run_count"] == 5
    assert len(state.history) == 5 and state.stats["totals"]["runs"] == 5


def test_a_postgresql_database_outage_is_ridden_out(tmp_path: Path) -> None:
    """A real outage: the database refuses connections and its sessions are killed, then it comes
    back; the scheduler keeps running jobs, reports the outage, and writes everything after.
    (A single instance, cluster=False: in a cluster nothing runs while the database that decides
    who runs it is away; tests/test_cluster.py covers that.)"""
    with server_database("postgresql") as url:
        name = sa.make_url(url).database
        admin = admin_engine("postgresql")
        clock = ManualClock(T0)
        s = FastScheduler(storage="sqlmodel", database_url=url, quiet=True, clock=clock, cluster=False)
        job_id = s.every(10).seconds.do(tick)
        s.start()
        _wait(lambda: s.storage_status()["writes"] >= 1)
        with admin.connect() as conn:
            conn.exec_driver_sql(f"ALTER DATABASE {name} ALLOW_CONNECTIONS false")
            conn.exec_driver_sql(
                f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"
            )
        try:
            clock.advance(30)
            assert s.get_job(job_id)["run_count"] == 3  # type: ignore[index]
            _wait(lambda: not s.storage_status()["ok"])
        finally:
            with admin.connect() as conn:
                conn.exec_driver_sql(f"ALTER DATABASE {name} ALLOW_CONNECTIONS true")
        _wait(lambda: s.storage_status()["ok"] and not s.storage_status()["pending"], timeout=30)
        s.stop()
        s2 = FastScheduler(storage="sqlmodel", database_url=url, quiet=True, clock=ManualClock(T0 + 31))
        s2.every(10).seconds.do(tick)
        s2.start()
        assert s2.get_job(job_id)["run_count"] == 3  # type: ignore[index]
        assert len(s2.get_history()) == 3
        s2.stop()


_WORKER = textwrap.dedent(
    """
    import sys
    from fastscheduler import EventType, FastScheduler
    acked = 0
    def on(event):
        global acked
        if event.type is EventType.STATE_SAVED:
            acked += event.data["history"]
            print(acked, flush=True)
    s = FastScheduler(state_file=sys.argv[1], quiet=True, max_history=10**6, max_workers=4)
    for i in range(40):
        s.every(0.01).seconds.do(len, [i])
    s.subscribe(on)
    s.start()
    """
)


def test_sigkill_at_random_moments_never_damages_the_state_or_loses_acknowledged_runs(
    tmp_path: Path,
) -> None:
    path = tmp_path / "state.json"
    rng = random.Random(20261129)
    stored = 0
    for _ in range(8):
        proc = subprocess.Popen([sys.executable, "-c", _WORKER, str(path)], stdout=subprocess.PIPE, text=True)
        assert proc.stdout is not None
        lines: list[str] = []  # read by a thread: a worker that stops saving fails the test, never hangs it
        reader = threading.Thread(target=lines.extend, args=(proc.stdout,), daemon=True)
        reader.start()
        up = time.monotonic() + 30
        while time.monotonic() < up and not any(x.endswith("\n") and int(x) > 0 for x in lines):
            time.sleep(0.01)  # until a write with runs in it: the worker is up
        time.sleep(rng.uniform(0.0, 0.8))  # then a random moment
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        reader.join(5)
        proc.stdout.close()
        acked = max((int(x) for x in lines if x.endswith("\n")), default=0)
        assert acked > 0, "the worker acknowledged no write"
        backend = JSONStorageBackend(path)
        state = backend.open(Limits(max_history=10**6))  # loads: never damaged
        backend.close()
        assert len(state.history) >= stored + acked
        stored = len(state.history)
        # The snapshot, the lock and journal segments; nothing a compaction left half done.
        names = {p.name for p in tmp_path.iterdir()} - {"state.json", "state.json.lock"}
        assert all(re.fullmatch(r"state\.json\.journal\.\d+", name) for name in names), names


def test_storage_memory_keeps_nothing_and_costs_nothing() -> None:
    s = FastScheduler(storage="memory", quiet=True, clock=ManualClock(T0))
    s.every(10).seconds.do(tick)
    s.start()
    try:
        assert not [t for t in threading.enumerate() if t.name == "fastscheduler-saver" and t.is_alive()]
        assert s.storage_status()["writes"] == 0
    finally:
        s.stop()

"""Issue 5: several scheduler instances on one PostgreSQL or MariaDB database run each fire once.

The process tests start real scheduler processes (tests/cluster_worker.py) against the real test
servers (``make services``), kill some with SIGKILL, restart the database server, and then check
every fire from the jobs' own log lines (each run appends ``job scheduled attempt pid finished``)
and from the database's run rows.
"""

from __future__ import annotations

import collections
import contextlib
import itertools
import json
import logging
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import sqlalchemy as sa
from stores_support import DEFAULT_ADMIN_URLS, ROOT, SERVER_KINDS, dispose_admin_engines, server_database

from fastscheduler import FastScheduler, ManualClock, current_run
from fastscheduler._builders import JobSpec
from fastscheduler.cluster import COUNTS, RUNS, SCHEDULE, ClusterConfig, advance, read_rows
from fastscheduler.stores.sql import normalize_database_url

WORKER = Path(__file__).with_name("cluster_worker.py")
T0 = 1_780_000_000.0


def _wait(predicate: Callable[[], bool], timeout: float = 15, what: str = "condition") -> None:
    end = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < end, f"timed out waiting for {what}"
        time.sleep(0.02)


def _engine(url: str) -> sa.Engine:
    return sa.create_engine(normalize_database_url(url))


# ---------------------------------------------------------------------------------- configuration


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"lease": 0}, "ClusterConfig.lease must be a positive number of seconds, got 0"),
        ({"grace": -1}, "ClusterConfig.grace must be a positive number of seconds, got -1"),
        ({"poll_interval": "1"}, "ClusterConfig.poll_interval must be a positive number of seconds, got '1'"),
        ({"lease": float("inf")}, "ClusterConfig.lease must be finite, got inf"),
        ({"lease": 1, "grace": 1}, "ClusterConfig.grace (1 s) must be shorter than lease (1 s)"),
        ({"instance_id": ""}, "ClusterConfig.instance_id must be a string of 1-58 characters, got ''"),
        ({"instance_id": "x" * 59}, "ClusterConfig.instance_id must be a string of 1-58 characters"),
    ],
)
def test_bad_cluster_config_is_refused(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError) as info:
        ClusterConfig(**kwargs)  # type: ignore[arg-type]
    assert str(info.value).startswith(message)


@pytest.mark.parametrize(
    "kwargs",
    [
        {},  # the JSON file
        {"storage": "memory"},
        {"storage": "sqlmodel", "database_url": "sqlite:///jobs.db"},
    ],
)
def test_single_instance_stores_refuse_cluster_mode(kwargs: dict[str, str]) -> None:
    with pytest.raises(ValueError) as info:
        FastScheduler(cluster=True, **kwargs)  # type: ignore[arg-type]
    assert "cluster mode needs a PostgreSQL or MySQL/MariaDB database shared by the instances" in str(
        info.value
    )
    assert "JSON files and SQLite are single-instance" in str(info.value)
    # ... and without cluster=True they simply run alone (SQLite never relies on SKIP LOCKED).
    assert FastScheduler(**kwargs).cluster_config is None  # type: ignore[arg-type]


def test_server_databases_are_clustered_by_default_and_cluster_false_opts_out() -> None:
    url = "postgresql://u:p@127.0.0.1:1/db"  # never connected to: construction only
    assert FastScheduler(database_url=url).cluster_config == ClusterConfig()
    assert FastScheduler(database_url=url, cluster=False).cluster_config is None
    config = ClusterConfig(lease=5, instance_id="a")
    assert FastScheduler(database_url=url, cluster=config).cluster_config is config


def _spec(**kw: object) -> JobSpec:
    base: dict[str, object] = {
        "kind": "interval",
        "interval": 1.0,
        "schedule": "every 1 second",
        "schedule_key": (),
    }
    base.update(kw)
    return JobSpec(**base)  # type: ignore[arg-type]


def test_advance_coalesces_what_lies_between_the_fire_and_now() -> None:
    spec = _spec()
    assert advance(spec, T0, T0) == (T0 + 1, 0)
    assert advance(spec, T0, T0 + 0.5) == (T0 + 1, 0)
    assert advance(spec, T0, T0 + 3.2) == (T0 + 4, 3)  # T0+1, +2, +3 coalesced
    assert advance(_spec(interval=10.0), T0, T0 + 10) == (T0 + 20, 1)
    minute = _spec(kind="cron", interval=None, cron="* * * * *", tz="UTC")
    start = 1_780_000_020.0  # a whole minute
    assert advance(minute, start, start + 1) == (start + 60, 0)
    assert advance(minute, start, start + 210) == (start + 240, 3)
    assert advance(_spec(kind="date", interval=None, at=T0), T0, T0 + 5) == (None, 0)


@pytest.mark.parametrize("kind", SERVER_KINDS)
def test_a_cluster_reports_the_same_missed_counts_as_one_scheduler(kind: str, tmp_path: Path) -> None:
    """Downtime coalesced into one run: the cluster counts what it passed over from its rows with
    the core's rule (Trigger.advance), the single scheduler in its engine; the counts agree."""

    def noop() -> None:
        pass

    def scenario(make: Callable[[ManualClock], FastScheduler]) -> list[tuple[str, str | None]]:
        for start, advance_by in ((T0, 60.0), (T0 + 60 + 3 * 3600 + 7, 1.0)):
            clock = ManualClock(start)
            s = make(clock)
            s.every(10).seconds.id("interval").do(noop)
            s.cron("*/5 * * * *", tz="UTC").id("cron").do(noop)
            s.start()
            clock.advance(advance_by)
            missed = sorted((e.job_id, e.error) for e in s.get_history(limit=1000) if e.status == "missed")
            s.stop()
        return missed

    alone = scenario(
        lambda clock: FastScheduler(state_file=str(tmp_path / "s.json"), quiet=True, clock=clock)
    )
    with server_database(kind) as url:
        clustered = scenario(lambda clock: _solo(url, clock))
    assert [job for job, _ in alone] == ["cron", "interval"]
    assert clustered == alone
    assert alone[1][1] == "1079 run(s) missed: the scheduler was not running on time"


# -------------------------------------------------------------------------- in-process instances


def _solo(url: str, clock: ManualClock, **config: float) -> FastScheduler:
    """One cluster instance on ``url`` driven by a manual clock."""
    cluster = ClusterConfig(instance_id="solo", **config)  # type: ignore[arg-type]
    return FastScheduler(storage="sqlmodel", database_url=url, quiet=True, clock=clock, cluster=cluster)


@contextlib.contextmanager
def _instances(url: str, n: int, **config: float) -> Iterator[list[FastScheduler]]:
    made = [
        FastScheduler(
            storage="sqlmodel",
            database_url=url,
            quiet=True,
            cluster=ClusterConfig(instance_id=f"i{k}", poll_interval=0.2, **config),  # type: ignore[arg-type]
        )
        for k in range(n)
    ]
    try:
        yield made
    finally:
        for s in made:
            s.stop(wait=True, timeout=5)


@pytest.mark.parametrize("kind", SERVER_KINDS)
def test_pause_resume_cancel_and_run_now_act_cluster_wide(kind: str) -> None:
    ran: list[tuple[str, str | None]] = []
    lock = threading.Lock()

    def job(tag: str) -> None:
        run = current_run()
        assert run is not None and run.job_id == "shared"
        with lock:
            ran.append((tag, run.instance_id))

    with server_database(kind) as url, _instances(url, 2) as (a, b):
        for s, tag in ((a, "a"), (b, "b")):
            s.every(3600).seconds.id("shared").do(job, tag)
            s.start()
        engine = _engine(url)
        status = a.cluster_status()
        assert status is not None and status["instance_id"] == "i0"

        def paused_in_database() -> bool:
            with engine.connect() as conn:
                return bool(conn.execute(sa.select(SCHEDULE.c.paused)).scalar_one())

        assert a.pause_job("shared")
        _wait(lambda: b.get_job("shared")["paused"], what="b to learn of a's pause")  # type: ignore[index]
        assert paused_in_database()

        assert b.resume_job("shared")
        _wait(lambda: not a.get_job("shared")["paused"], what="a to learn of b's resume")  # type: ignore[index]
        assert not paused_in_database()

        assert b.run_job_now("shared")
        _wait(lambda: len(ran) == 1, what="the run-now")
        time.sleep(0.5)
        assert ran == [("b", "i1")]  # once, on the instance asked
        _wait(lambda: a.get_job("shared")["run_count"] == 0)  # type: ignore[index]
        with engine.connect() as conn:
            rows = conn.execute(sa.select(RUNS.c.origin, RUNS.c.owner, RUNS.c.state)).all()
        assert [tuple(r) for r in rows] in ([("run-now", "i1", "succeeded")], [("run-now", "i1", "running")])

        assert a.cancel_job("shared")
        _wait(lambda: b.get_job("shared") is None, what="b to learn of a's cancel")
        with engine.connect() as conn:
            assert conn.execute(sa.select(sa.func.count()).select_from(SCHEDULE)).scalar_one() == 0
        engine.dispose()


@pytest.mark.parametrize("kind", SERVER_KINDS)
def test_a_fire_is_never_created_twice_whatever_the_path(kind: str, caplog: pytest.LogCaptureFixture) -> None:
    """The primary key (job, scheduled µs) refuses a second run row for one fire, and a claim that
    finds the fire already has one does not run it again (here the job's row is wound back to a
    fire that already ran, as a bug or a hand edit could)."""
    runs: list[float] = []

    def job() -> None:
        run = current_run()
        assert run is not None
        runs.append(run.scheduled_time)

    with server_database(kind) as url:
        clock = ManualClock(T0)
        s = _solo(url, clock)
        job_id = s.every(10).seconds.do(job)
        s.start()
        clock.advance(10)
        assert runs == [T0 + 10]
        engine = _engine(url)
        with engine.begin() as conn:
            key = conn.execute(sa.select(RUNS.c.job_id, RUNS.c.scheduled_us)).one()
            assert tuple(key) == (job_id, round((T0 + 10) * 1e6))
            with pytest.raises(sa.exc.IntegrityError), conn.begin_nested():
                conn.execute(
                    sa.insert(RUNS).values(
                        job_id=job_id,
                        scheduled_us=key[1],
                        origin="schedule",
                        state="running",
                        owner="someone",
                        attempt=1,
                        lease_until=0,
                        created_at=0,
                    )
                )
            conn.execute(sa.update(SCHEDULE).values(next_run=T0 + 10))  # wound back
        with caplog.at_level(logging.ERROR, logger="fastscheduler.cluster"):
            clock.advance(10)
        assert runs == [T0 + 10]
        assert "1 fire(s) already had a run row; not created again" in caplog.text
        clock.advance(10)
        assert runs == [T0 + 10, T0 + 30]
        s.stop()
        engine.dispose()


@pytest.mark.parametrize("kind", SERVER_KINDS)
def test_claims_skip_a_locked_row_and_take_the_fire_once_it_is_free(kind: str) -> None:
    """SKIP LOCKED: while another transaction holds one job's row, the claim neither waits for it
    nor runs that fire, and the claimer goes on serving other jobs (a run-now of another job runs
    meanwhile); when that transaction ends without claiming, the fire is taken (once)."""
    runs: list[tuple[str, float]] = []

    def job(tag: str) -> None:
        runs.append((tag, clock.now()))

    with server_database(kind) as url:
        clock = ManualClock(T0)
        s = _solo(url, clock, grace=0.2)
        locked = s.every(10).seconds.do(job, "locked")
        other = s.every(3600).seconds.do(job, "other")
        s.start()
        engine = _engine(url)
        with engine.connect() as holder:
            # A peer in the middle of claiming: it holds the job's row.
            holder.execute(sa.select(SCHEDULE.c.job_id).where(SCHEDULE.c.job_id == locked).with_for_update())
            advancing = threading.Thread(target=clock.advance, args=(10,))
            advancing.start()  # the manual clock waits for the fire to be run
            time.sleep(1.0)
            assert runs == []
            assert s.run_job_now(other)
            _wait(lambda: ("other", T0 + 10) in runs, 5, "the other job's run-now while the row is locked")
            assert advancing.is_alive()
            holder.rollback()  # the peer went away without claiming
        advancing.join(10)
        assert not advancing.is_alive()
        time.sleep(0.5)
        assert runs == [("other", T0 + 10), ("locked", T0 + 10)]
        s.stop()
        engine.dispose()


# ------------------------------------------------------------------------------ process clusters


@dataclass(frozen=True)
class Line:
    job: str
    scheduled: float
    attempt: int
    pid: int
    finished: float


class ProcessCluster:
    """Scheduler processes (tests/cluster_worker.py) on one database."""

    def __init__(self, url: str, tmp: Path, jobs: int, work: float, lease: float) -> None:
        self.url, self.tmp, self.jobs, self.work, self.lease = url, tmp, jobs, work, lease
        self.log = tmp / "runs.log"
        self.procs: list[subprocess.Popen[bytes]] = []
        self.killed: dict[int, float] = {}  # pid -> when

    def start(self, n: int) -> float:
        for i in range(n):
            args = [
                str(WORKER),
                self.url,
                f"w{i}",
                str(self.jobs),
                str(self.work),
                str(self.lease),
                str(self.log),
            ]
            with open(self.tmp / f"w{i}.out", "wb") as out:  # the child keeps its own descriptor
                proc = subprocess.Popen([sys.executable, *args], stdout=out, stderr=subprocess.STDOUT)
            self.procs.append(proc)
        for i, proc in enumerate(self.procs):
            _wait(
                lambda i=i, proc=proc: (
                    b"started" in (self.tmp / f"w{i}.out").read_bytes() or proc.poll() is not None
                ),
                60,
            )
            assert proc.poll() is None, self.output(i)
        return time.time()

    def output(self, i: int) -> str:
        return (self.tmp / f"w{i}.out").read_text(errors="replace")

    def kill(self, i: int) -> None:
        self.procs[i].send_signal(signal.SIGKILL)
        self.procs[i].wait()
        self.killed[self.procs[i].pid] = time.time()

    def stop(self) -> float:
        stopped = time.time()
        live = [i for i, p in enumerate(self.procs) if p.pid not in self.killed]
        for i in live:
            self.procs[i].send_signal(signal.SIGTERM)
        for i in live:
            assert self.procs[i].wait(60) == 0, self.output(i)
            assert "stopped" in self.output(i), self.output(i)
        return stopped

    def lines(self) -> list[Line]:
        out = []
        for text in self.log.read_text().splitlines():
            job, scheduled, attempt, pid, finished = text.split()
            out.append(Line(job, float(scheduled), int(attempt), int(pid), float(finished)))
        return out

    def close(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()

    def run_rows(self) -> list[sa.Row[tuple[str, int, str, str, int, str]]]:
        engine = _engine(self.url)
        columns = (
            RUNS.c.job_id,
            RUNS.c.scheduled_us,
            RUNS.c.state,
            RUNS.c.origin,
            RUNS.c.attempt,
            RUNS.c.owner,
        )
        try:
            with engine.connect() as conn:
                return list(conn.execute(sa.select(*columns)))
        finally:
            engine.dispose()

    def running_rows(self, owners: set[str] | None = None) -> int:
        """Runs not finished (of the instances named ``owners``, default all)."""
        return sum(
            1 for r in self.run_rows() if r.state == "running" and (owners is None or r.owner in owners)
        )


@contextlib.contextmanager
def _cluster(kind: str, tmp: Path, jobs: int, work: float, lease: float) -> Iterator[ProcessCluster]:
    with server_database(kind) as url:
        cluster = ProcessCluster(url, tmp, jobs, work, lease)
        try:
            yield cluster
        finally:
            cluster.close()


def _fires(lines: list[Line]) -> dict[str, list[float]]:
    by_job: dict[str, list[float]] = collections.defaultdict(list)
    for line in lines:
        by_job[line.job].append(line.scheduled)
    return {job: sorted(set(times)) for job, times in by_job.items()}


def _assert_no_gaps(fires: dict[str, list[float]], jobs: int, first: float, last: float) -> None:
    """Every job ran every second from (at the latest) ``first`` to (at least) ``last``."""
    assert sorted(fires) == [f"job{i:03d}" for i in range(jobs)]
    for job, times in fires.items():
        steps = [round(b - a, 3) for a, b in itertools.pairwise(times)]
        assert set(steps) <= {1.0}, (
            f"{job}: gaps {[(a, b) for a, b in itertools.pairwise(times) if b - a > 1.001]}"
        )
        assert times[0] <= first and times[-1] >= last, (job, times[0], times[-1], first, last)


@pytest.mark.parametrize("kind", SERVER_KINDS)
def test_four_instances_run_every_fire_exactly_once(kind: str, tmp_path: Path) -> None:
    """4 processes x 200 jobs every second for 20 s: every (job, second) ran exactly once, no gaps,
    no duplicates, and the work was spread over the instances."""
    with _cluster(kind, tmp_path, jobs=200, work=0.02, lease=10) as cluster:
        started = cluster.start(4)
        time.sleep(20)
        stopped = cluster.stop()
        lines = cluster.lines()
        keys = collections.Counter((line.job, line.scheduled) for line in lines)
        duplicates = {k: n for k, n in keys.items() if n > 1}
        assert not duplicates, f"{len(duplicates)} fires ran twice, e.g. {list(duplicates)[:3]}"
        _assert_no_gaps(_fires(lines), 200, started + 2, stopped - 2)
        assert len(lines) >= 200 * 17
        rows = cluster.run_rows()
        assert {(r.job_id, r.scheduled_us) for r in rows} == {(j, round(s * 1e6)) for j, s in keys}
        assert collections.Counter(r.state for r in rows) == {"succeeded": len(lines)}
        per_pid = collections.Counter(line.pid for line in lines)
        assert len(per_pid) == 4 and min(per_pid.values()) > len(lines) * 0.10, per_pid
        late = sorted(line.finished - line.scheduled - 0.02 for line in lines)
        print(
            f"{kind}: {len(lines)} runs, per instance {sorted(per_pid.values())}, "
            f"start lateness p50 {late[len(late) // 2] * 1000:.0f} ms, "
            f"p99 {late[int(len(late) * 0.99)] * 1000:.0f} ms"
        )


@pytest.mark.parametrize("kind", SERVER_KINDS)
def test_two_of_four_killed_lose_no_fire_and_survivors_rerun_their_runs(kind: str, tmp_path: Path) -> None:
    """The same with 2 of the 4 processes SIGKILLed at random moments (each while its runs are in
    flight): no fire lost, none created twice, and the runs the killed ones had in flight are run
    again by a survivor once their lease (3 s) expires. A fire ran twice only where its first
    execution was on a killed process (at-least-once execution of a started run)."""
    lease, work = 3.0, 0.1
    rng = random.Random(20261129)
    with _cluster(kind, tmp_path, jobs=200, work=work, lease=lease) as cluster:
        started = cluster.start(4)
        engine = _engine(cluster.url)
        with engine.connect() as conn:
            phase = conn.execute(sa.select(sa.func.min(SCHEDULE.c.next_run))).scalar_one() % 1
        engine.dispose()
        for victim, second in enumerate(sorted(rng.sample(range(3, 12), 2))):
            # A random second, 120 ms after the jobs' fire instant: their runs are in flight.
            moment = int(started) + second + phase + 0.12
            time.sleep(max(0.0, moment - time.time()))
            cluster.kill(victim)
        time.sleep(max(0.0, started + 20 - time.time()))
        _wait(lambda: cluster.running_rows({"w0", "w1"}) == 0, 2 * lease + 10, "the killed instances' runs")
        stopped = cluster.stop()
        lines = cluster.lines()
        killed = set(cluster.killed)
        by_fire: dict[tuple[str, float], list[Line]] = collections.defaultdict(list)
        for line in lines:
            by_fire[(line.job, line.scheduled)].append(line)
        twice_alive = {k: v for k, v in by_fire.items() if sum(1 for x in v if x.pid not in killed) > 1}
        assert not twice_alive, f"fires run twice by live instances: {list(twice_alive.items())[:3]}"
        _assert_no_gaps(_fires(lines), 200, started + 2, stopped - 2)
        rows = cluster.run_rows()
        assert {(r.job_id, r.scheduled_us) for r in rows} == {(j, round(s * 1e6)) for j, s in by_fire}
        assert collections.Counter(r.state for r in rows) == {"succeeded": len(by_fire)}
        rerun = [x for v in by_fire.values() for x in v if x.attempt >= 2]
        assert any(x.pid not in killed for x in rerun), "no run in flight on a killed instance was re-run"
        kills = sorted(cluster.killed.values())
        for x in rerun:  # re-run by a survivor once the lease expired (+ a heartbeat period + slack)
            victim_time = max(t for t in kills if t < x.finished)
            assert x.finished - victim_time < lease + lease / 3 + work + 2.0, (x, victim_time)
        print(
            f"{kind}: {len(lines)} executions of {len(by_fire)} fires; {len(rerun)} re-run after a kill; "
            f"{len(lines) - len(by_fire)} executed twice (first on a killed process)"
        )


@pytest.mark.parametrize("kind", SERVER_KINDS)
def test_a_database_restart_is_ridden_out(kind: str, tmp_path: Path) -> None:
    """The database server restarts under 2 running instances: they reconnect and carry on; no
    fire runs twice, every run that finished is recorded, and the fires due while the database
    was away are accounted for as missed (coalesced into the first fire after, as after any
    downtime) rather than silently lost."""
    variable = {"postgresql": "FASTSCHEDULER_TEST_POSTGRES_URL", "mariadb": "FASTSCHEDULER_TEST_MYSQL_URL"}[
        kind
    ]
    if os.environ.get(variable) not in (None, DEFAULT_ADMIN_URLS[kind]):
        pytest.skip(f"{variable} names another server: only scripts/services.sh's own servers are restarted")
    with _cluster(kind, tmp_path, jobs=50, work=0.02, lease=30) as cluster:
        started = cluster.start(2)
        time.sleep(5)
        dispose_admin_engines()  # no pooled admin connection of the test's own dies with the server
        down = time.time()
        subprocess.run(
            ["bash", str(ROOT / "scripts" / "services.sh"), "restart", kind], check=True, capture_output=True
        )
        up = time.time()
        engine = _engine(cluster.url)
        with engine.connect() as conn:  # the server really started again
            if kind == "postgresql":
                since = conn.execute(
                    sa.text("SELECT extract(epoch FROM pg_postmaster_start_time())")
                ).scalar_one()
            else:
                since = time.time() - float(
                    conn.execute(sa.text("SHOW GLOBAL STATUS LIKE 'Uptime'")).one()[1]
                )
        engine.dispose()
        assert float(since) > down - 1
        time.sleep(10)
        _wait(lambda: cluster.running_rows() == 0, 20, "runs to be recorded")
        stopped = cluster.stop()
        lines = cluster.lines()
        keys = collections.Counter((line.job, line.scheduled) for line in lines)
        assert max(keys.values()) == 1
        fires = _fires(lines)
        assert len(fires) == 50
        engine = _engine(cluster.url)
        with engine.connect() as conn:
            history = conn.execute(
                sa.text("SELECT record FROM fastscheduler_history WHERE status = 'missed'")
            ).scalars()
            missed: collections.Counter[str] = collections.Counter()
            for text in history:
                record = json.loads(text)
                missed[record["job_id"]] += int(record["error"].split()[0])
        engine.dispose()
        for job, times in fires.items():
            assert times[0] <= started + 2 and times[-1] >= stopped - 2, (job, times[0], times[-1])
            gaps = sum(round(b - a) - 1 for a, b in itertools.pairwise(times))
            assert gaps == missed[job], (job, gaps, missed[job])
            assert max(b - a for a, b in itertools.pairwise(times)) < (up - down) + 3
        rows = cluster.run_rows()
        assert collections.Counter(r.state for r in rows) == {"succeeded": len(lines)}
        print(
            f"{kind}: restart took {up - down:.1f} s; {sum(missed.values())} fires missed while down; "
            f"{len(lines)} runs, none twice"
        )


@pytest.mark.parametrize("kind", SERVER_KINDS)
def test_one_shot_jobs_run_once_in_a_cluster_and_not_again_after_a_restart(kind: str) -> None:
    ran: list[tuple[str, str | None]] = []
    lock = threading.Lock()

    def job(tag: str) -> None:
        run = current_run()
        with lock:
            ran.append((tag, run.instance_id if run else None))

    with server_database(kind) as url:
        when = datetime.now(timezone.utc) + timedelta(seconds=2)
        with _instances(url, 2) as (a, b):
            for s, tag in ((a, "a"), (b, "b")):
                for i in range(20):
                    s.at(when).id(f"once{i}").do(job, tag)
                s.start()
            _wait(lambda: len(ran) >= 20, 15, "the one-shot jobs")
            time.sleep(1.0)
            assert len(ran) == 20
            engine = _engine(url)
            with engine.connect() as conn:
                assert conn.execute(sa.select(sa.func.count()).select_from(RUNS)).scalar_one() == 20
                assert set(conn.execute(sa.select(SCHEDULE.c.next_run)).scalars()) == {None}
            engine.dispose()
        with _instances(url, 1) as (again,):
            for i in range(20):
                again.at(when + timedelta(seconds=60)).id(f"once{i}").do(job, "again")
            again.start()
            time.sleep(1.5)
            assert len(ran) == 20
            assert all(again.get_job(f"once{i}")["status"] == "completed" for i in range(20))  # type: ignore[index]


def test_the_jobs_command_shows_the_clusters_view(capsys: pytest.CaptureFixture[str]) -> None:
    """``fastscheduler jobs --database-url`` reads next fire, pause and counters from the
    cluster's tables (what every instance acts on), not from one instance's record of its view."""
    from fastscheduler.cli import main

    with server_database("postgresql") as url:
        clock = ManualClock(T0)
        s = _solo(url, clock)
        job_id = s.every(10).seconds.do(lambda: None)
        s.start()
        clock.advance(30)
        assert s.pause_job(job_id)
        _wait(lambda: s.storage_status()["pending"] is False and s.cluster_status() is not None)
        engine = _engine(url)
        _wait(
            lambda: (lambda r: r is not None and r[job_id]["paused"] and r[job_id]["run_count"] == 3)(
                read_rows(engine)
            )
        )
        with engine.begin() as conn:  # as if another instance had run it twice more meanwhile
            conn.execute(sa.update(COUNTS).values(run_count=COUNTS.c.run_count + 2))
        engine.dispose()
        capsys.readouterr()
        assert main(["jobs", "--database-url", url, "--json"]) == 0
        (record,) = json.loads(capsys.readouterr().out)
        assert (record["job_id"], record["paused"], record["run_count"], record["next_run"]) == (
            job_id,
            True,
            5,
            T0 + 40,
        )
        s.stop()


@pytest.mark.parametrize("kind", SERVER_KINDS)
def test_alone_in_its_cluster_an_instance_skips_a_fire_while_the_previous_run_goes_on(kind: str) -> None:
    """The single scheduler's overlap rule holds for an instance alone in its cluster: the fire is
    claimed (its row says skipped) and recorded as missed, not run on top of the previous run."""
    release = threading.Event()
    runs: list[float] = []

    def slow() -> None:
        runs.append(clock.now())
        release.wait(10)

    with server_database(kind) as url:
        clock = ManualClock(T0, wait_for_runs=False)
        s = _solo(url, clock)
        job_id = s.every(10).seconds.do(slow)
        s.start()
        clock.advance(10)
        _wait(lambda: len(runs) == 1, what="the first run")
        clock.advance(10)
        _wait(lambda: any(h.status == "missed" for h in s.get_history()), what="the skipped fire")
        release.set()
        missed = [h for h in s.get_history() if h.status == "missed"]
        assert [(h.scheduled_time, h.error) for h in missed] == [
            (T0 + 20, "1 run(s) missed: the previous run was still running")
        ]
        s.stop()
        assert runs == [T0 + 10]
        engine = _engine(url)
        with engine.connect() as conn:
            rows = conn.execute(sa.select(RUNS.c.scheduled_us, RUNS.c.state).where(RUNS.c.job_id == job_id))
            states = {us: state for us, state in rows}
        engine.dispose()
        assert states == {round((T0 + 10) * 1e6): "succeeded", round((T0 + 20) * 1e6): "skipped"}


DYNAMIC_RUNS: list[tuple[str, str | None]] = []


def dynamic_job(tag: str) -> None:
    """A job a test adds at runtime on one instance (importable, so peers can register it too)."""
    run = current_run()
    DYNAMIC_RUNS.append((tag, run.instance_id if run else None))


@pytest.mark.parametrize("kind", SERVER_KINDS)
def test_a_job_added_at_runtime_on_one_instance_survives_it(
    kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A job added while running (with an id) on one instance is registered by the others from its
    import path and JSON arguments, so it keeps running when that instance stops; a lambda cannot
    be imported elsewhere and stays with its instance (logged); the others' own code may register
    the same id later without an error."""
    DYNAMIC_RUNS.clear()
    with server_database(kind) as url, _instances(url, 2, grace=0.2) as (a, b):
        a.start()
        b.start()
        with caplog.at_level(logging.WARNING, logger="fastscheduler.cluster"):
            a.every(1).seconds.id("dyn").do(dynamic_job, "x")
            a.every(1).seconds.id("lam").do(lambda: None)
            _wait(lambda: b.get_job("dyn") is not None, what="b to register the job a added")
            _wait(lambda: "job lam added on another instance runs only there" in caplog.text, what="the log")
        assert b.get_job("lam") is None
        _wait(lambda: len(DYNAMIC_RUNS) >= 2, what="runs of the added job")
        a.stop()
        seen = len(DYNAMIC_RUNS)
        _wait(lambda: len(DYNAMIC_RUNS) >= seen + 2, what="b to run it after a stopped")
        assert DYNAMIC_RUNS[-1] == ("x", "i1")
        # b's own code registering the same id replaces the copy it took from a.
        assert b.every(1).seconds.id("dyn").do(dynamic_job, "from-b") == "dyn"
        seen = len(DYNAMIC_RUNS)
        _wait(lambda: len(DYNAMIC_RUNS) >= seen + 2, what="b's own registration to run")
        assert DYNAMIC_RUNS[-1] == ("from-b", "i1")
        b.stop()
        engine = _engine(url)
        with engine.connect() as conn:
            dyn = conn.execute(
                sa.select(sa.func.count()).select_from(RUNS).where(RUNS.c.job_id == "dyn")
            ).scalar_one()
        engine.dispose()
        assert dyn == len(DYNAMIC_RUNS)  # one run row per execution: no fire ran on both

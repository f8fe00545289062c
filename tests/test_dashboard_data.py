"""The data behind the dashboard's job page and chart: a job's next fire times
(``GET /api/jobs/{id}?next=N``), dead letters of one job, the chart's series (runs, not
attempts; bounded memory; only changed buckets on the stream), and the demo's jobs."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from _dashboard_support import AsgiSSE
from fastapi import FastAPI
from fastapi.testclient import TestClient

from fastscheduler import CronExpr, FastScheduler, ManualClock
from fastscheduler._demo import build_demo_scheduler
from fastscheduler.dashboard.hub import CHART_RESOLUTIONS, Hub, RunChart, RunSeries
from fastscheduler.dashboard.next_runs import next_runs, schedule_of
from fastscheduler.fastapi_integration import create_scheduler_routes

T0 = 1_780_000_000.0  # 2026-05-28 20:26:40 UTC, a Thursday


def _noop() -> None:
    pass


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


@pytest.fixture
def sched(clock: ManualClock, tmp_path: Path) -> Iterator[FastScheduler]:
    s = FastScheduler(str(tmp_path / "state.json"), quiet=True, clock=clock)
    s.cron("0 9 * * MON-FRI", tz="America/New_York").id("market").do(_noop)
    s.cron("0 */2 * * * 30", tz="Asia/Kolkata").id("seconds").do(_noop)
    s.daily.at("09:00", tz="Europe/Paris").id("daily").do(_noop)
    s.hourly.at(":15").id("hourly").do(_noop)
    s.weekly.weekdays.at("17:30", tz="America/New_York").id("weekly").do(_noop)
    s.weekly.on(["mon", "wed"]).at("10:00:30").id("mon-wed").do(_noop)
    s.every(10).seconds.id("tick").do(_noop)
    s.every(1.5).hours.tz("Europe/Paris").id("slow").do(_noop)
    s.once(30).id("once").do(_noop)
    yield s
    s.stop(wait=True, timeout=5)


@pytest.fixture
def client(sched: FastScheduler) -> TestClient:
    app = FastAPI()
    app.include_router(create_scheduler_routes(sched))
    return TestClient(app)


def _next(client: TestClient, job_id: str, n: int = 10) -> dict[str, Any]:
    r = client.get(f"/scheduler/api/jobs/{job_id}", params={"next": n})
    assert r.status_code == 200, r.text
    job: dict[str, Any] = r.json()["job"]
    return job


#: What each calendar job means, as a cron expression written independently of the builders.
CALENDAR = {
    "market": ("0 9 * * MON-FRI", "America/New_York"),
    "seconds": ("0 */2 * * * 30", "Asia/Kolkata"),
    "daily": ("0 9 * * *", "Europe/Paris"),
    "hourly": ("15 * * * *", "UTC"),
    "weekly": ("30 17 * * 1-5", "America/New_York"),
    "mon-wed": ("0 10 * * MON,WED 30", "UTC"),
}


@pytest.mark.parametrize("job_id", sorted(CALENDAR))
def test_next_runs_of_calendar_jobs_are_their_schedules(
    client: TestClient, sched: FastScheduler, job_id: str
) -> None:
    sched.start()
    expr, tz = CALENDAR[job_id]
    job = _next(client, job_id)
    assert job["next_runs"] == CronExpr(expr, tz=tz).next_timestamps(T0, 10)
    assert job["next_runs"][0] == job["next_run_timestamp"] and job["next_runs_note"] is None


def test_next_runs_of_a_stopped_scheduler_follow_the_schedule_from_now(client: TestClient) -> None:
    # Before start(), a job's next run is when it would fire if started now (the scheduler's
    # clock: T0), as 0.2.x showed it; an interval job's grid then starts one interval from now.
    market = _next(client, "market")
    cron = CronExpr("0 9 * * MON-FRI", tz="America/New_York")
    assert market["next_runs"] == cron.next_timestamps(T0, 10)
    assert market["next_run_timestamp"] == market["next_runs"][0]
    tick = _next(client, "tick")
    assert tick["next_runs"] == [T0 + 10 * (i + 1) for i in range(10)]


def test_next_runs_of_interval_and_one_shot_jobs(
    client: TestClient, sched: FastScheduler, clock: ManualClock
) -> None:
    sched.start()
    tick = _next(client, "tick")
    first = tick["next_run_timestamp"]
    assert tick["next_runs"] == [first + 10 * i for i in range(10)]
    slow = _next(client, "slow", 3)
    assert slow["next_runs"] == [slow["next_run_timestamp"] + 5400 * i for i in range(3)]
    once = _next(client, "once")
    assert once["next_runs"] == [T0 + 30] and once["next_runs_note"] == "a one-shot job fires once"
    assert _next(client, "once", 1)["next_runs_note"] is None
    clock.advance(31)
    deadline = time.monotonic() + 5
    while sched.get_job("once")["status"] != "completed":  # type: ignore[index]
        assert time.monotonic() < deadline
        time.sleep(0.01)
    done = _next(client, "once")
    assert done["next_runs"] == [] and "has run" in done["next_runs_note"]


def test_next_runs_of_a_paused_job_are_where_it_resumes(client: TestClient, sched: FastScheduler) -> None:
    sched.start()
    sched.pause_job("hourly")
    assert _next(client, "hourly", 2)["next_runs"] == CronExpr("15 * * * *").next_timestamps(T0, 2)


@pytest.mark.parametrize(("n", "status"), [(0, 200), (1000, 200), (-1, 422), (1001, 422)])
def test_how_many_next_runs_may_be_asked_for(client: TestClient, n: int, status: int) -> None:
    r = client.get("/scheduler/api/jobs/market", params={"next": n})
    assert r.status_code == status
    if status == 200:
        assert len(r.json()["job"]["next_runs"]) == n


def test_next_runs_prefer_the_records_schedule_fields_and_know_their_limits() -> None:
    base = {"kind": "cron", "tz": "Europe/Paris", "schedule": "something else", "status": "scheduled"}
    # Fields a job record may carry (the scheduler's JobSpec has them) win over the text.
    cron = schedule_of({**base, "cron": "0 9 * * *"})
    assert cron is not None and cron.cron == CronExpr("0 9 * * *", tz="Europe/Paris")
    assert schedule_of({**base, "kind": "interval", "interval": 7.5}).interval == 7.5  # type: ignore[union-attr]
    assert schedule_of({**base, "kind": "date", "at": T0}).at == T0  # type: ignore[union-attr]
    # A schedule text the dashboard can't read: the scheduler's next run, and a note.
    unknown = {**base, "next_run_timestamp": T0 + 5}
    note = "the schedule's later fire times are unknown to the dashboard"
    assert next_runs(unknown, 3, T0) == ([T0 + 5], note)
    assert next_runs({**base, "status": "orphaned"}, 3, T0)[0] == []
    # A cron expression that ends (a year field) lists what there is.
    ending = {**base, "cron": "0 0 1 1 * 0 2027", "next_run_timestamp": None}
    last = CronExpr("0 0 1 1 * 0 2027", tz="Europe/Paris").next_timestamps(T0, 5)
    assert len(last) == 1 and next_runs(ending, 5, T0) == (last, "the schedule has no more fire times")
    # Near the end of time an interval stops at year 9999.
    late = {
        "kind": "interval",
        "schedule": "every 1 weeks",
        "status": "scheduled",
        "next_run_timestamp": 253402300000.0,
    }
    assert next_runs(late, 5, T0)[0] == [253402300000.0]


def test_dead_letters_of_one_job(tmp_path: Path, clock: ManualClock) -> None:
    s = FastScheduler(str(tmp_path / "state.json"), quiet=True, clock=clock)

    def fail() -> None:
        raise RuntimeError("no")

    s.every(10).seconds.retries(0).id("a").do(fail)
    s.every(20).seconds.retries(0).id("b").do(fail)
    app = FastAPI()
    app.include_router(create_scheduler_routes(s))
    client = TestClient(app)
    s.start()
    try:
        clock.advance(40)
        deadline = time.monotonic() + 5
        while len(s.get_dead_letters()) < 6:
            assert time.monotonic() < deadline
            time.sleep(0.01)
        mine = client.get("/scheduler/api/dead-letters", params={"job": "b"}).json()
        assert mine["total"] == 2 and {d["job_id"] for d in mine["dead_letters"]} == {"b"}
        assert client.get("/scheduler/api/dead-letters", params={"job": "nope"}).json()["total"] == 0
        assert client.get("/scheduler/api/dead-letters").json()["total"] == 6
    finally:
        s.stop(wait=True, timeout=5)


# ---------------------------------------------------------------------- the chart's series


def test_the_chart_keeps_two_resolutions_within_a_bounded_memory() -> None:
    chart = RunChart()
    assert [(s.bucket_seconds, s.buckets) for s in chart.series] == list(CHART_RESOLUTIONS)
    # Three days of one run every 7 s: each resolution keeps only its window.
    for i in range(3 * 86400 // 7):
        chart.add(T0 + 7 * i, failed=i % 5 == 0)
    now = T0 + 3 * 86400
    fine, coarse = chart.export(now)["series"]
    assert len(fine["cells"]) <= 360 and len(coarse["cells"]) <= 1440
    assert all(len(s._runs) == s.buckets for s in chart.series)  # fixed arrays, reused
    # Over the same stretch (from a whole minute on) both resolutions count the same runs.
    since = (now // 60) * 60 - 3000
    assert sum(c[1] for c in fine["cells"] if c[0] * 10 >= since) == sum(
        c[1] for c in coarse["cells"] if c[0] * 60 >= since
    )
    assert sum(c[1] for c in coarse["cells"]) == pytest.approx(86400 / 7, abs=10)


def test_changed_only_exports_carry_the_changed_buckets_totals() -> None:
    series = RunSeries(bucket_seconds=10, buckets=6)
    series.add(100.0, False)
    series.add(101.0, True)
    assert series.export(105.0, changed_only=True)["cells"] == [[10, 2, 1]]
    assert series.export(105.0, changed_only=True)["cells"] == []  # nothing new
    series.add(103.0, False)
    series.add(111.0, False)
    # New totals of both buckets (the page replaces its values with them).
    assert series.export(115.0, changed_only=True)["cells"] == [[10, 3, 1], [11, 1, 0]]
    assert series.export(115.0)["cells"] == [[10, 3, 1], [11, 1, 0]]
    series.add(102.0, False)
    series.forget_changes()
    assert series.export(115.0, changed_only=True)["cells"] == []


def test_the_chart_counts_runs_not_attempts(tmp_path: Path, clock: ManualClock) -> None:
    s = FastScheduler(str(tmp_path / "state.json"), quiet=True, clock=clock)

    def flaky() -> None:
        raise ConnectionError("down")

    s.every(1).hours.retries(2).id("flaky").do(flaky)
    s.every(1).hours.id("fine").do(_noop)
    hub = Hub(s)
    s.start()
    try:
        s.run_job_now("flaky")
        s.run_job_now("fine")
        for _ in range(50):  # the retries wait on the (manual) clock
            clock.advance(5)
            if s.get_dead_letters():
                break
            time.sleep(0.02)
        assert s.get_dead_letters()[0].attempts == 3
        fine, coarse = hub.chart.export(time.time())["series"]  # events carry wall-clock time
        for series in (fine, coarse):
            assert sum(c[1] for c in series["cells"]) == 2  # one run of each job
            assert sum(c[2] for c in series["cells"]) == 1  # the flaky one failed, once
    finally:
        hub.close()
        s.stop(wait=True, timeout=5)


def test_stats_messages_carry_only_the_changed_buckets(tmp_path: Path) -> None:
    s = FastScheduler(str(tmp_path / "state.json"), quiet=True)  # real time: the chart's window is now
    s.every(1).hours.id("x").do(_noop)
    app = FastAPI()
    app.include_router(create_scheduler_routes(s))
    s.start()

    async def main() -> None:
        async with AsgiSSE(app) as stream:
            snap = await stream.until("snapshot")
            assert snap.data["stats"]["chart"]["full"] is True
            await asyncio.to_thread(s.run_job_now, "x")
            while True:
                stats = await stream.until("stats")
                chart = stats.data["chart"]
                assert chart["full"] is False
                runs = sum(c[1] for c in chart["series"][0]["cells"])
                if runs:
                    break
            assert runs == 1 and len(chart["series"][0]["cells"]) == 1  # only the bucket that changed
            assert chart["series"][0]["cells"][0][0] in (int(time.time() // 10), int(time.time() // 10) - 1)

    try:
        asyncio.run(main())
    finally:
        s.stop(wait=True, timeout=5)


# ---------------------------------------------------------------------- the demo


def test_the_demos_example_failure_reads_as_a_simulated_outage(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    s = build_demo_scheduler(str(tmp_path / "demo.json"))
    monkeypatch.setattr(random, "random", lambda: 0.0)  # the flaky job fails this time
    flaky = next(j["job_id"] for j in s.get_jobs() if j["name"] == "flaky payment gateway")
    s.start()
    try:
        assert s.run_job_now(flaky)
        deadline = time.monotonic() + 5
        while not s.get_history(limit=50):
            assert time.monotonic() < deadline
            time.sleep(0.01)
        entry = next(e for e in s.get_history(limit=50) if e.job_id == flaky)
        assert entry.status == "failed" and entry.error is not None
        assert entry.error.startswith("ConnectionError: ") and "<" not in entry.error
        assert "simulated" in entry.error
    finally:
        s.stop(wait=False)

"""fastscheduler 0.2.x programs run unchanged (issue 16, part 1): its module layout, its public
attributes (``scheduler.jobs``, ``history``, ``dead_letters``, ``stats``) as read-only views, its
storage API (a backend written for 0.2.x's protocol, ``state_file=``, ``get_sqlmodel_backend``),
``history_retention_days=0``, ``next_run`` before ``start()``, its record keys and its schedule
texts. Each program here uses only names 0.2.x's README and public surface show."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from fastscheduler import CronExpr, FastScheduler, ManualClock

T0 = 1_780_000_000.0  # 2026-05-28T20:26:40Z, a Thursday
DAY = 86400.0


@pytest.fixture(autouse=True)
def _local_zone_is_utc(monkeypatch: pytest.MonkeyPatch) -> None:
    # Schedule texts name a zone that is not the machine's: make the machine's UTC here.
    monkeypatch.setenv("TZ", "UTC")


def tick() -> None:
    pass


def boom() -> None:
    raise ValueError("x")


def work(*args: object, **kwargs: object) -> None:
    pass


def _run(script: str, cwd: Path, timeout: float = 60) -> str:
    env = {**os.environ, "TZ": "UTC", "PYTHONPATH": ""}
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


# ---------------------------------------------------------------------------------- programs

PROGRAM = """
import time

from fastscheduler import FastScheduler, Job, JobHistory, JobStatus

scheduler = FastScheduler(
    state_file="scheduler.json",
    quiet=True,
    max_history=5000,
    max_workers=4,
    history_retention_days=0,
    max_dead_letters=50,
)
ran = []


@scheduler.every(10).seconds
def heartbeat():
    ran.append("heartbeat")


@scheduler.every(1).minutes.timeout(30).retries(5)
def quick_task():
    pass


@scheduler.daily.at("14:30")
async def daily_report():
    pass


@scheduler.hourly.at(":30")
def hourly_stats():
    pass


@scheduler.weekly.weekdays.at("09:00")
def standup():
    pass


@scheduler.cron("0 9 * * MON-FRI").tz("Asia/Tokyo")
def tokyo_market():
    pass


@scheduler.once(60)
def delayed_task():
    pass


@scheduler.every(5).minutes.retries(0)
def flaky():
    raise ValueError("x")


def with_args(a, b=0):
    ran.append(("with_args", a, b))


scheduler.every(2).hours.do(with_args, 1, b=2)

# The 0.2.x attributes: scheduler.jobs and its Job objects.
assert len(scheduler.jobs) == 9, scheduler.jobs
by_name = {job.func_name: job for job in scheduler.jobs}
assert isinstance(scheduler.jobs[0], Job)
assert by_name["quick_task"].timeout == 30 and by_name["quick_task"].max_retries == 5
assert by_name["heartbeat"].interval == 10 and by_name["heartbeat"].repeat
assert by_name["tokyo_market"].timezone == "Asia/Tokyo"
assert by_name["tokyo_market"].cron_expression == "0 9 * * MON-FRI"
assert by_name["standup"].schedule_days == [0, 1, 2, 3, 4]
assert by_name["daily_report"].schedule_time == "14:30"
assert by_name["delayed_task"].repeat is False
assert not any(job.paused for job in scheduler.jobs)
assert by_name["heartbeat"].status == JobStatus.SCHEDULED
# Before start(): next_run is when each job fires, as 0.2.x showed it.
now = time.time()
assert all(now - 1 < job.next_run < now + 8 * 86400 for job in scheduler.jobs)
assert all(j["next_run"] and j["next_run_in"] > 0 for j in scheduler.get_jobs())
# Readable schedules with the original's wording.
schedules = {j["func_name"]: j["schedule"] for j in scheduler.get_jobs()}
assert schedules["heartbeat"] == "Every 10 seconds"
assert schedules["quick_task"] == "Every minute"
assert schedules["daily_report"] == "Daily at 14:30"
assert schedules["hourly_stats"] == "Hourly at :30"
assert schedules["standup"] == "Every Mon\\u2013Fri at 09:00"
assert schedules["tokyo_market"].startswith("Cron: 0 9 * * MON-FRI")
assert schedules["delayed_task"].startswith("Once at ")

with scheduler:
    hb = by_name["heartbeat"].job_id
    assert scheduler.run_job_now(hb)
    assert scheduler.run_job_now(by_name["flaky"].job_id)
    deadline = time.monotonic() + 10
    while not (scheduler.get_dead_letters() and scheduler.get_job(hb)["run_count"]):
        assert time.monotonic() < deadline, "no runs"
        time.sleep(0.02)

    job = scheduler.get_job(hb)
    assert job["run_count"] == 1 and job["status"] in ("scheduled", "completed") and "timeout" in job
    assert scheduler.pause_job(hb) and scheduler.get_job(hb)["paused"] is True
    assert scheduler.resume_job(hb) and scheduler.get_job(hb)["paused"] is False

    history = scheduler.get_history(func_name="heartbeat", limit=10)
    assert history[0]["status"] == "completed" and history[0]["timestamp_readable"]
    keys = {"job_id", "func_name", "status", "timestamp", "error", "run_count", "retry_count",
            "execution_time", "timestamp_readable"}
    assert keys <= set(history[0].keys()), history[0].keys()
    (letter,) = scheduler.get_dead_letters(limit=10)
    assert keys <= set(letter.keys()), letter.keys()
    assert letter["error"] == "Max retries exceeded: ValueError: x"
    assert (letter["status"], letter["retry_count"], letter["run_count"]) == ("failed", 0, 1)

    stats = scheduler.get_statistics()
    assert (stats["total_runs"], stats["total_failures"], stats["total_retries"]) == (2, 1, 0)
    assert stats["per_job"]["heartbeat"] == {"completed": 1, "failed": 0, "total_runs": 1}
    assert stats["uptime_readable"] and stats["active_jobs"] == 9
    assert scheduler.stats["total_runs"] == 2

    assert len(scheduler.history) == 2 and isinstance(scheduler.history[0], JobHistory)
    assert len(scheduler.dead_letters) == 1 and scheduler.dead_letters[0].error.endswith("x")

    assert scheduler.cancel_job_by_name("standup") == 1
    assert scheduler.cancel_job(by_name["hourly_stats"].job_id) is True
    assert scheduler.cancel_job("job_999") is False
    assert len(scheduler.jobs) == 7
    scheduler.print_status()
    assert scheduler.clear_dead_letters() == 1
    assert len(scheduler.dead_letters) == 0

assert ran == ["heartbeat"], ran
assert scheduler.state_file.name == "scheduler.json"  # a Path, as in 0.2.x

# auto_start=True: started in the constructor, before the decorators; the jobs register and
# find their stored state all the same.
again = FastScheduler(state_file="scheduler.json", quiet=True, auto_start=True)


@again.every(10).seconds
def heartbeat():
    ran.append("heartbeat")


assert again.running and again.get_job(hb)["run_count"] == 1, again.get_job(hb)
again.stop()
print("ok")
"""


def test_a_02x_program_runs_unchanged(tmp_path: Path) -> None:
    out = _run(PROGRAM, tmp_path)
    assert out.rstrip().endswith("ok")
    assert "FastScheduler [RUNNING]" in out and "Jobs: 7 | Runs: 2 | Failures: 1" in out
    assert (tmp_path / "scheduler.json").exists()


IMPORTS = """
from fastscheduler import FastScheduler, Job, JobHistory, JobStatus, __version__
from fastscheduler.main import FastScheduler as MainFastScheduler, Job as MainJob
from fastscheduler.models import Job as ModelJob, JobHistory as ModelJobHistory, JobStatus as ModelStatus
from fastscheduler.schedulers import (
    CronScheduler, DailyAtScheduler, DailyScheduler, HourlyAtScheduler, HourlyScheduler,
    IntervalScheduler, OnceScheduler, WeeklyAtScheduler, WeeklyScheduler,
)
from fastscheduler.storage import JSONStorageBackend, StorageBackend, get_sqlmodel_backend
from fastscheduler.storage.base import StorageBackend as BaseStorageBackend
from fastscheduler.storage.json_backend import JSONStorageBackend as JSONBackend2
from fastscheduler.storage.sqlmodel_backend import SQLModelStorageBackend
from fastscheduler.fastapi_integration import create_scheduler_routes

assert MainFastScheduler is FastScheduler and MainJob is Job is ModelJob
assert ModelJobHistory is JobHistory and ModelStatus is JobStatus
assert BaseStorageBackend is StorageBackend and JSONBackend2 is JSONStorageBackend
assert get_sqlmodel_backend() is SQLModelStorageBackend
assert [s.value for s in JobStatus][:5] == ["scheduled", "running", "completed", "failed", "missed"]
s = FastScheduler(storage="memory")
assert isinstance(s.every(10), IntervalScheduler) and isinstance(s.daily, DailyScheduler)
assert isinstance(s.daily.at("10:00"), DailyAtScheduler) and isinstance(s.weekly, WeeklyScheduler)
assert isinstance(s.weekly.monday.at("10:00"), WeeklyAtScheduler) and isinstance(s.hourly, HourlyScheduler)
assert isinstance(s.hourly.at(":15"), HourlyAtScheduler) and isinstance(s.once(5), OnceScheduler)
assert isinstance(s.cron("* * * * *"), CronScheduler)
print("ok")
"""


def test_the_02x_module_layout_imports(tmp_path: Path) -> None:
    assert _run(IMPORTS, tmp_path).strip() == "ok"


def test_a_02x_fastapi_app_serves_the_original_routes_and_keys(tmp_path: Path) -> None:
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    from fastscheduler.fastapi_integration import create_scheduler_routes

    clock = ManualClock(T0)
    app = FastAPI()
    scheduler = FastScheduler(quiet=True, clock=clock, timezone="UTC")
    app.include_router(create_scheduler_routes(scheduler))

    @scheduler.every(30).seconds
    def background_task() -> None:
        pass

    @scheduler.every(1).minutes.retries(1)
    def failing() -> None:
        raise ValueError("x")

    scheduler.start()
    try:
        clock.advance(70)  # background_task: 2 runs; failing: a run and its retry
        client = TestClient(app)
        assert client.get("/scheduler/").status_code == 200
        assert client.get("/scheduler/api/status").json()["running"] is True
        jobs = client.get("/scheduler/api/jobs").json()["jobs"]
        keys = {"job_id", "func_name", "status", "schedule", "next_run", "next_run_in", "run_count"}
        assert all(keys | {"retry_count", "paused", "last_run"} <= set(j) for j in jobs)
        job_id = next(j["job_id"] for j in jobs if j["func_name"] == "background_task")
        job = client.get(f"/scheduler/api/jobs/{job_id}").json()["job"]
        assert job["schedule"] == "Every 30 seconds" and "timeout" in job and job["run_count"] == 2
        for action in ("pause", "resume", "run"):
            assert client.post(f"/scheduler/api/jobs/{job_id}/{action}").json()["success"] is True
        history = client.get("/scheduler/api/history", params={"func_name": "failing", "limit": 5}).json()
        entry = history["history"][0]
        assert set(entry) >= {
            "job_id",
            "func_name",
            "status",
            "timestamp",
            "error",
            "run_count",
            "retry_count",
            "execution_time",
            "timestamp_readable",
        }
        letters = client.get("/scheduler/api/dead-letters").json()["dead_letters"]
        (letter,) = letters
        assert letter["error"] == "Max retries exceeded: ValueError: x"
        assert (letter["status"], letter["retry_count"], letter["run_count"]) == ("failed", 1, 1)
        assert letter["timestamp_readable"] and letter["execution_time"] is not None
        assert letter["timestamp"] == letter["executed_at"]
        assert client.delete("/scheduler/api/dead-letters").json()["cleared"] == 1
        assert client.post(f"/scheduler/api/jobs/{job_id}/cancel").json()["success"] is True
        assert client.get(f"/scheduler/api/jobs/{job_id}").status_code == 404  # 0.2.x: 200 + error
    finally:
        scheduler.stop()


# ---------------------------------------------------------------------------------- the views


def test_the_views_are_read_only_and_say_what_to_call_instead() -> None:
    s = FastScheduler(storage="memory", quiet=True, clock=ManualClock(T0))
    assert len(s.jobs) == 0 and s.jobs == [] and list(s.history) == [] and not s.dead_letters
    s.every(10).seconds.do(tick)
    job = s.jobs[0]
    with pytest.raises(TypeError, match=r"scheduler\.jobs is a read-only view.*cancel_job"):
        s.jobs.append(job)
    with pytest.raises(TypeError, match=r"scheduler\.jobs is a read-only view"):
        s.jobs.pop()
    with pytest.raises(TypeError, match=r"scheduler\.jobs is a read-only view"):
        del s.jobs[0]
    with pytest.raises(TypeError, match=r"scheduler\.jobs is a read-only view"):
        s.jobs = []  # type: ignore[assignment]
    with pytest.raises(TypeError, match=r"scheduler\.history is a read-only view"):
        s.history.clear()
    with pytest.raises(TypeError, match=r"scheduler\.dead_letters is a read-only view.*clear_dead_letters"):
        s.dead_letters.clear()
    with pytest.raises(TypeError, match=r"scheduler\.stats is a read-only view"):
        s.stats = {}  # type: ignore[assignment]
    with pytest.raises(AttributeError, match=r"Job\.paused is read-only: use scheduler\.pause_job"):
        job.paused = True  # type: ignore[misc]
    with pytest.raises(AttributeError, match=r"Job\.next_run is read-only"):
        job.next_run = 0.0  # type: ignore[misc]
    with pytest.raises(AttributeError, match=r"Job\.timeout is read-only.*pause_job\(\), resume_job\(\)"):
        job.timeout = 1.0  # type: ignore[misc]
    assert s.jobs[0].paused is False  # nothing changed


def test_history_and_dead_letter_views_hand_out_read_only_records() -> None:
    clock = ManualClock(T0)
    s = FastScheduler(storage="memory", quiet=True, clock=clock)
    s.every(10).seconds.retries(0).do(boom)
    s.start()
    clock.advance(20)
    assert [h.timestamp for h in s.history] == [T0 + 10, T0 + 20]  # oldest first, as in 0.2.x
    assert [d.executed_at for d in s.dead_letters] == [T0 + 10, T0 + 20]
    with pytest.raises(AttributeError, match=r"HistoryEntry\.status is read-only"):
        s.history[0].status = "completed"
    with pytest.raises(AttributeError, match=r"DeadLetter\.error_message is read-only.*clear_dead_letters"):
        s.dead_letters[0].error_message = ""
    assert s.get_history()[-1].status == "failed"  # the scheduler's records are untouched
    assert s.history[0].to_dict()["timestamp_readable"]
    s.stop()


def test_job_views_carry_the_02x_attributes_of_every_schedule_kind() -> None:
    clock = ManualClock(T0)
    s = FastScheduler(storage="memory", quiet=True, clock=clock, timezone="UTC")
    s.every(90).seconds.timeout(5).do(tick)
    s.daily.at("14:30:15").retries(1).do(tick)
    s.hourly.at(":15").do(tick)
    s.weekly.on(["mon", "wed"]).at("10:00", tz="Europe/Paris").do(tick)
    s.cron("*/15 * * * *").no_catch_up().do(tick)
    s.once(30).do(work, 1, key="v")
    got = {
        j.schedule_type: (j.schedule_time, j.schedule_days, j.cron_expression, j.interval, j.timezone)
        for j in s.jobs
    }
    assert got == {
        "interval": (None, None, None, 90.0, "UTC"),
        "daily": ("14:30:15", None, None, None, "UTC"),
        "hourly": (":15", None, None, None, "UTC"),
        "weekly": ("10:00", [0, 2], None, None, "Europe/Paris"),
        "cron": (None, None, "*/15 * * * *", None, "UTC"),
        "once": (None, None, None, None, "UTC"),
    }
    by_type = {j.schedule_type: j for j in s.jobs}
    assert by_type["interval"].timeout == 5.0 and by_type["daily"].max_retries == 1
    assert by_type["cron"].catch_up is False and by_type["interval"].max_retries == 3
    once = by_type["once"]
    assert (once.repeat, once.args, once.kwargs, once.func) == (False, (1,), {"key": "v"}, work)
    assert once.func_module == __name__ and once.get_schedule_description() == once.schedule
    assert once.to_dict()["status"] == "scheduled" and "func" not in once.to_dict()
    # next_run: soonest first, as get_jobs() lists them.
    assert [j.next_run for j in s.jobs] == sorted(j.next_run for j in s.jobs)  # type: ignore[type-var]
    assert by_type["once"].next_run == T0 + 30 and by_type["interval"].next_run == T0 + 90
    s.start()
    clock.advance(30)
    done = next(j for j in s.jobs if j.schedule_type == "once")
    assert (done.next_run, done.status.value, done.run_count) == (None, "completed", 1)
    assert done.last_run == T0 + 30
    assert s.pause_job(by_type["daily"].job_id)
    paused = next(j for j in s.jobs if j.schedule_type == "daily")
    assert paused.paused is True and paused.status.value == "scheduled"  # 0.2.x: paused is a flag
    s.stop()


def test_next_run_is_shown_before_start() -> None:
    clock = ManualClock(T0)
    s = FastScheduler(storage="memory", quiet=True, clock=clock, timezone="UTC")
    every = s.every(10).seconds.do(tick)
    cron = s.cron("0 9 * * MON-FRI", tz="America/New_York").do(tick)
    once = s.once(60).do(tick)
    paused = s.daily.at("14:30").do(tick)
    s.pause_job(paused)
    jobs = {j["job_id"]: j for j in s.get_jobs()}
    assert jobs[every]["next_run_timestamp"] == T0 + 10 and jobs[every]["next_run_in"] == 10
    market = CronExpr("0 9 * * MON-FRI", tz="America/New_York")
    assert jobs[cron]["next_run_timestamp"] == market.next_timestamps(T0, 1)[0]
    assert jobs[once]["next_run_timestamp"] == T0 + 60
    assert jobs[paused]["next_run"] is not None and jobs[paused]["paused"] is True  # 0.2.x shows it too
    assert all(j["next_run"] for j in jobs.values())
    s.start()  # once started, the engine's times: the same ones
    assert s.get_job(every)["next_run_timestamp"] == T0 + 10  # type: ignore[index]
    assert s.get_job(once)["next_run_timestamp"] == T0 + 60  # type: ignore[index]
    s.stop()


# ---------------------------------------------------------------------------------- storage


class DictBackend:
    """A backend as the 0.2.x README shows one: these five methods and nothing else."""

    def __init__(self) -> None:
        self.state: dict[str, Any] | None = None
        self.dead: list[dict[str, Any]] = []
        self.saves = 0
        self.closed = 0

    def save_state(
        self,
        jobs: list[dict[str, Any]],
        history: list[dict[str, Any]],
        statistics: dict[str, Any],
        job_counter: int,
        scheduler_running: bool,
    ) -> None:
        payload = {"jobs": jobs, "history": history, "statistics": statistics, "_job_counter": job_counter}
        self.state = json.loads(json.dumps(payload))  # what a file or a database would keep
        self.saves += 1

    def load_state(self) -> dict[str, Any] | None:
        return self.state

    def save_dead_letters(self, dead_letters: list[dict[str, Any]], max_dead_letters: int) -> None:
        self.dead = json.loads(json.dumps(dead_letters))

    def load_dead_letters(self) -> list[dict[str, Any]]:
        return self.dead

    def close(self) -> None:
        self.closed += 1


def _legacy_backend() -> Any:
    from fastscheduler.storage import StorageBackend

    return type("MyCustomBackend", (DictBackend, StorageBackend), {})()


def test_a_storage_backend_written_for_02x_is_used_through_the_adapter() -> None:
    from fastscheduler.storage import StorageBackend

    backend = _legacy_backend()
    assert isinstance(backend, StorageBackend)
    clock = ManualClock(T0)
    s1 = FastScheduler(storage=backend, quiet=True, clock=clock)
    job_id = s1.every(10).seconds.do(tick)
    s1.every(10).seconds.retries(0).do(boom)
    s1.start()
    clock.advance(30)
    assert s1.pause_job(job_id)
    s1.stop()
    assert backend.closed == 1 and backend.saves >= 1
    assert {j["job_id"] for j in backend.state["jobs"]} >= {job_id}
    assert all(h["timestamp_readable"] for h in backend.state["history"])
    assert [d["error"] for d in backend.dead] == ["Max retries exceeded: ValueError: x"] * 3
    assert all(d["status"] == "failed" and d["timestamp_readable"] for d in backend.dead)

    # A restart on the same backend: the jobs, counters, history and dead letters are back.
    clock = ManualClock(T0 + 35)
    s2 = FastScheduler(storage=backend, quiet=True, clock=clock)
    assert s2.every(10).seconds.do(tick) == job_id  # stable ids, not 0.2.x's job_0, job_1
    s2.every(10).seconds.retries(0).do(boom)
    s2.start()
    record = s2.get_job(job_id)
    assert record is not None and record["run_count"] == 3 and record["paused"] is True
    assert len(s2.get_history(func_name="tick")) == 3 and len(s2.get_dead_letters()) == 3
    assert s2.get_statistics()["total_runs"] == 6
    assert s2.clear_dead_letters() == 3
    s2.stop()
    assert backend.dead == [] and backend.closed == 2


def test_the_adapter_reads_what_a_02x_scheduler_saved() -> None:
    backend = _legacy_backend()
    backend.state = {
        "jobs": [{"job_id": "job_0", "func_name": "tick", "func_module": "app", "next_run": T0}],
        "history": [
            {"job_id": "job_0", "func_name": "tick", "status": "scheduled", "timestamp": T0 - 20},
            {"job_id": "job_0", "func_name": "tick", "status": "running", "timestamp": T0 - 10},
            {"job_id": "job_0", "func_name": "tick", "status": "completed", "timestamp": T0 - 10,
             "error": None, "run_count": 1, "retry_count": 0, "execution_time": 0.5,
             "timestamp_readable": "2026-05-28 20:26:30"},
        ],
        "statistics": {"total_runs": 1, "total_failures": 0, "total_retries": 0, "start_time": T0 - 60},
        "_job_counter": 1,
    }  # fmt: skip
    backend.dead = [
        {"job_id": "job_1", "func_name": "boom", "status": "failed", "timestamp": T0 - 8,
         "error": "Retry 1/1: ValueError: x", "run_count": 1, "retry_count": 1},
        {"job_id": "job_1", "func_name": "boom", "status": "failed", "timestamp": T0 - 5,
         "error": "Max retries exceeded: ValueError: x", "run_count": 2, "retry_count": 1,
         "execution_time": 0.25},
    ]  # fmt: skip
    s = FastScheduler(storage=backend, quiet=True, clock=ManualClock(T0))
    s.start()
    assert [(h.func_name, h.status) for h in s.get_history()] == [("tick", "completed")]
    (letter,) = s.get_dead_letters()  # a dead letter is an execution that failed on every attempt
    assert (letter.error_type, letter.error_message, letter.attempts) == ("ValueError", "x", 2)
    assert letter.error == "Max retries exceeded: ValueError: x" and letter.execution_time == 0.25
    assert s.get_jobs() == []  # 0.2.x's job records (counter ids) are not ours: code registers jobs
    s.stop()


def test_a_02x_backend_needs_its_abstract_methods_and_not_clear_dead_letters() -> None:
    from fastscheduler.storage import StorageBackend

    class Incomplete(StorageBackend):
        def save_state(self, *args: Any) -> None: ...

    with pytest.raises(TypeError, match="load_state"):
        Incomplete()  # type: ignore[abstract]
    backend = _legacy_backend()
    backend.dead = [{"job_id": "a"}]
    assert backend.clear_dead_letters() == 1 and backend.dead == []


def test_json_storage_backend_takes_the_02x_keywords(tmp_path: Path) -> None:
    from fastscheduler.storage import JSONStorageBackend, StorageBackend

    backend = JSONStorageBackend(state_file=str(tmp_path / "state.json"), quiet=True)
    assert isinstance(backend, StorageBackend) and backend.state_file == tmp_path / "state.json"
    s = FastScheduler(storage=backend, quiet=True)
    s.every(10).seconds.do(tick)
    s.start()
    s.stop()
    assert json.loads((tmp_path / "state.json").read_text())


def test_get_sqlmodel_backend_returns_the_sql_backend_with_its_02x_arguments(tmp_path: Path) -> None:
    from fastscheduler.storage import get_sqlmodel_backend
    from fastscheduler.stores.sql import SQLModelStorageBackend

    cls = get_sqlmodel_backend()
    assert issubclass(cls, SQLModelStorageBackend)
    backend = cls(database_url=f"sqlite:///{tmp_path / 'x.db'}", echo=False, quiet=True)
    s = FastScheduler(storage=backend, quiet=True)
    job_id = s.every(10).seconds.do(tick)
    s.start()
    s.stop()
    s2 = FastScheduler(storage=cls(f"sqlite:///{tmp_path / 'x.db'}"), quiet=True)
    s2.every(10).seconds.do(tick)
    s2.start()
    assert s2.get_job(job_id) is not None
    s2.stop()


def test_an_unknown_storage_backend_is_a_value_error() -> None:
    with pytest.raises(ValueError, match=r"^Unknown storage backend: 'redis'\. Use 'json', 'sqlmodel'"):
        FastScheduler(storage="redis")
    with pytest.raises(ValueError, match="Unknown storage backend: 42"):
        FastScheduler(storage=42)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------- retention


@pytest.mark.parametrize("storage", ["memory", "json"])
def test_history_retention_days_0_turns_age_pruning_off(tmp_path: Path, storage: str) -> None:
    clock = ManualClock(T0)
    state = str(tmp_path / "state.json")
    s = FastScheduler(state, storage=storage, quiet=True, clock=clock, history_retention_days=0)
    job_id = s.every(1).days.do(tick)
    s.start()
    clock.advance(30 * DAY)
    assert len(s.get_history(limit=100)) == 30  # 0.2.x: no age limit; the default keeps 7 days
    s.stop()
    if storage == "json":
        s2 = FastScheduler(state, quiet=True, clock=ManualClock(T0 + 30 * DAY), history_retention_days=0)
        assert s2.every(1).days.do(tick) == job_id
        s2.start()
        assert len(s2.get_history(limit=100)) == 30
        s2.stop()
    kept = FastScheduler(storage="memory", quiet=True, clock=(c := ManualClock(T0)))
    kept.every(1).days.do(tick)
    kept.start()
    c.advance(30 * DAY)
    assert len(kept.get_history(limit=100)) == 8  # the default: 7 days (both ends kept)
    kept.stop()
    with pytest.raises(ValueError, match="history_retention_days must be a number >= 0"):
        FastScheduler(storage="memory", history_retention_days=-1)


# ---------------------------------------------------------------------------------- restore


def test_a_finished_one_shot_restored_from_the_state_file_keeps_its_counters(tmp_path: Path) -> None:
    state = str(tmp_path / "state.json")
    clock = ManualClock(T0)
    s1 = FastScheduler(state, quiet=True, clock=clock)
    job_id = s1.once(5).do(tick)
    s1.start()
    clock.advance(10)
    assert s1.get_job(job_id)["run_count"] == 1  # type: ignore[index]
    s1.stop()
    for restart in (1, 2):  # and a second restart: the restored counters are saved again
        s = FastScheduler(state, quiet=True, clock=ManualClock(T0 + 100 * restart))
        assert s.once(5).do(tick) == job_id
        s.start()
        record = s.get_job(job_id)
        assert record is not None
        assert (record["status"], record["run_count"], record["failure_count"]) == ("completed", 1, 0)
        assert record["next_run"] is None and record["last_run_timestamp"] == T0 + 5
        assert next(j for j in s.jobs if j.job_id == job_id).run_count == 1
        s.stop()


# ---------------------------------------------------------------------------------- texts


def test_schedule_texts_keep_the_originals_wording_and_ids_are_unchanged() -> None:
    s = FastScheduler(storage="memory", quiet=True, clock=ManualClock(T0), timezone="UTC")
    cases = [
        (s.every(10).seconds, "Every 10 seconds", "every:10s"),
        (s.every(1).minutes, "Every minute", "every:60s"),
        (s.every(1).seconds, "Every second", "every:1s"),
        (s.every(2).hours, "Every 2 hours", "every:7200s"),
        (s.every(1).days, "Every day", "every:86400s"),
        (s.daily.at("14:30"), "Daily at 14:30", "daily:14:30:00@UTC"),
        (s.daily.at("09:00", tz="America/New_York"), "Daily at 09:00 (America/New_York)", None),
        (s.hourly.at(":30"), "Hourly at :30", "hourly:30:00@UTC"),
        (s.weekly.monday.at("10:00"), "Every Mon at 10:00", "weekly:MON:10:00:00@UTC"),
        (s.weekly.weekdays.at("09:00"), "Every Mon\u2013Fri at 09:00", None),
        (s.weekly.weekends.at("12:00"), "Every Sat, Sun at 12:00", None),
        (s.weekly.on(["mon", "wed", "fri"]).at("08:00"), "Every Mon, Wed, Fri at 08:00", None),
        (s.cron("0 9 * * MON-FRI"), "Cron: 0 9 * * MON-FRI \u2014 at 09:00, on Mon\u2013Fri", None),
        (s.cron("*/15 * * * *"), "Cron: */15 * * * * \u2014 every 15 minutes", "cron:*/15 * * * *@UTC"),
        (s.cron("* * * * *"), "Cron: * * * * * \u2014 every minute", None),
        (s.cron("0 9 * * MON-FRI").tz("Asia/Tokyo"),
         "Cron: 0 9 * * MON-FRI \u2014 at 09:00, on Mon\u2013Fri (Asia/Tokyo)", None),
        (s.once(60), "Once at 2026-05-28 20:27:40", "once:60s"),
    ]  # fmt: skip
    for builder, text, key in cases:
        job_id = builder.do(tick)
        record = s.get_job(job_id)
        assert record is not None and record["schedule"] == text, (record, text)
        if key is not None:  # ids hold the schedule key, never the text: the same as before
            assert job_id == f"{__name__}.tick:{key}", job_id


def test_a_zone_is_named_when_it_is_not_the_machines(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "Europe/Paris")
    s = FastScheduler(storage="memory", quiet=True, clock=ManualClock(T0))  # the local zone
    assert s.get_job(s.daily.at("14:30").do(tick))["schedule"] == "Daily at 14:30"  # type: ignore[index]
    tokyo = FastScheduler(storage="memory", quiet=True, clock=ManualClock(T0), timezone="Asia/Tokyo")
    record = tokyo.get_job(tokyo.daily.at("14:30").do(tick))
    assert record is not None and record["schedule"] == "Daily at 14:30 (Asia/Tokyo)"
    record = tokyo.get_job(tokyo.once(60).do(tick))
    assert record is not None and record["schedule"] == "Once at 2026-05-29 05:27:40 (Asia/Tokyo)"


def test_the_dashboard_gets_a_one_shots_time_to_show_it_in_the_viewers_zone() -> None:
    from fastscheduler.dashboard.hub import wire_job

    s = FastScheduler(storage="memory", quiet=True, clock=ManualClock(T0), timezone="UTC")
    once = s.get_job(s.once(60).do(tick))
    every = s.get_job(s.every(10).seconds.do(tick))
    assert once is not None and every is not None
    assert (once["at"], once["kind"]) == (T0 + 60, "date")  # the text is the server's local time
    assert wire_job(once)["at"] == T0 + 60 and "at" not in wire_job(every)
    assert (every["interval"], every["cron"], every["at"]) == (10.0, None, None)

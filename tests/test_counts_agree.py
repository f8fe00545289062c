"""One meaning of run, attempt, failure, retry and missed (README "Runs, attempts, failures"),
shown the same by get_jobs(), get_statistics(), /api/jobs, /api/stats, the CLI and the dashboard's
chart: a job that fails, retries and is dead-lettered, next to one that succeeds and one that is
missed."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from fastscheduler import FastScheduler, ManualClock
from fastscheduler.cli import main
from fastscheduler.dashboard.hub import Hub
from fastscheduler.fastapi_integration import create_scheduler_routes

T0 = 1_780_000_000.0


def _flaky() -> None:
    raise ConnectionError("gateway down")


def _fine() -> None:
    pass


def test_every_surface_counts_runs_attempts_failures_retries_and_missed_alike(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = tmp_path / "state.json"
    clock = ManualClock(T0)
    sched = FastScheduler(state_file=str(state), quiet=True, clock=clock, timezone="UTC")
    hub = Hub(sched)
    sched.every(100).seconds.retries(2).id("flaky").do(_flaky)
    sched.every(100).seconds.id("fine").do(_fine)
    sched.once(5).no_catch_up().id("late").do(_fine)
    clock.set(T0 + 10)  # "late" was due before start(): missed under no_catch_up
    sched.start()
    clock.advance(210)  # two fires of each interval job; flaky: 2 runs x 3 attempts, both dead-lettered
    # one place defines the numbers: 2 runs of flaky (each 3 attempts, 2 retries, dead-lettered)
    expected_jobs = {"flaky": (2, 2, 4), "fine": (2, 0, 0), "late": (0, 0, 0)}
    jobs = {j["job_id"]: (j["run_count"], j["failure_count"], j["retry_count"]) for j in sched.get_jobs()}
    assert jobs == expected_jobs
    stats = sched.get_statistics()
    totals = (stats["total_runs"], stats["total_failures"], stats["total_retries"], stats["total_missed"])
    assert totals == (4, 2, 4, 1)
    assert stats["total_attempts"] == 8  # 6 of flaky, 2 of fine
    assert stats["per_job"]["_flaky"] == {"completed": 0, "failed": 2, "total_runs": 2}
    assert len(sched.get_dead_letters()) == 2
    assert sum(1 for h in sched.get_history(limit=100) if h.status == "failed") == 6  # one per attempt

    app = FastAPI()
    app.include_router(create_scheduler_routes(sched))
    client = TestClient(app)
    api_jobs = client.get("/scheduler/api/jobs").json()["jobs"]
    assert {j["job_id"]: (j["run_count"], j["failure_count"], j["retry_count"]) for j in api_jobs} == jobs
    api_stats = client.get("/scheduler/api/stats").json()
    assert {k: api_stats[k] for k in stats if k not in ("uptime_seconds", "uptime_readable")} == {
        k: v for k, v in stats.items() if k not in ("uptime_seconds", "uptime_readable")
    }
    # The dashboard's chart counts runs and failed runs, not attempts.
    chart = hub.chart.export(time.time())["series"][0]  # events carry the wall clock
    assert (sum(c[1] for c in chart["cells"]), sum(c[2] for c in chart["cells"])) == (4, 2)
    hub.close()
    sched.stop()

    assert main(["jobs", "--state", str(state), "--json"]) == 0
    stored = json.loads(capsys.readouterr().out)
    assert {j["job_id"]: (j["run_count"], j["failure_count"], j["retry_count"]) for j in stored} == jobs

"""The product article's code examples, run against this package (indentation restored: the
article's text lost it). The dashboard example belongs to the FastAPI integration's tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from fastscheduler import FastScheduler

PATTERNS = """
from fastscheduler import FastScheduler
scheduler = FastScheduler(quiet=True)

# Run every 5 minutes
@scheduler.every(5).minutes
def check_stock(): ...

# Every day at 14:30 local time
@scheduler.daily.at("14:30")
async def generate_report(): ...

# Weekdays at 09:00 (cron style)
@scheduler.cron("0 9 * * MON-FRI")
def open_market_check(): ...

# Only once, 60 seconds after start
@scheduler.once(60)
def warm_up_cache(): ...

# Next Monday at 10:00
@scheduler.weekly.monday.at("10:00")
def team_sync(): ...

# Option 1 - pass tz directly
@scheduler.daily.at("09:00", tz="America/New_York")
def nyc_daily(): ...

# Option 2 - chainable (often more readable)
@scheduler.weekly.friday.tz("Asia/Tokyo").at("17:00")
def tokyo_eod(): ...

@scheduler.every(1).minutes.timeout(45) # kill after 45 seconds
def maybe_slow_query(): ...

@scheduler.every(10).minutes.retries(4)
def call_payment_gateway(): ...

@scheduler.every(1).hours.no_catch_up()
def collect_metrics(): ...

failed = scheduler.get_dead_letters(limit=50)
for entry in failed:
    print(entry.error_message, entry.executed_at, entry.attempts)

scheduler.clear_dead_letters()
"""


def test_scheduling_patterns_register_every_job() -> None:
    namespace: dict[str, object] = {"__name__": "article"}
    exec(compile(PATTERNS, "article", "exec"), namespace)
    scheduler = namespace["scheduler"]
    assert isinstance(scheduler, FastScheduler)
    jobs = {j["func_name"]: j for j in scheduler.get_jobs()}
    assert set(jobs) == {
        "check_stock",
        "generate_report",
        "open_market_check",
        "warm_up_cache",
        "team_sync",
        "nyc_daily",
        "tokyo_eod",
        "maybe_slow_query",
        "call_payment_gateway",
        "collect_metrics",
    }
    assert scheduler.get_job(jobs["maybe_slow_query"]["job_id"])["timeout"] == 45  # type: ignore[index]
    assert jobs["call_payment_gateway"]["retries"] == 4
    assert jobs["collect_metrics"]["catch_up"] is False
    assert jobs["tokyo_eod"]["tz"] == "Asia/Tokyo"
    scheduler.start()
    try:
        # Wall-clock jobs know their next run once started.
        assert scheduler.get_job(jobs["nyc_daily"]["job_id"])["next_run_timestamp"] is not None  # type: ignore[index]
    finally:
        scheduler.stop()


MINIMAL = """
from fastscheduler import FastScheduler
scheduler = FastScheduler(quiet=True)

@scheduler.every(0.2).seconds
def heartbeat():
    print(f"[{__import__('time').strftime('%H:%M:%S')}] Heartbeat", flush=True)

scheduler.start() # blocks until interrupted
"""


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_a_script_ending_in_start_runs_until_interrupted_then_exits_cleanly(tmp_path: Path, sig: int) -> None:
    script = tmp_path / "minimal.py"
    script.write_text(textwrap.dedent(MINIMAL))
    proc = subprocess.Popen(
        [sys.executable, str(script)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert proc.stdout is not None
        beats = 0
        deadline = time.monotonic() + 20
        while beats < 3 and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if "Heartbeat" in line:
                beats += 1
        assert beats == 3, "the script did not keep running its job after start()"
        proc.send_signal(sig)
        _out, err = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert "Traceback" not in err, err

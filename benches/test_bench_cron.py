"""pytest-benchmark suite for the cron core against croniter, cronsim and APScheduler 3.

Disabled in normal test runs (``--benchmark-disable`` in pytest's addopts; ``benches/`` is not in
``testpaths``). ``make bench`` runs it with ``--benchmark-enable`` and then prints the one-table
report of ``benches/report.py``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from apscheduler.triggers.cron import CronTrigger
from croniter import croniter
from cronsim import CronSim

from fastscheduler import CronExpr

EXPRESSIONS = ["*/5 * * * *", "0 9 * * MON-FRI", "30 2 * * *"]
ZONES = ["UTC", "America/New_York"]
LIBRARIES = ["fastscheduler", "croniter", "cronsim", "apscheduler"]


def _parser(lib: str, expr: str, zone: str) -> Callable[[], Any]:
    tz = ZoneInfo(zone)
    start = datetime(2026, 3, 1, 12, tzinfo=tz)
    return {
        "fastscheduler": lambda: CronExpr(expr, tz=zone),
        "croniter": lambda: croniter(expr, start),
        "cronsim": lambda: CronSim(expr, start),
        "apscheduler": lambda: CronTrigger.from_crontab(expr, timezone=tz),
    }[lib]


def _stepper(lib: str, expr: str, zone: str) -> Callable[[], Any]:
    """One next-fire call per invocation, each continuing from the previous result."""
    tz = ZoneInfo(zone)
    start = datetime(2026, 3, 1, 12, tzinfo=tz)
    if lib == "croniter":
        it = croniter(expr, start)
        return lambda: it.get_next(datetime)
    if lib == "cronsim":
        cs = CronSim(expr, start)
        return lambda: next(cs)
    state = [start]
    if lib == "fastscheduler":
        step: Callable[[datetime], datetime] = CronExpr(expr, tz=zone).next
    else:
        trig = CronTrigger.from_crontab(expr, timezone=tz)

        def step(prev: datetime) -> datetime:
            return trig.get_next_fire_time(prev, prev)  # type: ignore[no-any-return]

    def run() -> datetime:
        state[0] = step(state[0])
        return state[0]

    return run


@pytest.mark.parametrize("zone", ZONES)
@pytest.mark.parametrize("expr", EXPRESSIONS)
@pytest.mark.parametrize("lib", LIBRARIES)
def test_parse(benchmark: Any, lib: str, expr: str, zone: str) -> None:
    benchmark.group = f"parse {expr!r} {zone}"
    benchmark(_parser(lib, expr, zone))


@pytest.mark.parametrize("zone", ZONES)
@pytest.mark.parametrize("expr", EXPRESSIONS)
@pytest.mark.parametrize("lib", LIBRARIES)
def test_next(benchmark: Any, lib: str, expr: str, zone: str) -> None:
    benchmark.group = f"next {expr!r} {zone}"
    result = benchmark(_stepper(lib, expr, zone))
    assert result is not None


@pytest.mark.parametrize("zone", ZONES)
def test_next_timestamps_batch_of_100k(benchmark: Any, zone: str) -> None:
    expr = CronExpr("*/5 * * * *", tz=zone)
    benchmark.group = "next_timestamps x100k"
    out = benchmark(expr.next_timestamps, 1.7e9, 100_000)
    assert len(out) == 100_000

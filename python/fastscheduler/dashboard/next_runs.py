"""A job's next fire times, for the dashboard's job page (``GET /api/jobs/{id}?next=10``).

Computed from what :meth:`FastScheduler.get_job` returns: the engine's next fire time
(``next_run_timestamp``, which already accounts for pauses, catch-up and the grid an interval
job was started on) comes first; the schedule gives the ones after it. The schedule itself is
taken from the record's ``cron`` / ``interval`` / ``at`` fields when it has them, otherwise read
back from its text (``schedule``), which the builders write in a fixed form:

- ``every 5 seconds`` (``every 1.5 hours (Europe/Paris)``): an interval;
- ``... (cron '*/15 * * * *', Etc/UTC)``: a cron expression, quoted as written;
- ``daily at 09:00 (Europe/Paris)``, ``hourly at :15``, ``weekly on Monday, Friday at 17:30
  (America/New_York)``: the cron expressions the builders make;
- ``once at 2026-01-01T09:00:00+01:00``: one instant.

Anything else (a schedule text this module does not know) yields the engine's next fire time
alone, with a note saying why there are no more.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fastscheduler import CronError, CronExpr

_DAYS = {
    "monday": "MON",
    "tuesday": "TUE",
    "wednesday": "WED",
    "thursday": "THU",
    "friday": "FRI",
    "saturday": "SAT",
    "sunday": "SUN",
}
_UNITS = {"second": 1.0, "minute": 60.0, "hour": 3600.0, "day": 86400.0, "week": 604800.0}
_ZONE = r"(?: \((?P<tz>[A-Za-z0-9_+\-/]+)\))"
_CLOCK = r"(?P<h>\d{2}):(?P<m>\d{2})(?::(?P<s>\d{2}))?"
_INTERVAL_RE = re.compile(
    r"every (?P<n>\d+(?:\.\d+)?(?:e[+-]?\d+)?) (?P<unit>second|minute|hour|day|week)s?" + _ZONE + "?"
)
_CRON_RE = re.compile(r".* \(cron '(?P<expr>[^']+)', (?P<tz>[^(),]+)\)")
_DAILY_RE = re.compile(r"daily at " + _CLOCK + _ZONE)
_HOURLY_RE = re.compile(r"hourly at :(?P<m>\d{2})(?::(?P<s>\d{2}))?" + _ZONE + "?")
_WEEKLY_RE = re.compile(r"weekly on (?P<days>[A-Za-z, ]+) at " + _CLOCK + _ZONE)
_ONCE_RE = re.compile(r"once at (?P<iso>\S+)" + _ZONE + "?")

#: The most fire times one request may ask for.
MAX_NEXT = 1000


@dataclass(frozen=True, slots=True)
class Schedule:
    """A job's schedule as data: exactly one of ``cron`` (with ``tz``), ``interval`` (seconds)
    or ``at`` (epoch seconds) is set."""

    cron: CronExpr | None = None
    interval: float | None = None
    at: float | None = None


def schedule_of(record: Mapping[str, Any]) -> Schedule | None:
    """The schedule of a ``get_job`` record, or None if it can't be known."""
    tz = record.get("tz") or "UTC"
    cron, interval, at = record.get("cron"), record.get("interval"), record.get("at")
    try:
        if isinstance(cron, str):
            return Schedule(cron=CronExpr(cron, tz=tz))
        if isinstance(interval, (int, float)) and interval > 0:
            return Schedule(interval=float(interval))
        if isinstance(at, (int, float)):
            return Schedule(at=float(at))
        text = record.get("schedule")
        if isinstance(text, str):
            return _parse(text.strip(), record.get("kind"), tz)
    except (CronError, ValueError, TypeError, OverflowError):
        pass
    return None


def _parse(text: str, kind: object, tz: str) -> Schedule | None:
    if kind == "interval" and (m := _INTERVAL_RE.fullmatch(text)):
        seconds = float(m["n"]) * _UNITS[m["unit"]]
        return Schedule(interval=seconds) if math.isfinite(seconds) and seconds > 0 else None
    if kind == "date" and (m := _ONCE_RE.fullmatch(text)):
        return Schedule(at=datetime.fromisoformat(m["iso"].replace("Z", "+00:00")).timestamp())
    if kind != "cron":
        return None
    # The record's zone is the job's; a zone in the text, when there is one, is the same.
    if m := _CRON_RE.fullmatch(text):
        return Schedule(cron=CronExpr(m["expr"], tz=tz))
    if m := _DAILY_RE.fullmatch(text):
        expr = f"{int(m['m'])} {int(m['h'])} * * * {int(m['s'] or 0)}"
    elif m := _HOURLY_RE.fullmatch(text):
        expr = f"{int(m['m'])} * * * * {int(m['s'] or 0)}"
    elif m := _WEEKLY_RE.fullmatch(text):
        names = [d.strip().lower() for d in m["days"].split(",")]
        if not names or any(n not in _DAYS for n in names):
            return None
        days = ",".join(_DAYS[n] for n in names)
        expr = f"{int(m['m'])} {int(m['h'])} * * {days} {int(m['s'] or 0)}"
    else:
        return None
    return Schedule(cron=CronExpr(expr, tz=tz))


def next_runs(record: Mapping[str, Any], n: int, now: float) -> tuple[list[float], str | None]:
    """The job's next ``n`` fire times (epoch seconds, soonest first) and, when they are fewer
    than ``n``, a note saying why (None otherwise).

    The first is the scheduler's own next run (before ``start()``: when the job would fire if
    started now); the others follow from the schedule. A record without a next run gives a cron or
    one-shot job's times as its schedule gives them after ``now``; an interval job's grid is unknown.
    """
    if n <= 0:
        return [], None
    status = record.get("status")
    if status == "orphaned":
        return [], "no code registers this job: it never runs"
    first = record.get("next_run_timestamp")
    first = float(first) if isinstance(first, (int, float)) and math.isfinite(first) else None
    if record.get("kind") == "date" and first is None and status in ("completed", "failed", "missed"):
        return [], "a one-shot job that has run: it does not fire again"
    schedule = schedule_of(record)
    if schedule is None:
        return [
            first
        ] if first is not None else [], "the schedule's later fire times are unknown to the dashboard"
    times: list[float] = []
    if schedule.cron is not None:
        if first is not None:
            times = [first, *schedule.cron.next_timestamps(first, n - 1)]
        else:
            times = schedule.cron.next_timestamps(now, n)
    elif schedule.interval is not None:
        if first is None:
            return [], "an interval job's fire times start when the scheduler starts"
        step = schedule.interval
        times = [first + i * step for i in range(n)]
        times = [t for t in times if math.isfinite(t) and t <= _LAST]
    elif schedule.at is not None:
        at = first if first is not None else schedule.at
        times = [at] if at > now or first is not None else []
        if len(times) < n:
            return times, "a one-shot job fires once" if times else "a one-shot job whose time has passed"
    if len(times) < n:
        return times, "the schedule has no more fire times"
    return times[:n], None


_LAST = 253402300799.0  # 9999-12-31T23:59:59Z

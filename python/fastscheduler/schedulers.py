"""0.2.x's ``fastscheduler.schedulers``: its builder class names, for code that imports them (type
hints, mostly). Each is the builder that does the same job here (:mod:`fastscheduler._builders`):
``IntervalScheduler`` is what ``scheduler.every(n)`` returns, and so on. Builders are immutable
values now: each modifier returns a new builder (docs/migrating.md)."""

from fastscheduler._builders import Cron, Daily, Every, Hourly, Once, Weekly

IntervalScheduler = Every
DailyScheduler = Daily
DailyAtScheduler = Daily
WeeklyScheduler = Weekly
WeeklyAtScheduler = Weekly
HourlyScheduler = Hourly
HourlyAtScheduler = Hourly
OnceScheduler = Once  # also what at() returned in 0.2.x (here: At)
CronScheduler = Cron

__all__ = [
    "CronScheduler",
    "DailyAtScheduler",
    "DailyScheduler",
    "HourlyAtScheduler",
    "HourlyScheduler",
    "IntervalScheduler",
    "OnceScheduler",
    "WeeklyAtScheduler",
    "WeeklyScheduler",
]

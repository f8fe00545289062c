"""fastscheduler: a decorator-first job scheduler with a Rust core.

``FastScheduler`` is the decorator API; ``CronExpr``, ``Backoff`` and the engine live in the
compiled ``fastscheduler._core`` extension.
"""

from fastscheduler._clock import ManualClock, SystemClock
from fastscheduler._core import (
    TZDB_VERSION,
    Backoff,
    CronError,
    CronExpr,
    UnknownTimeZoneError,
    __version__,
)
from fastscheduler.events import Event, EventBroker, EventType, LocalEventBroker
from fastscheduler.models import DeadLetter, HistoryEntry, JobStatus

JobHistory = HistoryEntry  # the original's name

TYPE_CHECKING = False
if TYPE_CHECKING:
    from fastscheduler.scheduler import FastScheduler, Job


def __getattr__(name: str) -> object:
    # The scheduler (and its executors) load on first use, so `import fastscheduler` for the cron
    # core stays light.
    if name in ("FastScheduler", "Job"):
        from fastscheduler import scheduler

        return getattr(scheduler, name)
    raise AttributeError(f"module 'fastscheduler' has no attribute {name!r}")


__all__ = [
    "TZDB_VERSION",
    "Backoff",
    "CronError",
    "CronExpr",
    "DeadLetter",
    "Event",
    "EventBroker",
    "EventType",
    "FastScheduler",
    "HistoryEntry",
    "Job",
    "JobHistory",
    "JobStatus",
    "LocalEventBroker",
    "ManualClock",
    "SystemClock",
    "UnknownTimeZoneError",
    "__version__",
]

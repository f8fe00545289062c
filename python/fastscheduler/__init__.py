"""fastscheduler: a decorator-first job scheduler with a Rust core.

``FastScheduler`` is the decorator API; ``CronExpr``, ``Backoff`` and the engine live in the
compiled ``fastscheduler._core`` extension.
"""

from fastscheduler._clock import ManualClock, SystemClock
from fastscheduler._context import RunInfo, current_run
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
    from fastscheduler.cluster import ClusterConfig
    from fastscheduler.scheduler import FastScheduler, Job, RunLostError


def __getattr__(name: str) -> object:
    # The scheduler (and its executors) load on first use, so `import fastscheduler` for the cron
    # core stays light.
    if name in ("FastScheduler", "Job", "RunLostError"):
        from fastscheduler import scheduler

        return getattr(scheduler, name)
    if name == "ClusterConfig":  # needs the database extra (SQLAlchemy)
        from fastscheduler import cluster

        return cluster.ClusterConfig
    raise AttributeError(f"module 'fastscheduler' has no attribute {name!r}")


__all__ = [
    "TZDB_VERSION",
    "Backoff",
    "ClusterConfig",
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
    "RunInfo",
    "RunLostError",
    "SystemClock",
    "UnknownTimeZoneError",
    "__version__",
    "current_run",
]

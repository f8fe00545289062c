"""fastscheduler: a decorator-first job scheduler with a Rust core.

The core (cron + time zones + DST, backoff, timer wheel) lives in the compiled
``fastscheduler._core`` extension; this package is its public face.
"""

from fastscheduler._core import (
    TZDB_VERSION,
    Backoff,
    CronError,
    CronExpr,
    UnknownTimeZoneError,
    __version__,
)

__all__ = [
    "TZDB_VERSION",
    "Backoff",
    "CronError",
    "CronExpr",
    "UnknownTimeZoneError",
    "__version__",
]

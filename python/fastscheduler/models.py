"""Records the scheduler hands out: job status, run history entries and dead letters.

History entries and dead letters are objects with attributes that also answer the original
fastscheduler 0.2.x dict keys (``entry["error"]``, ``entry.get("timestamp")``), so code written
for either keeps working.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator
from dataclasses import asdict, dataclass, fields
from datetime import datetime
from typing import Any, ClassVar


class JobStatus(str, enum.Enum):
    """State of a job or the outcome of one run (the original's values, plus ``paused``)."""

    SCHEDULED = "scheduled"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    MISSED = "missed"
    PAUSED = "paused"
    ORPHANED = "orphaned"


def readable(ts: float | None) -> str | None:
    """Local-time text of an epoch timestamp (``None`` stays ``None``)."""
    if ts is None:
        return None
    return datetime.fromtimestamp(ts).astimezone().strftime("%Y-%m-%d %H:%M:%S %Z")


class _Record:
    """Mapping-style read access to a dataclass record: ``r["key"]``, ``r.get``, ``keys()``."""

    _aliases: ClassVar[dict[str, str]] = {}

    def __getitem__(self, key: str) -> Any:
        name = self._aliases.get(key, key)
        try:
            return getattr(self, name)
        except AttributeError:
            raise KeyError(key) from None

    def get(self, key: str, default: Any = None) -> Any:
        try:
            return self[key]
        except KeyError:
            return default

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self.get(key, _MISSING) is not _MISSING

    def keys(self) -> list[str]:
        return [f.name for f in fields(self)] + list(self._aliases)  # type: ignore[arg-type]

    def __iter__(self) -> Iterator[str]:
        return iter(self.keys())

    def to_dict(self) -> dict[str, Any]:
        """A plain dict with every field and alias (JSON-friendly)."""
        d = asdict(self)  # type: ignore[call-overload]
        for alias, name in self._aliases.items():
            d[alias] = getattr(self, name)
        return d  # type: ignore[no-any-return]


_MISSING = object()


@dataclass(slots=True)
class HistoryEntry(_Record):
    """One finished run (or a missed one). ``timestamp`` is when it ended, in epoch seconds."""

    job_id: str
    func_name: str
    status: str
    timestamp: float
    error: str | None = None
    run_count: int = 0
    retry_count: int = 0
    execution_time: float | None = None
    scheduled_time: float | None = None
    attempt: int = 1
    name: str = ""
    """The job's name, as ``get_jobs()`` gives it: ``.name()``, else the function's name."""

    def __post_init__(self) -> None:
        if not self.name:  # a record stored before names were filled in for unnamed jobs
            self.name = self.func_name

    @property
    def timestamp_readable(self) -> str | None:
        return readable(self.timestamp)

    _aliases: ClassVar[dict[str, str]] = {"timestamp_readable": "timestamp_readable"}


@dataclass(slots=True)
class DeadLetter(_Record):
    """An execution that failed on every attempt. Recorded once, when its retries ran out."""

    job_id: str
    func_name: str
    error_type: str
    error_message: str
    traceback: str
    attempts: int
    executed_at: float
    first_attempt_at: float
    scheduled_time: float | None = None
    name: str = ""
    """The job's name, as ``get_jobs()`` gives it: ``.name()``, else the function's name."""

    def __post_init__(self) -> None:
        if not self.name:  # a record stored before names were filled in for unnamed jobs
            self.name = self.func_name

    _aliases: ClassVar[dict[str, str]] = {"error": "error_message", "timestamp": "executed_at"}

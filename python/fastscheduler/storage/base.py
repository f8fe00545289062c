"""0.2.x's storage interface, and the adapter that lets the scheduler use a backend written for it.

fastscheduler 0.2.x saved its whole state at each change: ``save_state(jobs, history, statistics,
job_counter, scheduler_running)`` and ``save_dead_letters(dead_letters, max_dead_letters)``, read
back with ``load_state()`` and ``load_dead_letters()``. A backend written that way (as the 0.2.x
README shows) subclasses :class:`StorageBackend` here and is passed as before,
``FastScheduler(storage=MyBackend())``; :class:`LegacyStorageAdapter` turns it into a
:class:`fastscheduler.stores.StorageBackend` (``open``, ``write``, ``close``), the interface of the
built-in backends.

The adapter keeps the state in memory and hands the backend all of it on each save (at most one
save a second: changes in between are saved together), as 0.2.x did. The records are the
scheduler's own (each with ``"v"``, its format version), history entries and dead letters with
0.2.x's keys added (``timestamp_readable``; a dead letter's ``status``, ``error``, ...); what
``load_state`` and ``load_dead_letters`` return is read back. Dead letters a 0.2.x scheduler saved
are read too (its entries for failed retries are left out: a dead letter is now an execution that
failed on every attempt); its job records and counters are not (jobs are registered again by the
code, under stable ids).
"""

from __future__ import annotations

import copy
import threading
from abc import ABC, abstractmethod
from typing import Any

from fastscheduler.models import readable
from fastscheduler.stores import FORMAT_VERSION, Changes, Limits, StoredState
from fastscheduler.stores import StorageBackend as NativeStorageBackend
from fastscheduler.stores.memory import apply_changes

__all__ = ["LegacyStorageAdapter", "StorageBackend"]

_OUTCOMES = frozenset({"completed", "failed", "missed"})
_MAX_RETRIES_EXCEEDED = "Max retries exceeded: "


class StorageBackend(ABC):
    """fastscheduler 0.2.x's backend interface. Implement the four abstract methods (and
    ``close`` if there is something to release); ``clear_dead_letters`` has a default.

    The built-in backends (:mod:`fastscheduler.stores`) count as instances of this class too, so
    ``isinstance(backend, fastscheduler.storage.StorageBackend)`` holds for every backend the
    scheduler accepts. A new backend is better written for :class:`fastscheduler.stores.StorageBackend`:
    it is handed only what changed.
    """

    @abstractmethod
    def save_state(
        self,
        jobs: list[dict[str, Any]],
        history: list[dict[str, Any]],
        statistics: dict[str, Any],
        job_counter: int,
        scheduler_running: bool,
    ) -> None:
        """Save the whole state (replacing what was saved before)."""

    @abstractmethod
    def load_state(self) -> dict[str, Any] | None:
        """What :meth:`save_state` saved last, as ``{"jobs": [...], "history": [...],
        "statistics": {...}}``, or None if nothing was saved yet."""

    @abstractmethod
    def save_dead_letters(self, dead_letters: list[dict[str, Any]], max_dead_letters: int) -> None:
        """Save every dead letter (replacing what was saved before)."""

    @abstractmethod
    def load_dead_letters(self) -> list[dict[str, Any]]:
        """What :meth:`save_dead_letters` saved last (empty if nothing)."""

    def clear_dead_letters(self) -> int:
        """Remove every saved dead letter; returns how many there were."""
        count = len(self.load_dead_letters())
        self.save_dead_letters([], 0)
        return count

    def close(self) -> None:  # noqa: B027 - optional hook, as in 0.2.x
        """Release resources. Override if needed."""


StorageBackend.register(NativeStorageBackend)  # type: ignore[type-abstract]


class LegacyStorageAdapter(NativeStorageBackend):
    """A 0.2.x-style :class:`StorageBackend` as a :class:`fastscheduler.stores.StorageBackend`
    (see the module doc). ``backend`` is the wrapped object."""

    #: Each save hands the backend everything: let changes gather for a second.
    min_write_interval = 1.0

    def __init__(self, backend: StorageBackend) -> None:
        self.backend = backend
        self._lock = threading.Lock()
        self._state = StoredState()
        self._limits = Limits()

    def open(self, limits: Limits) -> StoredState:
        loaded = self.backend.load_state() or {}
        jobs = {
            r["job_id"]: r
            for r in _dicts(loaded.get("jobs"))
            # ours; 0.2.x's (with its func_module, schedule_type) had counter ids: left out
            if isinstance(r.get("job_id"), str) and "func_module" not in r and "schedule_type" not in r
        }
        history = [
            {k: v for k, v in h.items() if k != "timestamp_readable"}
            for h in _dicts(loaded.get("history"))
            if h.get("status") in _OUTCOMES  # 0.2.x also logged "scheduled" and "running"
        ]
        stats = loaded.get("statistics")
        stats = stats if isinstance(stats, dict) and "totals" in stats else {}
        dead = [_dead_letter(d) for d in _dicts(self.backend.load_dead_letters())]
        state = StoredState(jobs, history, [d for d in dead if d is not None], stats)
        with self._lock:
            self._state, self._limits = state, limits
            return copy.deepcopy(state)

    def write(self, changes: Changes, now: float) -> None:
        with self._lock:
            apply_changes(self._state, changes, self._limits, now)
            state = self._state
            if changes.jobs or changes.deleted_jobs or changes.history or changes.stats is not None:
                self.backend.save_state(
                    jobs=list(state.jobs.values()),
                    history=[_readable(h, "timestamp") for h in state.history],
                    statistics=dict(state.stats),
                    job_counter=len(state.jobs),
                    scheduler_running=True,
                )
            if changes.dead_letters or changes.clear_dead_letters:
                self.backend.save_dead_letters(
                    [_dead_letter_out(d) for d in state.dead_letters], self._limits.max_dead_letters
                )

    def close(self) -> None:
        self.backend.close()


def _dicts(value: Any) -> list[dict[str, Any]]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _readable(record: dict[str, Any], key: str) -> dict[str, Any]:
    """``record`` with 0.2.x's ``timestamp_readable`` (of ``record[key]``)."""
    ts = record.get(key)
    return {**record, "timestamp_readable": readable(ts) if isinstance(ts, (int, float)) else None}


def _dead_letter_out(record: dict[str, Any]) -> dict[str, Any]:
    """A stored dead letter with 0.2.x's keys added (what ``DeadLetter.to_dict()`` has too)."""
    out = _readable(record, "executed_at")
    out["timestamp"] = record.get("executed_at")
    out["status"] = "failed"
    out["retry_count"] = max(0, int(record.get("attempts") or 1) - 1)
    out["error"] = f"{_MAX_RETRIES_EXCEEDED}{record.get('error_type')}: {record.get('error_message')}"
    return out


def _dead_letter(record: dict[str, Any]) -> dict[str, Any] | None:
    """A loaded dead letter as the scheduler stores one: ours (the keys 0.2.x's readers wanted
    removed again), or one a 0.2.x scheduler saved (converted), or None for a 0.2.x entry of a
    failed retry, which was not a dead letter."""
    if "error_type" in record:
        added = ("timestamp", "timestamp_readable", "status", "retry_count", "error")
        return {k: v for k, v in record.items() if k not in added}
    error = record.get("error")
    ts = record.get("timestamp")
    if not isinstance(error, str) or not error.startswith(_MAX_RETRIES_EXCEEDED):
        return None
    if not isinstance(ts, (int, float)) or isinstance(ts, bool):
        return None
    error_type, sep, message = error[len(_MAX_RETRIES_EXCEEDED) :].partition(": ")
    if not sep:
        error_type, message = "Exception", error_type
    retries = record.get("retry_count")
    runs = record.get("run_count")
    elapsed = record.get("execution_time")
    return {
        "v": FORMAT_VERSION,
        "job_id": str(record.get("job_id") or ""),
        "func_name": str(record.get("func_name") or ""),
        "error_type": error_type,
        "error_message": message,
        "traceback": "",
        "attempts": (retries if isinstance(retries, int) and retries >= 0 else 0) + 1,
        "executed_at": float(ts),
        "first_attempt_at": float(ts),
        "run_count": runs if isinstance(runs, int) and runs >= 0 else 0,
        "execution_time": float(elapsed) if isinstance(elapsed, (int, float)) and elapsed >= 0 else None,
    }

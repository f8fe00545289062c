"""The run log: history, dead letters and statistics, bounded in memory and handed to the store.

Counts use the definitions of the README ("Runs, attempts, failures"): a *run* is one execution of
a fire, from its first attempt to its last; an *attempt* is one call of the job's function; a
*failure* is a run whose last attempt failed (it is dead-lettered); a *retry* is an attempt after a
failed one; a *missed* fire is one that was not run. The totals here move at the same moments, by
the same amounts, as each job's counters in the engine, so ``get_statistics()`` and the jobs'
``run_count``/``failure_count``/``retry_count`` agree.
"""

from __future__ import annotations

import collections
import dataclasses
import itertools
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final

from fastscheduler.models import DeadLetter, HistoryEntry, readable
from fastscheduler.stores import FORMAT_VERSION

if TYPE_CHECKING:
    from fastscheduler._saver import Saver
    from fastscheduler.stores import StoredState

__all__ = ["HISTORY_NAMES", "RunLog", "record"]

_COUNTS: Final = ("runs", "failures", "retries", "missed", "attempts")


def _per_job() -> dict[str, int]:
    return {"completed": 0, "failed": 0, "total_runs": 0}


class RunLog:
    """History entries, dead letters and counts of one scheduler (see the module doc). Writers
    hold ``lock``; the store's copy is kept current through ``saver`` while one is open."""

    def __init__(
        self,
        lock: threading.RLock,
        clock: Callable[[], float],
        *,
        max_history: int,
        max_dead_letters: int,
        history_retention_days: float,
    ) -> None:
        self._lock = lock
        self._clock = clock
        self.retention = history_retention_days * 86400
        self._history: collections.deque[HistoryEntry] = collections.deque(maxlen=max_history or None)
        self._dead: collections.deque[DeadLetter] = collections.deque(maxlen=max_dead_letters or None)
        self._totals = dict.fromkeys(_COUNTS, 0)
        self._per_job: dict[str, dict[str, int]] = {}
        # Counts already stored by others (a cluster's other instances) when this one loaded them:
        # this instance stores only its own.
        self._base: tuple[dict[str, int], dict[str, dict[str, int]]] | None = None
        # The totals a store held when they were loaded: what this scheduler counted itself is the
        # difference (``own_totals``, which metrics read).
        self._loaded = dict.fromkeys(_COUNTS, 0)
        self.saver: Saver | None = None
        # Added since the saver last read them (``unsaved``), and whether dead letters were cleared.
        self._unsaved_history = 0
        self._unsaved_dead = 0
        self._cleared = False

    # ------------------------------------------------------------------ loading

    def load(self, state: StoredState, *, shared: bool) -> None:
        """Add what a store held (once, at the first ``start()``). ``shared``: the counts are
        every instance's, and this instance will store only what it adds to them."""
        # Everything is converted before any of it is kept: a bad record leaves the log as it was.
        history = [_history_entry(h) for h in state.history]
        dead = [_dead_letter(d) for d in state.dead_letters]
        totals = dict(self._totals)
        stored_totals = state.stats.get("totals") or {}
        loaded = {k: self._loaded[k] + int(stored_totals.get(k, 0)) for k in self._loaded}
        for k in totals:
            totals[k] += int(stored_totals.get(k, 0))
        per_job = {k: dict(v) for k, v in self._per_job.items()}
        for name, counts in (state.stats.get("per_job") or {}).items():
            mine = per_job.setdefault(name, _per_job())
            for k in mine:
                mine[k] += int(counts.get(k, 0))
        self._history.extend(history)
        self._dead.extend(dead)
        self._totals, self._per_job, self._loaded = totals, per_job, loaded
        if shared:
            self._base = (dict(self._totals), {k: dict(v) for k, v in self._per_job.items()})

    # ------------------------------------------------------------------ recording (lock held)

    def attempt_ended(self, *, retried: bool) -> None:
        """An attempt ended; ``retried``: it failed and a retry follows."""
        self._totals["attempts"] += 1
        if retried:
            self._totals["retries"] += 1

    def run_ended(self, name: str, ok: bool) -> None:
        """A run ended: succeeded, or failed on its last attempt."""
        stats = self._per_job.get(name)
        if stats is None:
            stats = self._per_job[name] = _per_job()
        stats["total_runs"] += 1
        self._totals["runs"] += 1
        if ok:
            stats["completed"] += 1
        else:
            stats["failed"] += 1
            self._totals["failures"] += 1

    def missed(self, count: int) -> None:
        self._totals["missed"] += count

    def add(self, entry: HistoryEntry) -> None:
        self._history.append(entry)
        if self.saver is not None:  # counted, not copied: the saver reads the newest at its write
            self._unsaved_history += 1
            self.saver.poke()

    def add_dead_letter(self, letter: DeadLetter) -> None:
        self._dead.append(letter)
        if self.saver is not None:
            self._unsaved_dead += 1
            self.saver.poke()

    def clear_dead_letters(self) -> int:
        with self._lock:
            n = len(self._dead)
            self._dead.clear()
            if self.saver is not None:
                self._unsaved_dead = 0
                self._cleared = True
                self.saver.poke()
        return n

    def unsaved(self) -> tuple[list[HistoryEntry], list[DeadLetter], bool]:
        """(lock held; the saver's) The history entries and dead letters added since the last
        call, oldest first, and whether the dead letters were cleared. At most what the buffers
        hold (``max_history``, ``max_dead_letters``): older ones would be pruned from the store at
        once anyway. Entries are never changed once added, so the saver turns them into records
        after the lock is released (:func:`record`)."""
        history = _newest(self._history, self._unsaved_history)
        dead = _newest(self._dead, self._unsaved_dead)
        cleared = self._cleared
        self._unsaved_history = self._unsaved_dead = 0
        self._cleared = False
        return history, dead, cleared

    # ------------------------------------------------------------------ reading

    def own_totals(self) -> dict[str, int]:
        """The counts (runs, failures, retries, missed, attempts) of what this scheduler recorded
        itself, without those a store held when it was loaded (metrics count from zero)."""
        with self._lock:
            return {k: n - self._loaded[k] for k, n in self._totals.items()}

    def history(self, func_name: str | None, limit: int) -> list[HistoryEntry]:
        """The newest ``limit`` entries, newest first, optionally of one function."""
        with self._lock:
            horizon = self._clock() - self.retention
            while self._history and self._history[0].timestamp < horizon:
                self._history.popleft()
            entries = [e for e in reversed(self._history) if func_name is None or e.func_name == func_name]
        return entries[: max(0, limit)]

    def dead_letters(self, limit: int) -> list[DeadLetter]:
        with self._lock:
            return list(reversed(self._dead))[: max(0, limit)]

    def __len__(self) -> int:
        return len(self._dead)

    def statistics(self, start_time: float | None) -> dict[str, Any]:
        """The counts, with uptime since ``start_time`` (lock held)."""
        now = self._clock()
        uptime = (now - start_time) if start_time is not None else 0.0
        runs, failures = self._totals["runs"], self._totals["failures"]
        return {
            "total_runs": runs,
            "total_failures": failures,
            "total_retries": self._totals["retries"],
            "total_missed": self._totals["missed"],
            "total_attempts": self._totals["attempts"],
            "success_rate": 100.0 * (runs - failures) / runs if runs else 100.0,
            "start_time": readable(start_time),
            "uptime_seconds": uptime,
            "uptime_readable": _duration(uptime),
            "per_job": {k: dict(v) for k, v in self._per_job.items()},
            "dead_letters": len(self._dead),
        }

    def store_record(self) -> dict[str, Any]:
        """The counts as a store keeps them (a cluster instance: only its own)."""
        with self._lock:
            totals = dict(self._totals)
            per_job = {k: dict(v) for k, v in self._per_job.items()}
        if self._base is not None:
            base_totals, base_per_job = self._base
            totals = {k: n - base_totals.get(k, 0) for k, n in totals.items()}
            for name, counts in per_job.items():
                base = base_per_job.get(name, {})
                per_job[name] = {k: n - base.get(k, 0) for k, n in counts.items()}
        return {"v": FORMAT_VERSION, "totals": totals, "per_job": per_job}


def record(entry: HistoryEntry | DeadLetter) -> dict[str, Any]:
    """A history entry or dead letter as a stored record (its fields and the format version)."""
    names = HISTORY_NAMES if type(entry) is HistoryEntry else _DEAD_NAMES
    record = {name: getattr(entry, name) for name in names}
    record["v"] = FORMAT_VERSION
    return record


def _newest(entries: collections.deque[Any], n: int) -> list[Any]:
    """The newest ``n`` of ``entries`` (all of them if there are fewer), oldest first."""
    if n >= len(entries):
        return list(entries)
    newest = list(itertools.islice(reversed(entries), n))
    newest.reverse()
    return newest


def _history_entry(record: dict[str, Any]) -> HistoryEntry:
    return HistoryEntry(**{k: v for k, v in record.items() if k in _HISTORY_FIELDS})


def _dead_letter(record: dict[str, Any]) -> DeadLetter:
    return DeadLetter(**{k: v for k, v in record.items() if k in _DEAD_FIELDS})


HISTORY_NAMES: Final = tuple(f.name for f in dataclasses.fields(HistoryEntry))
_DEAD_NAMES: Final = tuple(f.name for f in dataclasses.fields(DeadLetter))
_HISTORY_FIELDS: Final = frozenset(HISTORY_NAMES)
_DEAD_FIELDS: Final = frozenset(_DEAD_NAMES)


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{days}d"] if days else []
    parts.append(f"{hours:02d}:{minutes:02d}:{secs:02d}")
    return " ".join(parts)

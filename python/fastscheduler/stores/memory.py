"""In-memory storage: nothing survives the process (tests, embedded use without a file)."""

from __future__ import annotations

import copy
import threading

from fastscheduler.stores.base import Changes, Limits, StorageBackend, StoredState


class MemoryStorageBackend(StorageBackend):
    """Keeps the stored state in one :class:`StoredState`, guarded by a lock. ``multi_instance``
    does not apply (there is one process); it is False."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._state = StoredState()
        self._limits = Limits()

    def open(self, limits: Limits) -> StoredState:
        with self._lock:
            self._limits = limits
            return copy.deepcopy(self._state)

    def write(self, changes: Changes, now: float) -> None:
        # Records are new dicts made for each batch and never changed afterwards (the Changes
        # contract), so they are kept as they are; only what open() hands out is a copy.
        with self._lock:
            apply_changes(self._state, changes, self._limits, now)


def apply_changes(state: StoredState, changes: Changes, limits: Limits, now: float) -> None:
    """Apply ``changes`` to ``state`` in the order :class:`Changes` documents, then prune to ``limits``.
    Shared by the backends that hold the whole state in memory (memory, JSON)."""
    for job_id in changes.deleted_jobs:
        state.jobs.pop(job_id, None)
    state.jobs.update(changes.jobs)
    state.history.extend(changes.history)
    if changes.clear_dead_letters:
        state.dead_letters.clear()
    state.dead_letters.extend(changes.dead_letters)
    if changes.stats is not None:
        state.stats = changes.stats
    horizon = now - limits.history_retention_days * 86400
    state.history = [h for h in state.history if h.get("timestamp", now) >= horizon]
    if len(state.history) > limits.max_history:
        del state.history[: len(state.history) - limits.max_history]
    if len(state.dead_letters) > limits.max_dead_letters:
        del state.dead_letters[: len(state.dead_letters) - limits.max_dead_letters]

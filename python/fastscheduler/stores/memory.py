"""In-memory storage: nothing survives the process (tests, and the base for others)."""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Any

from fastscheduler.stores.base import StorageBackend


class MemoryStorageBackend(StorageBackend):
    """Keeps everything in dicts and lists, guarded by one lock."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._jobs: dict[str, dict[str, Any]] = {}
        self._history: list[dict[str, Any]] = []
        self._dead: list[dict[str, Any]] = []

    def load_jobs(self) -> dict[str, dict[str, Any]]:
        with self._lock:
            return {k: dict(v) for k, v in self._jobs.items()}

    def save_job(self, job_id: str, record: dict[str, Any]) -> None:
        with self._lock:
            self._jobs[job_id] = dict(record)

    def delete_job(self, job_id: str) -> None:
        with self._lock:
            self._jobs.pop(job_id, None)

    def append_history(self, entries: Iterable[dict[str, Any]]) -> None:
        with self._lock:
            self._history.extend(dict(e) for e in entries)

    def load_history(self, limit: int) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(e) for e in self._history[-limit:]] if limit > 0 else []

    def append_dead_letter(self, entry: dict[str, Any]) -> None:
        with self._lock:
            self._dead.append(dict(entry))

    def load_dead_letters(self) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(e) for e in self._dead]

    def clear_dead_letters(self) -> int:
        with self._lock:
            n = len(self._dead)
            self._dead.clear()
            return n

"""The storage interface. JSON and SQLModel backends implement it in their own files."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable
from typing import Any


class StorageBackend(ABC):
    """Persists job state, run history and dead letters. Records are plain JSON-able dicts, each
    with a ``"v"`` format version. Calls come from scheduler threads, never the event loop."""

    @abstractmethod
    def load_jobs(self) -> dict[str, dict[str, Any]]:
        """Every stored job record, by job id."""

    @abstractmethod
    def save_job(self, job_id: str, record: dict[str, Any]) -> None:
        """Insert or replace one job's record."""

    @abstractmethod
    def delete_job(self, job_id: str) -> None:
        """Forget one job (no error if absent)."""

    @abstractmethod
    def append_history(self, entries: Iterable[dict[str, Any]]) -> None:
        """Add finished-run records."""

    @abstractmethod
    def load_history(self, limit: int) -> list[dict[str, Any]]:
        """The newest ``limit`` history records, oldest first."""

    @abstractmethod
    def append_dead_letter(self, entry: dict[str, Any]) -> None:
        """Add one dead letter."""

    @abstractmethod
    def load_dead_letters(self) -> list[dict[str, Any]]:
        """Every stored dead letter, oldest first."""

    @abstractmethod
    def clear_dead_letters(self) -> int:
        """Remove every dead letter; returns how many there were."""

    def flush(self) -> None:  # noqa: B027 - optional hook
        """Write anything pending (called by ``FastScheduler.stop``)."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release files, locks and connections."""

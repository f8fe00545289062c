"""Storage backends: where job state, history and dead letters persist."""

from fastscheduler.stores.base import StorageBackend
from fastscheduler.stores.memory import MemoryStorageBackend

__all__ = ["MemoryStorageBackend", "StorageBackend"]

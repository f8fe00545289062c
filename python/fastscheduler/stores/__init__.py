"""Storage backends: where job state, history and dead letters persist."""

from fastscheduler.stores.base import (
    FORMAT_VERSION,
    Changes,
    Limits,
    StorageBackend,
    StorageError,
    StorageFormatError,
    StorageLockedError,
    StoredState,
)
from fastscheduler.stores.memory import MemoryStorageBackend

__all__ = [
    "FORMAT_VERSION",
    "Changes",
    "Limits",
    "MemoryStorageBackend",
    "StorageBackend",
    "StorageError",
    "StorageFormatError",
    "StorageLockedError",
    "StoredState",
]

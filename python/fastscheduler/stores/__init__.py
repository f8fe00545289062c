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
from fastscheduler.stores.json_file import JSONStorageBackend
from fastscheduler.stores.memory import MemoryStorageBackend

# SQLModelStorageBackend (fastscheduler.stores.sql) needs the `database` extra: imported lazily.

__all__ = [
    "FORMAT_VERSION",
    "Changes",
    "JSONStorageBackend",
    "Limits",
    "MemoryStorageBackend",
    "StorageBackend",
    "StorageError",
    "StorageFormatError",
    "StorageLockedError",
    "StoredState",
]

"""Storage backends under the original package's import path
(``from fastscheduler.storage import StorageBackend, JSONStorageBackend``)."""

from fastscheduler.stores import JSONStorageBackend, MemoryStorageBackend, StorageBackend

__all__ = ["JSONStorageBackend", "MemoryStorageBackend", "StorageBackend"]

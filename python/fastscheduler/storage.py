"""Storage backends (the original's import path: ``from fastscheduler.storage import StorageBackend``)."""

from fastscheduler.stores import MemoryStorageBackend, StorageBackend

__all__ = ["MemoryStorageBackend", "StorageBackend"]

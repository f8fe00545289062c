"""Storage backends under the original fastscheduler 0.2.x import path.

``from fastscheduler.storage import StorageBackend, JSONStorageBackend, get_sqlmodel_backend``
works as it did: :class:`StorageBackend` is 0.2.x's interface (``save_state``, ``load_state``,
``save_dead_letters``, ``load_dead_letters``, ``close``), and a subclass written for it is used
through an adapter; the backends here take 0.2.x's arguments (``state_file=``, ``quiet=``,
``echo=``). New backends implement :class:`fastscheduler.stores.StorageBackend` (docs/migrating.md).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastscheduler.storage.base import StorageBackend
from fastscheduler.storage.json_backend import JSONStorageBackend
from fastscheduler.stores import MemoryStorageBackend

if TYPE_CHECKING:
    from fastscheduler.storage.sqlmodel_backend import SQLModelStorageBackend


def get_sqlmodel_backend() -> type[SQLModelStorageBackend]:
    """The SQL backend class (``SQLModelStorageBackend(database_url, echo=False, quiet=False)``);
    ``ImportError`` saying what to install when the ``database`` extra is missing."""
    try:
        from fastscheduler.storage.sqlmodel_backend import SQLModelStorageBackend
    except ImportError as exc:
        raise ImportError(
            "SQLModel storage backend requires sqlmodel. Install with: pip install fastscheduler[database]"
        ) from exc
    return SQLModelStorageBackend


__all__ = ["JSONStorageBackend", "MemoryStorageBackend", "StorageBackend", "get_sqlmodel_backend"]

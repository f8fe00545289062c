"""Coordination: which process runs a fire (see :mod:`fastscheduler.coordination.base`).

:class:`LocalCoordinator` for a scheduler alone; :class:`~fastscheduler.coordination.sql.SQLCoordinator`
(imported lazily: it needs the database extra) for a cluster on PostgreSQL or MySQL/MariaDB.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from fastscheduler.coordination.base import (
    Claim,
    ClaimState,
    Command,
    CommandKind,
    Coordinator,
    Finish,
    FireSink,
    ScheduleRow,
)
from fastscheduler.coordination.local import LocalCoordinator

if TYPE_CHECKING:
    from fastscheduler.coordination.sql import ClusterConfig
    from fastscheduler.stores import StorageBackend

__all__ = [
    "Claim",
    "ClaimState",
    "Command",
    "CommandKind",
    "Coordinator",
    "Finish",
    "FireSink",
    "LocalCoordinator",
    "ScheduleRow",
    "make_coordinator",
]


def make_coordinator(
    storage: StorageBackend, config: ClusterConfig | None, clock: Callable[[], float]
) -> Coordinator:
    """The coordinator ``FastScheduler(cluster=...)`` asked for: alone without a config, else one
    instance of a cluster on the store's database (which then keeps this instance's statistics
    under a key of its own)."""
    if config is None:
        return LocalCoordinator()
    from fastscheduler.coordination.sql import SQLCoordinator

    coordinator = SQLCoordinator(storage.engine, config, clock)  # type: ignore[attr-defined]
    storage.stats_key = f"stats:{coordinator.instance_id}"  # type: ignore[attr-defined]
    return coordinator

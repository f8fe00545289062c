"""Several scheduler processes on one PostgreSQL or MySQL/MariaDB database: each fire runs once.

The implementation is :mod:`fastscheduler.coordination.sql` (the cluster's coordinator); this
module keeps the public names: ``ClusterConfig`` and the tables, for ``FastScheduler(cluster=...)``
and for reading a cluster's state.
"""

from fastscheduler.coordination.base import Claim
from fastscheduler.coordination.sql import (
    COMMANDS,
    COUNTS,
    INSTANCES,
    RUNS,
    SCHEDULE,
    ClusterConfig,
    SQLCluster,
    SQLCoordinator,
    advance,
    read_rows,
)

__all__ = [
    "COMMANDS",
    "COUNTS",
    "INSTANCES",
    "RUNS",
    "SCHEDULE",
    "Claim",
    "ClusterConfig",
    "SQLCluster",
    "SQLCoordinator",
    "advance",
    "read_rows",
]

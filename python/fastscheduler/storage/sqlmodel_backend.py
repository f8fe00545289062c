"""0.2.x's ``fastscheduler.storage.sqlmodel_backend`` (needs the ``database`` extra)."""

from __future__ import annotations

from fastscheduler.stores.sql import SQLModelStorageBackend as _SQLModelStorageBackend

__all__ = ["SQLModelStorageBackend"]


class SQLModelStorageBackend(_SQLModelStorageBackend):
    """The SQL backend (:class:`fastscheduler.stores.sql.SQLModelStorageBackend`), made with
    0.2.x's arguments: ``SQLModelStorageBackend(database_url, echo=False, quiet=False)``. ``echo``
    logs every SQL statement (SQLAlchemy's ``echo``); ``quiet`` is kept for those calls."""

    def __init__(
        self, database_url: str = "sqlite:///fastscheduler.db", echo: bool = False, quiet: bool = False
    ) -> None:
        super().__init__(database_url)
        self.quiet = quiet
        if echo:
            self.engine.echo = True

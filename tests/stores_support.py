"""Helpers for the storage contract tests: one :class:`StoreCase` per backend kind, and fresh
databases on the PostgreSQL / MariaDB test servers (``make services``).

The server tests connect with admin URLs from the environment (a user that may create and drop
databases; each test gets its own ``fs_test_<random>`` database, dropped afterwards):

- ``FASTSCHEDULER_TEST_POSTGRES_URL`` (default ``postgresql://fastscheduler:fastscheduler@127.0.0.1:55432/postgres``)
- ``FASTSCHEDULER_TEST_MYSQL_URL`` (default ``mysql://fastscheduler:fastscheduler@127.0.0.1:53306/mysql``)

The defaults are those of the servers scripts/services.sh started: the URLs it wrote to
``urls.env`` in ``FASTSCHEDULER_SERVICES_DIR`` (it moves off a taken port), else the ones above.

If a server cannot be reached the server-backed tests FAIL (saying to run ``make services``),
unless ``FASTSCHEDULER_SKIP_SERVER_TESTS=1``, which skips them.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from fastscheduler.stores import Limits, MemoryStorageBackend, StorageBackend, StoredState
from fastscheduler.stores.json_file import JSONStorageBackend
from fastscheduler.stores.sql import SQLModelStorageBackend, normalize_database_url

ROOT = Path(__file__).resolve().parent.parent


def _services_urls() -> dict[str, str]:
    """The admin URLs of the servers scripts/services.sh started (its ``urls.env``)."""
    urls = {
        "postgresql": "postgresql://fastscheduler:fastscheduler@127.0.0.1:55432/postgres",
        "mariadb": "mysql://fastscheduler:fastscheduler@127.0.0.1:53306/mysql",
    }
    services_dir = Path(os.environ.get("FASTSCHEDULER_SERVICES_DIR") or "/tmp/fastscheduler-services")
    with contextlib.suppress(OSError):
        lines = (services_dir / "urls.env").read_text().splitlines()
        written = dict(line.partition("=")[::2] for line in lines)
        urls["postgresql"] = written.get("FASTSCHEDULER_TEST_POSTGRES_URL") or urls["postgresql"]
        urls["mariadb"] = written.get("FASTSCHEDULER_TEST_MYSQL_URL") or urls["mariadb"]
    return urls


DEFAULT_ADMIN_URLS = _services_urls()
ADMIN_URLS = {
    "postgresql": os.environ.get("FASTSCHEDULER_TEST_POSTGRES_URL", DEFAULT_ADMIN_URLS["postgresql"]),
    "mariadb": os.environ.get("FASTSCHEDULER_TEST_MYSQL_URL", DEFAULT_ADMIN_URLS["mariadb"]),
}
SERVER_KINDS = ("postgresql", "mariadb")
SQL_KINDS = ("sqlite", *SERVER_KINDS)
PERSISTENT_KINDS = ("json", *SQL_KINDS)
ALL_KINDS = ("memory", *PERSISTENT_KINDS)


@dataclass
class StoreCase:
    """One backend kind bound to one storage location (a file, a fresh database).

    :meth:`new` makes a new backend instance on the same storage (for memory, the same instance:
    it is its storage); every backend made is closed when the test ends.
    """

    kind: str
    location: str
    memory: MemoryStorageBackend | None = None
    made: list[StorageBackend] = field(default_factory=list)

    def new(self) -> StorageBackend:
        backend: StorageBackend
        if self.kind == "memory":
            assert self.memory is not None
            backend = self.memory
        elif self.kind == "json":
            backend = JSONStorageBackend(self.location)
        else:
            backend = SQLModelStorageBackend(self.location)
        self.made.append(backend)
        return backend

    def open(self, limits: Limits | None = None) -> tuple[StorageBackend, StoredState]:
        """A new backend instance, opened with ``limits``."""
        backend = self.new()
        return backend, backend.open(limits or Limits())

    def reopen(self, backend: StorageBackend, limits: Limits | None = None) -> StoredState:
        """Close ``backend``, then open a new instance on the same storage and return its state."""
        backend.close()
        return self.open(limits)[1]

    def close_all(self) -> None:
        for backend in self.made:
            backend.close()


# -- server databases ---------------------------------------------------------------------------

_unreachable: dict[str, str] = {}
_admin_engines: dict[str, sa.Engine] = {}


def _server_message(kind: str, error: str) -> str:
    name = {"postgresql": "PostgreSQL", "mariadb": "MariaDB"}[kind]
    env = {"postgresql": "FASTSCHEDULER_TEST_POSTGRES_URL", "mariadb": "FASTSCHEDULER_TEST_MYSQL_URL"}[kind]
    url = sa.make_url(normalize_database_url(ADMIN_URLS[kind])).render_as_string(hide_password=True)
    return (
        f"the {name} test server at {url} is not reachable ({error}). Run `make services` "
        f"(scripts/services.sh) to start the test servers on 127.0.0.1, or set {env} to an admin URL "
        "of an existing server, or set FASTSCHEDULER_SKIP_SERVER_TESTS=1 to skip the server tests"
    )


def admin_engine(kind: str) -> sa.Engine:
    """An AUTOCOMMIT engine on the ``kind`` server's admin URL; fails (or skips, with
    FASTSCHEDULER_SKIP_SERVER_TESTS=1) the test if the server cannot be reached."""
    if kind not in _unreachable and kind not in _admin_engines:
        # pre-ping: the server may have restarted since the last use (another test, another run)
        engine = sa.create_engine(
            normalize_database_url(ADMIN_URLS[kind]), isolation_level="AUTOCOMMIT", pool_pre_ping=True
        )
        try:
            with engine.connect() as conn:
                conn.exec_driver_sql("SELECT 1")
        except sa.exc.SQLAlchemyError as exc:
            engine.dispose()
            orig = getattr(exc, "orig", None) or exc
            _unreachable[kind] = " ".join(str(orig).split())[:300]
        else:
            _admin_engines[kind] = engine
    if kind in _unreachable:
        message = _server_message(kind, _unreachable[kind])
        if os.environ.get("FASTSCHEDULER_SKIP_SERVER_TESTS") == "1":
            pytest.skip(message)
        pytest.fail(message, pytrace=False)
    return _admin_engines[kind]


def dispose_admin_engines() -> None:
    for engine in _admin_engines.values():
        engine.dispose()
    _admin_engines.clear()


@contextlib.contextmanager
def server_database(kind: str) -> Iterator[str]:
    """A fresh, empty database ``fs_test_<random>`` on the ``kind`` server; yields its URL (in the
    short form, so the backend's URL normalisation is used) and drops it afterwards."""
    engine = admin_engine(kind)
    name = f"fs_test_{secrets.token_hex(6)}"
    with engine.connect() as conn:
        conn.exec_driver_sql(f"CREATE DATABASE {name}")
    try:
        yield sa.make_url(ADMIN_URLS[kind]).set(database=name).render_as_string(hide_password=False)
    finally:
        drop = f"DROP DATABASE IF EXISTS {name}" + (" WITH (FORCE)" if kind == "postgresql" else "")
        for attempt in range(20):
            try:
                # Asked again: a test may have disposed of the admin engines meanwhile (a restart).
                with admin_engine(kind).connect() as conn:
                    conn.exec_driver_sql(drop)
                break
            except sa.exc.DBAPIError as exc:
                # PostgreSQL's autovacuum may be working on the new database (a superuser's
                # process, which FORCE may not end): it is done within moments.
                if "pg_signal_backend" not in str(exc) or attempt == 19:
                    raise
                time.sleep(0.25)


def kill_connections(kind: str, database_url: str) -> int:
    """Kill, on the server side, every connection to ``database_url``'s database (but the admin
    one); returns how many were killed."""
    engine = admin_engine(kind)
    name = sa.make_url(database_url).database
    with engine.connect() as conn:
        if kind == "postgresql":
            rows = conn.execute(
                sa.text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = :name AND pid <> pg_backend_pid()"
                ),
                {"name": name},
            ).all()
            return len(rows)
        ids = conn.execute(
            sa.text(
                "SELECT id FROM information_schema.processlist WHERE db = :name AND id <> CONNECTION_ID()"
            ),
            {"name": name},
        ).scalars()
        killed = 0
        for thread_id in list(ids):
            with contextlib.suppress(sa.exc.SQLAlchemyError):  # it may have gone meanwhile
                conn.exec_driver_sql(f"KILL {int(thread_id)}")
                killed += 1
        return killed


# -- another process ----------------------------------------------------------------------------

_OPEN_SCRIPT = textwrap.dedent(
    """
    import json, sys
    from fastscheduler.stores import Limits, StorageLockedError
    kind, location = sys.argv[1], sys.argv[2]
    if kind == "json":
        from fastscheduler.stores.json_file import JSONStorageBackend as Backend
    else:
        from fastscheduler.stores.sql import SQLModelStorageBackend as Backend
    backend = Backend(location)
    try:
        state = backend.open(Limits())
    except StorageLockedError as exc:
        print(json.dumps({"locked": True, "error": str(exc)}))
    else:
        print(json.dumps({"locked": False, "jobs": sorted(state.jobs)}))
    finally:
        backend.close()
    """
)


def open_in_subprocess(kind: str, location: str) -> dict[str, Any]:
    """Open the store in another Python process; ``{"locked": True, "error": msg}`` if it got
    StorageLockedError, else ``{"locked": False, "jobs": [...]}``."""
    proc = subprocess.run(
        [sys.executable, "-c", _OPEN_SCRIPT, kind, location],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result

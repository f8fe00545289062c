"""Many rows in one SQL statement: how the SQL store writes a batch of job and history rows.

The saver hands the SQL store its rows as JSON arrays serialised in Rust
(:attr:`~fastscheduler.stores.Changes.job_rows`, :attr:`~fastscheduler.stores.Changes.history_rows`).
Each array goes to the database as ONE parameter of ONE ``INSERT ... SELECT`` that unpacks it on
the server: ``json_each`` on SQLite, ``json_array_elements`` on PostgreSQL, ``JSON_TABLE`` on
MySQL 8 and MariaDB 10.6+. No Python object is made per row, and the driver releases the GIL once
for the whole statement.

Why not ``executemany``: it binds and steps row by row, and every step releases and takes back
the GIL. While the scheduler's threads run jobs, each take-back can wait for the interpreter's
switch interval (5 ms): 100,000 rows written with ``executemany`` on SQLite took 12 to 128 s
next to a busy thread, against 0.3 to 0.65 s for one ``json_each`` statement (the measurement is
in ``docs/persistence.md``). Where the server cannot unpack JSON (SQLite without its JSON
functions, MySQL before 8.0.4, MariaDB before 10.6), the rows go through ``executemany``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects import mysql as sa_mysql
from sqlalchemy.dialects import postgresql as sa_postgresql
from sqlalchemy.dialects import sqlite as sa_sqlite
from sqlalchemy.engine import Connection

from fastscheduler.stores.schema import HISTORY, JOBS, MAX_JOB_ID_LENGTH, STATUS_LENGTH

__all__ = ["CHUNK", "BulkRows", "chunks", "driver_batches", "upsert"]

log = logging.getLogger("fastscheduler")

CHUNK = 500
"""Keys per ``... IN (...)`` statement."""

_JOB_COLUMNS = "job_id, record, next_run, updated_at"
_HISTORY_COLUMNS = "job_id, status, timestamp, record"

# Each dialect: (a probe that fails where JSON cannot be unpacked, the jobs upsert, the history
# insert). Parameters: the jobs statement takes (updated_at, rows), the history one (rows).
_SQLITE = (
    "SELECT json_extract(value, '$[0]') FROM json_each('[[1]]')",
    f"INSERT INTO {JOBS.name} ({_JOB_COLUMNS}) "
    "SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]'), json_extract(value, '$[2]'), ? "
    "FROM json_each(?) WHERE true "  # (WHERE: so that ON CONFLICT is not read as a join's ON)
    "ON CONFLICT (job_id) DO UPDATE SET record = excluded.record, next_run = excluded.next_run, "
    "updated_at = excluded.updated_at",
    f"INSERT INTO {HISTORY.name} ({_HISTORY_COLUMNS}) "
    f"SELECT substr(json_extract(value, '$[0]'), 1, {MAX_JOB_ID_LENGTH}), "
    f"substr(json_extract(value, '$[1]'), 1, {STATUS_LENGTH}), json_extract(value, '$[2]'), "
    "json_extract(value, '$[3]') FROM json_each(?) ORDER BY key",
)
_POSTGRESQL = (
    "SELECT x->>0 FROM json_array_elements('[[1]]'::json) AS x",
    f"INSERT INTO {JOBS.name} ({_JOB_COLUMNS}) "
    "SELECT x->>0, x->>1, (x->>2)::float8, %s FROM json_array_elements(%s::json) AS x "
    "ON CONFLICT (job_id) DO UPDATE SET record = excluded.record, next_run = excluded.next_run, "
    "updated_at = excluded.updated_at",
    f"INSERT INTO {HISTORY.name} ({_HISTORY_COLUMNS}) "
    f"SELECT left(x->>0, {MAX_JOB_ID_LENGTH}), left(x->>1, {STATUS_LENGTH}), (x->>2)::float8, x->>3 "
    "FROM json_array_elements(%s::json) WITH ORDINALITY AS t(x, n) ORDER BY n",
)
_TEXT = "LONGTEXT CHARACTER SET utf8mb4"
_MYSQL = (
    "SELECT t.x FROM JSON_TABLE('[[1]]', '$[*]' COLUMNS (x INT PATH '$[0]')) AS t",
    f"INSERT INTO {JOBS.name} ({_JOB_COLUMNS}) "
    "SELECT t.job_id, t.record, t.next_run, %s FROM JSON_TABLE(%s, '$[*]' COLUMNS ("
    f"job_id {_TEXT} PATH '$[0]', record {_TEXT} PATH '$[1]', next_run DOUBLE PATH '$[2]')) AS t "
    "ON DUPLICATE KEY UPDATE record = VALUES(record), next_run = VALUES(next_run), "
    "updated_at = VALUES(updated_at)",
    f"INSERT INTO {HISTORY.name} ({_HISTORY_COLUMNS}) "
    f"SELECT LEFT(t.job_id, {MAX_JOB_ID_LENGTH}), LEFT(t.status, {STATUS_LENGTH}), t.ts, t.record "
    "FROM JSON_TABLE(%s, '$[*]' COLUMNS (n FOR ORDINALITY, "
    f"job_id {_TEXT} PATH '$[0]', status {_TEXT} PATH '$[1]', ts DOUBLE PATH '$[2]', "
    f"record {_TEXT} PATH '$[3]')) AS t ORDER BY t.n",
)
_DIALECTS = {"sqlite": _SQLITE, "postgresql": _POSTGRESQL, "mysql": _MYSQL, "mariadb": _MYSQL}


class BulkRows:
    """Writes JSON arrays of rows into the jobs and history tables of one database (see the
    module documentation). ``unpack``: the server unpacks an array in one statement; False: the
    rows go through ``executemany`` (the fallback, also what tests compare against)."""

    def __init__(self, dialect: str, *, unpack: bool) -> None:
        self.dialect = dialect
        self.unpack = unpack and dialect in _DIALECTS

    @classmethod
    def for_connection(cls, conn: Connection, where: str) -> BulkRows:
        """For ``conn``'s database (a fresh connection, no transaction begun): unpacking on the
        server where a probe query shows it can; else the fallback, logged once (``where``
        names the database)."""
        dialect = conn.dialect.name
        statements = _DIALECTS.get(dialect)
        if statements is None:  # pragma: no cover - dialects fastscheduler does not test
            return cls(dialect, unpack=False)
        try:
            with conn.begin():
                conn.exec_driver_sql(statements[0]).all()
        except sa_exc.DBAPIError as exc:
            log.info(
                "fastscheduler: %s cannot unpack JSON arrays (%s); rows are written with executemany",
                where,
                " ".join(str(getattr(exc, "orig", exc)).split())[:200],
            )
            return cls(dialect, unpack=False)
        return cls(dialect, unpack=True)

    def jobs(self, conn: Connection, rows: bytes | str, updated_at: float) -> None:
        """Upsert ``rows`` (a JSON array of ``[job_id, record text, next_run]``, no job twice)."""
        text = rows.decode("utf-8") if isinstance(rows, bytes) else rows
        if self.unpack:
            conn.exec_driver_sql(_DIALECTS[self.dialect][1], (updated_at, text))
            return
        values = [
            {"job_id": r[0], "record": r[1], "next_run": r[2], "updated_at": updated_at}
            for r in json.loads(text)
        ]
        if values:
            upsert(conn, JOBS, "job_id", values)

    def history(self, conn: Connection, rows: bytes | str) -> None:
        """Append ``rows`` (a JSON array of ``[job_id, status, timestamp, record text]``), in order."""
        text = rows.decode("utf-8") if isinstance(rows, bytes) else rows
        if self.unpack:
            conn.exec_driver_sql(_DIALECTS[self.dialect][2], (text,))
            return
        values = [
            {
                "job_id": None if r[0] is None else str(r[0])[:MAX_JOB_ID_LENGTH],
                "status": None if r[1] is None else str(r[1])[:STATUS_LENGTH],
                "timestamp": r[2],
                "record": r[3],
            }
            for r in json.loads(text)
        ]
        if values:
            conn.execute(sa.insert(HISTORY), values)


def upsert(conn: Connection, table: sa.Table, key: str, rows: list[dict[str, Any]]) -> None:
    """Insert ``rows`` into ``table``, replacing the rows whose ``key`` column already exists: one
    ``INSERT ... ON CONFLICT`` / ``ON DUPLICATE KEY UPDATE`` for all rows on PostgreSQL, MySQL and
    SQLite; elsewhere a SELECT of the existing keys, then UPDATE those and INSERT the rest."""
    columns = [c for c in rows[0] if c != key]
    dialect = conn.dialect.name
    if dialect == "postgresql":
        pg = sa_postgresql.insert(table)
        conn.execute(
            pg.on_conflict_do_update(
                index_elements=[table.c[key]], set_={c: pg.excluded[c] for c in columns}
            ),
            rows,
        )
    elif dialect in ("mysql", "mariadb"):
        my = sa_mysql.insert(table)
        conn.execute(my.on_duplicate_key_update({c: my.inserted[c] for c in columns}), rows)
    elif dialect == "sqlite":
        lite = sa_sqlite.insert(table)
        conn.execute(
            lite.on_conflict_do_update(
                index_elements=[table.c[key]], set_={c: lite.excluded[c] for c in columns}
            ),
            rows,
        )
    else:  # pragma: no cover - dialects fastscheduler does not test
        existing: set[Any] = set()
        for chunk in chunks([r[key] for r in rows], CHUNK):
            existing.update(conn.execute(sa.select(table.c[key]).where(table.c[key].in_(chunk))).scalars())
        updates = [{**r, "_key": r[key]} for r in rows if r[key] in existing]
        inserts = [r for r in rows if r[key] not in existing]
        if updates:
            conn.execute(
                sa.update(table)
                .where(table.c[key] == sa.bindparam("_key"))
                .values({c: sa.bindparam(c) for c in columns}),
                updates,
            )
        if inserts:
            conn.execute(sa.insert(table), inserts)


def chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def driver_batches(
    conn: Connection, statement: sa.ClauseElement, size: int = 10_000
) -> Iterator[Sequence[Any]]:
    """Every row of ``statement`` (its values bound in the SQL text) as the driver's tuples, in
    lists of at most ``size``: at a million rows, SQLAlchemy's own rows cost seconds, and a
    batch at a time is freed before the next is read. A driver error is raised as SQLAlchemy's
    ``DBAPIError``, as SQLAlchemy's own calls raise it."""
    sql = str(statement.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True}))
    cursor = conn.connection.cursor()
    try:
        cursor.execute(sql)
        while batch := cursor.fetchmany(size):
            yield batch
    except conn.dialect.loaded_dbapi.Error as exc:
        raise sa_exc.DBAPIError(sql, None, exc) from exc
    finally:
        cursor.close()

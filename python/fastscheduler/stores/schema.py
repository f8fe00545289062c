"""fastscheduler's SQL schema: every table, in one MetaData, under one schema version.

The store (:mod:`fastscheduler.stores.sql`) and the cluster's coordinator
(:mod:`fastscheduler.coordination.sql`) share these tables, one engine and one pool per scheduler.
:func:`create_schema` creates what is missing and keeps the version in ``fastscheduler_meta``.

Why SQLAlchemy Core tables, not SQLModel row classes: every write is a batch (``executemany`` of
plain dicts, dialect-specific upserts, ``SELECT ... FOR UPDATE SKIP LOCKED``), every record is a
JSON document checked by one validator (:mod:`fastscheduler.stores._records`) whatever store it
comes from, and no code reads a row as an object; typed row classes would add a model object per
row and a second validation to each load and write for nothing the store uses.

Versions:

- v1 (fastscheduler 0.3.0 before this schema module): the store's four tables, versioned; the
  cluster's five tables created by the first cluster instance, unversioned.
- v2: the same nine tables, all created by whoever opens the database first, under one version.
  A v1 database is migrated on open: the missing tables are created and the version set to 2
  (the layout of every existing table is unchanged).
"""

from __future__ import annotations

import contextlib
import logging

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects import mysql as sa_mysql
from sqlalchemy.engine import Engine

from fastscheduler._core import Backoff
from fastscheduler._retry import retry
from fastscheduler.stores.base import StorageFormatError

__all__ = [
    "COMMANDS",
    "COUNTS",
    "DEAD_LETTERS",
    "HISTORY",
    "INSTANCES",
    "JOBS",
    "MAX_JOB_ID_LENGTH",
    "META",
    "METADATA",
    "RUNS",
    "SCHEDULE",
    "SCHEMA_VERSION",
    "create_schema",
]

SCHEMA_VERSION = 2
"""Version of the layout of every table below, kept in ``fastscheduler_meta`` (``schema_version``)."""

MAX_JOB_ID_LENGTH = 512
"""Longest job id the tables hold (job id columns are ``VARCHAR(512)``)."""

STATUS_LENGTH = 64

METADATA = sa.MetaData()
"""fastscheduler's tables (for Alembic or ``create_all``); an application's own metadata never
includes them unless it asks."""

# MySQL's TEXT holds only 64 KiB: records (a job's arguments, a traceback) can be longer.
_JSON_TEXT = sa.Text().with_variant(sa_mysql.LONGTEXT(), "mysql", "mariadb")
# SQLite autoincrements only an ``INTEGER PRIMARY KEY`` (its rowid), not a BIGINT one.
_ROW_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
# Every table: utf8mb4 for any job id; a binary collation so that "Job" and "job" are two jobs.

# -- the store's tables ----------------------------------------------------------------------------

JOBS = sa.Table(
    "fastscheduler_jobs",
    METADATA,
    sa.Column("job_id", sa.String(MAX_JOB_ID_LENGTH), primary_key=True),
    sa.Column("record", _JSON_TEXT, nullable=False),
    sa.Column("next_run", sa.Double(), nullable=True, index=True),
    sa.Column("updated_at", sa.Double(), nullable=False),
    mysql_charset="utf8mb4",
    mysql_collate="utf8mb4_bin",
)
"""One job: its record as JSON, and when it runs next (indexed) for queries."""

HISTORY = sa.Table(
    "fastscheduler_history",
    METADATA,
    sa.Column("id", _ROW_ID, primary_key=True, autoincrement=True),
    sa.Column("job_id", sa.String(MAX_JOB_ID_LENGTH), nullable=False, index=True),
    sa.Column("status", sa.String(STATUS_LENGTH), nullable=True, index=True),
    sa.Column("timestamp", sa.Double(), nullable=True, index=True),
    sa.Column("record", _JSON_TEXT, nullable=False),
    mysql_charset="utf8mb4",
    mysql_collate="utf8mb4_bin",
)
"""One history entry (an attempt's outcome or missed fires), oldest first by ``id``."""

DEAD_LETTERS = sa.Table(
    "fastscheduler_dead_letters",
    METADATA,
    sa.Column("id", _ROW_ID, primary_key=True, autoincrement=True),
    sa.Column("job_id", sa.String(MAX_JOB_ID_LENGTH), nullable=False),
    sa.Column("executed_at", sa.Double(), nullable=True, index=True),
    sa.Column("record", _JSON_TEXT, nullable=False),
    mysql_charset="utf8mb4",
    mysql_collate="utf8mb4_bin",
)
"""One run that failed on every attempt, oldest first by ``id``."""

META = sa.Table(
    "fastscheduler_meta",
    METADATA,
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("value", _JSON_TEXT, nullable=False),
    mysql_charset="utf8mb4",
    mysql_collate="utf8mb4_bin",
)
"""Key/value rows: ``schema_version``, and the statistics (``stats``, or ``stats:<instance>`` per
cluster instance)."""

# -- the cluster's tables --------------------------------------------------------------------------

SCHEDULE = sa.Table(
    "fastscheduler_schedule",
    METADATA,
    sa.Column("job_id", sa.String(MAX_JOB_ID_LENGTH), primary_key=True),
    sa.Column("next_run", sa.Double(), nullable=True, index=True),
    sa.Column("paused", sa.Boolean(), nullable=False),
    sa.Column("updated_at", sa.Double(), nullable=False),
    mysql_charset="utf8mb4",
    mysql_collate="utf8mb4_bin",
)
"""One row per job: the next fire time every instance claims against, and the pause flag. Only
claims and pause/resume/cancel lock it (a claim skips a locked row for ``grace``)."""

COUNTS = sa.Table(
    "fastscheduler_job_counts",
    METADATA,
    sa.Column("job_id", sa.String(MAX_JOB_ID_LENGTH), primary_key=True),
    sa.Column("run_count", sa.BigInteger(), nullable=False),
    sa.Column("failure_count", sa.BigInteger(), nullable=False),
    sa.Column("retry_count", sa.BigInteger(), nullable=False),
    sa.Column("last_run", sa.Double(), nullable=True),
    mysql_charset="utf8mb4",
    mysql_collate="utf8mb4_bin",
)
"""The cluster-wide counters of each job, moved as runs end (a table of their own, so recording
a finished run never holds the row a claim needs)."""

RUNS = sa.Table(
    "fastscheduler_runs",
    METADATA,
    sa.Column("job_id", sa.String(MAX_JOB_ID_LENGTH), primary_key=True),
    sa.Column("scheduled_us", sa.BigInteger(), primary_key=True, autoincrement=False),
    sa.Column("origin", sa.String(16), nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("owner", sa.String(64), nullable=False),
    sa.Column("attempt", sa.Integer(), nullable=False),
    sa.Column("lease_until", sa.Double(), nullable=False),
    sa.Column("created_at", sa.Double(), nullable=False),
    sa.Column("finished_at", sa.Double(), nullable=True, index=True),
    # An instance renews and hands back only its own running rows: with (owner, state) the update
    # touches nothing of another instance's (MariaDB deadlocked through a state-only index), and
    # takeovers look for (state, lease_until).
    sa.Index("ix_fastscheduler_runs_owner_state", "owner", "state"),
    sa.Index("ix_fastscheduler_runs_state_lease", "state", "lease_until"),
    mysql_charset="utf8mb4",
    mysql_collate="utf8mb4_bin",
)
"""One row per created fire; the primary key (job id, scheduled microsecond) makes a second
creation of the same fire impossible. ``state``: running (also while it waits for a retry),
succeeded, failed (every attempt failed: dead-lettered; a run lost with its instance counts as a
failed attempt) or skipped (claimed late under ``.no_catch_up()``, or while the job's previous run
was still going on the only live instance). Finished rows are pruned after ``run_retention``."""

INSTANCES = sa.Table(
    "fastscheduler_instances",
    METADATA,
    sa.Column("instance_id", sa.String(64), primary_key=True),
    sa.Column("host", sa.String(255), nullable=False),
    sa.Column("pid", sa.Integer(), nullable=False),
    sa.Column("started_at", sa.Double(), nullable=False),
    sa.Column("heartbeat_at", sa.Double(), nullable=False, index=True),
    mysql_charset="utf8mb4",
    mysql_collate="utf8mb4_bin",
)
"""One row per live instance, with its heartbeat (deleted when it stops)."""

COMMANDS = sa.Table(
    "fastscheduler_commands",
    METADATA,
    sa.Column(
        "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True
    ),
    sa.Column("job_id", sa.String(MAX_JOB_ID_LENGTH), nullable=False),
    sa.Column("command", sa.String(16), nullable=False),
    sa.Column("origin", sa.String(64), nullable=False),
    sa.Column("at", sa.Double(), nullable=False, index=True),
    sa.Column("payload", sa.Text().with_variant(sa_mysql.LONGTEXT(), "mysql", "mariadb"), nullable=True),
    mysql_charset="utf8mb4",
    mysql_collate="utf8mb4_bin",
)
"""Pause / resume / cancel / add as they happened, for peers to apply (pruned after an hour). An
add's ``payload`` (JSON) is what a peer needs to register the job too: the function's import path,
its arguments and its schedule."""


def create_schema(engine: Engine, where: str) -> None:
    """Create the tables that are missing and check (or set, or migrate) the schema version.
    ``where`` names the database in errors. Raises :class:`StorageFormatError` if the version is
    damaged or newer than this code, ``SQLAlchemyError`` if the database cannot be reached."""
    _create_tables(engine)
    with engine.connect() as conn:
        stored = conn.execute(
            sa.select(META.c.value).where(META.c.key == "schema_version")
        ).scalar_one_or_none()
    if stored is None:
        with contextlib.suppress(sa_exc.IntegrityError), engine.begin() as conn:  # a peer may race us
            conn.execute(sa.insert(META).values(key="schema_version", value=str(SCHEMA_VERSION)))
        return
    text = stored.strip() if isinstance(stored, str) else ""
    if not (text.isascii() and text.isdigit() and len(text) < 10 and int(text) >= 1):
        raise StorageFormatError(
            f"{where} has a damaged schema version {stored[:40]!r} in {META.name} (expected a "
            "positive integer); nothing was changed"
        )
    version = int(text)
    if version > SCHEMA_VERSION:
        raise StorageFormatError(
            f"{where} was written by a newer fastscheduler (schema v{version}; this version reads "
            f"v{SCHEMA_VERSION}): upgrade fastscheduler to use it; nothing was changed"
        )
    if version < SCHEMA_VERSION:
        # v1 -> v2: the tables are all there now (created above); the version covers them all.
        with engine.begin() as conn:
            conn.execute(
                sa.update(META)
                .where(META.c.key == "schema_version", META.c.value == stored)
                .values(value=str(SCHEMA_VERSION))
            )


def _create_tables(engine: Engine) -> None:
    """Create the missing tables. Instances starting together race to create them (MySQL then
    says "table already exists"): a failed attempt is retried, and only the third failure is
    raised."""

    def create() -> None:
        with engine.begin() as conn:
            METADATA.create_all(conn)

    retry(
        create,
        tries=3,
        backoff=_CREATE_RETRY,
        retry_on=sa_exc.SQLAlchemyError,
        what="creating the tables",
        logger=logging.getLogger("fastscheduler"),
    )


_CREATE_RETRY = Backoff(base=0.2, factor=2.0, max=1.0)

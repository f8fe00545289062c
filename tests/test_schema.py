"""One SQL schema (fastscheduler/stores/schema.py): every table in one MetaData, one version, one
engine per scheduler, and the migration of a database that the previous layout (v1) made."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.schema import CreateIndex, CreateTable
from stores_support import SERVER_KINDS, server_database

from fastscheduler import FastScheduler, ManualClock
from fastscheduler.stores import StorageFormatError
from fastscheduler.stores.schema import META, METADATA, SCHEMA_VERSION
from fastscheduler.stores.sql import normalize_database_url

DATA = Path(__file__).parent / "data"
T0 = 1_780_000_000.0
STORE_TABLES = (
    "fastscheduler_dead_letters",
    "fastscheduler_history",
    "fastscheduler_jobs",
    "fastscheduler_meta",
)
ALL_TABLES = {
    *STORE_TABLES,
    "fastscheduler_commands",
    "fastscheduler_instances",
    "fastscheduler_job_counts",
    "fastscheduler_runs",
    "fastscheduler_schedule",
}
DIALECTS = {"postgresql": "postgresql", "mariadb": "mysql", "sqlite": "sqlite"}


def _ddl(dialect: sa.engine.Dialect) -> list[str]:
    out = []
    for table in sorted(METADATA.tables.values(), key=lambda t: t.name):
        out.append(str(CreateTable(table).compile(dialect=dialect)).strip())
        out += [
            str(CreateIndex(ix).compile(dialect=dialect)).strip() for ix in sorted(table.indexes, key=str)
        ]
    return out


def test_every_table_is_in_one_metadata_and_v2_keeps_the_v1_layout() -> None:
    """v1 -> v2 changed no table (tests/data/schema_v1_ddl.json is what the v1 code created, on
    each dialect): a layout change needs a new version and a migration, and fails here first."""
    assert set(METADATA.tables) == ALL_TABLES
    v1 = json.loads((DATA / "schema_v1_ddl.json").read_text())
    engines = {name: sa.create_engine(f"{name}://") for name in ("postgresql", "sqlite")}
    engines["mysql"] = sa.create_engine("mysql+pymysql://")
    for name, engine in engines.items():
        assert _ddl(engine.dialect) == v1[name], name


def _version(engine: sa.Engine) -> str:
    with engine.connect() as conn:
        return str(conn.execute(sa.select(META.c.value).where(META.c.key == "schema_version")).scalar())


def _tables(engine: sa.Engine) -> set[str]:
    return {t for t in sa.inspect(engine).get_table_names() if t.startswith("fastscheduler_")}


def _reopen_and_run(url: str, **kwargs: object) -> FastScheduler:
    """The v1 database's jobs registered again, started, run for 10 s of a manual clock."""
    import fixture_jobs_v1 as jobs

    clock = ManualClock(T0 + 40)
    s = FastScheduler(storage="sqlmodel", database_url=url, quiet=True, clock=clock, timezone="UTC", **kwargs)  # type: ignore[arg-type]
    s.every(10).seconds.id("tick").do(jobs.tick)
    s.every(10).seconds.retries(0).id("boom").do(jobs.boom)
    s.start()
    clock.advance(10)
    return s


def test_a_v1_sqlite_database_opens_migrates_and_works(tmp_path: Path) -> None:
    """tests/data/store_v1.sqlite was written by fastscheduler 0.3.0 at schema v1 (two jobs run
    for 30 s, one paused, one failing): opened now, it is migrated and everything in it is used."""
    path = tmp_path / "v1.sqlite"
    shutil.copy(DATA / "store_v1.sqlite", path)
    url = f"sqlite:///{path}"
    engine = sa.create_engine(url)
    assert (_version(engine), _tables(engine)) == ("1", set(STORE_TABLES))
    s = _reopen_and_run(url)
    tick, boom = s.get_job("tick"), s.get_job("boom")
    assert tick is not None and boom is not None
    assert (tick["run_count"], tick["paused"]) == (3, True)  # restored, and still paused: no run
    # 3 before; now the fire due at T0 + 40 (the restart's instant) and the one at T0 + 50
    assert (boom["run_count"], boom["failure_count"]) == (5, 5)
    assert len(s.get_dead_letters()) == 5
    s.stop()
    assert (_version(engine), _tables(engine)) == (str(SCHEMA_VERSION), ALL_TABLES)
    engine.dispose()


@pytest.mark.parametrize("kind", SERVER_KINDS)
@pytest.mark.parametrize("had_cluster_tables", [False, True], ids=["store-only", "with-cluster-tables"])
def test_a_v1_server_database_opens_migrates_and_works(kind: str, had_cluster_tables: bool) -> None:
    """A v1 database on PostgreSQL/MariaDB: the tables as the v1 code created them (its DDL, from
    tests/data/schema_v1_ddl.json), with the rows of tests/data/store_v1.sqlite; with or without the
    cluster's tables (a v1 cluster made them, unversioned). Opened now as a cluster, it is
    migrated, its jobs are restored and a fire runs once."""
    ddl = json.loads((DATA / "schema_v1_ddl.json").read_text())[DIALECTS[kind]]
    source = sa.create_engine(f"sqlite:///{DATA / 'store_v1.sqlite'}")
    with server_database(kind) as url:
        engine = sa.create_engine(normalize_database_url(url))
        with engine.begin() as conn:
            for statement in ddl:
                table = (
                    statement.split()[2]
                    if statement.startswith("CREATE TABLE")
                    else statement.split(" ON ")[1].split()[0]
                )
                if table in STORE_TABLES or had_cluster_tables:
                    conn.exec_driver_sql(statement)
            with source.connect() as src:
                for table in STORE_TABLES:
                    # (ids left to the server's sequence, in the same order)
                    rows = [
                        {k: v for k, v in r._mapping.items() if k != "id"}
                        for r in src.execute(sa.text(f"SELECT * FROM {table} ORDER BY 1"))
                    ]
                    if rows:
                        conn.execute(sa.insert(METADATA.tables[table]), rows)
        assert _version(engine) == "1"
        s = _reopen_and_run(url)
        assert s.cluster_status() is not None  # PostgreSQL/MariaDB: a cluster by default
        tick, boom = s.get_job("tick"), s.get_job("boom")
        assert tick is not None and boom is not None
        assert tick["paused"] is True
        assert boom["failure_count"] == 5
        s.stop()
        assert (_version(engine), _tables(engine)) == (str(SCHEMA_VERSION), ALL_TABLES)
        engine.dispose()
    source.dispose()


def test_a_newer_or_damaged_schema_version_is_refused(tmp_path: Path) -> None:
    for stored, message in (
        ("3", rf"written by a newer fastscheduler \(schema v3; this version reads v{SCHEMA_VERSION}\)"),
        ("two", "has a damaged schema version 'two'"),
    ):
        path = tmp_path / f"v{stored}.sqlite"
        shutil.copy(DATA / "store_v1.sqlite", path)
        engine = sa.create_engine(f"sqlite:///{path}")
        with engine.begin() as conn:
            conn.execute(sa.update(META).where(META.c.key == "schema_version").values(value=stored))
        s = FastScheduler(storage="sqlmodel", database_url=f"sqlite:///{path}", quiet=True)
        with pytest.raises(StorageFormatError, match=message):
            s.start()
        assert not s.running
        engine.dispose()


@pytest.mark.parametrize("kind", SERVER_KINDS)
def test_a_cluster_instance_uses_one_engine_and_pool(kind: str) -> None:
    """The store and the coordinator share one engine: one pool per scheduler."""
    with server_database(kind) as url:
        s = FastScheduler(storage="sqlmodel", database_url=url, quiet=True)
        s.every(3600).seconds.id("x").do(lambda: None)
        s.start()
        try:
            store_engine = s.storage.engine  # type: ignore[attr-defined]
            coordinator_engine = s._rt.coordinator.engine  # type: ignore[attr-defined]
            assert coordinator_engine.pool is store_engine.pool
        finally:
            s.stop()

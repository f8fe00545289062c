"""SQL storage through SQLAlchemy 2 (Core): SQLite, PostgreSQL (psycopg 3), MySQL and MariaDB
(PyMySQL).

Four of the schema's tables (:mod:`fastscheduler.stores.schema`, which :meth:`open` creates with the
cluster's, under one version): ``fastscheduler_jobs`` (one row per job, upserted one row at a time,
so a batch touching one job of a million writes one row), ``fastscheduler_history``,
``fastscheduler_dead_letters`` and ``fastscheduler_meta`` (the stats record and the schema
version). Each row keeps the record as JSON text plus the columns that are indexed.

PostgreSQL and MySQL/MariaDB can be shared by several scheduler processes
(:attr:`~fastscheduler.stores.base.StorageBackend.multi_instance` is True). A SQLite file is
single-instance like the JSON store: :meth:`SQLModelStorageBackend.open` locks ``<file>.lock``.

Needs the ``database`` extra: ``pip install 'fastscheduler[database]'``.
"""

import json
import os
import stat
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

try:
    import sqlalchemy as sa
    from sqlalchemy import exc as sa_exc
    from sqlalchemy.engine import Connection, Engine, make_url
    from sqlalchemy.pool import StaticPool
except ImportError as _exc:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        "fastscheduler's SQL storage needs SQLAlchemy and a database driver: "
        "pip install 'fastscheduler[database]'"
    ) from _exc

from fastscheduler.stores._bulk import CHUNK, BulkRows, chunks, driver_batches, upsert
from fastscheduler.stores._loaded import LoadedJobs
from fastscheduler.stores._records import (
    DEFAULTS_KEY,
    dead_letter_problem,
    history_problem,
    in_words,
    job_problem,
    newer_format_message,
    newer_version,
    stats_problem,
    with_defaults,
)
from fastscheduler.stores.base import (
    Changes,
    Limits,
    StorageBackend,
    StorageError,
    StorageFormatError,
    StoredState,
    flush_interval_seconds,
)
from fastscheduler.stores.json_file import FileLock
from fastscheduler.stores.schema import (
    DEAD_LETTERS,
    HISTORY,
    JOBS,
    MAX_JOB_ID_LENGTH,
    META,
    METADATA,
    SCHEMA_VERSION,
    STATUS_LENGTH,
    create_schema,
)

__all__ = [
    "MAX_JOB_ID_LENGTH",
    "METADATA",
    "SCHEMA_VERSION",
    "SQLModelStorageBackend",
    "normalize_database_url",
]

_JOBS, _HISTORY, _DEAD, _META = JOBS, HISTORY, DEAD_LETTERS, META
_FIX = "; nothing was changed: fix or delete that row"

_DRIVERS = {
    "postgresql": "postgresql+psycopg",
    "postgres": "postgresql+psycopg",
    "mysql": "mysql+pymysql",
    "mariadb": "mysql+pymysql",
}
_SERVER_BACKENDS = frozenset({"postgresql", "mysql", "mariadb"})
_URL_HELP = (
    "expected e.g. postgresql://user:password@host:5432/dbname, mysql://user:password@host:3306/dbname "
    "(also mariadb://) or sqlite:///path/to/file.db"
)


def normalize_database_url(url: str) -> str:
    """``url`` with the driver fastscheduler installs filled in: ``postgresql://`` (and
    ``postgres://``) become ``postgresql+psycopg://`` (psycopg 3), ``mysql://`` and ``mariadb://``
    become ``mysql+pymysql://``. A URL naming its driver (``postgresql+psycopg2://``) and any other
    URL (``sqlite:///file.db``) is returned as given. Raises :class:`StorageError` if ``url`` is not
    a database URL."""
    try:
        parsed = make_url(url)
    except (sa_exc.ArgumentError, ValueError, TypeError) as exc:
        raise StorageError(f"not a database URL: {url!r} ({exc}); {_URL_HELP}") from None
    driver = _DRIVERS.get(parsed.drivername)
    if driver is None:
        return url
    return parsed.set(drivername=driver).render_as_string(hide_password=False)


class SQLModelStorageBackend(StorageBackend):
    """Job state, history, dead letters and stats in a SQL database (the 0.2.x name: SQLModel).

    ``database_url``: a SQLAlchemy URL (see :func:`normalize_database_url` for the short forms);
    the default is the SQLite file ``fastscheduler.db`` in the working directory. The database must
    exist; the tables are created on :meth:`open`. The engine pings a pooled connection before using
    it, so a restarted database server is reconnected on the next write. An in-memory SQLite
    database (``sqlite://``) lives in one connection shared by all threads, until :meth:`close`.

    ``flush_interval`` is the least time between two writes, in seconds (default 1): changes
    gather meanwhile and go in one transaction, each table's rows as JSON arrays the server
    unpacks, one statement per array (``stores/_bulk.py``). A kill
    -9 loses at most the changes of that long; ``stop()`` writes everything first. ValueError if
    it is not a number from 0 to 3600.

    Raises :class:`StorageError` at construction if the URL is not a database URL or its driver is
    not installed.
    """

    validates_records = True
    accepts_rows = True
    max_job_id_length = MAX_JOB_ID_LENGTH
    #: Under MySQL's default ``max_allowed_packet`` (16 MiB), with room for the statement.
    rows_array_bytes = 4 << 20
    #: Changes gather for a second between writes (``flush_interval``).
    min_write_interval = 1.0

    def __init__(
        self, database_url: str = "sqlite:///fastscheduler.db", *, flush_interval: float = 1.0
    ) -> None:
        self.min_write_interval = flush_interval_seconds(flush_interval)
        url = make_url(normalize_database_url(database_url))
        backend = url.get_backend_name()
        self._lock = threading.Lock()
        self._file_lock: FileLock | None = None
        #: The SQLite database file (None for a server or an in-memory database).
        self._sqlite_file: Path | None = None
        engine_args: dict[str, Any] = {"pool_pre_ping": True}
        if backend == "sqlite":
            engine_args["connect_args"] = {"check_same_thread": False}
            database = url.database or ""
            if database in ("", ":memory:") or url.query.get("mode") == "memory":
                # One connection for every thread, or each would see its own empty database.
                engine_args["poolclass"] = StaticPool
            else:
                if not database.startswith("file:"):
                    # Absolute, so a later chdir neither moves the database nor its lock.
                    database = os.path.abspath(database)
                    url = url.set(database=database)
                self._file_lock = FileLock(Path(f"{database}.lock"), f"The SQLite database {database}")
                self._sqlite_file = Path(database)
        elif backend == "postgresql" and url.get_driver_name() == "psycopg":
            engine_args["connect_args"] = {"connect_timeout": 10}
        #: The URL with the password hidden: what messages and logs show.
        self.display_url = url.render_as_string(hide_password=True)
        self.multi_instance = backend in _SERVER_BACKENDS
        try:
            self.engine: Engine = sa.create_engine(url, **engine_args)
        except sa_exc.NoSuchModuleError as exc:
            raise StorageError(
                f"unsupported database URL {self.display_url}: SQLAlchemy has no dialect or driver "
                f"{url.drivername!r} ({exc}); {_URL_HELP}"
            ) from None
        except ImportError as exc:
            module = exc.name or str(exc)
            raise StorageError(
                f"the database driver for {self.display_url} is not installed (no module {module!r}): "
                "pip install 'fastscheduler[database]' (psycopg for PostgreSQL, PyMySQL for MySQL/MariaDB)"
                + ("" if url.drivername in _DRIVERS.values() else f", or the package providing {module!r}")
            ) from exc
        self._open = False
        self._limits = Limits()
        self._prune_counts = True
        #: How rows are written (set by :meth:`open`, which asks the server what it can do).
        self._bulk = BulkRows(url.get_backend_name(), unpack=False)
        #: The ``fastscheduler_meta`` row :meth:`write` keeps the stats in. Cluster instances each
        #: write their own (``stats:<instance id>``); :meth:`open` returns the sum of all of them.
        self.stats_key = "stats"

    def open(self, limits: Limits) -> StoredState:
        """Lock a SQLite file (:class:`StorageLockedError` if another process has it), create the
        tables that are missing, check the schema version, and load the state: jobs, the newest
        ``limits.max_history`` history records (oldest first), the newest ``limits.max_dead_letters``
        dead letters, and the stats. (Retention by age is applied by :meth:`write`, which knows the
        scheduler's clock.)

        Raises :class:`StorageError` naming the database if it cannot be reached (or a SQLite
        database path is not a regular file), and :class:`StorageFormatError` if a record is
        damaged (not JSON, or holding something the scheduler cannot use: the row is named) or was
        written by a newer fastscheduler. Nothing is changed then: a damaged row stays until it is
        fixed or deleted (a shared database cannot be moved aside like a file).
        """
        with self._lock:
            if self._file_lock is not None:
                self._file_lock.acquire()
            try:
                self._check_sqlite_file()
                self._create_schema()
                state = self._load(limits)
                self._bulk = self._bulk_writer()
            except BaseException:
                if self._file_lock is not None:
                    self._file_lock.release()
                self.engine.dispose()
                raise
            self._limits = limits
            self._open = True
            self._prune_counts = True
            return state

    def write(self, changes: Changes, now: float) -> None:
        """Apply ``changes`` in ONE transaction: delete jobs, upsert the changed jobs (one row each;
        other jobs are not touched), append history, clear then append dead letters, replace the
        stats, then prune history (older than the retention, beyond ``max_history`` newest) and dead
        letters (beyond ``max_dead_letters`` newest). On any error the transaction is rolled back
        (nothing of the batch is stored) and :class:`StorageError` is raised naming the database.
        """
        with self._lock:
            if not self._open:
                raise StorageError(f"the database store {self.display_url} is not open: call open() first")
            try:
                with self.engine.begin() as conn:
                    self._write(conn, changes, now)
            except StorageError:
                raise
            except (TypeError, ValueError) as exc:
                raise StorageError(
                    f"cannot write to {self.display_url}: the batch holds a value that is not "
                    f"JSON-serialisable ({exc}); nothing of the batch was stored"
                ) from exc
            except sa_exc.SQLAlchemyError as exc:
                raise StorageError(
                    f"cannot write to {self.display_url}: {_describe(exc)}; nothing of the batch was stored"
                ) from exc
            self._prune_counts = False

    def close(self) -> None:
        """Close the pooled connections and release a SQLite file's lock. Safe to call twice; a
        closed backend can be opened again (an in-memory SQLite database is then empty)."""
        with self._lock:
            self._open = False
            self.engine.dispose()
            if self._file_lock is not None:
                self._file_lock.release()

    # -- internals ---------------------------------------------------------------------------

    def _check_sqlite_file(self) -> None:
        """Refuse a SQLite path that exists but is not a regular file (after links, which SQLite
        follows and writes through): a FIFO or a device is no database."""
        if self._sqlite_file is None:
            return
        try:
            st = os.stat(self._sqlite_file)
        except FileNotFoundError:
            return
        except OSError as exc:
            raise StorageError(f"cannot open the database {self.display_url}: {exc}") from exc
        if not stat.S_ISREG(st.st_mode):
            kind = {
                stat.S_IFDIR: "a directory",
                stat.S_IFIFO: "a FIFO (named pipe)",
                stat.S_IFCHR: "a character device",
                stat.S_IFBLK: "a block device",
                stat.S_IFSOCK: "a socket",
            }.get(stat.S_IFMT(st.st_mode), "not a regular file")
            raise StorageError(
                f"cannot open the database {self.display_url}: {self._sqlite_file} is {kind}, not a "
                "regular file; nothing was read or changed"
            )

    def _bulk_writer(self) -> BulkRows:
        try:
            with self.engine.connect() as conn:
                return BulkRows.for_connection(conn, f"The database {self.display_url}")
        except sa_exc.SQLAlchemyError as exc:
            raise StorageError(f"cannot open the database {self.display_url}: {_describe(exc)}") from exc

    def _create_schema(self) -> None:
        try:
            create_schema(self.engine, f"The database {self.display_url}")
        except sa_exc.SQLAlchemyError as exc:
            raise StorageError(f"cannot open the database {self.display_url}: {_describe(exc)}") from exc

    def _load(self, limits: Limits) -> StoredState:
        where = f"The database {self.display_url}"
        state = StoredState()
        bad: list[str] = []  # the first damaged row, reported once every row is read

        def check(problem: str | None, what: str) -> None:
            if problem is not None and not bad:
                bad.append(f"{where} holds a damaged record in {what}: {in_words(problem)}")

        try:
            with self.engine.connect() as conn:
                # The records stay texts, checked in Rust (no dict per job); those the fast path
                # does not vouch for are decoded here and checked by the Python validator.
                jobs = state.jobs = LoadedJobs()
                unsure: list[str] = []
                for batch in driver_batches(conn, sa.select(_JOBS.c.job_id, _JOBS.c.record)):
                    try:
                        unsure += jobs.add_rows(batch)
                    except (TypeError, UnicodeError):  # not a str (a driver's bytes), a lone surrogate
                        for job_id, text in batch:
                            what = f"{_JOBS.name} row {job_id!r}"
                            if type(job_id) is not str:  # (SQLite stores what it is given: a BLOB)
                                raise StorageFormatError(
                                    f"{where} holds a damaged record in {what}: its job id is not text{_FIX}"
                                ) from None
                            record = _parse(text, where, what)
                            jobs[job_id] = record
                            unsure.append(job_id)
                for job_id in unsure:
                    text = jobs.text(job_id)
                    if text is not None:
                        jobs[job_id] = _parse(text, where, f"{_JOBS.name} row {job_id!r}")
                    if DEFAULTS_KEY in jobs[job_id]:
                        with_defaults(jobs[job_id])
                    version = newer_version(jobs[job_id])
                    if version is not None:
                        raise StorageFormatError(newer_format_message(where, version))
                for job_id in unsure:
                    check(job_problem(job_id, jobs[job_id]), f"{_JOBS.name} row {job_id!r}")
                if limits.max_history > 0:
                    rows = conn.execute(
                        sa.select(_HISTORY.c.id, _HISTORY.c.record)
                        .order_by(_HISTORY.c.id.desc())
                        .limit(limits.max_history)
                    ).all()
                    for i, text in reversed(rows):
                        what = f"{_HISTORY.name} row {i}"
                        state.history.append(record := _decode(text, where, what))
                        check(history_problem(record), what)
                if limits.max_dead_letters > 0:
                    rows = conn.execute(
                        sa.select(_DEAD.c.id, _DEAD.c.record)
                        .order_by(_DEAD.c.id.desc())
                        .limit(limits.max_dead_letters)
                    ).all()
                    for i, text in reversed(rows):
                        what = f"{_DEAD.name} row {i}"
                        state.dead_letters.append(record := _decode(text, where, what))
                        check(dead_letter_problem(record), what)
                # One stats row, or one per cluster instance ("stats:<instance>"): their sum.
                for key, value in conn.execute(
                    sa.select(_META.c.key, _META.c.value).where(
                        sa.or_(_META.c.key == "stats", _META.c.key.like("stats:%"))
                    )
                ):
                    what = f"{_META.name} row {key!r}"
                    record = _decode(value, where, what)
                    problem = stats_problem(record)
                    check(problem, what)
                    if problem is None:
                        state.stats = _add_stats(state.stats, record)
        except sa_exc.SQLAlchemyError as exc:
            raise StorageError(f"cannot read the database {self.display_url}: {_describe(exc)}") from exc
        if bad:
            raise StorageFormatError(f"{bad[0]}{_FIX}")
        return state

    def _write(self, conn: Connection, changes: Changes, now: float) -> None:
        # Sorted, so that concurrent instances lock rows in the same order (no deadlock between them).
        for chunk in chunks(sorted(changes.deleted_jobs), CHUNK):
            conn.execute(sa.delete(_JOBS).where(_JOBS.c.job_id.in_(chunk)))
        if changes.jobs:
            for job_id in changes.jobs:
                if len(job_id) > MAX_JOB_ID_LENGTH:
                    raise StorageError(
                        f"cannot write to {self.display_url}: job id {job_id[:40]!r}... is longer than "
                        f"{MAX_JOB_ID_LENGTH} characters; nothing of the batch was stored"
                    )
            rows = [
                _encode([job_id, _encode(record), _number(record.get("next_run"))])
                for job_id, record in sorted(changes.jobs.items())
            ]
            for array in _arrays(rows, self.rows_array_bytes):
                self._bulk.jobs(conn, array, now)
        for doc in changes.job_rows:
            self._bulk.jobs(conn, doc, now)
        if changes.history:
            rows = [
                _encode(
                    [
                        _text(h.get("job_id"), MAX_JOB_ID_LENGTH) or "",
                        _text(h.get("status"), STATUS_LENGTH),
                        _number(h.get("timestamp")),
                        _encode(h),
                    ]
                )
                for h in changes.history
            ]
            for array in _arrays(rows, self.rows_array_bytes):
                self._bulk.history(conn, array)
        for doc in changes.history_rows:
            self._bulk.history(conn, doc)
        if changes.clear_dead_letters:
            conn.execute(sa.delete(_DEAD))
        if changes.dead_letters:
            conn.execute(
                sa.insert(_DEAD),
                [
                    {
                        "job_id": _text(d.get("job_id"), MAX_JOB_ID_LENGTH) or "",
                        "executed_at": _number(d.get("executed_at")),
                        "record": _encode(d),
                    }
                    for d in changes.dead_letters
                ],
            )
        if changes.stats is not None:
            upsert(conn, _META, "key", [{"key": self.stats_key, "value": _encode(changes.stats)}])
        self._prune(conn, changes, now)

    def _prune(self, conn: Connection, changes: Changes, now: float) -> None:
        limits = self._limits
        horizon = now - limits.history_retention_days * 86400
        conn.execute(sa.delete(_HISTORY).where(_HISTORY.c.timestamp < horizon))
        # Counting needs an index walk of up to max rows: only when rows were added (or first time).
        if self._prune_counts or changes.history:
            _keep_newest(conn, _HISTORY, limits.max_history)
        if self._prune_counts or changes.dead_letters:
            _keep_newest(conn, _DEAD, limits.max_dead_letters)


def _add_stats(total: dict[str, Any], more: dict[str, Any]) -> dict[str, Any]:
    """Two stats records summed: ``totals`` and each ``per_job`` count (other keys: ``more``'s)."""
    if not total:
        return more
    out = {**total, **{k: v for k, v in more.items() if k not in ("totals", "per_job")}}
    totals = dict(total.get("totals") or {})
    for name, n in (more.get("totals") or {}).items():
        totals[name] = int(totals.get(name, 0)) + int(n)
    per_job = {name: dict(counts) for name, counts in (total.get("per_job") or {}).items()}
    for name, counts in (more.get("per_job") or {}).items():
        mine = per_job.setdefault(name, {})
        for k, n in counts.items():
            mine[k] = int(mine.get(k, 0)) + int(n)
    out["totals"], out["per_job"] = totals, per_job
    return out


def _keep_newest(conn: Connection, table: sa.Table, keep: int) -> None:
    """Delete all but the ``keep`` rows of ``table`` with the highest ids (in two statements:
    MySQL cannot delete from a table its subquery reads)."""
    if keep <= 0:
        conn.execute(sa.delete(table))
        return
    cutoff = conn.execute(
        sa.select(table.c.id).order_by(table.c.id.desc()).offset(keep - 1).limit(1)
    ).scalar_one_or_none()
    if cutoff is not None:
        conn.execute(sa.delete(table).where(table.c.id < cutoff))


def _arrays(rows: list[str], max_bytes: int) -> Iterator[str]:
    """``rows`` (JSON texts) as JSON arrays of at most ``max_bytes`` characters each (a longer
    row alone)."""
    start, size = 0, 2
    for i, row in enumerate(rows):
        if i > start and size + len(row) + 1 > max_bytes:
            yield "[" + ",".join(rows[start:i]) + "]"
            start, size = i, 2
        size += len(row) + 1
    if start < len(rows):
        yield "[" + ",".join(rows[start:]) + "]"


def _encode(record: Any) -> str:
    """The record as JSON text (TypeError/ValueError if it is not JSON-serialisable)."""
    return json.dumps(record, separators=(",", ":"))


def _parse(text: Any, where: str, what: str) -> dict[str, Any]:
    """A stored record: StorageFormatError if it is not a JSON object (its version and fields are
    checked by the caller)."""
    try:
        record = json.loads(text)
    except (TypeError, ValueError) as exc:
        raise StorageFormatError(f"{where} holds a damaged record in {what}: {exc}{_FIX}") from None
    except RecursionError:
        raise StorageFormatError(
            f"{where} holds a damaged record in {what}: nested too deeply{_FIX}"
        ) from None
    if not isinstance(record, dict):
        raise StorageFormatError(f"{where} holds a damaged record in {what}: not a JSON object{_FIX}")
    return record


def _decode(text: Any, where: str, what: str) -> dict[str, Any]:
    """A stored record: StorageFormatError if it is not a JSON object or is newer than this code
    (its fields are checked by the caller)."""
    record = _parse(text, where, what)
    version = newer_version(record)
    if version is not None:
        raise StorageFormatError(newer_format_message(where, version))
    return record


def _number(value: Any) -> float | None:
    """``value`` as a float for an indexed column, or None if it is not a (finite) number."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if number == number and abs(number) != float("inf") else None


def _text(value: Any, length: int) -> str | None:
    """``value`` cut to ``length`` characters for an indexed column (the record keeps it whole)."""
    if value is None:
        return None
    return str(value)[:length]


def _describe(exc: sa_exc.SQLAlchemyError) -> str:
    """The driver's own message when there is one (SQLAlchemy's adds SQL text and a help link)."""
    orig = getattr(exc, "orig", None)
    text = str(orig) if orig is not None else str(exc)
    return " ".join(text.split())[:500]

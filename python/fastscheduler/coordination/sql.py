"""Several scheduler processes on one PostgreSQL or MySQL/MariaDB database: each fire runs once.

Every instance registers the same jobs (the same code) and keeps its own Rust engine, which says
*when* a job falls due. Whether *this* instance runs that fire is decided by the database:

- ``fastscheduler_schedule`` holds one row per job with its next fire time (the cluster's truth)
  and the pause flag; ``fastscheduler_job_counts`` its cluster-wide counters.
- A fire is **claimed** in one transaction: ``SELECT ... FOR UPDATE SKIP LOCKED`` of the job rows
  that are due (``next_run <= now``, not paused), ``INSERT`` of one ``fastscheduler_runs`` row per
  fire, whose primary key is (job id, scheduled time in microseconds), and ``UPDATE`` of each job's
  ``next_run`` to its next fire after now (the fires in between are coalesced and reported as
  missed, as a single scheduler does after downtime). A crash rolls all of it back; a committed
  claim can never be made again, whatever path (schedule, catch-up, run-now) tries.
- Work spreads: each instance claims at once only the jobs the live instances' ids hash to it; a
  fire still unclaimed ``grace`` seconds after it fell due is taken by whichever instance gets to
  it first, so a dead or slow instance delays its jobs by ``grace``, never skips them.
- Execution is leased: the owner of a running run extends ``lease_until`` while it runs (every
  ``lease / 3`` seconds, with its heartbeat). When an owner dies, its runs' leases expire and a
  survivor takes them over and runs them again (at-least-once execution of a started run).
- A due row locked by another transaction (a peer mid-claim) or whose job is still running here
  (with other instances alive) is looked at again after ``grace``: a peer that dies mid-claim
  loses nothing, and a run being re-run after a takeover does not swallow the next fire.
- Pause, resume and cancel write the job row and a ``fastscheduler_commands`` row; peers learn of
  them through ``LISTEN``/``NOTIFY`` on PostgreSQL and a poll every ``poll_interval`` seconds on
  MySQL/MariaDB. A job added while running (with an id) is announced the same way, with what a
  peer needs to register it too (the function's import path, JSON arguments, the schedule).

SQLite and JSON stay single-instance (a file lock): SQLite has no ``SKIP LOCKED``.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import json
import logging
import math
import os
import secrets
import socket
import threading
import time
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import astuple, dataclass
from itertools import starmap
from operator import itemgetter
from typing import Any

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects import mysql as sa_mysql
from sqlalchemy.dialects import postgresql as sa_postgresql
from sqlalchemy.engine import Connection, Engine

from fastscheduler._builders import JobSpec
from fastscheduler._core import Backoff, ClusterRows, CronExpr, Job, Trigger
from fastscheduler._retry import Outage, retry
from fastscheduler.coordination.base import (
    Claim,
    ClaimState,
    Command,
    CommandKind,
    Finish,
    FireSink,
    ScheduleRow,
    skip_reason,
)
from fastscheduler.stores._bulk import CHUNK, chunks, driver_batches
from fastscheduler.stores._records import MAX_COUNT, MAX_TIME, MIN_TIME, cluster_row_problem
from fastscheduler.stores.base import StorageError, StorageFormatError
from fastscheduler.stores.schema import COMMANDS, COUNTS, INSTANCES, RUNS, SCHEDULE

log = logging.getLogger("fastscheduler.cluster")

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

_Request = tuple[float, int, tuple[str, ...], float | None, int, Callable[[], None] | None]
_NOTIFY_CHANNEL = "fastscheduler"
# Waits between tries (epoch seconds): a claim that failed (re-queued), the maintenance thread, the
# LISTEN connection, leaving.
_CLAIM_RETRY = Backoff(base=0.25, factor=2.0, max=5.0)
_MAINTENANCE_RETRY = Backoff(base=1.0, factor=2.0, max=5.0)
_LISTEN_RETRY = Backoff(base=0.5, factor=2.0, max=5.0)
_LEAVE_RETRY = Backoff(base=0.1, factor=2.0, max=1.0)
_TOLERANCE = 0.001  # seconds: a fire "due now" may be this much ahead of the local clock
_COMMAND_WINDOW = 120.0  # seconds of commands each poll reads (and the ids it remembers)


@dataclass(frozen=True, slots=True)
class ClusterConfig:
    """How the instances of a cluster coordinate (``FastScheduler(cluster=ClusterConfig(...))``).

    ``lease``: seconds a started run stays with its instance without a heartbeat; after that a
    survivor runs it again. ``grace``: seconds a fire may stay unclaimed by the instance it hashes
    to before any instance takes it. ``poll_interval``: how often peers' pause/resume/cancel are
    read on MySQL/MariaDB (PostgreSQL is told at once by NOTIFY and reads every ``lease``).
    ``run_retention``: seconds finished run rows are kept. ``instance_id``: this process's name in
    the cluster (default: host, pid and a random suffix).
    """

    lease: float = 30.0
    grace: float = 0.3
    poll_interval: float = 1.0
    run_retention: float = 3600.0
    instance_id: str | None = None

    def __post_init__(self) -> None:
        for name in ("lease", "grace", "poll_interval", "run_retention"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
                raise ValueError(f"ClusterConfig.{name} must be a positive number of seconds, got {value!r}")
            if not math.isfinite(value):
                raise ValueError(f"ClusterConfig.{name} must be finite, got {value!r}")
        if self.grace >= self.lease:
            raise ValueError(
                f"ClusterConfig.grace ({self.grace:g} s) must be shorter than lease ({self.lease:g} s)"
            )
        if self.instance_id is not None and (
            not isinstance(self.instance_id, str) or not 0 < len(self.instance_id) <= 58
        ):
            raise ValueError(
                f"ClusterConfig.instance_id must be a string of 1-58 characters, got {self.instance_id!r}"
            )


def _us(t: float) -> int:
    return round(t * 1_000_000)


_CRON_CACHE: dict[tuple[str, str | None], Trigger] = {}


def advance(spec: JobSpec, scheduled: float, now: float) -> tuple[float | None, int]:
    """The job's next fire strictly after ``now`` when its fire at ``scheduled`` is taken at
    ``now``, and how many fires in ``(scheduled, now]`` were passed over (coalesced, reported as
    missed): the core's rule (``Trigger.advance``), the one a single scheduler's engine applies."""
    if spec.kind == "interval":
        assert spec.interval is not None
        trigger = Trigger.interval(spec.interval, scheduled)
    elif spec.kind == "cron":
        assert spec.cron is not None
        key = (spec.cron, spec.tz)
        cached = _CRON_CACHE.get(key)
        if cached is None:
            if len(_CRON_CACHE) > 4096:
                _CRON_CACHE.clear()
            cached = _CRON_CACHE[key] = Trigger.cron(CronExpr(spec.cron, tz=spec.tz))
        trigger = cached
    else:
        assert spec.at is not None
        trigger = Trigger.date(spec.at)
    return trigger.advance(scheduled, now)


class SQLCoordinator:
    """The coordinator of a cluster of schedulers on one database (see the module docstring).

    ``engine``: the store's engine on the shared database (PostgreSQL or MySQL/MariaDB): one pool
    per scheduler; the coordinator's transactions use READ COMMITTED on it, and the store owns (and
    disposes of) it. ``clock``: the scheduler's clock (epoch seconds; every instance's clock
    should be NTP-synchronised, as leases compare them).
    """

    records = True

    def __init__(self, engine: Engine, config: ClusterConfig, clock: Callable[[], float]) -> None:
        self.config = config
        self._me: str = config.instance_id or (
            f"{socket.gethostname()[:32]}-{os.getpid()}-{secrets.token_hex(3)}"
        )
        self.instance_id: str | None = self._me
        self._sink: FireSink | None = None
        self._clock = clock
        url = engine.url
        self.dialect = url.get_backend_name()
        if self.dialect not in ("postgresql", "mysql", "mariadb"):
            raise ValueError(
                "a cluster needs PostgreSQL or MySQL/MariaDB (SELECT ... FOR UPDATE SKIP LOCKED), "
                f"not {self.dialect}"
            )
        self._url = url
        self.engine: Engine = engine.execution_options(isolation_level="READ COMMITTED")
        self._cond = threading.Condition()
        self._stopping = False
        self._no_claims = False
        # Claim requests: (due monotonic time, seq, job ids, upto or None = "due now", tries,
        # called once served).
        self._requests: list[_Request] = []
        self._run_now: list[tuple[str, float]] = []
        self._seq = itertools.count()
        # Work for the maintenance thread.
        self._finishes: list[tuple[Claim, Finish]] = []
        self._commands: list[Command] = []
        self._ensure: dict[str, float | None] = {}
        self._poke_commands = False
        self._json_table: bool | None = None  # MySQL/MariaDB: JSON_TABLE works (None: not asked yet)
        self._seen: dict[int, float] = {}
        self._live: tuple[str, ...] = (self._me,)
        self._threads: list[threading.Thread] = []
        self._listener: Any = None
        self.last_error: str | None = None
        self.error_since: float | None = None
        self.claimed = 0
        self.taken_over = 0
        self.lease_renewals = 0  # leases of this instance's running runs extended (for metrics)

    # ------------------------------------------------------------------ lifecycle

    def join(self, sink: FireSink) -> ClusterRows:
        """Register this instance, and return every job's row by job id (the store made the tables
        when it opened), held in Rust (a million rows, no Python object each). Raises
        :class:`~fastscheduler.stores.StorageError` if the database cannot be reached, and
        :class:`~fastscheduler.stores.StorageFormatError` naming a damaged row."""
        self._sink = sink
        table = ClusterRows(ScheduleRow, MIN_TIME, MAX_TIME)
        doubtful: list[Sequence[_RowTuple]] = []  # batches the validator must look at
        try:
            now = self._clock()
            with self.engine.begin() as conn:
                conn.execute(sa.insert(INSTANCES).values(self._instance_row(now)))
                for (cid,) in conn.execute(
                    sa.select(COMMANDS.c.id).where(COMMANDS.c.at >= now - _COMMAND_WINDOW)
                ):
                    self._seen[cid] = now
                self._live = self._read_live(conn, now)
                for batch in driver_batches(conn, _ROWS_ZEROED):
                    if not table.add_rows(batch):
                        doubtful.append(batch)
        except Exception as exc:
            raise StorageError(f"cannot join the cluster on {self._where()}: {exc}") from exc
        try:
            for batch in doubtful:  # (raises naming the first bad row; else the rows as it reads them)
                checked = self._checked({r[0]: _row_dict(r) for r in batch})
                if not table.add_rows([(job_id, *astuple(row)) for job_id, row in checked.items()]):
                    raise StorageFormatError(
                        f"The database {self._where()} holds cluster rows it cannot read"
                    )
            return table
        except StorageFormatError:
            self.leave(5.0)  # joined, but cannot run with these rows: out again
            raise

    def _where(self) -> str:
        return self._url.render_as_string(hide_password=True)

    def _checked(self, raw: dict[str, dict[str, Any]]) -> dict[str, ScheduleRow]:
        """Rows as read, checked like the job records they stand for (the store's validator)."""
        bad = cluster_row_problem(raw)
        if bad is not None:
            raise StorageFormatError(f"The database {self._where()} {bad}")
        return {job_id: ScheduleRow(**row) for job_id, row in raw.items()}

    def _checked_rows(self, rows: Sequence[_RowTuple]) -> dict[str, ScheduleRow]:
        """:meth:`_checked` of rows as read by ``_ROWS_ZEROED`` (tuples), a million in about a second:
        when every value is within what the validator accepts (checked a column at a time, in
        C), the rows are made directly; otherwise the validator looks at each row and names the
        first bad one."""
        if not _plausible(rows):
            return self._checked({r[0]: _row_dict(r) for r in rows})
        if self.dialect == "postgresql":  # a BOOLEAN column: bool already
            return dict(
                zip(
                    map(itemgetter(0), rows),
                    starmap(ScheduleRow, map(itemgetter(1, 2, 3, 4, 5, 6), rows)),
                    strict=True,
                )
            )
        return {r[0]: ScheduleRow(r[1], bool(r[2]), r[3], r[4], r[5], r[6]) for r in rows}

    def register(self, jobs: Iterable[Job], *, wait: bool) -> None:
        """Create the rows of jobs that have none, with their first fire; a job whose row a peer
        made first follows that row (``FireSink.adopt``). ``wait``: now, else in the background."""
        sink = self._sink
        assert sink is not None, "join() first"
        first = {job.job_id: sink.next_fire(job) for job in jobs}
        if not first:
            return
        if not wait:
            with self._cond:
                self._ensure.update(first)
                self._cond.notify_all()
            return
        self._adopt_differing(first, self.ensure(first))

    def start(self) -> None:
        """Start the claimer and maintenance threads (and the LISTEN thread on PostgreSQL)."""
        with self._cond:
            self._stopping = self._no_claims = False
        targets: list[tuple[str, Callable[[], None]]] = [
            ("claimer", self._claim_loop),
            ("maintenance", self._maintain_loop),
        ]
        if self.dialect == "postgresql":
            targets.append(("listener", self._listen_loop))
        for name, target in targets:
            thread = threading.Thread(target=target, name=f"fastscheduler-cluster-{name}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop_claiming(self, timeout: float) -> None:
        """Claim nothing more (the scheduler is stopping): the claim being made is finished and its
        runs started, queued requests are dropped (their fires are due for the other instances,
        or for the next start), and no lost run is taken over any more."""
        with self._cond:
            self._no_claims = True
            self._cond.notify_all()
        for thread in self._threads:
            if thread.name.endswith("claimer"):
                thread.join(timeout)

    def leave(self, timeout: float) -> None:
        """Stop the threads, write what is queued (finished runs, commands), hand this instance's
        unfinished runs to the survivors at once (their lease ends now) and delete its row."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        listener = self._listener
        if listener is not None:
            with contextlib.suppress(Exception):
                listener.close()
        end = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, end - time.monotonic()))
        self._threads = []

        def hand_over() -> None:
            self._flush()
            now = self._clock()
            with self.engine.begin() as conn:
                conn.execute(
                    sa.update(RUNS)
                    .where(RUNS.c.owner == self._me, RUNS.c.state == "running")
                    .values(lease_until=now)
                )
                conn.execute(sa.delete(INSTANCES).where(INSTANCES.c.instance_id == self._me))

        try:  # a deadlock or a dropped connection is worth a few tries
            retry(
                hand_over,
                tries=5,
                backoff=_LEAVE_RETRY,
                retry_on=sa_exc.SQLAlchemyError,
                what=f"cluster: leaving {self._me}",
                logger=log,
                describe=_describe,
            )
        except sa_exc.SQLAlchemyError as exc:
            log.warning("fastscheduler cluster: leaving %s (tried 5 times): %s", self._me, _describe(exc))

    def status(self) -> dict[str, Any]:
        """This instance's view: its id, the live instances, claims made, fires and runs taken over
        from others, and the last database error (None when the last operation worked)."""
        return {
            "instance_id": self._me,
            "instances": list(self._live),
            "claimed": self.claimed,
            "taken_over": self.taken_over,
            "lease_renewals": self.lease_renewals,
            "last_error": self.last_error,
            "error_since": self.error_since,
        }

    # ------------------------------------------------------------------ called by the scheduler

    def fired(self, fires: Iterable[tuple[Job, float, int]], on_served: Callable[[], None]) -> None:
        """The local engine says these (job, scheduled time, passed over) are due: claim this
        instance's share now, and look again after ``grace`` for the rest. ``on_served`` is called
        once the immediate claim was tried (and its runs started). The database's row, not the
        local engine, says how many fires were passed over."""
        mine: list[str] = []
        others: list[str] = []
        latest = -math.inf
        live = self._live
        for job, scheduled, _missed in fires:
            job_id = job.job_id
            (mine if self._prefers(job_id, live) else others).append(job_id)
            latest = max(latest, scheduled)
        with self._cond:
            if mine or on_served is not None:
                heapq.heappush(self._requests, (0.0, next(self._seq), tuple(mine), None, 0, on_served))
            if others:
                due = time.monotonic() + self.config.grace
                heapq.heappush(
                    self._requests, (due, next(self._seq), tuple(others), latest + _TOLERANCE, 0, None)
                )
            self._cond.notify_all()

    def run_now(self, job: Job, at: float) -> None:
        """Create a run-now fire of ``job`` at ``at`` (a run row of its own) and run it here."""
        with self._cond:
            self._run_now.append((job.job_id, at))
            self._cond.notify_all()

    def ensure(self, first_fires: dict[str, float | None]) -> dict[str, ScheduleRow]:
        """Create the rows of jobs that have none (with these first fire times), in one
        transaction; return the rows of those that had one already, as stored (a peer's row wins
        over ours). The rows this call created hold what was asked; they may be left out.

        On PostgreSQL with psycopg a batch of many jobs (the first start of a large deployment) is
        sent with ``COPY`` (a million rows in seconds); if a row exists already (a peer was first,
        or won a race), that is undone and the batch goes through ``INSERT ... ON CONFLICT DO
        NOTHING RETURNING`` of arrays instead, and only the rows it did not create are read. On
        MySQL 8 and MariaDB 10.6+ the ids go as JSON arrays that ``JSON_TABLE`` unpacks into an
        ``INSERT IGNORE``; elsewhere through ``executemany``."""
        _check_first_fires(first_fires, self._checked)
        if not first_fires:
            return {}
        now = self._clock()
        ids = sorted(first_fires)  # every writer inserts in id order: no lock cycle between two
        with self.engine.begin() as conn:
            found: list[_RowTuple] | None = None
            if conn.dialect.name == "postgresql" and conn.dialect.driver == "psycopg":
                found = self._ensure_psycopg(conn, ids, first_fires, now)
            elif conn.dialect.name in ("mysql", "mariadb"):
                found = self._ensure_json_table(conn, ids, first_fires, now)
            if found is None:
                found = self._ensure_portable(conn, ids, first_fires, now)
        return self._checked_rows(found)

    def _ensure_psycopg(
        self, conn: Connection, ids: list[str], first: dict[str, float | None], now: float
    ) -> list[_RowTuple]:
        """PostgreSQL through psycopg 3, on ``conn``'s transaction: ``COPY`` (many jobs), else (or
        when COPY meets a row that is there) arrays unpacked into ``INSERT ... ON CONFLICT DO
        NOTHING RETURNING``. The driver's errors are raised as SQLAlchemy's, like every other
        statement's (the maintenance loop retries those)."""
        import psycopg

        raw = conn.connection.driver_connection
        assert raw is not None
        statement = "COPY"
        try:
            if len(ids) >= _COPY_MIN:
                try:
                    with conn.begin_nested(), raw.cursor() as cur:  # a savepoint: a failed COPY undone alone
                        _copy(
                            cur,
                            SCHEDULE.name,
                            ("job_id", "next_run", "paused", "updated_at"),
                            _copy_lines(ids, first, f"\tf\t{now!r}\n"),
                        )
                        _copy(
                            cur,
                            COUNTS.name,
                            ("job_id", "run_count", "failure_count", "retry_count"),
                            _copy_lines(ids, None, "\t0\t0\t0\n"),
                        )
                    return []
                except psycopg.errors.UniqueViolation:
                    pass  # some rows are there: the batch again, the server skipping those
            made_schedule: set[str] = set()
            made_counts: set[str] = set()
            with raw.cursor() as cur:
                for chunk in chunks(ids, _ARRAY_CHUNK):
                    statement = _PG_ENSURE_SCHEDULE
                    cur.execute(statement, (now, chunk, [first[j] for j in chunk]))
                    made_schedule.update(r[0] for r in cur.fetchall())
                    statement = _PG_ENSURE_COUNTS
                    cur.execute(statement, (chunk,))
                    made_counts.update(r[0] for r in cur.fetchall())
                rest = [j for j in ids if j not in made_schedule or j not in made_counts]
                schedule: dict[str, tuple[Any, ...]] = {}
                counts: dict[str, tuple[Any, ...]] = {}
                for chunk in chunks(rest, _ARRAY_CHUNK):
                    statement = _PG_READ_SCHEDULE
                    cur.execute(statement, (chunk,))
                    schedule.update((r[0], r[1:]) for r in cur.fetchall())
                    statement = _PG_READ_COUNTS
                    cur.execute(statement, (chunk,))
                    counts.update((r[0], r[1:]) for r in cur.fetchall())
        except psycopg.Error as exc:
            raise sa_exc.DBAPIError.instance(statement, None, exc, psycopg.Error) from exc
        return _joined(rest, schedule, counts)

    def _ensure_json_table(
        self, conn: Connection, ids: list[str], first: dict[str, float | None], now: float
    ) -> list[_RowTuple] | None:
        """MySQL 8 / MariaDB 10.6+: ``_ARRAY_CHUNK`` ids a statement, as one JSON parameter that
        the server unpacks (pure-Python PyMySQL escapes every value of an ``executemany``: 30 s a
        million rows). None if the server has no ``JSON_TABLE``."""
        if self._json_table is None:
            try:
                with conn.begin_nested():
                    conn.exec_driver_sql(_MY_PROBE).all()
                self._json_table = True
            except sa_exc.DBAPIError:
                self._json_table = False
        if not self._json_table:
            return None
        unsure: list[str] = []
        for chunk in chunks(ids, _ARRAY_CHUNK):
            rows = json.dumps([[j, first[j]] for j in chunk])
            made = conn.exec_driver_sql(_MY_ENSURE_SCHEDULE, (now, rows)).rowcount
            made_counts = conn.exec_driver_sql(_MY_ENSURE_COUNTS, (json.dumps(chunk),)).rowcount
            if made != len(chunk) or made_counts != len(chunk):
                unsure.extend(chunk)
        return self._read_back(conn, unsure)

    def _ensure_portable(
        self, conn: Connection, ids: list[str], first: dict[str, float | None], now: float
    ) -> list[_RowTuple]:
        """Any driver: ``INSERT IGNORE`` / ``ON CONFLICT DO NOTHING`` (``executemany``, which
        SQLAlchemy sends as multi-row statements) of ``_INSERT_CHUNK`` rows at a time."""
        unsure: list[str] = []
        for chunk in chunks(ids, _INSERT_CHUNK):
            made = conn.execute(
                self._insert_ignore(SCHEDULE),
                [{"job_id": j, "next_run": first[j], "paused": False, "updated_at": now} for j in chunk],
            ).rowcount
            made_counts = conn.execute(
                self._insert_ignore(COUNTS),
                [{"job_id": j, "run_count": 0, "failure_count": 0, "retry_count": 0} for j in chunk],
            ).rowcount
            if made != len(chunk) or made_counts != len(chunk):
                unsure.extend(chunk)
        return self._read_back(conn, unsure)

    def _read_back(self, conn: Connection, ids: list[str]) -> list[_RowTuple]:
        """The rows of ``ids``, whose inserts created fewer rows than they sent (some were there: a
        peer's) or could not say (psycopg2 and others report -1), read a table at a time (a join
        filtered by a list of ids is planned badly on tables filled in the same transaction)."""
        schedule: dict[str, tuple[Any, ...]] = {}
        counts: dict[str, tuple[Any, ...]] = {}
        for chunk in chunks(ids, CHUNK):
            schedule.update(
                (r[0], tuple(r[1:]))
                for r in conn.execute(
                    sa.select(SCHEDULE.c.job_id, SCHEDULE.c.next_run, SCHEDULE.c.paused).where(
                        SCHEDULE.c.job_id.in_(chunk)
                    )
                )
            )
            counts.update(
                (r[0], tuple(r[1:]))
                for r in conn.execute(
                    sa.select(
                        COUNTS.c.job_id,
                        COUNTS.c.run_count,
                        COUNTS.c.failure_count,
                        COUNTS.c.retry_count,
                        COUNTS.c.last_run,
                    ).where(COUNTS.c.job_id.in_(chunk))
                )
            )
        return _joined(ids, schedule, counts)

    def _adopt_differing(self, first: dict[str, float | None], rows: dict[str, ScheduleRow]) -> None:
        sink = self._sink
        assert sink is not None
        for job_id, mine in first.items():
            row = rows.get(job_id)
            if row is not None and (row.next_run != mine or row.paused):
                sink.adopt(job_id, row)

    def command(self, command: Command) -> None:
        """Record a pause / resume / cancel / add for the whole cluster."""
        with self._cond:
            self._commands.append(command)
            self._cond.notify_all()

    def record(self, claim: Claim, finish: Finish) -> None:
        """An attempt of ``claim`` ended: its run row takes ``finish.state`` (still "running" while
        a retry follows), and the job's cluster counters move by ``finish``'s amounts."""
        with self._cond:
            self._finishes.append((claim, finish))
            self._cond.notify_all()

    # ------------------------------------------------------------------ claims

    def _prefers(self, job_id: str, live: tuple[str, ...]) -> bool:
        if len(live) <= 1:
            return True
        return live[zlib.crc32(job_id.encode("utf-8", "surrogatepass")) % len(live)] == self._me

    def _claim_loop(self) -> None:
        while True:
            request: _Request | None = None
            run_now: list[tuple[str, float]] = []
            dropped: list[_Request] = []
            with self._cond:
                while True:
                    if self._stopping or self._no_claims:
                        dropped, self._requests = self._requests, []
                        break
                    if self._run_now:
                        run_now, self._run_now = self._run_now, []
                        break
                    if self._requests:
                        wait = self._requests[0][0] - time.monotonic()
                        if wait <= 0:
                            request = heapq.heappop(self._requests)
                            break
                        self._cond.wait(wait)
                    else:
                        self._cond.wait()
            if request is None and not run_now:  # stopping; callbacks outside our lock
                for *_, on_served in dropped:
                    if on_served is not None:
                        on_served()
                return
            if request is not None:
                self._serve(request)
            else:
                self._serve_run_now(run_now)

    def _serve(self, request: _Request) -> None:
        """Claim what ``request`` names. Its ``on_served`` (the scheduler counting the fire as in
        flight) is called once the claimed runs have started, or once nothing is left to look at
        again: a fire whose row was busy stays in flight while it is looked at again."""
        _due, _seq, job_ids, upto, tries, on_served = request
        carried = False
        try:
            if job_ids:
                carried = self._serve_claim(job_ids, upto, tries, on_served)
        finally:
            if on_served is not None and not carried:
                on_served()

    def _serve_claim(
        self, job_ids: tuple[str, ...], upto: float | None, tries: int, on_served: Callable[[], None] | None
    ) -> bool:
        """Returns True if ``on_served`` went with a request queued to look at busy rows again."""
        now = self._clock()
        limit = now + _TOLERANCE if upto is None else upto
        try:
            claims, busy = self._claim(job_ids, limit, now)
        except sa_exc.SQLAlchemyError as exc:
            self._failed("claiming due jobs", exc)
            delay = _CLAIM_RETRY.delay(tries + 1)
            with self._cond:
                # Retried until it works: the rows say what is still unclaimed by then.
                heapq.heappush(
                    self._requests,
                    (time.monotonic() + delay, next(self._seq), job_ids, None, tries + 1, None),
                )
            return False
        self._ok()
        carried = bool(busy) and tries < 100
        if claims:
            self.claimed += len(claims)
            if upto is not None:
                self.taken_over += len(claims)
            self._run(claims)
        if carried:
            with self._cond:
                due = time.monotonic() + self.config.grace
                request = (due, next(self._seq), tuple(busy), limit, tries + 1, on_served)
                heapq.heappush(self._requests, request)
                self._cond.notify_all()
        return carried

    def _claim(self, job_ids: Sequence[str], upto: float, now: float) -> tuple[list[Claim], list[str]]:
        """One transaction: lock the due, unpaused, unlocked rows of ``job_ids``, create a run row
        per fire, move each job's ``next_run`` past ``now``. Returns the claims, and the ids whose
        row was due but locked by another transaction (a peer claiming it; if that peer fails, the
        fire is still due: look again) or whose previous run is still in progress here."""
        claims: list[Claim] = []
        busy: list[str] = []
        nexts: dict[str, float | None] = {}
        lease_until = now + self.config.lease
        with self.engine.begin() as conn:
            for chunk in chunks(sorted(job_ids), CHUNK):
                rows = conn.execute(
                    sa.select(SCHEDULE.c.job_id, SCHEDULE.c.next_run)
                    .where(
                        SCHEDULE.c.job_id.in_(chunk),
                        SCHEDULE.c.next_run <= upto,
                        SCHEDULE.c.paused == sa.false(),
                    )
                    .with_for_update(skip_locked=True)
                ).all()
                if len(rows) < len(chunk):
                    due = conn.execute(
                        sa.select(SCHEDULE.c.job_id).where(
                            SCHEDULE.c.job_id.in_(chunk),
                            SCHEDULE.c.next_run <= upto,
                            SCHEDULE.c.paused == sa.false(),
                        )
                    ).scalars()
                    got = {r[0] for r in rows}
                    busy.extend(j for j in due if j not in got)
                for job_id, scheduled in rows:
                    job = self._lookup(job_id)
                    if job is None:
                        continue  # not registered here (any more): leave it to an instance that has it
                    spec, running = job.spec, job.running > 0
                    if running and len(self._live) > 1:
                        # Its previous run is still going here: leave the fire to an instance
                        # that is free of it (or to this one, once it is), looked at again later.
                        busy.append(job_id)
                        continue
                    nxt, missed = advance(spec, scheduled, now)
                    # Alone in the cluster, a job still running skips the fire, as a single
                    # scheduler does.
                    claim = Claim(
                        job_id,
                        scheduled,
                        _us(scheduled),
                        1,
                        missed,
                        "catch-up" if missed else "schedule",
                        skip_reason(spec, missed, running),
                        None,
                        job,
                    )
                    claims.append(claim)
                    nexts[job_id] = nxt
            if not claims:
                return [], busy
            claims = self._new_runs(conn, claims, now, lease_until)
            for chunk in chunks(sorted(nexts), CHUNK):
                conn.execute(
                    sa.update(SCHEDULE)
                    .where(SCHEDULE.c.job_id.in_(chunk))
                    .values(
                        # Cast: a batch of one-shot jobs has only NULLs, which PostgreSQL types as text.
                        next_run=sa.cast(
                            sa.case({j: nexts[j] for j in chunk}, value=SCHEDULE.c.job_id, else_=None),
                            sa.Double(),
                        ),
                        updated_at=now,
                    )
                )
        return claims, busy

    def _new_runs(self, conn: Connection, claims: list[Claim], now: float, lease_until: float) -> list[Claim]:
        """Insert a run row per claim, leaving out fires that already have one (which the row
        locks make impossible; the primary key would refuse them anyway)."""
        keys = [(c.job_id, c.scheduled_us) for c in claims]
        existing: set[tuple[str, int]] = set()
        for chunk in chunks(keys, CHUNK):
            existing.update(
                (j, u)
                for j, u in conn.execute(
                    sa.select(RUNS.c.job_id, RUNS.c.scheduled_us).where(
                        sa.tuple_(RUNS.c.job_id, RUNS.c.scheduled_us).in_(chunk)
                    )
                )
            )
        if existing:
            log.error(
                "fastscheduler cluster: %d fire(s) already had a run row; not created again", len(existing)
            )
            claims = [c for c in claims if (c.job_id, c.scheduled_us) not in existing]
        if claims:
            conn.execute(
                sa.insert(RUNS),
                [
                    {
                        "job_id": c.job_id,
                        "scheduled_us": c.scheduled_us,
                        "origin": c.origin,
                        "state": "skipped" if c.skip else "running",
                        "owner": self._me,
                        "attempt": c.attempt,
                        "lease_until": lease_until,
                        "created_at": now,
                        "finished_at": now if c.skip else None,
                    }
                    for c in claims
                ],
            )
        return claims

    def _serve_run_now(self, requests: list[tuple[str, float]]) -> None:
        claims: list[Claim] = []
        for job_id, at in requests:
            us = _us(at)
            for _ in range(100):  # the same microsecond twice (two run-nows at once): the next one
                claim = Claim(job_id, us / 1_000_000, us, 1, 0, "run-now")
                try:
                    with self.engine.begin() as conn:
                        now = self._clock()
                        if self._new_runs(conn, [claim], now, now + self.config.lease):
                            claims.append(claim)
                            break
                except sa_exc.IntegrityError:
                    pass
                except sa_exc.SQLAlchemyError as exc:
                    self._failed(f"creating a run-now fire of {job_id}", exc)
                    break
                us += 1
        if claims:
            self._run(claims)

    # ------------------------------------------------------------------ maintenance

    def _maintain_loop(self) -> None:
        beat = max(0.05, self.config.lease / 3)
        poll = self.config.poll_interval if self.dialect != "postgresql" else self.config.lease
        next_beat = next_poll = 0.0
        next_prune = time.monotonic() + 60
        backoff = 0.0
        outage = Outage(_MAINTENANCE_RETRY)
        while True:
            with self._cond:
                while not self._stopping:
                    mono = time.monotonic()
                    if (
                        backoff <= mono
                        and (self._finishes or self._commands or self._ensure or self._poke_commands)
                    ) or mono >= min(next_beat, next_poll, next_prune):
                        break
                    self._cond.wait(min(next_beat, next_poll, next_prune) - mono)
                if self._stopping:
                    return
                self._poke_commands, poked = False, self._poke_commands
            mono = time.monotonic()
            try:
                self._flush()
                if mono >= next_beat:
                    self._heartbeat()
                    next_beat = mono + beat
                if poked or mono >= next_poll:
                    self._read_commands()
                    next_poll = mono + poll
                if mono >= next_prune:
                    self._prune()
                    next_prune = mono + 60
                self._ok()
                backoff = 0.0
                outage.succeeded()
            except sa_exc.SQLAlchemyError as exc:
                self._failed("maintenance", exc)
                backoff = time.monotonic() + outage.failed()
                next_beat = min(next_beat, backoff)
                with self._cond:
                    self._poke_commands = self._poke_commands or poked

    def _flush(self) -> None:
        """Write queued finished runs, commands and new job rows (kept queued if it fails)."""
        with self._cond:
            finishes, self._finishes = self._finishes, []
            commands, self._commands = self._commands, []
            ensure, self._ensure = self._ensure, {}
        try:
            if finishes:
                self._write_finishes(finishes)
                finishes = []
            if commands:
                self._write_commands(commands)
                commands = []
            if ensure:
                try:
                    self._adopt_differing(ensure, self.ensure(ensure))
                except StorageFormatError as exc:  # a peer wrote a row this code cannot use
                    log.error("fastscheduler cluster: %s", exc)
                ensure = {}
        finally:
            with self._cond:  # put back what was not written, before anything newer
                self._finishes[:0] = finishes
                self._commands[:0] = commands
                for job_id, first in ensure.items():
                    self._ensure.setdefault(job_id, first)

    def _write_finishes(self, finishes: list[tuple[Claim, Finish]]) -> None:
        # Rows are locked in job id order by every writer (claims too), so two instances never
        # wait for each other in a cycle; each job's counters move once per batch.
        finishes = sorted(finishes, key=lambda f: (f[0].job_id, f[0].scheduled_us))
        counts: dict[str, list[float]] = {}
        for claim, fin in finishes:
            c = counts.setdefault(claim.job_id, [0, 0, 0, fin.at])
            c[0] += fin.runs
            c[1] += fin.failures
            c[2] += fin.retries
            c[3] = max(c[3], fin.at)
        with self.engine.begin() as conn:
            conn.execute(
                sa.update(RUNS)
                .where(
                    RUNS.c.job_id == sa.bindparam("b_job"),
                    RUNS.c.scheduled_us == sa.bindparam("b_us"),
                    RUNS.c.owner == self._me,
                )
                .values(
                    state=sa.bindparam("b_state"),
                    attempt=sa.bindparam("b_attempt"),
                    finished_at=sa.bindparam("b_fin"),
                ),
                [
                    {
                        "b_job": claim.job_id,
                        "b_us": claim.scheduled_us,
                        "b_state": fin.state.value,
                        "b_attempt": fin.attempt,
                        "b_fin": None if fin.state is ClaimState.RUNNING else fin.at,
                    }
                    for claim, fin in finishes
                ],
            )
            conn.execute(
                sa.update(COUNTS)
                .where(COUNTS.c.job_id == sa.bindparam("b_job"))
                .values(
                    run_count=COUNTS.c.run_count + sa.bindparam("b_runs"),
                    failure_count=COUNTS.c.failure_count + sa.bindparam("b_failures"),
                    retry_count=COUNTS.c.retry_count + sa.bindparam("b_retries"),
                    last_run=sa.bindparam("b_last"),
                ),
                [
                    {"b_job": j, "b_runs": int(r), "b_failures": int(f), "b_retries": int(rt), "b_last": last}
                    for j, (r, f, rt, last) in sorted(counts.items())
                ],
            )

    def _write_commands(self, commands: list[Command]) -> None:
        now = self._clock()
        with self.engine.begin() as conn:
            for command in commands:
                kind, job_id, next_run, payload = (
                    command.kind,
                    command.job_id,
                    command.next_run,
                    command.payload,
                )
                if kind is CommandKind.ADD:
                    pass  # the job's rows are made by ensure(); peers register it from the payload
                elif kind is CommandKind.CANCEL:
                    conn.execute(sa.delete(SCHEDULE).where(SCHEDULE.c.job_id == job_id))
                    conn.execute(sa.delete(COUNTS).where(COUNTS.c.job_id == job_id))
                elif kind is CommandKind.PAUSE:
                    conn.execute(
                        sa.update(SCHEDULE)
                        .where(SCHEDULE.c.job_id == job_id)
                        .values(paused=True, updated_at=now)
                    )
                else:  # resume: from the next fire the resuming instance computed
                    conn.execute(
                        sa.update(SCHEDULE)
                        .where(SCHEDULE.c.job_id == job_id)
                        .values(paused=False, next_run=next_run, updated_at=now)
                    )
                conn.execute(
                    sa.insert(COMMANDS).values(
                        job_id=job_id,
                        command=kind.value,
                        origin=self._me,
                        at=now,
                        payload=None if payload is None else json.dumps(payload),
                    )
                )
            if self.dialect == "postgresql":
                conn.execute(sa.select(sa.func.pg_notify(_NOTIFY_CHANNEL, self._me)))

    def _read_commands(self) -> None:
        now = self._clock()
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(
                    COMMANDS.c.id,
                    COMMANDS.c.job_id,
                    COMMANDS.c.command,
                    COMMANDS.c.origin,
                    COMMANDS.c.payload,
                )
                .where(COMMANDS.c.at >= now - _COMMAND_WINDOW)
                .order_by(COMMANDS.c.id)
            ).all()
        for cid, job_id, command, origin, payload in rows:
            if cid in self._seen:
                continue
            self._seen[cid] = now
            if origin != self._me:
                try:
                    sink = self._sink
                    assert sink is not None
                    sink.apply(Command(CommandKind(command), job_id, payload=_payload(payload)))
                except Exception:  # never lose the thread
                    log.exception("fastscheduler cluster: applying %s of %s failed", command, job_id)
        horizon = now - 2 * _COMMAND_WINDOW
        for cid in [c for c, at in self._seen.items() if at < horizon]:
            del self._seen[cid]

    def _heartbeat(self) -> None:
        """Heartbeat, extend this instance's leases, learn who is alive, take over expired runs."""
        now = self._clock()
        lease = self.config.lease
        with self.engine.begin() as conn:
            beat = conn.execute(
                sa.update(INSTANCES).where(INSTANCES.c.instance_id == self._me).values(heartbeat_at=now)
            )
            if beat.rowcount == 0:  # pruned as dead while we could not reach the database
                conn.execute(sa.insert(INSTANCES).values(self._instance_row(now)))
            renewed = conn.execute(
                sa.update(RUNS)
                .where(RUNS.c.owner == self._me, RUNS.c.state == "running")
                .values(lease_until=now + lease)
            )
            self.lease_renewals += renewed.rowcount
            self._live = self._read_live(conn, now)
        self._take_over(now)

    def _read_live(self, conn: Connection, now: float) -> tuple[str, ...]:
        live = conn.execute(
            sa.select(INSTANCES.c.instance_id)
            .where(INSTANCES.c.heartbeat_at >= now - self.config.lease)
            .order_by(INSTANCES.c.instance_id)
        ).scalars()
        return tuple(live) or (self._me,)

    def _take_over(self, now: float) -> None:
        """Runs whose owner stopped extending the lease: run them again here (at-least-once)."""
        if self._no_claims:
            return
        claims: list[Claim] = []
        with self.engine.begin() as conn:
            rows = conn.execute(
                sa.select(RUNS.c.job_id, RUNS.c.scheduled_us, RUNS.c.attempt, RUNS.c.owner, RUNS.c.origin)
                .where(RUNS.c.state == "running", RUNS.c.lease_until < now)
                .order_by(RUNS.c.lease_until)
                .limit(200)
                .with_for_update(skip_locked=True)
            ).all()
            for job_id, us, attempt, owner, origin in rows:
                job = self._lookup(job_id)
                if job is None:
                    continue  # not registered here: an instance that has it takes it
                conn.execute(
                    sa.update(RUNS)
                    .where(RUNS.c.job_id == job_id, RUNS.c.scheduled_us == us)
                    .values(owner=self._me, lease_until=now + self.config.lease)
                )
                log.warning(
                    "fastscheduler cluster: attempt %d of %s (fire %s) was lost with instance %s; "
                    "taken over by %s",
                    attempt,
                    job_id,
                    us / 1_000_000,
                    owner,
                    self._me,
                )
                # The lost attempt counts as a failed one: the host applies the job's retries.
                claims.append(Claim(job_id, us / 1_000_000, us, attempt, 0, origin, lost_with=owner, job=job))
        if claims:
            self.taken_over += len(claims)
            self._run(claims)

    def _prune(self) -> None:
        now = self._clock()
        with self.engine.begin() as conn:
            conn.execute(
                sa.delete(RUNS).where(
                    RUNS.c.state != "running", RUNS.c.finished_at < now - self.config.run_retention
                )
            )
            conn.execute(sa.delete(COMMANDS).where(COMMANDS.c.at < now - 3600))
            conn.execute(
                sa.delete(INSTANCES).where(INSTANCES.c.heartbeat_at < now - max(3600, 10 * self.config.lease))
            )

    # ------------------------------------------------------------------ PostgreSQL LISTEN

    def _listen_loop(self) -> None:
        """Wake the maintenance thread when a peer NOTIFYs a command (reconnecting as needed)."""
        import psycopg

        conninfo = self._url.set(drivername="postgresql").render_as_string(hide_password=False)
        outage = Outage(_LISTEN_RETRY)
        while True:
            with self._cond:
                if self._stopping:
                    return
            try:
                with psycopg.connect(conninfo, autocommit=True, connect_timeout=10) as conn:
                    self._listener = conn
                    conn.execute(f"LISTEN {_NOTIFY_CHANNEL}")
                    self._poke()  # anything sent while we were not listening
                    outage.succeeded()
                    while True:
                        with self._cond:
                            if self._stopping:
                                return
                        for _ in conn.notifies(timeout=30.0, stop_after=1):
                            self._poke()
            except Exception as exc:  # psycopg errors, or the connection closed by leave()
                with self._cond:
                    if self._stopping:
                        return
                log.debug("fastscheduler cluster: LISTEN connection lost: %s", exc)
                time.sleep(outage.failed())
            finally:
                self._listener = None

    def _poke(self) -> None:
        with self._cond:
            self._poke_commands = True
            self._cond.notify_all()

    # ------------------------------------------------------------------ helpers

    def _lookup(self, job_id: str) -> Job | None:
        sink = self._sink
        assert sink is not None, "join() first"
        return sink.lookup(job_id)

    def _run(self, claims: list[Claim]) -> None:
        sink = self._sink
        assert sink is not None, "join() first"
        sink.run_claims(claims)

    def _instance_row(self, now: float) -> dict[str, Any]:
        return {
            "instance_id": self._me,
            "host": socket.gethostname()[:255],
            "pid": os.getpid(),
            "started_at": now,
            "heartbeat_at": now,
        }

    def _insert_ignore(self, table: sa.Table) -> Any:
        if self.dialect == "postgresql":
            return sa_postgresql.insert(table).on_conflict_do_nothing()
        return sa_mysql.insert(table).prefix_with("IGNORE")

    def _failed(self, what: str, exc: BaseException) -> None:
        text = _describe(exc)
        if self.last_error is None:
            self.error_since = self._clock()
            log.warning("fastscheduler cluster: %s failed (retrying): %s", what, text)
        self.last_error = text

    def _ok(self) -> None:
        if self.last_error is not None:
            log.warning("fastscheduler cluster: the database is reachable again")
        self.last_error = None
        self.error_since = None


# A job's row with its counters (a job whose counters row is missing counts from zero).
_ROWS = sa.select(
    SCHEDULE.c.job_id,
    SCHEDULE.c.next_run,
    SCHEDULE.c.paused,
    COUNTS.c.run_count,
    COUNTS.c.failure_count,
    COUNTS.c.retry_count,
    COUNTS.c.last_run,
).select_from(SCHEDULE.outerjoin(COUNTS, COUNTS.c.job_id == SCHEDULE.c.job_id))


# The same rows, the counters of a job without a counters row as 0: what join() reads, as tuples
# (job_id, next_run, paused, run_count, failure_count, retry_count, last_run) straight from the
# driver's cursor (a million in about a second; SQLAlchemy's Row objects take three times that).
_ROWS_ZEROED = sa.select(
    SCHEDULE.c.job_id,
    SCHEDULE.c.next_run,
    SCHEDULE.c.paused,
    sa.func.coalesce(COUNTS.c.run_count, 0),
    sa.func.coalesce(COUNTS.c.failure_count, 0),
    sa.func.coalesce(COUNTS.c.retry_count, 0),
    COUNTS.c.last_run,
).select_from(SCHEDULE.outerjoin(COUNTS, COUNTS.c.job_id == SCHEDULE.c.job_id))
_RowTuple = tuple[str, Any, Any, Any, Any, Any, Any]


_NUMBERS = frozenset({int, float})


def _times_ok(times: list[Any]) -> bool:
    """Whether every one of ``times`` (no None) is a time the validator accepts (a number from
    year 1 to 9999), looked at in C."""
    if not times:
        return True
    if not set(map(type, times)) <= _NUMBERS:
        return False
    total = sum(times)  # NaN if one is NaN (which min() and max() would not notice)
    return bool(total == total and min(times) >= MIN_TIME and max(times) <= MAX_TIME)


def _plausible(rows: Sequence[_RowTuple]) -> bool:
    """Whether every value of ``rows`` is what the validator accepts (times within years 1 to
    9999, counters from 0 to 2**63-1), looked at a column at a time; False means "ask the
    validator", which also says which row is bad."""
    if not rows:
        return True
    _ids, nexts, _paused, runs, failures, retries, lasts = zip(*rows, strict=True)
    if not _times_ok([t for t in nexts + lasts if t is not None]):
        return False
    counts = runs + failures + retries
    return bool(set(map(type, counts)) <= {int} and min(counts) >= 0 and max(counts) <= MAX_COUNT)


def _row_dict(r: _RowTuple) -> dict[str, Any]:
    return {
        "next_run": r[1],
        "paused": bool(r[2]),
        "run_count": int(r[3] or 0),
        "failure_count": int(r[4] or 0),
        "retry_count": int(r[5] or 0),
        "last_run": r[6],
    }


def _check_first_fires(
    first: dict[str, float | None], checked: Callable[[dict[str, dict[str, Any]]], object]
) -> None:
    """Raise (through ``checked``, the validator) if a first fire time is not one a row may hold."""
    if _times_ok([t for t in first.values() if t is not None]):
        return
    checked({j: _row_dict((j, t, False, 0, 0, 0, None)) for j, t in first.items()})


def _joined(
    ids: Iterable[str], schedule: dict[str, tuple[Any, ...]], counts: dict[str, tuple[Any, ...]]
) -> list[_RowTuple]:
    """The rows of ``ids`` that have a schedule row, with their counters (zero without a
    counters row), as ``_ROWS_ZEROED`` reads them."""
    out: list[_RowTuple] = []
    zero = (0, 0, 0, None)
    for job_id in ids:
        row = schedule.get(job_id)
        if row is not None:
            c = counts.get(job_id, zero)
            out.append((job_id, row[0], row[1], c[0], c[1], c[2], c[3]))
    return out


# ensure(): PostgreSQL through psycopg 3 (COPY and arrays), MySQL/MariaDB (JSON_TABLE), any driver.
_COPY_MIN = 1000  # jobs from which ensure() tries COPY first
_COPY_CHUNK = 50_000  # rows per write to a COPY
_ARRAY_CHUNK = 50_000  # ids per array parameter
_INSERT_CHUNK = 5_000  # rows per executemany of the portable path
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})
_PG_ENSURE_SCHEDULE = (
    f"INSERT INTO {SCHEDULE.name} (job_id, next_run, paused, updated_at) "
    "SELECT j, n, false, %s FROM unnest(%s::text[], %s::float8[]) AS t(j, n) "
    "ON CONFLICT (job_id) DO NOTHING RETURNING job_id"
)
_PG_ENSURE_COUNTS = (
    f"INSERT INTO {COUNTS.name} (job_id, run_count, failure_count, retry_count) "
    "SELECT j, 0, 0, 0 FROM unnest(%s::text[]) AS t(j) ON CONFLICT (job_id) DO NOTHING RETURNING job_id"
)
_MY_TEXT = "LONGTEXT CHARACTER SET utf8mb4"
_MY_PROBE = "SELECT t.x FROM JSON_TABLE('[[1]]', '$[*]' COLUMNS (x INT PATH '$[0]')) AS t"
_MY_ENSURE_SCHEDULE = (
    f"INSERT IGNORE INTO {SCHEDULE.name} (job_id, next_run, paused, updated_at) "
    "SELECT t.job_id, t.next_run, 0, %s FROM JSON_TABLE(%s, '$[*]' COLUMNS ("
    f"job_id {_MY_TEXT} PATH '$[0]', next_run DOUBLE PATH '$[1]')) AS t"
)
_MY_ENSURE_COUNTS = (
    f"INSERT IGNORE INTO {COUNTS.name} (job_id, run_count, failure_count, retry_count) "
    f"SELECT t.job_id, 0, 0, 0 FROM JSON_TABLE(%s, '$[*]' COLUMNS (job_id {_MY_TEXT} PATH '$')) AS t"
)
_PG_READ_SCHEDULE = f"SELECT job_id, next_run, paused FROM {SCHEDULE.name} WHERE job_id = ANY(%s::text[])"
_PG_READ_COUNTS = (
    f"SELECT job_id, run_count, failure_count, retry_count, last_run FROM {COUNTS.name} "
    "WHERE job_id = ANY(%s::text[])"
)


def _copy(cursor: Any, table: str, columns: tuple[str, ...], data: Iterable[str]) -> None:
    """``COPY table (columns) FROM STDIN`` of ``data`` (text format, pieces of whole lines)."""
    with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        for piece in data:
            copy.write(piece)


def _copy_lines(ids: Sequence[str], first: dict[str, float | None] | None, tail: str) -> Iterator[str]:
    """COPY text lines: each id (escaped), then its first fire (``first``; ``\\N`` for none),
    then ``tail`` (the other columns and the newline); joined ``_COPY_CHUNK`` lines at a time."""
    for chunk in chunks(ids, _COPY_CHUNK):
        texts: Sequence[str] = chunk
        joined = "".join(chunk)
        if "\\" in joined or "\t" in joined or "\n" in joined or "\r" in joined:
            texts = [j.translate(_COPY_ESCAPES) for j in chunk]
        if first is None:
            yield tail.join(texts) + tail
        else:
            values = ["\\N" if (t := first[j]) is None else repr(float(t)) for j in chunk]
            yield "".join([f"{j}\t{v}{tail}" for j, v in zip(texts, values, strict=True)])


def _payload(text: str | None) -> dict[str, Any] | None:
    if text is None:
        return None
    value = json.loads(text)
    return value if isinstance(value, dict) else None


def read_rows(engine: Engine) -> dict[str, dict[str, Any]] | None:
    """Every job's cluster row (``next_run``, ``paused``, counters, ``last_run``) by job id, read
    with ``engine``; None if the database has no cluster tables (no cluster ever ran on it)."""
    try:
        with engine.connect() as conn:
            return {r.job_id: _row(r) for r in conn.execute(_ROWS)}
    except sa_exc.ProgrammingError:  # no such table
        return None


def _row(r: Any) -> dict[str, Any]:
    return {
        "next_run": r.next_run,
        "paused": bool(r.paused),
        "run_count": int(r.run_count or 0),
        "failure_count": int(r.failure_count or 0),
        "retry_count": int(r.retry_count or 0),
        "last_run": r.last_run,
    }


def _describe(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None)
    text = str(orig) if orig is not None else str(exc)
    return " ".join(text.split())[:300]


SQLCluster = SQLCoordinator  # the name before coordination became an interface

"""The storage interface. Each backend lives in its own file (memory, JSON, SQLModel).

The scheduler keeps its working state in memory (the Rust engine and a few Python records) and
hands a backend *batches of changes*: a background saver collects them, merges them while a save is
pending (at most one save is ever queued, however fast changes arrive), and calls :meth:`write`.
A backend therefore only has to do three things: :meth:`open` (lock, create, load), :meth:`write`
(apply one batch atomically) and :meth:`close`.

Records are plain JSON-able dicts, each with ``"v"``: the format version that wrote it. A backend
that finds a record (or a file) with a newer version than :data:`FORMAT_VERSION` raises
:class:`StorageFormatError` and changes nothing.

Calls come from scheduler threads (the saver, ``start()``, ``stop()``), never from an event loop,
and never while the scheduler holds a lock the engine needs.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import MutableMapping
from dataclasses import dataclass, field
from typing import Any

FORMAT_VERSION = 1
"""Version written into every stored record (and the JSON file's envelope)."""


class StorageError(RuntimeError):
    """A storage backend could not do what was asked (the message says which file or database)."""


class StorageFormatError(StorageError):
    """Stored data is damaged, or was written by a newer fastscheduler than this one."""


class StorageLockedError(StorageError):
    """Another process already uses this single-instance store (a JSON file or a SQLite database)."""


@dataclass(frozen=True, slots=True)
class Limits:
    """Bounds a backend enforces on what it keeps (the scheduler's constructor arguments)."""

    max_history: int = 10000
    history_retention_days: float = 7
    max_dead_letters: int = 500


@dataclass(slots=True)
class StoredState:
    """Everything a backend holds, as :meth:`StorageBackend.open` returns it.

    ``jobs``: job records by job id (a dict, or a mapping that decodes a record when it is read:
    a SQL store's ``LoadedJobs``). ``history``: run records, oldest first (within the limits).
    ``dead_letters``: oldest first. ``stats``: the scheduler's totals record (empty if none yet).
    """

    jobs: MutableMapping[str, dict[str, Any]] = field(default_factory=dict)
    history: list[dict[str, Any]] = field(default_factory=list)
    dead_letters: list[dict[str, Any]] = field(default_factory=list)
    stats: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class Changes:
    """One batch of changes, applied by :meth:`StorageBackend.write` all-or-nothing, in this order:
    delete ``deleted_jobs``, upsert ``jobs``, append ``history``, clear dead letters if
    ``clear_dead_letters``, append ``dead_letters``, replace ``stats`` if not ``None``; then prune
    to the limits. The record dicts are made for the batch and nobody changes them afterwards, so a
    backend may keep them without copying.
    """

    jobs: dict[str, dict[str, Any]] = field(default_factory=dict)
    deleted_jobs: set[str] = field(default_factory=set)
    history: list[dict[str, Any]] = field(default_factory=list)
    dead_letters: list[dict[str, Any]] = field(default_factory=list)
    clear_dead_letters: bool = False
    stats: dict[str, Any] | None = None
    #: Only for a backend whose ``accepts_states`` is True: the new mutable state of jobs whose
    #: full record the store already holds, as the JSON journal's ``state`` lines (bytes, one
    #: line per job, see ``docs/persistence.md``), applied after ``jobs``. Other backends get
    #: those jobs' full records in ``jobs`` instead.
    states: bytes = b""
    #: How many jobs ``states`` holds.
    state_count: int = 0
    #: Only for a backend whose ``accepts_states`` is True: more whole job records, as journal
    #: ``job`` lines (bytes, serialised in Rust), applied after ``jobs``.
    job_lines: bytes = b""
    #: How many records ``job_lines`` holds.
    job_line_count: int = 0
    #: Only for a backend whose ``accepts_states`` is True: more history records, as journal
    #: ``history`` lines (bytes), after those in ``history``.
    history_lines: bytes = b""
    #: How many records ``history_lines`` holds.
    history_count: int = 0
    #: Only for a backend whose ``accepts_rows`` is True: more whole job records, serialised in
    #: Rust, as JSON arrays of ``[job_id, record JSON text, next_run]`` rows (the record with
    #: ``"defaults": 1``, see :func:`~fastscheduler.stores._records.with_defaults`; ``next_run``
    #: null when there is none), applied after ``jobs``, in order. One array names a job at most
    #: once; each is at most ``StorageBackend.rows_array_bytes`` (unless it is one longer row).
    job_rows: list[bytes] = field(default_factory=list)
    #: How many rows ``job_rows`` holds.
    job_row_count: int = 0
    #: Only for a backend whose ``accepts_rows`` is True: more history records, as JSON arrays
    #: of ``[job_id, status, timestamp, record JSON text]`` rows, after those in ``history``.
    history_rows: list[bytes] = field(default_factory=list)
    #: How many rows ``history_rows`` holds.
    history_row_count: int = 0

    def __bool__(self) -> bool:
        return bool(
            self.states
            or self.job_rows
            or self.history_rows
            or self.job_lines
            or self.history_lines
            or self.jobs
            or self.deleted_jobs
            or self.history
            or self.dead_letters
            or self.clear_dead_letters
            or self.stats is not None
        )

    def merge(self, later: Changes) -> None:
        """Fold ``later`` (made after this batch) into this one, as if both were written in turn."""
        if self.job_rows and (later.deleted_jobs or later.jobs):
            # (rows apply after records and deletions: an older row would undo a newer one)
            raise ValueError("Changes.merge: job rows cannot be followed by job records or deletions")
        for job_id in later.deleted_jobs:
            self.jobs.pop(job_id, None)
        self.deleted_jobs |= later.deleted_jobs
        for job_id, record in later.jobs.items():
            self.deleted_jobs.discard(job_id)
            self.jobs[job_id] = record
        if later.history and (self.history_lines or self.history_rows):
            raise ValueError("Changes.merge: history records cannot follow history lines or rows")
        self.history.extend(later.history)
        if later.clear_dead_letters:
            self.clear_dead_letters = True
            self.dead_letters = []
        self.dead_letters.extend(later.dead_letters)
        if later.stats is not None:
            self.stats = later.stats
        if later.job_lines:
            self.job_lines += later.job_lines
            self.job_line_count += later.job_line_count
        if later.states:  # state lines apply after the records, the later ones last
            self.states += later.states
            self.state_count += later.state_count
        if later.history_lines:
            self.history_lines += later.history_lines
            self.history_count += later.history_count
        self.job_rows.extend(later.job_rows)
        self.job_row_count += later.job_row_count
        self.history_rows.extend(later.history_rows)
        self.history_row_count += later.history_row_count


def flush_interval_seconds(value: object) -> float:
    """``value`` as a store's flush interval (:attr:`StorageBackend.min_write_interval`), or
    ValueError saying what is accepted: a number of seconds from 0 to 3600."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (0 <= value <= 3600):
        raise ValueError(f"flush_interval must be a number of seconds from 0 to 3600, got {value!r}")
    return float(value)


class StorageBackend(ABC):
    """Where job state, run history, dead letters and statistics persist.

    Implementations: :class:`~fastscheduler.stores.memory.MemoryStorageBackend`,
    :class:`~fastscheduler.stores.json_file.JSONStorageBackend`,
    :class:`~fastscheduler.stores.sql.SQLModelStorageBackend`. Subclass it to plug in your own; the
    contract tests in ``tests/test_store_contract.py`` say what a backend must do.
    """

    #: Several scheduler processes may share this store (a server database); False means
    #: :meth:`open` takes a lock and a second process gets :class:`StorageLockedError`.
    multi_instance: bool = False

    #: :meth:`open` checks every record it loads with fastscheduler's validator (the built-in
    #: JSON and SQL backends do, reporting a bad record as :class:`StorageFormatError`). False: the
    #: scheduler checks what :meth:`open` returns itself, and a bad record fails ``start()`` with
    #: :class:`StorageFormatError` naming the backend (and the store is closed again).
    validates_records: bool = False

    #: Least time between two writes, in seconds (the flush interval): changes gather for this
    #: long, so that one write (and one fsync) carries all of them. It bounds what a kill -9
    #: can lose; ``stop()`` never waits for it.
    min_write_interval: float = 0.0

    #: :meth:`write` takes :attr:`Changes.states` (job states as JSON journal lines) for jobs
    #: whose full record it holds. False: every changed job comes as a full record.
    accepts_states: bool = False

    #: :meth:`write` takes whole job records and history records as rows serialised in Rust
    #: (:attr:`Changes.job_rows`, :attr:`Changes.history_rows`: the SQL store). False: as dicts.
    accepts_rows: bool = False

    #: The largest JSON array of rows (bytes) a backend that takes rows gets: arrays are cut
    #: there (a single longer row comes alone).
    rows_array_bytes: int = 4 << 20

    #: The longest job id the backend stores (None: any). Jobs with longer ids come as records
    #: in :attr:`Changes.jobs`, never in rows, so that the backend can refuse them by name.
    max_job_id_length: int | None = None

    @abstractmethod
    def open(self, limits: Limits) -> StoredState:
        """Take the store for this process (lock, connect, create what is missing) and load it.

        Raises :class:`StorageLockedError` if another live process holds a single-instance store,
        :class:`StorageFormatError` if the data is damaged or newer than this code (a damaged file is
        kept aside, never overwritten). A record is damaged when the scheduler could not use it: a
        field of the wrong type, a time or a counter out of range (``stores/_records.py`` says
        what is valid). If it raises, it holds nothing (no lock, no connection). Called once,
        before any :meth:`write`.
        """

    @abstractmethod
    def write(self, changes: Changes, now: float) -> None:
        """Apply one batch atomically and durably (when this returns, a crash keeps it), then drop
        history older than ``now - limits.history_retention_days`` days or beyond
        ``limits.max_history`` newest, and dead letters beyond ``limits.max_dead_letters`` newest.

        Raises (any exception) if the batch could not be written; nothing of it is then applied,
        and the caller retries the same batch (merged with newer changes) later.
        """

    def read(self, limits: Limits) -> StoredState:
        """The stored state, for tools (``fastscheduler jobs``) that only look. The default opens
        and closes the store, so it fails with :class:`StorageLockedError` while a scheduler holds a
        single-instance store; backends that can read safely without the lock override it."""
        try:
            return self.open(limits)
        finally:
            self.close()

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release locks, files and connections. Safe to call twice."""

"""JSON-file storage: a snapshot and an append-only journal, compacted in the background
(``docs/persistence.md``).

Single-instance: :meth:`JSONStorageBackend.open` takes an exclusive lock on ``<path>.lock``, so a
second scheduler process on the same file gets :class:`StorageLockedError` instead of two processes
overwriting each other's state. Several scheduler instances need a server database (PostgreSQL or
MySQL/MariaDB through :class:`~fastscheduler.stores.sql.SQLModelStorageBackend`).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import stat
import sys
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Final, NoReturn, cast

from fastscheduler._core import compact_state
from fastscheduler.stores._records import (
    DEFAULTS_KEY,
    JOB_DEFAULTS,
    SPEC_DEFAULTS,
    complete_jobs,
    newer_format_message,
    state_newer_version,
    state_problem,
)
from fastscheduler.stores.base import (
    Changes,
    Limits,
    StorageBackend,
    StorageError,
    StorageFormatError,
    StorageLockedError,
    StoredState,
    flush_interval_seconds,
)

__all__ = ["FILE_FORMAT", "JSONStorageBackend"]


class FileLock:
    """An exclusive, non-blocking, whole-file lock on ``path`` (created if missing), held from
    :meth:`acquire` until :meth:`release` or the end of the process (the OS drops it then, so a
    crashed scheduler never leaves a stale lock). Shared by the JSON and SQLite backends.

    The lock is per open file, so a second :class:`FileLock` on the same path fails even inside the
    same process. The lock file itself is left in place: removing it would race with a process
    about to lock it.
    """

    def __init__(self, path: Path, store: str) -> None:
        self.path = path
        self._store = store
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        """True between a successful :meth:`acquire` and :meth:`release`."""
        return self._fd is not None

    def acquire(self) -> None:
        """Take the lock, or raise :class:`StorageLockedError` naming the store if another process
        (or another backend in this one) holds it. Does nothing if this object already holds it."""
        if self._fd is not None:
            return
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise StorageError(f"cannot create the lock file {self.path}: {exc}") from exc
        try:
            _lock_fd(fd)
        except OSError:
            holder = _read_holder(fd)
            os.close(fd)
            raise StorageLockedError(
                f"{self._store} is already in use by another process{holder} (lock file {self.path}). "
                "The JSON and SQLite stores are single-instance: one scheduler process per file. "
                "To run several scheduler instances on the same state, use a server database "
                "(PostgreSQL or MySQL/MariaDB) with SQLModelStorageBackend."
            ) from None
        try:
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
        except OSError:
            pass  # the pid is only a hint for the error message of the next process
        self._fd = fd

    def release(self) -> None:
        """Drop the lock (closing the file). Safe to call when not held."""
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)  # closing the descriptor releases the lock


if sys.platform == "win32":  # pragma: no cover - the project is tested on Linux
    import msvcrt

    def _lock_fd(fd: int) -> None:
        msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)

else:
    import fcntl

    def _lock_fd(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)


def _read_holder(fd: int) -> str:
    """`` (pid N)`` from a lock file's content, or ``""`` if it holds no pid."""
    try:
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    except (OSError, AttributeError):
        return ""
    return f" (pid {text})" if text.isdigit() else ""


class _Damaged(Exception):
    """The file's content is not a valid state (internal: turned into StorageFormatError)."""


class _Gone(Exception):
    """(internal) A journal segment went away while it was read: a compaction finished. A reader
    without the lock reads again."""


#: The snapshot format this code writes (``"v"`` of the snapshot and of each journal header);
#: records inside keep their own ``"v"`` (:data:`~fastscheduler.stores.base.FORMAT_VERSION`).
FILE_FORMAT: Final = 2
#: The fields a ``state`` line replaces (one left out is at its default: removed from the record).
STATE_FIELDS: Final = (
    "next_run",
    "last_run",
    "run_count",
    "failure_count",
    "retry_count",
    "paused",
    "finished",
    "recent",
)
#: Set to a compaction step (1-5, or ``2h``) in a test to make the compactor exit the process
#: (``os._exit``) there, as a kill -9 would (``docs/persistence.md``, Compaction).
CRASH_ENV: Final = "FASTSCHEDULER_TEST_CRASH_COMPACTION"

_ORDER: Final = {
    "delete": 0,
    "job": 1,
    "state": 2,
    "history": 3,
    "clear_dead_letters": 4,
    "dead_letter": 5,
    "stats": 6,
}
_ENCODER: Final = json.JSONEncoder(separators=(",", ":"))
log = logging.getLogger("fastscheduler")


@dataclass(slots=True)
class _Loaded:
    state: StoredState
    version: int  # the snapshot's format (0: no snapshot)
    covers: int
    snapshot_size: int
    segments: dict[int, int]  # journal segments after ``covers``: number -> bytes
    stale: list[Path]  # segments the snapshot covers (left by a compaction a kill cut short)
    highest: int  # the highest segment number seen


class JSONStorageBackend(StorageBackend):
    """The state in a JSON snapshot and an append-only JSON Lines journal beside it
    (``docs/persistence.md``): ``<path>`` is the snapshot, one record per line
    (``{"v": 2, "covers": n, "jobs": {...}, "history": [...], "dead_letters": [...], "stats":
    {...}}``), ``<path>.journal.<n>`` the journal segments written since.

    A :meth:`write` appends one batch to the current segment (one ``write``, one ``fdatasync``):
    it costs what changed, not the size of the state, and a returned write survives a crash. A
    crash in the middle of a write leaves a batch without its ``commit`` line, which loading
    ignores. When the journal outgrows the snapshot (and ``compact_min_bytes``), a background
    thread folds them into a new snapshot in Rust, with the GIL released (written beside it,
    fsynced, renamed over it), as Redis rewrites its append-only file. :meth:`close` compacts
    too while the files are small, so a small state is one readable file. A version 1 file (one
    document, rewritten whole, before 0.3) loads, and is compacted into this format at the first
    write.

    ``path`` must be a regular file (or not exist yet): a symbolic link, a FIFO, a device or a
    directory is refused with :class:`StorageError` (a compaction replaces the file, so it would
    replace a link rather than write where it points). ``max_file_size`` bounds what is read and
    written (default 1 GiB), file by file: a larger file is refused, not read into memory; a batch
    that would not fit in a journal segment fails (and is retried like any failed write); a
    compaction whose snapshot would be larger fails and keeps the journal.
    ``flush_interval`` is the least time between two writes (the saver gathers changes meanwhile;
    it bounds what a kill -9 loses).
    """

    multi_instance = False
    validates_records = True
    accepts_states = True
    #: Changes gather for a second between writes (``flush_interval``).
    min_write_interval = 1.0

    def __init__(
        self,
        path: str | os.PathLike[str] = "fastscheduler_state.json",
        *,
        max_file_size: int = 1 << 30,
        flush_interval: float = 1.0,
        compact_min_bytes: int = 1 << 20,
    ) -> None:
        if isinstance(max_file_size, bool) or not isinstance(max_file_size, int) or max_file_size < 1:
            raise ValueError(f"max_file_size must be a positive int (bytes), got {max_file_size!r}")
        interval = flush_interval_seconds(flush_interval)
        if (
            isinstance(compact_min_bytes, bool)
            or not isinstance(compact_min_bytes, int)
            or compact_min_bytes < 0
        ):
            raise ValueError(f"compact_min_bytes must be an int >= 0 (bytes), got {compact_min_bytes!r}")
        self.path = Path(path)
        self.max_file_size = max_file_size
        self.min_write_interval = interval
        self.compact_min_bytes = compact_min_bytes
        self._lock = threading.Lock()
        self._file_lock = FileLock(Path(f"{self.path}.lock"), f"The JSON state file {self.path}")
        self._open = False
        self._limits = Limits()
        self._read_only = False
        self._fd: int | None = None  # the journal segment being appended to
        self._segment = 0  # its number (0: none open)
        self._next_segment = 1
        self._sizes: dict[int, int] = {}  # journal segments not folded into the snapshot: bytes
        self._has_snapshot = False
        self._snapshot_size = 0
        self._migrate = False  # a version 1 snapshot: compact at the first write
        self._compactor: threading.Thread | None = None
        self._compact_after = 0.0  # monotonic: no new compaction before (after a failed one)
        self._last_now = time.time()  # the ``now`` of the last write (retention is measured from it)
        #: Compactions done by this backend (for tests and benchmarks).
        self.compactions = 0

    # -- the interface ----------------------------------------------------------------------

    def open(self, limits: Limits) -> StoredState:
        """Lock ``<path>.lock`` and load the snapshot and the journal after it (missing files are
        an empty state), keeping the newest ``limits.max_history`` history records and
        ``limits.max_dead_letters`` dead letters.

        Raises :class:`StorageLockedError` if another process has the file open;
        :class:`StorageFormatError` if a file is damaged: not JSON, nested too deeply, a journal
        line that is not valid before a committed batch, a missing journal segment, or a record
        the scheduler cannot use (a field of the wrong type, a time or a counter out of range: see
        ``fastscheduler/stores/_records.py``); the files are first renamed to
        ``<name>.corrupt-<UTC time>``, so opening again starts empty. Also
        :class:`StorageFormatError` if it was written by a newer fastscheduler, and
        :class:`StorageError` if a file is not a regular file or is larger than ``max_file_size``
        (in both cases the files are left as they are). The lock is released when ``open``
        raises.
        """
        with self._lock:
            # A special file is refused before the lock file is made beside it (``/dev/null``
            # must not get a ``/dev/null.lock``); checked again when it is read.
            try:
                st = os.lstat(self.path)
            except OSError:
                pass  # missing (an empty state), or unreadable: said when it is read
            else:
                if not stat.S_ISREG(st.st_mode):
                    self._check_regular(st, self.path)
            self._file_lock.acquire()
            try:
                loaded = self._load()
                state = loaded.state
                if len(state.history) > limits.max_history:
                    state.history = state.history[len(state.history) - max(limits.max_history, 0) :]
                if len(state.dead_letters) > limits.max_dead_letters:
                    keep = max(limits.max_dead_letters, 0)
                    state.dead_letters = state.dead_letters[len(state.dead_letters) - keep :]
                # Only now that the state loaded: what a compaction cut short left behind.
                for stale in [*loaded.stale, self._tmp_path]:
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(stale)
            except BaseException:
                self._file_lock.release()
                raise
            self._limits = limits
            self._sizes = loaded.segments
            self._has_snapshot = loaded.version > 0
            self._snapshot_size = loaded.snapshot_size
            self._next_segment = max(loaded.highest, loaded.covers) + 1
            self._migrate = loaded.version == 1
            self._compact_after = 0.0
            self._open = True
            return state

    def write(self, changes: Changes, now: float) -> None:
        """Append ``changes`` to the journal as one committed batch and fsync it (pruning to the
        limits happens when the journal is replayed or compacted).

        All-or-nothing: if serialising or writing fails (:class:`StorageError`, naming the file),
        the batch has no ``commit`` line in the journal (it is cut off again, or the segment is
        left behind it), so none of it is ever loaded.
        """
        data = self._encode(changes, now)
        size = sum(len(chunk) for chunk in data)
        with self._lock:
            if not self._open:
                raise StorageError(f"the JSON store {self.path} is not open: call open() first")
            header = self._header(0)
            if size + len(header) + 16 > self.max_file_size:
                raise StorageError(
                    f"cannot write {self.path}: the state would take {size:,} bytes, more than "
                    f"this store's max_file_size ({self.max_file_size:,} bytes), and a larger file would "
                    "not be read back. Use a database (SQLModelStorageBackend), keep fewer jobs or "
                    "less history, or raise max_file_size"
                )
            if self._fd is not None and self._sizes.get(self._segment, 0) + size > self.max_file_size:
                self._close_segment()
            if self._fd is None:
                self._new_segment()
            self._append(data)
            self._last_now = now
            if self._due_for_compaction():
                self._start_compaction(now)

    def read(self, limits: Limits) -> StoredState:
        """The stored state without taking the lock (a running scheduler may hold it) and without
        moving a damaged file aside: :class:`StorageFormatError` says what is wrong and leaves the
        files alone. Appends are committed batches and compactions atomic renames, so a read sees
        a state that was written; it reads again if a compaction removed a journal segment while
        it read."""
        with self._lock:
            self._read_only = True
            try:
                state = self._load().state
            finally:
                self._read_only = False
        state.history = state.history[len(state.history) - min(len(state.history), limits.max_history) :]
        keep = min(len(state.dead_letters), limits.max_dead_letters)
        state.dead_letters = state.dead_letters[len(state.dead_letters) - keep :]
        return state

    def close(self) -> None:
        """Wait for a compaction in progress, compact once more if the files are small (so a
        small state is one file), and release the lock. Safe to call twice; a closed backend can
        be opened again."""
        with self._lock:
            thread = self._compactor
        if thread is not None:
            thread.join()
        with self._lock:
            if (
                self._open
                and self._sizes
                and self._journal_bytes() + self._snapshot_size <= self.compact_min_bytes
            ):
                job = self._prepare_compaction(self._last_now)  # the scheduler's clock, not the wall's
                self._lock.release()
                try:
                    self._compact(*job)
                finally:
                    self._lock.acquire()
            self._close_segment()
            self._open = False
            self._file_lock.release()

    # -- writing ----------------------------------------------------------------------------

    def _encode(self, changes: Changes, now: float) -> list[bytes]:
        """The batch as journal lines, ending with its ``commit`` line (``docs/persistence.md``),
        in chunks of at most 2,000 records: no single step holds the GIL for long (a million job
        records at the first save are hundreds of megabytes)."""
        encode = _ENCODER.encode
        chunks: list[bytes] = []
        parts: list[str] = []
        add = parts.append

        def cut() -> None:
            if parts:
                chunks.append("".join(parts).encode("utf-8"))
                parts.clear()

        try:
            for job_id in changes.deleted_jobs:
                add(f'{{"delete":{encode(job_id)}}}\n')
            for job_id, record in changes.jobs.items():
                if not isinstance(record, dict) or record.get("job_id") != job_id:
                    record = {**record, "job_id": job_id} if isinstance(record, dict) else record
                add(f'{{"job":{encode(_without_defaults(record))}}}\n')
                if len(parts) >= 2000:
                    cut()
            cut()
            # The lines made in Rust (job records and states, history) go in as they are.
            chunks.append(_lines(changes.job_lines))
            chunks.append(_lines(changes.states))
            for record in changes.history:
                add(f'{{"history":{encode(record)}}}\n')
            cut()
            chunks.append(_lines(changes.history_lines))
            if changes.clear_dead_letters:
                add('{"clear_dead_letters":true}\n')
            for record in changes.dead_letters:
                add(f'{{"dead_letter":{encode(record)}}}\n')
            if changes.stats is not None:
                add(f'{{"stats":{encode(changes.stats)}}}\n')
            lines = (
                len(changes.deleted_jobs) + len(changes.jobs) + changes.job_line_count + changes.state_count
            )
            lines += len(changes.history) + changes.history_count + len(parts)
            add(f'{{"commit":{{"lines":{lines},"now":{encode(float(now))}}}}}\n')
            cut()
            return [chunk for chunk in chunks if chunk]
        except (TypeError, ValueError, RecursionError, UnicodeError) as exc:
            raise StorageError(
                f"cannot write {self.path}: the batch holds a value that is not JSON-serialisable ({exc})"
            ) from exc

    def _header(self, number: int) -> bytes:
        limits = self._limits
        header = {
            "journal": {
                "v": FILE_FORMAT,
                "segment": number,
                "max_history": limits.max_history,
                "history_retention_days": limits.history_retention_days,
                "max_dead_letters": limits.max_dead_letters,
            }
        }
        return (_ENCODER.encode(header) + "\n").encode()

    def _segment_path(self, number: int) -> Path:
        return self.path.with_name(f"{self.path.name}.journal.{number}")

    @property
    def _tmp_path(self) -> Path:
        return self.path.with_name(f"{self.path.name}.compact.tmp")

    def _mode(self) -> int:
        """The snapshot's permission bits (a new state stays owner-only: 0600)."""
        try:
            return os.stat(self.path).st_mode & 0o7777
        except OSError:
            return 0o600

    def _new_segment(self) -> None:
        number = self._next_segment
        path = self._segment_path(number)
        header = self._header(number)
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND | getattr(os, "O_CLOEXEC", 0)
        try:
            fd = os.open(path, flags | getattr(os, "O_BINARY", 0), self._mode())
        except OSError as exc:
            raise StorageError(
                f"cannot write the JSON state file {self.path} (journal {path.name}): {exc}"
            ) from exc
        self._next_segment = number + 1  # even if the header fails: never reuse a name
        try:
            _write_all(fd, header)
            os.fsync(fd)
        except OSError as exc:
            os.close(fd)
            with contextlib.suppress(OSError):
                os.unlink(path)
            raise StorageError(
                f"cannot write the JSON state file {self.path} (journal {path.name}): {exc}"
            ) from exc
        _fsync_dir(self.path.parent)
        self._fd, self._segment = fd, number
        self._sizes[number] = len(header)

    def _append(self, chunks: list[bytes]) -> None:
        """Append one batch (its chunks, each written with the GIL released) and fdatasync it."""
        fd = self._fd
        assert fd is not None
        before = self._sizes[self._segment]
        name = self._segment_path(self._segment).name
        try:
            for chunk in chunks:
                _write_all(fd, chunk)
            _datasync(fd)
        except OSError as exc:
            try:
                os.ftruncate(fd, before)
            except OSError:
                # The cut-short batch has no commit line; a new segment keeps it from ever
                # getting one (the next batch's).
                self._close_segment()
            raise StorageError(
                f"cannot write the JSON state file {self.path} (journal {name}): {exc}"
            ) from exc
        self._sizes[self._segment] = before + sum(len(chunk) for chunk in chunks)

    def _close_segment(self) -> None:
        fd, self._fd, self._segment = self._fd, None, 0
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)

    def _journal_bytes(self) -> int:
        return sum(self._sizes.values())

    def _due_for_compaction(self) -> bool:
        if self._compactor is not None or not self._sizes:
            return False
        if self._migrate:
            return True
        return (
            self._journal_bytes() > max(self._snapshot_size, self.compact_min_bytes)
            and time.monotonic() >= self._compact_after
        )

    def _start_compaction(self, now: float) -> None:
        """Roll the journal and fold what it held into a new snapshot, in a thread (lock held)."""
        job = self._prepare_compaction(now)
        thread = threading.Thread(target=self._compact, args=job, name="fastscheduler-compactor", daemon=True)
        self._compactor = thread
        thread.start()

    def _prepare_compaction(self, now: float) -> tuple[str | None, list[tuple[int, str]], float, Limits]:
        """Step 1 (lock held): close the current segment (the next write opens a new one); the
        segments so far are what the compaction folds."""
        self._close_segment()
        self._migrate = False
        segments = [(n, str(self._segment_path(n))) for n in sorted(self._sizes)]
        return (str(self.path) if self._has_snapshot else None, segments, now, self._limits)

    def _compact(
        self, snapshot: str | None, segments: list[tuple[int, str]], now: float, limits: Limits
    ) -> None:
        """Steps 2-4: the new snapshot written beside the old one and fsynced (Rust, GIL released),
        renamed over it, the directory fsynced, the folded segments deleted."""
        tmp = self._tmp_path
        result = None
        try:
            _crash_point("1")
            try:
                result = compact_state(
                    snapshot,
                    segments,
                    str(tmp),
                    max_history=max(limits.max_history, 0),
                    history_retention_days=float(limits.history_retention_days),
                    max_dead_letters=max(limits.max_dead_letters, 0),
                    now=float(now),
                    max_bytes=self.max_file_size,
                )
            except ValueError as exc:
                # What strict JSON does not have (NaN, a lone surrogate) but Python wrote and
                # reads: folded by the loader's own code instead (slower, holding the GIL).
                log.info("fastscheduler: compacting %s in Python (%s)", self.path, exc)
                result = self._compact_in_python(snapshot, segments, tmp, now, limits)
            if os.environ.get(CRASH_ENV) == "2h":  # a snapshot half written
                os.truncate(tmp, result[4] // 2)
                os._exit(86)
            _crash_point("2")
            os.chmod(tmp, self._mode())
            os.replace(tmp, self.path)
            _crash_point("3")
            _fsync_dir(self.path.parent)
            _crash_point("4")
            for i, (_, segment) in enumerate(segments):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(segment)
                if i == 0:
                    _crash_point("5")
        except Exception as exc:
            result = None
            log.warning(
                "fastscheduler: compacting the JSON state file %s failed; its journal is kept, so nothing "
                "is lost (tried again later): %s",
                self.path,
                exc,
            )
            with contextlib.suppress(OSError):
                os.unlink(tmp)
        with self._lock:
            if threading.current_thread() is self._compactor:
                self._compactor = None
            if result is None:
                self._compact_after = time.monotonic() + 60
                return
            self.compactions += 1
            self._has_snapshot = True
            self._snapshot_size = result[4]
            for number, _ in segments:
                self._sizes.pop(number, None)

    def _compact_in_python(
        self, snapshot: str | None, segments: list[tuple[int, str]], tmp: Path, now: float, limits: Limits
    ) -> tuple[int, int, int, int, int]:
        """The fold of ``compact_state``, by the loader's code: the same snapshot, written by
        ``json`` (the fallback for values strict JSON parsers refuse)."""
        state, covers = StoredState(), 0
        if snapshot is not None:
            raw = self._read_file(self.path)
            if raw is not None:
                state, _, covers = self._parse_snapshot(raw)
        for number, segment in segments:
            if number > covers:
                data = self._read_file(Path(segment))
                _replay(state, Path(segment).name, data or b"", limits)
                covers = number
        _prune(state, limits, now)
        encode = _ENCODER.encode
        parts = [
            f'{{"v":{FILE_FORMAT},"covers":{covers},"saved_at":{encode(now)},"stats":{encode(state.stats)},\n"jobs":{{'
        ]
        sep = "\n"
        for job_id, record in state.jobs.items():
            if isinstance(record, dict) and record.get("job_id") == job_id:
                record = {k: v for k, v in record.items() if k != "job_id"}
            parts.append(f"{sep}{encode(job_id)}:{encode(record)}")
            sep = ",\n"
        parts.append('\n},\n"history":[')
        parts.append("".join(f"{',' if i else ''}\n{encode(h)}" for i, h in enumerate(state.history)))
        parts.append('\n],\n"dead_letters":[')
        parts.append("".join(f"{',' if i else ''}\n{encode(d)}" for i, d in enumerate(state.dead_letters)))
        parts.append("\n]}\n")
        data = "".join(parts).encode("utf-8", "surrogatepass")
        if len(data) > self.max_file_size:
            raise ValueError(f"the compacted state would take {len(data)} bytes, more than max_file_size")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_CLOEXEC", 0), 0o600)
        try:
            _write_all(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        return covers, len(state.jobs), len(state.history), len(state.dead_letters), len(data)

    # -- loading ----------------------------------------------------------------------------

    def _load(self) -> _Loaded:
        for _ in range(20):
            try:
                return self._load_once()
            except _Gone:
                time.sleep(0.01)  # a compaction finished meanwhile: read its snapshot
        raise StorageError(
            f"cannot read the JSON state file {self.path}: its journal kept changing while it was read"
        )

    def _load_once(self) -> _Loaded:
        raw = self._read_file(self.path)
        state, version, covers = StoredState(), 0, 0
        if raw is not None:
            state, version, covers = self._parse_snapshot(raw)
        numbers = self._segment_numbers()
        stale = [self._segment_path(n) for n in numbers if n <= covers]
        segments: dict[int, int] = {}
        expected = covers + 1
        for number in (n for n in numbers if n > covers):
            path = self._segment_path(number)
            if number != expected:
                if self._read_only:
                    raise _Gone  # a compaction between reading the snapshot and listing the journal
                self._quarantine(
                    f"journal segment {path.name} follows segment {expected - 1}: {expected} is missing"
                )
            expected += 1
            data = self._read_file(path)
            if data is None:
                raise _Gone
            try:
                _replay(state, path.name, data, self._limits)
            except _Damaged as exc:
                self._quarantine(str(exc))
            except _Newer as exc:
                raise StorageFormatError(
                    newer_format_message(
                        f"The JSON state file {self.path} (journal {path.name})", exc.version, FILE_FORMAT
                    )
                ) from None
            segments[number] = len(data)
        unsure = complete_jobs(
            cast(dict[str, Any], state.jobs)
        )  # defaults put back; the records to check in Python
        # A record newer than this code is not damaged, only new: left alone, whatever else it holds.
        newer = state_newer_version(state, unsure)
        if newer is not None:
            raise StorageFormatError(newer_format_message(f"The JSON state file {self.path}", newer))
        problem = state_problem(state, unsure)
        if problem is not None:
            self._quarantine(f"record {problem}")
        return _Loaded(state, version, covers, len(raw or b""), segments, stale, max(numbers, default=0))

    def _parse_snapshot(self, raw: bytes) -> tuple[StoredState, int, int]:
        try:
            envelope = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            self._quarantine(f"it is not valid JSON ({exc}); it may be truncated")
        except RecursionError:
            self._quarantine("it is nested too deeply to be a state file")
        if not isinstance(envelope, dict):
            self._quarantine(f"it holds a JSON {type(envelope).__name__}, not a state object")
        version = envelope.get("v")
        if "v" not in envelope and "version" in envelope:
            # fastscheduler 0.x wrote {"version": "1.0", "jobs": [...], ...}: not damaged, just old.
            raise StorageFormatError(
                f"The JSON state file {self.path} was written by fastscheduler 0.x (format "
                f"{envelope['version']!r}), which this version does not read; nothing was changed. "
                "Move it away (or pass another path) to start with an empty state"
            )
        if isinstance(version, bool) or not isinstance(version, int) or version < 1:
            self._quarantine(f'its format version "v" is {version!r}, not a positive integer')
        if version > FILE_FORMAT:
            raise StorageFormatError(
                newer_format_message(f"The JSON state file {self.path}", version, FILE_FORMAT)
            )
        covers = envelope.get("covers", 0)
        if isinstance(covers, bool) or not isinstance(covers, int) or covers < 0:
            self._quarantine(f'its "covers" is {covers!r}, not a journal segment number')
        try:
            state = _parse_envelope(envelope)
        except _Damaged as exc:
            self._quarantine(str(exc))
        if version >= 2:  # a record leaves out its job_id, which is its key
            for job_id, record in state.jobs.items():
                if isinstance(record, dict) and "job_id" not in record:
                    record["job_id"] = job_id
        return state, version, covers

    def _segment_numbers(self) -> list[int]:
        prefix = f"{self.path.name}.journal."
        numbers = []
        try:
            with os.scandir(self.path.parent) as entries:
                for entry in entries:
                    name = entry.name
                    if (
                        name.startswith(prefix)
                        and name[len(prefix) :].isdigit()
                        and len(name) - len(prefix) < 19
                    ):
                        numbers.append(int(name[len(prefix) :]))
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise StorageError(f"cannot read the JSON state file {self.path}: {exc}") from exc
        return sorted(numbers)

    def _read_file(self, path: Path) -> bytes | None:
        """The file's bytes, or None if there is no file. Only a regular file is read, and never one
        larger than ``max_file_size``: a FIFO would block the open, ``/dev/zero`` would fill memory.
        Checked before opening (a device is never opened) and again on the open descriptor (the
        path may change in between); the open neither blocks nor follows a link."""
        try:
            before = os.lstat(path)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise StorageError(f"cannot read the JSON state file {path}: {exc}") from exc
        self._check_regular(before, path)
        flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOFOLLOW", 0)
        try:
            fd = os.open(path, flags | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0))
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise StorageError(f"cannot read the JSON state file {path}: {exc}") from exc
        try:
            self._check_regular(os.fstat(fd), path)
            chunks: list[bytes] = []
            size = 0
            while chunk := os.read(fd, 1 << 20):
                size += len(chunk)
                if size > self.max_file_size:  # grew since fstat: still never more than the cap
                    self._check_regular(os.fstat(fd), path, size)
                chunks.append(chunk)
            return b"".join(chunks)
        except OSError as exc:
            raise StorageError(f"cannot read the JSON state file {path}: {exc}") from exc
        finally:
            os.close(fd)

    def _check_regular(self, st: os.stat_result, path: Path, size: int = 0) -> None:
        """Raise :class:`StorageError` unless ``st`` is a regular file within ``max_file_size``."""
        mode = st.st_mode
        if not stat.S_ISREG(mode):
            what = _FILE_TYPES.get(stat.S_IFMT(mode), "not a regular file")
            if stat.S_ISLNK(mode):
                try:
                    what = f"a symbolic link (to {os.readlink(path)})"
                except OSError:
                    what = "a symbolic link"
                advice = (
                    "give the path of the file itself: every write replaces the state file, which "
                    "would replace the link instead of writing where it points"
                )
            else:
                advice = "give the path of a regular file (or of one to create)"
            raise StorageError(
                f"The JSON state file {path} is {what}, not a regular file: {advice}. "
                "Nothing was read or changed"
            )
        size = max(size, st.st_size)
        if size > self.max_file_size:
            raise StorageError(
                f"The JSON state file {path} is larger ({size:,} bytes) than this store's "
                f"max_file_size ({self.max_file_size:,} bytes), so it was not read; nothing was changed. "
                "If it is a state file, pass JSONStorageBackend(path, max_file_size=...) to read it "
                "(and consider a database: SQLModelStorageBackend)"
            )

    def _quarantine(self, reason: str) -> NoReturn:
        """Move the damaged files aside (the snapshot and the journal, never overwriting
        anything) and raise StorageFormatError; from :meth:`read`, only raise."""
        if self._read_only:
            raise StorageFormatError(
                f"The JSON state file {self.path} is damaged ({reason}); it was left as it is"
            )
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S.%fZ")
        files = [self._segment_path(n) for n in self._segment_numbers()]
        if os.path.lexists(self.path):
            files.insert(0, self.path)
        moved: list[Path] = []
        for path in files:
            try:
                moved.append(_move_aside(path, stamp))
            except OSError as exc:
                raise StorageFormatError(
                    f"The JSON state file {self.path} is damaged ({reason}) and {path} could not be moved "
                    f"aside ({exc}); move or delete it to start with an empty state"
                ) from exc
        _fsync_dir(self.path.parent)
        where = f"It was moved to {moved[0]}" if moved else "Nothing was moved"
        if len(moved) > 1:
            where += f" (its journal too: {len(moved) - 1} file(s) named <segment>.corrupt-{stamp})"
        raise StorageFormatError(
            f"The JSON state file {self.path} is damaged ({reason}). {where} "
            "(kept for inspection); opening the store again starts with an empty state"
        )


class _Newer(Exception):
    """(internal) A journal segment written by a newer format."""

    def __init__(self, version: int) -> None:
        super().__init__(version)
        self.version = version


def _replay(state: StoredState, name: str, data: bytes, limits: Limits) -> None:
    """Apply a journal segment's committed batches to ``state`` (``docs/persistence.md``): the
    lines after its last ``commit`` (a batch cut short, a torn last line) are ignored; a bad line
    before a commit is :class:`_Damaged`."""
    lines = data.split(b"\n")
    lines.pop()  # what follows the last newline: empty, or a torn line
    pending: list[tuple[str, Any]] = []
    bad: tuple[int, str] | None = None
    for number, line in enumerate(lines, 1):
        try:
            kind, payload = _journal_line(line)
        except (ValueError, RecursionError) as exc:
            if bad is None:
                bad = (number, str(exc) or type(exc).__name__)
            continue
        if bad is not None:
            if kind == "commit":
                raise _Damaged(f"{name} line {bad[0]}: {bad[1]}")
            continue
        if kind == "journal":
            if payload["v"] > FILE_FORMAT:
                raise _Newer(payload["v"])
            if number != 1:
                raise _Damaged(f"{name} line {number}: a segment header after the first line")
            limits = Limits(
                max_history=payload.get("max_history", limits.max_history),
                history_retention_days=payload.get("history_retention_days", limits.history_retention_days),
                max_dead_letters=payload.get("max_dead_letters", limits.max_dead_letters),
            )
        elif kind == "commit":
            pending.sort(key=lambda item: _ORDER[item[0]])
            try:
                _apply(state, pending)
            except _Damaged as exc:
                raise _Damaged(f"{name} line {number}: {exc}") from None
            pending = []
            _prune(state, limits, payload["now"])
        else:
            pending.append((kind, payload))


def _journal_line(line: bytes) -> tuple[str, Any]:
    """A journal line's kind and payload, or ValueError saying why it is not one."""
    obj = json.loads(line)
    if not isinstance(obj, dict) or len(obj) != 1:
        raise ValueError("not a journal line (an object with one key)")
    ((kind, value),) = obj.items()
    payload = cast(Any, value)
    expected = _PAYLOADS.get(kind)
    if expected is None:
        raise ValueError(f"unknown kind of journal line {kind!r}")
    if not isinstance(value, expected) or isinstance(value, bool) is not (expected is bool):
        raise ValueError(f"a {kind!r} line with a payload of type {type(payload).__name__}")
    if kind == "journal" and not _count(payload.get("v")):
        raise ValueError("a journal header without a format version")
    if kind == "commit" and (
        isinstance(payload.get("now"), bool) or not isinstance(payload.get("now"), (int, float))
    ):
        raise ValueError("a commit line without a time")
    if kind == "journal":
        for key in ("max_history", "max_dead_letters"):
            if key in payload and not _count(payload[key], 0):
                raise ValueError(f"a journal header whose {key} is not a count")
        days = payload.get("history_retention_days", 0)
        if isinstance(days, bool) or not isinstance(days, (int, float)):
            raise ValueError("a journal header whose history_retention_days is not a number")
    return kind, payload


def _count(value: Any, least: int = 1) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= least


_PAYLOADS: Final[dict[str, type | tuple[type, ...]]] = {
    "journal": dict,
    "delete": str,
    "job": dict,
    "state": dict,
    "history": dict,
    "clear_dead_letters": bool,
    "dead_letter": dict,
    "stats": dict,
    "commit": dict,
}


def _apply(state: StoredState, lines: list[tuple[str, Any]]) -> None:
    jobs = state.jobs
    for kind, payload in lines:
        if kind == "state":
            job_id = payload.pop("job_id", None)
            if not isinstance(job_id, str):
                raise _Damaged("a state line without a job_id")
            record = jobs.get(job_id)
            if record is not None:  # (a state of a job not stored is dropped, as Rust drops it)
                updated = {k: v for k, v in record.items() if k not in STATE_FIELDS}
                updated.update(payload)
                updated[DEFAULTS_KEY] = 1
                jobs[job_id] = updated
        elif kind == "history":
            state.history.append(payload)
        elif kind == "job":
            job_id = payload.get("job_id")
            if not isinstance(job_id, str):
                raise _Damaged("a job record without a job_id")
            jobs[job_id] = payload
        elif kind == "delete":
            jobs.pop(payload, None)
        elif kind == "clear_dead_letters":
            if payload:
                state.dead_letters.clear()
        elif kind == "dead_letter":
            state.dead_letters.append(payload)
        else:
            state.stats = payload


def _same(value: Any, default: Any) -> bool:
    return value is None if default is None else type(value) is type(default) and value == default


def _without_defaults(record: dict[str, Any]) -> dict[str, Any]:
    """A complete job record (every field the scheduler writes) with the fields at their default
    left out, and :data:`DEFAULTS_KEY` saying so; any other record as it is (so that it loads
    exactly as it was written)."""
    spec = record.get("spec")
    if (
        DEFAULTS_KEY in record
        or not all(key in record for key in JOB_DEFAULTS)
        or not isinstance(record.get("func_name"), str)
        or "name" not in record
        or type(spec) is not dict
        or not all(key in spec for key in SPEC_DEFAULTS)
    ):
        return record
    kept: dict[str, Any] = {}
    for key, value in record.items():
        if key in JOB_DEFAULTS and _same(value, JOB_DEFAULTS[key]):
            continue
        if key == "name" and value == record["func_name"]:
            continue
        if key == "spec":
            value = {
                k: v for k, v in value.items() if not (k in SPEC_DEFAULTS and _same(v, SPEC_DEFAULTS[k]))
            }
        kept[key] = value
    kept[DEFAULTS_KEY] = 1
    return kept


def _prune(state: StoredState, limits: Limits, now: float) -> None:
    """History older than the retention or beyond ``max_history``, dead letters beyond theirs
    (as ``apply_changes`` prunes, and the Rust fold)."""
    horizon = now - limits.history_retention_days * 86400
    history = state.history
    if any(_older(h, horizon) for h in history):
        history[:] = [h for h in history if not _older(h, horizon)]
    if len(history) > limits.max_history:
        del history[: len(history) - max(limits.max_history, 0)]
    if len(state.dead_letters) > limits.max_dead_letters:
        del state.dead_letters[: len(state.dead_letters) - max(limits.max_dead_letters, 0)]


def _older(record: Any, horizon: float) -> bool:
    """Whether a history record's timestamp is a number before ``horizon`` (others are kept)."""
    ts = record.get("timestamp") if isinstance(record, dict) else None
    return isinstance(ts, (int, float)) and not isinstance(ts, bool) and ts < horizon


def _lines(data: bytes) -> bytes:
    return data if not data or data.endswith(b"\n") else data + b"\n"


def _crash_point(step: str) -> None:
    if os.environ.get(CRASH_ENV) == step:
        os._exit(86)  # a kill -9 at this step of a compaction (tests)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _datasync(fd: int) -> None:
    sync = getattr(os, "fdatasync", os.fsync)
    sync(fd)


def _move_aside(path: Path, stamp: str) -> Path:
    """Rename ``path`` to ``<path>.corrupt-<stamp>`` (``-1``, ``-2`` ... if taken), never
    overwriting anything; returns the new name."""
    base = f"{path}.corrupt-{stamp}"
    target = Path(base)
    n = 0
    while True:
        try:
            os.link(path, target)  # fails if target exists: nothing is overwritten
            os.unlink(path)
            return target
        except FileExistsError:
            n += 1
            target = Path(f"{base}-{n}")
        except OSError:
            # No hard links here (some network or FAT file systems): rename if the name is free.
            if target.exists():
                raise
            os.rename(path, target)
            return target


def _parse_envelope(envelope: dict[str, Any]) -> StoredState:
    """The state in a parsed file, or :class:`_Damaged` saying what is wrong with its shape (the
    records themselves are checked by ``_records``)."""
    jobs = envelope.get("jobs", {})
    history = envelope.get("history", [])
    dead_letters = envelope.get("dead_letters", [])
    stats = envelope.get("stats", {})
    if not isinstance(jobs, dict):
        raise _Damaged('"jobs" is not an object of job records')
    if not isinstance(history, list):
        raise _Damaged('"history" is not a list of records')
    if not isinstance(dead_letters, list):
        raise _Damaged('"dead_letters" is not a list of records')
    if not isinstance(stats, dict):
        raise _Damaged('"stats" is not an object')
    return StoredState(jobs=jobs, history=history, dead_letters=dead_letters, stats=stats)


_FILE_TYPES = {
    stat.S_IFDIR: "a directory",
    stat.S_IFIFO: "a FIFO (named pipe)",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFSOCK: "a socket",
}


def _fsync_dir(directory: Path) -> None:
    """Make a rename in ``directory`` durable (a no-op where directories cannot be opened)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)

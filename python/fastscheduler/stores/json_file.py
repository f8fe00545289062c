"""JSON-file storage: the whole state in one file, rewritten atomically and durably on every batch.

Single-instance: :meth:`JSONStorageBackend.open` takes an exclusive lock on ``<path>.lock``, so a
second scheduler process on the same file gets :class:`StorageLockedError` instead of two processes
overwriting each other's state. Several scheduler instances need a server database (PostgreSQL or
MySQL/MariaDB through :class:`~fastscheduler.stores.sql.SQLModelStorageBackend`).
"""

from __future__ import annotations

import contextlib
import copy
import json
import os
import stat
import sys
import tempfile
import threading
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, NoReturn

from fastscheduler.stores._records import newer_format_message, state_newer_version, state_problem
from fastscheduler.stores.base import (
    FORMAT_VERSION,
    Changes,
    Limits,
    StorageBackend,
    StorageError,
    StorageFormatError,
    StorageLockedError,
    StoredState,
)
from fastscheduler.stores.memory import apply_changes

__all__ = ["JSONStorageBackend"]


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


class JSONStorageBackend(StorageBackend):
    """The whole state in one JSON file: ``{"v": 1, "jobs": {...}, "history": [...],
    "dead_letters": [...], "stats": {...}}``.

    Every :meth:`write` rewrites the file through a temporary file in the same directory (written,
    flushed and fsynced, renamed over the old file, then the directory fsynced), so the file is
    always either the previous or the new state, and a returned write survives a crash. Suits up to
    some thousands of jobs; beyond that, or for several processes, use
    :class:`~fastscheduler.stores.sql.SQLModelStorageBackend`.

    ``path`` must be a regular file (or not exist yet): a symbolic link, a FIFO, a device or a
    directory is refused with :class:`StorageError` (a write replaces the file, so it would replace
    a link rather than write where it points). ``max_file_size`` bounds what is read and written
    (default 1 GiB): a larger file is refused, not read into memory, and a write that would make the
    file larger fails (and is retried like any failed write).
    """

    multi_instance = False
    validates_records = True
    #: A write rewrites the whole file: let changes gather for half a second between writes.
    min_write_interval = 0.5

    def __init__(
        self, path: str | os.PathLike[str] = "fastscheduler_state.json", *, max_file_size: int = 1 << 30
    ) -> None:
        if isinstance(max_file_size, bool) or not isinstance(max_file_size, int) or max_file_size < 1:
            raise ValueError(f"max_file_size must be a positive int (bytes), got {max_file_size!r}")
        self.path = Path(path)
        self.max_file_size = max_file_size
        self._lock = threading.Lock()
        self._file_lock = FileLock(Path(f"{self.path}.lock"), f"The JSON state file {self.path}")
        self._state: StoredState | None = None
        self._limits = Limits()
        self._read_only = False

    def open(self, limits: Limits) -> StoredState:
        """Lock ``<path>.lock`` and load the file (a missing file is an empty state), keeping the
        newest ``limits.max_history`` history records and ``limits.max_dead_letters`` dead letters
        (the file itself is pruned on the next :meth:`write`; retention by age too).

        Raises :class:`StorageLockedError` if another process has the file open;
        :class:`StorageFormatError` if the file is damaged: not JSON, nested too deeply, or holding a
        record the scheduler cannot use (a field of the wrong type, a time or a counter out of
        range: see ``fastscheduler/stores/_records.py``); it is first renamed to
        ``<path>.corrupt-<UTC time>``, so opening again starts empty. Also
        :class:`StorageFormatError` if it was written by a newer fastscheduler, and
        :class:`StorageError` if ``path`` is not a regular file or is larger than
        ``max_file_size`` (in both cases the file is left as it is). The lock is released when
        ``open`` raises.
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
                    self._check_regular(st)
            self._file_lock.acquire()
            try:
                state = self._load()
                if len(state.history) > limits.max_history:
                    state.history = state.history[len(state.history) - max(limits.max_history, 0) :]
                if len(state.dead_letters) > limits.max_dead_letters:
                    keep = max(limits.max_dead_letters, 0)
                    state.dead_letters = state.dead_letters[len(state.dead_letters) - keep :]
            except BaseException:
                self._file_lock.release()
                raise
            self._limits = limits
            self._state = state
            return copy.deepcopy(state)

    def write(self, changes: Changes, now: float) -> None:
        """Apply ``changes`` to the state (then prune it to the limits) and rewrite the file.

        All-or-nothing: if serialising or writing fails (:class:`StorageError`, naming the file),
        neither the file nor the in-memory state has any of the batch, and no temporary file is left.
        """
        changes = copy.deepcopy(changes)
        with self._lock:
            if self._state is None:
                raise StorageError(f"the JSON store {self.path} is not open: call open() first")
            current = self._state
            # Containers are copied, records shared: apply_changes never mutates a record.
            updated = StoredState(
                jobs=dict(current.jobs),
                history=list(current.history),
                dead_letters=list(current.dead_letters),
                stats=current.stats,
            )
            apply_changes(updated, changes, self._limits, now)
            envelope = {
                "v": FORMAT_VERSION,
                "jobs": updated.jobs,
                "history": updated.history,
                "dead_letters": updated.dead_letters,
                "stats": updated.stats,
            }
            try:
                data = json.dumps(envelope, separators=(",", ":")).encode("utf-8")
            except (TypeError, ValueError, RecursionError) as exc:
                raise StorageError(
                    f"cannot write {self.path}: the batch holds a value that is not JSON-serialisable ({exc})"
                ) from exc
            if len(data) > self.max_file_size:
                raise StorageError(
                    f"cannot write {self.path}: the state would take {len(data):,} bytes, more than "
                    f"this store's max_file_size ({self.max_file_size:,} bytes), and a larger file would "
                    "not be read back. Use a database (SQLModelStorageBackend), keep fewer jobs or "
                    "less history, or raise max_file_size"
                )
            self._write_file(data)
            self._state = updated

    def read(self, limits: Limits) -> StoredState:
        """The file's state without taking the lock (a running scheduler may hold it; writes are
        atomic renames, so a read sees one whole state) and without moving a damaged file aside:
        :class:`StorageFormatError` says what is wrong and leaves the file alone."""
        with self._lock:
            self._read_only = True
            try:
                state = self._load()
            finally:
                self._read_only = False
        state.history = state.history[len(state.history) - min(len(state.history), limits.max_history) :]
        keep = min(len(state.dead_letters), limits.max_dead_letters)
        state.dead_letters = state.dead_letters[len(state.dead_letters) - keep :]
        return state

    def close(self) -> None:
        """Release the lock and forget the state. Safe to call twice; a closed backend can be
        opened again."""
        with self._lock:
            self._state = None
            self._file_lock.release()

    # -- internals ---------------------------------------------------------------------------

    def _load(self) -> StoredState:
        raw = self._read_file()
        if raw is None:
            return StoredState()
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
        if version > FORMAT_VERSION:
            raise StorageFormatError(newer_format_message(f"The JSON state file {self.path}", version))
        try:
            state = _parse_envelope(envelope)
        except _Damaged as exc:
            self._quarantine(str(exc))
        # A record newer than this code is not damaged, only new: left alone, whatever else it holds.
        newer = state_newer_version(state)
        if newer is not None:
            raise StorageFormatError(newer_format_message(f"The JSON state file {self.path}", newer))
        problem = state_problem(state)
        if problem is not None:
            self._quarantine(f"record {problem}")
        return state

    def _read_file(self) -> bytes | None:
        """The file's bytes, or None if there is no file. Only a regular file is read, and never one
        larger than ``max_file_size``: a FIFO would block the open, ``/dev/zero`` would fill memory.
        Checked before opening (a device is never opened) and again on the open descriptor (the
        path may change in between); the open neither blocks nor follows a link."""
        try:
            before = os.lstat(self.path)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise StorageError(f"cannot read the JSON state file {self.path}: {exc}") from exc
        self._check_regular(before)
        flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOFOLLOW", 0)
        try:
            fd = os.open(self.path, flags | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0))
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise StorageError(f"cannot read the JSON state file {self.path}: {exc}") from exc
        try:
            self._check_regular(os.fstat(fd))
            chunks: list[bytes] = []
            size = 0
            while chunk := os.read(fd, 1 << 20):
                size += len(chunk)
                if size > self.max_file_size:  # grew since fstat: still never more than the cap
                    self._check_regular(os.fstat(fd), size)
                chunks.append(chunk)
            return b"".join(chunks)
        except OSError as exc:
            raise StorageError(f"cannot read the JSON state file {self.path}: {exc}") from exc
        finally:
            os.close(fd)

    def _check_regular(self, st: os.stat_result, size: int = 0) -> None:
        """Raise :class:`StorageError` unless ``st`` is a regular file within ``max_file_size``."""
        mode = st.st_mode
        if not stat.S_ISREG(mode):
            what = _FILE_TYPES.get(stat.S_IFMT(mode), "not a regular file")
            if stat.S_ISLNK(mode):
                try:
                    what = f"a symbolic link (to {os.readlink(self.path)})"
                except OSError:
                    what = "a symbolic link"
                advice = (
                    "give the path of the file itself: every write replaces the state file, which "
                    "would replace the link instead of writing where it points"
                )
            else:
                advice = "give the path of a regular file (or of one to create)"
            raise StorageError(
                f"The JSON state file {self.path} is {what}, not a regular file: {advice}. "
                "Nothing was read or changed"
            )
        size = max(size, st.st_size)
        if size > self.max_file_size:
            raise StorageError(
                f"The JSON state file {self.path} is larger ({size:,} bytes) than this store's "
                f"max_file_size ({self.max_file_size:,} bytes), so it was not read; nothing was changed. "
                "If it is a state file, pass JSONStorageBackend(path, max_file_size=...) to read it "
                "(and consider a database: SQLModelStorageBackend)"
            )

    def _quarantine(self, reason: str) -> NoReturn:
        """Move the damaged file aside (never overwriting anything) and raise StorageFormatError;
        from :meth:`read`, only raise."""
        if self._read_only:
            raise StorageFormatError(
                f"The JSON state file {self.path} is damaged ({reason}); it was left as it is"
            )
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S.%fZ")
        base = f"{self.path}.corrupt-{stamp}"
        target = Path(base)
        n = 0
        while True:
            try:
                os.link(self.path, target)  # fails if target exists: nothing is overwritten
                os.unlink(self.path)
                break
            except FileExistsError:
                n += 1
                target = Path(f"{base}-{n}")
            except OSError as exc:
                # No hard links here (some network or FAT file systems): rename if the name is free.
                if not target.exists():
                    try:
                        os.rename(self.path, target)
                        break
                    except OSError:
                        pass
                raise StorageFormatError(
                    f"The JSON state file {self.path} is damaged ({reason}) and could not be moved "
                    f"aside ({exc}); move or delete it to start with an empty state"
                ) from exc
        _fsync_dir(self.path.parent)
        raise StorageFormatError(
            f"The JSON state file {self.path} is damaged ({reason}). It was moved to {target} "
            "(kept for inspection); opening the store again starts with an empty state"
        )

    def _write_file(self, data: bytes) -> None:
        directory = self.path.parent
        tmp_path: str | None = None
        try:
            fd, tmp_path = tempfile.mkstemp(dir=directory, prefix=f".{self.path.name}.", suffix=".tmp")
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            # Keep the mode of the file being replaced (a new file stays owner-only: 0600).
            with contextlib.suppress(FileNotFoundError):
                os.chmod(tmp_path, os.stat(self.path).st_mode & 0o7777)
            os.replace(tmp_path, self.path)
            tmp_path = None
            _fsync_dir(directory)
        except OSError as exc:
            raise StorageError(f"cannot write the JSON state file {self.path}: {exc}") from exc
        finally:
            if tmp_path is not None:
                with contextlib.suppress(OSError):
                    os.unlink(tmp_path)


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

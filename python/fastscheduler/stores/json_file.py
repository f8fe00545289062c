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
import sys
import tempfile
import threading
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, NoReturn

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


def check_record_version(record: Any, where: str) -> None:
    """Raise :class:`StorageFormatError` if ``record`` (a stored dict) carries a ``"v"`` newer than
    :data:`FORMAT_VERSION`, or a ``"v"`` that is not a positive integer; ``where`` names the file or
    database in the message. A record without ``"v"`` is accepted (read as version 1)."""
    version = record.get("v", 1) if isinstance(record, dict) else 1
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise StorageFormatError(f"{where} holds a record with an invalid format version {version!r}")
    if version > FORMAT_VERSION:
        raise StorageFormatError(newer_format_message(where, version))


def newer_format_message(where: str, version: int) -> str:
    """The message for data written by a newer fastscheduler than this one."""
    return (
        f"{where} was written by a newer fastscheduler (format v{version}; this version reads "
        f"v{FORMAT_VERSION}): upgrade fastscheduler to use it; nothing was changed"
    )


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
    """

    multi_instance = False
    #: A write rewrites the whole file: let changes gather for half a second between writes.
    min_write_interval = 0.5

    def __init__(self, path: str | os.PathLike[str] = "fastscheduler_state.json") -> None:
        self.path = Path(path)
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
        :class:`StorageFormatError` if the file is damaged (it is first renamed to
        ``<path>.corrupt-<UTC time>``, so opening again starts empty) or was written by a newer
        fastscheduler (the file is left as it is). The lock is released when ``open`` raises.
        """
        with self._lock:
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
            except (TypeError, ValueError) as exc:
                raise StorageError(
                    f"cannot write {self.path}: the batch holds a value that is not JSON-serialisable ({exc})"
                ) from exc
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
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return StoredState()
        except OSError as exc:
            raise StorageError(f"cannot read the JSON state file {self.path}: {exc}") from exc
        try:
            envelope = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            self._quarantine(f"it is not valid JSON ({exc}); it may be truncated")
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
        where = f"The JSON state file {self.path}"
        for record in [*state.jobs.values(), *state.history, *state.dead_letters]:
            check_record_version(record, where)
        if state.stats:
            check_record_version(state.stats, where)
        return state

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
    """The state in a parsed file, or :class:`_Damaged` saying what is wrong with its shape."""
    jobs = envelope.get("jobs", {})
    history = envelope.get("history", [])
    dead_letters = envelope.get("dead_letters", [])
    stats = envelope.get("stats", {})
    if not isinstance(jobs, dict) or not all(isinstance(r, dict) for r in jobs.values()):
        raise _Damaged('"jobs" is not an object of job records')
    if not isinstance(history, list) or not all(isinstance(r, dict) for r in history):
        raise _Damaged('"history" is not a list of records')
    if not isinstance(dead_letters, list) or not all(isinstance(r, dict) for r in dead_letters):
        raise _Damaged('"dead_letters" is not a list of records')
    if not isinstance(stats, dict):
        raise _Damaged('"stats" is not an object')
    return StoredState(jobs=jobs, history=history, dead_letters=dead_letters, stats=stats)


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

"""A damaged or hostile store meets ``start()``: mistyped records, absurd nesting and special files
are errors that name the file and the record (a damaged JSON file is moved aside, as a corrupt
one is), and a ``start()`` that fails for any reason releases everything it took, so the
scheduler can be started again, and saves again when it is."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from fastscheduler import FastScheduler, ManualClock
from fastscheduler.stores import (
    Limits,
    MemoryStorageBackend,
    StorageError,
    StorageFormatError,
    StorageLockedError,
    StoredState,
)
from fastscheduler.stores.json_file import JSONStorageBackend

T0 = 1_780_000_000.0
JOB_ID = "test_bad_state.tick:every:10s"


def tick() -> None:
    pass


def _scheduler(path: Path | str, **kwargs: Any) -> FastScheduler:
    s = FastScheduler(state_file=str(path), quiet=True, clock=ManualClock(T0), timezone="UTC", **kwargs)
    assert s.every(10).seconds.do(tick) == JOB_ID
    return s


def _job(**fields: Any) -> dict[str, Any]:
    return {"v": 1, "job_id": JOB_ID, "next_run": T0 + 5, "run_count": 1, **fields}


def _write_state(path: Path, **parts: Any) -> bytes:
    envelope = {"v": 1, "jobs": {JOB_ID: _job()}, "history": [], "dead_letters": [], "stats": {}, **parts}
    data = json.dumps(envelope).encode()
    path.write_bytes(data)
    return data


def _corrupt_copies(path: Path) -> list[Path]:
    return sorted(path.parent.glob(f"{path.name}.corrupt-*"))


def _threads_left() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("fastscheduler") and t.is_alive()]


@pytest.fixture(autouse=True)
def _no_threads_left_behind() -> Iterator[None]:
    before = set(_threads_left())
    yield
    deadline = time.monotonic() + 5
    while set(_threads_left()) - before and time.monotonic() < deadline:
        time.sleep(0.01)


# -- 6: a mistyped state file ---------------------------------------------------------------------

COUNT = "not an integer from 0 to 2**63-1"
TIME = "not a time (epoch seconds from year 1 to 9999)"
MISTYPED = [
    ({"run_count": "lots"}, f"run_count is 'lots', {COUNT}"),
    ({"run_count": -1}, f"run_count is -1, {COUNT}"),
    ({"run_count": 2**70}, f"run_count is 1180591620717411303424, {COUNT}"),
    ({"next_run": float("nan")}, f"next_run is nan, {TIME}"),
    ({"next_run": float("inf")}, f"next_run is inf, {TIME}"),
    ({"next_run": 1e300}, f"next_run is 1e+300, {TIME}"),
    ({"recent": 7}, "recent is 7, not a list of statuses"),
    ({"last_run": "x"}, f"last_run is 'x', {TIME}"),
]


@pytest.mark.parametrize(("fields", "reason"), MISTYPED, ids=[str(f) for f, _ in MISTYPED])
def test_a_mistyped_job_record_is_a_damaged_file_named_and_moved_aside(
    tmp_path: Path, fields: dict[str, Any], reason: str
) -> None:
    path = tmp_path / "state.json"
    data = _write_state(path, jobs={JOB_ID: _job(**fields)})
    s = _scheduler(path)
    with pytest.raises(StorageFormatError) as info:
        s.start()
    (aside,) = _corrupt_copies(path)
    assert str(info.value) == (
        f"The JSON state file {path} is damaged (record jobs[{JOB_ID!r}].{reason}). It was moved to "
        f"{aside} (kept for inspection); opening the store again starts with an empty state"
    )
    assert aside.read_bytes() == data and not path.exists()
    assert not s.running
    s.start()  # the next start begins afresh, and saves
    s.stop()
    assert JSONStorageBackend(path).read(Limits()).jobs[JOB_ID]["run_count"] == 0


@pytest.mark.parametrize(
    ("part", "value", "record"),
    [
        ("history", [{"v": 1, "job_id": JOB_ID}], "history[0].func_name is missing"),
        (
            "dead_letters",
            [
                {
                    "v": 1,
                    "job_id": JOB_ID,
                    "func_name": "tick",
                    "error_type": "E",
                    "error_message": "m",
                    "traceback": "",
                    "attempts": "3",
                    "executed_at": T0,
                    "first_attempt_at": T0,
                }
            ],
            f"dead_letters[0].attempts is '3', {COUNT}",
        ),
        ("stats", {"v": 1, "totals": {"runs": "lots"}}, f"stats.totals['runs'] is 'lots', {COUNT}"),
        (
            "stats",
            {"v": 1, "per_job": {"tick": {"completed": 1.5}}},
            f"stats.per_job['tick']['completed'] is 1.5, {COUNT}",
        ),
    ],
)
def test_a_bad_history_dead_letter_or_stats_record_is_named_and_moved_aside(
    tmp_path: Path, part: str, value: Any, record: str
) -> None:
    path = tmp_path / "state.json"
    _write_state(path, **{part: value})
    s = _scheduler(path)
    with pytest.raises(StorageFormatError) as info:
        s.start()
    (aside,) = _corrupt_copies(path)
    assert str(info.value).startswith(
        f"The JSON state file {path} is damaged (record {record}). It was moved to {aside}"
    )


# -- 7 and 8: a failed start() releases everything and can be retried --------------------------


def test_a_failed_start_releases_the_lock_for_a_new_scheduler_in_this_process(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    _write_state(
        path,
        history=[{"v": 1, "job_id": JOB_ID, "func_name": "tick", "status": "completed", "timestamp": "x"}],
    )
    s = _scheduler(path)
    with pytest.raises(StorageFormatError, match=r"history\[0\]\.timestamp is 'x'"):
        s.start()
    s2 = _scheduler(path)
    s2.start()  # not StorageLockedError naming our own pid
    s2.stop()


class _BadThenGoodBackend(MemoryStorageBackend):
    """A custom backend (it does not validate): its first open returns a mistyped record."""

    def __init__(self, bad: StoredState) -> None:
        super().__init__()
        self.bad: StoredState | None = bad
        self.opens = self.closes = 0

    def open(self, limits: Limits) -> StoredState:
        self.opens += 1
        state = super().open(limits)
        if self.bad is not None:
            return self.bad
        return state

    def close(self) -> None:
        self.closes += 1


def test_a_custom_backend_is_checked_by_the_scheduler_and_closed_on_failure() -> None:
    bad = StoredState(jobs={JOB_ID: _job(run_count=3)}, stats={"v": 1, "totals": {"runs": float("nan")}})
    backend = _BadThenGoodBackend(bad)
    s = FastScheduler(storage=backend, quiet=True, clock=ManualClock(T0))
    s.every(10).seconds.do(tick)
    with pytest.raises(StorageFormatError) as info:
        s.start()
    assert str(info.value) == (
        f"The store _BadThenGoodBackend holds a damaged record: stats.totals['runs'] is nan, {COUNT}"
    )
    assert (backend.opens, backend.closes) == (1, 1) and not s.running
    assert s.get_statistics()["total_runs"] == 0 and s.storage_status()["writes"] == 0

    # Fixed (here: the store now holds good records): start() loads it, restores, and saves.
    backend.bad = None
    backend.write(
        __import__("fastscheduler.stores", fromlist=["Changes"]).Changes(
            jobs={JOB_ID: _job(run_count=3)}, stats={"v": 1, "totals": {"runs": 3}, "per_job": {}}
        ),
        T0,
    )
    s.start()
    assert s.get_job(JOB_ID)["run_count"] == 3  # type: ignore[index]
    assert s.get_statistics()["total_runs"] == 3
    s._clock.advance(10)  # type: ignore[union-attr]
    s.stop()
    stored = MemoryStorageBackend.open(backend, Limits())
    assert stored.jobs[JOB_ID]["run_count"] == 4 and stored.stats["totals"]["runs"] == 4


def test_start_after_a_failed_start_saves_again(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    _write_state(path, dead_letters=[{"v": 1, "job_id": JOB_ID}])
    clock = ManualClock(T0)
    s = FastScheduler(state_file=str(path), quiet=True, clock=clock, timezone="UTC")
    s.every(10).seconds.do(tick)
    with pytest.raises(StorageFormatError, match=r"dead_letters\[0\]\.func_name is missing"):
        s.start()
    s.start()
    assert s.storage_status()["backend"] == "JSONStorageBackend"
    clock.advance(20)
    s.stop()
    state = json.loads(path.read_text())
    assert state["jobs"][JOB_ID]["run_count"] == 2 and len(state["history"]) == 2


def test_any_failure_in_start_releases_lock_threads_and_running_state(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A failure after the store was opened (here: the thread pool cannot start) releases the
    store's lock and the saver, and leaves the scheduler stopped and startable."""
    path = tmp_path / "state.json"
    s = _scheduler(path)

    def no_threads() -> None:
        raise RuntimeError("can't start new thread")

    monkeypatch.setattr(s._rt.dispatcher.threads, "start", no_threads)
    with pytest.raises(RuntimeError, match="can't start new thread"):
        s.start()
    assert not s.running
    other = JSONStorageBackend(path)
    other.open(Limits())  # the lock was released
    other.close()
    deadline = time.monotonic() + 5
    while "fastscheduler-saver" in _threads_left() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert "fastscheduler-saver" not in _threads_left()
    monkeypatch.undo()
    s.start()
    s._clock.advance(10)  # type: ignore[union-attr]
    assert s.get_job(JOB_ID)["run_count"] == 1  # type: ignore[index]
    s.stop()
    assert JSONStorageBackend(path).read(Limits()).jobs[JOB_ID]["run_count"] == 1


def test_a_store_locked_by_another_process_leaves_nothing_behind(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    holder = JSONStorageBackend(path)
    holder.open(Limits())
    try:
        s = _scheduler(path)
        with pytest.raises(StorageLockedError):
            s.start()
        assert not s.running and "fastscheduler-saver" not in _threads_left()
    finally:
        holder.close()
    s.start()
    s.stop()


# -- 9: deep nesting ------------------------------------------------------------------------------


def test_deep_nesting_is_a_damaged_file(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    data = b'{"v":1,"stats":' + b"[" * 200_000
    path.write_bytes(data)
    s = _scheduler(path)
    with pytest.raises(
        StorageFormatError, match=r"is damaged \(it is nested too deeply to be a state file\)"
    ):
        s.start()
    (aside,) = _corrupt_copies(path)
    assert aside.read_bytes() == data
    s.start()
    s.stop()


def test_nesting_within_the_parser_but_beyond_the_limit_is_a_damaged_record(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    nested = "[" * 500 + "]" * 500
    path.write_text(f'{{"v": 1, "jobs": {{"{JOB_ID}": {{"job_id": "{JOB_ID}", "args": {nested}}}}}}}')
    s = _scheduler(path)
    with pytest.raises(StorageFormatError, match=r"args is nested more than 64 levels deep"):
        s.start()


# -- 10: special files ----------------------------------------------------------------------------


def _start_within(s: FastScheduler, seconds: float) -> BaseException | None:
    """start() in a thread; what it raised (None: it started). Fails if it is still blocked."""
    outcome: list[BaseException | None] = []

    def run() -> None:
        try:
            s.start()
            outcome.append(None)
        except BaseException as exc:
            outcome.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    assert outcome, f"start() still blocked after {seconds} s"
    return outcome[0]


def test_a_fifo_as_the_state_file_is_refused_without_blocking(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    os.mkfifo(path)
    s = _scheduler(path)
    try:
        error = _start_within(s, 10)
    finally:  # unblock a reader stuck in open() (the old behaviour), so the test process can end
        with contextlib.suppress(OSError):
            os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))
    assert isinstance(error, StorageError) and not isinstance(error, StorageFormatError)
    assert str(error) == (
        f"The JSON state file {path} is a FIFO (named pipe), not a regular file: give the path of a "
        "regular file (or of one to create). Nothing was read or changed"
    )
    assert path.exists() and not _corrupt_copies(path)


_ZERO = textwrap.dedent(
    """
    import resource, sys
    resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))  # the old code read until it hit this
    from fastscheduler import FastScheduler
    s = FastScheduler(state_file=sys.argv[1], quiet=True)
    try:
        s.start()
    except Exception as exc:
        print(type(exc).__name__, exc)
    """
)


def test_a_symlink_to_dev_zero_is_refused_without_reading(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    path.symlink_to("/dev/zero")
    proc = subprocess.run(
        [sys.executable, "-c", _ZERO, str(path)], capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.stdout.strip() == (
        f"StorageError The JSON state file {path} is a symbolic link (to /dev/zero), not a regular file: "
        "give the path of the file itself: every write replaces the state file, which would replace the "
        "link instead of writing where it points. Nothing was read or changed"
    ), proc.stderr


def test_a_symlink_to_a_regular_file_is_refused_deliberately(tmp_path: Path) -> None:
    """A write replaces the state file (rename), so through a link it would replace the link and
    leave the file it points to stale: the real path must be given."""
    real = tmp_path / "real.json"
    _write_state(real)
    link = tmp_path / "state.json"
    link.symlink_to(real)
    s = _scheduler(link)
    with pytest.raises(StorageError, match=rf"is a symbolic link \(to {real}\), not a regular file"):
        s.start()
    assert link.is_symlink() and not _corrupt_copies(real) and not _corrupt_copies(link)
    s2 = _scheduler(real)  # the file itself works
    s2.start()
    assert s2.get_job(JOB_ID)["run_count"] == 1  # type: ignore[index]
    s2.stop()


@pytest.mark.parametrize(("target", "kind"), [("/dev/null", "a character device"), (".", "a directory")])
def test_a_device_or_a_directory_is_refused(tmp_path: Path, target: str, kind: str) -> None:
    path = Path(target) if target.startswith("/") else tmp_path
    s = FastScheduler(state_file=str(path), quiet=True, clock=ManualClock(T0))
    with pytest.raises(StorageError, match=f"^The JSON state file {path} is {kind}, not a regular file"):
        s.start()
    lock = path.with_name(path.name + ".lock")
    assert not lock.exists(), f"{lock} was made beside a special file"


def test_a_file_larger_than_max_file_size_is_refused_unread(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    data = _write_state(path)
    s = FastScheduler(
        storage=JSONStorageBackend(path, max_file_size=len(data) - 1), quiet=True, clock=ManualClock(T0)
    )
    with pytest.raises(StorageError) as info:
        s.start()
    assert str(info.value) == (
        f"The JSON state file {path} is larger ({len(data):,} bytes) than this store's max_file_size "
        f"({len(data) - 1:,} bytes), so it was not read; nothing was changed. If it is a state file, pass "
        "JSONStorageBackend(path, max_file_size=...) to read it (and consider a database: "
        "SQLModelStorageBackend)"
    )
    assert path.read_bytes() == data
    s2 = FastScheduler(
        storage=JSONStorageBackend(path, max_file_size=len(data)), quiet=True, clock=ManualClock(T0)
    )
    s2.start()
    s2.stop()


# -- cluster rows: the same validator -------------------------------------------------------------


@pytest.fixture
def postgresql_url() -> Iterator[str]:
    from stores_support import dispose_admin_engines, server_database

    try:
        with server_database("postgresql") as url:
            yield url
    finally:
        dispose_admin_engines()


def test_a_bad_cluster_row_fails_start_cleanly_and_the_cli_names_it(
    postgresql_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    import sqlalchemy as sa

    from fastscheduler.cli import main
    from fastscheduler.cluster import ClusterConfig

    url = postgresql_url

    def make() -> FastScheduler:
        s = FastScheduler(database_url=url, quiet=True, clock=ManualClock(T0), cluster=ClusterConfig())
        s.every(10).seconds.do(tick)
        return s

    s = make()
    s.start()
    s.stop()
    engine = sa.create_engine(s.storage.engine.url)  # type: ignore[attr-defined]
    with engine.begin() as conn:
        conn.exec_driver_sql("UPDATE fastscheduler_job_counts SET run_count = -5")
        live = conn.exec_driver_sql("SELECT count(*) FROM fastscheduler_instances").scalar_one()
    s2 = make()
    with pytest.raises(StorageFormatError) as info:
        s2.start()
    display = s2.storage.engine.url.render_as_string(hide_password=True)  # type: ignore[attr-defined]
    assert str(info.value) == (
        f"The database {display} holds a damaged cluster row (fastscheduler_schedule, "
        f"fastscheduler_job_counts) for job {JOB_ID!r}: run_count is -5, {COUNT}; nothing was changed: "
        "fix or delete that row"
    )
    assert not s2.running
    with engine.begin() as conn:  # it left the cluster again
        assert conn.exec_driver_sql("SELECT count(*) FROM fastscheduler_instances").scalar_one() == live
    assert main(["jobs", "--database-url", url]) == 1
    assert "holds a damaged cluster row" in capsys.readouterr().err
    engine.dispose()

"""The storage contract (fastscheduler.stores.base), run against every backend: memory, JSON file,
SQLite file, PostgreSQL and MariaDB.

The PostgreSQL and MariaDB cases need the test servers (``make services``); each test gets a fresh
database. If the servers are unreachable those cases fail with a message saying so, unless
FASTSCHEDULER_SKIP_SERVER_TESTS=1 (see tests/stores_support.py).
"""

from __future__ import annotations

import copy
import importlib.util
import json
import os
import re
import stat
import threading
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from stores_support import (
    ALL_KINDS,
    PERSISTENT_KINDS,
    SERVER_KINDS,
    SQL_KINDS,
    StoreCase,
    dispose_admin_engines,
    kill_connections,
    open_in_subprocess,
    server_database,
)

from fastscheduler.stores import (
    FORMAT_VERSION,
    Changes,
    Limits,
    MemoryStorageBackend,
    StorageError,
    StorageFormatError,
    StorageLockedError,
    json_file,
)
from fastscheduler.stores.json_file import JSONStorageBackend
from fastscheduler.stores.sql import METADATA, SCHEMA_VERSION, SQLModelStorageBackend, normalize_database_url

NOW = 1_800_000_000.0
DAY = 86400.0
NEWER = re.escape(f"written by a newer fastscheduler (format v{FORMAT_VERSION + 1}; this version reads v1)")


def job(job_id: str, next_run: float = NOW + 60, **extra: Any) -> dict[str, Any]:
    return {"v": 1, "job_id": job_id, "func_name": "tasks.f", "next_run": next_run, **extra}


def run(job_id: str, timestamp: float, status: str = "completed") -> dict[str, Any]:
    return {"v": 1, "job_id": job_id, "func_name": "tasks.f", "status": status, "timestamp": timestamp}


def letter(job_id: str, executed_at: float) -> dict[str, Any]:
    return {
        "v": 1,
        "job_id": job_id,
        "func_name": "tasks.f",
        "error_type": "RuntimeError",
        "error_message": "boom",
        "traceback": "Traceback ...",
        "attempts": 3,
        "executed_at": executed_at,
        "first_attempt_at": executed_at - 1,
    }


# -- fixtures -------------------------------------------------------------------------------------


@pytest.fixture(scope="module", autouse=True)
def _admin_engines() -> Iterator[None]:
    yield
    dispose_admin_engines()


def _make_case(kind: str, tmp_path: Path) -> Iterator[StoreCase]:
    if kind in SERVER_KINDS:
        with server_database(kind) as url:
            case = StoreCase(kind, url)
            try:
                yield case
            finally:
                case.close_all()
        return
    if kind == "memory":
        case = StoreCase(kind, "", memory=MemoryStorageBackend())
    elif kind == "json":
        case = StoreCase(kind, str(tmp_path / "state.json"))
    else:
        case = StoreCase(kind, f"sqlite:///{tmp_path / 'state.db'}")
    try:
        yield case
    finally:
        case.close_all()


@pytest.fixture(params=ALL_KINDS)
def case(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StoreCase]:
    yield from _make_case(request.param, tmp_path)


@pytest.fixture(params=PERSISTENT_KINDS)
def persistent(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StoreCase]:
    yield from _make_case(request.param, tmp_path)


@pytest.fixture(params=SQL_KINDS)
def sql_case(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StoreCase]:
    yield from _make_case(request.param, tmp_path)


@pytest.fixture(params=SERVER_KINDS)
def server_case(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StoreCase]:
    yield from _make_case(request.param, tmp_path)


@pytest.fixture(params=["json", "sqlite"])
def single_instance(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StoreCase]:
    yield from _make_case(request.param, tmp_path)


@pytest.fixture
def json_case(tmp_path: Path) -> Iterator[StoreCase]:
    yield from _make_case("json", tmp_path)


def _sql(backend: Any) -> SQLModelStorageBackend:
    assert isinstance(backend, SQLModelStorageBackend)
    return backend


# -- the contract, every backend ------------------------------------------------------------------


def test_empty_store_opens_empty(case: StoreCase) -> None:
    _, state = case.open()
    assert (state.jobs, state.history, state.dead_letters, state.stats) == ({}, [], [], {})


def test_written_state_is_seen_by_a_new_instance(case: StoreCase) -> None:
    backend, _ = case.open()
    jobs = {jid: job(jid, NOW + i) for i, jid in enumerate(["Job", "job", "jöb ✓ 工作", "x" * 512])}
    history = [run("job", NOW - 2), run("Job", NOW - 1, "failed")]
    backend.write(
        Changes(jobs=jobs, history=history, dead_letters=[letter("Job", NOW - 1)], stats={"v": 1, "runs": 2}),
        NOW,
    )
    backend.write(Changes(history=[run("job", NOW)]), NOW)

    state = case.reopen(backend)
    assert state.jobs == jobs  # ids are case-sensitive, Unicode, up to 512 characters
    assert state.history == [*history, run("job", NOW)]  # oldest first
    assert state.dead_letters == [letter("Job", NOW - 1)]
    assert state.stats == {"v": 1, "runs": 2}


def test_upsert_replaces_the_job_record(case: StoreCase) -> None:
    backend, _ = case.open()
    backend.write(Changes(jobs={"a": job("a", NOW + 1), "b": job("b")}), NOW)
    backend.write(Changes(jobs={"a": job("a", NOW + 2, paused=True)}), NOW)
    state = case.reopen(backend)
    assert state.jobs == {"a": job("a", NOW + 2, paused=True), "b": job("b")}


def test_delete_removes_jobs_and_ignores_unknown_ids(case: StoreCase) -> None:
    backend, _ = case.open()
    backend.write(Changes(jobs={jid: job(jid) for jid in "abc"}), NOW)
    backend.write(Changes(deleted_jobs={"a", "c", "never-existed"}), NOW)
    assert case.reopen(backend).jobs == {"b": job("b")}


def test_clear_dead_letters_then_append_in_one_batch(case: StoreCase) -> None:
    backend, _ = case.open()
    backend.write(Changes(dead_letters=[letter("a", NOW - 3), letter("b", NOW - 2)]), NOW)
    backend.write(Changes(clear_dead_letters=True, dead_letters=[letter("c", NOW - 1)]), NOW)
    assert case.reopen(backend).dead_letters == [letter("c", NOW - 1)]


def test_merged_batch_equals_the_batches_written_in_turn(case: StoreCase) -> None:
    backend, _ = case.open()
    first = Changes(
        jobs={"a": job("a"), "b": job("b")},
        history=[run("a", NOW - 3)],
        dead_letters=[letter("a", NOW - 3)],
        stats={"v": 1, "runs": 1},
    )
    backend.write(first, NOW)
    second = Changes(
        deleted_jobs={"a"},
        jobs={"c": job("c")},
        history=[run("c", NOW - 2)],
        clear_dead_letters=True,
        dead_letters=[letter("c", NOW - 2)],
    )
    third = Changes(
        jobs={"a": job("a", NOW + 5)},
        deleted_jobs={"b"},
        history=[run("a", NOW - 1)],
        dead_letters=[letter("a", NOW - 1)],
        stats={"v": 1, "runs": 3},
    )
    merged = copy.deepcopy(second)
    merged.merge(copy.deepcopy(third))
    assert merged.deleted_jobs == {"b"} and set(merged.jobs) == {"a", "c"}
    backend.write(merged, NOW)

    state = case.reopen(backend)
    assert state.jobs == {"a": job("a", NOW + 5), "c": job("c")}
    assert state.history == [run("a", NOW - 3), run("c", NOW - 2), run("a", NOW - 1)]
    assert state.dead_letters == [letter("c", NOW - 2), letter("a", NOW - 1)]
    assert state.stats == {"v": 1, "runs": 3}


def test_history_is_pruned_to_max_history_newest(case: StoreCase) -> None:
    limits = Limits(max_history=5)
    backend, _ = case.open(limits)
    backend.write(Changes(history=[run("a", NOW - 10 + i) for i in range(3)]), NOW)
    backend.write(Changes(history=[run("a", NOW - 7 + i) for i in range(4)]), NOW)
    expected = [run("a", NOW - 10 + i) for i in range(2, 7)]
    backend.close()
    # Opened with a larger limit: the store itself holds only the 5 newest.
    assert case.open(Limits(max_history=100))[1].history == expected


def test_history_limit_zero_keeps_none(case: StoreCase) -> None:
    backend, _ = case.open(Limits(max_history=0))
    backend.write(Changes(history=[run("a", NOW)], jobs={"a": job("a")}), NOW)
    state = case.reopen(backend)
    assert state.history == [] and set(state.jobs) == {"a"}


def test_history_older_than_retention_is_pruned(case: StoreCase) -> None:
    backend, _ = case.open(Limits(history_retention_days=1))
    old, recent, newest = run("a", NOW - 2 * DAY), run("a", NOW - 0.5 * DAY), run("a", NOW)
    backend.write(Changes(history=[old, recent, newest]), NOW)
    backend.close()
    backend, state = case.open(Limits(history_retention_days=1))
    assert state.history == [recent, newest]
    # A day later (the scheduler's clock, not the wall clock) the recent one has expired too.
    backend.write(Changes(stats={"v": 1, "runs": 0}), NOW + DAY)
    assert case.reopen(backend, Limits(history_retention_days=1)).history == [newest]


def test_dead_letters_are_pruned_to_max_dead_letters_newest(case: StoreCase) -> None:
    backend, _ = case.open(Limits(max_dead_letters=3))
    backend.write(Changes(dead_letters=[letter("a", NOW - 5), letter("b", NOW - 4)]), NOW)
    newer = [letter("c", NOW - 3), letter("d", NOW - 2), letter("e", NOW - 1)]
    backend.write(Changes(dead_letters=newer), NOW)
    backend.close()
    state = case.open(Limits(max_dead_letters=100))[1]
    assert [d["job_id"] for d in state.dead_letters] == ["c", "d", "e"]


def test_write_from_another_thread(case: StoreCase) -> None:
    backend, _ = case.open()
    errors: list[BaseException] = []

    def save() -> None:
        try:
            backend.write(Changes(jobs={"t": job("t")}), NOW)
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=save)
    thread.start()
    thread.join()
    assert errors == []
    assert case.reopen(backend).jobs == {"t": job("t")}


# -- persistent backends: format versions, failed writes --------------------------------------------


@pytest.mark.parametrize("part", ["jobs", "history", "dead_letters", "stats"])
def test_newer_format_record_is_refused_and_left_alone(persistent: StoreCase, part: str) -> None:
    backend, _ = persistent.open()
    newer = {"v": FORMAT_VERSION + 1, "job_id": "n", "timestamp": NOW, "executed_at": NOW}
    batch = {
        "jobs": Changes(jobs={"n": newer}),
        "history": Changes(history=[newer]),
        "dead_letters": Changes(dead_letters=[newer]),
        "stats": Changes(stats=newer),
    }[part]
    backend.write(Changes(jobs={"old": job("old")}), NOW)
    backend.write(batch, NOW)
    backend.close()
    before = Path(persistent.location).read_bytes() if persistent.kind == "json" else b""

    with pytest.raises(StorageFormatError, match=NEWER):
        persistent.open()
    with pytest.raises(StorageFormatError, match=NEWER):  # still there: nothing was moved or dropped
        persistent.open()
    if persistent.kind == "json":
        assert Path(persistent.location).read_bytes() == before
        assert not list(Path(persistent.location).parent.glob("*.corrupt-*"))


def _json_files(location: str) -> dict[str, bytes]:
    """Every file of a JSON store (the snapshot and the journal segments) by name, but the lock."""
    path = Path(location)
    return {p.name: p.read_bytes() for p in path.parent.glob(f"{path.name}*") if not p.name.endswith(".lock")}


def test_failed_write_applies_nothing(persistent: StoreCase) -> None:
    backend, _ = persistent.open()
    backend.write(Changes(jobs={"kept": job("kept")}, history=[run("kept", NOW - 1)]), NOW)
    before = _json_files(persistent.location) if persistent.kind == "json" else {}
    statements: list[str] = []
    if persistent.kind != "json":
        sa.event.listen(_sql(backend).engine, "before_cursor_execute", _recorder(statements))

    bad = Changes(
        jobs={"new": job("new")},
        deleted_jobs={"kept"},
        history=[run("new", NOW), {**run("new", NOW), "result": object()}, run("new", NOW)],
        dead_letters=[letter("new", NOW)],
        stats={"v": 1, "runs": 99},
    )
    with pytest.raises(StorageError, match="not JSON-serialisable"):
        backend.write(bad, NOW)
    if persistent.kind == "json":
        assert _json_files(persistent.location) == before
    else:  # the delete and the job upsert did run: the rollback is what undid them
        assert any(s.lstrip().upper().startswith("DELETE FROM FASTSCHEDULER_JOBS") for s in statements)
        assert any(s.lstrip().upper().startswith("INSERT INTO FASTSCHEDULER_JOBS") for s in statements)

    # The store still works, and none of the failed batch shows up, in this instance or the next.
    backend.write(Changes(jobs={"after": job("after")}), NOW)
    state = persistent.reopen(backend)
    assert state.jobs == {"kept": job("kept"), "after": job("after")}
    assert state.history == [run("kept", NOW - 1)]
    assert state.dead_letters == [] and state.stats == {}


def _recorder(statements: list[str]) -> Any:
    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    return record


# -- single-instance stores: the lock -------------------------------------------------------------


def _lock_target(case: StoreCase) -> str:
    return case.location if case.kind == "json" else sa.make_url(case.location).database or ""


def test_second_process_is_locked_out_until_close(single_instance: StoreCase) -> None:
    backend, _ = single_instance.open()
    assert backend.multi_instance is False
    backend.write(Changes(jobs={"a": job("a")}), NOW)

    result = open_in_subprocess(single_instance.kind, single_instance.location)
    assert result["locked"] is True
    message = result["error"]
    assert _lock_target(single_instance) in message
    assert f"(pid {os.getpid()})" in message
    assert "single-instance" in message and "PostgreSQL" in message and "MySQL" in message

    # A second backend in this process is refused too; the first one keeps working.
    with pytest.raises(StorageLockedError, match="single-instance"):
        single_instance.new().open(Limits())
    backend.write(Changes(jobs={"b": job("b")}), NOW)

    backend.close()
    backend.close()  # idempotent
    assert open_in_subprocess(single_instance.kind, single_instance.location) == {
        "locked": False,
        "jobs": ["a", "b"],
    }


def test_server_databases_are_multi_instance(server_case: StoreCase) -> None:
    first, _ = server_case.open()
    second, _ = server_case.open()
    assert first.multi_instance is True and second.multi_instance is True
    first.write(Changes(jobs={"a": job("a")}), NOW)
    second.write(Changes(jobs={"b": job("b")}), NOW)
    assert set(server_case.reopen(first).jobs) == {"a", "b"}


def test_multi_instance_flags_follow_the_url(tmp_path: Path) -> None:
    # Constructing a backend does not connect: nothing listens on these ports.
    assert SQLModelStorageBackend("postgresql://u:p@127.0.0.1:1/db").multi_instance is True
    assert SQLModelStorageBackend("mysql://u:p@127.0.0.1:1/db").multi_instance is True
    assert SQLModelStorageBackend("mariadb://u:p@127.0.0.1:1/db").multi_instance is True
    assert SQLModelStorageBackend(f"sqlite:///{tmp_path}/x.db").multi_instance is False
    assert SQLModelStorageBackend("sqlite://").multi_instance is False
    assert JSONStorageBackend(tmp_path / "x.json").multi_instance is False


def test_in_memory_sqlite_needs_no_lock_and_is_shared_by_threads() -> None:
    backend = SQLModelStorageBackend("sqlite://")
    try:
        backend.open(Limits())
        thread = threading.Thread(target=backend.write, args=(Changes(jobs={"a": job("a")}), NOW))
        thread.start()
        thread.join()
        with backend.engine.connect() as conn:
            assert conn.exec_driver_sql("SELECT job_id FROM fastscheduler_jobs").scalars().all() == ["a"]
    finally:
        backend.close()


# -- JSON file specifics --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (None, "not valid JSON"),  # truncated: the first half of a real state file
        (b"\xff\xfe garbage", "not valid JSON"),
        (b"[1, 2, 3]", "holds a JSON list, not a state object"),
        (b'{"v": 1, "jobs": [], "history": []}', '"jobs" is not an object'),
        (b'{"v": "one", "jobs": {}}', 'its format version "v" is'),
    ],
)
def test_damaged_json_file_is_moved_aside(json_case: StoreCase, content: bytes | None, reason: str) -> None:
    path = Path(json_case.location)
    backend, _ = json_case.open()
    backend.write(Changes(jobs={f"j{i}": job(f"j{i}") for i in range(20)}), NOW)
    backend.close()
    damaged = content if content is not None else path.read_bytes()[: len(path.read_bytes()) // 2]
    path.write_bytes(damaged)

    with pytest.raises(StorageFormatError) as info:
        json_case.open()
    message = str(info.value)
    assert str(path) in message and reason in message
    (aside,) = path.parent.glob("state.json.corrupt-*")
    assert aside.read_bytes() == damaged
    assert str(aside) in message
    assert re.fullmatch(r"state\.json\.corrupt-\d{8}T\d{6}\.\d{6}Z", aside.name)
    assert not path.exists()

    # Only a new open starts afresh (the failed open released the lock).
    backend, state = json_case.open()
    assert state.jobs == {}
    backend.write(Changes(jobs={"fresh": job("fresh")}), NOW)
    assert aside.read_bytes() == damaged


def test_quarantine_never_overwrites(json_case: StoreCase, monkeypatch: pytest.MonkeyPatch) -> None:
    class FrozenDatetime(datetime):
        @classmethod
        def now(cls, tz: Any = None) -> FrozenDatetime:
            return cls(2026, 1, 2, 3, 4, 5, 678901, tzinfo=timezone.utc)

    monkeypatch.setattr(json_file, "datetime", FrozenDatetime)
    path = Path(json_case.location)
    for damaged in (b"{first", b"{second"):
        path.write_bytes(damaged)
        with pytest.raises(StorageFormatError, match="is damaged"):
            json_case.open()
    base = path.parent / "state.json.corrupt-20260102T030405.678901Z"
    assert base.read_bytes() == b"{first"
    assert Path(f"{base}-1").read_bytes() == b"{second"


def test_newer_json_envelope_is_refused_and_left_alone(json_case: StoreCase) -> None:
    path = Path(json_case.location)
    newer_file = re.escape(
        f"written by a newer fastscheduler (format v{json_file.FILE_FORMAT + 1}; this version reads "
        f"v{json_file.FILE_FORMAT})"
    )
    for content, message in [
        (b'{"v": 3, "jobs": {"a": {"v": 3}}, "layout": "something new"}', newer_file),
        (b'{"v": 2, "jobs": {"a": {"v": 2}}, "layout": "something new"}', NEWER),  # a newer record
    ]:
        path.write_bytes(content)
        with pytest.raises(StorageFormatError, match=message) as info:
            json_case.open()
        assert str(path) in str(info.value)
        assert path.read_bytes() == content
        assert not list(path.parent.glob("*.corrupt-*"))


def test_newer_journal_segment_is_refused_and_left_alone(json_case: StoreCase) -> None:
    backend, _ = json_case.open()
    backend.write(Changes(jobs={"a": job("a")}), NOW)
    backend.close()
    segment = Path(f"{json_case.location}.journal.2")
    segment.write_bytes(b'{"journal":{"v":3,"segment":2}}\n{"new":{}}\n')
    with pytest.raises(
        StorageFormatError, match=r"\(journal state\.json\.journal\.2\) was written by a newer"
    ):
        json_case.open()
    assert segment.exists() and not list(segment.parent.glob("*.corrupt-*"))


def test_fastscheduler_0x_state_file_is_refused_and_left_alone(json_case: StoreCase) -> None:
    path = Path(json_case.location)
    content = b'{"version": "1.0", "metadata": {}, "jobs": [], "history": [], "_job_counter": 3}'
    path.write_bytes(content)
    with pytest.raises(StorageFormatError, match=r"written by fastscheduler 0\.x \(format '1\.0'\)"):
        json_case.open()
    assert path.read_bytes() == content


def test_json_write_appends_one_fsynced_batch(json_case: StoreCase, monkeypatch: pytest.MonkeyPatch) -> None:
    """A write appends its batch to the journal and fdatasyncs it: no rewrite of the snapshot,
    one sync per write (and the directory once, when a segment is made)."""
    path = Path(json_case.location)
    synced: list[str] = []
    real_fsync, real_datasync = os.fsync, os.fdatasync

    def fsync(fd: int) -> None:
        synced.append("dir" if stat.S_ISDIR(os.fstat(fd).st_mode) else "file")
        real_fsync(fd)

    def fdatasync(fd: int) -> None:
        synced.append("data")
        real_datasync(fd)

    monkeypatch.setattr(json_file.os, "fsync", fsync)
    monkeypatch.setattr(json_file.os, "fdatasync", fdatasync)
    backend, _ = json_case.open()
    for i in range(5):
        backend.write(Changes(jobs={f"j{i}": job(f"j{i}")}), NOW)
    assert sorted(p.name for p in path.parent.iterdir()) == ["state.json.journal.1", "state.json.lock"]
    assert synced == ["file", "dir"] + ["data"] * 5  # the new segment's header, then each batch

    # A failing write: StorageError naming the file; the batch is cut off again, so nothing of it
    # loads, and the next write works.
    before = _json_files(json_case.location)

    def broken_write(fd: int, data: Any) -> int:
        os.ftruncate(fd, os.fstat(fd).st_size)
        real_write(fd, bytes(data)[:10])  # part of the batch reached the file
        raise OSError(28, "No space left on device")

    real_write = os.write
    monkeypatch.setattr(json_file.os, "write", broken_write)
    with pytest.raises(StorageError, match=f"cannot write the JSON state file {re.escape(str(path))}.*space"):
        backend.write(Changes(jobs={"lost": job("lost")}, deleted_jobs={"j0"}), NOW)
    monkeypatch.undo()
    assert _json_files(json_case.location) == before
    backend.write(Changes(jobs={"next": job("next")}), NOW)
    assert set(json_case.reopen(backend).jobs) == {"j0", "j1", "j2", "j3", "j4", "next"}
    assert sorted(p.name for p in path.parent.iterdir()) == ["state.json", "state.json.lock"]  # compacted


def test_json_files_keep_the_snapshots_mode(json_case: StoreCase) -> None:
    path = Path(json_case.location)
    backend, _ = json_case.open()
    backend.write(Changes(jobs={"a": job("a")}), NOW)
    assert stat.S_IMODE(Path(f"{path}.journal.1").stat().st_mode) == 0o600  # a new state is private
    backend.close()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    path.chmod(0o640)
    backend, _ = json_case.open()
    backend.write(Changes(jobs={"b": job("b")}), NOW)
    assert stat.S_IMODE(Path(f"{path}.journal.2").stat().st_mode) == 0o640
    backend.close()
    assert stat.S_IMODE(path.stat().st_mode) == 0o640


def test_json_write_before_open_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(StorageError, match="not open"):
        JSONStorageBackend(tmp_path / "s.json").write(Changes(jobs={"a": job("a")}), NOW)


# -- SQL specifics --------------------------------------------------------------------------------


def _flatten(parameters: Any) -> Iterator[Any]:
    """Every value in ``parameters``, and in the JSON arrays of rows the store sends as one."""
    if isinstance(parameters, dict):
        yield from parameters.values()
    elif isinstance(parameters, list | tuple):
        for p in parameters:
            yield from _flatten(p)
    elif isinstance(parameters, str) and parameters.startswith("[["):
        yield from _flatten(json.loads(parameters))
    else:
        yield parameters


def test_sql_write_touches_only_the_changed_job(sql_case: StoreCase) -> None:
    backend, _ = sql_case.open()
    engine = _sql(backend).engine
    backend.write(Changes(jobs={f"job-{i:04d}": job(f"job-{i:04d}", NOW + i) for i in range(1000)}), NOW)

    seen: list[tuple[str, list[Any]]] = []

    def record(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool) -> None:
        seen.append((statement, list(_flatten(parameters))))

    sa.event.listen(engine, "before_cursor_execute", record)
    try:
        backend.write(Changes(jobs={"job-0500": job("job-0500", NOW + 1e6, paused=True)}), NOW + 1)
    finally:
        sa.event.remove(engine, "before_cursor_execute", record)

    writes = [(s, p) for s, p in seen if re.match(r"\s*(INSERT|UPDATE|DELETE)\b", s, re.I)]
    on_jobs = [(s, p) for s, p in writes if "fastscheduler_jobs" in s]
    assert len(on_jobs) == 1, on_jobs
    statement, params = on_jobs[0]
    assert re.match(r"\s*INSERT\b", statement, re.I)
    assert {p for p in params if isinstance(p, str) and p.startswith("job-")} == {"job-0500"}
    # Pruning found nothing to count (no history or dead letters were added since the first write).
    assert not [s for s, _ in writes if "fastscheduler_jobs" not in s and "fastscheduler_history" not in s]

    with engine.connect() as conn:
        rows = dict(conn.execute(sa.text("SELECT job_id, next_run FROM fastscheduler_jobs")).all())
    assert len(rows) == 1000
    assert rows["job-0500"] == NOW + 1e6 and rows["job-0999"] == NOW + 999  # DOUBLE, not FLOAT
    assert sql_case.reopen(backend).jobs["job-0500"] == job("job-0500", NOW + 1e6, paused=True)


def test_sql_too_long_job_id_is_refused(sql_case: StoreCase) -> None:
    backend, _ = sql_case.open()
    with pytest.raises(StorageError, match="longer than 512 characters; nothing of the batch was stored"):
        backend.write(Changes(jobs={"ok": job("ok"), "x" * 513: job("long")}), NOW)
    assert sql_case.reopen(backend).jobs == {}


def test_sql_newer_schema_is_refused(sql_case: StoreCase) -> None:
    backend, _ = sql_case.open()
    with _sql(backend).engine.begin() as conn:
        meta = METADATA.tables["fastscheduler_meta"]
        newer = str(SCHEMA_VERSION + 1)
        conn.execute(sa.update(meta).where(meta.c.key == "schema_version").values(value=newer))
    backend.close()
    with pytest.raises(
        StorageFormatError,
        match=re.escape(
            f"written by a newer fastscheduler (schema v{newer}; this version reads v{SCHEMA_VERSION})"
        ),
    ):
        sql_case.open()


def test_sql_damaged_record_is_refused(sql_case: StoreCase) -> None:
    backend, _ = sql_case.open()
    backend.write(Changes(jobs={"a": job("a")}), NOW)
    with _sql(backend).engine.begin() as conn:
        conn.execute(sa.text("UPDATE fastscheduler_jobs SET record = '{not json'"))
    backend.close()
    with pytest.raises(StorageFormatError, match=r"holds a damaged record in fastscheduler_jobs row 'a'"):
        sql_case.open()


def test_killed_server_connection_is_recovered_on_next_write(server_case: StoreCase) -> None:
    backend, _ = server_case.open()
    backend.write(Changes(jobs={"before": job("before")}), NOW)
    assert kill_connections(server_case.kind, server_case.location) >= 1
    backend.write(Changes(jobs={"after": job("after")}), NOW)  # pool_pre_ping reconnects
    assert set(server_case.reopen(backend).jobs) == {"before", "after"}


def test_unreachable_database_names_it_without_the_password() -> None:
    backend = SQLModelStorageBackend("postgresql://fs:s3cret@127.0.0.1:1/nowhere")
    try:
        with pytest.raises(
            StorageError, match=r"cannot open the database postgresql\+psycopg://fs:\*\*\*@"
        ) as info:
            backend.open(Limits())
        assert "s3cret" not in str(info.value)
    finally:
        backend.close()


# -- URLs -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("postgresql://u:p@db.example:5432/app", "postgresql+psycopg://u:p@db.example:5432/app"),
        ("postgres://u:p@localhost/app", "postgresql+psycopg://u:p@localhost/app"),
        ("mysql://u:p@localhost:3306/app", "mysql+pymysql://u:p@localhost:3306/app"),
        ("mariadb://u:p@localhost/app?charset=utf8mb4", "mysql+pymysql://u:p@localhost/app?charset=utf8mb4"),
        ("postgresql://u:p%40ss%2Fword@h/app", "postgresql+psycopg://u:p%40ss%2Fword@h/app"),
        ("postgresql+psycopg2://u:p@h/app", "postgresql+psycopg2://u:p@h/app"),
        ("postgresql+asyncpg://u:p@h/app", "postgresql+asyncpg://u:p@h/app"),
        ("mysql+mysqldb://u:p@h/app", "mysql+mysqldb://u:p@h/app"),
        ("mariadb+mariadbconnector://u:p@h/app", "mariadb+mariadbconnector://u:p@h/app"),
        ("sqlite:///fastscheduler.db", "sqlite:///fastscheduler.db"),
        ("sqlite:////var/lib/app/state.db", "sqlite:////var/lib/app/state.db"),
        ("sqlite://", "sqlite://"),
    ],
)
def test_url_normalisation(given: str, expected: str) -> None:
    assert normalize_database_url(given) == expected


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("not a url", r"not a database URL: 'not a url'.*expected e\.g\. postgresql://"),
        ("", r"not a database URL: ''"),
        (
            "nosuchdb://u:p@h/app",
            r"unsupported database URL nosuchdb://u:\*\*\*@h/app: SQLAlchemy has no dialect",
        ),
    ],
)
def test_bad_url_is_a_storage_error(url: str, message: str) -> None:
    with pytest.raises(StorageError, match=message):
        SQLModelStorageBackend(url)


@pytest.mark.skipif(importlib.util.find_spec("psycopg2") is not None, reason="psycopg2 is installed here")
def test_missing_driver_says_what_to_install() -> None:
    with pytest.raises(StorageError) as info:
        SQLModelStorageBackend("postgresql+psycopg2://u:secret@127.0.0.1/app")
    message = str(info.value)
    assert "postgresql+psycopg2://u:***@127.0.0.1/app" in message and "secret" not in message
    assert "not installed (no module 'psycopg2')" in message
    assert "pip install 'fastscheduler[database]'" in message


# -- bad records: every store checks what it loads with one validator (stores/_records.py) ---------

COUNT = "not an integer from 0 to 2**63-1"
BAD_RECORDS = {
    # part: (the batch, the record as a JSON file names it, as a database names it, the problem)
    "jobs": (
        Changes(jobs={"a": job("a", run_count="lots")}),
        "jobs['a']",
        "fastscheduler_jobs row 'a'",
        f"run_count is 'lots', {COUNT}",
    ),
    "history": (
        Changes(history=[run("a", NOW), {**run("a", NOW), "execution_time": float("nan")}]),
        "history[1]",
        r"fastscheduler_history row \d+",
        "execution_time is nan, not a number of seconds from 0 to 253402214400",
    ),
    "dead_letters": (
        Changes(dead_letters=[{**letter("a", NOW), "attempts": -1}]),
        "dead_letters[0]",
        r"fastscheduler_dead_letters row \d+",
        f"attempts is -1, {COUNT}",
    ),
    "stats": (
        Changes(stats={"v": 1, "totals": {"runs": 2**70}}),
        "stats",
        "fastscheduler_meta row 'stats'",
        f"totals['runs'] is 1180591620717411303424, {COUNT}",
    ),
}


@pytest.mark.parametrize("part", list(BAD_RECORDS))
def test_a_bad_record_is_refused_naming_the_store_and_the_record(persistent: StoreCase, part: str) -> None:
    batch, in_file, in_database, problem = BAD_RECORDS[part]
    backend, _ = persistent.open()
    backend.write(Changes(jobs={"good": job("good")}), NOW)
    backend.write(batch, NOW)  # a store writes what it is given; it is checked when loaded
    backend.close()
    if persistent.kind == "json":
        path = Path(persistent.location)
        data = path.read_bytes()
        with pytest.raises(StorageFormatError) as info:  # a reader (the CLI) leaves the file alone
            JSONStorageBackend(path).read(Limits())
        assert str(info.value) == (
            f"The JSON state file {path} is damaged (record {in_file}.{problem}); it was left as it is"
        )
        with pytest.raises(StorageFormatError) as info:
            persistent.open()
        (aside,) = path.parent.glob("state.json.corrupt-*")
        assert str(info.value) == (
            f"The JSON state file {path} is damaged (record {in_file}.{problem}). It was moved to {aside} "
            "(kept for inspection); opening the store again starts with an empty state"
        )
        assert aside.read_bytes() == data
        assert persistent.open()[1].jobs == {}
        return
    url = _sql(backend).display_url
    expected = (
        f"The database {re.escape(url)} holds a damaged record in {in_database}: {re.escape(problem)}; "
        "nothing was changed: fix or delete that row"
    )
    for _ in range(2):  # a database row cannot be moved aside: it is refused until fixed or deleted
        with pytest.raises(StorageFormatError, match=f"^{expected}$"):
            persistent.open()
    with pytest.raises(StorageFormatError, match=f"^{expected}$"):
        persistent.new().read(Limits())


def test_a_newer_record_wins_over_a_damaged_one(persistent: StoreCase) -> None:
    """A newer release may write fields this one would call damaged: the file is left alone."""
    backend, _ = persistent.open()
    backend.write(Changes(jobs={"a": job("a", run_count="lots"), "b": job("b", v=FORMAT_VERSION + 1)}), NOW)
    backend.close()
    with pytest.raises(StorageFormatError, match=NEWER):
        persistent.open()
    if persistent.kind == "json":
        assert not list(Path(persistent.location).parent.glob("*.corrupt-*"))


def test_sql_deeply_nested_record_is_damaged(sql_case: StoreCase) -> None:
    backend, _ = sql_case.open()
    backend.write(Changes(jobs={"a": job("a")}), NOW)
    with _sql(backend).engine.begin() as conn:
        conn.execute(sa.text("UPDATE fastscheduler_jobs SET record = :r"), {"r": "[" * 200_000})
    backend.close()
    with pytest.raises(
        StorageFormatError,
        match=r"holds a damaged record in fastscheduler_jobs row 'a': nested too deeply; nothing was "
        r"changed: fix or delete that row$",
    ):
        sql_case.open()


@pytest.mark.parametrize("stored", ["0", "-1", "1.0", "x" * 5000, ""])
def test_sql_damaged_schema_version_is_refused(sql_case: StoreCase, stored: str) -> None:
    backend, _ = sql_case.open()
    with _sql(backend).engine.begin() as conn:
        meta = METADATA.tables["fastscheduler_meta"]
        conn.execute(sa.update(meta).where(meta.c.key == "schema_version").values(value=stored))
    backend.close()
    with pytest.raises(StorageFormatError) as info:
        sql_case.open()
    assert str(info.value) == (
        f"The database {_sql(backend).display_url} has a damaged schema version {stored[:40]!r} in "
        "fastscheduler_meta (expected a positive integer); nothing was changed"
    )


def test_sqlite_path_that_is_not_a_regular_file_is_refused(tmp_path: Path) -> None:
    fifo = tmp_path / "jobs.db"
    os.mkfifo(fifo)
    backend = SQLModelStorageBackend(f"sqlite:///{fifo}")
    with pytest.raises(StorageError) as info:
        backend.open(Limits())
    assert str(info.value) == (
        f"cannot open the database sqlite:///{fifo}: {fifo} is a FIFO (named pipe), not a regular file; "
        "nothing was read or changed"
    )
    backend.open  # noqa: B018 - the lock was released: another backend can try
    other = SQLModelStorageBackend(f"sqlite:///{fifo}")
    with pytest.raises(StorageError, match="FIFO"):
        other.open(Limits())


def test_json_write_beyond_max_file_size_fails_and_applies_nothing(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    backend = JSONStorageBackend(path, max_file_size=2000)
    backend.open(Limits())
    backend.write(Changes(jobs={"a": job("a")}), NOW)
    before = _json_files(str(path))
    with pytest.raises(StorageError) as info:
        backend.write(Changes(jobs={f"j{i}": job(f"j{i}") for i in range(50)}), NOW)
    assert re.fullmatch(
        rf"cannot write {re.escape(str(path))}: the state would take [\d,]+ bytes, more than this store's "
        r"max_file_size \(2,000 bytes\), and a larger file would not be read back\. Use a database "
        r"\(SQLModelStorageBackend\), keep fewer jobs or less history, or raise max_file_size",
        str(info.value),
    )
    assert _json_files(str(path)) == before
    backend.write(Changes(jobs={"b": job("b")}), NOW)  # the failed batch left nothing behind
    backend.close()
    assert set(JSONStorageBackend(path).read(Limits()).jobs) == {"a", "b"}


@pytest.mark.parametrize("size", [0, -1, 1.5, True, "1"])
def test_json_max_file_size_must_be_a_positive_int(size: Any) -> None:
    with pytest.raises(
        ValueError, match=rf"^max_file_size must be a positive int \(bytes\), got {re.escape(repr(size))}$"
    ):
        JSONStorageBackend("state.json", max_file_size=size)

"""The JSON store's snapshot and journal (docs/persistence.md): replay, the torn tail, a crash at
each step of a compaction, the version 1 file, batching equivalence, and kill -9 at random
moments while compactions run."""

from __future__ import annotations

import copy
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from fastscheduler import FastScheduler, ManualClock
from fastscheduler.stores import (
    Changes,
    Limits,
    MemoryStorageBackend,
    StorageFormatError,
    StoredState,
    json_file,
)
from fastscheduler.stores.json_file import CRASH_ENV, JSONStorageBackend

NOW = 1_800_000_000.0
DATA = Path(__file__).parent / "data"
LIMITS = Limits(max_history=40, max_dead_letters=7, history_retention_days=1)


def job(job_id: str, **extra: Any) -> dict[str, Any]:
    return {"v": 1, "job_id": job_id, "func_name": "tasks.f", "next_run": NOW + 60, **extra}


def full_job(job_id: str, **extra: Any) -> dict[str, Any]:
    """A record as the scheduler writes it (every field): the store leaves its defaults out."""
    return {
        "v": 1,
        "job_id": job_id,
        "name": "f",
        "func_name": "f",
        "func": "tasks.f",
        "kind": "interval",
        "schedule": "Every 10 seconds",
        "spec": {
            "interval": 10.0,
            "cron": None,
            "at": None,
            "tz": None,
            "timeout": None,
            "timeout_kill": False,
            "retries": 3,
            "catch_up": True,
        },
        "next_run": NOW + 10,
        "last_run": None,
        "run_count": 0,
        "failure_count": 0,
        "retry_count": 0,
        "paused": False,
        "finished": False,
        "recent": [],
        "args": [],
        "kwargs": {},
        **extra,
    }


def run(job_id: str, timestamp: float, status: str = "completed") -> dict[str, Any]:
    return {"v": 1, "job_id": job_id, "func_name": "f", "status": status, "timestamp": timestamp}


def letter(job_id: str, at: float) -> dict[str, Any]:
    return {
        "v": 1,
        "job_id": job_id,
        "func_name": "f",
        "error_type": "E",
        "error_message": "boom",
        "traceback": "...",
        "attempts": 1,
        "executed_at": at,
        "first_attempt_at": at,
    }


def state_line(job_id: str, **fields: Any) -> bytes:
    """A journal state line as the Rust encoder writes it (job_id first)."""
    return (json.dumps({"state": {"job_id": job_id, **fields}}, separators=(",", ":")) + "\n").encode()


def random_batches(rng: random.Random, n: int, with_states: bool) -> list[Changes]:
    """``n`` batches of random changes over a few jobs, in the scheduler's shapes."""
    ids = [f"job-{i}" if i % 3 else f"jöb ✓ {i}" for i in range(8)]
    stored: set[str] = set()
    t = NOW - 3 * 86400
    batches = []
    for _ in range(n):
        c = Changes()
        for job_id in rng.sample(ids, rng.randrange(0, 3)):
            if rng.random() < 0.3 and stored:
                victim = rng.choice(sorted(stored))
                c.deleted_jobs.add(victim)
                stored.discard(victim)
            else:
                make = full_job if rng.random() < 0.7 else job
                c.jobs[job_id] = make(job_id, run_count=rng.randrange(3), paused=rng.random() < 0.3)
                stored.add(job_id)
        if with_states:
            states = [
                j
                for j in sorted(stored)
                if j not in c.jobs and j not in c.deleted_jobs and rng.random() < 0.5
            ]
            fields = [{"next_run": t + 10, "run_count": rng.randrange(1, 9), "recent": ["completed"]}, {}]
            c.states = b"".join(state_line(j, **rng.choice(fields)) for j in states)
            c.state_count = len(states)
        for _ in range(rng.randrange(0, 12)):
            t += rng.uniform(0, 3 * 3600)
            c.history.append(run(rng.choice(ids), t, rng.choice(["completed", "failed"])))
        if rng.random() < 0.1:
            c.clear_dead_letters = True
        c.dead_letters = [letter(rng.choice(ids), t) for _ in range(rng.randrange(0, 3))]
        if rng.random() < 0.5:
            c.stats = {"v": 1, "totals": {"runs": rng.randrange(100)}}
        batches.append(c)
    return batches


def write_all(path: Path, batches: list[Changes], **kwargs: Any) -> StoredState:
    """Write ``batches`` one by one (the batch's ``now`` moves on), then read the state."""
    backend = JSONStorageBackend(path, **kwargs)
    backend.open(LIMITS)
    for i, batch in enumerate(batches):
        backend.write(copy.deepcopy(batch), NOW + i)
    state = JSONStorageBackend(path).read(LIMITS)
    backend.close()
    return state


def as_tuple(state: StoredState) -> tuple[Any, ...]:
    return state.jobs, state.history, state.dead_letters, state.stats


# -- replay and compaction agree -----------------------------------------------------------------


@pytest.mark.parametrize("seed", range(6))
def test_replay_of_the_journal_equals_the_stores_of_record(tmp_path: Path, seed: int) -> None:
    """The journal replayed (no compaction) gives what the memory store holds after the same
    batches; then the compacted snapshot (Rust) gives it too, and so does the journal replayed
    over it after more batches."""
    batches = random_batches(random.Random(seed), 40, with_states=False)
    memory = MemoryStorageBackend()
    memory.open(LIMITS)
    for i, batch in enumerate(batches):
        memory.write(copy.deepcopy(batch), NOW + i)
    expected = memory.open(LIMITS)

    path = tmp_path / "state.json"
    replayed = write_all(path, batches, compact_min_bytes=1 << 40)  # close() compacts: small
    assert as_tuple(replayed) == as_tuple(expected)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.json", "state.json.lock"]
    assert as_tuple(JSONStorageBackend(path).read(LIMITS)) == as_tuple(expected)  # the snapshot


@pytest.mark.parametrize("seed", range(6))
def test_state_lines_replayed_and_compacted_agree(tmp_path: Path, seed: int) -> None:
    batches = random_batches(random.Random(100 + seed), 40, with_states=True)
    path = tmp_path / "state.json"
    backend = JSONStorageBackend(path, compact_min_bytes=1 << 40)
    backend.open(LIMITS)
    for i, batch in enumerate(batches):
        backend.write(copy.deepcopy(batch), NOW + i)
        if i == 20:  # a compaction in the middle, then more journal over the new snapshot
            backend._start_compaction(NOW + i)
            assert backend._compactor is not None
            backend._compactor.join()
    some = next(iter(JSONStorageBackend(path).read(LIMITS).jobs))
    backend.write(
        Changes(states=state_line(some, run_count=9, recent=["completed"]), state_count=1), NOW + 50
    )
    replayed = JSONStorageBackend(path).read(LIMITS)
    assert backend.compactions == 1
    backend.close()  # compacts again (small)
    assert backend.compactions == 2
    compacted = JSONStorageBackend(path).read(LIMITS)
    assert as_tuple(compacted) == as_tuple(replayed)
    # A state line replaced the job's state fields; the ones it left out are at their default.
    assert replayed.jobs[some]["recent"] == ["completed"] and replayed.jobs[some]["run_count"] == 9
    assert replayed.jobs[some]["next_run"] is None  # left out of the line: at its default
    assert all(j["paused"] in (True, False) for j in replayed.jobs.values() if "name" in j)


def test_the_python_compaction_is_the_fallback_for_what_strict_json_refuses(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    backend = JSONStorageBackend(path)
    backend.open(Limits())
    backend.write(
        Changes(jobs={"a": job("a")}, history=[{**run("a", NOW), "execution_time": float("nan")}]), NOW
    )
    backend.close()
    assert backend.compactions == 1
    snapshot = json.loads(path.read_text())  # (Python's json reads NaN; strict parsers do not)
    assert snapshot["covers"] == 1 and snapshot["jobs"] == {
        "a": {k: v for k, v in job("a").items() if k != "job_id"}
    }
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.json", "state.json.lock"]
    with pytest.raises(StorageFormatError, match=r"history\[0\]\.execution_time is nan"):
        JSONStorageBackend(path).read(Limits())  # and it is refused when loaded, as it always was


# -- batching -------------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [1, 2, 3, 7, 40])
def test_any_batch_size_gives_the_same_final_state(tmp_path: Path, size: int) -> None:
    """Batches merged ``size`` at a time (what the saver does while a write is pending or failed)
    give the same state as one write per batch."""
    batches = random_batches(random.Random(7), 40, with_states=False)
    one_by_one = write_all(tmp_path / "a.json", batches)
    merged: list[Changes] = []
    for start in range(0, len(batches), size):
        group = copy.deepcopy(batches[start])
        for later in batches[start + 1 : start + size]:
            group.merge(copy.deepcopy(later))
        merged.append(group)
    # (one ``now`` per merged batch: retention is measured from the last one)
    backend = JSONStorageBackend(tmp_path / "b.json")
    backend.open(LIMITS)
    for start, group in zip(range(0, len(batches), size), merged, strict=True):
        backend.write(group, NOW + min(start + size, len(batches)) - 1)
    backend.close()
    assert as_tuple(JSONStorageBackend(tmp_path / "b.json").read(LIMITS)) == as_tuple(one_by_one)


def tick(*args: Any, **kwargs: Any) -> None:
    pass


def boom() -> None:
    raise RuntimeError("boom")


def _scheduler_run(path: Path, flush_interval: float) -> StoredState:
    clock = ManualClock(NOW)
    store = JSONStorageBackend(path, flush_interval=flush_interval)
    s = FastScheduler(storage=store, quiet=True, clock=clock, max_history=50)
    for i in range(30):
        s.every(10 + i % 4).seconds.do(tick, i)
    s.every(15).seconds.id("fails").retries(1).do(boom)
    s.start()
    s.pause_job(f"{__name__}.tick:every:10s#5")
    for _ in range(12):
        clock.advance(7)
        if flush_interval == 0:
            s._rt.persistence.saver.flush()  # type: ignore[union-attr]
    s.stop()
    return JSONStorageBackend(path).read(Limits(max_history=50))


def test_the_saver_writes_the_same_state_whatever_its_flush_interval(tmp_path: Path) -> None:
    """Each change written as it comes, or everything in the one write stop() makes: the same."""
    each = _scheduler_run(tmp_path / "each.json", 0)
    once = _scheduler_run(tmp_path / "once.json", 3600)
    assert each.jobs == once.jobs and each.history == once.history and each.stats == once.stats
    assert [d["job_id"] for d in each.dead_letters] == [d["job_id"] for d in once.dead_letters]
    assert each.jobs[f"{__name__}.tick:every:10s#5"]["paused"] is True
    assert (
        each.jobs["fails"]["failure_count"] >= 1 and each.jobs[f"{__name__}.tick:every:10s"]["run_count"] == 8
    )


# -- the torn tail --------------------------------------------------------------------------------


def test_a_batch_cut_anywhere_is_ignored_and_the_rest_loads(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    backend = JSONStorageBackend(path)
    backend.open(Limits())
    backend.write(Changes(jobs={"a": job("a"), "b": job("b")}, history=[run("a", NOW)]), NOW)
    segment = Path(f"{path}.journal.1")
    before = segment.read_bytes()
    backend.write(
        Changes(
            deleted_jobs={"b"},
            jobs={"c": job("c")},
            states=state_line("a", run_count=5),
            state_count=1,
            history=[run("c", NOW + 1)],
            stats={"v": 1, "totals": {"runs": 2}},
        ),
        NOW + 1,
    )
    after = segment.read_bytes()
    backend._close_segment()
    backend._file_lock.release()
    first = {"a": job("a"), "b": job("b")}
    second = {"a": {**{k: v for k, v in job("a").items()}, "run_count": 5}, "c": job("c")}
    for cut in range(len(before), len(after) + 1):
        segment.write_bytes(after[:cut])
        state = JSONStorageBackend(path).read(Limits())
        if cut < len(after):  # the commit line is the batch's last: without its newline, no batch
            assert state.jobs == first, cut
            assert state.history == [run("a", NOW)] and state.stats == {}
        else:
            assert set(state.jobs) == {"a", "c"} and state.jobs["a"]["run_count"] == 5
            assert state.jobs["c"] == second["c"] and state.stats == {"v": 1, "totals": {"runs": 2}}
    # Opening (with the lock) a segment cut short: loads, and later writes go to a new segment.
    segment.write_bytes(after[: len(after) - 3])
    backend = JSONStorageBackend(path)
    assert backend.open(Limits()).jobs == first
    backend.write(Changes(jobs={"d": job("d")}), NOW + 2)
    backend.close()
    assert set(JSONStorageBackend(path).read(Limits()).jobs) == {"a", "b", "d"}


def test_a_bad_line_before_a_commit_is_a_damaged_file(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    backend = JSONStorageBackend(path, compact_min_bytes=1 << 40)
    backend.open(Limits())
    backend.write(Changes(jobs={"a": job("a")}), NOW)
    backend.write(Changes(jobs={"b": job("b")}), NOW)
    backend._close_segment()
    backend._file_lock.release()
    segment = Path(f"{path}.journal.1")
    lines = segment.read_bytes().split(b"\n")
    lines[1] = lines[1][:20]  # the first batch's job line, cut: the commit after it is the proof
    segment.write_bytes(b"\n".join(lines))
    with pytest.raises(StorageFormatError) as info:
        JSONStorageBackend(path).read(Limits())
    assert "state.json.journal.1 line 2:" in str(info.value) and "left as it is" in str(info.value)
    with pytest.raises(StorageFormatError, match=r"It was moved to .*state\.json\.journal\.1\.corrupt-"):
        JSONStorageBackend(path).open(Limits())
    assert not segment.exists()
    assert JSONStorageBackend(path).open(Limits()).jobs == {}


def test_a_missing_segment_is_a_damaged_file(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    backend = JSONStorageBackend(path, compact_min_bytes=1 << 40)
    backend.open(Limits())
    for name in "abc":  # one segment each
        backend.write(Changes(jobs={name: job(name)}), NOW)
        backend._close_segment()
    backend._file_lock.release()
    assert Path(f"{path}.journal.3").exists()
    Path(f"{path}.journal.2").unlink()
    with pytest.raises(
        StorageFormatError, match=r"journal segment state\.json\.journal\.3 follows segment 1"
    ):
        JSONStorageBackend(path).open(Limits())


# -- a crash at each step of a compaction ---------------------------------------------------------

_COMPACTING_WORKER = textwrap.dedent(
    """
    import sys
    from fastscheduler.stores import Changes, Limits
    from fastscheduler.stores.json_file import JSONStorageBackend
    NOW = 1_800_000_000.0
    backend = JSONStorageBackend(sys.argv[1], compact_min_bytes=0)
    backend.open(Limits())
    start = int(sys.argv[2])
    for i in range(start, start + 5):
        record = {"v": 1, "job_id": f"j{i}", "func_name": "f", "run_count": i}
        backend.write(Changes(jobs={f"j{i}": record}, history=[{"v": 1, "job_id": f"j{i}",
            "func_name": "f", "status": "completed", "timestamp": NOW + i}]), NOW + i)
        print(i, flush=True)
        if backend._compactor is not None:
            backend._compactor.join()  # the crash comes in the compactor: wait for it
    backend.close()
    """
)


@pytest.mark.parametrize("step", ["1", "2h", "2", "3", "4", "5"])
def test_a_kill_at_any_step_of_a_compaction_keeps_everything_written(tmp_path: Path, step: str) -> None:
    path = tmp_path / "state.json"
    env = {**os.environ, CRASH_ENV: step}
    acked: list[int] = []
    for start in (0, 5):  # twice: the second compaction has a snapshot to replace
        proc = subprocess.run(
            [sys.executable, "-c", _COMPACTING_WORKER, str(path), str(start)],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert proc.returncode == 86, proc.stderr  # the compactor died at that step
        acked += [int(x) for x in proc.stdout.split()]
        names = {p.name for p in tmp_path.iterdir()}
        backend = JSONStorageBackend(path)
        state = backend.open(Limits())
        # Everything acknowledged (a write may also have returned just before the kill, unprinted).
        loaded = sorted(int(j[1:]) for j in state.jobs)
        new = [i for i in loaded if i >= start]
        assert set(acked) <= set(loaded) and new == list(range(start, start + len(new)))
        assert [h["job_id"] for h in state.history] == [f"j{i}" for i in loaded]
        acked = loaded
        # What the compaction left behind is cleaned up once the state loaded.
        left = {p.name for p in tmp_path.iterdir()}
        assert "state.json.compact.tmp" not in left
        backend.close()
        if step in ("3", "4"):
            assert any(re.fullmatch(r"state\.json\.journal\.\d+", n) for n in names)
    # And the store goes on as if nothing happened.
    backend = JSONStorageBackend(path)
    backend.open(Limits())
    backend.write(Changes(jobs={"after": job("after")}), NOW + 20)
    backend.close()
    assert set(JSONStorageBackend(path).read(Limits()).jobs) == {*(f"j{i}" for i in acked), "after"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.json", "state.json.lock"]


# -- the version 1 file ---------------------------------------------------------------------------


def test_a_version_1_file_loads_and_is_migrated_at_the_first_write(tmp_path: Path) -> None:
    """tests/data/state_v1.json was written by fastscheduler at 7fe77fc (one document, rewritten
    whole): jobs of every kind (paused, finished, failing into dead letters), history, stats."""
    path = tmp_path / "state.json"
    shutil.copy(DATA / "state_v1.json", path)
    v1 = json.loads(path.read_text())
    assert v1["v"] == 1
    backend = JSONStorageBackend(path)
    state = backend.open(Limits())
    assert as_tuple(state) == (v1["jobs"], v1["history"], v1["dead_letters"], v1["stats"])
    assert path.read_text() == (DATA / "state_v1.json").read_text()  # loading changes nothing
    later = 1_780_000_100.0  # (history is kept for 7 days from the write's time)
    backend.write(Changes(history=[run("ten", later)]), later)
    assert backend._compactor is not None  # the first write migrates
    backend._compactor.join()
    text = path.read_text()
    assert text.startswith('{"v":2,"covers":1,') and len(text.splitlines()) > 10  # a record a line
    backend.close()
    migrated = JSONStorageBackend(path).read(Limits())
    assert migrated.jobs == v1["jobs"] and migrated.history == [*v1["history"], run("ten", later)]
    assert migrated.dead_letters == v1["dead_letters"] and migrated.stats == v1["stats"]


def test_a_scheduler_restarts_from_a_version_1_file(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    shutil.copy(DATA / "state_v1.json", path)
    v1 = json.loads(path.read_text())
    clock = ManualClock(1_780_000_065.0)  # when the file was written
    s = FastScheduler(state_file=str(path), quiet=True, clock=clock)
    s.every(10).seconds.id("ten").do(tick)
    s.every(60).seconds.id("paused").do(tick)
    s.cron("*/5 * * * *", tz="Europe/Paris").id("cron").do(tick)
    s.once(5).id("once").do(tick)
    s.every(30).seconds.id("fails").retries(1).do(boom)
    s.start()
    jobs = {j["job_id"]: j for j in s.get_jobs()}
    for job_id, stored in v1["jobs"].items():
        assert jobs[job_id]["run_count"] == stored["run_count"], job_id
        assert jobs[job_id]["paused"] == stored["paused"]
    assert s.get_statistics()["total_runs"] == v1["stats"]["totals"]["runs"]
    clock.advance(10)
    s.stop()
    after = JSONStorageBackend(path).read(Limits())
    assert after.jobs["ten"]["run_count"] == v1["jobs"]["ten"]["run_count"] + 1
    assert json.loads(path.read_text())["v"] == json_file.FILE_FORMAT


# -- kill -9 at random moments, compactions included ----------------------------------------------

_RUNNING_WORKER = textwrap.dedent(
    """
    import sys, time
    from fastscheduler import EventType, FastScheduler
    from fastscheduler.stores.json_file import JSONStorageBackend
    store = JSONStorageBackend(sys.argv[1], compact_min_bytes=32 << 10, flush_interval=0.05)
    s = FastScheduler(storage=store, quiet=True, max_history=200, max_workers=4)
    def on(event):
        if event.type is EventType.STATE_SAVED and event.data["total_runs"] is not None:
            print(event.data["total_runs"], store.compactions, flush=True)
    for i in range(300):
        s.every(0.05).seconds.do(len, [i])
    s.subscribe(on)
    s.start()
    time.sleep(60)
    """
)


def test_kill_9_at_random_moments_with_compactions_loses_no_acknowledged_run(tmp_path: Path) -> None:
    """The worker compacts every few writes; killed at random moments (a fixed seed under CI),
    the state always loads, holds every job, and counts at least the runs of its last completed
    flush (the state_saved event)."""
    path = tmp_path / "state.json"
    rng = random.Random(14 if os.environ.get("CI") == "true" else None)
    compactions = 0
    for _ in range(6):
        proc = subprocess.Popen(
            [sys.executable, "-c", _RUNNING_WORKER, str(path)], stdout=subprocess.PIPE, text=True
        )
        assert proc.stdout is not None
        lines: list[str] = []
        reader = threading.Thread(target=lines.extend, args=(proc.stdout,), daemon=True)
        reader.start()
        deadline = time.monotonic() + 30
        while not lines and time.monotonic() < deadline:  # up and saving
            time.sleep(0.02)
        time.sleep(rng.uniform(0.0, 1.5))
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        reader.join(5)
        proc.stdout.close()
        fields = [x.split() for x in lines if x.endswith("\n")]  # (the last one may be cut short)
        assert fields, "the worker saved nothing"
        acked = max(int(f[0]) for f in fields)
        compactions += max(int(f[1]) for f in fields)
        backend = JSONStorageBackend(path)
        state = backend.open(Limits(max_history=200))  # loads: never damaged
        backend.close()
        assert len(state.jobs) == 300
        assert state.stats["totals"]["runs"] >= acked
        assert len(state.history) <= 200
    assert compactions >= 3  # the kills did land among compactions


# -- records serialised in Rust are the records Python makes --------------------------------------


class Tag(int):
    """An int subclass (arguments of it take Rust's path as ints)."""


def test_job_records_and_states_from_rust_equal_the_python_records(tmp_path: Path) -> None:
    """Every kind of job, option and argument: what the store holds after the Rust-made journal
    lines (whole records at the first save, states after runs) equals ``JobState.store_record``."""
    path = tmp_path / "state.json"
    clock = ManualClock(NOW)
    s = FastScheduler(state_file=str(path), quiet=True, clock=clock)
    s.every(10).seconds.do(tick)
    s.every(10).seconds.name("named").do(tick, 1, "two", 3.5, None, True, Tag(7))
    s.every(11).seconds.do(tick, float("nan"))  # (Python's path: not strict JSON)
    s.every(12).seconds.do(tick, 2**70)  # (Python's path: beyond 64 bits)
    s.every(13).seconds.do(tick, [1, 2], x="y")  # (Python's path: a list, keyword arguments)
    s.every(14).seconds.do(tick, object())  # (arguments that are not JSON: null)
    s.cron("*/5 * * * *", tz="Europe/Paris").timeout(30).no_catch_up().retries(0).do(tick, "jöb ✓")
    s.every(15).seconds.timeout(5, kill=True).id('odd "id" \\ \u2028').do(tick)
    s.once(5).do(tick)
    s.every(30).seconds.id("fails").retries(1).do(boom)
    paused = s.daily.at("09:00").do(tick)
    s.start()
    s.pause_job(paused)
    clock.advance(65)
    s.stop()
    state = s._rt.state
    stored = JSONStorageBackend(path).read(Limits()).jobs
    for job in state.registry:
        expected = json.loads(json.dumps(state.store_record(job)))  # (tuples become lists)
        got = stored[job.job_id]
        if job.args and isinstance(job.args[0], float):  # NaN != NaN
            assert json.dumps(got, sort_keys=True) == json.dumps(expected, sort_keys=True)
        else:
            assert got == expected, job.job_id
    assert len(stored) == len(state.registry)

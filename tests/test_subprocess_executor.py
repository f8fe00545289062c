"""``.timeout(s, kill=True)``: runs in a forked child that is really killed at the deadline."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from fastscheduler import EventType, FastScheduler
from fastscheduler.events import Event

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="kill=True needs os.fork")


@pytest.fixture
def sched() -> Iterator[FastScheduler]:
    s = FastScheduler(quiet=True)
    yield s
    s.stop(wait=True, timeout=10)


def _finished(sched: FastScheduler, n: int = 1) -> threading.Event:
    """Set once ``n`` runs have finished (succeeded, failed or retrying)."""
    done = threading.Event()
    seen: list[Event] = []
    kinds = {EventType.JOB_SUCCEEDED, EventType.JOB_FAILED, EventType.JOB_RETRYING}

    def on(event: Event) -> None:
        if event.type in kinds:
            seen.append(event)
            if len(seen) >= n:
                done.set()

    sched.subscribe(on)
    return done


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_an_overrunning_job_is_killed_at_its_deadline(sched: FastScheduler, tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"

    def stuck() -> None:
        pid_file.write_text(str(os.getpid()))
        time.sleep(60)  # an uninterruptible wait, as far as a thread is concerned

    job_id = sched.every(1).hours.timeout(0.5, kill=True).retries(0).do(stuck)
    done = _finished(sched)
    sched.start()
    t0 = time.monotonic()
    sched.run_job_now(job_id)
    assert done.wait(10)
    elapsed = time.monotonic() - t0
    assert 0.5 <= elapsed < 3, elapsed
    child = int(pid_file.read_text())
    assert child != os.getpid()
    assert not _alive(child), "the job's process is still running"
    [entry] = sched.get_history()
    assert entry.status == "failed"
    assert entry.error == "TimeoutError: timed out after 0.5 s; the job's process was killed"
    [letter] = sched.get_dead_letters()
    assert letter.error_type == "TimeoutError"


def test_outcomes_come_back_from_the_child(sched: FastScheduler, tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    secret = threading.Lock()  # unpicklable: the job function need not be picklable (fork)

    def ok() -> None:
        with secret:
            marker.write_text("yes")

    def fails() -> None:
        raise KeyError("missing-key")

    class Unpicklable(Exception):
        def __reduce__(self) -> str | tuple[object, ...]:
            raise TypeError("no")

    def fails_oddly() -> None:
        raise Unpicklable("odd")

    def exits() -> None:
        os._exit(3)

    async def coro() -> None:
        raise ValueError("from async")

    ids = [
        sched.every(1).hours.timeout(10, kill=True).retries(0).do(f)
        for f in (ok, fails, fails_oddly, exits, coro)
    ]
    done = _finished(sched, len(ids))
    sched.start()
    for job_id in ids:
        sched.run_job_now(job_id)
    assert done.wait(20)
    assert marker.read_text() == "yes"
    by_func = {e.func_name: e for e in sched.get_history(limit=10)}
    assert by_func["ok"].status == "completed"
    assert by_func["fails"].error == "KeyError: 'missing-key'"
    assert by_func["fails_oddly"].error is not None
    assert by_func["fails_oddly"].error.startswith("JobProcessError: Traceback")
    assert "Unpicklable: odd" in by_func["fails_oddly"].error
    assert by_func["exits"].error == (
        "JobProcessError: the job's process exited with code 3 before reporting an outcome"
    )
    assert by_func["coro"].error == "ValueError: from async"
    letters = {d.func_name: d for d in sched.get_dead_letters()}
    # The child's traceback travels with the exception (a note), so the dead letter shows the job's line.
    assert "raise KeyError" in letters["fails"].traceback

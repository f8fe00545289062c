"""``stop(wait=True, timeout=t)``: one deadline of ``t`` seconds for every stage of stopping (the
engine thread, the worker threads, the job processes, the event loop, the finisher, the store), and
no run's outcome lost, whether it ended in time, was cancelled at the deadline or ends later.

These measure ``stop()`` itself, so they run on the real clock; the jobs block on events, not on
long sleeps, and a test takes about its ``timeout``."""

from __future__ import annotations

import asyncio
import os
import threading
import time
from pathlib import Path

import pytest

from fastscheduler import FastScheduler

needs_fork = pytest.mark.skipif(not hasattr(os, "fork"), reason="kill=True needs os.fork")


def _wait(condition: object, what: str, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


def _outcomes(sched: FastScheduler) -> dict[str, tuple[str, str | None]]:
    """Each job's recorded outcome (by name): status and error."""
    return {h.func_name: (h.status, h.error) for h in sched.get_history()}


def _finishers() -> int:
    return sum(t.name == "fastscheduler-finisher" for t in threading.enumerate())


@needs_fork
def test_the_timeout_is_one_deadline_for_every_stage(tmp_path: Path) -> None:
    # Before: 1 s for the worker threads, then an unbounded wait for the job process, then 1 s
    # for the event loop, then 1 s for the finisher.
    sched = FastScheduler(state_file=str(tmp_path / "state.json"), quiet=True)
    release = threading.Event()
    sync_started, async_started, async_cleaned_up = threading.Event(), threading.Event(), threading.Event()
    proc_started = tmp_path / "proc-started"

    @sched.once(0.01).retries(0)
    def sync_job() -> None:
        sync_started.set()
        release.wait(10)

    @sched.once(0.01).retries(0)
    async def async_job() -> None:
        async_started.set()
        try:
            await asyncio.Event().wait()  # forever, unless cancelled
        finally:
            async_cleaned_up.set()

    @sched.once(0.01).timeout(30, kill=True).retries(0)
    def process_job() -> None:
        proc_started.touch()
        time.sleep(30)

    sched.start()
    assert sync_started.wait(5) and async_started.wait(5)
    _wait(proc_started.exists, "the job's process to start")
    before = _finishers()
    t = time.monotonic()
    sched.stop(wait=True, timeout=1)
    elapsed = time.monotonic() - t
    try:
        assert 1.0 <= elapsed < 1.6, elapsed
        # Cancelled (the async run, and its finally block runs) and killed (the process) at the
        # deadline, and recorded as failed moments later.
        _wait(lambda: {"async_job", "process_job"} <= set(_outcomes(sched)), "their outcomes")
        assert async_cleaned_up.wait(5)
        outcomes = _outcomes(sched)
        assert outcomes["async_job"] == (
            "failed",
            "CancelledError: cancelled: the scheduler stopped before the run ended",
        )
        assert outcomes["process_job"][0] == "failed"
        assert "killed by signal 9" in (outcomes["process_job"][1] or "")
        assert "sync_job" not in outcomes  # still running: Python cannot stop a thread
    finally:
        release.set()
    # The sync run ends later and is recorded then; the finisher then ends too.
    _wait(lambda: "sync_job" in _outcomes(sched), "the sync run's outcome")
    assert _outcomes(sched)["sync_job"] == ("completed", None)
    _wait(lambda: _finishers() < before, "the finisher to end")


def test_an_awaited_stop_has_one_deadline_too() -> None:
    # Inside the application's loop (a FastAPI lifespan). Before: 1 s for the async run, then in
    # a thread 1 s for the sync run, 1 s for the async run again and 1 s for the finisher.
    release = threading.Event()
    elapsed: list[float] = []

    async def main() -> FastScheduler:
        sched = FastScheduler(storage="memory", quiet=True)
        sync_started, async_started = threading.Event(), asyncio.Event()

        @sched.once(0.01).retries(0)
        def sync_job() -> None:
            sync_started.set()
            release.wait(10)

        @sched.once(0.01).retries(0)
        async def async_job() -> None:
            async_started.set()
            await asyncio.Event().wait()

        sched.start()
        await asyncio.wait_for(async_started.wait(), 5)
        assert await asyncio.to_thread(sync_started.wait, 5)
        t = time.monotonic()
        await sched.stop(wait=True, timeout=1)
        elapsed.append(time.monotonic() - t)
        return sched

    try:
        sched = asyncio.run(main())
        assert 1.0 <= elapsed[0] < 1.6, elapsed
        _wait(lambda: "async_job" in _outcomes(sched), "the async run's outcome")
        assert _outcomes(sched)["async_job"][0] == "failed"
    finally:
        release.set()
    _wait(lambda: "sync_job" in _outcomes(sched), "the sync run's outcome")


@pytest.mark.parametrize("kill", [False, True], ids=["threads-and-loop", "with-a-process"])
def test_runs_that_end_within_the_deadline_are_all_recorded_and_saved(tmp_path: Path, kill: bool) -> None:
    if kill and not hasattr(os, "fork"):
        pytest.skip("kill=True needs os.fork")
    state = str(tmp_path / "state.json")
    sched = FastScheduler(state_file=state, quiet=True)
    started = threading.Barrier(3, timeout=5)  # the sync run, the async run and this test

    @sched.once(0.01)
    def sync_job() -> None:
        started.wait()
        time.sleep(0.3)

    @sched.once(0.01)
    async def async_job() -> None:
        await asyncio.to_thread(started.wait)
        await asyncio.sleep(0.3)

    expected = {"sync_job": ("completed", None), "async_job": ("completed", None)}
    if kill:

        @sched.once(0.01).timeout(30, kill=True)
        def process_job() -> None:
            time.sleep(0.3)

        expected["process_job"] = ("completed", None)
    sched.start()
    started.wait()
    t = time.monotonic()
    sched.stop(wait=True, timeout=5)
    assert time.monotonic() - t < 2.0  # it returns when they end, not at the deadline
    assert _outcomes(sched) == expected
    # ... and saved before stop() returned.
    reopened = FastScheduler(state_file=state, quiet=True)
    reopened.start()
    try:
        assert _outcomes(reopened) == expected
    finally:
        reopened.stop()


def test_stop_without_wait_records_async_runs_as_cancelled() -> None:
    # Before: the owned loop was stopped under the run, which never reported; the scheduler
    # counted it in flight for ever, and its finisher thread never ended.
    sched = FastScheduler(storage="memory", quiet=True)
    started, cleaned_up = threading.Event(), threading.Event()

    @sched.once(0.01).retries(0)
    async def async_job() -> None:
        started.set()
        try:
            await asyncio.Event().wait()
        finally:
            cleaned_up.set()

    before = _finishers()
    sched.start()
    assert started.wait(5)
    t = time.monotonic()
    sched.stop(wait=False)
    assert time.monotonic() - t < 0.5
    _wait(lambda: _outcomes(sched) != {}, "the run's outcome")
    assert _outcomes(sched) == {
        "async_job": ("failed", "CancelledError: cancelled: the scheduler stopped before the run ended")
    }
    _wait(cleaned_up.is_set, "the job's finally block")
    _wait(lambda: _finishers() <= before, "the finisher to end")
    assert sched._rt.inflight.count == 0

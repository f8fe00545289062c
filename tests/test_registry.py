"""The job registry (in Rust): ids spelled out on demand, lookups by id, cancellation, GC-free job
records, lock-free registration before start() and what ends it."""

from __future__ import annotations

import functools
import gc
import threading

import pytest

from fastscheduler import FastScheduler, ManualClock
from fastscheduler.events import EventType

T0 = 1_780_000_000.0


@pytest.fixture
def sched() -> FastScheduler:
    return FastScheduler(quiet=True, clock=ManualClock(T0))


def work(i: int = 0) -> None:
    pass


def test_every_series_id_is_found_and_cancelled_ones_are_gone(sched: FastScheduler) -> None:
    ids = [sched.every(10).seconds.do(work, i) for i in range(5)]
    assert ids[0] == f"{__name__}.work:every:10s"
    assert ids[3] == ids[0] + "#4"
    for job_id in ids:
        record = sched.get_job(job_id)
        assert record is not None and record["job_id"] == job_id
    assert sched.cancel_job(ids[2])
    assert sched.get_job(ids[2]) is None
    assert not sched.cancel_job(ids[2])
    assert [j["job_id"] for j in sched.get_jobs()] == [ids[0], ids[1], ids[3], ids[4]]
    # Numbers are never reused: the next registration is #6, not #3.
    assert sched.every(10).seconds.do(work, 9) == ids[0] + "#6"
    for bogus in (ids[0] + "#0", ids[0] + "#03", ids[0] + "#7", ids[0] + "#", "nope", "nope#2"):
        assert sched.get_job(bogus) is None, bogus


def test_an_explicit_id_that_looks_generated_is_skipped_not_merged(sched: FastScheduler) -> None:
    first = sched.every(10).seconds.do(work)
    sched.every(10).seconds.id(first + "#2").do(work)
    third = sched.every(10).seconds.do(work)
    assert third == first + "#3"
    assert {j["job_id"] for j in sched.get_jobs()} == {first, first + "#2", third}
    with pytest.raises(ValueError, match="is already registered"):
        sched.every(1).seconds.id(third).do(work)


def test_unhashable_callables_register(sched: FastScheduler) -> None:
    class Unhashable:
        __hash__ = None  # type: ignore[assignment]
        __name__ = "unhashable"

        def __call__(self) -> None:
            pass

    a = sched.every(10).seconds.do(Unhashable())
    b = sched.every(10).seconds.do(Unhashable())
    assert b == a + "#2"


def test_partial_and_async_callables_are_classified(sched: FastScheduler) -> None:
    async def coro() -> None:
        pass

    sched.every(10).seconds.do(functools.partial(coro))
    sched.every(10).seconds.do(coro)
    sched.every(10).seconds.do(functools.partial(work, 1))
    assert [j.is_async for j in sched._jobs] == [True, True, False]


def test_job_records_are_not_tracked_by_the_cycle_collector(sched: FastScheduler) -> None:
    sched.every(10).seconds.do(work, 1)
    (job,) = list(sched._jobs)
    assert not gc.is_tracked(job)
    assert job.args == (1,) and job.kwargs == {} and job.key is None


def test_builders_are_shared_values(sched: FastScheduler) -> None:
    # Equal builders are one object (an immutable value): reuse never leaks options between chains.
    assert sched.every(10) is sched.every(10)
    assert sched.every(10).seconds is sched.every(10).seconds
    assert sched.every(10) is not sched.every(10.5)
    named = sched.every(10).seconds.name("a")
    assert sched.every(10).seconds.build().name is None and named.build().name == "a"
    with pytest.raises(TypeError, match="every\\(n\\) must be a number"):
        sched.every(True)  # type: ignore[arg-type]  # equal to 1, but not a number here


def test_registering_before_start_skips_the_lock_only_while_nobody_listens(sched: FastScheduler) -> None:
    # Stopped and no subscriber: builders register through the registry alone (Registry.try_add).
    assert sched._jobs.quiet
    got: list[tuple[EventType, str | None]] = []
    # A subscriber of the broker itself (not through scheduler.subscribe) is noticed too.
    unsubscribe = sched.events.subscribe(lambda e: got.append((e.type, e.job_id)))
    assert not sched._jobs.quiet
    job_id = sched.every(10).seconds.do(work, 1)
    assert got == [(EventType.JOB_ADDED, job_id)]
    unsubscribe()
    assert sched._jobs.quiet
    sched.every(10).seconds.do(work, 2)
    assert len(got) == 1
    sched.start()
    try:
        assert not sched._jobs.quiet  # running: registrations take the lock and arm their job
        armed = sched.every(10).seconds.do(work, 3)
        (job,) = [j for j in sched._jobs if j.job_id == armed]
        assert job.key is not None
    finally:
        sched.stop()
    assert sched._jobs.quiet


def test_keyword_arguments_are_kept(sched: FastScheduler) -> None:
    sched.every(10).seconds.do(work, i=3)
    (job,) = list(sched._jobs)
    assert job.args == () and job.kwargs == {"i": 3}


def test_threads_registering_at_once_get_every_number_once(sched: FastScheduler) -> None:
    per_thread, threads = 5_000, 4
    ids: list[list[str]] = [[] for _ in range(threads)]
    go = threading.Barrier(threads)

    def register(k: int) -> None:
        go.wait()
        ids[k].extend(sched.every(10).seconds.do(work, i) for i in range(per_thread))

    workers = [threading.Thread(target=register, args=(k,)) for k in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    base = f"{__name__}.work:every:10s"
    expected = {base} | {f"{base}#{n}" for n in range(2, per_thread * threads + 1)}
    assert {i for chunk in ids for i in chunk} == expected
    assert len(sched._jobs) == per_thread * threads


def test_a_job_registered_while_start_runs_is_armed() -> None:
    # start() takes the registry out of its lock-free mode before it arms the registered jobs, so
    # a registration racing it is either armed by start() or takes the locked path and arms itself.
    for _ in range(3):
        sched = FastScheduler(quiet=True, storage="memory", clock=ManualClock(T0))
        halfway = threading.Event()

        def register(s: FastScheduler = sched, half: threading.Event = halfway) -> None:
            for i in range(100_000):  # long enough to still run when start() arms the jobs
                s.every(10).seconds.do(work, i)
                if i == 2_000:
                    half.set()

        t = threading.Thread(target=register)
        t.start()
        halfway.wait()
        sched.start()
        t.join()
        try:
            unarmed = [j.job_id for j in sched._jobs if j.key is None]
            assert len(sched._jobs) == 100_000 and unarmed == []
        finally:
            sched.stop()

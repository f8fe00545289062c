"""The job registry: ids spelled out on demand, lookups by id, cancellation, GC-free job records."""

from __future__ import annotations

import functools
import gc

import pytest

from fastscheduler import FastScheduler, ManualClock

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

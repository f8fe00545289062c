"""FastScheduler behaviour, on a manual clock where timing is the point."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from fastscheduler import EventType, FastScheduler, ManualClock

T0 = 1_780_000_000.0  # 2026-05-28T20:26:40Z


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


@pytest.fixture
def sched(clock: ManualClock) -> Iterator[FastScheduler]:
    s = FastScheduler(quiet=True, clock=clock)
    yield s
    s.stop(wait=True, timeout=5)


def test_interval_is_fixed_rate_on_its_grid(sched: FastScheduler, clock: ManualClock) -> None:
    seen: list[float] = []

    @sched.every(10).seconds
    def tick() -> None:
        seen.append(clock.now())

    sched.start()
    clock.advance(35)
    assert seen == [T0 + 10, T0 + 20, T0 + 30]
    job = sched.get_jobs()[0]
    assert job["run_count"] == 3
    assert job["next_run_timestamp"] == T0 + 40
    assert job["status"] == "scheduled"


def test_decorator_returns_the_function_and_two_decorators_make_two_jobs(sched: FastScheduler) -> None:
    @sched.every(5).minutes
    @sched.daily.at("09:00")
    def report() -> str:
        return "ok"

    assert report() == "ok"
    ids = sorted(j["job_id"] for j in sched.get_jobs())
    assert len(ids) == 2 and len(set(ids)) == 2
    assert all("report" in i for i in ids)


def test_ids_are_stable_and_distinct_in_registration_order() -> None:
    def make() -> list[str]:
        s = FastScheduler(quiet=True, clock=ManualClock(T0))

        def work(i: int) -> None:
            pass

        return [s.every(1).minutes.do(work, i) for i in range(3)]

    first, second = make(), make()
    assert first == second  # same code, same ids: what a restart needs
    assert len(set(first)) == 3
    assert first[1] == first[0] + "#2" and first[2] == first[0] + "#3"


def test_explicit_id_collision_is_an_error(sched: FastScheduler) -> None:
    sched.every(1).minutes.id("sync").do(lambda: None)
    with pytest.raises(ValueError, match="'sync' is already registered"):
        sched.every(2).minutes.id("sync").do(lambda: None)


def test_retries_follow_backoff_and_dead_letter_once(sched: FastScheduler, clock: ManualClock) -> None:
    attempts: list[float] = []

    @sched.once(5).retries(2)
    def flaky() -> None:
        attempts.append(clock.now())
        raise RuntimeError("gateway down")

    sched.start()
    clock.advance(60)
    # first attempt at +5, then retries after 2 s and 4 s (Backoff defaults)
    assert attempts == [T0 + 5, T0 + 7, T0 + 11]
    letters = sched.get_dead_letters()
    assert len(letters) == 1
    dl = letters[0]
    assert (dl.error_type, dl.error_message, dl.attempts) == ("RuntimeError", "gateway down", 3)
    assert dl.executed_at == T0 + 11 and dl.first_attempt_at == T0 + 5
    assert "RuntimeError: gateway down" in dl.traceback
    # The original's dict keys, as 0.2.x filled them in.
    assert dl["error"] == "Max retries exceeded: RuntimeError: gateway down" and dl["attempts"] == 3
    assert (dl["status"], dl["retry_count"], dl["timestamp"]) == ("failed", 2, T0 + 11)
    assert dl["run_count"] == 1 and dl["execution_time"] is not None and dl["timestamp_readable"]
    stats = sched.get_statistics()
    # one run (a fire and its retries), three attempts, a failure (dead-lettered), two retries
    assert (stats["total_runs"], stats["total_failures"], stats["total_retries"]) == (1, 1, 2)
    assert stats["total_attempts"] == 3
    assert sched.clear_dead_letters() == 1 and sched.get_dead_letters() == []


def test_system_exit_in_a_job_is_a_failed_run_not_a_removed_job(
    sched: FastScheduler, clock: ManualClock
) -> None:
    @sched.every(10).seconds.retries(0)
    def bye() -> None:
        raise SystemExit(3)

    sched.start()
    clock.advance(25)
    jobs = sched.get_jobs()
    assert len(jobs) == 1 and jobs[0]["run_count"] == 2 and jobs[0]["failure_count"] == 2
    assert [d.error_type for d in sched.get_dead_letters()] == ["SystemExit", "SystemExit"]


def test_pause_keeps_the_schedule_and_resume_waits_for_the_next_slot(
    sched: FastScheduler, clock: ManualClock
) -> None:
    seen: list[float] = []
    job_id = sched.every(10).seconds.do(lambda: seen.append(clock.now()))
    sched.start()
    clock.advance(10)
    assert sched.pause_job(job_id)
    assert sched.get_job(job_id)["status"] == "paused"  # type: ignore[index]
    clock.advance(25)  # t = 35: fires at 20 and 30 skipped
    assert seen == [T0 + 10]
    assert sched.resume_job(job_id)
    assert sched.get_job(job_id)["next_run_timestamp"] == T0 + 40  # type: ignore[index]
    clock.advance(10)
    assert seen == [T0 + 10, T0 + 40]
    assert not sched.pause_job("nope") and not sched.resume_job("nope")


def test_a_job_paused_before_start_stays_paused_once_armed(sched: FastScheduler, clock: ManualClock) -> None:
    seen: list[float] = []
    job_id = sched.every(10).seconds.do(lambda: seen.append(clock.now()))
    other = sched.every(10).seconds.do(lambda: None)
    assert sched.pause_job(job_id) and sched.pause_job(other) and sched.resume_job(other)
    assert sched.get_job(job_id)["paused"] and not sched.get_job(other)["paused"]  # type: ignore[index]
    assert sched.get_statistics()["active_jobs"] == 1
    sched.start()
    clock.advance(25)
    assert seen == [] and sched.get_job(job_id)["status"] == "paused"  # type: ignore[index]
    assert sched.get_job(other)["run_count"] == 2  # type: ignore[index]
    assert sched.resume_job(job_id)
    clock.advance(10)
    assert seen == [T0 + 30]


def test_run_job_now_adds_one_run_and_leaves_every_schedule_alone(
    sched: FastScheduler, clock: ManualClock
) -> None:
    a: list[float] = []
    b: list[float] = []
    ja = sched.every(10).seconds.do(lambda: a.append(clock.now()))
    sched.every(7).seconds.do(lambda: b.append(clock.now()))
    sched.start()
    clock.advance(3)
    assert sched.run_job_now(ja)
    sched._wait_idle(5)
    assert a == [T0 + 3]
    clock.advance(17)  # to t = 20
    assert a == [T0 + 3, T0 + 10, T0 + 20]
    assert b == [T0 + 7, T0 + 14]
    assert not sched.run_job_now("missing")


def test_overlapping_run_is_skipped_and_recorded_missed(clock: ManualClock) -> None:
    clock.wait_for_runs = False
    sched = FastScheduler(quiet=True, clock=clock)
    release = threading.Event()
    started = threading.Event()

    @sched.every(10).seconds
    def slow() -> None:
        started.set()
        release.wait(5)

    sched.start()
    try:
        clock.advance(10)
        assert started.wait(5)
        job = sched.get_jobs()[0]
        assert job["status"] == "running"  # a running job stays visible
        clock.advance(10)  # next fire while still running
        history = sched.get_history()
        assert history[0].status == "missed" and "still running" in (history[0].error or "")
        assert sched.get_statistics()["total_missed"] == 1
    finally:
        release.set()
        sched.stop(wait=True, timeout=5)


def test_coalesced_catch_up_and_no_catch_up(sched: FastScheduler, clock: ManualClock) -> None:
    seen: dict[str, int] = {"catch": 0, "skip": 0}
    sched.every(10).seconds.do(lambda: seen.__setitem__("catch", seen["catch"] + 1))
    sched.every(10).seconds.no_catch_up().do(lambda: seen.__setitem__("skip", seen["skip"] + 1))
    sched.start()
    # The process was "asleep" for 45 s: the engine sees both jobs 3 fires late at once.
    clock.set(T0 + 45)
    sched._rt.engine.run_due(T0 + 45)
    sched._wait_idle(5)
    assert seen == {"catch": 1, "skip": 0}  # coalesced into one run; none with no_catch_up
    assert sched.get_statistics()["total_missed"] >= 6


def test_cancel_and_cancel_by_name(sched: FastScheduler, clock: ManualClock) -> None:
    def beat() -> None:
        pass

    j1 = sched.every(1).minutes.do(beat)
    sched.every(2).minutes.do(beat)
    sched.every(3).minutes.name("other").do(beat)
    assert sched.cancel_job(j1) and not sched.cancel_job(j1)
    assert sched.cancel_job_by_name("beat") == 1
    assert [j["name"] for j in sched.get_jobs()] == ["other"]


def test_history_is_bounded_and_success_rate_is_right(clock: ManualClock) -> None:
    sched = FastScheduler(quiet=True, clock=clock, max_history=5)
    n = {"i": 0}

    @sched.every(1).seconds.retries(0)
    def sometimes() -> None:
        n["i"] += 1
        if n["i"] % 4 == 0:
            raise ValueError("every fourth")

    sched.start()
    clock.advance(20)
    sched.stop()
    assert len(sched.get_history(limit=100)) == 5
    stats = sched.get_statistics()
    assert stats["total_runs"] == 20 and stats["total_failures"] == 5
    assert stats["success_rate"] == pytest.approx(75.0)
    assert stats["per_job"]["sometimes"] == {"completed": 15, "failed": 5, "total_runs": 20}
    assert [e.func_name for e in sched.get_history(func_name="sometimes", limit=2)] == ["sometimes"] * 2


def test_events_are_published(sched: FastScheduler, clock: ManualClock) -> None:
    got: list[EventType] = []
    sched.subscribe(lambda e: None if e.type is EventType.STATE_SAVED else got.append(e.type))
    jid = sched.every(10).seconds.do(lambda: None)
    sched.start()
    clock.advance(10)
    sched.pause_job(jid)
    sched.resume_job(jid)
    sched.cancel_job(jid)
    cleared: list[object] = []
    sched.subscribe(lambda e: cleared.append(e.data) if e.type is EventType.DEAD_LETTERS_CLEARED else None)
    assert sched.clear_dead_letters() == 0
    sched.stop()
    assert got == [
        EventType.JOB_ADDED,
        EventType.SCHEDULER_STARTED,
        EventType.JOB_STARTED,
        EventType.JOB_SUCCEEDED,
        EventType.JOB_PAUSED,
        EventType.JOB_RESUMED,
        EventType.JOB_REMOVED,
        EventType.DEAD_LETTERS_CLEARED,
        EventType.SCHEDULER_STOPPED,
    ]
    assert cleared == [{"cleared": 0}]


def test_stop_then_start_runs_again(sched: FastScheduler, clock: ManualClock) -> None:
    seen: list[float] = []
    sched.every(10).seconds.do(lambda: seen.append(clock.now()))
    sched.start()
    clock.advance(10)
    sched.stop()
    sched.start()
    clock.advance(10)
    assert seen == [T0 + 10, T0 + 20]


def _finishers() -> int:
    return sum(t.name == "fastscheduler-finisher" for t in threading.enumerate())


def test_a_stopped_scheduler_holds_no_thread_and_is_freed() -> None:
    # Each started scheduler used to keep its finisher thread, and the exit hook of the main
    # thread held it too: every scheduler ever started stayed alive with all its jobs.
    import gc
    import weakref

    gc.collect()
    before = _finishers()
    refs = []
    for _ in range(5):
        s = FastScheduler(storage="memory", quiet=True)
        ran = threading.Event()
        for i in range(100):
            s.every(3600).seconds.do(print, i)
        s.once(0.01).do(ran.set)
        s.start()
        assert ran.wait(5)
        s.stop(wait=True)
        refs.append(weakref.ref(s))
        del s
    deadline = time.monotonic() + 5
    while _finishers() > before and time.monotonic() < deadline:
        time.sleep(0.01)
    assert _finishers() == before
    gc.collect()
    assert [r() for r in refs] == [None] * 5


def test_runs_after_stop_are_still_recorded() -> None:
    # stop(wait=False) with a run in flight: its outcome is recorded after stop() returned, then
    # the finisher ends; a run-now of the stopped scheduler starts a new one and is recorded too.
    s = FastScheduler(storage="memory", quiet=True)
    release = threading.Event()
    started = threading.Event()

    def slow() -> None:
        started.set()
        release.wait(5)

    job_id = s.once(0.01).do(slow)
    s.start()
    assert started.wait(5)
    s.stop(wait=False)
    release.set()
    deadline = time.monotonic() + 5
    while not s.get_history() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert [(h.job_id, h.status) for h in s.get_history()] == [(job_id, "completed")]
    ran = threading.Event()
    other = s.every(3600).seconds.do(ran.set)
    assert s.run_job_now(other)
    assert ran.wait(5)
    while len(s.get_history()) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert sorted(h.job_id for h in s.get_history()) == sorted([job_id, other])


def test_storage_argument_is_validated() -> None:
    with pytest.raises(
        ValueError, match=r"Unknown storage backend: 'redis'\. Use 'json', 'sqlmodel', 'memory'"
    ):
        FastScheduler(storage="redis")


# ---------------------------------------------------------------------------- real time


def test_sync_timeout_is_reported_at_the_deadline_not_when_the_job_ends() -> None:
    sched = FastScheduler(quiet=True)
    done = threading.Event()

    @sched.once(0.05).timeout(0.2).retries(0)
    def hang() -> None:
        time.sleep(1.5)

    sched.subscribe(lambda e: done.set() if e.type is EventType.JOB_DEAD_LETTERED else None)
    t = time.monotonic()
    sched.start()
    try:
        assert done.wait(5)
        elapsed = time.monotonic() - t
        assert elapsed < 1.0, elapsed  # reported at ~0.25 s, long before the 1.5 s sleep ends
        letter = sched.get_dead_letters()[0]
        assert letter.error_type == "TimeoutError"
    finally:
        sched.stop(wait=False)


def test_async_jobs_run_on_the_applications_loop_and_timeouts_cancel() -> None:
    loops: list[asyncio.AbstractEventLoop] = []
    cancelled = threading.Event()

    async def main() -> None:
        sched = FastScheduler(quiet=True)

        @sched.every(0.05).seconds
        async def on_loop() -> None:
            loops.append(asyncio.get_running_loop())

        @sched.once(0.05).timeout(0.1).retries(0)
        async def too_slow() -> None:
            try:
                await asyncio.sleep(5)
            except asyncio.CancelledError:
                cancelled.set()
                raise

        lettered = threading.Event()
        sched.subscribe(lambda e: lettered.set() if e.type is EventType.JOB_DEAD_LETTERED else None)
        sched.start()
        for _ in range(100):  # up to 5 s on a loaded machine; ~0.15 s normally
            if lettered.is_set() and len(loops) >= 2:
                break
            await asyncio.sleep(0.05)
        await sched.stop(wait=True)
        assert loops and all(lp is asyncio.get_running_loop() for lp in loops)
        assert [d.error_type for d in sched.get_dead_letters()] == ["TimeoutError"]

    asyncio.run(main())
    assert cancelled.is_set()


def test_async_jobs_without_an_app_loop_share_one_owned_loop() -> None:
    sched = FastScheduler(quiet=True)
    loops: list[int] = []

    @sched.every(0.05).seconds
    async def job() -> None:
        loops.append(id(asyncio.get_running_loop()))

    sched.start()
    time.sleep(0.4)
    sched.stop(wait=True)
    assert len(loops) >= 3 and len(set(loops)) == 1


def test_engine_thread_runs_interval_jobs_on_time() -> None:
    sched = FastScheduler(quiet=True)
    stamps: list[float] = []

    @sched.every(0.1).seconds
    def beat() -> None:
        stamps.append(time.time())

    start = time.time()
    sched.start()
    time.sleep(0.75)
    sched.stop()
    assert 5 <= len(stamps) <= 8
    # fixed rate: fires stay on start + k * 0.1 (no drift), within a generous bound on a busy box
    lateness = [s - (start + 0.1 * round((s - start) / 0.1)) for s in stamps]
    assert max(abs(x) for x in lateness) < 0.05, lateness


def test_current_run_tells_a_job_which_fire_and_attempt_it_runs() -> None:
    from fastscheduler import RunInfo, current_run

    seen: list[RunInfo | None] = []
    failures = iter([True, False])

    def flaky() -> None:
        seen.append(current_run())
        if next(failures):
            raise RuntimeError("first attempt fails")

    async def coro() -> None:
        await asyncio.sleep(0)
        seen.append(current_run())

    clock = ManualClock(T0)
    s = FastScheduler(storage="memory", quiet=True, clock=clock)
    flaky_id = s.every(10).seconds.id("flaky").retries(1).do(flaky)
    s.every(10).seconds.id("coro").do(coro)
    s.start()
    clock.advance(10)  # both run; flaky fails and is retried 2 s later (attempt 2)
    clock.advance(2)
    s.stop()
    assert current_run() is None  # outside a job
    assert sorted(seen, key=lambda r: (r.job_id, r.attempt) if r else ("", 0)) == [
        RunInfo("coro", T0 + 10, 1, None),
        RunInfo(flaky_id, T0 + 10, 1, None),
        RunInfo(flaky_id, T0 + 10, 2, None),  # a retry belongs to the same fire
    ]


def test_a_run_calls_executes_and_reports_untracked_and_resets_the_context_after_a_failure() -> None:
    # The Run made per attempt stays out of the cycle collector; calling the job through it sets
    # current_run() and restores it even when the job raises, as try/finally would; execute()
    # turns any exception (BaseException included) into the outcome it reports.
    import gc

    from fastscheduler import RunInfo, current_run
    from fastscheduler.executors.base import RunOutcome

    seen: list[object] = []
    fail: list[BaseException] = [ValueError("boom")]

    def boom(x: int, *, y: int) -> None:
        seen.append((current_run(), x, y))
        raise fail[0]

    async def coro() -> None:
        pass

    s = FastScheduler(storage="memory", quiet=True, clock=ManualClock(T0))
    job = s._jobs.get(s.every(10).seconds.do(boom, 1, y=2))
    assert job is not None and job.running == 0
    reports: list[object] = []
    run = job.start_run(reports.append, T0, 1, None, T0 - 5, None)
    assert job.running == 1  # counted as running from its start
    assert (run.job, run.scheduled, run.attempt, run.instance_id, run.first_attempt_at, run.claim) == (
        job,
        T0,
        1,
        None,
        T0 - 5,
        None,
    )
    assert run.timeout is None and not run.is_async and not gc.is_tracked(run)
    with pytest.raises(ValueError, match="boom"):
        run.call()
    assert seen == [(RunInfo(job.job_id, T0, 1, None), 1, 2)]
    assert current_run() is None

    ticks = iter([100.0, 100.25])
    run.execute(lambda: next(ticks))
    ((reported, outcome),) = reports
    assert reported is run and type(outcome) is RunOutcome
    assert outcome[:2] == (100.0, 100.25) and not outcome.ok and not outcome.timed_out
    assert isinstance(outcome.error, ValueError) and outcome.error.__traceback__ is not None
    assert current_run() is None

    fail[0] = SystemExit(3)  # a job's SystemExit is the run's failure, never ours
    elsewhere: list[RunOutcome] = []
    run.execute(time.time, elsewhere.append)
    assert len(reports) == 1 and isinstance(elsewhere[0].error, SystemExit)

    async_run = s._jobs.get(s.every(10).seconds.do(coro)).start_run(  # type: ignore[union-attr]
        reports.append, T0, 1, None, T0, None
    )
    with pytest.raises(TypeError, match=r"Run.execute runs sync jobs; await run.call\(\) for an async one"):
        async_run.execute(time.time)


def test_what_a_run_leaves_for_the_finisher_is_not_tracked_by_the_cycle_collector() -> None:
    # A burst of 100,000 runs leaves 100,000 outcomes, history entries and recent-outcome tuples
    # behind it; tracked, they made the collector's passes land in the next burst.
    import gc

    from fastscheduler._core import untracked_record
    from fastscheduler.models import HistoryEntry

    def ok() -> None:
        pass

    def boom() -> None:
        raise ValueError("boom")

    s = FastScheduler(storage="memory", quiet=True, clock=ManualClock(T0))
    items: list[tuple[object, object]] = []
    for func in (ok, boom):
        job = s._jobs.get(s.every(10).seconds.do(func))
        assert job is not None
        job.start_run(items.append, T0, 1, None, T0, None).execute(time.time)
    (ok_item, boom_item) = items
    assert ok_item[1].ok and not gc.is_tracked(ok_item[1]) and not gc.is_tracked(ok_item)  # type: ignore[attr-defined]
    # An outcome holding an exception stays tracked, and so does what holds it.
    assert gc.is_tracked(boom_item[1]) and gc.is_tracked(boom_item)

    state = job.run_state()
    for status in "abcdefg":
        state.add_recent(status)
    assert state.recent == ("c", "d", "e", "f", "g") and not gc.is_tracked(state.recent)
    state.recent = ([],)  # type: ignore[assignment]  # anything but strings: left tracked
    state.add_recent("h")
    assert state.recent == ([], "h") and gc.is_tracked(state.recent)

    entry = HistoryEntry(job_id="j", func_name="f", status="completed", timestamp=T0)
    assert gc.is_tracked(entry)
    assert untracked_record(entry) is entry and not gc.is_tracked(entry)


@pytest.mark.parametrize(
    "t0", [T0, T0 + 3.337860107421875e-06], ids=["whole-microsecond", "between-microseconds"]
)
def test_a_one_shot_whose_time_passed_before_start_runs_at_start_or_is_missed(t0: float) -> None:
    # once()/at() registered, start() called after their time: a late fire like any other
    # (it used to stay "scheduled" forever, never run). The second start time puts the fire
    # between two microseconds, where arming it at "time - 1e-6" lost it (CI caught this:
    # start()'s GC pass made a once(0.05) late, and 1 run in 7 the job never ran).
    clock = ManualClock(t0)
    s = FastScheduler(storage="memory", quiet=True, clock=clock)
    ran: list[str] = []
    late = s.once(5).do(ran.append, "late")
    skipped = s.once(5).no_catch_up().do(ran.append, "skipped")
    clock.advance(10)  # not started yet: nothing runs
    assert ran == []
    s.start()
    clock.advance(0.001)
    s.stop()
    assert ran == ["late"]
    statuses = {j["job_id"]: j["status"] for j in s.get_jobs()}
    assert statuses == {late: "completed", skipped: "missed"}
    (missed,) = [h for h in s.get_history() if h.job_id == skipped]
    assert missed.error == (
        "1 run(s) missed: the scheduler was not running at its time, and catch-up is off for this job"
    )
    assert missed.scheduled_time == pytest.approx(t0 + 5, abs=1e-6)


class _SlowArmingClock(ManualClock):
    """A manual clock that moves ``step`` seconds each time it is read while ``ticking``: a
    start() whose arming takes a while, without waiting."""

    def __init__(self, start: float, step: float) -> None:
        super().__init__(start)
        self.step = step
        self.ticking = False

    def now(self) -> float:
        if self.ticking:
            self._now += self.step
        return self._now


def _noop() -> None:
    pass


def test_a_new_interval_job_does_not_fall_due_while_start_is_still_arming(tmp_path: Path) -> None:
    """start() reads the clock every 1,024 jobs while it arms them; here each read moves it
    0.25 s, so arming 12,000 jobs "takes" about 3 s. A new every(1) job armed first would be due
    2 s before the arming ended: it is armed again from the end (its pause kept); the other jobs
    keep the time they were armed at; a stored job's next fire is restored as it was (due at
    once: a catch-up), not moved."""
    path = str(tmp_path / "state.json")
    before = FastScheduler(state_file=path, quiet=True, clock=ManualClock(T0 - 100))
    before.every(1).seconds.id("stored").do(_noop)
    before.start()
    before.stop()
    clock = _SlowArmingClock(T0, 0.25)
    s = FastScheduler(state_file=path, quiet=True, clock=clock)
    ran: list[float] = []
    s.every(1).seconds.id("fast").do(lambda: ran.append(clock.now()))
    s.every(1).seconds.id("fast-paused").do(_noop)
    s.pause_job("fast-paused")
    s.every(1).seconds.id("stored").do(_noop)
    for i in range(12_000):
        s.every(3600).seconds.id(f"slow-{i}").do(_noop)
    clock.ticking = True
    s.start()
    clock.ticking = False
    returned = clock.now()
    try:
        began = s._rt.start_time
        assert began is not None
        assert returned - began >= 2.5  # (the arming "took" that long)

        def next_run(job_id: str) -> float:
            job = s.get_job(job_id)
            assert job is not None
            return float(job["next_run_timestamp"])

        assert returned < next_run("fast") <= returned + 1
        assert next_run("fast-paused") == next_run("fast")
        assert s.get_job("fast-paused")["paused"]  # type: ignore[index]
        assert next_run("stored") == pytest.approx(T0 - 99, abs=1e-3)  # as stored
        assert next_run("slow-0") == pytest.approx(began + 3600, abs=1e-3)
        assert began + 3600 + 2 < next_run("slow-11999") <= returned + 3600
        clock.advance(next_run("fast") - clock.now() - 0.01)
        assert ran == []  # nothing of it was due at the start
        clock.advance(0.01)
        assert ran == [pytest.approx(next_run("fast") - 1, abs=1e-3)]
    finally:
        s.stop()


def test_following_a_peers_row_keeps_the_jobs_recent_outcomes() -> None:
    """A cluster row holds time, pause and counters, not outcomes: when an instance follows a
    peer's row for a job (``JobState.adopt``), the job's last results stay."""
    from fastscheduler.coordination.base import ScheduleRow

    clock = ManualClock(T0)
    s = FastScheduler(storage="memory", quiet=True, clock=clock)
    s.every(10).seconds.id("j").do(_noop)
    s.start()
    try:
        clock.advance(10)
        assert s.get_job("j")["last_results"] == ["completed"]  # type: ignore[index]
        state = s._rt.state
        job = state.get("j")
        assert job is not None
        with state.lock:
            state.adopt(job, ScheduleRow(next_run=T0 + 50, paused=False, run_count=7, last_run=T0 + 40))
        view = s.get_job("j")
        assert view is not None
        assert view["next_run_timestamp"] == pytest.approx(T0 + 50, abs=1e-3)
        assert view["run_count"] == 1  # (adopt keeps this instance's counters)
        assert view["last_run_timestamp"] == pytest.approx(T0 + 40, abs=1e-3)
        assert view["last_results"] == ["completed"]
    finally:
        s.stop()

"""Engine and Trigger: the manual clock (`run_due`), and the background thread."""

import math
import os
import re
import sys
import threading
import time
from typing import Any

import pytest

from fastscheduler._core import CronExpr, DueBatch, Engine, Trigger

Batch = list[tuple[int, float, int]]


class Recorder:
    """A dispatch callable that keeps every batch (and when it arrived)."""

    def __init__(self) -> None:
        self.batches: list[Batch] = []
        self.arrivals: list[float] = []
        self.fired = threading.Event()

    def __call__(self, batch: DueBatch) -> None:
        self.arrivals.append(time.time())
        self.batches.append(list(batch))
        self.fired.set()

    @property
    def fires(self) -> Batch:
        return [f for b in self.batches for f in b]


def wait_for(cond: Any, timeout: float = 3.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.005)
    return bool(cond())


# --- Trigger ---------------------------------------------------------------------------------


def test_trigger_kinds_and_next_after() -> None:
    t = Trigger.interval(1.5, 1000.0)
    assert t.kind == "interval"
    assert t.next_after(0.0) == 1000.0
    assert t.next_after(1000.0) == 1001.5
    assert t.next_after(1001.499999) == 1001.5
    assert t.next_after(1001.4999996) == 1003.0  # rounded to 1001.5 first
    assert repr(t) == "Trigger.interval(1.5, anchor=1000.0)"
    c = Trigger.cron(CronExpr("*/10 * * * *", tz="Europe/Paris"))
    assert c.kind == "cron"
    assert c.next_after(0.0) == 600.0
    assert repr(c) == "Trigger.cron(CronExpr('*/10 * * * *', tz='Europe/Paris'))"
    d = Trigger.date(5.25)
    assert d.kind == "date"
    assert d.next_after(5.0) == 5.25
    assert d.next_after(5.25) is None
    assert repr(d) == "Trigger.date(5.25)"
    # Grids far from the anchor do not overflow.
    assert Trigger.interval(1e12, -9e12).next_after(9e12) is None


def test_trigger_advance_coalesces_like_the_engine() -> None:
    t = Trigger.interval(1.0, 1000.0)
    assert t.advance(1000.0, 1000.0) == (1001.0, 0)  # on time
    assert t.advance(1000.0, 1000.999) == (1001.0, 0)  # late by less than a period
    assert t.advance(1000.0, 1001.0) == (1002.0, 1)  # a fire exactly at now is missed too
    assert t.advance(1000.0, 1003.5) == (1004.0, 3)  # 3.5 periods late: 1001, 1002, 1003
    assert t.advance(1000.0, 10.0) == (1001.0, 0)  # taken early: the next after the fire
    # A day's suspend of a 1 us interval: capped, counted in O(1).
    assert Trigger.MISSED_CAP == 1_000_000
    assert Trigger.interval(1e-6, 0.0).advance(0.0, 86_400.0) == (86_400.000001, Trigger.MISSED_CAP)
    d = Trigger.date(5.0)
    assert d.advance(5.0, 5.0) == (None, 0)
    assert d.advance(5.0, 1e9) == (None, 0)
    c = Trigger.cron(CronExpr("*/10 * * * *", tz="Europe/Paris"))
    assert c.advance(600.0, 650.0) == (1200.0, 0)
    assert c.advance(600.0, 3600.0) == (4200.0, 5)  # 1200..3600 coalesced
    with pytest.raises(ValueError, match="now must be a finite number"):
        t.advance(1000.0, math.nan)
    with pytest.raises(OverflowError, match="scheduled is out of range"):
        t.advance(1e300, 0.0)


@pytest.mark.parametrize(
    "trigger",
    [
        Trigger.interval(0.7, 1000.0),
        Trigger.interval(1e-3, 1000.0001),
        Trigger.cron(CronExpr("* * * * * */7", tz="UTC")),
        Trigger.cron(CronExpr("*/5 * * * *", tz="America/New_York")),
        Trigger.date(1000.5),
    ],
    ids=repr,
)
def test_trigger_advance_matches_the_engines_missed_counts(trigger: Trigger) -> None:
    # The engine, driven by a manual clock that is late by varying amounts (up to about a day),
    # pops each fire with its missed count; advance() must say the same for that fire and
    # agree with the next fire the engine scheduled. One rule, so a cluster (which uses
    # advance()) and a single scheduler (the engine) report the same missed counts.
    rec = Recorder()
    e = Engine(rec)
    k = e.add(trigger, 999.0)
    now = 999.0
    for i in range(60):
        nxt = e.next_deadline()
        if nxt is None:
            break
        now = max(now, nxt) + [0.0, 0.0003, 0.7, 1.4, 7.0, 299.0, 3601.0, 86_399.9][i % 8]
        assert e.run_due(now) == 1
        key, scheduled, missed = rec.batches[-1][0]
        assert key == k
        assert trigger.advance(scheduled, now) == (e.next_fire(k), missed)
    if trigger.kind != "date":
        assert sum(m for _, _, m in rec.fires) > 0


@pytest.mark.parametrize("bad", [0, -1.0, math.nan, math.inf, -math.inf, 1e-9])
def test_interval_rejects_bad_seconds(bad: float) -> None:
    with pytest.raises(ValueError, match=re.escape(repr(float(bad)))):
        Trigger.interval(bad, 0.0)


def test_times_out_of_range() -> None:
    with pytest.raises(OverflowError, match="1e\\+300"):
        Trigger.date(1e300)
    with pytest.raises(ValueError, match="nan"):
        Trigger.interval(1.0, math.nan)
    e = Engine(Recorder())
    with pytest.raises(ValueError, match="inf"):
        e.run_due(math.inf)
    with pytest.raises(TypeError, match="callable"):
        Engine(42)  # type: ignore[arg-type]


# --- manual clock ----------------------------------------------------------------------------


def test_fixed_rate_grid_does_not_drift() -> None:
    rec = Recorder()
    e = Engine(rec)
    k = e.add(Trigger.interval(0.1, 1000.0), 999.0)
    assert e.next_fire(k) == 1000.0
    now = 1000.0
    for i in range(30):
        # Late by 0..90 ms each time: the fires stay on the 100 ms grid.
        now = max(now, e.next_deadline() or now) + (i * 37 % 91) / 1000
        assert e.run_due(now) == 1
    assert [m for _, _, m in rec.fires] == [0] * 30
    assert [round(s, 6) for _, s, _ in rec.fires] == [round(1000.0 + i / 10, 6) for i in range(30)]
    assert e.next_fire(k) == pytest.approx(1003.0)


def test_late_fires_are_coalesced() -> None:
    rec = Recorder()
    e = Engine(rec)
    k = e.add(Trigger.interval(1.0, 1000.0), 999.0)
    assert e.run_due(999.999) == 0
    assert rec.batches == []
    # 3.5 periods late: one fire, three missed, next on the grid after now.
    assert e.run_due(1003.5) == 1
    assert rec.batches == [[(k, 1000.0, 3)]]
    assert e.next_fire(k) == 1004.0
    assert e.run_due(1004.2) == 1
    assert rec.batches[-1] == [(k, 1004.0, 0)]


def test_batch_order_and_sub_millisecond_times() -> None:
    rec = Recorder()
    e = Engine(rec)
    a = e.add(Trigger.date(1000.0007), 999.0)
    b = e.add(Trigger.date(1000.0003), 999.0)
    c = e.add(Trigger.date(1000.0003), 999.0)
    assert e.next_deadline() == 1000.0003
    assert e.run_due(1000.0005) == 2
    assert rec.batches == [[(b, 1000.0003, 0), (c, 1000.0003, 0)]]
    assert e.next_deadline() == 1000.0007
    assert e.run_due(1000.0007) == 1
    assert rec.batches[-1] == [(a, 1000.0007, 0)]


def test_pause_and_resume_stay_on_the_grid() -> None:
    rec = Recorder()
    e = Engine(rec)
    k = e.add(Trigger.interval(10.0, 1003.0), 1000.0)
    assert e.is_paused(k) is False
    assert e.pause(k) is True
    assert e.is_paused(k) is True
    assert e.next_fire(k) == 1003.0  # kept for display
    assert e.next_deadline() is None
    assert e.run_due(1100.0) == 0
    # Resumed between grid points: the next one, not at once.
    assert e.resume(k, 1100.0) is True
    assert e.next_fire(k) == 1103.0
    assert e.run_due(1100.0) == 0
    # Resumed exactly on a grid point: strictly after it.
    e.pause(k)
    e.resume(k, 1113.0)
    assert e.next_fire(k) == 1123.0
    assert e.run_due(1123.0) == 1
    assert rec.fires == [(k, 1123.0, 0)]


def test_one_shot_fires_once_and_remove() -> None:
    rec = Recorder()
    e = Engine(rec)
    once = e.add(Trigger.date(1005.0), 1000.0)
    other = e.add(Trigger.interval(1.0, 1000.0), 999.0)
    assert len(e) == 2
    assert e.run_due(1010.0) == 2
    assert rec.batches == [[(other, 1000.0, 10), (once, 1005.0, 0)]]
    assert e.next_fire(once) is None
    assert e.run_due(1100.0) == 1  # only the interval
    assert len(e) == 2  # the one-shot stays until removed
    assert e.remove(once) is True
    assert e.remove(once) is False
    assert e.remove(other) is True
    assert len(e) == 0
    assert e.run_due(2000.0) == 0
    for key in (once, other, 12345):
        assert e.next_fire(key) is None
        assert e.is_paused(key) is None
        assert e.counters(key) is None
        assert e.pause(key) is False
        assert e.resume(key, 0.0) is False
        assert e.record_run(key, True) is False
    # A date already past never fires.
    past = e.add(Trigger.date(1.0), 2.0)
    assert e.next_fire(past) is None


def test_inclusive_add_keeps_a_fire_at_after_itself() -> None:
    # A time that is not on a whole microsecond: "after - 1e-6" in floats rounds to the same
    # microsecond as the time itself (about 1 time in 20 near today's epoch), which used to lose
    # a late one-shot and a restored next fire. inclusive=True is exact.
    at = 1_780_000_005.000_003_3
    e = Engine(Recorder())
    assert e.next_fire(e.add(Trigger.date(at), at - 1e-6)) is None  # the trap, shown
    assert e.next_fire(e.add(Trigger.date(at), at, inclusive=True)) == 1_780_000_005.000_003
    assert e.next_fire(e.add(Trigger.date(at), at)) is None  # strictly after, as before
    grid = Trigger.interval(60.0, at)
    assert e.next_fire(e.add(grid, at, inclusive=True)) == e.next_fire(e.add(grid, at - 60))
    for t in (1000.0, 1000.25, 1_780_000_000.123_456):
        assert e.next_fire(e.add(Trigger.date(t), t, inclusive=True)) == t


def test_counters() -> None:
    e = Engine(Recorder())
    k = e.add(Trigger.interval(1.0, 0.0), 0.0)
    assert e.counters(k) == (0, 0, 0)
    assert e.record_run(k, True)
    assert e.record_run(k, False)
    assert e.record_retry(k)
    assert e.record_run(k, False)
    assert e.counters(k) == (3, 2, 1)


def test_reentrant_dispatch_calls_the_engine() -> None:
    seen: list[Any] = []

    def dispatch(batch: DueBatch) -> None:
        for key, scheduled, _ in batch:
            e.record_run(key, True)
            e.pause(key)
            seen.append((e.counters(key), e.is_paused(key), len(e), e.run_due(scheduled)))
            e.resume(key, scheduled)
            e.add(Trigger.date(scheduled + 0.5), scheduled)
            e.remove(key)
            seen.append(e.next_deadline())

    e = Engine(dispatch)
    k = e.add(Trigger.interval(1.0, 1000.0), 999.0)
    assert e.run_due(1000.0) == 1
    assert seen == [((1, 0, 0), True, 1, 0), 1000.5]
    assert e.next_fire(k) is None
    assert e.run_due(1000.5) == 1
    assert len(e) == 1


def test_due_batch_is_a_read_only_sequence() -> None:
    got: list[DueBatch] = []
    e = Engine(got.append)
    a = e.add(Trigger.interval(1.0, 1000.0), 999.0)
    b = e.add(Trigger.date(1000.5), 999.0)
    assert e.run_due(1002.0) == 2
    (batch,) = got
    assert len(batch) == 2
    assert list(batch) == [(a, 1000.0, 2), (b, 1000.5, 0)]
    assert list(batch) == list(batch)  # each iteration starts over
    assert batch[0] == (a, 1000.0, 2) and batch[-1] == (b, 1000.5, 0) and batch[-2] == batch[0]
    for i in (2, -3):
        with pytest.raises(IndexError):
            batch[i]
    it = iter(batch)
    assert iter(it) is it
    assert [next(it), next(it)] == list(batch)
    with pytest.raises(StopIteration):
        next(it)
    with pytest.raises(StopIteration):
        next(it)
    assert repr(batch) == "<DueBatch of 2 fires>"


def test_dispatch_error_propagates_from_run_due() -> None:
    def boom(batch: DueBatch) -> None:
        raise RuntimeError("boom")

    e = Engine(boom)
    k = e.add(Trigger.interval(1.0, 0.0), 0.0)
    assert e.run_due(0.5) == 0
    with pytest.raises(RuntimeError, match="boom"):
        e.run_due(1.5)
    assert e.next_fire(k) == 2.0  # the job was rescheduled before dispatch


# --- the engine thread -----------------------------------------------------------------------


def test_jobs_fire_close_to_their_deadlines() -> None:
    rec = Recorder()
    e = Engine(rec)
    start = time.time()
    k = e.add(Trigger.interval(0.05, start + 0.05), start)
    e.start()
    try:
        assert wait_for(lambda: len(rec.fires) >= 20)
    finally:
        e.stop()
    lateness = []
    for batch, arrived in zip(rec.batches, rec.arrivals, strict=True):
        for key, scheduled, missed in batch:
            assert key == k
            assert missed == 0
            lateness.append(arrived - scheduled)
    lateness.sort()
    p50 = lateness[len(lateness) // 2]
    p99 = lateness[min(len(lateness) - 1, math.ceil(len(lateness) * 0.99) - 1)]
    print(f"\nlateness of {len(lateness)} fires: p50 {p50 * 1e3:.3f} ms, p99 {p99 * 1e3:.3f} ms")
    assert min(lateness) >= 0
    assert p99 < 0.05
    # On the grid: scheduled times are anchor + k * 0.05 exactly.
    for i, (_, s, _) in enumerate(rec.fires[:20]):
        assert s == pytest.approx(start + 0.05 * (i + 1), abs=2e-6)


def test_idle_engine_does_not_wake_up() -> None:
    e = Engine(Recorder())
    empty = Engine(Recorder())
    e.add(Trigger.interval(60.0, time.time() + 3600), time.time())
    e.start()
    empty.start()
    try:
        time.sleep(0.5)
        print(f"\nidle wake-ups in 0.5 s: {e.wakeups} (job 1 h ahead), {empty.wakeups} (no job)")
        assert e.wakeups == 0
        assert empty.wakeups == 0
        assert e.running and empty.running
    finally:
        e.stop()
        empty.stop()


@pytest.mark.skipif(sys.platform != "linux", reason="the clock watcher is Linux-only (timerfd)")
def test_waits_are_not_capped_on_linux() -> None:
    # With the wall-clock watcher running, a job a year ahead costs no wake-up before it is due
    # (the fallback elsewhere re-reads the clock once a minute).
    e = Engine(Recorder())
    e.start()
    try:
        assert Engine.max_wait() is None
        assert "fastscheduler-c" in _native_thread_names()  # comm keeps 15 bytes of "fastscheduler-clock"
    finally:
        e.stop()


def _native_thread_names() -> list[str]:
    """The OS names of this process' threads (native ones included)."""
    names = []
    for task in os.listdir("/proc/self/task"):
        with open(f"/proc/self/task/{task}/comm") as f:
            names.append(f.read().strip())
    return names

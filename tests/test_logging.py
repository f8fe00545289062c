"""What the scheduler logs, and what ``quiet`` changes: failed attempts (WARNING), dead letters
(ERROR, with the traceback) and missed fires (INFO) go to the ``fastscheduler`` logger; ``quiet``
moves only the scheduler's informational lines to DEBUG and sets no logger's level."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from fastscheduler import FastScheduler, ManualClock
from fastscheduler.coordination import Claim

T0 = 1_780_000_000.0


@pytest.fixture(autouse=True)
def _logger_levels_restored() -> Iterator[None]:
    """The code before this fix set the package logger's level: leave no trace in later tests."""
    package, root = logging.getLogger("fastscheduler"), logging.getLogger()
    levels = package.level, root.level
    yield
    package.setLevel(levels[0])
    root.setLevel(levels[1])


def _records(caplog: pytest.LogCaptureFixture, level: int) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "fastscheduler" and r.levelno == level]


@pytest.mark.parametrize("quiet", [False, True], ids=["loud", "quiet"])
def test_each_failed_attempt_is_a_warning_line_and_each_dead_letter_an_error_with_traceback(
    quiet: bool, caplog: pytest.LogCaptureFixture
) -> None:
    # The report: a job failed 8 times and was dead-lettered twice, and nothing was logged.
    caplog.set_level(logging.DEBUG)
    clock = ManualClock(T0)
    sched = FastScheduler(storage="memory", quiet=quiet, clock=clock)

    @sched.every(60).seconds.retries(3).id("gateway")
    def call_gateway() -> None:
        raise ConnectionError("gateway down\nsecond line of the message")

    sched.start()
    try:
        clock.advance(150)  # fires at +60 and +120, each with 3 retries (2, 4, 8 s later)
    finally:
        sched.stop()

    warnings = _records(caplog, logging.WARNING)
    assert [r.getMessage() for r in warnings] == [
        f"fastscheduler: job gateway failed (attempt {n} of 4): "
        "ConnectionError: gateway down\\nsecond line of the message; "
        + ("dead-lettered" if n == 4 else f"retrying in {2**n:g} s")
        for _fire in range(2)
        for n in range(1, 5)
    ]
    errors = _records(caplog, logging.ERROR)
    assert [r.getMessage() for r in errors] == [
        "fastscheduler: job gateway dead-lettered after 4 attempt(s): "
        "ConnectionError: gateway down\\nsecond line of the message"
    ] * 2
    for record in errors:
        assert record.exc_info is not None and record.exc_info[0] is ConnectionError
        text = logging.Formatter().format(record)
        assert 'raise ConnectionError("gateway down' in text  # the job's own frame
        assert "Traceback (most recent call last)" in text
    assert len(sched.get_dead_letters()) == 2


def test_a_run_lost_with_its_instance_is_logged_as_a_failed_attempt(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    clock = ManualClock(T0)
    sched = FastScheduler(storage="memory", quiet=True, clock=clock)
    job_id = sched.every(60).seconds.id("nightly").retries(1).do(lambda: None)
    sched.start()
    try:
        # What a cluster's coordinator hands over when the instance running a fire died.
        sched._rt.dispatcher.run_claims([Claim(job_id, T0, 0, 1, lost_with="b")])
        assert sched._wait_idle(5)
    finally:
        sched.stop()
    assert [r.getMessage() for r in _records(caplog, logging.WARNING)] == [
        "fastscheduler: job nightly failed (attempt 1 of 2): "
        "RunLostError: attempt 1 ran on instance b, which stopped renewing its lease; this instance "
        "took the run over; retrying in 0.001 s"
    ]


@pytest.mark.parametrize("quiet", [False, True], ids=["loud", "quiet"])
def test_missed_fires_are_logged_at_info_or_debug_when_quiet(
    quiet: bool, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    clock = ManualClock(T0)
    sched = FastScheduler(storage="memory", quiet=quiet, clock=clock)
    sched.once(5).no_catch_up().id("warm_up").do(lambda: None)
    clock.advance(10)  # its time passes before start(): a missed fire
    sched.start()
    sched.stop()
    level = logging.DEBUG if quiet else logging.INFO
    assert [r.getMessage() for r in _records(caplog, level)] == [
        "fastscheduler: job warm_up: 1 run(s) missed: the scheduler was not running at its time, "
        "and catch-up is off for this job",
        "fastscheduler started with 1 job(s)",
        "fastscheduler stopped",
    ]


def test_quiet_sets_no_loggers_level_and_does_not_silence_other_schedulers(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)  # the application's configuration: INFO on the root logger
    package_level = logging.getLogger("fastscheduler").level
    FastScheduler(storage="memory", quiet=True, clock=ManualClock(T0))
    assert logging.getLogger("fastscheduler").level == package_level
    assert logging.getLogger().level == logging.INFO
    loud = FastScheduler(storage="memory", clock=ManualClock(T0))
    loud.start()
    loud.stop()
    assert [r.getMessage() for r in _records(caplog, logging.INFO)] == [
        "fastscheduler started with 0 job(s)",
        "fastscheduler stopped",
    ]


@pytest.mark.parametrize("quiet", [False, True], ids=["loud", "quiet"])
def test_the_orphaned_jobs_notice_respects_quiet(quiet: bool, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    first = FastScheduler(state_file="state.json", quiet=True, clock=ManualClock(T0))
    first.every(60).seconds.id("gone").do(lambda: None)
    first.start()
    first.stop()
    caplog.clear()
    second = FastScheduler(state_file="state.json", quiet=quiet, clock=ManualClock(T0))
    second.start()  # "gone" is stored, and no code registers it any more
    second.stop()
    orphaned = [r for r in caplog.records if "not registered by this code" in r.getMessage()]
    assert [r.levelno for r in orphaned] == [logging.DEBUG if quiet else logging.WARNING]
    assert "gone" in orphaned[0].getMessage()

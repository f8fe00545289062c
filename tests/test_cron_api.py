"""The Python surface of ``fastscheduler.CronExpr``: construction, identity, search methods,
argument checking and every error message."""

from __future__ import annotations

import copy
import math
import pickle
import re
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

import fastscheduler
from fastscheduler import CronError, CronExpr, UnknownTimeZoneError
from fastscheduler._tzinfo import result_tzinfos

UTC = timezone.utc
PARIS = ZoneInfo("Europe/Paris")


# ---------------------------------------------------------------------------------------------
# Construction, repr/str, properties.
# ---------------------------------------------------------------------------------------------


def test_readme_example() -> None:
    e = CronExpr("0 9 * * MON-FRI", tz="Europe/Paris")
    fires = e.next_n(datetime(2026, 3, 27, 12), 3)
    # Friday 27 March 2026 12:00 Paris -> Mon 30 Mar, Tue 31 Mar, Wed 1 Apr, 09:00 (CEST from 29 Mar).
    assert [f.isoformat() for f in fires] == [
        "2026-03-30T09:00:00+02:00",
        "2026-03-31T09:00:00+02:00",
        "2026-04-01T09:00:00+02:00",
    ]
    assert [f.strftime("%a") for f in fires] == ["Mon", "Tue", "Wed"]
    # ZoneInfo("Europe/Paris") itself where this machine's tz database agrees with the bundled
    # one for Paris (see test_tzdb.py for where it does not).
    assert all(f.tzinfo is result_tzinfos("Europe/Paris")[1] for f in fires)
    assert all(str(f.tzinfo) == "Europe/Paris" for f in fires)


def test_repr_and_str() -> None:
    e = CronExpr("0 9 * * MON-FRI", tz="Europe/Paris")
    assert repr(e) == "CronExpr('0 9 * * MON-FRI', tz='Europe/Paris')"
    assert str(e) == "0 9 * * MON-FRI"
    assert repr(CronExpr("@daily")) == "CronExpr('@daily', tz='UTC')"
    # repr is an expression that rebuilds an equal object.
    assert eval(repr(e), {"CronExpr": CronExpr}) == e
    # The expression is kept exactly as written (case, spacing).
    odd = CronExpr("  0  9\t* * mon-fri ")
    assert str(odd) == odd.expression == "  0  9\t* * mon-fri "
    assert repr(odd) == "CronExpr('  0  9\\t* * mon-fri ', tz='UTC')"


def test_tz_is_keyword_only_and_expression_positional_only() -> None:
    with pytest.raises(TypeError):
        CronExpr("0 9 * * *", "Europe/Paris")  # type: ignore[misc]
    with pytest.raises(TypeError):
        CronExpr(expr="0 9 * * *")  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        CronExpr()  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        CronExpr(None)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        CronExpr("0 9 * * *", tz=1)  # type: ignore[arg-type]
    assert CronExpr("0 9 * * *", tz=None).tz == "UTC"  # None means the default, UTC
    with pytest.raises(TypeError):
        CronExpr("0 9 * * *", zone="UTC")  # type: ignore[call-arg]


def test_properties() -> None:
    e = CronExpr("*/5 9-17 * * MON-FRI", tz="America/New_York")
    assert e.expression == "*/5 9-17 * * MON-FRI"
    assert e.tz == "America/New_York"
    assert not e.is_fixed_time
    assert CronExpr("0 9 * * *").tz == "UTC"
    assert CronExpr("0 9 * * *", tz="utc").tz == "UTC"
    # Frozen: no attribute can be set.
    for name, value in [("tz", "Asia/Tokyo"), ("expression", "* * * * *"), ("other", 1)]:
        with pytest.raises(AttributeError):
            setattr(e, name, value)


@pytest.mark.parametrize(
    ("expr", "fixed"),
    [
        ("0 9 * * *", True),
        ("30 2 * * *", True),
        ("0 9,17 * * MON-FRI", True),
        ("15 10 L * *", True),
        ("0 0 * * 5#3", True),
        ("@daily", True),
        ("@yearly", True),
        ("0 12 * * * 30", True),
        ("0 12 1 1 * 0 2030", True),
        ("0 * * * *", False),
        ("@hourly", False),
        ("*/15 * * * *", False),
        ("0 9-17 * * *", False),
        ("0 9 * * * */10", False),
        ("5-5 9 * * *", False),
        ("0 */24 * * *", False),
    ],
)
def test_is_fixed_time(expr: str, fixed: bool) -> None:
    assert CronExpr(expr).is_fixed_time is fixed


# ---------------------------------------------------------------------------------------------
# Equality, hashing, pickling.
# ---------------------------------------------------------------------------------------------


def test_eq_and_hash() -> None:
    a = CronExpr("0 9 * * MON-FRI", tz="Europe/Paris")
    b = CronExpr("0 9 * * MON-FRI", tz="Europe/Paris")
    assert a == b
    assert (a != b) is False
    assert hash(a) == hash(b)
    assert a != CronExpr("0 9 * * MON-FRI", tz="Europe/Berlin")
    assert a != CronExpr("0 9 * * MON-FRI")
    assert a != CronExpr("0 10 * * MON-FRI", tz="Europe/Paris")
    assert a != "0 9 * * MON-FRI"
    assert a != 0
    assert a != None  # noqa: E711
    assert len({a, b, CronExpr("0 9 * * MON-FRI", tz="Asia/Tokyo")}) == 2
    assert {a: 1}[b] == 1
    with pytest.raises(TypeError):
        _ = a < b  # type: ignore[operator]


@pytest.mark.parametrize("protocol", range(2, pickle.HIGHEST_PROTOCOL + 1))
def test_pickle_round_trip(protocol: int) -> None:
    for e in [
        CronExpr("0 9 * * MON-FRI", tz="Europe/Paris"),
        CronExpr("*/10 * * * * 15"),
        CronExpr("0 0 L * * 0 2026-2030", tz="Pacific/Chatham"),
    ]:
        back = pickle.loads(pickle.dumps(e, protocol))
        assert type(back) is CronExpr
        assert back == e
        assert hash(back) == hash(e)
        assert repr(back) == repr(e)
        assert back.next_n(datetime(2026, 1, 1), 3) == e.next_n(datetime(2026, 1, 1), 3)


@pytest.mark.parametrize("protocol", [0, 1])
def test_pickle_round_trip_legacy_protocols(protocol: int) -> None:
    e = CronExpr("0 9 * * MON-FRI", tz="Europe/Paris")
    assert pickle.loads(pickle.dumps(e, protocol)) == e


def test_copy() -> None:
    e = CronExpr("0 9 * * MON-FRI", tz="Europe/Paris")
    assert copy.copy(e) == e
    assert copy.deepcopy(e) == e


# ---------------------------------------------------------------------------------------------
# next / prev / matches / next_n / next_timestamps.
# ---------------------------------------------------------------------------------------------


def test_next_prev_are_strict_and_matches_truncates() -> None:
    e = CronExpr("*/15 * * * *")
    noon = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    assert e.next(noon) == noon + timedelta(minutes=15)
    assert e.prev(noon) == noon - timedelta(minutes=15)
    assert e.next(noon - timedelta(microseconds=1)) == noon
    assert e.prev(noon + timedelta(microseconds=1)) == noon
    assert e.next(noon + timedelta(minutes=7, seconds=30)) == noon + timedelta(minutes=15)
    assert e.prev(noon + timedelta(minutes=7, seconds=30)) == noon
    assert e.matches(noon)
    assert e.matches(noon + timedelta(microseconds=999_999))  # truncated to the second
    assert not e.matches(noon + timedelta(seconds=1))
    assert not e.matches(noon - timedelta(microseconds=1))


def test_next_n() -> None:
    e = CronExpr("0 0 L * *")
    fires = e.next_n(datetime(2026, 1, 1), 4)
    assert fires == [
        datetime(2026, 1, 31, tzinfo=UTC),
        datetime(2026, 2, 28, tzinfo=UTC),
        datetime(2026, 3, 31, tzinfo=UTC),
        datetime(2026, 4, 30, tzinfo=UTC),
    ]
    assert all(f.tzinfo is UTC for f in fires)
    assert type(fires) is list
    assert e.next_n(datetime(2026, 1, 1), 0) == []
    with pytest.raises(OverflowError):
        e.next_n(datetime(2026, 1, 1), -1)
    # next_n is next() repeated.
    t = datetime(2026, 1, 1, tzinfo=UTC)
    for f in fires:
        t = e.next(t)
        assert t == f


def test_next_timestamps() -> None:
    e = CronExpr("*/15 * * * *")
    assert e.next_timestamps(0, 3) == [900.0, 1800.0, 2700.0]
    assert e.next_timestamps(0.5, 1) == [900.0]
    assert e.next_timestamps(899.999, 1) == [900.0]
    assert e.next_timestamps(900, 1) == [1800.0]
    assert e.next_timestamps(-0.5, 1) == [0.0]
    assert e.next_timestamps(0, 0) == []
    ts = e.next_timestamps(1_767_225_600.0, 5)
    assert all(type(t) is float for t in ts)
    want = e.next_n(datetime(2026, 1, 1, tzinfo=UTC), 5)
    assert ts == [f.timestamp() for f in want]
    # Far past year 9999 there is nothing left.
    assert e.next_timestamps(1e300, 3) == []


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_next_timestamps_rejects_non_finite(bad: float) -> None:
    e = CronExpr("*/15 * * * *")
    with pytest.raises(ValueError, match="timestamp must be finite"):
        e.next_timestamps(bad, 1)


@pytest.mark.parametrize("bad", [date(2026, 1, 1), "2026-01-01T00:00:00", 1_767_225_600, None, 1.5])
def test_non_datetime_inputs_are_type_errors(bad: object) -> None:
    e = CronExpr("*/15 * * * *")
    for method in (e.next, e.prev, e.matches):
        with pytest.raises(TypeError, match=r"expected a datetime\.datetime, got "):
            method(bad)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"expected a datetime\.datetime"):
        e.next_n(bad, 2)  # type: ignore[arg-type]


def test_next_timestamps_wants_a_number() -> None:
    with pytest.raises(TypeError):
        CronExpr("* * * * *").next_timestamps("0", 1)  # type: ignore[arg-type]


def test_aware_inputs_and_outputs() -> None:
    e = CronExpr("0 9 * * *", tz="Europe/Paris")
    # One instant written four ways.
    instant = datetime(2026, 6, 1, 6, 0, tzinfo=UTC)
    for dt in [
        instant,
        instant.astimezone(PARIS),
        instant.astimezone(ZoneInfo("Asia/Tokyo")),
        instant.astimezone(timezone(timedelta(hours=5))),
        datetime(2026, 6, 1, 8, 0),  # naive: Paris wall clock
    ]:
        got = e.next(dt)
        assert got.isoformat() == "2026-06-01T09:00:00+02:00"
        assert str(got.tzinfo) == "Europe/Paris"
        assert e.prev(dt).isoformat() == "2026-05-31T09:00:00+02:00"
    # The UTC expression returns datetime.timezone.utc.
    assert CronExpr("0 9 * * *").next(instant).tzinfo is UTC


def test_no_fire_time_left() -> None:
    e = CronExpr("0 0 1 1 * 0 2030")
    assert e.next(datetime(2029, 6, 1)) == datetime(2030, 1, 1, tzinfo=UTC)
    with pytest.raises(CronError, match=r"no fire time after the given time .* in '0 0 1 1 \* 0 2030'"):
        e.next(datetime(2030, 1, 1))
    with pytest.raises(CronError, match="no fire time before the given time"):
        e.prev(datetime(2030, 1, 1))
    # next_n stops early instead of raising.
    assert e.next_n(datetime(2029, 6, 1), 3) == [datetime(2030, 1, 1, tzinfo=UTC)]
    assert e.next_timestamps(datetime(2031, 1, 1, tzinfo=UTC).timestamp(), 3) == []
    with pytest.raises(CronError, match="no fire time after"):
        CronExpr("0 0 1 1 *", tz="America/New_York").next(datetime(9999, 6, 1))
    assert CronExpr("0 0 1 1 *").next_n(datetime(9998, 6, 1), 5) == [datetime(9999, 1, 1, tzinfo=UTC)]


def test_first_and_last_representable_days() -> None:
    # Fire times are the matching wall-clock times of years 1-9999 in the expression's own zone:
    # the first and the last minute a datetime can hold are fire times like any other.
    e = CronExpr("* * * * *")
    assert e.matches(datetime(1, 1, 1))
    assert e.matches(datetime(9999, 12, 31, 23, 59))
    assert e.next(datetime(9999, 12, 30, 23, 59)) == datetime(9999, 12, 31, tzinfo=UTC)
    assert e.prev(datetime(1, 1, 1, 0, 1)) == datetime(1, 1, 1, tzinfo=UTC)
    assert CronExpr("@yearly").prev(datetime(1, 6, 1)) == datetime(1, 1, 1, tzinfo=UTC)
    assert e.next_n(datetime(9999, 12, 31, 23, 57), 5) == [
        datetime(9999, 12, 31, 23, 58, tzinfo=UTC),
        datetime(9999, 12, 31, 23, 59, tzinfo=UTC),
    ]
    with pytest.raises(CronError, match="no fire time after the given time"):
        e.next(datetime(9999, 12, 31, 23, 59))
    with pytest.raises(CronError, match="no fire time before the given time"):
        e.prev(datetime(1, 1, 1))
    # In any zone, whatever its offset: New York's year 1 starts at 00:00 local (LMT -4:56:02),
    # Kiritimati's (+14) ends at 23:59 local, before the end of year 9999 in UTC.
    for tz in ("America/New_York", "Asia/Tokyo", "Pacific/Kiritimati", "Pacific/Pago_Pago"):
        z = CronExpr("* * * * *", tz=tz)
        first, last = z.next(datetime(1, 1, 1)), z.prev(datetime(9999, 12, 31, 23, 59))
        assert first.replace(tzinfo=None) == datetime(1, 1, 1, 0, 1), tz
        assert last.replace(tzinfo=None) == datetime(9999, 12, 31, 23, 58), tz
        assert z.matches(datetime(1, 1, 1)) and z.matches(datetime(9999, 12, 31, 23, 59)), tz
        assert z.prev(first) == z.prev(datetime(1, 1, 1, 0, 0, 1)), tz
        assert z.next_timestamps(last.timestamp(), 3) == [last.timestamp() + 60], tz
        yearly = CronExpr("@yearly", tz=tz)
        assert yearly.prev(datetime(1, 6, 1)).replace(tzinfo=None) == datetime(1, 1, 1), tz


@pytest.mark.parametrize("local", ["UTC", "Asia/Tokyo", "America/New_York"])
def test_at_the_first_and_last_days_says_what_to_change(local: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # datetime cannot read a naive time within a day of year 1 or year 9999 in the local zone
    # ("year 0 is out of range"); at() says what is wrong with the time instead.
    import time

    from fastscheduler import FastScheduler, ManualClock

    monkeypatch.setenv("TZ", local)
    time.tzset()
    try:
        sched = FastScheduler(storage="memory", clock=ManualClock())
        with pytest.raises(
            ValueError, match=r"^at\('0001-01-01T00:00:00'\) is in the past \(now is 2026-.*\); give a"
        ):
            sched.at(datetime(1, 1, 1))(lambda: None)
        with pytest.raises(ValueError, match=r"^at\('0001-01-01T00:00:00\+05:00'\) is in the past"):
            sched.at(datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=5))))(lambda: None)
        with pytest.raises(ValueError, match=r"^at\('0001-01-01T00:00:00-04:56:02'\) is in the past"):
            sched.at(datetime(1, 1, 1)).tz("America/New_York")(lambda: None)
        with pytest.raises(
            ValueError, match=r"is after 9999-12-31T23:59:59Z, the last instant a datetime can hold"
        ):
            sched.at(datetime(9999, 12, 31, 23, 59)).tz("America/New_York")(lambda: None)
        if local == "Asia/Tokyo":  # a naive time that datetime cannot read east of Greenwich
            with pytest.raises(
                ValueError, match=r"^at\('9999-12-31T23:59:00'\) is too close to the end of year"
            ):
                sched.at(datetime(9999, 12, 31, 23, 59))(lambda: None)
        sched.at(datetime(9999, 12, 31, 23, 59, tzinfo=UTC))(lambda: None)
        sched.at(datetime(9999, 12, 31, 23, 59)).tz("Asia/Tokyo")(lambda: None)
    finally:
        monkeypatch.undo()
        time.tzset()


def test_batch_size_has_a_limit() -> None:
    # At most 1,000,000 fire times per call: a huge n is a ValueError before any work, not a
    # process that grows until the OOM killer comes.
    e = CronExpr("* * * * * *")
    message = (
        "n must be at most 1000000 (got 4611686018427387904); "
        "for more fire times, call again after the last one"
    )
    with pytest.raises(ValueError, match=re.escape(message)):
        e.next_timestamps(0.0, 2**62)
    with pytest.raises(ValueError, match=re.escape(message)):
        e.next_n(datetime(2026, 1, 1), 2**62)
    with pytest.raises(ValueError, match=r"^n must be at most 1000000 \(got 1000001\)"):
        e.next_timestamps(0.0, 1_000_001)
    ts = e.next_timestamps(0.0, 1_000_000)
    assert len(ts) == 1_000_000 and ts[-1] == 1_000_000.0
    # Going further is one more call from the last one.
    assert e.next_timestamps(ts[-1], 2) == [1_000_001.0, 1_000_002.0]


def test_huge_batch_fails_fast_in_a_small_address_space() -> None:
    # Run where memory is limited, so that a regression fails this test instead of the machine.
    import subprocess
    import sys

    code = (
        "import resource; resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))\n"
        "from fastscheduler import CronExpr\n"
        "try:\n"
        "    CronExpr('* * * * * *').next_timestamps(0.0, 2**62)\n"
        "except ValueError as e:\n"
        "    print(e)\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0 and run.stdout.startswith("n must be at most 1000000"), run


@pytest.mark.parametrize(
    ("dow", "days"),
    [
        ("5/2", ["Fri", "Sun"]),  # 5-7/2: 7 is Sunday
        ("FRI/2", ["Fri", "Sun"]),
        ("5-7/2", ["Fri", "Sun"]),
        ("6/1", ["Sat", "Sun"]),
        ("7/2", ["Sun"]),  # 7-7: Sunday only (it was every other day from Sunday)
        ("0/7", ["Sun"]),
        ("1/3", ["Mon", "Thu", "Sun"]),
        ("2/3", ["Tue", "Fri"]),
        ("SUN/2", ["Sun", "Tue", "Thu", "Sat"]),
        ("*/7", ["Sun"]),
    ],
)
def test_day_of_week_start_with_step_runs_to_seven(dow: str, days: list[str]) -> None:
    fires = CronExpr(f"0 0 * * {dow}").next_n(datetime(2026, 1, 3), 4 * len(days))  # a Saturday
    order = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
    assert {f.strftime("%a") for f in fires} == set(days)
    assert [f.strftime("%a") for f in fires][: len(days)] == sorted(days, key=order.index)


def test_day_of_week_steps_agree_with_cronsim() -> None:
    # cronsim reads day-of-week as 0-7 too; every `N/step` and `N-7/step` agrees with it.
    import cronsim  # a dev dependency

    start = datetime(2026, 1, 1)
    for n in range(8):
        for step in range(1, 8):
            for dow in (f"{n}/{step}", f"{n}-7/{step}" if n < 7 else f"{n}/{step}"):
                expr = f"0 0 * * {dow}"
                it = cronsim.CronSim(expr, start)
                want = [next(it) for _ in range(10)]
                got = [f.replace(tzinfo=None) for f in CronExpr(expr).next_n(start, 10)]
                assert got == want, expr


# ---------------------------------------------------------------------------------------------
# Errors.
# ---------------------------------------------------------------------------------------------

BAD = [
    # Out of range, each field.
    ("61 * * * *", "minute field: 61 is out of range 0-59"),
    ("* 24 * * *", "hour field: 24 is out of range 0-23"),
    ("* * 32 * *", "day-of-month field: 32 is out of range 1-31"),
    ("* * 0 * *", "day-of-month field: 0 is out of range 1-31"),
    ("0 0 0-5 * *", "day-of-month field: 0 is out of range 1-31"),
    ("* * * 13 *", "month field: 13 is out of range 1-12 or JAN-DEC"),
    ("* * * 0 *", "month field: 0 is out of range 1-12 or JAN-DEC"),
    ("* * * * 8", "day-of-week field: 8 is out of range 0-7 (0 and 7 are Sunday) or SUN-SAT"),
    ("* * * * 1-9", "day-of-week field: 9 is out of range 0-7"),
    ("* * * * * 60", "second field: 60 is out of range 0-59"),
    ("* * * * * * 2100", "year field: 2100 is out of range 1970-2099"),
    ("* * * * * * 1969", "year field: 1969 is out of range 1970-2099"),
    ("0 0 32W * *", "day-of-month field: 32 is out of range 1-31"),
    ("0 0 L-31 * *", "day-of-month field: 'l-31' must be L-n with n from 0 to 30"),
    # Bad names and words.
    ("* * * FOO *", "month field: 'foo' is not a month number or name (JAN-DEC)"),
    ("* * * JANUARY *", "month field: 'january' is not a month number or name (JAN-DEC)"),
    ("* * * * FOO", "day-of-week field: 'foo' is not a day-of-week number or name (SUN-SAT)"),
    ("* * * * MON-FUNDAY", "day-of-week field: 'funday' is not a day-of-week number or name (SUN-SAT)"),
    ("* * * * MONDAY", "day-of-week field: 'monday' is not a day-of-week number or name (SUN-SAT)"),
    ("x * * * *", "minute field: 'x' is not a number"),
    ("* MON * * *", "hour field: 'mon' is not a number"),
    # Step 0 (and too large).
    ("*/0 * * * *", "minute field: step 0 in '*/0' must be at least 1"),
    ("0 0 1-10/0 * *", "day-of-month field: step 0 in '1-10/0' must be at least 1"),
    ("* * * * MON/0", "day-of-week field: step 0 in 'mon/0' must be at least 1"),
    # One rule, every field: a step is at most one full cycle of its field.
    (
        "*/61 * * * *",
        "minute field: step 61 in '*/61' is larger than the 60 minutes in an hour (a step is at most one "
        "full cycle of the field)",
    ),
    ("0 */25 * * *", "hour field: step 25 in '*/25' is larger than the 24 hours in a day"),
    (
        "0 0 12-28/34 * *",
        "day-of-month field: step 34 in '12-28/34' is larger than the 31 days in the longest",
    ),
    ("0 0 1 1-6/13 *", "month field: step 13 in '1-6/13' is larger than the 12 months in a year"),
    ("0 0 * * */8", "day-of-week field: step 8 in '*/8' is larger than the 7 days in a week"),
    ("0 0 * * 5/8", "day-of-week field: step 8 in '5/8' is larger than the 7 days in a week"),
    ("* * * * * */61", "second field: step 61 in '*/61' is larger than the 60 seconds in a minute"),
    ("0 0 1 1 * 0 */131", "year field: step 131 in '*/131' is larger than the 130 years in the range 1970-"),
    # ... wherever the element stands: a `*` elsewhere in a day field's list does not excuse it.
    ("0 0 12-28/34,* * *", "day-of-month field: step 34 in '12-28/34,*' is larger than the 31 days"),
    ("0 0 * * */8,*", "day-of-week field: step 8 in '*/8,*' is larger than the 7 days in a week"),
    ("0 0 32,* * *", "day-of-month field: 32 is out of range 1-31"),
    ("0 0 * * *,8", "day-of-week field: 8 is out of range 0-7"),
    # `?` outside the day fields, or combined.
    ("? * * * *", "minute field: '?' is only allowed in the day-of-month and day-of-week fields"),
    ("0 ? * * *", "hour field: '?' is only allowed in the day-of-month and day-of-week fields"),
    ("0 0 * ? *", "month field: '?' is only allowed in the day-of-month and day-of-week fields"),
    ("0 0 ?,1 * *", "day-of-month field: '?' cannot be combined with other values"),
    # W in a list.
    ("0 0 1W,2 * *", "day-of-month field: 'W' can only be used with a single day value, not in a list"),
    ("0 0 15,LW * *", "day-of-month field: 'W' can only be used with a single day value, not in a list"),
    # `#` out of 1-5.
    ("0 0 * * 5#6", "day-of-week field: '#6' in '5#6' must be #1 to #5 (the nth such weekday of the month)"),
    ("0 0 * * FRI#0", "day-of-week field: '#0' in 'fri#0' must be #1 to #5"),
    # Field count.
    (
        "* * * *",
        "expected 5 fields (minute hour day-of-month month day-of-week), 6 (+ second) or 7 "
        "(+ second, year), got 4",
    ),
    ("* * * * * * * *", "expected 5 fields"),
    ("", "expected 5 fields .*, got 0"),
    # Macros.
    (
        "@sometimes",
        "unknown macro '@sometimes' (expected @yearly, @annually, @monthly, @weekly, @daily, "
        "@midnight or @hourly)",
    ),
    ("@every 5m", "unknown macro '@every 5m'"),
    # Never fires.
    ("0 0 30 2 *", "the expression can never fire: day-of-month '30' never occurs in month '2'"),
    (
        "0 0 31 4,6,9,11 *",
        "the expression can never fire: day-of-month '31' never occurs in month '4,6,9,11'",
    ),
    ("0 0 29 2 * 0 2025-2027", "the expression can never fire: no date in year '2025-2027' matches"),
    # Syntax.
    ("1,,2 * * * *", "minute field: empty list element in '1,,2'"),
    ("0 0 * * 1;2", "day-of-week field: unexpected character ';'"),
]


@pytest.mark.parametrize(("expr", "message"), BAD, ids=[b[0] or "<empty>" for b in BAD])
def test_bad_expressions(expr: str, message: str) -> None:
    pattern = message if ".*" in message else re.escape(message)
    with pytest.raises(CronError, match=f"^{pattern}") as info:
        CronExpr(expr)
    # Every message ends by quoting the whole expression as written.
    assert str(info.value).endswith(f" in '{expr}'")
    assert isinstance(info.value, ValueError)


def test_overlong_expression() -> None:
    with pytest.raises(CronError, match="expression is longer than 4096 characters"):
        CronExpr("* " * 3000)


@pytest.mark.parametrize("name", ["Mars/Olympus_Mons", "Europe/Nowhere", "", "America/New York", "UTC+5"])
def test_unknown_time_zone(name: str) -> None:
    with pytest.raises(UnknownTimeZoneError, match=f'unknown time zone "{re.escape(name)}"') as info:
        CronExpr("0 9 * * *", tz=name)
    assert isinstance(info.value, ValueError)
    assert not isinstance(info.value, CronError)


def test_exception_types_are_exported() -> None:
    assert issubclass(fastscheduler.CronError, ValueError)
    assert issubclass(fastscheduler.UnknownTimeZoneError, ValueError)
    assert fastscheduler.CronExpr is CronExpr
    assert CronExpr.__module__ == "fastscheduler"

"""Table-driven DST tests through the Python API (``fastscheduler.CronExpr``).

Five zones, both 2026 transitions each. The policy (docs/cron.md, "DST policy"):

- fixed-time expressions (second/minute/hour fields are single values) fire once in a fold, at the
  first occurrence, and at the transition instant (the end of the gap) when their wall-clock time
  falls in a gap;
- other (interval) expressions fire at both occurrences in a fold and skip gap times.

Every expected fire time is written out as a literal: the UTC instant, the local wall clock with
its UTC offset (``datetime.isoformat()``), and PEP 495's ``fold``.
"""

from __future__ import annotations

import pickle
from datetime import datetime, time, timedelta, timezone
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest

from fastscheduler import CronExpr

UTC = timezone.utc
H = 3600

# The 2026 transitions, looked up with Python's zoneinfo (tzdata 2026.x) and written as literals:
# (zone, UTC instant of the transition, "gap"/"fold", offset before, offset after, in seconds).
# - America/New_York: 2026-03-08 02:00 EST -> 03:00 EDT; 2026-11-01 02:00 EDT -> 01:00 EST.
# - Europe/London: 2026-03-29 01:00 GMT -> 02:00 BST; 2026-10-25 02:00 BST -> 01:00 GMT.
# - Australia/Sydney: 2026-04-05 03:00 AEDT -> 02:00 AEST; 2026-10-04 02:00 AEST -> 03:00 AEDT.
# - Australia/Lord_Howe (30-minute shift): 2026-04-05 02:00 +11 -> 01:30 +10:30;
#   2026-10-04 02:00 +10:30 -> 02:30 +11.
# - Pacific/Chatham (+12:45/+13:45): 2026-04-05 03:45 +13:45 -> 02:45 +12:45;
#   2026-09-27 02:45 +12:45 -> 03:45 +13:45.
TRANSITIONS = [
    ("America/New_York", "2026-03-08T07:00:00+00:00", "gap", -5 * H, -4 * H),
    ("America/New_York", "2026-11-01T06:00:00+00:00", "fold", -4 * H, -5 * H),
    ("Europe/London", "2026-03-29T01:00:00+00:00", "gap", 0, 1 * H),
    ("Europe/London", "2026-10-25T01:00:00+00:00", "fold", 1 * H, 0),
    ("Australia/Sydney", "2026-04-04T16:00:00+00:00", "fold", 11 * H, 10 * H),
    ("Australia/Sydney", "2026-10-03T16:00:00+00:00", "gap", 10 * H, 11 * H),
    ("Australia/Lord_Howe", "2026-04-04T15:00:00+00:00", "fold", 11 * H, 10 * H + 1800),
    ("Australia/Lord_Howe", "2026-10-03T15:30:00+00:00", "gap", 10 * H + 1800, 11 * H),
    ("Pacific/Chatham", "2026-04-04T14:00:00+00:00", "fold", 13 * H + 2700, 12 * H + 2700),
    ("Pacific/Chatham", "2026-09-26T14:00:00+00:00", "gap", 12 * H + 2700, 13 * H + 2700),
]
TRANSITION_IDS = [f"{zone}-{kind}" for zone, _, kind, _, _ in TRANSITIONS]


def utc(s: str) -> datetime:
    # (Python 3.10's fromisoformat does not read a trailing "Z".)
    return datetime.fromisoformat(s.replace("Z", "+00:00")).astimezone(UTC)


def key(dt: datetime) -> tuple[float, str, int]:
    """What identifies a returned fire time: its instant, wall clock with offset, and fold.

    (``==`` between aware datetimes is not enough: in one tzinfo it compares wall clocks and
    ignores ``fold``, and across tzinfos PEP 495 makes any time in a fold unequal to everything.)
    """
    return (dt.timestamp(), dt.isoformat(), dt.fold)


def keys(dts: list[datetime]) -> list[tuple[float, str, int]]:
    return [key(d) for d in dts]


def check_fires(fires: list[datetime], zone: str, want: list[tuple[str, str, int]]) -> None:
    """Each fire is (UTC instant, local isoformat with offset, fold)."""
    got = [(f.astimezone(UTC).isoformat(), f.isoformat(), f.fold) for f in fires]
    assert got == [(utc(u).isoformat(), local, fold) for u, local, fold in want]
    for f, (_, local, _) in zip(fires, want, strict=True):
        assert f.tzinfo == ZoneInfo(zone)
        assert f.utcoffset() == datetime.fromisoformat(local).utcoffset()


@pytest.mark.parametrize(("zone", "at", "kind", "before", "after"), TRANSITIONS, ids=TRANSITION_IDS)
def test_transition_literals_match_zoneinfo(zone: str, at: str, kind: str, before: int, after: int) -> None:
    z = ZoneInfo(zone)
    t = utc(at)
    assert (t - timedelta(seconds=1)).astimezone(z).utcoffset() == timedelta(seconds=before)
    assert t.astimezone(z).utcoffset() == timedelta(seconds=after)
    assert (t - timedelta(days=1)).astimezone(z).utcoffset() == timedelta(seconds=before)
    assert (t + timedelta(days=1)).astimezone(z).utcoffset() == timedelta(seconds=after)
    assert kind == ("gap" if after > before else "fold")


# ---------------------------------------------------------------------------------------------
# Fixed-time expressions.
# ---------------------------------------------------------------------------------------------

# (zone, expression, after (UTC), expected fires). Gap: the named wall-clock time does not exist
# that day, so the expression fires at the transition instant (the first wall-clock time after the
# gap), then normally. Fold: the named time happens twice; it fires at the first occurrence only.
FIXED_CASES = [
    # The examples.
    (
        "America/New_York",
        "30 2 * * *",
        "2026-03-07T12:00:00+00:00",
        [
            ("2026-03-08T07:00:00Z", "2026-03-08T03:00:00-04:00", 0),
            ("2026-03-09T06:30:00Z", "2026-03-09T02:30:00-04:00", 0),
        ],
    ),
    (
        "America/New_York",
        "30 1 * * *",
        "2026-10-31T12:00:00+00:00",
        [
            ("2026-11-01T05:30:00Z", "2026-11-01T01:30:00-04:00", 0),
            ("2026-11-02T06:30:00Z", "2026-11-02T01:30:00-05:00", 0),
        ],
    ),
    # First and last wall-clock minute of the New York gap, and a time list inside it (one fire).
    (
        "America/New_York",
        "0 2 * * *",
        "2026-03-08T00:00:00+00:00",
        [
            ("2026-03-08T07:00:00Z", "2026-03-08T03:00:00-04:00", 0),
            ("2026-03-09T06:00:00Z", "2026-03-09T02:00:00-04:00", 0),
        ],
    ),
    (
        "America/New_York",
        "59 2 * * *",
        "2026-03-08T00:00:00+00:00",
        [
            ("2026-03-08T07:00:00Z", "2026-03-08T03:00:00-04:00", 0),
            ("2026-03-09T06:59:00Z", "2026-03-09T02:59:00-04:00", 0),
        ],
    ),
    (
        "America/New_York",
        "0,30 2,3 * * *",
        "2026-03-08T00:00:00+00:00",
        [
            ("2026-03-08T07:00:00Z", "2026-03-08T03:00:00-04:00", 0),
            ("2026-03-08T07:30:00Z", "2026-03-08T03:30:00-04:00", 0),
            ("2026-03-09T06:00:00Z", "2026-03-09T02:00:00-04:00", 0),
        ],
    ),
    # 03:00 exists once in New York on 2026-03-08: just an ordinary fire.
    (
        "America/New_York",
        "0 3 * * *",
        "2026-03-08T00:00:00+00:00",
        [
            ("2026-03-08T07:00:00Z", "2026-03-08T03:00:00-04:00", 0),
            ("2026-03-09T07:00:00Z", "2026-03-09T03:00:00-04:00", 0),
        ],
    ),
    # With seconds: 01:00:00 is the first second of the repeated hour, 01:59:59 the last.
    (
        "America/New_York",
        "0 1 * * * 0",
        "2026-11-01T00:00:00+00:00",
        [
            ("2026-11-01T05:00:00Z", "2026-11-01T01:00:00-04:00", 0),
            ("2026-11-02T06:00:00Z", "2026-11-02T01:00:00-05:00", 0),
        ],
    ),
    (
        "America/New_York",
        "59 1 * * * 59",
        "2026-11-01T00:00:00+00:00",
        [
            ("2026-11-01T05:59:59Z", "2026-11-01T01:59:59-04:00", 0),
            ("2026-11-02T06:59:59Z", "2026-11-02T01:59:59-05:00", 0),
        ],
    ),
    (
        "Europe/London",
        "30 1 * * *",
        "2026-03-28T12:00:00+00:00",
        [
            ("2026-03-29T01:00:00Z", "2026-03-29T02:00:00+01:00", 0),
            ("2026-03-30T00:30:00Z", "2026-03-30T01:30:00+01:00", 0),
        ],
    ),
    (
        "Europe/London",
        "30 1 * * *",
        "2026-10-24T12:00:00+00:00",
        [
            ("2026-10-25T00:30:00Z", "2026-10-25T01:30:00+01:00", 0),
            ("2026-10-26T01:30:00Z", "2026-10-26T01:30:00+00:00", 0),
        ],
    ),
    (
        "Australia/Sydney",
        "30 2 * * *",
        "2026-04-04T00:00:00+00:00",
        [
            ("2026-04-04T15:30:00Z", "2026-04-05T02:30:00+11:00", 0),
            ("2026-04-05T16:30:00Z", "2026-04-06T02:30:00+10:00", 0),
        ],
    ),
    (
        "Australia/Sydney",
        "30 2 * * *",
        "2026-10-03T00:00:00+00:00",
        [
            ("2026-10-03T16:00:00Z", "2026-10-04T03:00:00+11:00", 0),
            ("2026-10-04T15:30:00Z", "2026-10-05T02:30:00+11:00", 0),
        ],
    ),
    (
        "Australia/Lord_Howe",
        "45 1 * * *",
        "2026-04-04T00:00:00+00:00",
        [
            ("2026-04-04T14:45:00Z", "2026-04-05T01:45:00+11:00", 0),
            ("2026-04-05T15:15:00Z", "2026-04-06T01:45:00+10:30", 0),
        ],
    ),
    (
        "Australia/Lord_Howe",
        "15 2 * * *",
        "2026-10-03T00:00:00+00:00",
        [
            ("2026-10-03T15:30:00Z", "2026-10-04T02:30:00+11:00", 0),
            ("2026-10-04T15:15:00Z", "2026-10-05T02:15:00+11:00", 0),
        ],
    ),
    (
        "Pacific/Chatham",
        "0 3 * * *",
        "2026-04-04T00:00:00+00:00",
        [
            ("2026-04-04T13:15:00Z", "2026-04-05T03:00:00+13:45", 0),
            ("2026-04-05T14:15:00Z", "2026-04-06T03:00:00+12:45", 0),
        ],
    ),
    (
        "Pacific/Chatham",
        "0 3 * * *",
        "2026-09-26T00:00:00+00:00",
        [
            ("2026-09-26T14:00:00Z", "2026-09-27T03:45:00+13:45", 0),
            ("2026-09-27T13:15:00Z", "2026-09-28T03:00:00+13:45", 0),
        ],
    ),
]


def case_id(case: tuple[str, str, str, list[tuple[str, str, int]]]) -> str:
    return f"{case[0]}-{case[1]}-{case[2][:10]}"


@pytest.mark.parametrize(("zone", "expr", "after", "want"), FIXED_CASES, ids=map(case_id, FIXED_CASES))
def test_fixed_time(zone: str, expr: str, after: str, want: list[tuple[str, str, int]]) -> None:
    e = CronExpr(expr, tz=zone)
    assert e.is_fixed_time
    fires = e.next_n(utc(after), len(want))
    check_fires(fires, zone, want)
    # next() one at a time, prev() back, matches() on each, and the fast path agree.
    t = utc(after)
    for f in fires:
        assert key(e.next(t)) == key(f)
        assert e.matches(f)
        t = f
    for a, b in pairwise(fires):
        assert key(e.prev(b)) == key(a)
    assert e.next_timestamps(utc(after).timestamp(), len(want)) == [f.timestamp() for f in fires]


@pytest.mark.parametrize(("zone", "at", "kind", "before", "after"), TRANSITIONS, ids=TRANSITION_IDS)
def test_fixed_time_never_fires_twice_or_in_between(
    zone: str, at: str, kind: str, before: int, after: int
) -> None:
    """Every fixed time of day in the two hours around a transition fires at most once that day,
    and exactly once: at the first occurrence in a fold, at the transition instant in a gap."""
    t = utc(at)
    z = ZoneInfo(zone)
    shift = abs(after - before)
    # The repeated (fold) or skipped (gap) wall-clock span is [span_start, span_start + shift).
    if kind == "fold":
        span_start = t.astimezone(z).replace(tzinfo=None)
    else:
        span_start = (t - timedelta(seconds=1)).astimezone(z).replace(tzinfo=None) + timedelta(seconds=1)
    for minutes in range(-30, shift // 60 + 30, 5):
        wall = span_start + timedelta(minutes=minutes)
        e = CronExpr(f"{wall.minute} {wall.hour} * * *", tz=zone)
        midnight = datetime.combine(wall.date(), time())
        fires = [f for f in e.next_n(midnight, 3) if f.date() == wall.date()]
        assert len(fires) == 1, (wall, fires)
        (f,) = fires
        assert f.fold == 0
        in_span = 0 <= minutes * 60 < shift
        if kind == "gap" and in_span:
            assert f.astimezone(UTC) == t  # the transition instant
        else:
            assert f.replace(tzinfo=None) == wall
            assert f.astimezone(UTC) == wall.replace(tzinfo=z, fold=0).astimezone(UTC)


# ---------------------------------------------------------------------------------------------
# Interval expressions.
# ---------------------------------------------------------------------------------------------

# `0 * * * *` around each transition: in a fold the repeated wall-clock hours fire twice (fold=1
# on the second), in a gap the skipped ones do not fire.
HOURLY_CASES = [
    (
        "America/New_York",
        "2026-03-08T05:30:00+00:00",
        [
            ("2026-03-08T06:00:00Z", "2026-03-08T01:00:00-05:00", 0),
            ("2026-03-08T07:00:00Z", "2026-03-08T03:00:00-04:00", 0),
            ("2026-03-08T08:00:00Z", "2026-03-08T04:00:00-04:00", 0),
        ],
    ),
    (
        "America/New_York",
        "2026-11-01T04:30:00+00:00",
        [
            ("2026-11-01T05:00:00Z", "2026-11-01T01:00:00-04:00", 0),
            ("2026-11-01T06:00:00Z", "2026-11-01T01:00:00-05:00", 1),
            ("2026-11-01T07:00:00Z", "2026-11-01T02:00:00-05:00", 0),
        ],
    ),
    (
        "Europe/London",
        "2026-03-28T23:30:00+00:00",
        [
            ("2026-03-29T00:00:00Z", "2026-03-29T00:00:00+00:00", 0),
            ("2026-03-29T01:00:00Z", "2026-03-29T02:00:00+01:00", 0),
            ("2026-03-29T02:00:00Z", "2026-03-29T03:00:00+01:00", 0),
        ],
    ),
    (
        "Europe/London",
        "2026-10-24T23:30:00+00:00",
        [
            ("2026-10-25T00:00:00Z", "2026-10-25T01:00:00+01:00", 0),
            ("2026-10-25T01:00:00Z", "2026-10-25T01:00:00+00:00", 1),
            ("2026-10-25T02:00:00Z", "2026-10-25T02:00:00+00:00", 0),
        ],
    ),
    (
        "Australia/Sydney",
        "2026-04-04T14:30:00+00:00",
        [
            ("2026-04-04T15:00:00Z", "2026-04-05T02:00:00+11:00", 0),
            ("2026-04-04T16:00:00Z", "2026-04-05T02:00:00+10:00", 1),
            ("2026-04-04T17:00:00Z", "2026-04-05T03:00:00+10:00", 0),
        ],
    ),
    (
        "Australia/Sydney",
        "2026-10-03T14:30:00+00:00",
        [
            ("2026-10-03T15:00:00Z", "2026-10-04T01:00:00+10:00", 0),
            ("2026-10-03T16:00:00Z", "2026-10-04T03:00:00+11:00", 0),
            ("2026-10-03T17:00:00Z", "2026-10-04T04:00:00+11:00", 0),
        ],
    ),
    # Lord Howe's fold repeats 01:30-02:00, which holds no full hour: hourly fires are 1h30 apart.
    (
        "Australia/Lord_Howe",
        "2026-04-04T13:30:00+00:00",
        [
            ("2026-04-04T14:00:00Z", "2026-04-05T01:00:00+11:00", 0),
            ("2026-04-04T15:30:00Z", "2026-04-05T02:00:00+10:30", 0),
            ("2026-04-04T16:30:00Z", "2026-04-05T03:00:00+10:30", 0),
        ],
    ),
    # Its gap skips 02:00-02:30, and with it 02:00.
    (
        "Australia/Lord_Howe",
        "2026-10-03T13:30:00+00:00",
        [
            ("2026-10-03T14:30:00Z", "2026-10-04T01:00:00+10:30", 0),
            ("2026-10-03T16:00:00Z", "2026-10-04T03:00:00+11:00", 0),
            ("2026-10-03T17:00:00Z", "2026-10-04T04:00:00+11:00", 0),
        ],
    ),
    (
        "Pacific/Chatham",
        "2026-04-04T12:00:00+00:00",
        [
            ("2026-04-04T12:15:00Z", "2026-04-05T02:00:00+13:45", 0),
            ("2026-04-04T13:15:00Z", "2026-04-05T03:00:00+13:45", 0),
            ("2026-04-04T14:15:00Z", "2026-04-05T03:00:00+12:45", 1),
            ("2026-04-04T15:15:00Z", "2026-04-05T04:00:00+12:45", 0),
        ],
    ),
    (
        "Pacific/Chatham",
        "2026-09-26T12:00:00+00:00",
        [
            ("2026-09-26T12:15:00Z", "2026-09-27T01:00:00+12:45", 0),
            ("2026-09-26T13:15:00Z", "2026-09-27T02:00:00+12:45", 0),
            ("2026-09-26T14:15:00Z", "2026-09-27T04:00:00+13:45", 0),
            ("2026-09-26T15:15:00Z", "2026-09-27T05:00:00+13:45", 0),
        ],
    ),
]


@pytest.mark.parametrize(
    ("zone", "after", "want"), HOURLY_CASES, ids=[f"{c[0]}-{c[1][:10]}" for c in HOURLY_CASES]
)
def test_hourly(zone: str, after: str, want: list[tuple[str, str, int]]) -> None:
    e = CronExpr("0 * * * *", tz=zone)
    assert not e.is_fixed_time
    fires = e.next_n(utc(after), len(want))
    check_fires(fires, zone, want)
    for a, b in pairwise(fires):
        assert key(e.prev(b)) == key(a)
        assert key(e.next(a)) == key(b)
    for f in fires:
        assert e.matches(f)


@pytest.mark.parametrize(("zone", "at", "kind", "before", "after"), TRANSITIONS, ids=TRANSITION_IDS)
def test_every_15_minutes(zone: str, at: str, kind: str, before: int, after: int) -> None:
    """`*/15 * * * *`: every offset here is a whole number of quarter hours, so the fires are every
    quarter hour of UTC without a break; wall clocks repeat in a fold and jump in a gap."""
    t = utc(at)
    z = ZoneInfo(zone)
    e = CronExpr("*/15 * * * *", tz=zone)
    start = t - timedelta(hours=2)
    fires = e.next_n(start, 4 * 5)
    assert [f.astimezone(UTC) for f in fires] == [start + timedelta(minutes=15 * k) for k in range(1, 21)]
    walls = [f.replace(tzinfo=None) for f in fires]
    shift = timedelta(seconds=abs(after - before))
    for f in fires:
        assert f.tzinfo == ZoneInfo(zone)
        assert f.utcoffset() == timedelta(seconds=before if f.astimezone(UTC) < t else after)
        assert f.fold == int(kind == "fold" and t <= f.astimezone(UTC) < t + shift)
        # The datetime's own fields give back the same instant (PEP 495).
        assert f.replace(tzinfo=z).astimezone(UTC) == f.astimezone(UTC)
    if kind == "fold":
        assert len(set(walls)) == len(walls) - shift // timedelta(minutes=15)
    else:
        assert len(set(walls)) == len(walls)
        skipped = [
            w
            for w in (walls[0] + timedelta(minutes=15 * k) for k in range(40))
            if w <= walls[-1] and w not in walls
        ]
        assert len(skipped) == shift // timedelta(minutes=15)
        first_skipped = (t - timedelta(seconds=1)).astimezone(z).replace(tzinfo=None) + timedelta(seconds=1)
        assert skipped == [first_skipped + timedelta(minutes=15 * k) for k in range(len(skipped))]


# Interval expressions confined to the repeated or skipped hour (New York).
INTERVAL_CASES = [
    (
        "*/30 1 * * *",
        "2026-11-01T05:00:00+00:00",
        [
            ("2026-11-01T05:30:00Z", "2026-11-01T01:30:00-04:00", 0),
            ("2026-11-01T06:00:00Z", "2026-11-01T01:00:00-05:00", 1),
            ("2026-11-01T06:30:00Z", "2026-11-01T01:30:00-05:00", 1),
            ("2026-11-02T06:00:00Z", "2026-11-02T01:00:00-05:00", 0),
        ],
    ),
    (
        "30 1-2 * * *",
        "2026-11-01T04:00:00+00:00",
        [
            ("2026-11-01T05:30:00Z", "2026-11-01T01:30:00-04:00", 0),
            ("2026-11-01T06:30:00Z", "2026-11-01T01:30:00-05:00", 1),
            ("2026-11-01T07:30:00Z", "2026-11-01T02:30:00-05:00", 0),
        ],
    ),
    # The whole 02:xx hour is skipped on 2026-03-08.
    (
        "*/30 2 * * *",
        "2026-03-08T00:00:00+00:00",
        [
            ("2026-03-09T06:00:00Z", "2026-03-09T02:00:00-04:00", 0),
            ("2026-03-09T06:30:00Z", "2026-03-09T02:30:00-04:00", 0),
        ],
    ),
    (
        "30 1-3 * * *",
        "2026-03-08T00:00:00+00:00",
        [
            ("2026-03-08T06:30:00Z", "2026-03-08T01:30:00-05:00", 0),
            ("2026-03-08T07:30:00Z", "2026-03-08T03:30:00-04:00", 0),
            ("2026-03-09T05:30:00Z", "2026-03-09T01:30:00-04:00", 0),
        ],
    ),
    # A seconds field makes `30 1 * * * */20` an interval expression: both occurrences fire.
    (
        "30 1 * * * */20",
        "2026-11-01T05:30:30+00:00",
        [
            ("2026-11-01T05:30:40Z", "2026-11-01T01:30:40-04:00", 0),
            ("2026-11-01T06:30:00Z", "2026-11-01T01:30:00-05:00", 1),
            ("2026-11-01T06:30:20Z", "2026-11-01T01:30:20-05:00", 1),
            ("2026-11-01T06:30:40Z", "2026-11-01T01:30:40-05:00", 1),
            ("2026-11-02T06:30:00Z", "2026-11-02T01:30:00-05:00", 0),
        ],
    ),
]


@pytest.mark.parametrize(("expr", "after", "want"), INTERVAL_CASES, ids=[c[0] for c in INTERVAL_CASES])
def test_interval_in_new_york(expr: str, after: str, want: list[tuple[str, str, int]]) -> None:
    e = CronExpr(expr, tz="America/New_York")
    assert not e.is_fixed_time
    fires = e.next_n(utc(after), len(want))
    check_fires(fires, "America/New_York", want)
    for a, b in pairwise(fires):
        assert key(e.prev(b)) == key(a)


# ---------------------------------------------------------------------------------------------
# Inputs: naive (read in the expression's zone, fold honoured), aware in any tzinfo.
# ---------------------------------------------------------------------------------------------

NY = ZoneInfo("America/New_York")


@pytest.mark.parametrize(
    ("naive", "want_next"),
    [
        # 01:30 on 2026-11-01 happens twice: fold=0 is the first (EDT), fold=1 the second (EST).
        (datetime(2026, 11, 1, 1, 30), ("2026-11-01T05:45:00Z", "2026-11-01T01:45:00-04:00", 0)),
        (datetime(2026, 11, 1, 1, 30, fold=1), ("2026-11-01T06:45:00Z", "2026-11-01T01:45:00-05:00", 1)),
        # 02:30 on 2026-03-08 does not exist: fold=0 reads it with the offset before the gap (EST,
        # = 03:30 EDT), fold=1 with the offset after it (EDT, = 01:30 EST), as datetime does.
        (datetime(2026, 3, 8, 2, 30), ("2026-03-08T07:45:00Z", "2026-03-08T03:45:00-04:00", 0)),
        (datetime(2026, 3, 8, 2, 30, fold=1), ("2026-03-08T06:45:00Z", "2026-03-08T01:45:00-05:00", 0)),
        (datetime(2026, 7, 1, 12, 0), ("2026-07-01T16:15:00Z", "2026-07-01T12:15:00-04:00", 0)),
    ],
    ids=["fold0", "fold1", "gap-fold0", "gap-fold1", "summer"],
)
def test_naive_inputs_are_read_in_the_expression_zone(
    naive: datetime, want_next: tuple[str, str, int]
) -> None:
    e = CronExpr("*/15 * * * *", tz="America/New_York")
    got = e.next(naive)
    check_fires([got], "America/New_York", [want_next])
    # Exactly as the same wall clock attached to the zone (PEP 495) would be read.
    aware = naive.replace(tzinfo=NY)
    assert key(e.next(aware)) == key(got)
    assert key(e.prev(naive)) == key(e.prev(aware))
    # And as the same instant written in UTC.
    assert key(e.next(aware.astimezone(UTC))) == key(got)


def test_naive_fold_selects_the_occurrence_for_matches_and_prev() -> None:
    fixed = CronExpr("30 1 * * *", tz="America/New_York")
    interval = CronExpr("30 * * * *", tz="America/New_York")
    first = datetime(2026, 11, 1, 1, 30)
    second = datetime(2026, 11, 1, 1, 30, fold=1)
    assert fixed.matches(first)
    assert not fixed.matches(second)
    assert interval.matches(first)
    assert interval.matches(second)
    # prev() strictly before the second occurrence: the fixed expression's one fire was the first
    # occurrence; the interval expression's previous fire too.
    assert fixed.prev(second).astimezone(UTC) == utc("2026-11-01T05:30:00+00:00")
    assert interval.prev(second).astimezone(UTC) == utc("2026-11-01T05:30:00+00:00")
    assert interval.next(first).astimezone(UTC) == utc("2026-11-01T06:30:00+00:00")
    assert interval.next(first).fold == 1
    assert fixed.next(first).astimezone(UTC) == utc("2026-11-02T06:30:00+00:00")
    # In the gap: 03:00 EDT (the transition instant) is the fixed expression's fire; the
    # non-existent 02:30 read with fold=0 is 03:30 EDT, which is not.
    gap_fixed = CronExpr("30 2 * * *", tz="America/New_York")
    assert gap_fixed.matches(datetime(2026, 3, 8, 3, 0))
    assert not gap_fixed.matches(datetime(2026, 3, 8, 2, 30))
    assert key(gap_fixed.prev(datetime(2026, 3, 8, 3, 0, 1))) == key(datetime(2026, 3, 8, 3, 0, tzinfo=NY))


@pytest.mark.parametrize(
    "zone", ["America/New_York", "Europe/London", "Australia/Lord_Howe", "Pacific/Chatham"]
)
@pytest.mark.parametrize("expr", ["30 1 * * *", "30 2 * * *", "*/15 * * * *", "0 * * * *"])
def test_aware_inputs_in_other_zones_give_the_same_instants(zone: str, expr: str) -> None:
    e = CronExpr(expr, tz=zone)
    others = [
        UTC,
        timezone(timedelta(hours=5)),
        timezone(timedelta(hours=-9, minutes=-30)),
        ZoneInfo("Asia/Tokyo"),
        ZoneInfo("America/New_York"),
        ZoneInfo("Australia/Lord_Howe"),
    ]
    for _, at, _, _, _ in TRANSITIONS:
        for delta_min in (-61, -30, -1, 0, 1, 29, 59, 90):
            instant = utc(at) + timedelta(minutes=delta_min, seconds=7)
            want_next = e.next(instant)
            want_prev = e.prev(instant)
            want_n = e.next_n(instant, 3)
            for tz in others:
                local = instant.astimezone(tz)
                assert key(e.next(local)) == key(want_next), (tz, local)
                assert key(e.prev(local)) == key(want_prev), (tz, local)
                assert keys(e.next_n(local, 3)) == keys(want_n)
                assert e.matches(local) == e.matches(instant)
            # The fast path takes epoch seconds.
            assert e.next_timestamps(instant.timestamp(), 3) == [f.timestamp() for f in want_n]


def test_results_round_trip_through_pickle_and_isoformat() -> None:
    e = CronExpr("*/30 1 * * *", tz="America/New_York")
    fires = e.next_n(datetime(2026, 11, 1), 4)
    assert [f.fold for f in fires] == [0, 0, 1, 1]
    for f in fires:
        g = pickle.loads(pickle.dumps(f))
        assert key(g) == key(f)
        assert g.tzinfo is f.tzinfo
        # The isoformat string keeps the offset, hence the instant.
        assert datetime.fromisoformat(f.isoformat()).timestamp() == f.timestamp()

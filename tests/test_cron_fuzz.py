"""Property-based tests of CronExpr (hypothesis).

(i)   Any text either parses or raises CronError: never another exception, never a hang.
(ii)  For valid expressions, random instants and zones, next/prev/matches/next_n/next_timestamps
      agree with each other, and the way an input datetime is written (zone, naive, fold) does
      not change the answer.
(iii) Unknown zones raise UnknownTimeZoneError (a ValueError) naming the zone.
"""

from __future__ import annotations

import calendar
import contextlib
import faulthandler
import functools
import itertools
import pickle
import string
import zoneinfo
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st

from fastscheduler import CronError, CronExpr, UnknownTimeZoneError

UTC = timezone.utc

ZONES = (
    "UTC",
    "America/New_York",
    "Europe/London",
    "Australia/Sydney",
    "Australia/Lord_Howe",
    "Pacific/Chatham",
    "Asia/Kolkata",
    "America/Sao_Paulo",
    "Europe/Berlin",
    "Asia/Tokyo",
)

FUZZ = settings(max_examples=400, deadline=500, suppress_health_check=[HealthCheck.too_slow])
PROPS = settings(
    max_examples=300,
    deadline=500,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


@pytest.fixture(autouse=True)
def _no_hang() -> Iterator[None]:
    """A hypothesis deadline only fails an example after it returns; this one kills a real hang
    (the watchdog is a C thread, so it works while the extension holds the GIL)."""
    faulthandler.dump_traceback_later(120, exit=True)
    yield
    faulthandler.cancel_dump_traceback_later()


# --------------------------------------------------------------------------------------------
# Valid expressions (grammar-generated)
# --------------------------------------------------------------------------------------------

MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
DAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")
RANGES = {
    "second": (0, 59),
    "minute": (0, 59),
    "hour": (0, 23),
    "dom": (1, 31),
    "month": (1, 12),
    "dow": (0, 7),
    "year": (1970, 2099),
}


@st.composite
def value(draw: st.DrawFn, f: str) -> str:
    lo, hi = RANGES[f]
    v = draw(st.integers(lo, hi))
    if f == "month" and draw(st.booleans()):
        return MONTHS[v - 1]
    if f == "dow" and draw(st.booleans()):
        return DAYS[v % 7]
    return str(v)


@st.composite
def element(draw: st.DrawFn, f: str) -> str:
    lo, hi = RANGES[f]
    size = hi - lo + 1
    kind = draw(st.sampled_from(("value", "range", "range-step", "star-step", "start-step")))
    step = draw(st.integers(1, min(size, 30)))
    if kind == "value":
        return draw(value(f))
    if kind == "star-step":
        return f"*/{step}"
    if kind == "start-step":
        return f"{draw(value(f))}/{step}"
    a, b = draw(value(f)), draw(value(f))
    text = f"{a}-{b}"
    return text + (f"/{step}" if kind == "range-step" else "")


@st.composite
def plain_field(draw: st.DrawFn, f: str) -> str:
    if draw(st.integers(0, 3)) == 0:
        return "*"
    return ",".join(draw(st.lists(element(f), min_size=1, max_size=3)))


@st.composite
def day_fields(draw: st.DrawFn) -> tuple[str, str]:
    kind = draw(st.integers(0, 9))
    star = st.sampled_from(("*", "?"))
    if kind == 0:
        return f"{draw(st.integers(1, 31))}W", draw(star)
    if kind == 1:
        return draw(star), f"{draw(value('dow'))}#{draw(st.integers(1, 5))}"
    if kind == 2:
        return draw(star), f"L{draw(st.integers(0, 7))}"
    if kind == 3:
        # CronExpr-only forms: L-n, LW, nL.
        return draw(st.sampled_from(("L-3", "LW", "L", "1,L"))), draw(st.sampled_from(("*", "5L", "MON")))
    return draw(plain_field("dom")), draw(plain_field("dow"))


@st.composite
def cron_exprs(draw: st.DrawFn) -> str:
    if draw(st.integers(0, 19)) == 0:
        return draw(st.sampled_from(("@yearly", "@annually", "@monthly", "@weekly", "@daily", "@hourly")))
    dom, dow = draw(day_fields())
    fields = [draw(plain_field("minute")), draw(plain_field("hour")), dom, draw(plain_field("month")), dow]
    extra = draw(st.integers(0, 5))
    if extra >= 4:
        fields.append(draw(plain_field("second")))
    if extra == 5:
        fields.append(draw(plain_field("year")))
    return " ".join(fields)


# --------------------------------------------------------------------------------------------
# (i) arbitrary text
# --------------------------------------------------------------------------------------------

CRONISH = "0123456789*/-,?LW#@ abcdefghijklmnopqrstuvwxyzJANFEBMONSUN\t"
TOKENS = (
    *"0123456789",
    "*",
    "/",
    "-",
    ",",
    "?",
    "L",
    "W",
    "#",
    "l",
    "w",
    "7",
    "00",
    "59",
    "60",
    "99",
    "2099",
    "1970",
    "2100",
    "4294967296",
    "18446744073709551616",
    "JAN",
    "dec",
    "MON",
    "sun",
    "FRI",
    "x",
    "@daily",
    "@",
)

field_text = st.lists(st.sampled_from(TOKENS), min_size=1, max_size=6).map("".join)
token_expr = st.lists(field_text, min_size=1, max_size=8).flatmap(
    lambda fs: st.lists(st.sampled_from((" ", "  ", "\t")), min_size=len(fs), max_size=len(fs)).map(
        lambda seps: "".join(s + f for s, f in zip(seps, fs, strict=True)).strip(" ")
    )
)


@st.composite
def mutated_exprs(draw: st.DrawFn) -> str:
    """A valid expression with a few characters inserted, deleted or replaced: near misses that
    reach deep into the parser."""
    text = list(draw(cron_exprs()))
    for _ in range(draw(st.integers(1, 3))):
        i = draw(st.integers(0, len(text)))
        op = draw(st.sampled_from(("insert", "delete", "replace")))
        ch = draw(st.sampled_from(CRONISH))
        if op == "insert":
            text.insert(i, ch)
        elif i < len(text):
            if op == "delete":
                del text[i]
            else:
                text[i] = ch
    return "".join(text)


any_text = st.one_of(
    st.text(max_size=80),
    st.text(alphabet=CRONISH, max_size=60),
    token_expr,
    mutated_exprs(),
    cron_exprs(),
    st.sampled_from(("@yearly", "@hourly", "@DAILY", "@reboot", "@", " @weekly ")),
)


def _exercise(c: CronExpr) -> None:
    """A constructed expression must be usable: searches end with a value or CronError."""
    start = datetime(2025, 6, 1, 12, 0, 0, tzinfo=UTC)
    for f in (c.next, c.prev):
        with contextlib.suppress(CronError):
            f(start)
    c.next_n(start, 3)
    assert isinstance(c.matches(start), bool)
    assert pickle.loads(pickle.dumps(c)) == c
    assert str(c) == c.expression


@FUZZ
@given(any_text)
def test_arbitrary_text_constructs_or_raises_cron_error(text: str) -> None:
    try:
        c = CronExpr(text)
    except CronError as e:
        event("rejected")
        assert isinstance(e, ValueError)
        # The message quotes the expression (its first 120 characters and "…" when longer).
        quoted = text if len(text) <= 120 else text[:120] + "…"
        assert str(e).endswith(f" in '{quoted}'")
        return
    event("parsed")
    _exercise(c)


@FUZZ
@given(any_text, st.sampled_from(ZONES))
def test_arbitrary_text_in_a_zone(text: str, zone: str) -> None:
    try:
        c = CronExpr(text, tz=zone)
    except CronError:
        return
    _exercise(c)


def test_lone_surrogate_raises_cron_error() -> None:
    # Python str may hold lone surrogates (e.g. from os.fsdecode of undecodable bytes); hypothesis'
    # st.text() never generates them, so this is checked explicitly.
    for text in ("\ud800", "* * * * *\udcff"):
        with pytest.raises(CronError):
            CronExpr(text)


# --------------------------------------------------------------------------------------------
# (ii) properties of valid expressions
# --------------------------------------------------------------------------------------------

LO = calendar.timegm((1990, 1, 1, 0, 0, 0))
HI = calendar.timegm((2061, 1, 1, 0, 0, 0))


@st.composite
def instants(draw: st.DrawFn) -> datetime:
    """An aware datetime in one of ZONES (never imaginary; fold set by zoneinfo)."""
    zone = draw(st.sampled_from(ZONES))
    ts = draw(st.integers(LO, HI))
    micro = draw(st.sampled_from((0, 0, 1, 500_000, 999_999)))
    return datetime.fromtimestamp(ts, ZoneInfo(zone)).replace(microsecond=micro)


def ts(dt: datetime) -> float:
    """Compare instants, never datetimes: two aware datetimes with the same tzinfo compare by
    wall clock, ignoring fold."""
    return dt.timestamp()


def outcome(c: CronExpr, method: str, dt: datetime) -> float | str:
    """next/prev as an epoch timestamp, or the name of the CronError."""
    try:
        return ts(getattr(c, method)(dt))
    except CronError as e:
        return type(e).__name__


def parse_or_reject(expr: str, zone: str) -> CronExpr:
    try:
        return CronExpr(expr, tz=zone)
    except CronError:
        assume(False)
        raise


@PROPS
@given(cron_exprs(), st.sampled_from(ZONES), instants())
def test_next_prev_matches_next_n_agree(expr: str, zone: str, t: datetime) -> None:
    c = parse_or_reject(expr, zone)
    try:
        n = c.next(t)
    except CronError:
        # No fire time after t (only possible with a year field): the batch APIs agree.
        assert c.next_n(t, 5) == []
        assert c.next_timestamps(ts(t), 5) == []
        return
    assert ts(n) > ts(t)
    assert n.microsecond == 0
    assert n.utcoffset() == n.astimezone(ZoneInfo(zone)).utcoffset()  # tzinfo is the zone
    assert str(n.tzinfo) == zone
    assert c.matches(n)

    # prev(next(t)) is the last fire strictly before next(t): there is none in (t, next(t)).
    try:
        p = c.prev(n)
    except CronError:
        pass
    else:
        assert ts(p) <= ts(t)
        assert c.matches(p)
        assert ts(c.next(p)) == ts(n)

    got = c.next_n(t, 5)
    assert got and ts(got[0]) == ts(n)
    assert all(ts(a) < ts(b) for a, b in itertools.pairwise(got))
    for a, b in itertools.pairwise(got):
        assert ts(c.next(a)) == ts(b)
        assert ts(c.prev(b)) == ts(a)
    assert len(got) == 5 or c.next_n(got[-1], 1) == []
    assert c.next_timestamps(ts(t), 5) == [ts(x) for x in got]
    assert c.next_n(t, 0) == []


@PROPS
@given(cron_exprs(), st.sampled_from(ZONES), instants())
def test_prev_side(expr: str, zone: str, t: datetime) -> None:
    c = parse_or_reject(expr, zone)
    try:
        p = c.prev(t)
    except CronError:
        return
    assert ts(p) < ts(t)
    assert c.matches(p)
    assert str(p.tzinfo) == zone
    # next(prev(t)) is the first fire after prev(t): at or after t.
    after_p = outcome(c, "next", p)
    if isinstance(after_p, str):
        assert outcome(c, "next", t) == after_p  # the schedule ended at p (a year field)
    else:
        assert after_p >= ts(t)
    # Whole seconds: t itself is a fire time exactly when next(t - 1 s) is t.
    whole = t.astimezone(UTC).replace(microsecond=0)
    assert c.matches(whole) == (outcome(c, "next", whole - timedelta(seconds=1)) == ts(whole))
    assert c.matches(t) == c.matches(whole)


@PROPS
@given(cron_exprs(), st.sampled_from(ZONES), instants())
def test_the_way_an_instant_is_written_does_not_matter(expr: str, zone: str, t: datetime) -> None:
    c = parse_or_reject(expr, zone)
    local = t.astimezone(ZoneInfo(zone))
    forms = [
        t,
        t.astimezone(UTC),
        t.astimezone(timezone(timedelta(hours=-3, minutes=-30))),
        local,
        local.replace(tzinfo=None),  # naive: read in the expression's zone, fold kept
    ]
    for method in ("next", "prev"):
        results = [outcome(c, method, form) for form in forms]
        assert len(set(results)) == 1, (method, forms, results)


@functools.cache
def transitions_in_year(zone: str, year: int) -> tuple[int, ...]:
    """Instants where the zone's UTC offset changes during `year`."""
    tz = ZoneInfo(zone)

    def off(t: int) -> object:
        return datetime.fromtimestamp(t, tz).utcoffset()

    out = []
    t = calendar.timegm((year, 1, 1, 0, 0, 0))
    o = off(t)
    for _ in range(366):
        u = t + 86_400
        ou = off(u)
        if ou != o:
            a, b = t, u
            while b - a > 1:
                m = (a + b) // 2
                a, b = (m, b) if off(m) == o else (a, m)
            out.append(b)
        t, o = u, ou
    return tuple(out)


@st.composite
def zone_and_wall(draw: st.DrawFn) -> tuple[str, datetime]:
    """A zone and a naive wall-clock time, often within two hours of a UTC-offset transition
    (so inside gaps and folds)."""
    zone = draw(st.sampled_from(ZONES[1:]))
    if draw(st.booleans()):
        year = draw(st.integers(1990, 2060))
        ts_ = transitions_in_year(zone, year)
        if ts_:
            t = draw(st.sampled_from(ts_))
            at = datetime.fromtimestamp(t - 1, ZoneInfo(zone)).replace(tzinfo=None) + timedelta(seconds=1)
            return zone, at + timedelta(seconds=draw(st.integers(-7200, 7200)))
    wall = draw(st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2060, 12, 31)))
    return zone, wall


@PROPS
@given(cron_exprs(), zone_and_wall(), st.booleans())
def test_wall_clock_input_follows_pep_495(expr: str, zone_wall: tuple[str, datetime], fold: bool) -> None:
    """Ambiguous and imaginary wall-clock inputs are read as PEP 495 reads them (what
    `datetime.timestamp()` says), whether naive or aware."""
    zone, wall = zone_wall
    c = parse_or_reject(expr, zone)
    aware = wall.replace(tzinfo=ZoneInfo(zone), fold=int(fold))
    as_utc = datetime.fromtimestamp(aware.timestamp(), UTC)
    for method in ("next", "prev"):
        want = outcome(c, method, as_utc)
        for form in (aware, aware.replace(tzinfo=None)):
            assert outcome(c, method, form) == want, (method, form, want)


@PROPS
@given(cron_exprs(), st.floats(allow_nan=False, allow_infinity=False, min_value=-1e18, max_value=1e18))
def test_next_timestamps_never_fails_on_finite_floats(expr: str, after: float) -> None:
    c = parse_or_reject(expr, "Europe/Berlin")
    got = c.next_timestamps(after, 3)
    assert all(isinstance(x, float) and x == int(x) and x > after for x in got)
    assert got == sorted(set(got))


# --------------------------------------------------------------------------------------------
# (iii) zones
# --------------------------------------------------------------------------------------------

zone_like = st.text(alphabet=string.ascii_letters + string.digits + "/_-+", min_size=1, max_size=40)
KNOWN = {z.lower() for z in zoneinfo.available_timezones()} | {"utc", "z"}


@FUZZ
@given(st.one_of(zone_like, st.sampled_from(ZONES).map(lambda z: z + "x"), st.just("Mars/Olympus_Mons")))
def test_unknown_zone_raises_unknown_time_zone_error(zone: str) -> None:
    try:
        c = CronExpr("* * * * *", tz=zone)
    except UnknownTimeZoneError as e:
        assert isinstance(e, ValueError)
        assert zone in str(e)
        assert zone.lower() not in KNOWN
        return
    assert zone.lower() in KNOWN, f"{zone!r} accepted"
    assert c.next(datetime(2025, 1, 1, tzinfo=UTC)) is not None


@FUZZ
@given(st.text(max_size=40))
def test_any_zone_text_raises_only_unknown_time_zone_error(zone: str) -> None:
    try:
        CronExpr("0 0 * * *", tz=zone)
    except UnknownTimeZoneError as e:
        assert isinstance(e, ValueError)
        if zone.isascii() and zone.isprintable() and '"' not in zone and "\\" not in zone:
            assert zone in str(e)


def test_every_system_zone_is_known() -> None:
    bad = []
    for zone in sorted(zoneinfo.available_timezones() - {"localtime", "posixrules"}):
        try:
            c = CronExpr("0 12 * * *", tz=zone)
        except ValueError as e:
            bad.append(f"{zone}: {type(e).__name__}: {e}")
            continue
        d = c.next(datetime(2025, 1, 1, tzinfo=UTC))
        assert d.astimezone(ZoneInfo(zone)).hour == 12, zone
    assert not bad, bad

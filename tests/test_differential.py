"""Differential test: fastscheduler's cron engine against croniter 7.

A seeded, grammar-based generator writes random cron expressions (every field form of the
grammar: names, lists, ranges, wrapping ranges, steps, ``?``, ``L``, ``W``, ``#``, ``L5``,
6-field with seconds, 7-field with years, macros). Each expression is evaluated from a random
start instant (1990-2060) in a random zone by both engines, and the next (previous) five fire
times are compared as UTC instants.

Deliberate differences (see docs/cron.md) are kept out of the comparison, and nothing else:

(a) DST policy. A mismatch counts as *DST-explained* only if all of these hold:
    1. the zone changes its UTC offset inside the window where the two sides first disagree:
       from the last fire time both agree on (or the start) to the later of the two first
       differing fire times. (Stricter than "between the start and the last compared fire time":
       both engines only consult DST when a transition lies between the instant they search from
       and the candidate they return, so a divergence with no transition there is not DST.)
    2. the engines agree on the wall-clock schedule itself: the same expression from the same
       wall-clock time evaluated in UTC, where there is no DST, gives the same fire times;
    3. our fire times are exactly what the DST policy of docs/cron.md gives (`policy_fires`, an
       independent oracle built on zoneinfo).
    Everything else is an unexplained mismatch.
(b) Equal ranges (``5-5``, ``MON-MON``, ``SUN-SUN`` written as ``0-SUN``, ``31-L``) are never
    generated.
(c) ``#`` / ``Lx`` / ``W`` with a restriction in the other day field are never generated (the
    other day field is ``*`` or ``?`` whenever one of these is used).
(e) Day-of-week ``N/step`` whose steps reach 7 (``5/2``, ``6/1``, ``7/3``) is never generated: it
    is ``N-7/step`` here, 7 being Sunday (cronsim reads it so too), while croniter stops at 6
    (and reads ``7/step`` as ``0/step``).
(d) Syntax croniter rejects (``CroniterBadCronError``): the case is skipped and counted. The
    generator writes some CronExpr-only syntax (``5L``, ``L-3``, ``LW``, ``1-3#2``) on purpose.

croniter gives up when two consecutive matches are more than ``max_years_between_matches`` years
apart (default 50) and raises ``CroniterBadDateError`` although a fire time exists (``0 0 1 1 * 0
2099`` from 2025). That search window is not part of the schedule, so croniter is run with a
window (200 years) wider than any gap the generator can produce; a genuine "no fire time"
(``... 2000`` from 2025, ``0 0 29 2 * 0 2001-2003``) is still ``CroniterBadDateError`` and must be
``CronError`` here (at parse time, or from ``next``/``prev``).

Failing cases are printed with notes on how croniter read the day fields (informational only;
a note never excuses a case). Cases without a note are printed first.

Environment: ``FASTSCHEDULER_DIFF_CASES`` (default 20000), ``FASTSCHEDULER_DIFF_SEED`` (default
20240601), ``FASTSCHEDULER_DIFF_PREV_CASES`` (default 2000) for the ``prev`` comparison,
``FASTSCHEDULER_DIFF_DST_CASES`` (default 1500) for the DST policy test. Run with ``-s`` to see
the counts.
"""

from __future__ import annotations

import bisect
import calendar
import functools
import os
import random
import warnings
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from croniter import CroniterBadCronError, CroniterBadDateError, croniter  # a dev dependency

from fastscheduler import CronError, CronExpr

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

N_CASES = int(os.environ.get("FASTSCHEDULER_DIFF_CASES", "20000"))
N_PREV_CASES = int(os.environ.get("FASTSCHEDULER_DIFF_PREV_CASES", "2000"))
SEED = int(os.environ.get("FASTSCHEDULER_DIFF_SEED", "20240601"))
N_FIRES = 5
# Wider than any gap between two fire times the generator can produce (years 1970-2099, starts
# 1990-2060, a fifth Friday in February recurs within 40 years).
CRONITER_YEAR_WINDOW = 200
# DST-explained mismatches must stay below this fraction of the compared cases.
MAX_DST_FRACTION = 0.05

START_LO = calendar.timegm((1990, 1, 1, 0, 0, 0))
START_HI = calendar.timegm((2061, 1, 1, 0, 0, 0))

MONTH_NAMES = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
DOW_NAMES = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")
MACROS = ("@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly")

# name -> (low, high); day-of-week also accepts 7 (Sunday).
RANGES = {
    "second": (0, 59),
    "minute": (0, 59),
    "hour": (0, 23),
    "dom": (1, 31),
    "month": (1, 12),
    "dow": (0, 6),
    "year": (1970, 2099),
}


# --------------------------------------------------------------------------------------------
# Expression generator
# --------------------------------------------------------------------------------------------


def _case(rng: random.Random, word: str) -> str:
    """Random letter case: croniter and CronExpr are both case-insensitive."""
    r = rng.random()
    if r < 0.4:
        return word.upper()
    if r < 0.7:
        return word.lower()
    return "".join(c.upper() if rng.random() < 0.5 else c.lower() for c in word)


class ExprGen:
    """Seeded generator of cron expressions croniter 7 and CronExpr should agree on."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    # -- values -------------------------------------------------------------------------------
    def raw_value(self, f: str) -> int:
        lo, hi = RANGES[f]
        if f == "dow":
            hi = 7
        return self.rng.randint(lo, hi)

    def spell(self, f: str, v: int) -> str:
        """A value as a number or (month, day-of-week) sometimes as a name."""
        if f == "month" and self.rng.random() < 0.4:
            return _case(self.rng, MONTH_NAMES[v - 1])
        if f == "dow" and v != 7 and self.rng.random() < 0.4:
            return _case(self.rng, DOW_NAMES[v % 7])
        return str(v)

    def step(self, f: str) -> int:
        lo, hi = RANGES[f]
        size = hi - lo + 1
        r = self.rng.random()
        if r < 0.6:
            return self.rng.randint(1, min(size, 15))
        return self.rng.randint(1, size)

    def distinct_pair(self, f: str) -> tuple[int, int]:
        """Two raw values that are not equal (`5-5` means different things; see (b))."""
        while True:
            a, b = self.raw_value(f), self.raw_value(f)
            if f == "dow" and a % 7 == b % 7 and self.rng.random() < 0.9:
                continue  # `0-7` / `7-0` (whole week in both) only now and then
            if a != b:
                return a, b

    # -- elements -----------------------------------------------------------------------------
    def element(self, f: str, *, in_list: bool) -> str:
        rng = self.rng
        r = rng.random()
        lo, hi = RANGES[f]
        if f == "dom" and r < 0.08:
            return "L" if rng.random() < 0.5 else "l"
        if f == "dom" and r < 0.14:
            a = rng.randint(lo, hi - 1)  # never `31-L` (an equal range)
            text = f"{a}-{_case(rng, 'L')}"
            return text + (f"/{self.step(f)}" if rng.random() < 0.4 else "")
        if r < 0.40:
            return self.spell(f, self.raw_value(f))
        if r < 0.58:
            a, b = self.distinct_pair(f)
            if rng.random() < 0.6 and a > b:
                a, b = b, a  # mostly ascending, sometimes wrapping (`22-2`, `FRI-MON`)
            return f"{self.spell(f, a)}-{self.spell(f, b)}"
        if r < 0.74:
            a, b = self.distinct_pair(f)
            if rng.random() < 0.7 and a > b:
                a, b = b, a
            return f"{self.spell(f, a)}-{self.spell(f, b)}/{self.step(f)}"
        if r < 0.88:
            return f"*/{self.step(f)}"
        if r < 0.98 or not in_list:
            v = self.raw_value(f)
            text = f"{self.spell(f, v)}/{self.step(f)}"
            step = int(text.rsplit("/", 1)[1])
            if f == "dow" and ((v == 7 and step < 7) or (v < 7 and (7 - v) % step == 0)):
                return f"*/{step}"  # (e): `N/step` runs on to 7 (Sunday) here, stops at 6 in croniter
            return text
        return "*"

    def plain_field(self, f: str, star_p: float) -> str:
        rng = self.rng
        if rng.random() < star_p:
            return "*"
        n = rng.choices((1, 2, 3, 4), weights=(60, 25, 10, 5))[0]
        return ",".join(self.element(f, in_list=n > 1) for _ in range(n))

    def star_or_q(self) -> str:
        return "?" if self.rng.random() < 0.25 else "*"

    def day_fields(self) -> tuple[str, str]:
        rng = self.rng
        r = rng.random()
        if r < 0.07:
            # nW: the day-of-week field stays unrestricted (c).
            return f"{rng.randint(1, 31)}{_case(rng, 'W')}", self.star_or_q()
        if r < 0.17:
            # d#n, name-range#n and croniter's Ld: the day-of-month field stays unrestricted (c).
            items = []
            for _ in range(rng.choices((1, 2, 3), weights=(70, 22, 8))[0]):
                k = rng.random()
                if k < 0.55:
                    items.append(f"{self.spell('dow', self.raw_value('dow'))}#{rng.randint(1, 5)}")
                elif k < 0.7:
                    a, b = rng.sample(range(7), 2)
                    a_s, b_s = (_case(rng, DOW_NAMES[x]) for x in (a, b))
                    items.append(f"{a_s}-{b_s}#{rng.randint(1, 5)}")
                else:
                    items.append(f"{_case(rng, 'L')}{rng.randint(0, 7)}")
            return self.star_or_q(), ",".join(items)
        if r < 0.19:
            # Syntax only CronExpr accepts (d): croniter rejects it, so the case is skipped.
            k = rng.random()
            if k < 0.25:
                return _case(rng, "LW"), self.star_or_q()
            if k < 0.5:
                return f"{_case(rng, 'L')}-{rng.randint(1, 20)}", self.star_or_q()
            if k < 0.75:
                return self.star_or_q(), f"{self.spell('dow', rng.randint(0, 6))}{_case(rng, 'L')}"
            return self.star_or_q(), f"1-{rng.randint(2, 5)}#{rng.randint(1, 5)}"
        dom = self.plain_field("dom", 0.5)
        dow = self.plain_field("dow", 0.6)
        if dom == "*" and rng.random() < 0.2:
            dom = "?"
        if dow == "*" and rng.random() < 0.2:
            dow = "?"
        return dom, dow

    def year_field(self, start_year: int) -> str:
        rng = self.rng
        r = rng.random()
        if r < 0.3:
            return "*"

        def year() -> int:
            if rng.random() < 0.6:
                return min(2099, max(1970, start_year + rng.randint(-8, 15)))
            return rng.randint(1970, 2099)

        items = []
        for _ in range(rng.choices((1, 2, 3), weights=(60, 30, 10))[0]):
            k = rng.random()
            if k < 0.45:
                items.append(str(year()))
            elif k < 0.8:
                a, b = year(), year()
                while a == b:
                    b = year()
                if rng.random() < 0.85:
                    a, b = min(a, b), max(a, b)  # else a wrapping range, 2095-1972
                if rng.random() < 0.4:
                    items.append(f"{a}-{b}/{rng.randint(1, 10)}")
                else:
                    items.append(f"{a}-{b}")
            elif k < 0.9:
                items.append(f"*/{rng.randint(1, 20)}")
            else:
                items.append(f"{year()}/{rng.randint(1, 20)}")
        return ",".join(items)

    def sep(self) -> str:
        r = self.rng.random()
        if r < 0.93:
            return " "
        return self.rng.choice(("  ", "\t", " \t "))

    def expression(self, start_year: int) -> str:
        rng = self.rng
        if rng.random() < 0.03:
            return _case(rng, rng.choice(MACROS))
        minute = self.plain_field("minute", 0.12)
        hour = self.plain_field("hour", 0.35)
        dom, dow = self.day_fields()
        month = self.plain_field("month", 0.6)
        fields = [minute, hour, dom, month, dow]
        r = rng.random()
        if r < 0.22:
            fields.append(self.plain_field("second", 0.2))
        elif r < 0.34:
            fields.append(self.plain_field("second", 0.3))
            fields.append(self.year_field(start_year))
        out = fields[0]
        for f in fields[1:]:
            out += self.sep() + f
        return out


def random_start(rng: random.Random, zone: str) -> datetime:
    """A uniform instant in 1990-2060 as an aware datetime in `zone` (fold set by zoneinfo)."""
    ts = rng.randrange(START_LO, START_HI)
    r = rng.random()
    if r < 0.25:
        ts -= ts % 60  # exactly on a minute: the "strictly after" edge
    micro = rng.randrange(1, 1_000_000) if rng.random() < 0.35 else 0
    return datetime.fromtimestamp(ts, ZoneInfo(zone)).replace(microsecond=micro)


# --------------------------------------------------------------------------------------------
# UTC-offset transitions (from Python's tz database, which croniter uses)
# --------------------------------------------------------------------------------------------

_T_LO = calendar.timegm((1950, 1, 1, 0, 0, 0))
_T_HI = calendar.timegm((2400, 1, 1, 0, 0, 0))
_T_STEP = 5 * 86_400  # no two transitions of the zones tested are this close


@functools.cache
def transitions(zone: str) -> tuple[int, ...]:
    """Instants T (epoch seconds) where offset(T - 1) != offset(T), 1950-2400."""
    tz = ZoneInfo(zone)

    def off(t: int) -> object:
        return datetime.fromtimestamp(t, tz).utcoffset()

    out = []
    t, o = _T_LO, off(_T_LO)
    while t < _T_HI:
        u = t + _T_STEP
        ou = off(u)
        if ou != o:
            a, b = t, u  # offset(a) == o != offset(b)
            while b - a > 1:
                m = (a + b) // 2
                if off(m) == o:
                    a = m
                else:
                    b = m
            out.append(b)
        t, o = u, ou
    return tuple(out)


def has_transition(zone: str, a: float, b: float) -> bool:
    """Whether the zone changes its UTC offset at some instant in [a, b]."""
    lo, hi = min(a, b), max(a, b)
    ts = transitions(zone)
    i = bisect.bisect_left(ts, lo)
    return i < len(ts) and ts[i] <= hi


def transition_in(zone: str, a: float, b: float) -> int:
    """The transition instant in [a, b] (there must be one)."""
    ts = transitions(zone)
    i = bisect.bisect_left(ts, min(a, b))
    assert i < len(ts) and ts[i] <= max(a, b), (zone, a, b)
    return ts[i]


# --------------------------------------------------------------------------------------------
# The documented DST policy, as an independent oracle
# --------------------------------------------------------------------------------------------


def wall_instants(civil: datetime, zone: str, fixed: bool) -> list[int]:
    """Fire instants for one matching wall-clock time `civil` (naive) under the DST policy.

    Once if it exists once; in a fold, both occurrences, or only the first for a fixed-time
    expression; in a gap, nothing, or the end of the gap (the transition) for a fixed-time one.
    """
    tz = ZoneInfo(zone)
    first = int(civil.replace(tzinfo=tz, fold=0).timestamp())
    second = int(civil.replace(tzinfo=tz, fold=1).timestamp())
    exists = [
        t for t in sorted({first, second}) if datetime.fromtimestamp(t, tz).replace(tzinfo=None) == civil
    ]
    if exists:
        return exists[:1] if fixed else exists
    return [transition_in(zone, first, second)] if fixed else []


MARGIN = timedelta(hours=4)  # more than any DST shift


def policy_fires(expr: str, zone: str, start: datetime, n: int, *, backwards: bool) -> list[float]:
    """The first `n` fire instants after (before) `start` by the documented policy.

    Matching wall-clock times come from the expression evaluated in UTC (where wall clock and
    instants coincide, and which the differential test checks against croniter); the mapping to
    instants uses Python's zoneinfo. Wall-clock times are walked in order; around a transition
    the walk starts and ends `MARGIN` further out, since a fold maps later wall-clock times to
    earlier instants.
    """
    if n == 0:
        return []
    tz = ZoneInfo(zone)
    civil_utc = CronExpr(expr, tz="UTC")
    fixed = CronExpr(expr, tz=zone).is_fixed_time
    t0 = start.timestamp()
    margin = MARGIN.total_seconds()

    def near(t: float) -> timedelta:
        return MARGIN if has_transition(zone, t - margin, t + margin) else timedelta(0)

    wall = start.astimezone(tz).replace(tzinfo=None, microsecond=0)
    cursor = wall + timedelta(seconds=1) + near(t0) if backwards else wall - near(t0)
    found: set[int] = set()
    while True:
        if backwards:
            try:
                batch = [civil_utc.prev(cursor.replace(tzinfo=UTC))]
            except CronError:
                batch = []
        else:
            batch = civil_utc.next_n(cursor.replace(tzinfo=UTC), 64)
        if not batch:
            break
        for c_utc in batch:
            c = c_utc.replace(tzinfo=None)
            for t in wall_instants(c, zone, fixed):
                if (t < t0) if backwards else (t > t0):
                    found.add(t)
            if len(found) >= n:
                kth = sorted(found, reverse=backwards)[n - 1]
                kth_wall = datetime.fromtimestamp(kth, tz).replace(tzinfo=None)
                if (c < kth_wall - near(kth)) if backwards else (c > kth_wall + near(kth)):
                    return [float(t) for t in sorted(found, reverse=backwards)[:n]]
        cursor = batch[-1].replace(tzinfo=None)
    return [float(t) for t in sorted(found, reverse=backwards)[:n]]


# --------------------------------------------------------------------------------------------
# Running both engines
# --------------------------------------------------------------------------------------------


@dataclass
class Side:
    times: list[float] = field(default_factory=list)  # UTC epoch seconds
    parse_error: str | None = None
    no_more: bool = False  # croniter: BadDateError after len(times); ours: fewer than asked
    next_error: str | None = None  # ours: error from next()/prev() when times is empty
    bad_datetime: str | None = None  # ours: a returned datetime inconsistent with its instant


def run_ours(expr: str, zone: str, start: datetime, *, backwards: bool, n: int = N_FIRES) -> Side:
    s = Side()
    try:
        c = CronExpr(expr, tz=zone)
    except CronError as e:
        s.parse_error = str(e)
        return s
    if not backwards:
        got = c.next_n(start, n)
        for dt in got:
            check_returned(s, dt, zone)
        s.times = [dt.timestamp() for dt in got]
        s.no_more = len(got) < n
        if not got:
            try:
                c.next(start)
            except CronError as e:
                s.next_error = str(e)
        return s
    t = start
    for _ in range(n):
        try:
            t = c.prev(t)
        except CronError as e:
            s.no_more = True
            if not s.times:
                s.next_error = str(e)
            break
        check_returned(s, t, zone)
        s.times.append(t.timestamp())
    return s


def check_returned(s: Side, dt: datetime, zone: str) -> None:
    """A returned datetime is in the expression's zone, whole seconds, its fold consistent."""
    tz = ZoneInfo(zone)
    again = datetime.fromtimestamp(dt.timestamp(), tz)
    if (
        dt.tzinfo is None
        or dt.microsecond
        or dt.utcoffset() != again.utcoffset()
        or dt.replace(tzinfo=None) != again.replace(tzinfo=None)
        or (zone != "UTC" and dt.tzinfo is not tz)
    ):
        s.bad_datetime = s.bad_datetime or f"{dt!r} (fold={dt.fold}) is not {again!r}"


def run_croniter(expr: str, start: datetime, *, backwards: bool, n: int = N_FIRES) -> Side | None:
    """None when croniter rejects the expression (skip)."""
    s = Side()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            it = croniter(expr, start, max_years_between_matches=CRONITER_YEAR_WINDOW)
        except CroniterBadCronError:
            return None
        try:
            for _ in range(n):
                dt = it.get_prev(datetime) if backwards else it.get_next(datetime)
                s.times.append(dt.timestamp())
        except CroniterBadDateError:
            s.no_more = True
        except CroniterBadCronError:
            # Some unsupported combinations are only detected while searching.
            return None
    return s


def iso(ts: float, zone: str) -> str:
    dt = datetime.fromtimestamp(ts, ZoneInfo(zone))
    return f"{dt.isoformat()} ({datetime.fromtimestamp(ts, UTC).strftime('%Y-%m-%dT%H:%M:%SZ')})"


@dataclass
class Outcome:
    kind: str  # "match", "skip", "dst", "fail"
    detail: str = ""


def compare(expr: str, zone: str, start: datetime, *, backwards: bool) -> Outcome:
    o = _compare(expr, zone, start, backwards=backwards)
    if o.kind == "fail":
        o.detail += "".join(f"\n  note: {h}" for h in hints(expr))
    return o


def _compare(expr: str, zone: str, start: datetime, *, backwards: bool) -> Outcome:
    theirs = run_croniter(expr, start, backwards=backwards)
    if theirs is None:
        return Outcome("skip")
    ours = run_ours(expr, zone, start, backwards=backwards)

    def describe(reason: str) -> str:
        lines = [
            f"{reason}",
            f"  expr={expr!r} tz={zone!r} start={start.isoformat()} "
            f"({start.astimezone(UTC).isoformat()}) direction={'prev' if backwards else 'next'}",
            f"  ours   : parse_error={ours.parse_error!r} next_error={ours.next_error!r}",
        ]
        lines += [f"      {iso(t, zone)}" for t in ours.times]
        lines.append(f"  croniter: {'CroniterBadDateError after these' if theirs.no_more else ''}")
        lines += [f"      {iso(t, zone)}" for t in theirs.times]
        return "\n".join(lines)

    if ours.bad_datetime is not None:
        return Outcome("fail", describe(f"returned datetime is inconsistent: {ours.bad_datetime}"))
    if ours.parse_error is not None:
        if not theirs.times and theirs.no_more:
            return Outcome("match")  # never fires: CronError at parse, BadDateError
        return Outcome("fail", describe("CronError at parse time, croniter finds fire times"))
    if ours.times == theirs.times and ours.no_more == theirs.no_more:
        if not ours.times and ours.next_error is None:
            return Outcome("fail", describe("no fire time, but next()/prev() did not raise CronError"))
        return Outcome("match")
    # First disagreement, and the window it can have come from.
    i = 0
    while i < min(len(ours.times), len(theirs.times)) and ours.times[i] == theirs.times[i]:
        i += 1
    window_start = ours.times[i - 1] if i > 0 else start.timestamp()
    ends = [side.times[i] for side in (ours, theirs) if i < len(side.times)]
    if not ends:
        # Same times, but one side stopped early (only possible if one has fewer than asked).
        return Outcome("fail", describe("same fire times, different end of schedule"))
    if has_transition(zone, window_start, max(ends) if not backwards else min(ends)):
        # A transition is in the window. That explains the difference only if (1) the two engines
        # agree on the wall-clock schedule itself (the same expression and wall-clock start in
        # UTC, where there is no DST), and (2) what we return is what the documented DST policy
        # gives for that schedule in this zone.
        civil = civil_disagreement(expr, zone, [window_start, *ends], backwards=backwards)
        if civil is not None:
            return Outcome(
                "fail",
                describe(f"UNEXPLAINED (first difference at fire #{i}; a transition is near, but)")
                + "\n  the engines also disagree in UTC from the same wall-clock start:\n"
                + civil,
            )
        policy = policy_fires(expr, zone, start, N_FIRES, backwards=backwards)
        if policy != ours.times:
            lines = [f"      {iso(t, zone)}" for t in policy]
            return Outcome(
                "fail",
                describe(f"DST POLICY VIOLATED (first difference with croniter at fire #{i})")
                + "\n  documented policy:\n"
                + "\n".join(lines),
            )
        return Outcome("dst", describe(f"DST-explained (first difference at fire #{i})"))
    return Outcome("fail", describe(f"UNEXPLAINED (first difference at fire #{i}, no offset change)"))


CIVIL_CHECK_FIRES = 10


def civil_disagreement(expr: str, zone: str, instants: list[float], *, backwards: bool) -> str | None:
    """None if both engines give the same wall-clock schedule (the expression evaluated in UTC,
    where there is no DST) around the wall-clock times of `instants` in `zone`: the last agreed
    fire time and the first differing ones. Else a description of the first difference.

    From the wall clock of the first instant, and MARGIN before (after, for prev) it, and from
    just before (after) each of the others, CIVIL_CHECK_FIRES fire times must agree.
    """
    tz = ZoneInfo(zone)
    utc = ZoneInfo("UTC")
    sign = 1 if backwards else -1
    walls = [datetime.fromtimestamp(t, tz).replace(tzinfo=utc) for t in instants]
    points = [walls[0], walls[0] + sign * MARGIN] + [w + sign * timedelta(seconds=1) for w in walls[1:]]
    for p in points:
        ours = run_ours(expr, "UTC", p, backwards=backwards, n=CIVIL_CHECK_FIRES)
        theirs = run_croniter(expr, p, backwards=backwards, n=CIVIL_CHECK_FIRES)
        if theirs is None or (ours.times == theirs.times and ours.no_more == theirs.no_more):
            continue
        return (
            f"    from {p.isoformat()} in UTC\n    ours    : "
            + ", ".join(iso(t, "UTC") for t in ours.times)
            + "\n    croniter: "
            + ", ".join(iso(t, "UTC") for t in theirs.times)
        )
    return None


@dataclass
class Tally:
    seed: int = SEED
    cases: int = 0
    match: int = 0
    skip: int = 0
    dst: list[str] = field(default_factory=list)
    fail: list[str] = field(default_factory=list)

    def add(self, o: Outcome) -> None:
        self.cases += 1
        if o.kind == "match":
            self.match += 1
        elif o.kind == "skip":
            self.skip += 1
        elif o.kind == "dst":
            self.dst.append(o.detail)
        else:
            self.fail.append(o.detail)

    def report(self, title: str) -> str:
        compared = self.cases - self.skip
        return (
            f"\n[{title}] seed={self.seed} cases={self.cases} compared={compared} equal={self.match} "
            f"skipped(croniter rejects)={self.skip} DST-explained={len(self.dst)} "
            f"({len(self.dst) / max(compared, 1):.2%}) unexplained={len(self.fail)}"
        )


def generate_cases(seed: int, n: int) -> list[tuple[str, str, datetime]]:
    rng = random.Random(seed)
    gen = ExprGen(rng)
    out = []
    for _ in range(n):
        zone = rng.choice(ZONES)
        start = random_start(rng, zone)
        out.append((gen.expression(start.year), zone, start))
    return out


def run_all(seed: int, n: int, *, backwards: bool) -> Tally:
    tally = Tally(seed=seed)
    for expr, zone, start in generate_cases(seed, n):
        tally.add(compare(expr, zone, start, backwards=backwards))
    return tally


def hints(expr: str) -> list[str]:
    """Informational notes on a failing case (never used to excuse it): how croniter read the
    day fields, which explains the incompatibilities known so far."""
    out = []
    fields = expr.lower().split()
    if len(fields) < 5:
        return out
    try:
        expanded = croniter.expand(expr)[0]
    except Exception:
        return out
    for idx, name in ((2, "day-of-month"), (4, "day-of-week")):
        text = fields[idx]
        if "*" in text.split(",") and text not in ("*", "?"):
            out.append(f"'*' is an element of the {name} list (croniter: the field is '*')")
        elif expanded[idx] == ["*"] and text not in ("*", "?") and "*" not in text.split(","):
            out.append(f"croniter collapsed the {name} field {text!r} to '*'")
    return out


def check(tally: Tally, title: str) -> None:
    print(tally.report(title))
    for d in tally.dst[:2]:
        print("  example " + d.replace("\n", "\n  "))
    compared = tally.cases - tally.skip
    if tally.fail:
        notes = Counter(
            line.strip() for d in tally.fail for line in d.splitlines() if line.startswith("  note: ")
        )
        print(f"\n[{title}] first {min(20, len(tally.fail))} of {len(tally.fail)} unexplained mismatches:")
        # Cases no note explains first: they are the ones not yet understood.
        ordered = sorted(tally.fail, key=lambda d: "\n  note: " in d)
        for d in ordered[:20]:
            print(d)
        print(f"[{title}] notes over all {len(tally.fail)} unexplained mismatches: {dict(notes)}")
        pytest.fail(
            f"{len(tally.fail)} unexplained mismatches with croniter out of {compared} compared "
            f"cases (run with -s for the first 20); first:\n{ordered[0]}",
            pytrace=False,
        )
    if len(tally.dst) >= MAX_DST_FRACTION * max(compared, 1):
        pytest.fail(f"too many DST-explained mismatches: {tally.report(title)}", pytrace=False)
    # The comparison must actually compare something.
    assert compared >= 0.5 * tally.cases, tally.report(title)


# --------------------------------------------------------------------------------------------
# Tests
# --------------------------------------------------------------------------------------------


def test_generator_is_deterministic_and_covers_the_grammar() -> None:
    a = generate_cases(SEED, 3000)
    assert a == generate_cases(SEED, 3000)
    exprs = [e for e, _, _ in a]
    text = "\n".join(exprs).lower()
    for needle in ("#", "w", "l", "?", "/", "-", ",", "@", "jan", "mon", "\t"):
        assert needle in text, needle
    n_fields = [len(e.split()) for e in exprs if not e.startswith("@")]
    assert {5, 6, 7} <= set(n_fields)
    assert any(s.microsecond for _, _, s in a)
    assert {z for _, z, _ in a} == set(ZONES)


def test_transition_table_sanity() -> None:
    # New York, 2026: spring forward 2026-03-08 07:00Z, fall back 2026-11-01 06:00Z.
    ny = transitions("America/New_York")
    assert calendar.timegm((2026, 3, 8, 7, 0, 0)) in ny
    assert calendar.timegm((2026, 11, 1, 6, 0, 0)) in ny
    assert transitions("UTC") == ()
    assert not has_transition("Asia/Tokyo", START_LO, START_HI)
    # Lord Howe's half-hour shift: 2026-04-05 02:00 local (+11) -> 01:30 (+10:30).
    assert calendar.timegm((2026, 4, 4, 15, 0, 0)) in transitions("Australia/Lord_Howe")


def test_differential_next_against_croniter() -> None:
    check(run_all(SEED, N_CASES, backwards=False), "next")


def test_differential_prev_against_croniter() -> None:
    check(run_all(SEED + 1, N_PREV_CASES, backwards=True), "prev")


# Known cases, kept as plain regression tests alongside the random ones (each also documents a
# rule of the comparison above).
@pytest.mark.parametrize(
    ("expr", "zone", "start"),
    [
        ("*/10 * * * * 15", "UTC", "2026-01-01T00:00:00+00:00"),
        ("0 0 * * L5", "Europe/Berlin", "2026-01-01T00:00:00+01:00"),
        ("0 0 15W * ?", "Asia/Tokyo", "2026-01-01T00:00:00+09:00"),
        ("0 0 * FEB 5#5", "UTC", "2026-01-01T00:00:00+00:00"),
        ("0 22-2/3 * * FRI-MON", "Asia/Kolkata", "2026-01-01T00:00:00+05:30"),
        ("0 0 1 1 * 0 2099", "UTC", "2026-01-01T00:00:00+00:00"),  # > 50 years away
        ("0 0 1 1 * 0 2000", "UTC", "2026-01-01T00:00:00+00:00"),  # no fire time
        ("0 0 29 2 * 0 2001-2003", "UTC", "1999-01-01T00:00:00+00:00"),  # never fires
        ("30 1 * * *", "UTC", "2026-01-01T01:30:00.500000+00:00"),
    ],
)
def test_differential_known_cases(expr: str, zone: str, start: str) -> None:
    s = datetime.fromisoformat(start).astimezone(ZoneInfo(zone))
    for backwards in (False, True):
        o = compare(expr, zone, s, backwards=backwards)
        assert o.kind == "match", o.detail


def test_classification_of_mismatches() -> None:
    """The rules above on two known cases: a DST-policy difference is explained; a wall-clock
    difference that merely has a transition nearby is not."""
    ny = ZoneInfo("America/New_York")
    # Fall back 2026-11-01: ours fires 01:30 once (the first occurrence), croniter twice.
    o = compare("30 1 * * *", "America/New_York", datetime(2026, 10, 31, 12, tzinfo=ny), backwards=False)
    assert o.kind == "dst", o.detail
    # `12-12` (deliberate difference (b): one value for us, every hour for croniter): a transition
    # (2026-03-29) lies in the window, but the engines also disagree in UTC, so it is not excused.
    berlin = ZoneInfo("Europe/Berlin")
    o = compare("0 12-12 * * *", "Europe/Berlin", datetime(2026, 3, 28, 12, tzinfo=berlin), backwards=False)
    assert o.kind == "fail" and "also disagree in UTC" in o.detail, o.detail


# --------------------------------------------------------------------------------------------
# DST policy: starts next to UTC-offset transitions, against the documented policy
# --------------------------------------------------------------------------------------------

N_DST_CASES = int(os.environ.get("FASTSCHEDULER_DIFF_DST_CASES", "1500"))
DST_ZONES = tuple(z for z in ZONES if has_transition(z, START_LO, START_HI))


def generate_dst_cases(seed: int, n: int) -> list[tuple[str, str, datetime]]:
    rng = random.Random(seed)
    gen = ExprGen(rng)
    out = []
    for _ in range(n):
        zone = rng.choice(DST_ZONES)
        ts = [t for t in transitions(zone) if START_LO <= t < START_HI]
        transition = rng.choice(ts)
        t = transition + rng.randint(-2 * 86_400, 3 * 3600)
        if rng.random() < 0.3:
            t -= t % 60
        start = datetime.fromtimestamp(t, ZoneInfo(zone))
        if rng.random() < 0.3:
            start = start.replace(microsecond=rng.randrange(1, 1_000_000))
        if rng.random() < 0.4:
            expr = gen.expression(start.year)
        else:
            # Daily wall-clock schedules, hours biased to where transitions happen.
            minute = gen.plain_field("minute", 0.1)
            r = rng.random()
            if r < 0.5:
                # The wall-clock hour just before or at the transition: inside the gap or fold.
                hour = str(datetime.fromtimestamp(transition - rng.choice((1, 0)), ZoneInfo(zone)).hour)
            elif r < 0.7:
                hour = str(rng.randint(0, 3))
            else:
                hour = gen.plain_field("hour", 0.2)
            fields = [minute, hour, "*", "*", "*"]
            if rng.random() < 0.2:
                fields.append(rng.choice(("0", "30", "59", "0,30", "15-16")))
            expr = " ".join(fields)
        out.append((expr, zone, start))
    return out


def test_dst_policy_near_transitions() -> None:
    """Around transitions, next_n and prev follow the DST policy of docs/cron.md exactly."""
    failures = []
    checked = 0
    for expr, zone, start in generate_dst_cases(SEED + 2, N_DST_CASES):
        try:
            CronExpr(expr, tz=zone)
        except CronError:
            continue
        checked += 1
        for backwards in (False, True):
            ours = run_ours(expr, zone, start, backwards=backwards)
            want = policy_fires(expr, zone, start, N_FIRES, backwards=backwards)
            if ours.times != want:
                failures.append(
                    f"expr={expr!r} tz={zone!r} start={start.isoformat()} "
                    f"({start.astimezone(UTC).isoformat()}) {'prev' if backwards else 'next'}\n"
                    + "  ours  : "
                    + ", ".join(iso(t, zone) for t in ours.times)
                    + "\n  policy: "
                    + ", ".join(iso(t, zone) for t in want)
                )
    print(f"\n[dst-policy] seed={SEED + 2} cases={N_DST_CASES} checked={checked} violations={len(failures)}")
    for f in failures[:20]:
        print(f)
    assert checked > 0.8 * N_DST_CASES
    assert not failures, f"{len(failures)} DST policy violations; first:\n{failures[0]}"


# --------------------------------------------------------------------------------------------
# Incompatibilities the random runs above once found, kept as minimal regression cases (the
# engine now reads each of them as croniter 7 does).
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "expr",
    [
        # croniter reads a day field that has `*` among its list elements as `*` (unrestricted),
        # so the other day field alone decides: Mondays only. CronExpr ORs "every day" with MON.
        pytest.param("0 0 1,* * MON", id="star-in-day-of-month-list"),
        pytest.param("0 0 *,* * MON", id="star-star-day-of-month"),
        pytest.param("0 0 1 * *,MON", id="star-in-day-of-week-list"),
        # croniter collapses a day-of-month list with 31 entries to `*` when the day-of-week field
        # contains `*`, counting `L` as an entry: `2-L,L` (or `1-30,L`) is read as `*`, so the
        # day-of-week field alone decides. CronExpr mirrors the collapse only for 1-31 without L.
        pytest.param("0 0 2-L,L * */2", id="dom-list-with-L-collapsed-by-croniter"),
        pytest.param("0 0 1-30,L * */2", id="dom-1-30-L-collapsed-by-croniter"),
        # croniter accepts the nearest-weekday day also written before the W; CronExpr rejects it.
        pytest.param("0 0 W15 * *", id="W-before-day"),
    ],
)
def test_former_croniter_incompatibility(expr: str) -> None:
    start = datetime(2025, 1, 15, 10, 0, 30, tzinfo=ZoneInfo("UTC"))
    o = compare(expr, "UTC", start, backwards=False)
    assert o.kind == "match", o.detail


@pytest.mark.parametrize("expr", ["*/61 * * * *", "0 */25 * * *", "0 0 * * */8", "* * * * * */61"])
def test_oversized_step_is_rejected_deliberately(expr: str) -> None:
    # Deliberate difference (docs/cron.md): croniter 7 accepts a step larger than the field's range and
    # fires at the first value only (`*/61` = minute 0), which is never what the author meant.
    with pytest.raises(CronError, match=r"is larger than the \d+ .* \(a step is at most one full cycle of"):
        CronExpr(expr)

"""The schedule builders (``fastscheduler._builders``), with a recording ``register`` and a fixed clock."""

from __future__ import annotations

import inspect
import itertools
import math
import re
from collections.abc import Callable
from dataclasses import FrozenInstanceError, dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from fastscheduler import CronError, CronExpr, UnknownTimeZoneError, _builders
from fastscheduler._builders import (
    DEFAULT_RETRIES,
    DEFAULT_TZ,
    At,
    Cron,
    Daily,
    Every,
    Hourly,
    JobSpec,
    Once,
    Weekly,
)

NOW = 1_780_000_000.0  # 2026-05-28T20:26:40Z, a Thursday
UTC = timezone.utc


@dataclass
class Call:
    spec: JobSpec
    func: Callable[..., Any]
    args: tuple[Any, ...]
    kwargs: dict[str, Any]


@dataclass
class Recorder:
    """A fake scheduler: records every registration and answers job ids job-1, job-2, ..."""

    calls: list[Call] = field(default_factory=list)
    now: float = NOW

    def register(
        self, spec: JobSpec, func: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> str:
        self.calls.append(Call(spec, func, args, kwargs))
        return f"job-{len(self.calls)}"

    def clock(self) -> float:
        return self.now

    # the scheduler's surface, as it will call the builders
    def every(self, n: float) -> Every:
        return Every(self.register, self.clock, n)

    @property
    def daily(self) -> Daily:
        return Daily(self.register, self.clock)

    @property
    def hourly(self) -> Hourly:
        return Hourly(self.register, self.clock)

    @property
    def weekly(self) -> Weekly:
        return Weekly(self.register, self.clock)

    def cron(self, expr: str, tz: str | None = None) -> Cron:
        return Cron(self.register, self.clock, expr, tz)

    def once(self, delay: float) -> Once:
        return Once(self.register, self.clock, delay)

    def at(self, when: datetime | str) -> At:
        return At(self.register, self.clock, when)

    @property
    def spec(self) -> JobSpec:
        assert len(self.calls) == 1, self.calls
        return self.calls[0].spec


@pytest.fixture
def s() -> Recorder:
    return Recorder()


@pytest.fixture(autouse=True)
def _local_zone_is_utc(monkeypatch: pytest.MonkeyPatch) -> None:
    """Schedule texts name a zone when it is not the machine's: pin the machine's to UTC (the
    builders' default zone here), whatever zone the test machine is in."""
    monkeypatch.setenv("TZ", "UTC")


def job() -> None:
    pass


def fires(spec: JobSpec, after: datetime, n: int = 3) -> list[datetime]:
    """The next ``n`` fire times of a cron spec, in UTC."""
    assert spec.kind == "cron" and spec.cron is not None
    return [t.astimezone(UTC) for t in CronExpr(spec.cron, tz=spec.tz).next_n(after, n)]


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def _re(text: str) -> str:
    """``text`` as a regex that matches it literally."""
    return re.escape(text)


# --------------------------------------------------------------------------- registration forms


def test_decorator_returns_the_original_function(s: Recorder) -> None:
    def f(x: int = 1) -> int:
        return x + 1

    assert s.every(10).seconds(f) is f
    assert f(2) == 3
    [call] = s.calls
    assert call.func is f and call.args == () and call.kwargs == {}


def test_decorator_keeps_async_functions_async(s: Recorder) -> None:
    @s.daily.at("14:30")
    async def report() -> str:
        return "done"

    assert inspect.iscoroutinefunction(report)
    assert report.__name__ == "report"
    assert s.calls[0].func is report


def test_two_decorators_are_two_jobs(s: Recorder) -> None:
    @s.every(10).seconds
    @s.cron("0 9 * * MON-FRI")
    def both() -> None:
        pass

    assert [c.func for c in s.calls] == [both, both]
    assert [c.spec.kind for c in s.calls] == ["cron", "interval"]


def test_do_passes_arguments_and_returns_the_job_id(s: Recorder) -> None:
    assert s.every(5).minutes.do(job) == "job-1"
    assert s.weekly.monday.at("10:00").do(print, 1, x=2) == "job-2"
    call = s.calls[1]
    assert call.func is print and call.args == (1,) and call.kwargs == {"x": 2}


def test_do_accepts_a_keyword_named_func(s: Recorder) -> None:
    s.every(1).hours.do(job, func="kw")
    assert s.calls[0].kwargs == {"func": "kw"}


@pytest.mark.parametrize("thing", [None, 5, "job"])
def test_only_callables_are_scheduled(s: Recorder, thing: Any) -> None:
    with pytest.raises(TypeError, match="can only schedule a callable"):
        s.every(1).seconds(thing)
    with pytest.raises(TypeError, match="can only schedule a callable"):
        s.every(1).seconds.do(thing)
    assert s.calls == []


def test_the_article_examples_all_register(s: Recorder) -> None:
    s.every(10).seconds(job)
    s.every(5).minutes(job)
    s.daily.at("14:30")(job)
    s.cron("0 9 * * MON-FRI")(job)
    s.once(60)(job)
    s.weekly.monday.at("10:00")(job)
    s.daily.at("09:00", tz="America/New_York")(job)
    s.weekly.friday.tz("Asia/Tokyo").at("17:00")(job)
    s.every(1).minutes.timeout(45)(job)
    s.every(10).minutes.retries(4)(job)
    s.every(1).hours.no_catch_up()(job)
    texts = [c.spec.schedule for c in s.calls]
    assert texts == [
        "Every 10 seconds",
        "Every 5 minutes",
        "Daily at 14:30",
        "Cron: 0 9 * * MON-FRI \u2014 at 09:00, on Mon\u2013Fri",
        "Once at 2026-05-28 20:27:40",
        "Every Mon at 10:00",
        "Daily at 09:00 (America/New_York)",
        "Every Fri at 17:00 (Asia/Tokyo)",
        "Every minute",
        "Every 10 minutes",
        "Every hour",
    ]
    assert s.calls[8].spec.timeout == 45.0
    assert s.calls[9].spec.retries == 4
    assert s.calls[10].spec.catch_up is False


def test_build_returns_the_spec_without_registering(s: Recorder) -> None:
    spec = s.every(3).seconds.build()
    assert spec.interval == 3.0 and s.calls == []


def test_builders_are_immutable_and_reusable(s: Recorder) -> None:
    base = s.every(10).minutes
    base.retries(1)(job)
    base.timeout(5)(job)
    base(job)
    a, b, c = (call.spec for call in s.calls)
    assert (a.retries, a.timeout) == (1, None)
    assert (b.retries, b.timeout) == (DEFAULT_RETRIES, 5.0)
    assert (c.retries, c.timeout) == (DEFAULT_RETRIES, None)
    nightly = s.daily.tz("Europe/Paris")
    assert nightly.at("02:00").build().cron == "0 2 * * * 0"
    assert nightly.at("03:00").build().cron == "0 3 * * * 0"


def test_repr_shows_the_chain(s: Recorder) -> None:
    assert repr(s.every(10).minutes) == "<Every every(10).minutes>"
    assert repr(s.weekly.on(["wed", "mon"]).at("10:00")) == "<Weekly weekly.on(['mon', 'wed']).at(\"10:00\")>"


# --------------------------------------------------------------------------- every


@pytest.mark.parametrize(
    ("unit", "seconds"),
    [
        ("seconds", 1),
        ("second", 1),
        ("minutes", 60),
        ("minute", 60),
        ("hours", 3600),
        ("hour", 3600),
        ("days", 86400),
        ("day", 86400),
        ("weeks", 604800),
        ("week", 604800),
    ],
)
def test_every_units(s: Recorder, unit: str, seconds: int) -> None:
    getattr(s.every(2), unit)(job)
    spec = s.spec
    assert spec.kind == "interval"
    assert spec.interval == 2 * seconds
    assert (spec.cron, spec.at) == (None, None)
    assert spec.schedule == f"Every 2 {unit.rstrip('s')}s"
    assert spec.schedule_key == f"every:{2 * seconds}s"
    assert spec.tz == "UTC"


@pytest.mark.parametrize(
    ("n", "unit", "text", "key", "interval"),
    [
        (10, "seconds", "Every 10 seconds", "every:10s", 10.0),
        (0.2, "seconds", "Every 0.2 seconds", "every:0.2s", 0.2),
        (1, "minutes", "Every minute", "every:60s", 60.0),
        (1.0, "hours", "Every hour", "every:3600s", 3600.0),
        (1, "days", "Every day", "every:86400s", 86400.0),
        (2, "weeks", "Every 2 weeks", "every:1209600s", 1209600.0),
        (1.5, "minutes", "Every 1.5 minutes", "every:90s", 90.0),
        (0.1, "minutes", "Every 0.1 minutes", "every:6s", 6.0),  # 0.1 * 60 is 6.000000000000001
        (0.5, "minutes", "Every 0.5 minutes", "every:30s", 30.0),
    ],
)
def test_every_texts_and_keys(s: Recorder, n: float, unit: str, text: str, key: str, interval: float) -> None:
    spec = getattr(s.every(n), unit).build()
    assert (spec.schedule, spec.schedule_key, spec.interval) == (text, key, interval)


def test_every_same_duration_same_key(s: Recorder) -> None:
    assert s.every(0.5).minutes.build().schedule_key == s.every(30).seconds.build().schedule_key


def test_every_with_a_zone_only_shows_it(s: Recorder) -> None:
    spec = s.every(10).seconds.tz("europe/paris").build()
    assert spec.interval == 10.0
    assert spec.tz == "Europe/Paris"
    assert spec.schedule == "Every 10 seconds (Europe/Paris)"
    assert spec.schedule_key == "every:10s"


@pytest.mark.parametrize("n", [-5, 0, 0.0, -0.1, math.nan, math.inf, -math.inf])
def test_every_rejects_non_positive(s: Recorder, n: float) -> None:
    with pytest.raises(ValueError, match=r"every\(n\) must be a positive number"):
        s.every(n)


@pytest.mark.parametrize("n", [True, False, "5", None, [5]])
def test_every_rejects_non_numbers(s: Recorder, n: Any) -> None:
    with pytest.raises(TypeError, match=r"every\(n\) must be a number"):
        s.every(n)


def test_every_unit_twice(s: Recorder) -> None:
    with pytest.raises(ValueError, match=r"every\(1\)\.minutes\.hours: the unit is already set \(minutes\)"):
        s.every(1).minutes.hours  # noqa: B018
    with pytest.raises(ValueError, match="the unit is already set"):
        s.every(1).second.seconds  # noqa: B018


def test_every_without_a_unit(s: Recorder) -> None:
    with pytest.raises(ValueError, match=r"every\(5\) needs a unit: write every\(5\)\.seconds, \.minutes"):
        s.every(5)(job)
    with pytest.raises(ValueError, match="needs a unit"):
        s.every(5).do(job)
    with pytest.raises(ValueError, match="needs a unit"):
        s.every(5).retries(2)(job)
    assert s.calls == []


def test_every_bounds(s: Recorder) -> None:
    with pytest.raises(ValueError, match="shorter than a microsecond"):
        s.every(1e-9).seconds  # noqa: B018
    with pytest.raises(ValueError, match="longer than a century"):
        s.every(10_000).weeks  # noqa: B018
    assert s.every(1e-6).seconds.build().interval == 1e-6


# --------------------------------------------------------------------------- daily


def test_daily_at(s: Recorder) -> None:
    s.daily.at("14:30")(job)
    spec = s.spec
    assert spec.kind == "cron"
    assert spec.cron == "30 14 * * * 0"
    assert spec.tz == "UTC"
    assert spec.schedule == "Daily at 14:30"  # the machine's zone (UTC here): not named
    assert spec.schedule_key == "daily:14:30:00@UTC"
    assert (spec.interval, spec.at) == (None, None)
    assert fires(spec, utc(2026, 1, 1)) == [
        utc(2026, 1, 1, 14, 30),
        utc(2026, 1, 2, 14, 30),
        utc(2026, 1, 3, 14, 30),
    ]


def test_daily_at_with_seconds_and_one_digit_hour(s: Recorder) -> None:
    spec = s.daily.at("14:30:05").build()
    assert spec.cron == "30 14 * * * 5"
    assert spec.schedule == "Daily at 14:30:05"
    assert spec.schedule_key == "daily:14:30:05@UTC"
    assert fires(spec, utc(2026, 1, 1), 1) == [utc(2026, 1, 1, 14, 30, 5)]
    assert s.daily.at("9:05").build().cron == "5 9 * * * 0"
    assert s.daily.at(" 00:00 ").build().cron == "0 0 * * * 0"
    assert s.daily.at("23:59:59").build().cron == "59 23 * * * 59"


def test_daily_in_a_zone_both_spellings(s: Recorder) -> None:
    a = s.daily.at("09:00", tz="America/New_York").build()
    b = s.daily.tz("America/New_York").at("09:00").build()
    c = s.daily.at("09:00").tz("america/new_york").build()
    assert a == b == c
    assert a.schedule == "Daily at 09:00 (America/New_York)"
    assert a.schedule_key == "daily:09:00:00@America/New_York"
    # 09:00 EST is 14:00Z; after the March change 09:00 EDT is 13:00Z
    assert fires(a, utc(2026, 3, 7), 2) == [utc(2026, 3, 7, 14), utc(2026, 3, 8, 13)]


def test_daily_follows_the_dst_policy(s: Recorder) -> None:
    # 02:30 does not exist in New York on 2026-03-08: fixed-time runs at the first instant after the gap
    spec = s.daily.at("02:30", tz="America/New_York").build()
    assert CronExpr(spec.cron or "", tz=spec.tz).is_fixed_time
    assert fires(spec, utc(2026, 3, 8), 1) == [utc(2026, 3, 8, 7)]
    # 01:30 happens twice on 2026-11-01: fires once, at the first occurrence
    spec = s.daily.at("01:30", tz="America/New_York").build()
    assert fires(spec, utc(2026, 11, 1), 2) == [utc(2026, 11, 1, 5, 30), utc(2026, 11, 2, 6, 30)]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("25:00", '"25:00" is not a valid time: hours must be 00-23'),
        ("24:00", '"24:00" is not a valid time: hours must be 00-23'),
        ("12:60", '"12:60" is not a valid time: minutes must be 00-59'),
        ("12:00:60", '"12:00:60" is not a valid time: seconds must be 00-59'),
        ("9", '"9" is not a valid time: expected "HH:MM" or "HH:MM:SS"'),
        ("ab:cd", '"ab:cd" is not a valid time: expected "HH:MM" or "HH:MM:SS"'),
        ("", '"" is not a valid time: expected "HH:MM" or "HH:MM:SS"'),
        ("12:5", '"12:5" is not a valid time: expected'),
        ("123:00", '"123:00" is not a valid time: expected'),
        ("-1:00", '"-1:00" is not a valid time: expected'),
        ("12:00:00:00", '"12:00:00:00" is not a valid time: expected'),
        ("2pm", '"2pm" is not a valid time: expected'),
    ],
)
def test_daily_bad_times(s: Recorder, text: str, message: str) -> None:
    with pytest.raises(ValueError, match="^" + _re(message)):
        s.daily.at(text)
    with pytest.raises(ValueError, match="^" + _re(message)):
        s.weekly.monday.at(text)


@pytest.mark.parametrize("value", [930, 9.5, None])
def test_daily_at_takes_a_string(s: Recorder, value: Any) -> None:
    with pytest.raises(TypeError, match='a time must be a string "HH:MM"'):
        s.daily.at(value)


def test_daily_without_at(s: Recorder) -> None:
    with pytest.raises(ValueError, match=_re('daily needs a time: write daily.at("HH:MM")')):
        s.daily(job)
    with pytest.raises(ValueError, match="daily needs a time"):
        s.daily.tz("Europe/Paris").do(job)
    assert s.calls == []


def test_daily_at_twice(s: Recorder) -> None:
    with pytest.raises(ValueError, match=_re("daily.at(\"10:00\"): the time is already set ('10:00')")):
        s.daily.at("10:00").at("11:00")


# --------------------------------------------------------------------------- hourly


@pytest.mark.parametrize(
    ("text", "cron", "shown", "key"),
    [
        (":15", "15 * * * * 0", "Hourly at :15", "hourly:15:00@UTC"),
        (":00", "0 * * * * 0", "Hourly at :00", "hourly:00:00@UTC"),
        (":15:30", "15 * * * * 30", "Hourly at :15:30", "hourly:15:30@UTC"),
        ("15", "15 * * * * 0", "Hourly at :15", "hourly:15:00@UTC"),
        ("5", "5 * * * * 0", "Hourly at :05", "hourly:05:00@UTC"),
        (":59:59", "59 * * * * 59", "Hourly at :59:59", "hourly:59:59@UTC"),
    ],
)
def test_hourly_at(s: Recorder, text: str, cron: str, shown: str, key: str) -> None:
    s.hourly.at(text)(job)
    spec = s.spec
    assert (spec.kind, spec.cron, spec.schedule, spec.schedule_key, spec.tz) == (
        "cron",
        cron,
        shown,
        key,
        "UTC",
    )


def test_hourly_fires_every_hour(s: Recorder) -> None:
    spec = s.hourly.at(":15").build()
    assert fires(spec, utc(2026, 1, 1, 0, 20)) == [
        utc(2026, 1, 1, 1, 15),
        utc(2026, 1, 1, 2, 15),
        utc(2026, 1, 1, 3, 15),
    ]


def test_hourly_in_a_half_hour_zone(s: Recorder) -> None:
    spec = s.hourly.at(":15", tz="Asia/Kolkata").build()
    assert spec.schedule == "Hourly at :15 (Asia/Kolkata)"
    assert spec.schedule_key == "hourly:15:00@Asia/Kolkata"
    assert fires(spec, utc(2026, 1, 1), 2) == [utc(2026, 1, 1, 0, 45), utc(2026, 1, 1, 1, 45)]
    assert s.hourly.tz("Asia/Kolkata").at(":15").build() == spec


def test_hourly_fires_twice_in_a_repeated_hour(s: Recorder) -> None:
    # New York falls back at 06:00Z on 2026-11-01: 01:15 EDT (05:15Z) and 01:15 EST (06:15Z) both happen
    spec = s.hourly.at(":15", tz="America/New_York").build()
    assert fires(spec, utc(2026, 11, 1, 5), 3) == [
        utc(2026, 11, 1, 5, 15),
        utc(2026, 11, 1, 6, 15),
        utc(2026, 11, 1, 7, 15),
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (":60", '":60" is not a valid time: minutes must be 00-59'),
        ("75", '"75" is not a valid time: minutes must be 00-59'),
        (":15:60", '":15:60" is not a valid time: seconds must be 00-59'),
        ("14:30", '"14:30" is not a valid minute past the hour: expected ":MM", ":MM:SS" or "MM"'),
        ("", '"" is not a valid minute past the hour'),
        (":", '":" is not a valid minute past the hour'),
        (":ab", '":ab" is not a valid minute past the hour'),
        (":123", '":123" is not a valid minute past the hour'),
    ],
)
def test_hourly_bad_minutes(s: Recorder, text: str, message: str) -> None:
    with pytest.raises(ValueError, match="^" + _re(message)):
        s.hourly.at(text)


def test_hourly_misuse(s: Recorder) -> None:
    with pytest.raises(TypeError, match=_re('hourly.at() takes a string ":MM"')):
        s.hourly.at(15)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=_re('hourly needs a minute: write hourly.at(":MM")')):
        s.hourly(job)
    with pytest.raises(ValueError, match="the minute is already set"):
        s.hourly.at(":15").at(":30")


# --------------------------------------------------------------------------- weekly


@pytest.mark.parametrize(
    ("day", "cron_day", "name", "first"),
    [
        ("monday", "MON", "Monday", 1),
        ("tuesday", "TUE", "Tuesday", 2),
        ("wednesday", "WED", "Wednesday", 3),
        ("thursday", "THU", "Thursday", 4),
        ("friday", "FRI", "Friday", 5),
        ("saturday", "SAT", "Saturday", 6),
        ("sunday", "SUN", "Sunday", 7),
    ],
)
def test_weekly_single_days(s: Recorder, day: str, cron_day: str, name: str, first: int) -> None:
    getattr(s.weekly, day).at("10:00")(job)
    spec = s.spec
    assert spec.kind == "cron"
    assert spec.cron == f"0 10 * * {cron_day} 0"
    assert spec.schedule == f"Every {name[:3]} at 10:00"
    assert spec.schedule_key == f"weekly:{cron_day}:10:00:00@UTC"
    # 2026-06-01 is a Monday
    assert fires(spec, utc(2026, 5, 31, 23), 2) == [utc(2026, 6, first, 10), utc(2026, 6, first + 7, 10)]


def test_weekly_weekdays_and_weekends(s: Recorder) -> None:
    wd = s.weekly.weekdays.at("09:00").build()
    assert wd.cron == "0 9 * * MON,TUE,WED,THU,FRI 0"
    assert wd.schedule == "Every Mon\u2013Fri at 09:00"
    assert [t.day for t in fires(wd, utc(2026, 5, 31), 6)] == [1, 2, 3, 4, 5, 8]
    we = s.weekly.weekends.at("09:00").build()
    assert we.cron == "0 9 * * SAT,SUN 0"
    assert we.schedule == "Every Sat, Sun at 09:00"
    assert [t.day for t in fires(we, utc(2026, 6, 1), 3)] == [6, 7, 13]


@pytest.mark.parametrize(
    "days",
    [
        ["mon", "wed"],
        ["Wednesday", "MONDAY"],
        ["WED", "mon", "Mon"],
        ("monday", "wed"),
        "mon,wed",
        "Wednesday, monday",
        iter(["mon", "wed"]),
    ],
)
def test_weekly_on(s: Recorder, days: Any) -> None:
    s.weekly.on(days).at("10:00")(job)
    spec = s.spec
    assert spec.cron == "0 10 * * MON,WED 0"
    assert spec.schedule == "Every Mon, Wed at 10:00"
    assert spec.schedule_key == "weekly:MON,WED:10:00:00@UTC"
    assert fires(spec, utc(2026, 5, 31), 3) == [utc(2026, 6, 1, 10), utc(2026, 6, 3, 10), utc(2026, 6, 8, 10)]


def test_weekly_in_a_zone(s: Recorder) -> None:
    spec = s.weekly.friday.tz("Asia/Tokyo").at("17:00").build()
    assert spec.tz == "Asia/Tokyo"
    assert spec.schedule_key == "weekly:FRI:17:00:00@Asia/Tokyo"
    # 17:00 in Tokyo (+09:00) is 08:00Z; 2026-06-05 is a Friday
    assert fires(spec, utc(2026, 6, 1), 1) == [utc(2026, 6, 5, 8)]
    assert s.weekly.friday.at("17:00", tz="Asia/Tokyo").build() == spec
    assert s.weekly.tz("Asia/Tokyo").at("17:00").friday.build() == spec


def test_weekly_with_seconds(s: Recorder) -> None:
    spec = s.weekly.sunday.at("23:59:30").build()
    assert spec.cron == "59 23 * * SUN 30"
    assert spec.schedule == "Every Sun at 23:59:30"


def test_weekly_two_day_properties(s: Recorder) -> None:
    with pytest.raises(
        ValueError,
        match=_re(
            "weekly.wednesday: the day is already set (Monday); to run on several days use weekly.on([...])"
        ),
    ):
        s.weekly.monday.wednesday  # noqa: B018
    with pytest.raises(ValueError, match=_re("use weekly.on([...])")):
        s.weekly.weekdays.saturday  # noqa: B018
    with pytest.raises(ValueError, match="the day is already set"):
        s.weekly.on(["mon"]).on(["tue"])
    with pytest.raises(ValueError, match="the day is already set"):
        s.weekly.friday.at("10:00").monday  # noqa: B018
    with pytest.raises(ValueError, match="the day is already set"):
        s.weekly.monday.monday  # noqa: B018


@pytest.mark.parametrize("days", [["mon", "funday"], ["monday", "mo"], ["tues"], "mon,,wed", [""]])
def test_weekly_on_unknown_day(s: Recorder, days: Any) -> None:
    with pytest.raises(ValueError, match=r'unknown weekday "[^"]*": use monday-sunday or mon-sun'):
        s.weekly.on(days)


def test_weekly_on_names_the_unknown_day(s: Recorder) -> None:
    with pytest.raises(ValueError, match='unknown weekday "funday"'):
        s.weekly.on(["mon", "funday"])


def test_weekly_on_misuse(s: Recorder) -> None:
    with pytest.raises(ValueError, match=r"weekly\.on\(\) needs at least one weekday"):
        s.weekly.on([])
    with pytest.raises(TypeError, match="takes weekday names"):
        s.weekly.on([1, 3])  # type: ignore[list-item]
    with pytest.raises(TypeError, match="takes a list of weekday names"):
        s.weekly.on(5)  # type: ignore[arg-type]


def test_weekly_incomplete(s: Recorder) -> None:
    with pytest.raises(ValueError, match=r"weekly needs a day: write weekly\.monday"):
        s.weekly(job)
    with pytest.raises(ValueError, match="weekly needs a day"):
        s.weekly.at("10:00")(job)
    with pytest.raises(ValueError, match=_re("weekly.on(['mon']) needs a time: add .at(\"HH:MM\")")):
        s.weekly.monday(job)
    with pytest.raises(ValueError, match="needs a time"):
        s.weekly.on(["mon", "fri"]).do(job)
    with pytest.raises(ValueError, match="the time is already set"):
        s.weekly.monday.at("10:00").at("11:00")
    assert s.calls == []


# --------------------------------------------------------------------------- cron


def test_cron(s: Recorder) -> None:
    s.cron("0 9 * * MON-FRI")(job)
    spec = s.spec
    assert (spec.kind, spec.cron, spec.tz) == ("cron", "0 9 * * MON-FRI", "UTC")
    assert spec.schedule == "Cron: 0 9 * * MON-FRI \u2014 at 09:00, on Mon\u2013Fri"
    assert spec.schedule_key == "cron:0 9 * * MON-FRI@UTC"
    assert (spec.interval, spec.at) == (None, None)


def test_cron_in_a_zone(s: Recorder) -> None:
    a = s.cron("0 9 * * MON-FRI", tz="Europe/Paris").build()
    assert a.schedule == "Cron: 0 9 * * MON-FRI \u2014 at 09:00, on Mon\u2013Fri (Europe/Paris)"
    assert a.schedule_key == "cron:0 9 * * MON-FRI@Europe/Paris"
    assert a.tz == "Europe/Paris"
    assert s.cron("0 9 * * MON-FRI").tz("europe/paris").build() == a
    assert s.cron("0 9 * * MON-FRI", "Europe/Paris").tz("Europe/Paris").build() == a
    # 2026-03-27 is a Friday; Paris moves to +02:00 on the 29th
    assert fires(a, utc(2026, 3, 27, 12), 2) == [utc(2026, 3, 30, 7), utc(2026, 3, 31, 7)]


def test_cron_key_is_canonical(s: Recorder) -> None:
    a = s.cron(" 0  9 *\t* mon-fri ").build()
    assert a.cron == "0 9 * * mon-fri"
    assert a.schedule == "Cron: 0 9 * * mon-fri \u2014 at 09:00, on Mon\u2013Fri"
    assert a.schedule_key == s.cron("0 9 * * MON-FRI").build().schedule_key


def test_cron_sixth_field_is_seconds(s: Recorder) -> None:
    spec = s.cron("*/10 * * * * 15").build()
    assert fires(spec, utc(2026, 1, 1), 2) == [utc(2026, 1, 1, 0, 0, 15), utc(2026, 1, 1, 0, 10, 15)]


def test_cron_errors_propagate_unchanged(s: Recorder) -> None:
    with pytest.raises(CronError, match=_re("minute field: 61 is out of range 0-59 in '61 * * * *'")):
        s.cron("61 * * * *")
    with pytest.raises(CronError):
        s.cron("0 0 30 2 *")
    with pytest.raises(CronError):
        s.cron("")
    with pytest.raises(UnknownTimeZoneError, match='unknown time zone "Mars/Base"'):
        s.cron("* * * * *", tz="Mars/Base")
    with pytest.raises(UnknownTimeZoneError):
        s.cron("* * * * *", tz="")
    with pytest.raises(TypeError, match="cron\\(\\) takes an expression string"):
        s.cron(5)  # type: ignore[arg-type]
    assert s.calls == []


# --------------------------------------------------------------------------- once


def test_once(s: Recorder) -> None:
    s.once(60)(job)
    spec = s.spec
    assert spec.kind == "date"
    assert spec.at == NOW + 60
    assert (spec.interval, spec.cron) == (None, None)
    assert spec.schedule == "Once at 2026-05-28 20:27:40"
    assert spec.schedule_key == "once:60s"
    assert spec.tz == "UTC"


@pytest.mark.parametrize(
    ("unit", "factor"),
    [
        ("seconds", 1),
        ("second", 1),
        ("minutes", 60),
        ("minute", 60),
        ("hours", 3600),
        ("hour", 3600),
        ("days", 86400),
        ("day", 86400),
    ],
)
def test_once_units(s: Recorder, unit: str, factor: int) -> None:
    spec = getattr(s.once(5), unit).build()
    assert spec.at == NOW + 5 * factor
    assert spec.schedule_key == f"once:{5 * factor}s"


def test_once_fire_time_is_taken_at_registration(s: Recorder) -> None:
    builder = s.once(0.5).minutes
    s.now = NOW + 1000
    builder(job)
    assert s.spec.at == NOW + 1030


def test_once_shows_its_zone(s: Recorder) -> None:
    spec = s.once(60).tz("Asia/Tokyo").build()
    assert spec.schedule == "Once at 2026-05-29 05:27:40 (Asia/Tokyo)"
    assert spec.tz == "Asia/Tokyo"


@pytest.mark.parametrize("delay", [0, -1, -0.5, math.nan, math.inf])
def test_once_rejects_non_positive(s: Recorder, delay: float) -> None:
    with pytest.raises(ValueError, match=r"once\(delay\) must be a positive number"):
        s.once(delay)


@pytest.mark.parametrize("delay", [True, "60", None])
def test_once_rejects_non_numbers(s: Recorder, delay: Any) -> None:
    with pytest.raises(TypeError, match=r"once\(delay\) must be a number"):
        s.once(delay)


def test_once_unit_twice(s: Recorder) -> None:
    with pytest.raises(ValueError, match=r"once\(5\)\.minutes\.hours: the unit is already set \(minutes\)"):
        s.once(5).minutes.hours  # noqa: B018
    with pytest.raises(ValueError, match="longer than a century"):
        s.once(1e12).days  # noqa: B018


# --------------------------------------------------------------------------- at


def test_at_aware_datetime(s: Recorder) -> None:
    when = datetime(2026, 7, 1, 12, tzinfo=ZoneInfo("Europe/Paris"))
    s.at(when)(job)
    spec = s.spec
    assert spec.kind == "date"
    assert spec.at == utc(2026, 7, 1, 10).timestamp()
    assert spec.schedule == "Once at 2026-07-01 10:00:00"  # in the job's zone (the machine's, UTC here)
    assert spec.schedule_key == "at:2026-07-01T10:00:00Z"
    assert (spec.interval, spec.cron) == (None, None)


@pytest.mark.parametrize(
    "text",
    [
        "2026-07-01T10:00:00Z",
        "2026-07-01T10:00:00z",
        "2026-07-01T10:00:00+00:00",
        "2026-07-01 12:00:00+02:00",
        "2026-07-01T05:00-05:00",
    ],
)
def test_at_iso_string_with_offset(s: Recorder, text: str) -> None:
    spec = s.at(text).build()
    assert spec.at == utc(2026, 7, 1, 10).timestamp()
    assert spec.schedule_key == "at:2026-07-01T10:00:00Z"


def test_at_naive_read_in_the_given_zone_in_any_order(s: Recorder) -> None:
    expected = utc(2026, 7, 1, 8).timestamp()  # 10:00 in Paris, summer time
    a = s.at("2026-07-01 10:00").tz("Europe/Paris").build()
    b = s.at(datetime(2026, 7, 1, 10)).tz("Europe/Paris").build()
    c = s.at("2026-07-01T10:00:00").retries(1).tz("Europe/Paris").build()
    assert a.at == b.at == c.at == expected
    assert a.schedule == "Once at 2026-07-01 10:00:00 (Europe/Paris)"
    assert a.tz == "Europe/Paris"


def test_at_naive_in_a_repeated_hour_honours_fold(s: Recorder) -> None:
    first = s.at(datetime(2026, 11, 1, 1, 30)).tz("America/New_York").build()
    second = s.at(datetime(2026, 11, 1, 1, 30, fold=1)).tz("America/New_York").build()
    assert first.at == utc(2026, 11, 1, 5, 30).timestamp()
    assert second.at == utc(2026, 11, 1, 6, 30).timestamp()


def test_at_naive_without_zone_is_local_time(s: Recorder) -> None:
    when = datetime(2026, 7, 1, 10)
    spec = s.at(when).build()
    assert spec.at == when.timestamp()
    assert spec.schedule == f"Once at {when:%Y-%m-%d %H:%M:%S}"  # read and shown as local time
    assert s.at("2026-07-01T10:00:00").build().at == when.timestamp()
    assert s.at("2026-07-01").build().at == datetime(2026, 7, 1).timestamp()


def test_at_aware_shown_in_the_given_zone(s: Recorder) -> None:
    spec = s.at(utc(2026, 7, 1, 10)).tz("Asia/Tokyo").build()
    assert spec.at == utc(2026, 7, 1, 10).timestamp()
    assert spec.schedule == "Once at 2026-07-01 19:00:00 (Asia/Tokyo)"


def test_at_in_the_past(s: Recorder) -> None:
    with pytest.raises(
        ValueError,
        match=_re(
            "at('2020-01-01T00:00:00+00:00') is in the past (now is 2026-05-28T20:26:40+00:00); "
            "give a time in the future"
        ),
    ):
        s.at("2020-01-01T00:00:00Z")(job)
    with pytest.raises(ValueError, match="is in the past"):
        s.at(datetime.fromtimestamp(NOW, UTC)).do(job)  # now is not in the future
    with pytest.raises(ValueError, match="is in the past"):
        s.at(datetime.fromtimestamp(NOW - 1, UTC)).build()
    assert s.calls == []


def test_at_future_becomes_past_by_registration(s: Recorder) -> None:
    builder = s.at(datetime.fromtimestamp(NOW + 10, UTC))
    s.now = NOW + 10
    with pytest.raises(ValueError, match="is in the past"):
        builder(job)


@pytest.mark.parametrize("text", ["", "tomorrow", "2026-13-01", "2026-07-01T25:00", "01/07/2026 10:00"])
def test_at_bad_string(s: Recorder, text: str) -> None:
    with pytest.raises(ValueError, match="not an ISO-8601 date-time"):
        s.at(text)


@pytest.mark.parametrize("value", [NOW + 60, None, datetime(2026, 7, 1).date()])
def test_at_bad_type(s: Recorder, value: Any) -> None:
    with pytest.raises(TypeError, match=r"at\(\) takes a datetime or an ISO-8601 string"):
        s.at(value)


# --------------------------------------------------------------------------- modifiers

MODIFIERS: list[tuple[str, Callable[[Any], Any]]] = [
    ("tz", lambda b: b.tz("Asia/Tokyo")),
    ("timeout", lambda b: b.timeout(45, kill=True)),
    ("retries", lambda b: b.retries(0)),
    ("no_catch_up", lambda b: b.no_catch_up()),
    ("id", lambda b: b.id("my-job")),
    ("name", lambda b: b.name("My job")),
]

BUILDERS: dict[str, Callable[[Recorder], Any]] = {
    "every": lambda s: s.every(10).seconds,
    "daily": lambda s: s.daily.at("14:30"),
    "hourly": lambda s: s.hourly.at(":15"),
    "weekly": lambda s: s.weekly.monday.at("10:00"),
    "cron": lambda s: s.cron("0 9 * * MON-FRI"),
    "once": lambda s: s.once(60),
    "at": lambda s: s.at("2027-01-01T00:00:00+00:00"),
}


def check_modified(spec: JobSpec) -> None:
    assert spec.tz == "Asia/Tokyo"
    assert (spec.timeout, spec.timeout_kill) == (45.0, True)
    assert spec.retries == 0
    assert spec.catch_up is False
    assert (spec.job_id, spec.name) == ("my-job", "My job")


@pytest.mark.parametrize("kind", BUILDERS)
def test_modifiers_in_every_order(s: Recorder, kind: str) -> None:
    expected: JobSpec | None = None
    for order in itertools.permutations(MODIFIERS):
        builder = BUILDERS[kind](s)
        for _, apply in order:
            builder = apply(builder)
        spec = builder.build()
        check_modified(spec)
        expected = expected or spec
        assert spec == expected, [name for name, _ in order]


def test_modifiers_before_the_schedule_is_complete(s: Recorder) -> None:
    check_modified(with_all_modifiers(s.every(10)).seconds.build())
    check_modified(with_all_modifiers(s.daily).at("14:30").build())
    check_modified(with_all_modifiers(s.hourly).at(":15").build())
    check_modified(with_all_modifiers(s.weekly).monday.at("10:00").build())
    check_modified(with_all_modifiers(s.weekly.monday).at("10:00").build())
    check_modified(with_all_modifiers(s.once(1)).minutes.build())


def with_all_modifiers(builder: Any) -> Any:
    for _, apply in MODIFIERS:
        builder = apply(builder)
    return builder


def test_defaults(s: Recorder) -> None:
    for make in BUILDERS.values():
        spec = make(s).build()
        assert spec.timeout is None and spec.timeout_kill is False
        assert spec.retries == DEFAULT_RETRIES == 3
        assert spec.catch_up is True
        assert (spec.job_id, spec.name) == (None, None)
        assert spec.tz == DEFAULT_TZ == "UTC"


def test_id_and_name_are_kept_as_given(s: Recorder) -> None:
    spec = s.cron("0 9 * * *", tz="Europe/Paris").id("reports/daily 9:00").name(" Morning report ").build()
    assert (spec.job_id, spec.name) == ("reports/daily 9:00", " Morning report ")


def test_timeout_without_kill(s: Recorder) -> None:
    spec = s.every(1).minutes.timeout(0.5).build()
    assert (spec.timeout, spec.timeout_kill) == (0.5, False)


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda b: b.timeout(0), ValueError, r"timeout\(seconds\) must be a positive number, not 0"),
        (lambda b: b.timeout(-1), ValueError, r"timeout\(seconds\) must be a positive number"),
        (lambda b: b.timeout(math.nan), ValueError, r"timeout\(seconds\) must be a positive number"),
        (lambda b: b.timeout(True), TypeError, r"timeout\(seconds\) must be a number"),
        (lambda b: b.timeout("45"), TypeError, r"timeout\(seconds\) must be a number"),
        (lambda b: b.timeout(45, kill="yes"), TypeError, r"timeout\(kill=\) must be True or False"),
        (lambda b: b.timeout(1e-9), ValueError, "shorter than a microsecond"),
        (lambda b: b.retries(-1), ValueError, r"retries\(n\) must be >= 0, not -1"),
        (lambda b: b.retries(1.5), TypeError, r"retries\(n\) takes an int >= 0"),
        (lambda b: b.retries(True), TypeError, r"retries\(n\) takes an int >= 0"),
        (lambda b: b.retries("3"), TypeError, r"retries\(n\) takes an int >= 0"),
        (lambda b: b.id(""), ValueError, r"id\(\) must be a non-empty string"),
        (lambda b: b.id("   "), ValueError, r"id\(\) must be a non-empty string"),
        (lambda b: b.id(5), TypeError, r"id\(\) must be a string"),
        (lambda b: b.id("a\nb"), ValueError, r"id\(\) must not contain control characters"),
        (lambda b: b.id("a\x7fb"), ValueError, r"id\(\) must not contain control characters"),
        (lambda b: b.name(""), ValueError, r"name\(\) must be a non-empty string"),
        (lambda b: b.name(None), TypeError, r"name\(\) must be a string"),
        (lambda b: b.tz("Mars/Base"), UnknownTimeZoneError, 'unknown time zone "Mars/Base"'),
        (lambda b: b.tz(""), UnknownTimeZoneError, 'unknown time zone ""'),
        (lambda b: b.tz(None), TypeError, "a time zone must be an IANA name"),
    ],
)
@pytest.mark.parametrize("kind", BUILDERS)
def test_bad_modifiers(s: Recorder, kind: str, call: Callable[[Any], Any], error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        call(BUILDERS[kind](s))


def test_daily_at_with_unknown_zone(s: Recorder) -> None:
    with pytest.raises(UnknownTimeZoneError, match='unknown time zone "Mars/Base"'):
        s.daily.at("09:00", tz="Mars/Base")
    with pytest.raises(UnknownTimeZoneError):
        s.weekly.monday.at("09:00", tz="Nowhere")
    with pytest.raises(UnknownTimeZoneError):
        s.hourly.at(":15", tz="Nowhere")


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda b: b.timeout(1).timeout(2), "the timeout is already set"),
        (lambda b: b.retries(1).retries(2), "retries is already set"),
        (lambda b: b.id("a").id("b"), "the job id is already set"),
        (lambda b: b.name("a").name("b"), "the name is already set"),
        (lambda b: b.tz("Asia/Tokyo").tz("Europe/Paris"), "the time zone is already set to 'Asia/Tokyo'"),
    ],
)
def test_modifiers_given_twice(s: Recorder, call: Callable[[Any], Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call(s.every(1).minutes)


def test_zone_given_twice_must_agree(s: Recorder) -> None:
    assert s.daily.tz("Asia/Tokyo").at("09:00", tz="asia/tokyo").build().tz == "Asia/Tokyo"
    assert s.every(1).minutes.no_catch_up().no_catch_up().build().catch_up is False
    with pytest.raises(ValueError, match="the time zone is already set to 'Asia/Tokyo'"):
        s.daily.tz("Asia/Tokyo").at("09:00", tz="Europe/Paris")
    with pytest.raises(ValueError, match="the time zone is already set to 'Europe/Paris'"):
        s.cron("* * * * *", tz="Europe/Paris").tz("UTC")


# --------------------------------------------------------------------------- default zone


def test_default_zone_per_builder(s: Recorder) -> None:
    spec = Daily(s.register, s.clock, default_tz="Europe/Paris").at("09:00").build()
    assert spec.tz == "Europe/Paris" and spec.schedule == "Daily at 09:00 (Europe/Paris)"
    spec = Cron(s.register, s.clock, "0 9 * * *", default_tz="Europe/Paris").build()
    assert spec.tz == "Europe/Paris"
    spec = Every(s.register, s.clock, 5, default_tz="Europe/Paris").minutes.build()
    assert spec.tz == "Europe/Paris" and spec.schedule == "Every 5 minutes"
    spec = Daily(s.register, s.clock, default_tz="Europe/Paris").at("09:00", tz="UTC").build()
    assert spec.tz == "UTC"
    with pytest.raises(UnknownTimeZoneError):
        Daily(s.register, s.clock, default_tz="Nowhere")


def test_default_zone_module_constant_is_read_at_registration(
    s: Recorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    builder = s.weekly.monday.at("10:00")
    monkeypatch.setattr(_builders, "DEFAULT_TZ", "America/New_York")
    builder(job)
    assert s.spec.tz == "America/New_York"
    assert s.spec.schedule == "Every Mon at 10:00 (America/New_York)"
    assert s.spec.schedule_key == "weekly:MON:10:00:00@America/New_York"


# --------------------------------------------------------------------------- JobSpec


def test_jobspec_is_frozen_and_checks_its_kind() -> None:
    spec = JobSpec(kind="interval", schedule="every 1 second", schedule_key="every:1s", interval=1.0)
    with pytest.raises(FrozenInstanceError):
        spec.retries = 5  # type: ignore[misc]
    with pytest.raises(ValueError, match="sets 'cron' and only it"):
        JobSpec(kind="cron", schedule="x", schedule_key="x", interval=1.0)
    with pytest.raises(ValueError, match="sets 'interval' and only it"):
        JobSpec(kind="interval", schedule="x", schedule_key="x", interval=1.0, at=5.0)
    with pytest.raises(ValueError, match="kind must be"):
        JobSpec(kind="weekly", schedule="x", schedule_key="x")  # type: ignore[arg-type]


def test_every_spec_built_is_accepted_by_cronexpr(s: Recorder) -> None:
    for make in BUILDERS.values():
        spec = make(s).build()
        if spec.kind == "cron":
            assert spec.cron is not None
            CronExpr(spec.cron, tz=spec.tz).next(datetime(2026, 1, 1))


def test_nothing_is_registered_when_anything_is_wrong(s: Recorder) -> None:
    bad: list[Callable[[], Any]] = [
        lambda: s.every(5)(job),
        lambda: s.daily(job),
        lambda: s.weekly.monday(job),
        lambda: s.hourly(job),
        lambda: s.at("2000-01-01T00:00:00Z")(job),
    ]
    for b in bad:
        with pytest.raises(ValueError):
            b()
    assert s.calls == []


def test_once_and_at_are_near_now(s: Recorder) -> None:
    spec = s.at(datetime.fromtimestamp(NOW, UTC) + timedelta(microseconds=1)).build()
    assert spec.at is not None and spec.at > NOW

"""Schedule builders: the ``every(n)``, ``daily``, ``hourly``, ``weekly``, ``cron``, ``once`` and ``at``
chains behind the scheduler's decorators.

A builder is an immutable value: every step of a chain (``.minutes``, ``.monday``, ``.at("09:00")``,
``.tz("Europe/Paris")``, ``.retries(4)`` ...) checks its input at once and returns a new builder, so a
mistake raises where it is written, before any scheduler runs, and a partly built chain can be reused.
A finished builder registers a job in one of two ways:

* as a decorator (``@scheduler.every(10).seconds``): the function is registered with no arguments and
  returned unchanged, so it stays callable and can carry several schedule decorators (one job each);
* with ``.do(func, *args, **kwargs)``: the call is registered and the job id is returned.

Either way the scheduler's ``register`` callback receives a :class:`JobSpec`, a plain frozen record of the
schedule and the job options. Wall-clock schedules (``daily``, ``hourly``, ``weekly``) arrive as cron
expressions in fastscheduler's grammar, whose optional sixth field is the SECOND:
``daily.at("14:30:05")`` is ``"30 14 * * * 5"``.

Every check happens when the chain is written or when the job is registered: a builder that was
registered without error produces a spec the scheduler can run.
"""

from __future__ import annotations

import functools
import math
import numbers
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timezone, tzinfo
from typing import Any, Final, Literal, TypeVar

from fastscheduler import _describe as words
from fastscheduler._core import CronExpr
from fastscheduler._tzinfo import bundled_tzinfo

__all__ = [
    "DEFAULT_RETRIES",
    "DEFAULT_TZ",
    "At",
    "Clock",
    "Cron",
    "Daily",
    "Every",
    "Hourly",
    "JobSpec",
    "Once",
    "QuickRegister",
    "Register",
    "Weekly",
]

DEFAULT_TZ: str = "UTC"
"""Zone of wall-clock schedules (and of ``once``'s text) given no zone. Read when a job is registered,
so the scheduler may rebind it (``_builders.DEFAULT_TZ = "Europe/Paris"``), or pass ``default_tz=`` to
one builder."""

DEFAULT_RETRIES: Final = 3
"""Retries of a job that sets none (the original fastscheduler's default)."""

_MAX_SECONDS: Final = 100 * 366 * 86400.0
"""Longest interval, delay or timeout accepted: a century. Longer ones are typos, and would overflow
date arithmetic later instead of failing here."""


@dataclass(frozen=True, slots=True, kw_only=True)
class JobSpec:
    """What a builder hands to the scheduler: one job's schedule and options, as plain data.

    Exactly one of ``interval`` / ``cron`` / ``at`` is set, the one ``kind`` names:

    * ``"interval"``: ``interval`` seconds of elapsed time between fire times (never shifted by DST);
    * ``"cron"``: ``cron`` is an expression in fastscheduler's grammar (a sixth field is the second),
      read in the IANA zone ``tz``: ``CronExpr(spec.cron, tz=spec.tz)`` accepts it;
    * ``"date"``: fire once at ``at`` (epoch seconds).

    ``tz`` is always a canonical IANA name (for intervals and dates it is informational).
    ``schedule`` is the human text shown in listings; ``schedule_key`` a canonical, stable text of the
    schedule alone (no options), equal for equal schedules, meant for deriving job ids.
    ``timeout`` (seconds, ``None`` = none) with ``timeout_kill``; ``retries`` after a failure; ``catch_up``
    whether runs missed while stopped are made up; ``job_id`` and ``name`` as given by ``.id()`` /
    ``.name()`` (``None`` = let the scheduler choose).
    """

    kind: Literal["interval", "cron", "date"]
    schedule: str
    schedule_key: str
    tz: str = "UTC"
    interval: float | None = None
    cron: str | None = None
    at: float | None = None
    timeout: float | None = None
    timeout_kill: bool = False
    retries: int = DEFAULT_RETRIES
    catch_up: bool = True
    job_id: str | None = None
    name: str | None = None

    def __post_init__(self) -> None:
        wanted = {"interval": "interval", "cron": "cron", "date": "at"}.get(self.kind)
        if wanted is None:
            raise ValueError(f"JobSpec.kind must be 'interval', 'cron' or 'date', not {self.kind!r}")
        for field_name in ("interval", "cron", "at"):
            is_set = getattr(self, field_name) is not None
            if is_set != (field_name == wanted):
                raise ValueError(
                    f"a JobSpec of kind {self.kind!r} sets {wanted!r} and only it (got {field_name}="
                    f"{getattr(self, field_name)!r})"
                )


Register = Callable[[JobSpec, Callable[..., Any], tuple[Any, ...], dict[str, Any]], str]
"""``register(spec, func, args, kwargs) -> job_id``: the scheduler's side of a builder."""

QuickRegister = Callable[[Callable[..., Any], tuple[Any, ...], dict[str, Any], JobSpec], "str | None"]
"""``quick(func, args, kwargs, spec) -> job_id | None``: the scheduler's registration for when nothing
but its registry is involved (it is stopped, nobody listens to its events); None means "not now, use
``register``". Optional; it only makes registering many jobs before ``start()`` faster."""

Clock = Callable[[], float]
"""Current time in epoch seconds (used by ``once`` and ``at``)."""

_B = TypeVar("_B", bound="_Builder")
_F = TypeVar("_F", bound=Callable[..., Any])


# --------------------------------------------------------------------------- input checks


def _number(value: object, what: str) -> float:
    """``value`` as a finite float > 0 (ints and floats; a bool is not a number here)."""
    if (type(value) is int or type(value) is float) and 0 < value < math.inf:
        return float(value)  # the common case, without the ABC check below
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{what} must be a number (int or float), not {value!r}")
    f = float(value)
    if not math.isfinite(f) or f <= 0:
        raise ValueError(f"{what} must be a positive number, not {value!r}")
    return f


def _seconds(value: float, what: str) -> float:
    """A duration in seconds rounded to the microsecond; at least 1 µs and at most a century."""
    s = round(value, 6)
    if not math.isfinite(s) or s > _MAX_SECONDS:
        raise ValueError(f"{what} is longer than a century ({value!r} seconds)")
    if s <= 0:
        raise ValueError(f"{what} is shorter than a microsecond ({value!r} seconds)")
    return s


def _fmt(x: float) -> str:
    """A number as people write it: ``10``, ``0.2``, ``1.5`` (never ``10.0``)."""
    return str(int(x)) if float(x).is_integer() else repr(float(x))


def _zone_name(name: object) -> str:
    """The canonical IANA name of ``name`` in the bundled database (``UnknownTimeZoneError`` if absent)."""
    if not isinstance(name, str):
        raise TypeError(f"a time zone must be an IANA name such as 'Europe/Paris', not {name!r}")
    return _canonical_zone(name)


@functools.lru_cache(maxsize=1024)
def _canonical_zone(name: str) -> str:
    # The bundled database never changes in a process, so the answer for a name never does.
    return CronExpr("* * * * *", tz=name).tz


def _tzinfo(name: str) -> tzinfo:
    """A ``tzinfo`` for a zone name already checked by :func:`_zone_name`: the bundled tz
    database's, which cron fire times are computed with (the machine's may be another release)."""
    return bundled_tzinfo(name)


def _text(value: object, what: str) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{what} must be a string, not {value!r}")
    if not value.strip():
        raise ValueError(f"{what} must be a non-empty string, not {value!r}")
    return value


_TIME = re.compile(r"(\d{1,2}):(\d{2})(?::(\d{2}))?")
_MINUTE = re.compile(r":?(\d{1,2})(?::(\d{2}))?")


def _check_fields(text: str, hour: int | None, minute: int, second: int) -> None:
    if hour is not None and hour > 23:
        raise ValueError(f'"{text}" is not a valid time: hours must be 00-23')
    if minute > 59:
        raise ValueError(f'"{text}" is not a valid time: minutes must be 00-59')
    if second > 59:
        raise ValueError(f'"{text}" is not a valid time: seconds must be 00-59')


def _parse_time(text: object) -> tuple[int, int, int]:
    """``"HH:MM"`` or ``"HH:MM:SS"`` (hour may be one digit) as ``(hour, minute, second)``."""
    if not isinstance(text, str):
        raise TypeError(f'a time must be a string "HH:MM" or "HH:MM:SS", not {text!r}')
    m = _TIME.fullmatch(text.strip())
    if m is None:
        raise ValueError(f'"{text}" is not a valid time: expected "HH:MM" or "HH:MM:SS", e.g. "14:30"')
    hour, minute, second = int(m[1]), int(m[2]), int(m[3] or 0)
    _check_fields(text, hour, minute, second)
    return hour, minute, second


def _parse_minute(text: object) -> tuple[int, int]:
    """``":MM"``, ``":MM:SS"`` or ``"MM"`` as ``(minute, second)``."""
    if not isinstance(text, str):
        raise TypeError(f'hourly.at() takes a string ":MM" (minute past the hour), not {text!r}')
    stripped = text.strip()
    m = _MINUTE.fullmatch(stripped)
    # "14:30" (no leading colon, with seconds) would read as minute 14 second 30: refuse the ambiguity.
    if m is None or (m[2] is not None and not stripped.startswith(":")):
        raise ValueError(
            f'"{text}" is not a valid minute past the hour: expected ":MM", ":MM:SS" or "MM", e.g. ":15"'
        )
    minute, second = int(m[1]), int(m[2] or 0)
    _check_fields(text, None, minute, second)
    return minute, second


def _fmt_time(hour: int, minute: int, second: int) -> str:
    return f"{hour:02d}:{minute:02d}" + (f":{second:02d}" if second else "")


_DAYS: Final = ("MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN")
_DAY_NAMES: Final = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_DAY_LOOKUP: Final = {
    **{d.lower(): i for i, d in enumerate(_DAYS)},
    **{d.lower(): i for i, d in enumerate(_DAY_NAMES)},
}


def _parse_day(day: object) -> int:
    if not isinstance(day, str):
        raise TypeError(f"weekly.on() takes weekday names such as 'mon' or 'Monday', not {day!r}")
    index = _DAY_LOOKUP.get(day.strip().lower())
    if index is None:
        raise ValueError(f'unknown weekday "{day}": use monday-sunday or mon-sun (any case)')
    return index


# --------------------------------------------------------------------------- the builders


@dataclass(frozen=True, slots=True)
class _Options:
    """The job options every builder takes; ``None`` = not given."""

    tz: str | None = None
    timeout: float | None = None
    timeout_kill: bool = False
    retries: int | None = None
    catch_up: bool = True
    job_id: str | None = None
    name: str | None = None


_NO_OPTIONS: Final = _Options()


@dataclass(frozen=True, slots=True)
class _Schedule:
    """What a builder's schedule part contributes to a :class:`JobSpec`."""

    kind: Literal["interval", "cron", "date"]
    text: str
    key: str
    tz: str
    interval: float | None = None
    cron: str | None = None
    at: float | None = None


class _Builder:
    """The part every builder shares: job options, registration, and immutability.

    Modifiers may come in any order and at any point of a chain; each may be given once.
    """

    def __init__(
        self,
        register: Register,
        clock: Clock,
        *,
        default_tz: str | None = None,
        quick: QuickRegister | None = None,
    ) -> None:
        self._register = register
        self._quick = quick
        self._clock = clock
        self._default_tz = None if default_tz is None else _zone_name(default_tz)
        self._opts = _NO_OPTIONS
        # Caches (a builder is an immutable value, so what it builds or derives never changes):
        self._spec: tuple[str, JobSpec] | None = None  # (DEFAULT_TZ when built, spec)
        self._derived: dict[str, Any] | None = None  # e.g. every(10) -> every(10).seconds

    # -- immutability

    def _evolve(self: _B, **changes: Any) -> _B:
        new = object.__new__(type(self))
        new.__dict__.update(self.__dict__, _spec=None, _derived=None, **changes)
        return new

    def _memo(self, key: str, make: Callable[[], _B]) -> _B:
        """``make()``, computed once per builder and ``key``: a loop over
        ``scheduler.every(10).seconds.do(f, i)`` then builds one chain and one spec, not a million."""
        derived = self._derived
        if derived is None:
            derived = self._derived = {}
        value: _B | None = derived.get(key)
        if value is None:
            value = derived[key] = make()
        return value

    def _with_options(self: _B, **changes: Any) -> _B:
        return self._evolve(_opts=replace(self._opts, **changes))

    def _set_tz(self: _B, name: str) -> _B:
        canonical = _zone_name(name)
        if self._opts.tz is not None and self._opts.tz != canonical:
            raise ValueError(
                f"{self._label()}: the time zone is already set to {self._opts.tz!r}; give it once "
                f"(not {canonical!r} as well)"
            )
        return self._with_options(tz=canonical)

    def _check_unset(self, option: str, current: object) -> None:
        if current is not None:
            raise ValueError(f"{self._label()}: {option} is already set ({current!r}); give it once")

    # -- modifiers

    def tz(self: _B, name: str) -> _B:
        """Read this schedule's wall-clock times in the IANA zone ``name`` (case-insensitive).

        Raises ``UnknownTimeZoneError`` for a name not in the bundled tz database. For ``every`` the zone
        is only shown: intervals are elapsed time.
        """
        return self._set_tz(name)

    def timeout(self: _B, seconds: float, kill: bool = False) -> _B:
        """Give each run at most ``seconds`` (> 0); with ``kill=True`` a run past it is killed, not just
        reported (what "killed" means for sync and async jobs is the scheduler's executors' promise)."""
        self._check_unset("the timeout", self._opts.timeout)
        value = _seconds(_number(seconds, "timeout(seconds)"), "timeout(seconds)")
        if not isinstance(kill, bool):
            raise TypeError(f"timeout(kill=) must be True or False, not {kill!r}")
        return self._with_options(timeout=value, timeout_kill=kill)

    def retries(self: _B, n: int) -> _B:
        """Retry a failed run up to ``n`` times (an int >= 0; 0 = never). The default is 3."""
        self._check_unset("retries", self._opts.retries)
        if isinstance(n, bool) or not isinstance(n, int):
            raise TypeError(f"retries(n) takes an int >= 0, not {n!r}")
        if n < 0:
            raise ValueError(f"retries(n) must be >= 0, not {n}")
        return self._with_options(retries=n)

    def no_catch_up(self: _B) -> _B:
        """Skip the runs missed while the scheduler was stopped instead of making them up."""
        return self._with_options(catch_up=False)

    def id(self: _B, job_id: str) -> _B:
        """Use ``job_id`` (a non-empty string without control characters) as the job id."""
        self._check_unset("the job id", self._opts.job_id)
        value = _text(job_id, "id()")
        if any(ord(c) < 32 or ord(c) == 127 for c in value):
            raise ValueError(f"id() must not contain control characters (it appears in logs): {value!r}")
        return self._with_options(job_id=value)

    def name(self: _B, name: str) -> _B:
        """Show the job as ``name`` (a non-empty string) instead of its function's name."""
        self._check_unset("the name", self._opts.name)
        return self._with_options(name=_text(name, "name()"))

    # -- registration

    def __call__(self, func: _F) -> _F:
        """Decorator form: register ``func`` (sync or async) to run with no arguments; return ``func``
        itself, unchanged. Raises here if the schedule is incomplete or invalid."""
        self.do(func)
        return func

    def do(self, func: Callable[..., Any], /, *args: Any, **kwargs: Any) -> str:
        """Register ``func(*args, **kwargs)`` on this schedule and return the job id."""
        if not callable(func):
            raise TypeError(f"{self._label()}: can only schedule a callable, not {func!r}")
        cached = self._spec  # build()'s cache, read here: .do(f, i) in a loop is the hot path
        spec = cached[1] if cached is not None and cached[0] == DEFAULT_TZ else self.build()
        quick = self._quick
        if quick is not None:
            job_id = quick(func, args, kwargs, spec)
            if job_id is not None:
                return job_id
        return self._register(spec, func, args, kwargs)

    #: Whether equal builders always build equal specs (not so for ``once``/``at``, which read the clock).
    _cacheable: bool = True

    def build(self) -> JobSpec:
        """The :class:`JobSpec` this builder stands for, checked complete and valid (``ValueError``
        otherwise). For ``once`` the fire time is computed from the clock now.

        Specs are immutable and a builder caches its own, so registering a million jobs through one
        builder builds (and stores) one spec.
        """
        cached = self._spec
        if cached is not None and cached[0] == DEFAULT_TZ:
            return cached[1]
        spec = self._build()
        if not self._cacheable:
            return spec
        self._spec = (DEFAULT_TZ, spec)
        return spec

    def _build(self) -> JobSpec:
        sched = self._schedule()
        o = self._opts
        return JobSpec(
            kind=sched.kind,
            schedule=sched.text,
            schedule_key=sched.key,
            tz=sched.tz,
            interval=sched.interval,
            cron=sched.cron,
            at=sched.at,
            timeout=o.timeout,
            timeout_kill=o.timeout_kill,
            retries=DEFAULT_RETRIES if o.retries is None else o.retries,
            catch_up=o.catch_up,
            job_id=o.job_id,
            name=o.name,
        )

    # -- for subclasses

    def _zone(self) -> str:
        """The zone in effect: ``.tz()``, else the builder's ``default_tz``, else ``DEFAULT_TZ``."""
        if self._opts.tz is not None:
            return self._opts.tz
        if self._default_tz is not None:
            return self._default_tz
        return _zone_name(DEFAULT_TZ)

    def _label(self) -> str:
        raise NotImplementedError

    def _schedule(self) -> _Schedule:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self._label()}>"


_UNITS: Final = {"second": 1.0, "minute": 60.0, "hour": 3600.0, "day": 86400.0, "week": 604800.0}


class Every(_Builder):
    """``every(n)``: an interval of ``n`` units of elapsed time, ``n`` an int or float > 0.

    A unit is required, once: ``.seconds``, ``.minutes``, ``.hours``, ``.days``, ``.weeks`` (or the
    singular ``.second`` ... ``.week``). ``every(1).days`` is 86,400 s, whatever DST does.
    """

    def __init__(
        self,
        register: Register,
        clock: Clock,
        n: float,
        /,
        *,
        default_tz: str | None = None,
        quick: QuickRegister | None = None,
    ) -> None:
        super().__init__(register, clock, default_tz=default_tz, quick=quick)
        self._n = _number(n, "every(n)")
        self._unit: str | None = None

    def _label(self) -> str:
        return f"every({_fmt(self._n)})" + (f".{self._unit}s" if self._unit else "")

    def _with_unit(self, unit: str) -> Every:
        # No closure here: a function with one pays for a cell on every call, even when the
        # cached builder is returned (this is on the path of `every(10).seconds.do(f, i)`).
        derived = self._derived
        if derived is not None:
            cached = derived.get(unit)
            if cached is not None:
                return cached  # type: ignore[no-any-return]
        return self._memo(unit, functools.partial(self._make_unit, unit))

    def _make_unit(self, unit: str) -> Every:
        if self._unit is not None:
            raise ValueError(
                f"{self._label()}.{unit}s: the unit is already set ({self._unit}s); "
                f"use one unit, e.g. every({_fmt(self._n)}).{unit}s"
            )
        _seconds(self._n * _UNITS[unit], f"every({_fmt(self._n)}).{unit}s")
        return self._evolve(_unit=unit)

    @property
    def seconds(self) -> Every:
        """``n`` seconds."""
        derived = self._derived  # _with_unit's cache, read here: the most common chain's hot path
        if derived is not None and "second" in derived:
            return derived["second"]  # type: ignore[no-any-return]
        return self._with_unit("second")

    @property
    def minutes(self) -> Every:
        """``n`` minutes."""
        return self._with_unit("minute")

    @property
    def hours(self) -> Every:
        """``n`` hours."""
        return self._with_unit("hour")

    @property
    def days(self) -> Every:
        """``n`` days of 86,400 s."""
        return self._with_unit("day")

    @property
    def weeks(self) -> Every:
        """``n`` weeks of 604,800 s."""
        return self._with_unit("week")

    second = seconds
    minute = minutes
    hour = hours
    day = days
    week = weeks

    def _schedule(self) -> _Schedule:
        if self._unit is None:
            n = _fmt(self._n)
            raise ValueError(
                f"every({n}) needs a unit: write every({n}).seconds, .minutes, .hours, .days or .weeks"
            )
        interval = _seconds(self._n * _UNITS[self._unit], self._label())
        text = words.interval_text(self._n, self._unit)
        if self._opts.tz is not None:
            text += f" ({self._opts.tz})"
        return _Schedule("interval", text, f"every:{_fmt(interval)}s", self._zone(), interval=interval)


class _WallClock(_Builder):
    """A builder whose schedule becomes a cron expression in a zone."""

    def _cron_schedule(self, cron: str, text: str, key: str, zone: str) -> _Schedule:
        CronExpr(cron, tz=zone)  # always valid by construction; this keeps it so
        return _Schedule("cron", text, key, zone, cron=cron)


class Daily(_WallClock):
    """``daily.at("HH:MM"[:SS], tz=None)``: every day at a wall-clock time in a zone.

    Fixed-time DST policy: a time skipped by a spring-forward gap fires at the first instant after the
    gap; a repeated time fires once, at its first occurrence.
    """

    # Set by .at() on the builder it returns (a builder's fields are class defaults until then).
    _time: tuple[int, int, int] | None = None

    def _label(self) -> str:
        return "daily" if self._time is None else f'daily.at("{_fmt_time(*self._time)}")'

    def at(self, time: str, tz: str | None = None) -> Daily:
        """Fire at ``time`` (``"HH:MM"`` or ``"HH:MM:SS"``, 24-hour), in ``tz`` if given."""
        self._check_unset("the time", None if self._time is None else _fmt_time(*self._time))
        new = self._evolve(_time=_parse_time(time))
        return new if tz is None else new._set_tz(tz)

    def _schedule(self) -> _Schedule:
        if self._time is None:
            raise ValueError('daily needs a time: write daily.at("HH:MM"), e.g. daily.at("14:30")')
        h, m, s = self._time
        zone = self._zone()
        return self._cron_schedule(
            f"{m} {h} * * * {s}",
            words.with_zone(words.daily_text(_fmt_time(h, m, s)), zone, self._opts.tz is not None),
            f"daily:{h:02d}:{m:02d}:{s:02d}@{zone}",
            zone,
        )


class Hourly(_WallClock):
    """``hourly.at(":MM")``: every hour at a minute (and second) past the hour, of the zone's wall clock
    (which matters in zones with a 30- or 45-minute offset).

    Interval DST policy: in a repeated hour both occurrences fire; a skipped hour does not.
    """

    # Set by .at() on the builder it returns (a builder's fields are class defaults until then).
    _minute: tuple[int, int] | None = None

    def _label(self) -> str:
        return "hourly" if self._minute is None else f'hourly.at("{self._fmt_minute()}")'

    def _fmt_minute(self) -> str:
        assert self._minute is not None
        m, s = self._minute
        return f":{m:02d}" + (f":{s:02d}" if s else "")

    def at(self, minute: str, tz: str | None = None) -> Hourly:
        """Fire at ``minute`` past each hour: ``":MM"``, ``":MM:SS"`` or ``"MM"``; in ``tz`` if given."""
        self._check_unset("the minute", None if self._minute is None else self._fmt_minute())
        new = self._evolve(_minute=_parse_minute(minute))
        return new if tz is None else new._set_tz(tz)

    def _schedule(self) -> _Schedule:
        if self._minute is None:
            raise ValueError('hourly needs a minute: write hourly.at(":MM"), e.g. hourly.at(":15")')
        m, s = self._minute
        zone = self._zone()
        text = words.with_zone(words.hourly_text(self._fmt_minute()), zone, self._opts.tz is not None)
        return self._cron_schedule(f"{m} * * * * {s}", text, f"hourly:{m:02d}:{s:02d}@{zone}", zone)


class Weekly(_WallClock):
    """``weekly.<day>.at("HH:MM")``: on some weekdays at a wall-clock time in a zone.

    The days are set once: ``.monday`` ... ``.sunday``, ``.weekdays`` (Mon-Fri), ``.weekends`` (Sat, Sun)
    or ``.on(["mon", "Wednesday"])`` for any set. Same DST policy as :class:`Daily`.
    """

    # Set by the day properties and .at() on the builders they return (class defaults until then).
    _days: tuple[int, ...] | None = None
    _time: tuple[int, int, int] | None = None

    def _label(self) -> str:
        label = "weekly"
        if self._days is not None:
            label += f".on({[_DAYS[d].lower() for d in self._days]})"
        if self._time is not None:
            label += f'.at("{_fmt_time(*self._time)}")'
        return label

    def _with_days(self, days: Iterable[int], written: str) -> Weekly:
        if self._days is not None:
            current = ", ".join(_DAY_NAMES[d] for d in self._days)
            raise ValueError(
                f"weekly{written}: the day is already set ({current}); to run on several days use "
                f"weekly.on([...]), e.g. weekly.on(['monday', 'wednesday']).at('10:00')"
            )
        return self._evolve(_days=tuple(sorted(set(days))))

    @property
    def monday(self) -> Weekly:
        """On Mondays."""
        return self._with_days([0], ".monday")

    @property
    def tuesday(self) -> Weekly:
        """On Tuesdays."""
        return self._with_days([1], ".tuesday")

    @property
    def wednesday(self) -> Weekly:
        """On Wednesdays."""
        return self._with_days([2], ".wednesday")

    @property
    def thursday(self) -> Weekly:
        """On Thursdays."""
        return self._with_days([3], ".thursday")

    @property
    def friday(self) -> Weekly:
        """On Fridays."""
        return self._with_days([4], ".friday")

    @property
    def saturday(self) -> Weekly:
        """On Saturdays."""
        return self._with_days([5], ".saturday")

    @property
    def sunday(self) -> Weekly:
        """On Sundays."""
        return self._with_days([6], ".sunday")

    @property
    def weekdays(self) -> Weekly:
        """Monday to Friday."""
        return self._with_days(range(5), ".weekdays")

    @property
    def weekends(self) -> Weekly:
        """Saturday and Sunday."""
        return self._with_days([5, 6], ".weekends")

    def on(self, days: Iterable[str] | str) -> Weekly:
        """On each of ``days``: weekday names, 3-letter or full, any case (``["mon", "Wednesday"]``);
        a single string may list several, comma-separated (``"mon,wed"``)."""
        if isinstance(days, str):
            days = days.split(",")
        try:
            names = list(days)
        except TypeError:
            raise TypeError(f"weekly.on() takes a list of weekday names, not {days!r}") from None
        if not names:
            raise ValueError("weekly.on() needs at least one weekday, e.g. weekly.on(['mon', 'wed'])")
        return self._with_days([_parse_day(d) for d in names], f".on({names!r})")

    def at(self, time: str, tz: str | None = None) -> Weekly:
        """Fire at ``time`` (``"HH:MM"`` or ``"HH:MM:SS"``, 24-hour) on the chosen days, in ``tz``
        if given."""
        self._check_unset("the time", None if self._time is None else _fmt_time(*self._time))
        new = self._evolve(_time=_parse_time(time))
        return new if tz is None else new._set_tz(tz)

    def _schedule(self) -> _Schedule:
        if self._days is None:
            raise ValueError(
                "weekly needs a day: write weekly.monday (... .sunday), .weekdays, .weekends or "
                ".on(['mon', 'wed']) before .at(\"HH:MM\")"
            )
        if self._time is None:
            raise ValueError(f'{self._label()} needs a time: add .at("HH:MM"), e.g. .at("10:00")')
        h, m, s = self._time
        zone = self._zone()
        days = ",".join(_DAYS[d] for d in self._days)
        text = words.weekly_text(self._days, _fmt_time(h, m, s))
        return self._cron_schedule(
            f"{m} {h} * * {days} {s}",
            words.with_zone(text, zone, self._opts.tz is not None),
            f"weekly:{days}:{h:02d}:{m:02d}:{s:02d}@{zone}",
            zone,
        )


class Cron(_WallClock):
    """``cron(expr, tz=None)``: a cron expression in fastscheduler's grammar (see the README; a sixth
    field is the second), read in ``tz``. The expression is checked when the builder is made:
    ``CronError`` names the bad field."""

    def __init__(
        self,
        register: Register,
        clock: Clock,
        expr: str,
        /,
        tz: str | None = None,
        *,
        default_tz: str | None = None,
        quick: QuickRegister | None = None,
    ) -> None:
        super().__init__(register, clock, default_tz=default_tz, quick=quick)
        if not isinstance(expr, str):
            raise TypeError(f"cron() takes an expression string such as '0 9 * * MON-FRI', not {expr!r}")
        CronExpr(expr, tz=tz or "UTC")
        self._expr = " ".join(expr.split())
        if tz is not None:
            self._opts = replace(self._opts, tz=_zone_name(tz))

    def _label(self) -> str:
        return f"cron({self._expr!r})"

    def _schedule(self) -> _Schedule:
        zone = self._zone()
        return self._cron_schedule(
            self._expr,
            words.with_zone(words.cron_text(self._expr), zone, self._opts.tz is not None),
            f"cron:{self._expr.upper()}@{zone}",
            zone,
        )


_ONCE_UNITS: Final = {"second": 1.0, "minute": 60.0, "hour": 3600.0, "day": 86400.0}


# The first and last instants a datetime can hold in UTC: 0001-01-01T00:00:00Z, 9999-12-31T23:59:59Z.
_FIRST_INSTANT: Final = -62_135_596_800.0
_LAST_INSTANT: Final = 253_402_300_799.0


def _iso(ts: float, zone: tzinfo | None) -> str:
    """An instant in years 1-9999 UTC as ISO-8601 text in ``zone`` (``None`` = the system's local
    zone), or in UTC where the zone's wall clock is outside those years."""
    dt = datetime.fromtimestamp(ts, tz=timezone.utc)
    try:
        return (dt.astimezone() if zone is None else dt.astimezone(zone)).isoformat()
    except (OverflowError, ValueError):
        return dt.isoformat()


class Once(_Builder):
    """``once(delay)``: a single run ``delay`` seconds (int or float > 0) after the job is registered.

    ``.seconds`` / ``.minutes`` / ``.hours`` / ``.days`` (or singular) change the unit, once.
    """

    _cacheable = False

    def __init__(
        self,
        register: Register,
        clock: Clock,
        delay: float,
        /,
        *,
        default_tz: str | None = None,
        quick: QuickRegister | None = None,
    ) -> None:
        super().__init__(register, clock, default_tz=default_tz, quick=quick)
        self._delay = _number(delay, "once(delay)")
        self._unit: str | None = None

    def _label(self) -> str:
        return f"once({_fmt(self._delay)})" + (f".{self._unit}s" if self._unit else "")

    def _with_unit(self, unit: str) -> Once:
        if self._unit is not None:
            raise ValueError(
                f"{self._label()}.{unit}s: the unit is already set ({self._unit}s); "
                f"use one unit, e.g. once({_fmt(self._delay)}).{unit}s"
            )
        _seconds(self._delay * _ONCE_UNITS[unit], f"once({_fmt(self._delay)}).{unit}s")
        return self._evolve(_unit=unit)

    @property
    def seconds(self) -> Once:
        """A delay of ``delay`` seconds (the default)."""
        return self._with_unit("second")

    @property
    def minutes(self) -> Once:
        """A delay of ``delay`` minutes."""
        return self._with_unit("minute")

    @property
    def hours(self) -> Once:
        """A delay of ``delay`` hours."""
        return self._with_unit("hour")

    @property
    def days(self) -> Once:
        """A delay of ``delay`` days of 86,400 s."""
        return self._with_unit("day")

    second = seconds
    minute = minutes
    hour = hours
    day = days

    def _schedule(self) -> _Schedule:
        delay = _seconds(self._delay * _ONCE_UNITS[self._unit or "second"], self._label())
        at = self._clock() + delay
        zone = self._zone()
        text = words.with_zone(words.once_text(at, _tzinfo(zone)), zone, self._opts.tz is not None)
        return _Schedule("date", text, f"once:{_fmt(delay)}s", zone, at=at)


def _parse_when(when: object) -> datetime:
    if isinstance(when, datetime):
        return when
    if isinstance(when, str):
        text = when.strip()
        if text[-1:] in ("Z", "z"):  # Python 3.10's fromisoformat does not read "Z"
            text = text[:-1] + "+00:00"
        try:
            return datetime.fromisoformat(text)
        except ValueError:
            raise ValueError(
                f'at({when!r}): not an ISO-8601 date-time; write e.g. "2026-01-01T10:00:00+00:00", '
                f'"2026-01-01 10:00" or a datetime'
            ) from None
    raise TypeError(f"at() takes a datetime or an ISO-8601 string, not {when!r}")


class At(_Builder):
    """``at(when)``: a single run at ``when``, a ``datetime`` or an ISO-8601 string.

    An aware time is that instant. A naive one is read in the zone given with ``.tz()``, else in the
    system's local zone (the original package's reading). It must be later than the clock when the
    job is registered.
    """

    _cacheable = False

    def __init__(
        self,
        register: Register,
        clock: Clock,
        when: datetime | str,
        /,
        *,
        default_tz: str | None = None,
        quick: QuickRegister | None = None,
    ) -> None:
        super().__init__(register, clock, default_tz=default_tz, quick=quick)
        self._when = _parse_when(when)

    def _label(self) -> str:
        return f"at({self._when.isoformat()!r})"

    def _schedule(self) -> _Schedule:
        when = self._when
        explicit = self._opts.tz
        now = self._clock()
        if when.tzinfo is not None and when.utcoffset() is not None:
            at = when.timestamp()
            shown: tzinfo | None = _tzinfo(explicit) if explicit else when.tzinfo
        elif explicit is not None:
            shown = _tzinfo(explicit)
            at = when.replace(tzinfo=shown).timestamp()
        else:
            shown = None
            try:
                at = when.timestamp()  # naive: the system's local zone
            except (OverflowError, ValueError):
                # datetime cannot read a naive time within a day of its first or last one in the
                # local zone ("year 0 is out of range"): say what that time is and what to do.
                if when.year == 1:
                    raise ValueError(
                        f"{self._label()} is in the past (now is {_iso(now, shown)}); "
                        f"give a time in the future"
                    ) from None
                raise ValueError(
                    f"{self._label()} is too close to the end of year 9999 to be read in the local time "
                    f"zone; give an aware datetime (e.g. with tzinfo=timezone.utc) or name a zone with .tz()"
                ) from None
        if at > _LAST_INSTANT:
            raise ValueError(
                f"{self._label()} is after 9999-12-31T23:59:59Z, the last instant a datetime can hold; "
                f"give an earlier time"
            )
        if at <= now:
            # Before year 1 in UTC there is no ISO text for it: quote it as written.
            said = f"at({_iso(at, shown)!r})" if at >= _FIRST_INSTANT else self._label()
            raise ValueError(f"{said} is in the past (now is {_iso(now, shown)}); give a time in the future")
        zone = self._zone()
        if when.tzinfo is None and explicit is None:  # read as local time: shown as local time
            text = words.once_text(at, None)
        else:
            text = words.with_zone(words.once_text(at, _tzinfo(zone)), zone, explicit is not None)
        key = "at:" + datetime.fromtimestamp(at, tz=timezone.utc).isoformat().replace("+00:00", "Z")
        return _Schedule("date", text, key, zone, at=at)

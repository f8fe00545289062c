"""Schedules in words: the texts of job listings, and cron expressions read aloud.

The ``*_text`` functions make the ``schedule`` text of ``get_jobs()`` (the builders call them):
capitalised, and the original fastscheduler 0.2.x's text where it had one (a range of weekdays
is written with an en dash, a cron expression's words follow an em dash; ASCII here): "Every 10 seconds",
"Every minute", "Daily at 14:30", "Hourly at :15", "Every Mon-Fri at 09:00", "Cron: 0 9 * * MON-FRI
-- at 09:00, on Mon-Fri", "Once at 2026-07-01 10:00:00". A zone is added in parentheses when the
job names one, or when its times are not the machine's local time (:func:`with_zone`).

:func:`describe` reads a *valid* expression (parse it with ``CronExpr`` first) field by field and
says what it means in plain English: ``"0 9 * * MON-FRI"`` is "at 09:00, on Monday through
Friday" (``short=True``: "on Mon-Fri"). Forms it has no words for (``L``, ``W``, ``#``) are quoted
as written, so the sentence is never wrong, only sometimes terse. :func:`error_caret` points at
the field a parse error names.
"""

from __future__ import annotations

import functools
import os
import re
from datetime import datetime, timezone, tzinfo

from fastscheduler._localzone import local_zone_name

_DAYS = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"]
_DAY_ABBR = {d[:3].upper(): i for i, d in enumerate(_DAYS)}
_MONTHS = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
]
_MONTH_ABBR = {m[:3].upper(): i + 1 for i, m in enumerate(_MONTHS)}
_ALIASES = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
_FIELD_NAMES = ["minute", "hour", "day-of-month", "month", "day-of-week", "second", "year"]


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _name(
    value: str, names: list[str] | None, lookup: dict[str, int], offset: int, short: bool = False
) -> str:
    """One field value as a word (a weekday or month name) where the field has names."""
    if names is None:
        return value
    index = lookup.get(value.upper())
    if index is None and value.isdigit():
        index = int(value)
    if index is None:
        return value
    if names is _DAYS:
        index %= 7
    return names[index - offset][:3] if short else names[index - offset]


def _list(
    field: str,
    names: list[str] | None = None,
    lookup: dict[str, int] | None = None,
    offset: int = 0,
    short: bool = False,
) -> str:
    """A field's comma list in words: ``1-5`` → "1 through 5", ``*/15`` → "every 15th"; with
    ``short``, names are abbreviated and a range of names is ``Mon-Fri``."""
    parts = []
    for item in field.split(","):
        base, _, step = item.partition("/")
        if base == "*":
            words = "every value"
        elif ("-" in base and names is not None) or re.fullmatch(r"\d+-\d+", base):
            lo, hi = base.split("-", 1)
            lo, hi = (
                _name(lo, names, lookup or {}, offset, short),
                _name(hi, names, lookup or {}, offset, short),
            )
            words = f"{lo}\u2013{hi}" if short and names is not None else f"{lo} through {hi}"
        else:
            words = _name(base, names, lookup or {}, offset, short)
        if step:
            words = (
                f"every {_ordinal(int(step))} from {words}" if base != "*" else f"every {_ordinal(int(step))}"
            )
        parts.append(words)
    return ", ".join(parts[:-1]) + (" and " if len(parts) > 1 else "") + parts[-1]


def _single(field: str) -> int | None:
    return int(field) if field.isdigit() else None


def describe(expression: str, short: bool = False) -> str:
    """Plain-English reading of a valid cron expression (5 fields, or 6 with seconds last);
    ``short``: weekday names abbreviated, ``Mon-Fri`` for a range of them."""
    text = _ALIASES.get(expression.strip().lower(), expression)
    fields = text.split()
    if len(fields) not in (5, 6, 7):
        return f"cron '{expression}'"
    # A step of 1 is every value: "*/1" reads as "*" ("every minute", not "every 1 minutes").
    fields = ["*" if f == "*/1" else f for f in fields]
    minute, hour, dom, month, dow = fields[:5]
    second = fields[5] if len(fields) > 5 else "0"
    year = fields[6] if len(fields) > 6 else "*"

    m, h, s = _single(minute), _single(hour), _single(second)
    if m is not None and h is not None and s is not None:
        clock = f"at {h:02d}:{m:02d}" + (f":{s:02d}" if s else "")
    else:
        if minute == "*":
            clock = "every minute"
        elif re.fullmatch(r"\*/\d+", minute):
            clock = f"every {minute[2:]} minutes"
        elif m is not None:
            clock = f"at minute {m}"
        else:
            clock = f"at minutes {_list(minute)}"
        if hour != "*":
            if h is not None:
                clock += f" past hour {h}" if m is not None else f" during hour {h}"
            elif re.fullmatch(r"\*/\d+", hour):
                clock += f" of every {_ordinal(int(hour[2:]))} hour"
            else:
                clock += f" during hours {_list(hour)}"
        elif m is not None:
            clock += " of every hour"
        if second != "0":
            clock = (f"at second {s}, " if s is not None else f"at seconds {_list(second)}, ") + clock
    parts = [clock]
    days = []
    if dom != "*" and dom != "?":
        if dom.upper() == "L":
            days.append("on the last day of the month")
        elif re.fullmatch(r"[\d,\-/]+", dom):
            days.append(f"on day {_list(dom)} of the month")
        else:
            days.append(f"on days '{dom}' of the month")
    if dow != "*" and dow != "?":
        if re.fullmatch(r"[A-Za-z\d,\-/]+", dow):
            days.append("on " + _list(dow, _DAYS, _DAY_ABBR, 0, short))
        else:
            days.append(f"on weekdays '{dow}'")
    if days:
        parts.append(" or ".join(days) if len(days) == 2 else days[0])
    if month != "*":
        parts.append(f"in {_list(month, _MONTHS, _MONTH_ABBR, 1)}")
    if year != "*":
        parts.append(f"in {_list(year)}")
    return ", ".join(parts)


def error_caret(expression: str, message: str) -> str | None:
    """The expression with a caret line under the field a ``CronError`` message names, or None."""
    match = re.match(r"([a-z\-]+) field:", message)
    if not match or match[1] not in _FIELD_NAMES:
        return None
    index = _FIELD_NAMES.index(match[1])
    spans = [(m.start(), m.end()) for m in re.finditer(r"\S+", expression)]
    if index >= len(spans):
        return None
    start, end = spans[index]
    return f"  {expression}\n  {' ' * start}{'^' * (end - start)}"


# ---------------------------------------------------------------------------------- job listings

_WEEK = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_UTC_NAMES = frozenset({"UTC", "Etc/UTC", "Etc/UCT", "UCT", "Etc/Universal", "Universal", "Etc/Zulu", "Zulu"})


def _number(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else repr(float(x))


def interval_text(n: float, unit: str) -> str:
    """``every(n).<unit>s``: "Every 10 seconds", "Every minute", "Every 1.5 hours"."""
    return f"Every {unit}" if n == 1 else f"Every {_number(n)} {unit}s"


def daily_text(clock: str) -> str:
    """``daily.at(clock)``: "Daily at 14:30"."""
    return f"Daily at {clock}"


def hourly_text(minute: str) -> str:
    """``hourly.at(minute)`` (``minute`` as ``:MM`` or ``:MM:SS``): "Hourly at :15"."""
    return f"Hourly at {minute}"


def weekly_text(days: tuple[int, ...], clock: str) -> str:
    """``weekly`` on ``days`` (Monday 0): "Every Mon at 10:00", "Every Mon-Fri at 09:00",
    "Every Sat, Sun at 09:00" (three days or more in a row are a range)."""
    return f"Every {weekday_list(days)} at {clock}"


def weekday_list(days: tuple[int, ...]) -> str:
    """Weekday numbers (Monday 0, sorted) as "Mon-Fri", "Mon, Wed, Fri", "Mon-Wed, Sat"."""
    runs: list[list[int]] = []
    for d in days:
        if runs and d == runs[-1][-1] + 1:
            runs[-1].append(d)
        else:
            runs.append([d])
    parts = []
    for run in runs:
        if len(run) >= 3:
            parts.append(f"{_WEEK[run[0]]}\u2013{_WEEK[run[-1]]}")
        else:
            parts += [_WEEK[d] for d in run]
    return ", ".join(parts)


def cron_text(expression: str) -> str:
    """``cron(expression)``: "Cron: 0 9 * * MON-FRI -- at 09:00, on Mon-Fri" (the original's
    "Cron: ..." and the expression in words)."""
    return f"Cron: {expression} \u2014 {describe(expression, short=True)}"


def once_text(at: float, zone: tzinfo | None) -> str:
    """A one-shot job: "Once at 2026-07-01 10:00:00", wall-clock time in ``zone`` (None: the
    machine's local zone); UTC where the zone's wall clock is outside years 1-9999."""
    dt = datetime.fromtimestamp(at, tz=timezone.utc)
    try:
        dt = dt.astimezone() if zone is None else dt.astimezone(zone)
    except (OverflowError, ValueError):
        return f"Once at {dt.strftime('%Y-%m-%d %H:%M:%S')} UTC"
    return f"Once at {dt.strftime('%Y-%m-%d %H:%M:%S')}"


def with_zone(text: str, zone: str, explicit: bool) -> str:
    """``text`` with `` (zone)`` added when the job names its zone (``explicit``) or its zone is
    not the machine's local one (a text without a zone reads as local time, as in 0.2.x)."""
    if explicit or not is_local_zone(zone):
        return f"{text} ({zone})"
    return text


def is_local_zone(zone: str) -> bool:
    """Whether ``zone`` is this machine's local zone (UTC under any of its names)."""
    local = _local_zone(os.environ.get("TZ"))
    return zone == local or (zone in _UTC_NAMES and local in _UTC_NAMES)


@functools.lru_cache(maxsize=8)
def _local_zone(tz_variable: str | None) -> str:
    # Keyed on $TZ, which decides it when set; the files behind it do not change while we run.
    return local_zone_name()

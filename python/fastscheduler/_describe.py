"""Cron expressions in words (``fastscheduler cron``, job listings).

:func:`describe` reads a *valid* expression (parse it with ``CronExpr`` first) field by field and
says what it means in plain English: ``"0 9 * * MON-FRI"`` is "at 09:00, Monday through Friday".
Forms it has no words for (``L``, ``W``, ``#``) are quoted as written, so the sentence is never
wrong, only sometimes terse. :func:`error_caret` points at the field a parse error names.
"""

from __future__ import annotations

import re

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


def _name(value: str, names: list[str] | None, lookup: dict[str, int], offset: int) -> str:
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
    return names[index - offset]


def _list(
    field: str, names: list[str] | None = None, lookup: dict[str, int] | None = None, offset: int = 0
) -> str:
    """A field's comma list in words: ``1-5`` → "1 through 5", ``*/15`` → "every 15th"."""
    parts = []
    for item in field.split(","):
        base, _, step = item.partition("/")
        if base == "*":
            words = "every value"
        elif ("-" in base and names is not None) or re.fullmatch(r"\d+-\d+", base):
            lo, hi = base.split("-", 1)
            words = (
                f"{_name(lo, names, lookup or {}, offset)} through {_name(hi, names, lookup or {}, offset)}"
            )
        else:
            words = _name(base, names, lookup or {}, offset)
        if step:
            words = (
                f"every {_ordinal(int(step))} from {words}" if base != "*" else f"every {_ordinal(int(step))}"
            )
        parts.append(words)
    return ", ".join(parts[:-1]) + (" and " if len(parts) > 1 else "") + parts[-1]


def _single(field: str) -> int | None:
    return int(field) if field.isdigit() else None


def describe(expression: str) -> str:
    """Plain-English reading of a valid cron expression (5 fields, or 6 with seconds last)."""
    text = _ALIASES.get(expression.strip().lower(), expression)
    fields = text.split()
    if len(fields) not in (5, 6, 7):
        return f"cron '{expression}'"
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
            days.append("on " + _list(dow, _DAYS, _DAY_ABBR, 0))
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

"""The machine's local IANA zone name (for ``daily.at("14:30")`` = 14:30 local time)."""

from __future__ import annotations

import os
from pathlib import Path

from fastscheduler._core import CronExpr, UnknownTimeZoneError


def _valid(name: str) -> bool:
    try:
        CronExpr("* * * * *", tz=name)
    except (UnknownTimeZoneError, ValueError):
        return False
    return True


def local_zone_name() -> str:
    """``$TZ`` when it names a zone, else the zone ``/etc/localtime`` points to, else the name in
    ``/etc/timezone``, else ``"UTC"``."""
    tz = os.environ.get("TZ", "").lstrip(":")
    if tz and _valid(tz):
        return tz
    try:
        target = os.path.realpath("/etc/localtime")
        if "zoneinfo/" in target:
            name = target.split("zoneinfo/", 1)[1]
            if _valid(name):
                return name
    except OSError:
        pass
    try:
        name = Path("/etc/timezone").read_text().strip()
        if name and _valid(name):
            return name
    except OSError:
        pass
    return "UTC"

"""The ``tzinfo`` of the datetimes fastscheduler returns, from the tz database it computes with.

Fire times are computed with the IANA database bundled into the extension (``TZDB_VERSION``).
A returned datetime must show that database's wall clock *and* offset, or it denotes another
instant. ``ZoneInfo(name)`` reads the machine's database (``zoneinfo.TZPATH``, then the
``tzdata`` package), which may be another release or another build (Debian's keeps pre-1970
history that the bundled one merges into other zones). So a result carries ``ZoneInfo(name)``
itself only from the instant on which the two databases agree for good (for most zones: all of
time, or everything since the 1970s; comparisons such as ``dt.tzinfo == ZoneInfo(name)`` keep
working there), and a :class:`BundledZoneInfo` before it: a ``ZoneInfo`` read from the bundled
data, with the same ``key`` and ``str()``.
"""

from __future__ import annotations

import io
import os
import zoneinfo
from datetime import timezone, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fastscheduler import _core

__all__ = ["BundledZoneInfo", "bundled_tzinfo", "bundled_zone", "result_tzinfos"]


class BundledZoneInfo(ZoneInfo):
    """A ``zoneinfo.ZoneInfo`` read from the tz database bundled into fastscheduler.

    ``BundledZoneInfo("Europe/Paris")`` is the one instance for that zone; it pickles and copies
    as itself (rebuilt from the bundled database, never from the machine's).
    """

    def __new__(cls, key: str) -> BundledZoneInfo:
        return bundled_zone(key)

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (bundled_zone, (str(self.key),))

    @classmethod
    def no_cache(cls, key: str) -> BundledZoneInfo:
        """A new instance, read from the bundled database like every other."""
        name, data = _core._bundled_tzif(key)
        return cls.from_file(io.BytesIO(data), key=name)


_BUNDLED: dict[str, BundledZoneInfo] = {}


def bundled_zone(key: str) -> BundledZoneInfo:
    """The zone ``key`` read from the bundled database (``UnknownTimeZoneError`` if absent)."""
    zone = _BUNDLED.get(key)
    if zone is None:
        name, data = _core._bundled_tzif(key)
        zone = _BUNDLED.get(name)
        if zone is None:
            # One instance per zone, even when two threads get here at once.
            zone = _BUNDLED.setdefault(name, BundledZoneInfo.from_file(io.BytesIO(data), key=name))
        _BUNDLED[key] = zone
    return zone


_RESULT: dict[str, tuple[tzinfo, ZoneInfo | None, int | None]] = {}


def result_tzinfos(name: str) -> tuple[tzinfo, ZoneInfo | None, int | None]:
    """The tzinfos of results computed in zone ``name`` (a canonical name of the bundled
    database): ``(bundled, system, since)``. Results at or after epoch second ``since`` carry
    ``system`` (``ZoneInfo(name)``, which gives the bundled offsets from two days before that
    instant on), earlier ones ``bundled`` (``timezone.utc`` for UTC, else
    ``BundledZoneInfo(name)``). ``system`` and ``since`` are None when the machine's database
    still disagrees at the end of year 9999, or has no such zone. Decided once per process."""
    found = _RESULT.get(name)
    if found is not None:
        return found
    if name == "UTC":
        return _RESULT.setdefault(name, (timezone.utc, None, None))
    try:
        system: ZoneInfo | None = ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        system = None
    data = _system_tzif(name) if system is not None else None
    since = _core._tzif_agrees_from(name, data) if data is not None else None
    return _RESULT.setdefault(name, (bundled_zone(name), system if since is not None else None, since))


def bundled_tzinfo(name: str) -> tzinfo:
    """``timezone.utc`` for ``"UTC"``, else ``BundledZoneInfo(name)``: a tzinfo that reads and
    shows times in zone ``name`` exactly as fastscheduler computes them."""
    return timezone.utc if name == "UTC" else bundled_zone(name)


def _system_tzif(name: str) -> bytes | None:
    """The TZif data ``ZoneInfo(name)`` reads: the first file in ``zoneinfo.TZPATH``, else the
    ``tzdata`` package's."""
    for root in zoneinfo.TZPATH:  # read now: zoneinfo.reset_tzpath() replaces it
        path = os.path.join(root, name)
        if os.path.isfile(path):
            try:
                with open(path, "rb") as f:
                    return f.read()
            except OSError:
                return None
    try:
        from importlib import resources

        return resources.files("tzdata.zoneinfo").joinpath(*name.split("/")).read_bytes()
    except (ImportError, OSError, ValueError):
        return None

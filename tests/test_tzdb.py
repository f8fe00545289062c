"""One tz database for a fire time's computation and for the datetime that shows it.

Fire times come from the IANA database bundled into the extension; the datetimes ``CronExpr``
returns must show that database's wall clock and offset, whatever ``zoneinfo`` reads on the
machine. The first test runs against a zoneinfo database written here that differs from the
bundled one; the others check, for every bundled zone, that Python reads each returned
datetime as the instant the core computed.
"""

from __future__ import annotations

import contextlib
import copy
import io
import os
import pickle
import struct
import subprocess
import sys
import textwrap
import zoneinfo
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from fastscheduler import CronExpr, UnknownTimeZoneError, _core
from fastscheduler._tzinfo import BundledZoneInfo, bundled_zone, result_tzinfos

UTC = timezone.utc


def _posix_offset(seconds: int) -> str:
    """A POSIX TZ offset (positive west of Greenwich) for a UTC offset in seconds."""
    west = -seconds
    sign = "-" if west < 0 else ""
    h, rest = divmod(abs(west), 3600)
    m, s = divmod(rest, 60)
    return sign + str(h) + (f":{m:02d}" if m or s else "") + (f":{s:02d}" if s else "")


def tzif(initial: int, transitions: list[tuple[int, int]]) -> bytes:
    """A TZif version 2 file (RFC 8536): UTC offset ``initial`` (seconds) until the first of
    ``transitions`` (epoch second, new offset), the last offset forever after."""
    offsets = list(dict.fromkeys([initial] + [o for _, o in transitions]))
    names = b"ZZZ\0"  # every offset is called ZZZ, like the rule at the end

    def block(time_format: str) -> bytes:
        counts = struct.pack(">6l", 0, 0, 0, len(transitions), len(offsets), len(names))
        return (
            b"TZif2"
            + bytes(15)
            + counts
            + b"".join(struct.pack(time_format, t) for t, _ in transitions)
            + bytes(offsets.index(o) for _, o in transitions)
            + b"".join(struct.pack(">lBB", o, 0, 0) for o in offsets)
            + names
        )

    last = transitions[-1][1] if transitions else initial
    return block(">l") + block(">q") + f"\n<ZZZ>{_posix_offset(last)}\n".encode()


JAN_3_1970 = 2 * 86400

# Runs with PYTHONTZPATH pointing at a database in which New York is at -03:00 and Casablanca at
# +01:00 for all time (the bundled offsets in December 2026: -05:00 and +00:00), and Tokyo was
# +10:00 until 1970 (bundled: +09:00 but for summer time in 1948-1951).
DIFFERENT_DATABASE = textwrap.dedent(
    """
    import copy, pickle, zoneinfo
    from datetime import datetime, timedelta, timezone
    from zoneinfo import ZoneInfo
    from fastscheduler import CronExpr, FastScheduler, ManualClock
    from fastscheduler._tzinfo import BundledZoneInfo

    UTC, H = timezone.utc, timedelta(hours=1)
    ny, casa, tokyo = ZoneInfo("America/New_York"), ZoneInfo("Africa/Casablanca"), ZoneInfo("Asia/Tokyo")
    noon = datetime(2026, 12, 7, 12, tzinfo=UTC)
    # The machine's database really is another one.
    assert ny.utcoffset(noon.replace(tzinfo=None)) == -3 * H
    assert casa.utcoffset(noon.replace(tzinfo=None)) == H
    assert tokyo.utcoffset(datetime(1960, 1, 1)) == 10 * H

    # The issue's example: the fire after 12:00Z is 12:15Z (it was 11:15Z, shown with +01:00).
    e = CronExpr("*/15 * * * *", tz="Africa/Casablanca")
    r = e.next(noon)
    assert r > noon and r - noon == timedelta(minutes=15), r
    assert r.isoformat() == "2026-12-07T12:15:00+00:00", r
    assert r.astimezone(UTC) == datetime(2026, 12, 7, 12, 15, tzinfo=UTC)
    assert r.timestamp() == noon.timestamp() + 900

    e = CronExpr("*/15 * * * *", tz="America/New_York")
    r = e.next(noon)
    assert r.isoformat() == "2026-12-07T07:15:00-05:00", r
    assert r - noon == timedelta(minutes=15)
    # What users compare: the zone's name, its key, its type, the offset, the instant.
    assert str(r.tzinfo) == r.tzinfo.key == "America/New_York"
    assert isinstance(r.tzinfo, ZoneInfo) and type(r.tzinfo) is BundledZoneInfo
    assert r.tzinfo is not ny  # the machine's ZoneInfo would show another instant
    assert r.utcoffset() == -5 * H and r.tzname() == "EST"
    assert (r.hour, r.minute) == (7, 15)
    # The result reads back as itself: as input, through prev/matches, pickled, copied.
    assert e.matches(r) and e.next(r) == r + timedelta(minutes=15)
    assert e.prev(r) == r - timedelta(minutes=15)
    assert e.next_n(noon, 3) == [r, r + timedelta(minutes=15), r + timedelta(minutes=30)]
    assert e.next_timestamps(noon.timestamp(), 1) == [r.timestamp()]
    back = pickle.loads(pickle.dumps(r))
    assert back == r and back.tzinfo is r.tzinfo and back.utcoffset() == -5 * H
    assert copy.deepcopy(r).tzinfo is r.tzinfo and copy.copy(r).tzinfo is r.tzinfo
    # Naive input: a wall-clock time in the bundled database. Input in the machine's ZoneInfo:
    # the instant Python says it is (09:00-03:00 = 12:00Z).
    assert e.next(datetime(2026, 12, 7, 7, 0)) == r
    sys_noon = datetime(2026, 12, 7, 9, 0, tzinfo=ny)
    assert sys_noon == noon and e.next(sys_noon) == r and e.prev(sys_noon) < sys_noon
    # A fixed time: 09:00 EST is 14:00Z.
    f = CronExpr("0 9 * * *", tz="America/New_York").next(noon)
    assert f.isoformat() == "2026-12-07T09:00:00-05:00" and f.timestamp() == noon.timestamp() + 2 * 3600

    # Tokyo: the two databases agree from 1970 on, so results from two days later carry the
    # machine's own ZoneInfo (comparisons with it keep working); earlier ones the bundled data.
    t = CronExpr("0 12 * * *", tz="Asia/Tokyo")
    modern = t.next(noon)
    assert modern.tzinfo is tokyo and modern.tzinfo == ZoneInfo("Asia/Tokyo")
    assert modern.isoformat() == "2026-12-08T12:00:00+09:00"
    old = t.next(datetime(1960, 1, 1, tzinfo=UTC))
    assert type(old.tzinfo) is BundledZoneInfo and old.isoformat() == "1960-01-01T12:00:00+09:00"
    fires = t.next_n(datetime(1969, 12, 31, tzinfo=UTC), 4)
    assert [type(x.tzinfo).__name__ for x in fires] == ["BundledZoneInfo"] * 3 + ["ZoneInfo"]
    assert [x.hour for x in fires] == [12] * 4 and all(x.utcoffset() == 9 * H for x in fires)
    assert [b - a for a, b in zip(fires, fires[1:])] == [timedelta(days=1)] * 3

    # The scheduler's at(...).tz(...) reads and shows times in the bundled database too.
    from fastscheduler import _builders
    assert _builders._tzinfo("America/New_York").utcoffset(datetime(2026, 12, 7)) == -5 * H
    sched = FastScheduler(storage="memory", clock=ManualClock(noon.timestamp()))
    sched.at("2026-12-07 09:00").tz("America/New_York")(lambda: None)
    (once,) = sched.get_jobs()
    assert once["job_id"].endswith(":at:2026-12-07T14:00:00Z"), once
    assert once["schedule"] == "Once at 2026-12-07 09:00:00 (America/New_York)", once
    print("ok")
    """
)


def test_results_follow_the_bundled_database_under_another_zoneinfo(tmp_path: Path) -> None:
    db = tmp_path / "zoneinfo"
    for name, data in {
        "America/New_York": tzif(-3 * 3600, []),
        "Africa/Casablanca": tzif(3600, []),
        "Asia/Tokyo": tzif(10 * 3600, [(0, 9 * 3600)]),
    }.items():
        (db / name).parent.mkdir(parents=True, exist_ok=True)
        (db / name).write_bytes(data)
    env = {**os.environ, "PYTHONTZPATH": str(db)}
    run = subprocess.run(
        [sys.executable, "-c", DIFFERENT_DATABASE], env=env, capture_output=True, text=True, timeout=60
    )
    assert run.returncode == 0 and run.stdout.strip() == "ok", run.stderr


def test_the_written_database_reads_as_intended() -> None:
    # The test's TZif writer, checked against zoneinfo itself (so the test above tests CronExpr).
    z = ZoneInfo.from_file(io.BytesIO(tzif(10 * 3600, [(0, 9 * 3600)])), key="Test/Tokyo")
    assert z.utcoffset(datetime(1969, 12, 31, 23)) == timedelta(hours=10)
    assert z.utcoffset(datetime(1970, 1, 1, 10)) == timedelta(hours=9)
    assert z.utcoffset(datetime(2400, 6, 1)) == timedelta(hours=9)
    assert _core._tzif_agrees_from("Asia/Tokyo", tzif(10 * 3600, [(0, 9 * 3600)])) == JAN_3_1970
    assert _core._tzif_agrees_from("America/New_York", tzif(-3 * 3600, [])) is None


def test_bundled_zoneinfo_identity_pickling_and_errors() -> None:
    z = BundledZoneInfo("Europe/Paris")
    assert z is bundled_zone("Europe/Paris") is BundledZoneInfo("europe/paris")
    assert isinstance(z, ZoneInfo) and z.key == str(z) == "Europe/Paris"
    assert repr(z) == "BundledZoneInfo(key='Europe/Paris')"
    assert pickle.loads(pickle.dumps(z)) is z and copy.deepcopy(z) is z
    fresh = BundledZoneInfo.no_cache("Europe/Paris")
    assert fresh is not z and type(fresh) is BundledZoneInfo and fresh.key == "Europe/Paris"
    dt = datetime(2026, 7, 1, 12, tzinfo=z)
    assert pickle.loads(pickle.dumps(dt)) == dt and dt.utcoffset() == timedelta(hours=2)
    with pytest.raises(UnknownTimeZoneError, match='unknown time zone "Mars/Olympus_Mons"'):
        BundledZoneInfo("Mars/Olympus_Mons")
    # UTC results carry datetime.timezone.utc; the machine's database is not consulted.
    assert result_tzinfos("UTC") == (UTC, None, None)


def _transitions(name: str) -> list[int]:
    """The explicit transitions of a zone in the bundled TZif data (through its v2 block)."""
    from zoneinfo import _common  # type: ignore[attr-defined]

    _, data = _core._bundled_tzif(name)
    _, trans_utc, *_ = _common.load_data(io.BytesIO(data))
    return list(trans_utc)


def _zones() -> list[str]:
    names = set()
    for name in zoneinfo.available_timezones():
        with contextlib.suppress(UnknownTimeZoneError):  # "localtime" and the like
            names.add(CronExpr("* * * * *", tz=name).tz)
    return sorted(names)


def test_every_zone_shows_the_instant_the_core_computed() -> None:
    """At both sides of every explicit transition of every bundled zone, and at year 1 and year
    9999, the returned datetime is the instant ``next_timestamps`` gives (Python's reading of the
    attached tzinfo agrees with the core's reading of the bundled database)."""
    zones = _zones()
    assert len(zones) > 500
    checked = 0
    for name in zones:
        e = CronExpr("* * * * * *", tz=name)
        instants = [t for t in _transitions(name) if -62_000_000_000 < t < 4_200_000_000]
        for t in instants:
            for s in (t - 1, t):
                got = e.next(datetime.fromtimestamp(s - 1, UTC))
                assert got.timestamp() == s, (name, s, got)
                checked += 1
        first = e.next(datetime(1, 1, 1))
        assert first.replace(tzinfo=None) == datetime(1, 1, 1, 0, 0, 1), (name, first)
        last = e.prev(datetime(9999, 12, 31, 23, 59, 59))
        assert last.replace(tzinfo=None) == datetime(9999, 12, 31, 23, 59, 58), (name, last)
        assert e.matches(first) and e.matches(last)
    assert checked > 10_000


def _offset(tz: object, s: int) -> timedelta | None:
    return datetime.fromtimestamp(s, tz).utcoffset()  # type: ignore[arg-type]


@pytest.mark.parametrize("year", [2100, 9998])
def test_rule_based_transitions_agree_far_ahead(year: int) -> None:
    """Past its explicit transitions a zone follows the POSIX rule at the end of its TZif data;
    Python's reading of that rule agrees with the core's at every transition of ``year``."""
    start = int(datetime(year, 1, 1, tzinfo=UTC).timestamp())
    week = 7 * 86400
    zones = [
        n for n in _zones() if _offset(bundled_zone(n), start) != _offset(bundled_zone(n), start + 26 * week)
    ]
    assert len(zones) > 50
    for name in zones:
        tz, e = bundled_zone(name), CronExpr("* * * * * *", tz=name)
        for a in range(start, start + 53 * week, week):
            if _offset(tz, a) == _offset(tz, a + week):
                continue
            lo, hi = a, a + week  # the offset changes in (lo, hi]
            while hi - lo > 1:
                mid = (lo + hi) // 2
                lo, hi = (mid, hi) if _offset(tz, mid) == _offset(tz, lo) else (lo, mid)
            for s in (hi - 1, hi):
                got = e.next(datetime.fromtimestamp(s - 1, UTC))
                assert got.timestamp() == s, (name, s, got)

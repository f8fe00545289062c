//! Time zones from the tz database bundled into the binary (jiff's `tzdb-bundle-always`), so
//! results are identical on every machine whatever its /usr/share/zoneinfo.
//!
//! The zone's timeline is a sequence of offset periods. Within one period, civil time and
//! instants are a monotonic bijection (`instant = civil - offset`), which is what lets the cron
//! search stay in plain integer civil time and apply the DST policy only at period edges.
use crate::civil::CivilSecs;
use crate::error::{CoreError, Result};
use jiff::tz::{AmbiguousOffset, TimeZone};
use jiff::Timestamp;

/// A span of instants `[start, end)` with one UTC offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    /// First instant of the period (`i64::MIN` when it has no known start).
    pub start: i64,
    /// First instant after the period (`i64::MAX` when it never ends).
    pub end: i64,
    /// UTC offset in seconds during the period.
    pub offset: i32,
    /// Offset of the period before (equal to `offset` when there is none).
    pub prev_offset: i32,
    /// Offset of the period after (equal to `offset` when there is none).
    pub next_offset: i32,
}

impl Period {
    #[inline]
    pub fn contains(&self, t: i64) -> bool {
        self.start <= t && t < self.end
    }
}

/// An IANA time zone (or UTC).
#[derive(Debug, Clone)]
pub struct Zone {
    name: String,
    tz: TimeZone,
    /// Set when the zone has a single offset forever (UTC): skips all lookups.
    fixed: Option<i32>,
}

impl PartialEq for Zone {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}
impl Eq for Zone {}

/// Longest zone name accepted (the longest IANA name is about 30 characters).
const MAX_NAME_LEN: usize = 128;

impl Zone {
    /// Look a zone up by IANA name (`"America/New_York"`, `"UTC"`). Unknown names are an error
    /// naming the zone.
    pub fn get(name: &str) -> Result<Zone> {
        if name.eq_ignore_ascii_case("utc") || name.eq_ignore_ascii_case("z") {
            return Ok(Zone::utc());
        }
        if name.is_empty() || name.len() > MAX_NAME_LEN || name.contains(['\0', ' ']) {
            return Err(CoreError::UnknownZone(name.to_string()));
        }
        let tz = TimeZone::get(name).map_err(|_| CoreError::UnknownZone(name.to_string()))?;
        // Keep the canonical spelling the database uses for display.
        let canonical = tz.iana_name().unwrap_or(name).to_string();
        Ok(Zone { name: canonical, tz, fixed: None })
    }

    pub fn utc() -> Zone {
        Zone { name: "UTC".to_string(), tz: TimeZone::UTC, fixed: Some(0) }
    }

    /// The zone's IANA name.
    pub fn name(&self) -> &str {
        &self.name
    }

    fn ts(t: i64) -> Timestamp {
        // Instants handled here lie in years 1..=9999; clamp anything else into jiff's range.
        let t = t.clamp(Timestamp::MIN.as_second() + 1, Timestamp::MAX.as_second() - 1);
        Timestamp::from_second(t).unwrap_or(Timestamp::UNIX_EPOCH)
    }

    /// UTC offset in seconds at instant `t`.
    #[inline]
    pub fn offset_at(&self, t: i64) -> i32 {
        match self.fixed {
            Some(o) => o,
            None => self.tz.to_offset(Self::ts(t)).seconds(),
        }
    }

    /// The offset period containing instant `t`.
    pub fn period(&self, t: i64) -> Period {
        if let Some(o) = self.fixed {
            return Period { start: i64::MIN, end: i64::MAX, offset: o, prev_offset: o, next_offset: o };
        }
        let ts = Self::ts(t);
        let offset = self.tz.to_offset(ts).seconds();
        // `preceding` is strictly before its argument, so ask from t + 1 to include t itself.
        let (start, prev_offset) = match self.tz.preceding(Self::ts(t.saturating_add(1))).next() {
            Some(tr) => {
                let s = tr.timestamp().as_second();
                (s, self.tz.to_offset(Self::ts(s - 1)).seconds())
            }
            None => (i64::MIN, offset),
        };
        let (end, next_offset) = match self.tz.following(ts).next() {
            Some(tr) => (tr.timestamp().as_second(), tr.offset().seconds()),
            None => (i64::MAX, offset),
        };
        Period { start, end, offset, prev_offset, next_offset }
    }

    /// The instant of a wall-clock time, PEP 495 style: in a fold, `fold = false` picks the
    /// earlier instant and `true` the later; in a gap, `fold = false` reads the time with the
    /// offset from before the gap and `true` with the offset after it (what `datetime` does).
    pub fn resolve(&self, civil: CivilSecs, fold: bool) -> i64 {
        if let Some(o) = self.fixed {
            return civil - i64::from(o);
        }
        let c = crate::civil::Civil::from_secs(civil);
        let dt = match jiff::civil::DateTime::new(
            c.year as i16,
            c.month as i8,
            c.day as i8,
            c.hour as i8,
            c.minute as i8,
            c.second as i8,
            0,
        ) {
            Ok(dt) => dt,
            Err(_) => return civil - i64::from(self.offset_at(civil)),
        };
        let offset = match self.tz.to_ambiguous_timestamp(dt).offset() {
            AmbiguousOffset::Unambiguous { offset } => offset,
            AmbiguousOffset::Gap { before, after } | AmbiguousOffset::Fold { before, after } => {
                if fold {
                    after
                } else {
                    before
                }
            }
        };
        civil - i64::from(offset.seconds())
    }

    /// Wall-clock civil seconds of instant `t`.
    #[inline]
    pub fn to_civil(&self, t: i64) -> CivilSecs {
        t + i64::from(self.offset_at(t))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::civil::Civil;

    fn civil(y: i32, mo: u8, d: u8, h: u8, mi: u8) -> i64 {
        Civil { year: y, month: mo, day: d, hour: h, minute: mi, second: 0 }.to_secs()
    }

    #[test]
    fn new_york_2026_periods_and_pep495() {
        let z = Zone::get("America/New_York").unwrap();
        // 2026-03-08 07:00Z: clocks jump 02:00 EST -> 03:00 EDT.
        let spring = civil(2026, 3, 8, 7, 0);
        let p = z.period(spring);
        assert_eq!((p.start, p.offset, p.prev_offset), (spring, -4 * 3600, -5 * 3600));
        let p = z.period(spring - 1);
        assert_eq!((p.end, p.offset, p.next_offset), (spring, -5 * 3600, -4 * 3600));
        // 02:30 in the gap: fold=0 reads it as EST (07:30Z), fold=1 as EDT (06:30Z).
        assert_eq!(z.resolve(civil(2026, 3, 8, 2, 30), false), civil(2026, 3, 8, 7, 30));
        assert_eq!(z.resolve(civil(2026, 3, 8, 2, 30), true), civil(2026, 3, 8, 6, 30));
        // 01:30 on 2026-11-01 happens twice: 05:30Z then 06:30Z.
        assert_eq!(z.resolve(civil(2026, 11, 1, 1, 30), false), civil(2026, 11, 1, 5, 30));
        assert_eq!(z.resolve(civil(2026, 11, 1, 1, 30), true), civil(2026, 11, 1, 6, 30));
        assert!(Zone::get("Mars/Olympus_Mons").is_err());
        assert_eq!(Zone::get("utc").unwrap().name(), "UTC");
    }
}

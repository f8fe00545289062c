//! Civil-time search: the next / previous wall-clock second that matches a [`Spec`].
//!
//! Pure bit arithmetic on per-field sets; no zone here. Every step moves the candidate strictly
//! forward (or backward) and the search stops at the caller's bound, so it always terminates.
use super::parse::{Spec, YEAR_MAX, YEAR_MIN};
use crate::civil::{days_from_civil, days_in_month, weekday, Civil, CivilSecs, MAX_YEAR, MIN_YEAR};

/// Smallest member of `bits` that is >= `v` (v < 64).
#[inline]
fn next_bit(bits: u64, v: u32) -> Option<u32> {
    if v >= 64 {
        return None;
    }
    let w = bits & (u64::MAX << v);
    (w != 0).then(|| w.trailing_zeros())
}

/// Largest member of `bits` that is <= `v`.
#[inline]
fn prev_bit(bits: u64, v: u32) -> Option<u32> {
    let v = v.min(63);
    let w = bits & (u64::MAX >> (63 - v));
    (w != 0).then(|| 63 - w.leading_zeros())
}

/// The nearest weekday (Mon-Fri) to `day` within the month, croniter's rule: the day is first
/// clamped to the month's length; Saturday moves to Friday (or Monday the 3rd when it is the
/// 1st); Sunday moves to Monday (or Friday when it is the last day).
fn nearest_weekday(year: i32, month: u8, day: u8, len: u8) -> u8 {
    let day = day.min(len);
    match weekday(year, month, day) {
        6 if day > 1 => day - 1,
        6 => day + 2,
        0 if day < len => day + 1,
        0 => day - 2,
        _ => day,
    }
}

/// Days of the month (bits 1..=31) that match the day-of-month and day-of-week fields.
pub fn day_mask(spec: &Spec, year: i32, month: u8) -> u64 {
    let d = &spec.days;
    let len = days_in_month(year, month);
    let in_month = (u64::MAX >> (63 - u32::from(len))) & !1; // bits 1..=len
    if d.dom_star && d.dow_star {
        return in_month;
    }
    let dom = if d.dom_star {
        0
    } else {
        let mut m = d.dom_days & in_month;
        let mut from_last = d.dom_from_last;
        while from_last != 0 {
            let n = from_last.trailing_zeros();
            from_last &= from_last - 1;
            if n < u32::from(len) {
                m |= 1 << (u32::from(len) - n);
            }
        }
        if d.dom_nearest_weekday != 0 {
            m |= 1 << nearest_weekday(year, month, d.dom_nearest_weekday, len);
        }
        if d.dom_last_weekday {
            m |= 1 << nearest_weekday(year, month, len, len);
        }
        m
    };
    let dow = if d.dow_star {
        0
    } else {
        let first = weekday(year, month, 1);
        let mut m = 0u64;
        for wd in 0..7u8 {
            let first_day = 1 + (wd + 7 - first) % 7; // first date in the month with weekday wd
            if d.dow_days & (1 << wd) != 0 {
                let mut day = first_day;
                while day <= len {
                    m |= 1 << day;
                    day += 7;
                }
            }
            let nth = d.dow_nth[wd as usize];
            if nth != 0 {
                for n in 1..=5u8 {
                    let day = first_day + 7 * (n - 1);
                    if nth & (1 << n) != 0 && day <= len {
                        m |= 1 << day;
                    }
                }
            }
            if d.dow_last & (1 << wd) != 0 {
                m |= 1 << (first_day + 7 * ((len - first_day) / 7));
            }
        }
        m
    };
    if d.dom_star {
        dow
    } else if d.dow_star {
        dom
    } else {
        // Both restricted: either matches (Vixie cron, croniter's default).
        dom | dow
    }
}

#[inline]
fn year_ok(spec: &Spec, year: i32) -> bool {
    match &spec.years {
        None => true,
        Some(set) => {
            year >= YEAR_MIN as i32
                && year <= YEAR_MAX as i32
                && set.contains((year - YEAR_MIN as i32) as u32)
        }
    }
}

#[inline]
fn month_start(year: i32, month: u8) -> CivilSecs {
    days_from_civil(year, month, 1) * 86_400
}

/// The day mask of the month last looked at, kept across searches of one batch.
#[derive(Debug, Clone, Copy)]
pub struct MonthCache(i32, u8, u64);

impl Default for MonthCache {
    fn default() -> Self {
        MonthCache(i32::MIN, 0, 0)
    }
}

/// The first matching civil second in `[lo, hi]`.
pub fn next_civil(spec: &Spec, lo: CivilSecs, hi: CivilSecs) -> Option<CivilSecs> {
    next_civil_cached(spec, lo, hi, &mut MonthCache::default())
}

/// As [`next_civil`], reusing `cache` (which must only ever be used with this `spec`).
pub fn next_civil_cached(
    spec: &Spec,
    lo: CivilSecs,
    hi: CivilSecs,
    cache: &mut MonthCache,
) -> Option<CivilSecs> {
    let hi = hi.min(crate::civil::max_secs());
    let mut t = lo.max(crate::civil::min_secs());
    while t <= hi {
        let c = Civil::from_secs(t);
        if !year_ok(spec, c.year) {
            let years = spec.years.unwrap_or_default();
            let from = (c.year + 1).max(YEAR_MIN as i32);
            if from > YEAR_MAX as i32 {
                return None;
            }
            let y =
                years.next_at_or_after((from - YEAR_MIN as i32) as u32)? as i32 + YEAR_MIN as i32;
            t = month_start(y, 1);
            continue;
        }
        let Some(m) = next_bit(spec.months, u32::from(c.month)) else {
            if c.year >= MAX_YEAR {
                return None;
            }
            t = month_start(c.year + 1, 1);
            continue;
        };
        if m != u32::from(c.month) {
            t = month_start(c.year, m as u8);
            continue;
        }
        if cache.0 != c.year || cache.1 != c.month {
            *cache = MonthCache(c.year, c.month, day_mask(spec, c.year, c.month));
        }
        let Some(d) = next_bit(cache.2, u32::from(c.day)) else {
            t = if c.month == 12 {
                if c.year >= MAX_YEAR {
                    return None;
                }
                month_start(c.year + 1, 1)
            } else {
                month_start(c.year, c.month + 1)
            };
            continue;
        };
        let day_start =
            t - i64::from(c.hour) * 3600 - i64::from(c.minute) * 60 - i64::from(c.second);
        if d != u32::from(c.day) {
            t = day_start + i64::from(d - u32::from(c.day)) * 86_400;
            continue;
        }
        let Some(h) = next_bit(spec.hours, u32::from(c.hour)) else {
            t = day_start + 86_400;
            continue;
        };
        if h != u32::from(c.hour) {
            t = day_start + i64::from(h) * 3600;
            continue;
        }
        let hour_start = day_start + i64::from(h) * 3600;
        let Some(mi) = next_bit(spec.minutes, u32::from(c.minute)) else {
            t = hour_start + 3600;
            continue;
        };
        if mi != u32::from(c.minute) {
            t = hour_start + i64::from(mi) * 60;
            continue;
        }
        let minute_start = hour_start + i64::from(mi) * 60;
        let Some(s) = next_bit(spec.seconds, u32::from(c.second)) else {
            t = minute_start + 60;
            continue;
        };
        let found = minute_start + i64::from(s);
        return (found <= hi).then_some(found);
    }
    None
}

/// The last matching civil second in `[lo, hi]`.
pub fn prev_civil(spec: &Spec, hi: CivilSecs, lo: CivilSecs) -> Option<CivilSecs> {
    let lo = lo.max(crate::civil::min_secs());
    let mut t = hi.min(crate::civil::max_secs());
    let mut cached: (i32, u8, u64) = (i32::MIN, 0, 0);
    while t >= lo {
        let c = Civil::from_secs(t);
        if !year_ok(spec, c.year) {
            let years = spec.years.unwrap_or_default();
            let from = (c.year - 1).min(YEAR_MAX as i32);
            if from < YEAR_MIN as i32 {
                return None;
            }
            let y =
                years.prev_at_or_before((from - YEAR_MIN as i32) as u32)? as i32 + YEAR_MIN as i32;
            t = month_start(y + 1, 1) - 1;
            continue;
        }
        let Some(m) = prev_bit(spec.months, u32::from(c.month)).filter(|&m| m >= 1) else {
            if c.year <= MIN_YEAR {
                return None;
            }
            t = month_start(c.year, 1) - 1;
            continue;
        };
        if m != u32::from(c.month) {
            t = if m == 12 {
                month_start(c.year + 1, 1)
            } else {
                month_start(c.year, m as u8 + 1)
            } - 1;
            continue;
        }
        if cached.0 != c.year || cached.1 != c.month {
            cached = (c.year, c.month, day_mask(spec, c.year, c.month));
        }
        let Some(d) = prev_bit(cached.2, u32::from(c.day)).filter(|&d| d >= 1) else {
            if c.year <= MIN_YEAR && c.month == 1 {
                return None;
            }
            t = month_start(c.year, c.month) - 1;
            continue;
        };
        let day_start =
            t - i64::from(c.hour) * 3600 - i64::from(c.minute) * 60 - i64::from(c.second);
        if d != u32::from(c.day) {
            t = day_start - i64::from(u32::from(c.day) - d - 1) * 86_400 - 1;
            continue;
        }
        let Some(h) = prev_bit(spec.hours, u32::from(c.hour)) else {
            t = day_start - 1;
            continue;
        };
        if h != u32::from(c.hour) {
            t = day_start + i64::from(h) * 3600 + 3599;
            continue;
        }
        let hour_start = day_start + i64::from(h) * 3600;
        let Some(mi) = prev_bit(spec.minutes, u32::from(c.minute)) else {
            t = hour_start - 1;
            continue;
        };
        if mi != u32::from(c.minute) {
            t = hour_start + i64::from(mi) * 60 + 59;
            continue;
        }
        let minute_start = hour_start + i64::from(mi) * 60;
        let Some(s) = prev_bit(spec.seconds, u32::from(c.second)) else {
            t = minute_start - 1;
            continue;
        };
        let found = minute_start + i64::from(s);
        return (found >= lo).then_some(found);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::super::parse::parse;
    use super::*;

    fn secs(y: i32, mo: u8, d: u8, h: u8, mi: u8, s: u8) -> i64 {
        Civil {
            year: y,
            month: mo,
            day: d,
            hour: h,
            minute: mi,
            second: s,
        }
        .to_secs()
    }

    fn next(e: &str, from: i64) -> Civil {
        Civil::from_secs(next_civil(&parse(e).unwrap(), from, i64::MAX).unwrap())
    }

    #[test]
    fn specials() {
        let jan1 = secs(2026, 1, 1, 0, 0, 1);
        assert_eq!(
            next("0 0 L * *", jan1),
            Civil::from_secs(secs(2026, 1, 31, 0, 0, 0))
        );
        assert_eq!(
            next("0 0 L-3 * *", jan1),
            Civil::from_secs(secs(2026, 1, 28, 0, 0, 0))
        );
        assert_eq!(
            next("0 0 * * 5L", jan1),
            Civil::from_secs(secs(2026, 1, 30, 0, 0, 0))
        );
        assert_eq!(
            next("0 0 * * 5#3", jan1),
            Civil::from_secs(secs(2026, 1, 16, 0, 0, 0))
        );
        // 2026-02-01 is a Sunday: 1W is Monday the 2nd.
        assert_eq!(
            next("0 0 1W * *", jan1),
            Civil::from_secs(secs(2026, 2, 2, 0, 0, 0))
        );
        // 2026-05-31 is a Sunday: LW is Friday the 29th.
        assert_eq!(
            next("0 0 LW 5 *", jan1),
            Civil::from_secs(secs(2026, 5, 29, 0, 0, 0))
        );
        assert_eq!(
            next("0 0 29 2 *", jan1),
            Civil::from_secs(secs(2028, 2, 29, 0, 0, 0))
        );
        // Vixie OR: the 13th or any Friday.
        assert_eq!(
            next("0 0 13 * 5", jan1),
            Civil::from_secs(secs(2026, 1, 2, 0, 0, 0))
        );
    }

    #[test]
    fn prev_mirrors_next() {
        for e in [
            "*/7 3-5 * * *",
            "0 0 L * *",
            "15 10 * * 5#3",
            "0 0 29 2 *",
            "*/13 * * * * *",
            "0 12 1W * *",
        ] {
            let spec = parse(e).unwrap();
            let mut t = secs(2026, 1, 1, 0, 0, 0);
            for _ in 0..50 {
                let n = next_civil(&spec, t + 1, i64::MAX).unwrap();
                assert_eq!(
                    prev_civil(&spec, n - 1, i64::MIN),
                    if t == secs(2026, 1, 1, 0, 0, 0) {
                        prev_civil(&spec, n - 1, i64::MIN)
                    } else {
                        Some(t)
                    },
                    "{e}"
                );
                assert_eq!(prev_civil(&spec, n, i64::MIN), Some(n));
                t = n;
            }
        }
    }
}

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

/// The first time of day `>= (h, m, s)` whose hour, minute and second all match, as seconds
/// since midnight.
#[inline]
fn next_time_of_day(spec: &Spec, h: u32, m: u32, s: u32) -> Option<u32> {
    let first = |bits: u64| bits.trailing_zeros();
    if spec.hours & (1 << h) != 0 {
        if spec.minutes & (1 << m) != 0 {
            if let Some(sec) = next_bit(spec.seconds, s) {
                return Some(h * 3600 + m * 60 + sec);
            }
        }
        if let Some(min) = next_bit(spec.minutes, m + 1) {
            return Some(h * 3600 + min * 60 + first(spec.seconds));
        }
    }
    let hour = next_bit(spec.hours, h + 1)?;
    Some(hour * 3600 + first(spec.minutes) * 60 + first(spec.seconds))
}

/// The last time of day `<= (h, m, s)` whose hour, minute and second all match.
#[inline]
fn prev_time_of_day(spec: &Spec, h: u32, m: u32, s: u32) -> Option<u32> {
    let last = |bits: u64| 63 - bits.leading_zeros();
    if spec.hours & (1 << h) != 0 {
        if spec.minutes & (1 << m) != 0 {
            if let Some(sec) = prev_bit(spec.seconds, s) {
                return Some(h * 3600 + m * 60 + sec);
            }
        }
        if let Some(min) = m.checked_sub(1).and_then(|m| prev_bit(spec.minutes, m)) {
            return Some(h * 3600 + min * 60 + last(spec.seconds));
        }
    }
    let hour = h.checked_sub(1).and_then(|h| prev_bit(spec.hours, h))?;
    Some(hour * 3600 + last(spec.minutes) * 60 + last(spec.seconds))
}

/// As [`next_civil`], reusing `cache` (which must only ever be used with this `spec`).
pub fn next_civil_cached(
    spec: &Spec,
    lo: CivilSecs,
    hi: CivilSecs,
    cache: &mut MonthCache,
) -> Option<CivilSecs> {
    let hi = hi.min(crate::civil::max_secs());
    let lo = lo.max(crate::civil::min_secs());
    if lo > hi {
        return None;
    }
    let c = Civil::from_secs(lo);
    let (mut y, mut mo, mut d) = (c.year, c.month, c.day);
    // Lower bound on the time of day, for the first date only.
    let mut tod = (u32::from(c.hour), u32::from(c.minute), u32::from(c.second));
    loop {
        // Year, then month: jump forward to the first allowed one, starting at its day 1.
        if !year_ok(spec, y) {
            let from = (y + 1).max(YEAR_MIN as i32);
            if from > YEAR_MAX as i32 {
                return None;
            }
            let years = spec.years.unwrap_or_default();
            y = years.next_at_or_after((from - YEAR_MIN as i32) as u32)? as i32 + YEAR_MIN as i32;
            (mo, d, tod) = (1, 1, (0, 0, 0));
        }
        match next_bit(spec.months, u32::from(mo)) {
            Some(m) if m == u32::from(mo) => {}
            Some(m) => (mo, d, tod) = (m as u8, 1, (0, 0, 0)),
            None => {
                (y, mo, d, tod) = (y + 1, 1, 1, (0, 0, 0));
                if y > MAX_YEAR || month_start(y, 1) > hi {
                    return None;
                }
                continue;
            }
        }
        if cache.0 != y || cache.1 != mo {
            *cache = MonthCache(y, mo, day_mask(spec, y, mo));
        }
        // Day, then time of day; a date with no matching time moves on to the next date.
        let mut day = next_bit(cache.2, u32::from(d));
        if day == Some(u32::from(d)) {
            if let Some(t) = next_time_of_day(spec, tod.0, tod.1, tod.2) {
                let found = days_from_civil(y, mo, d) * 86_400 + i64::from(t);
                return (found <= hi).then_some(found);
            }
            day = next_bit(cache.2, u32::from(d) + 1);
        }
        tod = (0, 0, 0);
        match day {
            Some(nd) => {
                let t = next_time_of_day(spec, 0, 0, 0).unwrap_or(0);
                let found = days_from_civil(y, mo, nd as u8) * 86_400 + i64::from(t);
                return (found <= hi).then_some(found);
            }
            None => {
                (mo, d) = (mo + 1, 1);
                if mo > 12 {
                    (y, mo) = (y + 1, 1);
                }
                if y > MAX_YEAR || month_start(y, mo) > hi {
                    return None;
                }
            }
        }
    }
}

/// The last matching civil second in `[lo, hi]`.
pub fn prev_civil(spec: &Spec, hi: CivilSecs, lo: CivilSecs) -> Option<CivilSecs> {
    let lo = lo.max(crate::civil::min_secs());
    let hi = hi.min(crate::civil::max_secs());
    if lo > hi {
        return None;
    }
    let c = Civil::from_secs(hi);
    let (mut y, mut mo, mut d) = (c.year, c.month, c.day);
    let mut tod = (u32::from(c.hour), u32::from(c.minute), u32::from(c.second));
    let end_of_day = (23, 59, 59);
    loop {
        if !year_ok(spec, y) {
            let from = (y - 1).min(YEAR_MAX as i32);
            if from < YEAR_MIN as i32 {
                return None;
            }
            let years = spec.years.unwrap_or_default();
            y = years.prev_at_or_before((from - YEAR_MIN as i32) as u32)? as i32 + YEAR_MIN as i32;
            (mo, d, tod) = (12, 31, end_of_day);
        }
        match prev_bit(spec.months, u32::from(mo)).filter(|&m| m >= 1) {
            Some(m) if m == u32::from(mo) => {}
            Some(m) => (mo, d, tod) = (m as u8, 31, end_of_day),
            None => {
                (y, mo, d, tod) = (y - 1, 12, 31, end_of_day);
                if y < MIN_YEAR || month_start(y + 1, 1) - 1 < lo {
                    return None;
                }
                continue;
            }
        }
        let mask = day_mask(spec, y, mo);
        let d_clamped = u32::from(d).min(u32::from(days_in_month(y, mo)));
        if d_clamped < u32::from(d) {
            tod = end_of_day;
        }
        let mut day = prev_bit(mask, d_clamped).filter(|&x| x >= 1);
        if day == Some(d_clamped) {
            if let Some(t) = prev_time_of_day(spec, tod.0, tod.1, tod.2) {
                let found = days_from_civil(y, mo, d_clamped as u8) * 86_400 + i64::from(t);
                return (found >= lo).then_some(found);
            }
            day = prev_bit(mask, d_clamped - 1).filter(|&x| x >= 1);
        }
        tod = end_of_day;
        match day {
            Some(pd) => {
                let t = prev_time_of_day(spec, 23, 59, 59).unwrap_or(0);
                let found = days_from_civil(y, mo, pd as u8) * 86_400 + i64::from(t);
                return (found >= lo).then_some(found);
            }
            None => {
                if mo == 1 {
                    (y, mo) = (y - 1, 12);
                } else {
                    mo -= 1;
                }
                d = 31;
                if y < MIN_YEAR
                    || month_start(y, mo) + i64::from(days_in_month(y, mo)) * 86_400 - 1 < lo
                {
                    return None;
                }
            }
        }
    }
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

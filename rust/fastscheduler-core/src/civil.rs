//! Proleptic-Gregorian civil time as plain integers.
//!
//! The cron search works in "civil seconds": seconds since 1970-01-01T00:00:00 on the wall clock,
//! with no zone attached. An instant is civil seconds minus the zone's UTC offset, so within one
//! offset period the two are a monotonic bijection (see [`crate::tz`]).

/// Seconds since 1970-01-01T00:00:00 on a wall clock (no zone).
pub type CivilSecs = i64;

/// First supported year (matches Python's `datetime.MINYEAR`).
pub const MIN_YEAR: i32 = 1;
/// Last supported year (matches Python's `datetime.MAXYEAR`).
pub const MAX_YEAR: i32 = 9999;

/// A broken-down wall-clock date-time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Civil {
    pub year: i32,
    pub month: u8,
    pub day: u8,
    pub hour: u8,
    pub minute: u8,
    pub second: u8,
}

#[inline]
pub fn is_leap(year: i32) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

#[inline]
pub fn days_in_month(year: i32, month: u8) -> u8 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ => {
            if is_leap(year) {
                29
            } else {
                28
            }
        }
    }
}

/// Days since 1970-01-01 of a civil date (Howard Hinnant's `days_from_civil`).
#[inline]
pub fn days_from_civil(year: i32, month: u8, day: u8) -> i64 {
    let y = i64::from(year) - i64::from(month <= 2);
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Civil date of a day count since 1970-01-01 (Howard Hinnant's `civil_from_days`).
#[inline]
pub fn civil_from_days(z: i64) -> (i32, u8, u8) {
    let z = z + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u8;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u8;
    ((y + i64::from(m <= 2)) as i32, m, d)
}

/// Day of week, 0 = Sunday .. 6 = Saturday.
#[inline]
pub fn weekday(year: i32, month: u8, day: u8) -> u8 {
    weekday_of_days(days_from_civil(year, month, day))
}

#[inline]
pub fn weekday_of_days(days: i64) -> u8 {
    // 1970-01-01 was a Thursday (4).
    (days + 4).rem_euclid(7) as u8
}

impl Civil {
    #[inline]
    pub fn to_secs(self) -> CivilSecs {
        days_from_civil(self.year, self.month, self.day) * 86_400
            + i64::from(self.hour) * 3600
            + i64::from(self.minute) * 60
            + i64::from(self.second)
    }

    #[inline]
    pub fn from_secs(secs: CivilSecs) -> Civil {
        let days = secs.div_euclid(86_400);
        let rem = secs.rem_euclid(86_400);
        let (year, month, day) = civil_from_days(days);
        Civil {
            year,
            month,
            day,
            hour: (rem / 3600) as u8,
            minute: (rem % 3600 / 60) as u8,
            second: (rem % 60) as u8,
        }
    }
}

/// Civil seconds of 0001-01-01T00:00:00.
pub fn min_secs() -> CivilSecs {
    days_from_civil(MIN_YEAR, 1, 1) * 86_400
}

/// Civil seconds of 9999-12-31T23:59:59.
pub fn max_secs() -> CivilSecs {
    days_from_civil(MAX_YEAR, 12, 31) * 86_400 + 86_399
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_every_day_of_the_supported_range() {
        let mut prev = days_from_civil(MIN_YEAR, 1, 1) - 1;
        for y in [
            MIN_YEAR, 1600, 1899, 1900, 1969, 1970, 2000, 2024, 2100, 2400, MAX_YEAR,
        ] {
            for m in 1..=12u8 {
                for d in 1..=days_in_month(y, m) {
                    let n = days_from_civil(y, m, d);
                    assert_eq!(civil_from_days(n), (y, m, d));
                    if y == MIN_YEAR {
                        assert_eq!(n, prev + 1);
                        prev = n;
                    }
                }
            }
        }
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(weekday(2026, 11, 29), 0); // a Sunday
        assert_eq!(weekday(1970, 1, 1), 4);
        assert_eq!(weekday(1, 1, 1), 1); // Monday, as in Python's date(1,1,1).weekday() == 0
    }

    #[test]
    fn secs_round_trip() {
        for s in [
            min_secs(),
            -1,
            0,
            1,
            86_399,
            86_400,
            1_795_000_000,
            max_secs(),
        ] {
            assert_eq!(Civil::from_secs(s).to_secs(), s);
        }
    }
}

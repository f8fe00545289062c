//! Triggers: when a job fires next. One interface, three kinds.
//!
//! Times are microseconds since the Unix epoch (UTC), the resolution of Python's `datetime`.
use crate::cron::CronExpr;
use crate::error::{CoreError, Result};

/// What decides a job's fire times.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trigger {
    /// Every `period_us`, on the grid `anchor_us + k * period_us`: elapsed time, never shifted by
    /// DST, and fixed-rate (a slow run does not push later fires back).
    Interval { period_us: i64, anchor_us: i64 },
    /// A cron expression in its zone, with the DST policy of [`crate::cron`].
    Cron(CronExpr),
    /// Once, at an instant.
    Date { at_us: i64 },
}

const US: i64 = 1_000_000;

/// The first point of the grid `anchor_us + k * period_us` (k >= 0) strictly after `after_us`,
/// computed in 128 bits so that no anchor and time overflow (`None` past `i64::MAX`).
pub(crate) fn interval_next_after(period_us: i64, anchor_us: i64, after_us: i64) -> Option<i64> {
    if after_us < anchor_us {
        return Some(anchor_us);
    }
    if period_us <= 0 {
        return None;
    }
    // The common case in 64 bits (`diff >= 0`); 128 bits when an intermediate overflows.
    let fast = after_us.checked_sub(anchor_us).and_then(|diff| {
        (diff / period_us + 1)
            .checked_mul(period_us)?
            .checked_add(anchor_us)
    });
    if fast.is_some() {
        return fast;
    }
    let (p, a) = (i128::from(period_us), i128::from(anchor_us));
    let k = (i128::from(after_us) - a) / p + 1;
    i64::try_from(k * p + a).ok()
}

impl Trigger {
    /// An interval trigger; `period_us` must be positive.
    pub fn interval(period_us: i64, anchor_us: i64) -> Result<Trigger> {
        if period_us <= 0 {
            return Err(CoreError::InvalidArgument(format!(
                "interval must be positive, got {period_us} microseconds"
            )));
        }
        Ok(Trigger::Interval {
            period_us,
            anchor_us,
        })
    }

    /// The first fire time strictly after `after_us`, or `None` when there is none.
    pub fn next_after(&self, after_us: i64) -> Option<i64> {
        match self {
            Trigger::Interval {
                period_us,
                anchor_us,
            } => interval_next_after(*period_us, *anchor_us, after_us),
            Trigger::Cron(expr) => {
                let secs = after_us.div_euclid(US);
                expr.first_at_or_after(secs.checked_add(1)?)?
                    .checked_mul(US)
            }
            Trigger::Date { at_us } => (*at_us > after_us).then_some(*at_us),
        }
    }

    /// How many fire times lie in `(after_us, until_us]`, counting at most `cap` (for catch-up).
    pub fn count_between(&self, after_us: i64, until_us: i64, cap: u64) -> u64 {
        let mut n = 0;
        let mut t = after_us;
        while n < cap {
            match self.next_after(t) {
                Some(f) if f <= until_us => {
                    n += 1;
                    t = f;
                }
                _ => break,
            }
        }
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interval_is_a_fixed_grid() {
        let t = Trigger::interval(1_500_000, 10 * US).unwrap();
        assert_eq!(t.next_after(0), Some(10 * US));
        assert_eq!(t.next_after(10 * US), Some(11_500_000));
        assert_eq!(t.next_after(11_499_999), Some(11_500_000));
        assert_eq!(t.count_between(10 * US, 16 * US, 100), 4);
        assert!(Trigger::interval(0, 0).is_err());
        assert_eq!(
            Trigger::interval(i64::MAX, 0).unwrap().next_after(i64::MAX),
            None
        );
    }

    #[test]
    fn interval_grid_does_not_overflow() {
        // after - anchor overflows i64 here; the grid point is still found (or None past i64::MAX).
        let t = Trigger::interval(3, i64::MIN + 1).unwrap();
        let n = t.next_after(i64::MAX - 10).unwrap();
        assert!(n > i64::MAX - 10 && (i128::from(n) - i128::from(i64::MIN + 1)) % 3 == 0);
        assert_eq!(
            Trigger::interval(7, i64::MIN).unwrap().next_after(i64::MAX),
            None
        );
    }

    #[test]
    fn cron_and_date() {
        let c = Trigger::Cron(CronExpr::new("* * * * * */10", "UTC").unwrap());
        assert_eq!(c.next_after(5 * US + 1), Some(10 * US));
        assert_eq!(c.next_after(10 * US), Some(20 * US));
        let d = Trigger::Date { at_us: 7 };
        assert_eq!(d.next_after(6), Some(7));
        assert_eq!(d.next_after(7), None);
    }
}

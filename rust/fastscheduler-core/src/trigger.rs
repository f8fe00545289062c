//! Triggers: when a job fires next, and what a late fire coalesces. One interface, three kinds.
//!
//! Times are microseconds since the Unix epoch (UTC), the resolution of Python's `datetime`.
//!
//! [`Trigger::advance`] is the one coalescing rule: the engine applies it to every fire it pops,
//! and a cluster applies it to every fire it claims, so both report the same missed counts.
use crate::cron::CronExpr;
use crate::error::{CoreError, Result};

/// The most fires [`Trigger::advance`] counts as missed for one late fire (a tiny interval after a
/// long suspend must not make the count loop for long).
pub const MISSED_CAP: u64 = 1_000_000;

/// What decides a job's fire times. 24 bytes: a cron expression's bitsets and source take well
/// over 100 bytes and it is the rare kind in a table of a million jobs, so it is boxed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trigger {
    /// Every `period_us`, on the grid `anchor_us + k * period_us`: elapsed time, never shifted by
    /// DST, and fixed-rate (a slow run does not push later fires back).
    Interval { period_us: i64, anchor_us: i64 },
    /// A cron expression in its zone, with the DST policy of [`crate::cron`].
    Cron(Box<CronExpr>),
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
        (diff / period_us)
            .checked_add(1)?
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

/// The number of grid points `anchor_us + k * period_us` (k >= 0) in `(after_us, until_us]`, in
/// O(1) and 128 bits.
fn interval_count_between(period_us: i64, anchor_us: i64, after_us: i64, until_us: i64) -> u64 {
    if until_us <= after_us || period_us <= 0 {
        return 0;
    }
    // Grid points that are <= x.
    let upto = |x: i64| -> i128 {
        if x < anchor_us {
            0
        } else {
            (i128::from(x) - i128::from(anchor_us)) / i128::from(period_us) + 1
        }
    };
    u64::try_from(upto(until_us) - upto(after_us)).unwrap_or(0)
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

    /// A cron trigger.
    pub fn cron(expr: CronExpr) -> Trigger {
        Trigger::Cron(Box::new(expr))
    }

    /// The first fire time strictly after `after_us`, or `None` when there is none.
    pub fn next_after(&self, after_us: i64) -> Option<i64> {
        match self {
            &Trigger::Interval {
                period_us,
                anchor_us,
            } => interval_next_after(period_us, anchor_us, after_us),
            Trigger::Cron(expr) => {
                let secs = after_us.div_euclid(US);
                expr.first_at_or_after(secs.checked_add(1)?)?
                    .checked_mul(US)
            }
            &Trigger::Date { at_us } => (at_us > after_us).then_some(at_us),
        }
    }

    /// How many fire times lie in `(after_us, until_us]`, counting at most `cap`. O(1) for
    /// interval and date triggers; a cron trigger steps through its fires.
    pub fn count_between(&self, after_us: i64, until_us: i64, cap: u64) -> u64 {
        match self {
            &Trigger::Interval {
                period_us,
                anchor_us,
            } => interval_count_between(period_us, anchor_us, after_us, until_us).min(cap),
            &Trigger::Date { at_us } => u64::from(after_us < at_us && at_us <= until_us).min(cap),
            Trigger::Cron(_) => {
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
    }

    /// Take the fire scheduled at `scheduled_us` at time `now_us`: returns `(next, missed)`.
    ///
    /// Fixed-rate with coalescing: when the trigger's next fire after `scheduled_us` is still
    /// ahead (`> now_us`), that is `next` and `missed` is 0 (the fire was on time, or late by
    /// less than one period). Otherwise the fire is late by at least one more fire: every fire
    /// in `(scheduled_us, now_us]` (a fire exactly at `now_us` included) is coalesced into this
    /// one and counted in `missed`, at most [`MISSED_CAP`], and `next` is the first fire strictly
    /// after `now_us`. `next` is `None` when the trigger has no fire left (a date trigger after
    /// its fire). `next` is always strictly after both `scheduled_us` and `now_us`.
    pub fn advance(&self, scheduled_us: i64, now_us: i64) -> (Option<i64>, u64) {
        let next = self.next_after(scheduled_us);
        match next {
            Some(n) if n <= now_us => (
                self.next_after(now_us),
                self.count_between(scheduled_us, now_us, MISSED_CAP),
            ),
            _ => (next, 0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The rule of [`Trigger::advance`] by stepping through every fire (no O(1) counting).
    fn stepped(t: &Trigger, scheduled: i64, now: i64) -> (Option<i64>, u64) {
        let mut next = t.next_after(scheduled);
        let mut missed = 0;
        if next.is_some_and(|n| n <= now) {
            while let Some(n) = next.filter(|&n| n <= now) {
                missed += 1;
                next = t.next_after(n);
            }
        }
        (next, missed.min(MISSED_CAP))
    }

    #[test]
    fn advance_coalesces_late_fires() {
        let t = Trigger::interval(US, 10 * US).unwrap();
        // On time, and late by less than a period: nothing missed, the next grid point.
        assert_eq!(t.advance(10 * US, 10 * US), (Some(11 * US), 0));
        assert_eq!(t.advance(10 * US, 10 * US + 999_999), (Some(11 * US), 0));
        // Late by exactly one period: the fire at `now` is missed too.
        assert_eq!(t.advance(10 * US, 11 * US), (Some(12 * US), 1));
        // 3.5 periods late: 11, 12, 13 s coalesced.
        assert_eq!(t.advance(10 * US, 13 * US + US / 2), (Some(14 * US), 3));
        // Taken early (now before the fire): the next after the fire itself.
        assert_eq!(t.advance(10 * US, 0), (Some(11 * US), 0));
        // The cap, in O(1) for an interval: a day of 1 us fires.
        let tiny = Trigger::interval(1, 0).unwrap();
        assert_eq!(
            tiny.advance(0, 86_400 * US),
            (Some(86_400 * US + 1), MISSED_CAP)
        );
        // The end of time: no next fire, still counted.
        assert_eq!(tiny.advance(i64::MAX - 3, i64::MAX), (None, 3));
        // A date has nothing after its fire.
        let d = Trigger::Date { at_us: 5 };
        assert_eq!(d.advance(5, 5), (None, 0));
        assert_eq!(d.advance(5, i64::MAX), (None, 0));
        // Cron counts by stepping, capped the same way.
        let c = Trigger::cron(CronExpr::new("* * * * * *", "UTC").unwrap());
        assert_eq!(c.advance(0, 10 * US + 5), (Some(11 * US), 10));
        let start = std::time::Instant::now();
        assert_eq!(
            c.advance(0, 3_000_000 * US),
            (Some(3_000_001 * US), MISSED_CAP)
        );
        assert!(start.elapsed() < std::time::Duration::from_secs(10));
    }

    fn trigger() -> impl Strategy<Value = Trigger> {
        prop_oneof![
            (1i64..5 * US, -20 * US..20 * US)
                .prop_map(|(p, a)| Trigger::interval(p.max(1000), a).unwrap()),
            (-20 * US..20 * US).prop_map(|at_us| Trigger::Date { at_us }),
            prop_oneof![
                Just("* * * * * *"),
                Just("* * * * * */7"),
                Just("0 0 1 1 *")
            ]
            .prop_map(|e| Trigger::cron(CronExpr::new(e, "UTC").unwrap())),
        ]
    }

    proptest! {
        #[test]
        fn advance_matches_stepping(
            t in trigger(),
            scheduled in -20 * US..20 * US,
            late in prop_oneof![-US..US, 0i64..60 * US],
        ) {
            let now = scheduled + late;
            let (next, missed) = t.advance(scheduled, now);
            prop_assert_eq!((next, missed), stepped(&t, scheduled, now));
            if let Some(n) = next {
                prop_assert!(n > now && n > scheduled);
            }
        }
    }

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
        let c = Trigger::cron(CronExpr::new("* * * * * */10", "UTC").unwrap());
        assert_eq!(c.next_after(5 * US + 1), Some(10 * US));
        assert_eq!(c.next_after(10 * US), Some(20 * US));
        let d = Trigger::Date { at_us: 7 };
        assert_eq!(d.next_after(6), Some(7));
        assert_eq!(d.next_after(7), None);
    }
}

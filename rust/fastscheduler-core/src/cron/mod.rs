//! Cron expressions in a time zone: parse once, then search fire instants.
//!
//! # DST policy (one rule for every wall-clock schedule)
//! The fire instants of an expression are defined per matching wall-clock time `C`:
//! - `C` exists once: it fires at that instant.
//! - `C` occurs twice (fall-back fold): a *fixed-time* expression (second, minute and hour fields
//!   are single values, e.g. `30 1 * * *`) fires once, at the first occurrence; any other
//!   expression (`*/15 * * * *`, `0 * * * *`) follows elapsed time and fires at both.
//! - `C` does not exist (spring-forward gap): a fixed-time expression fires at the first valid
//!   instant after the gap (the transition itself: 02:30 New York on 2026-03-08 → 03:00 EDT);
//!   any other expression skips it.
//!
//! `next(t)` is the smallest such instant `> t`; `prev(t)` the largest `< t`. The search walks the
//! zone's offset periods ([`crate::tz::Period`]); inside a period civil time is monotonic, so the
//! plain civil search applies, and the policy is applied where periods meet.
pub mod parse;
pub mod search;

use crate::civil::{max_secs, min_secs};
use crate::error::{CoreError, Result};
use crate::tz::{Period, Zone};
pub use parse::Spec;

/// Lookups reused across the searches of one batch.
#[derive(Debug, Clone, Copy, Default)]
pub struct SearchCache {
    period: Option<Period>,
    month: search::MonthCache,
}

/// A parsed cron expression bound to a time zone. Immutable.
#[derive(Debug, Clone)]
pub struct CronExpr {
    source: String,
    spec: Spec,
    zone: Zone,
}

impl PartialEq for CronExpr {
    fn eq(&self, other: &Self) -> bool {
        self.spec == other.spec && self.zone == other.zone && self.source == other.source
    }
}
impl Eq for CronExpr {}

/// Fire times are the matching wall-clock times of years 0001..=9999 *in the expression's
/// zone* (the civil range [`min_secs`]..=[`max_secs`]), so every fire converts to a `datetime`
/// and `next`, `prev` and `is_fire_time` agree at both ends. The searches walk instants up to
/// this far outside that civil range: more than any UTC offset (jiff allows under 26 hours).
const EDGE_MARGIN: i64 = 2 * 86_400;

/// The most fire times one batch call returns ([`CronExpr::check_batch`]).
pub const MAX_BATCH: usize = 1_000_000;

impl CronExpr {
    /// Parse `expr` for the zone named `tz`.
    pub fn new(expr: &str, tz: &str) -> Result<CronExpr> {
        let spec = parse::parse(expr)?;
        let zone = Zone::get(tz)?;
        Ok(CronExpr {
            source: expr.to_string(),
            spec,
            zone,
        })
    }

    /// Bind an already-parsed expression to a zone.
    pub fn with_zone(expr: &str, zone: Zone) -> Result<CronExpr> {
        Ok(CronExpr {
            source: expr.to_string(),
            spec: parse::parse(expr)?,
            zone,
        })
    }

    pub fn source(&self) -> &str {
        &self.source
    }
    pub fn zone(&self) -> &Zone {
        &self.zone
    }
    pub fn spec(&self) -> &Spec {
        &self.spec
    }
    /// Whether the DST policy treats this expression as a fixed wall-clock time.
    pub fn is_fixed_time(&self) -> bool {
        self.spec.fixed_time
    }

    /// The first fire instant `>= lo` (epoch seconds), or `None` when no wall-clock time up to
    /// 9999-12-31T23:59:59 in the zone is left.
    pub fn first_at_or_after(&self, lo: i64) -> Option<i64> {
        self.first_at_or_after_cached(lo, &mut SearchCache::default())
    }

    /// As [`Self::first_at_or_after`], reusing lookups across calls (batch path). A cache must
    /// only be used with one expression.
    pub fn first_at_or_after_cached(&self, lo: i64, cache: &mut SearchCache) -> Option<i64> {
        let fixed = self.spec.fixed_time;
        let mut t = lo.max(min_secs() - EDGE_MARGIN);
        loop {
            if t > max_secs() + EDGE_MARGIN {
                return None;
            }
            let p = match cache.period {
                Some(p) if p.contains(t) => p,
                _ => {
                    let p = self.zone.period(t);
                    cache.period = Some(p);
                    p
                }
            };
            let off = i64::from(p.offset);
            if fixed && t == p.start && p.prev_offset < p.offset {
                // The period opens with a gap: wall-clock times [t + prev_offset, t + off) never
                // happen, and a fixed-time expression that names one fires now, at the gap's end.
                if search::next_civil(&self.spec, t + i64::from(p.prev_offset), t + off - 1)
                    .is_some()
                {
                    // It fires at wall-clock time t + off, which must still be in year 9999.
                    return Some(t).filter(|&t| t + off <= max_secs());
                }
            }
            let mut clo = t + off;
            if fixed && p.start != i64::MIN && p.prev_offset > p.offset {
                // Second occurrences of a fold: fixed-time expressions already fired at the first.
                clo = clo.max(p.start + i64::from(p.prev_offset));
            }
            let chi = if p.end == i64::MAX {
                max_secs()
            } else {
                p.end - 1 + off
            };
            if clo <= chi {
                if let Some(c) = search::next_civil_cached(&self.spec, clo, chi, &mut cache.month) {
                    return Some(c - off);
                }
            }
            if p.end == i64::MAX {
                return None;
            }
            t = p.end;
        }
    }

    /// The last fire instant `<= hi`, or `None` when no wall-clock time from
    /// 0001-01-01T00:00:00 in the zone is left.
    pub fn last_at_or_before(&self, hi: i64) -> Option<i64> {
        let fixed = self.spec.fixed_time;
        let mut t = hi.min(max_secs() + EDGE_MARGIN);
        loop {
            if t < min_secs() - EDGE_MARGIN {
                return None;
            }
            let p = self.zone.period(t);
            let off = i64::from(p.offset);
            let chi = t + off;
            let mut clo = if p.start == i64::MIN {
                min_secs()
            } else {
                p.start + off
            };
            if fixed && p.start != i64::MIN && p.prev_offset > p.offset {
                clo = clo.max(p.start + i64::from(p.prev_offset));
            }
            if clo <= chi {
                if let Some(c) = search::prev_civil(&self.spec, chi, clo) {
                    return Some(c - off);
                }
            }
            if p.start == i64::MIN {
                return None;
            }
            let boundary = p.start;
            if fixed && p.prev_offset < p.offset {
                let gap_lo = boundary + i64::from(p.prev_offset);
                // A gap fire's wall-clock time is the gap's end, which may lie past year 9999.
                if boundary + off <= max_secs()
                    && search::next_civil(&self.spec, gap_lo, boundary + off - 1).is_some()
                {
                    return Some(boundary);
                }
            }
            t = boundary - 1;
        }
    }

    /// Whether instant `t` (whole seconds) is a fire time.
    pub fn is_fire_time(&self, t: i64) -> bool {
        self.first_at_or_after(t) == Some(t)
    }

    /// `n` as a batch size: at most [`MAX_BATCH`], so that no call can exhaust memory.
    pub fn check_batch(n: usize) -> Result<usize> {
        if n > MAX_BATCH {
            return Err(CoreError::InvalidArgument(format!(
                "n must be at most {MAX_BATCH} (got {n}); for more fire times, call again after the last one"
            )));
        }
        Ok(n)
    }

    /// Append up to `n` fire instants strictly after `after` to `out`.
    pub fn next_n_into(&self, after: i64, n: usize, out: &mut Vec<i64>) {
        let mut cache = SearchCache::default();
        let mut t = after;
        for _ in 0..n {
            match self.first_at_or_after_cached(t.saturating_add(1), &mut cache) {
                Some(f) => {
                    out.push(f);
                    t = f;
                }
                None => break,
            }
        }
    }
}

#[cfg(test)]
mod tests;

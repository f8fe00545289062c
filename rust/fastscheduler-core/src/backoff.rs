//! Retry delays: exponential backoff with a cap and optional jitter.
//!
//! The delay before retry number `attempt` (1 for the first retry) is
//! `d = min(max, base * factor^(attempt - 1))`, then, with jitter and a uniform draw `u` in `[0, 1)`:
//! - no jitter ([`Jitter::None`]): `d`;
//! - full jitter ([`Jitter::Full`]): `u * d`, in `[0, d)`;
//! - equal jitter ([`Jitter::Equal`]): `d / 2 + u * d / 2`, in `[d / 2, d)`.
//!
//! Every validated backoff has `0 < base <= max < inf` and `1 <= factor < inf`, so the power is
//! at least 1 and at worst overflows to `inf`, which the cap turns into `max`: a delay is never
//! `inf` or NaN, whatever the attempt number.
use crate::error::{CoreError, Result};
use std::fmt;
use std::hash::{Hash, Hasher};
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

/// How a delay is randomised.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Jitter {
    /// The exact exponential delay.
    #[default]
    None,
    /// Uniform in `[0, d)` ("full jitter").
    Full,
    /// Uniform in `[d / 2, d)` ("equal jitter").
    Equal,
}

impl Jitter {
    /// The name used by the Python API: `None` for no jitter, else `"full"` or `"equal"`.
    pub fn name(self) -> Option<&'static str> {
        match self {
            Jitter::None => None,
            Jitter::Full => Some("full"),
            Jitter::Equal => Some("equal"),
        }
    }
}

impl fmt::Display for Jitter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name().unwrap_or("none"))
    }
}

impl FromStr for Jitter {
    type Err = CoreError;

    /// `"full"` or `"equal"` (the absence of jitter is spelled `None` by the caller, not as text).
    fn from_str(s: &str) -> Result<Jitter> {
        match s {
            "full" => Ok(Jitter::Full),
            "equal" => Ok(Jitter::Equal),
            _ => Err(CoreError::InvalidArgument(format!(
                "jitter must be None, 'full' or 'equal', got {s:?}"
            ))),
        }
    }
}

/// Exponential backoff: `min(max, base * factor^(attempt - 1))`, optionally jittered.
///
/// Construct with [`Backoff::new`], which validates the parameters; the default is
/// `base = 2, factor = 2, max = 3600`, no jitter (2, 4, 8, ... capped at 3600).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Backoff {
    base: f64,
    factor: f64,
    max: f64,
    jitter: Jitter,
}

// Validated parameters are finite and positive, so `==` on them is equality of their bits
// (no NaN, no signed zero): the relation is a true equivalence and the bit hash agrees with it.
impl Eq for Backoff {}

impl Hash for Backoff {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.base.to_bits().hash(state);
        self.factor.to_bits().hash(state);
        self.max.to_bits().hash(state);
        self.jitter.hash(state);
    }
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            base: 2.0,
            factor: 2.0,
            max: 3600.0,
            jitter: Jitter::None,
        }
    }
}

impl Backoff {
    /// Validate and build: `base` finite and `> 0`, `factor` finite and `>= 1`, `max` finite and
    /// `>= base`.
    pub fn new(base: f64, factor: f64, max: f64, jitter: Jitter) -> Result<Backoff> {
        if !(base.is_finite() && base > 0.0) {
            return Err(CoreError::InvalidArgument(format!(
                "base must be a finite number > 0, got {base:?}"
            )));
        }
        if !(factor.is_finite() && factor >= 1.0) {
            return Err(CoreError::InvalidArgument(format!(
                "factor must be a finite number >= 1, got {factor:?}"
            )));
        }
        if !(max.is_finite() && max >= base) {
            return Err(CoreError::InvalidArgument(format!(
                "max must be a finite number >= base ({base:?}), got {max:?}"
            )));
        }
        Ok(Backoff {
            base,
            factor,
            max,
            jitter,
        })
    }

    /// The first delay (attempt 1), before jitter.
    pub fn base(&self) -> f64 {
        self.base
    }

    /// The growth factor between consecutive attempts.
    pub fn factor(&self) -> f64 {
        self.factor
    }

    /// The cap on the delay, before jitter.
    pub fn max(&self) -> f64 {
        self.max
    }

    /// The jitter mode.
    pub fn jitter(&self) -> Jitter {
        self.jitter
    }

    /// The delay before retry `attempt` (`>= 1`); `u` in `[0, 1)` is the uniform draw used by the
    /// jitter (ignored, but still checked, without jitter).
    pub fn delay(&self, attempt: u32, u: f64) -> Result<f64> {
        self.delay_u64(attempt.into(), u)
    }

    /// [`Backoff::delay`] for attempt numbers beyond `u32` (they just give the cap sooner).
    pub fn delay_u64(&self, attempt: u64, u: f64) -> Result<f64> {
        let d = self.capped(attempt)?;
        if !(u.is_finite() && (0.0..1.0).contains(&u)) {
            return Err(CoreError::InvalidArgument(format!(
                "u must be a number in [0, 1), got {u:?}"
            )));
        }
        Ok(match self.jitter {
            Jitter::None => d,
            // Rounding can carry `d / 2 + u * d / 2` up to `d` when u is within 2^-53 of 1:
            // keep the result below `d` as documented.
            Jitter::Full => (u * d).min(below(d)),
            Jitter::Equal => (d / 2.0 + u * d / 2.0).min(below(d)),
        })
    }

    /// The delay before retry `attempt`, drawing the jitter from a process-wide generator
    /// (no draw is made without jitter).
    pub fn sample(&self, attempt: u64) -> Result<f64> {
        let u = match self.jitter {
            Jitter::None => 0.0,
            Jitter::Full | Jitter::Equal => random_unit(),
        };
        self.delay_u64(attempt, u)
    }

    /// The un-jittered delay `min(max, base * factor^(attempt - 1))`.
    fn capped(&self, attempt: u64) -> Result<f64> {
        let Some(n) = attempt.checked_sub(1) else {
            return Err(CoreError::InvalidArgument(
                "attempt must be >= 1, got 0".to_string(),
            ));
        };
        // factor >= 1 and n >= 0, so the power is >= 1 (never NaN); if it overflows to inf the
        // product is inf and the cap turns it into max. `n as f64` is exact up to 2^53 and only
        // rounds where the power has long saturated.
        let d = self.base * self.factor.powf(n as f64);
        Ok(d.min(self.max))
    }
}

/// The largest `f64` below a positive finite `x` (`f64::next_down`, which needs Rust 1.86).
fn below(x: f64) -> f64 {
    f64::from_bits(x.to_bits() - 1)
}

/// A uniform draw in `[0, 1)` from a process-wide splitmix64 sequence, seeded once from the clock
/// and the process id. Not cryptographic; good enough to spread retries.
pub fn random_unit() -> f64 {
    const GOLDEN: u64 = 0x9E37_79B9_7F4A_7C15;
    static SEED: OnceLock<u64> = OnceLock::new();
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let seed = *SEED.get_or_init(|| {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        mix64(nanos ^ (u64::from(std::process::id()) << 32))
    });
    // splitmix64: the state advances by the golden gamma, the output is the state mixed.
    let state = seed.wrapping_add(
        COUNTER
            .fetch_add(1, Ordering::Relaxed)
            .wrapping_add(1)
            .wrapping_mul(GOLDEN),
    );
    // The top 53 bits as a fraction: exactly representable, always < 1.
    (mix64(state) >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

/// The splitmix64 output function.
fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(e: CoreError) -> String {
        match e {
            CoreError::InvalidArgument(m) => m,
            other => panic!("expected InvalidArgument, got {other:?}"),
        }
    }

    #[test]
    fn default_table() {
        let b = Backoff::default();
        assert_eq!(b, Backoff::new(2.0, 2.0, 3600.0, Jitter::None).unwrap());
        let got: Vec<f64> = (1..=14).map(|a| b.delay(a, 0.0).unwrap()).collect();
        let want = [
            2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0, 2048.0, 3600.0, 3600.0,
            3600.0,
        ];
        assert_eq!(got, want);
    }

    #[test]
    fn custom_table() {
        // (base, factor, max, attempt, expected)
        let cases: &[(f64, f64, f64, u32, f64)] = &[
            (1.0, 3.0, 100.0, 1, 1.0),
            (1.0, 3.0, 100.0, 2, 3.0),
            (1.0, 3.0, 100.0, 3, 9.0),
            (1.0, 3.0, 100.0, 4, 27.0),
            (1.0, 3.0, 100.0, 5, 81.0),
            (1.0, 3.0, 100.0, 6, 100.0),
            (0.5, 1.5, 10.0, 1, 0.5),
            (0.5, 1.5, 10.0, 2, 0.75),
            (0.5, 1.5, 10.0, 3, 1.125),
            (0.5, 1.5, 10.0, 4, 1.6875),
            (0.5, 1.5, 10.0, 9, 10.0),
            // factor 1: constant
            (5.0, 1.0, 60.0, 1, 5.0),
            (5.0, 1.0, 60.0, 1000, 5.0),
            (5.0, 1.0, 60.0, u32::MAX, 5.0),
            // max == base: always the cap
            (7.0, 10.0, 7.0, 1, 7.0),
            (7.0, 10.0, 7.0, 2, 7.0),
            // exactly at the cap
            (2.0, 2.0, 2048.0, 11, 2048.0),
            (2.0, 2.0, 2048.0, 12, 2048.0),
            // huge attempts: the power overflows to inf, the cap wins
            (2.0, 2.0, 3600.0, 1100, 3600.0),
            (2.0, 2.0, 3600.0, u32::MAX, 3600.0),
            (1.0, 1.0000001, 1e100, u32::MAX, 1e100),
            (f64::MIN_POSITIVE, f64::MAX, f64::MAX, 3, f64::MAX),
        ];
        for &(base, factor, max, attempt, want) in cases {
            let b = Backoff::new(base, factor, max, Jitter::None).unwrap();
            let got = b.delay(attempt, 0.5).unwrap();
            assert_eq!(
                got, want,
                "base={base} factor={factor} max={max} attempt={attempt}"
            );
        }
    }

    #[test]
    fn huge_attempts_never_inf_or_nan() {
        let factors = [1.0, 1.0 + f64::EPSILON, 1.0000001, 1.5, 2.0, 1e10, f64::MAX];
        let attempts = [1, 2, 64, 1025, u64::from(u32::MAX), 1 << 53, u64::MAX];
        for &factor in &factors {
            for jitter in [Jitter::None, Jitter::Full, Jitter::Equal] {
                let b = Backoff::new(1.0, factor, 1e6, jitter).unwrap();
                let mut prev = 0.0;
                for &a in &attempts {
                    let d = b.delay_u64(a, 0.999_999).unwrap();
                    assert!(d.is_finite() && d > 0.0 && d <= 1e6, "{factor} {a} {d}");
                    if jitter == Jitter::None {
                        assert!(d >= prev, "not monotone at {factor} {a}");
                        prev = d;
                    }
                }
            }
        }
        let b = Backoff::default();
        assert_eq!(b.delay_u64(u64::MAX, 0.0).unwrap(), 3600.0);
        assert_eq!(b.sample(u64::MAX).unwrap(), 3600.0);
    }

    #[test]
    fn jitter_bounds() {
        let almost_one = 1.0 - f64::EPSILON / 2.0; // the largest f64 below 1
        for attempt in [1u32, 5, 12, 40] {
            let d = Backoff::default().delay(attempt, 0.3).unwrap();
            let full = Backoff::new(2.0, 2.0, 3600.0, Jitter::Full).unwrap();
            assert_eq!(full.delay(attempt, 0.0).unwrap(), 0.0);
            let hi = full.delay(attempt, almost_one).unwrap();
            assert!(hi < d && hi > d * 0.999, "{hi} vs {d}");
            assert_eq!(full.delay(attempt, 0.5).unwrap(), d / 2.0);

            let equal = Backoff::new(2.0, 2.0, 3600.0, Jitter::Equal).unwrap();
            assert_eq!(equal.delay(attempt, 0.0).unwrap(), d / 2.0);
            let hi = equal.delay(attempt, almost_one).unwrap();
            assert!(hi < d && hi > d * 0.999, "{hi} vs {d}");
            assert_eq!(equal.delay(attempt, 0.5).unwrap(), d * 0.75);
        }
    }

    #[test]
    fn sampled_jitter_stays_in_bounds_and_varies() {
        let full = Backoff::new(1.0, 2.0, 100.0, Jitter::Full).unwrap();
        let equal = Backoff::new(1.0, 2.0, 100.0, Jitter::Equal).unwrap();
        let mut seen_full = Vec::new();
        for _ in 0..2000 {
            let f = full.sample(4).unwrap();
            assert!((0.0..8.0).contains(&f));
            seen_full.push(f);
            let e = equal.sample(4).unwrap();
            assert!((4.0..8.0).contains(&e));
        }
        seen_full.sort_by(f64::total_cmp);
        seen_full.dedup();
        assert!(seen_full.len() > 1900, "draws repeat: {}", seen_full.len());
        for _ in 0..10_000 {
            let u = random_unit();
            assert!((0.0..1.0).contains(&u));
        }
    }

    #[test]
    fn validation_errors() {
        let j = Jitter::None;
        let cases: Vec<(Result<Backoff>, &str)> = vec![
            (
                Backoff::new(0.0, 2.0, 10.0, j),
                "base must be a finite number > 0, got 0.0",
            ),
            (
                Backoff::new(-1.0, 2.0, 10.0, j),
                "base must be a finite number > 0, got -1.0",
            ),
            (
                Backoff::new(f64::NAN, 2.0, 10.0, j),
                "base must be a finite number > 0, got NaN",
            ),
            (
                Backoff::new(f64::INFINITY, 2.0, 10.0, j),
                "base must be a finite number > 0, got inf",
            ),
            (
                Backoff::new(1.0, 0.5, 10.0, j),
                "factor must be a finite number >= 1, got 0.5",
            ),
            (
                Backoff::new(1.0, f64::NAN, 10.0, j),
                "factor must be a finite number >= 1, got NaN",
            ),
            (
                Backoff::new(1.0, f64::INFINITY, 10.0, j),
                "factor must be a finite number >= 1, got inf",
            ),
            (
                Backoff::new(2.0, 2.0, 1.0, j),
                "max must be a finite number >= base (2.0), got 1.0",
            ),
            (
                Backoff::new(2.0, 2.0, f64::INFINITY, j),
                "max must be a finite number >= base (2.0), got inf",
            ),
            (
                Backoff::new(2.0, 2.0, f64::NAN, j),
                "max must be a finite number >= base (2.0), got NaN",
            ),
        ];
        for (r, want) in cases {
            assert_eq!(msg(r.unwrap_err()), want);
        }
        let b = Backoff::default();
        assert_eq!(
            msg(b.delay(0, 0.0).unwrap_err()),
            "attempt must be >= 1, got 0"
        );
        assert_eq!(msg(b.sample(0).unwrap_err()), "attempt must be >= 1, got 0");
        for u in [1.0, -0.1, f64::NAN, f64::INFINITY] {
            assert!(
                msg(b.delay(1, u).unwrap_err()).starts_with("u must be a number in [0, 1), got ")
            );
        }
        assert_eq!(
            msg("jittery".parse::<Jitter>().unwrap_err()),
            "jitter must be None, 'full' or 'equal', got \"jittery\""
        );
        assert_eq!("full".parse::<Jitter>().unwrap(), Jitter::Full);
        assert_eq!("equal".parse::<Jitter>().unwrap(), Jitter::Equal);
    }

    #[test]
    fn equality_and_hash_by_value() {
        use std::collections::hash_map::DefaultHasher;
        let h = |b: &Backoff| {
            let mut s = DefaultHasher::new();
            b.hash(&mut s);
            s.finish()
        };
        let a = Backoff::new(1.0, 2.0, 30.0, Jitter::Full).unwrap();
        let b = Backoff::new(1.0, 2.0, 30.0, Jitter::Full).unwrap();
        let c = Backoff::new(1.0, 2.0, 30.0, Jitter::Equal).unwrap();
        assert_eq!(a, b);
        assert_eq!(h(&a), h(&b));
        assert_ne!(a, c);
        assert_eq!(
            (a.base(), a.factor(), a.max(), a.jitter()),
            (1.0, 2.0, 30.0, Jitter::Full)
        );
    }
}

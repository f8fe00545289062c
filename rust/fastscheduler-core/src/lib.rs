//! Pure-Rust scheduling core of fastscheduler.
//!
//! No Python here: `cargo test` runs without an interpreter, and the parsers can be fuzzed alone.
//! - [`cron`]: the cron grammar, parsed into per-field bitsets, and the civil-time search.
//! - [`tz`]: time-zone lookup (tz database bundled by jiff) and the DST policy.
//! - [`trigger`]: interval, cron and one-shot triggers on one interface.
//! - [`backoff`]: retry delays.
//! - [`wheel`]: a hierarchical timer wheel.

pub mod backoff;
pub mod civil;
pub mod cron;
pub mod engine;
pub mod error;
pub mod trigger;
pub mod tz;
pub mod wheel;

pub use error::{CoreError, CronError};

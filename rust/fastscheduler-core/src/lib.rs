//! Pure-Rust scheduling core of fastscheduler.
//!
//! No Python here: `cargo test` runs without an interpreter, and the parsers can be fuzzed alone.
//! No `unsafe` either: the few raw syscalls (the clock watcher's timerfd) and CPython calls live
//! in the binding crate.
//! - [`cron`]: the cron grammar, parsed into per-field bitsets, and the civil-time search.
//! - [`tz`]: time-zone lookup (tz database bundled by jiff) and the DST policy.
//! - [`trigger`]: interval, cron and one-shot triggers on one interface.
//! - [`backoff`]: retry delays.
//! - [`wheel`]: a hierarchical timer wheel.
//! - [`engine`]: the job table (triggers, next fires, counters) over the wheel.
//! - [`runner`]: the engine thread: waits for the next deadline and hands out due jobs.
//! - [`clock`]: the wall clock and the logic of watching it for jumps.
//! - [`journal`]: the JSON store's snapshot and journal: compaction (a fold of both).
//! - [`stored`]: a SQL store's job records checked and summarised without Python objects.
#![forbid(unsafe_code)]

pub mod backoff;
pub mod civil;
pub mod clock;
pub mod cron;
pub mod engine;
pub mod error;
pub mod journal;
pub mod runner;
pub mod stored;
pub mod trigger;
pub mod tz;
pub mod wheel;

pub use error::{CoreError, CronError};

//! The wall clock, and watching it for jumps so that a waiting engine needs no periodic re-check.
//!
//! Deadlines are wall-clock (UTC) instants, but a condition variable waits on the monotonic
//! clock. The two drift apart when the wall clock is set (an NTP step, an administrator) or the
//! machine sleeps (the monotonic clock stops during suspend). A watcher thread, one per process,
//! blocks on a [`ClockChanges`] source and wakes every engine when the wall clock is set
//! discontinuously; engines then re-read the clock and re-arm their wait, so they wait for their
//! next deadline with no timeout and wake zero times while nothing is due.
//!
//! The source is the only platform-specific part and lives in the binding crate (on Linux a
//! `timerfd` on `CLOCK_REALTIME` armed at the end of time with `TFD_TIMER_CANCEL_ON_SET`: its
//! `read` fails with `ECANCELED` exactly when the clock is set, including on resume from
//! suspend). Where there is none, or it cannot be opened, [`max_wait`] caps each wait at
//! [`FALLBACK_MAX_WAIT`] instead.
use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Once;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The longest single wait when no watcher runs: it bounds how late a job can be after the wall
/// clock jumps.
pub const FALLBACK_MAX_WAIT: Duration = Duration::from_secs(60);

/// The first [`start_watcher`] of the process.
static STARTED: Once = Once::new();
/// Whether the process' watcher runs: set by [`start_watcher`], cleared when the watch ends.
static WATCHING: AtomicBool = AtomicBool::new(false);

/// The wall clock in microseconds since the Unix epoch (negative before it; saturating).
pub fn now_us() -> i64 {
    match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_micros()).unwrap_or(i64::MAX),
        Err(e) => i64::try_from(e.duration().as_micros()).map_or(i64::MIN, |us| -us),
    }
}

/// A source of wall-clock change notifications.
pub trait ClockChanges: Send + 'static {
    /// Block until the wall clock is set discontinuously (`Ok`). An error of kind
    /// [`io::ErrorKind::Interrupted`] is retried; any other error ends the watch.
    fn wait(&mut self) -> io::Result<()>;

    /// Arm the source again after a change; an error ends the watch.
    fn rearm(&mut self) -> io::Result<()>;
}

/// Start the process' watcher once: `open` makes the source, and a thread named
/// `fastscheduler-clock` calls `on_change` at every change. Returns whether the watcher runs;
/// later calls do not call `open` again. If the source ever fails, the watch ends, engines fall
/// back to capped waits ([`max_wait`]) and `on_change` is called once more so that they re-arm.
pub fn start_watcher<S: ClockChanges>(
    open: impl FnOnce() -> io::Result<S>,
    on_change: fn(),
) -> bool {
    STARTED.call_once(|| {
        let Ok(source) = open() else {
            return;
        };
        WATCHING.store(true, Ordering::SeqCst);
        let spawned = std::thread::Builder::new()
            .name("fastscheduler-clock".into())
            .spawn(move || {
                watch(source, on_change);
                WATCHING.store(false, Ordering::SeqCst);
                on_change();
            });
        if spawned.is_err() {
            WATCHING.store(false, Ordering::SeqCst);
        }
    });
    WATCHING.load(Ordering::SeqCst)
}

/// The longest an engine may wait before re-reading the wall clock: `None` while the watcher
/// runs, else [`FALLBACK_MAX_WAIT`].
pub fn max_wait() -> Option<Duration> {
    if WATCHING.load(Ordering::SeqCst) {
        None
    } else {
        Some(FALLBACK_MAX_WAIT)
    }
}

/// The watch loop: `on_change` after every change, until the source fails.
pub fn watch<S: ClockChanges>(mut source: S, on_change: impl Fn()) {
    loop {
        match source.wait() {
            Ok(()) => on_change(),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => return,
        }
        if source.rearm().is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    /// Replays a script of `wait` results; `rearm` fails after `rearms_ok` calls.
    struct Script {
        waits: Vec<io::Result<()>>,
        rearms_ok: usize,
        rearms: usize,
    }

    impl ClockChanges for Script {
        fn wait(&mut self) -> io::Result<()> {
            if self.waits.is_empty() {
                return Err(io::Error::other("script ended"));
            }
            self.waits.remove(0)
        }

        fn rearm(&mut self) -> io::Result<()> {
            self.rearms += 1;
            if self.rearms > self.rearms_ok {
                return Err(io::Error::other("rearm failed"));
            }
            Ok(())
        }
    }

    fn interrupted() -> io::Result<()> {
        Err(io::ErrorKind::Interrupted.into())
    }

    #[test]
    fn watch_wakes_on_each_change_and_retries_interrupts() {
        let n = Cell::new(0);
        let s = Script {
            waits: vec![Ok(()), interrupted(), interrupted(), Ok(()), Ok(())],
            rearms_ok: 10,
            rearms: 0,
        };
        watch(s, || n.set(n.get() + 1));
        // Three changes, then the end of the script (an error).
        assert_eq!(n.get(), 3);
    }

    #[test]
    fn watch_ends_when_rearming_fails() {
        let n = Cell::new(0);
        let s = Script {
            waits: vec![Ok(()), Ok(()), Ok(())],
            rearms_ok: 1,
            rearms: 0,
        };
        watch(s, || n.set(n.get() + 1));
        assert_eq!(n.get(), 2);
    }

    #[test]
    fn now_is_after_2020() {
        assert!(now_us() > 1_577_836_800_000_000);
    }
}

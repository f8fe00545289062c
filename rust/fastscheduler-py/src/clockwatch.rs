//! Wall-clock change notifications, so a waiting engine needs no periodic re-check.
//!
//! Deadlines are wall-clock (UTC) instants, but a condition variable waits on the monotonic
//! clock. The two drift apart when the wall clock is set (an NTP step, an administrator) or
//! the machine sleeps (the monotonic clock stops during suspend). On Linux one thread per process
//! blocks on a `timerfd` armed on `CLOCK_REALTIME` at the end of time with
//! `TFD_TIMER_CANCEL_ON_SET`: the kernel fails its `read` with `ECANCELED` exactly when the wall
//! clock is set discontinuously, including on resume from suspend. The thread then wakes every
//! engine, which re-reads the clock and re-arms its wait. Engines therefore wait for their next
//! deadline with no timeout and wake zero times while nothing is due.
//!
//! Elsewhere (or if the kernel refuses the timerfd) `active()` is false and engines cap each
//! wait at [`FALLBACK_MAX_WAIT`] instead.
use std::sync::OnceLock;
use std::time::Duration;

/// The longest single wait when no clock watcher runs: it bounds how late a job can be after
/// the wall clock jumps.
pub const FALLBACK_MAX_WAIT: Duration = Duration::from_secs(60);

static ACTIVE: OnceLock<bool> = OnceLock::new();

/// Start the watcher once per process (calling `on_change` whenever the wall clock is set) and
/// say whether it runs. `on_change` of later calls is ignored.
pub fn start(on_change: fn()) -> bool {
    *ACTIVE.get_or_init(|| imp::spawn(on_change))
}

/// The longest an engine may wait before re-reading the wall clock: none with the watcher.
pub fn max_wait() -> Option<Duration> {
    if ACTIVE.get().copied().unwrap_or(false) {
        None
    } else {
        Some(FALLBACK_MAX_WAIT)
    }
}

#[cfg(target_os = "linux")]
mod imp {
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

    /// A timerfd on CLOCK_REALTIME that fires never, and is cancelled when the clock is set.
    fn arm() -> std::io::Result<OwnedFd> {
        // SAFETY: plain syscalls on a descriptor this function owns.
        unsafe {
            let fd = libc::timerfd_create(libc::CLOCK_REALTIME, libc::TFD_CLOEXEC);
            if fd < 0 {
                return Err(std::io::Error::last_os_error());
            }
            let fd = OwnedFd::from_raw_fd(fd);
            rearm(&fd)?;
            Ok(fd)
        }
    }

    fn rearm(fd: &OwnedFd) -> std::io::Result<()> {
        let spec = libc::itimerspec {
            it_interval: libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            },
            // The end of time: the timer itself never expires.
            it_value: libc::timespec {
                tv_sec: libc::time_t::MAX,
                tv_nsec: 0,
            },
        };
        let flags = libc::TFD_TIMER_ABSTIME | libc::TFD_TIMER_CANCEL_ON_SET;
        // SAFETY: `fd` is a live timerfd; `spec` outlives the call.
        let r =
            unsafe { libc::timerfd_settime(fd.as_raw_fd(), flags, &spec, std::ptr::null_mut()) };
        if r < 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(())
    }

    pub fn spawn(on_change: fn()) -> bool {
        let Ok(fd) = arm() else {
            return false;
        };
        std::thread::Builder::new()
            .name("fastscheduler-clock".into())
            .spawn(move || watch(&fd, on_change))
            .is_ok()
    }

    fn watch(fd: &OwnedFd, on_change: fn()) {
        let mut buf = [0u8; 8];
        loop {
            // SAFETY: reading 8 bytes into an 8-byte buffer from a live descriptor.
            let r = unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
            let err = std::io::Error::last_os_error();
            if r < 0 && err.raw_os_error() == Some(libc::EINTR) {
                continue;
            }
            // ECANCELED: the clock was set. (An expiry cannot happen; treat it the same.)
            on_change();
            if r < 0 && err.raw_os_error() != Some(libc::ECANCELED) {
                return; // an unexpected error: stop watching (engines keep working, see max_wait)
            }
            if rearm(fd).is_err() {
                return;
            }
        }
    }
}

#[cfg(not(target_os = "linux"))]
mod imp {
    pub fn spawn(_on_change: fn()) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_watcher_starts_on_linux() {
        fn nothing() {}
        let active = super::start(nothing);
        assert_eq!(active, cfg!(target_os = "linux"));
        assert_eq!(super::max_wait().is_none(), active);
    }
}

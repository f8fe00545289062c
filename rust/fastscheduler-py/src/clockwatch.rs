//! The clock watcher's source: the raw syscalls of a Linux `timerfd` that reports wall-clock
//! changes. The watch loop and the fallback when there is no watcher are in the core
//! (`fastscheduler_core::clock`, which documents the whole mechanism).
/// Start the process' clock watcher once (it wakes every engine when the wall clock is set) and
/// say whether it runs. Elsewhere than on Linux there is none, and engines cap their waits.
pub fn start() -> bool {
    #[cfg(target_os = "linux")]
    {
        use fastscheduler_core::{clock, runner};
        clock::start_watcher(imp::TimerFd::open, runner::wake_all)
    }
    #[cfg(not(target_os = "linux"))]
    {
        false
    }
}

#[cfg(target_os = "linux")]
mod imp {
    use fastscheduler_core::clock::ClockChanges;
    use std::io;
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

    /// A timerfd on CLOCK_REALTIME that never expires and is cancelled when the clock is set.
    pub struct TimerFd(OwnedFd);

    impl TimerFd {
        pub fn open() -> io::Result<TimerFd> {
            // SAFETY: timerfd_create takes two integer flags and touches no memory of ours.
            let fd = unsafe { libc::timerfd_create(libc::CLOCK_REALTIME, libc::TFD_CLOEXEC) };
            if fd < 0 {
                return Err(io::Error::last_os_error());
            }
            // SAFETY: `fd` was just returned by timerfd_create, is open, and nothing else owns
            // it: the OwnedFd becomes its only owner (and closes it on drop).
            let mut t = TimerFd(unsafe { OwnedFd::from_raw_fd(fd) });
            t.rearm()?;
            Ok(t)
        }
    }

    impl ClockChanges for TimerFd {
        fn wait(&mut self) -> io::Result<()> {
            let mut buf = [0u8; 8];
            // SAFETY: `buf` is a live, writable 8-byte buffer and exactly `buf.len()` bytes are
            // asked for; the descriptor is open for as long as `self` lives.
            let r = unsafe { libc::read(self.0.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
            if r >= 0 {
                return Ok(()); // an expiry cannot happen (the end of time); treat it as a change
            }
            let err = io::Error::last_os_error();
            if err.raw_os_error() == Some(libc::ECANCELED) {
                return Ok(()); // the clock was set
            }
            Err(err) // EINTR is io::ErrorKind::Interrupted: retried by the watch loop
        }

        fn rearm(&mut self) -> io::Result<()> {
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
            // SAFETY: the descriptor is an open timerfd; `spec` is a valid itimerspec that
            // outlives the call, and a null old-value pointer is allowed.
            let r = unsafe {
                libc::timerfd_settime(self.0.as_raw_fd(), flags, &spec, std::ptr::null_mut())
            };
            if r < 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_watcher_starts_on_linux() {
        let active = super::start();
        assert_eq!(active, cfg!(target_os = "linux"));
        assert_eq!(fastscheduler_core::clock::max_wait().is_none(), active);
    }
}

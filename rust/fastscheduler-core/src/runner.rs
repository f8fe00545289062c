//! The engine thread: a [`JobTable`] behind a mutex, and one thread that waits for the earliest
//! deadline, pops what is due and hands each batch to a callback.
//!
//! Locking rules (the deadlock analysis):
//! - The table is behind one mutex ([`Runner::table`]). It is held only for table operations,
//!   never across a dispatch call: the thread pops due jobs under the lock, releases it, and only
//!   then calls `dispatch`, once per batch. So the callback may call back into the same runner
//!   (its mutex is free), and other threads may change the table while a dispatch runs.
//! - The thread waits on a condition variable with the table's lock released; a change that
//!   makes the earliest deadline earlier ([`Runner::change`]) wakes it, as do a stop and a wall
//!   clock jump ([`wake_all`], from [`crate::clock`]).
//! - A binding whose callers must never block on a lock (a Python thread holding the GIL) locks
//!   [`Runner::table`] its own way and calls the methods that lock internally (`start`, `stop`,
//!   `running`, [`stop_all`]) from a thread that may block.
//!
//! Each start is a new *generation*: the thread runs while the runner's generation equals the
//! one it was started with, so a stop needs no join to take effect (a drop, or a dispatch
//! callback stopping its own runner, only signals).
use crate::clock;
use crate::engine::{Due, JobTable};
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError, Weak};
use std::thread::JoinHandle;
use std::time::Duration;

/// Lock a mutex, ignoring poisoning (no code path panics while holding these locks; if one did,
/// the table would still be consistent between operations).
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The engine thread and the generation it runs.
#[derive(Debug)]
struct Worker {
    handle: JoinHandle<()>,
    generation: u64,
}

/// A job table and the thread that fires it (see the module documentation).
#[derive(Debug)]
pub struct Runner {
    table: Mutex<JobTable>,
    /// Signalled when the earliest deadline moves earlier, on stop and on a clock jump.
    cv: Condvar,
    /// The stop flag: a thread runs while this equals the generation it was started with.
    /// Changed only under `table`, so a waiting thread cannot miss it.
    generation: AtomicU64,
    /// Returns of the thread from a wait (timeouts and notifications alike).
    wakeups: AtomicU64,
    worker: Mutex<Option<Worker>>,
}

/// Runners alive in the process: woken by a clock jump, stopped by [`stop_all`].
static RUNNERS: Mutex<Vec<Weak<Runner>>> = Mutex::new(Vec::new());

fn live_runners() -> Vec<Arc<Runner>> {
    let mut v = lock(&RUNNERS);
    v.retain(|w| w.strong_count() > 0);
    v.iter().filter_map(Weak::upgrade).collect()
}

/// Wake every runner's thread so it re-reads the wall clock (the clock watcher's callback).
pub fn wake_all() {
    for r in live_runners() {
        let _table = lock(&r.table);
        r.cv.notify_all();
    }
}

/// Stop every runner and join its thread (at interpreter exit).
pub fn stop_all() {
    for r in live_runners() {
        r.stop();
    }
}

/// Whether the earliest deadline moved earlier (so a waiting thread must re-arm).
fn earlier(after: Option<i64>, before: Option<i64>) -> bool {
    match (after, before) {
        (Some(a), Some(b)) => a < b,
        (Some(_), None) => true,
        (None, _) => false,
    }
}

impl Runner {
    /// A runner with an empty table whose wheel starts at `now_us`; its thread is not started.
    pub fn new(now_us: i64) -> Arc<Runner> {
        let runner = Arc::new(Runner {
            table: Mutex::new(JobTable::new(now_us)),
            cv: Condvar::new(),
            generation: AtomicU64::new(0),
            wakeups: AtomicU64::new(0),
            worker: Mutex::new(None),
        });
        let mut v = lock(&RUNNERS);
        v.retain(|w| w.strong_count() > 0);
        v.push(Arc::downgrade(&runner));
        runner
    }

    /// The table's mutex. Change the table through [`Runner::change`] (under this lock) so the
    /// thread hears of an earlier deadline; reads and pops need nothing more.
    pub fn table(&self) -> &Mutex<JobTable> {
        &self.table
    }

    /// Apply `f` to the table (locked by the caller: `table` is the guarded [`Runner::table`])
    /// and wake the thread when the earliest deadline moved earlier.
    pub fn change<R>(&self, table: &mut JobTable, f: impl FnOnce(&mut JobTable) -> R) -> R {
        let before = table.next_deadline_us();
        let r = f(table);
        if earlier(table.next_deadline_us(), before) {
            self.cv.notify_all();
        }
        r
    }

    /// Whether `w` is the thread of the current generation and still running.
    fn is_current(&self, w: &Worker) -> bool {
        !w.handle.is_finished() && w.generation == self.generation.load(Ordering::SeqCst)
    }

    /// Start the thread, which calls `dispatch` with every non-empty batch of due jobs until
    /// stopped, or until `dispatch` returns false. Nothing happens when it runs already (the
    /// new `dispatch` is dropped). Blocks briefly on the runner's locks.
    pub fn start<F>(self: &Arc<Self>, dispatch: F) -> io::Result<()>
    where
        F: FnMut(&[Due]) -> bool + Send + 'static,
    {
        let mut worker = lock(&self.worker);
        if worker.as_ref().is_some_and(|w| self.is_current(w)) {
            return Ok(());
        }
        let generation = {
            let _table = lock(&self.table);
            let g = self.generation.fetch_add(1, Ordering::SeqCst) + 1;
            self.cv.notify_all();
            g
        };
        let me = Arc::clone(self);
        let handle = std::thread::Builder::new()
            .name("fastscheduler-engine".into())
            .spawn(move || me.run(generation, dispatch))?;
        *worker = Some(Worker { handle, generation });
        Ok(())
    }

    /// Signal the thread to end, without waiting for it.
    pub fn signal_stop(&self) {
        let _table = lock(&self.table);
        self.generation.fetch_add(1, Ordering::SeqCst);
        self.cv.notify_all();
    }

    /// Stop the thread and wait for it (it finishes a dispatch in progress first). Called from
    /// the thread itself (a dispatch callback), it only signals: the thread ends when the
    /// callback returns. Safe to call twice, or when never started.
    pub fn stop(&self) {
        let worker = lock(&self.worker).take();
        self.signal_stop();
        if let Some(w) = worker {
            if w.handle.thread().id() != std::thread::current().id() {
                // The thread never panics, unless `dispatch` does; that panic stays there.
                let _ = w.handle.join();
            }
        }
    }

    /// Whether the thread runs.
    pub fn running(&self) -> bool {
        lock(&self.worker)
            .as_ref()
            .is_some_and(|w| self.is_current(w))
    }

    /// How many times the thread returned from a wait (timeouts and notifications).
    pub fn wakeups(&self) -> u64 {
        self.wakeups.load(Ordering::Relaxed)
    }

    /// The thread: wait (lock released) until the earliest deadline, pop what is due, dispatch.
    fn run<F: FnMut(&[Due]) -> bool>(&self, generation: u64, mut dispatch: F) {
        let mut batch: Vec<Due> = Vec::new();
        let mut table = lock(&self.table);
        loop {
            if self.generation.load(Ordering::SeqCst) != generation {
                return;
            }
            // The deadline first, then the clock: finding the deadline can take milliseconds (it
            // moves the next tick's jobs out of the wheel: 100,000 of them, when 100,000 jobs fire
            // every second), and a wait measured from a reading of the clock taken before would
            // overshoot the deadline by that long (it did, by 10 to 25 ms).
            let next = table.next_deadline_us();
            let now = clock::now_us();
            let wait = match next {
                Some(d) if d <= now => {
                    batch.clear();
                    table.pop_due(now, &mut batch);
                    drop(table);
                    if !batch.is_empty() && !dispatch(&batch) {
                        return;
                    }
                    table = lock(&self.table);
                    continue;
                }
                // No cap while the clock watcher runs: it wakes us if the wall clock jumps.
                Some(d) => {
                    let wait = Duration::from_micros(d.abs_diff(now));
                    Some(clock::max_wait().map_or(wait, |cap| wait.min(cap)))
                }
                None => None,
            };
            table = match wait {
                Some(wait) => match self.cv.wait_timeout(table, wait) {
                    Ok((g, _)) => g,
                    Err(p) => p.into_inner().0,
                },
                None => self.cv.wait(table).unwrap_or_else(PoisonError::into_inner),
            };
            self.wakeups.fetch_add(1, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trigger::Trigger;
    use std::sync::mpsc;
    use std::time::Instant;

    const MS: i64 = 1000;

    /// The runner tests, one at a time: `stop_all` and `wake_all` reach every runner.
    static SERIAL: Mutex<()> = Mutex::new(());

    fn add(r: &Runner, t: Trigger, after: i64) -> u64 {
        let mut g = lock(r.table());
        r.change(&mut g, |t2| t2.add(t, after)).unwrap()
    }

    /// Start `r` with a dispatch that sends each batch (and when it came) to the returned channel.
    fn started(r: &Arc<Runner>) -> mpsc::Receiver<(Vec<Due>, i64)> {
        let (tx, rx) = mpsc::channel();
        r.start(move |b: &[Due]| tx.send((b.to_vec(), clock::now_us())).is_ok())
            .unwrap();
        rx
    }

    #[test]
    fn fires_on_the_grid_and_stops() {
        let _serial = lock(&SERIAL);
        let r = Runner::new(clock::now_us());
        let start = clock::now_us();
        let k = add(
            &r,
            Trigger::interval(20 * MS, start + 20 * MS).unwrap(),
            start,
        );
        let rx = started(&r);
        assert!(r.running());
        let mut fires = Vec::new();
        while fires.len() < 5 {
            let (b, at) = rx.recv_timeout(Duration::from_secs(5)).unwrap();
            for d in b {
                assert_eq!(d.key, k);
                assert!(at >= d.scheduled_us);
                fires.push(d.scheduled_us);
            }
        }
        r.stop();
        assert!(!r.running());
        for (i, s) in fires.iter().enumerate() {
            assert_eq!(*s, start + 20 * MS * (i as i64 + 1));
        }
        r.stop(); // twice is fine
    }

    #[test]
    fn an_earlier_job_wakes_the_waiting_thread() {
        let _serial = lock(&SERIAL);
        let r = Runner::new(clock::now_us());
        let now = clock::now_us();
        add(
            &r,
            Trigger::Date {
                at_us: now + 3_600_000 * MS,
            },
            now,
        );
        let rx = started(&r);
        std::thread::sleep(Duration::from_millis(50));
        assert_eq!(r.wakeups(), 0, "an idle runner does not wake up");
        let t0 = Instant::now();
        let k = add(
            &r,
            Trigger::Date {
                at_us: clock::now_us() + 30 * MS,
            },
            now,
        );
        let (b, _) = rx.recv_timeout(Duration::from_secs(5)).unwrap();
        assert_eq!(b.iter().map(|d| d.key).collect::<Vec<_>>(), vec![k]);
        assert!(t0.elapsed() < Duration::from_secs(2));
        r.stop();
    }

    #[test]
    fn dispatch_may_stop_its_own_runner_and_false_ends_the_thread() {
        let _serial = lock(&SERIAL);
        let r = Runner::new(clock::now_us());
        let now = clock::now_us();
        add(&r, Trigger::interval(MS, now).unwrap(), now - 1);
        let (tx, rx) = mpsc::channel();
        let me = Arc::clone(&r);
        r.start(move |_: &[Due]| {
            me.stop(); // from the thread itself: only signals
            tx.send(()).is_ok()
        })
        .unwrap();
        rx.recv_timeout(Duration::from_secs(5)).unwrap();
        let t0 = Instant::now();
        while r.running() && t0.elapsed() < Duration::from_secs(5) {
            std::thread::sleep(Duration::from_millis(1));
        }
        assert!(!r.running());
        assert!(rx.recv_timeout(Duration::from_millis(50)).is_err());

        // A dispatch that returns false ends the thread (an interpreter finalizing).
        let r2 = Runner::new(now);
        add(&r2, Trigger::interval(MS, now).unwrap(), now - 1);
        r2.start(|_: &[Due]| false).unwrap();
        let t0 = Instant::now();
        while r2.running() && t0.elapsed() < Duration::from_secs(5) {
            std::thread::sleep(Duration::from_millis(1));
        }
        assert!(!r2.running());
        r2.stop();
    }

    #[test]
    fn restart_and_stop_all() {
        let _serial = lock(&SERIAL);
        let r = Runner::new(clock::now_us());
        let _rx = started(&r);
        let _again = started(&r); // running already: nothing happens
        assert!(r.running());
        r.stop();
        let rx = started(&r);
        let now = clock::now_us();
        let k = add(&r, Trigger::Date { at_us: now }, now - 1);
        assert_eq!(rx.recv_timeout(Duration::from_secs(5)).unwrap().0[0].key, k);
        wake_all();
        stop_all();
        assert!(!r.running());
    }

    #[test]
    fn dropped_runner_thread_ends_after_a_signal() {
        let _serial = lock(&SERIAL);
        let r = Runner::new(clock::now_us());
        let rx = started(&r);
        r.signal_stop();
        drop(r);
        // The thread held the last reference; it ends, and the channel closes.
        assert!(rx.recv_timeout(Duration::from_secs(5)).is_err());
    }
}

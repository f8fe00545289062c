//! `Engine`: the job table of the core driven by one background thread.
//!
//! Locking rules (the deadlock analysis):
//! - The table is behind one mutex (`Shared::state`). It is held only for table operations,
//!   never while Python runs: never across a dispatch call, never while attaching to Python.
//! - A Python thread never *blocks* on a mutex while attached: it tries the lock, and on
//!   contention waits for it detached (through [`crate::detached`]), so the engine thread or
//!   another Python thread holding the lock can always finish.
//! - The engine thread waits on the condition variable detached from Python, pops due jobs under
//!   the lock, releases it, and only then attaches, once per batch, to call `dispatch`. So the
//!   callback may call back into the same engine (its mutex is free), and Python threads may call
//!   the engine while a dispatch runs.
//! - `stop()` joins the engine thread detached (the thread may be waiting to attach).
//!
//! Times cross the boundary as epoch seconds (floats), rounded to the microsecond.
use crate::clockwatch;
use crate::convert::{float_repr, to_secs, to_us};
use crate::errors::py_result;
use crate::trigger::PyTrigger;
use fastscheduler_core::engine::{Due, JobTable};
use pyo3::exceptions::{PyRuntimeError, PyTypeError};
use pyo3::gc::PyVisit;
use pyo3::prelude::*;
use pyo3::types::PyList;
use pyo3::PyTraverseError;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError, TryLockError, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Run `f` under `m` from an attached thread: at once when the lock is free, else waiting for it
/// detached, so that no attached thread ever blocks on it.
fn with_lock<T: Send, R: Send>(
    py: Python<'_>,
    m: &Mutex<T>,
    f: impl FnOnce(&mut T) -> R + Send,
) -> R {
    match m.try_lock() {
        Ok(mut g) => f(&mut g),
        Err(TryLockError::Poisoned(p)) => f(&mut p.into_inner()),
        Err(TryLockError::WouldBlock) => crate::detached(py, || f(&mut lock(m))),
    }
}

/// The wall clock in microseconds since the epoch.
fn now_us() -> i64 {
    match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_micros()).unwrap_or(i64::MAX),
        Err(e) => i64::try_from(e.duration().as_micros()).map_or(i64::MIN, |us| -us),
    }
}

/// The engine thread and the run it belongs to.
struct Worker {
    handle: JoinHandle<()>,
    generation: u64,
}

/// What the engine object and its thread share.
struct Shared {
    table: Mutex<JobTable>,
    /// Signalled when the earliest deadline moves earlier, and on stop.
    cv: Condvar,
    /// The stop flag: a thread runs while this equals the generation it was started with;
    /// `start()` and `stop()` increment it (under `table`, so a waiting thread cannot miss it).
    generation: AtomicU64,
    /// Returns of the engine thread from a wait on `cv` (timeouts and notifications alike).
    wakeups: AtomicU64,
    /// The dispatch callable; taken by `__clear__`. Only touched while attached.
    dispatch: Mutex<Option<Py<PyAny>>>,
    worker: Mutex<Option<Worker>>,
}

/// Engines alive in the process, stopped by an `atexit` hook before the interpreter finalizes.
static ENGINES: Mutex<Vec<Weak<Shared>>> = Mutex::new(Vec::new());

/// Whether the earliest deadline moved earlier (so a waiting engine thread must re-arm).
fn earlier(after: Option<i64>, before: Option<i64>) -> bool {
    match (after, before) {
        (Some(a), Some(b)) => a < b,
        (Some(_), None) => true,
        (None, _) => false,
    }
}

impl Shared {
    /// Signal the current run to end (no join).
    fn signal_stop(&self) {
        let _table = lock(&self.table);
        self.generation.fetch_add(1, Ordering::SeqCst);
        self.cv.notify_all();
    }

    /// Stop the engine thread and join it detached; joining from the engine thread itself (a
    /// dispatch callback calling `stop()`) only signals it, and it ends when the callback returns.
    fn stop(&self, py: Python<'_>) {
        let worker = with_lock(py, &self.worker, Option::take);
        with_lock(py, &self.table, |_| {
            self.generation.fetch_add(1, Ordering::SeqCst);
            self.cv.notify_all();
        });
        if let Some(w) = worker {
            if w.handle.thread().id() != std::thread::current().id() {
                // The thread never panics (dispatch errors are reported, not raised).
                let _ = crate::detached(py, move || w.handle.join());
            }
        }
    }

    fn dispatch(&self, py: Python<'_>) -> Option<Py<PyAny>> {
        lock(&self.dispatch).as_ref().map(|d| d.clone_ref(py))
    }
}

fn batch_list<'py>(py: Python<'py>, batch: &[Due]) -> PyResult<Bound<'py, PyList>> {
    PyList::new(
        py,
        batch
            .iter()
            .map(|d| (d.key, to_secs(d.scheduled_us), d.missed)),
    )
}

/// The engine thread: wait (detached) until the earliest deadline, pop what is due, dispatch it.
fn run(shared: Arc<Shared>, generation: u64) {
    let mut batch: Vec<Due> = Vec::new();
    let mut table = lock(&shared.table);
    loop {
        if shared.generation.load(Ordering::SeqCst) != generation {
            return;
        }
        let now = now_us();
        match table.next_deadline_us() {
            Some(d) if d <= now => {
                batch.clear();
                table.pop_due(now, &mut batch);
                drop(table);
                if !batch.is_empty() {
                    let attached = Python::try_attach(|py| {
                        let Some(dispatch) = shared.dispatch(py) else {
                            return;
                        };
                        let r = batch_list(py, &batch).and_then(|b| dispatch.call1(py, (b,)));
                        if let Err(e) = r {
                            e.write_unraisable(py, Some(dispatch.bind(py)));
                        }
                    });
                    if attached.is_none() {
                        // The interpreter is finalizing: nothing can be dispatched any more.
                        return;
                    }
                }
                table = lock(&shared.table);
            }
            Some(d) => {
                // No cap while the clock watcher runs: it wakes us if the wall clock jumps.
                let mut wait = Duration::from_micros(d.abs_diff(now));
                if let Some(cap) = clockwatch::max_wait() {
                    wait = wait.min(cap);
                }
                table = match shared.cv.wait_timeout(table, wait) {
                    Ok((g, _)) => g,
                    Err(p) => p.into_inner().0,
                };
                shared.wakeups.fetch_add(1, Ordering::Relaxed);
            }
            None => {
                table = shared
                    .cv
                    .wait(table)
                    .unwrap_or_else(PoisonError::into_inner);
                shared.wakeups.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

/// Wake every engine thread so it re-reads the wall clock (the clock watcher's callback; no GIL).
fn wake_all_engines() {
    let engines: Vec<Arc<Shared>> = {
        let mut v = lock(&ENGINES);
        v.retain(|w| w.strong_count() > 0);
        v.iter().filter_map(Weak::upgrade).collect()
    };
    for e in engines {
        let _table = lock(&e.table);
        e.cv.notify_all();
    }
}

/// Stops every engine still running (registered with `atexit`).
#[pyfunction]
fn _stop_engines(py: Python<'_>) {
    let engines: Vec<Arc<Shared>> = with_lock(py, &ENGINES, |v| {
        v.retain(|w| w.strong_count() > 0);
        v.iter().filter_map(Weak::upgrade).collect()
    });
    for e in engines {
        e.stop(py);
    }
}

/// The scheduling engine: a table of jobs and one background thread that calls `dispatch` with
/// every batch of due jobs, as a list of `(key, scheduled_time, missed)` tuples.
///
/// `Engine(dispatch)`. Keys are ints; times are epoch seconds (floats). `run_due(now)` drives it
/// by hand instead (a manual clock, for tests). The thread stops with `stop()`, when the engine
/// is garbage-collected, and at interpreter exit.
#[pyclass(frozen, module = "fastscheduler._core", name = "Engine")]
pub struct PyEngine {
    shared: Arc<Shared>,
}

impl PyEngine {
    /// Run a table operation; wake the engine thread when it made the earliest deadline earlier.
    fn mutate<R: Send>(&self, py: Python<'_>, f: impl FnOnce(&mut JobTable) -> R + Send) -> R {
        let shared = &*self.shared;
        with_lock(py, &shared.table, |t| {
            let before = t.next_deadline_us();
            let r = f(t);
            if earlier(t.next_deadline_us(), before) {
                shared.cv.notify_all();
            }
            r
        })
    }

    fn read<R: Send>(&self, py: Python<'_>, f: impl FnOnce(&mut JobTable) -> R + Send) -> R {
        with_lock(py, &self.shared.table, f)
    }
}

#[pymethods]
impl PyEngine {
    #[new]
    fn new(py: Python<'_>, dispatch: &Bound<'_, PyAny>) -> PyResult<Self> {
        if !dispatch.is_callable() {
            return Err(PyTypeError::new_err(format!(
                "dispatch must be callable, got {}",
                dispatch.get_type().name()?
            )));
        }
        let shared = Arc::new(Shared {
            table: Mutex::new(JobTable::new(now_us())),
            cv: Condvar::new(),
            generation: AtomicU64::new(0),
            wakeups: AtomicU64::new(0),
            dispatch: Mutex::new(Some(dispatch.clone().unbind())),
            worker: Mutex::new(None),
        });
        let weak = Arc::downgrade(&shared);
        with_lock(py, &ENGINES, move |v| {
            v.retain(|w| w.strong_count() > 0);
            v.push(weak);
        });
        Ok(PyEngine { shared })
    }

    /// Add a job firing first at `trigger.next_after(after)` (with `inclusive`: at its first fire
    /// at or after `after`, the same microsecond included); returns its key. `inclusive` is how a
    /// stored or late next fire is put back exactly: subtracting a small float in Python instead
    /// can round to the same microsecond and lose that fire.
    #[pyo3(signature = (trigger, after, *, inclusive = false))]
    fn add(
        &self,
        py: Python<'_>,
        trigger: &Bound<'_, PyTrigger>,
        after: f64,
        inclusive: bool,
    ) -> PyResult<u64> {
        let trigger = trigger.get().core().clone();
        let after = to_us(py, "after", after)? - i64::from(inclusive);
        py_result(self.mutate(py, move |t| t.add(trigger, after)))
    }

    /// Remove a job; False if there is no such job.
    fn remove(&self, py: Python<'_>, key: u64) -> bool {
        self.mutate(py, |t| t.remove(key))
    }

    /// Pause a job (it keeps its next fire time for display); False if there is no such job.
    fn pause(&self, py: Python<'_>, key: u64) -> bool {
        self.mutate(py, |t| t.pause(key))
    }

    /// Resume a paused job at the first fire of its own schedule strictly after `now` (never at
    /// once, never shifting an interval's grid); False if there is no such job.
    fn resume(&self, py: Python<'_>, key: u64, now: f64) -> PyResult<bool> {
        let now = to_us(py, "now", now)?;
        Ok(self.mutate(py, |t| t.resume(key, now)))
    }

    /// A job's next fire time (also while paused), or None (unknown key, or no fire left).
    fn next_fire(&self, py: Python<'_>, key: u64) -> Option<f64> {
        self.read(py, |t| t.next_fire_us(key)).map(to_secs)
    }

    /// Whether a job is paused, or None for an unknown key.
    fn is_paused(&self, py: Python<'_>, key: u64) -> Option<bool> {
        self.read(py, |t| t.is_paused(key))
    }

    /// Count a finished run (a failure unless `ok`); False if there is no such job.
    fn record_run(&self, py: Python<'_>, key: u64, ok: bool) -> bool {
        self.read(py, |t| t.record_run(key, ok))
    }

    /// Count a retry; False if there is no such job.
    fn record_retry(&self, py: Python<'_>, key: u64) -> bool {
        self.read(py, |t| t.record_retry(key))
    }

    /// Set a job's counters (restoring stored state); False if there is no such job.
    fn set_counters(
        &self,
        py: Python<'_>,
        key: u64,
        runs: u64,
        failures: u64,
        retries: u64,
    ) -> bool {
        self.read(py, |t| t.set_counters(key, runs, failures, retries))
    }

    /// `(next_fire, paused, runs, failures, retries)` of a job in one call, or None for an
    /// unknown key (`next_fire` is None when no fire is left).
    #[allow(clippy::type_complexity)]
    fn state(&self, py: Python<'_>, key: u64) -> Option<(Option<f64>, bool, u64, u64, u64)> {
        self.read(py, |t| {
            let (runs, failures, retries) = t.counters(key)?;
            let paused = t.is_paused(key)?;
            Some((
                t.next_fire_us(key).map(to_secs),
                paused,
                runs,
                failures,
                retries,
            ))
        })
    }

    /// `(runs, failures, retries)` of a job, or None for an unknown key.
    fn counters(&self, py: Python<'_>, key: u64) -> Option<(u64, u64, u64)> {
        self.read(py, |t| t.counters(key))
    }

    /// The earliest next fire of all unpaused jobs, or None.
    fn next_deadline(&self, py: Python<'_>) -> Option<f64> {
        self.read(py, JobTable::next_deadline_us).map(to_secs)
    }

    /// Manual clock: pop every job due at `now` and call `dispatch(batch)` on this thread;
    /// returns the batch size (0: dispatch was not called). An exception from `dispatch`
    /// propagates (the batch's jobs are already rescheduled).
    fn run_due(&self, py: Python<'_>, now: f64) -> PyResult<usize> {
        let now = to_us(py, "now", now)?;
        let batch = self.read(py, |t| {
            let mut out = Vec::new();
            t.pop_due(now, &mut out);
            out
        });
        if batch.is_empty() {
            return Ok(0);
        }
        let Some(dispatch) = self.shared.dispatch(py) else {
            return Err(PyRuntimeError::new_err("the engine's dispatch was cleared"));
        };
        dispatch.call1(py, (batch_list(py, &batch)?,))?;
        Ok(batch.len())
    }

    /// Start the engine thread (nothing happens when it is running already).
    fn start(&self, py: Python<'_>) -> PyResult<()> {
        let shared = &self.shared;
        with_lock(py, &shared.worker, |worker| {
            if worker.as_ref().is_some_and(|w| {
                !w.handle.is_finished() && w.generation == shared.generation.load(Ordering::SeqCst)
            }) {
                return Ok(());
            }
            let generation = {
                let _table = lock(&shared.table);
                let g = shared.generation.fetch_add(1, Ordering::SeqCst) + 1;
                shared.cv.notify_all();
                g
            };
            clockwatch::start(wake_all_engines);
            let for_thread = Arc::clone(shared);
            let handle = std::thread::Builder::new()
                .name("fastscheduler-engine".into())
                .spawn(move || run(for_thread, generation))
                .map_err(|e| {
                    PyRuntimeError::new_err(format!("cannot start the engine thread: {e}"))
                })?;
            *worker = Some(Worker { handle, generation });
            Ok(())
        })
    }

    /// Stop the engine thread and wait for it (it finishes a dispatch in progress first). Safe
    /// to call twice, or when never started.
    fn stop(&self, py: Python<'_>) {
        self.shared.stop(py);
    }

    /// Whether the engine thread is running.
    #[getter]
    fn running(&self, py: Python<'_>) -> bool {
        let shared = &self.shared;
        with_lock(py, &shared.worker, |w| {
            w.as_ref().is_some_and(|w| {
                !w.handle.is_finished() && w.generation == shared.generation.load(Ordering::SeqCst)
            })
        })
    }

    /// The longest single wait of the engine thread in seconds, or None when it waits for its
    /// next deadline however far (Linux: a clock watcher wakes it if the wall clock jumps).
    #[staticmethod]
    fn max_wait() -> Option<f64> {
        clockwatch::max_wait().map(|d| d.as_secs_f64())
    }

    /// How many times the engine thread returned from a wait (timeouts and notifications).
    #[getter]
    fn wakeups(&self) -> u64 {
        self.shared.wakeups.load(Ordering::Relaxed)
    }

    fn __len__(&self, py: Python<'_>) -> usize {
        self.read(py, |t| t.len())
    }

    fn __repr__(&self, py: Python<'_>) -> String {
        let (len, next) = self.read(py, |t| (t.len(), t.next_deadline_us()));
        let next = next.map_or_else(|| "None".to_owned(), |n| float_repr(py, to_secs(n)));
        format!(
            "<Engine jobs={len} next_deadline={next} running={}>",
            if self.running(py) { "True" } else { "False" }
        )
    }

    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        if let Ok(d) = self.shared.dispatch.try_lock() {
            if let Some(d) = d.as_ref() {
                visit.call(d)?;
            }
        }
        Ok(())
    }

    fn __clear__(&self) {
        self.shared.signal_stop();
        let d = lock(&self.shared.dispatch).take();
        drop(d);
    }
}

impl Drop for PyEngine {
    fn drop(&mut self) {
        // The thread ends on its own (without a join: this may run on any thread, attached).
        self.shared.signal_stop();
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyEngine>()?;
    let stop_all = wrap_pyfunction!(_stop_engines, m)?;
    m.py()
        .import("atexit")?
        .call_method1("register", (stop_all,))?;
    Ok(())
}

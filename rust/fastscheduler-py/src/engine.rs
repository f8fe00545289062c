//! `Engine`: the core's runner (a job table and the thread that fires it) for Python. This file
//! converts times and batches, calls back into Python, and handles the GIL; the wait loop and
//! the table are in the core (`fastscheduler_core::runner`, which states the locking rules).
//!
//! GIL rules, on top of the core's locking rules:
//! - A Python thread never *blocks* on the table's mutex while attached: it tries the lock, and
//!   on contention waits for it detached (through [`crate::detached`]), so the engine thread or
//!   another Python thread holding the lock can always finish. The runner's methods that lock
//!   internally (`start`, `stop`, `running`, `stop_all`) are called detached.
//! - The engine thread attaches only to call `dispatch`, once per batch, with the table's lock
//!   released, so the callback may call back into the same engine.
//!
//! Times cross the boundary as epoch seconds (floats), rounded to the microsecond.
use crate::clockwatch;
use crate::convert::{float_repr, to_secs, to_us};
use crate::errors::{py_result, Error};
use crate::trigger::PyTrigger;
use fastscheduler_core::clock;
use fastscheduler_core::engine::{Due, JobTable};
use fastscheduler_core::runner::{self, Runner};
use pyo3::exceptions::PyIndexError;
use pyo3::gc::PyVisit;
use pyo3::prelude::*;
use pyo3::types::PyTuple;
use pyo3::PyTraverseError;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, TryLockError};

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

/// The dispatch callable, shared with the engine thread; taken by `__clear__`. Only locked while
/// attached, and only to clone or take the reference.
type Dispatch = Arc<Mutex<Option<Py<PyAny>>>>;

fn current_dispatch(py: Python<'_>, dispatch: &Dispatch) -> Option<Py<PyAny>> {
    lock(dispatch).as_ref().map(|d| d.clone_ref(py))
}

/// One fire of a batch, as Python sees it: `(key, scheduled_time, missed)`.
fn fire_tuple<'py>(py: Python<'py>, d: &Due) -> PyResult<Bound<'py, PyTuple>> {
    (d.key, to_secs(d.scheduled_us), d.missed).into_pyobject(py)
}

/// The fires of one batch, as `dispatch` receives them: a read-only sequence of
/// `(key, scheduled_time, missed)` tuples, each made when it is read. A list of them made up
/// front held the GIL for 10 to 50 ms with 100,000 jobs due at once, before the first of them
/// could start, and its 100,000 tuples (alive until the whole batch was dispatched) drove the
/// cycle collector into full passes in the middle of the burst.
#[pyclass(frozen, module = "fastscheduler._core", name = "DueBatch")]
pub struct PyDueBatch {
    fires: Vec<Due>,
}

#[pymethods]
impl PyDueBatch {
    fn __len__(&self) -> usize {
        self.fires.len()
    }

    fn __getitem__<'py>(&self, py: Python<'py>, index: isize) -> PyResult<Bound<'py, PyTuple>> {
        let len = self.fires.len();
        let i = if index < 0 {
            len.checked_sub(index.unsigned_abs())
        } else {
            Some(index.unsigned_abs()).filter(|&i| i < len)
        };
        match i.and_then(|i| self.fires.get(i)) {
            Some(d) => fire_tuple(py, d),
            None => Err(PyIndexError::new_err("DueBatch index out of range")),
        }
    }

    fn __iter__(slf: Bound<'_, Self>) -> PyDueIter {
        PyDueIter {
            batch: slf.unbind(),
            next: AtomicUsize::new(0),
        }
    }

    fn __repr__(&self) -> String {
        format!("<DueBatch of {} fires>", self.fires.len())
    }
}

/// An iterator over a [`PyDueBatch`] (not in the module: made by `iter(batch)` only).
#[pyclass(frozen, module = "fastscheduler._core", name = "DueBatchIterator")]
pub struct PyDueIter {
    batch: Py<PyDueBatch>,
    next: AtomicUsize,
}

#[pymethods]
impl PyDueIter {
    fn __iter__(slf: Bound<'_, Self>) -> Bound<'_, Self> {
        slf
    }

    fn __next__<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyTuple>>> {
        // (the GIL orders calls: a load and a store are enough)
        let i = self.next.load(Ordering::Relaxed);
        match self.batch.get().fires.get(i) {
            Some(d) => {
                self.next.store(i + 1, Ordering::Relaxed);
                fire_tuple(py, d).map(Some)
            }
            None => Ok(None),
        }
    }
}

fn due_batch(py: Python<'_>, fires: Vec<Due>) -> PyResult<Py<PyDueBatch>> {
    Py::new(py, PyDueBatch { fires })
}

/// Stops every engine still running (registered with `atexit`).
#[pyfunction]
fn _stop_engines(py: Python<'_>) {
    crate::detached(py, runner::stop_all);
}

/// The scheduling engine: a table of jobs and one background thread that calls `dispatch` with
/// every batch of due jobs, a `DueBatch` of `(key, scheduled_time, missed)` tuples.
///
/// `Engine(dispatch)`. Keys are ints; times are epoch seconds (floats). `run_due(now)` drives it
/// by hand instead (a manual clock, for tests). The thread stops with `stop()`, when the engine
/// is garbage-collected, and at interpreter exit.
#[pyclass(frozen, module = "fastscheduler._core", name = "Engine")]
pub struct PyEngine {
    runner: Arc<Runner>,
    dispatch: Dispatch,
}

impl PyEngine {
    /// Run a table change; the runner wakes its thread when the earliest deadline moved earlier.
    pub(crate) fn mutate<R: Send>(
        &self,
        py: Python<'_>,
        f: impl FnOnce(&mut JobTable) -> R + Send,
    ) -> R {
        let runner = &*self.runner;
        with_lock(py, runner.table(), |t| runner.change(t, f))
    }

    fn read<R: Send>(&self, py: Python<'_>, f: impl FnOnce(&mut JobTable) -> R + Send) -> R {
        with_lock(py, self.runner.table(), f)
    }

    /// `(next fire µs, paused, runs, failures, retries)` of each key under one lock (None for
    /// no key or an unknown one), for the JSON journal's state lines.
    pub(crate) fn states_of(
        &self,
        py: Python<'_>,
        keys: &[Option<u64>],
    ) -> Vec<Option<crate::journal::EngineState>> {
        self.read(py, |t| {
            keys.iter()
                .map(|key| {
                    let key = (*key)?;
                    let (runs, failures, retries) = t.counters(key)?;
                    let paused = t.is_paused(key)?;
                    Some((t.next_fire_us(key), paused, runs, failures, retries))
                })
                .collect()
        })
    }
}

#[pymethods]
impl PyEngine {
    #[new]
    fn new(dispatch: &Bound<'_, PyAny>) -> PyResult<Self> {
        if !dispatch.is_callable() {
            return Err(Error::NotCallable {
                what: "dispatch",
                got: dispatch.get_type().name()?.to_string(),
            }
            .into());
        }
        Ok(PyEngine {
            runner: Runner::new(clock::now_us()),
            dispatch: Arc::new(Mutex::new(Some(dispatch.clone().unbind()))),
        })
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
        let Some(dispatch) = current_dispatch(py, &self.dispatch) else {
            return Err(Error::DispatchCleared.into());
        };
        let len = batch.len();
        dispatch.call1(py, (due_batch(py, batch)?,))?;
        Ok(len)
    }

    /// Start the engine thread (nothing happens when it is running already).
    fn start(&self, py: Python<'_>) -> PyResult<()> {
        clockwatch::start();
        let dispatch = Arc::clone(&self.dispatch);
        // Called on the engine thread with each batch; false ends the thread.
        let call = move |batch: &[Due]| {
            Python::try_attach(|py| {
                let Some(dispatch) = current_dispatch(py, &dispatch) else {
                    return;
                };
                let r = due_batch(py, batch.to_vec()).and_then(|b| dispatch.call1(py, (b,)));
                if let Err(e) = r {
                    e.write_unraisable(py, Some(dispatch.bind(py)));
                }
            })
            // None: the interpreter is finalizing, nothing can be dispatched any more.
            .is_some()
        };
        let runner = &self.runner;
        crate::detached(py, || runner.start(call)).map_err(|e| Error::Thread(e).into())
    }

    /// Stop the engine thread and wait for it (it finishes a dispatch in progress first). Safe
    /// to call twice, or when never started.
    fn stop(&self, py: Python<'_>) {
        let runner = &self.runner;
        crate::detached(py, || runner.stop());
    }

    /// Whether the engine thread is running.
    #[getter]
    fn running(&self, py: Python<'_>) -> bool {
        let runner = &self.runner;
        crate::detached(py, || runner.running())
    }

    /// The longest single wait of the engine thread in seconds, or None when it waits for its
    /// next deadline however far (Linux: a clock watcher wakes it if the wall clock jumps).
    #[staticmethod]
    fn max_wait() -> Option<f64> {
        clock::max_wait().map(|d| d.as_secs_f64())
    }

    /// How many times the engine thread returned from a wait (timeouts and notifications).
    #[getter]
    fn wakeups(&self) -> u64 {
        self.runner.wakeups()
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
        if let Ok(d) = self.dispatch.try_lock() {
            if let Some(d) = d.as_ref() {
                visit.call(d)?;
            }
        }
        Ok(())
    }

    fn __clear__(&self) {
        self.runner.signal_stop();
        let d = lock(&self.dispatch).take();
        drop(d);
    }
}

impl Drop for PyEngine {
    fn drop(&mut self) {
        // The thread ends on its own (without a join: this may run on any thread, attached).
        self.runner.signal_stop();
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyEngine>()?;
    m.add_class::<PyDueBatch>()?;
    let stop_all = wrap_pyfunction!(_stop_engines, m)?;
    m.py()
        .import("atexit")?
        .call_method1("register", (stop_all,))?;
    Ok(())
}

//! `TimerWheel`: integer conversion and GIL handling over the core wheel.
use crate::errors::py_result;
use fastscheduler_core::wheel::TimerWheel as CoreWheel;
use fastscheduler_core::CoreError;
use pyo3::prelude::*;
use pyo3::types::{PyInt, PyList};

/// Polls of wheels at least this large run with the GIL released (when something is due).
const DETACH_MIN_LEN: usize = 16_384;

/// A hierarchical timer wheel of integer ids and integer deadlines (ticks, e.g. milliseconds).
///
/// `TimerWheel(now=0, *, capacity=0)`. Ids and deadlines are ints in `[0, 2**64)`. Inserting an
/// existing id replaces its deadline; a deadline not after the wheel's time is due at the next
/// `poll`. `next_deadline()` is the exact earliest deadline.
#[pyclass(module = "fastscheduler._core", name = "TimerWheel")]
pub struct PyTimerWheel {
    inner: CoreWheel,
}

/// An id, deadline or time: an int in `[0, 2**64)`; other ints raise `OverflowError`.
fn u64_arg(name: &str, value: &Bound<'_, PyAny>) -> PyResult<u64> {
    match value.extract::<u64>() {
        Ok(v) => Ok(v),
        Err(e) if !value.is_instance_of::<PyInt>() => Err(e),
        Err(_) => py_result(Err(CoreError::OutOfRange(format!(
            "{name} must be an int in [0, 2**64), got {value}"
        )))),
    }
}

#[pymethods]
impl PyTimerWheel {
    #[new]
    #[pyo3(signature = (now = None, *, capacity = 0), text_signature = "(now=0, *, capacity=0)")]
    fn new(now: Option<&Bound<'_, PyAny>>, capacity: usize) -> PyResult<Self> {
        let now = match now {
            Some(now) => u64_arg("now", now)?,
            None => 0,
        };
        Ok(PyTimerWheel {
            inner: CoreWheel::with_capacity(now, capacity),
        })
    }

    /// The wheel's time: the `now` it was created with or last polled at.
    #[getter]
    fn now(&self) -> u64 {
        self.inner.now()
    }

    /// Schedule `id` at `deadline`, replacing the deadline of an existing `id`.
    fn insert(&mut self, id: &Bound<'_, PyAny>, deadline: &Bound<'_, PyAny>) -> PyResult<()> {
        let id = u64_arg("id", id)?;
        let deadline = u64_arg("deadline", deadline)?;
        py_result(self.inner.insert(id, deadline))?;
        Ok(())
    }

    /// Unschedule `id`; False if it was not scheduled.
    fn cancel(&mut self, id: &Bound<'_, PyAny>) -> PyResult<bool> {
        Ok(self.inner.cancel(u64_arg("id", id)?))
    }

    /// The deadline of `id`, or None if it is not scheduled.
    fn deadline_of(&self, id: &Bound<'_, PyAny>) -> PyResult<Option<u64>> {
        Ok(self.inner.deadline_of(u64_arg("id", id)?))
    }

    /// The earliest deadline of all timers, or None when the wheel is empty.
    fn next_deadline(&self) -> Option<u64> {
        self.inner.next_deadline()
    }

    /// Remove and return the ids of all timers with deadline <= `now`, in (deadline, id) order;
    /// the wheel's time then moves to `now` (never backwards).
    fn poll<'py>(
        &mut self,
        py: Python<'py>,
        now: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyList>> {
        let now = u64_arg("now", now)?;
        let due = self
            .inner
            .next_deadline()
            .is_some_and(|d| d <= now.max(self.inner.now()));
        let mut out = Vec::new();
        if due && self.inner.len() >= DETACH_MIN_LEN {
            let wheel = &mut self.inner;
            crate::detached(py, || wheel.poll_into(now, &mut out));
        } else {
            self.inner.poll_into(now, &mut out);
        }
        PyList::new(py, out.into_iter().map(|(id, _)| id))
    }

    /// Remove every timer.
    fn clear(&mut self) {
        self.inner.clear();
    }

    fn __len__(&self) -> usize {
        self.inner.len()
    }

    fn __contains__(&self, id: &Bound<'_, PyAny>) -> bool {
        id.extract::<u64>().is_ok_and(|id| self.inner.contains(id))
    }

    fn __repr__(&self) -> String {
        let next = match self.inner.next_deadline() {
            Some(d) => d.to_string(),
            None => "None".to_owned(),
        };
        format!(
            "TimerWheel(now={}, len={}, next_deadline={next})",
            self.inner.now(),
            self.inner.len()
        )
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyTimerWheel>()
}

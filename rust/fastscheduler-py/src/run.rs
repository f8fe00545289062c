//! `RunCall` and `RunDone`: the two callables made for every run, as objects the cycle collector
//! does not track.
//!
//! When 10,000 runs start at once, each waits in the worker queue with its call and its report
//! callback. As `functools.partial`s (GC types) they survived collection after collection and
//! pushed the collector into full passes over every object of the process in the middle of the
//! burst (measured: two full passes, ~75 ms, within the 10,000 starts). These objects hold only
//! references handed to them and are freed by reference counting when the run ends.
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple};

fn untracked<T: pyo3::PyClass + Into<pyo3::PyClassInitializer<T>>>(
    py: Python<'_>,
    value: T,
) -> PyResult<Py<T>> {
    let obj = Py::new(py, value)?;
    // SAFETY: `obj` is a live object of a GC type; untracking an object is always allowed (and
    // untracking it again, as deallocation does, is a no-op).
    unsafe { pyo3::ffi::PyObject_GC_UnTrack(obj.as_ptr().cast()) };
    Ok(obj)
}

/// `func` bound to a run: calling it with `(*args, **kwargs)` calls `func(*args, **kwargs)` with
/// the context variable `var` set to `run` (reset afterwards), which is what
/// `fastscheduler.current_run()` reads. Made by `bind_run`.
#[pyclass(frozen, module = "fastscheduler._core", name = "RunCall")]
pub struct PyRunCall {
    var: Py<PyAny>,
    run: Py<PyAny>,
    func: Py<PyAny>,
}

#[pymethods]
impl PyRunCall {
    #[pyo3(signature = (*args, **kwargs))]
    fn __call__(
        &self,
        py: Python<'_>,
        args: &Bound<'_, PyTuple>,
        kwargs: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Py<PyAny>> {
        let var = self.var.bind(py);
        let token = var.call_method1(pyo3::intern!(py, "set"), (self.run.bind(py),))?;
        let result = self.func.bind(py).call(args, kwargs);
        var.call_method1(pyo3::intern!(py, "reset"), (token,))?;
        Ok(result?.unbind())
    }
}

/// The report callback of a run: calling it with an outcome calls `put((run, outcome))`.
/// Made by `run_done`.
#[pyclass(frozen, module = "fastscheduler._core", name = "RunDone")]
pub struct PyRunDone {
    put: Py<PyAny>,
    run: Py<PyAny>,
}

#[pymethods]
impl PyRunDone {
    fn __call__(&self, py: Python<'_>, outcome: &Bound<'_, PyAny>) -> PyResult<()> {
        let item = PyTuple::new(py, [self.run.bind(py), outcome])?;
        self.put.bind(py).call1((item,))?;
        Ok(())
    }
}

/// `RunCall` of `func` for `run`, with `var` (a `contextvars.ContextVar`) set while it runs.
#[pyfunction]
fn bind_run(
    py: Python<'_>,
    var: Py<PyAny>,
    run: Py<PyAny>,
    func: Py<PyAny>,
) -> PyResult<Py<PyRunCall>> {
    untracked(py, PyRunCall { var, run, func })
}

/// `RunDone` that reports `(run, outcome)` through `put`.
#[pyfunction]
fn run_done(py: Python<'_>, put: Py<PyAny>, run: Py<PyAny>) -> PyResult<Py<PyRunDone>> {
    untracked(py, PyRunDone { put, run })
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyRunCall>()?;
    m.add_class::<PyRunDone>()?;
    m.add_function(wrap_pyfunction!(bind_run, m)?)?;
    m.add_function(wrap_pyfunction!(run_done, m)?)
}

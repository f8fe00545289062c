//! `JobRecord`: the fields of one registered job, as a Python object the cycle collector does not
//! track (PyO3 classes are GC types; `_untrack` takes each record out). The scheduler's `Job` subclasses it (adding no instance storage), so a million registered
//! jobs add nothing to the work of Python's garbage collector, which otherwise dominated the time to
//! register them. The price: a reference cycle running through a job (a job function that holds
//! its own scheduler) is only freed when the job is cancelled, not by the collector.
use pyo3::prelude::*;

/// One registered job's fields (see `fastscheduler.scheduler.Job`).
#[pyclass(subclass, module = "fastscheduler._core", name = "JobRecord")]
pub struct PyJobRecord {
    /// The callable to run.
    #[pyo3(get)]
    func: Py<PyAny>,
    /// Its positional arguments (a tuple).
    #[pyo3(get)]
    args: Py<PyAny>,
    /// Its keyword arguments (a dict).
    #[pyo3(get)]
    kwargs: Py<PyAny>,
    /// The job's `JobSpec`.
    #[pyo3(get)]
    spec: Py<PyAny>,
    /// Whether `func` is a coroutine function.
    #[pyo3(get)]
    is_async: bool,
    /// The id series this job numbers into, or None for an explicit id.
    #[pyo3(get)]
    series: Py<PyAny>,
    /// The job's number in its series (1 for the first).
    #[pyo3(get)]
    n: u32,
    /// The explicit id, or None.
    #[pyo3(get, name = "_id")]
    id: Py<PyAny>,
    /// The engine key, or None while not in the engine.
    #[pyo3(get, set)]
    key: Option<u64>,
    /// Run state, or None until the job first runs.
    #[pyo3(get, set, name = "_run")]
    run: Py<PyAny>,
}

#[pymethods]
impl PyJobRecord {
    #[new]
    #[allow(clippy::too_many_arguments)]
    #[pyo3(signature = (func, args, kwargs, spec, is_async, series, n, job_id))]
    fn new(
        py: Python<'_>,
        func: Py<PyAny>,
        args: Py<PyAny>,
        kwargs: Py<PyAny>,
        spec: Py<PyAny>,
        is_async: bool,
        series: Py<PyAny>,
        n: u32,
        job_id: Py<PyAny>,
    ) -> Self {
        PyJobRecord {
            func,
            args,
            kwargs,
            spec,
            is_async,
            series,
            n,
            id: job_id,
            key: None,
            run: py.None(),
        }
    }

    /// Take this object out of the cycle collector's lists (see the module documentation). Call
    /// once, right after construction.
    fn _untrack(slf: &Bound<'_, Self>) {
        // SAFETY: `slf` is a live object of a GC type; untracking an object is always allowed
        // (and untracking it again, as deallocation does, is a no-op).
        unsafe { pyo3::ffi::PyObject_GC_UnTrack(slf.as_ptr().cast()) }
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyJobRecord>()
}

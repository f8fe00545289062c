//! `Run`: one attempt of a job, from the moment the scheduler starts it until its outcome is
//! recorded. It is what the executors receive (`call`, `execute`, `report`), what
//! `fastscheduler.current_run()` reads while the job's code runs, and what the finisher gets back
//! with the outcome.
//!
//! One object per run, made by `Job.start_run` and not tracked by the cycle collector: when
//! 10,000 runs start at once, each waits in the worker queue, and GC-tracked per-run objects
//! (closures, `functools.partial`s) survived collection after collection and pushed the collector
//! into full passes over every object of the process in the middle of the burst (measured: two
//! full passes, ~75 ms). A sync run executes entirely here (`execute`): set the context variable,
//! call the function, time it, build the outcome and report it, with no Python frame of ours.
use crate::errors::Error;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{IntoPyDict, PyBool, PyDict, PyTuple};

/// An untracked instance of a pyclass: for objects that hold only references handed to them and
/// are freed by reference counting.
pub(crate) fn untracked<T: pyo3::PyClass + Into<pyo3::PyClassInitializer<T>>>(
    py: Python<'_>,
    value: T,
) -> PyResult<Py<T>> {
    let obj = Py::new(py, value)?;
    // SAFETY: `obj` is a live object of a GC type; untracking an object is always allowed (and
    // untracking it again, as deallocation does, is a no-op).
    unsafe { pyo3::ffi::PyObject_GC_UnTrack(obj.as_ptr().cast()) };
    Ok(obj)
}

/// The context variable `current_run()` reads, with its `set` and `reset` methods bound once.
struct RunVar {
    var: Py<PyAny>,
    set: Py<PyAny>,
    reset: Py<PyAny>,
}

static RUN_VAR: PyOnceLock<RunVar> = PyOnceLock::new();

fn run_var(py: Python<'_>) -> PyResult<&RunVar> {
    RUN_VAR.get_or_try_init(py, || {
        let var = py.import("contextvars")?.getattr("ContextVar")?.call(
            ("fastscheduler_run",),
            Some(&[("default", py.None())].into_py_dict(py)?),
        )?;
        Ok(RunVar {
            set: var.getattr("set")?.unbind(),
            reset: var.getattr("reset")?.unbind(),
            var: var.unbind(),
        })
    })
}

/// `tuple.__new__` and `fastscheduler.executors.base.RunOutcome`: an outcome is made as the
/// tuple it is, without the named tuple's Python-level `__new__`.
static OUTCOME: PyOnceLock<(Py<PyAny>, Py<PyAny>)> = PyOnceLock::new();

fn new_outcome<'py>(
    py: Python<'py>,
    started: Bound<'py, PyAny>,
    finished: Bound<'py, PyAny>,
    error: Option<Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    let (tuple_new, cls) = OUTCOME.get_or_try_init(py, || -> PyResult<_> {
        let tuple_new = py
            .import("builtins")?
            .getattr("tuple")?
            .getattr("__new__")?;
        let cls = py
            .import("fastscheduler.executors.base")?
            .getattr("RunOutcome")?;
        Ok((tuple_new.unbind(), cls.unbind()))
    })?;
    let ok = error.is_none();
    let error = error.unwrap_or_else(|| py.None().into_bound(py));
    let fields = PyTuple::new(
        py,
        [
            started,
            finished,
            error,
            PyBool::new(py, false).to_owned().into_any(),
        ],
    )?;
    let outcome = tuple_new.bind(py).call1((cls.bind(py), fields))?;
    if ok {
        untrack(&outcome);
    }
    Ok(outcome)
}

/// Take a tuple that only refers to values which cannot hold it (floats, None, a bool; a `Run`,
/// itself untracked, and such an outcome) out of the cycle collector. The collector would do so
/// at its first pass over it; but 100,000 outcomes waiting for the finisher, still tracked, made
/// the collector's passes during a burst of runs long and frequent (three full passes a second
/// with 100,000 jobs every second, 10-60 ms each, while runs were being started).
pub(crate) fn untrack(obj: &Bound<'_, PyAny>) {
    if tracked(obj) {
        // SAFETY: `obj` is a live object tracked by the collector (so a GC object); untracking
        // one is always allowed.
        unsafe { pyo3::ffi::PyObject_GC_UnTrack(obj.as_ptr().cast()) };
    }
}

/// Whether the cycle collector tracks `obj` (false for objects of non-GC types).
pub(crate) fn tracked(obj: &Bound<'_, PyAny>) -> bool {
    // SAFETY: `obj` is a live object; the function accepts any object.
    unsafe { pyo3::ffi::PyObject_GC_IsTracked(obj.as_ptr()) == 1 }
}

/// `fastscheduler._context._call_async`: the coroutine an async run awaits (it sets the context
/// variable inside the task that runs it).
static CALL_ASYNC: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

/// One attempt of a job: which job, which fire (`scheduled`), which attempt, the instance running
/// it (None outside a cluster), when its first attempt started, its cluster claim (or None), and
/// the job's timeout as it was when the run started.
#[pyclass(frozen, module = "fastscheduler._core", name = "Run")]
pub struct PyRun {
    /// The `Job`.
    #[pyo3(get)]
    job: Py<PyAny>,
    /// The fire this run belongs to (epoch seconds; the request time for a run-now).
    #[pyo3(get)]
    scheduled: f64,
    /// 1, then 2, 3 ... for retries.
    #[pyo3(get)]
    attempt: u32,
    /// The scheduler instance running it, None outside a cluster.
    #[pyo3(get)]
    instance_id: Py<PyAny>,
    /// When the first attempt of this fire started (epoch seconds).
    #[pyo3(get)]
    first_attempt_at: f64,
    /// The cluster's claim of the fire, or None.
    #[pyo3(get)]
    claim: Py<PyAny>,
    /// Seconds, or None.
    #[pyo3(get)]
    timeout: Py<PyAny>,
    /// Whether the job's function is a coroutine function.
    #[pyo3(get)]
    is_async: bool,
    func: Py<PyAny>,
    /// A tuple.
    args: Py<PyAny>,
    /// A dict, or None for none.
    kwargs: Option<Py<PyAny>>,
    /// Reports `(run, outcome)` to the finisher.
    put: Py<PyAny>,
}

/// What `Job.start_run` passes to `PyRun::create` (the job's own parts, then the run's).
pub(crate) struct RunParts {
    pub job: Py<PyAny>,
    pub func: Py<PyAny>,
    pub args: Py<PyAny>,
    pub kwargs: Option<Py<PyAny>>,
    pub is_async: bool,
    pub timeout: Py<PyAny>,
    pub put: Py<PyAny>,
    pub scheduled: f64,
    pub attempt: u32,
    pub instance_id: Py<PyAny>,
    pub first_attempt_at: f64,
    pub claim: Py<PyAny>,
}

impl PyRun {
    pub(crate) fn create(py: Python<'_>, p: RunParts) -> PyResult<Py<PyRun>> {
        untracked(
            py,
            PyRun {
                job: p.job,
                scheduled: p.scheduled,
                attempt: p.attempt,
                instance_id: p.instance_id,
                first_attempt_at: p.first_attempt_at,
                claim: p.claim,
                timeout: p.timeout,
                is_async: p.is_async,
                func: p.func,
                args: p.args,
                kwargs: p.kwargs,
                put: p.put,
            },
        )
    }

    /// The sync call: `func(*args, **kwargs)` with the context variable set to this run, reset
    /// afterwards whether it returned or raised.
    fn call_sync<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        let py = slf.py();
        let this = slf.get();
        let var = run_var(py)?;
        let token = var.set.bind(py).call1((slf,))?;
        let args = this.args.bind(py).cast::<PyTuple>()?;
        let kwargs = match &this.kwargs {
            Some(kwargs) => Some(kwargs.bind(py).cast::<PyDict>()?),
            None => None,
        };
        let result = this.func.bind(py).call(args, kwargs);
        var.reset.bind(py).call1((token,))?;
        result
    }
}

#[pymethods]
impl PyRun {
    /// Call the job's function for this run: for a sync job, its result (exceptions propagate);
    /// for an async one, the coroutine to await. `current_run()` describes this run meanwhile.
    fn call<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        let py = slf.py();
        if slf.get().is_async {
            let call_async = CALL_ASYNC.get_or_try_init(py, || -> PyResult<_> {
                Ok(py
                    .import("fastscheduler._context")?
                    .getattr("_call_async")?
                    .unbind())
            })?;
            return call_async.bind(py).call1((slf,));
        }
        Self::call_sync(slf)
    }

    /// Run a sync job and report how it ended: `clock()` before and after, any exception it
    /// raised (`BaseException` included) as the outcome's error, the outcome to `report` when
    /// given, else to the finisher. Never raises for the job's own exceptions.
    #[pyo3(signature = (clock, report = None))]
    fn execute(
        slf: &Bound<'_, Self>,
        clock: &Bound<'_, PyAny>,
        report: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        let py = slf.py();
        if slf.get().is_async {
            return Err(Error::WrongType(
                "Run.execute runs sync jobs; await run.call() for an async one",
            )
            .into());
        }
        let started = clock.call0()?;
        let error = Self::call_sync(slf)
            .err()
            .map(|err| err.into_value(py).into_bound(py).into_any());
        let finished = clock.call0()?;
        let outcome = new_outcome(py, started, finished, error)?;
        match report {
            Some(report) => report.call1((outcome,)).map(drop),
            None => Self::report(slf, &outcome),
        }
    }

    /// Hand the outcome of this run to the scheduler (once per run).
    fn report(slf: &Bound<'_, Self>, outcome: &Bound<'_, PyAny>) -> PyResult<()> {
        let py = slf.py();
        let item = PyTuple::new(py, [slf.as_any(), outcome])?;
        if !tracked(outcome) {
            untrack(item.as_any()); // an untracked run and an outcome of plain values
        }
        slf.get().put.bind(py).call1((item,))?;
        Ok(())
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        let job = self.job.bind(py).getattr(intern!(py, "job_id"))?.repr()?;
        Ok(format!(
            "<Run {job} scheduled={} attempt={}>",
            self.scheduled, self.attempt
        ))
    }
}

/// `obj`, taken out of the cycle collector: for a record of plain values (a history entry:
/// strings, numbers, None) kept by the thousand. A record the collector tracks survives its
/// young passes and is walked again by every full pass; 100,000 of them a second (one per run)
/// made a full pass land in the next burst of runs.
#[pyfunction]
fn untracked_record(obj: Bound<'_, PyAny>) -> Bound<'_, PyAny> {
    untrack(&obj);
    obj
}

/// The context variable `current_run()` reads: the `Run` being executed, or None.
#[pyfunction]
fn run_context_var(py: Python<'_>) -> PyResult<Py<PyAny>> {
    Ok(run_var(py)?.var.clone_ref(py))
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyRun>()?;
    m.add_function(wrap_pyfunction!(untracked_record, m)?)?;
    m.add_function(wrap_pyfunction!(run_context_var, m)?)
}

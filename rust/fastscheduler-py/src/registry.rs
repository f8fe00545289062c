//! `Job`, `RunState` and `Registry`: every registered job, by id, kept small for a million jobs.
//!
//! Ids are `module.qualname:schedule` (control characters as `?`) for the first registration of
//! a function on a schedule and `...#2`, `...#3` for the next ones (registration order), unless
//! `.id()` gave one. A job of such a series stores its series' base id and its number, not its id
//! text; the id is spelled out when someone reads it. Registering many jobs of one function on
//! one builder (`.do(f, i)` in a loop) takes the fast path: the last (function, spec) pair is
//! remembered, so such a registration is a pointer comparison, one `Job` object and one push.
//!
//! `Job` objects are taken out of Python's cycle collector (PyO3 classes are GC types): with a
//! million jobs the collector otherwise took more time than registering them. The price: a
//! reference cycle running through a job (a job function that holds its own scheduler) is only
//! freed when the job is cancelled, not by the collector.
//!
//! Threading: each method reads or changes the registry in one step that runs no Python code, so
//! the GIL makes it atomic (see `Registry`); the scheduler still calls `add`, `remove` and the
//! readers under its own lock, and builders call `try_add` without it.
use pyo3::exceptions::PyTypeError;
use pyo3::gc::PyVisit;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyString, PyTuple};
use pyo3::PyTraverseError;
use std::collections::HashMap;

use crate::errors::Error;
use crate::run::{PyRun, RunParts};

/// The part of a job that only exists once it has run (most registered jobs never need it).
#[pyclass(module = "fastscheduler._core", name = "RunState")]
pub struct PyRunState {
    /// Runs of the job in progress on this instance.
    #[pyo3(get, set)]
    running: i64,
    /// When the last run ended (epoch seconds), or None.
    #[pyo3(get, set)]
    last_run: Option<f64>,
    /// A one-shot job that has run.
    #[pyo3(get, set)]
    finished: bool,
    /// Paused before it was put into the engine (the engine owns the flag from then on).
    #[pyo3(get, set)]
    paused: bool,
    /// The last outcomes (status values), oldest first.
    #[pyo3(get, set)]
    recent: Py<PyTuple>,
}

#[pymethods]
impl PyRunState {
    #[new]
    fn new(py: Python<'_>) -> Self {
        PyRunState {
            running: 0,
            last_run: None,
            finished: false,
            paused: false,
            recent: PyTuple::empty(py).unbind(),
        }
    }

    /// Add an outcome (a status value) to `recent`, which keeps the last five. The new tuple is
    /// not tracked by the cycle collector when it holds strings only: one per run, each living
    /// until the job's next run, they were the young generation's bulk when the next burst of
    /// runs began (100,000 with 100,000 jobs every second), and the collector's first pass of
    /// the burst walked them all.
    fn add_recent(&mut self, py: Python<'_>, status: Bound<'_, PyAny>) -> PyResult<()> {
        let old = self.recent.bind(py);
        let keep = old.len().saturating_sub(RECENT - 1);
        let items: Vec<Bound<'_, PyAny>> = old.iter().skip(keep).chain([status]).collect();
        let plain = items.iter().all(|i| i.is_exact_instance_of::<PyString>());
        let recent = PyTuple::new(py, items)?;
        if plain {
            crate::run::untrack(recent.as_any());
        }
        self.recent = recent.unbind();
        Ok(())
    }
}

/// How many outcomes `RunState.recent` keeps.
const RECENT: usize = 5;

/// `base#n`, the id of job `n` (>= 2) of a series (without `format!`: a million ids are
/// spelled out while registering).
fn numbered(base: &str, n: usize) -> String {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    let mut rest = n;
    loop {
        i -= 1;
        digits[i] = b'0' + (rest % 10) as u8;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    let mut text = String::with_capacity(base.len() + 1 + digits.len() - i);
    text.push_str(base);
    text.push('#');
    text.push_str(std::str::from_utf8(&digits[i..]).unwrap_or_default()); // ASCII digits
    text
}

/// No series: the job has an explicit id.
const NO_SERIES: u32 = u32::MAX;

/// A registered job. Its counters, pause flag and next fire time live in the Rust engine, under
/// `key`; schedule and options are a `JobSpec` shared by every job built from one builder.
#[pyclass(module = "fastscheduler._core", name = "Job")]
pub struct PyJob {
    /// The callable to run.
    #[pyo3(get)]
    func: Py<PyAny>,
    /// Its positional arguments (a tuple).
    #[pyo3(get)]
    args: Py<PyAny>,
    /// Its keyword arguments; None for none (a million `.do(f, i)` keep no empty dict each).
    kwargs: Option<Py<PyAny>>,
    /// The job's `JobSpec`.
    #[pyo3(get)]
    spec: Py<PyAny>,
    /// The base id of its series (None for an explicit id).
    base: Option<Py<PyString>>,
    /// The explicit id, or None.
    #[pyo3(get, name = "_id")]
    id: Option<Py<PyString>>,
    /// Run state, None until the job first runs.
    run: Option<Py<PyRunState>>,
    /// The engine key, or None while not in the engine.
    #[pyo3(get, set)]
    key: Option<u64>,
    /// Index of its series in the registry (`NO_SERIES` for an explicit id).
    series: u32,
    /// The job's number in its series (1 for the first; 0 for an explicit id).
    #[pyo3(get)]
    n: u32,
    /// Whether `func` is a coroutine function.
    #[pyo3(get)]
    is_async: bool,
}

impl PyJob {
    fn id_text(&self, py: Python<'_>) -> PyResult<Py<PyString>> {
        if let Some(id) = &self.id {
            return Ok(id.clone_ref(py));
        }
        let base = self
            .base
            .as_ref()
            .expect("a job without an explicit id has a series");
        if self.n == 1 {
            return Ok(base.clone_ref(py));
        }
        let text = numbered(base.bind(py).to_str()?, self.n as usize);
        Ok(PyString::new(py, &text).unbind())
    }

    /// `(func, args, kwargs, spec)` of this job, for the JSON journal's job lines.
    #[allow(clippy::type_complexity)]
    pub(crate) fn record_parts(&self) -> (&Py<PyAny>, &Py<PyAny>, Option<&Py<PyAny>>, &Py<PyAny>) {
        (&self.func, &self.args, self.kwargs.as_ref(), &self.spec)
    }

    /// Whether the job is in the engine or has a run state (then Python arms it).
    pub(crate) fn armed_or_run(&self) -> bool {
        self.key.is_some() || self.run.is_some()
    }

    /// The job's `JobSpec`.
    pub(crate) fn spec_object(&self) -> &Py<PyAny> {
        &self.spec
    }

    /// Restore a stored job's last run and (when a record gave them) recent outcomes.
    pub(crate) fn restore_run(
        &mut self,
        py: Python<'_>,
        last_run: Option<f64>,
        recent: Option<Bound<'_, PyTuple>>,
    ) -> PyResult<()> {
        let run = self.run_state(py)?;
        let mut run = run.borrow_mut(py);
        run.last_run = last_run;
        if let Some(recent) = recent {
            run.recent = recent.unbind();
        }
        Ok(())
    }

    /// The job's id as a Rust string (an error for a text that is not valid Unicode).
    pub(crate) fn journal_id(&self, py: Python<'_>) -> PyResult<String> {
        Ok(match (&self.id, &self.base) {
            (Some(id), _) => id.bind(py).to_str()?.to_owned(),
            (None, Some(base)) if self.n == 1 => base.bind(py).to_str()?.to_owned(),
            (None, Some(base)) => numbered(base.bind(py).to_str()?, self.n as usize),
            (None, None) => String::new(),
        })
    }

    /// What the JSON journal's state line needs of this job (`journal::encode_job_states`).
    pub(crate) fn journal_fields(&self, py: Python<'_>) -> PyResult<crate::journal::JobFields> {
        let id = self.journal_id(py)?;
        let mut fields = crate::journal::JobFields {
            id,
            key: self.key,
            last_run: None,
            finished: false,
            paused: false,
            recent: Vec::new(),
        };
        if let Some(run) = &self.run {
            let run = run.borrow(py);
            fields.last_run = run.last_run;
            fields.finished = run.finished;
            fields.paused = run.paused;
            for status in run.recent.bind(py).iter() {
                fields.recent.push(status.extract::<String>()?);
            }
        }
        Ok(fields)
    }

    fn func_name_of<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let func = self.func.bind(py);
        if let Ok(name) = func.getattr(intern!(py, "__name__")) {
            if name.is_truthy()? {
                return Ok(name);
            }
        }
        Ok(func.repr()?.into_any())
    }
}

#[pymethods]
impl PyJob {
    /// The job id (explicit, or derived from the function, the schedule and the job's number).
    #[getter]
    fn job_id(&self, py: Python<'_>) -> PyResult<Py<PyString>> {
        self.id_text(py)
    }

    /// The function's `__name__` (its repr when it has none).
    #[getter]
    fn func_name<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.func_name_of(py)
    }

    /// `.name()` if given, else the function's name.
    #[getter]
    fn name<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let name = self.spec.bind(py).getattr(intern!(py, "name"))?;
        if name.is_truthy()? {
            return Ok(name);
        }
        self.func_name_of(py)
    }

    /// Its keyword arguments (a dict; a new empty one for a job that has none).
    #[getter]
    fn kwargs(&self, py: Python<'_>) -> Py<PyAny> {
        match &self.kwargs {
            Some(kwargs) => kwargs.clone_ref(py),
            None => PyDict::new(py).into_any().unbind(),
        }
    }

    /// Runs in progress (`run.running` without making a run state for a job that never ran).
    #[getter]
    fn running(&self, py: Python<'_>) -> i64 {
        self.run.as_ref().map_or(0, |run| run.borrow(py).running)
    }

    /// A one-shot job that has run (`run.finished` without making a run state).
    #[getter]
    fn finished(&self, py: Python<'_>) -> bool {
        self.run.as_ref().is_some_and(|run| run.borrow(py).finished)
    }

    /// Whether the job has its own run state yet (see `run_state`).
    #[getter]
    fn has_run_state(&self) -> bool {
        self.run.is_some()
    }

    /// Run state: the job's own once it has one (see `run_state`), else a fresh all-zero one
    /// that belongs to nobody (changing it changes nothing).
    #[getter]
    fn run(&self, py: Python<'_>) -> PyResult<Py<PyRunState>> {
        match &self.run {
            Some(run) => Ok(run.clone_ref(py)),
            None => Py::new(py, PyRunState::new(py)),
        }
    }

    /// This job's own run state, created on first use (to be changed).
    fn run_state(&mut self, py: Python<'_>) -> PyResult<Py<PyRunState>> {
        if let Some(run) = &self.run {
            return Ok(run.clone_ref(py));
        }
        // Untracked like the job: it holds a tuple of strings, never a cycle, and 10,000 jobs
        // running for the first time at once would otherwise feed the collector 10,000 objects.
        let run = Py::new(py, PyRunState::new(py))?;
        // SAFETY: a live object of a GC type; untracking is always allowed.
        unsafe { pyo3::ffi::PyObject_GC_UnTrack(run.as_ptr().cast()) };
        self.run = Some(run.clone_ref(py));
        Ok(run)
    }

    /// Start a run of this job: count it as running (`run_state().running += 1`) and return its
    /// `Run`, which reports `(run, outcome)` through `put` when it ends.
    #[allow(clippy::too_many_arguments)]
    fn start_run(
        slf: &Bound<'_, Self>,
        put: Py<PyAny>,
        scheduled: f64,
        attempt: u32,
        instance_id: Py<PyAny>,
        first_attempt_at: f64,
        claim: Py<PyAny>,
    ) -> PyResult<Py<PyRun>> {
        let py = slf.py();
        let spec = slf.borrow().spec.clone_ref(py);
        let timeout = spec.bind(py).getattr(intern!(py, "timeout"))?.unbind();
        let state = slf.borrow_mut().run_state(py)?;
        state.borrow_mut(py).running += 1;
        let this = slf.borrow();
        let parts = RunParts {
            job: slf.clone().into_any().unbind(),
            func: this.func.clone_ref(py),
            args: this.args.clone_ref(py),
            kwargs: this.kwargs.as_ref().map(|k| k.clone_ref(py)),
            is_async: this.is_async,
            timeout,
            put,
            scheduled,
            attempt,
            instance_id,
            first_attempt_at,
            claim,
        };
        drop(this);
        PyRun::create(py, parts)
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        let id = self.id_text(py)?.bind(py).repr()?.to_string();
        let schedule = self
            .spec
            .bind(py)
            .getattr(intern!(py, "schedule"))?
            .repr()?
            .to_string();
        Ok(format!("<Job {id} {schedule}>"))
    }
}

/// Registrations of one function on one schedule: they number their ids.
struct Series {
    base: Py<PyString>,
    /// Job n is `jobs[n - 1]`; None once cancelled (or where an explicit id took the number).
    jobs: Vec<Option<Py<PyJob>>>,
}

/// The last (function, spec) registered into a series: the next registration of the same pair
/// needs no lookup.
struct LastPair {
    func: Py<PyAny>,
    spec: Py<PyAny>,
    series: u32,
    is_async: bool,
}

/// Where a new job goes: a series (numbered there) or an explicit id.
enum Place {
    Series(u32),
    Named(Py<PyString>),
}

/// Jobs by id. `Registry(is_async)`: `is_async(func)` tells whether calling `func` returns a
/// coroutine (asked once per function).
///
/// Threading: every method changes or reads the registry in one step that runs no Python code
/// (Python calls — `is_async`, attribute reads, hashing a callable, allocations that may start the
/// cycle collector — happen before or after), so the GIL makes each step atomic and `try_add`
/// needs no lock of the caller's.
#[pyclass(module = "fastscheduler._core", name = "Registry")]
pub struct PyRegistry {
    is_async: Py<PyAny>,
    /// Jobs with ids given by `.id()`, in registration order (a dict: str -> Job).
    named: Py<PyDict>,
    /// Series in creation order, and by base id.
    series: Vec<Series>,
    by_base: HashMap<String, u32>,
    /// `(func, schedule_key)` -> `(base id, is_async)`; only touched outside borrows.
    by_func: Py<PyDict>,
    last: Option<LastPair>,
    len: usize,
    /// Set by the scheduler while registering a job needs nothing but the registry (it is not
    /// running, nobody listens to its events): only then does `try_add` register.
    #[pyo3(get, set)]
    quiet: bool,
}

impl PyRegistry {
    /// The job with this id, or None.
    fn lookup(&self, py: Python<'_>, job_id: &str) -> PyResult<Option<Py<PyJob>>> {
        if let Some(job) = self.named.bind(py).get_item(job_id)? {
            return Ok(Some(job.cast_into::<PyJob>()?.unbind()));
        }
        let (series, n) = match self.by_base.get(job_id) {
            Some(&series) => (series, 1),
            None => {
                let Some((base, number)) = job_id.rsplit_once('#') else {
                    return Ok(None);
                };
                if number.is_empty()
                    || number.starts_with('0')
                    || !number.bytes().all(|b| b.is_ascii_digit())
                {
                    return Ok(None);
                }
                let (Some(&series), Ok(n)) = (self.by_base.get(base), number.parse::<usize>())
                else {
                    return Ok(None);
                };
                if n < 2 {
                    return Ok(None);
                }
                (series, n)
            }
        };
        let jobs = &self.series[series as usize].jobs;
        Ok(jobs
            .get(n - 1)
            .and_then(|j| j.as_ref().map(|j| j.clone_ref(py))))
    }

    /// The series with base id `base`, created on first use.
    fn series_index(&mut self, py: Python<'_>, base: &str) -> PyResult<u32> {
        if let Some(&series) = self.by_base.get(base) {
            return Ok(series);
        }
        let series = u32::try_from(self.series.len())
            .ok()
            .filter(|&s| s != NO_SERIES)
            .ok_or(Error::TooMany("job series"))?;
        self.series.push(Series {
            base: PyString::new(py, base).unbind(),
            jobs: Vec::new(),
        });
        self.by_base.insert(base.to_owned(), series);
        Ok(series)
    }

    /// Where a job of `func` on `spec` goes and whether `func` is async. Runs Python code (attribute
    /// reads, hashing, `is_async`), so it is called with no borrow held.
    fn place(
        slf: &Bound<'_, Self>,
        func: &Bound<'_, PyAny>,
        spec: &Bound<'_, PyAny>,
    ) -> PyResult<(Place, bool)> {
        let py = slf.py();
        {
            let this = slf.borrow();
            if let Some(last) = &this.last {
                if last.func.as_ptr() == func.as_ptr() && last.spec.as_ptr() == spec.as_ptr() {
                    return Ok((Place::Series(last.series), last.is_async));
                }
            }
        }
        let (is_async_fn, by_func) = {
            let this = slf.borrow();
            (this.is_async.clone_ref(py), this.by_func.clone_ref(py))
        };
        let job_id = spec.getattr(intern!(py, "job_id"))?;
        if !job_id.is_none() {
            let id = job_id
                .cast_into::<PyString>()
                .map_err(|_| Error::WrongType("JobSpec.job_id must be a string or None"))?;
            let is_async = is_async_fn.bind(py).call1((func,))?.is_truthy()?;
            return Ok((Place::Named(id.unbind()), is_async));
        }
        let key = spec.getattr(intern!(py, "schedule_key"))?;
        let by_func = by_func.bind(py);
        let pair = PyTuple::new(py, [func, &key])?;
        // An unhashable callable is simply not cached.
        let (cached, cacheable) = match by_func.get_item(&pair) {
            Ok(Some(hit)) => (Some(hit.extract::<(String, bool)>()?), false),
            Ok(None) => (None, true),
            Err(e) if e.is_instance_of::<PyTypeError>(py) => (None, false),
            Err(e) => return Err(e),
        };
        let (base, is_async) = match cached {
            Some(hit) => hit,
            None => {
                let module =
                    text_attr(func, intern!(py, "__module__"))?.unwrap_or_else(|| "?".into());
                let qualname = match text_attr(func, intern!(py, "__qualname__"))? {
                    Some(q) => q,
                    None => match text_attr(func, intern!(py, "__name__"))? {
                        Some(n) => n,
                        None => func.repr()?.to_str()?.to_owned(),
                    },
                };
                // Control characters (which `id()` refuses) as `?`: ids appear in logs, and a
                // NUL would be cut by SQLite's JSON functions.
                let base: String = format!("{module}.{qualname}:{}", key.str()?.to_str()?)
                    .chars()
                    .map(|c| if c < ' ' || c == '\x7f' { '?' } else { c })
                    .collect();
                let is_async = is_async_fn.bind(py).call1((func,))?.is_truthy()?;
                (base, is_async)
            }
        };
        if cacheable {
            by_func.set_item(&pair, (&base, is_async))?;
        }
        let mut this = slf.borrow_mut();
        let series = this.series_index(py, &base)?;
        this.last = Some(LastPair {
            func: func.clone().unbind(),
            spec: spec.clone().unbind(),
            series,
            is_async,
        });
        Ok((Place::Series(series), is_async))
    }

    /// Register a job (see `add`); with `only_quiet`, None instead unless the registry is quiet.
    fn insert(
        slf: &Bound<'_, Self>,
        func: &Bound<'_, PyAny>,
        args: &Bound<'_, PyAny>,
        kwargs: &Bound<'_, PyAny>,
        spec: &Bound<'_, PyAny>,
        only_quiet: bool,
    ) -> PyResult<Option<Py<PyJob>>> {
        let py = slf.py();
        if only_quiet && !slf.borrow().quiet {
            return Ok(None);
        }
        if !func.is_callable() {
            return Err(Error::NotCallable {
                what: "a job",
                got: func.repr()?.to_string(),
            }
            .into());
        }
        let kwargs = if kwargs.is_truthy()? {
            Some(kwargs.clone().unbind())
        } else {
            None
        };
        let (place, is_async) = Self::place(slf, func, spec)?;
        let (base, id, series) = match &place {
            Place::Series(series) => {
                let base = slf.borrow().series[*series as usize].base.clone_ref(py);
                (Some(base), None, *series)
            }
            Place::Named(id) => (None, Some(id.clone_ref(py)), NO_SERIES),
        };
        // Allocated before the registry is borrowed: allocating may run the cycle collector.
        let job = Py::new(
            py,
            PyJob {
                func: func.clone().unbind(),
                args: args.clone().unbind(),
                kwargs,
                spec: spec.clone().unbind(),
                base,
                id,
                run: None,
                key: None,
                series,
                n: 0,
                is_async,
            },
        )?;
        // SAFETY: `job` is a live object of a GC type; untracking an object is always allowed
        // (and untracking it again, as deallocation does, is a no-op).
        unsafe { pyo3::ffi::PyObject_GC_UnTrack(job.as_ptr().cast()) };
        let added = Self::link(slf, &job, place, only_quiet);
        if matches!(added, Ok(true)) {
            untrack_value(spec);
        }
        // On refusal `job` is dropped here, after the borrow ended (dropping it may run Python code).
        Ok(added?.then_some(job))
    }

    /// Put `job` into the registry in one step that runs no Python code. False when
    /// `only_quiet` and the registry is not quiet any more.
    fn link(
        slf: &Bound<'_, Self>,
        job: &Py<PyJob>,
        place: Place,
        only_quiet: bool,
    ) -> PyResult<bool> {
        let py = slf.py();
        let mut this = slf.borrow_mut();
        if only_quiet && !this.quiet {
            return Ok(false); // not quiet any more (the collector ran Python code): the caller's path
        }
        match place {
            Place::Named(id) => {
                if this.lookup(py, id.bind(py).to_str()?)?.is_some() {
                    return Err(Error::DuplicateId(id.bind(py).repr()?.to_string()).into());
                }
                this.named.bind(py).set_item(id, job)?;
            }
            Place::Series(series) => {
                let this = &mut *this;
                let named = this.named.bind(py);
                let s = &mut this.series[series as usize];
                let mut n = s.jobs.len() + 1;
                if !named.is_empty() {
                    // An explicit id may have taken a number of this series: skip it.
                    let base = s.base.bind(py).to_str()?;
                    while named.contains(if n == 1 {
                        base.to_owned()
                    } else {
                        numbered(base, n)
                    })? {
                        s.jobs.push(None);
                        n += 1;
                    }
                }
                job.bind(py).borrow_mut().n =
                    u32::try_from(n).map_err(|_| Error::TooMany("jobs in one series"))?;
                s.jobs.push(Some(job.clone_ref(py)));
            }
        }
        this.len += 1;
        Ok(true)
    }
}

/// Take a registered job's `JobSpec` out of the cycle collector too. A spec is a plain value
/// (strings, numbers, booleans, None), so it can never be part of a cycle; `once()` and `at()` make
/// one per job, and 10,000 of them still tracked made the collector's first full pass land in the
/// middle of those jobs' simultaneous start (measured: 25-29 ms at T + 13-24 ms).
fn untrack_value(spec: &Bound<'_, PyAny>) {
    // SAFETY: `spec` is a live object; `PyObject_GC_IsTracked` is 0 for objects that are not GC
    // types or not tracked, and untracking a tracked GC object is always allowed.
    unsafe {
        if pyo3::ffi::PyObject_GC_IsTracked(spec.as_ptr()) != 0 {
            pyo3::ffi::PyObject_GC_UnTrack(spec.as_ptr().cast());
        }
    }
}

/// `getattr(obj, name)` as text when it is a non-empty string, else None.
fn text_attr(obj: &Bound<'_, PyAny>, name: &Bound<'_, PyString>) -> PyResult<Option<String>> {
    match obj.getattr(name) {
        Ok(v) => match v.cast_into::<PyString>() {
            Ok(s) => {
                let s = s.to_str()?;
                Ok((!s.is_empty()).then(|| s.to_owned()))
            }
            Err(_) => Ok(None),
        },
        Err(_) => Ok(None),
    }
}

#[pymethods]
impl PyRegistry {
    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        visit.call(&self.is_async)?;
        visit.call(&self.named)?;
        visit.call(&self.by_func)?;
        if let Some(last) = &self.last {
            visit.call(&last.func)?;
            visit.call(&last.spec)?;
        }
        Ok(())
    }

    fn __clear__(&mut self) {
        // Break cycles through the registry (a job function holding its scheduler): drop the
        // remembered pair, the jobs and the dicts' contents; the registry is unusable afterwards.
        self.last = None;
        self.series.clear();
        self.by_base.clear();
        Python::attach(|py| {
            self.named.bind(py).clear();
            self.by_func.bind(py).clear();
        });
    }

    #[new]
    fn new(py: Python<'_>, is_async: Py<PyAny>) -> Self {
        PyRegistry {
            is_async,
            named: PyDict::new(py).unbind(),
            series: Vec::new(),
            by_base: HashMap::new(),
            by_func: PyDict::new(py).unbind(),
            last: None,
            len: 0,
            quiet: false,
        }
    }

    fn __len__(&self) -> usize {
        self.len
    }

    /// Every job: named ones, then each series in creation order, each in registration order
    /// (a snapshot).
    fn __iter__<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        let py = slf.py();
        let named = slf.borrow().named.clone_ref(py);
        let named = named.bind(py).values(); // allocates: outside the borrow
        let all: Vec<Py<PyAny>> = {
            let this = slf.borrow();
            let mut all: Vec<Py<PyAny>> = named.iter().map(Bound::unbind).collect();
            for series in &this.series {
                all.extend(
                    series
                        .jobs
                        .iter()
                        .flatten()
                        .map(|j| j.clone_ref(py).into_any()),
                );
            }
            all
        };
        Ok(PyList::new(py, all)?.try_iter()?.into_any())
    }

    /// The job with this id, or None.
    fn get(&self, py: Python<'_>, job_id: &str) -> PyResult<Option<Py<PyJob>>> {
        self.lookup(py, job_id)
    }

    /// Whether `job` is still registered (not cancelled).
    fn has(&self, py: Python<'_>, job: &Bound<'_, PyJob>) -> PyResult<bool> {
        let j = job.borrow();
        if let Some(id) = &j.id {
            return Ok(match self.named.bind(py).get_item(id.bind(py))? {
                Some(found) => found.as_ptr() == job.as_ptr(),
                None => false,
            });
        }
        Ok(self
            .series
            .get(j.series as usize)
            .and_then(|s| s.jobs.get((j.n as usize).wrapping_sub(1)))
            .and_then(|slot| slot.as_ref())
            .is_some_and(|found| found.as_ptr() == job.as_ptr()))
    }

    /// Register `func(*args, **kwargs)` on `spec` (a `JobSpec`) and return its `Job`.
    /// `TypeError` if `func` is not callable; `ValueError` if `spec.job_id` is already taken.
    fn add(
        slf: &Bound<'_, Self>,
        func: &Bound<'_, PyAny>,
        args: &Bound<'_, PyAny>,
        kwargs: &Bound<'_, PyAny>,
        spec: &Bound<'_, PyAny>,
    ) -> PyResult<Py<PyJob>> {
        Ok(Self::insert(slf, func, args, kwargs, spec, false)?.expect("only_quiet is false"))
    }

    /// Register as `add` does and return the job id if the registry is `quiet`; otherwise return
    /// None and register nothing (the caller takes its own path: lock, arm the job, publish).
    /// Needs no lock of the caller's (see the class documentation).
    fn try_add(
        slf: &Bound<'_, Self>,
        func: &Bound<'_, PyAny>,
        args: &Bound<'_, PyAny>,
        kwargs: &Bound<'_, PyAny>,
        spec: &Bound<'_, PyAny>,
    ) -> PyResult<Option<Py<PyString>>> {
        match Self::insert(slf, func, args, kwargs, spec, true)? {
            Some(job) => Ok(Some(job.borrow(slf.py()).id_text(slf.py())?)),
            None => Ok(None),
        }
    }

    /// Unregister `job`; False if it was not registered.
    fn remove(&mut self, py: Python<'_>, job: &Bound<'_, PyJob>) -> PyResult<bool> {
        if !self.has(py, job)? {
            return Ok(false);
        }
        let j = job.borrow();
        match &j.id {
            Some(id) => self.named.bind(py).del_item(id.bind(py))?,
            None => self.series[j.series as usize].jobs[j.n as usize - 1] = None,
        }
        self.len -= 1;
        Ok(true)
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyRunState>()?;
    m.add_class::<PyJob>()?;
    m.add_class::<PyRegistry>()
}

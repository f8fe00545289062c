//! What a restart loads, held in Rust so that a million stored jobs make no Python object each:
//! - `StoredJobs`: a SQL store's job records, kept as texts and checked there
//!   (`fastscheduler_core::stored`); Python (`fastscheduler.stores._loaded.LoadedJobs`) decodes a
//!   record only when it is read as a dict, and arming one job takes what it needs as one tuple
//!   (`take`).
//! - `ClusterRows`: a cluster's shared rows, read when joining.
//! - `restore_jobs`: arms the interval jobs restored from either, as `JobState.arm` would.
use crate::convert::to_us;
use crate::engine::PyEngine;
use crate::errors::py_result;
use crate::journal::{scalar, spec_part, write_definition};
use crate::registry::PyJob;
use fastscheduler_core::stored::{vouch, Limits, Summary};
use fastscheduler_core::trigger::Trigger;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyFloat, PyInt, PyString, PyTuple};
use std::collections::HashMap;

struct Entry {
    /// The record's JSON text (None: a record only Python holds, see `insert`).
    text: Option<Box<str>>,
    /// What the fast path vouched for (None: the Python validator checked it).
    summary: Option<Summary>,
}

/// The function-and-spec part of a definition, by (function, spec) object: the objects are
/// held, so that an address is not reused while the part is cached.
type Parts = HashMap<(usize, usize), (Py<PyAny>, Py<PyAny>, Option<Vec<u8>>)>;

/// Job records by job id, in the order they were added.
#[pyclass(module = "fastscheduler._core", name = "StoredJobs")]
pub struct PyStoredJobs {
    limits: Limits,
    statuses: Vec<Py<PyString>>,
    /// The records in the order they were added (None: taken), and each id's place there (a
    /// small value per id: growing the map moves little).
    entries: Vec<Option<Entry>>,
    index: HashMap<Box<str>, usize>,
    parts: Parts,
}

impl PyStoredJobs {
    fn put(&mut self, job_id: Box<str>, text: Option<Box<str>>, summary: Option<Summary>) {
        let entry = Some(Entry { text, summary });
        match self.index.get(&job_id) {
            Some(&at) => self.entries[at] = entry,
            None => {
                self.entries.push(entry);
                self.index.insert(job_id, self.entries.len() - 1);
            }
        }
    }

    fn get(&self, job_id: &str) -> Option<&Entry> {
        self.entries[*self.index.get(job_id)?].as_ref()
    }

    fn remove(&mut self, job_id: &str) -> Option<Entry> {
        let at = self.index.remove(job_id)?;
        self.entries[at].take()
    }
}

/// The definition part of `job`'s record as the record writer writes it (from after the job id
/// to before `"defaults"`; its function-and-spec part cached in `parts`), or None if the writer
/// leaves the job to Python (keyword arguments, arguments that are not plain values).
fn definition(parts: &mut Parts, py: Python<'_>, job: &Bound<'_, PyJob>) -> Option<Vec<u8>> {
    let this = job.borrow();
    let (func, args, kwargs, spec) = this.record_parts();
    if kwargs.is_some() {
        return None;
    }
    let pair = (func.as_ptr() as usize, spec.as_ptr() as usize);
    let part = parts.entry(pair).or_insert_with(|| {
        let part = spec_part(func.bind(py), spec.bind(py)).ok();
        (func.clone_ref(py), spec.clone_ref(py), part)
    });
    let part = part.2.as_deref()?;
    let args = args.bind(py).cast::<PyTuple>().ok()?;
    let values = args
        .iter()
        .map(|arg| scalar(&arg).ok())
        .collect::<Option<Vec<_>>>()?;
    let mut buf = Vec::with_capacity(part.len() + 16 * values.len());
    write_definition(&mut buf, part, &values);
    Some(buf)
}

/// Whether the definition stored in `entry` (a vouched-for record in the writer's layout) is,
/// byte for byte, what the record writer writes for `job` now.
fn same_definition(
    parts: &mut Parts,
    py: Python<'_>,
    job: &Bound<'_, PyJob>,
    entry: &Entry,
) -> bool {
    let (Some(summary), Some(text)) = (&entry.summary, &entry.text) else {
        return false;
    };
    let Some((start, end)) = summary.definition else {
        return false;
    };
    definition(parts, py, job)
        .is_some_and(|d| text.as_bytes().get(start as usize..end as usize) == Some(&d[..]))
}

#[pymethods]
impl PyStoredJobs {
    /// Records checked against these limits (the Python validator's constants).
    #[new]
    fn new(
        py: Python<'_>,
        max_version: i64,
        min_time: f64,
        max_time: f64,
        statuses: Vec<String>,
    ) -> Self {
        let interned = statuses
            .iter()
            .map(|s| PyString::intern(py, s).unbind())
            .collect();
        PyStoredJobs {
            limits: Limits {
                max_version,
                min_time,
                max_time,
                statuses,
            },
            statuses: interned,
            entries: Vec::new(),
            index: HashMap::new(),
            parts: HashMap::new(),
        }
    }

    /// Add `(job_id, record text)` rows (a later row replaces an earlier one of the same id);
    /// returns, in order, the ids of the records the fast path does not vouch for: those, and
    /// only those, need the Python validator. Checked with the GIL released.
    fn add_rows(&mut self, py: Python<'_>, rows: Vec<(String, String)>) -> Vec<String> {
        let limits = self.limits.clone();
        let checked: Vec<(String, String, Option<Summary>)> = crate::detached(py, move || {
            rows.into_iter()
                .map(|(id, text)| {
                    let summary = vouch(&id, &text, &limits);
                    (id, text, summary)
                })
                .collect()
        });
        let mut unsure = Vec::new();
        for (id, text, summary) in checked {
            if summary.is_none() {
                unsure.push(id.clone());
            }
            self.put(id.into_boxed_str(), Some(text.into_boxed_str()), summary);
        }
        unsure
    }

    /// Add or replace a record Python holds (its text, if any, is kept but not vouched for).
    #[pyo3(signature = (job_id, text=None))]
    fn insert(&mut self, job_id: String, text: Option<String>) {
        self.put(
            job_id.into_boxed_str(),
            text.map(String::into_boxed_str),
            None,
        );
    }

    /// The record's text (None: no such record, or one only Python holds).
    fn text(&self, job_id: &str) -> Option<&str> {
        self.get(job_id)?.text.as_deref()
    }

    /// Remove a record; whether there was one.
    fn discard(&mut self, job_id: &str) -> bool {
        self.remove(job_id).is_some()
    }

    /// The ids, in the order they were added.
    fn ids(&self) -> Vec<&str> {
        let mut ids: Vec<(usize, &str)> = self.index.iter().map(|(id, &at)| (at, &**id)).collect();
        ids.sort_unstable();
        ids.into_iter().map(|(_, id)| id).collect()
    }

    fn clear(&mut self) {
        self.entries = Vec::new();
        self.index = HashMap::new();
    }

    fn __len__(&self) -> usize {
        self.index.len()
    }

    fn __contains__(&self, job_id: &str) -> bool {
        self.index.contains_key(job_id)
    }

    /// Take (remove) the record of `job` for arming it: None if there is none; its text if the
    /// fast path did not vouch for it (Python decodes it); else `(same_definition, v, next_run,
    /// last_run, run_count, failure_count, retry_count, paused, finished, recent)`, where
    /// `same_definition` (only computed if `compare`) says the record's definition fields are,
    /// byte for byte, what the record writer writes for `job` now.
    fn take<'py>(
        &mut self,
        py: Python<'py>,
        job: &Bound<'py, PyJob>,
        compare: bool,
    ) -> PyResult<Option<Bound<'py, PyAny>>> {
        let id = job.borrow().journal_id(py)?;
        let Some(entry) = self.remove(&id) else {
            return Ok(None);
        };
        let same = compare && same_definition(&mut self.parts, py, job, &entry);
        let Some(s) = entry.summary else {
            return Ok(entry.text.map(|t| PyString::new(py, &t).into_any()));
        };
        let recent: Vec<&Py<PyString>> = s
            .recent
            .iter()
            .filter_map(|&i| self.statuses.get(i as usize))
            .collect();
        let [runs, failures, retries] = s.counts;
        let fields = (
            same,
            s.version,
            s.next_run,
            s.last_run,
            runs,
            failures,
            retries,
            s.paused,
            s.finished,
            PyTuple::new(py, recent)?,
        );
        Ok(Some(fields.into_pyobject(py)?.into_any()))
    }

    /// End of an arming: forget the definition parts cached by `take` (and the objects they
    /// hold), and give back the memory of the records taken.
    fn compact(&mut self) {
        self.parts = HashMap::new();
        let mut places: Vec<(usize, &mut usize)> =
            self.index.iter_mut().map(|(_, at)| (*at, at)).collect();
        places.sort_unstable_by_key(|(old, _)| *old);
        let mut kept = Vec::with_capacity(places.len());
        for (old, at) in places {
            *at = kept.len();
            kept.push(self.entries[old].take());
        }
        self.entries = kept;
        self.index.shrink_to_fit();
    }
}

/// A job's shared row in a cluster (`coordination.base.ScheduleRow`'s fields).
#[derive(Clone, Copy, PartialEq)]
struct Row {
    next_run: Option<f64>,
    paused: bool,
    counts: [u64; 3],
    last_run: Option<f64>,
}

/// The cluster rows read when joining (`SQLCoordinator.join`), by job id, held in Rust: what
/// arming needs of each, without a Python object per row. `pop` hands one out as a
/// `ScheduleRow` (the class given); an id stays known (`in`) once its row was taken, so that
/// `start()` can tell the jobs that had a row.
#[pyclass(module = "fastscheduler._core", name = "ClusterRows")]
pub struct PyClusterRows {
    row_type: Py<PyAny>,
    min_time: f64,
    max_time: f64,
    rows: HashMap<Box<str>, Option<Row>>,
    live: usize,
}

impl PyClusterRows {
    fn time(&self, value: &Bound<'_, PyAny>) -> Option<Option<f64>> {
        if value.is_none() {
            return Some(None);
        }
        let t = if let Ok(f) = value.cast::<PyFloat>() {
            f.value()
        } else if value.is_instance_of::<PyInt>() && !value.is_instance_of::<PyBool>() {
            value.extract::<i64>().ok()? as f64
        } else {
            return None;
        };
        (self.min_time <= t && t <= self.max_time).then_some(Some(t))
    }

    fn row(&self, item: &Bound<'_, PyAny>) -> Option<(String, Row)> {
        let t = item.cast::<PyTuple>().ok()?;
        if t.len() != 7 {
            return None;
        }
        let get = |i: usize| t.get_item(i).ok();
        let id = get(0)?.cast::<PyString>().ok()?.to_str().ok()?.to_owned();
        let paused = get(2)?;
        let paused = if let Ok(b) = paused.cast::<PyBool>() {
            b.is_true()
        } else if paused.is_instance_of::<PyInt>() {
            match paused.extract::<i64>().ok()? {
                0 => false,
                1 => true,
                _ => return None,
            }
        } else {
            return None;
        };
        let mut counts = [0u64; 3];
        for (k, n) in counts.iter_mut().enumerate() {
            let value = get(3 + k)?;
            if value.is_instance_of::<PyBool>() || !value.is_instance_of::<PyInt>() {
                return None;
            }
            *n = value
                .extract::<u64>()
                .ok()
                .filter(|&n| n <= i64::MAX as u64)?;
        }
        Some((
            id,
            Row {
                next_run: self.time(&get(1)?)?,
                paused,
                counts,
                last_run: self.time(&get(6)?)?,
            },
        ))
    }

    /// The row of `job_id`, if there is one not taken yet.
    fn peek(&self, job_id: &str) -> Option<Row> {
        self.rows.get(job_id).copied().flatten()
    }

    fn take_row(&mut self, job_id: &str) -> Option<Row> {
        let row = self.rows.get_mut(job_id)?.take();
        if row.is_some() {
            self.live -= 1;
        }
        row
    }
}

#[pymethods]
impl PyClusterRows {
    /// Rows handed out as `row_type(next_run, paused, run_count, failure_count, retry_count,
    /// last_run)`; times must lie within `[min_time, max_time]`.
    #[new]
    fn new(row_type: Py<PyAny>, min_time: f64, max_time: f64) -> Self {
        PyClusterRows {
            row_type,
            min_time,
            max_time,
            rows: HashMap::new(),
            live: 0,
        }
    }

    /// Add rows read as `(job_id, next_run, paused, run_count, failure_count, retry_count,
    /// last_run)` tuples. All or nothing: False (none added) if one holds a value the validator
    /// might refuse (a time that is not a number from `min_time` to `max_time`, a counter that is
    /// not an int from 0 to 2**63-1, a pause flag that is not a bool, 0 or 1): the caller asks
    /// the validator, which names the row.
    fn add_rows(&mut self, rows: &Bound<'_, PyAny>) -> PyResult<bool> {
        let mut parsed = Vec::new();
        for item in rows.try_iter()? {
            match self.row(&item?) {
                Some(row) => parsed.push(row),
                None => return Ok(false),
            }
        }
        for (id, row) in parsed {
            if self
                .rows
                .insert(id.into_boxed_str(), Some(row))
                .flatten()
                .is_none()
            {
                self.live += 1;
            }
        }
        Ok(true)
    }

    /// Take the row of `job_id` (as `row_type`), or return `default`.
    #[pyo3(signature = (job_id, default=None))]
    fn pop<'py>(
        &mut self,
        py: Python<'py>,
        job_id: &str,
        default: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Option<Bound<'py, PyAny>>> {
        let Some(r) = self.take_row(job_id) else {
            return Ok(default);
        };
        let [runs, failures, retries] = r.counts;
        let args = (r.next_run, r.paused, runs, failures, retries, r.last_run);
        Ok(Some(self.row_type.bind(py).call1(args)?))
    }

    /// Whether a row of `job_id` was read (taken since or not).
    fn __contains__(&self, job_id: &str) -> bool {
        self.rows.contains_key(job_id)
    }

    /// How many rows are not taken yet.
    fn __len__(&self) -> usize {
        self.live
    }

    /// Forget the ids of the rows taken (`in` is then False for them), and give back their
    /// memory.
    fn forget_taken(&mut self) {
        self.rows.retain(|_, row| row.is_some());
        self.rows.shrink_to_fit();
    }
}

/// Whether `spec` is an interval spec, and its seconds (cached by `JobSpec` object).
fn interval_of(
    py: Python<'_>,
    cache: &mut HashMap<usize, (Py<PyAny>, Option<f64>)>,
    spec: &Py<PyAny>,
) -> PyResult<Option<f64>> {
    let ptr = spec.as_ptr() as usize;
    if let Some((_, seconds)) = cache.get(&ptr) {
        return Ok(*seconds);
    }
    let bound = spec.bind(py);
    let kind = bound.getattr(intern!(py, "kind"))?;
    let seconds = if kind
        .cast::<PyString>()
        .is_ok_and(|k| k.to_str().is_ok_and(|k| k == "interval"))
    {
        bound
            .getattr(intern!(py, "interval"))?
            .extract::<f64>()
            .ok()
    } else {
        None
    };
    cache.insert(ptr, (spec.clone_ref(py), seconds));
    Ok(seconds)
}

/// What arming one job in Rust needs.
struct Restore {
    trigger: Trigger,
    next_us: i64,
    counts: [u64; 3],
    paused: bool,
}

/// What is done once a job is in the engine: its record and row taken, its run state restored.
struct Restored {
    at: usize,
    id: String,
    last_run: Option<f64>,
    /// The record's recent outcomes (None: no record).
    recent: Option<Vec<u8>>,
    flags: u8,
}

/// Arm, in Rust, the jobs of `jobs` restored from a stored record (`stored`, vouched for) or a
/// cluster row (`rows`) that need nothing of Python: interval jobs not in the engine, without a
/// run state, with a next fire to restore, not finished. As `JobState.arm` does for them: their
/// record and row are taken, the row is the truth for time, pause and counters, the record for
/// the recent outcomes; the next fire is restored on the job's grid (due at once if it passed).
/// Returns each job's engine key (None: left to Python, nothing taken) and flags: 1 the store
/// must be given its record (only when `compare`, as `JobState._as_stored` decides: no record,
/// another definition, a record that is not the row's state), 2 it had no row.
#[pyfunction]
#[pyo3(signature = (engine, jobs, stored, rows, compare))]
fn restore_jobs(
    py: Python<'_>,
    engine: &Bound<'_, PyEngine>,
    jobs: Vec<Bound<'_, PyJob>>,
    stored: Option<Bound<'_, PyStoredJobs>>,
    rows: Option<Bound<'_, PyClusterRows>>,
    compare: bool,
) -> PyResult<(Vec<Option<u64>>, Vec<u8>)> {
    let mut stored = stored.as_ref().map(|s| s.borrow_mut());
    let mut rows = rows.as_ref().map(|r| r.borrow_mut());
    let mut keys = vec![None; jobs.len()];
    let mut flags = vec![0u8; jobs.len()];
    let mut specs = HashMap::new();
    let mut pending = Vec::new();
    let mut restored = Vec::new();
    for (at, job) in jobs.iter().enumerate() {
        let (busy, spec) = {
            let this = job.borrow();
            (this.armed_or_run(), this.spec_object().clone_ref(py))
        };
        if busy {
            continue;
        }
        let Some(seconds) = interval_of(py, &mut specs, &spec)? else {
            continue;
        };
        let Ok(id) = job.borrow().journal_id(py) else {
            continue;
        };
        let summary = match stored.as_ref().and_then(|s| s.get(&id)) {
            Some(Entry { summary: None, .. }) => continue, // (Python checked it, or holds a dict)
            Some(entry) => entry.summary.clone(),
            None => None,
        };
        let summary = summary.as_ref();
        let row = rows.as_ref().and_then(|r| r.peek(&id));
        if (summary.is_none() && row.is_none()) || summary.is_some_and(|s| s.finished) {
            continue;
        }
        let stored_state = summary.map(|s| Row {
            next_run: s.next_run,
            paused: s.paused,
            counts: s.counts,
            last_run: s.last_run,
        });
        let Some(state) = row.or(stored_state) else {
            continue;
        };
        let Some(next_run) = state.next_run else {
            continue;
        };
        let recent = summary.map(|s| s.recent.clone()).unwrap_or_default();
        let mut write = false;
        if compare {
            // `JobState._as_stored`, for an interval job (never finished by its row).
            let same = stored.as_mut().is_some_and(|s| {
                let s = &mut **s;
                let entry = s
                    .index
                    .get(id.as_str())
                    .and_then(|&at| s.entries[at].as_ref());
                entry.is_some_and(|e| same_definition(&mut s.parts, py, job, e))
            });
            let max_version = stored.as_ref().map(|s| s.limits.max_version);
            let version = summary.map(|s| s.version);
            write =
                !(same && version == max_version && row.is_none_or(|r| Some(r) == stored_state));
        }
        let period = to_us(py, "interval seconds", seconds)?;
        let next_us = to_us(py, "next_run", next_run)?;
        let trigger = py_result(Trigger::interval(period, next_us))?;
        pending.push(Restore {
            trigger,
            next_us,
            counts: state.counts,
            paused: state.paused,
        });
        restored.push(Restored {
            at,
            id,
            last_run: state.last_run,
            recent: summary.map(|_| recent),
            flags: u8::from(write) | (u8::from(row.is_none()) << 1),
        });
    }
    // All in the engine, or none (an error takes out what this call added).
    let added = engine.get().mutate(py, move |t| {
        let mut keys = Vec::with_capacity(pending.len());
        for r in pending {
            match t.add(r.trigger, r.next_us - 1) {
                Ok(key) => {
                    let [runs, failures, retries] = r.counts;
                    if r.counts != [0, 0, 0] {
                        t.set_counters(key, runs, failures, retries);
                    }
                    if r.paused {
                        t.pause(key);
                    }
                    keys.push(key);
                }
                Err(e) => {
                    for key in keys {
                        t.remove(key);
                    }
                    return Err(e);
                }
            }
        }
        Ok(keys)
    });
    // Then, and only then, the records and rows are taken and the run states restored.
    for (r, key) in restored.into_iter().zip(py_result(added)?) {
        if let Some(s) = stored.as_mut() {
            s.remove(&r.id);
        }
        if let Some(rows) = rows.as_mut() {
            rows.take_row(&r.id);
        }
        let recent = r.recent.as_deref().unwrap_or_default();
        if r.last_run.is_some() || !recent.is_empty() {
            let tuple = match (&r.recent, stored.as_ref()) {
                (Some(recent), Some(s)) => {
                    let names: Vec<&Py<PyString>> = recent
                        .iter()
                        .skip(recent.len().saturating_sub(5))
                        .filter_map(|&i| s.statuses.get(i as usize))
                        .collect();
                    Some(PyTuple::new(py, names)?)
                }
                _ => None,
            };
            jobs[r.at].borrow_mut().restore_run(py, r.last_run, tuple)?;
        }
        keys[r.at] = Some(key);
        flags[r.at] = r.flags;
    }
    Ok((keys, flags))
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyStoredJobs>()?;
    m.add_class::<PyClusterRows>()?;
    m.add_function(wrap_pyfunction!(restore_jobs, m)?)
}

//! `StoredJobs`: a SQL store's job records as loaded, held as texts in Rust and checked there
//! (`fastscheduler_core::stored`), so that a million records make no Python object each. Python
//! (`fastscheduler.stores._loaded.LoadedJobs`) decodes a record only when it is read as a dict,
//! and arming a job takes what it needs of its record as one tuple (`take`).
use crate::journal::{scalar, spec_part, write_scalar};
use crate::registry::PyJob;
use fastscheduler_core::stored::{vouch, Limits, Summary};
use pyo3::prelude::*;
use pyo3::types::{PyString, PyTuple};
use std::collections::HashMap;

struct Entry {
    /// The record's JSON text (None: a record only Python holds, see `insert`).
    text: Option<Box<str>>,
    /// What the fast path vouched for (None: the Python validator checked it).
    summary: Option<Summary>,
    /// Its place in `order`.
    at: usize,
}

/// The function-and-spec part of a definition, by (function, spec) object: the objects are
/// held, so that an address is not reused while the part is cached.
type Parts = HashMap<(usize, usize), (Py<PyAny>, Py<PyAny>, Option<Vec<u8>>)>;

/// Job records by job id, in the order they were added.
#[pyclass(module = "fastscheduler._core", name = "StoredJobs")]
pub struct PyStoredJobs {
    limits: Limits,
    statuses: Vec<Py<PyString>>,
    entries: HashMap<Box<str>, Entry>,
    order: Vec<Option<Box<str>>>,
    parts: Parts,
}

impl PyStoredJobs {
    fn put(&mut self, job_id: Box<str>, text: Option<Box<str>>, summary: Option<Summary>) {
        if let Some(entry) = self.entries.get_mut(&job_id) {
            entry.text = text;
            entry.summary = summary;
            return;
        }
        self.order.push(Some(job_id.clone()));
        let at = self.order.len() - 1;
        self.entries.insert(job_id, Entry { text, summary, at });
    }

    fn remove(&mut self, job_id: &str) -> Option<Entry> {
        let entry = self.entries.remove(job_id)?;
        self.order[entry.at] = None;
        if self.entries.is_empty() {
            self.order.clear();
        }
        Some(entry)
    }

    /// The definition part of `job`'s record as the record writer writes it (from after the
    /// job id to before `"defaults"`), or None if the writer leaves the job to Python (keyword
    /// arguments, arguments that are not plain values).
    fn definition(&mut self, py: Python<'_>, job: &Bound<'_, PyJob>) -> Option<Vec<u8>> {
        let this = job.borrow();
        let (func, args, kwargs, spec) = this.record_parts();
        if kwargs.is_some() {
            return None;
        }
        let pair = (func.as_ptr() as usize, spec.as_ptr() as usize);
        let part = self.parts.entry(pair).or_insert_with(|| {
            let part = spec_part(func.bind(py), spec.bind(py)).ok();
            (func.clone_ref(py), spec.clone_ref(py), part)
        });
        let mut buf = part.2.clone()?;
        let args = args.bind(py).cast::<PyTuple>().ok()?;
        if !args.is_empty() {
            buf.extend_from_slice(b",\"args\":[");
            for (k, arg) in args.iter().enumerate() {
                if k > 0 {
                    buf.push(b',');
                }
                write_scalar(&mut buf, &scalar(&arg).ok()?);
            }
            buf.push(b']');
        }
        Some(buf)
    }
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
            entries: HashMap::new(),
            order: Vec::new(),
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
        self.entries.get(job_id)?.text.as_deref()
    }

    /// Whether the fast path vouched for the record.
    fn vouched(&self, job_id: &str) -> bool {
        self.entries
            .get(job_id)
            .is_some_and(|e| e.summary.is_some())
    }

    /// Remove a record; whether there was one.
    fn discard(&mut self, job_id: &str) -> bool {
        self.remove(job_id).is_some()
    }

    /// The ids, in the order they were added.
    fn ids(&self) -> Vec<&str> {
        self.order.iter().flatten().map(|s| &**s).collect()
    }

    fn clear(&mut self) {
        self.entries.clear();
        self.order.clear();
    }

    fn __len__(&self) -> usize {
        self.entries.len()
    }

    fn __contains__(&self, job_id: &str) -> bool {
        self.entries.contains_key(job_id)
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
        let Some(s) = entry.summary else {
            return Ok(entry.text.map(|t| PyString::new(py, &t).into_any()));
        };
        let same = compare
            && match (s.definition, &entry.text) {
                (Some((start, end)), Some(text)) => self.definition(py, job).is_some_and(|d| {
                    text.as_bytes().get(start as usize..end as usize) == Some(&d[..])
                }),
                _ => false,
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

    /// Forget the definition parts cached by `take` (and the objects they hold).
    fn forget_parts(&mut self) {
        self.parts.clear();
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyStoredJobs>()
}

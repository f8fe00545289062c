//! Loading stored job records: put back the defaults a compact record left out, and vouch for
//! the records whose every field has the type and range the scheduler writes.
//!
//! This is a fast path of `fastscheduler.stores._records` (`with_defaults`, `job_problem`,
//! `newer_version`), which stays the one definition of a valid record: what this check cannot
//! vouch for (anything unusual, not only what is wrong) is handed back to it, so messages and
//! verdicts are Python's. It only ever says "valid" for a record the Python check accepts; the
//! tests compare both on valid and damaged records.
use crate::errors::py_result;
use fastscheduler_core::CoreError;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyList, PyString};

/// The deepest nesting a checker may be asked to accept.
const MAX_DEPTH_LIMIT: usize = 1024;

/// The checker, configured once from the Python module's constants (they stay the source).
#[pyclass(module = "fastscheduler._core", name = "JobRecordCheck", frozen)]
pub struct PyJobRecordCheck {
    job_defaults: Vec<(Py<PyString>, Py<PyAny>)>,
    spec_defaults: Vec<(Py<PyString>, Py<PyAny>)>,
    defaults_key: Py<PyString>,
    name_key: Py<PyString>,
    func_name_key: Py<PyString>,
    spec_key: Py<PyString>,
    statuses: Vec<String>,
    max_version: i64,
    min_time: f64,
    max_time: f64,
    max_depth: usize,
}

fn pairs(defaults: &Bound<'_, PyDict>) -> PyResult<Vec<(Py<PyString>, Py<PyAny>)>> {
    defaults
        .iter()
        .map(|(k, v)| Ok((k.cast_into::<PyString>()?.unbind(), v.unbind())))
        .collect()
}

/// `copy.copy(default)` for the JSON values a default can be.
fn fresh<'py>(default: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
    if let Ok(list) = default.cast::<PyList>() {
        return Ok(PyList::new(default.py(), list.iter())?.into_any());
    }
    if let Ok(dict) = default.cast::<PyDict>() {
        return Ok(dict.copy()?.into_any());
    }
    Ok(default.clone())
}

fn is_int(value: &Bound<'_, PyAny>) -> bool {
    value.is_instance_of::<PyInt>() && !value.is_instance_of::<PyBool>()
}

/// A number (int or float, not bool) as f64, or None. An int beyond i64 is None: the Python
/// check judges it.
fn number(value: &Bound<'_, PyAny>) -> Option<f64> {
    if let Ok(f) = value.cast::<PyFloat>() {
        return Some(f.value());
    }
    if is_int(value) {
        return value.extract::<i64>().ok().map(|i| i as f64);
    }
    None
}

fn count(value: &Bound<'_, PyAny>) -> bool {
    is_int(value) && value.extract::<i64>().is_ok_and(|i| i >= 0)
}

fn opt_str(value: &Bound<'_, PyAny>) -> bool {
    value.is_none() || value.is_instance_of::<PyString>()
}

impl PyJobRecordCheck {
    fn time(&self, value: &Bound<'_, PyAny>) -> bool {
        number(value).is_some_and(|t| self.min_time <= t && t <= self.max_time)
    }

    fn opt_time(&self, value: &Bound<'_, PyAny>) -> bool {
        value.is_none() || self.time(value)
    }

    /// A list or dict nested at most `max_depth` levels (`too_deep` is false), or a scalar.
    fn shallow(&self, value: &Bound<'_, PyAny>) -> bool {
        self.depth_ok(value, 1)
    }

    fn depth_ok(&self, value: &Bound<'_, PyAny>, depth: usize) -> bool {
        let child_ok = |child: Bound<'_, PyAny>| {
            if child.is_instance_of::<PyDict>() || child.is_instance_of::<PyList>() {
                depth < self.max_depth && self.depth_ok(&child, depth + 1)
            } else {
                true
            }
        };
        if let Ok(dict) = value.cast::<PyDict>() {
            dict.values().iter().all(child_ok)
        } else if let Ok(list) = value.cast::<PyList>() {
            list.iter().all(child_ok)
        } else {
            true
        }
    }

    fn recent(&self, value: &Bound<'_, PyAny>) -> bool {
        let Ok(list) = value.cast::<PyList>() else {
            return false;
        };
        list.iter().all(|item| {
            item.cast::<PyString>()
                .ok()
                .and_then(|s| {
                    s.to_str()
                        .ok()
                        .map(|s| self.statuses.iter().any(|t| t == s))
                })
                .unwrap_or(false)
        })
    }

    fn spec(&self, value: &Bound<'_, PyAny>) -> bool {
        if value.is_none() {
            return true;
        }
        let Ok(spec) = value.cast::<PyDict>() else {
            return false;
        };
        spec.iter().all(|(name, value)| {
            let Ok(name) = name.cast::<PyString>() else {
                return false;
            };
            match name.to_str() {
                Ok("interval") => {
                    value.is_none() || number(&value).is_some_and(|s| 0.0 < s && s <= self.max_time)
                }
                Ok("cron" | "tz") => opt_str(&value),
                Ok("at") => self.opt_time(&value),
                Ok("timeout") => {
                    value.is_none()
                        || number(&value).is_some_and(|s| 0.0 <= s && s <= self.max_time)
                }
                Ok("timeout_kill" | "catch_up") => value.is_instance_of::<PyBool>(),
                Ok("retries") => value.is_none() || count(&value),
                Ok(_) => self.shallow(&value),
                Err(_) => false,
            }
        })
    }

    /// Whether the record stored under `job_id` is one the Python check accepts and that is not
    /// newer than this code (false: "not sure", the Python check decides).
    fn vouch(&self, job_id: &Bound<'_, PyAny>, record: &Bound<'_, PyDict>) -> bool {
        let mut has_id = false;
        for (name, value) in record.iter() {
            let Ok(name) = name.cast::<PyString>() else {
                return false;
            };
            let ok = match name.to_str() {
                Ok("v") => {
                    is_int(&value)
                        && value
                            .extract::<i64>()
                            .is_ok_and(|v| 1 <= v && v <= self.max_version)
                }
                Ok("job_id") => {
                    has_id = true;
                    value.is_instance_of::<PyString>() && value.eq(job_id).unwrap_or(false)
                }
                Ok("name" | "func_name" | "func" | "schedule") => opt_str(&value),
                Ok("kind") => value
                    .cast::<PyString>()
                    .ok()
                    .and_then(|s| {
                        s.to_str()
                            .ok()
                            .map(|s| matches!(s, "interval" | "cron" | "date"))
                    })
                    .unwrap_or(false),
                Ok("spec") => self.spec(&value),
                Ok("next_run" | "last_run") => self.opt_time(&value),
                Ok("run_count" | "failure_count" | "retry_count") => count(&value),
                Ok("paused" | "finished") => value.is_instance_of::<PyBool>(),
                Ok("recent") => self.recent(&value),
                Ok("args") => {
                    value.is_none() || (value.is_instance_of::<PyList>() && self.shallow(&value))
                }
                Ok("kwargs") => {
                    value.is_none() || (value.is_instance_of::<PyDict>() && self.shallow(&value))
                }
                Ok(_) => self.shallow(&value),
                Err(_) => false,
            };
            if !ok {
                return false;
            }
        }
        has_id
    }

    /// `with_defaults`: the fields a compact record left out put back, its marker dropped.
    fn put_back(&self, py: Python<'_>, record: &Bound<'_, PyDict>) -> PyResult<()> {
        record.del_item(self.defaults_key.bind(py))?;
        for (key, default) in &self.job_defaults {
            let key = key.bind(py);
            if !record.contains(key)? {
                record.set_item(key, fresh(default.bind(py))?)?;
            }
        }
        let name = self.name_key.bind(py);
        if !record.contains(name)? {
            let func_name = record.get_item(self.func_name_key.bind(py))?;
            record.set_item(name, func_name.unwrap_or_else(|| py.None().into_bound(py)))?;
        }
        if let Some(spec) = record.get_item(self.spec_key.bind(py))? {
            if let Ok(spec) = spec.cast_exact::<PyDict>() {
                for (key, default) in &self.spec_defaults {
                    let key = key.bind(py);
                    if !spec.contains(key)? {
                        spec.set_item(key, default.bind(py))?;
                    }
                }
            }
        }
        Ok(())
    }
}

#[pymethods]
impl PyJobRecordCheck {
    #[new]
    #[allow(clippy::too_many_arguments)]
    #[pyo3(signature = (job_defaults, spec_defaults, defaults_key, statuses, max_version, min_time, max_time, max_depth))]
    fn new(
        py: Python<'_>,
        job_defaults: &Bound<'_, PyDict>,
        spec_defaults: &Bound<'_, PyDict>,
        defaults_key: &str,
        statuses: Vec<String>,
        max_version: i64,
        min_time: f64,
        max_time: f64,
        max_depth: usize,
    ) -> PyResult<Self> {
        // The depth check recurses once per level: bounded, so no input can exhaust the stack.
        if max_depth > MAX_DEPTH_LIMIT {
            return py_result(Err(CoreError::InvalidArgument(format!(
                "max_depth must be at most {MAX_DEPTH_LIMIT}, got {max_depth}"
            ))));
        }
        Ok(Self {
            job_defaults: pairs(job_defaults)?,
            spec_defaults: pairs(spec_defaults)?,
            defaults_key: PyString::new(py, defaults_key).unbind(),
            name_key: PyString::intern(py, "name").unbind(),
            func_name_key: PyString::intern(py, "func_name").unbind(),
            spec_key: PyString::intern(py, "spec").unbind(),
            statuses,
            max_version,
            min_time,
            max_time,
            max_depth,
        })
    }

    /// Put back, in place, the defaults of every compact record of `jobs` (a dict with the
    /// defaults key), as `with_defaults` does, and return the ids, in the dict's order, of the
    /// records this check cannot vouch for. Those, and only those, need the Python check: every
    /// other record is valid and not newer than this code.
    fn complete<'py>(
        &self,
        py: Python<'py>,
        jobs: &Bound<'py, PyDict>,
    ) -> PyResult<Vec<Bound<'py, PyAny>>> {
        let defaults_key = self.defaults_key.bind(py);
        let mut unsure = Vec::new();
        for (job_id, record) in jobs.iter() {
            let Ok(record) = record.cast_exact::<PyDict>() else {
                unsure.push(job_id);
                continue;
            };
            if record.contains(defaults_key)? {
                self.put_back(py, record)?;
            }
            if !self.vouch(&job_id, record) {
                unsure.push(job_id);
            }
        }
        Ok(unsure)
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyJobRecordCheck>()
}

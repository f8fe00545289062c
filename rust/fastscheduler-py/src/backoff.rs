//! `Backoff`: retry delays; argument conversion only, the formula lives in the core.
use crate::errors::py_result;
use fastscheduler_core::backoff::{Backoff as CoreBackoff, Jitter};
use fastscheduler_core::CoreError;
use pyo3::prelude::*;
use pyo3::types::{PyFloat, PyInt, PyList, PyString, PyTuple, PyType};

/// Exponential retry delays (frozen, hashable, picklable).
///
/// `Backoff(base=2.0, factor=2.0, max=3600.0, jitter=None)`: the delay before retry `attempt`
/// (1 for the first retry) is `min(max, base * factor ** (attempt - 1))` seconds; `jitter="full"`
/// draws it uniformly from `[0, d)`, `jitter="equal"` from `[d / 2, d)`.
#[pyclass(frozen, eq, hash, module = "fastscheduler", name = "Backoff")]
#[derive(PartialEq, Eq, Hash)]
pub struct PyBackoff {
    inner: CoreBackoff,
}

fn invalid<T>(message: String) -> PyResult<T> {
    py_result(Err(CoreError::InvalidArgument(message)))
}

/// `None`, `"full"` or `"equal"`.
fn jitter_arg(jitter: Option<&Bound<'_, PyAny>>) -> PyResult<Jitter> {
    match jitter {
        None => Ok(Jitter::None),
        Some(j) if j.is_none() => Ok(Jitter::None),
        Some(j) => match j.cast::<PyString>() {
            Ok(s) => py_result(s.to_str()?.parse::<Jitter>()),
            Err(_) => invalid(format!(
                "jitter must be None, 'full' or 'equal', got {}",
                j.repr()?
            )),
        },
    }
}

/// A retry number: any int >= 1; ints beyond `u64` saturate (they all give the cap).
fn attempt_arg(attempt: &Bound<'_, PyAny>) -> PyResult<u64> {
    match attempt.extract::<u64>() {
        Ok(a) => Ok(a),
        Err(e) if !attempt.is_instance_of::<PyInt>() => Err(e),
        Err(_) if attempt.lt(0)? => invalid(format!("attempt must be >= 1, got {attempt}")),
        Err(_) => Ok(u64::MAX),
    }
}

fn float_repr(py: Python<'_>, x: f64) -> PyResult<String> {
    Ok(PyFloat::new(py, x).repr()?.to_str()?.to_owned())
}

#[pymethods]
impl PyBackoff {
    #[new]
    #[pyo3(signature = (base = 2.0, factor = 2.0, max = 3600.0, jitter = None))]
    fn new(base: f64, factor: f64, max: f64, jitter: Option<&Bound<'_, PyAny>>) -> PyResult<Self> {
        let jitter = jitter_arg(jitter)?;
        Ok(PyBackoff {
            inner: py_result(CoreBackoff::new(base, factor, max, jitter))?,
        })
    }

    /// The first delay, in seconds.
    #[getter]
    fn base(&self) -> f64 {
        self.inner.base()
    }

    /// The growth factor between consecutive attempts.
    #[getter]
    fn factor(&self) -> f64 {
        self.inner.factor()
    }

    /// The cap on the delay (before jitter).
    #[getter]
    fn max(&self) -> f64 {
        self.inner.max()
    }

    /// `None`, `"full"` or `"equal"`.
    #[getter]
    fn jitter(&self) -> Option<&'static str> {
        self.inner.jitter().name()
    }

    /// The delay before retry `attempt` (>= 1), drawing a fresh random jitter if any.
    #[pyo3(signature = (attempt, /))]
    fn delay(&self, attempt: &Bound<'_, PyAny>) -> PyResult<f64> {
        py_result(self.inner.sample(attempt_arg(attempt)?))
    }

    /// The delays before retries 1 to `n`.
    fn delays<'py>(&self, py: Python<'py>, n: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyList>> {
        let count = match n.extract::<u64>() {
            Ok(count) => count,
            Err(e) if !n.is_instance_of::<PyInt>() || !n.lt(0)? => return Err(e),
            Err(_) => return invalid(format!("n must be >= 0, got {n}")),
        };
        let list = PyList::empty(py);
        for attempt in 1..=count {
            list.append(py_result(self.inner.sample(attempt))?)?;
        }
        Ok(list)
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        let jitter = match self.inner.jitter().name() {
            Some(name) => format!("'{name}'"),
            None => "None".to_owned(),
        };
        Ok(format!(
            "Backoff(base={}, factor={}, max={}, jitter={jitter})",
            float_repr(py, self.inner.base())?,
            float_repr(py, self.inner.factor())?,
            float_repr(py, self.inner.max())?,
        ))
    }

    fn __reduce__<'py>(
        slf: &Bound<'py, Self>,
    ) -> PyResult<(Bound<'py, PyType>, Bound<'py, PyTuple>)> {
        let b = &slf.get().inner;
        let args = (b.base(), b.factor(), b.max(), b.jitter().name()).into_pyobject(slf.py())?;
        Ok((slf.get_type(), args))
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyBackoff>()
}

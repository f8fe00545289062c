//! Times across the boundary: epoch seconds (floats) in Python, microseconds (`i64`) in the core.
use crate::errors::py_result;
use fastscheduler_core::CoreError;
use pyo3::prelude::*;

/// Largest |µs| accepted: what an `i64` holds, with a margin for rounding.
const MAX_ABS_US: f64 = 9.2e18;

/// Epoch seconds to microseconds, rounded; `name` is used in the error.
pub fn to_us(py: Python<'_>, name: &str, secs: f64) -> PyResult<i64> {
    if !secs.is_finite() {
        return py_result(Err(CoreError::InvalidArgument(format!(
            "{name} must be a finite number of seconds, got {}",
            float_repr(py, secs)
        ))));
    }
    let us = (secs * 1e6).round();
    if us.abs() > MAX_ABS_US {
        return py_result(Err(CoreError::OutOfRange(format!(
            "{name} is out of range: {} seconds",
            float_repr(py, secs)
        ))));
    }
    Ok(us as i64)
}

/// Microseconds to epoch seconds.
pub fn to_secs(us: i64) -> f64 {
    us as f64 / 1e6
}

/// A float as Python writes it (`5.0`, `1e+20`), for reprs and messages.
pub fn float_repr(py: Python<'_>, v: f64) -> String {
    pyo3::types::PyFloat::new(py, v)
        .repr()
        .map_or_else(|_| format!("{v:?}"), |r| r.to_string())
}

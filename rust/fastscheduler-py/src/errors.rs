//! The one place where core errors become Python exceptions.
use fastscheduler_core::CoreError;
use pyo3::create_exception;
use pyo3::exceptions::{PyOverflowError, PyValueError};
use pyo3::PyErr;

create_exception!(
    fastscheduler,
    CronError,
    PyValueError,
    "A cron expression that does not parse or can never fire; the message names the field and the text."
);
create_exception!(
    fastscheduler,
    UnknownTimeZoneError,
    PyValueError,
    "A time-zone name that is not in the bundled IANA tz database."
);

/// Newtype so that `?` converts core errors at the boundary.
pub struct PyCoreError(pub CoreError);

impl From<CoreError> for PyCoreError {
    fn from(e: CoreError) -> Self {
        PyCoreError(e)
    }
}

impl From<PyCoreError> for PyErr {
    fn from(e: PyCoreError) -> PyErr {
        let msg = e.0.to_string();
        match e.0 {
            CoreError::Cron(_) => CronError::new_err(msg),
            CoreError::UnknownZone(_) => UnknownTimeZoneError::new_err(msg),
            CoreError::InvalidArgument(_) => PyValueError::new_err(msg),
            CoreError::OutOfRange(_) => PyOverflowError::new_err(msg),
        }
    }
}

/// Convert a core result for PyO3.
pub fn py_result<T>(r: Result<T, CoreError>) -> Result<T, PyErr> {
    r.map_err(|e| PyCoreError(e).into())
}

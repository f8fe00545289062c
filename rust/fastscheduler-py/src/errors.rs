//! The one place where errors become Python exceptions: the core's [`CoreError`], and the few
//! errors of the binding itself ([`Error`]), each variant naming its exception.
use fastscheduler_core::CoreError;
use pyo3::create_exception;
use pyo3::exceptions::{PyOverflowError, PyRuntimeError, PyTypeError, PyValueError};
use pyo3::PyErr;
use std::fmt;

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

/// Every error the binding raises, converted to a Python exception by `?` (or `.into()`).
#[derive(Debug)]
pub enum Error {
    /// An error of the core: `CronError`, `UnknownTimeZoneError` (both `ValueError`s),
    /// `ValueError` or `OverflowError`, by variant.
    Core(CoreError),
    /// An argument that must be callable is not (`TypeError`): "`what` must be callable, got
    /// `got`".
    NotCallable { what: &'static str, got: String },
    /// A value of the wrong type or kind for the call (`TypeError`); the message says which.
    WrongType(&'static str),
    /// A job id that is already registered (`ValueError`); holds the id's repr.
    DuplicateId(String),
    /// More job series, or jobs in one series, than can be numbered (`ValueError`); holds what.
    TooMany(&'static str),
    /// The engine thread could not be started (`RuntimeError`).
    Thread(std::io::Error),
    /// `Engine.run_due` after the garbage collector cleared the engine's dispatch
    /// (`RuntimeError`).
    DispatchCleared,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Core(e) => e.fmt(f),
            Error::NotCallable { what, got } => write!(f, "{what} must be callable, got {got}"),
            Error::WrongType(m) => f.write_str(m),
            Error::DuplicateId(id) => {
                write!(f, "job id {id} is already registered; ids must be unique")
            }
            Error::TooMany(what) => write!(f, "too many {what}"),
            Error::Thread(e) => write!(f, "cannot start the engine thread: {e}"),
            Error::DispatchCleared => f.write_str("the engine's dispatch was cleared"),
        }
    }
}

impl From<CoreError> for Error {
    fn from(e: CoreError) -> Self {
        Error::Core(e)
    }
}

impl From<Error> for PyErr {
    fn from(e: Error) -> PyErr {
        let msg = e.to_string();
        match e {
            Error::Core(CoreError::Cron(_)) => CronError::new_err(msg),
            Error::Core(CoreError::UnknownZone(_)) => UnknownTimeZoneError::new_err(msg),
            Error::Core(CoreError::InvalidArgument(_))
            | Error::DuplicateId(_)
            | Error::TooMany(_) => PyValueError::new_err(msg),
            Error::Core(CoreError::OutOfRange(_)) => PyOverflowError::new_err(msg),
            Error::NotCallable { .. } | Error::WrongType(_) => PyTypeError::new_err(msg),
            Error::Thread(_) | Error::DispatchCleared => PyRuntimeError::new_err(msg),
        }
    }
}

/// Newtype so that `?` converts core errors at the boundary.
pub struct PyCoreError(pub CoreError);

impl From<CoreError> for PyCoreError {
    fn from(e: CoreError) -> Self {
        PyCoreError(e)
    }
}

impl From<PyCoreError> for PyErr {
    fn from(e: PyCoreError) -> PyErr {
        Error::Core(e.0).into()
    }
}

/// Convert a core result for PyO3.
pub fn py_result<T>(r: Result<T, CoreError>) -> Result<T, PyErr> {
    r.map_err(|e| Error::Core(e).into())
}

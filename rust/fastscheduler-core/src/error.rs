//! The core's errors: one enum, converted to Python exceptions in one place by the binding crate.
use std::fmt;

/// A cron expression that does not parse, or that names a schedule that can never fire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CronError {
    /// The whole expression as the user wrote it.
    pub expr: String,
    /// What is wrong, naming the field and the offending text where there is one.
    pub message: String,
}

impl fmt::Display for CronError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} in '{}'", self.message, self.expr)
    }
}

impl std::error::Error for CronError {}

/// Every error the core reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CoreError {
    /// The cron expression is invalid or can never fire (maps to `fastscheduler.CronError`).
    Cron(CronError),
    /// The IANA zone name is not in the bundled tz database (maps to `fastscheduler.UnknownTimeZoneError`).
    UnknownZone(String),
    /// An argument is out of its documented domain (maps to `ValueError`).
    InvalidArgument(String),
    /// A date-time outside the supported range 0001..=9999 was given or would result (maps to `OverflowError`).
    OutOfRange(String),
}

impl fmt::Display for CoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CoreError::Cron(e) => e.fmt(f),
            CoreError::UnknownZone(name) => write!(
                f,
                "unknown time zone {name:?}: not an IANA zone name in the bundled tz database"
            ),
            CoreError::InvalidArgument(m) | CoreError::OutOfRange(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for CoreError {}

impl From<CronError> for CoreError {
    fn from(e: CronError) -> Self {
        CoreError::Cron(e)
    }
}

pub type Result<T, E = CoreError> = std::result::Result<T, E>;

//! `fastscheduler._core`: thin PyO3 bindings over `fastscheduler-core`.
//! Conversion, error mapping and GIL handling only; no scheduling logic lives here.
use pyo3::prelude::*;

mod backoff;
mod clockwatch;
mod convert;
mod cron;
mod engine;
mod errors;
mod journal;
mod records;
mod registry;
mod run;
mod stored;
mod trigger;

/// Run pure-Rust work with the GIL released. The only place the binding detaches.
pub(crate) fn detached<T: Send, F: FnOnce() -> T + Send>(py: Python<'_>, f: F) -> T {
    py.detach(f)
}

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add("TZDB_VERSION", fastscheduler_core::tz::tzdb_version())?;
    m.add("CronError", m.py().get_type::<errors::CronError>())?;
    m.add(
        "UnknownTimeZoneError",
        m.py().get_type::<errors::UnknownTimeZoneError>(),
    )?;
    cron::register(m)?;
    backoff::register(m)?;
    trigger::register(m)?;
    engine::register(m)?;
    registry::register(m)?;
    run::register(m)?;
    journal::register(m)?;
    records::register(m)?;
    stored::register(m)?;
    Ok(())
}

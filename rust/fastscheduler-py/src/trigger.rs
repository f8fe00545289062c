//! `Trigger`: conversion over the core's triggers (times as epoch seconds, floats).
use crate::convert::{float_repr, to_secs, to_us};
use crate::cron::PyCronExpr;
use crate::errors::py_result;
use fastscheduler_core::trigger::{Trigger as CoreTrigger, MISSED_CAP};
use fastscheduler_core::CoreError;
use pyo3::prelude::*;
use pyo3::types::PyString;

/// When a job fires: `Trigger.interval(seconds, anchor)`, `Trigger.cron(expr)` or
/// `Trigger.date(at)`. Times are epoch seconds (floats), rounded to the microsecond.
#[pyclass(frozen, module = "fastscheduler", name = "Trigger")]
pub struct PyTrigger {
    inner: CoreTrigger,
}

impl PyTrigger {
    pub fn core(&self) -> &CoreTrigger {
        &self.inner
    }
}

#[pymethods]
impl PyTrigger {
    /// The most fires `advance` counts as missed for one late fire.
    #[classattr]
    const MISSED_CAP: u64 = MISSED_CAP;

    /// Every `seconds` (elapsed time), first at `anchor`: the grid `anchor + k * seconds`.
    #[staticmethod]
    fn interval(py: Python<'_>, seconds: f64, anchor: f64) -> PyResult<Self> {
        let bad = || {
            py_result::<()>(Err(CoreError::InvalidArgument(format!(
                "interval seconds must be a positive finite number of at least one microsecond, \
                 got {}",
                float_repr(py, seconds)
            ))))
            .unwrap_err()
        };
        if !(seconds.is_finite() && seconds > 0.0) {
            return Err(bad());
        }
        let period = to_us(py, "interval seconds", seconds)?;
        if period <= 0 {
            return Err(bad());
        }
        let anchor = to_us(py, "anchor", anchor)?;
        Ok(PyTrigger {
            inner: py_result(CoreTrigger::interval(period, anchor))?,
        })
    }

    /// The fire times of a cron expression, in its zone.
    #[staticmethod]
    fn cron(expr: &Bound<'_, PyCronExpr>) -> Self {
        PyTrigger {
            inner: CoreTrigger::cron(expr.get().core().clone()),
        }
    }

    /// Once, at `at`.
    #[staticmethod]
    fn date(py: Python<'_>, at: f64) -> PyResult<Self> {
        Ok(PyTrigger {
            inner: CoreTrigger::Date {
                at_us: to_us(py, "at", at)?,
            },
        })
    }

    /// The first fire time strictly after `t`, or None when there is none.
    fn next_after(&self, py: Python<'_>, t: f64) -> PyResult<Option<f64>> {
        let t = to_us(py, "t", t)?;
        Ok(self.inner.next_after(t).map(to_secs))
    }

    /// The fire scheduled at `scheduled`, taken at `now`: `(next, missed)`, by the engine's own
    /// rule. If the first fire after `scheduled` is after `now`, that is `next` and `missed` is 0;
    /// otherwise every fire in `(scheduled, now]` is coalesced and counted in `missed` (at most
    /// `MISSED_CAP`), and `next` is the first fire strictly after `now` (None: no fire left).
    fn advance(&self, py: Python<'_>, scheduled: f64, now: f64) -> PyResult<(Option<f64>, u64)> {
        let scheduled = to_us(py, "scheduled", scheduled)?;
        let now = to_us(py, "now", now)?;
        let inner = &self.inner;
        let (next, missed) = if matches!(inner, CoreTrigger::Cron(_)) {
            // A cron trigger counts by stepping through its fires (up to MISSED_CAP of them).
            crate::detached(py, || inner.advance(scheduled, now))
        } else {
            inner.advance(scheduled, now)
        };
        Ok((next.map(to_secs), missed))
    }

    /// "interval", "cron" or "date".
    #[getter]
    fn kind(&self) -> &'static str {
        match self.inner {
            CoreTrigger::Interval { .. } => "interval",
            CoreTrigger::Cron(_) => "cron",
            CoreTrigger::Date { .. } => "date",
        }
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        Ok(match &self.inner {
            CoreTrigger::Interval {
                period_us,
                anchor_us,
            } => format!(
                "Trigger.interval({}, anchor={})",
                float_repr(py, to_secs(*period_us)),
                float_repr(py, to_secs(*anchor_us))
            ),
            CoreTrigger::Cron(e) => format!(
                "Trigger.cron(CronExpr({}, tz={}))",
                PyString::new(py, e.source()).repr()?,
                PyString::new(py, e.zone().name()).repr()?
            ),
            CoreTrigger::Date { at_us } => {
                format!("Trigger.date({})", float_repr(py, to_secs(*at_us)))
            }
        })
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyTrigger>()
}

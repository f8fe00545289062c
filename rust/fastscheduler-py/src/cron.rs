//! `CronExpr`: conversion between Python datetimes and core instants, nothing more.
use crate::errors::py_result;
use fastscheduler_core::civil::Civil;
use fastscheduler_core::cron::CronExpr as CoreCron;
use fastscheduler_core::tz::Zone;
use fastscheduler_core::{CoreError, CronError};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyList, PyString};
use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};

/// Python objects the conversions need, looked up once.
struct DtApi {
    datetime: Py<PyAny>,
    epoch: Py<PyAny>,
    utc: Py<PyAny>,
    zoneinfo: Option<Py<PyAny>>,
    /// Zone identity -> tzinfo attached to results (ZoneInfo caches too; this skips the call).
    /// Only touched with the GIL held (it is the lock); zones live for the whole process.
    tzinfos: std::sync::Mutex<std::collections::HashMap<usize, Py<PyAny>>>,
}

static DT_API: PyOnceLock<DtApi> = PyOnceLock::new();

fn dt_api(py: Python<'_>) -> PyResult<&DtApi> {
    DT_API.get_or_try_init(py, || {
        let m = py.import("datetime")?;
        let datetime = m.getattr("datetime")?;
        let utc = m.getattr("timezone")?.getattr("utc")?;
        let epoch = datetime.call1((1970, 1, 1, 0, 0, 0, 0, &utc))?;
        let zoneinfo = py
            .import("zoneinfo")
            .and_then(|z| z.getattr("ZoneInfo"))
            .ok();
        Ok::<_, PyErr>(DtApi {
            datetime: datetime.unbind(),
            epoch: epoch.unbind(),
            utc: utc.unbind(),
            zoneinfo: zoneinfo.map(Bound::unbind),
            tzinfos: std::sync::Mutex::new(std::collections::HashMap::new()),
        })
    })
}

/// A cron expression in a time zone (frozen, hashable).
///
/// `CronExpr(expr, /, *, tz="UTC")`. Fire times follow the DST policy in the README: fixed
/// wall-clock times fire once in a fold and right after a gap; wildcard and interval fields
/// follow elapsed time.
#[pyclass(frozen, module = "fastscheduler", name = "CronExpr")]
pub struct PyCronExpr {
    inner: CoreCron,
    /// The `tzinfo` attached to returned datetimes.
    tzinfo: Py<PyAny>,
}

impl PyCronExpr {
    /// The core expression (for `Trigger.cron`).
    pub(crate) fn core(&self) -> &CoreCron {
        &self.inner
    }

    fn no_fire(&self, what: &str) -> PyErr {
        py_result::<()>(Err(CoreError::Cron(CronError {
            expr: self.inner.source().to_string(),
            message: format!(
                "no fire time {what} (searched years 0001 to 9999 in {})",
                self.inner.zone().name()
            ),
        })))
        .unwrap_err()
    }

    /// A datetime as (epoch seconds, microseconds). Naive datetimes are read in the expression's
    /// zone; datetimes whose tzinfo is a `zoneinfo.ZoneInfo` are read in that zone from the
    /// bundled database; both honour `fold` as PEP 495 does. Other tzinfos answer themselves.
    fn instant(&self, dt: &Bound<'_, PyAny>) -> PyResult<(i64, u32)> {
        let py = dt.py();
        let api = dt_api(py)?;
        if !dt.is_instance(api.datetime.bind(py))? {
            return Err(PyTypeError::new_err(format!(
                "expected a datetime.datetime, got {}",
                dt.get_type().name()?
            )));
        }
        let tzinfo = dt.getattr(intern!(py, "tzinfo"))?;
        let zone = if tzinfo.is_none() || tzinfo.is(self.tzinfo.bind(py)) {
            Some(self.inner.zone().clone())
        } else if api
            .zoneinfo
            .as_ref()
            .is_some_and(|zi| tzinfo.get_type().is(zi.bind(py)))
        {
            tzinfo
                .getattr(intern!(py, "key"))?
                .extract::<&str>()
                .ok()
                .and_then(|key| Zone::get(key).ok())
        } else {
            None
        };
        if let Some(zone) = zone {
            let (civil, fold, micros) = civil_fields(dt)?;
            return Ok((zone.resolve(civil.to_secs(), fold), micros));
        }
        // Any other tzinfo: ask Python for the exact offset from the epoch.
        let delta = dt.sub(api.epoch.bind(py))?;
        let days: i64 = delta.getattr(intern!(py, "days"))?.extract()?;
        let secs: i64 = delta.getattr(intern!(py, "seconds"))?.extract()?;
        let micros: u32 = delta.getattr(intern!(py, "microseconds"))?.extract()?;
        Ok((days * 86_400 + secs, micros))
    }

    /// An aware datetime in the expression's zone for instant `t` (wall-clock fields and `fold`
    /// from the bundled database).
    fn datetime<'py>(&self, py: Python<'py>, t: i64) -> PyResult<Bound<'py, PyAny>> {
        let (civil, fold) = self.inner.zone().civil_and_fold(t);
        let c = Civil::from_secs(civil);
        let dt = dt_api(py)?.datetime.bind(py).call1((
            c.year,
            c.month,
            c.day,
            c.hour,
            c.minute,
            c.second,
            0,
            self.tzinfo.bind(py),
        ))?;
        if fold {
            let kwargs = pyo3::types::PyDict::new(py);
            kwargs.set_item(intern!(py, "fold"), 1)?;
            return dt.call_method(intern!(py, "replace"), (), Some(&kwargs));
        }
        Ok(dt)
    }
}

/// Wall-clock fields, `fold` and microseconds of a datetime.
fn civil_fields(dt: &Bound<'_, PyAny>) -> PyResult<(Civil, bool, u32)> {
    let py = dt.py();
    let g = |name: &Bound<'_, PyString>| -> PyResult<i64> { dt.getattr(name)?.extract::<i64>() };
    let civil = Civil {
        year: g(intern!(py, "year"))? as i32,
        month: g(intern!(py, "month"))? as u8,
        day: g(intern!(py, "day"))? as u8,
        hour: g(intern!(py, "hour"))? as u8,
        minute: g(intern!(py, "minute"))? as u8,
        second: g(intern!(py, "second"))? as u8,
    };
    Ok((
        civil,
        g(intern!(py, "fold"))? != 0,
        g(intern!(py, "microsecond"))? as u32,
    ))
}

fn finite_timestamp(after: f64) -> PyResult<i64> {
    if !after.is_finite() {
        return Err(PyValueError::new_err(format!(
            "timestamp must be finite, got {after}"
        )));
    }
    Ok(after.floor().clamp(-1e15, 1e15) as i64)
}

impl PyCronExpr {
    fn build(py: Python<'_>, expr: &str, tz: &str) -> PyResult<Self> {
        let inner = py_result(CoreCron::new(expr, tz))?;
        let api = dt_api(py)?;
        let name = inner.zone().name();
        let cached = api
            .tzinfos
            .lock()
            .ok()
            .and_then(|c| c.get(&inner.zone().id()).map(|t| t.clone_ref(py)));
        let tzinfo = match cached {
            Some(t) => t,
            None => {
                let t = if name == "UTC" {
                    api.utc.clone_ref(py)
                } else {
                    match &api.zoneinfo {
                        Some(zi) => zi.bind(py).call1((name,)).map(Bound::unbind).map_err(|e| {
                            PyValueError::new_err(format!(
                                "zoneinfo cannot load {name:?} ({e}); install the 'tzdata' package"
                            ))
                        })?,
                        None => {
                            return Err(PyValueError::new_err(
                                "the zoneinfo module is not available",
                            ))
                        }
                    }
                };
                if let Ok(mut c) = api.tzinfos.lock() {
                    c.insert(inner.zone().id(), t.clone_ref(py));
                }
                t
            }
        };
        Ok(PyCronExpr { inner, tzinfo })
    }
}

#[pymethods]
impl PyCronExpr {
    #[new]
    #[pyo3(signature = (expr, /, *, tz = None), text_signature = "(expr, /, *, tz='UTC')")]
    fn new(
        py: Python<'_>,
        expr: &Bound<'_, PyString>,
        tz: Option<&Bound<'_, PyString>>,
    ) -> PyResult<Self> {
        // Lossy: a lone surrogate becomes U+FFFD, which the parser then rejects with CronError.
        let tz = tz.map_or(std::borrow::Cow::Borrowed("UTC"), |t| t.to_string_lossy());
        Self::build(py, &expr.to_string_lossy(), &tz)
    }
    /// The expression as written.
    #[getter]
    fn expression(&self) -> &str {
        self.inner.source()
    }

    /// The IANA name of the expression's zone.
    #[getter]
    fn tz(&self) -> &str {
        self.inner.zone().name()
    }

    /// True when the DST policy treats the expression as a fixed wall-clock time.
    #[getter]
    fn is_fixed_time(&self) -> bool {
        self.inner.is_fixed_time()
    }

    /// The first fire time strictly after `after`, as an aware datetime in the expression's zone.
    fn next<'py>(&self, py: Python<'py>, after: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        let (secs, _) = self.instant(after)?;
        match self.inner.first_at_or_after(secs.saturating_add(1)) {
            Some(t) => self.datetime(py, t),
            None => Err(self.no_fire("after the given time")),
        }
    }

    /// The last fire time strictly before `before`.
    fn prev<'py>(
        &self,
        py: Python<'py>,
        before: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let (secs, micros) = self.instant(before)?;
        let hi = if micros > 0 {
            secs
        } else {
            secs.saturating_sub(1)
        };
        match self.inner.last_at_or_before(hi) {
            Some(t) => self.datetime(py, t),
            None => Err(self.no_fire("before the given time")),
        }
    }

    /// Whether `dt`, truncated to the whole second, is a fire time.
    fn matches(&self, dt: &Bound<'_, PyAny>) -> PyResult<bool> {
        let (secs, _) = self.instant(dt)?;
        Ok(self.inner.is_fire_time(secs))
    }

    /// The next `n` fire times strictly after `after` (fewer only past year 9999).
    fn next_n<'py>(
        &self,
        py: Python<'py>,
        after: &Bound<'py, PyAny>,
        n: usize,
    ) -> PyResult<Bound<'py, PyList>> {
        let (secs, _) = self.instant(after)?;
        let mut out = Vec::with_capacity(n.min(1 << 20));
        crate::detached(py, || self.inner.next_n_into(secs, n, &mut out));
        let list = PyList::empty(py);
        for t in out {
            list.append(self.datetime(py, t)?)?;
        }
        Ok(list)
    }

    /// The next `n` fire times strictly after the epoch timestamp `after`, as epoch seconds.
    /// The fast path: the search runs with the GIL released.
    fn next_timestamps<'py>(
        &self,
        py: Python<'py>,
        after: f64,
        n: usize,
    ) -> PyResult<Bound<'py, PyList>> {
        let secs = finite_timestamp(after)?;
        let mut out = Vec::with_capacity(n.min(1 << 24));
        crate::detached(py, || self.inner.next_n_into(secs, n, &mut out));
        PyList::new(py, out.into_iter().map(|t| t as f64))
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        Ok(format!(
            "CronExpr({}, tz={})",
            PyString::new(py, self.inner.source()).repr()?,
            PyString::new(py, self.inner.zone().name()).repr()?
        ))
    }

    fn __str__(&self) -> &str {
        self.inner.source()
    }

    fn __eq__(&self, other: &Bound<'_, PyAny>) -> bool {
        match other.cast::<PyCronExpr>() {
            Ok(o) => o.get().inner == self.inner,
            Err(_) => false,
        }
    }

    fn __hash__(&self) -> u64 {
        let mut h = DefaultHasher::new();
        self.inner.source().hash(&mut h);
        self.inner.zone().name().hash(&mut h);
        h.finish() >> 2
    }

    /// Pickle support for every protocol: rebuilt from the expression and the zone name.
    fn __reduce__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let rebuild = py.import("fastscheduler._core")?.getattr("_cron_expr")?;
        Ok((rebuild, (self.inner.source(), self.inner.zone().name()))
            .into_pyobject(py)?
            .into_any())
    }
}

/// Rebuilds a `CronExpr` when unpickling (see `CronExpr.__reduce__`).
#[pyfunction]
fn _cron_expr(py: Python<'_>, expr: &str, tz: &str) -> PyResult<PyCronExpr> {
    PyCronExpr::build(py, expr, tz)
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyCronExpr>()?;
    m.add_function(wrap_pyfunction!(_cron_expr, m)?)
}

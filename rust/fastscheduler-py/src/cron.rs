//! `CronExpr`: conversion between Python datetimes and core instants, nothing more.
use crate::errors::py_result;
use fastscheduler_core::civil::Civil;
use fastscheduler_core::cron::CronExpr as CoreCron;
use fastscheduler_core::tz::Zone;
use fastscheduler_core::{CoreError, CronError};
use pyo3::exceptions::PyTypeError;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBytes, PyList, PyString};
use std::collections::hash_map::DefaultHasher;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex};

/// Python objects the conversions need, looked up once.
struct DtApi {
    datetime: Py<PyAny>,
    epoch: Py<PyAny>,
    /// `fastscheduler._tzinfo.result_tzinfos`: the tzinfos of results in a zone (see
    /// [`ZoneTzinfos`]).
    result_tzinfos: Py<PyAny>,
    /// Zone identity -> its tzinfos, and tzinfo identity -> its zone for the tzinfos whose
    /// datetimes read the same in the bundled database (inputs carrying one are then read
    /// without asking Python). Entries live for the whole process, which keeps the identities
    /// unique. Only touched with the GIL held.
    tzinfos: Mutex<TzinfoCache>,
}

/// The tzinfos attached to results in one zone: `system` (`ZoneInfo(name)`, the machine's
/// database) for results at or after the instant from which that database agrees with the
/// bundled one, `bundled` (a `ZoneInfo` read from the bundled database, or `timezone.utc`)
/// before it. So each result's wall clock, offset and instant are the bundled database's.
struct ZoneTzinfos {
    bundled: Py<PyAny>,
    system: Option<(Py<PyAny>, i64)>,
}

impl ZoneTzinfos {
    fn pick(&self, t: i64) -> &Py<PyAny> {
        match &self.system {
            Some((system, from)) if t >= *from => system,
            _ => &self.bundled,
        }
    }
}

#[derive(Default)]
struct TzinfoCache {
    by_zone: HashMap<usize, Arc<ZoneTzinfos>>,
    by_tzinfo: HashMap<usize, Zone>,
}

static DT_API: PyOnceLock<DtApi> = PyOnceLock::new();

fn dt_api(py: Python<'_>) -> PyResult<&DtApi> {
    DT_API.get_or_try_init(py, || {
        let m = py.import("datetime")?;
        let datetime = m.getattr("datetime")?;
        let utc = m.getattr("timezone")?.getattr("utc")?;
        let epoch = datetime.call1((1970, 1, 1, 0, 0, 0, 0, &utc))?;
        let result_tzinfos = py
            .import("fastscheduler._tzinfo")?
            .getattr("result_tzinfos")?;
        Ok::<_, PyErr>(DtApi {
            datetime: datetime.unbind(),
            epoch: epoch.unbind(),
            result_tzinfos: result_tzinfos.unbind(),
            tzinfos: Mutex::new(TzinfoCache::default()),
        })
    })
}

impl DtApi {
    /// The tzinfos of datetimes computed in `zone` (one set per zone per process).
    fn tzinfos_for(&self, py: Python<'_>, zone: &Zone) -> PyResult<Arc<ZoneTzinfos>> {
        if let Some(t) = self.lock().by_zone.get(&zone.id()) {
            return Ok(t.clone());
        }
        // Outside the lock: this calls Python, which may run other threads.
        let (bundled, system, from): (Py<PyAny>, Option<Py<PyAny>>, Option<i64>) = self
            .result_tzinfos
            .bind(py)
            .call1((zone.name(),))?
            .extract()?;
        let fresh = Arc::new(ZoneTzinfos {
            bundled,
            system: system.zip(from),
        });
        let mut cache = self.lock();
        let t = cache.by_zone.entry(zone.id()).or_insert(fresh).clone();
        cache
            .by_tzinfo
            .insert(t.bundled.as_ptr() as usize, zone.clone());
        if let Some((system, i64::MIN)) = &t.system {
            cache
                .by_tzinfo
                .insert(system.as_ptr() as usize, zone.clone());
        }
        Ok(t)
    }

    /// The zone whose results carry `tzinfo`, if it is one of ours and reads the same as the
    /// bundled database at every instant.
    fn zone_of(&self, tzinfo: &Bound<'_, PyAny>) -> Option<Zone> {
        self.lock()
            .by_tzinfo
            .get(&(tzinfo.as_ptr() as usize))
            .cloned()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, TzinfoCache> {
        // A panic while holding it cannot leave the maps inconsistent: use them anyway.
        self.tzinfos.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A cron expression in a time zone (frozen, hashable).
///
/// `CronExpr(expr, /, *, tz="UTC")`. Fire times follow the DST policy in the README: fixed
/// wall-clock times fire once in a fold and right after a gap; wildcard and interval fields
/// follow elapsed time.
#[pyclass(frozen, module = "fastscheduler", name = "CronExpr")]
pub struct PyCronExpr {
    inner: CoreCron,
    /// The tzinfos attached to returned datetimes, looked up when first needed (expressions
    /// built only to check a zone name never pay for it).
    tzinfos: PyOnceLock<Arc<ZoneTzinfos>>,
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

    fn tzinfos(&self, py: Python<'_>) -> PyResult<&ZoneTzinfos> {
        let t = self
            .tzinfos
            .get_or_try_init(py, || dt_api(py)?.tzinfos_for(py, self.inner.zone()))?;
        Ok(t)
    }

    /// A datetime as (epoch seconds, microseconds). Naive datetimes are wall-clock times in the
    /// expression's zone, and so are aware ones whose tzinfo is one this module attaches to its
    /// results and that reads like the bundled database at every instant; both are read in it and honour `fold` as PEP 495 does. Any
    /// other aware datetime is the instant Python says it is (its tzinfo's `utcoffset`).
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
        let zone = if tzinfo.is_none() {
            Some(self.inner.zone().clone())
        } else {
            api.zone_of(&tzinfo)
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

    /// An aware datetime in the expression's zone for instant `t`: wall-clock fields and `fold`
    /// from the bundled database, with a tzinfo that gives the bundled offset there.
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
            self.tzinfos(py)?.pick(t).bind(py),
        ))?;
        if fold {
            let kwargs = pyo3::types::PyDict::new(py);
            kwargs.set_item(intern!(py, "fold"), 1)?;
            return dt.call_method(intern!(py, "replace"), (), Some(&kwargs));
        }
        Ok(dt)
    }

    /// Up to `n` fire instants strictly after `secs`, searched with the GIL released. `n` is at
    /// most `MAX_BATCH` (1,000,000: about 0.1 s of search and 40 MB as floats), which bounds
    /// both the memory and the time a call can take.
    fn next_instants(&self, py: Python<'_>, secs: i64, n: usize) -> PyResult<Vec<i64>> {
        let n = py_result(CoreCron::check_batch(n))?;
        let mut out = Vec::with_capacity(n);
        crate::detached(py, || self.inner.next_n_into(secs, n, &mut out));
        Ok(out)
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
        return py_result(Err(CoreError::InvalidArgument(format!(
            "timestamp must be finite, got {after}"
        ))));
    }
    Ok(after.floor().clamp(-1e15, 1e15) as i64)
}

impl PyCronExpr {
    fn build(expr: &str, tz: &str) -> PyResult<Self> {
        Ok(PyCronExpr {
            inner: py_result(CoreCron::new(expr, tz))?,
            tzinfos: PyOnceLock::new(),
        })
    }
}

#[pymethods]
impl PyCronExpr {
    #[new]
    #[pyo3(signature = (expr, /, *, tz = None), text_signature = "(expr, /, *, tz='UTC')")]
    fn new(expr: &Bound<'_, PyString>, tz: Option<&Bound<'_, PyString>>) -> PyResult<Self> {
        // Lossy: a lone surrogate becomes U+FFFD, which the parser then rejects with CronError.
        let tz = tz.map_or(std::borrow::Cow::Borrowed("UTC"), |t| t.to_string_lossy());
        Self::build(&expr.to_string_lossy(), &tz)
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

    /// The next `n` fire times strictly after `after` (fewer only past year 9999). `n` is at
    /// most 1,000,000.
    fn next_n<'py>(
        &self,
        py: Python<'py>,
        after: &Bound<'py, PyAny>,
        n: usize,
    ) -> PyResult<Bound<'py, PyList>> {
        let (secs, _) = self.instant(after)?;
        let out = self.next_instants(py, secs, n)?;
        let list = PyList::empty(py);
        for t in out {
            list.append(self.datetime(py, t)?)?;
        }
        Ok(list)
    }

    /// The next `n` fire times strictly after the epoch timestamp `after`, as epoch seconds.
    /// The fast path: the search runs with the GIL released. `n` is at most 1,000,000.
    fn next_timestamps<'py>(
        &self,
        py: Python<'py>,
        after: f64,
        n: usize,
    ) -> PyResult<Bound<'py, PyList>> {
        let secs = finite_timestamp(after)?;
        let out = self.next_instants(py, secs, n)?;
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
fn _cron_expr(expr: &str, tz: &str) -> PyResult<PyCronExpr> {
    PyCronExpr::build(expr, tz)
}

/// The canonical name and TZif data of a zone in the bundled tz database (for
/// `fastscheduler._tzinfo`).
#[pyfunction]
fn _bundled_tzif<'py>(py: Python<'py>, name: &str) -> PyResult<(String, Bound<'py, PyBytes>)> {
    let zone = py_result(Zone::get(name))?;
    let data = zone.bundled_tzif().unwrap_or_default();
    Ok((zone.name().to_string(), PyBytes::new(py, data)))
}

/// From which instant on TZif `data` agrees with the bundled database for zone `name` (see
/// `Zone::tzif_agrees_from`; compared with the GIL released).
#[pyfunction]
fn _tzif_agrees_from(py: Python<'_>, name: &str, data: &[u8]) -> PyResult<Option<i64>> {
    let zone = py_result(Zone::get(name))?;
    Ok(crate::detached(py, || zone.tzif_agrees_from(data)))
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyCronExpr>()?;
    m.add_function(wrap_pyfunction!(_cron_expr, m)?)?;
    m.add_function(wrap_pyfunction!(_bundled_tzif, m)?)?;
    m.add_function(wrap_pyfunction!(_tzif_agrees_from, m)?)
}

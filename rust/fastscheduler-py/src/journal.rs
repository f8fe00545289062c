//! The JSON store's Rust side (`docs/persistence.md`): job-state lines serialised from the engine
//! and the registry, and compaction, both with the GIL released for the formatting and the I/O.
use crate::convert::to_secs;
use crate::engine::PyEngine;
use crate::registry::PyJob;
use fastscheduler_core::journal::{self, JournalError, Limits};
use pyo3::exceptions::{PyOSError, PyValueError};
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyBytes, PyFloat, PyInt, PyString, PyTuple};
use std::collections::HashMap;
use std::fs::File;
use std::io::{BufWriter, Read, Write};

/// What a state line needs of a job, copied out of Python objects while attached.
pub(crate) struct JobFields {
    pub id: String,
    pub key: Option<u64>,
    pub last_run: Option<f64>,
    pub finished: bool,
    /// Paused before it was put into the engine (the engine's flag counts once it is there).
    pub paused: bool,
    pub recent: Vec<String>,
}

/// `(next fire in µs, paused, runs, failures, retries)` of a job in the engine.
pub(crate) type EngineState = (Option<i64>, bool, u64, u64, u64);

fn line(buf: &mut Vec<u8>, job: &JobFields, state: Option<EngineState>) {
    let (next, paused, runs, failures, retries) = state.unwrap_or((None, job.paused, 0, 0, 0));
    buf.extend_from_slice(b"{\"state\":{\"job_id\":");
    // Writing into a Vec cannot fail, and a str and finite floats always serialise.
    let _ = serde_json::to_writer(&mut *buf, &job.id);
    if let (Some(us), false) = (next, job.finished) {
        buf.extend_from_slice(b",\"next_run\":");
        let _ = serde_json::to_writer(&mut *buf, &to_secs(us));
    }
    if let Some(last) = job.last_run.filter(|t| t.is_finite()) {
        buf.extend_from_slice(b",\"last_run\":");
        let _ = serde_json::to_writer(&mut *buf, &last);
    }
    for (name, n) in [
        ("run_count", runs),
        ("failure_count", failures),
        ("retry_count", retries),
    ] {
        if n != 0 {
            let _ = write!(buf, ",\"{name}\":{n}");
        }
    }
    if paused {
        buf.extend_from_slice(b",\"paused\":true");
    }
    if job.finished {
        buf.extend_from_slice(b",\"finished\":true");
    }
    if !job.recent.is_empty() {
        buf.extend_from_slice(b",\"recent\":");
        let _ = serde_json::to_writer(&mut *buf, &job.recent);
    }
    buf.extend_from_slice(b"}}\n");
}

/// The journal's `state` lines of `jobs` (see `docs/persistence.md`): for each job, its next
/// run, pause flag and counters from `engine`, its last run, finished flag and recent outcomes
/// from its run state; fields at their default are left out. The fields are copied while
/// attached (a few pointer reads per job, one engine lock for all) and formatted detached.
#[pyfunction]
fn encode_job_states<'py>(
    py: Python<'py>,
    engine: &Bound<'py, PyEngine>,
    jobs: Vec<Bound<'py, PyJob>>,
) -> PyResult<Bound<'py, PyBytes>> {
    let mut fields = Vec::with_capacity(jobs.len());
    for job in &jobs {
        fields.push(job.borrow().journal_fields(py)?);
    }
    let keys: Vec<Option<u64>> = fields.iter().map(|f| f.key).collect();
    let states = engine.get().states_of(py, &keys);
    let bytes = crate::detached(py, move || {
        let mut buf = Vec::with_capacity(fields.len() * 120);
        for (job, state) in fields.iter().zip(states) {
            line(&mut buf, job, state);
        }
        buf
    });
    Ok(PyBytes::new(py, &bytes))
}

/// A field value of a history entry or dead letter.
pub(crate) enum Scalar {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
}

pub(crate) fn scalar(value: &Bound<'_, PyAny>) -> PyResult<Scalar> {
    if value.is_none() {
        return Ok(Scalar::Null);
    }
    if let Ok(b) = value.cast::<PyBool>() {
        return Ok(Scalar::Bool(b.is_true()));
    }
    if let Ok(i) = value.cast::<PyInt>() {
        return Ok(Scalar::Int(i.extract()?));
    }
    if let Ok(f) = value.cast::<PyFloat>() {
        let v = f.value();
        if v.is_finite() {
            return Ok(Scalar::Float(v));
        }
    } else if let Ok(s) = value.cast::<PyString>() {
        return Ok(Scalar::Str(s.to_str()?.to_owned()));
    }
    Err(PyValueError::new_err(
        "not a plain JSON value (None, a bool, an int, a finite float or a str)",
    ))
}

/// The field names and the values of `records` (read while attached).
fn record_values(
    records: &[Bound<'_, PyAny>],
    fields: &[Bound<'_, PyString>],
) -> PyResult<(Vec<String>, Vec<Scalar>)> {
    let mut names = Vec::with_capacity(fields.len());
    for field in fields {
        names.push(field.to_str()?.to_owned());
    }
    let mut values = Vec::with_capacity(records.len() * fields.len());
    for record in records {
        for field in fields {
            values.push(scalar(&record.getattr(field)?)?);
        }
    }
    Ok((names, values))
}

/// `{"v":<version>,"<name>":<value>,...}` appended to `buf`.
fn write_object(buf: &mut Vec<u8>, version: u64, names: &[String], row: &[Scalar]) {
    let _ = write!(buf, "{{\"v\":{version}");
    for (name, value) in names.iter().zip(row) {
        buf.push(b',');
        let _ = serde_json::to_writer(&mut *buf, name);
        buf.push(b':');
        write_scalar(buf, value);
    }
    buf.push(b'}');
}

/// Journal lines `{"<kind>":{"v":<version>,"<field>":<value>,...}}` of `records` (history
/// entries, dead letters: objects whose `fields` are plain values), read while attached and
/// formatted detached. `ValueError` for a value that is not None, a bool, an int, a finite float
/// or a str (the caller writes such records itself).
#[pyfunction]
fn encode_records<'py>(
    py: Python<'py>,
    kind: &str,
    records: Vec<Bound<'py, PyAny>>,
    fields: Vec<Bound<'py, PyString>>,
    version: u64,
) -> PyResult<Bound<'py, PyBytes>> {
    let (names, values) = record_values(&records, &fields)?;
    let kind = kind.to_owned();
    let bytes = crate::detached(py, move || {
        let mut buf = Vec::with_capacity(values.len() * 24);
        let width = names.len().max(1);
        for row in values.chunks(width) {
            buf.extend_from_slice(b"{");
            let _ = serde_json::to_writer(&mut buf, &kind);
            buf.push(b':');
            write_object(&mut buf, version, &names, row);
            buf.extend_from_slice(b"}\n");
        }
        buf
    });
    Ok(PyBytes::new(py, &bytes))
}

/// The part of a job record that comes from its function and its `JobSpec` (shared by every job
/// made from one builder: serialised once per pair), from `"name"` to the end of `"spec"`.
pub(crate) fn spec_part(func: &Bound<'_, PyAny>, spec: &Bound<'_, PyAny>) -> PyResult<Vec<u8>> {
    let py = func.py();
    let func_name = match func.getattr(intern!(py, "__name__")) {
        Ok(name) if name.is_truthy()? => name.str()?.to_str()?.to_owned(),
        _ => func.repr()?.to_str()?.to_owned(),
    };
    let text = |name: &Bound<'_, PyString>| -> PyResult<String> {
        Ok(match func.getattr(name) {
            Ok(v) => v.str()?.to_str()?.to_owned(),
            Err(_) => "?".to_owned(),
        })
    };
    let qualified = format!(
        "{}.{}",
        text(intern!(py, "__module__"))?,
        text(intern!(py, "__qualname__"))?
    );
    let name_attr = spec.getattr(intern!(py, "name"))?;
    let mut buf = Vec::with_capacity(256);
    if name_attr.is_truthy()? {
        let name = name_attr.str()?.to_str()?.to_owned();
        if name != func_name {
            buf.extend_from_slice(b",\"name\":");
            let _ = serde_json::to_writer(&mut buf, &name);
        }
    }
    buf.extend_from_slice(b",\"func_name\":");
    let _ = serde_json::to_writer(&mut buf, &func_name);
    buf.extend_from_slice(b",\"func\":");
    let _ = serde_json::to_writer(&mut buf, &qualified);
    for key in ["kind", "schedule"] {
        let value = spec.getattr(key)?;
        let value = value
            .cast::<PyString>()
            .map_err(|_| PyValueError::new_err("a JobSpec field that is not a string"))?;
        let _ = write!(buf, ",\"{key}\":");
        let _ = serde_json::to_writer(&mut buf, value.to_str()?);
    }
    buf.extend_from_slice(b",\"spec\":{");
    let mut first = true;
    for key in [
        "interval",
        "cron",
        "at",
        "tz",
        "timeout",
        "timeout_kill",
        "retries",
        "catch_up",
    ] {
        let value = scalar(&spec.getattr(key)?)?;
        let default = matches!(
            (&value, key),
            (Scalar::Null, _)
                | (Scalar::Bool(false), "timeout_kill")
                | (Scalar::Int(3), "retries")
                | (Scalar::Bool(true), "catch_up")
        );
        if default {
            continue;
        }
        if !first {
            buf.push(b',');
        }
        first = false;
        let _ = write!(buf, "\"{key}\":");
        write_scalar(&mut buf, &value);
    }
    buf.push(b'}');
    Ok(buf)
}

fn write_scalar(buf: &mut Vec<u8>, value: &Scalar) {
    let _ = match value {
        Scalar::Null => serde_json::to_writer(&mut *buf, &()),
        Scalar::Bool(b) => serde_json::to_writer(&mut *buf, b),
        Scalar::Int(i) => serde_json::to_writer(&mut *buf, i),
        Scalar::Float(f) => serde_json::to_writer(&mut *buf, f),
        Scalar::Str(s) => serde_json::to_writer(&mut *buf, s),
    };
}

/// A job's whole record as it is written to the journal.
struct JobRecord {
    fields: JobFields,
    spec: usize,
    args: Vec<Scalar>,
}

/// Whole job records as Rust copied them out of Python objects (see [`collect_records`]).
struct Collected {
    /// The function-and-spec parts, serialised once per (function, spec) pair.
    parts: Vec<Vec<u8>>,
    records: Vec<JobRecord>,
    states: Vec<Option<EngineState>>,
    /// Positions of the jobs left to the caller.
    others: Vec<usize>,
}

/// Copy what the whole records of `jobs` need out of Python objects (attached): see
/// [`encode_job_records`] for which jobs are left to the caller.
fn collect_records<'py>(
    py: Python<'py>,
    engine: &Bound<'py, PyEngine>,
    jobs: &[Bound<'py, PyJob>],
) -> PyResult<Collected> {
    let mut parts: Vec<Vec<u8>> = Vec::new();
    let mut part_of: HashMap<(usize, usize), usize> = HashMap::new();
    let mut records = Vec::with_capacity(jobs.len());
    let mut others = Vec::new();
    'jobs: for (i, job) in jobs.iter().enumerate() {
        let this = job.borrow();
        let (func, args, kwargs, spec) = this.record_parts();
        if kwargs.is_some() {
            others.push(i);
            continue;
        }
        // A text that is not valid Unicode (a lone surrogate in a name): Python writes the job.
        let Ok(fields) = this.journal_fields(py) else {
            others.push(i);
            continue;
        };
        if fields.key.is_none() {
            others.push(i);
            continue;
        }
        let Ok(args) = args.bind(py).cast::<PyTuple>() else {
            others.push(i);
            continue;
        };
        let mut values = Vec::with_capacity(args.len());
        for arg in args.iter() {
            match scalar(&arg) {
                Ok(v) => values.push(v),
                Err(_) => {
                    others.push(i);
                    continue 'jobs;
                }
            }
        }
        let pair = (func.as_ptr() as usize, spec.as_ptr() as usize);
        let spec_index = match part_of.get(&pair) {
            Some(&k) => k,
            None => {
                let Ok(part) = spec_part(func.bind(py), spec.bind(py)) else {
                    others.push(i);
                    continue;
                };
                parts.push(part);
                part_of.insert(pair, parts.len() - 1);
                parts.len() - 1
            }
        };
        records.push(JobRecord {
            fields,
            spec: spec_index,
            args: values,
        });
    }
    let keys: Vec<Option<u64>> = records.iter().map(|r| r.fields.key).collect();
    let states = engine.get().states_of(py, &keys);
    Ok(Collected {
        parts,
        records,
        states,
        others,
    })
}

/// The definition part of a job's record, from after its id to before `"defaults"`: its
/// function-and-spec `part` ([`spec_part`]) and its arguments. The one writer of it, for the
/// records written and for comparing a stored one (`stored.rs`).
pub(crate) fn write_definition(buf: &mut Vec<u8>, part: &[u8], args: &[Scalar]) {
    buf.extend_from_slice(part);
    if !args.is_empty() {
        buf.extend_from_slice(b",\"args\":[");
        for (k, arg) in args.iter().enumerate() {
            if k > 0 {
                buf.push(b',');
            }
            write_scalar(buf, arg);
        }
        buf.push(b']');
    }
}

/// One whole record as a JSON object, `{"job_id":...,"defaults":1,...}`, appended to `buf`
/// (`state_line`: scratch space).
fn write_record(
    buf: &mut Vec<u8>,
    state_line: &mut Vec<u8>,
    parts: &[Vec<u8>],
    record: &JobRecord,
    state: Option<EngineState>,
) {
    buf.extend_from_slice(b"{\"job_id\":");
    let _ = serde_json::to_writer(&mut *buf, &record.fields.id);
    write_definition(buf, &parts[record.spec], &record.args);
    buf.extend_from_slice(b",\"defaults\":1");
    // The state fields, as a state line has them: `{"state":{"job_id":..., <fields>}}`.
    state_line.clear();
    line(state_line, &record.fields, state);
    let text = &state_line[..state_line.len() - 3]; // without "}}\n"
    let head = b"{\"state\":{\"job_id\":".len();
    let id_len = serde_json::to_vec(&record.fields.id).map_or(0, |v| v.len());
    buf.extend_from_slice(&text[head + id_len..]);
    buf.push(b'}');
}

/// The journal's `job` lines of `jobs` (each job's whole record, as
/// `JobState.store_record` makes it with the fields at their default left out and
/// `"defaults":1`), and the positions of the jobs it leaves to the caller: those whose
/// arguments are not a tuple of plain values (None, a bool, an int, a finite float, a str), with
/// keyword arguments, or not in the engine. The function and spec part is serialised once per
/// (function, spec) pair; no Python container is made per job. Formatted detached.
#[pyfunction]
fn encode_job_records<'py>(
    py: Python<'py>,
    engine: &Bound<'py, PyEngine>,
    jobs: Vec<Bound<'py, PyJob>>,
) -> PyResult<(Bound<'py, PyBytes>, Vec<usize>)> {
    let Collected {
        parts,
        records,
        states,
        others,
    } = collect_records(py, engine, &jobs)?;
    let bytes = crate::detached(py, move || {
        let mut buf = Vec::with_capacity(records.len() * 240);
        let mut scratch = Vec::with_capacity(256);
        for (record, state) in records.iter().zip(states) {
            buf.extend_from_slice(b"{\"job\":");
            write_record(&mut buf, &mut scratch, &parts, record, state);
            buf.extend_from_slice(b"}\n");
        }
        buf
    });
    Ok((PyBytes::new(py, &bytes), others))
}

/// Rows appended to JSON arrays of at most `max_bytes` each (a row larger than that alone).
struct Arrays {
    max_bytes: usize,
    done: Vec<Vec<u8>>,
    current: Vec<u8>,
}

impl Arrays {
    fn new(max_bytes: usize) -> Self {
        Arrays {
            max_bytes,
            done: Vec::new(),
            current: Vec::new(),
        }
    }

    /// Append one row (a JSON array's element, without separator).
    fn push(&mut self, row: &[u8]) {
        if !self.current.is_empty() && self.current.len() + row.len() + 2 > self.max_bytes {
            self.close();
        }
        self.current
            .push(if self.current.is_empty() { b'[' } else { b',' });
        self.current.extend_from_slice(row);
    }

    fn close(&mut self) {
        if !self.current.is_empty() {
            self.current.push(b']');
            self.done.push(std::mem::take(&mut self.current));
        }
    }

    fn finish(mut self) -> Vec<Vec<u8>> {
        self.close();
        self.done
    }
}

fn to_bytes<'py>(py: Python<'py>, arrays: Vec<Vec<u8>>) -> Vec<Bound<'py, PyBytes>> {
    arrays.iter().map(|a| PyBytes::new(py, a)).collect()
}

/// A SQL store's rows of `jobs`, as JSON arrays of at most `max_bytes` each (a longer row
/// alone): `["<job_id>","<record>",<next_run>]` per job, `<record>` being the JSON text of the
/// whole record as [`encode_job_records`] writes it (with `"defaults":1`) and `<next_run>` epoch
/// seconds or `null`; and the positions of the jobs left to the caller (as for
/// `encode_job_records`). Formatted detached.
#[pyfunction]
fn encode_job_rows<'py>(
    py: Python<'py>,
    engine: &Bound<'py, PyEngine>,
    jobs: Vec<Bound<'py, PyJob>>,
    max_bytes: usize,
) -> PyResult<(Vec<Bound<'py, PyBytes>>, Vec<usize>)> {
    let Collected {
        parts,
        records,
        states,
        others,
    } = collect_records(py, engine, &jobs)?;
    let arrays = crate::detached(py, move || {
        let mut arrays = Arrays::new(max_bytes);
        let mut scratch = Vec::with_capacity(256);
        let mut text = Vec::with_capacity(256);
        let mut row = Vec::with_capacity(512);
        for (record, state) in records.iter().zip(states) {
            text.clear();
            write_record(&mut text, &mut scratch, &parts, record, state);
            row.clear();
            row.push(b'[');
            let _ = serde_json::to_writer(&mut row, &record.fields.id);
            row.push(b',');
            // Only JSON text went into `text`: valid UTF-8.
            let _ = serde_json::to_writer(&mut row, &*String::from_utf8_lossy(&text));
            match (state, record.fields.finished) {
                (Some((Some(us), ..)), false) => {
                    row.push(b',');
                    let _ = serde_json::to_writer(&mut row, &to_secs(us));
                }
                _ => row.extend_from_slice(b",null"),
            }
            row.push(b']');
            arrays.push(&row);
        }
        arrays.finish()
    });
    Ok((to_bytes(py, arrays), others))
}

/// A SQL store's rows of `records` (history entries, dead letters), as JSON arrays of at most
/// `max_bytes` each (a longer row alone): `[<column>,...,"<record>"]` per record, the values of
/// the `columns` fields first, then the JSON text `{"v":<version>,"<field>":<value>,...}` of its
/// `fields` (as [`encode_records`] writes them; the same errors).
#[pyfunction]
fn encode_record_rows<'py>(
    py: Python<'py>,
    records: Vec<Bound<'py, PyAny>>,
    fields: Vec<Bound<'py, PyString>>,
    version: u64,
    columns: Vec<Bound<'py, PyString>>,
    max_bytes: usize,
) -> PyResult<Vec<Bound<'py, PyBytes>>> {
    let (names, values) = record_values(&records, &fields)?;
    let (_, leading) = record_values(&records, &columns)?;
    let lead = columns.len();
    let arrays = crate::detached(py, move || {
        let width = names.len().max(1);
        let mut arrays = Arrays::new(max_bytes);
        let mut text = Vec::with_capacity(256);
        let mut row = Vec::with_capacity(512);
        for (k, values) in values.chunks(width).enumerate() {
            row.clear();
            row.push(b'[');
            for value in &leading[k * lead..(k + 1) * lead] {
                write_scalar(&mut row, value);
                row.push(b',');
            }
            text.clear();
            write_object(&mut text, version, &names, values);
            let _ = serde_json::to_writer(&mut row, &*String::from_utf8_lossy(&text));
            row.push(b']');
            arrays.push(&row);
        }
        arrays.finish()
    });
    Ok(to_bytes(py, arrays))
}

enum Failure {
    Journal(JournalError),
    Io(std::io::Error),
    TooLarge(u64),
}

fn read(path: &str) -> Result<Vec<u8>, Failure> {
    let mut data = Vec::new();
    File::open(path)
        .and_then(|mut f| f.read_to_end(&mut data))
        .map_err(Failure::Io)?;
    Ok(data)
}

/// Fold the snapshot at `snapshot` (None: there is none yet) and the journal `segments`
/// (`(number, path)`, in order) into a new snapshot written to `out` and fsynced, pruned to the
/// limits at `now` (see `docs/persistence.md`). Returns `(covers, jobs, history, dead_letters,
/// bytes)`. Runs detached. `ValueError` if a file is damaged or newer (its message says which and
/// why; nothing is written then), `OSError` if reading or writing fails, `ValueError` too if the
/// new snapshot would be larger than `max_bytes`.
#[pyfunction]
#[pyo3(signature = (snapshot, segments, out, *, max_history, history_retention_days, max_dead_letters, now, max_bytes))]
#[allow(clippy::too_many_arguments)]
fn compact_state(
    py: Python<'_>,
    snapshot: Option<String>,
    segments: Vec<(u64, String)>,
    out: String,
    max_history: usize,
    history_retention_days: f64,
    max_dead_letters: usize,
    now: f64,
    max_bytes: u64,
) -> PyResult<(u64, usize, usize, usize, u64)> {
    let limits = Limits {
        max_history,
        retention_secs: history_retention_days * 86400.0,
        max_dead_letters,
    };
    let result = crate::detached(py, move || -> Result<_, Failure> {
        let snap = match &snapshot {
            Some(path) => Some(read(path)?),
            None => None,
        };
        let mut data = Vec::with_capacity(segments.len());
        for (n, path) in &segments {
            data.push((*n, path.as_str(), read(path)?));
        }
        let segs: Vec<(u64, &str, &[u8])> = data
            .iter()
            .map(|(n, name, bytes)| (*n, *name, bytes.as_slice()))
            .collect();
        let file = File::create(&out).map_err(Failure::Io)?;
        let mut writer = BufWriter::with_capacity(1 << 20, file);
        let (covers, summary) = journal::compact(snap.as_deref(), &segs, &limits, now, &mut writer)
            .map_err(Failure::Journal)?;
        let file = writer
            .into_inner()
            .map_err(|e| Failure::Io(e.into_error()))?;
        let size = file.metadata().map_err(Failure::Io)?.len();
        if size > max_bytes {
            return Err(Failure::TooLarge(size));
        }
        file.sync_all().map_err(Failure::Io)?;
        Ok((
            covers,
            summary.jobs,
            summary.history,
            summary.dead_letters,
            size,
        ))
    });
    result.map_err(|f| match f {
        Failure::Journal(JournalError::Io(e)) | Failure::Io(e) => PyOSError::new_err(e.to_string()),
        Failure::Journal(e) => PyValueError::new_err(e.to_string()),
        Failure::TooLarge(size) => PyValueError::new_err(format!(
            "the compacted state would take {size} bytes, more than max_file_size ({max_bytes})"
        )),
    })
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(encode_job_states, m)?)?;
    m.add_function(wrap_pyfunction!(encode_records, m)?)?;
    m.add_function(wrap_pyfunction!(encode_job_records, m)?)?;
    m.add_function(wrap_pyfunction!(encode_job_rows, m)?)?;
    m.add_function(wrap_pyfunction!(encode_record_rows, m)?)?;
    m.add_function(wrap_pyfunction!(compact_state, m)?)
}

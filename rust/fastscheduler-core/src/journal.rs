//! The JSON store's snapshot and journal (see `docs/persistence.md`): folding a snapshot and the
//! journal segments after it into a new snapshot (compaction), and the compact job-state line.
//!
//! Records are carried as raw JSON text ([`RawValue`]) and copied as they are; only a job record
//! that a `state` line changes, or that must lose its `job_id` (it is the record's key in the
//! snapshot), is parsed and written again. The semantics are those of the Python loader
//! (`fastscheduler/stores/json_file.py`), which reads the same files; tests check the two agree.
use serde::de::{Deserializer, MapAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value};
use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::io::{self, Write};

/// Version of the file format (the snapshot's `"v"` and each segment header's).
pub const FILE_FORMAT: u64 = 2;

/// The fields of a job record that a `state` line replaces (a field it leaves out is at its
/// default and is removed from the record).
pub const STATE_FIELDS: [&str; 8] = [
    "next_run",
    "last_run",
    "run_count",
    "failure_count",
    "retry_count",
    "paused",
    "finished",
    "recent",
];

/// The key of a job record that leaves out fields at their default (see the Python loader).
pub const DEFAULTS_KEY: &str = "defaults";

/// Why a fold failed.
#[derive(Debug)]
pub enum JournalError {
    /// A file is not what this format says; the text names the file and says what is wrong.
    Damaged(String),
    /// A file was written by a newer format (its version).
    Newer(u64),
    /// Writing the output failed.
    Io(io::Error),
}

impl fmt::Display for JournalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JournalError::Damaged(m) => f.write_str(m),
            JournalError::Newer(v) => write!(f, "written by a newer format (v{v})"),
            JournalError::Io(e) => e.fmt(f),
        }
    }
}

impl From<io::Error> for JournalError {
    fn from(e: io::Error) -> Self {
        JournalError::Io(e)
    }
}

/// Bounds on history and dead letters (the scheduler's `Limits`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Limits {
    pub max_history: usize,
    pub retention_secs: f64,
    pub max_dead_letters: usize,
}

/// What a fold wrote.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    pub jobs: usize,
    pub history: usize,
    pub dead_letters: usize,
}

/// A JSON object's entries in file order (job ids to records).
struct Ordered<'a>(Vec<(String, &'a RawValue)>);

impl<'de: 'a, 'a> Deserialize<'de> for Ordered<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = Ordered<'a>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object of job records")
            }
            fn visit_map<M: MapAccess<'de>>(self, mut m: M) -> Result<Ordered<'a>, M::Error> {
                let mut out = Vec::with_capacity(m.size_hint().unwrap_or(0));
                while let Some((k, v)) = m.next_entry::<String, &'de RawValue>()? {
                    out.push((k, v));
                }
                Ok(Ordered(out))
            }
        }
        d.deserialize_map(V(std::marker::PhantomData))
    }
}

#[derive(Deserialize)]
struct SnapshotDoc<'a> {
    v: Option<Value>,
    covers: Option<u64>,
    #[serde(borrow)]
    jobs: Option<Ordered<'a>>,
    #[serde(borrow)]
    history: Option<Vec<&'a RawValue>>,
    #[serde(borrow)]
    dead_letters: Option<Vec<&'a RawValue>>,
    #[serde(borrow)]
    stats: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct Header {
    v: u64,
    max_history: Option<u64>,
    history_retention_days: Option<f64>,
    max_dead_letters: Option<u64>,
}

#[derive(Deserialize)]
struct Commit {
    now: f64,
}

/// One journal line: an object with one key, its kind.
#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
enum Line<'a> {
    Journal(Header),
    Delete(String),
    #[serde(borrow)]
    Job(&'a RawValue),
    #[serde(borrow)]
    State(&'a RawValue),
    #[serde(borrow)]
    History(&'a RawValue),
    ClearDeadLetters(bool),
    #[serde(borrow)]
    DeadLetter(&'a RawValue),
    #[serde(borrow)]
    Stats(&'a RawValue),
    Commit(Commit),
}

#[derive(Deserialize)]
struct JobId {
    job_id: String,
}

#[derive(Deserialize)]
struct Stamp {
    timestamp: Option<Value>,
}

/// A job in the fold: its last whole record and the last state line since (applied when the
/// snapshot is written: a job that ran a thousand times is parsed once).
struct Job<'a> {
    record: &'a RawValue,
    state: Option<&'a RawValue>,
}

struct History<'a> {
    raw: &'a RawValue,
    /// The entry's `timestamp` when it is a number (others are kept, as the loader does).
    at: Option<f64>,
}

/// The state being folded: the snapshot, then each committed batch of the segments.
struct Fold<'a> {
    index: HashMap<String, usize>,
    jobs: Vec<Option<(String, Job<'a>)>>,
    history: VecDeque<History<'a>>,
    dead: VecDeque<&'a RawValue>,
    stats: Option<&'a RawValue>,
    live: usize,
}

fn damaged(what: &str, detail: impl fmt::Display) -> JournalError {
    JournalError::Damaged(format!("{what}: {detail}"))
}

fn history_entry(raw: &RawValue) -> History<'_> {
    let at = serde_json::from_str::<Stamp>(raw.get())
        .ok()
        .and_then(|s| s.timestamp)
        .and_then(|t| t.as_f64());
    History { raw, at }
}

impl<'a> Fold<'a> {
    fn new() -> Self {
        Fold {
            index: HashMap::new(),
            jobs: Vec::new(),
            history: VecDeque::new(),
            dead: VecDeque::new(),
            stats: None,
            live: 0,
        }
    }

    fn upsert(&mut self, id: String, record: &'a RawValue) {
        let job = Job {
            record,
            state: None,
        };
        match self.index.get(&id) {
            Some(&i) if self.jobs[i].is_some() => self.jobs[i] = Some((id, job)),
            _ => {
                self.index.insert(id.clone(), self.jobs.len());
                self.jobs.push(Some((id, job)));
                self.live += 1;
            }
        }
    }

    fn delete(&mut self, id: &str) {
        if let Some(i) = self.index.remove(id) {
            if self.jobs[i].take().is_some() {
                self.live -= 1;
            }
        }
    }

    /// Keep a state line for a stored job, to replace its state fields when the snapshot is
    /// written (a state for a job not stored is dropped, as the loader drops it).
    fn state(&mut self, state: &'a RawValue, at: &str) -> Result<(), JournalError> {
        let id = match state_id(state.get()) {
            Some((id, _)) => id,
            None => {
                serde_json::from_str::<JobId>(state.get())
                    .map_err(|e| damaged(at, format_args!("a state line without a job_id ({e})")))?
                    .job_id
            }
        };
        if let Some(&i) = self.index.get(&id) {
            if let Some((_, job)) = self.jobs[i].as_mut() {
                job.state = Some(state);
            }
        }
        Ok(())
    }

    fn prune(&mut self, limits: &Limits, now: f64) {
        let horizon = now - limits.retention_secs;
        if self
            .history
            .iter()
            .any(|h| h.at.is_some_and(|t| t < horizon))
        {
            self.history.retain(|h| h.at.is_none_or(|t| t >= horizon));
        }
        while self.history.len() > limits.max_history {
            self.history.pop_front();
        }
        while self.dead.len() > limits.max_dead_letters {
            self.dead.pop_front();
        }
    }

    fn snapshot(&mut self, data: &'a [u8], limits: &Limits) -> Result<u64, JournalError> {
        let what = "the snapshot";
        let doc: SnapshotDoc<'a> =
            serde_json::from_slice(data).map_err(|e| damaged(what, format_args!("{e}")))?;
        match doc.v.as_ref().and_then(Value::as_u64) {
            Some(v) if v > FILE_FORMAT => return Err(JournalError::Newer(v)),
            Some(v) if v >= 1 => {}
            _ => return Err(damaged(what, "no format version")),
        }
        for (id, raw) in doc.jobs.map(|o| o.0).unwrap_or_default() {
            self.upsert(id, raw);
        }
        self.history.extend(
            doc.history
                .unwrap_or_default()
                .into_iter()
                .map(history_entry),
        );
        self.dead.extend(doc.dead_letters.unwrap_or_default());
        self.stats = doc.stats;
        let _ = limits;
        Ok(doc.covers.unwrap_or(0))
    }

    /// Apply one segment's committed batches; lines after its last commit are ignored (a batch
    /// cut short by a crash, a torn last line).
    fn segment(
        &mut self,
        name: &str,
        data: &'a [u8],
        default: &Limits,
    ) -> Result<(), JournalError> {
        let mut limits = *default;
        let mut pending: Vec<Line<'a>> = Vec::new();
        let mut torn_at: Option<(usize, String)> = None;
        let mut rest = data;
        let mut number = 0usize;
        while !rest.is_empty() {
            number += 1;
            let Some(end) = rest.iter().position(|&b| b == b'\n') else {
                break; // no newline: a torn last line
            };
            let (line, after) = (&rest[..end], &rest[end + 1..]);
            rest = after;
            let at = format!("{name} line {number}");
            let parsed = match serde_json::from_slice::<Line<'a>>(line) {
                Ok(p) => p,
                Err(e) => {
                    if torn_at.is_none() {
                        torn_at = Some((number, e.to_string()));
                    }
                    continue;
                }
            };
            if let Some((n, e)) = &torn_at {
                if matches!(parsed, Line::Commit(_)) {
                    // A bad line before a commit is not a torn tail: the file is damaged.
                    return Err(damaged(&format!("{name} line {n}"), e));
                }
                continue;
            }
            match parsed {
                Line::Journal(h) => {
                    if h.v > FILE_FORMAT {
                        return Err(JournalError::Newer(h.v));
                    }
                    if number != 1 {
                        return Err(damaged(&at, "a segment header after the first line"));
                    }
                    limits = Limits {
                        max_history: h.max_history.map_or(default.max_history, |n| n as usize),
                        retention_secs: h
                            .history_retention_days
                            .map_or(default.retention_secs, |d| d * 86400.0),
                        max_dead_letters: h
                            .max_dead_letters
                            .map_or(default.max_dead_letters, |n| n as usize),
                    };
                }
                Line::Commit(c) => {
                    self.apply(std::mem::take(&mut pending), &at)?;
                    self.prune(&limits, c.now);
                }
                other => pending.push(other),
            }
        }
        Ok(())
    }

    /// One committed batch, in the order `Changes` documents.
    fn apply(&mut self, lines: Vec<Line<'a>>, at: &str) -> Result<(), JournalError> {
        let mut order: [Vec<Line<'a>>; 7] = Default::default();
        for line in lines {
            let slot = match line {
                Line::Delete(_) => 0,
                Line::Job(_) => 1,
                Line::State(_) => 2,
                Line::History(_) => 3,
                Line::ClearDeadLetters(_) => 4,
                Line::DeadLetter(_) => 5,
                Line::Stats(_) => 6,
                Line::Journal(_) | Line::Commit(_) => continue,
            };
            order[slot].push(line);
        }
        for line in order.into_iter().flatten() {
            match line {
                Line::Delete(id) => self.delete(&id),
                Line::Job(raw) => {
                    let id = serde_json::from_str::<JobId>(raw.get())
                        .map_err(|e| {
                            damaged(at, format_args!("a job record without a job_id ({e})"))
                        })?
                        .job_id;
                    self.upsert(id, raw);
                }
                Line::State(state) => self.state(state, at)?,
                Line::History(raw) => self.history.push_back(history_entry(raw)),
                Line::ClearDeadLetters(clear) => {
                    if clear {
                        self.dead.clear();
                    }
                }
                Line::DeadLetter(raw) => self.dead.push_back(raw),
                Line::Stats(raw) => self.stats = Some(raw),
                Line::Journal(_) | Line::Commit(_) => {}
            }
        }
        Ok(())
    }

    /// Write the snapshot document (one record per line).
    fn write(&self, out: &mut impl Write, covers: u64, now: f64) -> Result<Summary, JournalError> {
        out.write_all(b"{\"v\":")?;
        write!(out, "{FILE_FORMAT}")?;
        out.write_all(b",\"covers\":")?;
        write!(out, "{covers}")?;
        out.write_all(b",\"saved_at\":")?;
        serde_json::to_writer(&mut *out, &now).map_err(io::Error::from)?;
        out.write_all(b",\"stats\":")?;
        match self.stats {
            Some(raw) => out.write_all(raw.get().as_bytes())?,
            None => out.write_all(b"{}")?,
        }
        out.write_all(b",\n\"jobs\":{")?;
        let mut first = true;
        let mut buf = Vec::new();
        for (id, job) in self.jobs.iter().flatten() {
            out.write_all(if first { b"\n" } else { b",\n" })?;
            first = false;
            serde_json::to_writer(&mut *out, id).map_err(io::Error::from)?;
            out.write_all(b":")?;
            buf.clear();
            write_job(&mut buf, id, job)?;
            out.write_all(&buf)?;
        }
        out.write_all(b"\n},\n\"history\":[")?;
        let mut first = true;
        for h in &self.history {
            out.write_all(if first { b"\n" } else { b",\n" })?;
            first = false;
            out.write_all(h.raw.get().as_bytes())?;
        }
        out.write_all(b"\n],\n\"dead_letters\":[")?;
        let mut first = true;
        for d in &self.dead {
            out.write_all(if first { b"\n" } else { b",\n" })?;
            first = false;
            out.write_all(d.get().as_bytes())?;
        }
        out.write_all(b"\n]}\n")?;
        Ok(Summary {
            jobs: self.live,
            history: self.history.len(),
            dead_letters: self.dead.len(),
        })
    }
}

/// `(job_id, the rest)` of a state line as the binding writes it: `{"job_id":"...",...}`, the
/// rest starting with `,` or `}`; None for another layout (parsed instead).
fn state_id(text: &str) -> Option<(String, &str)> {
    let body = text.strip_prefix("{\"job_id\":\"")?;
    let bytes = body.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'"' => {
                let id: String = serde_json::from_str(&text[10..10 + i + 2]).ok()?;
                let rest = &body[i + 1..];
                return (rest.starts_with(',') || rest.starts_with('}')).then_some((id, rest));
            }
            _ => i += 1,
        }
    }
    None
}

/// A job record as the snapshot keeps it: without its `job_id` when that is its key, and with its
/// last state line's fields in place of its own state fields (last, after `"defaults":1`: the
/// line leaves out fields at their default, which the loader puts back).
fn write_job(out: &mut Vec<u8>, id: &str, job: &Job<'_>) -> Result<(), JournalError> {
    let text = job.record.get();
    let Some(state) = job.state else {
        if !text.contains("\"job_id\"") {
            out.extend_from_slice(text.as_bytes()); // from a snapshot: written as it was
            return Ok(());
        }
        let mut map: Map<String, Value> =
            serde_json::from_str(text).map_err(|e| damaged("a job record", format_args!("{e}")))?;
        if map.get("job_id").and_then(Value::as_str) == Some(id) {
            map.shift_remove("job_id");
        }
        serde_json::to_writer(&mut *out, &map).map_err(io::Error::from)?;
        return Ok(());
    };
    let mut map: Map<String, Value> =
        serde_json::from_str(text).map_err(|e| damaged("a job record", format_args!("{e}")))?;
    let own_id = map.get("job_id").and_then(Value::as_str) == Some(id);
    map.retain(|k, _| {
        !(STATE_FIELDS.contains(&k.as_str()) || k == DEFAULTS_KEY || (own_id && k == "job_id"))
    });
    match state_id(state.get()) {
        Some((_, rest)) => {
            serde_json::to_writer(&mut *out, &map).map_err(io::Error::from)?;
            out.pop(); // the closing brace
            if !map.is_empty() {
                out.push(b',');
            }
            out.extend_from_slice(b"\"defaults\":1");
            out.extend_from_slice(rest.as_bytes()); // ",field:value...}" or "}"
        }
        None => {
            let mut fields: Map<String, Value> = serde_json::from_str(state.get())
                .map_err(|e| damaged("a state line", format_args!("{e}")))?;
            fields.shift_remove("job_id");
            map.insert(DEFAULTS_KEY.to_owned(), Value::from(1));
            map.extend(fields);
            serde_json::to_writer(&mut *out, &map).map_err(io::Error::from)?;
        }
    }
    Ok(())
}

/// Fold `snapshot` (None: no snapshot yet) and the journal `segments` (number, name for
/// messages, content) into a new snapshot written to `out`, covering the last segment. Segments
/// the snapshot already covers are skipped. `limits` prune what segments without limits in
/// their header add, and the result; `now` is the time retention is measured from at the end.
pub fn compact(
    snapshot: Option<&[u8]>,
    segments: &[(u64, &str, &[u8])],
    limits: &Limits,
    now: f64,
    out: &mut impl Write,
) -> Result<(u64, Summary), JournalError> {
    let mut fold = Fold::new();
    let mut covers = match snapshot {
        Some(data) => fold.snapshot(data, limits)?,
        None => 0,
    };
    for &(n, name, data) in segments {
        if n <= covers {
            continue;
        }
        fold.segment(name, data, limits)?;
        covers = n;
    }
    fold.prune(limits, now);
    let summary = fold.write(out, covers, now)?;
    Ok((covers, summary))
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Limits = Limits {
        max_history: 3,
        retention_secs: 1e12,
        max_dead_letters: 2,
    };

    fn fold(snapshot: Option<&str>, segments: &[&str]) -> Value {
        let named: Vec<(u64, String)> = (1..=segments.len() as u64)
            .map(|n| (n, format!("seg{n}")))
            .collect();
        let segs: Vec<(u64, &str, &[u8])> = named
            .iter()
            .zip(segments)
            .map(|((n, name), s)| (*n, name.as_str(), s.as_bytes()))
            .collect();
        let mut out = Vec::new();
        compact(snapshot.map(str::as_bytes), &segs, &LIMITS, 100.0, &mut out).unwrap();
        serde_json::from_slice(&out).unwrap()
    }

    #[test]
    fn replays_committed_batches_and_ignores_a_torn_tail() {
        let seg = concat!(
            "{\"journal\":{\"v\":2,\"segment\":1}}\n",
            "{\"job\":{\"job_id\":\"a\",\"func_name\":\"f\",\"run_count\":1}}\n",
            "{\"commit\":{\"lines\":1,\"now\":10}}\n",
            "{\"state\":{\"job_id\":\"a\",\"next_run\":5.5,\"run_count\":2}}\n",
            "{\"history\":{\"job_id\":\"a\",\"timestamp\":9}}\n",
            "{\"commit\":{\"lines\":2,\"now\":11}}\n",
            "{\"state\":{\"job_id\":\"a\",\"run_count\":3}}\n",
            "{\"commit\":{\"li"
        );
        let v = fold(None, &[seg]);
        assert_eq!(v["covers"], 1);
        assert_eq!(
            v["jobs"]["a"],
            serde_json::json!({"func_name": "f", "defaults": 1, "next_run": 5.5, "run_count": 2})
        );
        assert_eq!(
            v["history"],
            serde_json::json!([{"job_id": "a", "timestamp": 9}])
        );
    }

    #[test]
    fn the_last_state_wins_and_ids_may_hold_escapes() {
        assert_eq!(
            state_id(r#"{"job_id":"a\"b\\","run_count":1}"#),
            Some(("a\"b\\".to_owned(), r#","run_count":1}"#))
        );
        assert_eq!(state_id(r#"{"job_id":"x"}"#), Some(("x".to_owned(), "}")));
        assert_eq!(state_id(r#"{"run_count":1,"job_id":"x"}"#), None);
        let seg = concat!(
            "{\"job\":{\"job_id\":\"q\\\"\",\"kwargs\":{\"defaults\":1},\"paused\":true}}\n",
            "{\"state\":{\"job_id\":\"q\\\"\",\"run_count\":1,\"paused\":true}}\n",
            "{\"state\":{\"run_count\":2,\"job_id\":\"q\\\"\"}}\n",
            "{\"commit\":{\"lines\":3,\"now\":1}}\n",
            "{\"state\":{\"job_id\":\"q\\\"\"}}\n",
            "{\"commit\":{\"lines\":1,\"now\":2}}\n",
        );
        let v = fold(None, &[seg]);
        assert_eq!(
            v["jobs"]["q\""],
            serde_json::json!({"kwargs": {"defaults": 1}, "defaults": 1})
        );
    }

    #[test]
    fn an_uncommitted_batch_is_dropped() {
        let seg = concat!(
            "{\"job\":{\"job_id\":\"a\"}}\n",
            "{\"commit\":{\"lines\":1,\"now\":1}}\n",
            "{\"job\":{\"job_id\":\"b\"}}\n",
        );
        let v = fold(None, &[seg]);
        assert_eq!(v["jobs"], serde_json::json!({"a": {}}));
    }

    #[test]
    fn a_bad_line_before_a_commit_is_damage() {
        let seg = "{\"job\":{\"job_id\":\"a\"}}\nnot json\n{\"commit\":{\"lines\":1,\"now\":1}}\n";
        let segs = [(1u64, "seg1", seg.as_bytes())];
        let err = compact(None, &segs, &LIMITS, 1.0, &mut Vec::new()).unwrap_err();
        assert!(err.to_string().starts_with("seg1 line 2: "), "{err}");
    }

    #[test]
    fn snapshot_then_segments_in_order_with_deletes_and_limits() {
        let snap = concat!(
            "{\"v\":2,\"covers\":1,\"stats\":{\"v\":1},\n\"jobs\":{\n\"a\":{\"x\":1},\n\"b\":{\"x\":2}\n},",
            "\"history\":[{\"timestamp\":1},{\"timestamp\":2}],\"dead_letters\":[{\"n\":1}]}"
        );
        let covered = "{\"delete\":\"a\"}\n{\"commit\":{\"lines\":1,\"now\":1}}\n";
        let seg2 = concat!(
            "{\"history\":{\"timestamp\":3}}\n{\"history\":{\"timestamp\":4}}\n",
            "{\"dead_letter\":{\"n\":2}}\n{\"dead_letter\":{\"n\":3}}\n{\"delete\":\"a\"}\n",
            "{\"job\":{\"job_id\":\"c\",\"y\":3}}\n{\"stats\":{\"v\":1,\"runs\":4}}\n",
            "{\"commit\":{\"lines\":7,\"now\":5}}\n"
        );
        let v = fold(Some(snap), &[covered, seg2]);
        assert_eq!(v["covers"], 2);
        assert_eq!(v["jobs"], serde_json::json!({"b": {"x": 2}, "c": {"y": 3}}));
        let ts: Vec<i64> = v["history"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h["timestamp"].as_i64().unwrap())
            .collect();
        assert_eq!(ts, [2, 3, 4]);
        assert_eq!(v["dead_letters"], serde_json::json!([{"n": 2}, {"n": 3}]));
        assert_eq!(v["stats"], serde_json::json!({"v": 1, "runs": 4}));
    }

    #[test]
    fn clear_then_append_and_retention() {
        let seg = concat!(
            "{\"journal\":{\"v\":2,\"segment\":1,\"history_retention_days\":0.0005}}\n",
            "{\"dead_letter\":{\"n\":1}}\n{\"commit\":{\"lines\":1,\"now\":1}}\n",
            "{\"clear_dead_letters\":true}\n{\"dead_letter\":{\"n\":2}}\n",
            "{\"history\":{\"timestamp\":1}}\n{\"history\":{\"timestamp\":50}}\n",
            "{\"commit\":{\"lines\":2,\"now\":60}}\n"
        );
        let v = fold(None, &[seg]);
        assert_eq!(v["dead_letters"], serde_json::json!([{"n": 2}]));
        assert_eq!(v["history"], serde_json::json!([{"timestamp": 50}]));
    }

    #[test]
    fn newer_formats_are_refused() {
        let snap = "{\"v\":3,\"jobs\":{}}";
        let err = compact(Some(snap.as_bytes()), &[], &LIMITS, 1.0, &mut Vec::new()).unwrap_err();
        assert!(matches!(err, JournalError::Newer(3)));
        let seg = "{\"journal\":{\"v\":9,\"segment\":1}}\n";
        let segs = [(1u64, "s", seg.as_bytes())];
        let err = compact(None, &segs, &LIMITS, 1.0, &mut Vec::new()).unwrap_err();
        assert!(matches!(err, JournalError::Newer(9)));
    }

    #[test]
    fn a_version_1_file_is_read_and_job_ids_leave_the_records() {
        let v1 = "{\"v\":1,\"jobs\":{\"a\":{\"v\":1,\"job_id\":\"a\",\"run_count\":3}},\"history\":[],\"dead_letters\":[],\"stats\":{}}";
        let v = fold(Some(v1), &[]);
        assert_eq!(v["v"], 2);
        assert_eq!(
            v["jobs"],
            serde_json::json!({"a": {"v": 1, "run_count": 3}})
        );
    }
}

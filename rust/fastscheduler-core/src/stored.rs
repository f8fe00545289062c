//! Stored job records as a SQL store keeps them (one JSON text per job), checked and summarised
//! without a Python object, so that loading a million of them does not make a million dicts.
//!
//! [`vouch`] is a fast path of the Python validator (`fastscheduler.stores._records`), which
//! stays the one definition of a valid record: it only vouches for a *compact* record (one with
//! `"defaults"`, as the Rust record writer makes them) whose every field is one the writer
//! writes, with the type and range the validator accepts. Anything else (unknown fields, keyword
//! arguments, nested arguments, a newer version, anything wrong) is handed back to Python. Never
//! a panic: every input is either vouched for or handed back.
use serde::de::{self, Deserializer, IgnoredAny, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;
use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;

/// What a valid record may hold (the Python validator's constants).
#[derive(Debug, Clone)]
pub struct Limits {
    /// Newest format version this code reads.
    pub max_version: i64,
    /// Earliest and latest stored time (epoch seconds).
    pub min_time: f64,
    pub max_time: f64,
    /// The run statuses a `recent` list may hold.
    pub statuses: Vec<String>,
}

/// What arming a job needs of its stored record (the defaults put back).
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    pub version: i64,
    pub next_run: Option<f64>,
    pub last_run: Option<f64>,
    /// Runs, failures, retries.
    pub counts: [u64; 3],
    pub paused: bool,
    pub finished: bool,
    /// Indexes into [`Limits::statuses`].
    pub recent: Vec<u8>,
    /// Where the definition fields lie in the text (from after the job id to before
    /// `,"defaults":1`), when the record has the writer's layout: the definition fields first,
    /// then only state fields. None: the definition is compared as out of date.
    pub definition: Option<(u32, u32)>,
}

/// `Some(value)` for a present field, so that `null` is refused where the validator refuses it
/// (a missing field is `None` through `#[serde(default)]`).
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

/// A positional argument the writer writes: null, a bool, a number or a string (no nesting).
struct Plain;

impl<'de> Deserialize<'de> for Plain {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Plain;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a plain value")
            }
            fn visit_unit<E: de::Error>(self) -> Result<Plain, E> {
                Ok(Plain)
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Plain, E> {
                Ok(Plain)
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<Plain, E> {
                Ok(Plain)
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<Plain, E> {
                Ok(Plain)
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Plain, E> {
                Ok(Plain)
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<Plain, E> {
                Ok(Plain)
            }
        }
        d.deserialize_any(V)
    }
}

// Some fields are only parsed: their type is the check.
#[allow(dead_code)]
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Spec<'a> {
    #[serde(default)]
    interval: Option<f64>,
    #[serde(default, borrow)]
    cron: Option<Cow<'a, str>>,
    #[serde(default)]
    at: Option<f64>,
    #[serde(default, borrow)]
    tz: Option<Cow<'a, str>>,
    #[serde(default)]
    timeout: Option<f64>,
    #[serde(default, deserialize_with = "present")]
    timeout_kill: Option<bool>,
    #[serde(default)]
    retries: Option<u64>,
    #[serde(default, deserialize_with = "present")]
    catch_up: Option<bool>,
}

/// The state fields of a record (what follows `"defaults"` in the writer's layout).
const STATE_FIELDS: [&str; 8] = [
    "next_run",
    "last_run",
    "run_count",
    "failure_count",
    "retry_count",
    "paused",
    "finished",
    "recent",
];

// Some fields are only parsed: their type is the check.
#[allow(dead_code)]
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Record<'a> {
    #[serde(borrow)]
    job_id: Cow<'a, str>,
    #[serde(default, deserialize_with = "present")]
    v: Option<i64>,
    #[serde(default, borrow)]
    name: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    func_name: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    func: Option<Cow<'a, str>>,
    #[serde(default, borrow, deserialize_with = "present")]
    kind: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    schedule: Option<Cow<'a, str>>,
    /// (raw: serde reads a struct from a JSON array too; the validator wants an object)
    #[serde(default, borrow)]
    spec: Option<&'a RawValue>,
    #[serde(default)]
    args: Option<Vec<Plain>>,
    defaults: IgnoredAny,
    #[serde(default)]
    next_run: Option<f64>,
    #[serde(default)]
    last_run: Option<f64>,
    #[serde(default, deserialize_with = "present")]
    run_count: Option<u64>,
    #[serde(default, deserialize_with = "present")]
    failure_count: Option<u64>,
    #[serde(default, deserialize_with = "present")]
    retry_count: Option<u64>,
    #[serde(default, deserialize_with = "present")]
    paused: Option<bool>,
    #[serde(default, deserialize_with = "present")]
    finished: Option<bool>,
    #[serde(default, borrow, deserialize_with = "present")]
    recent: Option<Vec<Cow<'a, str>>>,
}

impl Limits {
    fn time(&self, t: Option<f64>) -> bool {
        t.is_none_or(|t| self.min_time <= t && t <= self.max_time)
    }

    fn count(n: Option<u64>) -> bool {
        n.is_none_or(|n| n <= i64::MAX as u64)
    }

    fn spec(&self, spec: &Spec<'_>) -> bool {
        spec.interval.is_none_or(|s| 0.0 < s && s <= self.max_time)
            && self.time(spec.at)
            && spec.timeout.is_none_or(|s| 0.0 <= s && s <= self.max_time)
            && Self::count(spec.retries)
    }

    fn recent(&self, recent: &[Cow<'_, str>]) -> Option<Vec<u8>> {
        recent
            .iter()
            .map(|s| {
                self.statuses
                    .iter()
                    .position(|t| t == s)
                    .and_then(|i| u8::try_from(i).ok())
            })
            .collect()
    }
}

const DEFAULTS: &str = ",\"defaults\":1";

/// The summary of the record `text` stored under `job_id`, if this fast path vouches for it (see
/// the module doc); None: the Python validator decides.
pub fn vouch(job_id: &str, text: &str, limits: &Limits) -> Option<Summary> {
    if !is_object(text) {
        return None; // (serde would read a JSON array into the struct)
    }
    let r: Record<'_> = serde_json::from_str(text).ok()?;
    let spec = match r.spec {
        Some(raw) if is_object(raw.get()) => {
            Some(serde_json::from_str::<Spec<'_>>(raw.get()).ok()?)
        }
        Some(_) => return None,
        None => None,
    };
    let version = r.v.unwrap_or(1);
    let valid = r.job_id == job_id
        && (1..=limits.max_version).contains(&version)
        && r.kind
            .as_deref()
            .is_none_or(|k| matches!(k, "interval" | "cron" | "date"))
        && spec.as_ref().is_none_or(|s| limits.spec(s))
        && limits.time(r.next_run)
        && limits.time(r.last_run)
        && [r.run_count, r.failure_count, r.retry_count]
            .into_iter()
            .all(Limits::count);
    if !valid {
        return None;
    }
    let recent = limits.recent(r.recent.as_deref().unwrap_or_default())?;
    Some(Summary {
        version,
        next_run: r.next_run,
        last_run: r.last_run,
        counts: [
            r.run_count.unwrap_or(0),
            r.failure_count.unwrap_or(0),
            r.retry_count.unwrap_or(0),
        ],
        paused: r.paused.unwrap_or(false),
        finished: r.finished.unwrap_or(false),
        recent,
        definition: definition(job_id, text),
    })
}

/// Whether a JSON text is an object (not an array that serde would read into a struct).
fn is_object(text: &str) -> bool {
    text.trim_start_matches([' ', '\t', '\n', '\r'])
        .starts_with('{')
}

/// Where the definition fields of `text` lie, if it has the writer's layout:
/// `{"job_id":<id><definition>,"defaults":1<state fields only>}`.
fn definition(job_id: &str, text: &str) -> Option<(u32, u32)> {
    let id = serde_json::to_string(job_id).ok()?;
    let head = "{\"job_id\":".len() + id.len();
    if !(text.starts_with("{\"job_id\":") && text.get(10..head)? == id) {
        return None;
    }
    let end = head + text.get(head..)?.find(DEFAULTS)?;
    let tail = text.get(end + DEFAULTS.len()..)?;
    // Only state fields after the marker (their values were checked with the whole record):
    // `{` + the rest without its leading comma, read as keys.
    let state_only = match tail.strip_prefix(',') {
        Some(rest) => {
            serde_json::from_str::<HashMap<Cow<'_, str>, IgnoredAny>>(&format!("{{{rest}"))
                .is_ok_and(|keys| keys.keys().all(|k| STATE_FIELDS.contains(&&**k)))
        }
        None => tail == "}",
    };
    if !state_only {
        return None;
    }
    Some((u32::try_from(head).ok()?, u32::try_from(end).ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> Limits {
        Limits {
            max_version: 1,
            min_time: -62135510400.0,
            max_time: 253402214400.0,
            statuses: vec!["completed".into(), "failed".into()],
        }
    }

    const CANON: &str = r#"{"job_id":"a","func_name":"noop","func":"m.noop","kind":"interval","schedule":"Every 5 seconds","spec":{"interval":5.0,"tz":"Etc/UTC"},"args":[1,"x",null,true,2.5],"defaults":1,"next_run":1796589454.8,"run_count":3,"recent":["completed","failed"]}"#;

    #[test]
    fn a_compact_record_is_summarised_with_its_definition() {
        let s = vouch("a", CANON, &limits()).expect("vouched");
        assert_eq!(s.version, 1);
        assert_eq!(s.next_run, Some(1796589454.8));
        assert_eq!(s.counts, [3, 0, 0]);
        assert_eq!(s.recent, vec![0, 1]);
        let (start, end) = s.definition.expect("layout");
        assert!(CANON[start as usize..end as usize].starts_with(",\"func_name\":\"noop\""));
        assert!(CANON[start as usize..end as usize].ends_with("2.5]"));
    }

    #[test]
    fn anything_unusual_is_handed_back() {
        let l = limits();
        for bad in [
            CANON.replace("\"run_count\":3", "\"run_count\":3.0"),
            CANON.replace("\"run_count\":3", "\"run_count\":-3"),
            CANON.replace("\"run_count\":3", "\"run_count\":null"),
            CANON.replace("\"run_count\":3", "\"run_count\":9223372036854775808"),
            CANON.replace("\"completed\"", "\"odd\""),
            CANON.replace("[1,", "[[1],"),
            CANON.replace(",\"defaults\":1", ""),
            CANON.replace("\"defaults\":1", "\"defaults\":1,\"kwargs\":{}"),
            CANON.replace("\"defaults\":1", "\"defaults\":1,\"other\":1"),
            CANON.replace("\"tz\"", "\"zone\""),
            CANON.replace("{\"interval\":5.0,\"tz\":\"Etc/UTC\"}", "[]"),
            CANON.replace("{\"interval\":5.0,\"tz\":\"Etc/UTC\"}", "[5.0]"),
            r#"["a"]"#.into(),
            CANON.replace("\"interval\":5.0", "\"interval\":0"),
            CANON.replace("\"kind\":\"interval\"", "\"kind\":\"weekly\""),
            CANON.replace("\"kind\":\"interval\"", "\"kind\":null"),
            CANON.replace("1796589454.8", "1e300"),
            CANON.replace("\"job_id\":\"a\"", "\"job_id\":\"b\""),
            CANON.replace("\"run_count\":3", "\"run_count\":3,\"run_count\":4"),
            CANON.replace("{\"job_id\"", "{\"v\":2,\"job_id\""),
            CANON.replace("{\"job_id\"", "{\"v\":null,\"job_id\""),
            "[1]".into(),
            "{".into(),
            String::new(),
        ] {
            assert_eq!(vouch("a", &bad, &l), None, "{bad}");
        }
    }

    #[test]
    fn another_layout_is_valid_but_has_no_definition_to_compare() {
        let l = limits();
        let moved = CANON.replace(
            ",\"defaults\":1,\"next_run\":1796589454.8",
            ",\"next_run\":1796589454.8,\"defaults\":1",
        );
        // (a state field before the marker: part of the "definition", which then differs)
        let (start, end) = vouch("a", &moved, &l).expect("valid").definition.unwrap();
        assert!(moved[start as usize..end as usize].ends_with("\"next_run\":1796589454.8"));
        let named_late = CANON.replace("\"run_count\":3", "\"run_count\":3,\"name\":\"n\"");
        assert_eq!(vouch("a", &named_late, &l).unwrap().definition, None);
        let v1 = CANON.replace("{\"job_id\":\"a\",", "{\"v\":1,\"job_id\":\"a\",");
        assert_eq!(vouch("a", &v1, &l).unwrap().definition, None);
        let bare = r#"{"job_id":"a","defaults":1}"#;
        let s = vouch("a", bare, &l).unwrap();
        assert_eq!(s.definition, Some((13, 13)));
        assert_eq!((s.next_run, s.paused, s.finished), (None, false, false));
    }
}

//! CloudWatch metrics in the Embedded Metric Format (EMF): the functions
//! write a JSON document to stdout and CloudWatch Logs turns it into metrics
//! as it ingests the log line. No API call, no `cloudwatch:PutMetricData`
//! permission, no latency on the request path; the cost is the log bytes
//! and the metrics themselves (`docs/metrics.md`).
//!
//! This module owns the contract: every metric's name, unit and dimension
//! sets ([`ALL`]), the values each dimension may take, and the shape of the
//! document. The SAM template's dashboard and alarms are held to [`ALL`] by
//! `tests/tests/template.rs`, and `tests/tests/metrics.rs` reads the
//! documents the real binaries write.
//!
//! **Bounded by construction.** Every dimension has a closed set of values
//! ([`Values::OneOf`]) or, for template names, a checked shape
//! ([`Values::TemplateName`]); anything else is recorded as `other`, so no
//! input can create metrics without bound. No dimension names a tenant, a
//! number, a customer, a message or a text (`docs/metrics.md` says why).
//!
//! **Aggregated per invocation.** A function records into an [`Emf`] while
//! it works and writes it once at the end ([`Emf::flush`]): counts are
//! summed and latencies kept as arrays of up to 100 values, so a batch of
//! ten sends costs a line or two, not ten. A document holds every metric
//! whose dimension values agree with its root members; a metric with no
//! dimensions rides along in the first one.
//!
//! **Own lines, not log fields.** The documents are written straight to
//! stdout, one per line, beside the `tracing` JSON log lines, not as fields
//! of them: EMF needs `_aws` as a JSON object and values as top-level
//! numbers or arrays, which tracing's flattened JSON formatter writes only
//! as strings; and a per-invocation line keeps the per-record log lines as
//! they are (Logs Insights queries, the log-bytes budget). Writes go through
//! Rust's locked stdout, one `write_all` per line, so they never interleave
//! with a log line.
//!
//! **Switched on at cold start.** [`install`] (called by each function's
//! `App::from_env`, with `METRICS_NAMESPACE`) turns the writer on, as
//! `telemetry::init` does for logs; a function built inside a test writes
//! no metrics, and its documents can still be read with [`Emf::documents`].

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::OnceLock;

use serde_json::{Map, Value, json};

/// The namespace when `METRICS_NAMESPACE` is unset (the template sets
/// `Chasqui/<stack>`).
pub const DEFAULT_NAMESPACE: &str = "Chasqui";
/// The value recorded for a dimension value outside its bound.
/// The value a dimension is recorded with when the real one is not among
/// those it may hold.
pub const OTHER: &str = "other";
/// Most values of one metric in one document (the EMF limit).
pub const MAX_VALUES: usize = 100;

/// A CloudWatch unit, as EMF spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// Things that happened (requests, sends, statuses).
    Count,
    /// Durations (latency, lag).
    Milliseconds,
}

impl Unit {
    /// The unit's name in an EMF document.
    pub fn as_str(self) -> &'static str {
        match self {
            Unit::Count => "Count",
            Unit::Milliseconds => "Milliseconds",
        }
    }
}

/// The values a dimension may take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Values {
    /// One of these, else [`OTHER`].
    OneOf(&'static [&'static str]),
    /// A Meta template name (`a-z`, `0-9`, `_`, at most 512 characters),
    /// else [`OTHER`]. Bounded by the templates of the WhatsApp Business
    /// Accounts served (`docs/metrics.md`).
    TemplateName,
}

/// A dimension: its name and what it may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dimension {
    /// The dimension's name in CloudWatch (`Outcome`, `ErrorCode`, ...).
    pub name: &'static str,
    /// The values it may hold.
    pub values: Values,
}

impl Dimension {
    /// `value` if the dimension may hold it, else [`OTHER`].
    pub fn bound<'a>(&self, value: &'a str) -> &'a str {
        let ok = match self.values {
            Values::OneOf(values) => values.contains(&value),
            Values::TemplateName => {
                !value.is_empty()
                    && value.len() <= 512
                    && value
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
            }
        };
        if ok { value } else { OTHER }
    }

    /// Whether `value` is one this dimension is ever recorded with.
    pub fn admits(&self, value: &str) -> bool {
        value == OTHER || self.bound(value) == value
    }
}

/// A metric: its name, unit and the dimension sets it is published under.
/// Every set is a subset of [`Metric::keys`], the dimensions it is recorded
/// with.
#[derive(Debug, PartialEq, Eq)]
pub struct Metric {
    /// The metric's name in CloudWatch.
    pub name: &'static str,
    /// Its unit.
    pub unit: Unit,
    /// The function that emits it (its binary's name).
    pub function: &'static str,
    /// The dimensions it is recorded with, in the order
    /// [`Emf::count`] and [`Emf::value`] take their values.
    pub keys: &'static [Dimension],
    /// The dimension sets CloudWatch publishes it under (each a metric of
    /// its own): names of `keys`.
    pub dimension_sets: &'static [&'static [&'static str]],
}

impl Metric {
    /// The dimension it is recorded with under this name, if any.
    pub fn key(&self, name: &str) -> Option<&Dimension> {
        self.keys.iter().find(|d| d.name == name)
    }
}

// ------------------------------------------------------------- dimensions

/// How the webhook function answered (its log line's `outcome`).
pub const WEBHOOK_OUTCOME: Dimension = Dimension {
    name: "Outcome",
    values: Values::OneOf(&[
        "queued",
        "queued_raw",
        "handshake_ok",
        "handshake_refused",
        "handshake_incomplete",
        "signature_missing",
        "signature_invalid",
        "too_large",
        "unknown_app",
        "secret_unavailable",
        "queue_failed",
        "method_not_allowed",
    ]),
};

/// How a send request ended (the sender's per-record log line's `outcome`).
pub const SEND_OUTCOME: Dimension = Dimension {
    name: "Outcome",
    values: Values::OneOf(&[
        "sent",
        "duplicate",
        "confirmed",
        "suppressed",
        "failed",
        "invalid",
        "refused",
        "retry",
        "dead_letter",
        "scheduled",
        "held",
        "dropped",
    ]),
};

/// How a template send ended at Meta: accepted, or refused for good.
pub const TEMPLATE_OUTCOME: Dimension = Dimension {
    name: "Outcome",
    values: Values::OneOf(&["sent", "failed"]),
};

/// `shared::cloud_api::ErrorClass::as_str`.
pub const ERROR_CLASS: Dimension = Dimension {
    name: "ErrorClass",
    values: Values::OneOf(&["retryable", "throttled", "permanent", "auth"]),
};

/// Meta's error code: the codes `shared::cloud_api::classify` names, `none`
/// for an answer without one (a timeout, an HTTP error without a Graph
/// error), else `other` ([`error_code`]).
pub const ERROR_CODE: Dimension = Dimension {
    name: "ErrorCode",
    values: Values::OneOf(&[
        "none", // throttling
        "130429", "131056", "4", "17", "32", "613", "80007", // transient
        "131000", "131016", "131057", "1", "2", // token, permissions, account
        "190", "0", "3", "10", "102", "131005", "131031", "368",
        // the message or the recipient
        "131047", "131026", "131050", "132000", "132001", "132005", "132007", "132012", "132015",
        "132016", "131048", "131049", "133010", "100", "131008", "131009", "131051", "131052",
        "131053", "131062",
    ]),
};

/// A template's name.
pub const TEMPLATE: Dimension = Dimension {
    name: "Template",
    values: Values::TemplateName,
};

/// How the status function ended a queued webhook record (its log line's
/// `outcome`).
pub const RECORD_OUTCOME: Dimension = Dimension {
    name: "Outcome",
    values: Values::OneOf(&["applied", "retry", "dead_lettered"]),
};

/// The status Meta reported ([`status_kind`]).
pub const STATUS: Dimension = Dimension {
    name: "Status",
    values: Values::OneOf(&["sent", "delivered", "read", "played", "failed"]),
};

/// What made a contact opt out or in (`shared::events::OptSource::as_str`).
pub const OPT_SOURCE: Dimension = Dimension {
    name: "Source",
    values: Values::OneOf(&[
        "keyword",
        "meta_marketing_preference",
        "error_131050",
        "manual",
    ]),
};

// ---------------------------------------------------------------- metrics

/// Every request the webhook function answered, by outcome.
pub const WEBHOOK_REQUESTS: Metric = Metric {
    name: "WebhookRequests",
    unit: Unit::Count,
    function: "webhook",
    keys: &[WEBHOOK_OUTCOME],
    dimension_sets: &[&[], &["Outcome"]],
};

/// How long the webhook function took to answer.
pub const WEBHOOK_LATENCY: Metric = Metric {
    name: "WebhookLatency",
    unit: Unit::Milliseconds,
    function: "webhook",
    keys: &[],
    dimension_sets: &[&[]],
};

/// Every send request processed (each receive), by outcome: `retry` and
/// `dead_letter` are the retries and dead letters.
pub const SENDS: Metric = Metric {
    name: "Sends",
    unit: Unit::Count,
    function: "sender",
    keys: &[SEND_OUTCOME],
    dimension_sets: &[&[], &["Outcome"]],
};

/// Every Cloud API call that did not succeed, by class and Meta's code:
/// `ErrorClass=throttled` are the throttles (130429, 131056, ...).
pub const SEND_ERRORS: Metric = Metric {
    name: "SendErrors",
    unit: Unit::Count,
    function: "sender",
    keys: &[ERROR_CLASS, ERROR_CODE],
    dimension_sets: &[&["ErrorClass"], &["ErrorClass", "ErrorCode"]],
};

/// Template sends Meta answered, by template and whether it accepted.
pub const TEMPLATE_SENDS: Metric = Metric {
    name: "TemplateSends",
    unit: Unit::Count,
    function: "sender",
    keys: &[TEMPLATE, TEMPLATE_OUTCOME],
    dimension_sets: &[&["Template", "Outcome"]],
};

/// From the send request's arrival on the queue (SQS `SentTimestamp`) to
/// Meta's answer, retries included.
pub const SEND_LAG: Metric = Metric {
    name: "SendLag",
    unit: Unit::Milliseconds,
    function: "sender",
    keys: &[],
    dimension_sets: &[&[]],
};

/// Every queued webhook record the status function processed, by outcome.
pub const WEBHOOK_RECORDS: Metric = Metric {
    name: "WebhookRecords",
    unit: Unit::Count,
    function: "status",
    keys: &[RECORD_OUTCOME],
    dimension_sets: &[&[], &["Outcome"]],
};

/// Status reports written, by the status Meta reported.
pub const STATUSES: Metric = Metric {
    name: "Statuses",
    unit: Unit::Count,
    function: "status",
    keys: &[STATUS],
    dimension_sets: &[&["Status"]],
};

/// From Meta's timestamp of a status to its record written.
pub const STATUS_LAG: Metric = Metric {
    name: "StatusLag",
    unit: Unit::Milliseconds,
    function: "status",
    keys: &[],
    dimension_sets: &[&[]],
};

/// Inbound messages written (people writing to a business number).
pub const INBOUND_MESSAGES: Metric = Metric {
    name: "InboundMessages",
    unit: Unit::Count,
    function: "status",
    keys: &[],
    dimension_sets: &[&[]],
};

/// Contacts that opted out (a `contact.opted_out` event), by source.
pub const OPT_OUTS: Metric = Metric {
    name: "OptOuts",
    unit: Unit::Count,
    function: "status",
    keys: &[OPT_SOURCE],
    dimension_sets: &[&[], &["Source"]],
};

/// Contacts that opted back in (a `contact.opted_in` event), by source.
pub const OPT_INS: Metric = Metric {
    name: "OptIns",
    unit: Unit::Count,
    function: "status",
    keys: &[OPT_SOURCE],
    dimension_sets: &[&["Source"]],
};

/// Every metric the functions emit.
pub const ALL: &[&Metric] = &[
    &WEBHOOK_REQUESTS,
    &WEBHOOK_LATENCY,
    &SENDS,
    &SEND_ERRORS,
    &TEMPLATE_SENDS,
    &SEND_LAG,
    &WEBHOOK_RECORDS,
    &STATUSES,
    &STATUS_LAG,
    &INBOUND_MESSAGES,
    &OPT_OUTS,
    &OPT_INS,
];

/// The metric named `name`.
pub fn metric(name: &str) -> Option<&'static Metric> {
    ALL.iter().copied().find(|m| m.name == name)
}

/// The [`ERROR_CODE`] value of Meta's code.
pub fn error_code(code: Option<i64>) -> String {
    match code {
        None => "none".to_owned(),
        Some(code) => ERROR_CODE.bound(&code.to_string()).to_owned(),
    }
}

/// The [`STATUS`] value of a status Meta reported (`other` for a value
/// Chasqui does not know).
pub fn status_kind(kind: &crate::webhook::StatusKind) -> &'static str {
    use crate::webhook::StatusKind;
    match kind {
        StatusKind::Sent => "sent",
        StatusKind::Delivered => "delivered",
        StatusKind::Read => "read",
        StatusKind::Played => "played",
        StatusKind::Failed => "failed",
        StatusKind::Other(_) => OTHER,
    }
}

// --------------------------------------------------------------- recording

static NAMESPACE: OnceLock<String> = OnceLock::new();

/// Turns the writer on for this process, under `namespace`. Once: a later
/// call changes nothing.
pub fn install(namespace: &str) {
    let _ = NAMESPACE.set(namespace.to_owned());
}

/// One metric's values under one set of dimension values.
#[derive(Debug)]
struct Entry {
    metric: &'static Metric,
    /// `(dimension, value)` in the order of the metric's keys.
    dimensions: Vec<(&'static str, String)>,
    values: Vec<f64>,
}

/// The metrics of one invocation, written as EMF documents by
/// [`Emf::flush`].
#[derive(Debug, Default)]
pub struct Emf {
    entries: Vec<Entry>,
}

impl Emf {
    /// An empty set: nothing recorded yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `n` to `metric` under `dimensions` (values in the order of the
    /// metric's keys, each bounded). Zero adds nothing.
    pub fn count(&mut self, metric: &'static Metric, dimensions: &[&str], n: u64) {
        if n == 0 {
            return;
        }
        let entry = self.entry(metric, dimensions);
        match entry.values.first_mut() {
            Some(sum) => *sum += n as f64,
            None => entry.values.push(n as f64),
        }
    }

    /// Records one value of `metric` under `dimensions` (a latency: each
    /// value counts in the metric's percentiles).
    pub fn value(&mut self, metric: &'static Metric, dimensions: &[&str], value: f64) {
        if value.is_finite() {
            // Hundredths of a millisecond are plenty, and keep lines short.
            let value = (value.max(0.0) * 100.0).round() / 100.0;
            self.entry(metric, dimensions).values.push(value);
        }
    }

    /// Whether nothing was recorded (a flush would write nothing).
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn entry(&mut self, metric: &'static Metric, values: &[&str]) -> &mut Entry {
        let dimensions: Vec<(&'static str, String)> = metric
            .keys
            .iter()
            .enumerate()
            .map(|(i, d)| {
                let value = values.get(i).copied().unwrap_or(OTHER);
                (d.name, d.bound(value).to_owned())
            })
            .collect();
        let at = self
            .entries
            .iter()
            .position(|e| e.metric.name == metric.name && e.dimensions == dimensions);
        let at = match at {
            Some(at) => at,
            None => {
                self.entries.push(Entry {
                    metric,
                    dimensions,
                    values: Vec::new(),
                });
                self.entries.len() - 1
            }
        };
        &mut self.entries[at]
    }

    /// The EMF documents holding everything recorded, under `namespace`,
    /// stamped `timestamp` (Unix ms).
    pub fn documents(&self, namespace: &str, timestamp: u64) -> Vec<Value> {
        // Most dimensions first, so those without any join a document.
        let mut entries: Vec<&Entry> = self.entries.iter().collect();
        entries.sort_by_key(|e| std::cmp::Reverse(e.dimensions.len()));
        let mut groups: Vec<(BTreeMap<&'static str, &str>, Vec<&Entry>)> = Vec::new();
        for entry in entries {
            let fits = |(root, members): &(BTreeMap<&'static str, &str>, Vec<&Entry>)| {
                entry
                    .dimensions
                    .iter()
                    .all(|(k, v)| root.get(k) == Some(&v.as_str()))
                    && !members.iter().any(|m| m.metric.name == entry.metric.name)
            };
            match groups.iter_mut().find(|g| fits(g)) {
                Some((_, members)) => members.push(entry),
                None => groups.push((
                    entry
                        .dimensions
                        .iter()
                        .map(|(k, v)| (*k, v.as_str()))
                        .collect(),
                    vec![entry],
                )),
            }
        }
        let mut documents = Vec::new();
        for (root, members) in groups {
            let chunks = members
                .iter()
                .map(|e| e.values.len().div_ceil(MAX_VALUES))
                .max()
                .unwrap_or(0);
            for chunk in 0..chunks {
                let mut doc = Map::new();
                // Directives grouped by identical dimension sets.
                let mut directives: Vec<(&[&[&str]], Vec<Value>)> = Vec::new();
                for entry in &members {
                    let start = chunk * MAX_VALUES;
                    let values = entry.values.get(start..).unwrap_or_default();
                    let values = &values[..values.len().min(MAX_VALUES)];
                    let value = match values {
                        [] => continue,
                        [one] => number(*one),
                        many => Value::Array(many.iter().copied().map(number).collect()),
                    };
                    doc.insert(entry.metric.name.to_owned(), value);
                    let definition =
                        json!({"Name": entry.metric.name, "Unit": entry.metric.unit.as_str()});
                    match directives
                        .iter_mut()
                        .find(|(sets, _)| *sets == entry.metric.dimension_sets)
                    {
                        Some((_, metrics)) => metrics.push(definition),
                        None => directives.push((entry.metric.dimension_sets, vec![definition])),
                    }
                }
                for (k, v) in &root {
                    doc.insert((*k).to_owned(), Value::String((*v).to_owned()));
                }
                let directives: Vec<Value> = directives
                    .into_iter()
                    .map(|(sets, metrics)| {
                        json!({"Namespace": namespace, "Dimensions": sets, "Metrics": metrics})
                    })
                    .collect();
                doc.insert(
                    "_aws".to_owned(),
                    json!({"Timestamp": timestamp, "CloudWatchMetrics": directives}),
                );
                documents.push(Value::Object(doc));
            }
        }
        documents
    }

    /// Writes the documents to stdout, one line each, when [`install`]ed;
    /// else drops them.
    pub fn flush(self) {
        let Some(namespace) = NAMESPACE.get() else {
            return;
        };
        let mut out = String::new();
        for doc in self.documents(namespace, crate::now_millis()) {
            out.clear();
            out.push_str(&doc.to_string());
            out.push('\n');
            // A lost metric line must never fail an invocation.
            let _ = std::io::stdout().lock().write_all(out.as_bytes());
        }
    }
}

/// A whole number as an integer (shorter, and what a count is).
fn number(v: f64) -> Value {
    if v.fract() == 0.0 && v.abs() < 9.0e15 {
        json!(v as i64)
    } else {
        json!(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_metric_is_published_only_under_its_own_dimensions() {
        let mut names = std::collections::BTreeSet::new();
        for m in ALL {
            assert!(names.insert(m.name), "{} twice", m.name);
            assert!(!m.dimension_sets.is_empty(), "{}", m.name);
            for set in m.dimension_sets {
                for name in *set {
                    assert!(m.key(name).is_some(), "{}: {name} is not a key", m.name);
                }
            }
            for key in m.keys {
                assert!(
                    m.dimension_sets.iter().any(|s| s.contains(&key.name)),
                    "{}: {} is recorded but never published",
                    m.name,
                    key.name
                );
            }
            assert!(["webhook", "sender", "status"].contains(&m.function));
        }
    }

    #[test]
    fn values_outside_a_dimensions_bound_are_other() {
        assert_eq!(SEND_OUTCOME.bound("sent"), "sent");
        assert_eq!(SEND_OUTCOME.bound("+5511988887777"), OTHER);
        assert_eq!(error_code(Some(130429)), "130429");
        assert_eq!(error_code(Some(131056)), "131056");
        assert_eq!(error_code(Some(987654)), OTHER);
        assert_eq!(error_code(None), "none");
        assert_eq!(
            TEMPLATE.bound("appointment_reminder"),
            "appointment_reminder"
        );
        for bad in ["", "Hello World", "olá", &"a".repeat(513)] {
            assert_eq!(TEMPLATE.bound(bad), OTHER, "{bad}");
        }
        assert!(TEMPLATE.admits("order_update") && ERROR_CODE.admits(OTHER));
        assert!(!STATUS.admits("deleted"));
    }

    #[test]
    fn a_batch_is_summed_into_one_document_per_dimension_values() {
        let mut emf = Emf::new();
        for _ in 0..3 {
            emf.count(&SENDS, &["sent"], 1);
        }
        emf.count(&SENDS, &["failed"], 1);
        emf.count(&SENDS, &["retry"], 0);
        emf.count(&SEND_ERRORS, &["permanent", "131026"], 1);
        emf.value(&SEND_LAG, &[], 12.3456);
        emf.value(&SEND_LAG, &[], 40.0);
        let docs = emf.documents("Chasqui/test", 1_730_000_000_000);
        assert_eq!(docs.len(), 3, "{docs:#?}");
        let sent = docs.iter().find(|d| d["Outcome"] == "sent").unwrap();
        assert_eq!(sent["Sends"], 3);
        let failed = docs.iter().find(|d| d["Outcome"] == "failed").unwrap();
        assert_eq!(failed["Sends"], 1);
        // The lag has no dimensions: it rides in a document of its own
        // kind's root values, ignored by its directive.
        let lag: Vec<&Value> = docs.iter().filter(|d| d.get("SendLag").is_some()).collect();
        assert_eq!(lag.len(), 1);
        assert_eq!(lag[0]["SendLag"], json!([12.35, 40]));
        let errors = docs.iter().find(|d| d.get("SendErrors").is_some()).unwrap();
        assert_eq!(
            (&errors["ErrorClass"], &errors["ErrorCode"]),
            (&json!("permanent"), &json!("131026"))
        );
        let aws = &errors["_aws"];
        assert_eq!(aws["Timestamp"], 1_730_000_000_000u64);
        let directives = aws["CloudWatchMetrics"].as_array().unwrap();
        let errors_directive = directives
            .iter()
            .find(|d| d["Metrics"][0]["Name"] == "SendErrors")
            .unwrap();
        assert_eq!(errors_directive["Namespace"], "Chasqui/test");
        assert_eq!(
            errors_directive["Dimensions"],
            json!([["ErrorClass"], ["ErrorClass", "ErrorCode"]])
        );
        assert_eq!(errors_directive["Metrics"][0]["Unit"], "Count");
        // Every directive's metrics are members of its document, and every
        // dimension they name is a string member.
        for doc in &docs {
            for directive in doc["_aws"]["CloudWatchMetrics"].as_array().unwrap() {
                for m in directive["Metrics"].as_array().unwrap() {
                    assert!(doc.get(m["Name"].as_str().unwrap()).is_some());
                }
                for set in directive["Dimensions"].as_array().unwrap() {
                    for d in set.as_array().unwrap() {
                        assert!(doc[d.as_str().unwrap()].is_string(), "{doc}");
                    }
                }
            }
        }
    }

    #[test]
    fn one_metric_recorded_from_several_places_is_one_sum() {
        // Each use of a `const` may be its own copy: entries match by name.
        fn elsewhere(emf: &mut Emf) {
            emf.count(&SENDS, &["sent"], 2);
        }
        let mut emf = Emf::new();
        emf.count(&SENDS, &["sent"], 1);
        elsewhere(&mut emf);
        let docs = emf.documents("Chasqui", 1);
        assert_eq!(docs.len(), 1, "{docs:#?}");
        assert_eq!(docs[0]["Sends"], 3);
    }

    #[test]
    fn more_than_a_hundred_values_take_several_documents() {
        let mut emf = Emf::new();
        for i in 0..250 {
            emf.value(&STATUS_LAG, &[], f64::from(i));
        }
        emf.count(&STATUSES, &["read"], 250);
        let docs = emf.documents("Chasqui", 1);
        let lengths: Vec<usize> = docs
            .iter()
            .map(|d| d["StatusLag"].as_array().map_or(0, Vec::len))
            .collect();
        assert_eq!(lengths, [100, 100, 50]);
        let counts: Vec<&Value> = docs.iter().filter_map(|d| d.get("Statuses")).collect();
        assert_eq!(counts, [&json!(250)], "a count is written once");
    }

    #[test]
    fn nothing_recorded_writes_nothing() {
        assert!(Emf::new().documents("Chasqui", 1).is_empty());
        let mut emf = Emf::new();
        emf.value(&SEND_LAG, &[], f64::NAN);
        assert!(emf.is_empty());
    }
}

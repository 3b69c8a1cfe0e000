//! Consuming SQS through Lambda: reading the records of an event, answering
//! which of them to retry, and building such events for tests and benches.
//! The sender and the status function both consume this way, so the rules
//! live here once:
//!
//! - **A record is read leniently**, one at a time, from the raw event, so a
//!   malformed record fails only itself. `attributes.ApproximateReceiveCount`
//!   may be a string (as Lambda sends it) or a number; missing, unreadable or
//!   zero counts as 1 (SQS counts from 1), and a count too large saturates.
//!   Message attributes are carried when they have a `stringValue`; binary
//!   ones are not (no consumer reads them).
//! - **A record without a messageId fails the whole batch.** The messageId is
//!   the only way to report one record (`itemIdentifier`), and Lambda treats
//!   an empty or missing identifier as a failure of the whole batch. Lambda
//!   sends a messageId with every real record, so such a record comes only
//!   from a hand-made event; it is not processed (its effects could not be
//!   acknowledged alone), the others are, and the invocation then fails so
//!   nothing is deleted unseen. Skipping it would delete it; reporting it
//!   empty would do the same as failing, silently.
//! - **A batch where every record failed fails the invocation** (as
//!   Powertools' batch processor does). Listing every record in
//!   `batchItemFailures` returns the same messages to the queue, but only a
//!   function error makes the event source mapping back off and shows in the
//!   `Errors` metric. Per-record visibility timeouts already set still decide
//!   when each message comes back. An event with no records (or no `Records`
//!   list at all) has nothing to retry and succeeds.

pub mod requeue;

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse};
use serde_json::{Map, Value, json};

/// One SQS record, as much of it as Chasqui reads or writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqsRecord {
    /// SQS's id of the message: never empty (see the module docs).
    pub message_id: String,
    /// For `ChangeMessageVisibility`; `None` when the event carries none.
    pub receipt_handle: Option<String>,
    /// Empty when the event carries none (SQS never sends an empty body).
    pub body: String,
    /// At least 1.
    pub receive_count: u32,
    /// When SQS first received the message (`attributes.SentTimestamp`,
    /// Unix ms; a redelivery keeps it); `None` when the event has none.
    pub sent_at: Option<u64>,
    /// The message attributes with a string value (the webhook's `kind`,
    /// `field`, ...).
    pub attributes: Vec<MessageAttribute>,
}

/// The `SentTimestamp` of a record built by [`SqsRecord::new`].
pub const SAMPLE_SENT_AT: u64 = 1_730_000_002_000;

/// A message attribute with a string value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageAttribute {
    /// The attribute's name.
    pub name: String,
    /// `String`, `Number`, or a custom `String.x` / `Number.x` type.
    pub data_type: String,
    /// The attribute's value, as text.
    pub value: String,
}

impl SqsRecord {
    /// A first delivery of `body`, with a receipt handle derived from the id.
    pub fn new(message_id: impl Into<String>, body: impl Into<String>) -> Self {
        let message_id = message_id.into();
        Self {
            receipt_handle: Some(format!("AQEB-{message_id}")),
            message_id,
            body: body.into(),
            receive_count: 1,
            sent_at: Some(SAMPLE_SENT_AT),
            attributes: Vec::new(),
        }
    }

    /// The record as first sent to SQS at `sent_at` (Unix ms).
    pub fn with_sent_at(mut self, sent_at: Option<u64>) -> Self {
        self.sent_at = sent_at;
        self
    }

    /// The record as delivered for the `receive_count`th time.
    pub fn with_receive_count(mut self, receive_count: u32) -> Self {
        self.receive_count = receive_count;
        self
    }

    /// The record with another receipt handle (`None`: the event carried none).
    pub fn with_receipt_handle(mut self, receipt_handle: Option<String>) -> Self {
        self.receipt_handle = receipt_handle;
        self
    }

    /// The record with one more string attribute.
    pub fn with_attribute(mut self, name: &str, data_type: &str, value: &str) -> Self {
        self.attributes.push(MessageAttribute {
            name: name.to_owned(),
            data_type: data_type.to_owned(),
            value: value.to_owned(),
        });
        self
    }

    /// The value of a message attribute, or `""`.
    pub fn attribute(&self, name: &str) -> &str {
        self.attributes
            .iter()
            .find(|a| a.name == name)
            .map_or("", |a| a.value.as_str())
    }

    /// Reads one record of a Lambda SQS event; `Err` says why it cannot be
    /// a record (no messageId, or not an object).
    pub fn read(raw: &Value) -> Result<Self, &'static str> {
        let raw = raw.as_object().ok_or("the record is not a JSON object")?;
        let text = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_owned);
        let message_id = text(raw.get("messageId"))
            .filter(|id| !id.is_empty())
            .ok_or("the record has no messageId")?;
        let system = |name: &str| {
            raw.get("attributes")
                .and_then(|a| a.get(name))
                .and_then(|v| match v {
                    Value::String(s) => s.trim().parse::<u64>().ok(),
                    Value::Number(n) => n.as_u64(),
                    _ => None,
                })
        };
        let receive_count =
            system("ApproximateReceiveCount").map_or(1, |n| n.clamp(1, u32::MAX.into()) as u32);
        let sent_at = system("SentTimestamp");
        let attributes = raw
            .get("messageAttributes")
            .and_then(Value::as_object)
            .map(|attrs| {
                attrs
                    .iter()
                    .filter_map(|(name, a)| {
                        Some(MessageAttribute {
                            name: name.clone(),
                            data_type: text(a.get("dataType")).unwrap_or_else(|| "String".into()),
                            value: text(a.get("stringValue"))?,
                        })
                    })
                    .collect()
            })
            .unwrap_or_default();
        Ok(Self {
            message_id,
            receipt_handle: text(raw.get("receiptHandle")).filter(|h| !h.is_empty()),
            body: text(raw.get("body")).unwrap_or_default(),
            receive_count,
            sent_at,
            attributes,
        })
    }

    /// The record as Lambda hands it over, in its field names and casing.
    fn to_lambda(&self) -> Value {
        let attributes: Map<String, Value> = self
            .attributes
            .iter()
            .map(|a| {
                let value = json!({"stringValue": a.value, "stringListValues": [],
                    "binaryListValues": [], "dataType": a.data_type});
                (a.name.clone(), value)
            })
            .collect();
        let mut record = json!({
            "messageId": self.message_id,
            "body": self.body,
            "attributes": {
                "ApproximateReceiveCount": self.receive_count.to_string(),
                "SenderId": "AIDATEST",
                "ApproximateFirstReceiveTimestamp": "1730000002001",
            },
            "messageAttributes": attributes,
            "md5OfBody": "",
            "eventSource": "aws:sqs",
            "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:chasqui",
            "awsRegion": "us-east-1",
        });
        if let Some(handle) = &self.receipt_handle {
            record["receiptHandle"] = handle.as_str().into();
        }
        if let Some(sent_at) = self.sent_at {
            record["attributes"]["SentTimestamp"] = sent_at.to_string().into();
        }
        record
    }
}

/// The Lambda SQS event holding `records`, for tests, benches and sample
/// events; [`SqsRecord::read`] reads each back as it was built.
pub fn sqs_event(records: &[SqsRecord]) -> Value {
    json!({ "Records": records.iter().map(SqsRecord::to_lambda).collect::<Vec<_>>() })
}

/// A batch read from an event: the records to process and how many could
/// not be read (each logged with its reason).
#[derive(Debug, Default)]
pub struct Batch {
    /// The records read, in the event's order.
    pub records: Vec<SqsRecord>,
    /// How many records could not be read (no `messageId`); any makes the whole
    /// batch fail.
    pub unreadable: usize,
}

impl Batch {
    /// Reads every record of a Lambda SQS event. An event without a
    /// `Records` list is logged and read as an empty batch.
    pub fn read(event: &Value) -> Self {
        let Some(raw) = event.get("Records").and_then(Value::as_array) else {
            tracing::error!(
                outcome = "not_an_sqs_event",
                "the event has no Records list; nothing to process"
            );
            return Self::default();
        };
        let mut batch = Self::default();
        for (i, raw) in raw.iter().enumerate() {
            match SqsRecord::read(raw) {
                Ok(record) => batch.records.push(record),
                Err(reason) => {
                    tracing::error!(
                        record = i,
                        outcome = "unreadable_record",
                        reason,
                        "SQS record not processed; the whole batch will fail"
                    );
                    batch.unreadable += 1;
                }
            }
        }
        batch
    }

    /// An answer for this batch with nothing to retry yet.
    pub fn response(&self) -> BatchResponse {
        BatchResponse {
            batch_item_failures: Vec::new(),
            records: self.records.len() + self.unreadable,
            unreadable: self.unreadable,
        }
    }
}

/// What a consumer answers for one batch: the records to retry, by id, and
/// what decides whether the invocation as a whole fails
/// ([`BatchResponse::into_lambda`]).
#[derive(Debug, Clone, PartialEq)]
pub struct BatchResponse {
    /// The records SQS should deliver again, by message id.
    pub batch_item_failures: Vec<BatchItemFailure>,
    records: usize,
    unreadable: usize,
}

impl BatchResponse {
    /// Reports `record` for SQS to deliver again.
    pub fn retry(&mut self, record: &SqsRecord) {
        // Both types are `#[non_exhaustive]`: built from their defaults.
        let mut failure = BatchItemFailure::default();
        failure.item_identifier = record.message_id.clone();
        self.batch_item_failures.push(failure);
    }

    /// The answer Lambda gets: the partial batch response, or an error when
    /// the whole batch must come back (see the module docs).
    pub fn into_lambda(self) -> Result<SqsBatchResponse, BatchFailed> {
        if self.unreadable > 0 {
            return Err(BatchFailed::Unreadable {
                count: self.unreadable,
            });
        }
        if self.records > 0 && self.batch_item_failures.len() >= self.records {
            return Err(BatchFailed::AllFailed {
                count: self.records,
            });
        }
        let mut response = SqsBatchResponse::default();
        response.batch_item_failures = self.batch_item_failures;
        Ok(response)
    }
}

/// Why a whole batch goes back to the queue. Each message returns after its
/// visibility timeout, so a retry is what happens next.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BatchFailed {
    /// Every record of the batch failed: the function answers with an error,
    /// not a partial response.
    #[error("all {count} records failed; see the per-record log lines")]
    AllFailed {
        /// How many records the batch had.
        count: usize,
    },
    /// Some records could not be read, so they cannot be named for a retry:
    /// the whole batch comes back.
    #[error(
        "{count} record(s) could not be read (no messageId?); the batch is retried whole so none is lost"
    )]
    Unreadable {
        /// How many records could not be read.
        count: usize,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_built_event_reads_back_as_built() {
        let records = [
            SqsRecord::new("m1", "{}")
                .with_receive_count(4)
                .with_attribute("kind", "String", "change")
                .with_attribute("received_at", "Number", "17"),
            SqsRecord::new("m2", "x")
                .with_receipt_handle(None)
                .with_sent_at(None),
            SqsRecord::new("m3", "y").with_sent_at(Some(1_764_000_000_123)),
        ];
        let batch = Batch::read(&sqs_event(&records));
        assert_eq!(
            (batch.records.as_slice(), batch.unreadable),
            (&records[..], 0)
        );
        assert_eq!(batch.records[0].attribute("kind"), "change");
        assert_eq!(batch.records[0].attribute("missing"), "");
        let typed: aws_lambda_events::event::sqs::SqsEvent =
            serde_json::from_value(sqs_event(&records)).unwrap();
        assert_eq!(typed.records[0].message_id.as_deref(), Some("m1"));
    }

    #[test]
    fn records_are_read_leniently() {
        let r = SqsRecord::read(&json!({
            "messageId": "m1", "body": "{}",
            "attributes": {"ApproximateReceiveCount": "4"},
            "messageAttributes": {"kind": {"stringValue": "change", "dataType": "String"},
                                   "bin": {"binaryValue": "AAA=", "dataType": "Binary"}}
        }))
        .unwrap();
        assert_eq!((r.message_id.as_str(), r.receive_count), ("m1", 4));
        assert_eq!(r.sent_at, None);
        let sent_at = |v: Value| {
            SqsRecord::read(&json!({"messageId": "m", "attributes": {"SentTimestamp": v}}))
                .unwrap()
                .sent_at
        };
        assert_eq!(sent_at(json!("1764000000123")), Some(1_764_000_000_123));
        assert_eq!(
            sent_at(json!(1_764_000_000_123u64)),
            Some(1_764_000_000_123)
        );
        assert_eq!(sent_at(json!("yesterday")), None);
        assert_eq!(r.attributes.len(), 1, "binary attributes are not carried");
        let count = |v: Value| {
            SqsRecord::read(
                &json!({"messageId": "m", "attributes": {"ApproximateReceiveCount": v}}),
            )
            .unwrap()
            .receive_count
        };
        assert_eq!(count(json!(3)), 3);
        assert_eq!(count(json!("0")), 1);
        assert_eq!(count(json!("many")), 1);
        assert_eq!(count(json!(u64::MAX)), u32::MAX);
        let r = SqsRecord::read(&json!({"messageId": "m", "body": 5})).unwrap();
        assert_eq!(
            (r.body.as_str(), r.receive_count, r.receipt_handle),
            ("", 1, None)
        );
    }

    #[test]
    fn a_record_without_a_message_id_fails_the_whole_batch() {
        let event = json!({"Records": [
            {"messageId": "ok", "body": "{}"},
            {"body": "{}"},
            {"messageId": "", "body": "{}"},
            7,
        ]});
        let batch = Batch::read(&event);
        assert_eq!((batch.records.len(), batch.unreadable), (1, 3));
        assert_eq!(
            batch.response().into_lambda(),
            Err(BatchFailed::Unreadable { count: 3 })
        );
    }

    #[test]
    fn only_a_batch_where_every_record_failed_fails_the_invocation() {
        let records = [SqsRecord::new("a", "1"), SqsRecord::new("b", "2")];
        let batch = Batch::read(&sqs_event(&records));
        let mut response = batch.response();
        response.retry(&batch.records[1]);
        let partial = response.clone().into_lambda().unwrap();
        assert_eq!(partial.batch_item_failures.len(), 1);
        assert_eq!(partial.batch_item_failures[0].item_identifier, "b");
        response.retry(&batch.records[0]);
        assert_eq!(
            response.into_lambda(),
            Err(BatchFailed::AllFailed { count: 2 })
        );
        for empty in [json!({"Records": []}), json!({"hello": "world"})] {
            let answer = Batch::read(&empty).response().into_lambda().unwrap();
            assert!(answer.batch_item_failures.is_empty());
        }
    }
}

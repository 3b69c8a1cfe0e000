//! A local SQS event source mapping with Lambda's semantics: receive up to
//! `batch_size` messages (waiting up to the batching window to fill the
//! batch), invoke the function with an `SqsEvent` in Lambda's JSON, then
//! delete what succeeded. With `ReportBatchItemFailures` the reported
//! records stay; a function error (or an unreadable response) leaves the
//! whole batch. What stays reappears after its visibility timeout, so the
//! queue's real redrive policy moves poison to the dead-letter queue.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, Message, MessageSystemAttributeName};
use backon::{ExponentialBuilder, Retryable as _};
use base64::Engine as _;
use serde_json::{Map, Value, json};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::runtime::Invoke;

/// One event source mapping.
#[derive(Debug, Clone, PartialEq)]
pub struct EventSource {
    pub queue_url: String,
    /// `eventSourceARN` of each record; derived from the URL when absent.
    pub queue_arn: Option<String>,
    pub region: String,
    /// 1 to 10,000 (SQS hands out at most 10 per receive).
    pub batch_size: usize,
    /// `MaximumBatchingWindowInSeconds`: how long to wait to fill a batch.
    pub batching_window: Duration,
    /// `ScalingConfig.MaximumConcurrency`: pollers invoking at once.
    pub max_concurrency: usize,
    /// `FunctionResponseTypes: [ReportBatchItemFailures]`.
    pub report_batch_item_failures: bool,
}

impl EventSource {
    pub fn new(queue_url: &str) -> Self {
        Self {
            queue_url: queue_url.to_owned(),
            queue_arn: None,
            region: std::env::var("AWS_REGION").unwrap_or_else(|_| "us-east-1".into()),
            batch_size: 10,
            batching_window: Duration::ZERO,
            max_concurrency: 2,
            report_batch_item_failures: true,
        }
    }

    /// `arn:aws:sqs:<region>:<account>:<name>` from a queue URL
    /// (`http://host/<account>/<name>`).
    pub fn arn(&self) -> String {
        if let Some(arn) = &self.queue_arn {
            return arn.clone();
        }
        let mut parts = self.queue_url.trim_end_matches('/').rsplit('/');
        let name = parts.next().unwrap_or_default();
        let account = parts.next().unwrap_or("000000000000");
        format!("arn:aws:sqs:{}:{account}:{name}", self.region)
    }
}

/// What a poller did, for logs and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PollerStats {
    pub received: u64,
    pub invocations: u64,
    pub deleted: u64,
    /// Records the function reported failed (left on the queue).
    pub reported_failures: u64,
    /// Invocations that failed as a whole (every record left).
    pub function_errors: u64,
    pub receive_errors: u64,
}

#[derive(Default)]
struct Counters {
    received: AtomicU64,
    invocations: AtomicU64,
    deleted: AtomicU64,
    reported_failures: AtomicU64,
    function_errors: AtomicU64,
    receive_errors: AtomicU64,
}

/// Running pollers of one event source.
pub struct Poller {
    name: String,
    counters: Arc<Counters>,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl Poller {
    /// Starts `max_concurrency` pollers feeding `function`.
    pub fn start(sqs: aws_sdk_sqs::Client, source: EventSource, function: Arc<dyn Invoke>) -> Self {
        let counters = Arc::new(Counters::default());
        let (stop, _) = watch::channel(false);
        let source = Arc::new(source);
        let tasks = (0..source.max_concurrency.max(1))
            .map(|_| {
                let worker = Worker {
                    sqs: sqs.clone(),
                    source: source.clone(),
                    function: function.clone(),
                    counters: counters.clone(),
                };
                let stopped = stop.subscribe();
                tokio::spawn(worker.run(stopped))
            })
            .collect();
        Self {
            name: function.name().to_owned(),
            counters,
            stop,
            tasks,
        }
    }

    pub fn function(&self) -> &str {
        &self.name
    }

    pub fn stats(&self) -> PollerStats {
        let c = &self.counters;
        let get = |a: &AtomicU64| a.load(Ordering::SeqCst);
        PollerStats {
            received: get(&c.received),
            invocations: get(&c.invocations),
            deleted: get(&c.deleted),
            reported_failures: get(&c.reported_failures),
            function_errors: get(&c.function_errors),
            receive_errors: get(&c.receive_errors),
        }
    }

    /// Stops receiving and waits for invocations in flight to finish.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        for task in self.tasks {
            let _ = task.await;
        }
    }
}

struct Worker {
    sqs: aws_sdk_sqs::Client,
    source: Arc<EventSource>,
    function: Arc<dyn Invoke>,
    counters: Arc<Counters>,
}

/// Long-poll wait per receive: short, so a stop is noticed quickly.
const WAIT_SECONDS: i32 = 1;

impl Worker {
    async fn run(self, mut stopped: watch::Receiver<bool>) {
        // A failed receive is tried again after 250 ms, doubling up to 5 s,
        // for as long as it fails (a stop ends the wait).
        let backoff = ExponentialBuilder::new()
            .with_min_delay(Duration::from_millis(250))
            .with_max_delay(Duration::from_secs(5))
            .without_max_times();
        loop {
            if *stopped.borrow() {
                return;
            }
            let receive = (|| self.receive_batch())
                .retry(backoff)
                .notify(|e: &String, _| {
                    self.counters.receive_errors.fetch_add(1, Ordering::SeqCst);
                    tracing::warn!(
                        queue = self.source.queue_url.as_str(),
                        error = e.as_str(),
                        "receive failed; retrying"
                    );
                });
            let batch = tokio::select! {
                batch = receive => batch,
                _ = stopped.wait_for(|s| *s) => return,
            };
            // Only ends with a batch: the retries have no limit.
            let Ok(messages) = batch else { continue };
            if messages.is_empty() {
                continue;
            }
            // The batch is in flight: it is finished even during a stop.
            if !self.process(messages).await {
                // Lambda backs its pollers off after function errors.
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_millis(500)) => {}
                    _ = stopped.wait_for(|s| *s) => return,
                }
            }
        }
    }

    /// Receives until the batch is full or the batching window, counted
    /// from the first message, has passed. An empty result means nothing
    /// arrived within one long poll.
    async fn receive_batch(&self) -> Result<Vec<Message>, String> {
        let source = &self.source;
        let mut batch = self
            .receive(source.batch_size.min(10), WAIT_SECONDS)
            .await?;
        let first = Instant::now();
        while !batch.is_empty() && batch.len() < source.batch_size {
            let remaining = source.batching_window.saturating_sub(first.elapsed());
            if remaining.is_zero() {
                break;
            }
            let want = (source.batch_size - batch.len()).min(10);
            let wait = remaining.as_secs().min(WAIT_SECONDS as u64) as i32;
            let got = self.receive(want, wait).await?;
            if got.is_empty() && wait == 0 {
                tokio::time::sleep(remaining.min(Duration::from_millis(100))).await;
            }
            batch.extend(got);
        }
        Ok(batch)
    }

    async fn receive(&self, max: usize, wait_seconds: i32) -> Result<Vec<Message>, String> {
        let out = self
            .sqs
            .receive_message()
            .queue_url(&self.source.queue_url)
            .max_number_of_messages(max.max(1) as i32)
            .wait_time_seconds(wait_seconds)
            .message_attribute_names("All")
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .send()
            .await
            .map_err(|e| aws_sdk_sqs::error::DisplayErrorContext(e).to_string())?;
        Ok(out.messages.unwrap_or_default())
    }

    /// Invokes the function with one batch; `false` if the invocation failed.
    async fn process(&self, messages: Vec<Message>) -> bool {
        let c = &self.counters;
        c.received
            .fetch_add(messages.len() as u64, Ordering::SeqCst);
        c.invocations.fetch_add(1, Ordering::SeqCst);
        let event = sqs_event(&self.source, &messages);
        let function = self.function.name().to_owned();
        let ids: Vec<&str> = messages.iter().filter_map(|m| m.message_id()).collect();
        let failed: HashSet<String> = match self.function.invoke(event).await {
            Ok(response) => match failures(&response, &ids, self.source.report_batch_item_failures)
            {
                Ok(failed) => failed,
                Err(reason) => {
                    tracing::warn!(
                        function,
                        records = ids.len(),
                        reason,
                        "unusable batch response: the whole batch is retried"
                    );
                    c.function_errors.fetch_add(1, Ordering::SeqCst);
                    return false;
                }
            },
            Err(e) => {
                tracing::warn!(function, records = ids.len(), error = %e, "invocation failed: the whole batch returns after its visibility timeout");
                c.function_errors.fetch_add(1, Ordering::SeqCst);
                return false;
            }
        };
        c.reported_failures
            .fetch_add(failed.len() as u64, Ordering::SeqCst);
        let done: Vec<&Message> = messages
            .iter()
            .filter(|m| m.message_id().is_some_and(|id| !failed.contains(id)))
            .collect();
        for chunk in done.chunks(10) {
            let entries: Vec<DeleteMessageBatchRequestEntry> = chunk
                .iter()
                .enumerate()
                .filter_map(|(i, m)| {
                    DeleteMessageBatchRequestEntry::builder()
                        .id(i.to_string())
                        .receipt_handle(m.receipt_handle().unwrap_or_default())
                        .build()
                        .ok()
                })
                .collect();
            match self
                .sqs
                .delete_message_batch()
                .queue_url(&self.source.queue_url)
                .set_entries(Some(entries))
                .send()
                .await
            {
                Ok(out) => {
                    c.deleted
                        .fetch_add(out.successful().len() as u64, Ordering::SeqCst);
                    for f in out.failed() {
                        // The message returns and is processed again: the
                        // functions are idempotent, as they must be on Lambda.
                        tracing::warn!(
                            function,
                            entry = f.id(),
                            code = f.code(),
                            message = f.message(),
                            "delete failed; the message will be delivered again"
                        );
                    }
                }
                Err(e) => {
                    tracing::warn!(function, error = %aws_sdk_sqs::error::DisplayErrorContext(e), "delete failed; the batch will be delivered again")
                }
            }
        }
        true
    }
}

/// The record ids to leave on the queue, from a function's response, as
/// Lambda reads it: no response or no `batchItemFailures` means success; an
/// empty, missing or unknown `itemIdentifier` fails the whole batch.
pub fn failures(response: &Value, ids: &[&str], report: bool) -> Result<HashSet<String>, String> {
    if !report {
        return Ok(HashSet::new());
    }
    let list = match response {
        Value::Null => return Ok(HashSet::new()),
        Value::Object(map) => match map.get("batchItemFailures") {
            None | Some(Value::Null) => return Ok(HashSet::new()),
            Some(Value::Array(list)) => list,
            Some(other) => return Err(format!("batchItemFailures is not a list: {other}")),
        },
        _ => return Ok(HashSet::new()),
    };
    let mut failed = HashSet::new();
    for item in list {
        let id = item
            .get("itemIdentifier")
            .and_then(Value::as_str)
            .filter(|id| !id.is_empty())
            .ok_or_else(|| format!("a failure without an itemIdentifier: {item}"))?;
        if !ids.contains(&id) {
            return Err(format!("itemIdentifier {id} is not in the batch"));
        }
        failed.insert(id.to_owned());
    }
    Ok(failed)
}

/// The Lambda `SqsEvent` for a batch, in Lambda's field names and casing.
pub fn sqs_event(source: &EventSource, messages: &[Message]) -> Value {
    let arn = source.arn();
    let records: Vec<Value> = messages
        .iter()
        .map(|m| {
            let mut attributes = Map::new();
            if let Some(attrs) = m.attributes() {
                for (k, v) in attrs {
                    attributes.insert(k.as_str().to_owned(), Value::String(v.clone()));
                }
            }
            let mut message_attributes = Map::new();
            if let Some(attrs) = m.message_attributes() {
                for (name, a) in attrs {
                    let b64 = |b: &aws_sdk_sqs::primitives::Blob| {
                        Value::String(base64::engine::general_purpose::STANDARD.encode(b.as_ref()))
                    };
                    let mut value = json!({
                        "stringListValues": a.string_list_values().iter().map(|s| Value::String(s.clone())).collect::<Vec<_>>(),
                        "binaryListValues": a.binary_list_values().iter().map(b64).collect::<Vec<_>>(),
                        "dataType": a.data_type(),
                    });
                    if let Some(s) = a.string_value() {
                        value["stringValue"] = s.into();
                    }
                    if let Some(b) = a.binary_value() {
                        value["binaryValue"] = b64(b);
                    }
                    message_attributes.insert(name.clone(), value);
                }
            }
            json!({
                "messageId": m.message_id(),
                "receiptHandle": m.receipt_handle(),
                "body": m.body(),
                "attributes": attributes,
                "messageAttributes": message_attributes,
                "md5OfBody": m.md5_of_body(),
                "md5OfMessageAttributes": m.md5_of_message_attributes(),
                "eventSource": "aws:sqs",
                "eventSourceARN": arn,
                "awsRegion": source.region,
            })
        })
        .collect();
    json!({ "Records": records })
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_sqs::types::MessageAttributeValue;

    #[test]
    fn batch_responses_are_read_as_lambda_reads_them() {
        let ids = ["a", "b", "c"];
        let set = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<HashSet<_>>();
        assert_eq!(failures(&Value::Null, &ids, true).unwrap(), set(&[]));
        assert_eq!(failures(&json!({}), &ids, true).unwrap(), set(&[]));
        assert_eq!(
            failures(&json!({"batchItemFailures": []}), &ids, true).unwrap(),
            set(&[])
        );
        assert_eq!(
            failures(
                &json!({"batchItemFailures": [{"itemIdentifier": "b"}]}),
                &ids,
                true
            )
            .unwrap(),
            set(&["b"])
        );
        for bad in [
            json!({"batchItemFailures": [{"itemIdentifier": ""}]}),
            json!({"batchItemFailures": [{"itemIdentifier": null}]}),
            json!({"batchItemFailures": [{"itemIdentifier": "zzz"}]}),
            json!({"batchItemFailures": "b"}),
        ] {
            assert!(failures(&bad, &ids, true).is_err(), "{bad}");
        }
        // Without ReportBatchItemFailures, a response is not read at all.
        assert!(
            failures(
                &json!({"batchItemFailures": [{"itemIdentifier": "b"}]}),
                &ids,
                false
            )
            .unwrap()
            .is_empty()
        );
    }

    #[test]
    fn events_use_lambdas_names_and_parse_as_sqs_events() {
        let message = Message::builder()
            .message_id("m-1")
            .receipt_handle("rh-1")
            .body("{\"x\":1}")
            .md5_of_body("abc")
            .attributes(MessageSystemAttributeName::ApproximateReceiveCount, "3")
            .message_attributes(
                "kind",
                MessageAttributeValue::builder()
                    .data_type("String")
                    .string_value("change")
                    .build()
                    .unwrap(),
            )
            .build();
        let source = EventSource {
            region: "us-east-1".into(),
            ..EventSource::new("http://127.0.0.1:4566/123456789012/chasqui-local-SendQueue")
        };
        let event = sqs_event(&source, &[message]);
        let r = &event["Records"][0];
        assert_eq!(r["messageId"], "m-1");
        assert_eq!(r["receiptHandle"], "rh-1");
        assert_eq!(r["attributes"]["ApproximateReceiveCount"], "3");
        assert_eq!(r["messageAttributes"]["kind"]["stringValue"], "change");
        assert_eq!(r["messageAttributes"]["kind"]["dataType"], "String");
        assert_eq!(
            r["eventSourceARN"],
            "arn:aws:sqs:us-east-1:123456789012:chasqui-local-SendQueue"
        );
        let typed: aws_lambda_events::event::sqs::SqsEvent = serde_json::from_value(event).unwrap();
        assert_eq!(typed.records[0].body.as_deref(), Some("{\"x\":1}"));
        assert_eq!(
            typed.records[0].message_attributes["kind"]
                .string_value
                .as_deref(),
            Some("change")
        );
    }
}

//! The queue port and its SQS adapter.

use async_trait::async_trait;
use aws_sdk_sqs::types::{MessageAttributeValue, SendMessageBatchRequestEntry};

use crate::error::{Cause, Chain};
use crate::intake::{MAX_SQS_MESSAGE_BYTES, QueueMessage, sqs_safe};

/// What a queue port answers when the queue fails it. The URL names the AWS
/// account: kept for `Debug`, never displayed, so no log line or answer
/// built from the error carries it.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    /// SQS could not be reached, failed, or kept failing some entries for a
    /// passing reason: a retry may help.
    #[error("could not send to the queue: {}", Chain(source.as_ref()))]
    Unavailable {
        /// The queue's URL (never displayed).
        queue_url: String,
        /// What the SDK or SQS reported, whole.
        #[source]
        source: Cause,
    },
    /// SQS refused an entry as the sender's fault (too large, malformed):
    /// a retry cannot help.
    #[error("the queue refused {failed} of {total} messages: {reason}")]
    Rejected {
        /// The queue's URL (never displayed).
        queue_url: String,
        /// How many entries of the batch SQS refused.
        failed: usize,
        /// How many entries the batch had (at most ten).
        total: usize,
        /// SQS's code and message for the refused entry.
        reason: String,
    },
}

impl QueueError {
    /// Whether sending the same messages again may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, QueueError::Unavailable { .. })
    }
}

/// Port: somewhere messages go durably. `send_all` succeeds only when every
/// message was accepted.
#[async_trait]
pub trait Queue: Send + Sync {
    /// Sends every message, or fails.
    async fn send_all(&self, messages: &[QueueMessage]) -> Result<(), QueueError>;
}

/// One message as `SendMessageBatch` takes it: the body, its attributes
/// (name, data type, value) and, for a FIFO queue, its group and
/// deduplication ids.
#[derive(Debug, Clone, Default)]
pub struct Outgoing<'a> {
    /// The SQS message body.
    pub body: &'a str,
    /// The message attributes, each `(name, data type, value)`.
    pub attributes: Vec<(&'static str, &'static str, String)>,
    /// The FIFO message group id; `None` for a standard queue.
    pub group_id: Option<String>,
    /// The FIFO deduplication id; `None` for a standard queue (or content-based
    /// deduplication).
    pub deduplication_id: Option<String>,
    /// `DelaySeconds` (at most 900); `None`: the queue's default.
    pub delay_seconds: Option<i32>,
}

impl Outgoing<'_> {
    /// What the message counts against SQS's payload limit.
    fn bytes(&self) -> usize {
        self.body.len()
            + self
                .attributes
                .iter()
                .map(|(n, t, v)| n.len() + t.len() + v.len())
                .sum::<usize>()
    }

    fn entry(
        &self,
        index: usize,
    ) -> Result<SendMessageBatchRequestEntry, aws_sdk_sqs::error::BuildError> {
        let mut builder = SendMessageBatchRequestEntry::builder()
            .id(index.to_string())
            .message_body(self.body)
            .set_message_group_id(self.group_id.clone())
            .set_message_deduplication_id(self.deduplication_id.clone())
            .set_delay_seconds(self.delay_seconds.map(|d| d.clamp(0, 900)));
        for (name, data_type, value) in &self.attributes {
            builder = builder.message_attributes(
                *name,
                MessageAttributeValue::builder()
                    .data_type(*data_type)
                    .string_value(value)
                    .build()?,
            );
        }
        builder.build()
    }
}

/// Adapter: an SQS queue (standard or FIFO), written with `SendMessageBatch`.
#[derive(Clone)]
pub struct SqsQueue {
    client: aws_sdk_sqs::Client,
    queue_url: String,
}

/// SQS takes at most ten entries per batch.
const MAX_BATCH_ENTRIES: usize = 10;
/// Entries SQS refused for a passing reason are retried this many times.
const BATCH_ATTEMPTS: u32 = 3;
/// Longest attribute value we attach; bodies carry the full values.
const MAX_ATTRIBUTE_CHARS: usize = 256;

impl SqsQueue {
    /// An adapter sending to the queue at `queue_url`.
    pub fn new(client: aws_sdk_sqs::Client, queue_url: impl Into<String>) -> Self {
        Self {
            client,
            queue_url: queue_url.into(),
        }
    }

    /// The queue's URL.
    pub fn queue_url(&self) -> &str {
        &self.queue_url
    }

    /// Sends every message, in `SendMessageBatch` calls of at most ten
    /// entries and SQS's payload limit. Succeeds only when every message
    /// was accepted: entries SQS failed for a passing reason are retried,
    /// a sender fault (a message SQS will never take) is `Rejected`.
    pub async fn send_outgoing(&self, messages: &[Outgoing<'_>]) -> Result<(), QueueError> {
        for batch in batches(messages, Outgoing::bytes) {
            self.send_batch(&batch).await?;
        }
        Ok(())
    }

    async fn send_batch(&self, batch: &[&Outgoing<'_>]) -> Result<(), QueueError> {
        let mut pending: Vec<usize> = (0..batch.len()).collect();
        let mut last_reason = String::new();
        for attempt in 0..BATCH_ATTEMPTS {
            if attempt > 0 {
                tokio::time::sleep(std::time::Duration::from_millis(50 << attempt)).await;
            }
            let entries = pending
                .iter()
                .map(|&i| batch[i].entry(i))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| self.unavailable(e))?;
            let out = self
                .client
                .send_message_batch()
                .queue_url(&self.queue_url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(|e| self.unavailable(e))?;
            let failed = out.failed();
            if failed.is_empty() {
                return Ok(());
            }
            if let Some(f) = failed.iter().find(|f| f.sender_fault()) {
                return Err(QueueError::Rejected {
                    queue_url: self.queue_url.clone(),
                    failed: failed.len(),
                    total: batch.len(),
                    reason: format!("{}: {}", f.code(), f.message().unwrap_or_default()),
                });
            }
            last_reason = failed
                .first()
                .map(|f| format!("{}: {}", f.code(), f.message().unwrap_or_default()))
                .unwrap_or_default();
            pending = failed.iter().filter_map(|f| f.id().parse().ok()).collect();
        }
        // Still failing for a passing reason: a later retry may pass.
        Err(self.unavailable(format!(
            "{} of {} messages still failing: {last_reason}",
            pending.len(),
            batch.len()
        )))
    }

    fn unavailable(&self, source: impl Into<Cause>) -> QueueError {
        QueueError::Unavailable {
            queue_url: self.queue_url.clone(),
            source: source.into(),
        }
    }
}

#[async_trait]
impl Queue for SqsQueue {
    async fn send_all(&self, messages: &[QueueMessage]) -> Result<(), QueueError> {
        let outgoing: Vec<Outgoing> = messages
            .iter()
            .map(|msg| Outgoing {
                body: &msg.body,
                attributes: attributes(msg),
                ..Outgoing::default()
            })
            .collect();
        self.send_outgoing(&outgoing).await
    }
}

/// Groups items into `SendMessageBatch` calls: at most ten entries and at
/// most SQS's payload limit per call.
fn batches<T>(items: &[T], bytes: impl Fn(&T) -> usize) -> Vec<Vec<&T>> {
    let mut out: Vec<Vec<&T>> = Vec::new();
    let mut size = 0;
    for item in items {
        let cost = bytes(item);
        match out.last_mut() {
            Some(batch)
                if batch.len() < MAX_BATCH_ENTRIES && size + cost <= MAX_SQS_MESSAGE_BYTES =>
            {
                batch.push(item);
                size += cost;
            }
            _ => {
                out.push(vec![item]);
                size = cost;
            }
        }
    }
    out
}

fn attributes(msg: &QueueMessage) -> Vec<(&'static str, &'static str, String)> {
    let mut attrs = vec![
        ("kind", "String", msg.kind.as_str().to_owned()),
        ("received_at", "Number", msg.received_at.to_string()),
    ];
    let text = |s: &str| {
        let safe = sqs_safe(s.chars().take(MAX_ATTRIBUTE_CHARS).collect());
        (!safe.is_empty()).then_some(safe)
    };
    if let Some(v) = msg.phone_number_id.as_deref().and_then(text) {
        attrs.push(("phone_number_id", "String", v));
    }
    if let Some(v) = msg.field.as_deref().and_then(text) {
        attrs.push(("field", "String", v));
    }
    attrs
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(body: &str) -> Outgoing<'_> {
        Outgoing {
            body,
            attributes: vec![("kind", "String", "change".into())],
            ..Outgoing::default()
        }
    }

    #[test]
    fn batches_respect_count_and_size() {
        let small_body = "x".repeat(100);
        let small: Vec<_> = (0..23).map(|_| msg(&small_body)).collect();
        let sizes: Vec<_> = batches(&small, Outgoing::bytes)
            .iter()
            .map(Vec::len)
            .collect();
        assert_eq!(sizes, [10, 10, 3]);

        let big_body = "x".repeat(100_000);
        let big: Vec<_> = (0..5).map(|_| msg(&big_body)).collect();
        let sizes: Vec<_> = batches(&big, Outgoing::bytes)
            .iter()
            .map(Vec::len)
            .collect();
        assert_eq!(sizes, [2, 2, 1]);
        assert!(batches(&[] as &[Outgoing], Outgoing::bytes).is_empty());
    }
}

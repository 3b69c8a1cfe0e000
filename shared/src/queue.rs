//! The queue port and its SQS adapter.

use async_trait::async_trait;
use aws_sdk_sqs::types::{MessageAttributeValue, SendMessageBatchRequestEntry};

use crate::intake::{MAX_SQS_MESSAGE_BYTES, QueueMessage, sqs_safe};

#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("could not send to {queue_url}: {reason}")]
    Unavailable { queue_url: String, reason: String },
    #[error("{queue_url} refused {failed} of {total} messages: {reason}")]
    Rejected {
        queue_url: String,
        failed: usize,
        total: usize,
        reason: String,
    },
}

/// Port: somewhere messages go durably. `send_all` succeeds only when every
/// message was accepted.
#[async_trait]
pub trait Queue: Send + Sync {
    async fn send_all(&self, messages: &[QueueMessage]) -> Result<(), QueueError>;
}

/// Adapter: an SQS queue, written with `SendMessageBatch`.
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
    pub fn new(client: aws_sdk_sqs::Client, queue_url: impl Into<String>) -> Self {
        Self {
            client,
            queue_url: queue_url.into(),
        }
    }

    pub fn queue_url(&self) -> &str {
        &self.queue_url
    }

    async fn send_batch(&self, batch: &[&QueueMessage]) -> Result<(), QueueError> {
        let mut pending: Vec<usize> = (0..batch.len()).collect();
        let mut last_reason = String::new();
        for attempt in 0..BATCH_ATTEMPTS {
            if attempt > 0 {
                tokio::time::sleep(std::time::Duration::from_millis(50 << attempt)).await;
            }
            let entries = pending
                .iter()
                .map(|&i| entry(i, batch[i]))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| self.unavailable(e))?;
            let out = self
                .client
                .send_message_batch()
                .queue_url(&self.queue_url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(|e| self.unavailable(aws_sdk_sqs::error::DisplayErrorContext(e)))?;
            let failed = out.failed();
            if failed.is_empty() {
                return Ok(());
            }
            // A sender fault (a message SQS will never take) is not retried.
            if let Some(f) = failed.iter().find(|f| f.sender_fault()) {
                return Err(self.rejected(
                    failed.len(),
                    batch.len(),
                    format!("{}: {}", f.code(), f.message().unwrap_or_default()),
                ));
            }
            last_reason = failed
                .first()
                .map(|f| format!("{}: {}", f.code(), f.message().unwrap_or_default()))
                .unwrap_or_default();
            pending = failed.iter().filter_map(|f| f.id().parse().ok()).collect();
        }
        Err(self.rejected(pending.len(), batch.len(), last_reason))
    }

    fn unavailable(&self, reason: impl std::fmt::Display) -> QueueError {
        QueueError::Unavailable {
            queue_url: self.queue_url.clone(),
            reason: reason.to_string(),
        }
    }

    fn rejected(&self, failed: usize, total: usize, reason: String) -> QueueError {
        QueueError::Rejected {
            queue_url: self.queue_url.clone(),
            failed,
            total,
            reason,
        }
    }
}

#[async_trait]
impl Queue for SqsQueue {
    async fn send_all(&self, messages: &[QueueMessage]) -> Result<(), QueueError> {
        for batch in batches(messages) {
            self.send_batch(&batch).await?;
        }
        Ok(())
    }
}

/// Groups messages into `SendMessageBatch` calls: at most ten entries and at
/// most SQS's payload limit per call.
fn batches(messages: &[QueueMessage]) -> Vec<Vec<&QueueMessage>> {
    let mut out: Vec<Vec<&QueueMessage>> = Vec::new();
    let mut size = 0;
    for msg in messages {
        let cost = msg.body.len() + attribute_bytes(msg);
        match out.last_mut() {
            Some(batch)
                if batch.len() < MAX_BATCH_ENTRIES && size + cost <= MAX_SQS_MESSAGE_BYTES =>
            {
                batch.push(msg);
                size += cost;
            }
            _ => {
                out.push(vec![msg]);
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

fn attribute_bytes(msg: &QueueMessage) -> usize {
    attributes(msg)
        .iter()
        .map(|(n, t, v)| n.len() + t.len() + v.len())
        .sum()
}

fn entry(
    index: usize,
    msg: &QueueMessage,
) -> Result<SendMessageBatchRequestEntry, aws_sdk_sqs::error::BuildError> {
    let mut builder = SendMessageBatchRequestEntry::builder()
        .id(index.to_string())
        .message_body(&msg.body);
    for (name, data_type, value) in attributes(msg) {
        builder = builder.message_attributes(
            name,
            MessageAttributeValue::builder()
                .data_type(data_type)
                .string_value(value)
                .build()?,
        );
    }
    builder.build()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::intake::Kind;

    fn msg(bytes: usize) -> QueueMessage {
        QueueMessage {
            body: "x".repeat(bytes),
            kind: Kind::Change,
            phone_number_id: Some("1".into()),
            field: Some("messages".into()),
            received_at: 1,
        }
    }

    #[test]
    fn batches_respect_count_and_size() {
        let small: Vec<_> = (0..23).map(|_| msg(100)).collect();
        let sizes: Vec<_> = batches(&small).iter().map(Vec::len).collect();
        assert_eq!(sizes, [10, 10, 3]);

        let big: Vec<_> = (0..5).map(|_| msg(100_000)).collect();
        let sizes: Vec<_> = batches(&big).iter().map(Vec::len).collect();
        assert_eq!(sizes, [2, 2, 1]);
        assert!(batches(&[]).is_empty());
    }
}

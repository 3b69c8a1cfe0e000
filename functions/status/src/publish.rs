//! Telling upstream: the event publisher port, its SQS adapter, and the
//! log-only stand-in used when no upstream queue is configured.

use async_trait::async_trait;
use aws_sdk_sqs::types::{MessageAttributeValue, SendMessageBatchRequestEntry};
use shared::events::Event;
use shared::intake::{MAX_SQS_MESSAGE_BYTES, sqs_safe};

#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    /// SQS could not be reached or failed: a retry may help.
    #[error("could not publish to {queue_url}: {reason}")]
    Unavailable { queue_url: String, reason: String },
    /// SQS refused some events (for example too large): a retry cannot help.
    #[error("{queue_url} refused {failed} of {total} events: {reason}")]
    Rejected {
        queue_url: String,
        failed: usize,
        total: usize,
        reason: String,
    },
}

impl PublishError {
    pub fn retryable(&self) -> bool {
        matches!(self, PublishError::Unavailable { .. })
    }
}

/// Port: where events go. Succeeds only when every event was accepted.
#[async_trait]
pub trait EventPublisher: Send + Sync {
    async fn publish(&self, events: &[Event]) -> Result<(), PublishError>;
}

/// No upstream queue configured: each event is logged, nothing else.
pub struct LogPublisher;

#[async_trait]
impl EventPublisher for LogPublisher {
    async fn publish(&self, events: &[Event]) -> Result<(), PublishError> {
        for event in events {
            tracing::info!(
                event_id = %event.id,
                event_type = event.kind(),
                event = %serde_json::to_string(event).unwrap_or_default(),
                "upstream event (no UPSTREAM_EVENTS_QUEUE_URL: logged only)"
            );
        }
        Ok(())
    }
}

/// Adapter: an SQS queue (standard or FIFO), written with `SendMessageBatch`.
pub struct SqsEventPublisher {
    client: aws_sdk_sqs::Client,
    queue_url: String,
    fifo: bool,
}

const MAX_BATCH_ENTRIES: usize = 10;
const ATTEMPTS: u32 = 3;

impl SqsEventPublisher {
    pub fn new(client: aws_sdk_sqs::Client, queue_url: impl Into<String>) -> Self {
        let queue_url = queue_url.into();
        Self {
            fifo: queue_url.ends_with(".fifo"),
            client,
            queue_url,
        }
    }

    fn entry(
        &self,
        index: usize,
        event: &Event,
        body: &str,
    ) -> Result<SendMessageBatchRequestEntry, PublishError> {
        let text = |v: &str| {
            MessageAttributeValue::builder()
                .data_type("String")
                .string_value(v)
                .build()
        };
        let mut builder = SendMessageBatchRequestEntry::builder()
            .id(index.to_string())
            .message_body(body)
            .message_attributes(
                "event_type",
                text(event.kind()).map_err(|e| self.unavailable(e))?,
            )
            .message_attributes(
                "event_id",
                text(&event.id).map_err(|e| self.unavailable(e))?,
            );
        if self.fifo {
            // Per contact or message, in order; SQS drops a repeated id
            // within its five-minute window on top of consumers' checks.
            let group = event.group();
            builder = builder
                .message_group_id(if group.is_empty() {
                    "chasqui".to_owned()
                } else {
                    group
                })
                .message_deduplication_id(&event.id);
        }
        builder.build().map_err(|e| self.unavailable(e))
    }

    fn unavailable(&self, reason: impl std::fmt::Display) -> PublishError {
        PublishError::Unavailable {
            queue_url: self.queue_url.clone(),
            reason: reason.to_string(),
        }
    }

    async fn send_batch(&self, batch: &[(&Event, String)]) -> Result<(), PublishError> {
        let mut pending: Vec<usize> = (0..batch.len()).collect();
        let mut reason = String::new();
        for attempt in 0..ATTEMPTS {
            if attempt > 0 {
                tokio::time::sleep(std::time::Duration::from_millis(50 << attempt)).await;
            }
            let entries = pending
                .iter()
                .map(|&i| self.entry(i, batch[i].0, &batch[i].1))
                .collect::<Result<Vec<_>, _>>()?;
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
            if let Some(f) = failed.iter().find(|f| f.sender_fault()) {
                return Err(PublishError::Rejected {
                    queue_url: self.queue_url.clone(),
                    failed: failed.len(),
                    total: batch.len(),
                    reason: format!("{}: {}", f.code(), f.message().unwrap_or_default()),
                });
            }
            reason = failed
                .first()
                .map(|f| format!("{}: {}", f.code(), f.message().unwrap_or_default()))
                .unwrap_or_default();
            pending = failed.iter().filter_map(|f| f.id().parse().ok()).collect();
        }
        Err(self.unavailable(format!("{} events still failing: {reason}", pending.len())))
    }
}

#[async_trait]
impl EventPublisher for SqsEventPublisher {
    async fn publish(&self, events: &[Event]) -> Result<(), PublishError> {
        let bodies: Vec<(&Event, String)> = events
            .iter()
            .map(|e| (e, sqs_safe(serde_json::to_string(e).unwrap_or_default())))
            .collect();
        // At most ten entries and SQS's payload limit per call.
        let mut batch: Vec<(&Event, String)> = Vec::new();
        let mut size = 0;
        for (event, body) in bodies {
            let cost = body.len() + event.id.len() + 64;
            if !batch.is_empty()
                && (batch.len() == MAX_BATCH_ENTRIES || size + cost > MAX_SQS_MESSAGE_BYTES)
            {
                self.send_batch(&batch).await?;
                batch.clear();
                size = 0;
            }
            size += cost;
            batch.push((event, body));
        }
        if !batch.is_empty() {
            self.send_batch(&batch).await?;
        }
        Ok(())
    }
}

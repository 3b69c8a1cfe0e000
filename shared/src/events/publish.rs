//! Telling upstream: the event publisher port, its SQS adapter, the
//! fan-out to every configured queue (the upstream events queue and the
//! callbacks queue), and the log-only stand-in used when none is.

use crate::events::Event;
use crate::intake::sqs_safe;
use crate::queue::{Outgoing, QueueError, SqsQueue};
use std::sync::Arc;

use async_trait::async_trait;

/// Port: where events go. Succeeds only when every event was accepted.
#[async_trait]
pub trait EventPublisher: Send + Sync {
    /// Publishes `events`, in order.
    async fn publish(&self, events: &[Event]) -> Result<(), QueueError>;
}

/// No upstream queue configured: each event is logged, nothing else.
pub struct LogPublisher;

#[async_trait]
impl EventPublisher for LogPublisher {
    async fn publish(&self, events: &[Event]) -> Result<(), QueueError> {
        for event in events {
            // Events carry phone numbers, BSUIDs and texts: the whole event
            // only at debug level (`RUST_LOG=debug`), never by default.
            tracing::info!(
                event_id = %event.id,
                event_type = event.kind(),
                tenant = %event.tenant,
                "upstream event (no UPSTREAM_EVENTS_QUEUE_URL: not published)"
            );
            tracing::debug!(
                event_id = %event.id,
                event = %serde_json::to_string(event).unwrap_or_default(),
                "upstream event body"
            );
        }
        Ok(())
    }
}

/// Adapter: an SQS queue (standard or FIFO), written through
/// [`SqsQueue::send_outgoing`].
pub struct SqsEventPublisher {
    queue: SqsQueue,
    fifo: bool,
}

impl SqsEventPublisher {
    /// The adapter on the queue `queue_url` (FIFO when it ends `.fifo`).
    pub fn new(client: aws_sdk_sqs::Client, queue_url: impl Into<String>) -> Self {
        let queue = SqsQueue::new(client, queue_url);
        Self {
            fifo: queue.queue_url().ends_with(".fifo"),
            queue,
        }
    }
}

#[async_trait]
impl EventPublisher for SqsEventPublisher {
    async fn publish(&self, events: &[Event]) -> Result<(), QueueError> {
        let bodies: Vec<String> = events
            .iter()
            .map(|e| sqs_safe(serde_json::to_string(e).unwrap_or_default()))
            .collect();
        let outgoing: Vec<Outgoing> = events
            .iter()
            .zip(&bodies)
            .map(|(event, body)| {
                // FIFO: per contact or message, in order; SQS drops a
                // repeated id within its five-minute window on top of
                // consumers' checks.
                let group = event.group();
                Outgoing {
                    body,
                    attributes: vec![
                        ("event_type", "String", event.kind().to_owned()),
                        ("event_id", "String", event.id.clone()),
                        // Consumers of several tenants route by it without
                        // parsing the body.
                        ("tenant", "String", event.tenant.clone()),
                    ],
                    group_id: self.fifo.then(|| {
                        if group.is_empty() {
                            "chasqui".to_owned()
                        } else {
                            group
                        }
                    }),
                    deduplication_id: self.fifo.then(|| event.id.clone()),
                    delay_seconds: None,
                }
            })
            .collect();
        Ok(self.queue.send_outgoing(&outgoing).await?)
    }
}

/// Adapter: every configured queue gets every event; the publish
/// succeeds only when each accepted them all (the caller retries the whole
/// publish; event ids are stable, so consumers drop the duplicates).
pub struct FanOutPublisher {
    targets: Vec<SqsEventPublisher>,
}

#[async_trait]
impl EventPublisher for FanOutPublisher {
    async fn publish(&self, events: &[Event]) -> Result<(), QueueError> {
        let results =
            futures_util::future::join_all(self.targets.iter().map(|t| t.publish(events))).await;
        results.into_iter().collect()
    }
}

/// The publisher of a function: each of the queues that is set, the
/// upstream events queue (`UPSTREAM_EVENTS_QUEUE_URL`) and the callbacks
/// queue (`CALLBACKS_QUEUE_URL`), or the log when neither is.
pub fn publisher(
    sqs: &aws_sdk_sqs::Client,
    upstream_queue_url: Option<&str>,
    callbacks_queue_url: Option<&str>,
) -> Arc<dyn EventPublisher> {
    let targets: Vec<SqsEventPublisher> = [upstream_queue_url, callbacks_queue_url]
        .into_iter()
        .flatten()
        .map(|url| SqsEventPublisher::new(sqs.clone(), url))
        .collect();
    match targets.len() {
        0 => Arc::new(LogPublisher),
        _ => Arc::new(FanOutPublisher { targets }),
    }
}

//! Putting a failed message back on the queue for later: the port and its SQS
//! adapter. Lambda returns reported failures to the queue after their
//! visibility timeout; setting that timeout per message is how a retry waits.

use std::time::Duration;

use async_trait::async_trait;
use shared::error::{Cause, Chain};

/// `ChangeMessageVisibility` failed; the message returns after the queue's
/// own visibility timeout instead. The URL names the AWS account: kept for
/// `Debug`, never displayed.
#[derive(Debug, thiserror::Error)]
#[error("could not delay the message: {}", Chain(source.as_ref()))]
pub struct RequeueError {
    pub queue_url: String,
    #[source]
    pub source: Cause,
}

/// Port: makes a received message visible again after `delay`.
#[async_trait]
pub trait Requeue: Send + Sync {
    async fn retry_in(&self, receipt_handle: &str, delay: Duration) -> Result<(), RequeueError>;
}

/// Adapter: `ChangeMessageVisibility` on the send queue.
pub struct SqsRequeue {
    client: aws_sdk_sqs::Client,
    queue_url: String,
}

impl SqsRequeue {
    pub fn new(client: aws_sdk_sqs::Client, queue_url: impl Into<String>) -> Self {
        Self {
            client,
            queue_url: queue_url.into(),
        }
    }
}

#[async_trait]
impl Requeue for SqsRequeue {
    async fn retry_in(&self, receipt_handle: &str, delay: Duration) -> Result<(), RequeueError> {
        let secs = delay.as_secs().min(crate::pacing::MAX_VISIBILITY.as_secs()) as i32;
        self.client
            .change_message_visibility()
            .queue_url(&self.queue_url)
            .receipt_handle(receipt_handle)
            .visibility_timeout(secs)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| RequeueError {
                queue_url: self.queue_url.clone(),
                source: Box::new(e),
            })
    }
}

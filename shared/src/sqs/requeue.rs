//! Putting a failed message back on the queue for later: the port, its SQS
//! adapter and the backoff. Lambda returns reported failures to the queue
//! after their visibility timeout; setting that timeout per message is how a
//! retry waits (the sender's sends, the media function's downloads).

use std::time::Duration;

use async_trait::async_trait;

use crate::error::{Cause, Chain};

/// `ChangeMessageVisibility` failed; the message returns after the queue's
/// own visibility timeout instead. The URL names the AWS account: kept for
/// `Debug`, never displayed.
#[derive(Debug, thiserror::Error)]
#[error("could not delay the message: {}", Chain(source.as_ref()))]
pub struct RequeueError {
    /// The queue.
    pub queue_url: String,
    /// What SQS (or the SDK) answered.
    #[source]
    pub source: Cause,
}

/// SQS caps a message's visibility timeout at 12 hours.
pub const MAX_VISIBILITY: Duration = Duration::from_secs(12 * 60 * 60);
/// The first retry waits about this long; each further receive doubles it.
pub const BACKOFF_BASE: Duration = Duration::from_secs(5);
/// Retries never wait longer than this unless Meta asks (`Retry-After`).
pub const BACKOFF_CAP: Duration = Duration::from_secs(15 * 60);

/// The visibility timeout of a retry: exponential in the receive count with
/// "equal jitter" (half fixed, half random, so retries spread out but never
/// come back at once), at least `at_least` (e.g. Meta's `Retry-After`), at
/// most SQS's 12 hours.
pub fn backoff(receive_count: u32, at_least: Option<Duration>) -> Duration {
    backoff_between(receive_count, at_least, BACKOFF_BASE, BACKOFF_CAP)
}

/// [`backoff`] from another first wait `base` up to another `cap` (the
/// callbacks' retries, whose settings choose both).
pub fn backoff_between(
    receive_count: u32,
    at_least: Option<Duration>,
    base: Duration,
    cap: Duration,
) -> Duration {
    let exponent = receive_count.saturating_sub(1).min(20);
    let ceiling = base.saturating_mul(1 << exponent).min(cap).as_millis() as u64;
    let half = ceiling / 2;
    let jittered = Duration::from_millis(half + fastrand::u64(0..=half));
    jittered
        .max(at_least.unwrap_or_default())
        .max(Duration::from_secs(1))
        .min(MAX_VISIBILITY)
}

/// Port: makes a received message visible again after `delay`.
#[async_trait]
pub trait Requeue: Send + Sync {
    /// Sets the message's visibility timeout to `delay` (at most SQS's 12
    /// hours).
    async fn retry_in(&self, receipt_handle: &str, delay: Duration) -> Result<(), RequeueError>;
}

/// Adapter: `ChangeMessageVisibility` on one queue.
pub struct SqsRequeue {
    client: aws_sdk_sqs::Client,
    queue_url: String,
}

impl SqsRequeue {
    /// The adapter on the queue `queue_url`.
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
        let secs = delay.as_secs().min(MAX_VISIBILITY.as_secs()) as i32;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_jitters_and_is_capped() {
        for _ in 0..200 {
            let first = backoff(1, None);
            assert!(
                (Duration::from_millis(2500)..=BACKOFF_BASE).contains(&first),
                "{first:?}"
            );
            let third = backoff(3, None);
            assert!(
                (Duration::from_secs(10)..=Duration::from_secs(20)).contains(&third),
                "{third:?}"
            );
            let late = backoff(50, None);
            assert!((BACKOFF_CAP / 2..=BACKOFF_CAP).contains(&late), "{late:?}");
        }
        assert_eq!(
            backoff(1, Some(Duration::from_secs(120))),
            Duration::from_secs(120)
        );
        assert_eq!(
            backoff(1, Some(Duration::from_secs(99_999))),
            MAX_VISIBILITY
        );
        for _ in 0..50 {
            let d = backoff_between(9, None, Duration::from_secs(30), Duration::from_secs(3600));
            assert!((Duration::from_secs(1800)..=Duration::from_secs(3600)).contains(&d));
        }
        let spread: std::collections::HashSet<_> = (0..50).map(|_| backoff(4, None)).collect();
        assert!(spread.len() > 10, "jitter should spread retries");
    }
}

//! The per-key rate limit, shared by every instance: one counter item per
//! key per minute (`RATE#<key id>#<minute>`), raised by one conditional
//! `UpdateItem` per call that refuses once the window's count is reached.
//! The window is in the key, so an instance never reads an old one; the
//! TTL removes it two minutes after it ends.

use aws_sdk_dynamodb::types::AttributeValue;
use shared::store::StoreError;
use shared::table;
use shared::table::attr::rate as attr;
use shared::table::dynamo::{Update, failure, is_condition_failure, key};

/// The window, seconds.
pub const WINDOW_SECONDS: u64 = 60;

/// What the counter says of one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Within the limit.
    Allowed,
    /// Over it: the next window opens in this many seconds.
    Limited {
        /// Seconds until the next window (at least 1).
        retry_after: u64,
    },
}

/// Adapter: the counter items of the table.
pub struct RateLimit {
    client: aws_sdk_dynamodb::Client,
    table: String,
    per_window: u64,
}

impl RateLimit {
    /// `per_window` calls per key per [`WINDOW_SECONDS`].
    pub fn new(
        client: aws_sdk_dynamodb::Client,
        table: impl Into<String>,
        per_window: u64,
    ) -> Self {
        Self {
            client,
            table: table.into(),
            per_window,
        }
    }

    /// Counts a call of `key_id` at `now_ms`.
    pub async fn check(&self, key_id: &str, now_ms: u64) -> Result<Decision, StoreError> {
        let now_s = now_ms / 1000;
        let window = now_s - now_s % WINDOW_SECONDS;
        let mut u = Update::default();
        u.add(attr::COUNT, AttributeValue::N("1".into())).set(
            attr::EXPIRES_AT,
            AttributeValue::N((window + 3 * WINDOW_SECONDS).to_string()),
        );
        let count = u.name(attr::COUNT);
        let limit = u.value(AttributeValue::N(self.per_window.to_string()));
        let result = u
            .update_item(
                &self.client,
                &self.table,
                key(table::rate_pk(key_id, window), table::RATE_SK),
                Some(format!(
                    "attribute_not_exists({count}) OR {count} < {limit}"
                )),
            )
            .send()
            .await;
        match result {
            Ok(_) => Ok(Decision::Allowed),
            Err(e) if is_condition_failure(&e) => Ok(Decision::Limited {
                retry_after: (window + WINDOW_SECONDS).saturating_sub(now_s).max(1),
            }),
            Err(e) => Err(failure("UpdateItem rate", e)),
        }
    }
}

//! The sender's ports onto DynamoDB: the message record with its idempotency
//! lock ([`SendLedger`]) and the contact it is addressed to
//! ([`ContactBook`]), and their adapter over one table ([`DynamoLedger`]).
//!
//! The lock follows Powertools' idempotency design: one conditional
//! `UpdateItem` takes it and returns the old item when it cannot, so
//! concurrent duplicates resolve in DynamoDB, not in our memory. The record is
//! written with `UpdateItem` only, because the status function may have
//! created the item from an early webhook.

mod dynamo;

use async_trait::async_trait;
use serde_json::{Map, Value};
use shared::customer::CustomerIds;

pub use dynamo::DynamoLedger;

/// `send_state` values.
pub mod state {
    /// An attempt holds the lock until `lock_expires_at`.
    pub const IN_PROGRESS: &str = "in_progress";
    /// Meta answered, or the request failed for good: never call again.
    pub const DONE: &str = "done";
    /// Retries ran out and the message went to the dead-letter queue; a
    /// redrive from there may take the lock again.
    pub const DEAD_LETTERED: &str = "dead_lettered";
}

/// What a sent message looked like, for the record.
#[derive(Debug, Clone)]
pub struct Claim<'a> {
    /// The tenant the request is for: its record is the tenant's.
    pub tenant: &'a str,
    pub message_id: &'a str,
    pub request_hash: &'a str,
    pub phone_number_id: &'a str,
    /// The phone (`to`).
    pub recipient: Option<&'a str>,
    /// The BSUID (`recipient`).
    pub recipient_user_id: Option<&'a str>,
    pub kind: &'a str,
    pub template: Option<(&'a str, &'a str)>,
    pub metadata: Option<&'a Map<String, Value>>,
    pub now_ms: u64,
    pub lock_expires_at: u64,
    /// TTL, Unix seconds.
    pub expires_at: u64,
}

/// What the record said about earlier attempts when the lock was taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Earlier {
    /// Nothing unsettled: no attempt, or earlier ones released the lock
    /// without a sign that Meta accepted the message.
    Clean,
    /// An earlier attempt's lock expired with no sign of acceptance: it
    /// crashed, or its call went unanswered (timed out) and no status
    /// webhook arrived within the grace delay. The call may or may not have
    /// reached Meta.
    Unconfirmed,
    /// A status webhook for this message is recorded (wamid or a status
    /// time) though no attempt recorded Meta's answer: an earlier call was
    /// accepted and its answer lost (timeout) or never recorded (crash).
    Accepted { wamid: Option<String> },
}

/// The answer to taking the lock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Begin {
    /// This attempt holds the lock.
    Acquired(Earlier),
    /// An earlier attempt finished: never call Meta again.
    Done,
    /// Another attempt holds the lock until then (ms).
    Busy { lock_expires_at: u64 },
    /// The id was used for a different request.
    Conflict,
    /// The message was cancelled before it went: never send it.
    Cancelled,
}

/// The answer to recording a message `scheduled`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scheduling {
    /// Recorded (now, or by an earlier copy): `scheduled_at` (ms).
    Recorded { scheduled_at: u64 },
    /// The sender already claimed it (it went, or is going).
    Claimed,
    /// It was cancelled before the sender read it.
    Cancelled,
    /// The id was used for a different request.
    Conflict,
}

/// What a scheduled message's record says when its fire arrives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stored {
    /// The request kept for the fire (`request`), not yet sent.
    Request(String),
    /// Settled: sent, failed or suppressed (or no request kept).
    Claimed,
    /// Cancelled before it went.
    Cancelled,
    /// No record (or an expired one).
    Unknown,
}

/// An error as recorded in `error` / `last_error`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RecordedError {
    /// Why, in one word: `graph_error`, `invalid_request`,
    /// `outside_service_window`, `dead_lettered_after_retries`, ...
    pub reason: String,
    pub code: Option<i64>,
    pub title: Option<String>,
    pub message: String,
    pub details: Option<String>,
    /// `retryable`, `throttled`, `permanent` or `auth`.
    pub class: String,
    /// `cloud_api` for Meta's answers, `sender` for Chasqui's own checks.
    pub source: String,
    pub fbtrace_id: Option<String>,
    pub http_status: Option<u16>,
}

/// How an attempt that holds the lock ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finish {
    /// Meta accepted the call.
    Accepted { wamid: Option<String> },
    /// For good: `failed_at` and `error`.
    Failed { error: RecordedError, called: bool },
    /// The contact opted out; no call was made.
    Suppressed { reason: String },
    /// Meta had accepted an earlier attempt's call (its status webhooks are
    /// recorded): done, without a call.
    Confirmed,
    /// The call went unanswered (timed out, connection lost after sending):
    /// Meta may have accepted it. The lock is kept until `grace_until` (ms),
    /// so no other copy sends meanwhile; whoever takes it over after that
    /// sees whether a status webhook arrived ([`Earlier`]).
    Unconfirmed {
        last_error: RecordedError,
        grace_until: u64,
    },
    /// A retry may succeed: the lock is released and `last_error` kept. With
    /// `dead_letter`, this was the last receive: the record also says failed
    /// and why, and a redrive may take the lock again.
    Released {
        last_error: RecordedError,
        called: bool,
        dead_letter: Option<RecordedError>,
    },
}

pub use shared::store::StoreError;

/// Port: the message record and its idempotency lock.
#[async_trait]
pub trait SendLedger: Send + Sync {
    /// Takes the lock for this request, or says why not.
    async fn begin(&self, claim: &Claim<'_>) -> Result<Begin, StoreError>;
    /// Records a request with a future `send_at` as `scheduled`, keeping
    /// `body` (the request as received) for its fire; the record lives
    /// until `claim.expires_at` (computed from `send_at`).
    async fn schedule(
        &self,
        claim: &Claim<'_>,
        send_at_ms: u64,
        body: &str,
    ) -> Result<Scheduling, StoreError>;
    /// What a fire finds: the kept request, or why there is nothing to send.
    async fn stored(
        &self,
        tenant: &str,
        message_id: &str,
        now_ms: u64,
    ) -> Result<Stored, StoreError>;
    /// Ends the attempt that holds the lock. `Ok(false)`: the lock was no
    /// longer ours (it expired and another attempt took it), nothing written.
    async fn finish(
        &self,
        tenant: &str,
        message_id: &str,
        request_hash: &str,
        finish: &Finish,
        now_ms: u64,
    ) -> Result<bool, StoreError>;
}

/// What the sender needs to know about a recipient, resolved over the
/// customer's linked contact items.
pub use shared::contact::ContactState;

/// Port: contacts, as the status function writes them.
#[async_trait]
pub trait ContactBook: Send + Sync {
    /// The customer named by any of `ids` (phone, BSUID), with every item
    /// linked to them; `None` when there is none.
    async fn contact(
        &self,
        tenant: &str,
        phone_number_id: &str,
        ids: &CustomerIds,
        now_ms: u64,
    ) -> Result<Option<ContactState>, StoreError>;
}

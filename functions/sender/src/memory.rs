//! In-memory adapters of the sender's ports, with the same lock semantics as
//! [`crate::store::DynamoLedger`] (one mutex makes each call atomic, as a
//! DynamoDB conditional write is). For unit tests and benchmarks; the
//! DynamoDB adapter itself is tested against the emulator.

use shared::customer::CustomerIds;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;

use crate::store::{
    Begin, Claim, ContactBook, ContactState, Earlier, Finish, Scheduling, SendLedger, StoreError,
    Stored, state,
};
use shared::sqs::requeue::{Requeue, RequeueError};

/// What the in-memory store keeps of a message record.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MemoryRecord {
    pub request_hash: String,
    pub send_state: Option<String>,
    pub lock_expires_at: u64,
    pub attempts: u64,
    pub wamid: Option<String>,
    pub accepted: bool,
    pub failed_reason: Option<String>,
    pub suppressed_reason: Option<String>,
    pub last_error_reason: Option<String>,
    /// A status webhook was recorded (what the status function writes:
    /// the wamid and a status time).
    pub status_seen: bool,
    /// The request kept for a scheduled message's fire.
    pub request: Option<String>,
    pub scheduled_at: Option<u64>,
    pub cancelled: bool,
}

#[derive(Default)]
pub struct MemoryLedger {
    pub messages: Mutex<HashMap<String, MemoryRecord>>,
    pub contacts: Mutex<HashMap<(String, String), ContactState>>,
}

impl MemoryLedger {
    /// A default-tenant message's record.
    pub fn record(&self, message_id: &str) -> Option<MemoryRecord> {
        let key = shared::table::message_pk(shared::tenant::DEFAULT_TENANT, message_id);
        self.messages.lock().ok()?.get(&key).cloned()
    }
}

fn poisoned() -> StoreError {
    StoreError::Unavailable {
        operation: "lock",
        source: "a test thread panicked".into(),
    }
}

#[async_trait]
impl SendLedger for MemoryLedger {
    async fn begin(&self, claim: &Claim<'_>) -> Result<Begin, StoreError> {
        let mut messages = self.messages.lock().map_err(|_| poisoned())?;
        let key = shared::table::message_pk(claim.tenant, claim.message_id);
        let record = messages.entry(key).or_default();
        if !record.request_hash.is_empty() && record.request_hash != claim.request_hash {
            return Ok(Begin::Conflict);
        }
        if record.cancelled {
            return Ok(Begin::Cancelled);
        }
        let free = match record.send_state.as_deref() {
            None | Some(state::DEAD_LETTERED) => true,
            Some(state::IN_PROGRESS) => record.lock_expires_at < claim.now_ms,
            Some(_) => false,
        };
        if !free {
            return Ok(match record.send_state.as_deref() {
                Some(state::IN_PROGRESS) => Begin::Busy {
                    lock_expires_at: record.lock_expires_at,
                },
                _ => Begin::Done,
            });
        }
        let earlier = if record.status_seen && !record.accepted {
            Earlier::Accepted {
                wamid: record.wamid.clone(),
            }
        } else if record.send_state.as_deref() == Some(state::IN_PROGRESS) {
            Earlier::Unconfirmed
        } else {
            Earlier::Clean
        };
        record.request_hash = claim.request_hash.to_owned();
        record.send_state = Some(state::IN_PROGRESS.to_owned());
        record.lock_expires_at = claim.lock_expires_at;
        record.failed_reason = None;
        Ok(Begin::Acquired(earlier))
    }

    async fn schedule(
        &self,
        claim: &Claim<'_>,
        _send_at_ms: u64,
        body: &str,
    ) -> Result<Scheduling, StoreError> {
        let mut messages = self.messages.lock().map_err(|_| poisoned())?;
        let key = shared::table::message_pk(claim.tenant, claim.message_id);
        let record = messages.entry(key).or_default();
        if !record.request_hash.is_empty() && record.request_hash != claim.request_hash {
            return Ok(Scheduling::Conflict);
        }
        if record.cancelled {
            return Ok(Scheduling::Cancelled);
        }
        if record.send_state.is_some() {
            return Ok(Scheduling::Claimed);
        }
        record.request_hash = claim.request_hash.to_owned();
        record.request = Some(body.to_owned());
        let scheduled_at = *record.scheduled_at.get_or_insert(claim.now_ms);
        Ok(Scheduling::Recorded { scheduled_at })
    }

    async fn stored(
        &self,
        tenant: &str,
        message_id: &str,
        _now_ms: u64,
    ) -> Result<Stored, StoreError> {
        let messages = self.messages.lock().map_err(|_| poisoned())?;
        let key = shared::table::message_pk(tenant, message_id);
        Ok(match messages.get(&key) {
            None => Stored::Unknown,
            Some(r) if r.cancelled => Stored::Cancelled,
            Some(r) if r.send_state.as_deref() == Some(state::DONE) => Stored::Claimed,
            Some(r) => r.request.clone().map_or(Stored::Claimed, Stored::Request),
        })
    }

    async fn finish(
        &self,
        tenant: &str,
        message_id: &str,
        request_hash: &str,
        finish: &Finish,
        _now_ms: u64,
    ) -> Result<bool, StoreError> {
        let mut messages = self.messages.lock().map_err(|_| poisoned())?;
        let key = shared::table::message_pk(tenant, message_id);
        let Some(record) = messages.get_mut(&key) else {
            return Ok(false);
        };
        if record.send_state.as_deref() != Some(state::IN_PROGRESS)
            || record.request_hash != request_hash
        {
            return Ok(false);
        }
        let called = match finish {
            Finish::Accepted { wamid } => {
                record.send_state = Some(state::DONE.into());
                record.accepted = true;
                record.wamid = wamid.clone();
                true
            }
            Finish::Failed { error, called } => {
                record.send_state = Some(state::DONE.into());
                record.failed_reason = Some(error.reason.clone());
                *called
            }
            Finish::Confirmed => {
                record.send_state = Some(state::DONE.into());
                record.accepted = true;
                false
            }
            Finish::Unconfirmed {
                last_error,
                grace_until,
            } => {
                record.last_error_reason = Some(last_error.reason.clone());
                record.lock_expires_at = *grace_until;
                true
            }
            Finish::Suppressed { reason } => {
                record.send_state = Some(state::DONE.into());
                record.suppressed_reason = Some(reason.clone());
                false
            }
            Finish::Released {
                last_error,
                called,
                dead_letter,
            } => {
                record.last_error_reason = Some(last_error.reason.clone());
                record.send_state = dead_letter.as_ref().map(|_| state::DEAD_LETTERED.into());
                record.failed_reason = dead_letter.as_ref().map(|e| e.reason.clone());
                *called
            }
        };
        record.attempts += u64::from(called);
        Ok(true)
    }
}

#[async_trait]
impl ContactBook for MemoryLedger {
    async fn contact(
        &self,
        _tenant: &str,
        phone_number_id: &str,
        ids: &CustomerIds,
        _now_ms: u64,
    ) -> Result<Option<ContactState>, StoreError> {
        let contacts = self.contacts.lock().map_err(|_| poisoned())?;
        // Memory contacts are not linked, nor kept per tenant (one tenant
        // per test): the first id with state answers.
        Ok(ids
            .all()
            .into_iter()
            .find_map(|id| contacts.get(&(phone_number_id.to_owned(), id.to_owned())))
            .cloned())
    }
}

/// Records every delay asked for, by receipt handle.
#[derive(Default)]
pub struct MemoryRequeue {
    pub delays: Mutex<Vec<(String, Duration)>>,
}

#[async_trait]
impl Requeue for MemoryRequeue {
    async fn retry_in(&self, receipt_handle: &str, delay: Duration) -> Result<(), RequeueError> {
        if let Ok(mut delays) = self.delays.lock() {
            delays.push((receipt_handle.to_owned(), delay));
        }
        Ok(())
    }
}

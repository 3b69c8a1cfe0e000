//! The DynamoDB adapter of the sender's ports: one conditional `UpdateItem`
//! takes the lock and returns the old item when it cannot.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use serde_json::Value;
use shared::customer::CustomerIds;
use shared::record::ErrorRecord;
use shared::table;
use shared::table::attr::message as attr;
use shared::table::dynamo::{
    Conditional, Update, error_attribute, failure, from_json, get_item, is_condition_failure,
    message_key, n, s,
};

use super::{
    Begin, Claim, ContactBook, ContactState, Earlier, Finish, RecordedError, Scheduling,
    SendLedger, StoreError, Stored, state,
};

/// Adapter: the Chasqui table.
#[derive(Clone)]
pub struct DynamoLedger {
    client: aws_sdk_dynamodb::Client,
    table: String,
}

fn number(item: &HashMap<String, AttributeValue>, name: &str) -> Option<u64> {
    item.get(name)
        .and_then(|v| v.as_n().ok())
        .and_then(|n| n.parse::<f64>().ok())
        .map(|f| f as u64)
}

fn text<'a>(item: &'a HashMap<String, AttributeValue>, name: &str) -> Option<&'a str> {
    item.get(name)
        .and_then(|v| v.as_s().ok())
        .map(String::as_str)
}

/// Outcome attributes of an earlier life of the item, cleared when an
/// expired record is taken over by a new request with the same id.
const STALE_ON_EXPIRY: &[&str] = &[
    attr::WAMID,
    attr::ACCEPTED_AT,
    attr::SENT_AT,
    attr::DELIVERED_AT,
    attr::READ_AT,
    attr::FAILED_AT,
    attr::ERROR,
    attr::ERRORS,
    attr::SUPPRESSED_AT,
    attr::SUPPRESSED_REASON,
    attr::ATTEMPTS,
    attr::LAST_ERROR,
    attr::SCHEDULED_AT,
    attr::SEND_AT,
    attr::REQUEST,
    attr::CANCELLED_AT,
];

impl DynamoLedger {
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    async fn read_message(
        &self,
        tenant: &str,
        message_id: &str,
    ) -> Result<Option<HashMap<String, AttributeValue>>, StoreError> {
        let key = message_key(tenant, message_id);
        get_item(&self.client, &self.table, key, "GetItem").await
    }

    /// Applies `u` only while this attempt holds the lock (in progress with
    /// this request's hash); `false` when it no longer does.
    async fn update_if_held(
        &self,
        tenant: &str,
        message_id: &str,
        request_hash: &str,
        mut u: Update,
    ) -> Result<bool, StoreError> {
        let (st, rh) = (u.name(attr::SEND_STATE), u.name(attr::REQUEST_HASH));
        let (ip, h) = (u.value(s(state::IN_PROGRESS)), u.value(s(request_hash)));
        let condition = format!("{st} = {ip} AND {rh} = {h}");
        let result = u
            .update_item(
                &self.client,
                &self.table,
                message_key(tenant, message_id),
                Some(condition),
            )
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(err) if is_condition_failure(&err) => Ok(false),
            Err(err) => Err(failure("UpdateItem", err)),
        }
    }

    /// Writes `u` on `claim`'s record while it is this request's (or
    /// nobody's yet), not cancelled and free as `free` says (a condition
    /// written with `u`'s placeholders); or while the record has expired,
    /// which counts as absent. The claim and the schedule record both go
    /// here; a refusal answers the record as it stands.
    async fn claim(
        &self,
        mut u: Update,
        claim: &Claim<'_>,
        free: &str,
        returned: ReturnValue,
    ) -> Result<Conditional, StoreError> {
        let (rh, cancelled, exp) = (
            u.name(attr::REQUEST_HASH),
            u.name(attr::CANCELLED_AT),
            u.name(attr::EXPIRES_AT),
        );
        let (h, now_s) = (
            u.value(s(claim.request_hash)),
            u.value(n(claim.now_ms / 1000)),
        );
        let condition = format!(
            "((attribute_not_exists({rh}) OR {rh} = {h}) AND attribute_not_exists({cancelled}) AND {free}) OR {exp} < {now_s}"
        );
        u.update_or_current(
            &self.client,
            &self.table,
            message_key(claim.tenant, claim.message_id),
            condition,
            returned,
            ("UpdateItem", "GetItem"),
        )
        .await
    }

    /// Clears what an earlier life left once the lock is ours.
    async fn clear(
        &self,
        tenant: &str,
        message_id: &str,
        request_hash: &str,
        attributes: &[&str],
    ) -> Result<(), StoreError> {
        let mut u = Update::default();
        for a in attributes {
            u.remove(a);
        }
        if !self
            .update_if_held(tenant, message_id, request_hash, u)
            .await?
        {
            return Err(StoreError::Unavailable {
                operation: "UpdateItem",
                source:
                    "the lock was taken over before the earlier attempt's leftovers were cleared"
                        .into(),
            });
        }
        Ok(())
    }
}

/// An update writing what the request asks (id, tenant, number, type,
/// hash, recipient, template, metadata) and the bookkeeping times.
fn described(claim: &Claim<'_>) -> Update {
    let mut u = Update::default();
    u.set(attr::MESSAGE_ID, s(claim.message_id))
        .set(attr::TENANT, s(claim.tenant))
        .set(attr::PHONE_NUMBER_ID, s(claim.phone_number_id))
        .set(attr::TYPE, s(claim.kind))
        .set(attr::REQUEST_HASH, s(claim.request_hash))
        .set_if_absent(attr::CREATED_AT, n(claim.now_ms))
        .set(attr::UPDATED_AT, n(claim.now_ms))
        .set(attr::EXPIRES_AT, n(claim.expires_at));
    if let Some(to) = claim.recipient {
        u.set(attr::RECIPIENT, s(to));
    }
    if let Some(user_id) = claim.recipient_user_id {
        u.set(attr::RECIPIENT_USER_ID, s(user_id));
    }
    if let Some((name, language)) = claim.template {
        u.set(attr::TEMPLATE_NAME, s(name))
            .set(attr::TEMPLATE_LANGUAGE, s(language));
    }
    if let Some(metadata) = claim.metadata {
        u.set(attr::METADATA, from_json(&Value::Object(metadata.clone())));
    }
    u
}

/// Attributes only a status webhook writes on a message record before the
/// sender records Meta's answer.
const SIGNS_OF_ACCEPTANCE: &[&str] = &[
    attr::WAMID,
    attr::SENT_AT,
    attr::DELIVERED_AT,
    attr::READ_AT,
    attr::ERRORS,
];

/// What the item as it was before this attempt took the lock says about
/// earlier attempts.
fn earlier(old: &HashMap<String, AttributeValue>) -> Earlier {
    if SIGNS_OF_ACCEPTANCE.iter().any(|a| old.contains_key(*a)) {
        return Earlier::Accepted {
            wamid: text(old, attr::WAMID).map(str::to_owned),
        };
    }
    if text(old, attr::SEND_STATE) == Some(state::IN_PROGRESS) {
        Earlier::Unconfirmed
    } else {
        Earlier::Clean
    }
}

fn classify_existing(item: &HashMap<String, AttributeValue>, claim: &Claim<'_>) -> Begin {
    if text(item, attr::REQUEST_HASH).is_some_and(|h| h != claim.request_hash) {
        return Begin::Conflict;
    }
    if item.contains_key(attr::CANCELLED_AT) {
        return Begin::Cancelled;
    }
    match text(item, attr::SEND_STATE) {
        Some(state::IN_PROGRESS) => Begin::Busy {
            lock_expires_at: number(item, attr::LOCK_EXPIRES_AT).unwrap_or(claim.now_ms),
        },
        _ => Begin::Done,
    }
}

#[async_trait]
impl SendLedger for DynamoLedger {
    async fn begin(&self, claim: &Claim<'_>) -> Result<Begin, StoreError> {
        let mut u = described(claim);
        u.set(attr::SEND_STATE, s(state::IN_PROGRESS))
            .set(attr::LOCK_EXPIRES_AT, n(claim.lock_expires_at));
        let (st, lock) = (u.name(attr::SEND_STATE), u.name(attr::LOCK_EXPIRES_AT));
        let (ip, dl, now) = (
            u.value(s(state::IN_PROGRESS)),
            u.value(s(state::DEAD_LETTERED)),
            u.value(n(claim.now_ms)),
        );
        // Free, released, dead-lettered or crashed (expired lock).
        let free = format!(
            "(attribute_not_exists({st}) OR {st} = {dl} OR ({st} = {ip} AND {lock} < {now}))"
        );
        match self.claim(u, claim, &free, ReturnValue::AllOld).await? {
            Conditional::Written(old) => {
                let expired = number(&old, table::EXPIRES_AT)
                    .is_some_and(|e| table::has_expired(e, claim.now_ms / 1000));
                if expired {
                    self.clear(
                        claim.tenant,
                        claim.message_id,
                        claim.request_hash,
                        STALE_ON_EXPIRY,
                    )
                    .await?;
                } else if text(&old, attr::SEND_STATE) == Some(state::DEAD_LETTERED) {
                    // A redrive from the dead-letter queue: the failure it
                    // recorded no longer holds.
                    self.clear(
                        claim.tenant,
                        claim.message_id,
                        claim.request_hash,
                        &[attr::FAILED_AT, attr::ERROR],
                    )
                    .await?;
                }
                Ok(Begin::Acquired(if expired {
                    Earlier::Clean
                } else {
                    earlier(&old)
                }))
            }
            Conditional::Refused(Some(item)) => Ok(classify_existing(&item, claim)),
            // Deleted between the two calls: try again later.
            Conditional::Refused(None) => Ok(Begin::Busy {
                lock_expires_at: claim.now_ms,
            }),
        }
    }

    async fn schedule(
        &self,
        claim: &Claim<'_>,
        send_at_ms: u64,
        body: &str,
    ) -> Result<Scheduling, StoreError> {
        let mut u = described(claim);
        u.set_if_absent(attr::SCHEDULED_AT, n(claim.now_ms))
            .set(attr::SEND_AT, n(send_at_ms))
            .set(attr::REQUEST, s(body));
        let (st, accepted) = (u.name(attr::SEND_STATE), u.name(attr::ACCEPTED_AT));
        // Unclaimed (an API-accepted message carries its request's hash
        // already, but no state).
        let unclaimed = format!("attribute_not_exists({st}) AND attribute_not_exists({accepted})");
        match self
            .claim(u, claim, &unclaimed, ReturnValue::AllNew)
            .await?
        {
            Conditional::Written(new) => Ok(Scheduling::Recorded {
                scheduled_at: number(&new, attr::SCHEDULED_AT).unwrap_or(claim.now_ms),
            }),
            Conditional::Refused(Some(old)) => Ok(
                if text(&old, attr::REQUEST_HASH).is_some_and(|h| h != claim.request_hash) {
                    Scheduling::Conflict
                } else if old.contains_key(attr::CANCELLED_AT) {
                    Scheduling::Cancelled
                } else {
                    Scheduling::Claimed
                },
            ),
            Conditional::Refused(None) => Err(StoreError::Unavailable {
                operation: "UpdateItem",
                source: "the record changed while it was scheduled; try again".into(),
            }),
        }
    }

    async fn stored(
        &self,
        tenant: &str,
        message_id: &str,
        now_ms: u64,
    ) -> Result<Stored, StoreError> {
        let Some(item) = self.read_message(tenant, message_id).await? else {
            return Ok(Stored::Unknown);
        };
        if number(&item, table::EXPIRES_AT).is_some_and(|e| table::has_expired(e, now_ms / 1000)) {
            return Ok(Stored::Unknown);
        }
        if item.contains_key(attr::CANCELLED_AT) {
            return Ok(Stored::Cancelled);
        }
        if text(&item, attr::SEND_STATE) == Some(state::DONE) {
            return Ok(Stored::Claimed);
        }
        Ok(text(&item, attr::REQUEST).map_or(Stored::Claimed, |r| Stored::Request(r.to_owned())))
    }

    async fn finish(
        &self,
        tenant: &str,
        message_id: &str,
        request_hash: &str,
        finish: &Finish,
        now_ms: u64,
    ) -> Result<bool, StoreError> {
        let mut u = Update::default();
        u.set(attr::UPDATED_AT, n(now_ms));
        if !matches!(finish, Finish::Unconfirmed { .. }) {
            u.remove(attr::LOCK_EXPIRES_AT);
        }
        let called = match finish {
            Finish::Accepted { wamid } => {
                u.set(attr::SEND_STATE, s(state::DONE))
                    .set_if_absent(attr::ACCEPTED_AT, n(now_ms));
                if let Some(wamid) = wamid {
                    u.set(attr::WAMID, s(wamid));
                }
                true
            }
            Finish::Failed { error, called } => {
                u.set(attr::SEND_STATE, s(state::DONE))
                    .set_if_absent(attr::FAILED_AT, n(now_ms))
                    .set(attr::ERROR, error.to_attribute(now_ms));
                *called
            }
            Finish::Confirmed => {
                u.set(attr::SEND_STATE, s(state::DONE))
                    .set_if_absent(attr::ACCEPTED_AT, n(now_ms));
                false
            }
            Finish::Unconfirmed {
                last_error,
                grace_until,
            } => {
                u.set(attr::LAST_ERROR, last_error.to_attribute(now_ms))
                    .set(attr::LOCK_EXPIRES_AT, n(*grace_until));
                true
            }
            Finish::Suppressed { reason } => {
                u.set(attr::SEND_STATE, s(state::DONE))
                    .set_if_absent(attr::SUPPRESSED_AT, n(now_ms))
                    .set(attr::SUPPRESSED_REASON, s(reason));
                false
            }
            Finish::Released {
                last_error,
                called,
                dead_letter,
            } => {
                u.set(attr::LAST_ERROR, last_error.to_attribute(now_ms));
                match dead_letter {
                    Some(error) => {
                        u.set(attr::SEND_STATE, s(state::DEAD_LETTERED))
                            .set_if_absent(attr::FAILED_AT, n(now_ms))
                            .set(attr::ERROR, error.to_attribute(now_ms));
                    }
                    None => {
                        u.remove(attr::SEND_STATE);
                    }
                }
                *called
            }
        };
        if called {
            u.add(attr::ATTEMPTS, n(1));
        }
        // A scheduled message's kept request is no longer needed once it
        // is settled (a dead-lettered one keeps it for a redrive).
        if matches!(
            finish,
            Finish::Accepted { .. }
                | Finish::Failed { .. }
                | Finish::Confirmed
                | Finish::Suppressed { .. }
        ) {
            u.remove(attr::REQUEST);
        }
        self.update_if_held(tenant, message_id, request_hash, u)
            .await
    }
}

#[async_trait]
impl ContactBook for DynamoLedger {
    async fn contact(
        &self,
        tenant: &str,
        phone_number_id: &str,
        ids: &CustomerIds,
        now_ms: u64,
    ) -> Result<Option<ContactState>, StoreError> {
        let items = shared::contact::read_linked(
            &self.client,
            &self.table,
            tenant,
            phone_number_id,
            ids,
            now_ms,
        )
        .await?;
        Ok(shared::contact::resolve(&items))
    }
}

impl RecordedError {
    fn to_attribute(&self, at: u64) -> AttributeValue {
        let base = error_attribute(&ErrorRecord {
            code: self.code,
            title: self.title.clone(),
            message: Some(self.message.clone()),
            details: self.details.clone(),
            class: Some(self.class.clone()),
            source: Some(self.source.clone()),
            reason: Some(self.reason.clone()),
        });
        let mut map = match base {
            AttributeValue::M(m) => m,
            _ => HashMap::new(),
        };
        map.insert(attr::error::AT.into(), AttributeValue::N(at.to_string()));
        if let Some(trace) = &self.fbtrace_id {
            map.insert(
                attr::error::FBTRACE_ID.into(),
                AttributeValue::S(trace.clone()),
            );
        }
        if let Some(status) = self.http_status {
            map.insert(
                attr::error::HTTP_STATUS.into(),
                AttributeValue::N(status.to_string()),
            );
        }
        AttributeValue::M(map)
    }
}

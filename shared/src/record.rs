//! The message record as read back from DynamoDB, and the one implementation
//! of its derived status.
//!
//! The sender and the status function write the same message item with
//! `UpdateItem`, each its own attributes (`docs/data-model.md`). Nobody stores
//! a status: each outcome has its own timestamp attribute, and [`Status::of`]
//! turns the set of timestamps into a status by precedence. That is why any
//! arrival order of the same webhooks ends in the same status, and why a late
//! `delivered` can never hide `read` nor anything move a message out of
//! `failed`.

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::table::attr::message as attr;

/// A message's status, derived from which timestamps its item holds.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Nothing has happened yet (or the item does not exist).
    #[default]
    Pending,
    /// A send request with a future `send_at` was accepted and put on
    /// schedule; it goes at its time.
    Scheduled,
    /// Meta accepted the send call.
    Accepted,
    /// Meta reported `sent`.
    Sent,
    /// Meta reported `delivered`.
    Delivered,
    /// Read, or played for a voice message.
    Read,
    /// Not sent: the contact had opted out. Terminal.
    Suppressed,
    /// Cancelled before it went (`chasqui send cancel`, `DELETE
    /// /v1/messages/{id}`). Terminal.
    Cancelled,
    /// Terminal.
    Failed,
}

impl Status {
    /// The status's lowercase name, as stored in events and shown by the CLI
    /// (`delivered`).
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::Scheduled => "scheduled",
            Status::Accepted => "accepted",
            Status::Sent => "sent",
            Status::Delivered => "delivered",
            Status::Read => "read",
            Status::Suppressed => "suppressed",
            Status::Cancelled => "cancelled",
            Status::Failed => "failed",
        }
    }

    /// No later event moves a message out of a terminal status.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            Status::Failed | Status::Suppressed | Status::Cancelled
        )
    }

    /// The precedence of `docs/data-model.md`, in one place: `failed_at` →
    /// failed, `suppressed_at` → suppressed, `cancelled_at` → cancelled,
    /// `read_at` → read, `delivered_at` → delivered, `sent_at` → sent,
    /// `accepted_at` → accepted, `scheduled_at` → scheduled, otherwise
    /// pending.
    pub fn of(times: &StatusTimes) -> Status {
        if times.failed_at.is_some() {
            Status::Failed
        } else if times.suppressed_at.is_some() {
            Status::Suppressed
        } else if times.cancelled_at.is_some() {
            Status::Cancelled
        } else if times.read_at.is_some() {
            Status::Read
        } else if times.delivered_at.is_some() {
            Status::Delivered
        } else if times.sent_at.is_some() {
            Status::Sent
        } else if times.accepted_at.is_some() {
            Status::Accepted
        } else if times.scheduled_at.is_some() {
            Status::Scheduled
        } else {
            Status::Pending
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The outcome timestamps of a message, Unix milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusTimes {
    /// When Meta accepted the send call.
    pub accepted_at: Option<u64>,
    /// The earliest `sent` Meta reported.
    pub sent_at: Option<u64>,
    /// The earliest `delivered` Meta reported.
    pub delivered_at: Option<u64>,
    /// The earliest `read` Meta reported (a `played` writes it too).
    pub read_at: Option<u64>,
    /// The earliest `played` Meta reported (voice messages).
    pub played_at: Option<u64>,
    /// When the message failed for good, at send time or by a `failed` status.
    pub failed_at: Option<u64>,
    /// When the sender suppressed it because the contact had opted out.
    pub suppressed_at: Option<u64>,
    /// When the sender put it on schedule (a future `send_at`).
    pub scheduled_at: Option<u64>,
    /// When it was cancelled before it went.
    pub cancelled_at: Option<u64>,
}

impl StatusTimes {
    /// The status these timestamps mean ([`Status::of`]).
    pub fn status(&self) -> Status {
        Status::of(self)
    }

    /// The timestamp slot named by its attribute, for code that works on
    /// attribute names (the status function's writes).
    pub fn slot_mut(&mut self, attribute: &str) -> Option<&mut Option<u64>> {
        Some(match attribute {
            attr::ACCEPTED_AT => &mut self.accepted_at,
            attr::SENT_AT => &mut self.sent_at,
            attr::DELIVERED_AT => &mut self.delivered_at,
            attr::READ_AT => &mut self.read_at,
            attr::PLAYED_AT => &mut self.played_at,
            attr::FAILED_AT => &mut self.failed_at,
            attr::SUPPRESSED_AT => &mut self.suppressed_at,
            attr::SCHEDULED_AT => &mut self.scheduled_at,
            attr::CANCELLED_AT => &mut self.cancelled_at,
            _ => return None,
        })
    }

    /// The value of the timestamp slot named by its attribute; `None` for an
    /// unset slot or an unknown name.
    pub fn slot(&self, attribute: &str) -> Option<u64> {
        let mut copy = *self;
        copy.slot_mut(attribute).and_then(|slot| *slot)
    }
}

/// One failure entry: the `error` attribute, or one of `errors`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ErrorRecord {
    /// Meta's numeric error code (`131026`), when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<i64>,
    /// Meta's short title of the error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Meta's (or the sender's) description of the error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Meta's `error_data.details`, the precise reason.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<String>,
    /// The sender's classification (for example `permanent`), when it wrote it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub class: Option<String>,
    /// Who recorded it: `webhook` for a `failed` status, the sender's own
    /// value otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// Why, in one word, when Chasqui names it: the sender's reasons
    /// (`graph_error`, ...) and, for a `failed` status, the reason its code
    /// maps to (`bsuid_recipient_not_allowed` for 131062).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Meta's conversation of a sent message.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ConversationRecord {
    /// Meta's conversation id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Unix milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<u64>,
    /// `utility`, `marketing`, `authentication`, `service`, ...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<String>,
}

/// Meta's pricing of a sent message.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PricingRecord {
    /// Whether Meta charges for the message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub billable: Option<bool>,
    /// Meta's pricing model (`PMP`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pricing_model: Option<String>,
    /// Meta's pricing category (`utility`, `marketing`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    /// `regular`, `free_customer_service`, `free_entry_point`, ...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
}

/// The message item, as either writer left it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MessageRecord {
    /// `MSG#<message_id>` or `WAMID#<wamid>`, after `T#<tenant>#` for a
    /// named tenant (`crate::table::message_pk`, `foreign_message_pk`).
    pub pk: String,
    /// Chasqui's message id (the send request's `id`); absent on an item known
    /// only by `wamid`.
    pub message_id: Option<String>,
    /// The tenant it belongs to; absent on items written before tenants
    /// existed (the default tenant's).
    pub tenant: Option<String>,
    /// The business phone number id it was sent from.
    pub phone_number_id: Option<String>,
    /// The recipient's phone (E.164 digits), when known.
    pub recipient: Option<String>,
    /// The message type the sender sent (`template`, `text`, ...).
    pub kind: Option<String>,
    /// The template's name, on template sends.
    pub template_name: Option<String>,
    /// The template's language code, on template sends.
    pub template_language: Option<String>,
    /// The send request's opaque metadata, as JSON.
    pub metadata: Option<Map<String, Value>>,
    /// SHA-256 of the normalised send request.
    pub request_hash: Option<String>,
    /// The sender's lock state: `in_progress`, `done` or `dead_lettered`;
    /// `None` when no attempt holds it.
    pub send_state: Option<String>,
    /// When an `in_progress` lock may be taken over, Unix milliseconds.
    pub lock_expires_at: Option<u64>,
    /// How many Cloud API calls were made.
    pub attempts: Option<u64>,
    /// Meta's id for the message, once known.
    pub wamid: Option<String>,
    /// The outcome timestamps the status derives from.
    pub times: StatusTimes,
    /// Why the sender suppressed it (`opted_out`).
    pub suppressed_reason: Option<String>,
    /// When a scheduled message is to go (its `send_at`), Unix milliseconds.
    pub send_at: Option<u64>,
    /// The failure that ended the message, when it failed.
    pub error: Option<ErrorRecord>,
    /// Every entry of Meta's `errors[]` on a `failed` status.
    pub errors: Vec<ErrorRecord>,
    /// Meta's conversation, from the statuses that carried it.
    pub conversation: Option<ConversationRecord>,
    /// Meta's pricing, from the statuses that carried it.
    pub pricing: Option<PricingRecord>,
    /// Status values Chasqui does not know, as `<status>@<timestamp_ms>`.
    pub other_statuses: Vec<String>,
    /// When the item was first written, Unix milliseconds.
    pub created_at: Option<u64>,
    /// When the item was last written, Unix milliseconds.
    pub updated_at: Option<u64>,
    /// TTL, Unix seconds.
    pub expires_at: Option<u64>,
}

impl MessageRecord {
    /// The message's status ([`Status::of`] its timestamps).
    pub fn status(&self) -> Status {
        self.times.status()
    }

    /// `(status, at)` of each step the message took, in the order of the
    /// steps (Meta's times have whole seconds, so `sent` can read earlier
    /// than `accepted`; the order of the steps is the one that means
    /// something).
    pub fn timeline(&self) -> Vec<(&'static str, u64)> {
        let t = &self.times;
        let mut steps: Vec<(&'static str, u64)> = [
            ("scheduled", t.scheduled_at),
            ("cancelled", t.cancelled_at),
            ("accepted", t.accepted_at),
            ("sent", t.sent_at),
            ("delivered", t.delivered_at),
            ("read", t.read_at),
            ("played", t.played_at),
            ("failed", t.failed_at),
            ("suppressed", t.suppressed_at),
        ]
        .into_iter()
        .filter_map(|(name, at)| at.map(|at| (name, at)))
        .collect();
        let order = |name: &str| match name {
            "scheduled" => 0,
            "accepted" => 1,
            "sent" => 2,
            "delivered" => 3,
            "read" => 4,
            _ => 5,
        };
        steps.sort_by_key(|(name, at)| (order(name), *at));
        steps
    }

    /// DynamoDB deletes expired items late: a reader treats one whose TTL
    /// has passed as absent.
    pub fn is_expired(&self, now_secs: u64) -> bool {
        self.expires_at
            .is_some_and(|at| crate::table::has_expired(at, now_secs))
    }
}

/// A known attribute of a stored item holds a value of the wrong type. A
/// retry cannot help: the item needs fixing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    /// An attribute could not be read as Chasqui's type.
    #[error("attribute {attribute} is malformed: {reason}")]
    Malformed {
        /// The attribute, and where in it (`errors[0].code`).
        attribute: String,
        /// What is wrong with it.
        reason: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn precedence_is_the_documented_one() {
        let t = |f: fn(&mut StatusTimes)| {
            let mut times = StatusTimes::default();
            f(&mut times);
            times.status()
        };
        assert_eq!(t(|_| {}), Status::Pending);
        assert_eq!(t(|x| x.accepted_at = Some(1)), Status::Accepted);
        assert_eq!(
            t(|x| {
                x.accepted_at = Some(1);
                x.sent_at = Some(2)
            }),
            Status::Sent
        );
        // A later timestamp value does not matter, only which slots exist.
        assert_eq!(
            t(|x| {
                x.sent_at = Some(9);
                x.delivered_at = Some(2)
            }),
            Status::Delivered
        );
        assert_eq!(
            t(|x| {
                x.delivered_at = Some(9);
                x.read_at = Some(2)
            }),
            Status::Read
        );
        assert_eq!(
            t(|x| {
                x.read_at = Some(3);
                x.suppressed_at = Some(1)
            }),
            Status::Suppressed
        );
        assert_eq!(
            t(|x| {
                x.read_at = Some(3);
                x.suppressed_at = Some(1);
                x.failed_at = Some(2)
            }),
            Status::Failed
        );
        // played alone is not a status of its own: the writer also sets read_at.
        assert_eq!(t(|x| x.played_at = Some(3)), Status::Pending);
        assert!(Status::Failed.is_terminal() && Status::Suppressed.is_terminal());
        assert_eq!(t(|x| x.scheduled_at = Some(1)), Status::Scheduled);
        assert_eq!(
            t(|x| {
                x.scheduled_at = Some(1);
                x.accepted_at = Some(2)
            }),
            Status::Accepted
        );
        assert_eq!(
            t(|x| {
                x.scheduled_at = Some(1);
                x.cancelled_at = Some(2)
            }),
            Status::Cancelled
        );
        assert!(Status::Cancelled.is_terminal() && !Status::Scheduled.is_terminal());
        assert!(!Status::Read.is_terminal());
        assert!(Status::Accepted < Status::Sent && Status::Sent < Status::Delivered);
        assert!(Status::Delivered < Status::Read);
    }

    #[test]
    fn slots_are_named_by_attribute() {
        let mut t = StatusTimes::default();
        *t.slot_mut(attr::DELIVERED_AT).unwrap() = Some(5);
        assert_eq!(t.delivered_at, Some(5));
        assert_eq!(t.slot(attr::DELIVERED_AT), Some(5));
        assert!(t.slot_mut("nope").is_none());
    }
}

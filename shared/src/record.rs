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

use std::collections::HashMap;
use std::fmt;

use aws_sdk_dynamodb::types::AttributeValue;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Number, Value};

use crate::table;

/// A DynamoDB item as the SDK returns it.
pub type Item = HashMap<String, AttributeValue>;

/// Attribute names of the message item. Both writers use these, so a typo
/// cannot split one attribute into two.
pub mod attr {
    pub const MESSAGE_ID: &str = "message_id";
    pub const PHONE_NUMBER_ID: &str = "phone_number_id";
    pub const RECIPIENT: &str = "recipient";
    /// The recipient's BSUID: the send request's `recipient`, or Meta's
    /// `recipient_user_id`.
    pub const RECIPIENT_USER_ID: &str = "recipient_user_id";
    pub const RECIPIENT_PARENT_USER_ID: &str = "recipient_parent_user_id";
    /// `individual` or `group`.
    pub const RECIPIENT_TYPE: &str = "recipient_type";
    pub const RECIPIENT_PARTICIPANT_ID: &str = "recipient_participant_id";
    pub const USERNAME: &str = "username";
    pub const TYPE: &str = "type";
    pub const TEMPLATE_NAME: &str = "template_name";
    pub const TEMPLATE_LANGUAGE: &str = "template_language";
    pub const METADATA: &str = "metadata";
    pub const REQUEST_HASH: &str = "request_hash";
    pub const SEND_STATE: &str = "send_state";
    pub const LOCK_EXPIRES_AT: &str = "lock_expires_at";
    pub const ATTEMPTS: &str = "attempts";
    pub const WAMID: &str = crate::table::WAMID;
    pub const ACCEPTED_AT: &str = "accepted_at";
    pub const SENT_AT: &str = "sent_at";
    pub const DELIVERED_AT: &str = "delivered_at";
    pub const READ_AT: &str = "read_at";
    /// Voice messages: when it was first played. A `played` status also
    /// writes `read_at` (playing implies reading).
    pub const PLAYED_AT: &str = "played_at";
    pub const FAILED_AT: &str = "failed_at";
    pub const SUPPRESSED_AT: &str = "suppressed_at";
    pub const SUPPRESSED_REASON: &str = "suppressed_reason";
    /// M: the failure that ended the message (`code`, `title`, `message`,
    /// `details`, `class`, `source`).
    pub const ERROR: &str = "error";
    /// L of M: every entry of Meta's `errors[]` on a `failed` status.
    pub const ERRORS: &str = "errors";
    pub const CONVERSATION_ID: &str = "conversation_id";
    pub const CONVERSATION_EXPIRES_AT: &str = "conversation_expires_at";
    pub const CONVERSATION_ORIGIN: &str = "conversation_origin";
    pub const PRICING_BILLABLE: &str = "pricing_billable";
    pub const PRICING_MODEL: &str = "pricing_model";
    pub const PRICING_CATEGORY: &str = "pricing_category";
    pub const PRICING_TYPE: &str = "pricing_type";
    /// SS: status values Meta sent that Chasqui does not know, as
    /// `<status>@<timestamp_ms>`.
    pub const OTHER_STATUSES: &str = "other_statuses";
    pub const CREATED_AT: &str = "created_at";
    pub const UPDATED_AT: &str = "updated_at";
    pub const EXPIRES_AT: &str = crate::table::EXPIRES_AT;
}

/// A message's status, derived from which timestamps its item holds.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Nothing has happened yet (or the item does not exist).
    #[default]
    Pending,
    /// Meta accepted the send call.
    Accepted,
    Sent,
    Delivered,
    /// Read, or played for a voice message.
    Read,
    /// Not sent: the contact had opted out. Terminal.
    Suppressed,
    /// Terminal.
    Failed,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::Accepted => "accepted",
            Status::Sent => "sent",
            Status::Delivered => "delivered",
            Status::Read => "read",
            Status::Suppressed => "suppressed",
            Status::Failed => "failed",
        }
    }

    /// No later event moves a message out of a terminal status.
    pub fn is_terminal(self) -> bool {
        matches!(self, Status::Failed | Status::Suppressed)
    }

    /// The precedence of `docs/data-model.md`, in one place: `failed_at` →
    /// failed, `suppressed_at` → suppressed, `read_at` → read,
    /// `delivered_at` → delivered, `sent_at` → sent, `accepted_at` →
    /// accepted, otherwise pending.
    pub fn of(times: &StatusTimes) -> Status {
        if times.failed_at.is_some() {
            Status::Failed
        } else if times.suppressed_at.is_some() {
            Status::Suppressed
        } else if times.read_at.is_some() {
            Status::Read
        } else if times.delivered_at.is_some() {
            Status::Delivered
        } else if times.sent_at.is_some() {
            Status::Sent
        } else if times.accepted_at.is_some() {
            Status::Accepted
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
    pub accepted_at: Option<u64>,
    pub sent_at: Option<u64>,
    pub delivered_at: Option<u64>,
    pub read_at: Option<u64>,
    pub played_at: Option<u64>,
    pub failed_at: Option<u64>,
    pub suppressed_at: Option<u64>,
}

impl StatusTimes {
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
            _ => return None,
        })
    }

    pub fn slot(&self, attribute: &str) -> Option<u64> {
        let mut copy = *self;
        copy.slot_mut(attribute).and_then(|slot| *slot)
    }

    fn read(item: &Item) -> Result<Self, RecordError> {
        Ok(Self {
            accepted_at: number(item, attr::ACCEPTED_AT)?,
            sent_at: number(item, attr::SENT_AT)?,
            delivered_at: number(item, attr::DELIVERED_AT)?,
            read_at: number(item, attr::READ_AT)?,
            played_at: number(item, attr::PLAYED_AT)?,
            failed_at: number(item, attr::FAILED_AT)?,
            suppressed_at: number(item, attr::SUPPRESSED_AT)?,
        })
    }
}

/// One failure entry: the `error` attribute, or one of `errors`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorRecord {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
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

impl ErrorRecord {
    /// The DynamoDB map, leaving out absent fields.
    pub fn to_attribute(&self) -> AttributeValue {
        let mut m = HashMap::new();
        if let Some(code) = self.code {
            m.insert("code".to_owned(), AttributeValue::N(code.to_string()));
        }
        for (name, value) in [
            ("title", &self.title),
            ("message", &self.message),
            ("details", &self.details),
            ("class", &self.class),
            ("source", &self.source),
            ("reason", &self.reason),
        ] {
            if let Some(v) = value {
                m.insert(name.to_owned(), AttributeValue::S(v.clone()));
            }
        }
        AttributeValue::M(m)
    }

    fn read(name: &'static str, value: &AttributeValue) -> Result<Self, RecordError> {
        let m = value
            .as_m()
            .map_err(|_| RecordError::malformed(name, "M"))?;
        let text = |key: &str| -> Result<Option<String>, RecordError> {
            match m.get(key) {
                None | Some(AttributeValue::Null(_)) => Ok(None),
                Some(AttributeValue::S(s)) => Ok(Some(s.clone())),
                Some(_) => Err(RecordError::malformed(name, "M of S")),
            }
        };
        let code = match m.get("code") {
            None | Some(AttributeValue::Null(_)) => None,
            Some(AttributeValue::N(n)) => Some(
                n.parse::<i64>()
                    .map_err(|_| RecordError::malformed(name, "an integer code"))?,
            ),
            Some(_) => return Err(RecordError::malformed(name, "an N code")),
        };
        Ok(Self {
            code,
            title: text("title")?,
            message: text("message")?,
            details: text("details")?,
            class: text("class")?,
            source: text("source")?,
            reason: text("reason")?,
        })
    }
}

/// Meta's conversation of a sent message.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConversationRecord {
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
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PricingRecord {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub billable: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pricing_model: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    /// `regular`, `free_customer_service`, `free_entry_point`, ...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
}

/// The message item, as either writer left it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MessageRecord {
    /// `MSG#<message_id>` or `WAMID#<wamid>`.
    pub pk: String,
    pub message_id: Option<String>,
    pub phone_number_id: Option<String>,
    pub recipient: Option<String>,
    /// The message type the sender sent (`template`, `text`, ...).
    pub kind: Option<String>,
    pub template_name: Option<String>,
    pub template_language: Option<String>,
    /// The send request's opaque metadata, as JSON.
    pub metadata: Option<Map<String, Value>>,
    pub request_hash: Option<String>,
    pub send_state: Option<String>,
    pub lock_expires_at: Option<u64>,
    pub attempts: Option<u64>,
    pub wamid: Option<String>,
    pub times: StatusTimes,
    pub suppressed_reason: Option<String>,
    pub error: Option<ErrorRecord>,
    pub errors: Vec<ErrorRecord>,
    pub conversation: Option<ConversationRecord>,
    pub pricing: Option<PricingRecord>,
    pub other_statuses: Vec<String>,
    pub created_at: Option<u64>,
    pub updated_at: Option<u64>,
    /// TTL, Unix seconds.
    pub expires_at: Option<u64>,
}

impl MessageRecord {
    /// Reads an item. Attributes it does not know are ignored; a known
    /// attribute of the wrong type is an error naming it.
    pub fn from_item(item: &Item) -> Result<Self, RecordError> {
        let metadata = match item.get(attr::METADATA) {
            None | Some(AttributeValue::Null(_)) => None,
            Some(v @ AttributeValue::M(_)) => match to_json(v) {
                Value::Object(map) => Some(map),
                _ => None,
            },
            Some(_) => return Err(RecordError::malformed(attr::METADATA, "M")),
        };
        let error = match item.get(attr::ERROR) {
            None | Some(AttributeValue::Null(_)) => None,
            Some(v) => Some(ErrorRecord::read(attr::ERROR, v)?),
        };
        let errors = match item.get(attr::ERRORS) {
            None | Some(AttributeValue::Null(_)) => Vec::new(),
            Some(AttributeValue::L(list)) => list
                .iter()
                .map(|v| ErrorRecord::read(attr::ERRORS, v))
                .collect::<Result<_, _>>()?,
            Some(_) => return Err(RecordError::malformed(attr::ERRORS, "L")),
        };
        let conversation = ConversationRecord {
            id: string(item, attr::CONVERSATION_ID)?,
            expires_at: number(item, attr::CONVERSATION_EXPIRES_AT)?,
            origin: string(item, attr::CONVERSATION_ORIGIN)?,
        };
        let pricing = PricingRecord {
            billable: boolean(item, attr::PRICING_BILLABLE)?,
            pricing_model: string(item, attr::PRICING_MODEL)?,
            category: string(item, attr::PRICING_CATEGORY)?,
            kind: string(item, attr::PRICING_TYPE)?,
        };
        let other_statuses = match item.get(attr::OTHER_STATUSES) {
            None | Some(AttributeValue::Null(_)) => Vec::new(),
            Some(AttributeValue::Ss(set)) => {
                let mut v = set.clone();
                v.sort();
                v
            }
            Some(_) => return Err(RecordError::malformed(attr::OTHER_STATUSES, "SS")),
        };
        Ok(Self {
            pk: string(item, table::PK)?.unwrap_or_default(),
            message_id: string(item, attr::MESSAGE_ID)?,
            phone_number_id: string(item, attr::PHONE_NUMBER_ID)?,
            recipient: string(item, attr::RECIPIENT)?,
            kind: string(item, attr::TYPE)?,
            template_name: string(item, attr::TEMPLATE_NAME)?,
            template_language: string(item, attr::TEMPLATE_LANGUAGE)?,
            metadata,
            request_hash: string(item, attr::REQUEST_HASH)?,
            send_state: string(item, attr::SEND_STATE)?,
            lock_expires_at: number(item, attr::LOCK_EXPIRES_AT)?,
            attempts: number(item, attr::ATTEMPTS)?,
            wamid: string(item, attr::WAMID)?,
            times: StatusTimes::read(item)?,
            suppressed_reason: string(item, attr::SUPPRESSED_REASON)?,
            error,
            errors,
            conversation: (conversation != ConversationRecord::default()).then_some(conversation),
            pricing: (pricing != PricingRecord::default()).then_some(pricing),
            other_statuses,
            created_at: number(item, attr::CREATED_AT)?,
            updated_at: number(item, attr::UPDATED_AT)?,
            expires_at: number(item, attr::EXPIRES_AT)?,
        })
    }

    pub fn status(&self) -> Status {
        self.times.status()
    }

    /// DynamoDB deletes expired items late: a reader treats one whose TTL
    /// has passed as absent.
    pub fn is_expired(&self, now_secs: u64) -> bool {
        self.expires_at.is_some_and(|at| at <= now_secs)
    }
}

/// A known attribute holds a value of the wrong type. A retry cannot help:
/// the item needs fixing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    #[error("attribute {attribute} is not {expected}")]
    Malformed {
        attribute: &'static str,
        expected: &'static str,
    },
}

impl RecordError {
    fn malformed(attribute: &'static str, expected: &'static str) -> Self {
        Self::Malformed {
            attribute,
            expected,
        }
    }
}

fn string(item: &Item, name: &'static str) -> Result<Option<String>, RecordError> {
    match item.get(name) {
        None | Some(AttributeValue::Null(_)) => Ok(None),
        Some(AttributeValue::S(s)) => Ok(Some(s.clone())),
        Some(_) => Err(RecordError::malformed(name, "S")),
    }
}

fn number(item: &Item, name: &'static str) -> Result<Option<u64>, RecordError> {
    match item.get(name) {
        None | Some(AttributeValue::Null(_)) => Ok(None),
        Some(AttributeValue::N(n)) => n
            .parse::<u64>()
            .map(Some)
            .map_err(|_| RecordError::malformed(name, "a non-negative integer N")),
        Some(_) => Err(RecordError::malformed(name, "N")),
    }
}

fn boolean(item: &Item, name: &'static str) -> Result<Option<bool>, RecordError> {
    match item.get(name) {
        None | Some(AttributeValue::Null(_)) => Ok(None),
        Some(AttributeValue::Bool(b)) => Ok(Some(*b)),
        Some(_) => Err(RecordError::malformed(name, "BOOL")),
    }
}

/// A DynamoDB value as JSON: `M` → object, `L` → array, `N` → number (kept
/// as its text when JSON cannot hold it exactly), sets → arrays, `B` →
/// base64 text.
pub fn to_json(value: &AttributeValue) -> Value {
    use base64::Engine as _;
    let number = |n: &str| -> Value {
        if let Ok(i) = n.parse::<i64>() {
            return Value::Number(i.into());
        }
        if let Ok(u) = n.parse::<u64>() {
            return Value::Number(u.into());
        }
        n.parse::<f64>()
            .ok()
            .and_then(Number::from_f64)
            .map(Value::Number)
            .unwrap_or_else(|| Value::String(n.to_owned()))
    };
    let bytes = |b: &aws_sdk_dynamodb::primitives::Blob| -> Value {
        Value::String(base64::engine::general_purpose::STANDARD.encode(b.as_ref()))
    };
    match value {
        AttributeValue::S(s) => Value::String(s.clone()),
        AttributeValue::N(n) => number(n),
        AttributeValue::Bool(b) => Value::Bool(*b),
        AttributeValue::Null(_) => Value::Null,
        AttributeValue::M(m) => {
            Value::Object(m.iter().map(|(k, v)| (k.clone(), to_json(v))).collect())
        }
        AttributeValue::L(l) => Value::Array(l.iter().map(to_json).collect()),
        AttributeValue::Ss(s) => Value::Array(s.iter().cloned().map(Value::String).collect()),
        AttributeValue::Ns(s) => Value::Array(s.iter().map(|n| number(n)).collect()),
        AttributeValue::B(b) => bytes(b),
        AttributeValue::Bs(s) => Value::Array(s.iter().map(bytes).collect()),
        _ => Value::Null,
    }
}

/// JSON as a DynamoDB value: objects → `M`, arrays → `L`, numbers → `N`.
pub fn from_json(value: &Value) -> AttributeValue {
    match value {
        Value::Null => AttributeValue::Null(true),
        Value::Bool(b) => AttributeValue::Bool(*b),
        Value::Number(n) => AttributeValue::N(n.to_string()),
        Value::String(s) => AttributeValue::S(s.clone()),
        Value::Array(a) => AttributeValue::L(a.iter().map(from_json).collect()),
        Value::Object(o) => {
            AttributeValue::M(o.iter().map(|(k, v)| (k.clone(), from_json(v))).collect())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn n(v: u64) -> AttributeValue {
        AttributeValue::N(v.to_string())
    }

    fn s(v: &str) -> AttributeValue {
        AttributeValue::S(v.to_owned())
    }

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
        assert!(!Status::Read.is_terminal());
        assert!(Status::Accepted < Status::Sent && Status::Sent < Status::Delivered);
        assert!(Status::Delivered < Status::Read);
    }

    #[test]
    fn reads_both_writers_fields() {
        let item: Item = [
            ("pk", s("MSG#m1")),
            ("sk", s("MSG")),
            (attr::MESSAGE_ID, s("m1")),
            (attr::RECIPIENT, s("5511988887777")),
            (attr::TYPE, s("template")),
            (
                attr::METADATA,
                AttributeValue::M(
                    [
                        ("order".to_owned(), s("1234")),
                        ("n".to_owned(), n(7)),
                        (
                            "nested".to_owned(),
                            AttributeValue::L(vec![AttributeValue::Bool(true)]),
                        ),
                    ]
                    .into_iter()
                    .collect(),
                ),
            ),
            (attr::ACCEPTED_AT, n(1_730_000_000_000)),
            (attr::DELIVERED_AT, n(1_730_000_001_000)),
            (attr::FAILED_AT, n(1_730_000_002_000)),
            (
                attr::ERRORS,
                AttributeValue::L(vec![
                    ErrorRecord {
                        code: Some(131026),
                        title: Some("Message undeliverable".into()),
                        details: Some("d".into()),
                        ..ErrorRecord::default()
                    }
                    .to_attribute(),
                ]),
            ),
            (attr::CONVERSATION_ID, s("c1")),
            (attr::PRICING_BILLABLE, AttributeValue::Bool(true)),
            (
                attr::OTHER_STATUSES,
                AttributeValue::Ss(vec!["warning@5".into()]),
            ),
            (attr::EXPIRES_AT, n(100)),
            ("unknown_future_attribute", s("ignored")),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        let r = MessageRecord::from_item(&item).unwrap();
        assert_eq!(r.pk, "MSG#m1");
        assert_eq!(r.status(), Status::Failed);
        assert_eq!(
            Value::Object(r.metadata.clone().unwrap()),
            json!({"order": "1234", "n": 7, "nested": [true]})
        );
        assert_eq!(r.errors[0].code, Some(131026));
        assert_eq!(r.errors[0].details.as_deref(), Some("d"));
        assert_eq!(r.conversation.as_ref().unwrap().id.as_deref(), Some("c1"));
        assert_eq!(r.pricing.as_ref().unwrap().billable, Some(true));
        assert!(r.error.is_none());
        assert_eq!(r.other_statuses, ["warning@5"]);
        assert!(r.is_expired(100) && !r.is_expired(99));
    }

    #[test]
    fn a_wrongly_typed_attribute_is_named() {
        let item: Item = [(attr::READ_AT.to_owned(), s("yesterday"))]
            .into_iter()
            .collect();
        assert_eq!(
            MessageRecord::from_item(&item).unwrap_err(),
            RecordError::Malformed {
                attribute: attr::READ_AT,
                expected: "N"
            }
        );
        let item: Item = [(attr::SENT_AT.to_owned(), AttributeValue::N("-1".into()))]
            .into_iter()
            .collect();
        assert!(MessageRecord::from_item(&item).is_err());
        assert_eq!(
            MessageRecord::from_item(&Item::new()).unwrap().status(),
            Status::Pending
        );
    }

    #[test]
    fn json_round_trips_through_attributes() {
        let v = json!({"a": [1, -2, 3.5, "x", null, true], "b": {"c": "d"}, "big": 18446744073709551615u64});
        assert_eq!(to_json(&from_json(&v)), v);
        assert_eq!(
            to_json(&AttributeValue::N("1e400".into())),
            json!("1e400"),
            "a number JSON cannot hold keeps its text"
        );
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

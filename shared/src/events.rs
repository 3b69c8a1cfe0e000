//! The normalised events upstream systems receive (`docs/events.md`).
//!
//! Delivery is at least once, so every event carries an `id` derived only
//! from what it describes (never from when or how often it was processed):
//! a replayed webhook yields the same ids and consumers drop duplicates.

#[cfg(feature = "aws")]
pub mod publish;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::media::MediaInfo;
use crate::record::{ConversationRecord, ErrorRecord, PricingRecord, Status};

/// `type` of a [`StatusChanged`] event.
pub const STATUS_CHANGED: &str = "message.status_changed";
/// `type` of an [`Inbound`] event.
pub const INBOUND: &str = "message.inbound";
/// `type` of a [`MediaChanged`] event.
pub const MEDIA: &str = "message.media";
/// `type` of an [`OptChange`] event for an opt-out.
pub const OPTED_OUT: &str = "contact.opted_out";
/// `type` of an [`OptChange`] event for an opt-in.
pub const OPTED_IN: &str = "contact.opted_in";
/// `type` of a [`HealthChanged`] event about a business number.
pub const NUMBER_HEALTH_CHANGED: &str = "number.health_changed";
/// `type` of a [`HealthChanged`] event about a WhatsApp Business Account.
pub const ACCOUNT_HEALTH_CHANGED: &str = "account.health_changed";
/// `type` of a [`TemplateChanged`] event about a template's status.
pub const TEMPLATE_STATUS_CHANGED: &str = "template.status_changed";
/// `type` of a [`TemplateChanged`] event about a template's quality score.
pub const TEMPLATE_QUALITY_CHANGED: &str = "template.quality_changed";
/// `type` of a [`TemplateChanged`] event about a template's category.
pub const TEMPLATE_CATEGORY_CHANGED: &str = "template.category_changed";

/// One event: `{"id", "type", "occurred_at", "data"}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// `evt_` and 32 hex digits; stable under replay.
    pub id: String,
    /// The tenant (business) it concerns (`shared::tenant`): `default` in a
    /// deployment with one business.
    #[serde(default = "default_tenant")]
    pub tenant: String,
    /// When it happened by Meta's clock (the status or message timestamp),
    /// Unix milliseconds.
    pub occurred_at: u64,
    /// The event's `type` and `data`, flattened into it.
    #[serde(flatten)]
    pub payload: Payload,
}

/// The event's `type` and its `data`.
// Events are built once and serialised; boxing the big variant buys nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data")]
pub enum Payload {
    /// `message.status_changed`.
    #[serde(rename = "message.status_changed")]
    StatusChanged(StatusChanged),
    /// `message.inbound`.
    #[serde(rename = "message.inbound")]
    Inbound(Inbound),
    /// `message.media`: an inbound file was kept in the bucket, or not.
    #[serde(rename = "message.media")]
    Media(MediaChanged),
    /// `contact.opted_out`.
    #[serde(rename = "contact.opted_out")]
    OptedOut(OptChange),
    /// `contact.opted_in`.
    #[serde(rename = "contact.opted_in")]
    OptedIn(OptChange),
    /// `number.health_changed`: a business number's quality or display name
    /// changed.
    #[serde(rename = "number.health_changed")]
    NumberHealthChanged(HealthChanged),
    /// `account.health_changed`: the account's standing or capabilities
    /// changed.
    #[serde(rename = "account.health_changed")]
    AccountHealthChanged(HealthChanged),
    /// `template.status_changed`: a template was approved, paused,
    /// disabled, ... (`docs/templates.md`).
    #[serde(rename = "template.status_changed")]
    TemplateStatusChanged(TemplateChanged),
    /// `template.quality_changed`: a template's quality score changed.
    #[serde(rename = "template.quality_changed")]
    TemplateQualityChanged(TemplateChanged),
    /// `template.category_changed`: Meta moved a template to another
    /// category.
    #[serde(rename = "template.category_changed")]
    TemplateCategoryChanged(TemplateChanged),
}

impl Event {
    /// The event, of `tenant` (events are built as the default tenant's).
    pub fn of_tenant(self, tenant: &str) -> Self {
        Self {
            tenant: tenant.to_owned(),
            ..self
        }
    }

    /// The event's `type` ([`STATUS_CHANGED`], [`INBOUND`], ...).
    pub fn kind(&self) -> &'static str {
        match self.payload {
            Payload::StatusChanged(_) => STATUS_CHANGED,
            Payload::Inbound(_) => INBOUND,
            Payload::Media(_) => MEDIA,
            Payload::OptedOut(_) => OPTED_OUT,
            Payload::OptedIn(_) => OPTED_IN,
            Payload::NumberHealthChanged(_) => NUMBER_HEALTH_CHANGED,
            Payload::AccountHealthChanged(_) => ACCOUNT_HEALTH_CHANGED,
            Payload::TemplateStatusChanged(_) => TEMPLATE_STATUS_CHANGED,
            Payload::TemplateQualityChanged(_) => TEMPLATE_QUALITY_CHANGED,
            Payload::TemplateCategoryChanged(_) => TEMPLATE_CATEGORY_CHANGED,
        }
    }

    /// An account or number update Meta sent (`field`), at Meta's time `at`.
    pub fn health(at: u64, data: HealthChanged) -> Self {
        let (kind, wrap): (&str, fn(HealthChanged) -> Payload) =
            if data.display_phone_number.is_some() {
                (NUMBER_HEALTH_CHANGED, Payload::NumberHealthChanged)
            } else {
                (ACCOUNT_HEALTH_CHANGED, Payload::AccountHealthChanged)
            };
        Self {
            tenant: default_tenant(),
            id: event_id(
                kind,
                &[
                    &data.waba_id,
                    data.display_phone_number.as_deref().unwrap_or_default(),
                    &data.field,
                    &at.to_string(),
                ],
            ),
            occurred_at: at,
            payload: wrap(data),
        }
    }

    /// A template's status, quality or category changed (`data.change`), at
    /// Meta's time `at`; one id per template, change, value and time.
    pub fn template(at: u64, data: TemplateChanged) -> Self {
        let (kind, wrap): (&str, fn(TemplateChanged) -> Payload) = match data.change.as_str() {
            "quality" => (TEMPLATE_QUALITY_CHANGED, Payload::TemplateQualityChanged),
            "category" => (TEMPLATE_CATEGORY_CHANGED, Payload::TemplateCategoryChanged),
            _ => (TEMPLATE_STATUS_CHANGED, Payload::TemplateStatusChanged),
        };
        Self {
            tenant: default_tenant(),
            id: event_id(
                kind,
                &[
                    &data.waba_id,
                    &data.name,
                    &data.language,
                    &data.current,
                    &at.to_string(),
                ],
            ),
            occurred_at: at,
            payload: wrap(data),
        }
    }

    /// A status report. `subject` is the message's `wamid` when Meta gave
    /// one (it does not depend on how the status was correlated), else the
    /// item key; `reported` is Meta's status value and `at` its timestamp.
    pub fn status_changed(subject: &str, at: u64, data: StatusChanged) -> Self {
        Self {
            tenant: default_tenant(),
            id: event_id(STATUS_CHANGED, &[subject, &data.status, &at.to_string()]),
            occurred_at: at,
            payload: Payload::StatusChanged(data),
        }
    }

    /// A message the sender ended itself (`failed` or `suppressed`, before
    /// or instead of any status from Meta), decided at `at`: one id per
    /// tenant, message id and end, so a retried announcement keeps it.
    pub fn ended_by_sender(tenant: &str, at: u64, data: StatusChanged) -> Self {
        let message_id = data.message_id.clone().unwrap_or_default();
        Self {
            tenant: tenant.to_owned(),
            id: event_id(
                STATUS_CHANGED,
                &[tenant, &message_id, &data.status, "sender"],
            ),
            occurred_at: at,
            payload: Payload::StatusChanged(data),
        }
    }

    /// An inbound message, at Meta's time `at`; one id per business number and
    /// `wamid`.
    pub fn inbound(at: u64, data: Inbound) -> Self {
        Self {
            tenant: default_tenant(),
            id: event_id(INBOUND, &[&data.phone_number_id, &data.wamid]),
            occurred_at: at,
            payload: Payload::Inbound(data),
        }
    }

    /// An inbound file's outcome (stored or failed), at `at` (when it was
    /// decided); one id per message and outcome.
    pub fn media(at: u64, data: MediaChanged) -> Self {
        Self {
            tenant: default_tenant(),
            id: event_id(
                MEDIA,
                &[&data.phone_number_id, &data.wamid, &data.media.state],
            ),
            occurred_at: at,
            payload: Payload::Media(data),
        }
    }

    /// An opt-out or opt-in decision. `decision` identifies the signal
    /// (its time and triggering message), the same on every replay.
    pub fn opt(at: u64, decision: &str, data: OptChange) -> Self {
        let (kind, wrap): (&str, fn(OptChange) -> Payload) = if data.opted_out {
            (OPTED_OUT, Payload::OptedOut)
        } else {
            (OPTED_IN, Payload::OptedIn)
        };
        Self {
            tenant: default_tenant(),
            id: event_id(kind, &[&data.phone_number_id, data.customer(), decision]),
            occurred_at: at,
            payload: wrap(data),
        }
    }

    /// The FIFO group of the event: what its order matters within. A
    /// status, its message (our id, else the `wamid`); an inbound message or
    /// an opt signal, the business number and the customer; a health
    /// change, the account and the display number.
    pub fn group(&self) -> String {
        match &self.payload {
            Payload::StatusChanged(d) => d
                .message_id
                .clone()
                .or_else(|| d.wamid.clone())
                .unwrap_or_default(),
            Payload::Inbound(d) => format!(
                "{}#{}",
                d.phone_number_id,
                d.from_user_id.as_deref().unwrap_or(&d.from)
            ),
            Payload::Media(d) => format!(
                "{}#{}",
                d.phone_number_id,
                d.from_user_id.as_deref().unwrap_or(&d.from)
            ),
            Payload::OptedOut(d) | Payload::OptedIn(d) => {
                format!("{}#{}", d.phone_number_id, d.customer())
            }
            Payload::TemplateStatusChanged(d)
            | Payload::TemplateQualityChanged(d)
            | Payload::TemplateCategoryChanged(d) => {
                format!("{}#{}#{}", d.waba_id, d.name, d.language)
            }
            Payload::NumberHealthChanged(d) | Payload::AccountHealthChanged(d) => format!(
                "{}#{}",
                d.waba_id,
                d.display_phone_number.as_deref().unwrap_or_default()
            ),
        }
    }
}

fn default_tenant() -> String {
    crate::tenant::DEFAULT_TENANT.to_owned()
}

/// `evt_` + the first 128 bits of SHA-256 over the event type and parts.
pub fn event_id(kind: &str, parts: &[&str]) -> String {
    let mut hash = Sha256::new();
    hash.update(kind.as_bytes());
    for part in parts {
        // A separator no id contains, so ("a", "bc") and ("ab", "c") differ.
        hash.update([0x1f]);
        hash.update(part.as_bytes());
    }
    format!("evt_{}", hex::encode(&hash.finalize()[..16]))
}

/// `message.status_changed`: Meta reported a status for a message.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StatusChanged {
    /// Chasqui's message id; absent for a message Chasqui did not send.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
    /// Meta's id of the message, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wamid: Option<String>,
    /// The business phone number id that sent the message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone_number_id: Option<String>,
    /// The recipient's phone (Meta's `recipient_id`), when Meta shares it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recipient: Option<String>,
    /// The recipient as Meta reports it beyond the phone: BSUID, parent
    /// BSUID, `group` and its participant, username.
    #[serde(flatten)]
    pub recipient_ids: RecipientIds,
    /// What Meta reported: `sent`, `delivered`, `read`, `played`, `failed`,
    /// or a value Chasqui does not know yet.
    pub status: String,
    /// The message's derived status before and after this report. Equal
    /// when the report did not move it (a late `delivered` after `read`,
    /// anything after `failed`).
    pub old_status: Status,
    /// The message's derived status after this report.
    pub new_status: Status,
    /// The first of `errors`, for consumers that want one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorRecord>,
    /// Every entry of Meta's `errors[]` on a `failed` status.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<ErrorRecord>,
    /// Meta's conversation, as this status carried it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversation: Option<ConversationRecord>,
    /// Meta's pricing, as this status carried it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pricing: Option<PricingRecord>,
    /// The send request's `metadata`, when the sender had stored it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Map<String, Value>>,
}

/// Who a status is about, beyond the phone (`recipient`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecipientIds {
    /// The recipient's BSUID (Meta's `recipient_user_id`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recipient_user_id: Option<String>,
    /// The recipient's parent BSUID, for linked portfolios.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recipient_parent_user_id: Option<String>,
    /// `individual` or `group`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recipient_type: Option<String>,
    /// The group participant a group message's status is about.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recipient_participant_id: Option<String>,
    /// The recipient's WhatsApp username, from the change's `contacts`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
}

/// `message.inbound`: a person wrote to a business number.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Inbound {
    /// The business phone number id the person wrote to.
    pub phone_number_id: String,
    /// Meta's id of the inbound message.
    pub wamid: String,
    /// The sender's phone; absent for a customer known only by username.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub from: String,
    /// The sender's BSUID.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_user_id: Option<String>,
    /// The sender's WhatsApp username, for customers who adopted one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// The sender's WhatsApp profile name, from the change's `contacts`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile_name: Option<String>,
    /// Meta's message type (`text`, `image`, `interactive`, ... or a new one).
    #[serde(rename = "type")]
    pub kind: String,
    /// What the person typed or tapped, when there is text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// The `wamid` this message replies to or reacts to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_to: Option<String>,
    /// Meta's full message object; `null` (with `message_truncated`) when
    /// it would not fit in one queue message.
    pub message: Value,
    /// `true` when `message` was left out to fit the queue.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub message_truncated: bool,
    /// For a message with a file (image, audio, video, document,
    /// sticker): where it will be kept, `state: "pending"`; a
    /// `message.media` event follows when it is stored or fails.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media: Option<MediaInfo>,
}

/// `message.media`: an inbound message's file was stored in the media
/// bucket (`state: "stored"`, with `bucket`, `key`, `size`,
/// `content_type`, `sha256`) or could not be (`state: "failed"`, with
/// `reason`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MediaChanged {
    /// The business phone number id the person wrote to.
    pub phone_number_id: String,
    /// Meta's id of the inbound message (the id of `message.inbound`).
    pub wamid: String,
    /// The sender's phone; absent for a customer known only by username.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub from: String,
    /// The sender's BSUID.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_user_id: Option<String>,
    /// Meta's message type (`image`, `audio`, `video`, `document`, `sticker`).
    #[serde(rename = "type")]
    pub kind: String,
    /// The file.
    pub media: MediaInfo,
}

/// Where an opt-out or opt-in came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OptSource {
    /// The person sent an opt-out or opt-in keyword.
    Keyword,
    /// Meta's `user_preferences` webhook (marketing messages stopped or
    /// resumed in WhatsApp itself).
    MetaMarketingPreference,
    /// A send failed with 131050 (the person stopped marketing messages).
    #[serde(rename = "error_131050")]
    Error131050,
    /// Someone ran `chasqui contacts optout|optin`.
    Manual,
}

impl OptSource {
    /// The source's name, as stored in `opt_source` and sent in events.
    pub fn as_str(self) -> &'static str {
        match self {
            OptSource::Keyword => "keyword",
            OptSource::MetaMarketingPreference => "meta_marketing_preference",
            OptSource::Error131050 => "error_131050",
            OptSource::Manual => "manual",
        }
    }
}

/// `contact.opted_out` / `contact.opted_in`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OptChange {
    /// The business phone number id whose customer it is.
    pub phone_number_id: String,
    /// The customer's phone; absent for a customer known only by BSUID.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub wa_id: String,
    /// The customer's BSUID, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    /// `true` for an opt-out, `false` for an opt-in.
    pub opted_out: bool,
    /// Where the decision came from.
    pub source: OptSource,
    /// The triggering message: an inbound `wamid` for a keyword, Chasqui's
    /// message id (or `wamid`) for 131050; absent for Meta's preference.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
    /// The keyword as matched (folded), for `keyword`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keyword: Option<String>,
}

impl OptChange {
    /// The id the decision is recorded under: the BSUID when known, else the
    /// phone (so a phone-only customer's event ids are what they were).
    pub fn customer(&self) -> &str {
        self.user_id.as_deref().unwrap_or(&self.wa_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn opt(out: bool) -> OptChange {
        OptChange {
            phone_number_id: "11".into(),
            wa_id: "55".into(),
            user_id: None,
            opted_out: out,
            source: OptSource::Keyword,
            message_id: Some("wamid.A".into()),
            keyword: Some("stop".into()),
        }
    }

    #[test]
    fn ids_depend_only_on_what_happened() {
        let a = Event::opt(5, "0000000000005#wamid.A", opt(true));
        let b = Event::opt(5, "0000000000005#wamid.A", opt(true));
        assert_eq!(a.id, b.id);
        assert!(a.id.starts_with("evt_") && a.id.len() == 36);
        assert_ne!(a.id, Event::opt(5, "0000000000005#wamid.A", opt(false)).id);
        assert_ne!(a.id, Event::opt(5, "0000000000006#wamid.A", opt(true)).id);
        assert_ne!(event_id("t", &["a", "bc"]), event_id("t", &["ab", "c"]));
        let s = |status: &str, at| {
            Event::status_changed(
                "wamid.X",
                at,
                StatusChanged {
                    status: status.into(),
                    old_status: Status::Sent,
                    new_status: Status::Delivered,
                    ..StatusChanged::default()
                },
            )
        };
        assert_eq!(s("delivered", 1).id, s("delivered", 1).id);
        assert_ne!(s("delivered", 1).id, s("read", 1).id);
        assert_ne!(s("delivered", 1).id, s("delivered", 2).id);
    }

    /// Ids must also stay the same across deploys (a replay may meet new
    /// code): this pins the derivation, and `docs/events.md` quotes it.
    #[test]
    fn ids_are_pinned() {
        let e = Event::status_changed(
            "wamid.HBgNOUT1",
            1_730_000_001_000,
            StatusChanged {
                status: "delivered".into(),
                ..StatusChanged::default()
            },
        );
        assert_eq!(e.id, "evt_42f0913ae0a404310708ba45dcf5a270");
        assert_eq!(
            event_id(INBOUND, &["1122334455", "wamid.HBgNTEXT1"]),
            "evt_4e8a848de0facf63d3fc700f0c8dfb7b"
        );
    }

    #[test]
    fn a_bsuid_names_the_opt_decision_and_a_phone_only_one_is_unchanged() {
        let phone_only = Event::opt(1, "d", opt(true));
        assert_eq!(
            phone_only.id,
            event_id(OPTED_OUT, &["11", "55", "d"]),
            "a phone-only customer's ids are what they were"
        );
        let mut both = opt(true);
        both.user_id = Some("BR.1".into());
        let e = Event::opt(1, "d", both.clone());
        assert_eq!(e.id, event_id(OPTED_OUT, &["11", "BR.1", "d"]));
        assert_eq!(e.group(), "11#BR.1");
        both.wa_id = String::new();
        let v = serde_json::to_value(Event::opt(1, "d", both)).unwrap();
        assert!(v["data"].get("wa_id").is_none(), "{v}");
        assert_eq!(v["data"]["user_id"], "BR.1");
    }

    #[test]
    fn wire_shape_round_trips() {
        let e = Event::opt(1_730_000_100_000, "k", opt(true));
        let v = serde_json::to_value(&e).unwrap();
        assert_eq!(v["type"], "contact.opted_out");
        assert_eq!(v["occurred_at"], 1_730_000_100_000u64);
        assert_eq!(v["data"]["source"], "keyword");
        assert_eq!(v["data"]["wa_id"], "55");
        assert_eq!(serde_json::from_value::<Event>(v).unwrap(), e);
        assert_eq!(e.kind(), OPTED_OUT);

        let i = Event::inbound(
            1,
            Inbound {
                phone_number_id: "11".into(),
                wamid: "wamid.I".into(),
                from: "55".into(),
                kind: "text".into(),
                text: Some("oi".into()),
                message: json!({"id": "wamid.I"}),
                ..Inbound::default()
            },
        );
        let v = serde_json::to_value(&i).unwrap();
        assert_eq!(v["type"], "message.inbound");
        assert_eq!(v["data"]["type"], "text");
        assert!(v["data"].get("message_truncated").is_none());
        assert_eq!(serde_json::from_value::<Event>(v).unwrap(), i);
        assert_eq!(
            serde_json::to_value(OptSource::Error131050).unwrap(),
            "error_131050"
        );
    }
}

/// A template's status, quality score or category changed: one of
/// `template.status_changed`, `template.quality_changed`,
/// `template.category_changed`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TemplateChanged {
    /// The WhatsApp Business Account the template belongs to.
    pub waba_id: String,
    /// The template's name.
    pub name: String,
    /// Its language code.
    pub language: String,
    /// Meta's template id, when the webhook gave it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template_id: Option<String>,
    /// What changed: `status`, `quality` or `category`.
    pub change: String,
    /// The value before, as the catalogue held it (else as Meta said);
    /// absent when neither knew.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous: Option<String>,
    /// The value now (`PAUSED`, `RED`, `MARKETING`, ...).
    pub current: String,
    /// Meta's reason, when it gave one (status changes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// `whatsapp_template_status_changed` when the change needs a person
    /// (anything but approval), as the log line's alert.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alert: Option<String>,
}

/// `number.health_changed` / `account.health_changed`: Meta updated a
/// business number (quality, messaging limit, display name) or the account
/// (restrictions, violations, capabilities).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct HealthChanged {
    /// The WhatsApp Business Account (the webhook entry's id).
    pub waba_id: String,
    /// The business number's display number, for a number's update.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_phone_number: Option<String>,
    /// Meta's webhook field (`phone_number_quality_update`, ...).
    pub field: String,
    /// What the update set, by attribute (`docs/data-model.md`).
    pub current: BTreeMap<String, String>,
    /// The same attributes before it, where they were set.
    pub previous: BTreeMap<String, String>,
    /// `whatsapp_number_quality_dropped` or `whatsapp_account_restricted`
    /// when the update needs a person.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alert: Option<String>,
}

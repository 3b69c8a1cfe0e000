//! Meta's webhook payloads, typed. Meta adds fields and message types without
//! notice, so the model is lenient everywhere: unknown fields are kept in
//! `extra`, unknown types keep their name, a field of an unexpected shape is
//! left in `extra` rather than failing its neighbours, and timestamps accept
//! strings (Meta's choice) as well as numbers. Parsing never panics.

use serde::de::{DeserializeOwned, Deserializer};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::customer::CustomerIds;

/// The whole POST body.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct WebhookPayload {
    /// Meta's `object`: `whatsapp_business_account` for WhatsApp webhooks.
    #[serde(default, deserialize_with = "lenient")]
    pub object: String,
    /// Meta's `entry[]`: one per WhatsApp Business Account, each with its
    /// changes.
    #[serde(default, deserialize_with = "items")]
    pub entry: Vec<Entry>,
    /// Fields Meta sent that this model does not name, kept verbatim.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl WebhookPayload {
    /// Parses a raw POST body (after its signature was verified); fails only on
    /// invalid JSON or a body that is not an object.
    pub fn parse(bytes: &[u8]) -> Result<Self, serde_json::Error> {
        serde_json::from_slice(bytes)
    }
}

/// One `entry[]` of a webhook: the changes of one WhatsApp Business Account.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    /// The WhatsApp Business Account id.
    #[serde(default, deserialize_with = "lenient_string")]
    pub id: String,
    /// Meta's `time` of the entry, Unix seconds; `None` when absent or
    /// unparseable.
    #[serde(
        default,
        deserialize_with = "lenient_timestamp",
        serialize_with = "timestamp_text",
        skip_serializing_if = "Option::is_none"
    )]
    pub time: Option<i64>,
    /// Meta's `changes[]`, every one of which is processed.
    #[serde(default, deserialize_with = "items")]
    pub changes: Vec<Change>,
    /// Fields Meta sent that this model does not name, kept verbatim.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// One change: `field` says what `value` holds.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Change {
    /// Meta's `field`: `messages`, `account_update`,
    /// `message_template_status_update`, ...
    #[serde(default, deserialize_with = "lenient_string")]
    pub field: String,
    /// Meta's `value`, kept as JSON; [`Change::messages`] types it for
    /// `messages`.
    #[serde(default)]
    pub value: Value,
    /// Fields Meta sent that this model does not name, kept verbatim.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Change {
    /// The typed value of a `messages` change (statuses, inbound messages,
    /// contacts, errors); `None` for other fields.
    pub fn messages(&self) -> Option<MessagesValue> {
        (self.field == "messages").then(|| MessagesValue::from_value(&self.value))
    }
}

/// The value of a `messages` change.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MessagesValue {
    /// Meta's `messaging_product`: `whatsapp`.
    #[serde(default, deserialize_with = "lenient")]
    pub messaging_product: String,
    /// Which business number the change is about.
    #[serde(default, deserialize_with = "lenient")]
    pub metadata: Metadata,
    /// Meta's `contacts[]`: the customers the change names, with their ids and
    /// profile.
    #[serde(
        default,
        deserialize_with = "items",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub contacts: Vec<Contact>,
    /// Meta's `messages[]`: what customers sent to the business number.
    #[serde(
        default,
        deserialize_with = "items",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub messages: Vec<InboundMessage>,
    /// Meta's `statuses[]`: delivery statuses of messages the number sent.
    #[serde(
        default,
        deserialize_with = "items",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub statuses: Vec<StatusUpdate>,
    /// Meta's change-level `errors[]` (app or system errors, not about one
    /// message).
    #[serde(
        default,
        deserialize_with = "items",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub errors: Vec<ErrorDetail>,
    /// Fields Meta sent that this model does not name, kept verbatim.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl MessagesValue {
    /// Never fails: a value that is not an object yields an empty model with
    /// the original kept in `extra["unrecognized"]`.
    pub fn from_value(value: &Value) -> Self {
        serde_json::from_value(value.clone()).unwrap_or_else(|_| Self {
            extra: unrecognized(value.clone()),
            ..Self::default()
        })
    }

    /// The profile name of `wa_id`, from the change's `contacts`.
    pub fn profile_name(&self, wa_id: &str) -> Option<&str> {
        self.contact_of(&CustomerIds::new(Some(wa_id), None))
            .and_then(|c| c.profile.name.as_deref())
    }

    /// The `contacts[]` entry of a customer, matched by either id.
    pub fn contact_of(&self, ids: &CustomerIds) -> Option<&Contact> {
        self.contacts.iter().find(|c| {
            (ids.wa_id.is_some() && ids.wa_id.as_deref() == Some(c.wa_id.as_str()))
                || (ids.user_id.is_some() && ids.user_id == c.user_id)
        })
    }
}

/// Meta's `metadata` of a `messages` change: the business number it concerns.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Metadata {
    /// The business number as customers see it (digits, e.g. `15550001111`).
    #[serde(default, deserialize_with = "lenient_string")]
    pub display_phone_number: String,
    /// The business number's Cloud API id: the scope of contacts and the key to
    /// its tenant binding.
    #[serde(default, deserialize_with = "lenient_string")]
    pub phone_number_id: String,
    /// Fields Meta sent that this model does not name, kept verbatim.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// One of Meta's `contacts[]`: a customer a `messages` change names.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Contact {
    /// Meta's `profile`: the customer's display name and username.
    #[serde(default, deserialize_with = "lenient")]
    pub profile: Profile,
    /// The phone number; absent for a customer known only by username.
    #[serde(
        default,
        deserialize_with = "lenient_string",
        skip_serializing_if = "String::is_empty"
    )]
    pub wa_id: String,
    /// The business-scoped user id (BSUID), e.g. `BR.1502576394655843`.
    #[serde(
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub user_id: Option<String>,
    /// The parent BSUID of linked portfolios (`US.ENT.…`).
    #[serde(
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub parent_user_id: Option<String>,
    /// Fields Meta sent that this model does not name, kept verbatim.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Meta's `contacts[].profile`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Profile {
    /// The customer's WhatsApp profile name, when shared.
    #[serde(
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub name: Option<String>,
    /// The WhatsApp username, for customers who adopted one.
    #[serde(
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub username: Option<String>,
    /// Fields Meta sent that this model does not name, kept verbatim.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A delivery status for a message we (or another client of the number) sent.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StatusUpdate {
    /// The `wamid` of the message.
    #[serde(default, deserialize_with = "lenient_string")]
    pub id: String,
    /// Meta's `status` value (`sent`, `delivered`, `read`, `played`, `failed`
    /// or a new one); see [`StatusUpdate::kind`].
    #[serde(default, deserialize_with = "lenient_string")]
    pub status: String,
    /// Meta's `timestamp` of the status, Unix seconds; `None` when absent or
    /// unparseable.
    #[serde(
        default,
        deserialize_with = "lenient_timestamp",
        serialize_with = "timestamp_text",
        skip_serializing_if = "Option::is_none"
    )]
    pub timestamp: Option<i64>,
    /// The recipient's phone number, only when Meta may share it.
    #[serde(
        default,
        deserialize_with = "lenient_string",
        skip_serializing_if = "String::is_empty"
    )]
    pub recipient_id: String,
    /// The recipient's BSUID.
    #[serde(
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub recipient_user_id: Option<String>,
    /// The recipient's parent BSUID, for linked portfolios.
    #[serde(
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub recipient_parent_user_id: Option<String>,
    /// `individual` or `group`.
    #[serde(
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub recipient_type: Option<String>,
    /// For a group message: the participant the status is about.
    #[serde(
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub recipient_participant_id: Option<String>,
    /// Echo of what the sender set: Chasqui's own message id.
    #[serde(
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub biz_opaque_callback_data: Option<String>,
    /// Meta's `conversation`: the conversation the message was charged to (its
    /// expiry on `sent` only).
    #[serde(
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub conversation: Option<Conversation>,
    /// Meta's `pricing`: whether and how the message is charged.
    #[serde(
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub pricing: Option<Pricing>,
    /// Meta's `errors[]`: why a `failed` message failed (it arrives once: every
    /// entry is stored).
    #[serde(
        default,
        deserialize_with = "items",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub errors: Vec<ErrorDetail>,
    /// Fields Meta sent that this model does not name, kept verbatim.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl StatusUpdate {
    /// Meta's `status`, typed.
    pub fn kind(&self) -> StatusKind {
        StatusKind::parse(&self.status)
    }
}

/// Meta's status values; unknown ones are kept, not rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StatusKind {
    /// Meta's `sent`: the message left Meta for the customer's phone.
    Sent,
    /// Meta's `delivered`: the message reached the customer's phone.
    Delivered,
    /// Meta's `read`: the customer opened it (implies delivered).
    Read,
    /// Voice messages: counts as read.
    Played,
    /// Meta's `failed`: the message will not be delivered; the status carries
    /// `errors`.
    Failed,
    /// A value Chasqui does not know, kept as Meta wrote it.
    Other(String),
}

impl StatusKind {
    /// Maps Meta's `status` text; never fails (unknown values become
    /// [`StatusKind::Other`]).
    pub fn parse(raw: &str) -> Self {
        match raw {
            "sent" => Self::Sent,
            "delivered" => Self::Delivered,
            "read" => Self::Read,
            "played" => Self::Played,
            "failed" => Self::Failed,
            other => Self::Other(other.to_owned()),
        }
    }
}

/// Meta's `statuses[].conversation`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Conversation {
    /// Meta's conversation id.
    #[serde(default, deserialize_with = "lenient_string")]
    pub id: String,
    /// Meta's `expiration_timestamp`, when the conversation ends, Unix seconds
    /// (Meta sends it on `sent` only).
    #[serde(
        default,
        deserialize_with = "lenient_timestamp",
        serialize_with = "timestamp_text",
        skip_serializing_if = "Option::is_none"
    )]
    pub expiration_timestamp: Option<i64>,
    /// Meta's `origin`: what opened the conversation.
    #[serde(
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub origin: Option<Origin>,
    /// Fields Meta sent that this model does not name, kept verbatim.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Meta's `conversation.origin`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Origin {
    /// Meta's `origin.type`: the conversation's category (`utility`,
    /// `marketing`, `service`, ...).
    #[serde(rename = "type", default, deserialize_with = "lenient_string")]
    pub kind: String,
    /// Fields Meta sent that this model does not name, kept verbatim.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Meta's `statuses[].pricing`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Pricing {
    /// Meta's `billable`: whether the message is charged.
    #[serde(
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub billable: Option<bool>,
    /// Meta's `pricing_model` (`PMP`, ...).
    #[serde(
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub pricing_model: Option<String>,
    /// Meta's `category` (`utility`, `marketing`, `authentication`, `service`,
    /// ...).
    #[serde(
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub category: Option<String>,
    /// Meta's `pricing.type` (e.g. `regular`, `free_customer_service`).
    #[serde(
        rename = "type",
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub kind: Option<String>,
    /// Fields Meta sent that this model does not name, kept verbatim.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// One of Meta's `errors[]` entries (on a failed status, an inbound
/// `unsupported` message, or a change-level system error).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ErrorDetail {
    /// Meta's numeric error `code` (`131026`, `131050`, ...): what Chasqui's
    /// logic reads.
    #[serde(
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub code: Option<i64>,
    /// Meta's short `title` of the error.
    #[serde(
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub title: Option<String>,
    /// Meta's `message`, a human-readable description.
    #[serde(
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub message: Option<String>,
    /// Meta's `error_data`, holding the `details`.
    #[serde(
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub error_data: Option<ErrorData>,
    /// Meta's `href`: a link to the error's documentation.
    #[serde(
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub href: Option<String>,
    /// Fields Meta sent that this model does not name, kept verbatim.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl ErrorDetail {
    /// Meta's `error_data.details`, when present.
    pub fn details(&self) -> Option<&str> {
        self.error_data.as_ref().and_then(|d| d.details.as_deref())
    }
}

/// Meta's `errors[].error_data`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ErrorData {
    /// Meta's `details`: the specific reason, more precise than the title.
    #[serde(
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub details: Option<String>,
    /// Fields Meta sent that this model does not name, kept verbatim.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A message a customer sent to the business number.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct InboundMessage {
    /// The sender's phone number; absent for a customer known only by
    /// username.
    #[serde(
        default,
        deserialize_with = "lenient_string",
        skip_serializing_if = "String::is_empty"
    )]
    pub from: String,
    /// The sender's BSUID.
    #[serde(
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub from_user_id: Option<String>,
    /// The sender's parent BSUID, for linked portfolios.
    #[serde(
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub from_parent_user_id: Option<String>,
    /// The inbound `wamid`.
    #[serde(default, deserialize_with = "lenient_string")]
    pub id: String,
    /// Meta's `timestamp` of the message, Unix seconds; `None` when absent or
    /// unparseable.
    #[serde(
        default,
        deserialize_with = "lenient_timestamp",
        serialize_with = "timestamp_text",
        skip_serializing_if = "Option::is_none"
    )]
    pub timestamp: Option<i64>,
    /// `text`, `image`, `button`, `interactive`, ... or anything Meta adds later.
    #[serde(rename = "type", default, deserialize_with = "lenient_string")]
    pub kind: String,
    /// Meta's `context`: the message this one replies to (or was forwarded
    /// from).
    #[serde(
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub context: Option<MessageContext>,
    /// The body of a `text` message.
    #[serde(
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub text: Option<Text>,
    /// The media of an `image` message.
    #[serde(
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub image: Option<Media>,
    /// The media of an `audio` (or voice) message.
    #[serde(
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub audio: Option<Media>,
    /// The media of a `video` message.
    #[serde(
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub video: Option<Media>,
    /// The media of a `document` message.
    #[serde(
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub document: Option<Media>,
    /// The media of a `sticker` message.
    #[serde(
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub sticker: Option<Media>,
    /// The place of a `location` message.
    #[serde(
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub location: Option<Location>,
    /// The tap of a `button` message (a template's quick reply).
    #[serde(
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub button: Option<ButtonReply>,
    /// The reply of an `interactive` message (button, list or flow).
    #[serde(
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub interactive: Option<InteractiveReply>,
    /// The reaction of a `reaction` message.
    #[serde(
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub reaction: Option<Reaction>,
    /// Meta's `errors[]`: why an `unsupported` message could not be shown.
    #[serde(
        default,
        deserialize_with = "items",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub errors: Vec<ErrorDetail>,
    /// The identity change of a `system` message.
    #[serde(
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub system: Option<System>,
    /// `contacts`, `order`, `referral` and anything unknown, verbatim.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl InboundMessage {
    /// Who sent it: `from` and `from_user_id`, each completed from the
    /// change's only contact when the message lacks it (older payloads named
    /// the sender in `contacts` only). A BSUID change names the new id.
    pub fn sender(&self, value: &MessagesValue) -> CustomerIds {
        let mut ids = CustomerIds::new(Some(&self.from), self.from_user_id.as_deref());
        if let Some((_, new)) = self.system.as_ref().and_then(|s| s.user_id_change(self)) {
            ids.user_id = Some(new);
        }
        let only = match value.contacts.as_slice() {
            [one] => Some(one),
            _ => value.contact_of(&ids),
        };
        if let Some(contact) = only {
            let theirs = CustomerIds::new(Some(&contact.wa_id), contact.user_id.as_deref());
            // Only complete from a contact that does not name someone else.
            let agrees = |mine: &Option<String>, other: &Option<String>| {
                mine.is_none() || other.is_none() || mine == other
            };
            if agrees(&ids.wa_id, &theirs.wa_id) && agrees(&ids.user_id, &theirs.user_id) {
                ids.wa_id = ids.wa_id.or(theirs.wa_id);
                ids.user_id = ids.user_id.or(theirs.user_id);
            }
        }
        ids
    }

    /// The text a person typed or tapped: a text body, a button's text, an
    /// interactive reply's title, or a media caption.
    pub fn text_content(&self) -> Option<&str> {
        if let Some(t) = &self.text {
            return t.body.as_deref();
        }
        if let Some(b) = &self.button {
            return b.text.as_deref();
        }
        if let Some(i) = &self.interactive {
            return i.reply().and_then(|r| r.title.as_deref());
        }
        [&self.image, &self.video, &self.document]
            .into_iter()
            .flatten()
            .find_map(|m| m.caption.as_deref())
    }

    /// The media object of a media message, whichever type it is.
    pub fn media(&self) -> Option<&Media> {
        [
            &self.image,
            &self.audio,
            &self.video,
            &self.document,
            &self.sticker,
        ]
        .into_iter()
        .flatten()
        .next()
    }
}

/// A `system` message: Meta telling the business that a customer's
/// identity changed (`user_changed_number`, `user_changed_user_id`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct System {
    /// Meta's `system.type` (`user_changed_number`, `user_changed_user_id`,
    /// ...).
    #[serde(
        rename = "type",
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub kind: Option<String>,
    /// Meta's human-readable text about the change.
    #[serde(
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub body: Option<String>,
    /// The customer's BSUID after the change.
    #[serde(
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub user_id: Option<String>,
    /// Accepted as a spelling of `user_id` (seen in integrators' code).
    #[serde(
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub new_user_id: Option<String>,
    /// The customer's parent BSUID after the change.
    #[serde(
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub parent_user_id: Option<String>,
    /// The customer's BSUID before the change.
    #[serde(
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub previous_user_id: Option<String>,
    /// The customer's parent BSUID before the change.
    #[serde(
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub previous_parent_user_id: Option<String>,
    /// The new phone number of `user_changed_number` (`new_wa_id` before
    /// Graph v12).
    #[serde(
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub wa_id: Option<String>,
    /// Fields Meta sent that this model does not name, kept verbatim.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl System {
    /// `(old, new)` BSUIDs of a customer whose BSUID changed. The new id is
    /// `system.user_id` (or `new_user_id`); the old one is
    /// `system.previous_user_id`, else the message's `from_user_id` when it
    /// differs from the new one. Both Meta's system types announce it (a
    /// phone change also regenerates the BSUID).
    pub fn user_id_change(&self, message: &InboundMessage) -> Option<(String, String)> {
        if !matches!(
            self.kind.as_deref(),
            Some("user_changed_user_id" | "user_changed_number")
        ) {
            return None;
        }
        let present = |v: &Option<String>| v.clone().filter(|v| !v.trim().is_empty());
        let new = present(&self.user_id).or_else(|| present(&self.new_user_id))?;
        let old = present(&self.previous_user_id)
            .or_else(|| present(&message.from_user_id))
            .filter(|old| *old != new)?;
        Some((old, new))
    }
}

/// Meta's `context` of an inbound message: what it replies to.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MessageContext {
    /// Meta's `context.from`: who sent the message replied to.
    #[serde(
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub from: Option<String>,
    /// The `wamid` this message replies to.
    #[serde(
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub id: Option<String>,
    /// Fields Meta sent that this model does not name, kept verbatim.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Meta's `text` object of a `text` message.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Text {
    /// What the customer typed.
    #[serde(
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub body: Option<String>,
    /// Fields Meta sent that this model does not name, kept verbatim.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Meta's media object of an inbound `image`, `audio`, `video`, `document` or
/// `sticker` (Meta keeps the file 30 days).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Media {
    /// Meta's media id, to fetch the file's short-lived URL.
    #[serde(
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub id: Option<String>,
    /// The file's MIME type.
    #[serde(
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub mime_type: Option<String>,
    /// The SHA-256 of the file, as Meta gives it.
    #[serde(
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub sha256: Option<String>,
    /// The caption the customer wrote (image, video, document).
    #[serde(
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub caption: Option<String>,
    /// The document's file name.
    #[serde(
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub filename: Option<String>,
    /// Fields Meta sent that this model does not name, kept verbatim.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Meta's `location` object of an inbound `location` message.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Location {
    /// Latitude in degrees.
    #[serde(
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub latitude: Option<f64>,
    /// Longitude in degrees.
    #[serde(
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub longitude: Option<f64>,
    /// The place's name, when the customer shared one.
    #[serde(
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub name: Option<String>,
    /// The place's address, when the customer shared one.
    #[serde(
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub address: Option<String>,
    /// Fields Meta sent that this model does not name, kept verbatim.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A tap on a template's quick-reply button.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ButtonReply {
    /// The button's label the customer tapped.
    #[serde(
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub text: Option<String>,
    /// The button's payload, as the template set it.
    #[serde(
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub payload: Option<String>,
    /// Fields Meta sent that this model does not name, kept verbatim.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A reply to an interactive message: `button_reply`, `list_reply` or
/// `nfm_reply` (a flow's answer).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct InteractiveReply {
    /// Meta's `interactive.type`: `button_reply`, `list_reply` or `nfm_reply`.
    #[serde(rename = "type", default, deserialize_with = "lenient_string")]
    pub kind: String,
    /// The reply button the customer tapped.
    #[serde(
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub button_reply: Option<ReplyChoice>,
    /// The list row the customer chose.
    #[serde(
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub list_reply: Option<ReplyChoice>,
    /// A flow's answer.
    #[serde(
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub nfm_reply: Option<FlowReply>,
    /// Fields Meta sent that this model does not name, kept verbatim.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl InteractiveReply {
    /// The button or list row chosen, whichever it was; `None` for a flow's
    /// answer.
    pub fn reply(&self) -> Option<&ReplyChoice> {
        self.button_reply.as_ref().or(self.list_reply.as_ref())
    }
}

/// A button or list row the customer chose (`button_reply` or `list_reply`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ReplyChoice {
    /// The id the business gave the button or row.
    #[serde(
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub id: Option<String>,
    /// The button's or row's title, as shown.
    #[serde(
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub title: Option<String>,
    /// The row's description (list replies).
    #[serde(
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub description: Option<String>,
    /// Fields Meta sent that this model does not name, kept verbatim.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Meta's `nfm_reply`: what the customer submitted in a flow.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FlowReply {
    /// Meta's flow `name`.
    #[serde(
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub name: Option<String>,
    /// Meta's `body` text of the flow's answer.
    #[serde(
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub body: Option<String>,
    /// Meta's `response_json`: the flow's answers, as JSON text.
    #[serde(
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub response_json: Option<String>,
    /// Fields Meta sent that this model does not name, kept verbatim.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Meta's `reaction` object: an emoji set on (or removed from) a message.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Reaction {
    /// The `wamid` reacted to.
    #[serde(
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub message_id: Option<String>,
    /// Absent when a reaction is removed.
    #[serde(
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub emoji: Option<String>,
    /// Fields Meta sent that this model does not name, kept verbatim.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

// ---- leniency ---------------------------------------------------------------

fn unrecognized(value: Value) -> Map<String, Value> {
    let mut extra = Map::new();
    extra.insert("unrecognized".to_owned(), value);
    extra
}

/// A field of an unexpected shape becomes its default instead of failing the
/// whole payload. (Its raw form still travels in the queued change.)
fn lenient<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: DeserializeOwned + Default,
{
    let value = Value::deserialize(d)?;
    Ok(serde_json::from_value(value).unwrap_or_default())
}

/// Ids and names: strings, with numbers accepted as their decimal text.
fn lenient_string<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::String(s) => s,
        Value::Number(n) => n.to_string(),
        _ => String::new(),
    })
}

/// Unix seconds, as Meta's strings or as numbers.
fn lenient_timestamp<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::String(s) => s.trim().parse().ok(),
        Value::Number(n) => n.as_i64(),
        _ => None,
    })
}

/// Timestamps go back out as Meta wrote them: decimal strings.
fn timestamp_text<S: serde::Serializer>(ts: &Option<i64>, s: S) -> Result<S::Ok, S::Error> {
    match ts {
        Some(ts) => s.serialize_str(&ts.to_string()),
        None => s.serialize_none(),
    }
}

/// An array of items, each parsed on its own: an element that is not an object
/// is kept as an item whose `extra["unrecognized"]` holds it, so counts and
/// order survive and nothing is silently dropped.
fn items<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: DeserializeOwned + Default + HasExtra,
{
    Ok(match Value::deserialize(d)? {
        Value::Array(values) => values
            .into_iter()
            .map(|v| {
                serde_json::from_value::<T>(v.clone()).unwrap_or_else(|_| {
                    let mut item = T::default();
                    *item.extra_mut() = unrecognized(v);
                    item
                })
            })
            .collect(),
        Value::Null => Vec::new(),
        other => {
            let mut item = T::default();
            *item.extra_mut() = unrecognized(other);
            vec![item]
        }
    })
}

/// Items that keep what they do not understand.
pub trait HasExtra {
    /// The item's `extra` map, where what was not understood goes.
    fn extra_mut(&mut self) -> &mut Map<String, Value>;
}

macro_rules! has_extra {
    ($($t:ty),*) => { $(impl HasExtra for $t { fn extra_mut(&mut self) -> &mut Map<String, Value> { &mut self.extra } })* };
}
has_extra!(
    Entry,
    Change,
    Contact,
    StatusUpdate,
    ErrorDetail,
    InboundMessage
);

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::path::PathBuf;

    fn fixtures() -> Vec<(String, String)> {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/webhooks");
        let mut out: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .map(|p| {
                let name = p.file_name().unwrap().to_string_lossy().into_owned();
                (name, std::fs::read_to_string(&p).unwrap())
            })
            .collect();
        out.sort();
        assert!(out.len() >= 25, "fixtures missing from {}", dir.display());
        out
    }

    fn fixture(name: &str) -> WebhookPayload {
        let (_, body) = fixtures().into_iter().find(|(n, _)| n == name).unwrap();
        WebhookPayload::parse(body.as_bytes()).unwrap()
    }

    fn only_messages(p: &WebhookPayload) -> MessagesValue {
        p.entry[0].changes[0].messages().unwrap()
    }

    #[test]
    fn every_fixture_parses_and_round_trips_without_losing_a_field() {
        for (name, body) in fixtures() {
            let parsed =
                WebhookPayload::parse(body.as_bytes()).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert!(!parsed.entry.is_empty(), "{name}");
            for change in parsed.entry.iter().flat_map(|e| &e.changes) {
                if let Some(messages) = change.messages() {
                    // the typed view of the value keeps every field too
                    assert_eq!(
                        serde_json::to_value(&messages).unwrap(),
                        change.value,
                        "{name}"
                    );
                }
            }
            let original: Value = serde_json::from_str(&body).unwrap();
            assert_eq!(serde_json::to_value(&parsed).unwrap(), original, "{name}");
        }
    }

    #[test]
    fn statuses_are_typed() {
        let failed = only_messages(&fixture("status-failed.json"));
        let s = &failed.statuses[0];
        assert_eq!(
            (s.id.as_str(), s.kind(), s.timestamp),
            ("wamid.HBgNOUT1", StatusKind::Failed, Some(1_730_000_001))
        );
        assert_eq!(
            s.biz_opaque_callback_data.as_deref(),
            Some("order-1234-shipped")
        );
        assert_eq!(s.errors[0].code, Some(131026));
        assert_eq!(
            s.errors[0].details(),
            Some("Message could not be delivered to the recipient.")
        );

        let sent = only_messages(&fixture("status-sent.json"));
        let s = &sent.statuses[0];
        assert_eq!(s.kind(), StatusKind::Sent);
        assert_eq!(s.pricing.as_ref().unwrap().billable, Some(true));
        assert_eq!(
            s.pricing.as_ref().unwrap().category.as_deref(),
            Some("utility")
        );
        assert_eq!(
            s.conversation
                .as_ref()
                .unwrap()
                .origin
                .as_ref()
                .unwrap()
                .kind,
            "utility"
        );
        assert_eq!(
            s.conversation.as_ref().unwrap().expiration_timestamp,
            Some(1_730_086_400)
        );

        assert_eq!(
            only_messages(&fixture("status-played.json")).statuses[0].kind(),
            StatusKind::Played
        );
        let odd = only_messages(&fixture("status-unknown-value.json"));
        assert_eq!(odd.statuses[0].kind(), StatusKind::Other("warning".into()));
        assert!(odd.statuses[0].extra.contains_key("new_field"));
    }

    #[test]
    fn inbound_messages_of_every_type_are_typed() {
        let cases: &[(&str, &str, Option<&str>)] = &[
            (
                "inbound-text.json",
                "text",
                Some("Olá! Quero remarcar 🙏 \\/ ok"),
            ),
            ("inbound-image.json", "image", Some("foto do pedido")),
            ("inbound-document.json", "document", Some("nota fiscal")),
            ("inbound-button.json", "button", Some("Confirmar")),
            (
                "inbound-interactive-button-reply.json",
                "interactive",
                Some("Quinta 10h"),
            ),
            (
                "inbound-interactive-list-reply.json",
                "interactive",
                Some("Troca de óleo"),
            ),
            ("inbound-interactive-nfm-reply.json", "interactive", None),
            ("inbound-audio.json", "audio", None),
            ("inbound-sticker.json", "sticker", None),
            ("inbound-location.json", "location", None),
            ("inbound-contacts.json", "contacts", None),
            ("inbound-reaction.json", "reaction", None),
            ("inbound-order.json", "order", None),
            ("inbound-system.json", "system", None),
            ("inbound-unsupported.json", "unsupported", None),
            ("inbound-unknown-type.json", "hologram", None),
        ];
        for (name, kind, text) in cases {
            let value = only_messages(&fixture(name));
            let m = &value.messages[0];
            assert_eq!(m.kind, *kind, "{name}");
            assert_eq!(m.text_content(), *text, "{name}");
            assert_eq!(m.from, "5511988887777", "{name}");
            assert_eq!(m.timestamp, Some(1_730_000_100), "{name}");
            assert_eq!(value.profile_name(&m.from), Some("Ana Souza"), "{name}");
        }
        let audio = only_messages(&fixture("inbound-audio.json"));
        assert_eq!(
            audio.messages[0].media().unwrap().id.as_deref(),
            Some("2234567890")
        );
        let loc = only_messages(&fixture("inbound-location.json"));
        assert_eq!(
            loc.messages[0].location.as_ref().unwrap().latitude,
            Some(-23.5505)
        );
        let reaction = only_messages(&fixture("inbound-reaction.json"));
        assert_eq!(
            reaction.messages[0]
                .reaction
                .as_ref()
                .unwrap()
                .emoji
                .as_deref(),
            Some("👍")
        );
        let reply = only_messages(&fixture("inbound-text-reply.json"));
        assert_eq!(
            reply.messages[0].context.as_ref().unwrap().id.as_deref(),
            Some("wamid.HBgNOUT1")
        );
        let flow = only_messages(&fixture("inbound-interactive-nfm-reply.json"));
        assert!(
            flow.messages[0]
                .interactive
                .as_ref()
                .unwrap()
                .nfm_reply
                .as_ref()
                .unwrap()
                .response_json
                .is_some()
        );
        let unsupported = only_messages(&fixture("inbound-unsupported.json"));
        assert_eq!(unsupported.messages[0].errors[0].code, Some(131051));
        let unknown = only_messages(&fixture("inbound-unknown-type.json"));
        assert!(
            unknown.messages[0].extra.contains_key("hologram")
                && unknown.messages[0].extra.contains_key("surprise")
        );
        let contacts = only_messages(&fixture("inbound-contacts.json"));
        assert!(contacts.messages[0].extra["contacts"].is_array());
    }

    #[test]
    fn a_username_customer_is_named_by_bsuid_alone() {
        let v = only_messages(&fixture("inbound-username-text.json"));
        let m = &v.messages[0];
        assert_eq!(m.from, "");
        let ids = m.sender(&v);
        assert_eq!(ids.wa_id, None);
        assert_eq!(ids.user_id.as_deref(), Some("BR.1502576394655843"));
        let contact = v.contact_of(&ids).unwrap();
        assert_eq!(contact.profile.username.as_deref(), Some("@bia.reis"));
        assert_eq!(m.text_content(), Some("STOP"));
    }

    #[test]
    fn a_customer_with_phone_and_bsuid_carries_both() {
        let v = only_messages(&fixture("inbound-phone-and-bsuid-text.json"));
        let ids = v.messages[0].sender(&v);
        assert_eq!(ids.wa_id.as_deref(), Some("5511988887777"));
        assert_eq!(ids.user_id.as_deref(), Some("BR.2202576394655843"));
        assert_eq!(
            v.contacts[0].parent_user_id.as_deref(),
            Some("US.ENT.11815799212886844830")
        );
        assert_eq!(
            v.messages[0].from_parent_user_id.as_deref(),
            Some("US.ENT.11815799212886844830")
        );
        // A contact entry naming another customer does not complete the ids.
        let mut other = v.clone();
        other.contacts.push(Contact {
            wa_id: "5511000000000".into(),
            user_id: Some("BR.7".into()),
            ..Contact::default()
        });
        other.messages[0].from_user_id = None;
        let ids = other.messages[0].sender(&other);
        assert_eq!(ids.user_id.as_deref(), Some("BR.2202576394655843"));
    }

    #[test]
    fn bsuid_and_group_status_fields_are_typed() {
        let v = only_messages(&fixture("status-delivered-bsuid.json"));
        let s = &v.statuses[0];
        assert_eq!(s.recipient_id, "");
        assert_eq!(s.recipient_user_id.as_deref(), Some("BR.1502576394655843"));
        assert_eq!(
            s.recipient_parent_user_id.as_deref(),
            Some("US.ENT.11815799212886844830")
        );
        assert!(!s.extra.contains_key("recipient_user_id"));
        let g = &only_messages(&fixture("status-group-read.json")).statuses[0];
        assert_eq!(g.recipient_type.as_deref(), Some("group"));
        assert_eq!(g.recipient_participant_id.as_deref(), Some("5511988887777"));
        assert_eq!(g.kind(), StatusKind::Read);
    }

    #[test]
    fn a_bsuid_change_names_the_old_and_the_new_id() {
        let v = only_messages(&fixture("inbound-system-user-id-changed.json"));
        let m = &v.messages[0];
        let system = m.system.as_ref().unwrap();
        assert_eq!(
            system.user_id_change(m),
            Some((
                "BR.1502576394655843".to_owned(),
                "BR.9902576394655843".to_owned()
            ))
        );
        // The message is filed under the new id.
        assert_eq!(m.sender(&v).user_id.as_deref(), Some("BR.9902576394655843"));
        // Without previous_user_id, from_user_id is the old id; new_user_id
        // is accepted for user_id.
        let lenient: InboundMessage = serde_json::from_value(serde_json::json!({
            "from_user_id": "BR.1", "type": "system",
            "system": {"type": "user_changed_user_id", "new_user_id": "BR.2"}
        }))
        .unwrap();
        assert_eq!(
            lenient.system.as_ref().unwrap().user_id_change(&lenient),
            Some(("BR.1".to_owned(), "BR.2".to_owned()))
        );
        // The old phone-change message announces no BSUID change.
        let old = only_messages(&fixture("inbound-system.json"));
        let m = &old.messages[0];
        assert_eq!(m.system.as_ref().unwrap().user_id_change(m), None);
    }

    #[test]
    fn other_fields_keep_their_value() {
        let t = fixture("template-status-update.json");
        assert_eq!(
            t.entry[0].changes[0].field,
            "message_template_status_update"
        );
        assert!(t.entry[0].changes[0].messages().is_none());
        assert_eq!(t.entry[0].changes[0].value["event"], "APPROVED");
        let errors = only_messages(&fixture("change-errors.json"));
        assert_eq!(errors.errors[0].code, Some(131000));
    }

    #[test]
    fn wrong_shapes_degrade_instead_of_failing() {
        let body = r#"{"object":7,"entry":[{"id":102,"changes":[{"field":"messages","value":{
            "metadata":"oops","contacts":{"wa_id":"1"},
            "messages":[5,{"id":"wamid.1","from":551199,"timestamp":1730000100,"type":"text","text":"plain"}],
            "statuses":[{"id":"wamid.2","status":"read","timestamp":"soon","errors":"none"}]}}]}, "junk"]}"#;
        let p = WebhookPayload::parse(body.as_bytes()).unwrap();
        assert_eq!(p.entry.len(), 2);
        assert_eq!(p.entry[0].id, "102");
        assert!(p.entry[1].extra.contains_key("unrecognized"));
        let v = only_messages(&p);
        assert_eq!(v.messages.len(), 2);
        assert_eq!(v.messages[0].extra["unrecognized"], 5);
        assert_eq!(
            (v.messages[1].from.as_str(), v.messages[1].timestamp),
            ("551199", Some(1_730_000_100))
        );
        assert_eq!(v.messages[1].text, None);
        assert_eq!(v.statuses[0].timestamp, None);
        assert_eq!(v.statuses[0].kind(), StatusKind::Read);
        assert_eq!(v.contacts.len(), 1);
        assert_eq!(
            MessagesValue::from_value(&Value::from("x")).extra["unrecognized"],
            "x"
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// Arbitrary bytes never panic the model.
        #[test]
        fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
            if let Ok(p) = WebhookPayload::parse(&bytes) {
                for c in p.entry.iter().flat_map(|e| &e.changes) {
                    let _ = c.messages();
                }
            }
        }

        /// Any JSON in any slot of a well-formed envelope parses, keeps the
        /// change value, and the typed view never panics.
        #[test]
        fn arbitrary_json_in_an_envelope_parses(object in crate::test_support::json_value(), id in crate::test_support::json_value(), field in crate::test_support::json_value(), value in crate::test_support::json_value()) {
            let body = serde_json::json!({"object": object, "entry": [{"id": id, "changes": [{"field": field, "value": value.clone()}]}]});
            let p = WebhookPayload::parse(body.to_string().as_bytes()).unwrap();
            prop_assert_eq!(&p.entry[0].changes[0].value, &value);
            let v = MessagesValue::from_value(&value);
            for m in &v.messages { let _ = (m.text_content(), m.media()); }
            for s in &v.statuses { let _ = s.kind(); }
        }
    }
}

//! The message object: something to send, or a read receipt.

use std::borrow::Cow;

use schemars::{JsonSchema, SchemaGenerator, json_schema};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

use super::content::Content;
use super::{RequestError, non_empty};

/// A message to send, or a read receipt for an inbound message.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Message {
    /// A message to send: its content and optional reply context.
    Send(Box<OutboundMessage>),
    /// A read receipt (and optional typing indicator) for an inbound message.
    MarkRead(MarkRead),
}

/// Meta's message object: `type`, the object named by it, optional `context`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OutboundMessage {
    /// The `type` and the object of that name.
    #[serde(flatten)]
    pub content: Content,
    /// Optional `context`: the message this one replies to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub context: Option<Context>,
}

/// Marks an inbound message as read (blue ticks), Meta's own body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MarkRead {
    /// Always `read`.
    pub status: ReadStatus,
    /// The `wamid` of the inbound message.
    #[schemars(length(min = 1))]
    pub message_id: String,
    /// Optional typing indicator shown while a reply is prepared.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub typing_indicator: Option<TypingIndicator>,
}

/// Meta's only `status` of a mark-as-read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReadStatus {
    /// `read`: show the inbound message as read.
    Read,
}

/// Meta's `typing_indicator` of a mark-as-read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TypingIndicator {
    /// Always `text`.
    #[serde(rename = "type")]
    pub kind: TypingKind,
}

/// Meta's only typing indicator `type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum TypingKind {
    /// `text`: the "typing…" bubble, shown until the reply is sent or about 25
    /// seconds pass.
    Text,
}

/// Replying to a message: it shows as a quote of `message_id`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Context {
    /// The `wamid` of the message replied to.
    #[schemars(length(min = 1))]
    pub message_id: String,
}

/// Fields of Meta's message object Chasqui fills in itself.
const SET_BY_CHASQUI: &[(&str, &str)] = &[
    ("to", "put the recipient in the envelope's \"to\""),
    ("recipient", "put the BSUID in the envelope's \"recipient\""),
    (
        "biz_opaque_callback_data",
        "Chasqui sets it to the message id; put your own data in \"metadata\"",
    ),
];

impl<'de> Deserialize<'de> for Message {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let mut map = Map::<String, Value>::deserialize(deserializer)?;
        if map.contains_key("status") {
            return serde_json::from_value::<MarkRead>(Value::Object(map))
                .map(Message::MarkRead)
                .map_err(|e| D::Error::custom(located("", e.to_string(), true)));
        }
        for (field, hint) in SET_BY_CHASQUI {
            if map.contains_key(*field) {
                return Err(D::Error::custom(format!(
                    "{field}: is not allowed here: {hint}"
                )));
            }
        }
        for (field, want) in [
            ("messaging_product", "whatsapp"),
            ("recipient_type", "individual"),
        ] {
            match map.remove(field) {
                None => {}
                Some(Value::String(s)) if s == want => {}
                Some(other) => {
                    return Err(D::Error::custom(format!(
                        "{field}: must be \"{want}\" (or left out), not {other}"
                    )));
                }
            }
        }
        let kind = match map.get("type") {
            Some(Value::String(kind)) => kind.clone(),
            Some(_) => return Err(D::Error::custom("type: must be a string")),
            None => {
                return Err(D::Error::custom(located(
                    "",
                    "missing field `type` (text, template, image, audio, video, document, sticker, location, contacts, interactive, reaction), or `status: read` to mark a message read".into(),
                    true,
                )));
            }
        };
        if let Some(unknown) = map
            .keys()
            .find(|k| !matches!(k.as_str(), "type" | "context") && **k != kind)
        {
            return Err(D::Error::custom(located(
                "",
                format!(
                    "unknown field `{unknown}`: a \"{kind}\" message carries only `type`, `{kind}` and `context`"
                ),
                true,
            )));
        }
        let context = match map.remove("context") {
            None | Some(Value::Null) => None,
            Some(v) => Some(
                serde_json::from_value::<Context>(v)
                    .map_err(|e| D::Error::custom(located("context", e.to_string(), true)))?,
            ),
        };
        let content = Content::of(&kind, map.remove(&kind)).map_err(D::Error::custom)?;
        Ok(Message::Send(Box::new(OutboundMessage {
            content,
            context,
        })))
    }
}

/// Schema-only view of [`OutboundMessage`] (its `Deserialize` is by hand).
#[derive(JsonSchema)]
#[allow(dead_code)]
#[schemars(rename = "OutboundMessage")]
struct OutboundMessageSchema {
    #[serde(flatten)]
    content: Content,
    #[serde(default)]
    context: Option<Context>,
}

impl JsonSchema for Message {
    fn schema_name() -> Cow<'static, str> {
        "Message".into()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> schemars::Schema {
        let send = generator.subschema_for::<OutboundMessageSchema>();
        let read = generator.subschema_for::<MarkRead>();
        json_schema!({ "oneOf": [send, read] })
    }
}

impl Message {
    /// The message's `type` as stored on the record and in logs (`text`,
    /// `template`, ...), `read` for a mark-as-read.
    pub fn kind(&self) -> &'static str {
        match self {
            Message::MarkRead(_) => "read",
            Message::Send(m) => match m.content {
                Content::Text { .. } => "text",
                Content::Template { .. } => "template",
                Content::Image { .. } => "image",
                Content::Audio { .. } => "audio",
                Content::Video { .. } => "video",
                Content::Document { .. } => "document",
                Content::Sticker { .. } => "sticker",
                Content::Location { .. } => "location",
                Content::Contacts { .. } => "contacts",
                Content::Interactive { .. } => "interactive",
                Content::Reaction { .. } => "reaction",
            },
        }
    }

    pub(super) fn validate(&self) -> Result<(), RequestError> {
        match self {
            Message::MarkRead(read) => non_empty("message.message_id", &read.message_id),
            Message::Send(m) => {
                if let Some(context) = &m.context {
                    non_empty("message.context.message_id", &context.message_id)?;
                }
                m.content.validate()
            }
        }
    }
}

/// `<path>: <reason>` for an error inside the message object (`path` relative
/// to it, empty for the message itself). Serde names the object that lacks a
/// field or has an unknown one; the path names the field itself, which is
/// what a caller has to fix, when `exact` says serde's path is the object's
/// own.
pub(super) fn located(path: &str, reason: String, exact: bool) -> String {
    let field = ["missing field `", "unknown field `"]
        .iter()
        .find_map(|prefix| reason.strip_prefix(prefix))
        .and_then(|rest| rest.split_once('`'))
        .map(|(field, _)| field)
        .filter(|f| {
            exact && !f.is_empty() && f.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        });
    match (path, field) {
        ("", Some(field)) => format!("{field}: {reason}"),
        (path, Some(field)) => format!("{path}.{field}: {reason}"),
        ("", None) => reason,
        (path, None) => format!("{path}: {reason}"),
    }
}

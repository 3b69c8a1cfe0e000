//! The v1 send request: what upstream systems put on the send queue.
//!
//! An envelope (`id`, `to`, `recipient`, `phone_number_id`, `metadata`) around Meta's own
//! message object, so upstream teams can follow Meta's documentation. Parsing
//! is strict and checks Meta's documented limits before any call is made: a
//! request Meta would refuse (or, worse, misread) fails here with the path of
//! the offending field and what to change. `docs/send-request.md` is the prose
//! version; `docs/send-request.schema.json` is generated from these types.

use std::borrow::Cow;
use std::collections::HashSet;

use schemars::{JsonSchema, SchemaGenerator, json_schema};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::customer::{self, CustomerIds};
use crate::phone;

/// Meta's limits, as documented for the Cloud API `messages` endpoint.
pub mod limits {
    pub const TEXT_BODY: usize = 4096;
    pub const CAPTION: usize = 1024;
    pub const INTERACTIVE_BODY: usize = 1024;
    pub const LIST_BODY: usize = 4096;
    pub const HEADER_TEXT: usize = 60;
    pub const FOOTER_TEXT: usize = 60;
    pub const REPLY_BUTTONS: usize = 3;
    pub const REPLY_BUTTON_TITLE: usize = 20;
    pub const REPLY_BUTTON_ID: usize = 256;
    pub const LIST_BUTTON: usize = 20;
    pub const LIST_SECTIONS: usize = 10;
    pub const LIST_ROWS: usize = 10;
    pub const SECTION_TITLE: usize = 24;
    pub const ROW_ID: usize = 200;
    pub const ROW_TITLE: usize = 24;
    pub const ROW_DESCRIPTION: usize = 72;
    pub const CTA_DISPLAY_TEXT: usize = 20;
    pub const FLOW_CTA: usize = 20;
    pub const TEMPLATE_NAME: usize = 512;
    /// A header text parameter.
    pub const TEMPLATE_HEADER_PARAM: usize = 60;
    /// A body text parameter when the template has other components.
    pub const TEMPLATE_BODY_PARAM: usize = 1024;
    /// A body text parameter when the body is the only component.
    pub const TEMPLATE_BODY_ONLY_PARAM: usize = 32768;
    pub const COUPON_CODE: usize = 15;
    /// `biz_opaque_callback_data` carries our id, so the id shares its limit.
    pub const MESSAGE_ID: usize = 512;
    /// Serialized `metadata`: it is stored on the record and echoed in events.
    pub const METADATA_BYTES: usize = 16 * 1024;
    /// DynamoDB allows 32 levels of nesting in an item; keep well inside.
    pub const METADATA_DEPTH: usize = 16;
}

/// The envelope, version 1.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "Chasqui send request (v1)")]
pub struct SendRequest {
    /// Idempotency key and Chasqui's message id (default: the SQS message
    /// id). The same id is sent at most once; the same id with another body
    /// is refused. It is also `biz_opaque_callback_data`, so status webhooks
    /// name it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 512))]
    pub id: Option<String>,
    /// The recipient's phone, in international format (`+55 11 98888-7777`);
    /// normalised to E.164 digits. `to` or `recipient` is required except
    /// for mark-as-read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    /// The recipient's business-scoped user id (BSUID, `BR.1502576394655843`)
    /// or parent BSUID (`US.ENT.11815799212886844830`), for customers known
    /// without a phone. With `to` as well, both go to Meta, which sends to
    /// `to`; the opt-out and window checks consider both.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[A-Z]{2}\.(ENT\.)?[A-Za-z0-9]{1,128}$"))]
    pub recipient: Option<String>,
    /// The tenant (business) the message is sent for, in a deployment that
    /// serves several (default `default`, the deployment's own). Its id
    /// scopes the request: the same `id` in two tenants is two messages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[a-z0-9][a-z0-9-]{0,39}$"))]
    pub tenant: Option<String>,
    /// The business number to send from: one bound to the tenant (default
    /// `WHATSAPP_PHONE_NUMBER_ID` for the default tenant, the tenant's only
    /// bound number for another).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[0-9]+$"))]
    pub phone_number_id: Option<String>,
    /// Meta's message object (`type` plus the object of that type, optional
    /// `context`), or a mark-as-read (`status: read`, `message_id`).
    pub message: Message,
    /// Opaque to Chasqui: stored on the message record and echoed in events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Map<String, Value>>,
}

/// Why a request was refused: the field's path and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {reason}")]
pub struct RequestError {
    pub path: String,
    pub reason: String,
}

impl RequestError {
    fn new(path: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            reason: reason.into(),
        }
    }
}

impl SendRequest {
    /// Parses and validates a queue message body; `to` comes back as E.164
    /// digits. Every refusal names the field.
    pub fn parse(body: &str) -> Result<Self, RequestError> {
        let mut de = serde_json::Deserializer::from_str(body);
        let mut request: SendRequest = serde_path_to_error::deserialize(&mut de).map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner();
            let reason = inner.to_string();
            // The message's own deserializer reports nested paths as
            // "<path>: <reason>"; fold them into the path.
            if path == "message"
                && let Some((sub, rest)) = reason.split_once(": ")
                && !sub.is_empty()
                && sub
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '[' | ']'))
            {
                return RequestError::new(format!("message.{sub}"), rest);
            }
            // A top-level key "" gives an empty path (found by fuzzing).
            let path = if path == "." || path.is_empty() {
                "body".to_owned()
            } else {
                path
            };
            RequestError::new(path, reason)
        })?;
        // Nothing but whitespace may follow the request: `{...}{...}` would
        // otherwise send the first and silently drop the second (found by
        // fuzzing).
        de.end()
            .map_err(|e| RequestError::new("body", e.to_string()))?;
        request.validate()?;
        Ok(request)
    }

    fn validate(&mut self) -> Result<(), RequestError> {
        if let Some(id) = &self.id {
            check_id(id)?;
        }
        if let Some(recipient) = &self.recipient {
            customer::check_user_id(recipient)
                .map_err(|reason| RequestError::new("recipient", reason))?;
        }
        if let Some(tenant) = &self.tenant {
            crate::tenant::check_name(tenant)
                .map_err(|reason| RequestError::new("tenant", reason))?;
        }
        self.to = match (&self.to, &self.recipient, &self.message) {
            (Some(to), _, _) => {
                Some(phone::normalise(to).map_err(|e| RequestError::new("to", e.to_string()))?)
            }
            (None, Some(_), _) | (None, None, Message::MarkRead(_)) => None,
            (None, None, Message::Send(_)) => {
                return Err(RequestError::new(
                    "to",
                    "is required (or \"recipient\"): the recipient's number in international format, e.g. +5511988887777, or their business-scoped user id in \"recipient\"",
                ));
            }
        };
        if self.phone_number_id.is_none() && self.tenant() != crate::tenant::DEFAULT_TENANT {
            return Err(RequestError::new(
                "phone_number_id",
                "is required with \"tenant\": the tenant's business number to send from (`chasqui bindings list`)",
            ));
        }
        if let Some(id) = &self.phone_number_id
            && (id.is_empty() || !id.bytes().all(|b| b.is_ascii_digit()))
        {
            return Err(RequestError::new(
                "phone_number_id",
                "must be the numeric phone number id from WhatsApp Manager, not the phone number",
            ));
        }
        if let Some(metadata) = &self.metadata {
            check_metadata(metadata)?;
        }
        self.message.validate()
    }

    /// The customer the message is addressed to, by every id given.
    pub fn customer(&self) -> CustomerIds {
        CustomerIds::new(self.to.as_deref(), self.recipient.as_deref())
    }

    /// The tenant the request is for.
    pub fn tenant(&self) -> &str {
        self.tenant
            .as_deref()
            .unwrap_or(crate::tenant::DEFAULT_TENANT)
    }

    /// The message type as recorded (`text`, `template`, ..., `read`).
    pub fn kind(&self) -> &'static str {
        self.message.kind()
    }

    /// `(name, language code)` of a template message.
    pub fn template(&self) -> Option<(&str, &str)> {
        match &self.message {
            Message::Send(m) => match &m.content {
                Content::Template { template } => {
                    Some((template.name.as_str(), template.language.code.as_str()))
                }
                _ => None,
            },
            Message::MarkRead(_) => None,
        }
    }

    /// Whether the message delivers content to the person, so an opt-out
    /// suppresses it. A read receipt on their own message does not.
    pub fn delivers_content(&self) -> bool {
        matches!(self.message, Message::Send(_))
    }

    /// Whether Meta allows it only inside the 24-hour customer service
    /// window: every message but a template (reactions included: Meta treats
    /// them as free-form) and a read receipt.
    pub fn needs_service_window(&self) -> bool {
        match &self.message {
            Message::Send(m) => !matches!(m.content, Content::Template { .. }),
            Message::MarkRead(_) => false,
        }
    }

    /// SHA-256 (hex) of the normalised request, `id` excluded and the
    /// business number resolved: the same id arriving with any other body is
    /// a different request and is refused.
    pub fn request_hash(&self, phone_number_id: &str) -> String {
        // serde_json's map is ordered by key, so this encoding is canonical.
        let mut canonical = serde_json::json!({
            "v": 1,
            "to": self.to,
            "phone_number_id": phone_number_id,
            "message": self.message,
            "metadata": self.metadata,
        });
        // Only when set, so a request without it hashes as it always did
        // (a redelivery across a deploy is still the same request).
        if let (Some(recipient), Value::Object(map)) = (&self.recipient, &mut canonical) {
            map.insert("recipient".into(), recipient.clone().into());
        }
        hex::encode(Sha256::digest(canonical.to_string().as_bytes()))
    }

    /// The exact JSON body of the Cloud API call.
    pub fn cloud_api_body(&self, message_id: &str) -> Value {
        match &self.message {
            Message::MarkRead(read) => {
                let mut body = serde_json::to_value(read).unwrap_or(Value::Null);
                if let Value::Object(map) = &mut body {
                    map.insert("messaging_product".into(), "whatsapp".into());
                }
                body
            }
            Message::Send(m) => {
                let mut body = Map::new();
                body.insert("messaging_product".into(), "whatsapp".into());
                body.insert("recipient_type".into(), "individual".into());
                // Meta sends to `to` when both are set; passing both keeps
                // the request's intent visible in Meta's logs.
                if let Some(to) = &self.to {
                    body.insert("to".into(), to.clone().into());
                }
                if let Some(recipient) = &self.recipient {
                    body.insert("recipient".into(), recipient.clone().into());
                }
                if let Ok(Value::Object(content)) = serde_json::to_value(&m.content) {
                    body.extend(content);
                }
                if let Some(context) = &m.context {
                    body.insert(
                        "context".into(),
                        serde_json::json!({ "message_id": context.message_id }),
                    );
                }
                body.insert("biz_opaque_callback_data".into(), message_id.into());
                Value::Object(body)
            }
        }
    }
}

/// The `id` of a body that failed to parse, when it has a usable one, so the
/// refusal is recorded under the id the upstream system knows.
pub fn id_hint(body: &str) -> Option<String> {
    let value: Value = serde_json::from_str(body).ok()?;
    let id = value.get("id")?.as_str()?.to_owned();
    check_id(&id).ok()?;
    Some(id)
}

fn check_id(id: &str) -> Result<(), RequestError> {
    if id.trim().is_empty() {
        return Err(RequestError::new(
            "id",
            "is empty; omit it to use the SQS message id",
        ));
    }
    let chars = id.chars().count();
    if chars > limits::MESSAGE_ID {
        return Err(RequestError::new(
            "id",
            format!(
                "has {chars} characters; the limit is {} (it travels as biz_opaque_callback_data)",
                limits::MESSAGE_ID
            ),
        ));
    }
    if id.chars().any(char::is_control) {
        return Err(RequestError::new("id", "contains a control character"));
    }
    Ok(())
}

fn check_metadata(metadata: &Map<String, Value>) -> Result<(), RequestError> {
    let bytes = serde_json::to_string(metadata)
        .map(|s| s.len())
        .unwrap_or(0);
    if bytes > limits::METADATA_BYTES {
        return Err(RequestError::new(
            "metadata",
            format!(
                "is {bytes} bytes as JSON; the limit is {} (store large data elsewhere and put its key here)",
                limits::METADATA_BYTES
            ),
        ));
    }
    fn walk(value: &Value, path: &mut String, depth: usize) -> Result<(), RequestError> {
        if depth > limits::METADATA_DEPTH {
            return Err(RequestError::new(
                path.clone(),
                format!("nests deeper than {} levels", limits::METADATA_DEPTH),
            ));
        }
        match value {
            // DynamoDB numbers span 1e-130 to 1e126 with 38 digits.
            Value::Number(n) if n.is_f64() => {
                let f = n.as_f64().unwrap_or(f64::NAN);
                if !f.is_finite() || (f != 0.0 && !(1e-130..1e125).contains(&f.abs())) {
                    return Err(RequestError::new(
                        path.clone(),
                        "is a number DynamoDB cannot store; send it as a string",
                    ));
                }
                Ok(())
            }
            Value::Array(items) => items.iter().enumerate().try_for_each(|(i, v)| {
                let len = path.len();
                path.push_str(&format!("[{i}]"));
                walk(v, path, depth + 1)?;
                path.truncate(len);
                Ok(())
            }),
            Value::Object(map) => map.iter().try_for_each(|(k, v)| {
                let len = path.len();
                path.push('.');
                path.push_str(k);
                walk(v, path, depth + 1)?;
                path.truncate(len);
                Ok(())
            }),
            _ => Ok(()),
        }
    }
    metadata.iter().try_for_each(|(k, v)| {
        let mut path = format!("metadata.{k}");
        walk(v, &mut path, 1)
    })
}

/// A message to send, or a read receipt for an inbound message.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Message {
    Send(Box<OutboundMessage>),
    MarkRead(MarkRead),
}

/// Meta's message object: `type`, the object named by it, optional `context`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OutboundMessage {
    #[serde(flatten)]
    pub content: Content,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub context: Option<Context>,
}

/// Marks an inbound message as read (blue ticks), Meta's own body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MarkRead {
    pub status: ReadStatus,
    /// The `wamid` of the inbound message.
    #[schemars(length(min = 1))]
    pub message_id: String,
    /// Optional typing indicator shown while a reply is prepared.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub typing_indicator: Option<TypingIndicator>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReadStatus {
    Read,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TypingIndicator {
    #[serde(rename = "type")]
    pub kind: TypingKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum TypingKind {
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

    fn validate(&self) -> Result<(), RequestError> {
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
fn located(path: &str, reason: String, exact: bool) -> String {
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

/// The object named by `type`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Content {
    Text { text: Text },
    Template { template: Template },
    Image { image: Media },
    Audio { audio: Media },
    Video { video: Media },
    Document { document: Media },
    Sticker { sticker: Media },
    Location { location: Location },
    Contacts { contacts: Vec<ContactCard> },
    Interactive { interactive: Box<Interactive> },
    Reaction { reaction: Reaction },
}

impl Content {
    /// The content of a `kind` message from the object of that name. Each
    /// kind's object is read on its own so serde keeps the path of a missing
    /// or unknown field: through the `type`-tagged enum it would report only
    /// "message". The error is `<path in the message>: <reason>`.
    fn of(kind: &str, object: Option<Value>) -> Result<Self, String> {
        fn read<T: serde::de::DeserializeOwned>(kind: &str, object: Value) -> Result<T, String> {
            serde_path_to_error::deserialize(&object).map_err(|e| {
                // Below a `type`-tagged object (an interactive message, a
                // template component) serde loses the path again: there the
                // field it names may sit deeper, so it is not appended.
                let exact = e
                    .path()
                    .iter()
                    .try_fold(&object, |at, segment| match segment {
                        serde_path_to_error::Segment::Seq { index } => at.get(index),
                        serde_path_to_error::Segment::Map { key } => at.get(key),
                        _ => None,
                    })
                    .and_then(Value::as_object)
                    .is_some_and(|o| !o.contains_key("type"));
                let path = e.path().to_string();
                let path = if path == "." {
                    kind.to_owned()
                } else if path.starts_with('[') {
                    format!("{kind}{path}")
                } else {
                    format!("{kind}.{path}")
                };
                located(&path, e.into_inner().to_string(), exact)
            })
        }
        let Some(object) = object else {
            return Err(located("", format!("missing field `{kind}`"), true));
        };
        Ok(match kind {
            "text" => Content::Text {
                text: read(kind, object)?,
            },
            "template" => Content::Template {
                template: read(kind, object)?,
            },
            "image" => Content::Image {
                image: read(kind, object)?,
            },
            "audio" => Content::Audio {
                audio: read(kind, object)?,
            },
            "video" => Content::Video {
                video: read(kind, object)?,
            },
            "document" => Content::Document {
                document: read(kind, object)?,
            },
            "sticker" => Content::Sticker {
                sticker: read(kind, object)?,
            },
            "location" => Content::Location {
                location: read(kind, object)?,
            },
            "contacts" => Content::Contacts {
                contacts: read(kind, object)?,
            },
            "interactive" => Content::Interactive {
                interactive: read(kind, object)?,
            },
            "reaction" => Content::Reaction {
                reaction: read(kind, object)?,
            },
            other => {
                return Err(located(
                    "type",
                    format!(
                        "unknown variant `{other}`, expected one of `text`, `template`, `image`, `audio`, `video`, `document`, `sticker`, `location`, `contacts`, `interactive`, `reaction`"
                    ),
                    false,
                ));
            }
        })
    }

    fn validate(&self) -> Result<(), RequestError> {
        match self {
            Content::Text { text } => {
                non_empty("message.text.body", &text.body)?;
                max_chars("message.text.body", &text.body, limits::TEXT_BODY)
            }
            Content::Template { template } => template.validate(),
            Content::Image { image } => image.validate("message.image", MediaKind::Image),
            Content::Audio { audio } => audio.validate("message.audio", MediaKind::Audio),
            Content::Video { video } => video.validate("message.video", MediaKind::Video),
            Content::Document { document } => {
                document.validate("message.document", MediaKind::Document)
            }
            Content::Sticker { sticker } => sticker.validate("message.sticker", MediaKind::Sticker),
            Content::Location { location } => location.validate("message.location"),
            Content::Contacts { contacts } => {
                if contacts.is_empty() {
                    return Err(RequestError::new(
                        "message.contacts",
                        "is empty; send at least one contact",
                    ));
                }
                contacts
                    .iter()
                    .enumerate()
                    .try_for_each(|(i, c)| c.validate(&format!("message.contacts[{i}]")))
            }
            Content::Interactive { interactive } => interactive.validate(),
            Content::Reaction { reaction } => reaction.validate(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Text {
    #[schemars(length(min = 1, max = 4096))]
    pub body: String,
    /// Render a preview of the first URL in `body`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preview_url: Option<bool>,
}

/// Media by the `id` of an upload or by a public `link`: exactly one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Media {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// An http(s) URL Meta can download.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link: Option<String>,
    /// Image, video and document only; at most 1024 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 1024))]
    pub caption: Option<String>,
    /// Document only: the file name shown to the person.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filename: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MediaKind {
    Image,
    Audio,
    Video,
    Document,
    Sticker,
}

impl MediaKind {
    fn name(self) -> &'static str {
        match self {
            MediaKind::Image => "image",
            MediaKind::Audio => "audio",
            MediaKind::Video => "video",
            MediaKind::Document => "document",
            MediaKind::Sticker => "sticker",
        }
    }
}

impl Media {
    fn validate(&self, path: &str, kind: MediaKind) -> Result<(), RequestError> {
        match (&self.id, &self.link) {
            (Some(id), None) => non_empty(&format!("{path}.id"), id)?,
            (None, Some(link)) => http_url(&format!("{path}.link"), link)?,
            (Some(_), Some(_)) => {
                return Err(RequestError::new(
                    path,
                    "has both \"id\" and \"link\"; give exactly one",
                ));
            }
            (None, None) => {
                return Err(RequestError::new(
                    path,
                    "needs \"id\" (an uploaded media id) or \"link\" (an https URL)",
                ));
            }
        }
        if let Some(caption) = &self.caption {
            if matches!(kind, MediaKind::Audio | MediaKind::Sticker) {
                return Err(RequestError::new(
                    format!("{path}.caption"),
                    format!("is not allowed: a {} has no caption", kind.name()),
                ));
            }
            max_chars(&format!("{path}.caption"), caption, limits::CAPTION)?;
        }
        if let Some(filename) = &self.filename {
            if kind != MediaKind::Document {
                return Err(RequestError::new(
                    format!("{path}.filename"),
                    format!(
                        "is not allowed: only a document has a filename, not a {}",
                        kind.name()
                    ),
                ));
            }
            non_empty(&format!("{path}.filename"), filename)?;
        }
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Location {
    /// Degrees, -90 to 90 (a number, or a numeric string).
    #[serde(deserialize_with = "coordinate")]
    pub latitude: f64,
    /// Degrees, -180 to 180 (a number, or a numeric string).
    #[serde(deserialize_with = "coordinate")]
    pub longitude: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
}

fn coordinate<'de, D: Deserializer<'de>>(deserializer: D) -> Result<f64, D::Error> {
    use serde::de::Error;
    match Value::deserialize(deserializer)? {
        Value::Number(n) => n
            .as_f64()
            .ok_or_else(|| D::Error::custom("expected a coordinate in degrees")),
        Value::String(s) => s
            .trim()
            .parse::<f64>()
            .map_err(|_| D::Error::custom(format!("expected a coordinate in degrees, got {s:?}"))),
        other => Err(D::Error::custom(format!(
            "expected a coordinate in degrees, got {other}"
        ))),
    }
}

impl Location {
    fn validate(&self, path: &str) -> Result<(), RequestError> {
        if !(-90.0..=90.0).contains(&self.latitude) {
            return Err(RequestError::new(
                format!("{path}.latitude"),
                format!("is {}; it must be between -90 and 90", self.latitude),
            ));
        }
        if !(-180.0..=180.0).contains(&self.longitude) {
            return Err(RequestError::new(
                format!("{path}.longitude"),
                format!("is {}; it must be between -180 and 180", self.longitude),
            ));
        }
        Ok(())
    }
}

/// One contact card of a `contacts` message, Meta's shape.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ContactCard {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub addresses: Option<Vec<ContactAddress>>,
    /// `YYYY-MM-DD`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub birthday: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub emails: Option<Vec<ContactEmail>>,
    pub name: ContactName,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org: Option<ContactOrg>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phones: Option<Vec<ContactPhone>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub urls: Option<Vec<ContactUrl>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ContactAddress {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub street: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub city: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zip: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country_code: Option<String>,
    /// `HOME` or `WORK`.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ContactEmail {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
}

/// `formatted_name` and at least one other part are required.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ContactName {
    pub formatted_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub middle_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suffix: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ContactOrg {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub company: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub department: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ContactPhone {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    /// `CELL`, `MAIN`, `IPHONE`, `HOME` or `WORK`.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Adds a "Message" button to the card.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wa_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ContactUrl {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
}

impl ContactCard {
    fn validate(&self, path: &str) -> Result<(), RequestError> {
        let name = &self.name;
        non_empty(&format!("{path}.name.formatted_name"), &name.formatted_name)?;
        let parts = [
            &name.first_name,
            &name.last_name,
            &name.middle_name,
            &name.suffix,
            &name.prefix,
        ];
        if !parts
            .iter()
            .any(|p| p.as_deref().is_some_and(|s| !s.trim().is_empty()))
        {
            return Err(RequestError::new(
                format!("{path}.name"),
                "needs at least one of first_name, last_name, middle_name, suffix or prefix besides formatted_name",
            ));
        }
        if let Some(birthday) = &self.birthday {
            let ok = birthday.len() == 10
                && birthday.bytes().enumerate().all(|(i, b)| match i {
                    4 | 7 => b == b'-',
                    _ => b.is_ascii_digit(),
                });
            if !ok {
                return Err(RequestError::new(
                    format!("{path}.birthday"),
                    format!("is {birthday:?}; use YYYY-MM-DD"),
                ));
            }
        }
        Ok(())
    }
}

/// An interactive message, by `type`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Interactive {
    /// Up to three quick-reply buttons.
    Button {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        header: Option<InteractiveHeader>,
        body: InteractiveText,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        footer: Option<InteractiveText>,
        action: ButtonAction,
    },
    /// A menu of up to ten rows in up to ten sections.
    List {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        header: Option<InteractiveHeader>,
        body: InteractiveText,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        footer: Option<InteractiveText>,
        action: ListAction,
    },
    /// One button that opens a URL.
    CtaUrl {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        header: Option<InteractiveHeader>,
        body: InteractiveText,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        footer: Option<InteractiveText>,
        action: CtaUrlAction,
    },
    /// A WhatsApp Flow.
    Flow {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        header: Option<InteractiveHeader>,
        body: InteractiveText,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        footer: Option<InteractiveText>,
        action: FlowAction,
    },
    /// Asks the person to share their location.
    LocationRequestMessage {
        body: InteractiveText,
        action: LocationRequestAction,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct InteractiveText {
    pub text: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum InteractiveHeader {
    Text { text: String },
    Image { image: Media },
    Video { video: Media },
    Document { document: Media },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ButtonAction {
    pub buttons: Vec<ReplyButton>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplyButton {
    #[serde(rename = "type")]
    pub kind: ReplyButtonKind,
    pub reply: Reply,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReplyButtonKind {
    Reply,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Reply {
    /// Comes back in the person's `button_reply`; unique in the message.
    pub id: String,
    pub title: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListAction {
    /// The label of the button that opens the list.
    pub button: String,
    pub sections: Vec<ListSection>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListSection {
    /// Required when there is more than one section.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    pub rows: Vec<ListRow>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListRow {
    pub id: String,
    pub title: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CtaUrlAction {
    pub name: CtaUrlName,
    pub parameters: CtaUrlParameters,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum CtaUrlName {
    CtaUrl,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CtaUrlParameters {
    pub display_text: String,
    pub url: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FlowAction {
    pub name: FlowName,
    pub parameters: FlowParameters,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum FlowName {
    Flow,
}

/// Meta's flow parameters: `flow_id` or `flow_name`, not both.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FlowParameters {
    /// Must be `"3"`.
    pub flow_message_version: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flow_token: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flow_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flow_name: Option<String>,
    /// The button label, at most 20 characters.
    pub flow_cta: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<FlowMode>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flow_action: Option<FlowActionKind>,
    /// Required for `navigate` (the default), absent for `data_exchange`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flow_action_payload: Option<FlowActionPayload>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum FlowMode {
    Draft,
    Published,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum FlowActionKind {
    Navigate,
    DataExchange,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FlowActionPayload {
    pub screen: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Map<String, Value>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LocationRequestAction {
    pub name: SendLocationName,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SendLocationName {
    SendLocation,
}

impl Interactive {
    fn validate(&self) -> Result<(), RequestError> {
        const P: &str = "message.interactive";
        let (header, body, footer, body_limit) = match self {
            Interactive::Button {
                header,
                body,
                footer,
                ..
            }
            | Interactive::CtaUrl {
                header,
                body,
                footer,
                ..
            }
            | Interactive::Flow {
                header,
                body,
                footer,
                ..
            } => (
                header.as_ref(),
                body,
                footer.as_ref(),
                limits::INTERACTIVE_BODY,
            ),
            Interactive::List {
                header,
                body,
                footer,
                ..
            } => (header.as_ref(), body, footer.as_ref(), limits::LIST_BODY),
            Interactive::LocationRequestMessage { body, .. } => {
                (None, body, None, limits::INTERACTIVE_BODY)
            }
        };
        non_empty(&format!("{P}.body.text"), &body.text)?;
        max_chars(&format!("{P}.body.text"), &body.text, body_limit)?;
        if let Some(footer) = footer {
            non_empty(&format!("{P}.footer.text"), &footer.text)?;
            max_chars(
                &format!("{P}.footer.text"),
                &footer.text,
                limits::FOOTER_TEXT,
            )?;
        }
        match header {
            None => {}
            Some(InteractiveHeader::Text { text }) => {
                non_empty(&format!("{P}.header.text"), text)?;
                max_chars(&format!("{P}.header.text"), text, limits::HEADER_TEXT)?;
            }
            Some(_) if matches!(self, Interactive::List { .. }) => {
                return Err(RequestError::new(
                    format!("{P}.header"),
                    "a list message takes only a text header",
                ));
            }
            Some(InteractiveHeader::Image { image }) => {
                image.validate(&format!("{P}.header.image"), MediaKind::Image)?;
                no_caption(&format!("{P}.header.image"), image)?;
            }
            Some(InteractiveHeader::Video { video }) => {
                video.validate(&format!("{P}.header.video"), MediaKind::Video)?;
                no_caption(&format!("{P}.header.video"), video)?;
            }
            Some(InteractiveHeader::Document { document }) => {
                document.validate(&format!("{P}.header.document"), MediaKind::Document)?;
                no_caption(&format!("{P}.header.document"), document)?;
            }
        }
        match self {
            Interactive::Button { action, .. } => {
                let path = format!("{P}.action.buttons");
                let n = action.buttons.len();
                if n == 0 || n > limits::REPLY_BUTTONS {
                    return Err(RequestError::new(
                        path,
                        format!("has {n} buttons; give 1 to {}", limits::REPLY_BUTTONS),
                    ));
                }
                let mut ids = HashSet::new();
                let mut titles = HashSet::new();
                for (i, b) in action.buttons.iter().enumerate() {
                    let id_path = format!("{path}[{i}].reply.id");
                    let title_path = format!("{path}[{i}].reply.title");
                    non_empty(&id_path, &b.reply.id)?;
                    max_chars(&id_path, &b.reply.id, limits::REPLY_BUTTON_ID)?;
                    non_empty(&title_path, &b.reply.title)?;
                    max_chars(&title_path, &b.reply.title, limits::REPLY_BUTTON_TITLE)?;
                    if !ids.insert(b.reply.id.as_str()) {
                        return Err(RequestError::new(id_path, "repeats another button's id"));
                    }
                    if !titles.insert(b.reply.title.as_str()) {
                        return Err(RequestError::new(
                            title_path,
                            "repeats another button's title",
                        ));
                    }
                }
                Ok(())
            }
            Interactive::List { action, .. } => {
                let path = format!("{P}.action");
                non_empty(&format!("{path}.button"), &action.button)?;
                max_chars(
                    &format!("{path}.button"),
                    &action.button,
                    limits::LIST_BUTTON,
                )?;
                let sections = action.sections.len();
                if sections == 0 || sections > limits::LIST_SECTIONS {
                    return Err(RequestError::new(
                        format!("{path}.sections"),
                        format!(
                            "has {sections} sections; give 1 to {}",
                            limits::LIST_SECTIONS
                        ),
                    ));
                }
                let rows: usize = action.sections.iter().map(|s| s.rows.len()).sum();
                if rows > limits::LIST_ROWS {
                    return Err(RequestError::new(
                        format!("{path}.sections"),
                        format!(
                            "have {rows} rows in all; a list holds at most {}",
                            limits::LIST_ROWS
                        ),
                    ));
                }
                let mut ids = HashSet::new();
                for (s, section) in action.sections.iter().enumerate() {
                    let sp = format!("{path}.sections[{s}]");
                    match &section.title {
                        Some(title) => {
                            non_empty(&format!("{sp}.title"), title)?;
                            max_chars(&format!("{sp}.title"), title, limits::SECTION_TITLE)?;
                        }
                        None if sections > 1 => {
                            return Err(RequestError::new(
                                format!("{sp}.title"),
                                "is required when the list has more than one section",
                            ));
                        }
                        None => {}
                    }
                    if section.rows.is_empty() {
                        return Err(RequestError::new(
                            format!("{sp}.rows"),
                            "is empty; every section needs at least one row",
                        ));
                    }
                    for (r, row) in section.rows.iter().enumerate() {
                        let rp = format!("{sp}.rows[{r}]");
                        non_empty(&format!("{rp}.id"), &row.id)?;
                        max_chars(&format!("{rp}.id"), &row.id, limits::ROW_ID)?;
                        non_empty(&format!("{rp}.title"), &row.title)?;
                        max_chars(&format!("{rp}.title"), &row.title, limits::ROW_TITLE)?;
                        if let Some(d) = &row.description {
                            max_chars(&format!("{rp}.description"), d, limits::ROW_DESCRIPTION)?;
                        }
                        if !ids.insert(row.id.as_str()) {
                            return Err(RequestError::new(
                                format!("{rp}.id"),
                                "repeats another row's id",
                            ));
                        }
                    }
                }
                Ok(())
            }
            Interactive::CtaUrl { action, .. } => {
                let path = format!("{P}.action.parameters");
                let p = &action.parameters;
                non_empty(&format!("{path}.display_text"), &p.display_text)?;
                max_chars(
                    &format!("{path}.display_text"),
                    &p.display_text,
                    limits::CTA_DISPLAY_TEXT,
                )?;
                http_url(&format!("{path}.url"), &p.url)
            }
            Interactive::Flow { action, .. } => {
                let path = format!("{P}.action.parameters");
                let p = &action.parameters;
                if p.flow_message_version != "3" {
                    return Err(RequestError::new(
                        format!("{path}.flow_message_version"),
                        format!("is {:?}; Meta accepts \"3\"", p.flow_message_version),
                    ));
                }
                match (&p.flow_id, &p.flow_name) {
                    (Some(id), None) => non_empty(&format!("{path}.flow_id"), id)?,
                    (None, Some(name)) => non_empty(&format!("{path}.flow_name"), name)?,
                    _ => {
                        return Err(RequestError::new(
                            path,
                            "needs exactly one of \"flow_id\" and \"flow_name\"",
                        ));
                    }
                }
                non_empty(&format!("{path}.flow_cta"), &p.flow_cta)?;
                max_chars(&format!("{path}.flow_cta"), &p.flow_cta, limits::FLOW_CTA)?;
                match (p.flow_action, &p.flow_action_payload) {
                    (Some(FlowActionKind::DataExchange), Some(_)) => Err(RequestError::new(
                        format!("{path}.flow_action_payload"),
                        "must be left out for flow_action data_exchange",
                    )),
                    (Some(FlowActionKind::DataExchange), None) => Ok(()),
                    (_, None) => Err(RequestError::new(
                        format!("{path}.flow_action_payload"),
                        "is required for flow_action navigate (the default): give the first screen",
                    )),
                    (_, Some(payload)) => {
                        non_empty(
                            &format!("{path}.flow_action_payload.screen"),
                            &payload.screen,
                        )?;
                        if payload.data.as_ref().is_some_and(Map::is_empty) {
                            return Err(RequestError::new(
                                format!("{path}.flow_action_payload.data"),
                                "is an empty object; leave it out or give the screen's data",
                            ));
                        }
                        Ok(())
                    }
                }
            }
            Interactive::LocationRequestMessage { .. } => Ok(()),
        }
    }
}

fn no_caption(path: &str, media: &Media) -> Result<(), RequestError> {
    if media.caption.is_some() {
        return Err(RequestError::new(
            format!("{path}.caption"),
            "is not allowed in a header; put the text in the body",
        ));
    }
    Ok(())
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Reaction {
    /// The `wamid` of the message reacted to.
    pub message_id: String,
    /// One emoji; an empty string removes an earlier reaction.
    pub emoji: String,
}

/// A family emoji with skin tones is about ten code points; more is text.
const MAX_EMOJI_CHARS: usize = 10;

impl Reaction {
    fn validate(&self) -> Result<(), RequestError> {
        non_empty("message.reaction.message_id", &self.message_id)?;
        let e = &self.emoji;
        if e.chars().count() > MAX_EMOJI_CHARS
            || e.chars()
                .any(|c| c.is_ascii_alphanumeric() || c.is_whitespace())
        {
            return Err(RequestError::new(
                "message.reaction.emoji",
                format!("is {e:?}; give one emoji, or \"\" to remove a reaction"),
            ));
        }
        Ok(())
    }
}

/// A message template: the only kind that may open a conversation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Template {
    /// The approved template's name.
    pub name: String,
    pub language: TemplateLanguage,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub components: Option<Vec<TemplateComponent>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TemplateLanguage {
    /// The template's language code, e.g. `en_US`, `pt_BR`, `es`.
    pub code: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<LanguagePolicy>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum LanguagePolicy {
    Deterministic,
}

/// A component's parameters; sent lowercase whatever case was given.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum TemplateComponent {
    #[serde(alias = "HEADER")]
    Header { parameters: Vec<TemplateParameter> },
    #[serde(alias = "BODY")]
    Body { parameters: Vec<TemplateParameter> },
    #[serde(alias = "BUTTON")]
    Button {
        sub_type: ButtonSubType,
        /// The button's position, `"0"` to `"9"` (a number is accepted).
        #[serde(deserialize_with = "button_index")]
        #[schemars(regex(pattern = r"^[0-9]$"))]
        index: String,
        #[serde(default)]
        parameters: Vec<TemplateParameter>,
    },
}

fn button_index<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    use serde::de::Error;
    let index = match Value::deserialize(deserializer)? {
        Value::String(s) => s,
        Value::Number(n) => n.to_string(),
        other => {
            return Err(D::Error::custom(format!(
                "expected \"0\" to \"9\", got {other}"
            )));
        }
    };
    if index.len() == 1 && index.as_bytes()[0].is_ascii_digit() {
        Ok(index)
    } else {
        Err(D::Error::custom(format!(
            "expected a button position \"0\" to \"9\", got {index:?}"
        )))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ButtonSubType {
    #[serde(alias = "QUICK_REPLY")]
    QuickReply,
    #[serde(alias = "URL")]
    Url,
    #[serde(alias = "COPY_CODE")]
    CopyCode,
    #[serde(alias = "FLOW")]
    Flow,
}

/// One parameter, by `type`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum TemplateParameter {
    Text {
        text: String,
        /// For templates with named parameters (`{{order_id}}`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        parameter_name: Option<String>,
    },
    Currency {
        currency: Currency,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        parameter_name: Option<String>,
    },
    DateTime {
        date_time: DateTime,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        parameter_name: Option<String>,
    },
    Image {
        image: Media,
    },
    Document {
        document: Media,
    },
    Video {
        video: Media,
    },
    Location {
        location: Location,
    },
    /// A quick-reply button's payload, returned when the person taps it.
    Payload {
        payload: String,
    },
    /// A copy-code button's code.
    CouponCode {
        coupon_code: String,
    },
    /// A flow button's token and initial data.
    Action {
        action: FlowButtonAction,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Currency {
    /// Shown when the device cannot localise the amount.
    pub fallback_value: String,
    /// ISO 4217, e.g. `USD`.
    pub code: String,
    /// The amount times 1000 (`100990` is 100.99).
    pub amount_1000: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DateTime {
    pub fallback_value: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FlowButtonAction {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flow_token: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flow_action_data: Option<Map<String, Value>>,
}

impl TemplateParameter {
    fn name(&self) -> &'static str {
        match self {
            TemplateParameter::Text { .. } => "text",
            TemplateParameter::Currency { .. } => "currency",
            TemplateParameter::DateTime { .. } => "date_time",
            TemplateParameter::Image { .. } => "image",
            TemplateParameter::Document { .. } => "document",
            TemplateParameter::Video { .. } => "video",
            TemplateParameter::Location { .. } => "location",
            TemplateParameter::Payload { .. } => "payload",
            TemplateParameter::CouponCode { .. } => "coupon_code",
            TemplateParameter::Action { .. } => "action",
        }
    }
}

impl Template {
    fn validate(&self) -> Result<(), RequestError> {
        const P: &str = "message.template";
        non_empty(&format!("{P}.name"), &self.name)?;
        max_chars(&format!("{P}.name"), &self.name, limits::TEMPLATE_NAME)?;
        if !self
            .name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        {
            return Err(RequestError::new(
                format!("{P}.name"),
                format!(
                    "is {:?}; template names are lowercase letters, digits and underscores",
                    self.name
                ),
            ));
        }
        let code = &self.language.code;
        let code_ok = {
            let (lang, region) = code.split_once('_').unwrap_or((code, ""));
            (2..=3).contains(&lang.len())
                && lang.bytes().all(|b| b.is_ascii_lowercase())
                && (region.is_empty()
                    || ((2..=4).contains(&region.len())
                        && region.bytes().all(|b| b.is_ascii_alphanumeric())))
        };
        if !code_ok {
            return Err(RequestError::new(
                format!("{P}.language.code"),
                format!("is {code:?}; use the template's language code, e.g. en_US, pt_BR or es"),
            ));
        }
        let components = self.components.as_deref().unwrap_or_default();
        let body_only = components.len() == 1;
        let (mut header, mut body) = (false, false);
        let mut buttons = HashSet::new();
        for (c, component) in components.iter().enumerate() {
            let cp = format!("{P}.components[{c}]");
            match component {
                TemplateComponent::Header { parameters } => {
                    if std::mem::replace(&mut header, true) {
                        return Err(RequestError::new(cp, "is a second header component"));
                    }
                    if parameters.len() != 1 {
                        return Err(RequestError::new(
                            format!("{cp}.parameters"),
                            format!(
                                "has {} parameters; a header takes exactly one",
                                parameters.len()
                            ),
                        ));
                    }
                    for (i, p) in parameters.iter().enumerate() {
                        let pp = format!("{cp}.parameters[{i}]");
                        match p {
                            TemplateParameter::Text { text, .. } => {
                                non_empty(&format!("{pp}.text"), text)?;
                                max_chars(
                                    &format!("{pp}.text"),
                                    text,
                                    limits::TEMPLATE_HEADER_PARAM,
                                )?;
                            }
                            TemplateParameter::Currency { currency, .. } => {
                                currency.validate(&pp)?
                            }
                            TemplateParameter::DateTime { date_time, .. } => non_empty(
                                &format!("{pp}.date_time.fallback_value"),
                                &date_time.fallback_value,
                            )?,
                            TemplateParameter::Image { image } => {
                                image.validate(&format!("{pp}.image"), MediaKind::Image)?;
                                no_caption(&format!("{pp}.image"), image)?;
                            }
                            TemplateParameter::Video { video } => {
                                video.validate(&format!("{pp}.video"), MediaKind::Video)?;
                                no_caption(&format!("{pp}.video"), video)?;
                            }
                            TemplateParameter::Document { document } => {
                                document
                                    .validate(&format!("{pp}.document"), MediaKind::Document)?;
                                no_caption(&format!("{pp}.document"), document)?;
                            }
                            TemplateParameter::Location { location } => {
                                location.validate(&format!("{pp}.location"))?
                            }
                            other => {
                                return Err(wrong_parameter(
                                    &pp,
                                    other,
                                    "a header",
                                    "text, currency, date_time, image, video, document or location",
                                ));
                            }
                        }
                    }
                }
                TemplateComponent::Body { parameters } => {
                    if std::mem::replace(&mut body, true) {
                        return Err(RequestError::new(cp, "is a second body component"));
                    }
                    let limit = if body_only {
                        limits::TEMPLATE_BODY_ONLY_PARAM
                    } else {
                        limits::TEMPLATE_BODY_PARAM
                    };
                    for (i, p) in parameters.iter().enumerate() {
                        let pp = format!("{cp}.parameters[{i}]");
                        match p {
                            TemplateParameter::Text { text, .. } => {
                                non_empty(&format!("{pp}.text"), text)?;
                                max_chars(&format!("{pp}.text"), text, limit)?;
                            }
                            TemplateParameter::Currency { currency, .. } => {
                                currency.validate(&pp)?
                            }
                            TemplateParameter::DateTime { date_time, .. } => non_empty(
                                &format!("{pp}.date_time.fallback_value"),
                                &date_time.fallback_value,
                            )?,
                            other => {
                                return Err(wrong_parameter(
                                    &pp,
                                    other,
                                    "the body",
                                    "text, currency or date_time",
                                ));
                            }
                        }
                    }
                }
                TemplateComponent::Button {
                    sub_type,
                    index,
                    parameters,
                } => {
                    if !buttons.insert(index.as_str()) {
                        return Err(RequestError::new(
                            format!("{cp}.index"),
                            format!("repeats button index {index}"),
                        ));
                    }
                    let (wanted, label) = match sub_type {
                        ButtonSubType::QuickReply => ("payload", "a quick_reply button"),
                        ButtonSubType::Url => ("text", "a url button"),
                        ButtonSubType::CopyCode => ("coupon_code", "a copy_code button"),
                        ButtonSubType::Flow => ("action", "a flow button"),
                    };
                    if parameters.len() != 1 {
                        return Err(RequestError::new(
                            format!("{cp}.parameters"),
                            format!(
                                "has {} parameters; {label} takes exactly one {wanted} parameter",
                                parameters.len()
                            ),
                        ));
                    }
                    let pp = format!("{cp}.parameters[0]");
                    match &parameters[0] {
                        TemplateParameter::Payload { payload } if wanted == "payload" => {
                            non_empty(&format!("{pp}.payload"), payload)?
                        }
                        TemplateParameter::Text { text, .. } if wanted == "text" => {
                            non_empty(&format!("{pp}.text"), text)?
                        }
                        TemplateParameter::CouponCode { coupon_code }
                            if wanted == "coupon_code" =>
                        {
                            non_empty(&format!("{pp}.coupon_code"), coupon_code)?;
                            max_chars(
                                &format!("{pp}.coupon_code"),
                                coupon_code,
                                limits::COUPON_CODE,
                            )?;
                        }
                        TemplateParameter::Action { .. } if wanted == "action" => {}
                        other => return Err(wrong_parameter(&pp, other, label, wanted)),
                    }
                }
            }
        }
        Ok(())
    }
}

fn wrong_parameter(
    path: &str,
    got: &TemplateParameter,
    place: &str,
    allowed: &str,
) -> RequestError {
    RequestError::new(
        format!("{path}.type"),
        format!("is {}; {place} takes {allowed}", got.name()),
    )
}

impl Currency {
    fn validate(&self, path: &str) -> Result<(), RequestError> {
        non_empty(
            &format!("{path}.currency.fallback_value"),
            &self.fallback_value,
        )?;
        if self.code.len() != 3 || !self.code.bytes().all(|b| b.is_ascii_uppercase()) {
            return Err(RequestError::new(
                format!("{path}.currency.code"),
                format!(
                    "is {:?}; use an ISO 4217 code such as USD or BRL",
                    self.code
                ),
            ));
        }
        Ok(())
    }
}

fn non_empty(path: &str, value: &str) -> Result<(), RequestError> {
    if value.trim().is_empty() {
        return Err(RequestError::new(path, "is required and must not be blank"));
    }
    Ok(())
}

fn max_chars(path: &str, value: &str, limit: usize) -> Result<(), RequestError> {
    let n = value.chars().count();
    if n > limit {
        return Err(RequestError::new(
            path,
            format!("has {n} characters; Meta's limit is {limit}"),
        ));
    }
    Ok(())
}

fn http_url(path: &str, value: &str) -> Result<(), RequestError> {
    let rest = value
        .strip_prefix("https://")
        .or_else(|| value.strip_prefix("http://"));
    match rest {
        Some(rest)
            if !rest.is_empty()
                && !rest.starts_with('/')
                && !value.contains(char::is_whitespace) =>
        {
            Ok(())
        }
        _ => Err(RequestError::new(
            path,
            format!("is {value:?}; give an absolute https:// URL"),
        )),
    }
}

/// The JSON Schema of [`SendRequest`], as committed in `docs/send-request.schema.json`.
pub fn json_schema() -> Value {
    serde_json::to_value(schemars::schema_for!(SendRequest)).unwrap_or(Value::Null)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(v: Value) -> Result<SendRequest, RequestError> {
        SendRequest::parse(&v.to_string())
    }

    #[test]
    fn text_round_trip_and_body() {
        let req = parse(json!({
            "id": "order-1", "to": "+55 11 98888-7777",
            "message": {"type": "text", "text": {"body": "hi", "preview_url": true},
                        "context": {"message_id": "wamid.IN"}},
            "metadata": {"order": 1}
        }))
        .unwrap();
        assert_eq!(req.to.as_deref(), Some("5511988887777"));
        assert_eq!(req.kind(), "text");
        assert!(req.needs_service_window() && req.delivers_content());
        assert_eq!(
            req.cloud_api_body("order-1"),
            json!({"messaging_product": "whatsapp", "recipient_type": "individual",
                   "to": "5511988887777", "type": "text",
                   "text": {"body": "hi", "preview_url": true},
                   "context": {"message_id": "wamid.IN"},
                   "biz_opaque_callback_data": "order-1"})
        );
    }

    #[test]
    fn hash_ignores_formatting_and_id_but_not_content() {
        let a = parse(json!({"id": "a", "to": "+55 11 98888-7777",
            "message": {"type": "text", "text": {"body": "hi"}}}))
        .unwrap();
        let b = parse(json!({"id": "b", "to": "5511988887777",
            "message": {"text": {"body": "hi"}, "type": "text", "messaging_product": "whatsapp"}}))
        .unwrap();
        let c = parse(json!({"id": "a", "to": "5511988887777",
            "message": {"type": "text", "text": {"body": "hi!"}}}))
        .unwrap();
        assert_eq!(a.request_hash("1"), b.request_hash("1"));
        assert_ne!(a.request_hash("1"), a.request_hash("2"));
        assert_ne!(a.request_hash("1"), c.request_hash("1"));
    }

    #[test]
    fn errors_name_the_path() {
        let err = parse(json!({"to": "+5511988887777",
            "message": {"type": "interactive", "interactive": {"type": "button",
              "body": {"text": "x"},
              "action": {"buttons": [{"type": "reply", "reply": {"id": "a", "titel": "A"}}]}}}}))
        .unwrap_err();
        assert!(err.path.starts_with("message"), "{err}");
        assert!(err.to_string().contains("titel"), "{err}");

        let err = parse(json!({"to": "+5511988887777",
            "message": {"type": "text", "text": {"body": "x"}, "image": {"id": "1"}}}))
        .unwrap_err();
        assert!(err.to_string().contains("unknown field `image`"), "{err}");

        let err = SendRequest::parse("not json").unwrap_err();
        assert_eq!(err.path, "body");
    }

    #[test]
    fn a_tenant_is_a_checked_name_and_names_its_number() {
        let text = json!({"type": "text", "text": {"body": "x"}});
        let ok = parse(json!({"to": "+5511988887777", "tenant": "acme",
            "phone_number_id": "111", "message": text}))
        .unwrap();
        assert_eq!(ok.tenant(), "acme");
        let default = parse(json!({"to": "+5511988887777", "message": text})).unwrap();
        assert_eq!(default.tenant(), crate::tenant::DEFAULT_TENANT);
        let err = parse(json!({"to": "+5511988887777", "tenant": "Acme Inc",
            "phone_number_id": "111", "message": text}))
        .unwrap_err();
        assert_eq!(err.path, "tenant");
        let err =
            parse(json!({"to": "+5511988887777", "tenant": "acme", "message": text})).unwrap_err();
        assert_eq!(err.path, "phone_number_id");
    }

    /// A missing or unknown field inside the message is named by its own
    /// path (serde reports "message" through the `type`-tagged content).
    #[test]
    fn shape_errors_name_the_field_inside_the_message() {
        let to = "+5511988887777";
        for (message, path, mentions) in [
            (
                json!({"type": "template", "template": {"language": {"code": "pt_BR"}}}),
                "message.template.name",
                "missing field `name`",
            ),
            (
                json!({"type": "text", "text": {"body": "x", "bold": true}}),
                "message.text.bold",
                "unknown field `bold`",
            ),
            (
                json!({"type": "reaction", "reaction": {"emoji": "👍"}}),
                "message.reaction.message_id",
                "missing field `message_id`",
            ),
            (
                json!({"type": "template", "template": {"name": "t", "language": {}}}),
                "message.template.language.code",
                "missing field `code`",
            ),
            (
                json!({"type": "image", "image": {"link": "https://x.example/a.png", "size": 1}}),
                "message.image.size",
                "unknown field `size`",
            ),
            (
                json!({"type": "text", "text": {"body": 7}}),
                "message.text.body",
                "invalid type",
            ),
            (
                json!({"type": "text"}),
                "message.text",
                "missing field `text`",
            ),
            (
                json!({"type": "text", "text": {"body": "x"}, "colour": "red"}),
                "message.colour",
                "unknown field `colour`",
            ),
            (
                json!({"text": {"body": "x"}}),
                "message.type",
                "missing field `type`",
            ),
            (
                json!({"type": "fax", "fax": {}}),
                "message.type",
                "unknown variant `fax`",
            ),
            (
                json!({"status": "read"}),
                "message.message_id",
                "missing field `message_id`",
            ),
            (
                json!({"type": "text", "text": {"body": "x"}, "context": {}}),
                "message.context.message_id",
                "missing field `message_id`",
            ),
        ] {
            let err = parse(json!({"to": to, "message": message})).unwrap_err();
            assert_eq!(err.path, path, "{message}: {err}");
            assert!(err.reason.contains(mentions), "{message}: {err}");
        }
    }

    /// Inside a `type`-tagged object serde's path stops at the object, so
    /// the field it names is not appended: the path is shorter, never wrong.
    #[test]
    fn shape_errors_below_a_tagged_object_stop_at_the_object() {
        let err = parse(
            json!({"to": "+5511988887777", "message": {"type": "template",
            "template": {"name": "t", "language": {"code": "pt_BR"},
              "components": [{"type": "body", "parameters": [{"type": "text"}]}]}}}),
        )
        .unwrap_err();
        assert_eq!(err.path, "message.template.components[0]", "{err}");
        assert!(err.reason.contains("missing field `text`"), "{err}");
    }

    /// Found by `fuzz/fuzz_targets/send_request.rs`: anything after the
    /// request was ignored, so two concatenated requests sent only the first.
    #[test]
    fn trailing_characters_are_refused() {
        let one = r#"{"to": "+5511988887777", "message": {"type": "text", "text": {"body": "a"}}}"#;
        assert!(SendRequest::parse(one).is_ok());
        assert!(SendRequest::parse(&format!(" {one}\n\t ")).is_ok());
        for body in [
            format!("{one}{one}"),
            format!("{one}\u{8}"),
            format!("{one} x"),
        ] {
            let err = SendRequest::parse(&body).unwrap_err();
            assert_eq!(err.path, "body", "{err}");
            assert!(err.reason.contains("trailing characters"), "{err}");
        }
    }

    /// Found by `fuzz/fuzz_targets/send_request.rs`: an unknown top-level key
    /// that is the empty string gave a refusal with an empty path.
    #[test]
    fn an_empty_unknown_key_still_names_a_path() {
        let err =
            SendRequest::parse(r#"{ "": "+5511988887777", "url": "https://example.com/t/1234" }"#)
                .unwrap_err();
        assert_eq!(err.path, "body", "{err}");
        assert!(err.reason.contains("unknown field ``"), "{err}");
    }

    #[test]
    fn mark_read_needs_no_recipient_and_is_exempt() {
        let req = parse(json!({"message": {"status": "read", "message_id": "wamid.IN"}})).unwrap();
        assert_eq!(req.kind(), "read");
        assert!(!req.needs_service_window() && !req.delivers_content());
        assert_eq!(
            req.cloud_api_body("x"),
            json!({"messaging_product": "whatsapp", "status": "read", "message_id": "wamid.IN"})
        );
    }

    #[test]
    fn a_bsuid_recipient_is_validated_and_sent() {
        let req = parse(json!({"recipient": "BR.1502576394655843",
            "message": {"type": "text", "text": {"body": "oi"}}}))
        .unwrap();
        assert_eq!(req.to, None);
        assert_eq!(
            req.customer(),
            CustomerIds::new(None, Some("BR.1502576394655843"))
        );
        let body = req.cloud_api_body("m1");
        assert_eq!(body["recipient"], "BR.1502576394655843");
        assert!(body.get("to").is_none());

        let both = parse(
            json!({"to": "+55 11 98888-7777", "recipient": "US.ENT.11815799212886844830",
            "message": {"type": "text", "text": {"body": "oi"}}}),
        )
        .unwrap();
        let body = both.cloud_api_body("m1");
        assert_eq!(
            (body["to"].as_str(), body["recipient"].as_str()),
            (Some("5511988887777"), Some("US.ENT.11815799212886844830"))
        );
        assert_ne!(both.request_hash("1"), req.request_hash("1"));

        for bad in ["5511988887777", "br.1", "BR.", "BR.12-3"] {
            let err = parse(json!({"recipient": bad,
                "message": {"type": "text", "text": {"body": "oi"}}}))
            .unwrap_err();
            assert_eq!(err.path, "recipient", "{bad}: {err}");
        }
        let err = parse(json!({"message": {"type": "text", "text": {"body": "oi"}}})).unwrap_err();
        assert_eq!(err.path, "to");
        assert!(err.reason.contains("recipient"), "{err}");
        let err = parse(json!({"to": "+5511988887777",
            "message": {"type": "text", "text": {"body": "oi"}, "recipient": "BR.1"}}))
        .unwrap_err();
        assert!(err.to_string().contains("envelope"), "{err}");
    }

    /// A request without `recipient` hashes as before BSUIDs existed, so a
    /// redelivery across the deploy is still recognised as the same request.
    #[test]
    fn the_hash_of_a_phone_request_did_not_change() {
        let req = parse(json!({"to": "+5511988887777",
            "message": {"type": "text", "text": {"body": "hi"}}}))
        .unwrap();
        let canonical = json!({"v": 1, "to": "5511988887777", "phone_number_id": "1",
            "message": req.message, "metadata": null});
        assert_eq!(
            req.request_hash("1"),
            hex::encode(Sha256::digest(canonical.to_string().as_bytes()))
        );
    }

    #[test]
    fn id_hint_recovers_usable_ids_only() {
        assert_eq!(id_hint(r#"{"id":"abc","to":5}"#).as_deref(), Some("abc"));
        assert_eq!(id_hint(r#"{"id":""}"#), None);
        assert_eq!(id_hint(r#"{"id":7}"#), None);
        assert_eq!(id_hint("nope"), None);
    }

    #[test]
    fn metadata_numbers_dynamodb_cannot_hold_are_refused() {
        let err = parse(json!({"to": "+5511988887777",
            "message": {"type": "text", "text": {"body": "x"}},
            "metadata": {"a": {"b": [1, 1e200]}}}))
        .unwrap_err();
        assert_eq!(err.path, "metadata.a.b[1]");
    }
}

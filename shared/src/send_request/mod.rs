//! The v1 send request: what upstream systems put on the send queue.
//!
//! An envelope (`id`, `to`, `recipient`, `phone_number_id`, `metadata`) around Meta's own
//! message object, so upstream teams can follow Meta's documentation. Parsing
//! is strict and checks Meta's documented limits before any call is made: a
//! request Meta would refuse (or, worse, misread) fails here with the path of
//! the offending field and what to change. `docs/send-request.md` is the prose
//! version; `docs/send-request.schema.json` is generated from these types.

mod contacts;
mod content;
mod interactive;
mod location;
mod media;
mod message;
mod reaction;
mod template;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::customer::{self, CustomerIds};
use crate::phone;

pub use contacts::{
    ContactAddress, ContactCard, ContactEmail, ContactName, ContactOrg, ContactPhone, ContactUrl,
};
pub use content::{Content, Text};
pub use interactive::{
    ButtonAction, CtaUrlAction, CtaUrlName, CtaUrlParameters, FlowAction, FlowActionKind,
    FlowActionPayload, FlowMode, FlowName, FlowParameters, Interactive, InteractiveHeader,
    InteractiveText, ListAction, ListRow, ListSection, LocationRequestAction, Reply, ReplyButton,
    ReplyButtonKind, SendLocationName,
};
pub use location::Location;
pub use media::{Media, S3Object};
pub use message::{
    Context, MarkRead, Message, OutboundMessage, ReadStatus, TypingIndicator, TypingKind,
};
pub use reaction::Reaction;
pub use template::{
    ButtonSubType, Currency, DateTime, FlowButtonAction, LanguagePolicy, Template,
    TemplateComponent, TemplateLanguage, TemplateParameter,
};

/// Meta's limits, as documented for the Cloud API `messages` endpoint.
pub mod limits {
    /// Characters of a text message's `body`.
    pub const TEXT_BODY: usize = 4096;
    /// Characters of a media caption (image, video, document).
    pub const CAPTION: usize = 1024;
    /// Characters of a button, URL-button or flow message's body.
    pub const INTERACTIVE_BODY: usize = 1024;
    /// Characters of a list message's body.
    pub const LIST_BODY: usize = 4096;
    /// Characters of an interactive message's text header.
    pub const HEADER_TEXT: usize = 60;
    /// Characters of an interactive message's footer.
    pub const FOOTER_TEXT: usize = 60;
    /// Quick-reply buttons in one message.
    pub const REPLY_BUTTONS: usize = 3;
    /// Characters of a quick-reply button's title.
    pub const REPLY_BUTTON_TITLE: usize = 20;
    /// Characters of a quick-reply button's id.
    pub const REPLY_BUTTON_ID: usize = 256;
    /// Characters of the label of the button that opens a list.
    pub const LIST_BUTTON: usize = 20;
    /// Sections in one list.
    pub const LIST_SECTIONS: usize = 10;
    /// Rows in one list, over all its sections.
    pub const LIST_ROWS: usize = 10;
    /// Characters of a list section's title.
    pub const SECTION_TITLE: usize = 24;
    /// Characters of a list row's id.
    pub const ROW_ID: usize = 200;
    /// Characters of a list row's title.
    pub const ROW_TITLE: usize = 24;
    /// Characters of a list row's description.
    pub const ROW_DESCRIPTION: usize = 72;
    /// Characters of a URL button's label.
    pub const CTA_DISPLAY_TEXT: usize = 20;
    /// Characters of a flow message's button label.
    pub const FLOW_CTA: usize = 20;
    /// Characters of a template's name.
    pub const TEMPLATE_NAME: usize = 512;
    /// A header text parameter.
    pub const TEMPLATE_HEADER_PARAM: usize = 60;
    /// A body text parameter when the template has other components.
    pub const TEMPLATE_BODY_PARAM: usize = 1024;
    /// A body text parameter when the body is the only component.
    pub const TEMPLATE_BODY_ONLY_PARAM: usize = 32768;
    /// Characters of a coupon code a `copy_code` template button copies.
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
    /// When to send it: an RFC 3339 date-time with its offset
    /// (`2026-12-01T09:30:00-03:00`), at most `SEND_AT_MAX_DAYS` (default
    /// 35) ahead. A time in the past or within a few seconds means now. A
    /// scheduled send needs an explicit `id` (to cancel it, and so a
    /// producer's retry cannot schedule it twice); every check (opt-out,
    /// window, template status) runs when it goes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("format" = "date-time"))]
    pub send_at: Option<String>,
}

/// A `send_at` this close to now (or past) means now: the send goes
/// through at once rather than being scheduled.
pub const DUE_WITHIN_MS: u64 = 5_000;
/// `SEND_AT_MAX_DAYS` when unset: how far ahead `send_at` may be.
pub const DEFAULT_SEND_AT_MAX_DAYS: u64 = 35;

/// Why a request was refused: the field's path and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {reason}")]
pub struct RequestError {
    /// Where in the request: a dotted path such as `message.text.body`, or the
    /// whole request's field.
    pub path: String,
    /// What is wrong and how to fix it, in words for the request's author.
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
            && !crate::check::numeric_id(id)
        {
            return Err(RequestError::new(
                "phone_number_id",
                "must be the numeric phone number id from WhatsApp Manager, not the phone number",
            ));
        }
        if let Some(metadata) = &self.metadata {
            check_metadata(metadata)?;
        }
        if let Some(send_at) = &self.send_at {
            crate::time::parse_rfc3339_millis(send_at)
                .map_err(|reason| RequestError::new("send_at", format!("{send_at:?} {reason}")))?;
        }
        self.message.validate()
    }

    /// `send_at` as Unix milliseconds (`parse` checked its form).
    pub fn send_at_millis(&self) -> Option<u64> {
        self.send_at
            .as_deref()
            .and_then(|t| crate::time::parse_rfc3339_millis(t).ok())
    }

    /// When the request is to go, checked against `now_ms` and the
    /// deployment's limit (`SEND_AT_MAX_DAYS`): `None` to send now (no
    /// `send_at`, or one past or within [`DUE_WITHIN_MS`]), the time
    /// otherwise. Beyond the limit is refused, and so is a scheduled send
    /// without an explicit `id` (cancelling needs it, and the SQS message
    /// id a producer's retried `SendMessage` gets is new: it would schedule
    /// the message twice). The sender and the HTTP API both call this.
    pub fn scheduled_for(&self, now_ms: u64, max_days: u64) -> Result<Option<u64>, RequestError> {
        let Some(at) = self.send_at_millis() else {
            return Ok(None);
        };
        if at <= now_ms + DUE_WITHIN_MS {
            return Ok(None);
        }
        if at > now_ms + max_days * 86_400_000 {
            return Err(RequestError::new(
                "send_at",
                format!(
                    "is more than {max_days} days ahead (SEND_AT_MAX_DAYS); schedule it closer to its time"
                ),
            ));
        }
        if self.id.is_none() {
            return Err(RequestError::new(
                "id",
                "is required with a future send_at: the message is cancelled by its id, and without one a retried SendMessage would schedule it twice",
            ));
        }
        Ok(Some(at))
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

    /// The template of a template message.
    pub fn template_message(&self) -> Option<&Template> {
        match &self.message {
            Message::Send(m) => match &m.content {
                Content::Template { template } => Some(template),
                _ => None,
            },
            Message::MarkRead(_) => None,
        }
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
        // The instant, not its spelling: `Z` and `+00:00` are one request.
        if let (Some(at), Value::Object(map)) = (self.send_at_millis(), &mut canonical) {
            map.insert("send_at".into(), at.into());
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
    crate::check::http_url(value).map_err(|_| {
        RequestError::new(
            path,
            format!("is {value:?}; give an absolute http:// or https:// URL"),
        )
    })
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
    fn send_at_is_rfc3339_within_the_limit_and_needs_an_id() {
        let text = json!({"type": "text", "text": {"body": "x"}});
        let now = 1_796_128_200_000; // 2026-12-01T12:30:00Z
        let req = |id: Option<&str>, at: &str| {
            let mut v = json!({"to": "+5511988887777", "send_at": at, "message": text});
            if let Some(id) = id {
                v["id"] = json!(id);
            }
            parse(v)
        };
        let r = req(Some("a"), "2026-12-01T10:30:00-03:00").unwrap();
        assert_eq!(r.scheduled_for(now, 35), Ok(Some(now + 3_600_000)));
        // Past, or within DUE_WITHIN_MS: now.
        let r = req(Some("a"), "2026-12-01T12:30:04Z").unwrap();
        assert_eq!(r.scheduled_for(now, 35), Ok(None));
        let r = req(Some("a"), "2020-01-01T00:00:00Z").unwrap();
        assert_eq!(r.scheduled_for(now, 35), Ok(None));
        // Beyond the limit, and without an id.
        let r = req(Some("a"), "2027-01-06T12:30:01Z").unwrap();
        assert_eq!(r.scheduled_for(now, 35).unwrap_err().path, "send_at");
        assert!(r.scheduled_for(now, 37).is_ok());
        let r = req(None, "2026-12-01T13:30:00Z").unwrap();
        assert_eq!(r.scheduled_for(now, 35).unwrap_err().path, "id");
        // Malformed: refused at parse, naming the field.
        for bad in ["2026-12-01T13:30:00", "tomorrow", "2026-12-01 13:30:00Z"] {
            let err = req(Some("a"), bad).unwrap_err();
            assert_eq!(err.path, "send_at", "{bad}: {err}");
        }
        // The instant counts, not its spelling; without send_at the hash
        // is the one it always was.
        let z = req(Some("a"), "2026-12-01T13:30:00Z").unwrap();
        let offset = req(Some("a"), "2026-12-01T10:30:00-03:00").unwrap();
        let other = req(Some("a"), "2026-12-01T13:31:00Z").unwrap();
        assert_eq!(z.request_hash("1"), offset.request_hash("1"));
        assert_ne!(z.request_hash("1"), other.request_hash("1"));
        let plain = parse(json!({"to": "+5511988887777", "message": text})).unwrap();
        assert_ne!(plain.request_hash("1"), z.request_hash("1"));
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

//! The webhooks the sandbox sends, in Meta's shape (see
//! `shared/fixtures/webhooks/`), and their encoding: Meta escapes `/` and
//! every non-ASCII character, so a receiver that re-serialises the JSON
//! before checking the signature fails here as it would in production.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::config::SandboxConfig;

/// A message status Meta reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusEvent {
    pub wamid: String,
    /// `sent`, `delivered`, `read` or `failed`.
    pub status: &'static str,
    /// Unix seconds.
    pub timestamp: u64,
    /// The phone; empty when the send named a BSUID only (Meta then does
    /// not share the phone).
    pub recipient: String,
    pub recipient_user_id: String,
    pub callback: Option<String>,
    /// Pricing category (`utility`, `marketing`, `service`, ...).
    pub category: String,
    pub conversation_id: String,
    /// `(code, title, details)` of a `failed` status.
    pub error: Option<(i64, String, String)>,
}

/// A customer's message, as `POST /_sandbox/inbound` takes it: exactly one
/// of `text`, `button` (a template's quick reply) or `interactive` (a reply
/// button of an interactive message).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Inbound {
    /// The customer's phone; empty for a customer known only by username
    /// (then `user_id` is required).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub from: String,
    /// The customer's BSUID (default: the sandbox's BSUID of `from`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    /// The customer's WhatsApp username.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub button: Option<ButtonReply>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interactive: Option<InteractiveReply>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile_name: Option<String>,
    /// The `wamid` of the business message this replies to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<String>,
    /// The business number written to (default: the first configured one,
    /// else `1122334455`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone_number_id: Option<String>,
    /// A file (image, audio, video, document, sticker) registered with
    /// `POST /_sandbox/media`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media: Option<InboundMedia>,
}

/// A customer's file: its kind and what `POST /_sandbox/media` answered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InboundMedia {
    /// `image`, `audio`, `video`, `document` or `sticker`.
    pub kind: String,
    pub id: String,
    pub mime_type: String,
    pub sha256: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caption: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filename: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ButtonReply {
    pub text: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InteractiveReply {
    pub id: String,
    pub title: String,
}

fn envelope(config: &SandboxConfig, phone_number_id: &str, mut value: Value) -> Value {
    value["messaging_product"] = "whatsapp".into();
    let (waba_id, display_phone_number) = config.account_of(phone_number_id);
    value["metadata"] = json!({
        "display_phone_number": display_phone_number,
        "phone_number_id": phone_number_id,
    });
    json!({
        "object": "whatsapp_business_account",
        "entry": [{
            "id": waba_id,
            "changes": [{"value": value, "field": "messages"}],
        }],
    })
}

/// One status in one webhook, as Meta sends them.
pub fn status_payload(config: &SandboxConfig, phone_number_id: &str, e: &StatusEvent) -> Value {
    let mut status = json!({
        "id": e.wamid,
        "status": e.status,
        "timestamp": e.timestamp.to_string(),
        "recipient_user_id": e.recipient_user_id,
    });
    if !e.recipient.is_empty() {
        status["recipient_id"] = e.recipient.clone().into();
    }
    if let Some(cb) = &e.callback {
        status["biz_opaque_callback_data"] = cb.clone().into();
    }
    if matches!(e.status, "sent" | "delivered") {
        // A conversation opened by this message lasts 24 hours.
        status["conversation"] = json!({
            "id": e.conversation_id,
            "expiration_timestamp": (e.timestamp + 86_400).to_string(),
            "origin": {"type": e.category},
        });
        status["pricing"] = json!({
            "billable": e.category != "service",
            "pricing_model": "PMP",
            "category": e.category,
            "type": if e.category == "service" { "free_customer_service" } else { "regular" },
        });
    }
    if let Some((code, title, details)) = &e.error {
        status["errors"] = json!([{
            "code": code,
            "title": title,
            "message": title,
            "error_data": {"details": details},
            "href": "https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/",
        }]);
    }
    envelope(config, phone_number_id, json!({ "statuses": [status] }))
}

impl Inbound {
    /// The customer's BSUID: the one given, else the sandbox's for `from`.
    pub fn customer_user_id(&self) -> String {
        self.user_id
            .clone()
            .unwrap_or_else(|| super::config::user_id_of(&self.from))
    }
}

/// A customer's message in one webhook.
pub fn inbound_payload(
    config: &SandboxConfig,
    phone_number_id: &str,
    inbound: &Inbound,
    wamid: &str,
    timestamp: u64,
) -> Value {
    let from = super::config::digits(&inbound.from);
    let user_id = inbound.customer_user_id();
    let mut message = json!({
        "from_user_id": user_id,
        "id": wamid,
        "timestamp": timestamp.to_string(),
    });
    let mut contact = json!({"user_id": user_id});
    if !from.is_empty() {
        message["from"] = from.clone().into();
        contact["wa_id"] = from.into();
    }
    if let Some(text) = &inbound.text {
        message["type"] = "text".into();
        message["text"] = json!({ "body": text });
    } else if let Some(b) = &inbound.button {
        message["type"] = "button".into();
        message["button"] = json!({
            "text": b.text,
            "payload": b.payload.clone().unwrap_or_else(|| b.text.clone()),
        });
    } else if let Some(i) = &inbound.interactive {
        message["type"] = "interactive".into();
        message["interactive"] = json!({
            "type": "button_reply",
            "button_reply": {"id": i.id, "title": i.title},
        });
    } else if let Some(m) = &inbound.media {
        let mut media = json!({"id": m.id, "mime_type": m.mime_type, "sha256": m.sha256});
        if let Some(caption) = &m.caption {
            media["caption"] = caption.clone().into();
        }
        if let Some(filename) = &m.filename {
            media["filename"] = filename.clone().into();
        }
        message["type"] = m.kind.clone().into();
        message[m.kind.as_str()] = media;
    }
    if let Some(context) = &inbound.context {
        let (_, display_phone_number) = config.account_of(phone_number_id);
        message["context"] = json!({"from": display_phone_number, "id": context});
    }
    let name = inbound
        .profile_name
        .clone()
        .unwrap_or_else(|| "Sandbox Customer".into());
    contact["profile"] = json!({"name": name});
    if let Some(username) = &inbound.username {
        contact["profile"]["username"] = username.clone().into();
    }
    envelope(
        config,
        phone_number_id,
        json!({
            "contacts": [contact],
            "messages": [message],
        }),
    )
}

/// The bytes that go on the wire.
pub fn encode(value: &Value, meta_escaping: bool) -> Vec<u8> {
    let json = value.to_string();
    if meta_escaping {
        meta_escape(&json).into_bytes()
    } else {
        json.into_bytes()
    }
}

/// Meta's escaping of a serialised JSON document: `/` as `\/`, non-ASCII
/// as `\uXXXX` (UTF-16, surrogate pairs beyond the BMP). Both only occur
/// inside strings, so the document stays equivalent.
pub fn meta_escape(json: &str) -> String {
    let mut out = String::with_capacity(json.len() + json.len() / 8);
    for c in json.chars() {
        match c {
            '/' => out.push_str("\\/"),
            c if c.is_ascii() => out.push(c),
            c => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    let _ = write!(out, "\\u{unit:04x}");
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::webhook::WebhookPayload;

    fn event(status: &'static str) -> StatusEvent {
        StatusEvent {
            wamid: "wamid.X".into(),
            status,
            timestamp: 1_730_000_001,
            recipient: "5511988887777".into(),
            recipient_user_id: super::super::config::user_id_of("5511988887777"),
            callback: Some("order/1 ✓".into()),
            category: "utility".into(),
            conversation_id: "c1".into(),
            error: (status == "failed")
                .then(|| (131026, "Message undeliverable".into(), "d".into())),
        }
    }

    #[test]
    fn meta_escaping_keeps_the_document_and_changes_the_bytes() {
        let value = json!({"a": "x/y", "b": "Olá 🙏", "c": "\\/"});
        let escaped = meta_escape(&value.to_string());
        assert!(escaped.is_ascii());
        assert!(escaped.contains(r"x\/y"));
        assert!(escaped.contains(r"Ol\u00e1 \ud83d\ude4f"));
        let back: Value = serde_json::from_str(&escaped).unwrap();
        assert_eq!(back, value);
    }

    #[test]
    fn status_webhooks_parse_with_the_shared_model() {
        let config = SandboxConfig::default();
        for status in ["sent", "delivered", "read", "failed"] {
            let bytes = encode(&status_payload(&config, "1122334455", &event(status)), true);
            let payload = WebhookPayload::parse(&bytes).unwrap();
            let value = payload.entry[0].changes[0].messages().unwrap();
            let s = &value.statuses[0];
            assert_eq!(s.status, status);
            assert_eq!(s.biz_opaque_callback_data.as_deref(), Some("order/1 ✓"));
            assert_eq!(s.timestamp, Some(1_730_000_001));
            assert_eq!(value.metadata.phone_number_id, "1122334455");
            assert_eq!(s.pricing.is_some(), status != "read" && status != "failed");
            let codes: Vec<Option<i64>> = s.errors.iter().map(|e| e.code).collect();
            let expected = if status == "failed" {
                vec![Some(131026)]
            } else {
                vec![]
            };
            assert_eq!(codes, expected, "{status}");
        }
    }

    #[test]
    fn inbound_webhooks_carry_the_contact_and_one_message() {
        let config = SandboxConfig::default();
        let inbound = Inbound {
            from: "+55 11 98888-7777".into(),
            button: Some(ButtonReply {
                text: "Confirmar".into(),
                payload: None,
            }),
            context: Some("wamid.OUT".into()),
            ..Inbound::default()
        };
        let value = inbound_payload(&config, "1122334455", &inbound, "wamid.IN", 1_730_000_100);
        let payload = WebhookPayload::parse(value.to_string().as_bytes()).unwrap();
        let m = payload.entry[0].changes[0].messages().unwrap();
        assert_eq!(m.contacts[0].wa_id, "5511988887777");
        assert_eq!(m.messages[0].from, "5511988887777");
        assert_eq!(m.messages[0].id, "wamid.IN");
        let raw = &value["entry"][0]["changes"][0]["value"]["messages"][0];
        assert_eq!(raw["type"], "button");
        assert_eq!(raw["button"]["payload"], "Confirmar");
        assert_eq!(raw["context"]["id"], "wamid.OUT");
        // Every customer has a BSUID, the same one on every run.
        let bsuid = m.messages[0].from_user_id.clone().unwrap();
        assert!(shared::customer::is_user_id(&bsuid), "{bsuid}");
        assert_eq!(bsuid, crate::sandbox::config::user_id_of("5511988887777"));
        assert_eq!(m.contacts[0].user_id.as_deref(), Some(bsuid.as_str()));
        assert_ne!(bsuid, crate::sandbox::config::user_id_of("5511988887778"));
    }

    #[test]
    fn a_username_customer_has_a_bsuid_and_no_phone() {
        let inbound = Inbound {
            user_id: Some("BR.1502576394655843".into()),
            username: Some("@bia".into()),
            text: Some("STOP".into()),
            ..Inbound::default()
        };
        let value = inbound_payload(
            &SandboxConfig::default(),
            "1122334455",
            &inbound,
            "wamid.IN",
            1_730_000_100,
        );
        let payload = WebhookPayload::parse(value.to_string().as_bytes()).unwrap();
        let m = payload.entry[0].changes[0].messages().unwrap();
        let ids = m.messages[0].sender(&m);
        assert_eq!(ids.wa_id, None);
        assert_eq!(ids.user_id.as_deref(), Some("BR.1502576394655843"));
        assert_eq!(m.contacts[0].profile.username.as_deref(), Some("@bia"));
        let raw = &value["entry"][0]["changes"][0]["value"];
        assert!(raw["messages"][0].get("from").is_none());
        assert!(raw["contacts"][0].get("wa_id").is_none());
    }
}

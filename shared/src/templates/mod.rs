//! The template catalogue (`docs/templates.md`): every template of every
//! WhatsApp Business Account Chasqui sends for, as Meta's
//! `message_templates` endpoint describes it, kept current between syncs by
//! Meta's template webhooks, and checked before every template send.
//!
//! One entry per tenant, template name and language. Its status, quality
//! and category each carry the time of the state they hold (Meta's time for
//! a webhook, the fetch time for a sync), and a write of one of them lands
//! only over an older state: webhooks apply in any order, duplicates
//! included, and a late one never overwrites a newer state.
//!
//! This module is pure (models, Meta's JSON, the check); behind the `aws`
//! feature, [`store`] keeps entries in the table, [`sync`] fetches them from
//! the Graph API and [`cache`] is the sender's per-instance view.

#[cfg(feature = "aws")]
pub mod cache;
pub mod check;
#[cfg(feature = "aws")]
pub mod store;
#[cfg(feature = "aws")]
pub mod sync;

use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use check::{Mismatch, check};

/// The fields the sync asks Meta for.
pub const FIELDS: &str =
    "id,name,language,status,category,components,quality_score,parameter_format";

/// The webhook fields that change an entry.
pub const WEBHOOK_FIELDS: &[&str] = &[STATUS_FIELD, QUALITY_FIELD, CATEGORY_FIELD];
/// Meta's webhook field of a status change (`APPROVED`, `PAUSED`, ...).
pub const STATUS_FIELD: &str = "message_template_status_update";
/// Meta's webhook field of a quality score change.
pub const QUALITY_FIELD: &str = "message_template_quality_update";
/// Meta's webhook field of a category change.
pub const CATEGORY_FIELD: &str = "template_category_update";

/// The alert logged (`alert = ...`) when a template stops being sendable
/// (any status but `APPROVED`), by a webhook or found by a sync; the SAM
/// template has a metric filter and an alarm on it.
pub const ALERT: &str = "whatsapp_template_status_changed";

/// The status a template must have to be sent.
pub const APPROVED: &str = "APPROVED";

/// One template in one language, as the catalogue keeps it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Entry {
    /// The template's name.
    pub name: String,
    /// Its language code (`pt_BR`).
    pub language: String,
    /// Meta's template id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// `APPROVED`, `PENDING`, `REJECTED`, `PAUSED`, `DISABLED`, ...
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// The time of the status held, ms.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status_at: Option<u64>,
    /// Meta's reason for the status, when a webhook gave one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status_reason: Option<String>,
    /// `UTILITY`, `MARKETING` or `AUTHENTICATION`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    /// The time of the category held, ms.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub category_at: Option<u64>,
    /// Meta's quality score (`GREEN`, `YELLOW`, `RED`, `UNKNOWN`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quality: Option<String>,
    /// The time of the quality held, ms.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quality_at: Option<u64>,
    /// What the template takes; `None` until a sync has fetched it (a
    /// webhook for a template no sync has seen yet knows only its status).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shape: Option<Shape>,
    /// When the shape was last fetched, ms.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub synced_at: Option<u64>,
}

/// What a template takes: its parameter format and each component.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Shape {
    /// `POSITIONAL` (`{{1}}`) or `NAMED` (`{{first_name}}`).
    pub parameter_format: String,
    /// The header, if the template has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub header: Option<Header>,
    /// The body's placeholders, in order of first appearance (`1`, `2` or
    /// `first_name`).
    pub body: Vec<String>,
    /// The footer's placeholders (Meta allows none today; kept for show).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub footer: Vec<String>,
    /// The buttons, by index.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub buttons: Vec<Button>,
}

/// A template's header.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Header {
    /// `TEXT`, `IMAGE`, `VIDEO`, `DOCUMENT` or `LOCATION`.
    pub format: String,
    /// A text header's placeholders (at most one).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub parameters: Vec<String>,
}

/// A template's button.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Button {
    /// Meta's button type: `QUICK_REPLY`, `URL`, `PHONE_NUMBER`,
    /// `COPY_CODE`, `FLOW`, `OTP`, ...
    pub kind: String,
    /// Whether a send must give this button a parameter (a dynamic URL
    /// suffix, a coupon code).
    pub dynamic: bool,
}

impl Entry {
    /// Sort key part of the entry: `name#language`.
    pub fn key(&self) -> String {
        entry_key(&self.name, &self.language)
    }
}

/// `name#language`: names are `a-z0-9_`, so `#` separates them.
pub fn entry_key(name: &str, language: &str) -> String {
    format!("{name}#{language}")
}

/// Why a page of Meta's catalogue could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {reason}")]
pub struct ParseError {
    /// JSON path of the offending value.
    pub path: String,
    /// What is wrong.
    pub reason: String,
}

/// One page of `GET /{waba_id}/message_templates`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Page {
    /// The templates on the page; an item that does not read is skipped
    /// (and named in `skipped`), the others are kept.
    pub templates: Vec<Entry>,
    /// `(path, reason)` of each template that did not read.
    pub skipped: Vec<ParseError>,
    /// `paging.cursors.after`, when `paging.next` says there is more.
    pub after: Option<String>,
}

/// Reads one page of Meta's answer; `fetched_at` becomes every entry's state
/// time.
pub fn parse_page(body: &Value, fetched_at: u64) -> Result<Page, ParseError> {
    let data = body
        .get("data")
        .and_then(Value::as_array)
        .ok_or_else(|| ParseError {
            path: "data".into(),
            reason: "expected the array of templates".into(),
        })?;
    let mut page = Page::default();
    for (i, item) in data.iter().enumerate() {
        match parse_template(item, fetched_at) {
            Ok(entry) => page.templates.push(entry),
            Err(e) => page.skipped.push(ParseError {
                path: format!("data[{i}].{}", e.path),
                reason: e.reason,
            }),
        }
    }
    let next = body.pointer("/paging/next").and_then(Value::as_str);
    page.after = body
        .pointer("/paging/cursors/after")
        .and_then(Value::as_str)
        .filter(|a| !a.is_empty() && next.is_some())
        .map(str::to_owned);
    Ok(page)
}

fn text(v: &Value, key: &str) -> Option<String> {
    match v.get(key)? {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_owned()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Reads one template object of Meta's catalogue.
pub fn parse_template(item: &Value, fetched_at: u64) -> Result<Entry, ParseError> {
    let required = |key: &str| {
        text(item, key).ok_or_else(|| ParseError {
            path: key.into(),
            reason: "is missing".into(),
        })
    };
    let name = required("name")?;
    let language = required("language")?;
    let mut shape = Shape {
        parameter_format: text(item, "parameter_format")
            .map(|f| f.to_ascii_uppercase())
            .unwrap_or_else(|| "POSITIONAL".into()),
        ..Shape::default()
    };
    let components = match item.get("components") {
        None | Some(Value::Null) => &[][..],
        Some(Value::Array(c)) => c.as_slice(),
        Some(_) => {
            return Err(ParseError {
                path: "components".into(),
                reason: "expected an array".into(),
            });
        }
    };
    for (c, component) in components.iter().enumerate() {
        let kind = text(component, "type")
            .unwrap_or_default()
            .to_ascii_uppercase();
        let found = text(component, "text")
            .map(|t| placeholders(&t))
            .unwrap_or_default();
        match kind.as_str() {
            "HEADER" => {
                shape.header = Some(Header {
                    format: text(component, "format")
                        .unwrap_or_else(|| "TEXT".into())
                        .to_ascii_uppercase(),
                    parameters: found,
                })
            }
            "BODY" => shape.body = found,
            "FOOTER" => shape.footer = found,
            "BUTTONS" => {
                let buttons = component
                    .get("buttons")
                    .and_then(Value::as_array)
                    .ok_or_else(|| ParseError {
                        path: format!("components[{c}].buttons"),
                        reason: "expected an array".into(),
                    })?;
                for b in buttons {
                    let kind = text(b, "type").unwrap_or_default().to_ascii_uppercase();
                    let dynamic = match kind.as_str() {
                        "URL" => text(b, "url").is_some_and(|u| !placeholders(&u).is_empty()),
                        "COPY_CODE" => true,
                        "OTP" => {
                            text(b, "otp_type").is_some_and(|t| t.eq_ignore_ascii_case("COPY_CODE"))
                        }
                        _ => false,
                    };
                    shape.buttons.push(Button { kind, dynamic });
                }
            }
            _ => {}
        }
    }
    let quality = item
        .pointer("/quality_score/score")
        .and_then(Value::as_str)
        .map(str::to_owned);
    Ok(Entry {
        id: text(item, "id"),
        status: text(item, "status").map(|s| s.to_ascii_uppercase()),
        status_at: Some(fetched_at),
        status_reason: None,
        category: text(item, "category").map(|s| s.to_ascii_uppercase()),
        category_at: Some(fetched_at),
        quality_at: quality.as_ref().map(|_| fetched_at),
        quality,
        shape: Some(shape),
        synced_at: Some(fetched_at),
        name,
        language,
    })
}

/// The distinct `{{...}}` placeholders of a text, in order of first
/// appearance (`{{1}}` gives `1`, `{{first_name}}` gives `first_name`).
pub fn placeholders(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else {
            break;
        };
        let name = after[..end].trim();
        if !name.is_empty()
            && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
            && !out.iter().any(|n| n == name)
        {
            out.push(name.to_owned());
        }
        rest = &after[end + 2..];
    }
    out
}

/// Which of an entry's states a webhook changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Slot {
    /// `status` / `status_at` (and `status_reason`).
    Status,
    /// `quality` / `quality_at`.
    Quality,
    /// `category` / `category_at`.
    Category,
}

impl Slot {
    /// The event `type` a change of this slot becomes.
    pub fn event_type(self) -> &'static str {
        match self {
            Slot::Status => crate::events::TEMPLATE_STATUS_CHANGED,
            Slot::Quality => crate::events::TEMPLATE_QUALITY_CHANGED,
            Slot::Category => crate::events::TEMPLATE_CATEGORY_CHANGED,
        }
    }

    /// The slot's name in logs and events.
    pub fn as_str(self) -> &'static str {
        match self {
            Slot::Status => "status",
            Slot::Quality => "quality",
            Slot::Category => "category",
        }
    }
}

/// One template webhook, read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Update {
    /// The template's name.
    pub name: String,
    /// Its language.
    pub language: String,
    /// Meta's template id.
    pub id: Option<String>,
    /// What it changes.
    pub slot: Slot,
    /// The new value (`PAUSED`, `RED`, `MARKETING`).
    pub value: String,
    /// The value before, when Meta says.
    pub previous: Option<String>,
    /// Meta's reason (status changes).
    pub reason: Option<String>,
    /// Meta's time of the change (the entry's `time`), ms.
    pub at: u64,
}

/// Reads a change of one of [`WEBHOOK_FIELDS`]; `Err` names what is missing.
pub fn parse_update(field: &str, value: &Value, at: u64) -> Result<Update, ParseError> {
    let required = |key: &str| {
        text(value, key).ok_or_else(|| ParseError {
            path: key.into(),
            reason: "is missing".into(),
        })
    };
    let name = required("message_template_name")?;
    let language = required("message_template_language")?;
    let (slot, value_key, previous_key) = match field {
        STATUS_FIELD => (Slot::Status, "event", None),
        QUALITY_FIELD => (
            Slot::Quality,
            "new_quality_score",
            Some("previous_quality_score"),
        ),
        CATEGORY_FIELD => (Slot::Category, "new_category", Some("previous_category")),
        other => {
            return Err(ParseError {
                path: "field".into(),
                reason: format!("{other} is not a template field"),
            });
        }
    };
    let reason = text(value, "reason")
        .or_else(|| text(value, "disable_info"))
        .filter(|r| r != "NONE");
    Ok(Update {
        value: required(value_key)?.to_ascii_uppercase(),
        previous: previous_key
            .and_then(|k| text(value, k))
            .map(|p| p.to_ascii_uppercase()),
        reason: (slot == Slot::Status).then_some(reason).flatten(),
        id: text(value, "message_template_id"),
        slot,
        name,
        language,
        at,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    pub(crate) fn meta_template() -> Value {
        json!({
            "id": "594425479261596", "name": "order_update", "language": "en_US",
            "status": "APPROVED", "category": "UTILITY", "parameter_format": "POSITIONAL",
            "quality_score": {"score": "GREEN", "date": 1730000000},
            "components": [
                {"type": "HEADER", "format": "TEXT", "text": "Order {{1}}"},
                {"type": "BODY", "text": "Hi {{1}}, order {{2}} ships {{3}}. Thanks {{1}}!"},
                {"type": "FOOTER", "text": "Reply STOP to stop"},
                {"type": "BUTTONS", "buttons": [
                    {"type": "URL", "text": "Track", "url": "https://x.example/t/{{1}}"},
                    {"type": "QUICK_REPLY", "text": "Stop"},
                    {"type": "PHONE_NUMBER", "text": "Call", "phone_number": "+15550001111"}
                ]}
            ]
        })
    }

    #[test]
    fn a_template_reads_with_its_shape() {
        let entry = parse_template(&meta_template(), 7).unwrap();
        assert_eq!(entry.key(), "order_update#en_US");
        assert_eq!(entry.status.as_deref(), Some("APPROVED"));
        assert_eq!(entry.quality.as_deref(), Some("GREEN"));
        assert_eq!(entry.status_at, Some(7));
        let shape = entry.shape.unwrap();
        assert_eq!(shape.header.unwrap().parameters, ["1"]);
        assert_eq!(shape.body, ["1", "2", "3"]);
        assert!(shape.footer.is_empty());
        let kinds: Vec<_> = shape
            .buttons
            .iter()
            .map(|b| (b.kind.as_str(), b.dynamic))
            .collect();
        assert_eq!(
            kinds,
            [
                ("URL", true),
                ("QUICK_REPLY", false),
                ("PHONE_NUMBER", false)
            ]
        );
    }

    #[test]
    fn named_placeholders_and_bad_items_are_told_apart() {
        assert_eq!(
            placeholders("Hi {{first_name}}, {{ order_id }} {{first_name}} {{}} {{a-b}}"),
            ["first_name", "order_id"]
        );
        let page = parse_page(
            &json!({"data": [meta_template(), {"language": "en"}],
                    "paging": {"cursors": {"before": "a", "after": "b"}, "next": "https://x"}}),
            1,
        )
        .unwrap();
        assert_eq!(page.templates.len(), 1);
        assert_eq!(page.skipped[0].path, "data[1].name");
        assert_eq!(page.after.as_deref(), Some("b"));
        // The last page has cursors but no `next`.
        let last = parse_page(
            &json!({"data": [], "paging": {"cursors": {"after": "b"}}}),
            1,
        )
        .unwrap();
        assert_eq!(last.after, None);
        assert_eq!(parse_page(&json!({}), 1).unwrap_err().path, "data");
    }

    #[test]
    fn the_three_webhooks_read() {
        let status = parse_update(
            STATUS_FIELD,
            &json!({"event": "PAUSED", "message_template_id": 12, "message_template_name": "promo",
                    "message_template_language": "pt_BR", "reason": "LOW_QUALITY"}),
            5,
        )
        .unwrap();
        assert_eq!(
            (status.slot, status.value.as_str(), status.reason.as_deref()),
            (Slot::Status, "PAUSED", Some("LOW_QUALITY"))
        );
        assert_eq!(status.id.as_deref(), Some("12"));
        let quality = parse_update(
            QUALITY_FIELD,
            &json!({"previous_quality_score": "GREEN", "new_quality_score": "YELLOW",
                    "message_template_name": "promo", "message_template_language": "pt_BR"}),
            5,
        )
        .unwrap();
        assert_eq!(quality.previous.as_deref(), Some("GREEN"));
        assert_eq!(quality.reason, None);
        let category = parse_update(
            CATEGORY_FIELD,
            &json!({"previous_category": "UTILITY", "new_category": "MARKETING",
                    "message_template_name": "promo", "message_template_language": "pt_BR"}),
            5,
        )
        .unwrap();
        assert_eq!(category.value, "MARKETING");
        let missing = parse_update(STATUS_FIELD, &json!({"event": "PAUSED"}), 5).unwrap_err();
        assert_eq!(missing.path, "message_template_name");
    }
}

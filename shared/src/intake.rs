//! Turning one verified webhook POST into SQS messages without losing a byte.
//!
//! One message per `entry` x `change`, the change's `value` copied verbatim
//! (no re-serialisation of Meta's JSON). A change too large for one SQS
//! message is split by its items (`statuses`, `messages`, `errors`, ...), each
//! part keeping the change's other fields (metadata, contacts). An item that is
//! alone too large, and a raw body too large, travel as numbered fragments. A
//! body that is not a webhook at all is queued raw with the reason.
//!
//! The queued bodies are [`QueuedWebhook`]s: the contract with the status
//! function.

mod scan;

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use sha2::{Digest, Sha256};

/// SQS's maximum message size (body plus attributes).
pub const MAX_SQS_MESSAGE_BYTES: usize = 262_144;
/// The body budget, keeping room for the message attributes.
pub const MAX_BODY_BYTES: usize = MAX_SQS_MESSAGE_BYTES - 4_096;
/// Meta's largest webhook body.
pub const MAX_WEBHOOK_BYTES: usize = 3 * 1024 * 1024;

/// One queued piece of a webhook, as the status function reads it. `V` is the
/// change's value: borrowed raw JSON when the webhook writes it, any
/// deserialisable type when the status function reads it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum QueuedWebhook<V> {
    /// One change of one entry, or one part of it.
    Change {
        /// The Meta app the webhook came through (`shared::tenant`); absent
        /// for the default app.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        app: Option<String>,
        /// The entry's `id`: the WhatsApp Business Account id.
        entry_id: String,
        /// The change's `field` (`messages`, `account_update`, ...).
        field: String,
        /// When the webhook reached Chasqui, Unix milliseconds.
        received_at: u64,
        /// The entry's `time` (Unix seconds, as Meta sent it), when it has
        /// one: the order of account and number updates.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        entry_time: Option<u64>,
        /// Which part of a split change this is; absent for a whole change.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        part: Option<Part>,
        /// The change's `value`, byte for byte as Meta sent it (or the part's
        /// share of its items).
        value: V,
    },
    /// A verified body that is not a webhook envelope: kept as received.
    Raw {
        /// The Meta app the body came through; absent for the default app.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        app: Option<String>,
        /// When the body reached Chasqui, Unix milliseconds.
        received_at: u64,
        /// Why the body could not be queued as changes (not UTF-8, not JSON, no
        /// changes, ...).
        reason: String,
        /// How `body` holds the bytes.
        encoding: Encoding,
        /// The body as received: its text, or base64 when it is not UTF-8.
        body: String,
    },
    /// A piece of a queued body too large for one SQS message: decode each
    /// `data`, concatenate in `index` order, and parse the result as a
    /// `QueuedWebhook`.
    Fragment {
        /// When the webhook reached Chasqui, Unix milliseconds.
        received_at: u64,
        /// Names the fragments of one body: a digest of that body.
        group: String,
        /// The fragment's position in the group, from 0.
        index: u32,
        /// How many fragments the group has.
        count: u32,
        /// The fragment's bytes, base64.
        data: String,
    },
}

/// Where a part of a split change stands among its siblings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Part {
    /// 1-based.
    pub index: u32,
    /// How many parts the change was split into.
    pub count: u32,
}

/// How a raw body's bytes are written in `body`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Encoding {
    /// The body was valid UTF-8 and is kept as text.
    Utf8,
    /// The body was not UTF-8 and is kept base64-encoded.
    Base64,
}

/// What a queued message is, for SQS filtering and humans reading a DLQ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// One change (or part of one): [`QueuedWebhook::Change`].
    Change,
    /// A body kept as received: [`QueuedWebhook::Raw`].
    Raw,
    /// A fragment of an oversized body: [`QueuedWebhook::Fragment`].
    Fragment,
}

impl Kind {
    /// The name sent as the message's `kind` attribute (`change`, `raw`,
    /// `fragment`).
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Change => "change",
            Kind::Raw => "raw",
            Kind::Fragment => "fragment",
        }
    }
}

/// A message ready for the queue, with what becomes its SQS attributes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueMessage {
    /// The SQS message body: a serialised [`QueuedWebhook`].
    pub body: String,
    /// What the body is; sent as the `kind` attribute.
    pub kind: Kind,
    /// The business phone number id of the change, when it names one; sent as
    /// an attribute.
    pub phone_number_id: Option<String>,
    /// The change's `field`, for a change; sent as an attribute.
    pub field: Option<String>,
    /// When the webhook reached Chasqui, Unix milliseconds; sent as an
    /// attribute.
    pub received_at: u64,
}

/// The result of splitting one POST body.
#[derive(Debug, Default)]
pub struct Split {
    /// The queue messages, in the body's order.
    pub messages: Vec<QueueMessage>,
    /// How many `entry[]` the body held.
    pub entries: usize,
    /// How many changes the body held over all its entries.
    pub changes: usize,
    /// Why the body was queued raw, when it was.
    pub raw_reason: Option<String>,
}

#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(borrow)]
    entry: Vec<RawEntry<'a>>,
}

#[derive(Deserialize)]
struct RawEntry<'a> {
    #[serde(default)]
    id: Option<IdText>,
    /// Unix seconds; a malformed time is dropped, not the entry.
    #[serde(default, deserialize_with = "lenient_time")]
    time: Option<u64>,
    #[serde(borrow, default)]
    changes: Vec<RawChange<'a>>,
}

fn lenient_time<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Time {
        Number(u64),
        Text(String),
        Other(serde::de::IgnoredAny),
    }
    Ok(match Time::deserialize(d)? {
        Time::Number(n) => Some(n),
        Time::Text(t) => t.trim().parse().ok(),
        Time::Other(_) => None,
    })
}

#[derive(Deserialize)]
struct RawChange<'a> {
    #[serde(default)]
    field: Option<String>,
    #[serde(borrow)]
    value: &'a RawValue,
}

/// Meta's ids are strings, but a number should not lose the entry.
#[derive(Deserialize)]
#[serde(untagged)]
enum IdText {
    Text(String),
    Number(serde_json::Number),
}

impl IdText {
    fn into_string(self) -> String {
        match self {
            IdText::Text(s) => s,
            IdText::Number(n) => n.to_string(),
        }
    }
}

/// Whether `text` holds a `\uD800`-`\uDFFF` escape (either half of a
/// surrogate pair). An escaped backslash before `u` counts too: a false
/// alarm only costs the strict check.
fn has_surrogate_escape(text: &str) -> bool {
    let bytes = text.as_bytes();
    text.match_indices("\\u").any(|(at, _)| {
        bytes
            .get(at + 2)
            .is_some_and(|b| b.eq_ignore_ascii_case(&b'd'))
            && bytes
                .get(at + 3)
                .is_some_and(|b| matches!(b.to_ascii_lowercase(), b'8'..=b'9' | b'a'..=b'f'))
    })
}

/// Splits a body verified with the secret of the Meta app `app` into queue
/// messages of at most `max_body` bytes.
pub fn split(app: &str, body: &[u8], received_at: u64, max_body: usize) -> Split {
    let app = (app != crate::tenant::DEFAULT_APP).then(|| app.to_owned());
    let text = match std::str::from_utf8(body) {
        Ok(text) => text,
        Err(_) => {
            return raw(
                app,
                body,
                received_at,
                "the body is not UTF-8".to_owned(),
                max_body,
            );
        }
    };
    let envelope: Envelope<'_> = match serde_json::from_str(text) {
        Ok(envelope) => envelope,
        Err(err) => {
            let reason = if serde_json::from_str::<serde::de::IgnoredAny>(text).is_ok() {
                format!("valid JSON but not a webhook envelope: {err}")
            } else {
                format!("not valid JSON: {err}")
            };
            return raw(app, body, received_at, reason, max_body);
        }
    };
    // serde_json checks `\u` escapes inside the borrowed values only
    // loosely: an unpaired surrogate passes here but not where the status
    // function decodes the strings. Meta escapes emoji as surrogate pairs, so
    // a body with surrogate escapes is decoded once, strictly; one that fails
    // is kept raw with the reason rather than queued as a change no one can
    // read.
    if has_surrogate_escape(text)
        && let Err(err) = serde_json::from_str::<serde_json::Value>(text)
    {
        return raw(
            app,
            body,
            received_at,
            format!("not valid JSON: {err}"),
            max_body,
        );
    }
    let mut split = Split {
        entries: envelope.entry.len(),
        ..Split::default()
    };
    for entry in envelope.entry {
        let entry_id = entry.id.map(IdText::into_string).unwrap_or_default();
        let entry_time = entry.time;
        for change in entry.changes {
            split.changes += 1;
            let field = change.field.unwrap_or_default();
            // Read from the text already validated, not parsed a second time.
            let phone_number_id = scan::phone_number_id(change.value);
            let attrs = Attrs {
                phone_number_id,
                field: Some(field.clone()),
                received_at,
            };
            let whole = QueuedWebhook::Change {
                app: app.clone(),
                entry_id: entry_id.clone(),
                field: field.clone(),
                received_at,
                entry_time,
                part: None,
                value: change.value,
            };
            let body = to_body(&whole);
            if body.len() <= max_body {
                split.messages.push(attrs.message(Kind::Change, body));
            } else {
                for part in split_items(
                    app.as_deref(),
                    &entry_id,
                    &field,
                    received_at,
                    entry_time,
                    change.value,
                    max_body,
                ) {
                    push_or_fragment(&mut split.messages, Kind::Change, part, &attrs, max_body);
                }
            }
        }
    }
    if split.changes == 0 {
        let reason = "a webhook envelope with no changes".to_owned();
        let mut kept = raw(app, body, received_at, reason, max_body);
        kept.entries = split.entries;
        return kept;
    }
    split
}

#[derive(Clone)]
struct Attrs {
    phone_number_id: Option<String>,
    field: Option<String>,
    received_at: u64,
}

impl Attrs {
    fn message(&self, kind: Kind, body: String) -> QueueMessage {
        QueueMessage {
            body,
            kind,
            phone_number_id: self.phone_number_id.clone(),
            field: self.field.clone(),
            received_at: self.received_at,
        }
    }
}

fn raw(
    app: Option<String>,
    body: &[u8],
    received_at: u64,
    reason: String,
    max_body: usize,
) -> Split {
    let (encoding, text) = match std::str::from_utf8(body) {
        Ok(text) => (Encoding::Utf8, text.to_owned()),
        Err(_) => (Encoding::Base64, BASE64.encode(body)),
    };
    let queued: QueuedWebhook<()> = QueuedWebhook::Raw {
        app,
        received_at,
        reason: reason.clone(),
        encoding,
        body: text,
    };
    let attrs = Attrs {
        phone_number_id: None,
        field: None,
        received_at,
    };
    let mut messages = Vec::new();
    push_or_fragment(&mut messages, Kind::Raw, to_body(&queued), &attrs, max_body);
    Split {
        messages,
        raw_reason: Some(reason),
        ..Split::default()
    }
}

fn push_or_fragment(
    out: &mut Vec<QueueMessage>,
    kind: Kind,
    body: String,
    attrs: &Attrs,
    max_body: usize,
) {
    if body.len() <= max_body {
        out.push(attrs.message(kind, body));
        return;
    }
    let group = hex::encode(&Sha256::digest(body.as_bytes())[..16]);
    // base64 grows 3 bytes to 4; keep 512 bytes for the fragment's own fields.
    let chunk = (max_body.saturating_sub(512) / 4 * 3).max(3);
    let count = body.len().div_ceil(chunk) as u32;
    for (index, piece) in body.as_bytes().chunks(chunk).enumerate() {
        let fragment: QueuedWebhook<()> = QueuedWebhook::Fragment {
            received_at: attrs.received_at,
            group: group.clone(),
            index: index as u32,
            count,
            data: BASE64.encode(piece),
        };
        out.push(attrs.message(Kind::Fragment, to_body(&fragment)));
    }
}

/// Splits an oversized change by its item arrays. Every part carries the
/// value's other fields; items are packed greedily in their original order.
fn split_items(
    app: Option<&str>,
    entry_id: &str,
    field: &str,
    received_at: u64,
    entry_time: Option<u64>,
    value: &RawValue,
    max_body: usize,
) -> Vec<String> {
    let Ok(object) = serde_json::from_str::<BTreeMap<String, &RawValue>>(value.get()) else {
        // Not an object: nothing to split by, fragments carry it whole.
        return vec![to_body(&QueuedWebhook::Change {
            app: app.map(str::to_owned),
            entry_id: entry_id.to_owned(),
            field: field.to_owned(),
            received_at,
            entry_time,
            part: None,
            value,
        })];
    };
    let mut base = Vec::new();
    let mut items: Vec<(&str, &RawValue)> = Vec::new();
    for (key, raw) in &object {
        let arrayed = key != "contacts" && raw.get().trim_start().starts_with('[');
        match arrayed
            .then(|| serde_json::from_str::<Vec<&RawValue>>(raw.get()))
            .and_then(Result::ok)
        {
            Some(list) if !list.is_empty() => {
                items.extend(list.into_iter().map(|item| (key.as_str(), item)))
            }
            _ => base.push((key.as_str(), *raw)),
        }
    }
    let overhead = to_body(&QueuedWebhook::Change {
        app: app.map(str::to_owned),
        entry_id: entry_id.to_owned(),
        field: field.to_owned(),
        received_at,
        entry_time,
        part: Some(Part {
            index: u32::MAX,
            count: u32::MAX,
        }),
        value: value_json(&base, &[]),
    })
    .len();
    // Group items into parts whose estimated size fits.
    let mut groups: Vec<Vec<(&str, &RawValue)>> = Vec::new();
    let mut current: Vec<(&str, &RawValue)> = Vec::new();
    let mut size = overhead;
    for item in items {
        let cost = item.1.get().len() + item.0.len() + 8;
        if !current.is_empty() && size + cost > max_body {
            groups.push(std::mem::take(&mut current));
            size = overhead;
        }
        size += cost;
        current.push(item);
    }
    if !current.is_empty() || groups.is_empty() {
        groups.push(current);
    }
    let count = groups.len() as u32;
    groups
        .iter()
        .enumerate()
        .map(|(i, group)| {
            to_body(&QueuedWebhook::Change {
                app: app.map(str::to_owned),
                entry_id: entry_id.to_owned(),
                field: field.to_owned(),
                received_at,
                entry_time,
                part: Some(Part {
                    index: i as u32 + 1,
                    count,
                }),
                value: value_json(&base, group),
            })
        })
        .collect()
}

/// Builds `{base..., key: [items...]}` from raw pieces, without re-encoding them.
fn value_json(base: &[(&str, &RawValue)], items: &[(&str, &RawValue)]) -> Box<RawValue> {
    let mut out = String::from("{");
    let mut first = true;
    let mut push_key = |out: &mut String, key: &str| {
        if !first {
            out.push(',');
        }
        first = false;
        out.push_str(&serde_json::Value::String(key.to_owned()).to_string());
        out.push(':');
    };
    for (key, raw) in base {
        push_key(&mut out, key);
        out.push_str(raw.get());
    }
    let mut i = 0;
    while i < items.len() {
        let key = items[i].0;
        push_key(&mut out, key);
        out.push('[');
        let mut j = i;
        while j < items.len() && items[j].0 == key {
            if j > i {
                out.push(',');
            }
            out.push_str(items[j].1.get());
            j += 1;
        }
        out.push(']');
        i = j;
    }
    out.push('}');
    // Every piece is valid JSON, so the assembly is too.
    RawValue::from_string(out).unwrap_or_else(|_| unreachable!("assembled from valid JSON pieces"))
}

fn to_body<V: Serialize>(queued: &QueuedWebhook<V>) -> String {
    // Serialising strings, numbers and raw JSON cannot fail.
    let json =
        serde_json::to_string(queued).unwrap_or_else(|_| unreachable!("plain data serialises"));
    sqs_safe(json)
}

/// SQS accepts only XML-legal characters. In JSON text the others can only sit
/// inside strings, where a `\uXXXX` escape means the same thing.
pub fn sqs_safe(json: String) -> String {
    let allowed = |c: char| matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..='\u{10FFFF}');
    if !may_need_escapes(json.as_bytes()) || json.chars().all(allowed) {
        return json;
    }
    let mut out = String::with_capacity(json.len() + 16);
    for c in json.chars() {
        if allowed(c) {
            out.push(c);
        } else {
            out.push_str(&format!("\\u{:04x}", c as u32));
        }
    }
    out
}

/// Whether `text` may hold a character SQS refuses. In UTF-8 those are the
/// control bytes other than tab, newline and carriage return, and U+FFFE and
/// U+FFFF, which start with 0xEF (surrogates cannot be in a `str`). Checked a
/// block at a time with no early exit, so the compiler can vectorise it.
fn may_need_escapes(text: &[u8]) -> bool {
    let suspect = |b: u8| (b < 0x20 && !matches!(b, b'\t' | b'\n' | b'\r')) | (b == 0xEF);
    text.chunks(64)
        .any(|block| block.iter().fold(false, |seen, &b| seen | suspect(b)))
}

/// Reassembles the `count` fragments of one group (given in any order) into
/// the body they were cut from.
pub fn reassemble(count: u32, fragments: &[(u32, &str)]) -> Result<String, String> {
    let mut sorted: Vec<_> = fragments.to_vec();
    sorted.sort_by_key(|(index, _)| *index);
    sorted.dedup_by_key(|(index, _)| *index);
    let mut bytes = Vec::new();
    for expected in 0..count {
        let Some((index, data)) = sorted.get(expected as usize) else {
            return Err(format!("fragment {expected} of {count} is missing"));
        };
        if *index != expected {
            return Err(format!("fragment {expected} of {count} is missing"));
        }
        bytes.extend(
            BASE64
                .decode(data)
                .map_err(|e| format!("fragment {index} is not base64: {e}"))?,
        );
    }
    String::from_utf8(bytes).map_err(|_| "reassembled fragments are not UTF-8".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tenant::DEFAULT_APP;
    use serde_json::{Value, json};

    type Owned = QueuedWebhook<Value>;

    fn parse(msg: &QueueMessage) -> Owned {
        serde_json::from_str(&msg.body).unwrap()
    }

    fn change(field: &str, phone: &str, statuses: usize) -> Value {
        let statuses: Vec<Value> = (0..statuses)
            .map(|i| json!({"id": format!("wamid.{i:06}"), "status": "delivered", "timestamp": "1730000001", "recipient_id": "5511988887777", "biz_opaque_callback_data": format!("order-{i}-{}", "x".repeat(80))}))
            .collect();
        json!({"field": field, "value": {"messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550001111", "phone_number_id": phone},
            "contacts": [{"profile": {"name": "Ana"}, "wa_id": "5511988887777"}],
            "statuses": statuses}})
    }

    /// Account and number updates are ordered by the entry's `time`, which
    /// Meta sends as a number (a string is read too, anything else dropped
    /// without losing the entry).
    #[test]
    fn the_entry_time_travels_with_each_change() {
        for (time, want) in [
            (json!(1730000000), Some(1_730_000_000)),
            (json!("1730000001"), Some(1_730_000_001)),
            (json!("soon"), None),
            (json!(-5), None),
            (json!({"t": 1}), None),
        ] {
            let body = json!({"object": "whatsapp_business_account", "entry": [
                {"id": "waba-1", "time": time, "changes": [change("account_update", "333", 0)]}]})
            .to_string();
            let split = split(DEFAULT_APP, body.as_bytes(), 42, MAX_BODY_BYTES);
            assert_eq!(split.messages.len(), 1, "{time}");
            let QueuedWebhook::Change { entry_time, .. } = parse(&split.messages[0]) else {
                panic!("{time}: not a change");
            };
            assert_eq!(entry_time, want, "{time}");
        }
    }

    #[test]
    fn one_message_per_entry_and_change_with_verbatim_values() {
        let body = json!({"object": "whatsapp_business_account", "entry": [
            {"id": "waba-1", "changes": [change("messages", "111", 1), change("messages", "222", 2)]},
            {"id": "waba-2", "changes": [change("account_update", "333", 0)]}]})
        .to_string();
        let split = split(DEFAULT_APP, body.as_bytes(), 42, MAX_BODY_BYTES);
        assert_eq!(
            (split.entries, split.changes, split.messages.len()),
            (2, 3, 3)
        );
        assert_eq!(split.raw_reason, None);
        let phones: Vec<_> = split
            .messages
            .iter()
            .map(|m| m.phone_number_id.clone().unwrap())
            .collect();
        assert_eq!(phones, ["111", "222", "333"]);
        assert_eq!(split.messages[2].field.as_deref(), Some("account_update"));
        match parse(&split.messages[1]) {
            QueuedWebhook::Change {
                app,
                entry_id,
                field,
                received_at,
                entry_time,
                part,
                value,
            } => {
                assert_eq!(app, None, "the default app is not written");
                assert_eq!(entry_time, None);
                assert_eq!(
                    (entry_id.as_str(), field.as_str(), received_at, part),
                    ("waba-1", "messages", 42, None)
                );
                assert_eq!(value["statuses"].as_array().unwrap().len(), 2);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn values_are_copied_byte_for_byte() {
        let value = r#"{"messaging_product":"whatsapp","metadata":{"phone_number_id":"1"},"messages":[{"text":{"body":"caf\u00e9 \/ ol\u00e1"}}]}"#;
        let body = format!(
            r#"{{"object":"whatsapp_business_account","entry":[{{"id":"w","changes":[{{"field":"messages","value":{value}}}]}}]}}"#
        );
        let split = split(DEFAULT_APP, body.as_bytes(), 1, MAX_BODY_BYTES);
        assert!(
            split.messages[0].body.contains(value),
            "{}",
            split.messages[0].body
        );
    }

    #[test]
    fn a_named_app_is_carried_by_every_kind_of_queued_message() {
        let app_of = |msg: &QueueMessage| match parse(msg) {
            QueuedWebhook::Change { app, .. } | QueuedWebhook::Raw { app, .. } => app,
            QueuedWebhook::Fragment { .. } => panic!("a fragment: reassemble first"),
        };
        let one = json!({"object": "whatsapp_business_account", "entry": [{"id": "w", "changes": [change("messages", "111", 1)]}]}).to_string();
        let whole = split("shop", one.as_bytes(), 1, MAX_BODY_BYTES);
        assert_eq!(app_of(&whole.messages[0]).as_deref(), Some("shop"));
        let big = json!({"object": "whatsapp_business_account", "entry": [{"id": "w", "changes": [change("messages", "111", 400)]}]}).to_string();
        let parts = split("shop", big.as_bytes(), 1, 8_000);
        assert!(parts.messages.len() > 1);
        for msg in &parts.messages {
            assert_eq!(app_of(msg).as_deref(), Some("shop"));
        }
        let raw = split("shop", b"not json", 1, MAX_BODY_BYTES);
        assert_eq!(app_of(&raw.messages[0]).as_deref(), Some("shop"));
        assert_eq!(
            app_of(&split(DEFAULT_APP, b"x", 1, MAX_BODY_BYTES).messages[0]),
            None
        );
    }

    #[test]
    fn oversized_change_is_split_by_items_with_nothing_lost() {
        let body = json!({"object": "whatsapp_business_account", "entry": [{"id": "w", "changes": [change("messages", "111", 400)]}]}).to_string();
        let max = 8_000;
        let split = split(DEFAULT_APP, body.as_bytes(), 7, max);
        assert!(split.messages.len() > 5, "{}", split.messages.len());
        let mut ids = Vec::new();
        let count = split.messages.len() as u32;
        for (i, msg) in split.messages.iter().enumerate() {
            assert!(
                msg.body.len() <= max,
                "part {i} has {} bytes",
                msg.body.len()
            );
            assert_eq!(msg.kind, Kind::Change);
            let QueuedWebhook::Change { part, value, .. } = parse(msg) else {
                panic!()
            };
            assert_eq!(
                part,
                Some(Part {
                    index: i as u32 + 1,
                    count
                })
            );
            assert_eq!(value["metadata"]["phone_number_id"], "111");
            assert_eq!(value["contacts"][0]["wa_id"], "5511988887777");
            ids.extend(
                value["statuses"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|s| s["id"].as_str().unwrap().to_owned()),
            );
        }
        let expected: Vec<_> = (0..400).map(|i| format!("wamid.{i:06}")).collect();
        assert_eq!(ids, expected);
    }

    #[test]
    fn single_items_too_large_become_fragments_that_reassemble() {
        let huge = "é".repeat(5_000);
        let body = json!({"entry": [{"id": "w", "changes": [{"field": "messages", "value": {"metadata": {"phone_number_id": "9"}, "messages": [{"id": "wamid.1", "text": {"body": huge}}]}}]}]}).to_string();
        let split = split(DEFAULT_APP, body.as_bytes(), 5, 2_000);
        assert!(split.messages.len() > 3);
        let mut pieces = Vec::new();
        let mut group_seen = None;
        for msg in &split.messages {
            assert!(msg.body.len() <= 2_000);
            assert_eq!(msg.kind, Kind::Fragment);
            assert_eq!(msg.phone_number_id.as_deref(), Some("9"));
            let QueuedWebhook::Fragment {
                group,
                index,
                count,
                data,
                ..
            } = parse(msg)
            else {
                panic!()
            };
            assert_eq!(count as usize, split.messages.len());
            assert!(group_seen.get_or_insert(group.clone()) == &group);
            pieces.push((index, data));
        }
        pieces.reverse();
        let refs: Vec<(u32, &str)> = pieces.iter().map(|(i, d)| (*i, d.as_str())).collect();
        let count = refs.len() as u32;
        let whole: Owned = serde_json::from_str(&reassemble(count, &refs).unwrap()).unwrap();
        let QueuedWebhook::Change { value, part, .. } = whole else {
            panic!()
        };
        assert_eq!(part, Some(Part { index: 1, count: 1 }));
        assert_eq!(value["messages"][0]["text"]["body"], huge.as_str());
        assert!(reassemble(count, &refs[1..]).is_err());
        assert!(reassemble(count, &refs[..refs.len() - 1]).is_err());
    }

    #[test]
    fn unpaired_surrogate_escapes_are_kept_raw_and_pairs_queue_as_changes() {
        let lone = br#"{"entry":[{"id":"w","changes":[{"field":"messages","value":{"t":"\ud83d\udae9"}}]}]}"#;
        let split_lone = split(DEFAULT_APP, lone, 1, MAX_BODY_BYTES);
        assert_eq!(split_lone.messages.len(), 1);
        assert_eq!(split_lone.messages[0].kind, Kind::Raw);
        assert!(
            split_lone
                .raw_reason
                .as_deref()
                .is_some_and(|r| r.starts_with("not valid JSON") && r.contains("surrogate")),
            "{:?}",
            split_lone.raw_reason
        );
        // A real pair (an emoji as Meta escapes it) is an ordinary change,
        // whose queued body the status function can decode.
        let pair = br#"{"entry":[{"id":"w","changes":[{"field":"messages","value":{"t":"\uD83D\uDE00"}}]}]}"#;
        let split_pair = split(DEFAULT_APP, pair, 1, MAX_BODY_BYTES);
        assert_eq!(split_pair.raw_reason, None);
        assert_eq!(split_pair.messages[0].kind, Kind::Change);
        let queued: QueuedWebhook<serde_json::Value> =
            serde_json::from_str(&split_pair.messages[0].body).unwrap();
        let QueuedWebhook::Change { value, .. } = queued else {
            panic!("not a change: {queued:?}");
        };
        assert_eq!(value["t"], "\u{1F600}");
        assert!(has_surrogate_escape(r#""\udfff""#));
        assert!(!has_surrogate_escape(r#""\u00e9 \ud7ff""#));
    }

    #[test]
    fn bodies_that_are_not_webhooks_are_kept_raw() {
        for (body, reason_start, encoding) in [
            (&b"not json at all"[..], "not valid JSON", Encoding::Utf8),
            (
                &b"{\"entry\": 5}"[..],
                "valid JSON but not a webhook envelope",
                Encoding::Utf8,
            ),
            (
                &b"{\"object\":\"x\",\"entry\":[]}"[..],
                "a webhook envelope with no changes",
                Encoding::Utf8,
            ),
            (
                &[0xff, 0xfe, 0x00, 0x41][..],
                "the body is not UTF-8",
                Encoding::Base64,
            ),
        ] {
            let split = split(DEFAULT_APP, body, 3, MAX_BODY_BYTES);
            assert_eq!(split.messages.len(), 1);
            assert_eq!(split.messages[0].kind, Kind::Raw);
            assert!(
                split
                    .raw_reason
                    .as_deref()
                    .unwrap()
                    .starts_with(reason_start),
                "{:?}",
                split.raw_reason
            );
            let QueuedWebhook::Raw {
                encoding: got,
                body: kept,
                reason,
                ..
            } = parse(&split.messages[0])
            else {
                panic!()
            };
            assert!(reason.starts_with(reason_start));
            assert_eq!(got, encoding);
            let bytes = match got {
                Encoding::Utf8 => kept.into_bytes(),
                Encoding::Base64 => BASE64.decode(kept).unwrap(),
            };
            assert_eq!(bytes, body);
        }
    }

    #[test]
    fn characters_sqs_refuses_are_escaped_without_changing_meaning() {
        let body = "{\"entry\":[{\"id\":\"w\",\"changes\":[{\"field\":\"messages\",\"value\":{\"t\":\"a\u{FFFE}b\"}}]}]}";
        let split = split(DEFAULT_APP, body.as_bytes(), 1, MAX_BODY_BYTES);
        let msg = &split.messages[0].body;
        assert!(!msg.contains('\u{FFFE}') && msg.contains("\\ufffe"));
        let QueuedWebhook::Change { value, .. } = parse(&split.messages[0]) else {
            panic!()
        };
        assert_eq!(value["t"], "a\u{FFFE}b");
    }
}

#[cfg(test)]
mod properties {
    use super::*;
    use crate::tenant::DEFAULT_APP;
    use proptest::prelude::*;
    use serde_json::{Map, Value, json};
    use std::collections::BTreeMap;

    /// Puts every queued message back together: fragments reassembled, parts
    /// of a change merged (base fields once, item arrays concatenated), keyed
    /// by the `_n` marker each generated change carries.
    fn reconstruct(messages: &[QueueMessage]) -> BTreeMap<i64, (String, Value)> {
        let mut bodies: Vec<String> = Vec::new();
        let mut groups: BTreeMap<String, (u32, Vec<(u32, String)>)> = BTreeMap::new();
        for msg in messages {
            match serde_json::from_str::<QueuedWebhook<Value>>(&msg.body).unwrap() {
                QueuedWebhook::Fragment {
                    group,
                    index,
                    count,
                    data,
                    ..
                } => {
                    groups
                        .entry(group)
                        .or_insert((count, Vec::new()))
                        .1
                        .push((index, data));
                }
                _ => bodies.push(msg.body.clone()),
            }
        }
        for (count, pieces) in groups.values() {
            let refs: Vec<(u32, &str)> = pieces.iter().map(|(i, d)| (*i, d.as_str())).collect();
            bodies.push(reassemble(*count, &refs).unwrap());
        }
        // Parts in their index order: a part sent as fragments is
        // reassembled after the parts that travelled whole.
        let mut parts: Vec<(i64, u32, String, Value)> = bodies
            .iter()
            .map(|body| {
                let QueuedWebhook::Change {
                    field, value, part, ..
                } = serde_json::from_str::<QueuedWebhook<Value>>(body).unwrap()
                else {
                    panic!("unexpected body {body}")
                };
                let n = value["_n"].as_i64().unwrap();
                (n, part.map_or(0, |p| p.index), field, value)
            })
            .collect();
        parts.sort_by_key(|(n, index, _, _)| (*n, *index));
        let mut merged: BTreeMap<i64, (String, Value)> = BTreeMap::new();
        for (n, _, field, value) in parts {
            match merged.get_mut(&n) {
                None => {
                    merged.insert(n, (field, value));
                }
                Some((_, acc)) => {
                    for (k, v) in value.as_object().unwrap() {
                        match (acc.get_mut(k), v) {
                            (Some(Value::Array(a)), Value::Array(b)) if k != "contacts" => {
                                a.extend(b.iter().cloned())
                            }
                            (Some(existing), _) => {
                                assert_eq!(existing, v, "base field {k} differs between parts")
                            }
                            (None, _) => {
                                acc.as_object_mut().unwrap().insert(k.clone(), v.clone());
                            }
                        }
                    }
                }
            }
        }
        merged
    }

    fn change_value() -> impl Strategy<Value = Map<String, Value>> {
        (
            prop::collection::btree_map("[a-z]{1,6}", crate::test_support::json_value(), 0..4),
            prop::collection::vec(crate::test_support::json_value(), 0..12),
            prop::collection::vec(crate::test_support::json_value(), 0..4),
        )
            .prop_map(|(base, statuses, messages)| {
                let mut m: Map<String, Value> = base.into_iter().collect();
                m.insert("metadata".into(), json!({"phone_number_id": "1122334455"}));
                m.insert("statuses".into(), Value::Array(statuses));
                m.insert("messages".into(), Value::Array(messages));
                m
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// Whatever the changes hold and however small the limit, every
        /// message fits and the changes come back whole.
        #[test]
        fn nothing_is_lost_at_any_size(values in prop::collection::vec(change_value(), 1..5), max in 600usize..6_000) {
            let mut expected = BTreeMap::new();
            let changes: Vec<Value> = values.into_iter().enumerate().map(|(n, mut v)| {
                v.insert("_n".into(), json!(n));
                let field = format!("field{n}");
                expected.insert(n as i64, (field.clone(), Value::Object(v.clone())));
                json!({"field": field, "value": v})
            }).collect();
            let body = json!({"object": "whatsapp_business_account", "entry": [{"id": "w", "changes": changes}]}).to_string();
            let split = split(DEFAULT_APP, body.as_bytes(), 9, max);
            prop_assert!(split.raw_reason.is_none());
            for m in &split.messages {
                prop_assert!(m.body.len() <= max, "{} > {max}", m.body.len());
                prop_assert_eq!(m.phone_number_id.as_deref(), Some("1122334455"));
            }
            prop_assert_eq!(reconstruct(&split.messages), expected);
        }

        /// The block check never lets through a character SQS refuses:
        /// the result is what escaping character by character gives.
        #[test]
        fn sqs_safe_escapes_exactly_the_refused_characters(
            chars in prop::collection::vec(prop_oneof![
                any::<char>(),
                prop::sample::select(vec!['\u{0}', '\u{1f}', '\t', '\n', '\r', '\u{7f}', '\u{fffe}', '\u{ffff}', '\u{fffd}', '\u{e000}', '\u{ef}']),
            ], 0..200),
        ) {
            let text: String = chars.into_iter().collect();
            let expected: String = text.chars().map(|c| match c {
                '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..='\u{10FFFF}' => c.to_string(),
                c => format!("\\u{:04x}", c as u32),
            }).collect();
            prop_assert_eq!(sqs_safe(text), expected);
        }

        /// Arbitrary bytes are always kept (raw or as changes), within the limit.
        #[test]
        fn arbitrary_bytes_are_always_queued(bytes in prop::collection::vec(any::<u8>(), 0..3_000), max in 600usize..4_000) {
            let split = split(DEFAULT_APP, &bytes, 1, max);
            prop_assert!(!split.messages.is_empty());
            for m in &split.messages {
                prop_assert!(m.body.len() <= max);
                prop_assert!(serde_json::from_str::<QueuedWebhook<Value>>(&m.body).is_ok());
            }
        }
    }
}

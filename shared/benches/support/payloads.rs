//! The webhook payloads of the benchmarks: a typical 2 KB status webhook and a
//! 1 MB batch, in Meta's encoding. `webhook_intake` (criterion) and
//! `tests/benches/cold_start.rs` (the Python baseline's warm timing) both use
//! these, so their numbers are over the same bytes.

use serde_json::{Value, json};

fn status(i: usize) -> Value {
    json!({"id": format!("wamid.HBgNNTUxMTk4ODg4Nzc3NxUCABEYEjQ{i:08}"), "status": "delivered",
           "timestamp": "1730000001", "recipient_id": "5511988887777",
           "biz_opaque_callback_data": format!("order-{i}-shipped"),
           "conversation": {"id": "9a1f2c3d4e5f60718293a4b5c6d7e8f9", "expiration_timestamp": "1730086400", "origin": {"type": "utility"}},
           "pricing": {"billable": true, "pricing_model": "PMP", "category": "utility", "type": "regular"}})
}

fn inbound(i: usize) -> Value {
    json!({"from": "5511988887777", "id": format!("wamid.HBgNNTUxMTk4ODg4Nzc3NxIAEhg{i:08}"), "timestamp": "1730000100",
           "type": "text", "text": {"body": format!("Ol\u{e1}! Pedido {i} chegou? Obrigado \u{1f64f}")}})
}

/// One change, its members in Meta's order: `metadata` before the item
/// arrays (`json!` would sort the keys).
fn change(statuses: Vec<Value>, messages: Vec<Value>) -> String {
    let metadata = json!({"display_phone_number": "15550001111", "phone_number_id": "1122334455"});
    let contacts = json!([{"profile": {"name": "Ana Souza"}, "wa_id": "5511988887777"}]);
    format!(
        r#"{{"field":"messages","value":{{"messaging_product":"whatsapp","metadata":{metadata},"contacts":{contacts},"statuses":{},"messages":{}}}}}"#,
        Value::from(statuses),
        Value::from(messages)
    )
}

/// The webhook envelope around `(entry id, changes)`.
fn envelope(entries: &[(String, Vec<String>)]) -> String {
    let entries: Vec<String> = entries
        .iter()
        .map(|(id, changes)| {
            format!(
                r#"{{"id":{},"changes":[{}]}}"#,
                Value::from(id.as_str()),
                changes.join(",")
            )
        })
        .collect();
    format!(
        r#"{{"object":"whatsapp_business_account","entry":[{}]}}"#,
        entries.join(",")
    )
}

/// Meta's encoding: ASCII with `\uXXXX` escapes and `\/`.
fn meta_bytes(json: &str) -> Vec<u8> {
    let mut out = String::new();
    for c in json.chars() {
        match c {
            '/' => out.push_str("\\/"),
            c if c.is_ascii() => out.push(c),
            c => {
                let mut buf = [0u16; 2];
                for unit in c.encode_utf16(&mut buf) {
                    out.push_str(&format!("\\u{unit:04x}"));
                }
            }
        }
    }
    out.into_bytes()
}

/// About 2 KB: three statuses in one change, as Meta batches them.
pub fn typical() -> Vec<u8> {
    let changes = vec![change((0..3).map(status).collect(), vec![])];
    meta_bytes(&envelope(&[("102290129340398".to_owned(), changes)]))
}

/// About 1 MB: 50 entries x 2 changes of statuses and inbound messages.
pub fn batch() -> Vec<u8> {
    let entries: Vec<(String, Vec<String>)> = (0..50)
        .map(|e| {
            let changes = vec![
                change((0..30).map(|i| status(e * 100 + i)).collect(), vec![]),
                change(vec![], (0..25).map(|i| inbound(e * 100 + i)).collect()),
            ];
            (format!("waba-{e}"), changes)
        })
        .collect();
    meta_bytes(&envelope(&entries))
}

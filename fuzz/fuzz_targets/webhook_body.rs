//! Everything the webhook and status functions do with a POST body's bytes:
//! the typed model (`shared::webhook`), the splitter (`shared::intake::split`)
//! at the production limit and at a small one that forces parts and
//! fragments, the SQS escaping, fragment reassembly, and the status
//! function's parse of each queued body.
//!
//! Invariants, beyond "never panics":
//! - every queued body fits the limit, is SQS-safe and parses as a
//!   `QueuedWebhook`, of the kind its attribute says;
//! - nothing is lost: reassembling fragments and merging parts gives back
//!   exactly the body's `(entry id, field, value)` list, or, for a body that is
//!   not a webhook, the body's exact bytes;
//! - the typed model is idempotent: parse, serialise, parse gives the same.
#![no_main]

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use shared::intake::{self, Encoding, Kind, MAX_BODY_BYTES, QueueMessage, QueuedWebhook};
use shared::webhook::{MessagesValue, WebhookPayload};

/// Small enough that a few statuses overflow it, large enough for a fragment.
const SMALL_BODY: usize = 1_024;
const RECEIVED_AT: u64 = 1_730_000_000_123;

fuzz_target!(|data: &[u8]| {
    typed_model(data);
    for max_body in [MAX_BODY_BYTES, SMALL_BODY] {
        split_keeps_everything(data, max_body);
    }
    queued_body(data);
    escaping(data);
});

/// `WebhookPayload::parse` never panics, and its output survives a round trip.
fn typed_model(data: &[u8]) {
    let Ok(payload) = WebhookPayload::parse(data) else {
        return;
    };
    for entry in &payload.entry {
        for change in &entry.changes {
            if let Some(value) = change.messages() {
                status_view(&value);
            }
        }
    }
    let text = serde_json::to_vec(&payload).expect("a parsed payload serialises");
    let again = WebhookPayload::parse(&text).expect("a serialised payload parses");
    assert_eq!(
        again, payload,
        "parse -> serialise -> parse changed the payload"
    );
}

/// What the status function reads from a `messages` change.
fn status_view(value: &MessagesValue) {
    for status in &value.statuses {
        let _ = status.kind();
    }
    for message in &value.messages {
        let _ = message.text_content();
        let _ = message.media();
        let _ = value.profile_name(&message.from);
    }
    for error in &value.errors {
        let _ = error.details();
    }
}

fn split_keeps_everything(data: &[u8], max_body: usize) {
    let split = intake::split(shared::tenant::DEFAULT_APP, data, RECEIVED_AT, max_body);
    assert!(!split.messages.is_empty(), "nothing queued");
    for message in &split.messages {
        check_message(message, max_body);
    }
    let bodies = reassemble_in_order(&split.messages);
    match &split.raw_reason {
        Some(reason) => {
            assert_eq!(bodies.len(), 1, "a raw body travels as one queued body");
            let QueuedWebhook::Raw {
                app,
                received_at,
                reason: kept_reason,
                encoding,
                body,
            } = &bodies[0]
            else {
                panic!("a raw split queued {:?}", bodies[0]);
            };
            assert_eq!(*app, None, "the default app is not written");
            assert_eq!(*received_at, RECEIVED_AT);
            assert_eq!(kept_reason, reason);
            let bytes = match encoding {
                Encoding::Utf8 => body.as_bytes().to_vec(),
                Encoding::Base64 => BASE64.decode(body).expect("raw base64 decodes"),
            };
            assert_eq!(bytes, data, "the raw body is not the received bytes");
        }
        None => {
            let got = merge_parts(bodies);
            let expected = expected_changes(data);
            assert_eq!(got.len(), split.changes);
            assert_eq!(
                got, expected,
                "the queued changes are not the body's changes"
            );
        }
    }
}

/// Size, SQS safety, parse, and the kind attribute of one queued message.
fn check_message(message: &QueueMessage, max_body: usize) {
    assert!(
        message.body.len() <= max_body,
        "{} bytes > {max_body}",
        message.body.len()
    );
    assert_eq!(
        intake::sqs_safe(message.body.clone()),
        message.body,
        "a queued body has characters SQS refuses"
    );
    assert_eq!(message.received_at, RECEIVED_AT);
    let queued: QueuedWebhook<Value> =
        serde_json::from_str(&message.body).expect("every queued body parses");
    let kind = match queued {
        QueuedWebhook::Change { .. } => Kind::Change,
        QueuedWebhook::Raw { .. } => Kind::Raw,
        QueuedWebhook::Fragment { .. } => Kind::Fragment,
    };
    assert_eq!(
        kind, message.kind,
        "the kind attribute disagrees with the body"
    );
}

/// A fragment group being collected: its id, count and pieces so far.
type Group = (String, u32, Vec<(u32, String)>);

/// The queued bodies with each run of fragments reassembled, as the status
/// function does (fragments of one group are queued consecutively).
fn reassemble_in_order(messages: &[QueueMessage]) -> Vec<QueuedWebhook<Value>> {
    let mut out = Vec::new();
    let mut group: Option<Group> = None;
    let flush = |group: &mut Option<Group>, out: &mut Vec<QueuedWebhook<Value>>| {
        if let Some((_, count, pieces)) = group.take() {
            assert_eq!(pieces.len() as u32, count, "a fragment group is incomplete");
            // The status function sees the pieces in any order.
            let mut refs: Vec<(u32, &str)> = pieces.iter().map(|(i, d)| (*i, d.as_str())).collect();
            refs.reverse();
            let whole = intake::reassemble(count, &refs).expect("fragments reassemble");
            assert!(
                intake::reassemble(count, &refs[1..]).is_err(),
                "a group missing a piece reassembled"
            );
            let queued: QueuedWebhook<Value> =
                serde_json::from_str(&whole).expect("a reassembled body parses");
            assert!(
                !matches!(queued, QueuedWebhook::Fragment { .. }),
                "a reassembled body is itself a fragment"
            );
            out.push(queued);
        }
    };
    for message in messages {
        let queued: QueuedWebhook<Value> =
            serde_json::from_str(&message.body).expect("every queued body parses");
        match queued {
            QueuedWebhook::Fragment {
                received_at,
                group: id,
                index,
                count,
                data,
            } => {
                assert_eq!(received_at, RECEIVED_AT);
                if group.as_ref().is_some_and(|(g, _, _)| *g != id) {
                    flush(&mut group, &mut out);
                }
                let (_, group_count, pieces) =
                    group.get_or_insert_with(|| (id.clone(), count, Vec::new()));
                assert_eq!(
                    *group_count, count,
                    "fragments of one group disagree on count"
                );
                assert_eq!(index as usize, pieces.len(), "fragments out of order");
                pieces.push((index, data));
            }
            other => {
                flush(&mut group, &mut out);
                out.push(other);
            }
        }
    }
    flush(&mut group, &mut out);
    out
}

type Change = (String, String, Value);

/// Merges the parts of each change back into one value: base fields must be
/// the same in every part, item arrays are concatenated in order.
fn merge_parts(bodies: Vec<QueuedWebhook<Value>>) -> Vec<Change> {
    let mut out: Vec<Change> = Vec::new();
    let mut open: Option<(u32, u32)> = None;
    for body in bodies {
        let QueuedWebhook::Change {
            entry_id,
            field,
            received_at,
            part,
            value,
            ..
        } = body
        else {
            panic!("a webhook split queued {body:?}");
        };
        assert_eq!(received_at, RECEIVED_AT);
        let Some(part) = part else {
            assert!(open.is_none(), "a change interrupted the parts of another");
            out.push((entry_id, field, value));
            continue;
        };
        assert!(part.index >= 1 && part.index <= part.count, "{part:?}");
        if part.index == 1 {
            assert!(open.is_none(), "a change interrupted the parts of another");
            out.push((entry_id, field, value));
        } else {
            assert_eq!(
                open,
                Some((part.index - 1, part.count)),
                "parts out of order"
            );
            let last = out.last_mut().expect("a later part has a first part");
            assert_eq!((&last.0, &last.1), (&entry_id, &field));
            let (Value::Object(acc), Value::Object(more)) = (&mut last.2, value) else {
                panic!("only objects are split into parts");
            };
            for (key, v) in more {
                match (acc.get_mut(&key), v) {
                    (Some(Value::Array(a)), Value::Array(b)) if key != "contacts" => a.extend(b),
                    (Some(existing), v) => {
                        assert_eq!(*existing, v, "base field {key} differs between parts")
                    }
                    (None, v) => {
                        acc.insert(key, v);
                    }
                }
            }
        }
        open = (part.index < part.count).then_some((part.index, part.count));
    }
    assert!(open.is_none(), "the last change is missing parts");
    out
}

/// The body's changes as plain JSON sees them.
fn expected_changes(data: &[u8]) -> Vec<Change> {
    let body: Value = serde_json::from_slice(data).expect("a split webhook is JSON");
    let text = |v: Option<&Value>| match v {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => String::new(),
    };
    let empty = Vec::new();
    let mut out = Vec::new();
    for entry in body["entry"].as_array().expect("entry is an array") {
        let id = text(entry.get("id"));
        for change in entry
            .get("changes")
            .and_then(Value::as_array)
            .unwrap_or(&empty)
        {
            out.push((
                id.clone(),
                text(change.get("field")),
                change.get("value").cloned().unwrap_or(Value::Null),
            ));
        }
    }
    out
}

/// The status function's view of a body from its queue: whatever is on the
/// queue parses or is refused, never panics.
fn queued_body(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match serde_json::from_str::<QueuedWebhook<Value>>(text) {
        Ok(QueuedWebhook::Change { value, .. }) => status_view(&MessagesValue::from_value(&value)),
        Ok(QueuedWebhook::Fragment {
            index, count, data, ..
        }) => {
            let _ = intake::reassemble(count, &[(index, data.as_str())]);
        }
        Ok(QueuedWebhook::Raw { .. }) | Err(_) => {}
    }
    // Any value at all becomes a model, never an error.
    if let Ok(value) = serde_json::from_str::<Value>(text) {
        status_view(&MessagesValue::from_value(&value));
    }
}

/// `sqs_safe` leaves only characters SQS accepts and never changes what the
/// JSON means.
fn escaping(data: &[u8]) {
    let text = String::from_utf8_lossy(data).into_owned();
    let safe = intake::sqs_safe(text.clone());
    assert_eq!(
        intake::sqs_safe(safe.clone()),
        safe,
        "escaping is not idempotent"
    );
    if let Ok(before) = serde_json::from_str::<Value>(&text) {
        let after: Value = serde_json::from_str(&safe).expect("escaped JSON still parses");
        assert_eq!(before, after, "escaping changed the JSON's meaning");
    }
}

//! Send requests of every kind and what each must end as, for runs through
//! the whole loop ([`crate::local::LocalStack`]): the end-to-end test and
//! the chaos run build their requests and judge their outcomes here.

use chasqui_cli::sandbox::{CallSummary, Delays};
use serde_json::{Value, json};
use shared::record::{MessageRecord, Status};

/// Status webhooks within a second of the call, shuffled by up to 300 ms.
pub const STATUS_DELAYS: Delays = Delays {
    sent_ms: 100,
    delivered_ms: 300,
    read_ms: 600,
    jitter_ms: 300,
};

/// Meta's codes a sender retries: throttling and transient errors.
pub const RETRIED_CODES: [i64; 2] = [130429, 131000];

/// What a send must end as.
#[derive(Debug, Clone, PartialEq)]
pub enum Expect {
    /// Goes out once and ends in this status.
    Out(Status),
    /// A read receipt: goes out once; Meta sends no statuses for it.
    Receipt,
    /// Refused by Meta once with this code (besides throttles and
    /// transient errors, which are retried), recorded failed.
    Refused(i64),
    /// Accepted once, then a `failed` webhook with this code.
    FailsLater(i64),
    /// Never called: recorded with this status and reason.
    NotSent(Status, &'static str),
}

impl Expect {
    /// The status the message record must end in.
    pub fn final_status(&self) -> Status {
        match self {
            Expect::Out(s) | Expect::NotSent(s, _) => *s,
            Expect::Receipt => Status::Accepted,
            Expect::Refused(_) | Expect::FailsLater(_) => Status::Failed,
        }
    }

    /// Status webhooks Meta sends for it.
    pub fn status_webhooks(&self) -> usize {
        match self {
            Expect::Out(Status::Read) => 3,
            Expect::Out(_) => 2,
            Expect::FailsLater(_) => 1,
            _ => 0,
        }
    }
}

pub struct Case {
    pub id: String,
    pub request: Value,
    pub expect: Expect,
}

/// `+<prefix><n, four digits>`.
pub fn number(prefix: &str, n: usize) -> String {
    format!("+{prefix}{n:04}")
}

/// A template send with text body parameters.
pub fn template(id: &str, to: &str, name: &str, lang: &str, params: &[&str]) -> Value {
    let params: Vec<Value> = params
        .iter()
        .map(|p| json!({"type": "text", "text": p}))
        .collect();
    json!({"id": id, "to": to, "message": {"type": "template", "template": {
        "name": name, "language": {"code": lang},
        "components": [{"type": "body", "parameters": params}]}}})
}

/// A free-form send of `content` (a Cloud API message object).
pub fn message(id: &str, to: &str, content: Value) -> Value {
    json!({"id": id, "to": to, "message": content})
}

/// The four-component `order_update` template with metadata.
pub fn order_update(id: &str, to: &str) -> Value {
    json!({"id": id, "to": to, "message": {"type": "template", "template": {
        "name": "order_update", "language": {"code": "en_US"}, "components": [
            {"type": "header", "parameters": [{"type": "text", "text": "Order A-1"}]},
            {"type": "body", "parameters": [{"type": "text", "text": "Ana"}, {"type": "text", "text": "A-1"}, {"type": "text", "text": "shipped"}]},
            {"type": "button", "sub_type": "url", "index": "0", "parameters": [{"type": "text", "text": "A-1"}]}]}},
        "metadata": {"order": "A-1"}})
}

/// Free-form content of kind `i % 11` (text, media, interactive, location,
/// or a reaction to `inbound_wamid`).
pub fn free_form(i: usize, inbound_wamid: &str) -> Value {
    match i % 11 {
        0..5 => json!({"type": "text", "text": {"body": format!("Resposta {i}: até já / ✓")}}),
        5 | 6 => {
            json!({"type": "image", "image": {"link": "https://example.com/a.png", "caption": "recibo"}})
        }
        7 => {
            json!({"type": "document", "document": {"link": "https://example.com/po.pdf", "filename": "po.pdf"}})
        }
        8 => {
            json!({"type": "interactive", "interactive": {"type": "button", "body": {"text": "Confirma?"},
            "action": {"buttons": [{"type": "reply", "reply": {"id": "yes", "title": "Sim"}}]}}})
        }
        9 => {
            json!({"type": "location", "location": {"latitude": -23.55, "longitude": -46.63, "name": "Loja"}})
        }
        _ => json!({"type": "reaction", "reaction": {"message_id": inbound_wamid, "emoji": "👍"}}),
    }
}

/// Whether a message's record and its Cloud API calls are what `expect`
/// calls for; the first thing that is not, otherwise.
pub fn check(
    expect: &Expect,
    record: Option<&MessageRecord>,
    calls: &CallSummary,
) -> Result<(), String> {
    let Some(record) = record else {
        return Err("no record".into());
    };
    let ensure = |ok: bool, what: &str| if ok { Ok(()) } else { Err(what.to_owned()) };
    ensure(
        record.status() == expect.final_status(),
        &format!("status {:?}", record.status()),
    )?;
    let retried = calls
        .refused
        .iter()
        .filter(|c| RETRIED_CODES.contains(c))
        .count();
    let final_refusals: Vec<i64> = calls
        .refused
        .iter()
        .copied()
        .filter(|c| !RETRIED_CODES.contains(c))
        .collect();
    match expect {
        Expect::Out(status) => {
            ensure(calls.delivered == 1, "not exactly one accepted call")?;
            ensure(final_refusals.is_empty(), "refused for good")?;
            ensure(
                calls.calls == 1 + retried,
                "calls besides the accepted one and the retried refusals",
            )?;
            ensure(record.wamid.is_some(), "no wamid")?;
            let t = &record.times;
            ensure(
                t.accepted_at.is_some() && t.sent_at.is_some() && t.delivered_at.is_some(),
                "accepted, sent or delivered time missing",
            )?;
            if *status == Status::Read {
                // However the webhooks arrived, every status is kept and
                // Meta's timestamps keep their order.
                match (t.sent_at, t.delivered_at, t.read_at) {
                    (Some(s), Some(d), Some(r)) if s <= d && d <= r => {}
                    other => return Err(format!("status times out of order: {other:?}")),
                }
            } else {
                ensure(t.read_at.is_none(), "read though the recipient never reads")?;
            }
        }
        Expect::Receipt => ensure(record.times.accepted_at.is_some(), "no accepted time")?,
        Expect::Refused(code) => {
            ensure(calls.delivered == 0, "went out")?;
            ensure(
                final_refusals == vec![*code],
                &format!("refusals {final_refusals:?}: one call, refused, never retried"),
            )?;
            let error = record.error.as_ref().ok_or("the failure is not recorded")?;
            ensure(error.code == Some(*code), "another error code recorded")?;
            ensure(
                error.details.as_deref().is_some_and(|d| !d.is_empty()),
                "Meta's details not kept",
            )?;
        }
        Expect::FailsLater(code) => {
            ensure(calls.delivered == 1, "not exactly one accepted call")?;
            ensure(
                record.errors.first().and_then(|e| e.code) == Some(*code),
                "the failed webhook's code is not recorded",
            )?;
        }
        Expect::NotSent(status, reason) => {
            ensure(calls.calls == 0, "called though it must not go out")?;
            let why = record.suppressed_reason.clone().or_else(|| {
                record
                    .error
                    .as_ref()
                    .and_then(|e| e.details.clone().or(e.message.clone()))
            });
            match status {
                Status::Suppressed => ensure(why.as_deref() == Some(*reason), "another reason")?,
                _ => ensure(record.error.is_some(), "no error recorded")?,
            }
        }
    }
    Ok(())
}

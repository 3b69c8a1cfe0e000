//! `chasqui status ID [--watch]`: the message record, its derived status
//! (`shared::record`) and its timeline.

use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::{Value, json};
use shared::record::{MessageRecord, Status};
use shared::table;
use shared::table::attr::message as attr;
use shared::table::dynamo::{Item, message_record, to_json};

use super::{CliError, Output};
use crate::clock;
use crate::target::Target;

/// A record as stored, typed and raw.
#[derive(Debug, Clone)]
pub struct Found {
    pub record: MessageRecord,
    pub item: Item,
}

/// The record of `id`, if the sender or a status webhook wrote one.
pub async fn fetch(target: &Target, id: &str) -> Result<Option<Found>, CliError> {
    let out = target
        .dynamodb()
        .get_item()
        .table_name(target.table()?)
        .key(
            table::PK,
            AttributeValue::S(table::message_pk(&target.tenant, id)),
        )
        .key(table::SK, AttributeValue::S(table::MESSAGE_SK.to_owned()))
        .consistent_read(true)
        .send()
        .await
        .map_err(|e| CliError::aws("reading the message record", e))?;
    let Some(item) = out.item else {
        return Ok(None);
    };
    let record = message_record(&item)
        .map_err(|e| CliError::new(format!("the record of {id} is unreadable: {e}")))?;
    Ok(Some(Found { record, item }))
}

/// Nothing will change it any more: failed, suppressed, read, or a read
/// receipt Meta accepted (receipts get no statuses).
pub fn is_final(record: &MessageRecord) -> bool {
    let status = record.status();
    status.is_terminal()
        || status == Status::Read
        || (record.kind.as_deref() == Some("read") && status == Status::Accepted)
}

/// `(status, at)` pairs in the order of the steps
/// (`MessageRecord::timeline`).
pub fn timeline(record: &MessageRecord) -> Vec<(&'static str, u64)> {
    record.timeline()
}

/// Why a message failed, in one line (`131026 Message undeliverable: ...`).
pub fn reason(found: &Found) -> Option<String> {
    let r = &found.record;
    if let Some(why) = &r.suppressed_reason {
        return Some(format!("suppressed: {why}"));
    }
    let e = r.error.clone().or_else(|| r.errors.first().cloned())?;
    let mut text = String::new();
    if let Some(code) = e.code {
        text.push_str(&format!("{code} "));
    }
    let title = e
        .title
        .as_deref()
        .or(e.message.as_deref())
        .unwrap_or("failed");
    // Meta prefixes its messages with the code: "(#131047) Re-engagement message".
    let title = match title.strip_prefix("(#") {
        Some(rest) => rest.split_once(") ").map_or(title, |(_, t)| t),
        None => title,
    };
    text.push_str(title);
    if let Some(d) = e
        .details
        .as_deref()
        .filter(|d| Some(*d) != e.title.as_deref())
    {
        text.push_str(&format!(": {d}"));
    }
    if let Some(class) = &e.class {
        text.push_str(&format!(" [{class}]"));
    }
    Some(text)
}

/// The human-readable record.
pub fn describe(id: &str, found: &Found) -> String {
    let r = &found.record;
    let mut lines = vec![format!("{id}: {}", r.status())];
    let what = match (&r.template_name, &r.template_language) {
        (Some(name), Some(lang)) => format!("template {name} ({lang})"),
        _ => r.kind.clone().unwrap_or_else(|| "unknown".into()),
    };
    lines.push(format!(
        "  message    {what} to {} from {}",
        r.recipient.as_deref().unwrap_or("-"),
        r.phone_number_id.as_deref().unwrap_or("-")
    ));
    if let Some(wamid) = &r.wamid {
        lines.push(format!("  wamid      {wamid}"));
    }
    if let Some(send_at) = r.send_at {
        lines.push(format!("  send_at    {}", clock::iso(send_at)));
    }
    for (name, at) in timeline(r) {
        lines.push(format!("  {name:<10} {}", clock::iso(at)));
    }
    if let Some(attempts) = r.attempts {
        lines.push(format!("  attempts   {attempts}"));
    }
    if let Some(why) = reason(found) {
        lines.push(format!("  reason     {why}"));
    }
    if let Some(last) = found.item.get(attr::LAST_ERROR).map(to_json) {
        let code = last
            .get("code")
            .map(|c| format!("{c} "))
            .unwrap_or_default();
        let msg = last
            .get("message")
            .and_then(Value::as_str)
            .unwrap_or_default();
        lines.push(format!("  last retry {code}{msg}"));
    }
    lines.join("\n")
}

fn as_json(id: &str, found: &Found) -> Value {
    json!({
        "id": id,
        "status": found.record.status(),
        "final": is_final(&found.record),
        "timeline": timeline(&found.record).iter().map(|(n, at)| json!({"status": n, "at": at})).collect::<Vec<_>>(),
        "reason": reason(found),
        "record": to_json(&AttributeValue::M(found.item.clone())),
    })
}

pub async fn run(target: &Target, out: Output, id: &str) -> Result<(), CliError> {
    match fetch(target, id).await? {
        Some(found) => {
            out.result(&describe(id, &found), &as_json(id, &found));
            Ok(())
        }
        None => Err(CliError::new(format!("no record for {id}"))
            .hint("the sender writes it when it picks the request up: is the stack running? (`make dev`, or check SEND_QUEUE_URL/TABLE_NAME)")),
    }
}

/// Follows a message, printing each change, until it is final.
pub async fn watch(
    target: &Target,
    id: &str,
    timeout: Duration,
    mut on_change: impl FnMut(&Found),
) -> Result<Found, CliError> {
    let deadline = Instant::now() + timeout;
    let mut last: Option<(Status, usize)> = None;
    loop {
        let found = fetch(target, id).await?;
        if let Some(found) = &found {
            let now = (found.record.status(), timeline(&found.record).len());
            if last != Some(now) {
                on_change(found);
                last = Some(now);
            }
            if is_final(&found.record) {
                return Ok(found.clone());
            }
        }
        if Instant::now() >= deadline {
            let state = found.map_or("no record yet".to_owned(), |f| {
                f.record.status().to_string()
            });
            return Err(CliError::new(format!("{id} is not final after {timeout:?} ({state})"))
                .hint("is the stack running? `make dev` prints what runs; `chasqui dlq list` shows dead letters")
                .code(3));
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

pub async fn run_watch(
    target: &Target,
    out: Output,
    id: &str,
    timeout: Duration,
) -> Result<(), CliError> {
    let found = watch(target, id, timeout, |f| {
        let at = timeline(&f.record)
            .last()
            .map(|(_, at)| clock::iso(*at))
            .unwrap_or_default();
        out.progress(&format!("{at}  {id}: {}", f.record.status()));
    })
    .await?;
    out.result(&describe(id, &found), &as_json(id, &found));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::record::StatusTimes;

    #[test]
    fn final_states_and_timeline() {
        let mut r = MessageRecord {
            times: StatusTimes {
                accepted_at: Some(10),
                sent_at: Some(20),
                delivered_at: Some(20),
                ..Default::default()
            },
            ..Default::default()
        };
        assert!(!is_final(&r));
        r.times.sent_at = Some(5);
        assert_eq!(
            timeline(&r),
            vec![("accepted", 10), ("sent", 5), ("delivered", 20)]
        );
        r.times.read_at = Some(15);
        assert!(is_final(&r));
        let receipt = MessageRecord {
            kind: Some("read".into()),
            times: StatusTimes {
                accepted_at: Some(1),
                ..Default::default()
            },
            ..Default::default()
        };
        assert!(is_final(&receipt));
        let suppressed = MessageRecord {
            times: StatusTimes {
                suppressed_at: Some(1),
                ..Default::default()
            },
            ..Default::default()
        };
        assert!(is_final(&suppressed));
    }
}

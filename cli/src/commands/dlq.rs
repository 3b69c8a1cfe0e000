//! `chasqui dlq list|replay`: what is in the dead-letter queues, why, and
//! putting it back.
//!
//! Why: a webhook change the status function parked, and a callback
//! delivery the callbacks function parked, carry a `failure_reason`
//! attribute; a send request or a media job moved by its queue's redrive
//! policy carries nothing, so its reason is the record: the sender's
//! (`error` or `last_error`), or the inbound record's `media` (`reason`
//! and `detail`). A replayed send request keeps its message id (the SQS
//! one is written into the body when it had none), so it is still sent at
//! most once. Parked callbacks are listed here with every tenant's; they
//! are sent again with `chasqui callbacks replay`, which starts a fresh
//! retry window.

use std::collections::{HashMap, HashSet};

use aws_sdk_sqs::types::{Message, MessageAttributeValue, MessageSystemAttributeName};
use serde_json::{Value, json};

use shared::media::MediaJob;

use super::{CliError, Output, status};
use crate::clock;
use crate::target::Target;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Which {
    /// The send queue's DLQ: send requests the sender gave up on.
    Sender,
    /// The webhook queue's DLQ: webhook changes the status function parked.
    Webhook,
    /// The media queue's DLQ: inbound media downloads given up on.
    Media,
    /// The callbacks DLQ: deliveries parked after `CALLBACK_RETRY_HOURS`
    /// (listed only: `chasqui callbacks replay` sends them again).
    Callbacks,
}

impl Which {
    fn name(self) -> &'static str {
        match self {
            Which::Sender => "sender",
            Which::Webhook => "webhook",
            Which::Media => "media",
            Which::Callbacks => "callbacks",
        }
    }

    /// The queues `dlq list` reads without `--queue`: the send and webhook
    /// ones always, the media and callbacks ones where the stack names them.
    pub fn listed(target: &Target) -> Vec<Which> {
        let r = &target.resources;
        [
            (Which::Sender, true),
            (Which::Webhook, true),
            (Which::Media, r.media_dlq_url.is_some()),
            (Which::Callbacks, r.callbacks_dlq_url.is_some()),
        ]
        .into_iter()
        .filter_map(|(which, named)| named.then_some(which))
        .collect()
    }

    fn dlq(self, target: &Target) -> Result<String, CliError> {
        Ok(match self {
            Which::Sender => target.send_dlq()?,
            Which::Webhook => target.webhook_dlq()?,
            Which::Media => target.media_dlq()?,
            Which::Callbacks => target.callbacks_dlq()?,
        }
        .to_owned())
    }

    fn source(self, target: &Target) -> Result<String, CliError> {
        Ok(match self {
            Which::Sender => target.send_queue()?,
            Which::Webhook => target.webhook_queue()?,
            Which::Media => target.media_queue()?,
            Which::Callbacks => {
                return Err(CliError::new(
                    "parked callbacks are not moved back: they stay as evidence",
                )
                .hint("send the events again with `chasqui callbacks replay --event ID` (or --since TIME), which gives them a fresh retry window")
                .code(2));
            }
        }
        .to_owned())
    }
}

/// Attributes the status function adds when it parks a change; a replay
/// leaves them behind (the callbacks function adds them too).
const PARKING: &[&str] = &["failure_reason", "failed_message_id", "receive_count"];

/// One dead letter, described.
#[derive(Debug, Clone)]
pub struct Letter {
    pub queue: &'static str,
    pub sqs_message_id: String,
    pub id: Option<String>,
    pub summary: String,
    pub reason: String,
    pub sent_at: Option<u64>,
    pub receives: Option<u64>,
}

impl Letter {
    fn json(&self) -> Value {
        json!({
            "queue": self.queue, "sqs_message_id": self.sqs_message_id, "id": self.id,
            "summary": self.summary, "reason": self.reason, "sent_at": self.sent_at,
            "receive_count": self.receives,
        })
    }
}

/// Up to `limit` messages of `queue`, each once, left in flight for
/// `visibility` seconds.
pub(super) async fn receive(
    target: &Target,
    queue: &str,
    limit: usize,
    visibility: i32,
) -> Result<Vec<Message>, CliError> {
    let sqs = target.sqs();
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    while out.len() < limit {
        let got = sqs
            .receive_message()
            .queue_url(queue)
            .max_number_of_messages((limit - out.len()).min(10) as i32)
            .visibility_timeout(visibility)
            .wait_time_seconds(0)
            .message_attribute_names("All")
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .send()
            .await
            .map_err(|e| CliError::aws("reading the dead-letter queue", e))?
            .messages
            .unwrap_or_default();
        let fresh: Vec<Message> = got
            .into_iter()
            .filter(|m| seen.insert(m.message_id().unwrap_or_default().to_owned()))
            .collect();
        if fresh.is_empty() {
            break;
        }
        out.extend(fresh);
    }
    Ok(out)
}

async fn describe(target: &Target, which: Which, m: &Message) -> Letter {
    let attr = |name: &str| {
        m.message_attributes()
            .and_then(|a| a.get(name))
            .and_then(|v| v.string_value())
            .map(str::to_owned)
    };
    let system = |name: MessageSystemAttributeName| {
        m.attributes()
            .and_then(|a| a.get(&name))
            .and_then(|v| v.parse::<u64>().ok())
    };
    let body = m.body().unwrap_or_default();
    let parsed: Option<Value> = serde_json::from_str(body).ok();
    let sqs_message_id = m.message_id().unwrap_or_default().to_owned();
    let (id, summary, reason) = match which {
        Which::Sender => {
            let id = parsed
                .as_ref()
                .and_then(|v| v.get("id"))
                .and_then(Value::as_str)
                .map(str::to_owned)
                .unwrap_or_else(|| sqs_message_id.clone());
            let summary = parsed
                .as_ref()
                .map_or("not JSON".to_owned(), super::send::describe);
            let reason = match status::fetch(target, &id).await {
                Ok(Some(found)) => status::reason(&found)
                    .or_else(|| {
                        found
                            .item
                            .get(shared::table::attr::message::LAST_ERROR)
                            .map(|e| {
                                let e = shared::table::dynamo::to_json(e);
                                format!(
                                    "{}{}",
                                    e.get("code").map(|c| format!("{c} ")).unwrap_or_default(),
                                    e.get("message").and_then(Value::as_str).unwrap_or("failed")
                                )
                            })
                    })
                    .unwrap_or_else(|| {
                        format!("moved after its retries (status {})", found.record.status())
                    }),
                Ok(None) => "no record: the sender never processed it (see its log)".to_owned(),
                Err(e) => format!("record unreadable: {}", e.message),
            };
            (Some(id), summary, reason)
        }
        Which::Webhook => {
            let summary = format!(
                "{} {} for {}",
                attr("kind").unwrap_or_else(|| "change".into()),
                attr("field").unwrap_or_default(),
                attr("phone_number_id").unwrap_or_else(|| "?".into())
            );
            let reason = attr("failure_reason").unwrap_or_else(|| {
                "moved by the queue's redrive policy after its receives (see the status function's log)".into()
            });
            (attr("failed_message_id"), summary, reason)
        }
        Which::Media => media_letter(target, body).await,
        Which::Callbacks => {
            let summary = format!(
                "{} of tenant {} to endpoint {}",
                attr("event_id").unwrap_or_else(|| "a record".into()),
                attr("tenant").unwrap_or_else(|| "?".into()),
                attr("endpoint_id").unwrap_or_else(|| "?".into())
            );
            let reason = attr("failure_reason").unwrap_or_else(|| {
                "moved by the queue's redrive policy after its receives (see the callbacks function's log)".into()
            });
            (attr("event_id"), summary, reason)
        }
    };
    Letter {
        queue: which.name(),
        sqs_message_id,
        id,
        summary,
        reason,
        sent_at: system(MessageSystemAttributeName::SentTimestamp),
        receives: attr("receive_count")
            .and_then(|c| c.parse().ok())
            .or(system(MessageSystemAttributeName::ApproximateReceiveCount)),
    }
}

/// A media job in the dead-letter queue: its inbound message's id, what it
/// was, and why from the inbound record's `media`.
async fn media_letter(target: &Target, body: &str) -> (Option<String>, String, String) {
    let Ok(job) = serde_json::from_str::<MediaJob>(body) else {
        return (
            None,
            "not a media job".into(),
            "unreadable: moved after its receives (see the media function's log)".into(),
        );
    };
    let summary = format!(
        "{} {} of message {} to {}",
        job.kind, job.media_id, job.inbound_id, job.phone_number_id
    );
    let key = shared::table::dynamo::key(
        shared::table::contact_pk(&job.tenant, &job.phone_number_id, &job.customer_id),
        shared::table::inbound_sk(job.at, &job.inbound_id),
    );
    let record = match target.table() {
        Ok(table) => {
            shared::table::dynamo::get_item(&target.dynamodb(), table, key, "GetItem inbound").await
        }
        Err(e) => return (Some(job.inbound_id), summary, e.message),
    };
    let media = match record {
        Ok(item) => item.and_then(|i| {
            i.get(shared::table::attr::inbound::MEDIA)
                .map(shared::table::dynamo::to_json)
        }),
        Err(e) => {
            return (
                Some(job.inbound_id),
                summary,
                format!("record unreadable: {e}"),
            );
        }
    };
    let text = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).map(str::to_owned);
    let reason = match media {
        Some(m) => match (text(&m, "reason"), text(&m, "detail")) {
            (Some(r), Some(d)) => format!("{r}: {d}"),
            (Some(r), None) => r,
            _ => format!(
                "moved after its receives (media {})",
                text(&m, "state").unwrap_or_else(|| "?".into())
            ),
        },
        None => "no inbound record (past its retention?)".into(),
    };
    (Some(job.inbound_id), summary, reason)
}

/// Every dead letter (up to `limit` per queue), described.
pub async fn letters(
    target: &Target,
    queues: &[Which],
    limit: usize,
) -> Result<Vec<Letter>, CliError> {
    let mut all = Vec::new();
    for &which in queues {
        let dlq = which.dlq(target)?;
        let messages = receive(target, &dlq, limit, 5).await?;
        for m in &messages {
            all.push(describe(target, which, m).await);
        }
        // Visible again at once: listing takes nothing away.
        let sqs = target.sqs();
        for m in &messages {
            if let Some(handle) = m.receipt_handle() {
                let _ = sqs
                    .change_message_visibility()
                    .queue_url(&dlq)
                    .receipt_handle(handle)
                    .visibility_timeout(0)
                    .send()
                    .await;
            }
        }
    }
    Ok(all)
}

pub async fn list(
    target: &Target,
    out: Output,
    queue: Option<Which>,
    limit: usize,
) -> Result<(), CliError> {
    let queues = match queue {
        Some(q) => vec![q],
        None => Which::listed(target),
    };
    let letters = letters(target, &queues, limit).await?;
    let human = if letters.is_empty() {
        "no dead letters".to_owned()
    } else {
        letters
            .iter()
            .map(|l| {
                format!(
                    "[{}] {} {}\n    {}\n    reason: {}",
                    l.queue,
                    l.id.as_deref().unwrap_or(&l.sqs_message_id),
                    l.sent_at.map(clock::iso).unwrap_or_default(),
                    l.summary,
                    l.reason
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
            + "\n  replay: chasqui dlq replay --queue sender|webhook|media [--limit N]; callbacks: chasqui callbacks replay"
    };
    out.result(
        &human,
        &json!(letters.iter().map(Letter::json).collect::<Vec<_>>()),
    );
    Ok(())
}

/// Moves up to `limit` dead letters back to their source queue.
pub async fn replay(
    target: &Target,
    out: Output,
    which: Which,
    limit: usize,
) -> Result<(), CliError> {
    let source = which.source(target)?;
    let dlq = which.dlq(target)?;
    let sqs = target.sqs();
    let messages = receive(target, &dlq, limit, 60).await?;
    let mut replayed = Vec::new();
    for m in &messages {
        let sqs_id = m.message_id().unwrap_or_default().to_owned();
        let mut body = m.body().unwrap_or_default().to_owned();
        if which == Which::Sender
            && let Ok(Value::Object(mut map)) = serde_json::from_str::<Value>(&body)
            && !map.contains_key("id")
        {
            // The sender keyed it by its SQS message id; keep that key.
            map.insert("id".into(), Value::String(sqs_id.clone()));
            body = Value::Object(map).to_string();
        }
        let attributes: HashMap<String, MessageAttributeValue> = m
            .message_attributes()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .filter(|(k, _)| !PARKING.contains(&k.as_str()))
            .collect();
        sqs.send_message()
            .queue_url(&source)
            .message_body(&body)
            .set_message_attributes((!attributes.is_empty()).then_some(attributes))
            .send()
            .await
            .map_err(|e| CliError::aws("putting the message back on its queue", e))?;
        if let Some(handle) = m.receipt_handle() {
            sqs.delete_message()
                .queue_url(&dlq)
                .receipt_handle(handle)
                .send()
                .await
                .map_err(|e| {
                    CliError::aws("deleting the replayed message from the DLQ (it was replayed; it may be replayed twice)", e)
                })?;
        }
        out.progress(&format!("replayed {sqs_id} to {}", which.name()));
        replayed.push(sqs_id);
    }
    out.result(
        &format!(
            "{} message(s) replayed from the {} DLQ",
            replayed.len(),
            which.name()
        ),
        &json!({"queue": which.name(), "replayed": replayed}),
    );
    Ok(())
}

//! `chasqui dlq list|replay`: what is in the dead-letter queues, why, and
//! putting it back.
//!
//! Why: a webhook change the status function parked carries its
//! `failure_reason` attribute; a send request moved by the queue's redrive
//! policy carries nothing, so its reason is the sender's record
//! (`error` or `last_error`). A replayed send request keeps its message id
//! (the SQS one is written into the body when it had none), so it is still
//! sent at most once.

use std::collections::{HashMap, HashSet};

use aws_sdk_sqs::types::{Message, MessageAttributeValue, MessageSystemAttributeName};
use serde_json::{Value, json};

use super::{CliError, Output, status};
use crate::clock;
use crate::target::Target;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Which {
    /// The send queue's DLQ: send requests the sender gave up on.
    Sender,
    /// The webhook queue's DLQ: webhook changes the status function parked.
    Webhook,
}

impl Which {
    fn name(self) -> &'static str {
        match self {
            Which::Sender => "sender",
            Which::Webhook => "webhook",
        }
    }

    fn dlq(self, target: &Target) -> Result<String, CliError> {
        Ok(match self {
            Which::Sender => target.send_dlq()?,
            Which::Webhook => target.webhook_dlq()?,
        }
        .to_owned())
    }

    fn source(self, target: &Target) -> Result<String, CliError> {
        Ok(match self {
            Which::Sender => target.send_queue()?,
            Which::Webhook => target.webhook_queue()?,
        }
        .to_owned())
    }
}

/// Attributes the status function adds when it parks a change; a replay
/// leaves them behind.
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

async fn receive(
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
        None => vec![Which::Sender, Which::Webhook],
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
            + "\n  replay: chasqui dlq replay --queue sender|webhook [--limit N]"
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
    let dlq = which.dlq(target)?;
    let source = which.source(target)?;
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

//! The last attempt: a record that still cannot be applied is sent to the
//! dead-letter queue by the function itself, with the reason, so the DLQ
//! says why (SQS's own redrive would move it silently).

use async_trait::async_trait;
use aws_sdk_sqs::types::MessageAttributeValue;
use shared::error::Cause;
use shared::intake::sqs_safe;
use shared::queue::QueueError;
use shared::sqs::MessageAttribute;

/// Longest `failure_reason` attached; the full error is in the logs.
const MAX_REASON_CHARS: usize = 1024;
/// SQS allows ten message attributes.
const MAX_ATTRIBUTES: usize = 10;

/// What goes to the dead-letter queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    pub body: String,
    pub attributes: Vec<MessageAttribute>,
    pub reason: String,
    /// The SQS message id of the failed record.
    pub message_id: String,
    pub receive_count: u32,
}

/// Port: the dead-letter queue.
#[async_trait]
pub trait DeadLetters: Send + Sync {
    async fn send(&self, letter: &DeadLetter) -> Result<(), QueueError>;
}

/// Adapter: an SQS queue.
pub struct SqsDeadLetters {
    client: aws_sdk_sqs::Client,
    queue_url: String,
}

impl SqsDeadLetters {
    pub fn new(client: aws_sdk_sqs::Client, queue_url: impl Into<String>) -> Self {
        Self {
            client,
            queue_url: queue_url.into(),
        }
    }

    fn error(&self, source: impl Into<Cause>) -> QueueError {
        QueueError::Unavailable {
            queue_url: self.queue_url.clone(),
            source: source.into(),
        }
    }
}

/// The attributes a dead letter carries: ours first (they must survive the
/// ten-attribute limit), then the original ones.
pub fn attributes(letter: &DeadLetter) -> Vec<MessageAttribute> {
    let reason: String = letter.reason.chars().take(MAX_REASON_CHARS).collect();
    let mut out = vec![
        MessageAttribute {
            name: "failure_reason".into(),
            data_type: "String".into(),
            value: sqs_safe(if reason.is_empty() {
                "unknown".into()
            } else {
                reason
            }),
        },
        MessageAttribute {
            name: "failed_message_id".into(),
            data_type: "String".into(),
            value: if letter.message_id.is_empty() {
                "none".into()
            } else {
                letter.message_id.clone()
            },
        },
        MessageAttribute {
            name: "receive_count".into(),
            data_type: "Number".into(),
            value: letter.receive_count.to_string(),
        },
    ];
    for a in &letter.attributes {
        if out.len() == MAX_ATTRIBUTES {
            break;
        }
        if out.iter().any(|o| o.name == a.name) || a.value.is_empty() {
            continue;
        }
        out.push(a.clone());
    }
    out
}

#[async_trait]
impl DeadLetters for SqsDeadLetters {
    async fn send(&self, letter: &DeadLetter) -> Result<(), QueueError> {
        let mut request = self
            .client
            .send_message()
            .queue_url(&self.queue_url)
            // SQS refuses an empty body; say what there was instead.
            .message_body(if letter.body.is_empty() {
                "(the record had no body)"
            } else {
                &letter.body
            });
        for a in attributes(letter) {
            let value = MessageAttributeValue::builder()
                .data_type(&a.data_type)
                .string_value(&a.value)
                .build()
                .map_err(|e| self.error(e))?;
            request = request.message_attributes(&a.name, value);
        }
        request.send().await.map_err(|e| self.error(e))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn our_attributes_come_first_and_the_limit_holds() {
        let letter = DeadLetter {
            body: "{}".into(),
            attributes: (0..12)
                .map(|i| MessageAttribute {
                    name: if i == 0 {
                        "failure_reason".into()
                    } else {
                        format!("a{i}")
                    },
                    data_type: "String".into(),
                    value: "v".into(),
                })
                .collect(),
            reason: "x".repeat(5000),
            message_id: "m-1".into(),
            receive_count: 5,
        };
        let attrs = attributes(&letter);
        assert_eq!(attrs.len(), MAX_ATTRIBUTES);
        assert_eq!(attrs[0].name, "failure_reason");
        assert_eq!(attrs[0].value.len(), MAX_REASON_CHARS);
        assert_eq!(
            attrs.iter().filter(|a| a.name == "failure_reason").count(),
            1
        );
        assert_eq!(attrs[2].value, "5");
    }
}

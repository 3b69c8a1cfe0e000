//! The AWS side of scheduled sends: [`EventBridgeTimer`] sets a fire
//! (EventBridge Scheduler one-time schedule, or a delayed SQS message when
//! `send_at` is near) and clears it; [`cancel`] cancels a message before
//! it goes.

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::ReturnValue;
use aws_sdk_scheduler::error::SdkError;
use aws_sdk_scheduler::operation::create_schedule::CreateScheduleError;
use aws_sdk_scheduler::operation::delete_schedule::DeleteScheduleError;
use aws_sdk_scheduler::types::{
    ActionAfterCompletion, DeadLetterConfig, FlexibleTimeWindow, FlexibleTimeWindowMode, Target,
};

use super::{Fire, MAX_QUEUE_DELAY_SECONDS, at_expression, schedule_name};
use crate::clients::Lazy;
use crate::config::ScheduleSettings;
use crate::error::{Cause, Chain};
use crate::events::publish::EventPublisher;
use crate::events::{Event, StatusChanged};
use crate::queue::QueueError;
use crate::record::{MessageRecord, Status};
use crate::store::StoreError;
use crate::table;
use crate::table::attr::message as attr;
use crate::table::dynamo::{Conditional, Item, Update, message_key, message_record, n};

/// Setting or clearing a fire failed; a retry may help (the calls are
/// idempotent).
#[derive(Debug, thiserror::Error)]
#[error("{operation} failed: {}", Chain(source.as_ref()))]
pub struct ScheduleError {
    /// The call (`CreateSchedule`, `DeleteSchedule`, `SendMessage`).
    pub operation: &'static str,
    /// What the SDK or the service reported, whole.
    #[source]
    pub source: Cause,
}

/// Port: makes a scheduled message's fire arrive on the send queue at its
/// time, or takes it back.
#[async_trait]
pub trait Timer: Send + Sync {
    /// Sets the fire of `tenant`'s message `id` for `send_at_ms`. Setting
    /// the same fire again is harmless.
    async fn set(
        &self,
        tenant: &str,
        id: &str,
        send_at_ms: u64,
        now_ms: u64,
    ) -> Result<(), ScheduleError>;
    /// Deletes the message's schedule; none is fine (already fired, a
    /// delayed message, or never set).
    async fn clear(&self, tenant: &str, id: &str) -> Result<(), ScheduleError>;
}

/// Adapter: one-time schedules in the stack's schedule group, whose target
/// is the send queue; a `send_at` within SQS's longest delay (15 minutes)
/// is a delayed message on the send queue instead.
#[derive(Clone)]
pub struct EventBridgeTimer {
    // Made at the first schedule, not at cold start (`crate::clients`):
    // most sends are not scheduled.
    scheduler: Lazy<aws_sdk_scheduler::Client>,
    sqs: Lazy<aws_sdk_sqs::Client>,
    queue_url: String,
    settings: ScheduleSettings,
}

impl EventBridgeTimer {
    /// The timer of the send queue at `queue_url` (`settings` names its
    /// ARN, the group and the role Scheduler assumes).
    pub fn new(
        aws: &aws_config::SdkConfig,
        queue_url: impl Into<String>,
        settings: ScheduleSettings,
    ) -> Self {
        Self {
            scheduler: Lazy::new(aws, aws_sdk_scheduler::Client::new),
            sqs: Lazy::new(aws, aws_sdk_sqs::Client::new),
            queue_url: queue_url.into(),
            settings,
        }
    }

    fn error(operation: &'static str, source: impl Into<Cause>) -> ScheduleError {
        ScheduleError {
            operation,
            source: source.into(),
        }
    }
}

#[async_trait]
impl Timer for EventBridgeTimer {
    async fn set(
        &self,
        tenant: &str,
        id: &str,
        send_at_ms: u64,
        now_ms: u64,
    ) -> Result<(), ScheduleError> {
        let input = Fire::new(tenant, id).body();
        let wait = Duration::from_millis(send_at_ms.saturating_sub(now_ms));
        if wait.as_secs() < MAX_QUEUE_DELAY_SECONDS {
            // Whole seconds, rounded up: never early.
            let delay = wait.as_millis().div_ceil(1000) as i32;
            self.sqs
                .get()
                .send_message()
                .queue_url(&self.queue_url)
                .message_body(input)
                .delay_seconds(delay)
                .send()
                .await
                .map_err(|e| Self::error("SendMessage", e))?;
            return Ok(());
        }
        let window = FlexibleTimeWindow::builder()
            .mode(FlexibleTimeWindowMode::Off)
            .build()
            .map_err(|e| Self::error("CreateSchedule", e))?;
        let target = Target::builder()
            .arn(&self.settings.send_queue_arn)
            .role_arn(&self.settings.role_arn)
            .input(input)
            .set_dead_letter_config(
                self.settings
                    .dead_letter_arn
                    .as_ref()
                    .map(|arn| DeadLetterConfig::builder().arn(arn).build()),
            )
            .build()
            .map_err(|e| Self::error("CreateSchedule", e))?;
        let result = self
            .scheduler
            .get()
            .create_schedule()
            .name(schedule_name(tenant, id))
            .group_name(&self.settings.group)
            .schedule_expression(at_expression(send_at_ms))
            .schedule_expression_timezone("UTC")
            .flexible_time_window(window)
            .action_after_completion(ActionAfterCompletion::Delete)
            .target(target)
            .send()
            .await;
        // The same name: an earlier attempt created it.
        done_or("CreateSchedule", result, |e| {
            matches!(e, CreateScheduleError::ConflictException(_))
        })
    }

    async fn clear(&self, tenant: &str, id: &str) -> Result<(), ScheduleError> {
        let result = self
            .scheduler
            .get()
            .delete_schedule()
            .name(schedule_name(tenant, id))
            .group_name(&self.settings.group)
            .send()
            .await;
        done_or("DeleteSchedule", result, |e| {
            matches!(e, DeleteScheduleError::ResourceNotFoundException(_))
        })
    }
}

/// An idempotent call's result: done, also when it failed with what
/// `already` says is the work of an earlier call.
fn done_or<T, E, R>(
    operation: &'static str,
    result: Result<T, SdkError<E, R>>,
    already: impl FnOnce(&E) -> bool,
) -> Result<(), ScheduleError>
where
    SdkError<E, R>: Into<Cause>,
{
    match result {
        Ok(_) => Ok(()),
        Err(e) if e.as_service_error().is_some_and(already) => Ok(()),
        Err(e) => Err(EventBridgeTimer::error(operation, e)),
    }
}

/// How a cancel ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cancel {
    /// The message is cancelled (now or by an earlier call): it never goes.
    Cancelled,
    /// Too late: the sender had claimed it (it is being sent, or went, or
    /// ended). The status it had (`pending` while the sender holds it).
    AlreadyGone(Status),
    /// No message of this tenant has this id (or its record expired). A
    /// request still on the queue that the sender has not read has no
    /// record yet either.
    Unknown,
}

/// Cancelling failed; cancelling again is safe.
#[derive(Debug, thiserror::Error)]
pub enum CancelError {
    /// The record could not be read or written.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The record says cancelled, but its schedule could not be deleted
    /// (the fire that comes is dropped anyway).
    #[error(transparent)]
    Schedule(#[from] ScheduleError),
    /// The record says cancelled, but the `cancelled` event was not
    /// published.
    #[error("the cancelled event was not published: {0}")]
    Event(#[from] QueueError),
}

/// Cancels `tenant`'s message `id` (`chasqui send cancel`, `DELETE
/// /v1/messages/{id}`): one conditional write of `cancelled_at` that holds
/// only while the sender has not claimed the message (no `send_state`, no
/// outcome), then the schedule's deletion (none is fine) and the
/// `message.status_changed` event. The sender's claim refuses a cancelled
/// message, so a cancel racing the fire is safe either way: exactly one of
/// them wins. Cancelling a cancelled message answers `Cancelled` again
/// (and deletes and announces again: idempotent).
pub async fn cancel(
    dynamodb: &aws_sdk_dynamodb::Client,
    table_name: &str,
    timer: &dyn Timer,
    events: &dyn EventPublisher,
    tenant: &str,
    id: &str,
    now_ms: u64,
) -> Result<Cancel, CancelError> {
    let mut u = Update::default();
    u.set_if_absent(attr::CANCELLED_AT, n(now_ms))
        .set(attr::UPDATED_AT, n(now_ms));
    let pk = u.name(table::PK);
    let exp = u.name(table::EXPIRES_AT);
    let now_s = u.value(n(now_ms / 1000));
    let untouched = [
        attr::SEND_STATE,
        attr::ACCEPTED_AT,
        attr::FAILED_AT,
        attr::SUPPRESSED_AT,
        attr::WAMID,
        attr::SENT_AT,
    ]
    .iter()
    .map(|a| format!("attribute_not_exists({})", u.name(a)))
    .collect::<Vec<_>>()
    .join(" AND ");
    let condition = format!(
        "attribute_exists({pk}) AND {untouched} AND (attribute_not_exists({exp}) OR {exp} > {now_s})"
    );
    let result = u
        .update_or_current(
            dynamodb,
            table_name,
            message_key(tenant, id),
            condition,
            ReturnValue::AllOld,
            ("UpdateItem message", "GetItem message"),
        )
        .await?;
    let old = match result {
        Conditional::Written(old) => old,
        Conditional::Refused(None) => return Ok(Cancel::Unknown),
        Conditional::Refused(Some(old)) => {
            let record = record(&old)?;
            if record.is_expired(now_ms / 1000) {
                return Ok(Cancel::Unknown);
            }
            return Ok(Cancel::AlreadyGone(record.status()));
        }
    };
    let before = record(&old)?;
    timer.clear(tenant, id).await?;
    let data = StatusChanged {
        message_id: Some(id.to_owned()),
        phone_number_id: before.phone_number_id.clone(),
        recipient: before.recipient.clone(),
        status: Status::Cancelled.as_str().to_owned(),
        // Unclaimed, so scheduled or pending; the same on a repeated
        // cancel, whose event is the same event.
        old_status: if before.times.scheduled_at.is_some() {
            Status::Scheduled
        } else {
            Status::Pending
        },
        new_status: Status::Cancelled,
        metadata: before.metadata.clone(),
        ..StatusChanged::default()
    };
    let at = before.times.cancelled_at.unwrap_or(now_ms);
    events
        .publish(&[Event::ended_by_sender(tenant, at, data)])
        .await?;
    Ok(Cancel::Cancelled)
}

fn record(item: &Item) -> Result<MessageRecord, StoreError> {
    message_record(item).map_err(|source| StoreError::Unreadable {
        operation: "UpdateItem message",
        source,
    })
}

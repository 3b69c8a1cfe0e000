//! The local stand-in for EventBridge Scheduler. moto stores schedules but
//! never fires them, so `make dev` runs this: every second it lists the
//! schedule group's one-time schedules, and for each whose `at(...)` time
//! (UTC) has come it sends the target input to the target queue and
//! deletes the schedule, as Scheduler does with `ActionAfterCompletion:
//! DELETE`. Only local: a deployed stack has the real Scheduler.

use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

/// How often the local firer looks for due schedules.
pub const EVERY: Duration = Duration::from_secs(1);

/// The running local firer.
pub struct Firer {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl Firer {
    /// Fires the due schedules of `group` every [`EVERY`].
    pub fn start(aws: &aws_config::SdkConfig, group: String) -> Self {
        let scheduler = aws_sdk_scheduler::Client::new(aws);
        let sqs = aws_sdk_sqs::Client::new(aws);
        let (stop, mut stopped) = watch::channel(false);
        let task = tokio::spawn(async move {
            loop {
                match fire_due(&scheduler, &sqs, &group, shared::now_millis()).await {
                    Ok(0) => {}
                    Ok(n) => {
                        tracing::info!(group, fired = n, "local scheduler: fired due schedules")
                    }
                    Err(e) => tracing::warn!(group, error = %e, "local scheduler: could not fire"),
                }
                tokio::select! {
                    _ = tokio::time::sleep(EVERY) => {}
                    _ = stopped.changed() => return,
                }
            }
        });
        Self { stop, task }
    }

    /// Stops it.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

/// The time of an `at(yyyy-mm-ddThh:mm:ss)` expression evaluated in UTC,
/// Unix milliseconds.
pub fn at_millis(expression: &str) -> Option<u64> {
    let inner = expression.strip_prefix("at(")?.strip_suffix(')')?;
    shared::time::parse_rfc3339_millis(&format!("{inner}Z")).ok()
}

/// Sends each schedule of `group` due at `now_ms` to its target queue and
/// deletes it; the number fired.
pub async fn fire_due(
    scheduler: &aws_sdk_scheduler::Client,
    sqs: &aws_sdk_sqs::Client,
    group: &str,
    now_ms: u64,
) -> Result<usize, String> {
    let mut names = Vec::new();
    let mut token = None;
    loop {
        let page = scheduler
            .list_schedules()
            .group_name(group)
            .set_next_token(token)
            .send()
            .await
            .map_err(failed("ListSchedules"))?;
        names.extend(
            page.schedules()
                .iter()
                .filter_map(|s| s.name().map(str::to_owned)),
        );
        token = page.next_token().map(str::to_owned);
        if token.is_none() {
            break;
        }
    }
    let mut fired = 0;
    for name in names {
        let schedule = scheduler
            .get_schedule()
            .group_name(group)
            .name(&name)
            .send()
            .await
            .map_err(failed("GetSchedule"))?;
        let due = schedule
            .schedule_expression()
            .and_then(at_millis)
            .is_some_and(|at| at <= now_ms);
        let Some(target) = schedule.target().filter(|_| due) else {
            continue;
        };
        let queue_name = target.arn().rsplit(':').next().unwrap_or_default();
        let queue_url = sqs
            .get_queue_url()
            .queue_name(queue_name)
            .send()
            .await
            .map_err(failed("GetQueueUrl"))?
            .queue_url()
            .unwrap_or_default()
            .to_owned();
        sqs.send_message()
            .queue_url(queue_url)
            .message_body(target.input().unwrap_or_default())
            .send()
            .await
            .map_err(failed("SendMessage"))?;
        scheduler
            .delete_schedule()
            .group_name(group)
            .name(&name)
            .send()
            .await
            .map_err(failed("DeleteSchedule"))?;
        fired += 1;
    }
    Ok(fired)
}

/// An AWS call's error as a line: `operation` and the whole chain of
/// causes.
fn failed<E: std::error::Error>(operation: &'static str) -> impl FnOnce(E) -> String {
    move |e| {
        format!(
            "{operation}: {}",
            aws_sdk_scheduler::error::DisplayErrorContext(e)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_expressions_are_read_as_utc() {
        assert_eq!(
            at_millis("at(2026-12-01T12:29:00)"),
            Some(1_796_128_140_000)
        );
        assert_eq!(
            at_millis(&shared::schedule::at_expression(1_796_128_240_000)),
            Some(1_796_128_140_000)
        );
        assert_eq!(at_millis("rate(1 hour)"), None);
    }
}

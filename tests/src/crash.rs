//! The crash window: a sender instance killed (SIGKILL) after Meta accepted
//! its call and before it recorded the answer, through the whole loop.
//!
//! The sandbox holds the answers to two calls (`timeout_callbacks`), so the
//! sender is waiting on them when the harness kills the process; the local
//! runtime discards the instance as Lambda does, and the batch comes back
//! after the queue's visibility timeout. The lock the dead attempt holds
//! expires after `SEND_LOCK_SECONDS`; whoever takes it over then looks for
//! the status webhooks Meta sent for the accepted call. One recipient's
//! webhooks arrive (`heard`): recorded without a second call. The other's
//! never do (`silent`): sent again, the window that remains.

use std::time::{Duration, Instant};

use chasqui_cli::sandbox::{CallSummary, SandboxConfig};
use serde_json::json;
use shared::record::{MessageRecord, Status};

use crate::local::{LocalStack, StackOptions};

pub const HEARD: &str = "crash-heard";
pub const SILENT: &str = "crash-silent";
/// Short lock and visibility, so the takeover comes within seconds.
pub const LOCK_SECONDS: u32 = 10;
pub const VISIBILITY_SECONDS: u32 = 3;

/// What happened to the two messages.
#[derive(Debug)]
pub struct CrashReport {
    /// Sender processes killed (one or two: the requests came in one batch
    /// or in two).
    pub killed: Vec<u32>,
    pub heard: (Option<MessageRecord>, CallSummary),
    pub silent: (Option<MessageRecord>, CallSummary),
    /// Kill to both records final.
    pub recovery: Duration,
    /// Sender log lines that recorded the lost answer from its webhooks.
    pub confirmed_lines: usize,
    /// Sender log lines that sent again without a sign of acceptance.
    pub resent_lines: usize,
    pub secret_in_logs: bool,
}

/// Runs the crash on its own stack.
pub async fn crash_between_call_and_record() -> CrashReport {
    let silent_to = "+15557000001";
    let sandbox = SandboxConfig {
        timeout_callbacks: vec![HEARD.into(), SILENT.into()],
        // Held far longer than the kill takes; the sender waits longer still.
        timeout_ms: 60_000,
        silent: vec![silent_to.into()],
        seed: Some(11),
        ..SandboxConfig::default()
    };
    let stack = LocalStack::start(StackOptions {
        sandbox,
        send_visibility: VISIBILITY_SECONDS,
        // Two instances: the two requests may come in one batch or two.
        sender_concurrency: 2,
        env: vec![
            ("sender", "SEND_LOCK_SECONDS", LOCK_SECONDS.to_string()),
            ("sender", "GRAPH_API_TIMEOUT_MS", "90000".into()),
        ],
        ..StackOptions::default()
    })
    .await;
    let heard = json!({"id": HEARD, "to": "+5511970000001", "message": {"type": "template",
        "template": {"name": "hello_world", "language": {"code": "en_US"}}}});
    let silent = json!({"id": SILENT, "to": silent_to, "message": {"type": "template",
        "template": {"name": "hello_world", "language": {"code": "en_US"}}}});
    stack.send_all(&[heard, silent]).await;

    // Both calls reached Meta; their answers are held. Kill the sender.
    let mut killed = Vec::new();
    stack
        .wait_until("both calls held", Duration::from_secs(60), || async {
            let calls = stack.sandbox.calls_by_callback();
            let held = [HEARD, SILENT]
                .iter()
                .filter(|id| calls.get(**id).is_some_and(|c| c.delivered == 1))
                .count();
            if held == 2 {
                Ok(())
            } else {
                Err(format!("{held} of 2 calls made"))
            }
        })
        .await;
    let sender = stack.local.function("sender").expect("a sender function");
    for pid in sender.busy_pids() {
        let status = std::process::Command::new("kill")
            .args(["-KILL", &pid.to_string()])
            .status();
        if status.is_ok_and(|s| s.success()) {
            killed.push(pid);
        }
    }
    let killed_at = Instant::now();

    let ids = [HEARD.to_owned(), SILENT.to_owned()];
    stack
        .wait_until(
            "both records final after the takeover",
            Duration::from_secs(90),
            || async {
                let records = stack.records(&ids).await;
                // Webhooks complete `heard` whatever the sender does; done
                // means the attempt that took the lock over has settled.
                let settled = |r: &MessageRecord| r.send_state.as_deref() == Some("done");
                let heard = records.get(HEARD);
                let silent = records.get(SILENT);
                if heard.is_some_and(|r| settled(r) && r.status() == Status::Read)
                    && silent.is_some_and(settled)
                {
                    Ok(())
                } else {
                    Err(format!("heard {heard:?}, silent {silent:?}"))
                }
            },
        )
        .await;
    let recovery = killed_at.elapsed();
    let mut records = stack.records(&ids).await;
    let calls = stack.sandbox.calls_by_callback();
    let lines = stack.logs.lines();
    let count = |needle: &str| {
        lines
            .iter()
            .filter(|(f, l)| f == "sender" && l.contains(needle))
            .count()
    };
    let config = stack.sandbox.config();
    let secret_in_logs = lines
        .iter()
        .any(|(_, l)| l.contains(&config.access_token) || l.contains(&config.app_secret));
    let report = CrashReport {
        killed,
        heard: (
            records.remove(HEARD),
            calls.get(HEARD).cloned().unwrap_or_default(),
        ),
        silent: (
            records.remove(SILENT),
            calls.get(SILENT).cloned().unwrap_or_default(),
        ),
        recovery,
        confirmed_lines: count("\"outcome\":\"confirmed\""),
        resent_lines: count("resending_unconfirmed"),
        secret_in_logs,
    };
    stack.stop().await;
    report
}

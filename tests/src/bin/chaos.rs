//! `make chaos`: thousands of mixed sends through the whole local loop (the
//! real `webhook`, `sender` and `status` binaries under the local Lambda
//! runtime, moto, the Cloud API sandbox) while the sandbox fails 20% of
//! calls transiently, loses 5% of its answers (timeouts), throttles above a
//! rate, and duplicates (30%) and shuffles the status webhooks. Then the
//! crash window: a sender killed between its call and its record write.
//!
//! Prints progress and a summary table; exits non-zero when a send was lost,
//! a message went out other than once (outside the documented window), a
//! record ended in the wrong state, anything was dead-lettered, or a secret
//! reached a log line.
//!
//! Settings: `CHAOS_SENDS` (default 10000), `CHAOS_SEED` (default 7),
//! `CHAOS_GRACE_SECONDS` (the sender's SEND_CONFIRM_GRACE_SECONDS, default
//! 30), `CHAOS_RATE_LIMIT` (the sandbox's calls per second, default 60),
//! `CHAOS_AHEAD` (queue depth below which more sends are fed, default 100),
//! `CHAOS_TIMEOUT_SECONDS` (default 3600).
//! Needs the AWS emulator: run through `scripts/with-moto` (`make chaos`).

use std::collections::{BTreeMap, HashMap};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use chasqui_cli::sandbox::{CallSummary, Outcome, SandboxConfig};
use harness::local::{LocalStack, StackOptions};
use harness::scenario::{
    Case, Expect, STATUS_DELAYS, check, free_form, message, number, order_update, template,
};
use serde_json::{Value, json};
use shared::record::{MessageRecord, Status};

fn setting(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(v) => v.trim().parse().unwrap_or_else(|_| {
            eprintln!("{name}={v:?} is not a whole number; using {default}");
            default
        }),
        Err(_) => default,
    }
}

/// Template sends of one kind: id prefix, per hundred, recipients, template
/// name, body parameters, expected end.
type TemplateCases<'a> = (&'a str, usize, &'a Pool, &'a str, &'a [&'a str], Expect);

/// Numbers of one role: `pool` of them, each used in turn.
struct Pool(Vec<String>);

impl Pool {
    fn new(prefix: &str, size: usize) -> Self {
        Self((0..size.max(1)).map(|n| number(prefix, n)).collect())
    }

    fn get(&self, i: usize) -> &str {
        &self.0[i % self.0.len()]
    }
}

/// What the loop has done so far: records received and invocations by every
/// poller, calls the sandbox answered, webhooks it delivered or planned. Equal
/// twice (both taken while the queues were empty) means no function ran in
/// between, so no record changed.
type Activity = (u64, u64, usize, u64, u64);

fn activity(stack: &LocalStack) -> Activity {
    let polled = stack.local.poller_stats();
    let hooks = stack.sandbox.webhook_stats();
    (
        polled.iter().map(|(_, s)| s.received).sum(),
        polled.iter().map(|(_, s)| s.invocations).sum(),
        stack.sandbox.calls().len(),
        hooks.delivered,
        hooks.scheduled,
    )
}

#[tokio::main(flavor = "multi_thread", worker_threads = 4)]
async fn main() -> ExitCode {
    let sends = setting("CHAOS_SENDS", 10_000).max(100) as usize;
    let seed = setting("CHAOS_SEED", 7);
    let grace = setting("CHAOS_GRACE_SECONDS", 30).max(1);
    let rate_limit = setting("CHAOS_RATE_LIMIT", 60).max(1) as u32;
    let scale = sends / 100;

    let template_to = Pool::new("551190", 200);
    let window = Pool::new("551191", 100);
    let no_window = Pool::new("551192", 50);
    let undeliverable = Pool::new("1555000", 50);
    let fail_later = Pool::new("1555100", 50);
    let unread = Pool::new("1555200", 50);
    let opted_out = Pool::new("1555300", 50);

    let sandbox = SandboxConfig {
        delays: STATUS_DELAYS,
        undeliverable: undeliverable.0.clone(),
        fail_after_send: fail_later.0.clone(),
        unread: unread.0.clone(),
        rate_limit_per_second: Some(rate_limit),
        transient_rate: 0.20,
        timeout_rate: 0.05,
        // Past the sender's GRAPH_API_TIMEOUT_MS: the answer is lost.
        timeout_ms: 2_500,
        duplicate_rate: 0.3,
        out_of_order_rate: 0.5,
        seed: Some(seed),
        webhook_retry_ms: 200,
        webhook_concurrency: 32,
        ..SandboxConfig::default()
    };
    let max_receive = 10;
    println!(
        "chaos: {sends} sends; sandbox: 20% transient, 5% timeouts, {rate_limit} calls/s, 30% duplicate and 50% shuffled webhooks; grace {grace} s, maxReceiveCount {max_receive}"
    );
    let started = Instant::now();
    let stack = LocalStack::start(StackOptions {
        sandbox,
        max_receive_count: max_receive,
        send_visibility: 60,
        sender_concurrency: 3,
        status_concurrency: 8,
        env: vec![
            // Three instances at up to 40/s each, against the sandbox's limit.
            ("sender", "SEND_RATE_PER_SECOND", "40".into()),
            ("sender", "GRAPH_API_TIMEOUT_MS", "1000".into()),
            ("sender", "SEND_CONFIRM_GRACE_SECONDS", grace.to_string()),
            // Above the longest batch, below the grace: a lock only expires
            // on a crash.
            ("sender", "SEND_LOCK_SECONDS", "45".into()),
            ("sender", "RUST_LOG", "info".into()),
        ],
        ..StackOptions::default()
    })
    .await;
    println!(
        "stack up in {:.1} s; customers write in",
        started.elapsed().as_secs_f64()
    );

    // Customers who wrote (open window) and who sent STOP.
    let inbound_wamids = stack.customers_write(&window.0, &opted_out.0).await;

    // The mix, per hundred sends (the end-to-end test's).
    let mut cases: Vec<Case> = Vec::with_capacity(sends);
    let mut add = |id: String, request: Value, expect: Expect| {
        cases.push(Case {
            id,
            request,
            expect,
        })
    };
    let wamid = |i: usize| inbound_wamids[i % inbound_wamids.len()].as_str();
    // Template sends: (id prefix, per hundred, recipients, template, body
    // parameters, expected end).
    let templates: [TemplateCases; 7] = [
        (
            "tpl",
            35,
            &template_to,
            "appointment_reminder",
            &["Ana", "10h"],
            Expect::Out(Status::Read),
        ),
        (
            "undeliverable",
            5,
            &undeliverable,
            "appointment_reminder",
            &["Bo", "9h"],
            Expect::Refused(131026),
        ),
        (
            "fails-later",
            5,
            &fail_later,
            "appointment_reminder",
            &["Cy", "8h"],
            Expect::FailsLater(131026),
        ),
        (
            "params",
            4,
            &template_to,
            "appointment_reminder",
            &["only one"],
            Expect::Refused(132000),
        ),
        (
            "no-template",
            3,
            &template_to,
            "appointment_remindr",
            &["a", "b"],
            Expect::Refused(132001),
        ),
        (
            "unread",
            5,
            &unread,
            "appointment_reminder",
            &["Di", "7h"],
            Expect::Out(Status::Delivered),
        ),
        (
            "opted-out",
            5,
            &opted_out,
            "appointment_reminder",
            &["Ed", "6h"],
            Expect::NotSent(Status::Suppressed, "opted_out"),
        ),
    ];
    for (prefix, per_hundred, pool, name, params, expect) in templates {
        for i in 0..per_hundred * scale {
            let id = format!("{prefix}-{i}");
            let request = template(&id, pool.get(i), name, "pt_BR", params);
            add(id, request, expect.clone());
        }
    }
    for i in 0..5 * scale {
        let id = format!("order-{i}");
        add(
            id.clone(),
            order_update(&id, template_to.get(i)),
            Expect::Out(Status::Read),
        );
    }
    for i in 0..25 * scale {
        let id = format!("free-{i}");
        // The reaction goes to the inbound message of its own recipient.
        let to = window.get(i);
        let content = free_form(i, wamid(i % window.0.len()));
        add(
            id.clone(),
            message(&id, to, content),
            Expect::Out(Status::Read),
        );
    }
    for i in 0..2 * scale {
        let id = format!("receipt-{i}");
        let request = json!({"id": id, "message": {"status": "read", "message_id": wamid(i)}});
        add(id, request, Expect::Receipt);
    }
    for i in 0..5 * scale {
        let id = format!("closed-{i}");
        let request = message(
            &id,
            no_window.get(i),
            json!({"type": "text", "text": {"body": "hello?"}}),
        );
        add(id, request, Expect::Refused(131047));
    }
    for i in 0..scale {
        let id = format!("bad-{i}");
        let request = json!({"id": id, "to": "call me maybe", "message": {"type": "text", "text": {"body": "x"}}});
        add(
            id,
            request,
            Expect::NotSent(Status::Failed, "invalid_request"),
        );
    }
    let total = cases.len();
    let mut bodies: Vec<Value> = cases.iter().map(|c| c.request.clone()).collect();
    // 3% queued twice, as an upstream retry would.
    bodies.extend(cases.iter().step_by(33).map(|c| c.request.clone()));
    fastrand::Rng::with_seed(seed).shuffle(&mut bodies);
    let queued = bodies.len();
    println!(
        "{total} distinct sends ({} queued twice, {queued} queue messages)",
        queued - total
    );
    // Fed as they would arrive, but no further ahead than the loop keeps
    // up: moto's SQS costs grow with a queue's depth (every message sent or
    // received reads all of its queue's attributes, counting every message),
    // Lambda's do not. So the next hundred go in only when both queues hold
    // at most `CHAOS_AHEAD` (default 100) messages, visible or in flight.
    let ahead = setting("CHAOS_AHEAD", 100) as usize;
    let queued_at = Instant::now();
    let mut fed = 0;
    for chunk in bodies.chunks(100) {
        while stack.depth(&stack.send_queue).await > ahead
            || stack.depth(&stack.webhook_queue).await > ahead
        {
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        stack.send_all(chunk).await;
        fed += chunk.len();
        if fed % 1000 < 100 {
            println!(
                "[{:7.1} s] queued {fed:>6}/{queued}  calls {:>6}",
                queued_at.elapsed().as_secs_f64(),
                stack.sandbox.calls().len()
            );
        }
    }
    println!("all queued in {:.1} s", queued_at.elapsed().as_secs_f64());

    // Wait until every record is final, printing progress. Reading the
    // pending records costs the emulator about a millisecond a key (one
    // BatchGetItem per 100), so with thousands pending they are read only
    // when the loop is quiet (both queues empty, no webhook pending: nothing
    // can change a record any more) or every few minutes; the progress in
    // between comes from the pollers' and the sandbox's own counters.
    let expected: HashMap<&str, &Expect> =
        cases.iter().map(|c| (c.id.as_str(), &c.expect)).collect();
    let mut pending: Vec<String> = cases.iter().map(|c| c.id.clone()).collect();
    let deadline_secs = setting("CHAOS_TIMEOUT_SECONDS", 3_600);
    let deadline = Instant::now() + Duration::from_secs(deadline_secs);
    let mut last_print = Instant::now() - Duration::from_secs(60);
    let mut last_read = Instant::now();
    let mut read_yet = false;
    // Every record read so far, with the loop's activity when it was read
    // quiet (None: read while something could still change it).
    let mut seen: HashMap<String, (Option<MessageRecord>, Option<Activity>)> = HashMap::new();
    while !pending.is_empty() && Instant::now() < deadline {
        // The sandbox first: a webhook it no longer counts is on the
        // webhook queue already.
        let hooks_pending = stack.sandbox.webhook_stats().pending;
        let send_q = stack.depth(&stack.send_queue).await;
        let hook_q = stack.depth(&stack.webhook_queue).await;
        let quiet = hooks_pending == 0 && send_q + hook_q == 0;
        if quiet || last_read.elapsed() >= Duration::from_secs(300) {
            last_read = Instant::now();
            read_yet = true;
            let at = quiet.then(|| activity(&stack));
            let records = stack.records(&pending).await;
            for id in &pending {
                seen.insert(id.clone(), (records.get(id).cloned(), at));
            }
            pending.retain(|id| {
                records.get(id).map(|r| r.status()) != Some(expected[id.as_str()].final_status())
            });
        }
        if last_print.elapsed() >= Duration::from_secs(15) || pending.is_empty() {
            last_print = Instant::now();
            let calls = stack.sandbox.calls().len();
            let polled = stack.local.poller_stats();
            let done = |function: &str| -> u64 {
                polled
                    .iter()
                    .filter(|(f, _)| f == function)
                    .map(|(_, s)| s.deleted)
                    .sum()
            };
            let secs = queued_at.elapsed().as_secs_f64();
            println!(
                "[{secs:7.1} s] sends done {:>6}/{queued} ({:5.1}/s)  calls {calls:>6}  webhooks pending {hooks_pending:>5}, applied {:>6}  send queue {send_q:>5}  webhook queue {hook_q:>5}  records not yet final {}",
                done("sender"),
                done("sender") as f64 / secs,
                done("status"),
                if read_yet {
                    pending.len().to_string()
                } else {
                    "(not read yet)".to_owned()
                },
            );
        }
        if !pending.is_empty() {
            tokio::time::sleep(Duration::from_secs(5)).await;
        }
    }
    let final_secs = queued_at.elapsed().as_secs_f64();
    let idle = stack.sandbox.wait_idle(Duration::from_secs(120)).await;
    // Let the last webhooks through the status function.
    let drain_deadline = Instant::now() + Duration::from_secs(120);
    while Instant::now() < drain_deadline
        && stack.depth(&stack.send_queue).await + stack.depth(&stack.webhook_queue).await > 0
    {
        tokio::time::sleep(Duration::from_secs(1)).await;
    }

    // Judge. A record read while the loop was quiet cannot have changed if
    // nothing ran since (no poller received or invoked, no call, no webhook):
    // only the others are read again (a read of 10,000 records costs the
    // emulator about a minute).
    let now = activity(&stack);
    let stale: Vec<String> = cases
        .iter()
        .filter(|c| !matches!(seen.get(&c.id), Some((_, Some(at))) if *at == now))
        .map(|c| c.id.clone())
        .collect();
    let mut records: HashMap<String, MessageRecord> = seen
        .into_iter()
        .filter_map(|(id, (record, _))| record.map(|r| (id, r)))
        .collect();
    for id in &stale {
        records.remove(id);
    }
    records.extend(stack.records(&stale).await);
    println!(
        "judging {} records: {} read again, the rest as read when the loop was last quiet",
        cases.len(),
        stale.len()
    );
    let calls = stack.sandbox.calls();
    let by_callback = stack.sandbox.calls_by_callback();
    let lines = stack.logs.lines();
    // Messages sent again after an unanswered call with no status webhook
    // within the grace (the documented window), from the sender's log.
    let mut resends: HashMap<String, usize> = HashMap::new();
    for id in lines
        .iter()
        .filter(|(f, l)| f == "sender" && l.contains("resending_unconfirmed"))
        .filter_map(|(_, l)| serde_json::from_str::<Value>(l).ok())
        .filter_map(|v| {
            v.pointer("/fields/message_id")
                .or_else(|| v.get("message_id"))
                .and_then(Value::as_str)
                .map(str::to_owned)
        })
    {
        *resends.entry(id).or_default() += 1;
    }
    let confirmed = lines
        .iter()
        .filter(|(f, l)| f == "sender" && l.contains("\"outcome\":\"confirmed\""))
        .count();
    let mut lost = Vec::new();
    let mut wrong = Vec::new();
    let mut wrong_ids: Vec<String> = Vec::new();
    let mut in_window = Vec::new();
    let mut per_id: BTreeMap<usize, usize> = BTreeMap::new();
    for case in &cases {
        let record = records.get(&case.id);
        let summary: CallSummary = by_callback.get(&case.id).cloned().unwrap_or_default();
        if matches!(case.expect, Expect::Out(_) | Expect::FailsLater(_)) {
            *per_id.entry(summary.delivered).or_default() += 1;
        }
        if record.is_none() {
            lost.push(case.id.clone());
            continue;
        }
        match check(&case.expect, record, &summary) {
            Ok(()) => {}
            // Each extra accepted call matches a logged re-send after a
            // lost answer with no webhook within the grace.
            Err(_)
                if summary.delivered >= 2
                    && resends.get(&case.id).copied().unwrap_or(0) + 1 == summary.delivered =>
            {
                in_window.push(case.id.clone())
            }
            Err(problem) => {
                wrong_ids.push(case.id.clone());
                wrong.push(format!("{}: {problem} (calls {summary:?})", case.id))
            }
        }
    }
    let receipts_out = calls
        .iter()
        .filter(|c| c.kind == "read" && c.outcome == Outcome::Accepted)
        .count();
    let unknown: Vec<&String> = by_callback
        .keys()
        .filter(|cb| !expected.contains_key(cb.as_str()))
        .collect();
    let send_dlq = stack.depth(&stack.send_dlq).await;
    let webhook_dlq = stack.depth(&stack.webhook_dlq).await;
    let config = stack.sandbox.config();
    let secret_lines = lines
        .iter()
        .filter(|(_, l)| l.contains(&config.access_token) || l.contains(&config.app_secret))
        .count();
    let count_code = |code| calls.iter().filter(|c| c.code == Some(code)).count();
    let timed_out = calls
        .iter()
        .filter(|c| c.outcome == Outcome::TimedOut)
        .count();
    let stats = stack.sandbox.webhook_stats();
    let expected_hooks: usize = cases.iter().map(|c| c.expect.status_webhooks()).sum();
    let pollers = stack.local.poller_stats();
    let functions = stack.local.function_stats();
    stack.stop().await;

    println!("\nthe crash window: a sender killed between its call and its record write");
    let crash = harness::crash::crash_between_call_and_record().await;
    let crash_heard_ok = crash.heard.1.delivered == 1
        && crash.heard.1.calls == 1
        && crash
            .heard
            .0
            .as_ref()
            .is_some_and(|r| r.status() == Status::Read);
    let crash_silent_resent = crash.silent.1.delivered;

    let row = |name: &str, value: String| println!("| {name:<58} | {value:>14} |");
    println!("\n| {:<58} | {:>14} |", "chaos run", "");
    println!("|{}|{}|", "-".repeat(60), "-".repeat(16));
    row(
        "distinct sends (queue messages)",
        format!("{total} ({queued})"),
    );
    row("time to every record final, s", format!("{final_secs:.1}"));
    row(
        "sends per second, end to end",
        format!("{:.1}", total as f64 / final_secs),
    );
    row("Cloud API calls", calls.len().to_string());
    row(
        "  refused transiently (131000) / throttled (130429)",
        format!("{} / {}", count_code(131000), count_code(130429)),
    );
    row("  answers lost (timed out)", timed_out.to_string());
    row(
        "  lost answers recorded from status webhooks (no 2nd call)",
        confirmed.to_string(),
    );
    row(
        "webhooks scheduled (expected statuses + inbound)",
        format!(
            "{} ({} + {})",
            stats.scheduled,
            expected_hooks,
            window.0.len() + opted_out.0.len()
        ),
    );
    row(
        "webhooks delivered / retried / given up",
        format!(
            "{} / {} / {}",
            stats.delivered, stats.retried, stats.given_up
        ),
    );
    row("sends lost (no record)", lost.len().to_string());
    row(
        "records in the wrong final state or calls",
        wrong.len().to_string(),
    );
    for (delivered, n) in &per_id {
        row(
            &format!("messages going out with {delivered} accepted call(s)"),
            n.to_string(),
        );
    }
    row(
        "window: re-sent after a lost answer, no webhook in grace",
        in_window.len().to_string(),
    );
    row("read receipts accepted", receipts_out.to_string());
    row("calls for ids nobody sent", unknown.len().to_string());
    row(
        "dead letters (send / webhook)",
        format!("{send_dlq} / {webhook_dlq}"),
    );
    row("log lines with a secret", secret_lines.to_string());
    row("sandbox idle at the end", idle.to_string());
    row(
        "crash: killed sender processes",
        crash.killed.len().to_string(),
    );
    row(
        "crash: webhook arrived -> accepted calls",
        crash.heard.1.delivered.to_string(),
    );
    row(
        "crash: no webhook ever -> accepted calls (window)",
        crash_silent_resent.to_string(),
    );
    row(
        "crash: kill to both records final, s",
        format!("{:.1}", crash.recovery.as_secs_f64()),
    );
    println!("\npollers: {pollers:?}\nfunctions: {functions:?}");
    for w in wrong.iter().take(20) {
        println!("wrong: {w}");
    }
    // What the functions said about the first few, to tell why.
    for id in wrong_ids.iter().take(5) {
        let needle = format!("\"{id}\"");
        for (function, line) in lines.iter().filter(|(_, l)| l.contains(&needle)) {
            println!("  {id} {function}: {line}");
        }
    }
    for id in lost.iter().take(20) {
        println!("lost: {id}");
    }
    for id in &in_window {
        println!("window: {id} {:?}", by_callback.get(id));
    }

    let mut failures = Vec::new();
    let mut require = |ok: bool, what: &str| {
        if !ok {
            failures.push(what.to_owned());
        }
    };
    require(pending.is_empty(), "records not final before the deadline");
    require(lost.is_empty(), "sends lost");
    require(
        wrong.is_empty(),
        "records in the wrong state or with extra calls",
    );
    require(unknown.is_empty(), "calls for unknown ids");
    require(
        receipts_out == 2 * scale,
        "read receipts not sent exactly once",
    );
    require(send_dlq + webhook_dlq == 0, "dead letters");
    require(secret_lines == 0, "a secret in the logs");
    require(
        timed_out > 0 && count_code(131000) > 0,
        "faults not injected",
    );
    require(
        stats.scheduled as usize > expected_hooks,
        "no duplicate webhooks",
    );
    require(!crash.killed.is_empty(), "crash: no sender killed");
    require(
        crash_heard_ok,
        "crash: sent twice though the webhook arrived",
    );
    require(crash_silent_resent == 2, "crash: the silent window changed");
    require(!crash.secret_in_logs, "crash: a secret in the logs");
    if failures.is_empty() {
        println!("\nchaos: PASS");
        ExitCode::SUCCESS
    } else {
        println!("\nchaos: FAIL: {}", failures.join("; "));
        ExitCode::FAILURE
    }
}

//! `make cost`: what one message costs in AWS requests, DynamoDB capacity
//! and log bytes, counted (not timed) through the whole local loop.
//!
//! The real `webhook`, `sender` and `status` binaries run under the local
//! Lambda runtime against moto, with the Cloud API sandbox playing Meta (no
//! faults, no duplicates: the ordinary day). Every function reaches AWS
//! through the metered recording proxy (`harness::proxy`), signing as
//! itself, so each request is counted by function and action, and each
//! DynamoDB write is priced by DynamoDB's rules (`harness::meter`: item
//! size before and after, the table's write units, each index's). Every
//! line the functions write is captured and counted.
//!
//! Two flows, per message:
//! 1. **send**: a template send, Meta's `sent`, `delivered` and `read`
//!    status webhooks (one POST each, the worst case);
//! 2. **reply**: the customer answers with a text message.
//!
//! Prints markdown tables (`docs/benchmarks.md`, "Cost"). Settings:
//! `COST_SENDS` (default 20). Needs the AWS emulator: run through
//! `scripts/with-moto` (`make cost`).

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::time::Duration;

use chasqui_cli::sandbox::{Inbound, SandboxConfig};
use harness::local::{LocalStack, StackOptions};
use harness::meter::item_size;
use harness::proxy::{Call, RecordingProxy};
use harness::scenario::{STATUS_DELAYS, number, template};
use serde_json::{Map, Value};
use shared::record::{MessageRecord, Status};

const FUNCTIONS: [&str; 3] = ["webhook", "sender", "status"];

/// What a flow cost, in total.
#[derive(Default)]
struct Flow {
    /// (function, action) → requests.
    requests: BTreeMap<(String, String), u64>,
    /// (function, item kind) → writes, table units, index units, bytes
    /// after (sum), largest item after, condition failures.
    writes: BTreeMap<(String, &'static str), WriteTotals>,
    /// function → read units.
    reads: BTreeMap<String, f64>,
    /// function → (lines, bytes).
    logs: BTreeMap<String, (u64, u64)>,
    /// (function, level, message) → (lines, bytes).
    log_sites: BTreeMap<(String, String, String), (u64, u64)>,
    /// (function, level, message) → the first such line.
    samples: BTreeMap<(String, String, String), String>,
}

#[derive(Default, Clone, Copy)]
struct WriteTotals {
    writes: u64,
    table_units: u64,
    index_units: u64,
    bytes: u64,
    largest: u64,
    condition_failed: u64,
}

/// The kind of item a key names (`docs/data-model.md`).
fn kind(pk: &str, sk: &str) -> &'static str {
    match sk {
        "MSG" if pk.contains("WAMID#") => "message (by wamid)",
        "MSG" => "message",
        "CONTACT" => "contact",
        s if s.starts_with("IN#") => "inbound",
        "HOOK" => "webhook part",
        s if s.starts_with("FRAG#") => "fragment",
        _ if pk.ends_with("HEALTH") => "health",
        _ => "other",
    }
}

fn function_of(call: &Call) -> String {
    call.access_key
        .as_deref()
        .and_then(|k| k.strip_suffix("-key"))
        .unwrap_or("?")
        .to_owned()
}

impl Flow {
    fn add_calls(&mut self, calls: &[Call]) {
        for call in calls {
            let function = function_of(call);
            let action = call.action.clone().unwrap_or_else(|| "(other)".into());
            *self.requests.entry((function.clone(), action)).or_default() += 1;
            let Some(metered) = &call.dynamodb else {
                continue;
            };
            *self.reads.entry(function.clone()).or_default() += metered.read_units;
            for w in &metered.writes {
                let t = self
                    .writes
                    .entry((function.clone(), kind(&w.pk, &w.sk)))
                    .or_default();
                t.writes += 1;
                t.table_units += w.table_units;
                t.index_units += w.index_units.iter().map(|(_, u)| u).sum::<u64>();
                t.bytes += w.after.max(w.before) as u64;
                t.largest = t.largest.max(w.after.max(w.before) as u64);
                t.condition_failed += u64::from(w.condition_failed);
            }
        }
    }

    fn add_logs(&mut self, lines: &[(String, String)]) {
        for (function, line) in lines {
            // CloudWatch stores the line; the newline is the record's end.
            let bytes = line.len() as u64 + 1;
            let l = self.logs.entry(function.clone()).or_default();
            l.0 += 1;
            l.1 += bytes;
            let parsed: Value = serde_json::from_str(line).unwrap_or(Value::Null);
            let text = |k: &str| parsed[k].as_str().unwrap_or("(not JSON)").to_owned();
            let key = (function.clone(), text("level"), text("message"));
            self.samples
                .entry(key.clone())
                .or_insert_with(|| line.clone());
            let site = self.log_sites.entry(key).or_default();
            site.0 += 1;
            site.1 += bytes;
        }
    }

    fn print(&self, title: &str, per: u64) {
        let per_f = per as f64;
        println!("\n### {title} (per message, {per} messages)\n");
        println!("| function | requests by action | per message |");
        println!("|---|---|---|");
        for ((function, action), n) in &self.requests {
            println!("| {function} | {action} | {:.2} |", *n as f64 / per_f);
        }
        println!(
            "\n| function | item | writes | bytes per write (mean) | largest | table WRU | index WRU | failed conditions |"
        );
        println!("|---|---|---|---|---|---|---|---|");
        let mut total = WriteTotals::default();
        for ((function, kind), t) in &self.writes {
            println!(
                "| {function} | {kind} | {:.2} | {:.0} | {} | {:.2} | {:.2} | {:.2} |",
                t.writes as f64 / per_f,
                t.bytes as f64 / t.writes.max(1) as f64,
                t.largest,
                t.table_units as f64 / per_f,
                t.index_units as f64 / per_f,
                t.condition_failed as f64 / per_f,
            );
            total.writes += t.writes;
            total.table_units += t.table_units;
            total.index_units += t.index_units;
        }
        println!(
            "| **all** | | {:.2} | | | {:.2} | {:.2} | |",
            total.writes as f64 / per_f,
            total.table_units as f64 / per_f,
            total.index_units as f64 / per_f
        );
        let reads: f64 = self.reads.values().sum();
        println!(
            "\nWrite units per message: **{:.2}** (table {:.2} + index {:.2}); read units {:.2} ({}).",
            (total.table_units + total.index_units) as f64 / per_f,
            total.table_units as f64 / per_f,
            total.index_units as f64 / per_f,
            reads / per_f,
            self.reads
                .iter()
                .map(|(f, r)| format!("{f} {:.2}", r / per_f))
                .collect::<Vec<_>>()
                .join(", ")
        );
        println!("\n| function | log lines | log bytes |");
        println!("|---|---|---|");
        for f in FUNCTIONS {
            let (lines, bytes) = self.logs.get(f).copied().unwrap_or_default();
            println!(
                "| {f} | {:.2} | {:.0} |",
                lines as f64 / per_f,
                bytes as f64 / per_f
            );
        }
        let all: u64 = self.logs.values().map(|l| l.1).sum();
        println!("| **all** | | **{:.0}** |", all as f64 / per_f);
        println!("\n| function | level | line | lines | bytes | share |");
        println!("|---|---|---|---|---|---|");
        let mut sites: Vec<_> = self.log_sites.iter().collect();
        sites.sort_by_key(|s| std::cmp::Reverse(s.1.1));
        for ((function, level, message), (lines, bytes)) in &sites {
            println!(
                "| {function} | {level} | {message} | {:.2} | {:.0} | {:.0}% |",
                *lines as f64 / per_f,
                *bytes as f64 / per_f,
                100.0 * *bytes as f64 / all.max(1) as f64
            );
        }
        println!("\nOne line of each, as written:\n\n```");
        for (key, _) in sites {
            if let Some(line) = self.samples.get(key) {
                println!("[{}] {line}", key.0);
            }
        }
        println!("```");
    }
}

/// Every item in the table, by kind: count, sizes, and the attributes that
/// take the most bytes.
async fn items(stack: &LocalStack) {
    let mut start = None;
    let mut by_kind: BTreeMap<&str, Vec<Map<String, Value>>> = BTreeMap::new();
    loop {
        let out = stack
            .ddb
            .scan()
            .table_name(&stack.table)
            .set_exclusive_start_key(start.take())
            .send()
            .await
            .expect("scan");
        for item in out.items() {
            let wire: Map<String, Value> = item.iter().map(|(k, v)| (k.clone(), wire(v))).collect();
            let text = |k: &str| wire[k]["S"].as_str().unwrap_or_default().to_owned();
            by_kind
                .entry(kind(&text("pk"), &text("sk")))
                .or_default()
                .push(wire);
        }
        match out.last_evaluated_key() {
            Some(k) if !k.is_empty() => start = Some(k.clone()),
            _ => break,
        }
    }
    println!("\n### Items at the end\n");
    println!(
        "| item | count | size (mean) | largest | attributes, largest first (mean bytes, name included) |"
    );
    println!("|---|---|---|---|---|");
    for (kind, items) in &by_kind {
        let sizes: Vec<usize> = items.iter().map(item_size).collect();
        let mut attrs: BTreeMap<&str, usize> = BTreeMap::new();
        for item in items {
            for (name, value) in item {
                *attrs.entry(name).or_default() += name.len() + harness::meter::value_size(value);
            }
        }
        let mut attrs: Vec<_> = attrs.into_iter().collect();
        attrs.sort_by_key(|a| std::cmp::Reverse(a.1));
        println!(
            "| {kind} | {} | {:.0} | {} | {} |",
            items.len(),
            sizes.iter().sum::<usize>() as f64 / items.len() as f64,
            sizes.iter().max().unwrap_or(&0),
            attrs
                .iter()
                .map(|(n, b)| format!("{n} {:.0}", *b as f64 / items.len() as f64))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
}

/// An SDK attribute value in DynamoDB's wire format.
fn wire(v: &aws_sdk_dynamodb::types::AttributeValue) -> Value {
    use aws_sdk_dynamodb::types::AttributeValue as A;
    use base64::Engine;
    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    let one = |k: &str, v: Value| Value::Object(Map::from_iter([(k.to_owned(), v)]));
    match v {
        A::S(s) => one("S", s.clone().into()),
        A::N(n) => one("N", n.clone().into()),
        A::B(b) => one("B", b64(b.as_ref()).into()),
        A::Bool(b) => one("BOOL", (*b).into()),
        A::Null(_) => one("NULL", true.into()),
        A::Ss(s) => one("SS", s.clone().into()),
        A::Ns(s) => one("NS", s.clone().into()),
        A::Bs(s) => one(
            "BS",
            s.iter().map(|b| Value::from(b64(b.as_ref()))).collect(),
        ),
        A::L(l) => one("L", l.iter().map(wire).collect()),
        A::M(m) => one(
            "M",
            Value::Object(m.iter().map(|(k, v)| (k.clone(), wire(v))).collect()),
        ),
        _ => Value::Null,
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 4)]
async fn main() -> ExitCode {
    let sends: usize = std::env::var("COST_SENDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    let aws = RecordingProxy::metered(
        &std::env::var("AWS_ENDPOINT_URL").expect("run through scripts/with-moto (make cost)"),
    )
    .await;
    let events = harness::create_queue(&harness::sqs().await, "events").await;
    let mut env = vec![("status", "UPSTREAM_EVENTS_QUEUE_URL", events.clone())];
    for function in FUNCTIONS {
        env.push((function, "AWS_ENDPOINT_URL", aws.url()));
        env.push((function, "AWS_ACCESS_KEY_ID", format!("{function}-key")));
    }
    let stack = LocalStack::start(StackOptions {
        sandbox: SandboxConfig {
            delays: STATUS_DELAYS,
            seed: Some(15),
            ..SandboxConfig::default()
        },
        env,
        // One instance each, warmed below: what is counted is warm work.
        sender_concurrency: 1,
        status_concurrency: 1,
        ..StackOptions::default()
    })
    .await;
    // The cold starts' own requests (the secret, the bindings) are not a
    // message's: one message goes through before anything is counted.
    let warm = vec!["cost-warm-up".to_owned()];
    stack
        .send_all(&[template(
            &warm[0],
            &number("551194", 0),
            "appointment_reminder",
            "pt_BR",
            &["Ana", "10h"],
        )])
        .await;
    stack
        .wait_until(
            "the warm-up message read",
            Duration::from_secs(120),
            || async {
                match stack
                    .records(&warm)
                    .await
                    .get(&warm[0])
                    .map(MessageRecord::status)
                {
                    Some(Status::Read) => Ok(()),
                    other => Err(format!("{other:?}")),
                }
            },
        )
        .await;
    settle(&stack).await;
    let recipients: Vec<String> = (0..sends).map(|n| number("551193", n)).collect();
    let ids: Vec<String> = (0..sends).map(|n| format!("cost-{n}")).collect();
    let requests: Vec<Value> = ids
        .iter()
        .zip(&recipients)
        .map(|(id, to)| template(id, to, "appointment_reminder", "pt_BR", &["Ana", "10h"]))
        .collect();
    let warm_calls = aws.take_calls();
    let warm_logs = stack.logs.lines().len();

    // 1. Sends and their statuses.
    stack.send_all(&requests).await;
    stack
        .wait_until("every message read", Duration::from_secs(300), || async {
            let records = stack.records(&ids).await;
            let behind = ids
                .iter()
                .filter(|id| records.get(*id).map(MessageRecord::status) != Some(Status::Read))
                .count();
            if behind == 0 {
                Ok(())
            } else {
                Err(format!("{behind} not read"))
            }
        })
        .await;
    settle(&stack).await;
    let mut send = Flow::default();
    send.add_calls(&aws.take_calls());
    let lines = stack.logs.lines();
    send.add_logs(&lines[warm_logs..]);
    let sent_logs = lines.len();

    // 2. Each customer replies.
    for to in &recipients {
        let receipt = stack
            .sandbox
            .inbound(Inbound {
                from: to.clone(),
                text: Some("Obrigado, até amanhã!".into()),
                profile_name: Some("Ana".into()),
                ..Inbound::default()
            })
            .await
            .expect("an inbound webhook");
        assert!(receipt.delivered, "{:?}", receipt.webhook_status);
    }
    stack
        .wait_until("every reply applied", Duration::from_secs(120), || async {
            for to in &recipients {
                let c = stack.contact(to.trim_start_matches('+')).await;
                if c.and_then(|c| c.last_inbound_at).is_none() {
                    return Err(format!("{to} has no inbound yet"));
                }
            }
            Ok(())
        })
        .await;
    settle(&stack).await;
    let mut reply = Flow::default();
    reply.add_calls(&aws.take_calls());
    reply.add_logs(&stack.logs.lines()[sent_logs..]);

    let per = sends as u64;
    println!(
        "cost: {sends} template sends, each with sent/delivered/read, then one text reply each \
         (warm-up requests not counted: {})",
        warm_calls.len()
    );
    send.print("Send: the request, the call, three status webhooks", per);
    reply.print("Reply: one inbound text message", per);
    items(&stack).await;
    let depth = stack.depth(&events).await;
    println!(
        "\nupstream events queued: {depth} ({:.2} per message)",
        depth as f64 / per as f64
    );
    stack.stop().await;
    ExitCode::SUCCESS
}

/// Waits until nothing is left in flight: the sandbox idle, both queues
/// empty (the last records' writes and log lines done).
async fn settle(stack: &LocalStack) {
    assert!(
        stack.sandbox.wait_idle(Duration::from_secs(60)).await,
        "webhooks still pending"
    );
    stack
        .wait_until("queues drained", Duration::from_secs(120), || async {
            let (a, b) = (
                stack.depth(&stack.send_queue).await,
                stack.depth(&stack.webhook_queue).await,
            );
            if a + b == 0 {
                Ok(())
            } else {
                Err(format!("{a} + {b} queued"))
            }
        })
        .await;
    // The poller deletes after the function answers; give the last
    // invocation's lines a moment to arrive.
    tokio::time::sleep(Duration::from_secs(2)).await;
}
